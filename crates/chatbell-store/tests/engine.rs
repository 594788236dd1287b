//! The store with a real engine: what the engine decided survives a restart, and
//! `Engine::restore` on a snapshot picks up where it left off.
#![allow(clippy::unwrap_used)]

mod common;

use chatbell_core::*;
use chatbell_store::{Commit, Store, Watermark};
use common::*;

/// A team-owned session with a customer message (a NewConversation for me) and a
/// session of Bob's whose customer waits (R6's idle timer gets armed).
fn first_batch() -> (Vec<Change>, SessionId, SessionId) {
    let a = session(100, Owner::Team(team_id()), "W/\"1\"");
    let ma = message(
        1000,
        a.id,
        Direction::FromCustomer,
        T0 - Span::seconds(30),
        "Hello, anyone?",
    );
    let a = after_customer_message(a, &ma, "W/\"2\"");
    let b = session(200, Owner::User(bob()), "W/\"1\"");
    let mb = message(
        2000,
        b.id,
        Direction::FromCustomer,
        T0 - Span::seconds(20),
        "Still there?",
    );
    let b = after_customer_message(b, &mb, "W/\"2\"");
    let (ida, idb) = (a.id, b.id);
    let mut batch = world();
    batch.extend([
        Change::Session(a),
        Change::Message(ma),
        Change::Session(b),
        Change::Message(mb),
    ]);
    (batch, ida, idb)
}

#[tokio::test]
async fn r14_round_trip_restores_the_engine_and_shows_nothing_twice() {
    let (_dir, path) = data_dir();
    let (batch, a, b) = first_batch();
    let mut engine = Engine::new(Some(me()));
    let effects = engine
        .handle(
            Event::Sync {
                changes: batch.clone(),
                mode: SyncMode::Live,
            },
            T0,
        )
        .unwrap();
    let shown = shows(&effects);
    assert_eq!(shown.len(), 1, "{effects:?}");
    assert_eq!(shown[0].key, NotificationKey::Chat(a));
    assert_eq!(shown[0].kind, NotificationKind::NewConversation);
    let idle = TimerKey::Idle(b);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::ArmTimer(k, _) if *k == idle)),
        "{effects:?}"
    );

    let store = open(&path).await;
    let watermarks = [(
        "cb_chatsessions".to_string(),
        Watermark {
            modified_on: T0 - Span::seconds(20),
            token: None,
        },
    )];
    let report = store
        .commit(&Commit {
            changes: &batch,
            effects: &effects,
            watermarks: &watermarks,
            me: Some(me()),
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(report.written, batch.len());
    assert_eq!(report.duplicates, 0);
    assert_eq!(store.last_unread().await.unwrap(), Some(engine.unread()));
    store.close().await;

    // Restart.
    let store = open(&path).await;
    store.integrity_check().await.unwrap();
    let later = T0 + Span::seconds(10);
    let snapshot = store.snapshot_at(later).await.unwrap();
    assert_eq!(snapshot.me, Some(me()));
    assert_eq!(
        snapshot.rows.len(),
        batch.len() - 2,
        "every row but the messages"
    );
    let (mut restored, restore_effects) = Engine::restore(snapshot, later);
    assert_eq!(live(&restored), live(&engine));
    assert_eq!(restored.unread(), engine.unread());
    assert_eq!(restored.unread(), 1);
    assert_eq!(timers(&restored), timers(&engine));
    assert!(shows(&restore_effects).is_empty(), "{restore_effects:?}");
    assert!(
        restore_effects.contains(&Effect::SetUnread(1)),
        "{restore_effects:?}"
    );
    let deadline = timers(&engine)[0].1;
    assert!(restore_effects.contains(&Effect::ArmTimer(idle, deadline)));

    // The same batch again (the crash came after the commit, before the watermark
    // was used): once, not twice.
    let again = restored
        .handle(
            Event::Sync {
                changes: batch.clone(),
                mode: SyncMode::Live,
            },
            later,
        )
        .unwrap();
    assert!(shows(&again).is_empty(), "{again:?}");
    let report = commit(&store, &batch, &again).await;
    assert_eq!(report.written, 0);
    assert_eq!(report.duplicates, batch.len());
    store.close().await;
}

#[tokio::test]
async fn r6_timer_deadline_survives_restart() {
    let (_dir, path) = data_dir();
    let (batch, _, b) = first_batch();
    let idle = TimerKey::Idle(b);
    let mut engine = Engine::new(Some(me()));
    let effects = engine
        .handle(
            Event::Sync {
                changes: batch.clone(),
                mode: SyncMode::Live,
            },
            T0,
        )
        .unwrap();
    let deadline = engine
        .armed_timers()
        .find(|(k, _)| **k == idle)
        .map(|(_, t)| *t)
        .unwrap();
    assert_eq!(deadline, T0 - Span::seconds(20) + Span::minutes(5));
    let store = open(&path).await;
    commit(&store, &batch, &effects).await;
    store.close().await;

    // ChatBell was closed past the deadline: the timer is still there, and fires.
    let store = open(&path).await;
    let snapshot = store
        .snapshot_at(deadline + Span::minutes(1))
        .await
        .unwrap();
    assert_eq!(snapshot.timers, vec![(idle, deadline)]);
    let now = deadline + Span::minutes(1);
    let (mut restored, restore_effects) = Engine::restore(snapshot, now);
    assert!(restore_effects.contains(&Effect::ArmTimer(idle, deadline)));
    let fired = restored.handle(Event::TimerFired(idle), now).unwrap();
    let offer = shows(&fired);
    assert_eq!(offer.len(), 1, "{fired:?}");
    assert_eq!(offer[0].key, NotificationKey::Offer(b));
    assert_eq!(offer[0].kind, NotificationKind::AssignToMe);
    commit(&store, &[], &restore_effects).await;
    commit(&store, &[], &fired).await;
    store.close().await;

    // Another restart: the offer is still live and is not raised again.
    let store = open(&path).await;
    let now = now + Span::minutes(1);
    let (restored, restore_effects) = Engine::restore(store.snapshot_at(now).await.unwrap(), now);
    assert!(shows(&restore_effects).is_empty(), "{restore_effects:?}");
    assert!(restored
        .notification(&NotificationKey::Offer(b))
        .is_some_and(|n| n.is_live()));
    commit(&store, &[], &restore_effects).await;
    // The fired timer is gone from the store too (the restore disarmed it: a fired
    // timer has no DisarmTimer of its own).
    let snapshot = store.snapshot_at(now).await.unwrap();
    assert!(snapshot.timers.is_empty(), "{:?}", snapshot.timers);
    store.close().await;
}

#[tokio::test]
async fn r6_disarm_timer_removes_the_deadline() {
    let (_dir, path) = data_dir();
    let (batch, _, b) = first_batch();
    let idle = TimerKey::Idle(b);
    let mut engine = Engine::new(Some(me()));
    let effects = engine
        .handle(
            Event::Sync {
                changes: batch.clone(),
                mode: SyncMode::Live,
            },
            T0,
        )
        .unwrap();
    let store = open(&path).await;
    commit(&store, &batch, &effects).await;

    // Bob replies before the deadline.
    let old = engine.session(&b).cloned().unwrap();
    let reply = message(
        2001,
        b,
        Direction::FromAgent,
        T0 + Span::seconds(5),
        "On it",
    );
    let changes = vec![
        Change::Session(after_agent_message(old, &reply, "W/\"3\"")),
        Change::Message(reply),
    ];
    let effects = engine
        .handle(
            Event::Sync {
                changes: changes.clone(),
                mode: SyncMode::Live,
            },
            T0 + Span::seconds(5),
        )
        .unwrap();
    assert!(effects.contains(&Effect::DisarmTimer(idle)), "{effects:?}");
    commit(&store, &changes, &effects).await;
    store.close().await;

    let store = open(&path).await;
    let snapshot = store.snapshot_at(T0).await.unwrap();
    assert!(snapshot.timers.is_empty(), "{:?}", snapshot.timers);
    let stats = snapshot
        .message_stats
        .iter()
        .find(|(s, _)| *s == b)
        .map(|(_, s)| s.clone())
        .unwrap();
    assert_eq!(stats.last_agent, Some(T0 + Span::seconds(5)));
    assert_eq!(stats.first_unreplied, None);
    let (restored, _) = Engine::restore(snapshot, T0 + Span::seconds(6));
    assert_eq!(restored.armed_timers().count(), 0);
    store.close().await;
}

#[tokio::test]
async fn r9_dismissal_kept_on_this_desktop() {
    let (_dir, path) = data_dir();
    let (batch, a, _) = first_batch();
    let mut engine = Engine::new(Some(me()));
    let effects = engine
        .handle(
            Event::Sync {
                changes: batch.clone(),
                mode: SyncMode::Live,
            },
            T0,
        )
        .unwrap();
    let store = open(&path).await;
    commit(&store, &batch, &effects).await;

    let dismissed = engine
        .handle(
            Event::Act {
                key: NotificationKey::Chat(a),
                action: Action::Dismiss,
                reason: None,
            },
            T0 + Span::seconds(1),
        )
        .unwrap();
    assert!(dismissed.contains(&Effect::Dismiss(a)), "{dismissed:?}");
    commit(&store, &[], &dismissed).await;
    store.close().await;

    let store = open(&path).await;
    let snapshot = store.snapshot_at(T0 + Span::seconds(2)).await.unwrap();
    assert_eq!(snapshot.dismissed, vec![a]);
    let stored = snapshot
        .notifications
        .iter()
        .find(|n| n.key == NotificationKey::Chat(a))
        .cloned()
        .unwrap();
    assert_eq!(stored.state, Lifecycle::Dismissed);
    assert!(!stored.toast);
    let (mut restored, restore_effects) = Engine::restore(snapshot, T0 + Span::seconds(2));
    assert!(restored.is_dismissed(&a));
    assert_eq!(restored.unread(), 0);
    assert!(shows(&restore_effects).is_empty(), "{restore_effects:?}");
    assert!(restored.live_notifications().is_empty());

    // The customer writes again: the dismissal ends, here and in the store.
    let old = restored.session(&a).cloned().unwrap();
    let m = message(
        1001,
        a,
        Direction::FromCustomer,
        T0 + Span::minutes(1),
        "Hello again",
    );
    let changes = vec![
        Change::Session(after_customer_message(old, &m, "W/\"3\"")),
        Change::Message(m),
    ];
    let effects = restored
        .handle(
            Event::Sync {
                changes: changes.clone(),
                mode: SyncMode::Live,
            },
            T0 + Span::minutes(1),
        )
        .unwrap();
    assert!(effects.contains(&Effect::Undismiss(a)), "{effects:?}");
    commit(&store, &changes, &effects).await;
    store.close().await;

    let store = open(&path).await;
    let snapshot = store.snapshot_at(T0 + Span::minutes(2)).await.unwrap();
    assert!(snapshot.dismissed.is_empty());
    store.close().await;
}

#[tokio::test]
async fn r14_write_back_outcome_recorded_with_the_engine_effects() {
    let (_dir, path) = data_dir();
    let (batch, a, _) = first_batch();
    let mut engine = Engine::new(Some(me()));
    let effects = engine
        .handle(
            Event::Sync {
                changes: batch.clone(),
                mode: SyncMode::Live,
            },
            T0,
        )
        .unwrap();
    let store: Store = open(&path).await;
    commit(&store, &batch, &effects).await;

    let accepted = engine
        .handle(
            Event::Act {
                key: NotificationKey::Chat(a),
                action: Action::Accept,
                reason: None,
            },
            T0 + Span::seconds(1),
        )
        .unwrap();
    let command = accepted
        .iter()
        .find_map(|e| match e {
            Effect::WriteBack(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    commit(&store, &[], &accepted).await;
    store.close().await;

    let store = open(&path).await;
    assert_eq!(
        store.pending_commands().await.unwrap(),
        vec![command.clone()]
    );
    let snapshot = store.snapshot_at(T0 + Span::seconds(2)).await.unwrap();
    assert_eq!(snapshot.pending, vec![command.clone()]);
    let (mut restored, _) = Engine::restore(snapshot, T0 + Span::seconds(2));
    assert_eq!(restored.pending_commands().count(), 1);

    let outcome = WriteBackOutcome::Refused {
        message: "no privilege".into(),
    };
    let answered = restored
        .handle(
            Event::WriteBackDone {
                command: command.id,
                outcome: outcome.clone(),
            },
            T0 + Span::seconds(3),
        )
        .unwrap();
    let report = store
        .commit(&Commit {
            effects: &answered,
            completed: &[(command.id, outcome)],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(report.completed, 1);
    assert!(store.pending_commands().await.unwrap().is_empty());
    let history = store.history(10).await.unwrap();
    assert_eq!(history[0].key, NotificationKey::Info(command.id));
    store.close().await;
}
