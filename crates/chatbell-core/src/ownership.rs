//! R15, in one place: what must still be true in Dynamics for each ownership
//! action to go through, how a fresh row is judged against it, and the words
//! the agent reads when it is no longer true.
//!
//! Every ownership action is written with `If-Match` at the version of the row
//! the agent saw. A 412 says only that the row changed, not why: the customer
//! may have written again, or another agent may have acted. So the writer reads
//! the row again and asks its action's precondition here:
//!
//! | action | the chat (or request) must still be | refused when |
//! |---|---|---|
//! | Accept a new conversation (R2, R9, R10) | open, in a team's queue (no agent owns it) | another agent accepted it; it was closed or blocked |
//! | Assign to me: Yes (R6) | open, owned by the idle owner, who has not replied since the offer's stretch began | the owner replied; another agent took it; it went back to the team; closed |
//! | Accept an Assign request (R8) | the request pending and not expired; the chat open and owned by whoever owned it when I accepted | the requester withdrew it; it was answered, expired; another agent took the chat |
//! | Accept a Discuss request, Reject a request (R8) | the request pending and not expired | withdrawn, answered, expired |
//! | Withdraw my request (R8) | the request pending | answered or expired first |
//! | Block (R9) | open (or blocked already), taken by nobody but me | another agent accepted it (then "Block anyway" is a second, explicit choice) |
//! | Dismiss (R9) | — it writes nothing: a dismissal is kept on this desktop only | — |
//!
//! Still true: the action goes through at the row's new version. Already done
//! (a command sent twice, or done elsewhere by me): it is done. Not true: the
//! action is refused with a [`Refusal`], which the engine words ([`Refusal::words`]).

use crate::domain::{ChatRequest, Owner, RequestStatus, Session, SessionStatus};
use crate::ids::UserId;
use crate::time::Ts;
use serde::{Deserialize, Serialize};

/// What must still hold of the chat for an action on it to go through.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub enum ChatPrecondition {
    /// Accept of a new conversation: open, in a team's queue (no agent owns it).
    /// (Also what a command queued by an older ChatBell, which named none, needs.)
    #[default]
    Queued,
    /// Assign to me (R6): open, still owned by `owner`, who has not replied
    /// since `since` (the start of the stretch the offer was made for). The
    /// customer writing again changes nothing.
    StillIdle { owner: UserId, since: Ts },
    /// Accept of an Assign request (R8): open, still owned by `owner` (who owned
    /// it when I accepted); messages in the chat change nothing.
    OwnedBy { owner: Owner },
    /// Block (R9): open or blocked already, owned by a team or by me.
    Blockable,
}

/// How a row read again stands against a precondition.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// Still true: write again at the row's new version.
    Holds,
    /// What the action wanted is already so (sent twice, or done elsewhere).
    Done,
    /// No longer true.
    Refused(Refusal),
}

/// Why an ownership action did not go through: what is true now (R15).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Refusal {
    /// Another agent owns the chat now. Their name as Dynamics gave it with the
    /// row, when it did (the engine may not have met that agent yet).
    TakenBy {
        owner: UserId,
        owner_name: Option<String>,
    },
    /// The idle owner replied, so the offer is moot (R6).
    OwnerReplied {
        owner: UserId,
        owner_name: Option<String>,
    },
    /// The chat went back to a team's queue.
    BackToTeam,
    /// The chat was closed.
    ChatClosed,
    /// The customer's number was blocked.
    NumberBlocked,
    /// The requester withdrew the request (R8).
    RequestWithdrawn,
    /// The request was accepted or rejected already, otherwise than asked now.
    RequestAnswered { status: RequestStatus },
    /// The request expired (R8).
    RequestExpired,
    /// The chat or the request no longer exists.
    Gone,
    /// The row changed again at every try: look at it again.
    KeptChanging,
    /// The row read again could not be understood.
    Unreadable,
}

impl ChatPrecondition {
    /// Judges the chat's `row` as Dynamics has it now, for `me`; `owner_name`
    /// is the owner's name as Dynamics gave it with the row.
    pub fn check(&self, row: &Session, owner_name: Option<&str>, me: UserId) -> Verdict {
        let named = |owner: UserId| Refusal::TakenBy {
            owner,
            owner_name: owner_name.map(str::to_string),
        };
        if let ChatPrecondition::Blockable = self {
            if row.status == SessionStatus::Blocked {
                return Verdict::Done;
            }
        } else if row.owner == Owner::User(me) {
            return Verdict::Done;
        }
        if row.status == SessionStatus::Blocked {
            return Verdict::Refused(Refusal::NumberBlocked);
        }
        if !row.is_open() {
            return Verdict::Refused(Refusal::ChatClosed);
        }
        match self {
            ChatPrecondition::Queued | ChatPrecondition::Blockable => match row.owner {
                Owner::User(u) if u == me => Verdict::Holds,
                Owner::User(u) => Verdict::Refused(named(u)),
                // In a team's queue: even one an agent took and gave back may
                // be taken again.
                Owner::Team(_) => Verdict::Holds,
            },
            ChatPrecondition::StillIdle { owner, since } => match row.owner {
                Owner::User(u) if u != *owner => Verdict::Refused(named(u)),
                Owner::Team(_) => Verdict::Refused(Refusal::BackToTeam),
                Owner::User(u) if row.last_agent_message_on.is_some_and(|a| a >= *since) => {
                    Verdict::Refused(Refusal::OwnerReplied {
                        owner: u,
                        owner_name: owner_name.map(str::to_string),
                    })
                }
                Owner::User(_) => Verdict::Holds,
            },
            ChatPrecondition::OwnedBy { owner } => match row.owner {
                o if o == *owner => Verdict::Holds,
                Owner::User(u) => Verdict::Refused(named(u)),
                Owner::Team(_) => Verdict::Refused(Refusal::BackToTeam),
            },
        }
    }
}

/// Judges a request as Dynamics has it now, for a change to `target` asked at
/// `now`: a request may be answered only while pending and not expired;
/// withdrawn or marked expired while pending.
pub fn check_request(row: &ChatRequest, target: RequestStatus, now: Ts) -> Verdict {
    if row.status == target {
        return Verdict::Done;
    }
    match row.status {
        RequestStatus::Pending => {
            let answering = matches!(target, RequestStatus::Accepted | RequestStatus::Rejected);
            if answering && row.expires_on.is_some_and(|e| now >= e) {
                Verdict::Refused(Refusal::RequestExpired)
            } else {
                Verdict::Holds
            }
        }
        RequestStatus::Withdrawn => Verdict::Refused(Refusal::RequestWithdrawn),
        RequestStatus::Expired => Verdict::Refused(Refusal::RequestExpired),
        status @ (RequestStatus::Accepted | RequestStatus::Rejected) => {
            Verdict::Refused(Refusal::RequestAnswered { status })
        }
    }
}

/// What the agent was doing when refused: the words depend on it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Attempt {
    Accept,
    AssignToMe,
    AnswerRequest,
    WithdrawRequest,
    ExpireRequest,
    Block,
}

impl Refusal {
    /// The sentence the agent reads. `name` gives the best name known for an
    /// agent (the engine's, else the one Dynamics gave); `requester` and
    /// `target` are the names of a request's two agents, where it is about one.
    pub fn words(
        &self,
        attempt: Attempt,
        name: &dyn Fn(UserId, Option<&str>) -> String,
        requester: Option<&str>,
        target: Option<&str>,
    ) -> String {
        let requester = requester.unwrap_or("The requester");
        let target = target.unwrap_or("The agent you asked");
        match (self, attempt) {
            (Refusal::TakenBy { owner, owner_name }, Attempt::Accept | Attempt::Block) => format!(
                "{} accepted this chat first.",
                name(*owner, owner_name.as_deref())
            ),
            (Refusal::TakenBy { owner, owner_name }, _) => {
                format!(
                    "{} already took this chat.",
                    name(*owner, owner_name.as_deref())
                )
            }
            (Refusal::OwnerReplied { owner, owner_name }, _) => {
                format!("{} replied meanwhile.", name(*owner, owner_name.as_deref()))
            }
            (Refusal::BackToTeam, _) => "This chat went back to its team's queue meanwhile.".into(),
            (Refusal::ChatClosed, _) => "This chat was closed meanwhile.".into(),
            (Refusal::NumberBlocked, _) => "This customer's number was blocked meanwhile.".into(),
            (Refusal::RequestWithdrawn, _) => format!("{requester} withdrew the request."),
            (Refusal::RequestAnswered { status }, Attempt::WithdrawRequest) => {
                let how = if *status == RequestStatus::Accepted {
                    "accepted"
                } else {
                    "rejected"
                };
                format!("{target} {how} your request before you withdrew it.")
            }
            (Refusal::RequestAnswered { .. }, _) => {
                "This request was already answered (on another device or in Dynamics).".into()
            }
            (Refusal::RequestExpired, _) => "This request expired.".into(),
            (Refusal::Gone, _) => "This chat or request no longer exists.".into(),
            (Refusal::KeptChanging, _) => {
                "This chat kept changing while ChatBell tried: look at it again.".into()
            }
            (Refusal::Unreadable, _) => {
                "Dynamics changed this chat, and ChatBell could not read it again.".into()
            }
        }
    }

    /// For a Block refused because another agent accepted the chat: blocking the
    /// number anyway is offered, as a second and explicit choice.
    pub fn offers_block_anyway(&self, attempt: Attempt) -> bool {
        attempt == Attempt::Block && matches!(self, Refusal::TakenBy { .. })
    }

    /// Whether the request the agent answered may still be pending in Dynamics:
    /// the answer was refused for the chat's sake, before the request was
    /// written, so the request stays in the panel.
    pub fn leaves_request_pending(&self) -> bool {
        matches!(
            self,
            Refusal::TakenBy { .. }
                | Refusal::BackToTeam
                | Refusal::KeptChanging
                | Refusal::Unreadable
        )
    }
}
