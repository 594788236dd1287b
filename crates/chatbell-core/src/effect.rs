//! What goes into the engine (events) and what comes out of it (effects).

use crate::domain::{Change, Channel, Owner};
use crate::ids::*;
use crate::notification::{Action, Lifecycle, Notification, NotificationKey};
use crate::ownership::{Attempt, ChatPrecondition, Refusal};
use crate::time::Ts;
use crate::timers::TimerKey;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a sync batch came about.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum SyncMode {
    /// The steady, live cycle: every due notification is a toast.
    Live,
    /// The first sync after a gap (start, sleep, outage): chats arrive as one
    /// summary, decisions one by one (R17).
    CatchUp,
}

/// Something that happened.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum Event {
    /// Rows changed in Dynamics.
    Sync {
        changes: Vec<Change>,
        mode: SyncMode,
    },
    /// The agent acted on a notification (toast button, panel, tray, command line).
    Act {
        key: NotificationKey,
        action: Action,
        /// Required for [`Action::Reject`] (R8).
        reason: Option<String>,
    },
    /// The agent withdraws a pending request they made, with a reason (R8).
    WithdrawRequest { request: RequestId, reason: String },
    /// A deadline armed through [`Effect::ArmTimer`] has passed.
    TimerFired(TimerKey),
    /// A write-back command finished.
    WriteBackDone {
        command: CommandId,
        outcome: WriteBackOutcome,
    },
    /// Dynamics became reachable or unreachable.
    Connectivity { online: bool },
    /// Sounds muted on this desktop (R11).
    SetMuted(bool),
}

/// How Dynamics answered a write-back.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum WriteBackOutcome {
    /// It took effect.
    Done,
    /// The row changed meanwhile (412), and what the action needs is no longer
    /// true: someone was faster, the owner replied, the request was withdrawn...
    /// (R15, [`crate::ownership`]).
    TooLate(Refusal),
    /// Dynamics refused it for a reason it gave (permissions, validation).
    Refused { message: String },
    /// It could not be sent (offline, server error after retries).
    Failed { message: String },
}

/// A sound to play.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SoundKind {
    Message,
    Request,
}

/// A change to make in Dynamics (written to the outbox, then sent).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum WriteOp {
    /// Make me the owner of the session, written at `etag`; if the row changed
    /// meanwhile, as long as `precondition` still holds (R2, R6, R15).
    TakeOwnership {
        session: SessionId,
        etag: String,
        me: UserId,
        #[serde(default)]
        precondition: ChatPrecondition,
    },
    /// Answer a request addressed to me; accepting an Assign request also moves the
    /// session to me (R8).
    AnswerRequest {
        request: RequestId,
        etag: String,
        accept: bool,
        reason: Option<String>,
        take_session: Option<(SessionId, String)>,
        me: UserId,
        /// Who owned the session when I accepted: it must still be theirs (R15).
        #[serde(default)]
        session_owner: Option<Owner>,
    },
    /// Withdraw a request I made (R8).
    WithdrawRequest {
        request: RequestId,
        etag: String,
        reason: String,
    },
    /// Mark a request I made as expired (R8).
    ExpireRequest { request: RequestId, etag: String },
    /// Block a customer number for every agent (R9). With the session's `etag`,
    /// the chat is closed as blocked first, if nobody else took it meanwhile
    /// (R15); `anyway`: the agent chose to block the number although another
    /// agent owns the chat (whose owner stays, and is told).
    BlockNumber {
        session: SessionId,
        number: String,
        channel: Channel,
        #[serde(default)]
        etag: Option<String>,
        #[serde(default)]
        anyway: bool,
        /// Who blocks (a chat I own may be blocked too).
        #[serde(default)]
        me: Option<UserId>,
    },
}

impl WriteOp {
    /// The agent's action this write carries out (for the words of a refusal).
    pub fn attempt(&self) -> Attempt {
        match self {
            WriteOp::TakeOwnership {
                precondition: ChatPrecondition::StillIdle { .. },
                ..
            } => Attempt::AssignToMe,
            WriteOp::TakeOwnership { .. } => Attempt::Accept,
            WriteOp::AnswerRequest { .. } => Attempt::AnswerRequest,
            WriteOp::WithdrawRequest { .. } => Attempt::WithdrawRequest,
            WriteOp::ExpireRequest { .. } => Attempt::ExpireRequest,
            WriteOp::BlockNumber { .. } => Attempt::Block,
        }
    }
}

/// A queued write-back.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Command {
    pub id: CommandId,
    pub op: WriteOp,
    pub issued_at: Ts,
    /// The notification the action came from, made live again if the command fails.
    pub origin: Option<NotificationKey>,
}

/// What the outside world must do.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum Effect {
    /// Raise a new notification (a toast when `toast` is set).
    Show(Arc<Notification>),
    /// Replace a live notification's content in place (R16).
    Update(Arc<Notification>),
    /// The notification's life moved on (withdrawn, acted on, dismissed, expired):
    /// close its toast and record the new state.
    Close {
        key: NotificationKey,
        state: Lifecycle,
    },
    /// Take the toast down but keep the item live in the panel (R21).
    HideToast(NotificationKey),
    /// A one-shot sound (R11, R19).
    PlaySound(SoundKind),
    /// Ring for a call until told to stop (R5).
    StartRinging(SessionId),
    StopRinging(SessionId),
    /// The tray's unread-chat count (R3).
    SetUnread(u32),
    ArmTimer(TimerKey, Ts),
    DisarmTimer(TimerKey),
    /// Queue a change for Dynamics.
    WriteBack(Command),
    /// Open the chat (R12).
    OpenChat(SessionId),
    /// Open ChatBell's panel (the catch-up summary's main action).
    OpenPanel,
    /// Hide the session from my panel until its next message (R9); kept on this
    /// desktop only.
    Dismiss(SessionId),
    /// The dismissal ended (a new message came).
    Undismiss(SessionId),
}

/// Why the engine refused an action of the agent's. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("there is no such notification")]
    UnknownNotification,
    #[error("this notification is no longer open")]
    NotLive,
    #[error("\"{action}\" is not offered on this notification")]
    NotOffered { action: &'static str },
    #[error("a reason is required: it may not be empty or blank")]
    ReasonRequired,
    #[error("you are offline: try again once ChatBell is connected to Dynamics")]
    Offline,
    #[error("you are not signed in")]
    NotSignedIn,
    #[error("you are no longer a member of the teams this chat belongs to")]
    NotEligible,
    #[error("{by} already took this chat")]
    AlreadyTaken { by: String },
    #[error("this request is no longer pending")]
    NoLongerPending,
    #[error("there is no such request of yours")]
    UnknownRequest,
    #[error("this chat is closed")]
    SessionClosed,
}
