//! Deadlines that passed: each timer to the family that armed it.

use super::*;

impl Engine {
    pub(super) fn on_timer(
        &mut self,
        key: TimerKey,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        match self.timers.get(&key) {
            Some(t) if *t <= now => {
                self.timers.remove(&key);
                if let Some(entry) = key.session().and_then(|sid| self.sessions.get_mut(&sid)) {
                    *entry.deadline_mut(key) = None;
                }
            }
            // Stale or early: the engine's own deadline decides.
            Some(t) => {
                out.push(Effect::ArmTimer(key, *t));
                return;
            }
            None => return,
        }
        match key {
            TimerKey::Idle(sid) => {
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
                    self.set_timer(key, Some(deadline), out);
                    return;
                }
                let row_owner = entry.row.owner;
                let name = clip(&entry.row.name, NAME_CHARS);
                let minutes = (now - start).0 / 60_000;
                let owner = match row_owner {
                    Owner::User(u) => self.name_of(u),
                    Owner::Team(_) => "The owner".to_string(),
                };
                self.show(
                    Notification {
                        key: NotificationKey::Offer(sid),
                        kind: NotificationKind::AssignToMe,
                        session: Some(sid),
                        title: format!("Assign to me? {name}"),
                        body: format!("{owner} has not replied for {minutes} min."),
                        actions: vec![Action::Open, Action::Yes, Action::No],
                        count: 0,
                        created_at: now,
                        updated_at: now,
                        state: Lifecycle::Live,
                        toast: true,
                        anchor: Some(start),
                        peer: match row_owner {
                            Owner::User(u) => Some(u),
                            Owner::Team(_) => None,
                        },
                    },
                    out,
                );
                ctx.request_sound = true;
            }
            TimerKey::ReplyWindow(sid) => {
                let Some(entry) = self.sessions.get(&sid) else {
                    return;
                };
                let ends = self.reply_window_for_me(entry);
                let key = NotificationKey::ReplyWindow(sid);
                if let Some(end) = ends {
                    let warned = self.note(&key).is_some_and(|n| n.anchor == ends);
                    if !warned && now >= end - REPLY_WARNING && now < end {
                        let name = clip(&entry.row.name, NAME_CHARS);
                        let minutes = (end - now).0.div_euclid(60_000).max(1);
                        self.show(
                            Notification {
                                key,
                                kind: NotificationKind::ReplyWindowClosing,
                                session: Some(sid),
                                title: format!("Reply window closing: {name}"),
                                body: format!(
                                    "Free-form WhatsApp replies end in {minutes} min; \
                                     after that, only templates."
                                ),
                                actions: vec![Action::Open, Action::Dismiss],
                                count: 0,
                                created_at: now,
                                updated_at: now,
                                state: Lifecycle::Live,
                                toast: true,
                                anchor: ends,
                                peer: None,
                            },
                            out,
                        );
                        ctx.message_sound = true;
                    }
                }
                let bits = self.sessions.get(&sid).map_or(0, |e| e.notes);
                self.reconcile_reply_window(sid, ends, WithdrawReason::Reassigned, bits, now, out);
            }
            TimerKey::RequestExpiry(rid) => {
                let Some(r) = self.requests.get(&rid).cloned() else {
                    return;
                };
                if r.status != RequestStatus::Pending {
                    return;
                }
                if Some(r.requested_by) == self.me {
                    let mut expired = r.clone();
                    expired.status = RequestStatus::Expired;
                    self.show_outcome(&expired, now, out);
                    let op = WriteOp::ExpireRequest {
                        request: rid,
                        etag: r.etag.clone(),
                    };
                    self.issue(op, None, now, out);
                }
                let old = Some(r);
                self.reconcile_request(rid, old.as_ref(), now, ctx, out);
            }
        }
    }
}
