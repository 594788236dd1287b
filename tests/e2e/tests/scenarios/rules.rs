//! One scenario per rule, as an agent meets it. Dana is the agent at this desk;
//! Alex, Sam, Riley and Morgan are colleagues who work in Dynamics (the Web
//! API), customers write through the integration (SYSTEM).

use super::{World, IDLE_MINUTES};
use chatbell_e2e::app::{ChatBell, APP_ID};
use chatbell_e2e::org::{
    self, Channel, ACCEPTED, ALEX, ASSIGN, DANA, DISCUSS, MORGAN, PENDING, REJECTED, RILEY, SAM,
    WITHDRAWN,
};
use chatbell_e2e::sound::{CALL_TONE, MESSAGE_TONE};
use chatbell_e2e::wait::{wait_until, Limit, SYNC};
use serde_json::Value;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub async fn run(w: &mut World, name: &str) -> Result<(), String> {
    match name {
        "r1_agent_outside_the_teams_gets_nothing" => {
            r1_agent_outside_the_teams_gets_nothing(w).await
        }
        "r2_new_conversation_reaches_me_and_is_withdrawn_when_another_agent_takes_it" => {
            r2_new_conversation_reaches_me_and_is_withdrawn_when_another_agent_takes_it(w).await
        }
        "r2_accept_in_the_panel_takes_the_session_in_dynamics" => {
            r2_accept_in_the_panel_takes_the_session_in_dynamics(w).await
        }
        "r3_tray_icon_pixels_show_the_unread_count" => {
            r3_tray_icon_pixels_show_the_unread_count(w).await
        }
        "r4_new_message_in_my_chat_offers_view_chat_to_me_alone" => {
            r4_new_message_in_my_chat_offers_view_chat_to_me_alone(w).await
        }
        "r5_call_rings_and_stops_when_answered_elsewhere" => {
            r5_call_rings_and_stops_when_answered_elsewhere(w).await
        }
        "r6_idle_offer_yes_moves_ownership_and_a_late_yes_is_told_who_won" => {
            r6_idle_offer_yes_moves_ownership_and_a_late_yes_is_told_who_won(w).await
        }
        "r7_assigned_through_dynamics_notifies_the_new_owner" => {
            r7_assigned_through_dynamics_notifies_the_new_owner(w).await
        }
        "r8_accept_and_reject_with_a_reason_in_the_panel" => {
            r8_accept_and_reject_with_a_reason_in_the_panel(w).await
        }
        "r8_requester_is_told_and_may_withdraw" => r8_requester_is_told_and_may_withdraw(w).await,
        "r8_request_withdrawn_or_expired_is_taken_down" => {
            r8_request_withdrawn_or_expired_is_taken_down(w).await
        }
        "r9_dismiss_is_mine_only_and_block_is_for_everyone" => {
            r9_dismiss_is_mine_only_and_block_is_for_everyone(w).await
        }
        "r11_new_message_plays_the_message_sound" => {
            r11_new_message_plays_the_message_sound(w).await
        }
        "r12_clicking_a_toast_opens_the_chats_deep_link" => {
            r12_clicking_a_toast_opens_the_chats_deep_link(w).await
        }
        "r16_a_burst_of_messages_updates_one_toast" => {
            r16_a_burst_of_messages_updates_one_toast(w).await
        }
        "r18_do_not_disturb_silences_toasts_but_not_the_count_or_requests" => {
            r18_do_not_disturb_silences_toasts_but_not_the_count_or_requests(w).await
        }
        "r14_r17_killed_and_restarted_delivers_once_with_a_summary" => {
            r14_r17_killed_and_restarted_delivers_once_with_a_summary(w).await
        }
        other => Err(format!("no scenario {other}")),
    }
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

fn deep_link(w: &World, session: Uuid) -> String {
    format!(
        "{}/main.aspx?appid={APP_ID}&pagetype=entityrecord&etn={}&id={session}",
        w.desk.emulator.base_url(),
        chatbell_e2e::session_table()
    )
}

/// R1: Riley is in the default team but not in WhatsApp's assigned team: a new
/// WhatsApp conversation reaches Dana and not Riley, whose ChatBell (headless,
/// signed in as Riley) does deliver an SMS conversation made after it.
async fn r1_agent_outside_the_teams_gets_nothing(w: &mut World) -> Result<(), String> {
    let mut riley = ChatBell::prepare(&w.desk, "riley", &w.bin)?;
    riley.start_headless(&w.desk)?;
    let result = async {
        riley.sign_in_cli(&w.desk, &w.org, RILEY).await?;
        let (wa, wa_number) = w.customer("Elena");
        let mark = w.mark();
        let s = w
            .org
            .new_session(Channel::WhatsApp, &wa, &wa_number)
            .await?;
        w.org.customer_writes(s, "Hola, necesito ayuda").await?;
        w.toast(mark, &wa, SYNC).await?;
        // Made after the WhatsApp one: once Riley has it, Riley's ChatBell has
        // read past the WhatsApp conversation.
        let (sms, sms_number) = w.customer("Farid");
        let s2 = w.org.new_session(Channel::Sms, &sms, &sms_number).await?;
        w.org.customer_writes(s2, "Hello from SMS").await?;
        let toasts = &w.desk.bus.toasts;
        let rpid = riley.pid;
        wait_until(
            SYNC,
            "Riley's ChatBell to show the SMS conversation",
            || async {
                toasts
                    .matching(mark, &sms)
                    .iter()
                    .any(|n| n.pid == Some(rpid))
                    .then_some(())
            },
        )
        .await?;
        let leaked: Vec<String> = toasts
            .matching(mark, &wa)
            .iter()
            .filter(|n| n.pid == Some(rpid))
            .map(|n| n.text())
            .collect();
        check(leaked.is_empty(), || {
            format!("Riley, outside WhatsApp's assigned team, was notified: {leaked:?}")
        })?;
        w.shot("dana-notified").await
    }
    .await;
    riley.keep_logs(&w.desk);
    riley.quit(&w.desk).await;
    result
}

/// R2: a customer opens a WhatsApp conversation: the toast reaches me with
/// Accept (and Dismiss/Block: a new number); Alex takes it in the Chat UI; my
/// toast and the panel's item are withdrawn.
async fn r2_new_conversation_reaches_me_and_is_withdrawn_when_another_agent_takes_it(
    w: &mut World,
) -> Result<(), String> {
    let (name, number) = w.customer("Ana");
    let mark = w.mark();
    let s = w.org.new_session(Channel::WhatsApp, &name, &number).await?;
    w.org.customer_writes(s, "Hi, where is my order?").await?;
    let toast = w.toast(mark, &name, SYNC).await?;
    let keys = toast.action_keys();
    check(
        keys.contains(&"default") && keys.contains(&"accept"),
        || format!("the toast offers {keys:?}, not Accept"),
    )?;
    check(keys.contains(&"dismiss") && keys.contains(&"block"), || {
        format!("a new number's toast offers {keys:?}, without Dismiss and Block")
    })?;
    check(toast.text().contains("where is my order"), || {
        format!("the toast does not show the message: {}", toast.text())
    })?;
    let item = w.panel_item(&name).await?;
    check(item.actions.iter().any(|a| a == "accept"), || {
        format!("the panel offers {:?}", item.actions)
    })?;
    w.shot("new-conversation").await?;

    let mark2 = w.mark();
    w.org.agent_takes(ALEX, s).await?;
    w.toast_withdrawn(mark2, toast.id).await?;
    w.panel_item_gone(&name).await?;
    w.shot("taken-by-alex").await?;
    Ok(())
}

/// R2: Accept in the panel: the session becomes mine in Dynamics.
async fn r2_accept_in_the_panel_takes_the_session_in_dynamics(w: &mut World) -> Result<(), String> {
    let (name, number) = w.customer("Bruno");
    let mark = w.mark();
    let s = w.org.new_session(Channel::Sms, &name, &number).await?;
    w.org.customer_writes(s, "Can I change my plan?").await?;
    let toast = w.toast(mark, &name, SYNC).await?;
    let item = w.panel_item(&name).await?;
    w.shot("offered").await?;
    w.click_in_panel(&item.id, "accept").await?;
    w.owned_by(s, DANA).await?;
    w.toast_withdrawn(mark, toast.id).await?;
    w.shot("accepted").await?;
    Ok(())
}

/// R3: the tray icon's badge, read from its pixels, counts the sessions with
/// unread messages visible to me, and shows nothing at 0.
async fn r3_tray_icon_pixels_show_the_unread_count(w: &mut World) -> Result<(), String> {
    check(w.badge().await?.is_none(), || {
        "a clean desk shows a badge".into()
    })?;
    let (a, na) = w.customer("Carla");
    let (b, nb) = w.customer("Dmitri");
    let sa = w.org.new_session(Channel::WhatsApp, &a, &na).await?;
    let sb = w.org.new_session(Channel::Sms, &b, &nb).await?;
    w.org.customer_writes(sa, "Hello?").await?;
    w.org.customer_writes(sb, "Hi there").await?;
    w.wait_badge(Some("2")).await?;
    w.shot("two-unread").await?;
    // More messages in the same sessions: still two sessions.
    w.org.customer_writes(sb, "Anyone?").await?;
    w.org.customer_writes(sb, "Hello??").await?;
    // Alex takes one: no longer visible to me.
    w.org.agent_takes(ALEX, sa).await?;
    w.wait_badge(Some("1")).await?;
    // I take the other and reply in Dynamics: nothing unread.
    w.org.agent_takes(DANA, sb).await?;
    w.org
        .agent_replies(DANA, sb, "Hello, how can I help?")
        .await?;
    w.wait_badge(None).await?;
    w.shot("none-unread").await?;
    Ok(())
}

/// R4: a message in my own chat: View chat, for me; a message in Alex's chat:
/// nothing for me.
async fn r4_new_message_in_my_chat_offers_view_chat_to_me_alone(
    w: &mut World,
) -> Result<(), String> {
    let (mine, n1) = w.customer("Gita");
    let (alexs, n2) = w.customer("Hugo");
    let s_mine = w.org.owned_session(Channel::Sms, &mine, &n1, DANA).await?;
    let s_alex = w.org.owned_session(Channel::Sms, &alexs, &n2, ALEX).await?;
    let mark = w.mark();
    w.org
        .customer_writes(s_alex, "Alex, are you there?")
        .await?;
    w.org.customer_writes(s_mine, "One more question").await?;
    let toast = w.toast(mark, &mine, SYNC).await?;
    check(toast.action_keys() == ["default"], || {
        format!(
            "my chat's message offers {:?}, not View chat alone",
            toast.actions
        )
    })?;
    check(toast.label("default") == Some("View chat"), || {
        format!("the main action is {:?}", toast.label("default"))
    })?;
    let item = w.panel_item(&mine).await?;
    check(item.actions == ["open"], || {
        format!("the panel offers {:?}", item.actions)
    })?;
    w.shot("view-chat").await?;
    let leaked = w.toasts_about(mark, &alexs);
    check(leaked.is_empty(), || {
        format!(
            "a message in Alex's chat reached me: {:?}",
            leaked.iter().map(|n| n.text()).collect::<Vec<_>>()
        )
    })?;
    Ok(())
}

/// R5: a WhatsApp call in my chat: a toast and a ring (440 + 480 Hz, recorded
/// from the sound device) until it is answered elsewhere; then the toast goes
/// and the ringing stops.
async fn r5_call_rings_and_stops_when_answered_elsewhere(w: &mut World) -> Result<(), String> {
    let (name, number) = w.customer("Ines");
    let s = w
        .org
        .owned_session(Channel::WhatsApp, &name, &number, DANA)
        .await?;
    let mark = w.mark();
    let from = w.desk.recording.position();
    w.org.set_call(s, 1).await?;
    let toast = w.toast(mark, &name, SYNC).await?;
    check(toast.text().to_lowercase().contains("call"), || {
        format!("the toast does not speak of a call: {}", toast.text())
    })?;
    w.heard(
        from,
        CALL_TONE[0],
        Duration::from_millis(600),
        Limit::secs(10),
    )
    .await?;
    w.heard(
        from,
        CALL_TONE[1],
        Duration::from_millis(600),
        Limit::secs(10),
    )
    .await?;
    // Still ringing a ring cycle later (it repeats until answered).
    let later = w.desk.recording.position();
    w.heard(
        later,
        CALL_TONE[0],
        Duration::from_millis(600),
        Limit::secs(6),
    )
    .await?;
    w.shot("ringing").await?;
    let mark2 = w.mark();
    w.org.set_call(s, 2).await?;
    w.toast_withdrawn(mark2, toast.id).await?;
    let stopped = w.desk.recording.position();
    // A ring cycle is 1 s of tone and 1 s of silence: 3 s without it is stopped.
    w.silent(
        stopped,
        CALL_TONE[0],
        Duration::from_secs(3),
        Limit::secs(10),
    )
    .await?;
    w.shot("answered").await?;
    Ok(())
}

/// R6: Alex does not reply within the WhatsApp idle timeout: I am offered
/// "Assign to me?"; Yes moves the session to me in Dynamics and opens the chat.
/// On another such chat Sam says Yes first: my late Yes is told Sam won, and
/// Dynamics still shows Sam.
async fn r6_idle_offer_yes_moves_ownership_and_a_late_yes_is_told_who_won(
    w: &mut World,
) -> Result<(), String> {
    let mut sessions = Vec::new();
    for first in ["Jonas", "Kemal", "Lucia", "Mateo"] {
        let (name, number) = w.customer(first);
        let s = w
            .org
            .owned_session(Channel::WhatsApp, &name, &number, ALEX)
            .await?;
        sessions.push((name, s));
    }
    let mark = w.mark();
    let written = Instant::now();
    for (_, s) in &sessions {
        w.org.customer_writes(*s, "Hello? Still waiting...").await?;
    }
    let idle = Duration::from_secs(60 * IDLE_MINUTES as u64);
    let mut offers = Vec::new();
    for (name, _) in &sessions {
        let limit = Limit(idle + SYNC.0 + Duration::from_secs(20));
        let offer = w
            .toast(mark, &format!("Assign to me? {name}"), limit)
            .await?;
        check(
            offer.at.duration_since(written) + Duration::from_secs(5) >= idle,
            || {
                format!(
                    "offered after {:?}, before the {idle:?} idle timeout",
                    offer.at.duration_since(written)
                )
            },
        )?;
        check(
            offer.action_keys().contains(&"yes") && offer.action_keys().contains(&"no"),
            || format!("the offer's actions are {:?}", offer.actions),
        )?;
        offers.push(offer);
    }
    w.shot("offers").await?;

    // Yes: Dynamics shows me as the owner and the chat opens.
    let (_, s1) = sessions[0].clone();
    w.click_toast(offers[0].id, "yes").await?;
    w.owned_by(s1, DANA).await?;
    let link = deep_link(w, s1);
    wait_until(Limit::secs(15), "the chat to open", || async {
        w.desk.opened_links().contains(&link).then_some(())
    })
    .await?;

    // Sam is faster: his Yes lands between two of my ChatBell's polls, and mine
    // right after. If ChatBell happened to read Sam's change before my click
    // (its offer withdrawn first), that chat cannot show the race: the next one
    // is tried.
    let sam = w.org.user_id(SAM).await?;
    let dana_id = w.org.user_id(DANA).await?.to_string();
    let mut raced = false;
    for (i, (_, s)) in sessions.iter().enumerate().skip(1) {
        let offer = &offers[i];
        let before = requests_of(w, &dana_id).await?;
        wait_until(SYNC, "a poll of my ChatBell", || async {
            (requests_of(w, &dana_id).await.ok()? > before).then_some(())
        })
        .await?;
        let mark = w.mark();
        w.org.agent_takes(SAM, *s).await?;
        if w.desk.bus.toasts.closed_by_client_since(mark, offer.id) {
            continue;
        }
        w.click_toast(offer.id, "yes").await?;
        let told = w.toast(mark, "already took this chat", SYNC).await;
        let row = w.org.row("cb_chatsessions", *s).await?;
        check(org::owner_of(&row).map(|(_, o)| o) == Some(sam), || {
            format!("Dynamics no longer shows Sam as the owner: {row}")
        })?;
        match told {
            Ok(t) => {
                check(t.summary.contains("Too late"), || {
                    format!("told: {}", t.text())
                })?;
                check(t.body.contains("Sam Patel already took this chat"), || {
                    format!(
                        "R6: a late Yes is told {:?}, not who won (Sam Patel)",
                        t.body
                    )
                })?;
                raced = true;
                break;
            }
            Err(e) if w.desk.bus.toasts.closed_by_client_since(mark, offer.id) => {
                eprintln!("r6: attempt {i}: the offer was withdrawn before the click ({e})");
            }
            Err(e) => return Err(e),
        }
    }
    check(raced, || "no attempt raced Sam's Yes against mine".into())?;
    w.shot("too-late").await?;
    Ok(())
}

/// Web API requests made so far with Dana's token.
async fn requests_of(w: &World, user_id: &str) -> Result<u64, String> {
    let stats = w.org.stats().await?;
    Ok(stats
        .get("by_user")
        .and_then(|u| u.get(user_id))
        .and_then(Value::as_u64)
        .unwrap_or(0))
}

/// R7: a supervisor assigns a chat to me with the standard Assign: I am told,
/// with no Accept or Reject, and clicking it opens the chat.
async fn r7_assigned_through_dynamics_notifies_the_new_owner(w: &mut World) -> Result<(), String> {
    let (name, number) = w.customer("Nadia");
    let s = w
        .org
        .owned_session(Channel::Sms, &name, &number, ALEX)
        .await?;
    w.org.customer_writes(s, "I was talking to Alex").await?;
    // Alex's chat as my ChatBell has known it for a while.
    w.sentinel().await?;
    let mark = w.mark();
    w.org.assign(MORGAN, s, DANA).await?;
    let toast = w.toast(mark, "Chat assigned to you", SYNC).await?;
    check(toast.text().contains(&name), || {
        format!("the toast: {}", toast.text())
    })?;
    check(toast.action_keys() == ["default"], || {
        format!("an assignment offers {:?}", toast.actions)
    })?;
    w.shot("assigned").await?;
    w.click_toast(toast.id, "default").await?;
    let link = deep_link(w, s);
    wait_until(Limit::secs(15), "the chat to open", || async {
        w.desk.opened_links().contains(&link).then_some(())
    })
    .await
}

/// R8: requests to me: Accept (Assign) moves the chat to me in Dynamics; Reject
/// asks for a reason in the panel, refuses a blank one there, and sends the
/// reason to Dynamics.
async fn r8_accept_and_reject_with_a_reason_in_the_panel(w: &mut World) -> Result<(), String> {
    let (n1, p1) = w.customer("Olga");
    let s1 = w
        .org
        .owned_session(Channel::WhatsApp, &n1, &p1, ALEX)
        .await?;
    // Requests are made about chats that have been going on for a while.
    w.sentinel().await?;
    let mark = w.mark();
    let r1 = w
        .org
        .request(
            ASSIGN,
            s1,
            ALEX,
            DANA,
            &format!("Please take over {n1}"),
            None,
        )
        .await?;
    let toast = w.toast(mark, &n1, SYNC).await?;
    let keys = toast.action_keys();
    check(keys.contains(&"accept") && keys.contains(&"reject"), || {
        format!("the request offers {keys:?}")
    })?;
    let item = w.panel_item(&n1).await?;
    w.shot("assign-request").await?;
    w.click_in_panel(&item.id, "accept").await?;
    w.row_becomes(
        "cb_chatrequests",
        r1,
        "the request accepted in Dynamics",
        |r| org::int(r, "statuscode") == Some(ACCEPTED),
    )
    .await?;
    w.owned_by(s1, DANA).await?;
    w.toast_withdrawn(mark, toast.id).await?;

    let (n2, p2) = w.customer("Pavel");
    let s2 = w
        .org
        .owned_session(Channel::WhatsApp, &n2, &p2, SAM)
        .await?;
    // Requests are made about chats that have been going on for a while.
    w.sentinel().await?;
    let mark = w.mark();
    let r2 = w
        .org
        .request(
            DISCUSS,
            s2,
            SAM,
            DANA,
            &format!("Can you help with {n2}?"),
            None,
        )
        .await?;
    let toast = w.toast(mark, &n2, SYNC).await?;
    let item = w.panel_item(&n2).await?;
    w.click_in_panel(&item.id, "reject").await?;
    let li = format!(".live-list li.notification[data-id=\"{}\"]", item.id);
    let field = format!("{li} .reason-form input.reason-field");
    w.type_into(&field, "   ").await?;
    w.click(&format!("{li} .reason-form button[type=submit]"))
        .await?;
    let error = wait_until(
        Limit::secs(10),
        "the blank reason to be refused",
        || async {
            let t = w
                .text_of(&format!("{li} .reason-form .field-error"))
                .await
                .ok()?;
            (!t.trim().is_empty()).then_some(t)
        },
    )
    .await?;
    check(error.to_lowercase().contains("reason"), || {
        format!("the refusal says {error:?}")
    })?;
    w.shot("blank-reason-refused").await?;
    let row = w.org.row("cb_chatrequests", r2).await?;
    check(org::int(&row, "statuscode") == Some(PENDING), || {
        format!("a blank rejection reached Dynamics: {row}")
    })?;
    let reason = "Busy with a VIP customer";
    w.type_into(&field, reason).await?;
    w.click(&format!("{li} .reason-form button[type=submit]"))
        .await?;
    w.row_becomes(
        "cb_chatrequests",
        r2,
        "the rejection with its reason in Dynamics",
        |r| {
            org::int(r, "statuscode") == Some(REJECTED) && org::text(r, "cb_reason") == Some(reason)
        },
    )
    .await?;
    w.owned_by(s2, SAM).await?;
    w.toast_withdrawn(mark, toast.id).await?;
    w.panel_item_gone(&n2).await?;
    w.shot("rejected").await?;
    Ok(())
}

/// R8: my own requests (made in the Chat UI): the answers reach me, accepted or
/// rejected with the reason; I withdraw one from the panel with a reason.
async fn r8_requester_is_told_and_may_withdraw(w: &mut World) -> Result<(), String> {
    let (n1, p1) = w.customer("Quentin");
    let s1 = w
        .org
        .owned_session(Channel::WhatsApp, &n1, &p1, DANA)
        .await?;
    let (n2, p2) = w.customer("Rosa");
    let s2 = w
        .org
        .owned_session(Channel::WhatsApp, &n2, &p2, DANA)
        .await?;
    let (n3, p3) = w.customer("Stefan");
    let s3 = w
        .org
        .owned_session(Channel::WhatsApp, &n3, &p3, DANA)
        .await?;
    // Requests are made about chats that have been going on for a while.
    w.sentinel().await?;
    let r1 = w
        .org
        .request(ASSIGN, s1, DANA, ALEX, "Spanish speaker needed", None)
        .await?;
    let r2 = w
        .org
        .request(DISCUSS, s2, DANA, SAM, "Second opinion?", None)
        .await?;
    let r3 = w
        .org
        .request(ASSIGN, s3, DANA, ALEX, "Billing question", None)
        .await?;
    for n in [&n1, &n2, &n3] {
        wait_until(
            SYNC,
            &format!("my pending request about {n} in the panel"),
            || async {
                let t = w.text_of(".requests-list").await.ok()?;
                t.contains(n.as_str()).then_some(())
            },
        )
        .await?;
    }
    w.shot("my-pending-requests").await?;

    let mark = w.mark();
    w.org
        .answer_request(ALEX, r1, REJECTED, Some("Not today, sorry"))
        .await?;
    w.org.answer_request(SAM, r2, ACCEPTED, None).await?;
    let rejected = w
        .toast(mark, "Alex Rivera rejected your assign request", SYNC)
        .await?;
    check(rejected.body.contains("Not today, sorry"), || {
        format!("the rejection's reason is not shown: {}", rejected.text())
    })?;
    w.toast(mark, "Sam Patel accepted your discuss request", SYNC)
        .await?;
    w.shot("answers").await?;

    let li = format!(".requests-list li.request[data-request-id=\"{r3}\"]");
    w.click(&format!("{li} .actions button")).await?;
    w.type_into(&format!("{li} .reason-field"), "Solved it myself")
        .await?;
    w.click(&format!("{li} .reason-form button[type=submit]"))
        .await?;
    w.row_becomes(
        "cb_chatrequests",
        r3,
        "the request withdrawn in Dynamics",
        |r| {
            org::int(r, "statuscode") == Some(WITHDRAWN)
                && org::text(r, "cb_reason") == Some("Solved it myself")
        },
    )
    .await?;
    wait_until(SYNC, "the withdrawn request to leave the panel", || async {
        let t = w.text_of(".requests-list").await.ok()?;
        (!t.contains(n3.as_str())).then_some(())
    })
    .await?;
    w.shot("withdrawn").await?;
    Ok(())
}

/// R8: a request to me is taken down when its requester withdraws it, when it is
/// answered elsewhere (the Chat UI), and when it expires unanswered.
async fn r8_request_withdrawn_or_expired_is_taken_down(w: &mut World) -> Result<(), String> {
    let (n1, p1) = w.customer("Tariq");
    let s1 = w
        .org
        .owned_session(Channel::WhatsApp, &n1, &p1, ALEX)
        .await?;
    let (n2, p2) = w.customer("Ursula");
    let s2 = w
        .org
        .owned_session(Channel::WhatsApp, &n2, &p2, SAM)
        .await?;
    let (n3, p3) = w.customer("Viktor");
    let s3 = w
        .org
        .owned_session(Channel::WhatsApp, &n3, &p3, SAM)
        .await?;
    // Requests are made about chats that have been going on for a while.
    w.sentinel().await?;
    let mark = w.mark();
    let r1 = w
        .org
        .request(ASSIGN, s1, ALEX, DANA, &format!("Take over {n1}?"), None)
        .await?;
    let r2 = w
        .org
        .request(DISCUSS, s2, SAM, DANA, &format!("Join {n2}?"), None)
        .await?;
    let expiry = Duration::from_secs(20);
    let _r3 = w
        .org
        .request(
            ASSIGN,
            s3,
            SAM,
            DANA,
            &format!("Quick one: {n3}"),
            Some(expiry.as_secs() as i64),
        )
        .await?;
    let created = Instant::now();
    let t1 = w.toast(mark, &n1, SYNC).await?;
    let t2 = w.toast(mark, &n2, SYNC).await?;
    let t3 = w.toast(mark, &n3, SYNC).await?;
    w.shot("three-requests").await?;

    w.org
        .answer_request(ALEX, r1, WITHDRAWN, Some("Found someone else"))
        .await?;
    w.toast_withdrawn(mark, t1.id).await?;
    // Answered in the Chat UI by me, on another device.
    w.org.answer_request(DANA, r2, ACCEPTED, None).await?;
    w.toast_withdrawn(mark, t2.id).await?;

    let toasts = &w.desk.bus.toasts;
    let closed = wait_until(
        Limit(expiry + SYNC.0),
        "the unanswered request to expire",
        || async {
            toasts
                .closed_by_client_since(mark, t3.id)
                .then(Instant::now)
        },
    )
    .await?;
    check(
        closed.duration_since(created) + Duration::from_secs(2) >= expiry,
        || {
            format!(
                "taken down after {:?}, before it expired",
                closed.duration_since(created)
            )
        },
    )?;
    w.panel_item_gone(&n3).await?;
    w.shot("all-taken-down").await?;
    Ok(())
}

/// R9: a first SMS from a new number: Dismiss hides it from me (Dynamics is not
/// touched) until the customer writes again; Block, confirmed in the panel,
/// blocks the number in Dynamics for everyone: the chat closes and the next
/// message from it notifies nobody.
async fn r9_dismiss_is_mine_only_and_block_is_for_everyone(w: &mut World) -> Result<(), String> {
    let (name, number) = w.customer("Wanda");
    let mark = w.mark();
    let s = w.org.new_session(Channel::Sms, &name, &number).await?;
    w.org
        .customer_writes(s, "Is this the right number?")
        .await?;
    let toast = w.toast(mark, &name, SYNC).await?;
    let keys = toast.action_keys();
    check(
        ["accept", "dismiss", "block"]
            .iter()
            .all(|k| keys.contains(k)),
        || format!("a first SMS offers {keys:?}"),
    )?;
    w.click_toast(toast.id, "dismiss").await?;
    w.panel_item_gone(&name).await?;
    let row = w.org.row("cb_chatsessions", s).await?;
    check(
        org::int(&row, "statecode") == Some(0)
            && org::owner_of(&row).is_some_and(|(kind, _)| kind == "team"),
        || format!("Dismiss changed Dynamics: {row}"),
    )?;
    check(
        w.org
            .rows("cb_blockednumbers", &format!("cb_number eq '{number}'"))
            .await?
            .is_empty(),
        || "Dismiss blocked the number".into(),
    )?;
    w.shot("dismissed").await?;

    let mark = w.mark();
    w.org.customer_writes(s, "Hello again?").await?;
    w.toast(mark, &name, SYNC).await?;
    let item = w.panel_item(&name).await?;
    w.click_in_panel(&item.id, "block").await?;
    let li = format!(".live-list li.notification[data-id=\"{}\"]", item.id);
    w.element(&format!("{li} .inline-dialog button.danger"))
        .await?;
    w.shot("block-confirm").await?;
    w.click(&format!("{li} .inline-dialog button.danger"))
        .await?;
    let org = &w.org;
    let filter = format!("cb_number eq '{number}'");
    wait_until(SYNC, "the number blocked in Dynamics", || async {
        (!org
            .rows("cb_blockednumbers", &filter)
            .await
            .ok()?
            .is_empty())
        .then_some(())
    })
    .await?;
    w.row_becomes("cb_chatsessions", s, "the chat closed as blocked", |r| {
        org::int(r, "statuscode") == Some(3)
    })
    .await?;
    w.panel_item_gone(&name).await?;
    let mark = w.mark();
    let refused = w.org.try_customer_writes(s, "Why am I blocked?").await;
    check(refused.is_err(), || {
        "Dynamics took a message from a blocked number".into()
    })?;
    w.sentinel().await?;
    let after = w.toasts_about(mark, &name);
    check(after.is_empty(), || {
        format!(
            "the blocked number notified: {:?}",
            after.iter().map(|n| n.text()).collect::<Vec<_>>()
        )
    })?;
    w.shot("blocked").await?;
    Ok(())
}

/// R11: with "Enable System Notification" on, a new message plays the message
/// sound (its E6 note is heard on the sound device).
async fn r11_new_message_plays_the_message_sound(w: &mut World) -> Result<(), String> {
    let (name, number) = w.customer("Xavier");
    let s = w
        .org
        .owned_session(Channel::WhatsApp, &name, &number, DANA)
        .await?;
    let mark = w.mark();
    let from = w.desk.recording.position();
    w.org.customer_writes(s, "Ping").await?;
    w.toast(mark, &name, SYNC).await?;
    w.heard(
        from,
        MESSAGE_TONE,
        Duration::from_millis(100),
        Limit::secs(10),
    )
    .await?;
    check(
        chatbell_e2e::sound::windows_with(&w.desk.recording.since(from), CALL_TONE[0]).is_empty(),
        || "a message rang like a call".into(),
    )?;
    Ok(())
}

/// R12: clicking a toast opens that chat's Dynamics deep link in the browser,
/// and the notification is done with.
async fn r12_clicking_a_toast_opens_the_chats_deep_link(w: &mut World) -> Result<(), String> {
    let (name, number) = w.customer("Yara");
    let s = w
        .org
        .owned_session(Channel::Sms, &name, &number, DANA)
        .await?;
    let mark = w.mark();
    w.org.customer_writes(s, "Are you there?").await?;
    let toast = w.toast(mark, &name, SYNC).await?;
    w.panel_item(&name).await?;
    let link = deep_link(w, s);
    check(!w.desk.opened_links().contains(&link), || {
        "opened before the click".into()
    })?;
    w.click_toast(toast.id, "default").await?;
    wait_until(
        Limit::secs(15),
        "the browser to be asked for the chat",
        || async { w.desk.opened_links().contains(&link).then_some(()) },
    )
    .await?;
    w.panel_item_gone(&name).await?;
    let again: Vec<_> = w
        .toasts_about(mark, &name)
        .into_iter()
        .filter(|n| n.at > toast.at)
        .collect();
    check(again.is_empty(), || {
        "the toast came back after the click".into()
    })?;
    Ok(())
}

/// R16: a burst of messages in one chat updates one toast in place, with the
/// newest text and the count.
async fn r16_a_burst_of_messages_updates_one_toast(w: &mut World) -> Result<(), String> {
    let (name, number) = w.customer("Zoe");
    let s = w
        .org
        .owned_session(Channel::WhatsApp, &name, &number, DANA)
        .await?;
    let mark = w.mark();
    for text in ["First", "Second", "Third and last"] {
        w.org.customer_writes(s, text).await?;
    }
    let last = w.toast(mark, "3 new messages", SYNC).await?;
    check(last.body == "3 new messages · Third and last", || {
        format!(
            "R16: the burst's toast says {:?}, not the newest text once counted",
            last.body
        )
    })?;
    let ids: std::collections::BTreeSet<u32> =
        w.toasts_about(mark, &name).iter().map(|n| n.id).collect();
    check(ids.len() == 1, || format!("the burst made toasts {ids:?}"))?;
    w.shot("one-toast").await?;
    Ok(())
}

/// R18: do not disturb (switched on in the panel): no toast and no sound for a
/// new conversation, but the tray's count still moves, and a request addressed
/// to me still comes through.
async fn r18_do_not_disturb_silences_toasts_but_not_the_count_or_requests(
    w: &mut World,
) -> Result<(), String> {
    w.set_dnd(true).await?;
    let result = async {
        w.shot("dnd-on").await?;
        let (name, number) = w.customer("Amir");
        let mark = w.mark();
        let from = w.desk.recording.position();
        let s = w.org.new_session(Channel::WhatsApp, &name, &number).await?;
        w.org.customer_writes(s, "Anyone there?").await?;
        w.wait_badge(Some("1")).await?;
        // A request to me, made after: once it is shown, ChatBell has read past
        // the conversation.
        let (n2, p2) = w.customer("Bianca");
        let s2 = w
            .org
            .owned_session(Channel::WhatsApp, &n2, &p2, ALEX)
            .await?;
        w.org
            .request(
                ASSIGN,
                s2,
                ALEX,
                DANA,
                &format!("Urgent, please: {n2}"),
                None,
            )
            .await?;
        w.toast(mark, &n2, SYNC).await?;
        let leaked = w.toasts_about(mark, &name);
        check(leaked.is_empty(), || {
            "a new conversation toasted during do not disturb".into()
        })?;
        check(
            chatbell_e2e::sound::windows_with(&w.desk.recording.since(from), MESSAGE_TONE)
                .is_empty(),
            || "the message sound played during do not disturb".into(),
        )?;
        w.panel_item(&name).await?;
        w.shot("dnd-request-through").await
    }
    .await;
    let off = w.set_dnd(false).await;
    result.and(off)
}

/// R14 and R17: ChatBell is killed (SIGKILL); meanwhile three customers write,
/// Alex asks me to take a chat, and Sam asks and withdraws. Restarted, ChatBell
/// shows one summary for the chats, the request once, nothing for the withdrawn
/// one, and nothing twice: not what it had shown before it died either.
async fn r14_r17_killed_and_restarted_delivers_once_with_a_summary(
    w: &mut World,
) -> Result<(), String> {
    let (before, pb) = w.customer("Bea");
    let mark = w.mark();
    let s0 = w.org.new_session(Channel::WhatsApp, &before, &pb).await?;
    w.org.customer_writes(s0, "Before the crash").await?;
    w.toast(mark, &before, SYNC).await?;
    w.dana_mut().kill_hard();

    let mut missed = Vec::new();
    for first in ["Cem", "Dora", "Emil"] {
        let (name, number) = w.customer(first);
        let s = w.org.new_session(Channel::Sms, &name, &number).await?;
        w.org.customer_writes(s, "Hello, anyone?").await?;
        missed.push(name);
    }
    let (rq, prq) = w.customer("Fatma");
    let srq = w
        .org
        .owned_session(Channel::WhatsApp, &rq, &prq, ALEX)
        .await?;
    w.org
        .request(ASSIGN, srq, ALEX, DANA, &format!("Please take {rq}"), None)
        .await?;
    let (gone, pg) = w.customer("Goran");
    let sg = w
        .org
        .owned_session(Channel::WhatsApp, &gone, &pg, SAM)
        .await?;
    let rg = w
        .org
        .request(DISCUSS, sg, SAM, DANA, &format!("Never mind {gone}"), None)
        .await?;
    w.org
        .answer_request(SAM, rg, WITHDRAWN, Some("Sorted"))
        .await?;

    let restart = w.mark();
    {
        let desk = &w.desk;
        let dana = w.dana.as_mut().ok_or("no ChatBell")?;
        dana.start_with_panel(desk).await?;
        dana.wait_online().await?;
    }
    w.wait_for_tray().await?;
    let summary = w.toast(restart, "chats need you", SYNC).await?;
    w.toast(restart, &rq, SYNC).await?;
    w.shot("restarted").await?;
    // One more poll's worth of changes read after the restart.
    w.sentinel().await?;
    let pid = w.dana().pid;
    let since: Vec<_> = w
        .desk
        .bus
        .toasts
        .notifies_since(restart)
        .into_iter()
        .filter(|n| n.pid == Some(pid))
        .collect();
    let about = |text: &str| since.iter().filter(|n| n.text().contains(text)).count();
    for name in &missed {
        check(about(name) == 0, || {
            format!(
                "{name} got a toast of its own instead of the summary: {}",
                summary.text()
            )
        })?;
    }
    check(about(&rq) == 1, || {
        format!("the request was toasted {} times", about(&rq))
    })?;
    check(about(&gone) == 0, || {
        "the request withdrawn while away was shown".into()
    })?;
    check(about(&before) == 0, || {
        "what was shown before the crash was shown again".into()
    })?;
    check(about("chats need you") == 1, || {
        "more than one summary".into()
    })?;
    let n = summary
        .summary
        .split_whitespace()
        .next()
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(0);
    check(n >= 3, || {
        format!("the summary counts {n}: {}", summary.text())
    })?;
    Ok(())
}
