//! Assign to me after the idle timeout (R6).

use super::*;

impl Engine {
    /// Since when the owner has left the customer waiting, where R6 could offer
    /// the session to me.
    pub(super) fn idle_start(&self, entry: &SessionEntry) -> Option<Ts> {
        let row = &entry.row;
        let me = self.me?;
        let Owner::User(owner) = row.owner else {
            return None;
        };
        if owner == me || !self.is_open(row) {
            return None;
        }
        let cfg = self.configs.get(&row.config)?;
        if !self.eligible(cfg) {
            return None;
        }
        let offer_team = cfg.assigned_team.unwrap_or(cfg.default_team);
        if !self.my_teams.contains(&offer_team) {
            return None;
        }
        entry.idle_since()
    }

    /// R6: keep the idle timer armed while the owner leaves the customer waiting,
    /// and take back an offer that no longer applies.
    /// `facts`: the idle start ([`Engine::idle_start`]), whether the session is
    /// eligible, its configuration's idle timeout, and the session's notification
    /// bits (only the offer's are read).
    pub(super) fn reconcile_idle(
        &mut self,
        id: SessionId,
        unreplied: Option<Ts>,
        row: &Session,
        facts: (Option<Ts>, bool, Option<Span>, Bits),
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let _ = now;
        let (start, eligible, idle_timeout, bits) = facts;
        let idle_owner = match row.owner {
            Owner::User(u) => Some(u),
            Owner::Team(_) => None,
        };
        let offer_key = NotificationKey::Offer(id);
        let live_offer = if bits & (OFFER_BIT << LIVE_SHIFT) != 0 {
            self.notifications.get(&offer_key)
        } else {
            None
        };
        debug_assert_eq!(live_offer.is_some(), self.note_live(&offer_key));
        if let Some(n) = live_offer {
            if start.is_none() || n.anchor != start || n.peer != idle_owner {
                let reason = if !eligible {
                    WithdrawReason::NotEligible
                } else if n.peer != idle_owner {
                    WithdrawReason::TakenByOther
                } else {
                    WithdrawReason::OwnerReplied
                };
                let _ = unreplied;
                self.close(offer_key, Lifecycle::Withdrawn { reason }, out);
            }
        }
        // The offer may have been closed just above, but it still exists.
        let offered = start.is_some()
            && bits & OFFER_BIT != 0
            && self
                .notifications
                .get(&offer_key)
                .is_some_and(|n| n.anchor == start && n.peer == idle_owner);
        let deadline = match (start, offered) {
            (Some(t), false) => idle_timeout.map(|d| t + d),
            _ => None,
        };
        self.set_timer(TimerKey::Idle(id), deadline, out);
    }
}
