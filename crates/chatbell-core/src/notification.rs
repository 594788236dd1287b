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
            | NotificationKey::ReplyWindow(s)
            | NotificationKey::Blocked(s) => Some(s),
            _ => None,
        }
    }
}

/// What a notification is about. Everything the app knows of a kind (its wire
/// name, its label, what do not disturb does with it, how its main action is
/// called) is in [`NotificationKind::info`], one row per kind: the store,
/// `status --json`, the toasts and the panel (through its generated
/// `ui/src/kinds.ts`) all read it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A team's session nobody has taken yet has a new message (R2, R9, R10).
    #[serde(alias = "NewConversation")]
    NewConversation,
    /// A new message in a session I own (R4): "View chat".
    #[serde(alias = "NewMessage")]
    NewMessage,
    /// A customer is calling (R5).
    #[serde(alias = "IncomingCall")]
    IncomingCall,
    /// The owner went idle; take the session over? (R6)
    #[serde(alias = "AssignToMe")]
    AssignToMe,
    /// The session was assigned to me through Dynamics (R7).
    #[serde(alias = "AssignedToMe")]
    AssignedToMe,
    /// Someone asks me to take a session over (R8).
    #[serde(alias = "AssignRequest")]
    AssignRequest,
    /// Someone asks me to join a session (R8).
    #[serde(alias = "DiscussRequest")]
    DiscussRequest,
    /// The answer to my request (R8).
    #[serde(alias = "RequestOutcome")]
    RequestOutcome,
    /// One of my actions did not take effect, and why (R15).
    #[serde(alias = "ActionFailed")]
    ActionFailed,
    /// "N chats need you" after a gap (R17).
    #[serde(alias = "CatchUpSummary")]
    CatchUpSummary,
    /// The WhatsApp reply window of my session closes soon (R20).
    #[serde(alias = "ReplyWindowClosing")]
    ReplyWindowClosing,
    /// Someone blocked the customer's number of a chat I own: it is closed (R15).
    #[serde(alias = "NumberBlocked")]
    NumberBlocked,
}

/// What the whole app knows of one notification kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KindInfo {
    /// Its name on the wire: the store, `status --json`, the panel (the serde name).
    pub wire: &'static str,
    /// What the panel shows above an item of this kind.
    pub label: &'static str,
    /// Do not disturb and quiet hours still let it through, unless the agent
    /// chose otherwise: a call or a request addressed to me (R18).
    pub through_do_not_disturb: bool,
    /// The label of its main action ([`Action::Open`]), in a toast and the panel.
    pub open_label: &'static str,
}

impl NotificationKind {
    /// Every kind, in the order the panel's generated types list them.
    pub const ALL: [NotificationKind; 12] = [
        NotificationKind::NewConversation,
        NotificationKind::NewMessage,
        NotificationKind::IncomingCall,
        NotificationKind::AssignToMe,
        NotificationKind::AssignedToMe,
        NotificationKind::AssignRequest,
        NotificationKind::DiscussRequest,
        NotificationKind::RequestOutcome,
        NotificationKind::ActionFailed,
        NotificationKind::CatchUpSummary,
        NotificationKind::ReplyWindowClosing,
        NotificationKind::NumberBlocked,
    ];

    /// The one definition of this kind: one row per kind.
    pub const fn info(self) -> KindInfo {
        const fn row(
            wire: &'static str,
            label: &'static str,
            through_do_not_disturb: bool,
            open_label: &'static str,
        ) -> KindInfo {
            KindInfo {
                wire,
                label,
                through_do_not_disturb,
                open_label,
            }
        }
        const VIEW: &str = "View chat";
        match self {
            NotificationKind::NewConversation => {
                row("new_conversation", "New conversation", false, VIEW)
            }
            NotificationKind::NewMessage => row("new_message", "New message", false, VIEW),
            NotificationKind::IncomingCall => row("incoming_call", "Incoming call", true, VIEW),
            NotificationKind::AssignToMe => row("assign_to_me", "Assign to me?", false, VIEW),
            NotificationKind::AssignedToMe => row("assigned_to_me", "Assigned to you", false, VIEW),
            NotificationKind::AssignRequest => row("assign_request", "Assign request", true, VIEW),
            NotificationKind::DiscussRequest => {
                row("discuss_request", "Discuss request", true, VIEW)
            }
            NotificationKind::RequestOutcome => {
                row("request_outcome", "Request answered", false, VIEW)
            }
            NotificationKind::ActionFailed => row("action_failed", "Action failed", false, VIEW),
            NotificationKind::CatchUpSummary => row(
                "catch_up_summary",
                "While you were away",
                false,
                "Show chats",
            ),
            NotificationKind::ReplyWindowClosing => {
                row("reply_window_closing", "Reply window closing", false, VIEW)
            }
            NotificationKind::NumberBlocked => row("number_blocked", "Number blocked", false, VIEW),
        }
    }

    /// Its name on the wire (see [`KindInfo::wire`]).
    pub const fn wire(self) -> &'static str {
        self.info().wire
    }

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
    /// Every action, in the order the panel lays buttons out when it has to choose.
    pub const ALL: [Action; 8] = [
        Action::Open,
        Action::Accept,
        Action::Reject,
        Action::Yes,
        Action::No,
        Action::Dismiss,
        Action::Block,
        Action::BlockAnyway,
    ];

    /// Its button's label on a notification of `kind`, in a toast and the panel
    /// alike: the one definition of every action's words.
    pub const fn label(self, kind: NotificationKind) -> &'static str {
        match self {
            Action::Open => kind.info().open_label,
            Action::Accept => "Accept",
            Action::Reject => "Reject…",
            Action::Yes => "Yes, assign to me",
            Action::No => "No",
            Action::Dismiss => "Dismiss",
            Action::Block => "Block number",
            Action::BlockAnyway => "Block anyway",
        }
    }

    /// Its name on the wire (the command line, the panel, the toast's action key).
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
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| BadAction(s.chars().take(40).collect()))
    }
}

/// An action name that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAction(pub String);

impl fmt::Display for BadAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown action {:?} (expected one of:", self.0)?;
        for (i, a) in Action::ALL.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{}", a.as_str())?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for BadAction {}

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
    /// A new live notification raised at `now`, with a toast, no message count,
    /// no anchor and no peer (set those with struct update syntax).
    pub fn new(
        key: NotificationKey,
        kind: NotificationKind,
        session: Option<SessionId>,
        (title, body): (String, String),
        actions: Vec<Action>,
        now: Ts,
    ) -> Notification {
        Notification {
            key,
            kind,
            session,
            title,
            body,
            actions,
            count: 0,
            created_at: now,
            updated_at: now,
            state: Lifecycle::Live,
            toast: true,
            anchor: None,
            peer: None,
        }
    }

    pub fn is_live(&self) -> bool {
        self.state.is_live()
    }
    pub fn offers(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_and_action_has_one_wire_name() {
        for kind in NotificationKind::ALL {
            let serde = serde_json::to_value(kind).expect("a kind serialises");
            assert_eq!(serde, serde_json::json!(kind.wire()), "{kind:?}");
            let back: NotificationKind =
                serde_json::from_value(serde_json::json!(format!("{kind:?}")))
                    .expect("a cache written before kinds had wire names still reads");
            assert_eq!(back, kind);
        }
        for action in Action::ALL {
            let serde = serde_json::to_value(action).expect("an action serialises");
            assert_eq!(serde, serde_json::json!(action.as_str()), "{action:?}");
            assert_eq!(action.as_str().parse::<Action>(), Ok(action));
        }
        let refused = "Block".parse::<Action>().map_err(|e| e.to_string());
        assert!(
            matches!(&refused, Err(m) if m.ends_with("block, block_anyway)")),
            "{refused:?}"
        );
    }
}
