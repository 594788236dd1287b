//! Fixtures shared by the store's tests: a temp data directory, and a small
//! Dynamics world (me, a teammate, one team, a WhatsApp configuration).
#![allow(dead_code, clippy::unwrap_used)]

use chatbell_core::*;
use chatbell_store::{Commit, CommitReport, Store};
use std::path::PathBuf;
use tempfile::TempDir;

/// A fixed "now": 2026-09-21T…Z.
pub const T0: Ts = Ts(1_790_000_000_000);

pub fn me() -> UserId {
    UserId::from_u128(1)
}
pub fn bob() -> UserId {
    UserId::from_u128(2)
}
pub fn team_id() -> TeamId {
    TeamId::from_u128(10)
}
pub fn config_id() -> ConfigId {
    ConfigId::from_u128(20)
}

/// A temp directory and a database path in a subdirectory that does not exist yet.
pub fn data_dir() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("chatbell.db");
    (dir, path)
}

pub async fn open(path: &std::path::Path) -> Store {
    Store::open(path).await.unwrap()
}

/// The world every test starts from: agents, the team, the configuration, and
/// my teams.
pub fn world() -> Vec<Change> {
    vec![
        Change::Agent(Agent {
            id: me(),
            full_name: "Me Myself".into(),
            email: "me@example.invalid".into(),
        }),
        Change::Agent(Agent {
            id: bob(),
            full_name: "Bob Builder".into(),
            email: "bob@example.invalid".into(),
        }),
        Change::Team(Team {
            id: team_id(),
            name: "WhatsApp desk".into(),
        }),
        Change::Configuration(Configuration {
            id: config_id(),
            name: "WhatsApp".into(),
            channel: Channel::WhatsApp,
            default_team: team_id(),
            assigned_team: None,
            idle_timeout: Span::minutes(5),
            request_timeout: Span::minutes(10),
            system_notification: true,
        }),
        Change::MyTeams(vec![team_id()]),
    ]
}

/// An open session with no messages yet.
pub fn session(n: u128, owner: Owner, etag: &str) -> Session {
    Session {
        id: SessionId::from_u128(n),
        name: format!("Customer {n}"),
        number: format!("+4470000{n:05}"),
        channel: Channel::WhatsApp,
        config: config_id(),
        owner,
        accepted_on: match owner {
            Owner::User(_) => Some(T0 - Span::hours(1)),
            Owner::Team(_) => None,
        },
        first_contact: true,
        last_customer_message_on: None,
        last_agent_message_on: None,
        last_message_preview: String::new(),
        unread_count: 0,
        call_state: CallState::None,
        call_started_on: None,
        active: true,
        status: SessionStatus::Open,
        modified_on: T0 - Span::hours(1),
        etag: etag.to_string(),
    }
}

pub fn message(n: u128, session: SessionId, direction: Direction, at: Ts, body: &str) -> Message {
    Message {
        id: MessageId::from_u128(n),
        session,
        direction,
        body: body.to_string(),
        created_on: at,
        created_by: match direction {
            Direction::FromAgent => Some(bob()),
            Direction::FromCustomer => None,
        },
    }
}

/// The session row as the server updates it after a customer message.
pub fn after_customer_message(mut s: Session, m: &Message, etag: &str) -> Session {
    s.last_customer_message_on = Some(m.created_on);
    s.last_message_preview = m.body.clone();
    s.unread_count += 1;
    s.modified_on = m.created_on;
    s.etag = etag.to_string();
    s
}

/// The session row as the server updates it after an agent message.
pub fn after_agent_message(mut s: Session, m: &Message, etag: &str) -> Session {
    s.last_agent_message_on = Some(m.created_on);
    s.last_message_preview = m.body.clone();
    s.unread_count = 0;
    s.modified_on = m.created_on;
    s.etag = etag.to_string();
    s
}

/// Commits rows and effects (and who I am).
pub async fn commit(store: &Store, changes: &[Change], effects: &[Effect]) -> CommitReport {
    store
        .commit(&Commit {
            changes,
            effects,
            me: Some(me()),
            ..Commit::default()
        })
        .await
        .unwrap()
}

pub fn notification(key: NotificationKey, at: Ts, state: Lifecycle) -> Notification {
    Notification {
        key,
        kind: NotificationKind::NewConversation,
        session: key.session(),
        title: format!("about {key}"),
        body: "hello".into(),
        actions: vec![Action::Open, Action::Accept],
        count: 1,
        created_at: at,
        updated_at: at,
        state,
        toast: true,
        anchor: Some(at),
        peer: None,
    }
}

pub fn shows(effects: &[Effect]) -> Vec<&Notification> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Show(n) | Effect::Update(n) => Some(&**n),
            _ => None,
        })
        .collect()
}

pub fn live(engine: &Engine) -> Vec<Notification> {
    engine.live_notifications().into_iter().cloned().collect()
}

pub fn timers(engine: &Engine) -> Vec<(TimerKey, Ts)> {
    let mut v: Vec<(TimerKey, Ts)> = engine.armed_timers().map(|(k, t)| (*k, *t)).collect();
    v.sort();
    v
}

/// `path` with `suffix` appended to its file name (`x.db` → `x.db-wal`).
pub fn sibling(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
