//! Chats and messages (R2, R3, R4, R9, R10, R16): a new conversation for my team,
//! a new message in my chat, one toast per conversation, the tray's count.

use super::*;

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

/// A chat notification's body, in `body` (cleared first).
pub(super) fn chat_body_into(body: &mut String, count: u32, preview: &str) {
    body.clear();
    if count > 1 {
        push_u32(body, count);
        body.push_str(" new messages · ");
    }
    clip_into(body, preview, PREVIEW_CHARS);
}

/// `n` in decimal, as `write!(s, "{n}")` writes it, without the formatting machinery.
pub(super) fn push_u32(s: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(char::from(d));
    }
}

pub(super) fn chat_actions(kind: NotificationKind, row: &Session) -> Vec<Action> {
    match kind {
        NotificationKind::NewConversation if row.first_contact => {
            vec![Action::Open, Action::Accept, Action::Dismiss, Action::Block]
        }
        NotificationKind::NewConversation => vec![Action::Open, Action::Accept],
        _ => vec![Action::Open],
    }
}

impl Engine {
    /// Who a new customer message reaches on my desk (R2, R4), if it reaches me.
    pub(super) fn chat_kind(&self, row: &Session) -> Option<NotificationKind> {
        if !self.is_open(row) || !self.session_eligible(row) {
            return None;
        }
        match row.owner {
            Owner::Team(t) if row.accepted_on.is_none() && self.my_teams.contains(&t) => {
                Some(NotificationKind::NewConversation)
            }
            Owner::User(u) if Some(u) == self.me => Some(NotificationKind::NewMessage),
            _ => None,
        }
    }

    /// [`Engine::chat_kind`], given whether the row is open and eligible.
    pub(super) fn chat_kind_of(
        &self,
        row: &Session,
        open: bool,
        eligible: bool,
    ) -> Option<NotificationKind> {
        if !open || !eligible {
            return None;
        }
        match row.owner {
            Owner::Team(t) if row.accepted_on.is_none() && self.my_teams.contains(&t) => {
                Some(NotificationKind::NewConversation)
            }
            Owner::User(u) if Some(u) == self.me => Some(NotificationKind::NewMessage),
            _ => None,
        }
    }

    /// R3: is this session in the tray's count?
    pub(super) fn counts_as_unread(&self, entry: &SessionEntry) -> bool {
        let row = &entry.row;
        row.unread_count > 0 && !self.dismissed.contains(&row.id) && self.chat_kind(row).is_some()
    }

    pub(super) fn refresh_unread(&mut self, id: SessionId) {
        let Some(entry) = self.sessions.get(&id) else {
            return;
        };
        let counts = self.counts_as_unread(entry);
        if counts != entry.counted {
            if counts {
                self.unread += 1;
            } else {
                self.unread -= 1;
            }
            if let Some(entry) = self.sessions.get_mut(&id) {
                entry.counted = counts;
            }
        }
    }
}
