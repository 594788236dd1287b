//! R14 under SIGKILL: a writer process (`chatbell-store-crashwriter`) commits
//! batches to one file and is killed at random moments, 20 times over; each round
//! goes on from where the file says the last one stopped. Afterwards the file
//! passes `integrity_check`, every acknowledged commit is there, complete and
//! exactly once, and no commit is half there.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "../src/bin/chatbell-store-crashwriter/batch.rs"]
mod batch;

use chatbell_core::*;
use chatbell_store::Store;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;

/// xorshift64: a fixed seed, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs the writer once and kills it with SIGKILL after `delay`. Returns the
/// commits it acknowledged.
fn round(db: &std::path::Path, delay: Duration) -> Vec<u64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatbell-store-crashwriter"))
        .arg(db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let i = line
                .strip_prefix("ack ")
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("unexpected output: {line:?}"));
            acks.push(i);
        }
        acks
    });
    std::thread::sleep(delay);
    // `Child::kill` is SIGKILL on Unix.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the writer must have been killed, not finished: {status:?}"
    );
    reader.join().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r14_sigkill_loses_nothing_acknowledged_and_leaves_nothing_half_done() {
    let (_dir, db) = common::data_dir();
    let mut rng = Rng(0x5EED_C4A5_11B3_2026);
    let mut acked: Vec<u64> = Vec::new();
    let started = Instant::now();
    for r in 0..ROUNDS {
        // A few to a few hundred milliseconds; the first rounds also hit the
        // creation of the file and its migration.
        let delay = Duration::from_millis(if r < 3 {
            1 + rng.next() % 15
        } else {
            5 + rng.next() % 300
        });
        let acks = round(&db, delay);
        acked.extend(acks);
    }
    eprintln!(
        "crash test: {ROUNDS} kills in {:.1} s, {} commits acknowledged",
        started.elapsed().as_secs_f64(),
        acked.len()
    );
    assert!(
        acked.windows(2).all(|w| w[0] < w[1]),
        "an acknowledged commit was made again: {acked:?}"
    );
    let max_acked = acked.last().copied().unwrap_or(0);
    assert!(
        max_acked >= 10,
        "the writer barely wrote anything: {acked:?}"
    );

    let store = Store::open(&db).await.unwrap();
    store.integrity_check().await.unwrap();
    let snapshot = store.snapshot_at(Ts(0)).await.unwrap();

    // The last commit that landed, acknowledged or not.
    let last = store
        .watermark(batch::WATERMARK)
        .await
        .unwrap()
        .map(|w| u64::try_from(w.modified_on.0).unwrap())
        .unwrap();
    assert!(
        last >= max_acked,
        "acknowledged commit {max_acked} lost (file is at {last})"
    );
    assert_eq!(
        store
            .watermark(batch::WATERMARK)
            .await
            .unwrap()
            .unwrap()
            .token,
        Some(format!("delta-{last}"))
    );

    // Sessions: exactly those of commits 1..=last, each exactly as committed.
    let mut sessions: BTreeMap<u64, Vec<Session>> = BTreeMap::new();
    for row in &snapshot.rows {
        match row {
            Change::Session(s) => sessions
                .entry(batch::session_tag(s.id).0)
                .or_default()
                .push(s.clone()),
            other => panic!("unexpected row {other:?}"),
        }
    }
    let committed: Vec<u64> = sessions.keys().copied().collect();
    assert_eq!(
        committed,
        (1..=last).collect::<Vec<_>>(),
        "commits missing or from nowhere"
    );
    for (i, rows) in &sessions {
        let mut rows = rows.clone();
        rows.sort_by_key(|s| s.id);
        let expected: Vec<Session> = (0..batch::SESSIONS)
            .map(|k| batch::session(*i, k))
            .collect();
        assert_eq!(rows, expected, "commit {i} is not whole");
    }

    // Messages: each session has its own, once.
    for i in 1..=last {
        for k in 0..batch::SESSIONS {
            let msgs = store.messages(batch::session_id(i, k)).await.unwrap();
            let ids: Vec<MessageId> = msgs.iter().map(|m| m.id).collect();
            let expected: Vec<MessageId> = (0..batch::MESSAGES)
                .map(|j| batch::message_id(i, k, j))
                .collect();
            assert_eq!(ids, expected, "messages of commit {i}, session {k}");
        }
    }
    let stats = snapshot.message_stats.len() as u64;
    assert_eq!(stats, last * batch::SESSIONS);

    // Notifications: one per commit, as shown.
    let mut notes = snapshot.notifications.clone();
    notes.sort_by_key(|n| n.created_at);
    let expected: Vec<Notification> = (1..=last).map(batch::notification).collect();
    assert_eq!(notes, expected);

    // Outbox: one pending command per commit, in order, once.
    let pending = store.pending_commands().await.unwrap();
    let expected: Vec<chatbell_core::Command> = (1..=last).map(batch::command).collect();
    assert_eq!(pending, expected);
    assert_eq!(snapshot.pending, expected);

    // Effects of the last commit, and only its: the timer it armed (it disarmed
    // the one before), the unread count it set.
    assert_eq!(
        snapshot.timers,
        vec![(TimerKey::Idle(batch::session_id(last, 1)), Ts(last as i64))]
    );
    assert_eq!(store.last_unread().await.unwrap(), Some(last as u32));
    assert_eq!(snapshot.me, Some(batch::me()));
    store.close().await;
}
