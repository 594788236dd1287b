//! One scenario per rule, as an agent meets it.

use super::World;
use chatbell_e2e::org::{self, Channel, ALEX};
use chatbell_e2e::wait::SYNC;

pub async fn run(w: &mut World, name: &str) -> Result<(), String> {
    match name {
        "r2_new_conversation_reaches_me_and_is_withdrawn_when_another_agent_takes_it" => {
            r2_new_conversation_reaches_me_and_is_withdrawn_when_another_agent_takes_it(w).await
        }
        "r2_accept_in_the_panel_takes_the_session_in_dynamics" => {
            r2_accept_in_the_panel_takes_the_session_in_dynamics(w).await
        }
        "r3_tray_icon_pixels_show_the_unread_count" => {
            r3_tray_icon_pixels_show_the_unread_count(w).await
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
    let dana = w.org.user_id(org::DANA).await?;
    let org = &w.org;
    chatbell_e2e::wait::wait_until(SYNC, "Dynamics to show the session as Dana's", || async {
        let row = org.row("cb_chatsessions", s).await.ok()?;
        (org::owner_of(&row).map(|(_, id)| id) == Some(dana)).then_some(())
    })
    .await?;
    let mark2 = w.mark();
    let _ = mark2;
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
    w.org.agent_takes(org::DANA, sb).await?;
    w.org
        .agent_replies(org::DANA, sb, "Hello, how can I help?")
        .await?;
    w.wait_badge(None).await?;
    w.shot("none-unread").await?;
    Ok(())
}
