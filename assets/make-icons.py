#!/usr/bin/env python3
"""Draw ChatBell's icons: a white bell on a rounded teal square.

Standard library only (zlib + struct write the PNGs). Every icon is an
8-bit RGBA PNG (colour type 6), as Tauri requires; icon.ico (Windows: the
executable and the installers) and icon.icns (macOS: the .app bundle) hold the
same drawing as PNG images at the sizes each platform asks for.

    python3 assets/make-icons.py            # writes src-tauri/icons/ and crates/chatbell/tray.png
    python3 assets/make-icons.py OUT_DIR    # writes everything to OUT_DIR
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
    "256x256.png": 256,  # hicolor/256x256 in the Linux packages
    "icon.png": 512,
}
# The tray icon, drawn into the resident process (crates/chatbell).
TRAY = ("tray.png", 64)


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


# Windows icon sizes (PNG-compressed entries, Vista and later)
ICO_SIZES = [16, 24, 32, 48, 64, 256]
# macOS icon types: PNG data at the given edge length
ICNS_TYPES = [(b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256), (b"ic09", 512)]


def ico_bytes(pngs):
    """An ICO file of PNG entries: [(size, png bytes)]."""
    head = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(head) + 16 * len(pngs)
    entries = b""
    for size, data in pngs:
        edge = 0 if size >= 256 else size  # 0 stands for 256
        entries += struct.pack("<BBBBHHII", edge, edge, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return head + entries + b"".join(d for _, d in pngs)


def icns_bytes(pngs):
    """An ICNS file of PNG elements: [(type, png bytes)]."""
    body = b"".join(kind + struct.pack(">I", 8 + len(d)) + d for kind, d in pngs)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main():
    root = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "src-tauri" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    cache = {}

    def png(size):
        if size not in cache:
            # small icons get more samples per pixel; big ones need fewer
            samples = 6 if size <= 64 else 4 if size <= 256 else 3
            cache[size] = png_bytes(size, render(size, samples))
        return cache[size]

    for name, size in ICONS.items():
        path = out / name
        path.write_bytes(png(size))
        print(f"{path} {size}x{size}")
    tray_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "crates" / "chatbell"
    path = tray_dir / TRAY[0]
    path.write_bytes(png(TRAY[1]))
    print(f"{path} {TRAY[1]}x{TRAY[1]}")
    path = out / "icon.ico"
    path.write_bytes(ico_bytes([(s, png(s)) for s in ICO_SIZES]))
    print(f"{path} {ICO_SIZES}")
    path = out / "icon.icns"
    path.write_bytes(icns_bytes([(k, png(s)) for k, s in ICNS_TYPES]))
    print(f"{path} {[s for _, s in ICNS_TYPES]}")


if __name__ == "__main__":
    main()
