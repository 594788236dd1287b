//! The WhatsApp reply window (R20): its owner is warned before it closes.

use super::*;

/// How long before the WhatsApp reply window closes its owner is warned (R20).
pub const REPLY_WARNING: Span = Span::hours(1);

impl Engine {
    /// When the reply window of a session closes, where its owner (me) is to be
    /// warned (R20): my own open, eligible WhatsApp session the customer wrote in.
    pub(super) fn reply_window_for_me(&self, entry: &SessionEntry) -> Option<Ts> {
        let row = &entry.row;
        let mine = self.me.is_some_and(|m| row.owner == Owner::User(m));
        if !mine || !self.is_open(row) || !self.session_eligible(row) {
            return None;
        }
        reply_window_ends(row.channel, entry.last_customer())
    }

    /// R20: the warning before the reply window closes. `ends`: when the window
    /// closes, where I am to be warned ([`Engine::reply_window_for_me`]); `gone`:
    /// why a live warning for another window is withdrawn; `bits`: the session's
    /// notification bits (only the warning's are read).
    pub(super) fn reconcile_reply_window(
        &mut self,
        id: SessionId,
        ends: Option<Ts>,
        gone: WithdrawReason,
        bits: Bits,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let key = NotificationKey::ReplyWindow(id);
        // Whether this window's warning was raised, and whether it is still up.
        let (mut warned, mut live) = (false, false);
        if bits & REPLY_BIT != 0 {
            if let Some(n) = self.notifications.get(&key) {
                if ends.is_some() && n.anchor == ends {
                    warned = true;
                    live = n.is_live();
                } else if n.is_live() {
                    self.close(key, Lifecycle::Withdrawn { reason: gone }, out);
                }
            }
        }
        let at = match ends {
            Some(end) if now >= end => {
                if live {
                    self.close(key, Lifecycle::Expired, out);
                }
                None
            }
            Some(end) if warned => live.then_some(end),
            Some(end) => Some(end - REPLY_WARNING),
            None => None,
        };
        self.set_timer(TimerKey::ReplyWindow(id), at, out);
    }

    /// R20's part in reconciling a session: the window of my own chat.
    pub(super) fn reconcile_reply_part(
        &mut self,
        p: &Pass<'_>,
        _: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let f = &p.facts;
        let ends = if f.mine && f.eligible {
            reply_window_ends(p.row.channel, f.last_customer)
        } else {
            None
        };
        let gone = if !f.eligible {
            WithdrawReason::NotEligible
        } else if !f.mine {
            WithdrawReason::Reassigned
        } else {
            WithdrawReason::CustomerWrote
        };
        self.reconcile_reply_window(p.row.id, ends, gone, f.bits, p.now, out);
    }

    /// R20: the warning's time came: my chat's window closes within the hour.
    pub(super) fn warn_reply_window(
        &mut self,
        sid: SessionId,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let Some(entry) = self.sessions.get(&sid) else {
            return;
        };
        let ends = self.reply_window_for_me(entry);
        let key = NotificationKey::ReplyWindow(sid);
        if let Some(end) = ends {
            let warned = self.note(&key).is_some_and(|n| n.anchor == ends);
            if !warned && now >= end - REPLY_WARNING && now < end {
                let (title, body) = (reply_window_title(&entry.row), reply_window_body(end - now));
                self.show(
                    Notification {
                        anchor: ends,
                        ..Notification::new(
                            key,
                            NotificationKind::ReplyWindowClosing,
                            Some(sid),
                            (title, body),
                            vec![Action::Open, Action::Dismiss],
                            now,
                        )
                    },
                    out,
                );
                ctx.message_sound = true;
            }
        }
        let bits = self.sessions.get(&sid).map_or(0, |e| e.notes);
        self.reconcile_reply_window(sid, ends, WithdrawReason::Reassigned, bits, now, out);
    }
}
