//! The unread count drawn onto the tray icon (R3): a red pill in the top-right
//! corner with the number in white, 1 to 99, then "99+"; no badge at 0.
//!
//! The digits come from a small built-in bitmap font, so the result is the same on
//! every desktop, and [`read_count`] can read a badge back from the pixels (the
//! end-to-end tests read the tray icon the desktop was given).

/// An RGBA image, row by row, 4 bytes a pixel.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// An icon buffer of the wrong size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an RGBA image of {width}x{height} needs {expected} bytes, got {got}")]
pub struct BadImage {
    pub width: u32,
    pub height: u32,
    pub expected: usize,
    pub got: usize,
}

impl Rgba {
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<Rgba, BadImage> {
        let expected = width as usize * height as usize * 4;
        if pixels.len() != expected {
            return Err(BadImage {
                width,
                height,
                expected,
                got: pixels.len(),
            });
        }
        Ok(Rgba {
            width,
            height,
            pixels,
        })
    }

    fn get(&self, x: i64, y: i64) -> Option<[u8; 4]> {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        self.pixels.get(i..i + 4).map(|p| [p[0], p[1], p[2], p[3]])
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 4]) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        if let Some(p) = self.pixels.get_mut(i..i + 4) {
            p.copy_from_slice(&c);
        }
    }
}

/// The badge's text for a count: `None` at 0.
pub fn label(count: u32) -> Option<String> {
    match count {
        0 => None,
        1..=99 => Some(count.to_string()),
        _ => Some("99+".to_string()),
    }
}

const RED: [u8; 4] = [0xD9, 0x1E, 0x2B, 0xFF];
const WHITE: [u8; 4] = [0xFF, 0xFF, 0xFF, 0xFF];

/// Glyphs 5 wide and 7 high, one row per byte, high bit on the left.
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c {
        '0' => [0x70, 0x88, 0x98, 0xA8, 0xC8, 0x88, 0x70],
        '1' => [0x20, 0x60, 0x20, 0x20, 0x20, 0x20, 0x70],
        '2' => [0x70, 0x88, 0x08, 0x10, 0x20, 0x40, 0xF8],
        '3' => [0xF8, 0x10, 0x20, 0x10, 0x08, 0x88, 0x70],
        '4' => [0x10, 0x30, 0x50, 0x90, 0xF8, 0x10, 0x10],
        '5' => [0xF8, 0x80, 0xF0, 0x08, 0x08, 0x88, 0x70],
        '6' => [0x30, 0x40, 0x80, 0xF0, 0x88, 0x88, 0x70],
        '7' => [0xF8, 0x08, 0x10, 0x20, 0x40, 0x40, 0x40],
        '8' => [0x70, 0x88, 0x88, 0x70, 0x88, 0x88, 0x70],
        '9' => [0x70, 0x88, 0x88, 0x78, 0x08, 0x10, 0x60],
        '+' => [0x00, 0x20, 0x20, 0xF8, 0x20, 0x20, 0x00],
        _ => return None,
    })
}

const GLYPH_W: i64 = 5;
const GLYPH_H: i64 = 7;
const GAP: i64 = 1;

/// Pixel size of a font dot for an icon `size` pixels high (2 at 64 px).
fn scale(size: u32) -> i64 {
    (i64::from(size) / 32).max(1)
}

/// The geometry of the badge for `text` on an icon of `w`×`h`.
struct Layout {
    s: i64,
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
    text_x: i64,
    text_y: i64,
}

fn layout(w: u32, h: u32, chars: usize) -> Layout {
    let s = scale(h.min(w));
    let n = chars as i64;
    let text_w = n * GLYPH_W * s + (n - 1).max(0) * GAP * s;
    let text_h = GLYPH_H * s;
    let pad = 2 * s;
    let height = text_h + 2 * pad;
    let width = (text_w + 2 * pad).max(height);
    let x1 = i64::from(w);
    let x0 = x1 - width;
    Layout {
        s,
        x0,
        y0: 0,
        x1,
        y1: height,
        text_x: x0 + (width - text_w) / 2,
        text_y: pad,
    }
}

/// Whether (x, y) is inside the pill from (x0, y0) to (x1, y1) (ends rounded).
fn in_pill(l: &Layout, x: i64, y: i64) -> bool {
    if x < l.x0 || x >= l.x1 || y < l.y0 || y >= l.y1 {
        return false;
    }
    let r2 = (l.y1 - l.y0) as f64 / 2.0;
    let cy = l.y0 as f64 + r2;
    let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
    let left = l.x0 as f64 + r2;
    let right = l.x1 as f64 - r2;
    let cx = px.clamp(left, right);
    (px - cx).powi(2) + (py - cy).powi(2) <= r2 * r2
}

/// The icon with the count drawn on it; the icon unchanged at 0.
pub fn draw(icon: &Rgba, count: u32) -> Rgba {
    let mut out = icon.clone();
    let Some(text) = label(count) else {
        return out;
    };
    let l = layout(icon.width, icon.height, text.chars().count());
    for y in l.y0..l.y1 {
        for x in l.x0..l.x1 {
            if in_pill(&l, x, y) {
                out.put(x, y, RED);
            }
        }
    }
    let mut gx = l.text_x;
    for c in text.chars() {
        if let Some(rows) = glyph(c) {
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits & (0x80 >> col) != 0 {
                        for dy in 0..l.s {
                            for dx in 0..l.s {
                                out.put(
                                    gx + col * l.s + dx,
                                    l.text_y + row as i64 * l.s + dy,
                                    WHITE,
                                );
                            }
                        }
                    }
                }
            }
        }
        gx += (GLYPH_W + GAP) * l.s;
    }
    out
}

/// Reads the count back from an icon [`draw`] made: `None` when there is no
/// badge, else its text ("7", "42", "99+").
pub fn read_count(icon: &Rgba) -> Option<String> {
    // Widest first: a narrower badge's pill would also fit inside a wider one.
    for chars in [3usize, 2, 1] {
        let l = layout(icon.width, icon.height, chars);
        let probe_y = (l.y0 + l.y1) / 2;
        // The pill's left end must be red and the pixel before it not.
        let left_red = icon.get(l.x0 + 1, probe_y) == Some(RED);
        let before = icon.get(l.x0 - 1, probe_y);
        if !left_red || before == Some(RED) {
            continue;
        }
        let mut text = String::new();
        let mut gx = l.text_x;
        for _ in 0..chars {
            let found = "0123456789+".chars().find(|c| {
                let Some(rows) = glyph(*c) else { return false };
                (0..GLYPH_H).all(|row| {
                    (0..GLYPH_W).all(|col| {
                        let on = rows[row as usize] & (0x80 >> col) != 0;
                        let px = icon.get(gx + col * l.s, l.text_y + row * l.s);
                        (px == Some(WHITE)) == on
                    })
                })
            })?;
            text.push(found);
            gx += (GLYPH_W + GAP) * l.s;
        }
        return Some(text);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icon(size: u32) -> Rgba {
        // A teal square, like ChatBell's icon.
        let px = [0x0F, 0x8B, 0x8D, 0xFF];
        Rgba::new(size, size, px.repeat((size * size) as usize)).expect("size")
    }

    #[test]
    fn r3_no_badge_at_zero() {
        assert_eq!(draw(&icon(64), 0), icon(64));
        assert_eq!(read_count(&icon(64)), None);
        assert_eq!(label(0), None);
    }

    #[test]
    fn r3_counts_up_to_99_then_99_plus() {
        assert_eq!(label(1).as_deref(), Some("1"));
        assert_eq!(label(99).as_deref(), Some("99"));
        assert_eq!(label(100).as_deref(), Some("99+"));
        assert_eq!(label(u32::MAX).as_deref(), Some("99+"));
    }

    #[test]
    fn r3_every_count_reads_back_from_the_pixels() {
        for size in [32, 64, 128] {
            for n in (1..=120).chain([1000, 123_456]) {
                let drawn = draw(&icon(size), n);
                assert_eq!(read_count(&drawn), label(n), "{n} on a {size}px icon");
            }
        }
    }

    #[test]
    fn r3_the_badge_sits_in_the_top_right_corner_and_leaves_the_rest() {
        let base = icon(64);
        let drawn = draw(&base, 7);
        assert_eq!(drawn.get(0, 63), base.get(0, 63), "bottom-left untouched");
        assert_eq!(drawn.get(10, 10), base.get(10, 10));
        assert_ne!(drawn, base);
        let red = (0..64)
            .flat_map(|y| (0..64).map(move |x| (x, y)))
            .filter(|(x, y)| drawn.get(*x, *y) == Some(RED))
            .collect::<Vec<_>>();
        assert!(!red.is_empty());
        assert!(
            red.iter().all(|(x, y)| *x >= 32 && *y < 32),
            "top right only"
        );
    }

    #[test]
    fn a_buffer_of_the_wrong_size_is_refused() {
        assert!(Rgba::new(64, 64, vec![0; 10]).is_err());
    }
}
