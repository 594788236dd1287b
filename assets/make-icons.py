#!/usr/bin/env python3
"""Draw ChatBell's icons: a white bell on a rounded teal square.

Standard library only (zlib + struct write the PNGs). Every icon is an
8-bit RGBA PNG (colour type 6), as Tauri requires.

    python3 assets/make-icons.py            # writes src-tauri/icons/
    python3 assets/make-icons.py OUT_DIR    # writes elsewhere
"""

import math
import struct
import sys
import zlib
from pathlib import Path

TEAL = (0x0F, 0x8B, 0x8D)  # background
WHITE = (0xFF, 0xFF, 0xFF)  # bell

# file name -> edge length in pixels
ICONS = {
    "32x32.png": 32,
    "128x128.png": 128,
    "128x128@2x.png": 256,
    "icon.png": 512,
    "tray.png": 64,
}


def in_rounded_square(x, y, margin=0.03, radius=0.2):
    """Rounded square filling the unit square less a margin."""
    lo, hi = margin, 1.0 - margin
    if not (lo <= x <= hi and lo <= y <= hi):
        return False
    cx = min(max(x, lo + radius), hi - radius)
    cy = min(max(y, lo + radius), hi - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius


def in_bell(x, y):
    """The bell glyph in unit coordinates (y grows downwards)."""
    dx = abs(x - 0.5)
    # knob on top
    if dx * dx + (y - 0.215) ** 2 <= 0.045**2:
        return True
    # dome: a half disc
    dome_cy, dome_r = 0.43, 0.19
    if y <= dome_cy:
        return dx * dx + (y - dome_cy) ** 2 <= dome_r * dome_r
    # waist flaring out towards the rim
    rim_top, rim_bottom = 0.64, 0.70
    if y <= rim_top:
        t = (y - dome_cy) / (rim_top - dome_cy)
        return dx <= dome_r + 0.07 * t * t
    # rim: a bar with round ends
    if y <= rim_bottom:
        half = 0.29
        r = (rim_bottom - rim_top) / 2
        cy = rim_top + r
        if dx <= half - r:
            return True
        return (dx - (half - r)) ** 2 + (y - cy) ** 2 <= r * r
    # clapper, clear of the rim
    return dx * dx + (y - 0.765) ** 2 <= 0.065**2


def render(size, samples=4):
    """RGBA bytes, row-major, supersampled `samples`x`samples` per pixel."""
    n = samples * samples
    offsets = [(i + 0.5) / samples for i in range(samples)]
    rows = []
    for py in range(size):
        row = bytearray()
        for px in range(size):
            square = bell = 0
            for oy in offsets:
                y = (py + oy) / size
                for ox in offsets:
                    x = (px + ox) / size
                    if in_rounded_square(x, y):
                        square += 1
                        if in_bell(x, y):
                            bell += 1
            if square == 0:
                row += b"\x00\x00\x00\x00"
                continue
            # colour over the covered part only (straight alpha)
            t = bell / square
            rgb = [round(b + (w - b) * t) for b, w in zip(TEAL, WHITE)]
            row += bytes(rgb) + bytes([round(255 * square / n)])
        rows.append(bytes(row))
    return rows


def png_bytes(size, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    # 8 bits per channel, colour type 6 (RGBA), no interlace
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)  # filter type 0 on each row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main():
    root = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "src-tauri" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    for name, size in ICONS.items():
        # small icons get more samples per pixel; big ones need fewer
        samples = 6 if size <= 64 else 4 if size <= 256 else 3
        path = out / name
        path.write_bytes(png_bytes(size, render(size, samples)))
        print(f"{path} {size}x{size}")


if __name__ == "__main__":
    main()
