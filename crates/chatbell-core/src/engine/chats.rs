//! Chats and messages (R2, R3, R4, R9, R10, R16): a new conversation for my team,
//! a new message in my chat, one toast per conversation, the tray's count.

use super::*;

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

    /// A live chat notification that no longer fits goes (R2: someone took it;
    /// R4: the messages were answered).
    pub(super) fn withdraw_stale_chat(&mut self, p: &Pass<'_>, _: &mut Ctx, out: &mut Vec<Effect>) {
        let f = &p.facts;
        let key = NotificationKey::Chat(p.row.id);
        let Some(n) = self.note(&key).filter(|n| n.is_live()) else {
            return;
        };
        let reason = if Some(n.kind) != f.chat_kind {
            if !f.eligible {
                WithdrawReason::NotEligible
            } else if f.mine {
                WithdrawReason::Superseded
            } else if matches!(p.row.owner, Owner::User(_)) {
                WithdrawReason::TakenByOther
            } else {
                WithdrawReason::Reassigned
            }
        } else if p.row.unread_count == 0 {
            WithdrawReason::Answered
        } else {
            return;
        };
        self.close(key, Lifecycle::Withdrawn { reason }, out);
    }

    /// R2, R4, R9, R10, R16: new customer messages, one notification per chat
    /// updated in place. The row's unread count is Dynamics' own tally; messages
    /// newer than the row add to it.
    pub(super) fn reconcile_new_messages(
        &mut self,
        p: &Pass<'_>,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let (row, touch) = (&p.row, p.touch);
        let row_advanced = row.last_customer_message_on > touch.row_last_customer
            || row.unread_count > touch.row_unread;
        let count = row.unread_count + touch.beyond_row;
        let Some(kind) = p.facts.chat_kind else {
            return;
        };
        if !(row_advanced || touch.beyond_row > 0) || count == 0 {
            return;
        }
        // The newest text: a message newer than the row, else the row's own
        // preview, which the add-on writes with every message and so knows which
        // of several messages of one second came last (`createdon` has a
        // one-second grain).
        let preview = touch
            .newest_body
            .filter(|(ts, _)| {
                Some(*ts) > row.last_customer_message_on || row.last_message_preview.is_empty()
            })
            .and_then(|(_, i)| p.batch.get(i))
            .map_or(row.last_message_preview.as_str(), |m| m.body.as_str());
        if self.dismissed.remove(&row.id) {
            out.push(Effect::Undismiss(row.id));
        }
        let key = NotificationKey::Chat(row.id);
        let body = chat_body(count, preview);
        let live = self.note_live(&key);
        match self.notifications.get_mut(&key).filter(|_| live) {
            Some(n) if n.count == count && n.body == body && n.kind == kind => {}
            Some(shared) => {
                let n = Arc::make_mut(shared);
                if n.kind != kind {
                    n.kind = kind;
                    n.title = chat_title(kind, row);
                    n.actions = chat_actions(kind, row);
                }
                n.body = body;
                n.count = count;
                n.updated_at = p.now;
                n.state = Lifecycle::Updated;
                if p.mode == SyncMode::Live {
                    n.toast = true;
                }
                out.push(Effect::Update(shared.clone()));
            }
            None => self.show(
                Notification {
                    count,
                    toast: p.mode == SyncMode::Live,
                    anchor: row.last_customer_message_on,
                    ..Notification::new(
                        key,
                        kind,
                        Some(row.id),
                        (chat_title(kind, row), body),
                        chat_actions(kind, row),
                        p.now,
                    )
                },
                out,
            ),
        }
        if p.mode == SyncMode::CatchUp && !ctx.quiet_chats.contains(&key) {
            ctx.quiet_chats.push(key);
        }
        if p.facts.system_notification {
            ctx.message_sound = true;
        }
    }

    /// R3: the session's place in the tray's count, after the other parts.
    pub(super) fn reconcile_count(&mut self, p: &Pass<'_>, _: &mut Ctx, _: &mut Vec<Effect>) {
        self.refresh_unread(p.row.id);
    }

    /// R9: Dismiss hides the chat from my panel until its next message; mine
    /// alone, kept on this desktop, nothing written to Dynamics.
    pub(super) fn dismiss_chat(
        &mut self,
        key: NotificationKey,
        sid: SessionId,
        out: &mut Vec<Effect>,
    ) {
        self.close(key, Lifecycle::Dismissed, out);
        if self.dismissed.insert(sid) {
            out.push(Effect::Dismiss(sid));
        }
        self.refresh_unread(sid);
    }
}
