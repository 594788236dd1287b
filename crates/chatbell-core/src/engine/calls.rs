//! Incoming calls (R5): a ringing call notifies whoever it reaches, until it stops.

use super::*;

impl Engine {
    /// Whether a call in this session rings on my desk, the session being open
    /// and eligible: its owner is me, or a team of mine owns it (R5).
    fn call_owner_is_me(&self, row: &Session) -> bool {
        match row.owner {
            Owner::User(u) => Some(u) == self.me,
            Owner::Team(t) => self.my_teams.contains(&t),
        }
    }

    /// R5: a ringing call notifies whoever it reaches, once per call, until it stops.
    pub(super) fn reconcile_call(&mut self, p: &Pass<'_>, _: &mut Ctx, out: &mut Vec<Effect>) {
        let (row, now) = (&p.row, p.now);
        let eligible = p.facts.eligible;
        let reaches = eligible && self.call_owner_is_me(row);
        let key = NotificationKey::Call(row.id);
        let ringing = row.call_state == CallState::Ringing;
        if ringing && reaches {
            let existing = self.note(&key);
            let anchor = row.call_started_on;
            if existing.is_none_or(|n| n.anchor != anchor) {
                if existing.is_some_and(|n| n.is_live()) {
                    out.push(Effect::StopRinging(row.id));
                }
                self.show(
                    Notification {
                        anchor,
                        ..Notification::new(
                            key,
                            NotificationKind::IncomingCall,
                            Some(row.id),
                            (call_title(row), call_body(row)),
                            vec![Action::Open, Action::Dismiss],
                            now,
                        )
                    },
                    out,
                );
                if !self.muted {
                    out.push(Effect::StartRinging(row.id));
                }
            }
        } else if self.note_live(&key) {
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
