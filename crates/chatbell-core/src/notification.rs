//! Notifications as the agent sees them: what they are about, what they offer, and
//! where they are in their life.

use crate::ids::*;
use crate::time::Ts;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A notification's stable identity. There is one per conversation and purpose, so
/// that a burst of messages updates one toast instead of stacking many (R16).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum NotificationKey {
    /// New conversation (R2, R9, R10) or new message in my chat (R4).
    Chat(SessionId),
    /// Incoming call (R5).
    Call(SessionId),
    /// "Assign to me?" after the idle timeout (R6).
    Offer(SessionId),
    /// Assigned to me through Dynamics (R7).
    Assigned(SessionId),
    /// An Assign or Discuss request addressed to me (R8).
    Request(RequestId),
    /// The answer to a request I made (R8).
    Outcome(RequestId),
    /// Why one of my actions did not take effect (R15).
    Info(CommandId),
    /// What was missed during a gap, in one toast (R17).
    CatchUp,
    /// The WhatsApp reply window of a session I own is about to close (R20).
    ReplyWindow(SessionId),
    /// The number of a chat I own was blocked by someone else (R15).
    Blocked(SessionId),
}

impl fmt::Display for NotificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotificationKey::Chat(id) => write!(f, "chat:{id}"),
            NotificationKey::Call(id) => write!(f, "call:{id}"),
            NotificationKey::Offer(id) => write!(f, "offer:{id}"),
            NotificationKey::Assigned(id) => write!(f, "assigned:{id}"),
            NotificationKey::Request(id) => write!(f, "request:{id}"),
            NotificationKey::Outcome(id) => write!(f, "outcome:{id}"),
            NotificationKey::Info(id) => write!(f, "info:{id}"),
            NotificationKey::CatchUp => f.write_str("catchup"),
            NotificationKey::ReplyWindow(id) => write!(f, "reply:{id}"),
            NotificationKey::Blocked(id) => write!(f, "blocked:{id}"),
        }
    }
}

/// A notification id that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a notification id: {0:?}")]
pub struct BadNotificationKey(pub String);

impl FromStr for NotificationKey {
    type Err = BadNotificationKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadNotificationKey(s.chars().take(80).collect());
        if s == "catchup" {
            return Ok(NotificationKey::CatchUp);
        }
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        let uuid = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(match kind {
            "chat" => NotificationKey::Chat(SessionId(uuid)),
            "call" => NotificationKey::Call(SessionId(uuid)),
            "offer" => NotificationKey::Offer(SessionId(uuid)),
            "assigned" => NotificationKey::Assigned(SessionId(uuid)),
            "request" => NotificationKey::Request(RequestId(uuid)),
            "outcome" => NotificationKey::Outcome(RequestId(uuid)),
            "info" => NotificationKey::Info(CommandId(uuid)),
            "reply" => NotificationKey::ReplyWindow(SessionId(uuid)),
            "blocked" => NotificationKey::Blocked(SessionId(uuid)),
            _ => return Err(bad()),
        })
    }
}

impl Serialize for NotificationKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NotificationKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl NotificationKey {
    /// The session the notification is about, where the key says it.
    pub fn session(self) -> Option<SessionId> {
        match self {
            NotificationKey::Chat(s)
            | NotificationKey::Call(s)
            | NotificationKey::Offer(s)
            | NotificationKey::Assigned(s)
            | NotificationKey::ReplyWindow(s) => Some(s),
            _ => None,
        }
    }
}

/// What a notification is about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum NotificationKind {
    /// A team's session nobody has taken yet has a new message (R2, R9, R10).
    NewConversation,
    /// A new message in a session I own (R4): "View chat".
    NewMessage,
    /// A customer is calling (R5).
    IncomingCall,
    /// The owner went idle; take the session over? (R6)
    AssignToMe,
    /// The session was assigned to me through Dynamics (R7).
    AssignedToMe,
    /// Someone asks me to take a session over (R8).
    AssignRequest,
    /// Someone asks me to join a session (R8).
    DiscussRequest,
    /// The answer to my request (R8).
    RequestOutcome,
    /// One of my actions did not take effect, and why (R15).
    ActionFailed,
    /// "N chats need you" after a gap (R17).
    CatchUpSummary,
    /// The WhatsApp reply window of my session closes soon (R20).
    ReplyWindowClosing,
    /// Someone blocked the customer's number of a chat I own: it is closed (R15).
    NumberBlocked,
}

impl NotificationKind {
    /// Items that ask for a decision: R17 still delivers them one by one.
    pub fn asks_for_decision(self) -> bool {
        matches!(
            self,
            NotificationKind::IncomingCall
                | NotificationKind::AssignToMe
                | NotificationKind::AssignRequest
                | NotificationKind::DiscussRequest
        )
    }
}

/// What the agent can do with a notification.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The main action: open the chat (R12). "View chat" on R4.
    Open,
    /// Take the session (R2) or accept a request (R8).
    Accept,
    /// Refuse a request, with a reason (R8).
    Reject,
    /// "Assign to me?" → yes (R6).
    Yes,
    /// "Assign to me?" → no (R6).
    No,
    /// Hide from my panel until the next message (R9), or silence a call (R5).
    Dismiss,
    /// Block the customer's number for everyone (R9).
    Block,
    /// Block the number although another agent accepted the chat first (R15).
    BlockAnyway,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::Yes => "yes",
            Action::No => "no",
            Action::Dismiss => "dismiss",
            Action::Block => "block",
            Action::BlockAnyway => "block_anyway",
        }
    }
}

impl FromStr for Action {
    type Err = BadAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "open" => Action::Open,
            "accept" => Action::Accept,
            "reject" => Action::Reject,
            "yes" => Action::Yes,
            "no" => Action::No,
            "dismiss" => Action::Dismiss,
            "block" => Action::Block,
            "block_anyway" => Action::BlockAnyway,
            _ => return Err(BadAction(s.chars().take(40).collect())),
        })
    }
}

/// An action name that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown action {0:?} (expected open, accept, reject, yes, no, dismiss, block or block_anyway)"
)]
pub struct BadAction(pub String);

/// Why a notification was taken back.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// Another agent took the session (R2, R6).
    TakenByOther,
    /// The owner replied, so the idle offer is moot (R6).
    OwnerReplied,
    /// The messages were answered (the unread count went back to zero).
    Answered,
    /// The call stopped ringing (R5).
    CallEnded,
    /// The session was closed or its number blocked (R9).
    SessionClosed,
    /// I am no longer eligible (R1).
    NotEligible,
    /// The request was answered elsewhere (R8).
    AnsweredElsewhere,
    /// The requester withdrew the request (R8).
    WithdrawnByRequester,
    /// The session was assigned away from me.
    Reassigned,
    /// Replaced by a newer notification.
    Superseded,
    /// The customer wrote again, so the reply window starts over (R20).
    CustomerWrote,
}

/// Where a notification is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Lifecycle {
    /// Shown and waiting.
    Live,
    /// Shown, and updated in place since (R16).
    Updated,
    /// Taken back, and why.
    Withdrawn { reason: WithdrawReason },
    /// The agent acted on it.
    ActedOn { action: Action },
    /// The agent dismissed it (R9, R5).
    Dismissed,
    /// Its time ran out (R8).
    Expired,
}

impl Lifecycle {
    /// The lifecycle's name without its details: `live`, `updated`, `withdrawn`,
    /// `acted_on`, `dismissed`, `expired` (the store's `state` column, the panel's
    /// `state`).
    pub fn tag(self) -> &'static str {
        match self {
            Lifecycle::Live => "live",
            Lifecycle::Updated => "updated",
            Lifecycle::Withdrawn { .. } => "withdrawn",
            Lifecycle::ActedOn { .. } => "acted_on",
            Lifecycle::Dismissed => "dismissed",
            Lifecycle::Expired => "expired",
        }
    }

    /// Still shown to the agent.
    pub fn is_live(self) -> bool {
        matches!(self, Lifecycle::Live | Lifecycle::Updated)
    }
}

/// A notification.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Notification {
    pub key: NotificationKey,
    pub kind: NotificationKind,
    /// The conversation it is about, if any.
    pub session: Option<SessionId>,
    /// Plain text: the shell escapes it for whatever displays it.
    pub title: String,
    pub body: String,
    /// The actions offered, the main one ([`Action::Open`]) first.
    pub actions: Vec<Action>,
    /// Messages folded into this notification (R16).
    pub count: u32,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub state: Lifecycle,
    /// Whether a toast is up for it; false for the quiet items of a catch-up (R17),
    /// which live in the panel only.
    pub toast: bool,
    /// What the notification was raised for: the call's start (R5), the start of the
    /// unanswered stretch (R6). A new anchor is a new occurrence.
    pub anchor: Option<Ts>,
    /// The other agent it is about: the idle owner (R6), the requester (R8).
    pub peer: Option<UserId>,
}

impl Notification {
    pub fn is_live(&self) -> bool {
        self.state.is_live()
    }
    pub fn offers(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}
