//! The desk against the emulator over loopback HTTP: what Dynamics changes reaches
//! the engine, what the agent decides reaches Dynamics.
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_core::{Action, NotificationKey, NotificationKind, Owner, UserId};
use chatbell_sync::{DeskConfig, DeskError, PollConfig};
use support::*;

#[tokio::test]
async fn r2_new_conversation_reaches_the_engine_over_http() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    me.desk.poll().await.unwrap();

    let customer = act_as(&emu, SYSTEM);
    let s = customer
        .new_conversation("Ana Souza", "+5511999990001")
        .await;
    emu.advance_clock(2);
    customer.customer_writes(s, "Olá, preciso de ajuda").await;
    emu.advance_clock(2);
    let report = me.desk.poll().await.unwrap();

    assert!(!report.catch_up, "a later poll is live");
    let n = live(me.desk.engine(), NotificationKey::Chat(s)).expect("a live notification");
    assert_eq!(n.kind, NotificationKind::NewConversation);
    assert!(n.offers(Action::Accept));
    assert!(n.body.contains("preciso de ajuda"), "{n:?}");
    assert_eq!(me.recorder.shown(NotificationKey::Chat(s)), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn r13_a_quiet_poll_costs_two_requests() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    me.desk.poll().await.unwrap();
    let before = emu.stats().total;
    let sent_before = me.desk.requests_sent();
    emu.advance_clock(8);
    let report = me.desk.poll().await.unwrap();
    assert_eq!(report.changes, 0, "nothing changed");
    assert_eq!(emu.stats().total - before, 2, "sessions and requests only");
    assert_eq!(me.desk.requests_sent() - sent_before, 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn rows_read_again_in_the_overlap_reach_the_engine_once() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    me.desk.poll().await.unwrap();
    let customer = act_as(&emu, SYSTEM);
    customer
        .customer_writes(SeedIds::session(2).into_session(), "still there?")
        .await;
    emu.advance_clock(1);
    let first = me.desk.poll().await.unwrap();
    assert!(first.changes >= 2, "the session and its message: {first:?}");
    // Within the overlap the same rows come back: nothing reaches the engine.
    emu.advance_clock(3);
    let again = me.desk.poll().await.unwrap();
    assert_eq!(again.changes, 0, "{again:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn paging_follows_next_links_to_the_last_row() {
    let emu = org().await;
    let customer = act_as(&emu, SYSTEM);
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(
            customer
                .new_conversation(&format!("Customer {i}"), &format!("+3161000000{i}"))
                .await,
        );
    }
    let cfg = DeskConfig {
        poll: PollConfig {
            page_size: 2,
            ..PollConfig::default()
        },
        ..DeskConfig::default()
    };
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, cfg).await;
    let before = emu.stats().total;
    me.desk.poll().await.unwrap();
    for s in &made {
        assert!(me.desk.engine().session(s).is_some(), "{s:?} was read");
    }
    // 12 active sessions at 2 a page: 6 requests for them alone.
    assert!(emu.stats().total - before >= 6);
    emu.shutdown().await;
}

#[tokio::test]
async fn r15_two_agents_accept_one_conversation_exactly_one_wins_and_the_other_is_told_who() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    let mut alex = desk(&emu, ALEX, None, quick()).await;
    dana.desk.poll().await.unwrap();
    alex.desk.poll().await.unwrap();

    let customer = act_as(&emu, SYSTEM);
    let s = customer
        .new_conversation("Ana Souza", "+5511999990002")
        .await;
    customer.customer_writes(s, "hello?").await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    alex.desk.poll().await.unwrap();

    let key = NotificationKey::Chat(s);
    dana.desk
        .act(key, Action::Accept, None)
        .await
        .unwrap()
        .unwrap();
    emu.advance_clock(1);
    alex.desk
        .act(key, Action::Accept, None)
        .await
        .unwrap()
        .unwrap();

    // Dynamics: Dana owns it, nothing was overwritten.
    let row = customer.session(s).await;
    assert_eq!(owner_of(&row), SeedIds::demo_agent());
    // Alex is told who was faster.
    let told = alex
        .desk
        .engine()
        .live_notifications()
        .into_iter()
        .find(|n| n.kind == NotificationKind::ActionFailed)
        .cloned()
        .expect("Alex is told");
    assert!(
        format!("{} {}", told.title, told.body).contains("Dana Demo"),
        "{told:?}"
    );
    // Dana's next poll reads the session as hers.
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    assert_eq!(
        dana.desk.engine().session(&s).unwrap().owner,
        Owner::User(UserId(SeedIds::demo_agent()))
    );
    assert!(live(dana.desk.engine(), key).is_none(), "her toast is gone");
    emu.shutdown().await;
}

#[tokio::test]
async fn r15_accept_goes_through_when_only_the_customer_wrote_meanwhile() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let customer = act_as(&emu, SYSTEM);
    let s = customer
        .new_conversation("Ana Souza", "+5511999990003")
        .await;
    customer.customer_writes(s, "hello?").await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    // The row moves on (a new version) before Dana's Accept reaches Dynamics.
    emu.advance_clock(1);
    customer.customer_writes(s, "anyone?").await;

    dana.desk
        .act(NotificationKey::Chat(s), Action::Accept, None)
        .await
        .unwrap()
        .unwrap();
    let row = customer.session(s).await;
    assert_eq!(owner_of(&row), SeedIds::demo_agent());
    let told = dana
        .desk
        .engine()
        .live_notifications()
        .into_iter()
        .find(|n| n.kind == NotificationKind::ActionFailed)
        .cloned();
    assert!(told.is_none(), "no conflict was reported: {told:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_refused_token_asks_to_sign_in_again() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    // Tokens the emulator minted expire after an hour.
    emu.advance_clock(3601);
    match me.desk.poll().await {
        Err(DeskError::Dataverse(chatbell_sync::DataverseError::SignInRequired(_))) => {}
        other => panic!("expected sign-in required, got {other:?}"),
    }
    emu.shutdown().await;
}

/// Seed ids as the core's types.
trait IntoSession {
    fn into_session(self) -> chatbell_core::SessionId;
}

impl IntoSession for uuid::Uuid {
    fn into_session(self) -> chatbell_core::SessionId {
        chatbell_core::SessionId(self)
    }
}
