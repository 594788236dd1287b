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
    pub(super) fn reconcile_idle(&mut self, p: &Pass<'_>, _: &mut Ctx, out: &mut Vec<Effect>) {
        let (id, start, eligible) = (p.row.id, p.facts.idle_start, p.facts.eligible);
        let idle_owner = match p.row.owner {
            Owner::User(u) => Some(u),
            Owner::Team(_) => None,
        };
        let offer_key = NotificationKey::Offer(id);
        if let Some(n) = self.note(&offer_key).filter(|n| n.is_live()) {
            if start.is_none() || n.anchor != start || n.peer != idle_owner {
                let reason = if !eligible {
                    WithdrawReason::NotEligible
                } else if n.peer != idle_owner {
                    WithdrawReason::TakenByOther
                } else {
                    WithdrawReason::OwnerReplied
                };
                self.close(offer_key, Lifecycle::Withdrawn { reason }, out);
            }
        }
        // The offer may have been closed just above, but it still exists.
        let offered = start.is_some()
            && self
                .note(&offer_key)
                .is_some_and(|n| n.anchor == start && n.peer == idle_owner);
        let deadline = match (start, offered) {
            (Some(t), false) => p.facts.idle_timeout.map(|d| t + d),
            _ => None,
        };
        self.set_timer(TimerKey::Idle(id), deadline, out);
    }

    /// R6: the idle timeout passed: "Assign to me?" for the chat, unless the
    /// owner replied or the deadline moved meanwhile.
    pub(super) fn offer_after_idle(
        &mut self,
        sid: SessionId,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let Some(entry) = self.sessions.get(&sid) else {
            return;
        };
        let Some(start) = self.idle_start(entry) else {
            return;
        };
        let Some(cfg) = self.configs.get(&entry.row.config) else {
            return;
        };
        let deadline = start + cfg.idle_timeout;
        if now < deadline {
            self.set_timer(TimerKey::Idle(sid), Some(deadline), out);
            return;
        }
        let peer = match entry.row.owner {
            Owner::User(u) => Some(u),
            Owner::Team(_) => None,
        };
        let owner = peer.map_or_else(|| "The owner".to_string(), |u| self.name_of(u));
        let (title, body) = (offer_title(&entry.row), offer_body(&owner, now - start));
        self.show(
            Notification {
                anchor: Some(start),
                peer,
                ..Notification::new(
                    NotificationKey::Offer(sid),
                    NotificationKind::AssignToMe,
                    Some(sid),
                    (title, body),
                    vec![Action::Open, Action::Yes, Action::No],
                    now,
                )
            },
            out,
        );
        ctx.request_sound = true;
    }
}
