//! Incoming calls (R5): a ringing call notifies whoever it reaches, until it stops.

use super::*;

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

impl Engine {
    /// Whether a call in this session rings on my desk (R5).
    pub(super) fn call_reaches_me(&self, row: &Session) -> bool {
        self.is_open(row) && self.session_eligible(row) && self.call_owner_is_me(row)
    }

    /// The owner part of [`Engine::call_reaches_me`].
    pub(super) fn call_owner_is_me(&self, row: &Session) -> bool {
        match row.owner {
            Owner::User(u) => Some(u) == self.me,
            Owner::Team(t) => self.my_teams.contains(&t),
        }
    }

    /// R5: a ringing call notifies whoever it reaches, once per call, until it stops.
    /// `bits`: the session's notification bits (only the call's are read).
    pub(super) fn reconcile_call(
        &mut self,
        row: &Session,
        bits: Bits,
        reaches: bool,
        eligible: bool,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let key = NotificationKey::Call(row.id);
        let ringing = row.call_state == CallState::Ringing;
        if ringing && reaches {
            let existing = if bits & CALL_BIT != 0 {
                self.notifications.get(&key)
            } else {
                None
            };
            debug_assert_eq!(existing, self.note(&key));
            let anchor = row.call_started_on;
            if existing.is_none_or(|n| n.anchor != anchor) {
                if existing.is_some_and(|n| n.is_live()) {
                    out.push(Effect::StopRinging(row.id));
                }
                self.show(
                    Notification {
                        key,
                        kind: NotificationKind::IncomingCall,
                        session: Some(row.id),
                        title: call_title(row),
                        body: call_body(row),
                        actions: vec![Action::Open, Action::Dismiss],
                        count: 0,
                        created_at: now,
                        updated_at: now,
                        state: Lifecycle::Live,
                        toast: true,
                        anchor,
                        peer: None,
                    },
                    out,
                );
                if !self.muted {
                    out.push(Effect::StartRinging(row.id));
                }
            }
        } else if bits & (CALL_BIT << LIVE_SHIFT) != 0 {
            debug_assert!(self.note_live(&key));
            let reason = if ringing {
                if eligible {
                    WithdrawReason::TakenByOther
                } else {
                    WithdrawReason::NotEligible
                }
            } else {
                WithdrawReason::CallEnded
            };
            self.close(key, Lifecycle::Withdrawn { reason }, out);
        }
    }
}
