//! The store on its own, through its public API, on real files.
#![allow(clippy::unwrap_used)]

mod common;

use chatbell_core::*;
use chatbell_store::{Commit, Store, StoreError, Watermark, CLOSED_NOTIFICATIONS_KEPT};
use common::*;
use sqlx::{ConnectOptions, Connection};

fn command(n: u128, at: Ts) -> Command {
    Command {
        id: CommandId::from_u128(n),
        op: WriteOp::TakeOwnership {
            session: SessionId::from_u128(n),
            etag: "W/\"1\"".into(),
            me: me(),
            precondition: Default::default(),
        },
        issued_at: at,
        origin: Some(NotificationKey::Chat(SessionId::from_u128(n))),
    }
}

#[tokio::test]
async fn open_creates_the_directory_and_a_wal_database() {
    let (_dir, path) = data_dir();
    assert!(!path.parent().unwrap().exists());
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.path(), path.as_path());
    assert!(path.exists());
    store.integrity_check().await.unwrap();
    store.close().await;
    assert!(
        !common::sibling(&path, "-wal").exists(),
        "close checkpoints the WAL away"
    );

    let mut raw = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(version, chatbell_store::SCHEMA_VERSION);
    raw.close().await.unwrap();

    // Opening again migrates nothing and keeps everything.
    let store = Store::open(&path).await.unwrap();
    store.integrity_check().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn outbox_pending_until_completed() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let (c1, c2) = (command(1, T0), command(2, T0 + Span::seconds(1)));
    let report = commit(
        &store,
        &[],
        &[Effect::WriteBack(c1.clone()), Effect::WriteBack(c2.clone())],
    )
    .await;
    assert_eq!(report.effects, 2);
    assert_eq!(
        store.pending_commands().await.unwrap(),
        vec![c1.clone(), c2.clone()]
    );

    // The same command again is not queued twice.
    let report = commit(&store, &[], &[Effect::WriteBack(c1.clone())]).await;
    assert_eq!(report.effects, 0);
    assert_eq!(store.pending_commands().await.unwrap().len(), 2);

    let report = store
        .commit(&Commit {
            completed: &[(c1.id, WriteBackOutcome::Done)],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(report.completed, 1);
    assert_eq!(store.pending_commands().await.unwrap(), vec![c2.clone()]);

    // An answer that came twice, or for a command never queued, changes nothing.
    let report = store
        .commit(&Commit {
            completed: &[
                (c1.id, WriteBackOutcome::Done),
                (CommandId::from_u128(99), WriteBackOutcome::Done),
            ],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(report.completed, 0);
    store.close().await;

    let store = open(&path).await;
    assert_eq!(store.pending_commands().await.unwrap(), vec![c2.clone()]);
    assert_eq!(store.snapshot_at(T0).await.unwrap().pending, vec![c2]);
    store.close().await;
}

#[tokio::test]
async fn watermarks_round_trip() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    assert_eq!(store.watermark("cb_chatsessions").await.unwrap(), None);
    let sessions = Watermark {
        modified_on: T0,
        token: Some("https://org.example.invalid/api/data/v9.2/cb_chatsessions?$deltatoken=919042%2108%2f22%2f2017".into()),
    };
    let messages = Watermark {
        modified_on: T0 - Span::seconds(1),
        token: None,
    };
    store
        .commit(&Commit {
            watermarks: &[
                ("cb_chatsessions".into(), sessions.clone()),
                ("cb_chatmessages".into(), messages.clone()),
            ],
            ..Commit::default()
        })
        .await
        .unwrap();
    store.close().await;

    let store = open(&path).await;
    assert_eq!(
        store.watermark("cb_chatsessions").await.unwrap(),
        Some(sessions)
    );
    assert_eq!(
        store.watermark("cb_chatmessages").await.unwrap(),
        Some(messages)
    );
    let moved = Watermark {
        modified_on: T0 + Span::minutes(1),
        token: None,
    };
    store
        .commit(&Commit {
            watermarks: &[("cb_chatsessions".into(), moved.clone())],
            ..Commit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.watermark("cb_chatsessions").await.unwrap(),
        Some(moved)
    );
    assert_eq!(store.watermark("cb_chatrequests").await.unwrap(), None);
    store.close().await;
}

#[tokio::test]
async fn r14_dedupe_by_id_and_etag_is_counted() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let s1 = session(1, Owner::Team(team_id()), "W/\"1\"");
    let m1 = message(11, s1.id, Direction::FromCustomer, T0, "hi");
    let mut batch = world();
    batch.push(Change::Session(s1.clone()));
    batch.push(Change::Message(m1.clone()));
    let report = commit(&store, &batch, &[]).await;
    assert_eq!((report.written, report.duplicates), (batch.len(), 0));

    // The same batch again: all duplicates.
    let report = commit(&store, &batch, &[]).await;
    assert_eq!((report.written, report.duplicates), (0, batch.len()));

    // Same etag, whatever the content: the same version of the row.
    let mut same_etag = s1.clone();
    same_etag.name = "Changed without a new etag".into();
    let report = commit(&store, &[Change::Session(same_etag)], &[]).await;
    assert_eq!((report.written, report.duplicates), (0, 1));

    // A new etag is a new version.
    let mut s2 = s1.clone();
    s2.etag = "W/\"2\"".into();
    s2.unread_count = 1;
    let report = commit(&store, &[Change::Session(s2.clone())], &[]).await;
    assert_eq!((report.written, report.duplicates), (1, 0));

    // Rows without an etag are compared by content.
    let mut m1b = m1.clone();
    m1b.body = "hi (edited)".into();
    let mut renamed = match &world()[1] {
        Change::Agent(a) => a.clone(),
        other => panic!("{other:?}"),
    };
    renamed.full_name = "Robert Builder".into();
    let report = commit(
        &store,
        &[
            Change::Message(m1.clone()),
            Change::Message(m1b.clone()),
            Change::Agent(renamed.clone()),
        ],
        &[],
    )
    .await;
    assert_eq!((report.written, report.duplicates), (2, 1));

    // Removals delete; removing again is nothing to do.
    let report = commit(&store, &[Change::SessionRemoved(s1.id)], &[]).await;
    assert_eq!((report.removed, report.duplicates), (1, 0));
    let report = commit(&store, &[Change::SessionRemoved(s1.id)], &[]).await;
    assert_eq!((report.removed, report.duplicates), (0, 1));
    assert!(
        store.messages(s1.id).await.unwrap().is_empty(),
        "its messages went with it"
    );

    let snapshot = store.snapshot_at(T0).await.unwrap();
    assert!(!snapshot
        .rows
        .iter()
        .any(|r| matches!(r, Change::Session(_))));
    assert!(snapshot.rows.contains(&Change::Agent(renamed)));
    store.close().await;
}

#[tokio::test]
async fn every_kind_of_row_round_trips() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let s = session(1, Owner::User(me()), "W/\"5\"");
    let request = ChatRequest {
        id: RequestId::from_u128(3),
        kind: RequestKind::Assign,
        session: s.id,
        requested_by: bob(),
        requested_to: me(),
        status: RequestStatus::Pending,
        reason: Some("Going home".into()),
        expires_on: Some(T0 + Span::minutes(10)),
        created_on: T0,
        modified_on: T0,
        etag: "W/\"8\"".into(),
    };
    let blocked = BlockedNumber {
        id: BlockedId::from_u128(4),
        number: "+15550000001".into(),
        channel: Channel::Sms,
    };
    let mut all = world();
    all.extend([
        Change::Session(s.clone()),
        Change::Request(request.clone()),
        Change::Blocked(blocked.clone()),
    ]);
    commit(&store, &all, &[]).await;
    store.close().await;

    let store = open(&path).await;
    let mut rows = store.snapshot_at(T0).await.unwrap().rows;
    let key = |c: &Change| c.row_key();
    rows.sort_by_key(key);
    all.sort_by_key(key);
    assert_eq!(rows, all);

    commit(
        &store,
        &[
            Change::RequestRemoved(request.id),
            Change::BlockedRemoved(blocked.id),
            Change::ConfigurationRemoved(config_id()),
            Change::MyTeams(vec![]),
        ],
        &[],
    )
    .await;
    let rows = store.snapshot_at(T0).await.unwrap().rows;
    assert!(!rows.iter().any(|r| matches!(
        r,
        Change::Request(_) | Change::Blocked(_) | Change::Configuration(_)
    )));
    assert!(rows.contains(&Change::MyTeams(vec![])));
    store.close().await;
}

#[tokio::test]
async fn failing_commit_rolls_back_everything() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let before = session(1, Owner::Team(team_id()), "W/\"1\"");
    store
        .commit(&Commit {
            changes: &[Change::Session(before.clone())],
            ..Commit::default()
        })
        .await
        .unwrap();
    store.close().await;

    // A trigger makes the outbox refuse one command: the commit fails halfway,
    // after its rows, messages, notifications and timers were written.
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_command BEFORE INSERT ON outbox
         WHEN NEW.id = '00000000-0000-0000-0000-0000000000ff'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    raw.close().await.unwrap();

    let store = open(&path).await;
    let mut after = before.clone();
    after.etag = "W/\"2\"".into();
    after.unread_count = 1;
    let m = message(11, after.id, Direction::FromCustomer, T0, "hi");
    let n = notification(NotificationKey::Chat(after.id), T0, Lifecycle::Live);
    let changes = vec![
        Change::Session(after),
        Change::Message(m),
        Change::Agent(Agent {
            id: bob(),
            full_name: "Bob".into(),
            email: String::new(),
        }),
        Change::MyTeams(vec![team_id()]),
    ];
    let effects = vec![
        Effect::Show(n.into()),
        Effect::ArmTimer(TimerKey::Idle(before.id), T0),
        Effect::Dismiss(before.id),
        Effect::SetUnread(1),
        Effect::WriteBack(command(1, T0)),
        Effect::WriteBack(command(0xff, T0)),
    ];
    let err = store
        .commit(&Commit {
            changes: &changes,
            effects: &effects,
            watermarks: &[(
                "cb_chatsessions".into(),
                Watermark {
                    modified_on: T0,
                    token: None,
                },
            )],
            completed: &[],
            me: Some(me()),
            muted: Some(true),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlx(_)), "{err:?}");
    assert!(err.to_string().contains("refused by the test"), "{err}");

    // Nothing of it is there, on this connection pool or after a restart.
    for reopen in [false, true] {
        let store = if reopen {
            open(&path).await
        } else {
            store.clone()
        };
        let snapshot = store.snapshot_at(T0).await.unwrap();
        assert_eq!(snapshot.me, None);
        assert!(!snapshot.muted);
        assert_eq!(snapshot.rows, vec![Change::Session(before.clone())]);
        assert!(snapshot.message_stats.is_empty());
        assert!(snapshot.notifications.is_empty());
        assert!(snapshot.dismissed.is_empty());
        assert!(snapshot.pending.is_empty());
        assert!(snapshot.timers.is_empty());
        assert_eq!(store.watermark("cb_chatsessions").await.unwrap(), None);
        assert_eq!(store.last_unread().await.unwrap(), None);
        assert!(store.messages(before.id).await.unwrap().is_empty());
        store.integrity_check().await.unwrap();
        if reopen {
            store.close().await;
        }
    }
    // And the store goes on working.
    let report = commit(&store, &[], &[Effect::WriteBack(command(1, T0))]).await;
    assert_eq!(report.effects, 1);
    store.close().await;
}

#[tokio::test]
async fn message_stats_are_computed_from_the_messages() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let s = |n| session(n, Owner::User(bob()), "W/\"1\"");
    let (a, b, c, d) = (s(1), s(2), s(3), s(4));
    let t = |sec| T0 + Span::seconds(sec);
    let msgs = vec![
        // a: customer, customer, agent, customer, customer (two at the same second).
        message(101, a.id, Direction::FromCustomer, t(1), "1"),
        message(102, a.id, Direction::FromCustomer, t(2), "2"),
        message(103, a.id, Direction::FromAgent, t(3), "3"),
        message(105, a.id, Direction::FromCustomer, t(5), "5"),
        message(104, a.id, Direction::FromCustomer, t(4), "4"),
        message(106, a.id, Direction::FromCustomer, t(5), "5 again"),
        // b: customers only.
        message(201, b.id, Direction::FromCustomer, t(7), "7"),
        message(202, b.id, Direction::FromCustomer, t(6), "6"),
        // c: answered.
        message(301, c.id, Direction::FromCustomer, t(1), "1"),
        message(302, c.id, Direction::FromAgent, t(1), "1"),
        // No session row for these: no stats for them.
        message(
            901,
            SessionId::from_u128(9),
            Direction::FromCustomer,
            t(1),
            "orphan",
        ),
    ];
    let mut changes: Vec<Change> = [a.clone(), b.clone(), c.clone(), d.clone()]
        .into_iter()
        .map(Change::Session)
        .collect();
    changes.extend(msgs.into_iter().map(Change::Message));
    commit(&store, &changes, &[]).await;
    let stats = store.snapshot_at(T0).await.unwrap().message_stats;
    let get = |id: SessionId| stats.iter().find(|(s, _)| *s == id).map(|(_, s)| s.clone());
    assert_eq!(
        get(a.id),
        Some(MessageStats {
            last_customer: Some(t(5)),
            newest_customer_ids: vec![MessageId::from_u128(105), MessageId::from_u128(106)],
            last_agent: Some(t(3)),
            first_unreplied: Some(t(4)),
        })
    );
    assert_eq!(
        get(b.id),
        Some(MessageStats {
            last_customer: Some(t(7)),
            newest_customer_ids: vec![MessageId::from_u128(201)],
            last_agent: None,
            first_unreplied: Some(t(6)),
        })
    );
    assert_eq!(
        get(c.id),
        Some(MessageStats {
            last_customer: Some(t(1)),
            newest_customer_ids: vec![MessageId::from_u128(301)],
            last_agent: Some(t(1)),
            first_unreplied: None,
        })
    );
    assert_eq!(get(d.id), None);
    assert_eq!(get(SessionId::from_u128(9)), None);
    assert_eq!(stats.len(), 3);

    let of_a = store.messages(a.id).await.unwrap();
    let ids: Vec<u128> = of_a.iter().map(|m| m.id.0.as_u128()).collect();
    assert_eq!(ids, vec![101, 102, 103, 104, 105, 106]);
    assert_eq!(of_a[2].direction, Direction::FromAgent);
    assert_eq!(of_a[2].created_by, Some(bob()));
    store.close().await;
}

#[tokio::test]
async fn notifications_follow_their_effects() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let s = SessionId::from_u128(1);
    let key = NotificationKey::Chat(s);
    let shown = notification(key, T0, Lifecycle::Live);
    commit(&store, &[], &[Effect::Show(shown.clone().into())]).await;

    let mut updated = shown.clone();
    updated.count = 2;
    updated.body = "2 new messages · hello".into();
    updated.updated_at = T0 + Span::seconds(5);
    updated.state = Lifecycle::Updated;
    let report = commit(
        &store,
        &[],
        &[
            Effect::Update(updated.clone().into()),
            Effect::HideToast(key),
        ],
    )
    .await;
    assert_eq!(report.effects, 2);
    let stored = store.history(1).await.unwrap().remove(0);
    assert_eq!(
        stored,
        Notification {
            toast: false,
            ..updated.clone()
        }
    );

    let closed = Lifecycle::Withdrawn {
        reason: WithdrawReason::TakenByOther,
    };
    let report = commit(
        &store,
        &[],
        &[
            Effect::Close { key, state: closed },
            Effect::StopRinging(s),
            Effect::PlaySound(SoundKind::Message),
            Effect::OpenChat(s),
            Effect::OpenPanel,
            // Closing what the store never saw changes nothing.
            Effect::Close {
                key: NotificationKey::CatchUp,
                state: closed,
            },
        ],
    )
    .await;
    assert_eq!(report.effects, 1);
    store.close().await;

    let store = open(&path).await;
    let stored = store.history(10).await.unwrap();
    assert_eq!(
        stored,
        vec![Notification {
            state: closed,
            toast: false,
            ..updated
        }]
    );
    store.close().await;
}

#[tokio::test]
async fn snapshot_keeps_live_and_recent_notifications_history_keeps_all() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let week = CLOSED_NOTIFICATIONS_KEPT;
    let old = T0 - week - Span::hours(1);
    let recent = T0 - week + Span::hours(1);
    let key = |n| NotificationKey::Offer(SessionId::from_u128(n));
    let expired = Lifecycle::Expired;
    let all = [
        notification(key(1), old, Lifecycle::Live),
        notification(key(2), old, expired),
        notification(key(3), recent, expired),
        notification(key(4), T0, Lifecycle::Updated),
        notification(
            NotificationKey::Outcome(RequestId::from_u128(5)),
            T0 - Span::hours(2),
            expired,
        ),
    ];
    let effects: Vec<Effect> = all.iter().map(|n| Effect::Show(n.clone().into())).collect();
    commit(&store, &[], &effects).await;

    let snapshot = store.snapshot_at(T0).await.unwrap();
    let kept: Vec<NotificationKey> = snapshot.notifications.iter().map(|n| n.key).collect();
    assert_eq!(
        kept,
        vec![
            key(1),
            key(3),
            NotificationKey::Outcome(RequestId::from_u128(5)),
            key(4)
        ],
        "oldest first; the live one however old, the closed ones of the last 7 days"
    );

    let history: Vec<NotificationKey> = store
        .history(10)
        .await
        .unwrap()
        .iter()
        .map(|n| n.key)
        .collect();
    assert_eq!(
        history,
        vec![
            key(4),
            NotificationKey::Outcome(RequestId::from_u128(5)),
            key(3),
            key(2),
            key(1)
        ]
    );
    assert_eq!(store.history(2).await.unwrap().len(), 2);

    // Pruning forgets the old closed ones only.
    let pruned = store.prune(T0 - week).await.unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(store.history(10).await.unwrap().len(), 4);
    store.close().await;
}

#[tokio::test]
async fn settings_and_dismissals_round_trip() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let snapshot = store.snapshot_at(T0).await.unwrap();
    assert_eq!(snapshot.me, None);
    assert!(!snapshot.muted);
    let (a, b) = (SessionId::from_u128(1), SessionId::from_u128(2));
    store
        .commit(&Commit {
            effects: &[
                Effect::Dismiss(a),
                Effect::Dismiss(b),
                Effect::Dismiss(a),
                Effect::Undismiss(b),
                Effect::SetUnread(3),
                Effect::SetUnread(4),
            ],
            me: Some(me()),
            muted: Some(true),
            ..Commit::default()
        })
        .await
        .unwrap();
    store.close().await;

    let store = open(&path).await;
    let snapshot = store.snapshot_at(T0).await.unwrap();
    assert_eq!(snapshot.me, Some(me()));
    assert!(snapshot.muted);
    assert_eq!(snapshot.dismissed, vec![a]);
    assert_eq!(store.last_unread().await.unwrap(), Some(4));
    store
        .commit(&Commit {
            muted: Some(false),
            ..Commit::default()
        })
        .await
        .unwrap();
    assert!(!store.snapshot_at(T0).await.unwrap().muted);
    store.close().await;
}

#[tokio::test]
async fn concurrent_commits_all_land() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let mut tasks = Vec::new();
    for w in 0..4u128 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25u128 {
                let n = w * 1000 + i;
                let c = Change::Session(session(n, Owner::Team(team_id()), "W/\"1\""));
                let e = Effect::WriteBack(command(n, T0));
                store
                    .commit(&Commit {
                        changes: &[c],
                        effects: &[e],
                        ..Commit::default()
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.pending_commands().await.unwrap().len(), 100);
    assert_eq!(store.snapshot_at(T0).await.unwrap().rows.len(), 100);
    store.integrity_check().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn one_commit_applies_each_tables_writes_in_order() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let s = |etag: &str| session(1, Owner::Team(team_id()), etag);
    let m = |body: &str| {
        message(
            11,
            SessionId::from_u128(1),
            Direction::FromCustomer,
            T0,
            body,
        )
    };
    let key = NotificationKey::Chat(SessionId::from_u128(1));
    let idle = TimerKey::Idle(SessionId::from_u128(1));
    let closed = Lifecycle::Withdrawn {
        reason: WithdrawReason::Answered,
    };
    let changes = vec![
        Change::Session(s("W/\"1\"")),
        Change::Message(m("first")),
        Change::Session(s("W/\"2\"")),
        Change::Message(m("second")),
        Change::SessionRemoved(SessionId::from_u128(1)),
        Change::Session(s("W/\"3\"")),
        Change::Message(m("third")),
        Change::Session(s("W/\"3\"")),
    ];
    let effects = vec![
        Effect::Show(notification(key, T0, Lifecycle::Live).into()),
        Effect::ArmTimer(idle, T0),
        Effect::Close { key, state: closed },
        Effect::DisarmTimer(idle),
        Effect::Show(notification(key, T0 + Span::seconds(1), Lifecycle::Live).into()),
        Effect::ArmTimer(idle, T0 + Span::seconds(2)),
        Effect::HideToast(key),
        Effect::ArmTimer(idle, T0 + Span::seconds(3)),
    ];
    let report = commit(&store, &changes, &effects).await;
    assert_eq!(report.written, 6);
    assert_eq!(report.duplicates, 1, "the second etag-3 session");
    assert_eq!(report.removed, 1);
    assert_eq!(report.effects, 8);

    let snapshot = store.snapshot_at(T0).await.unwrap();
    assert_eq!(snapshot.rows, vec![Change::Session(s("W/\"3\""))]);
    let msgs = store.messages(SessionId::from_u128(1)).await.unwrap();
    assert_eq!(
        msgs,
        vec![m("third")],
        "the removal took the earlier message with it"
    );
    assert_eq!(
        snapshot.notifications,
        vec![Notification {
            toast: false,
            ..notification(key, T0 + Span::seconds(1), Lifecycle::Live)
        }]
    );
    assert_eq!(snapshot.timers, vec![(idle, T0 + Span::seconds(3))]);
    store.close().await;
}

#[tokio::test]
async fn large_batches_go_through_in_chunks() {
    let (_dir, path) = data_dir();
    let store = open(&path).await;
    let n = 64 * 3 + 37;
    let mut changes = Vec::new();
    let mut effects = Vec::new();
    for i in 0..n {
        let s = session(i, Owner::Team(team_id()), "W/\"1\"");
        changes.push(Change::Message(message(
            1_000 + i,
            s.id,
            Direction::FromCustomer,
            T0 + Span::millis(i as i64),
            "hello",
        )));
        effects.push(Effect::Show(
            notification(NotificationKey::Chat(s.id), T0, Lifecycle::Live).into(),
        ));
        effects.push(Effect::ArmTimer(
            TimerKey::Idle(s.id),
            T0 + Span::minutes(5),
        ));
        changes.push(Change::Session(s));
    }
    let report = commit(&store, &changes, &effects).await;
    assert_eq!(report.written, changes.len());
    assert_eq!(report.effects, effects.len());
    let report = commit(&store, &changes, &effects).await;
    assert_eq!((report.written, report.duplicates), (0, changes.len()));
    assert_eq!(report.effects, 0);
    let snapshot = store.snapshot_at(T0).await.unwrap();
    assert_eq!(snapshot.rows.len(), n as usize);
    assert_eq!(snapshot.message_stats.len(), n as usize);
    assert_eq!(snapshot.notifications.len(), n as usize);
    assert_eq!(snapshot.timers.len(), n as usize);
    store.close().await;
}
