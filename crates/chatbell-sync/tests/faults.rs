//! Dynamics pushing back, going away and coming back: the desk waits as told,
//! says it is offline, and loses nothing (R14) while catching up in one go (R17).
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_core::{Action, ActionError, NotificationKey, NotificationKind};
use chatbell_emulator::FaultSettings;
use chatbell_sync::{DataverseError, DeskError};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn throttled_requests_wait_exactly_what_retry_after_says() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    emu.set_faults(FaultSettings {
        throttle_every: 2,
        retry_after_seconds: 3,
        ..FaultSettings::default()
    });
    me.desk.poll().await.unwrap();
    let waits = me.pauses.0.lock().unwrap().clone();
    assert!(!waits.is_empty(), "some requests were throttled");
    assert!(
        waits.iter().all(|w| *w == Duration::from_secs(3)),
        "every wait is the Retry-After: {waits:?}"
    );
    let throttled = emu.stats().by_status.get("429").copied().unwrap_or(0);
    assert_eq!(waits.len() as u64, throttled, "one wait per 429");
    emu.shutdown().await;
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried_with_backoff() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    emu.set_faults(FaultSettings {
        error_every: 3,
        drop_every: 5,
        ..FaultSettings::default()
    });
    me.desk.poll().await.unwrap();
    let waits = me.pauses.0.lock().unwrap().clone();
    assert!(!waits.is_empty(), "some requests failed and were retried");
    // Full jitter below the exponential cap: the first retry waits at most 0.5 s.
    assert!(
        waits.iter().all(|w| *w <= Duration::from_secs(2)),
        "{waits:?}"
    );
    assert!(me.desk.is_online());
    emu.shutdown().await;
}

#[tokio::test]
async fn r14_r17_an_outage_is_shown_and_what_was_missed_comes_as_one_catch_up() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    me.desk.poll().await.unwrap();

    // Dynamics goes away.
    emu.set_faults(FaultSettings {
        error_every: 1,
        ..FaultSettings::default()
    });
    emu.advance_clock(8);
    match me.desk.poll().await {
        Err(DeskError::Dataverse(DataverseError::Unavailable(_))) => {}
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert!(!me.desk.is_online());
    assert_eq!(*me.recorder.online.lock().unwrap(), vec![false]);
    // Taking a chat while offline is refused with a reason, not lost (R15).
    let dana_sees = me
        .desk
        .engine()
        .live_notifications()
        .into_iter()
        .find(|n| n.offers(Action::Accept))
        .map(|n| n.key)
        .expect("the seeded team conversation offers Accept");
    let refused = me.desk.act(dana_sees, Action::Accept, None).await.unwrap();
    assert_eq!(refused, Err(ActionError::Offline));

    // Meanwhile three customers write (Dynamics is back for them, not yet polled).
    emu.set_faults(FaultSettings::default());
    let customer = act_as(&emu, SYSTEM);
    let mut missed = Vec::new();
    for i in 0..3 {
        let s = customer
            .new_conversation(&format!("Waiting {i}"), &format!("+3162000000{i}"))
            .await;
        customer.customer_writes(s, "anyone?").await;
        missed.push(s);
    }
    emu.advance_clock(60);
    me.recorder.take();
    let report = me.desk.poll().await.unwrap();

    assert!(report.catch_up, "the first poll after an outage catches up");
    assert!(me.desk.is_online());
    for s in &missed {
        assert!(
            live(me.desk.engine(), NotificationKey::Chat(*s)).is_some(),
            "{s:?} is in the panel"
        );
        assert_eq!(me.recorder.shown(NotificationKey::Chat(*s)), 1);
    }
    let summary = live(me.desk.engine(), NotificationKey::CatchUp).expect("one summary");
    assert_eq!(summary.kind, NotificationKind::CatchUpSummary);
    emu.shutdown().await;
}

#[tokio::test]
async fn r14_a_restart_delivers_what_came_meanwhile_once() {
    let emu = org().await;
    let me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    let dir = me.dir.clone();
    let mut me = me;
    me.desk.poll().await.unwrap();
    let customer = act_as(&emu, SYSTEM);
    let s = customer
        .new_conversation("Ana Souza", "+5511999990003")
        .await;
    customer.customer_writes(s, "first").await;
    emu.advance_clock(3);
    me.desk.poll().await.unwrap();
    assert_eq!(me.recorder.shown(NotificationKey::Chat(s)), 1);

    // ChatBell stops (no clean close: as after a crash), the customer writes again.
    drop(me);
    customer.customer_writes(s, "second").await;
    emu.advance_clock(120);
    let mut again = desk(&emu, DEMO_AGENT_EMAIL, Some(dir), quick()).await;
    again.desk.poll().await.unwrap();

    let n = live(again.desk.engine(), NotificationKey::Chat(s)).expect("still live");
    assert!(n.body.contains("second"), "{n:?}");
    assert_eq!(n.count, 2, "one notification for both messages (R16)");
    assert_eq!(
        again.recorder.shown(NotificationKey::Chat(s)),
        0,
        "not raised a second time"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn requests_that_time_out_are_retried_then_the_desk_is_offline() {
    use chatbell_store::Store;
    use chatbell_sync::{Dataverse, Desk, RetryPolicy, StaticToken};

    use std::sync::Arc;

    let emu = org().await;
    let dir = tempfile::tempdir().unwrap();
    let pauses = Arc::new(RecordedPauses::default());
    let policy = RetryPolicy {
        timeout: Duration::from_millis(300),
        ..RetryPolicy::default()
    };
    let dv = Dataverse::new(
        emu.base_url(),
        Arc::new(StaticToken(emu.mint_token(DEMO_AGENT_EMAIL).unwrap())),
        policy,
    )
    .unwrap()
    .with_pause(pauses.clone());
    let recorder = Recorder::default();
    let mut desk = Desk::open(
        Store::open(&dir.path().join("chatbell.db")).await.unwrap(),
        dv,
        support::test_schema(),
        Arc::new(EmuClock(emu.clock().clone())),
        recorder.clone(),
        quick(),
    )
    .await
    .unwrap();
    desk.poll().await.unwrap();

    // Dynamics answers, but too late every time.
    emu.set_faults(FaultSettings {
        latency_ms: 1_000,
        ..FaultSettings::default()
    });
    match desk.poll().await {
        Err(DeskError::Dataverse(DataverseError::Unavailable(why))) => {
            assert!(why.contains("timed out"), "{why}")
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(
        pauses.0.lock().unwrap().len(),
        3,
        "three backoffs between four tries"
    );
    assert!(!desk.is_online());
    emu.set_faults(FaultSettings::default());
    emu.advance_clock(30);
    let report = desk.poll().await.unwrap();
    assert!(report.catch_up);
    assert!(desk.is_online());
    assert_eq!(*recorder.online.lock().unwrap(), vec![false, true]);
    emu.shutdown().await;
}
