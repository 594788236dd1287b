//! R15 at the edges: an ownership action sent moments after a change to the same
//! chat, between two polls, so that the version the agent saw is stale. Each
//! action must go through when what it needs is still true, and otherwise say
//! precisely what is true now, overwriting nothing.
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_core::{Action, NotificationKey, NotificationKind, RequestId, SessionId};
use serde_json::json;
use support::*;
use uuid::Uuid;

/// The "Too late" notification `agent` shows, if any.
fn told(agent: &Agent) -> Option<chatbell_core::Notification> {
    agent
        .desk
        .engine()
        .live_notifications()
        .into_iter()
        .find(|n| n.kind == NotificationKind::ActionFailed)
        .cloned()
}

/// A new WhatsApp conversation in the default team's queue, seen by Dana.
async fn queued_chat(
    emu: &chatbell_emulator::RunningEmulator,
    dana: &mut Agent,
    number: &str,
) -> SessionId {
    let customer = act_as(emu, SYSTEM);
    let s = customer.new_conversation("Spam Bot", number).await;
    customer.customer_writes(s, "WIN A PRIZE").await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    assert!(live(dana.desk.engine(), NotificationKey::Chat(s)).is_some());
    s
}

/// Session 4 (Alex's, WhatsApp) left idle until Dana is offered it.
async fn offered_to_dana(emu: &chatbell_emulator::RunningEmulator, dana: &mut Agent) -> SessionId {
    let s = SessionId(SeedIds::session(4));
    act_as(emu, SYSTEM)
        .customer_writes(s, "hello? anyone?")
        .await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    emu.advance_clock(5 * 60);
    // The desk polls as the minutes pass; then the idle timer fires.
    dana.desk.poll().await.unwrap();
    dana.desk.fire_due_timers().await.unwrap();
    assert!(live(dana.desk.engine(), NotificationKey::Offer(s)).is_some());
    s
}

/// Alex asks Dana to take session 4 over; Dana's ChatBell shows it.
async fn assign_request_to_dana(
    emu: &chatbell_emulator::RunningEmulator,
    dana: &mut Agent,
) -> RequestId {
    let row = act_as(emu, ALEX)
        .send(
            reqwest::Method::POST,
            "cb_chatrequests",
            Some(json!({
                "cb_kind": 1,
                "cb_chatsession@odata.bind": format!("/cb_chatsessions({})", SeedIds::session(4)),
                "cb_requestedby@odata.bind": format!("/systemusers({})", SeedIds::alex()),
                "cb_requestedto@odata.bind": format!("/systemusers({})", SeedIds::demo_agent()),
                "statuscode": 1,
            })),
        )
        .await;
    let r = RequestId(Uuid::parse_str(row["cb_chatrequestid"].as_str().unwrap()).unwrap());
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    assert!(live(dana.desk.engine(), NotificationKey::Request(r)).is_some());
    r
}

async fn request_status(emu: &chatbell_emulator::RunningEmulator, r: RequestId) -> i64 {
    act_as(emu, SYSTEM)
        .get(&format!("cb_chatrequests({r})"))
        .await["statuscode"]
        .as_i64()
        .unwrap()
}

async fn blocked_rows(emu: &chatbell_emulator::RunningEmulator, number: &str) -> usize {
    let number = number.replace('+', "%2B");
    act_as(emu, SYSTEM)
        .get(&format!(
            "cb_blockednumbers?$filter=cb_number%20eq%20'{number}'"
        ))
        .await["value"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn r15_block_after_a_colleague_accepted_is_refused_and_block_anyway_tells_the_owner() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    let mut riley = desk(&emu, RILEY, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let number = "+19005550170";
    let s = queued_chat(&emu, &mut dana, number).await;
    // Riley accepts; Dana presses Block before her next poll.
    act_as(&emu, RILEY).take(s, SeedIds::riley()).await;
    emu.advance_clock(1);
    riley.desk.poll().await.unwrap();
    dana.desk
        .act(NotificationKey::Chat(s), Action::Block, None)
        .await
        .unwrap()
        .unwrap();

    // Nothing was blocked or closed; Riley keeps his chat; Dana is told who.
    assert_eq!(blocked_rows(&emu, number).await, 0);
    let row = act_as(&emu, SYSTEM).session(s).await;
    assert_eq!(row["statuscode"], 1, "still open");
    assert_eq!(owner_of(&row), SeedIds::riley());
    let note = told(&dana).expect("Dana is told");
    assert_eq!(note.body, "Riley Chen accepted this chat first.");
    assert!(note.offers(Action::BlockAnyway), "{note:?}");
    assert!(live(riley.desk.engine(), NotificationKey::Blocked(s)).is_none());

    // Blocking anyway is her explicit second choice: the number is blocked (and
    // Dynamics closes the chat), the chat stays Riley's, and Riley is told.
    dana.desk
        .act(note.key, Action::BlockAnyway, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(blocked_rows(&emu, number).await, 1);
    let row = act_as(&emu, SYSTEM).session(s).await;
    assert_eq!(row["statuscode"], 3, "blocked by the add-on");
    assert_eq!(owner_of(&row), SeedIds::riley(), "still Riley's");
    emu.advance_clock(2);
    riley.desk.poll().await.unwrap();
    let rileys = live(riley.desk.engine(), NotificationKey::Blocked(s)).expect("Riley is told");
    assert_eq!(rileys.kind, NotificationKind::NumberBlocked);
    assert!(rileys.title.contains("Spam Bot"), "{rileys:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn r15_block_just_after_the_customer_wrote_again_goes_through() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let number = "+19005550171";
    let s = queued_chat(&emu, &mut dana, number).await;
    emu.advance_clock(1);
    act_as(&emu, SYSTEM).customer_writes(s, "CLICK HERE").await;
    dana.desk
        .act(NotificationKey::Chat(s), Action::Block, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(blocked_rows(&emu, number).await, 1);
    assert_eq!(act_as(&emu, SYSTEM).session(s).await["statuscode"], 3);
    assert!(told(&dana).is_none(), "{:?}", told(&dana));
    emu.shutdown().await;
}

#[tokio::test]
async fn r15_yes_just_after_the_customer_wrote_again_goes_through() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let s = offered_to_dana(&emu, &mut dana).await;
    // The customer writes again: a new version of the row, the owner still silent.
    emu.advance_clock(1);
    act_as(&emu, SYSTEM)
        .customer_writes(s, "still there?")
        .await;
    dana.desk
        .act(NotificationKey::Offer(s), Action::Yes, None)
        .await
        .unwrap()
        .unwrap();
    let row = act_as(&emu, SYSTEM).session(s).await;
    assert_eq!(owner_of(&row), SeedIds::demo_agent());
    assert!(told(&dana).is_none(), "{:?}", told(&dana));
    emu.shutdown().await;
}

#[tokio::test]
async fn r15_yes_after_the_owner_replied_says_the_owner_replied() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let s = offered_to_dana(&emu, &mut dana).await;
    emu.advance_clock(1);
    act_as(&emu, ALEX).agent_replies(s, "Sorry, here now").await;
    dana.desk
        .act(NotificationKey::Offer(s), Action::Yes, None)
        .await
        .unwrap()
        .unwrap();
    let row = act_as(&emu, SYSTEM).session(s).await;
    assert_eq!(owner_of(&row), SeedIds::alex(), "nothing taken from Alex");
    assert_eq!(told(&dana).unwrap().body, "Alex Rivera replied meanwhile.");
    emu.shutdown().await;
}

#[tokio::test]
async fn r15_yes_after_another_agent_took_the_chat_says_who() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let s = offered_to_dana(&emu, &mut dana).await;
    emu.advance_clock(1);
    act_as(&emu, RILEY).take(s, SeedIds::riley()).await;
    dana.desk
        .act(NotificationKey::Offer(s), Action::Yes, None)
        .await
        .unwrap()
        .unwrap();
    let row = act_as(&emu, SYSTEM).session(s).await;
    assert_eq!(owner_of(&row), SeedIds::riley());
    assert_eq!(
        told(&dana).unwrap().body,
        "Riley Chen already took this chat."
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn r15_accepting_an_assign_request_just_after_a_message_in_the_chat_goes_through() {
    // A message from the customer, then one from the requester.
    for (writer, direction) in [(SYSTEM, 1), (ALEX, 2)] {
        let emu = org().await;
        let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
        dana.desk.poll().await.unwrap();
        let r = assign_request_to_dana(&emu, &mut dana).await;
        emu.advance_clock(1);
        let s = SessionId(SeedIds::session(4));
        if direction == 1 {
            act_as(&emu, writer).customer_writes(s, "hello?").await;
        } else {
            act_as(&emu, writer)
                .agent_replies(s, "Dana will take over")
                .await;
        }
        dana.desk
            .act(NotificationKey::Request(r), Action::Accept, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(request_status(&emu, r).await, 2, "accepted ({writer})");
        let row = act_as(&emu, SYSTEM).session(s).await;
        assert_eq!(owner_of(&row), SeedIds::demo_agent(), "({writer})");
        assert!(told(&dana).is_none(), "{:?}", told(&dana));
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn r15_answering_a_request_the_requester_withdrew_says_so() {
    for action in [Action::Accept, Action::Reject] {
        let emu = org().await;
        let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
        dana.desk.poll().await.unwrap();
        let r = assign_request_to_dana(&emu, &mut dana).await;
        emu.advance_clock(1);
        act_as(&emu, ALEX)
            .send(
                reqwest::Method::PATCH,
                &format!("cb_chatrequests({r})"),
                Some(json!({"statuscode": 4, "cb_reason": "solved it myself"})),
            )
            .await;
        let reason = (action == Action::Reject).then(|| "busy".to_string());
        dana.desk
            .act(NotificationKey::Request(r), action, reason)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(request_status(&emu, r).await, 4, "still withdrawn");
        let row = act_as(&emu, SYSTEM)
            .session(SessionId(SeedIds::session(4)))
            .await;
        assert_eq!(owner_of(&row), SeedIds::alex(), "the chat stays Alex's");
        assert_eq!(
            told(&dana).unwrap().body,
            "Alex Rivera withdrew the request."
        );
        assert!(live(dana.desk.engine(), NotificationKey::Request(r)).is_none());
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn r15_accepting_an_assign_request_after_another_agent_took_the_chat_leaves_it_pending() {
    let emu = org().await;
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let r = assign_request_to_dana(&emu, &mut dana).await;
    emu.advance_clock(1);
    let s = SessionId(SeedIds::session(4));
    act_as(&emu, RILEY).take(s, SeedIds::riley()).await;
    dana.desk
        .act(NotificationKey::Request(r), Action::Accept, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request_status(&emu, r).await, 1, "not answered");
    let row = act_as(&emu, SYSTEM).session(s).await;
    assert_eq!(owner_of(&row), SeedIds::riley(), "nothing taken from Riley");
    assert_eq!(
        told(&dana).unwrap().body,
        "Riley Chen already took this chat."
    );
    assert!(
        live(dana.desk.engine(), NotificationKey::Request(r)).is_some(),
        "the request is still pending, so it stays in the panel"
    );
    emu.shutdown().await;
}
