//! How fast the store applies synced rows: 200 commits of 500 rows each (100
//! sessions and 400 messages, with the engine-like effects that go with them) into
//! a fresh file database, then the latency of a one-row commit.
//!
//! `cargo bench -p chatbell-store --bench apply` (goal: ≥ 50,000 rows/s).
#![allow(clippy::unwrap_used)]

use chatbell_core::*;
use chatbell_store::{Commit, Store, Watermark};
use std::time::{Duration, Instant};

const BATCHES: u64 = 200;
const SESSIONS_PER_BATCH: u64 = 100;
const MESSAGES_PER_SESSION: u64 = 4;
const ROWS_PER_BATCH: u64 = SESSIONS_PER_BATCH * (1 + MESSAGES_PER_SESSION);
const SINGLE_COMMITS: usize = 1_000;
const GOAL_ROWS_PER_S: f64 = 50_000.0;

fn session(n: u64, etag: u64) -> Session {
    Session {
        id: SessionId::from_u128(u128::from(n)),
        name: format!("Customer number {n}"),
        number: format!("+4479{n:09}"),
        channel: Channel::WhatsApp,
        config: ConfigId::from_u128(1),
        owner: Owner::Team(TeamId::from_u128(1)),
        accepted_on: None,
        first_contact: n.is_multiple_of(3),
        last_customer_message_on: Some(Ts(1_790_000_000_000 + n as i64)),
        last_agent_message_on: None,
        last_message_preview: "Hello, I would like to know where my order is, it was due yesterday"
            .into(),
        unread_count: MESSAGES_PER_SESSION as u32,
        call_state: CallState::None,
        call_started_on: None,
        active: true,
        status: SessionStatus::Open,
        modified_on: Ts(1_790_000_000_000 + n as i64),
        etag: format!("W/\"{etag}\""),
    }
}

fn notification(s: SessionId, at: Ts) -> Notification {
    Notification {
        key: NotificationKey::Chat(s),
        kind: NotificationKind::NewConversation,
        session: Some(s),
        title: "New WhatsApp chat: Customer".into(),
        body: "4 new messages · Hello, I would like to know where my order is".into(),
        actions: vec![Action::Open, Action::Accept],
        count: MESSAGES_PER_SESSION as u32,
        created_at: at,
        updated_at: at,
        state: Lifecycle::Live,
        toast: true,
        anchor: Some(at),
        peer: None,
    }
}

/// Batch `b`: its rows and the effects an engine would have made of them.
fn batch(b: u64) -> (Vec<Change>, Vec<Effect>) {
    let mut changes = Vec::with_capacity(ROWS_PER_BATCH as usize);
    let mut effects = Vec::with_capacity(2 * SESSIONS_PER_BATCH as usize + 1);
    for k in 0..SESSIONS_PER_BATCH {
        let n = b * SESSIONS_PER_BATCH + k;
        let s = session(n, 1);
        let at = s.modified_on;
        for j in 0..MESSAGES_PER_SESSION {
            changes.push(Change::Message(Message {
                id: MessageId::from_u128(u128::from(n) << 8 | u128::from(j)),
                session: s.id,
                direction: if j == 1 {
                    Direction::FromAgent
                } else {
                    Direction::FromCustomer
                },
                body: format!(
                    "Message {j} of session {n}: where is my order? It was due yesterday."
                ),
                created_on: Ts(at.0 - 1_000 * (MESSAGES_PER_SESSION - j) as i64),
                created_by: None,
            }));
        }
        effects.push(Effect::Show(notification(s.id, at).into()));
        effects.push(Effect::ArmTimer(
            TimerKey::Idle(s.id),
            at + Span::minutes(5),
        ));
        changes.push(Change::Session(s));
    }
    effects.push(Effect::SetUnread((b + 1) as u32));
    effects.push(Effect::PlaySound(SoundKind::Message));
    (changes, effects)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let store = Store::open(&path).await.unwrap();

    // Build the batches first: only the store is timed.
    let batches: Vec<(Vec<Change>, Vec<Effect>)> = (0..BATCHES).map(batch).collect();
    let started = Instant::now();
    let mut written = 0;
    for (b, (changes, effects)) in batches.iter().enumerate() {
        let watermarks = [(
            "cb_chatsessions".to_string(),
            Watermark {
                modified_on: Ts(b as i64),
                token: None,
            },
        )];
        let report = store
            .commit(&Commit {
                changes,
                effects,
                watermarks: &watermarks,
                ..Commit::default()
            })
            .await
            .unwrap();
        written += report.written;
    }
    let elapsed = started.elapsed();
    let rows = BATCHES * ROWS_PER_BATCH;
    assert_eq!(written as u64, rows);
    let rate = rows as f64 / elapsed.as_secs_f64();
    println!(
        "store: applied {rows} rows in {:.2} s ({:.0} rows/s, batches of {ROWS_PER_BATCH}, {cores} cores, WAL, synchronous=NORMAL)",
        elapsed.as_secs_f64(),
        rate
    );

    // The same rows again: all duplicates (R14), skipped by id and etag.
    let started = Instant::now();
    let mut duplicates = 0;
    for (changes, _) in &batches {
        let report = store
            .commit(&Commit {
                changes,
                ..Commit::default()
            })
            .await
            .unwrap();
        duplicates += report.duplicates;
    }
    let elapsed = started.elapsed();
    assert_eq!(duplicates as u64, rows);
    println!(
        "store: skipped {rows} duplicate rows in {:.2} s ({:.0} rows/s)",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64()
    );

    // One row per commit: the latency a single live update sees.
    let mut latencies: Vec<Duration> = Vec::with_capacity(SINGLE_COMMITS);
    for i in 0..SINGLE_COMMITS as u64 {
        let s = session(1_000_000 + i, 1);
        let effects = [
            Effect::Show(notification(s.id, s.modified_on).into()),
            Effect::SetUnread(i as u32),
        ];
        let changes = [Change::Session(s)];
        let t = Instant::now();
        store
            .commit(&Commit {
                changes: &changes,
                effects: &effects,
                ..Commit::default()
            })
            .await
            .unwrap();
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "store: single-row commit (1 row + Show + SetUnread): median {:.0} µs, p99 {:.0} µs over {SINGLE_COMMITS} commits",
        median.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );

    let started = Instant::now();
    let snapshot = store.snapshot_at(Ts(0)).await.unwrap();
    println!(
        "store: snapshot of {} rows, {} message stats, {} notifications in {:.0} ms",
        snapshot.rows.len(),
        snapshot.message_stats.len(),
        snapshot.notifications.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    store.close().await;
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!("store: file {:.1} MB", size as f64 / 1e6);
    println!(
        "store: goal {GOAL_ROWS_PER_S:.0} rows/s {}",
        if rate >= GOAL_ROWS_PER_S {
            "met"
        } else {
            "NOT met"
        }
    );
}
