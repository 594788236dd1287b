//! The agent's actions and what Dynamics made of them (R2, R6, R8, R9, R12, R15).

use super::*;

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
    pub(super) fn on_act(
        &mut self,
        key: NotificationKey,
        action: Action,
        reason: Option<String>,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let _ = ctx;
        let n = self
            .notifications
            .get(&key)
            .ok_or(ActionError::UnknownNotification)?;
        if !n.is_live() {
            return Err(ActionError::NotLive);
        }
        if !n.offers(action) {
            return Err(ActionError::NotOffered {
                action: action.as_str(),
            });
        }
        let kind = n.kind;
        let session = n.session;
        let acted = Lifecycle::ActedOn { action };
        match (kind, action) {
            (NotificationKind::CatchUpSummary, Action::Open) => {
                out.push(Effect::OpenPanel);
                self.close(key, acted, out);
            }
            (k, Action::Open) if k.asks_for_decision() => {
                if let Some(s) = session {
                    out.push(Effect::OpenChat(s));
                }
                if let Some(n) = self.notifications.get_mut(&key) {
                    Arc::make_mut(n).toast = false;
                }
                out.push(Effect::HideToast(key));
            }
            (_, Action::Open) => {
                if let Some(s) = session {
                    out.push(Effect::OpenChat(s));
                }
                self.close(key, acted, out);
            }
            (NotificationKind::NewConversation, Action::Accept)
            | (NotificationKind::AssignToMe, Action::Yes) => {
                let sid = session.ok_or(ActionError::UnknownNotification)?;
                let me = self.me.ok_or(ActionError::NotSignedIn)?;
                let entry = self.sessions.get(&sid).ok_or(ActionError::SessionClosed)?;
                let row = &entry.row;
                if !self.is_open(row) {
                    return Err(ActionError::SessionClosed);
                }
                if !self.session_eligible(row) {
                    return Err(ActionError::NotEligible);
                }
                if kind == NotificationKind::NewConversation {
                    if let Owner::User(u) = row.owner {
                        if u != me {
                            return Err(ActionError::AlreadyTaken {
                                by: self.name_of(u),
                            });
                        }
                    }
                }
                if !self.online {
                    return Err(ActionError::Offline);
                }
                // What must still be true if the row changed meanwhile (R15).
                let precondition = match (kind, n.peer, n.anchor) {
                    (NotificationKind::AssignToMe, Some(owner), Some(since)) => {
                        ChatPrecondition::StillIdle { owner, since }
                    }
                    (NotificationKind::AssignToMe, _, _) => {
                        ChatPrecondition::OwnedBy { owner: row.owner }
                    }
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
                self.close(key, acted, out);
            }
            (NotificationKind::AssignToMe, Action::No) => {
                self.close(key, acted, out);
            }
            (NotificationKind::NewConversation, Action::Dismiss) => {
                let sid = session.ok_or(ActionError::UnknownNotification)?;
                self.close(key, Lifecycle::Dismissed, out);
                if self.dismissed.insert(sid) {
                    out.push(Effect::Dismiss(sid));
                }
                self.refresh_unread(sid);
            }
            (
                NotificationKind::IncomingCall
                | NotificationKind::ReplyWindowClosing
                | NotificationKind::ActionFailed
                | NotificationKind::RequestOutcome
                | NotificationKind::CatchUpSummary
                | NotificationKind::NumberBlocked,
                Action::Dismiss,
            ) => {
                self.close(key, Lifecycle::Dismissed, out);
            }
            (NotificationKind::NewConversation, Action::Block) => {
                let sid = session.ok_or(ActionError::UnknownNotification)?;
                let row = &self
                    .sessions
                    .get(&sid)
                    .ok_or(ActionError::SessionClosed)?
                    .row;
                if !self.online {
                    return Err(ActionError::Offline);
                }
                let op = WriteOp::BlockNumber {
                    session: sid,
                    number: row.number.clone(),
                    channel: row.channel,
                    etag: Some(row.etag.clone()),
                    anyway: false,
                    me: self.me,
                };
                self.issue(op, Some(key), now, out);
                self.close(key, acted, out);
            }
            (NotificationKind::ActionFailed, Action::BlockAnyway) => {
                // The second, explicit choice after "X accepted this chat first"
                // (R15): the number is blocked; the chat stays its owner's, who
                // is told (see `reconcile_blocked_owner`).
                let sid = session.ok_or(ActionError::UnknownNotification)?;
                let row = &self
                    .sessions
                    .get(&sid)
                    .ok_or(ActionError::SessionClosed)?
                    .row;
                if !self.online {
                    return Err(ActionError::Offline);
                }
                let op = WriteOp::BlockNumber {
                    session: sid,
                    number: row.number.clone(),
                    channel: row.channel,
                    etag: None,
                    anyway: true,
                    me: self.me,
                };
                self.issue(op, Some(key), now, out);
                self.close(key, acted, out);
            }
            (
                NotificationKind::AssignRequest | NotificationKind::DiscussRequest,
                Action::Accept | Action::Reject,
            ) => {
                let NotificationKey::Request(rid) = key else {
                    return Err(ActionError::UnknownNotification);
                };
                let me = self.me.ok_or(ActionError::NotSignedIn)?;
                let reason = match action {
                    Action::Reject => Some(non_blank(reason)?),
                    _ => None,
                };
                let r = self.requests.get(&rid).ok_or(ActionError::UnknownRequest)?;
                if r.status != RequestStatus::Pending
                    || self.request_expiry(r).is_some_and(|e| now >= e)
                {
                    return Err(ActionError::NoLongerPending);
                }
                if !self.online {
                    return Err(ActionError::Offline);
                }
                let accept = action == Action::Accept;
                let (take_session, session_owner) = if accept && r.kind == RequestKind::Assign {
                    let row = &self
                        .sessions
                        .get(&r.session)
                        .ok_or(ActionError::SessionClosed)?
                        .row;
                    (Some((row.id, row.etag.clone())), Some(row.owner))
                } else {
                    (None, None)
                };
                if let Some((sid, _)) = &take_session {
                    self.claimed.insert(*sid);
                }
                let op = WriteOp::AnswerRequest {
                    request: rid,
                    etag: r.etag.clone(),
                    accept,
                    reason,
                    take_session,
                    me,
                    session_owner,
                };
                self.issue(op, Some(key), now, out);
                self.set_timer(TimerKey::RequestExpiry(rid), None, out);
                self.close(key, acted, out);
            }
            _ => {
                return Err(ActionError::NotOffered {
                    action: action.as_str(),
                })
            }
        }
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
                self.show_info(&command, "Too late", body, actions, now, out);
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
                    "Could not do that",
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
            Notification {
                key: NotificationKey::Info(command.id),
                kind: NotificationKind::ActionFailed,
                session,
                title: title.to_string(),
                body,
                actions,
                count: 0,
                created_at: now,
                updated_at: now,
                state: Lifecycle::Live,
                toast: true,
                anchor: None,
                peer: None,
            },
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
        let name = clip(&row.name, NAME_CHARS);
        self.show(
            Notification {
                key: NotificationKey::Blocked(touch.id),
                kind: NotificationKind::NumberBlocked,
                session: Some(touch.id),
                title: format!("Number blocked: {name}"),
                body: "The customer's number was blocked, so this chat of yours is closed."
                    .to_string(),
                actions: vec![Action::Open, Action::Dismiss],
                count: 0,
                created_at: now,
                updated_at: now,
                state: Lifecycle::Live,
                toast: true,
                anchor: None,
                peer: None,
            },
            out,
        );
    }
}
