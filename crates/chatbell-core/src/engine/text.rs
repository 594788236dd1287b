//! The words of notifications: one text module, and the clipping of strangers' text.

use super::*;

/// Longest preview kept in a notification, in characters.
pub const PREVIEW_CHARS: usize = 160;

/// Longest customer name kept in a notification title, in characters.
pub const NAME_CHARS: usize = 64;

/// At most `max` characters of `s`, on one line, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    clip_into(&mut out, s, max);
    out
}

/// Whether every byte is printable ASCII (0x20..0x7f). No early exit, so that the
/// compiler can check many bytes at a time (the texts are short).
pub(super) fn printable_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(0u8, |bad, &b| bad | u8::from(b.wrapping_sub(0x20) >= 0x5f))
        == 0
}

/// [`clip`], appending to `out`.
pub fn clip_into(out: &mut String, s: &str, max: usize) {
    // Fast path: short, printable ASCII goes in as it is.
    if s.len() <= max && printable_ascii(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    out.reserve(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            return;
        }
        // Control characters and bidirectional overrides would let a stranger's
        // text break lines or reorder what the agent reads.
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        out.push(if c.is_control() || bidi { ' ' } else { c });
    }
}

pub(super) fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::WhatsApp => "WhatsApp",
        Channel::Sms => "SMS",
    }
}
