//! Write-backs: the engine's [`WriteOp`]s as Web API calls.
//!
//! Every ownership change is a `PATCH` with `If-Match: <etag>` of the row the agent
//! saw. A 412 means the row changed meanwhile: the row is read again and, if the
//! session now belongs to someone else, the outcome is "taken by <name>"
//! ([`WriteBackOutcome::Conflict`]); nothing is overwritten (R15). A command sent
//! twice (a restart between sending it and recording its answer) is harmless: the
//! second `PATCH` meets a 412, the re-read finds the session already mine, and the
//! outcome is [`WriteBackOutcome::Done`]. Blocking upserts a row whose id is the
//! command's, so it is idempotent too.

use crate::client::{Dataverse, DataverseError, IfMatch};
use crate::datetime;
use crate::decode;
use crate::schema::{Schema, Table};
use chatbell_core::{Command, Owner, Ts, UserId, WriteBackOutcome, WriteOp};
use serde_json::{json, Map, Value};

/// `statuscode` of a request.
const REQUEST_ACCEPTED: i64 = 2;
const REQUEST_REJECTED: i64 = 3;
const REQUEST_WITHDRAWN: i64 = 4;
const REQUEST_EXPIRED: i64 = 5;
const REQUEST_PENDING: i64 = 1;

/// Sends write-backs to one org.
#[derive(Clone, Debug)]
pub struct Writer {
    dv: Dataverse,
    schema: Schema,
}

impl Writer {
    pub fn new(dv: Dataverse, schema: Schema) -> Writer {
        Writer { dv, schema }
    }

    /// Sends `command` and says how it ended. Never fails: every failure is an
    /// outcome the engine turns into words for the agent.
    pub async fn send(&self, command: &Command, now: Ts) -> WriteBackOutcome {
        let result = match &command.op {
            WriteOp::TakeOwnership { session, etag, me } => {
                self.take_session(session.0, etag, *me, now).await
            }
            WriteOp::AnswerRequest {
                request,
                etag,
                accept,
                reason,
                take_session,
                me,
            } => {
                if let (true, Some((session, session_etag))) = (*accept, take_session) {
                    match self.take_session(session.0, session_etag, *me, now).await {
                        Ok(WriteBackOutcome::Done) => {}
                        other => return flatten(other),
                    }
                }
                let status = if *accept {
                    REQUEST_ACCEPTED
                } else {
                    REQUEST_REJECTED
                };
                self.set_request(request.0, etag, status, reason.as_deref())
                    .await
            }
            WriteOp::WithdrawRequest {
                request,
                etag,
                reason,
            } => {
                self.set_request(request.0, etag, REQUEST_WITHDRAWN, Some(reason))
                    .await
            }
            WriteOp::ExpireRequest { request, etag } => {
                self.set_request(request.0, etag, REQUEST_EXPIRED, None)
                    .await
            }
            WriteOp::BlockNumber {
                number, channel, ..
            } => {
                let body = json!({
                    self.schema.col(Table::Blocked, "cb_number"): number,
                    self.schema.col(Table::Blocked, "cb_channel"): channel.code(),
                });
                self.dv
                    .patch(
                        self.schema.set(Table::Blocked),
                        command.id.0,
                        &body,
                        &IfMatch::Upsert,
                    )
                    .await
                    .map(|()| WriteBackOutcome::Done)
            }
        };
        flatten(result)
    }

    /// Makes `me` the owner of the session if it is still at `etag`. A chat
    /// that changed meanwhile but is still in its queue, accepted by nobody (the
    /// customer wrote again), is taken at its new version: only another agent's
    /// move makes it a conflict (R15).
    async fn take_session(
        &self,
        session: uuid::Uuid,
        etag: &str,
        me: UserId,
        now: Ts,
    ) -> Result<WriteBackOutcome, DataverseError> {
        match self.take_session_once(session, etag, me, now).await? {
            Taken::Outcome(o) => Ok(o),
            Taken::StillQueued(fresh) => {
                match self.take_session_once(session, &fresh, me, now).await? {
                    Taken::Outcome(o) => Ok(o),
                    // Changed again between two reads: say so rather than loop.
                    Taken::StillQueued(_) => Ok(WriteBackOutcome::Conflict {
                        owner: None,
                        owner_name: None,
                    }),
                }
            }
        }
    }

    async fn take_session_once(
        &self,
        session: uuid::Uuid,
        etag: &str,
        me: UserId,
        now: Ts,
    ) -> Result<Taken, DataverseError> {
        let mut body = Map::new();
        body.insert(
            self.schema.lookup_bind(Table::Session, "ownerid"),
            Value::String(format!("/{}({me})", self.schema.set(Table::SystemUser))),
        );
        body.insert(
            self.schema.col(Table::Session, "cb_acceptedon").to_string(),
            Value::String(datetime::format(now)),
        );
        let set = self.schema.set(Table::Session);
        match self
            .dv
            .patch(
                set,
                session,
                &Value::Object(body),
                &IfMatch::Etag(etag.to_string()),
            )
            .await
        {
            Ok(()) => Ok(Taken::Outcome(WriteBackOutcome::Done)),
            Err(DataverseError::PreconditionFailed) => {
                // Someone changed the row: whose is it now?
                let row = self
                    .dv
                    .get_row(
                        set,
                        session,
                        &self.schema.select(Table::Session),
                        &["odata.include-annotations=\"*\"".to_string()],
                    )
                    .await?;
                let Some(row) = row else {
                    return Ok(Taken::Outcome(WriteBackOutcome::Refused {
                        message: "the chat no longer exists".into(),
                    }));
                };
                Ok(match decode::session(&self.schema, &row) {
                    Ok((s, _)) if s.owner == Owner::User(me) => {
                        Taken::Outcome(WriteBackOutcome::Done)
                    }
                    Ok((s, _))
                        if matches!(s.owner, Owner::Team(_))
                            && s.accepted_on.is_none()
                            && s.is_open() =>
                    {
                        Taken::StillQueued(s.etag)
                    }
                    Ok((s, agent)) => Taken::Outcome(WriteBackOutcome::Conflict {
                        owner: Some(s.owner),
                        owner_name: agent.map(|a| a.full_name),
                    }),
                    Err(_) => Taken::Outcome(WriteBackOutcome::Conflict {
                        owner: None,
                        owner_name: None,
                    }),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Moves a request to `status` if it is still at `etag`. A 412 re-reads it: if
    /// it already has that status (this command was sent before) it is done;
    /// otherwise it was answered, withdrawn or expired meanwhile.
    async fn set_request(
        &self,
        request: uuid::Uuid,
        etag: &str,
        status: i64,
        reason: Option<&str>,
    ) -> Result<WriteBackOutcome, DataverseError> {
        let mut body = Map::new();
        body.insert("statuscode".into(), json!(status));
        if let Some(r) = reason {
            body.insert(
                self.schema.col(Table::Request, "cb_reason").to_string(),
                json!(r),
            );
        }
        let set = self.schema.set(Table::Request);
        match self
            .dv
            .patch(
                set,
                request,
                &Value::Object(body),
                &IfMatch::Etag(etag.to_string()),
            )
            .await
        {
            Ok(()) => Ok(WriteBackOutcome::Done),
            Err(DataverseError::PreconditionFailed) => {
                let row = self.dv.get_row(set, request, "statuscode", &[]).await?;
                let now_status = row
                    .as_ref()
                    .and_then(|r| r.get("statuscode"))
                    .and_then(Value::as_i64);
                Ok(match now_status {
                    Some(s) if s == status => WriteBackOutcome::Done,
                    Some(REQUEST_PENDING) => WriteBackOutcome::Refused {
                        message: "the request changed meanwhile: look at it again".into(),
                    },
                    Some(_) => WriteBackOutcome::Refused {
                        message: "the request is no longer pending".into(),
                    },
                    None => WriteBackOutcome::Refused {
                        message: "the request no longer exists".into(),
                    },
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// One attempt at taking a session.
enum Taken {
    Outcome(WriteBackOutcome),
    /// Changed, but still queued and accepted by nobody: at this etag now.
    StillQueued(String),
}

fn flatten(result: Result<WriteBackOutcome, DataverseError>) -> WriteBackOutcome {
    match result {
        Ok(outcome) => outcome,
        Err(DataverseError::NotFound) => WriteBackOutcome::Refused {
            message: "the chat or request no longer exists".into(),
        },
        Err(e @ DataverseError::Service { .. }) => WriteBackOutcome::Refused {
            message: e.to_string(),
        },
        Err(e) => WriteBackOutcome::Failed {
            message: e.to_string(),
        },
    }
}
