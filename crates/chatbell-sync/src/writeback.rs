//! Write-backs: the engine's [`WriteOp`]s as Web API calls.
//!
//! Every ownership change is a `PATCH` with `If-Match: <etag>` of the row the agent
//! saw. A 412 says only that the row changed: the row is read again and judged
//! against the action's precondition ([`chatbell_core::ownership`], R15). Still
//! true (the customer wrote again, say): the `PATCH` is sent again at the row's
//! new version. Already so: done. No longer true: the outcome is
//! [`WriteBackOutcome::TooLate`] with what is true now; nothing is overwritten.
//! A command sent twice (a restart between sending it and recording its answer)
//! is harmless: the second `PATCH` meets a 412 and the re-read finds it done.
//!
//! - Accepting an Assign request reads the chat first (is it still the owner's it
//!   was when I accepted?), then answers the request, then takes the chat: a
//!   request withdrawn meanwhile is never answered, and no chat is taken once
//!   its request is gone.
//! - Block closes the chat as blocked at the version the agent saw (so a chat
//!   another agent accepted meanwhile is left alone and the blocker is told who),
//!   then creates the blocked number, whose id is the command's, so it is
//!   idempotent; Dynamics then blocks every other active chat of the number. With
//!   `anyway` (the agent's second, explicit choice) only the number is created.

use crate::client::{Dataverse, DataverseError, IfMatch};
use crate::datetime;
use crate::decode;
use crate::schema::{Schema, Table};
use chatbell_core::{
    check_request, ChatPrecondition, Command, Refusal, RequestStatus, Ts, UserId, Verdict,
    WriteBackOutcome, WriteOp,
};
use serde_json::{json, Map, Value};

/// `statecode` of a closed chat: Dataverse's own value for inactive.
const SESSION_INACTIVE: i64 = 1;

/// Writes sent at a new version after a 412 whose row still met the
/// precondition, before giving up with [`Refusal::KeptChanging`].
const TRIES: usize = 3;

/// Annotations asked for when a row is read again: the owner's name.
const ANNOTATIONS: &str = "odata.include-annotations=\"*\"";

/// Sends write-backs to one org.
#[derive(Clone, Debug)]
pub struct Writer {
    dv: Dataverse,
    schema: Schema,
}

/// How one guarded write ended.
enum Guarded {
    /// Written, or found already so.
    Done,
    /// Not written: what is true now.
    Refused(Refusal),
}

impl Writer {
    pub fn new(dv: Dataverse, schema: Schema) -> Writer {
        Writer { dv, schema }
    }

    /// Sends `command` and says how it ended. Never fails: every failure is an
    /// outcome the engine turns into words for the agent.
    pub async fn send(&self, command: &Command, now: Ts) -> WriteBackOutcome {
        let result = self.carry_out(command, now).await;
        match result {
            Ok(Guarded::Done) => WriteBackOutcome::Done,
            Ok(Guarded::Refused(r)) => WriteBackOutcome::TooLate(r),
            Err(DataverseError::NotFound) => WriteBackOutcome::TooLate(Refusal::Gone),
            Err(e @ DataverseError::Service { .. }) => WriteBackOutcome::Refused {
                message: e.to_string(),
            },
            Err(e) => WriteBackOutcome::Failed {
                message: e.to_string(),
            },
        }
    }

    async fn carry_out(&self, command: &Command, now: Ts) -> Result<Guarded, DataverseError> {
        match &command.op {
            WriteOp::TakeOwnership {
                session,
                etag,
                me,
                precondition,
            } => {
                self.take_session(session.0, etag.clone(), *me, precondition, now)
                    .await
            }
            WriteOp::AnswerRequest {
                request,
                etag,
                accept,
                reason,
                take_session,
                me,
                session_owner,
            } => {
                let take = match (*accept, take_session) {
                    (true, Some((session, _))) => {
                        // Who owned the chat when I accepted must own it still; a
                        // command queued by an older ChatBell named nobody.
                        let pre = session_owner.map_or(ChatPrecondition::Queued, |owner| {
                            ChatPrecondition::OwnedBy { owner }
                        });
                        match self.read_session(session.0, &pre, *me).await? {
                            Read::Refused(r) => return Ok(Guarded::Refused(r)),
                            // Already mine: only the request is left to answer.
                            Read::Done => None,
                            Read::Holds(fresh) => Some((session.0, fresh, pre)),
                        }
                    }
                    _ => None,
                };
                let (status, target) = if *accept {
                    (
                        self.schema.value(Table::Request, "statuscode", "accepted"),
                        RequestStatus::Accepted,
                    )
                } else {
                    (
                        self.schema.value(Table::Request, "statuscode", "rejected"),
                        RequestStatus::Rejected,
                    )
                };
                if let Guarded::Refused(r) = self
                    .set_request(request.0, etag, status, target, reason.as_deref(), now)
                    .await?
                {
                    return Ok(Guarded::Refused(r));
                }
                match take {
                    Some((session, fresh, pre)) => {
                        self.take_session(session, fresh, *me, &pre, now).await
                    }
                    None => Ok(Guarded::Done),
                }
            }
            WriteOp::WithdrawRequest {
                request,
                etag,
                reason,
            } => {
                self.set_request(
                    request.0,
                    etag,
                    self.schema.value(Table::Request, "statuscode", "withdrawn"),
                    RequestStatus::Withdrawn,
                    Some(reason),
                    now,
                )
                .await
            }
            WriteOp::ExpireRequest { request, etag } => {
                self.set_request(
                    request.0,
                    etag,
                    self.schema.value(Table::Request, "statuscode", "expired"),
                    RequestStatus::Expired,
                    None,
                    now,
                )
                .await
            }
            WriteOp::BlockNumber {
                session,
                number,
                channel,
                etag,
                anyway,
                me,
            } => {
                if let (Some(etag), false) = (etag, anyway) {
                    let body = json!({
                        "statecode": SESSION_INACTIVE,
                        "statuscode": self.schema.value(Table::Session, "statuscode", "blocked"),
                    });
                    // An older ChatBell's command names nobody: then only a
                    // team's chat may be blocked.
                    let me = me.unwrap_or(UserId(uuid::Uuid::nil()));
                    if let Guarded::Refused(r) = self
                        .guarded_session_write(
                            session.0,
                            etag.clone(),
                            &body,
                            &ChatPrecondition::Blockable,
                            me,
                        )
                        .await?
                    {
                        return Ok(Guarded::Refused(r));
                    }
                }
                let body = json!({
                    self.schema.col(Table::Blocked, "cb_number"): number,
                    self.schema.col(Table::Blocked, "cb_channel"): self.schema.to_org(Table::Blocked, "cb_channel", channel.code()),
                });
                self.dv
                    .patch(
                        self.schema.set(Table::Blocked),
                        command.id.0,
                        &body,
                        &IfMatch::Upsert,
                    )
                    .await
                    .map(|()| Guarded::Done)
            }
        }
    }

    /// Makes `me` the owner of the session, written at `etag`, and again at the
    /// row's new version while `pre` still holds.
    async fn take_session(
        &self,
        session: uuid::Uuid,
        etag: String,
        me: UserId,
        pre: &ChatPrecondition,
        now: Ts,
    ) -> Result<Guarded, DataverseError> {
        let mut body = Map::new();
        body.insert(
            self.schema.lookup_bind(Table::Session, "ownerid"),
            Value::String(format!("/{}({me})", self.schema.set(Table::SystemUser))),
        );
        body.insert(
            self.schema.col(Table::Session, "cb_acceptedon").to_string(),
            Value::String(datetime::format(now)),
        );
        self.guarded_session_write(session, etag, &Value::Object(body), pre, me)
            .await
    }

    /// `PATCH`es the session with `If-Match`; on a 412 reads it again and, while
    /// `pre` holds, writes again at its new version ([`TRIES`] at most).
    async fn guarded_session_write(
        &self,
        session: uuid::Uuid,
        mut etag: String,
        body: &Value,
        pre: &ChatPrecondition,
        me: UserId,
    ) -> Result<Guarded, DataverseError> {
        let set = self.schema.set(Table::Session);
        for _ in 0..TRIES {
            match self
                .dv
                .patch(set, session, body, &IfMatch::Etag(etag.clone()))
                .await
            {
                Ok(()) => return Ok(Guarded::Done),
                Err(DataverseError::PreconditionFailed) => {}
                Err(e) => return Err(e),
            }
            match self.read_session(session, pre, me).await? {
                Read::Holds(fresh) => etag = fresh,
                Read::Done => return Ok(Guarded::Done),
                Read::Refused(r) => return Ok(Guarded::Refused(r)),
            }
        }
        Ok(Guarded::Refused(Refusal::KeptChanging))
    }

    /// Reads the session as Dynamics has it now and judges it against `pre`.
    async fn read_session(
        &self,
        session: uuid::Uuid,
        pre: &ChatPrecondition,
        me: UserId,
    ) -> Result<Read, DataverseError> {
        let set = self.schema.set(Table::Session);
        let select = self.schema.select(Table::Session);
        let Some(row) = self
            .dv
            .get_row(set, session, &select, &[ANNOTATIONS.to_string()])
            .await?
        else {
            return Ok(Read::Refused(Refusal::Gone));
        };
        let Ok((s, agent)) = decode::session(&self.schema, &row) else {
            return Ok(Read::Refused(Refusal::Unreadable));
        };
        let name = agent.as_ref().map(|a| a.full_name.as_str());
        Ok(match pre.check(&s, name, me) {
            Verdict::Holds => Read::Holds(s.etag),
            Verdict::Done => Read::Done,
            Verdict::Refused(r) => Read::Refused(r),
        })
    }

    /// Moves a request to `status` (`target`) with `If-Match`; on a 412 reads it
    /// again and, while it may still be moved there, writes again at its new
    /// version.
    async fn set_request(
        &self,
        request: uuid::Uuid,
        etag: &str,
        status: i64,
        target: RequestStatus,
        reason: Option<&str>,
        now: Ts,
    ) -> Result<Guarded, DataverseError> {
        let mut body = Map::new();
        body.insert("statuscode".into(), json!(status));
        if let Some(r) = reason {
            body.insert(
                self.schema.col(Table::Request, "cb_reason").to_string(),
                json!(r),
            );
        }
        let body = Value::Object(body);
        let set = self.schema.set(Table::Request);
        let select = self.schema.select(Table::Request);
        let mut etag = etag.to_string();
        for _ in 0..TRIES {
            match self
                .dv
                .patch(set, request, &body, &IfMatch::Etag(etag.clone()))
                .await
            {
                Ok(()) => return Ok(Guarded::Done),
                Err(DataverseError::PreconditionFailed) => {}
                Err(e) => return Err(e),
            }
            let Some(row) = self.dv.get_row(set, request, &select, &[]).await? else {
                return Ok(Guarded::Refused(Refusal::Gone));
            };
            let Ok((r, _)) = decode::request(&self.schema, &row) else {
                return Ok(Guarded::Refused(Refusal::Unreadable));
            };
            match check_request(&r, target, now) {
                Verdict::Holds => etag = r.etag,
                Verdict::Done => return Ok(Guarded::Done),
                Verdict::Refused(refusal) => return Ok(Guarded::Refused(refusal)),
            }
        }
        Ok(Guarded::Refused(Refusal::KeptChanging))
    }
}

/// A session read again, judged.
enum Read {
    /// The precondition holds, at this etag.
    Holds(String),
    Done,
    Refused(Refusal),
}
