//! The agent's actions and what Dynamics made of them (R2, R6, R8, R9, R12, R15).

use super::*;
use crate::Refusal;

impl WriteOp {
    /// The session this command moves to me, if it does.
    pub fn claims_session(&self) -> Option<SessionId> {
        match self {
            WriteOp::TakeOwnership { session, .. } => Some(*session),
            WriteOp::AnswerRequest { take_session, .. } => take_session.as_ref().map(|(s, _)| *s),
            _ => None,
        }
    }
}

pub(super) fn non_blank(reason: Option<String>) -> Result<String, ActionError> {
    match reason {
        Some(r) if !r.trim().is_empty() => Ok(r.trim().to_string()),
        _ => Err(ActionError::ReasonRequired),
    }
}

impl Engine {
    /// The agent acted on a live notification: each action to its family. An
    /// action refused here changes nothing.
    pub(super) fn on_act(
        &mut self,
        key: NotificationKey,
        action: Action,
        reason: Option<String>,
        now: Ts,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let n = self
            .notifications
            .get(&key)
            .ok_or(ActionError::UnknownNotification)?;
        // R15: the chat went to another agent before this answer left (a poll
        // read it a moment ago, and may have taken the item down): the agent is
        // told who took it, as when Dynamics refuses the write.
        let attempt = match (n.kind, action) {
            (NotificationKind::NewConversation, Action::Accept) => Some(Attempt::Accept),
            (NotificationKind::AssignToMe, Action::Yes) => Some(Attempt::AssignToMe),
            _ => None,
        };
        if let (Some(attempt), Some(session)) = (attempt, n.session) {
            if let Some(owner) = self.taken_by_another(session, n.peer) {
                self.tell_too_late_here(
                    key,
                    session,
                    attempt,
                    Refusal::TakenBy {
                        owner,
                        owner_name: None,
                    },
                    now,
                    out,
                );
                return Ok(());
            }
        }
        if !n.is_live() {
            return Err(ActionError::NotLive);
        }
        if !n.offers(action) {
            return Err(ActionError::NotOffered {
                action: action.as_str(),
            });
        }
        let (kind, session) = (n.kind, n.session);
        let acted = Lifecycle::ActedOn { action };
        match (kind, action) {
            (_, Action::Open) => self.act_open(key, kind, session, out),
            (NotificationKind::NewConversation, Action::Accept)
            | (NotificationKind::AssignToMe, Action::Yes) => {
                self.act_take(key, action, now, out)?
            }
            (NotificationKind::AssignToMe, Action::No) => self.close(key, acted, out),
            (NotificationKind::NewConversation, Action::Dismiss) => {
                self.dismiss_chat(key, session.ok_or(ActionError::UnknownNotification)?, out)
            }
            (
                NotificationKind::IncomingCall
                | NotificationKind::ReplyWindowClosing
                | NotificationKind::ActionFailed
                | NotificationKind::RequestOutcome
                | NotificationKind::CatchUpSummary
                | NotificationKind::NumberBlocked,
                Action::Dismiss,
            ) => self.close(key, Lifecycle::Dismissed, out),
            (NotificationKind::NewConversation, Action::Block) => {
                self.act_block(key, action, session, now, out)?
            }
            (NotificationKind::ActionFailed, Action::BlockAnyway) => {
                self.act_block(key, action, session, now, out)?
            }
            (
                NotificationKind::AssignRequest | NotificationKind::DiscussRequest,
                Action::Accept | Action::Reject,
            ) => self.answer_request(key, action, reason, now, out)?,
            _ => {
                return Err(ActionError::NotOffered {
                    action: action.as_str(),
                })
            }
        }
        Ok(())
    }

    /// The agent another than me (and than `peer`, an offer's idle owner) who
    /// owns `session` now, as the last sync said.
    fn taken_by_another(&self, session: SessionId, peer: Option<UserId>) -> Option<UserId> {
        let row = &self.sessions.get(&session)?.row;
        match row.owner {
            Owner::User(u) if Some(u) != self.me && Some(u) != peer => Some(u),
            _ => None,
        }
    }

    /// An answer this desk already knows is too late: told as a write-back
    /// refused with `refusal` would be (an "ActionFailed" item and its toast),
    /// and the item answered taken down. Nothing is written.
    #[allow(clippy::too_many_arguments)]
    fn tell_too_late_here(
        &mut self,
        key: NotificationKey,
        session: SessionId,
        attempt: Attempt,
        refusal: Refusal,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let body = refusal.words(attempt, &|u, given| self.best_name(u, given), None, None);
        self.seq += 1;
        let id = CommandId(uuid::Uuid::from_u64_pair(now.0 as u64, self.seq));
        self.show(
            Notification::new(
                NotificationKey::Info(id),
                NotificationKind::ActionFailed,
                Some(session),
                (TOO_LATE.to_string(), body),
                vec![Action::Open, Action::Dismiss],
                now,
            ),
            out,
        );
        if self.notifications.get(&key).is_some_and(|n| n.is_live()) {
            self.close(
                key,
                Lifecycle::Withdrawn {
                    reason: WithdrawReason::TakenByOther,
                },
                out,
            );
        }
    }

    /// The main action (R12): open the chat, or the panel for the summary. What
    /// still asks for a decision stays in the panel, its toast taken down.
    fn act_open(
        &mut self,
        key: NotificationKey,
        kind: NotificationKind,
        session: Option<SessionId>,
        out: &mut Vec<Effect>,
    ) {
        if kind == NotificationKind::CatchUpSummary {
            out.push(Effect::OpenPanel);
        } else if let Some(s) = session {
            out.push(Effect::OpenChat(s));
        }
        if kind.asks_for_decision() {
            if let Some(n) = self.notifications.get_mut(&key) {
                Arc::make_mut(n).toast = false;
            }
            out.push(Effect::HideToast(key));
        } else {
            let action = Action::Open;
            self.close(key, Lifecycle::ActedOn { action }, out);
        }
    }

    /// Accept of a new conversation (R2) or Yes to "Assign to me?" (R6): the chat
    /// becomes mine, written with what must still be true (R15).
    fn act_take(
        &mut self,
        key: NotificationKey,
        action: Action,
        now: Ts,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let n = self.note(&key).ok_or(ActionError::UnknownNotification)?;
        let (kind, peer, anchor) = (n.kind, n.peer, n.anchor);
        let sid = n.session.ok_or(ActionError::UnknownNotification)?;
        let me = self.me.ok_or(ActionError::NotSignedIn)?;
        let row = &self
            .sessions
            .get(&sid)
            .ok_or(ActionError::SessionClosed)?
            .row;
        if !self.is_open(row) {
            return Err(ActionError::SessionClosed);
        }
        if !self.session_eligible(row) {
            return Err(ActionError::NotEligible);
        }
        if let (NotificationKind::NewConversation, Owner::User(u)) = (kind, row.owner) {
            if u != me {
                return Err(ActionError::AlreadyTaken {
                    by: self.name_of(u),
                });
            }
        }
        if !self.online {
            return Err(ActionError::Offline);
        }
        let precondition = match (kind, peer, anchor) {
            (NotificationKind::AssignToMe, Some(owner), Some(since)) => {
                ChatPrecondition::StillIdle { owner, since }
            }
            (NotificationKind::AssignToMe, _, _) => ChatPrecondition::OwnedBy { owner: row.owner },
            _ => ChatPrecondition::Queued,
        };
        let op = WriteOp::TakeOwnership {
            session: sid,
            etag: row.etag.clone(),
            me,
            precondition,
        };
        self.claimed.insert(sid);
        self.issue(op, Some(key), now, out);
        self.close(key, Lifecycle::ActedOn { action }, out);
        Ok(())
    }

    /// Block (R9), with the chat closed first at the version I saw (R15); or,
    /// after "X accepted this chat first", Block anyway: the number only, the
    /// chat left to its owner, who is told ([`Engine::tell_owner_of_block`]).
    fn act_block(
        &mut self,
        key: NotificationKey,
        action: Action,
        session: Option<SessionId>,
        now: Ts,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let sid = session.ok_or(ActionError::UnknownNotification)?;
        let row = &self
            .sessions
            .get(&sid)
            .ok_or(ActionError::SessionClosed)?
            .row;
        if !self.online {
            return Err(ActionError::Offline);
        }
        let anyway = action == Action::BlockAnyway;
        let op = WriteOp::BlockNumber {
            session: sid,
            number: row.number.clone(),
            channel: row.channel,
            etag: (!anyway).then(|| row.etag.clone()),
            anyway,
            me: self.me,
        };
        self.issue(op, Some(key), now, out);
        self.close(key, Lifecycle::ActedOn { action }, out);
        Ok(())
    }

    pub(super) fn issue(
        &mut self,
        op: WriteOp,
        origin: Option<NotificationKey>,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        self.seq += 1;
        let id = CommandId(uuid::Uuid::from_u64_pair(now.0 as u64, self.seq));
        let command = Command {
            id,
            op,
            issued_at: now,
            origin,
        };
        self.pending.insert(id, command.clone());
        out.push(Effect::WriteBack(command));
    }

    pub(super) fn on_write_back_done(
        &mut self,
        id: CommandId,
        outcome: WriteBackOutcome,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let _ = ctx;
        let Some(command) = self.pending.remove(&id) else {
            return;
        };
        let claimed = command.op.claims_session();
        let opens = match &command.op {
            WriteOp::TakeOwnership { session, .. } => Some(*session),
            WriteOp::AnswerRequest {
                accept: true,
                request,
                ..
            } => self.requests.get(request).map(|r| r.session),
            _ => None,
        };
        match outcome {
            WriteBackOutcome::Done => {
                if let Some(s) = opens {
                    out.push(Effect::OpenChat(s));
                }
            }
            WriteBackOutcome::TooLate(refusal) => {
                if let Some(s) = claimed {
                    self.claimed.remove(&s);
                }
                let attempt = command.op.attempt();
                let request = match &command.op {
                    WriteOp::AnswerRequest { request, .. }
                    | WriteOp::WithdrawRequest { request, .. }
                    | WriteOp::ExpireRequest { request, .. } => self.requests.get(request),
                    _ => None,
                };
                let requester = request.map(|r| self.name_of(r.requested_by));
                let target = request.map(|r| self.name_of(r.requested_to));
                let body = refusal.words(
                    attempt,
                    &|u, given| self.best_name(u, given),
                    requester.as_deref(),
                    target.as_deref(),
                );
                if attempt == Attempt::ExpireRequest {
                    // Nobody acted: the request's real end comes with the next sync.
                    return;
                }
                let mut actions = vec![Action::Open];
                if refusal.offers_block_anyway(attempt) {
                    actions.push(Action::BlockAnyway);
                }
                actions.push(Action::Dismiss);
                self.show_info(&command, TOO_LATE, body, actions, now, out);
                // A request refused for its chat's sake is still pending: it
                // stays in the panel (the refusal's toast says enough).
                if attempt == Attempt::AnswerRequest && refusal.leaves_request_pending() {
                    self.revive(command.origin, false, now, out);
                }
            }
            WriteBackOutcome::Refused { message } | WriteBackOutcome::Failed { message } => {
                if let Some(s) = claimed {
                    self.claimed.remove(&s);
                }
                self.show_info(
                    &command,
                    COULD_NOT,
                    clip(&message, PREVIEW_CHARS),
                    vec![Action::Open, Action::Dismiss],
                    now,
                    out,
                );
                // Nothing lost: the item the action came from is live again.
                self.revive(command.origin, true, now, out);
            }
        }
    }

    /// Makes the item an action came from live again, if that action closed it;
    /// with a toast again when `toast`.
    pub(super) fn revive(
        &mut self,
        origin: Option<NotificationKey>,
        toast: bool,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let Some(origin) = origin else {
            return;
        };
        if let Some(shared) = self.notifications.get_mut(&origin) {
            if matches!(shared.state, Lifecycle::ActedOn { .. }) {
                let n = Arc::make_mut(shared);
                n.state = Lifecycle::Live;
                n.updated_at = now;
                n.toast = toast;
                out.push(Effect::Show(shared.clone()));
                self.sync_note_bits(&origin);
            }
        }
    }

    pub(super) fn show_info(
        &mut self,
        command: &Command,
        title: &str,
        body: String,
        actions: Vec<Action>,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let session = match &command.op {
            WriteOp::TakeOwnership { session, .. } | WriteOp::BlockNumber { session, .. } => {
                Some(*session)
            }
            WriteOp::AnswerRequest { request, .. }
            | WriteOp::WithdrawRequest { request, .. }
            | WriteOp::ExpireRequest { request, .. } => {
                self.requests.get(request).map(|r| r.session)
            }
        };
        self.show(
            Notification::new(
                NotificationKey::Info(command.id),
                NotificationKind::ActionFailed,
                session,
                (title.to_string(), body),
                actions,
                now,
            ),
            out,
        );
    }

    /// R15: a chat of mine that someone else's Block closed (a colleague chose
    /// "Block anyway", or blocked the number in Dynamics): I am told, rather than
    /// finding it gone.
    pub(super) fn tell_owner_of_block(&mut self, touch: &Touch, now: Ts, out: &mut Vec<Effect>) {
        let Some(entry) = self.sessions.get(&touch.id) else {
            return;
        };
        let row = &entry.row;
        let mine = self.me.is_some_and(|m| row.owner == Owner::User(m));
        let my_block = self
            .pending
            .values()
            .any(|c| matches!(&c.op, WriteOp::BlockNumber { session, .. } if *session == touch.id));
        if !mine || !touch.was_open || row.status != SessionStatus::Blocked || my_block {
            return;
        }
        let (title, body) = blocked_text(row);
        self.show(
            Notification::new(
                NotificationKey::Blocked(touch.id),
                NotificationKind::NumberBlocked,
                Some(touch.id),
                (title, body),
                vec![Action::Open, Action::Dismiss],
                now,
            ),
            out,
        );
    }
}
