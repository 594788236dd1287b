//! The batches the crash writer commits, shared with `tests/crash.rs` (which
//! includes this file) so that the test knows exactly what commit `i` holds.
//!
//! Commit `i` (from 1) holds, all tagged with `i`: [`SESSIONS`] session rows with
//! etag `i`, [`MESSAGES`] customer messages in each, a `Show` of the chat
//! notification of its first session, an idle timer armed on its second session
//! (and the previous commit's timer disarmed), the unread count `i`, one outbox
//! command, and the watermark [`WATERMARK`] at `i`.
#![allow(dead_code)]

use chatbell_core::{
    Action, CallState, Change, Channel, Command, CommandId, ConfigId, Direction, Effect, Lifecycle,
    Message, MessageId, Notification, NotificationKey, NotificationKind, Owner, Session, SessionId,
    SessionStatus, TeamId, TimerKey, Ts, UserId, WriteOp,
};
use chatbell_store::Watermark;

/// Sessions per commit.
pub const SESSIONS: u64 = 3;
/// Messages per session.
pub const MESSAGES: u64 = 2;
/// The watermark that says which commit was the last.
pub const WATERMARK: &str = "crashwriter";

pub fn me() -> UserId {
    UserId::from_u128(7)
}

pub fn session_id(i: u64, k: u64) -> SessionId {
    SessionId::from_u128(u128::from(i) << 8 | u128::from(k))
}

/// Which commit a session id belongs to, and its index there.
pub fn session_tag(id: SessionId) -> (u64, u64) {
    let n = id.0.as_u128();
    ((n >> 8) as u64, (n & 0xff) as u64)
}

pub fn message_id(i: u64, k: u64, j: u64) -> MessageId {
    MessageId::from_u128(u128::from(i) << 8 | u128::from(k) << 4 | u128::from(j))
}

pub fn command_id(i: u64) -> CommandId {
    CommandId::from_u128(u128::from(i))
}

pub fn session(i: u64, k: u64) -> Session {
    Session {
        id: session_id(i, k),
        name: format!("Crash {i}/{k}"),
        number: format!("+1555{i:07}"),
        channel: Channel::WhatsApp,
        config: ConfigId::from_u128(1),
        owner: Owner::Team(TeamId::from_u128(1)),
        accepted_on: None,
        first_contact: true,
        last_customer_message_on: Some(Ts(i as i64 * 10 + MESSAGES as i64 - 1)),
        last_agent_message_on: None,
        last_message_preview: format!("message {i}/{k}"),
        unread_count: MESSAGES as u32,
        call_state: CallState::None,
        call_started_on: None,
        active: true,
        status: SessionStatus::Open,
        modified_on: Ts(i as i64),
        etag: format!("W/\"{i}\""),
    }
}

pub fn changes(i: u64) -> Vec<Change> {
    let mut out = Vec::new();
    for k in 0..SESSIONS {
        out.push(Change::Session(session(i, k)));
        for j in 0..MESSAGES {
            out.push(Change::Message(Message {
                id: message_id(i, k, j),
                session: session_id(i, k),
                direction: Direction::FromCustomer,
                body: format!("message {i}/{k}/{j}"),
                created_on: Ts(i as i64 * 10 + j as i64),
                created_by: None,
            }));
        }
    }
    out
}

pub fn notification(i: u64) -> Notification {
    let s = session_id(i, 0);
    Notification {
        key: NotificationKey::Chat(s),
        kind: NotificationKind::NewConversation,
        session: Some(s),
        title: format!("New WhatsApp chat: Crash {i}/0"),
        body: format!("message {i}/0/1"),
        actions: vec![Action::Open, Action::Accept],
        count: MESSAGES as u32,
        created_at: Ts(i as i64),
        updated_at: Ts(i as i64),
        state: Lifecycle::Live,
        toast: true,
        anchor: Some(Ts(i as i64 * 10 + 1)),
        peer: None,
    }
}

pub fn command(i: u64) -> Command {
    Command {
        id: command_id(i),
        op: WriteOp::TakeOwnership {
            session: session_id(i, 0),
            etag: format!("W/\"{i}\""),
            me: me(),
            precondition: Default::default(),
        },
        issued_at: Ts(i as i64),
        origin: Some(NotificationKey::Chat(session_id(i, 0))),
    }
}

pub fn effects(i: u64) -> Vec<Effect> {
    let mut out = vec![
        Effect::Show(notification(i).into()),
        Effect::PlaySound(chatbell_core::SoundKind::Message),
        Effect::ArmTimer(TimerKey::Idle(session_id(i, 1)), Ts(i as i64)),
    ];
    if i > 1 {
        out.push(Effect::DisarmTimer(TimerKey::Idle(session_id(i - 1, 1))));
    }
    out.push(Effect::SetUnread(i as u32));
    out.push(Effect::WriteBack(command(i)));
    out
}

pub fn watermark(i: u64) -> (String, Watermark) {
    (
        WATERMARK.to_string(),
        Watermark {
            modified_on: Ts(i as i64),
            token: Some(format!("delta-{i}")),
        },
    )
}
