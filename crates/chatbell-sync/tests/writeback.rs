//! What the agent decides, written to Dynamics with If-Match (R15), and the other
//! side told.
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_core::{Action, ActionError, NotificationKey, NotificationKind, RequestId, SessionId};
use chatbell_sync::Tables;
use serde_json::json;
use support::*;
use uuid::Uuid;

/// A pending request of `kind` (1 assign, 2 discuss) about `session`, made in the
/// Chat UI by the agent `by` (e-mail, id) to the agent with id `to`.
async fn post_request(
    emu: &chatbell_emulator::RunningEmulator,
    kind: i64,
    session: Uuid,
    by: (&str, Uuid),
    to: Uuid,
) -> RequestId {
    let row = act_as(emu, by.0)
        .send(
            reqwest::Method::POST,
            "cb_chatrequests",
            Some(json!({
                "cb_kind": kind,
                "cb_chatsession@odata.bind": format!("/cb_chatsessions({session})"),
                "cb_requestedby@odata.bind": format!("/systemusers({})", by.1),
                "cb_requestedto@odata.bind": format!("/systemusers({to})"),
                "statuscode": 1,
            })),
        )
        .await;
    RequestId(Uuid::parse_str(row["cb_chatrequestid"].as_str().unwrap()).unwrap())
}

/// Alex asks Dana to take over (1) or join (2) session 4.
async fn request_to_dana(emu: &chatbell_emulator::RunningEmulator, kind: i64) -> RequestId {
    let by = (ALEX, SeedIds::alex());
    post_request(emu, kind, SeedIds::session(4), by, SeedIds::demo_agent()).await
}

#[tokio::test]
async fn r8_reject_needs_a_reason_and_writes_it_and_the_requester_is_told() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    let mut alex = desk(&emu, ALEX, None, quick()).await;
    dana.desk.poll().await.unwrap();
    alex.desk.poll().await.unwrap();
    let r = request_to_dana(&emu, 1).await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    let key = NotificationKey::Request(r);
    let n = live(dana.desk.engine(), key).expect("Dana is asked");
    assert_eq!(n.kind, NotificationKind::AssignRequest);

    let before = emu.stats().by_method.get("PATCH").copied().unwrap_or(0);
    let refused = dana
        .desk
        .act(key, Action::Reject, Some("   ".into()))
        .await
        .unwrap();
    assert_eq!(refused, Err(ActionError::ReasonRequired));
    assert_eq!(
        emu.stats().by_method.get("PATCH").copied().unwrap_or(0),
        before,
        "nothing was sent"
    );

    dana.desk
        .act(key, Action::Reject, Some("On a call until 3 pm".into()))
        .await
        .unwrap()
        .unwrap();
    let row = act_as(&emu, SYSTEM)
        .get(&format!("cb_chatrequests({r})"))
        .await;
    assert_eq!(row["statuscode"], 3);
    assert_eq!(row["cb_reason"], "On a call until 3 pm");

    emu.advance_clock(2);
    alex.desk.poll().await.unwrap();
    let outcome = live(alex.desk.engine(), NotificationKey::Outcome(r)).expect("Alex is told");
    assert!(outcome.body.contains("On a call until 3 pm"), "{outcome:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn r8_accepting_an_assign_request_moves_the_session_in_dynamics() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let r = request_to_dana(&emu, 1).await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    dana.desk
        .act(NotificationKey::Request(r), Action::Accept, None)
        .await
        .unwrap()
        .unwrap();
    let sys = act_as(&emu, SYSTEM);
    assert_eq!(
        sys.get(&format!("cb_chatrequests({r})")).await["statuscode"],
        2
    );
    let session = sys.session(SessionId(SeedIds::session(4))).await;
    assert_eq!(owner_of(&session), SeedIds::demo_agent());
    emu.shutdown().await;
}

#[tokio::test]
async fn r9_block_creates_the_blocked_number_and_closes_the_chat_for_everyone() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    let mut alex = desk(&emu, ALEX, None, quick()).await;
    dana.desk.poll().await.unwrap();
    alex.desk.poll().await.unwrap();
    let customer = act_as(&emu, SYSTEM);
    let s = customer.new_conversation("Spam Bot", "+19005550123").await;
    customer.customer_writes(s, "WIN A PRIZE").await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    alex.desk.poll().await.unwrap();
    let key = NotificationKey::Chat(s);
    assert!(live(dana.desk.engine(), key).unwrap().offers(Action::Block));
    assert!(live(alex.desk.engine(), key).is_some());

    dana.desk
        .act(key, Action::Block, None)
        .await
        .unwrap()
        .unwrap();

    let blocked = customer
        .get("cb_blockednumbers?$filter=cb_number%20eq%20'%2B19005550123'")
        .await;
    assert_eq!(blocked["value"].as_array().unwrap().len(), 1);
    let row = customer.session(s).await;
    assert_eq!(
        row["statuscode"], 3,
        "the add-on closed the session as blocked"
    );

    emu.advance_clock(2);
    alex.desk.poll().await.unwrap();
    assert!(live(alex.desk.engine(), key).is_none(), "gone for Alex too");
    emu.shutdown().await;
}

#[tokio::test]
async fn r6_assign_to_me_after_idle_timeout_and_yes_moves_ownership_in_dynamics() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    // Session 4 is Alex's (WhatsApp: idle timeout 5 minutes).
    let s = SessionId(SeedIds::session(4));
    let customer = act_as(&emu, SYSTEM);
    customer.customer_writes(s, "hello? anyone?").await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    assert!(live(dana.desk.engine(), NotificationKey::Offer(s)).is_none());

    emu.advance_clock(5 * 60);
    // The desk polls as the minutes pass; then the idle timer fires.
    dana.desk.poll().await.unwrap();
    dana.desk.fire_due_timers().await.unwrap();
    let offer = live(dana.desk.engine(), NotificationKey::Offer(s)).expect("Assign to me?");
    assert_eq!(offer.kind, NotificationKind::AssignToMe);

    dana.desk
        .act(NotificationKey::Offer(s), Action::Yes, None)
        .await
        .unwrap()
        .unwrap();
    let row = customer.session(s).await;
    assert_eq!(owner_of(&row), SeedIds::demo_agent());
    emu.shutdown().await;
}

#[tokio::test]
async fn sessions_come_through_change_tracking_where_it_is_granted() {
    let emu = org().await;
    // Morgan has organisation-level read; Dana has not.
    let mut morgan = desk(&emu, MORGAN, None, quick()).await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    morgan.desk.poll().await.unwrap();
    dana.desk.poll().await.unwrap();
    assert!(morgan.desk.uses_change_tracking());
    assert!(!dana.desk.uses_change_tracking());

    let customer = act_as(&emu, SYSTEM);
    let s = customer
        .new_conversation("Ana Souza", "+5511999990004")
        .await;
    customer.customer_writes(s, "oi").await;
    emu.advance_clock(2);
    morgan.desk.poll().await.unwrap();
    dana.desk.poll().await.unwrap();
    assert!(morgan.desk.engine().session(&s).is_some());
    assert!(dana.desk.engine().session(&s).is_some());

    // A deletion shows through change tracking only.
    customer
        .send(
            reqwest::Method::DELETE,
            &format!("cb_chatsessions({s})"),
            None,
        )
        .await;
    emu.advance_clock(2);
    morgan.desk.poll().await.unwrap();
    assert!(morgan.desk.engine().session(&s).is_none(), "removed");
    emu.shutdown().await;
}

#[tokio::test]
async fn r8_withdrawing_my_request_writes_the_reason_and_the_target_loses_it() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    let mut alex = desk(&emu, ALEX, None, quick()).await;
    // Dana (owner of session 2) asks Alex to join it.
    let by = (DEMO_AGENT_EMAIL, SeedIds::demo_agent());
    let r = post_request(&emu, 2, SeedIds::session(2), by, SeedIds::alex()).await;
    dana.desk.poll().await.unwrap();
    alex.desk.poll().await.unwrap();
    assert!(live(alex.desk.engine(), NotificationKey::Request(r)).is_some());

    let refused = dana.desk.withdraw_request(r, " ".into()).await.unwrap();
    assert_eq!(refused, Err(ActionError::ReasonRequired));
    dana.desk
        .withdraw_request(r, "Solved it myself".into())
        .await
        .unwrap()
        .unwrap();
    let row = act_as(&emu, SYSTEM)
        .get(&format!("cb_chatrequests({r})"))
        .await;
    assert_eq!(row["statuscode"], 4);
    assert_eq!(row["cb_reason"], "Solved it myself");

    emu.advance_clock(2);
    alex.desk.poll().await.unwrap();
    assert!(live(alex.desk.engine(), NotificationKey::Request(r)).is_none());
    // Dana's desktop (the panel's "My pending requests") is told it is gone,
    // though nothing is shown or closed for it.
    dana.desk.poll().await.unwrap();
    assert_eq!(
        dana.recorder.my_pending.lock().unwrap().last(),
        Some(&0),
        "the desktop was last told of a pending request"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn r1_leaving_the_team_withdraws_its_chats_without_a_restart() {
    let emu = org().await;
    let cfg = chatbell_sync::DeskConfig {
        poll: chatbell_sync::PollConfig {
            slow_every: chatbell_core::Span::seconds(0),
            ..chatbell_sync::PollConfig::default()
        },
        ..quick()
    };
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, cfg).await;
    dana.desk.poll().await.unwrap();
    let customer = act_as(&emu, SYSTEM);
    let s = customer
        .new_conversation("Ana Souza", "+5511999990005")
        .await;
    customer.customer_writes(s, "help").await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    assert!(live(dana.desk.engine(), NotificationKey::Chat(s)).is_some());

    // An admin removes Dana from the default team.
    customer
        .send(
            reqwest::Method::DELETE,
            &format!(
                "teams({})/teammembership_association({})/$ref",
                SeedIds::default_team(),
                SeedIds::demo_agent()
            ),
            None,
        )
        .await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    assert!(
        live(dana.desk.engine(), NotificationKey::Chat(s)).is_none(),
        "no longer eligible"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn an_expired_delta_token_means_reading_the_sessions_again() {
    let emu = org().await;
    let mut morgan = desk(&emu, MORGAN, None, quick()).await;
    morgan.desk.poll().await.unwrap();
    assert!(morgan.desk.uses_change_tracking());
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}/_emulator/changetracking/expire",
            emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let customer = act_as(&emu, SYSTEM);
    let s = customer
        .new_conversation("Ana Souza", "+5511999990006")
        .await;
    emu.advance_clock(2);
    morgan.desk.poll().await.unwrap();
    assert!(morgan.desk.engine().session(&s).is_some());
    assert!(morgan.desk.uses_change_tracking(), "with a new delta link");
    emu.shutdown().await;
}

#[tokio::test]
async fn r8_a_request_read_before_its_chat_brings_the_chat_and_can_be_accepted_at_once() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    // A new chat, and at once a request about it: requests are polled on their
    // own, so the request may be read before any poll of the chats.
    let s = act_as(&emu, SYSTEM)
        .new_conversation("Chen Wei", "+8613800000123")
        .await;
    let by = (ALEX, SeedIds::alex());
    let r = post_request(&emu, 1, s.0, by, SeedIds::demo_agent()).await;
    emu.advance_clock(2);
    dana.desk
        .poll_tables(Tables {
            sessions: false,
            requests: true,
        })
        .await
        .unwrap();
    assert!(
        dana.desk.engine().session(&s).is_some(),
        "the chat came along"
    );
    let n = live(dana.desk.engine(), NotificationKey::Request(r)).expect("the request");
    assert!(n.title.contains("Chen Wei"), "{}", n.title);
    dana.desk
        .act(NotificationKey::Request(r), Action::Accept, None)
        .await
        .unwrap()
        .expect("accepted at once");
    let session = act_as(&emu, SYSTEM).session(s).await;
    assert_eq!(owner_of(&session), SeedIds::demo_agent());
    emu.shutdown().await;
}
