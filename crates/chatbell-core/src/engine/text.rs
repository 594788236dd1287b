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

pub(super) fn chat_title(kind: NotificationKind, row: &Session) -> String {
    let mut title = String::with_capacity(96);
    if kind == NotificationKind::NewConversation {
        title.push_str("New ");
        title.push_str(channel_name(row.channel));
        title.push_str(" chat: ");
        clip_into(&mut title, &row.name, NAME_CHARS);
    } else {
        clip_into(&mut title, &row.name, NAME_CHARS);
        title.push_str(" (");
        title.push_str(channel_name(row.channel));
        title.push(')');
    }
    title
}

/// A chat notification's body: how many messages, and the newest (R16).
pub(super) fn chat_body(count: u32, preview: &str) -> String {
    let preview = clip(preview, PREVIEW_CHARS);
    if count > 1 {
        format!("{count} new messages · {preview}")
    } else {
        preview
    }
}

/// `format!("Incoming call: {}", clip(&row.name, NAME_CHARS))`, in one allocation.
pub(super) fn call_title(row: &Session) -> String {
    let mut title = String::with_capacity(16 + row.name.len().min(NAME_CHARS * 4) + 3);
    title.push_str("Incoming call: ");
    clip_into(&mut title, &row.name, NAME_CHARS);
    title
}

/// `format!("{} call from {}", channel_name(row.channel), clip(&row.number, 32))`,
/// in one allocation.
pub(super) fn call_body(row: &Session) -> String {
    let channel = channel_name(row.channel);
    let mut body = String::with_capacity(channel.len() + 11 + row.number.len().min(32 * 4) + 3);
    body.push_str(channel);
    body.push_str(" call from ");
    clip_into(&mut body, &row.number, 32);
    body
}

/// R7's notice: "Chat assigned to you: <customer>".
pub(super) fn assigned_title(row: &Session) -> String {
    format!("Chat assigned to you: {}", clip(&row.name, NAME_CHARS))
}

pub(super) fn assigned_body(row: &Session) -> String {
    format!(
        "{} · {}",
        channel_name(row.channel),
        clip(&row.last_message_preview, PREVIEW_CHARS)
    )
}

/// R6's offer: "Assign to me? <customer>".
pub(super) fn offer_title(row: &Session) -> String {
    format!("Assign to me? {}", clip(&row.name, NAME_CHARS))
}

/// "<owner> has not replied for <n> min.", `waiting` being how long so far.
pub(super) fn offer_body(owner: &str, waiting: Span) -> String {
    format!("{owner} has not replied for {} min.", waiting.0 / 60_000)
}

/// R20's warning: "Reply window closing: <customer>".
pub(super) fn reply_window_title(row: &Session) -> String {
    format!("Reply window closing: {}", clip(&row.name, NAME_CHARS))
}

/// How long free-form replies have left, `left` before the window closes.
pub(super) fn reply_window_body(left: Span) -> String {
    let minutes = left.0.div_euclid(60_000).max(1);
    format!("Free-form WhatsApp replies end in {minutes} min; after that, only templates.")
}

/// R8: the kind and title of a request to me, from `from`, about the chat
/// `session` (if known).
pub(super) fn request_title(
    kind: RequestKind,
    from: &str,
    session: Option<&Session>,
) -> (NotificationKind, String) {
    let customer = session.map_or("a customer".to_string(), |s| clip(&s.name, NAME_CHARS));
    match kind {
        RequestKind::Assign => (
            NotificationKind::AssignRequest,
            format!("{from} asks you to take over the chat with {customer}"),
        ),
        RequestKind::Discuss => (
            NotificationKind::DiscussRequest,
            format!("{from} asks you to join the chat with {customer}"),
        ),
    }
}

/// R8: the answer to my request, told to me: (title, body).
pub(super) fn outcome_text(r: &ChatRequest, to: &str) -> (String, String) {
    let what = match r.kind {
        RequestKind::Assign => "assign",
        RequestKind::Discuss => "discuss",
    };
    match r.status {
        RequestStatus::Accepted => (format!("{to} accepted your {what} request"), String::new()),
        RequestStatus::Rejected => (
            format!("{to} rejected your {what} request"),
            format!(
                "Reason: {}",
                clip(r.reason.as_deref().unwrap_or(""), PREVIEW_CHARS)
            ),
        ),
        _ => (
            format!("Your {what} request to {to} expired"),
            "No answer in time.".to_string(),
        ),
    }
}

/// R17: the catch-up summary for `chats` chats: (title, body).
pub(super) fn summary_text(chats: usize) -> (String, String) {
    (
        format!("{chats} chats need you"),
        "Missed while ChatBell was away. Open the panel to see them.".to_string(),
    )
}

/// R15: the owner told that someone else's Block closed their chat.
pub(super) fn blocked_text(row: &Session) -> (String, String) {
    (
        format!("Number blocked: {}", clip(&row.name, NAME_CHARS)),
        "The customer's number was blocked, so this chat of yours is closed.".to_string(),
    )
}

/// R15: the title of an action that did not go through, for what is true now
/// ([`crate::ownership::Refusal::words`] gives its body).
pub(super) const TOO_LATE: &str = "Too late";
/// The title of an action Dynamics refused or that could not be sent.
pub(super) const COULD_NOT: &str = "Could not do that";
