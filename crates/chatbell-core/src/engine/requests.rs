//! Assign and Discuss requests (R8): to me, and the answers to mine.

use super::*;

/// How old the answer to a request of mine, first seen already answered, may be
/// and still be news (R8).
pub(super) const FRESH_ANSWER: Span = Span::hours(1);

impl Engine {
    /// R8: a request changed (or its chat, or my eligibility): the request to me
    /// is shown, kept or taken back; the answer to mine is told.
    pub(super) fn reconcile_request(
        &mut self,
        rid: RequestId,
        old: Option<&ChatRequest>,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let key = NotificationKey::Request(rid);
        let Some(r) = self.requests.get(&rid).cloned() else {
            let reason = WithdrawReason::WithdrawnByRequester;
            self.close_if_live(key, Lifecycle::Withdrawn { reason }, out);
            self.set_timer(TimerKey::RequestExpiry(rid), None, out);
            return;
        };
        let Some(me) = self.me else {
            return;
        };
        if r.requested_to == me {
            self.reconcile_request_to_me(&r, now, ctx, out);
        }
        if r.requested_by == me {
            self.reconcile_my_request(&r, old, now, out);
        }
    }

    /// A request to me: shown while pending, not expired, and about a chat I may
    /// see; taken back, with why, otherwise.
    fn reconcile_request_to_me(
        &mut self,
        r: &ChatRequest,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let key = NotificationKey::Request(r.id);
        let expiry = self.request_expiry(r);
        let lapsed = expiry.is_some_and(|e| now >= e);
        let pending = r.status == RequestStatus::Pending && !lapsed;
        let session_row = self.sessions.get(&r.session).map(|e| &e.row);
        let allowed = session_row.is_none_or(|row| self.session_eligible(row) && self.is_open(row));
        let existing = self.notifications.get(&key);
        if pending && allowed {
            if existing.is_none() {
                let from = self.name_of(r.requested_by);
                let (kind, title) = request_title(r.kind, &from, session_row);
                let body = r
                    .reason
                    .as_deref()
                    .map(|s| clip(s, PREVIEW_CHARS))
                    .unwrap_or_default();
                self.show(
                    Notification {
                        anchor: Some(r.created_on),
                        peer: Some(r.requested_by),
                        ..Notification::new(
                            key,
                            kind,
                            Some(r.session),
                            (title, body),
                            vec![Action::Open, Action::Accept, Action::Reject],
                            now,
                        )
                    },
                    out,
                );
                ctx.request_sound = true;
            }
            self.set_timer(TimerKey::RequestExpiry(r.id), expiry, out);
            return;
        }
        if existing.is_some_and(|n| n.is_live()) {
            let state = match r.status {
                RequestStatus::Expired => Lifecycle::Expired,
                RequestStatus::Pending if lapsed => Lifecycle::Expired,
                RequestStatus::Pending => Lifecycle::Withdrawn {
                    reason: WithdrawReason::NotEligible,
                },
                RequestStatus::Withdrawn => Lifecycle::Withdrawn {
                    reason: WithdrawReason::WithdrawnByRequester,
                },
                RequestStatus::Accepted | RequestStatus::Rejected => Lifecycle::Withdrawn {
                    reason: WithdrawReason::AnsweredElsewhere,
                },
            };
            self.close(key, state, out);
        }
        self.set_timer(TimerKey::RequestExpiry(r.id), None, out);
    }

    /// A request I made: its expiry armed while pending, its answer told.
    fn reconcile_my_request(
        &mut self,
        r: &ChatRequest,
        old: Option<&ChatRequest>,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let expiry = self.request_expiry(r);
        let pending = r.status == RequestStatus::Pending;
        self.set_timer(
            TimerKey::RequestExpiry(r.id),
            expiry.filter(|_| pending),
            out,
        );
        let was_pending = old.is_some_and(|o| o.status == RequestStatus::Pending);
        // A request made and answered between two syncs is first seen
        // answered: still news, if the answer is recent.
        let answered_meanwhile =
            old.is_none() && now - r.modified_on <= FRESH_ANSWER && r.modified_on <= now;
        let answered = matches!(
            r.status,
            RequestStatus::Accepted | RequestStatus::Rejected | RequestStatus::Expired
        );
        if (was_pending || answered_meanwhile) && answered {
            self.show_outcome(r, now, out);
        }
    }

    pub(super) fn request_expiry(&self, r: &ChatRequest) -> Option<Ts> {
        r.expires_on.or_else(|| {
            let s = self.sessions.get(&r.session)?;
            let c = self.configs.get(&s.row.config)?;
            Some(r.created_on + c.request_timeout)
        })
    }

    pub(super) fn show_outcome(&mut self, r: &ChatRequest, now: Ts, out: &mut Vec<Effect>) {
        let key = NotificationKey::Outcome(r.id);
        if self.notifications.contains_key(&key) {
            return;
        }
        let (title, body) = outcome_text(r, &self.name_of(r.requested_to));
        self.show(
            Notification::new(
                key,
                NotificationKind::RequestOutcome,
                Some(r.session),
                (title, body),
                vec![Action::Open, Action::Dismiss],
                now,
            ),
            out,
        );
    }

    pub(super) fn on_withdraw_request(
        &mut self,
        rid: RequestId,
        reason: String,
        now: Ts,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let me = self.me.ok_or(ActionError::NotSignedIn)?;
        let reason = non_blank(Some(reason))?;
        let r = self
            .requests
            .get(&rid)
            .filter(|r| r.requested_by == me)
            .ok_or(ActionError::UnknownRequest)?;
        if r.status != RequestStatus::Pending {
            return Err(ActionError::NoLongerPending);
        }
        if !self.online {
            return Err(ActionError::Offline);
        }
        let op = WriteOp::WithdrawRequest {
            request: rid,
            etag: r.etag.clone(),
            reason,
        };
        self.issue(op, None, now, out);
        self.set_timer(TimerKey::RequestExpiry(rid), None, out);
        Ok(())
    }

    /// R8: a pending request's time ran out. Mine is marked expired in Dynamics
    /// and I am told; one to me is taken back.
    pub(super) fn expire_request(
        &mut self,
        rid: RequestId,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
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
        self.reconcile_request(rid, Some(&r), now, ctx, out);
    }

    /// R8: Accept or Reject (with its reason) of a request to me; accepting an
    /// Assign request takes the chat too, if it is still its owner's (R15).
    pub(super) fn answer_request(
        &mut self,
        key: NotificationKey,
        action: Action,
        reason: Option<String>,
        now: Ts,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let NotificationKey::Request(rid) = key else {
            return Err(ActionError::UnknownNotification);
        };
        let me = self.me.ok_or(ActionError::NotSignedIn)?;
        let reason = match action {
            Action::Reject => Some(non_blank(reason)?),
            _ => None,
        };
        let r = self.requests.get(&rid).ok_or(ActionError::UnknownRequest)?;
        if r.status != RequestStatus::Pending || self.request_expiry(r).is_some_and(|e| now >= e) {
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
        self.close(key, Lifecycle::ActedOn { action }, out);
        Ok(())
    }
}
