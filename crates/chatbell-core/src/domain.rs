//! The rows ChatBell reads from Dynamics (the reference schema of
//! `docs/architecture.md`), in the shape the engine works with.

use crate::ids::*;
use crate::time::{Span, Ts};
use serde::{Deserialize, Serialize};

/// A chat channel (`cb_channel`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Channel {
    WhatsApp,
    Sms,
}

impl Channel {
    /// The option-set value used by Dataverse (1 WhatsApp, 2 SMS).
    pub fn code(self) -> i64 {
        match self {
            Channel::WhatsApp => 1,
            Channel::Sms => 2,
        }
    }
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(Channel::WhatsApp),
            2 => Some(Channel::Sms),
            _ => None,
        }
    }
}

/// Who owns a session: a team (nobody has taken it) or one agent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Owner {
    Team(TeamId),
    User(UserId),
}

/// An agent (`systemuser`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Agent {
    pub id: UserId,
    pub full_name: String,
    pub email: String,
}

/// A team (`team`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
}

/// The org-wide configuration of one channel (`cb_configuration`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Configuration {
    pub id: ConfigId,
    pub name: String,
    pub channel: Channel,
    pub default_team: TeamId,
    pub assigned_team: Option<TeamId>,
    pub idle_timeout: Span,
    pub request_timeout: Span,
    /// "Enable System Notification": sounds for new messages (R11).
    pub system_notification: bool,
}

/// `cb_callstate`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, Default)]
pub enum CallState {
    #[default]
    None,
    Ringing,
    InCall,
}

/// `statuscode` of a session.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, Default)]
pub enum SessionStatus {
    #[default]
    Open,
    Closed,
    Blocked,
}

/// One conversation with one customer number on one channel (`cb_chatsession`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    /// The customer's display name (written by a stranger: plain text only).
    pub name: String,
    /// E.164 number.
    pub number: String,
    pub channel: Channel,
    pub config: ConfigId,
    pub owner: Owner,
    /// Null until an agent takes the session.
    pub accepted_on: Option<Ts>,
    /// The number has never been accepted before (R9, R10).
    pub first_contact: bool,
    pub last_customer_message_on: Option<Ts>,
    pub last_agent_message_on: Option<Ts>,
    pub last_message_preview: String,
    pub unread_count: u32,
    pub call_state: CallState,
    pub call_started_on: Option<Ts>,
    /// `statecode` 0.
    pub active: bool,
    pub status: SessionStatus,
    pub modified_on: Ts,
    pub etag: String,
}

impl Session {
    /// Open for notifications at all: active and neither closed nor blocked.
    pub fn is_open(&self) -> bool {
        self.active && self.status == SessionStatus::Open
    }

    /// When the WhatsApp reply window closes, as far as the row tells (R20).
    pub fn reply_window_ends_at(&self) -> Option<Ts> {
        reply_window_ends(self.channel, self.last_customer_message_on)
    }
}

/// WhatsApp allows free-form replies this long after the customer's last message (R20).
pub const REPLY_WINDOW: Span = Span::hours(24);

/// When the reply window of a conversation on `channel` whose customer last wrote
/// at `last_customer` closes: `None` for SMS, which has no window, or before the
/// customer wrote (R20).
pub fn reply_window_ends(channel: Channel, last_customer: Option<Ts>) -> Option<Ts> {
    match channel {
        Channel::WhatsApp => last_customer.map(|t| t + REPLY_WINDOW),
        Channel::Sms => None,
    }
}

/// `cb_direction`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Direction {
    FromCustomer,
    FromAgent,
}

/// One message (`cb_chatmessage`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub session: SessionId,
    pub direction: Direction,
    pub body: String,
    pub created_on: Ts,
    pub created_by: Option<UserId>,
}

/// `cb_kind` of a request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum RequestKind {
    /// Take the session over: accepting moves ownership.
    Assign,
    /// Join the session: accepting leaves ownership as it is.
    Discuss,
}

/// `statuscode` of a request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum RequestStatus {
    Pending,
    Accepted,
    Rejected,
    Withdrawn,
    Expired,
}

/// An Assign or Discuss request (`cb_chatrequest`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ChatRequest {
    pub id: RequestId,
    pub kind: RequestKind,
    pub session: SessionId,
    pub requested_by: UserId,
    pub requested_to: UserId,
    pub status: RequestStatus,
    pub reason: Option<String>,
    /// When an unanswered request expires; when absent, the configuration's request
    /// timeout counted from `created_on`.
    pub expires_on: Option<Ts>,
    pub created_on: Ts,
    pub modified_on: Ts,
    pub etag: String,
}

/// A blocked customer number (`cb_blockednumber`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BlockedNumber {
    pub id: BlockedId,
    pub number: String,
    pub channel: Channel,
}

/// A row as it came from Dynamics (or its deletion): what a sync batch carries.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum Change {
    Agent(Agent),
    Team(Team),
    Configuration(Configuration),
    Session(Session),
    Message(Message),
    Request(ChatRequest),
    Blocked(BlockedNumber),
    BlockedRemoved(BlockedId),
    SessionRemoved(SessionId),
    RequestRemoved(RequestId),
    ConfigurationRemoved(ConfigId),
    /// The complete set of teams the signed-in agent belongs to (R1).
    MyTeams(Vec<TeamId>),
}

impl Change {
    /// The table and id the row belongs to, for storage and de-duplication.
    pub fn row_key(&self) -> (&'static str, String) {
        match self {
            Change::Agent(a) => ("systemuser", a.id.to_string()),
            Change::Team(t) => ("team", t.id.to_string()),
            Change::Configuration(c) => ("cb_configuration", c.id.to_string()),
            Change::Session(s) => ("cb_chatsession", s.id.to_string()),
            Change::Message(m) => ("cb_chatmessage", m.id.to_string()),
            Change::Request(r) => ("cb_chatrequest", r.id.to_string()),
            Change::Blocked(b) => ("cb_blockednumber", b.id.to_string()),
            Change::BlockedRemoved(id) => ("cb_blockednumber", id.to_string()),
            Change::SessionRemoved(id) => ("cb_chatsession", id.to_string()),
            Change::RequestRemoved(id) => ("cb_chatrequest", id.to_string()),
            Change::ConfigurationRemoved(id) => ("cb_configuration", id.to_string()),
            Change::MyTeams(_) => ("teammembership", "me".to_string()),
        }
    }

    /// Whether this change removes its row.
    pub fn is_removal(&self) -> bool {
        matches!(
            self,
            Change::BlockedRemoved(_)
                | Change::SessionRemoved(_)
                | Change::RequestRemoved(_)
                | Change::ConfigurationRemoved(_)
        )
    }
}
