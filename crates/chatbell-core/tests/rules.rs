//! The notification rules (R1–R12, R14–R17 and R20 of `docs/rules.md`), each shown
//! through the engine's public surface: events in, effects and state out.
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_core::*;
use support::*;

fn team_session(desk: &mut Desk, n: u128) -> Session {
    let s = session(n, WA, Owner::Team(DEFAULT_TEAM));
    desk.sync(vec![Change::Session(s.clone())]);
    s
}

fn owned_session(desk: &mut Desk, n: u128, owner: UserId) -> Session {
    let s = session(n, WA, Owner::User(owner));
    desk.sync(vec![Change::Session(s.clone())]);
    s
}

// ----- R1 eligibility ---------------------------------------------------------------

#[test]
fn r1_agent_outside_the_default_team_gets_nothing() {
    let mut desk = Desk::with_teams(vec![OTHER_TEAM]);
    let mut s = team_session(&mut desk, 1);
    let out = desk.customer_writes(&mut s, "hello");
    assert!(shows(&out).is_empty(), "{out:#?}");
    assert_eq!(desk.engine.unread(), 0);
}

#[test]
fn r1_assigned_team_membership_is_required_when_configured() {
    // Member of the default team only: WhatsApp has an assigned team, SMS has not.
    let mut desk = Desk::with_teams(vec![DEFAULT_TEAM]);
    let mut wa = team_session(&mut desk, 1);
    assert!(shows(&desk.customer_writes(&mut wa, "hi")).is_empty());
    let mut sms = session(2, SMS, Owner::Team(DEFAULT_TEAM));
    desk.sync(vec![Change::Session(sms.clone())]);
    let out = desk.customer_writes(&mut sms, "hi by sms");
    assert_eq!(shows(&out).len(), 1);
    assert_eq!(shows(&out)[0].kind, NotificationKind::NewConversation);
}

#[test]
fn r1_eligibility_lost_mid_conversation_withdraws_everything_without_restart() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    desk.customer_writes(&mut s, "hello");
    assert!(desk.live(NotificationKey::Chat(s.id)));
    assert_eq!(desk.engine.unread(), 1);

    let out = desk.sync(vec![Change::MyTeams(vec![OTHER_TEAM])]);
    assert_eq!(
        desk.state(NotificationKey::Chat(s.id)),
        Some(withdrawn(WithdrawReason::NotEligible))
    );
    assert_eq!(unread_set(&out), Some(0));
    // And the next message does not notify.
    assert!(shows(&desk.customer_writes(&mut s, "anyone?")).is_empty());
}

#[test]
fn r1_configuration_change_takes_effect_without_restart() {
    let mut desk = Desk::with_teams(vec![DEFAULT_TEAM]);
    let mut s = team_session(&mut desk, 1);
    assert!(shows(&desk.customer_writes(&mut s, "one")).is_empty());
    // The admin drops the assigned team from the WhatsApp configuration.
    let mut cfg = whatsapp_config();
    cfg.assigned_team = None;
    desk.sync(vec![Change::Configuration(cfg)]);
    let out = desk.customer_writes(&mut s, "two");
    assert_eq!(shows(&out).len(), 1);
}

// ----- R2 new conversation ----------------------------------------------------------

#[test]
fn r2_new_conversation_notifies_team_member_with_accept() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    let out = desk.customer_writes(&mut s, "Hi, my order is late");
    let shown = shows(&out);
    assert_eq!(shown.len(), 1);
    let n = shown[0];
    assert_eq!(n.kind, NotificationKind::NewConversation);
    assert_eq!(n.key, NotificationKey::Chat(s.id));
    assert_eq!(n.actions, vec![Action::Open, Action::Accept]);
    assert!(n.toast);
    assert!(n.body.contains("my order is late"));
}

#[test]
fn r2_accept_takes_ownership_with_the_rows_etag() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    desk.customer_writes(&mut s, "hello");
    let out = desk
        .act(NotificationKey::Chat(s.id), Action::Accept)
        .unwrap();
    let cmd = Desk::write_back(&out);
    assert_eq!(
        cmd.op,
        WriteOp::TakeOwnership {
            session: s.id,
            etag: s.etag.clone(),
            me: ME,
            precondition: ChatPrecondition::Queued,
        }
    );
    assert_eq!(
        desk.state(NotificationKey::Chat(s.id)),
        Some(Lifecycle::ActedOn {
            action: Action::Accept
        })
    );
    // Dynamics confirms: the chat opens, and the ownership change is not mistaken
    // for an assignment through Dynamics (R7).
    let out = desk.handle(Event::WriteBackDone {
        command: cmd.id,
        outcome: WriteBackOutcome::Done,
    });
    assert!(out.contains(&Effect::OpenChat(s.id)));
    let out = desk.owner_becomes(&mut s, Owner::User(ME));
    assert!(shows(&out).is_empty(), "{out:#?}");
}

#[test]
fn r2_taken_by_another_agent_withdraws_my_notification() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    desk.customer_writes(&mut s, "hello");
    let out = desk.owner_becomes(&mut s, Owner::User(ALICE));
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Chat(s.id),
            withdrawn(WithdrawReason::TakenByOther)
        )]
    );
    assert_eq!(desk.engine.unread(), 0);
    // Alice's later messages are hers: nothing for me (R4).
    assert!(shows(&desk.customer_writes(&mut s, "thanks Alice")).is_empty());
}

#[test]
fn r15_accept_after_a_sync_said_someone_else_took_it_tells_who_and_writes_nothing() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    desk.customer_writes(&mut s, "hello");
    // A poll read that Alice took the chat, and took the item down, a moment
    // before the agent's Accept arrived (from a toast still on screen, or the
    // command line): the agent is told who took it, as R15 promises.
    desk.owner_becomes(&mut s, Owner::User(ALICE));
    let out = desk
        .act(NotificationKey::Chat(s.id), Action::Accept)
        .unwrap();
    assert!(
        !out.iter().any(|e| matches!(e, Effect::WriteBack(_))),
        "nothing written: {out:?}"
    );
    let told = shows(&out);
    assert_eq!(told.len(), 1, "{out:?}");
    assert_eq!(told[0].kind, NotificationKind::ActionFailed);
    assert!(told[0].toast);
    assert!(
        told[0]
            .body
            .contains("Alice Adams accepted this chat first"),
        "{:?}",
        told[0]
    );
    // Other actions on the item taken down are still refused as before.
    let err = desk
        .act(NotificationKey::Chat(s.id), Action::Dismiss)
        .unwrap_err();
    assert_eq!(err, ActionError::NotLive);
}

#[test]
fn r2_every_eligible_team_member_is_notified() {
    let mut me = Desk::new();
    let mut bob = Desk::as_agent(BOB, vec![DEFAULT_TEAM, ASSIGNED_TEAM]);
    let mut s = team_session(&mut me, 1);
    bob.sync(vec![Change::Session(s.clone())]);
    let changes = me.customer_message_changes(&mut s, "anyone there?");
    assert_eq!(shows(&me.sync(changes.clone())).len(), 1);
    assert_eq!(shows(&bob.sync(changes)).len(), 1);
}

// ----- R3 unread count --------------------------------------------------------------

#[test]
fn r3_unread_counts_sessions_visible_to_me_with_unread_messages() {
    let mut desk = Desk::new();
    let mut mine = owned_session(&mut desk, 1, ME);
    let mut team = team_session(&mut desk, 2);
    let mut alices = owned_session(&mut desk, 3, ALICE);
    let mut other_team = session(4, WA, Owner::Team(OTHER_TEAM));
    desk.sync(vec![Change::Session(other_team.clone())]);

    let out = desk.customer_writes(&mut mine, "a");
    assert_eq!(unread_set(&out), Some(1));
    let out = desk.customer_writes(&mut team, "b");
    assert_eq!(unread_set(&out), Some(2));
    // Two messages in one session still count one session.
    let out = desk.customer_writes(&mut team, "b2");
    assert_eq!(unread_set(&out), None, "count unchanged, no effect");
    assert_eq!(desk.engine.unread(), 2);
    // Not visible to me: someone else's chat, another team's chat.
    desk.customer_writes(&mut alices, "c");
    desk.customer_writes(&mut other_team, "d");
    assert_eq!(desk.engine.unread(), 2);
    // Replying clears it, in the same cycle.
    let out = desk.agent_writes(&mut mine, ME, "on it");
    assert_eq!(unread_set(&out), Some(1));
    let out = desk.owner_becomes(&mut team, Owner::User(BOB));
    assert_eq!(unread_set(&out), Some(0));
}

#[test]
fn r3_unread_reads_zero_when_nothing_is_unread() {
    let mut desk = Desk::new();
    let out = desk.sync(vec![]);
    assert_eq!(desk.engine.unread(), 0);
    assert!(unread_set(&out).is_none(), "already reported at start");
}

// ----- R4 view chat -----------------------------------------------------------------

#[test]
fn r4_owner_alone_gets_view_chat() {
    let mut me = Desk::new();
    let mut bob = Desk::as_agent(BOB, vec![DEFAULT_TEAM, ASSIGNED_TEAM]);
    let mut s = owned_session(&mut me, 1, ME);
    bob.sync(vec![Change::Session(s.clone())]);
    let changes = me.customer_message_changes(&mut s, "thanks!");
    let out = me.sync(changes.clone());
    let shown = shows(&out);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].kind, NotificationKind::NewMessage);
    assert_eq!(shown[0].actions, vec![Action::Open]);
    assert!(shows(&bob.sync(changes)).is_empty());
}

#[test]
fn r4_view_chat_opens_the_chat_and_closes_the_toast() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    desk.customer_writes(&mut s, "hi");
    let out = desk.act(NotificationKey::Chat(s.id), Action::Open).unwrap();
    assert!(out.contains(&Effect::OpenChat(s.id)));
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Chat(s.id),
            Lifecycle::ActedOn {
                action: Action::Open
            }
        )]
    );
}

#[test]
fn r4_reply_withdraws_the_message_notification() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    desk.customer_writes(&mut s, "hi");
    let out = desk.agent_writes(&mut s, ME, "hello!");
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Chat(s.id),
            withdrawn(WithdrawReason::Answered)
        )]
    );
}

// ----- R5 calls ---------------------------------------------------------------------

fn ring(desk: &mut Desk, s: &mut Session) -> Vec<Effect> {
    s.call_state = CallState::Ringing;
    s.call_started_on = Some(desk.now);
    desk.bump(s);
    desk.sync(vec![Change::Session(s.clone())])
}

#[test]
fn r5_call_rings_for_the_owner_until_answered() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    let out = ring(&mut desk, &mut s);
    let shown = shows(&out);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].kind, NotificationKind::IncomingCall);
    assert!(out.contains(&Effect::StartRinging(s.id)));
    // The same ringing row synced again does not ring twice.
    let again = desk.sync(vec![Change::Session(s.clone())]);
    assert!(shows(&again).is_empty() && !again.contains(&Effect::StartRinging(s.id)));
    // Answered (in the Chat UI): ringing stops and the toast goes.
    s.call_state = CallState::InCall;
    desk.bump(&mut s);
    let out = desk.sync(vec![Change::Session(s.clone())]);
    assert!(out.contains(&Effect::StopRinging(s.id)));
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Call(s.id),
            withdrawn(WithdrawReason::CallEnded)
        )]
    );
}

#[test]
fn r5_call_on_team_session_reaches_every_eligible_member_and_not_others() {
    let mut me = Desk::new();
    let mut outsider = Desk::as_agent(OUTSIDER, vec![OTHER_TEAM]);
    let mut s = team_session(&mut me, 1);
    outsider.sync(vec![Change::Session(s.clone())]);
    let out = ring(&mut me, &mut s);
    assert!(out.contains(&Effect::StartRinging(s.id)));
    let out = outsider.sync(vec![Change::Session(s.clone())]);
    assert!(shows(&out).is_empty());
}

#[test]
fn r5_call_on_someone_elses_session_does_not_ring_for_me() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ALICE);
    let out = ring(&mut desk, &mut s);
    assert!(shows(&out).is_empty());
}

#[test]
fn r5_dismissed_call_stops_ringing_and_stays_quiet() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    ring(&mut desk, &mut s);
    let out = desk
        .act(NotificationKey::Call(s.id), Action::Dismiss)
        .unwrap();
    assert!(out.contains(&Effect::StopRinging(s.id)));
    assert_eq!(
        desk.state(NotificationKey::Call(s.id)),
        Some(Lifecycle::Dismissed)
    );
    // Still ringing in Dynamics: no new ring for the same call.
    desk.bump(&mut s);
    let out = desk.sync(vec![Change::Session(s.clone())]);
    assert!(!out.contains(&Effect::StartRinging(s.id)));
    // A new call later rings again.
    desk.advance(Span::minutes(30));
    s.call_state = CallState::None;
    desk.sync(vec![Change::Session(s.clone())]);
    let out = ring(&mut desk, &mut s);
    assert!(out.contains(&Effect::StartRinging(s.id)));
}

#[test]
fn r5_click_opens_the_chat_where_the_call_is_answered() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    ring(&mut desk, &mut s);
    let out = desk.act(NotificationKey::Call(s.id), Action::Open).unwrap();
    assert!(out.contains(&Effect::OpenChat(s.id)));
    assert!(out.contains(&Effect::HideToast(NotificationKey::Call(s.id))));
    // Still live (in the panel) and ringing until answered.
    assert!(desk.live(NotificationKey::Call(s.id)));
}

// ----- R6 assign to me after the idle timeout ------------------------------------

/// Alice owns a chat and the customer is waiting; returns the session.
fn idle_chat(desk: &mut Desk) -> Session {
    let mut s = owned_session(desk, 1, ALICE);
    desk.customer_writes(&mut s, "hello?");
    s
}

#[test]
fn r6_assign_to_me_offered_after_idle_timeout() {
    let mut desk = Desk::new();
    let s = idle_chat(&mut desk);
    let key = TimerKey::Idle(s.id);
    assert!(desk.log.contains(&Effect::ArmTimer(key, desk.now + IDLE)));
    desk.advance(IDLE - Span::seconds(1));
    assert!(desk.fire_due_timers().is_empty());
    desk.advance(Span::seconds(1));
    let out = desk.fire_due_timers();
    let shown = shows(&out);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].kind, NotificationKind::AssignToMe);
    assert_eq!(
        shown[0].actions,
        vec![Action::Open, Action::Yes, Action::No]
    );
    assert_eq!(count_sounds(&out, SoundKind::Request), 1);
}

#[test]
fn r6_idle_is_measured_from_the_oldest_unanswered_customer_message() {
    let mut desk = Desk::new();
    let mut s = idle_chat(&mut desk);
    let first = desk.now;
    desk.advance(Span::minutes(3));
    desk.customer_writes(&mut s, "still there?");
    // The deadline stays at first + idle, not pushed by the second message.
    assert_eq!(
        desk.engine
            .armed_timers()
            .find(|(k, _)| **k == TimerKey::Idle(s.id))
            .map(|(_, t)| *t),
        Some(first + IDLE)
    );
    desk.advance(Span::minutes(2));
    assert_eq!(shows(&desk.fire_due_timers()).len(), 1);
}

#[test]
fn r6_no_offer_to_the_owner_or_outside_the_assigned_team() {
    let mut owner = Desk::new();
    let mut s = owned_session(&mut owner, 1, ME);
    owner.customer_writes(&mut s, "hello?");
    owner.advance(IDLE);
    assert!(shows(&owner.fire_due_timers()).is_empty());

    let mut default_only = Desk::with_teams(vec![DEFAULT_TEAM]);
    // SMS has no assigned team: the default team is offered; WhatsApp needs the
    // assigned team, which this agent is not in.
    let mut wa = session(2, WA, Owner::User(ALICE));
    default_only.sync(vec![Change::Session(wa.clone())]);
    default_only.customer_writes(&mut wa, "hi");
    let mut sms = session(3, SMS, Owner::User(ALICE));
    default_only.sync(vec![Change::Session(sms.clone())]);
    default_only.customer_writes(&mut sms, "hi");
    default_only.advance(IDLE);
    let out = default_only.fire_due_timers();
    let shown = shows(&out);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].session, Some(sms.id));
}

#[test]
fn r6_yes_moves_ownership_to_me_and_opens_the_chat() {
    let mut desk = Desk::new();
    let mut s = idle_chat(&mut desk);
    desk.advance(IDLE);
    desk.fire_due_timers();
    let out = desk.act(NotificationKey::Offer(s.id), Action::Yes).unwrap();
    let cmd = Desk::write_back(&out);
    assert_eq!(
        cmd.op,
        WriteOp::TakeOwnership {
            session: s.id,
            etag: s.etag.clone(),
            me: ME,
            // R15: Yes goes through only while Alice still has not replied.
            precondition: ChatPrecondition::StillIdle {
                owner: ALICE,
                since: s.last_customer_message_on.unwrap(),
            },
        }
    );
    let out = desk.handle(Event::WriteBackDone {
        command: cmd.id,
        outcome: WriteBackOutcome::Done,
    });
    assert!(out.contains(&Effect::OpenChat(s.id)));
    let out = desk.owner_becomes(&mut s, Owner::User(ME));
    assert!(
        shows(&out).is_empty(),
        "no R7 toast for my own Yes: {out:#?}"
    );
    assert_eq!(
        desk.engine.unread(),
        1,
        "the chat is mine now, with its unread message"
    );
}

#[test]
fn r6_no_keeps_ownership_and_the_offer_is_gone_for_me() {
    let mut desk = Desk::new();
    let mut s = idle_chat(&mut desk);
    desk.advance(IDLE);
    desk.fire_due_timers();
    let out = desk.act(NotificationKey::Offer(s.id), Action::No).unwrap();
    assert!(out.iter().all(|e| !matches!(e, Effect::WriteBack(_))));
    assert!(!desk.live(NotificationKey::Offer(s.id)));
    // More messages in the same unanswered stretch do not bring it back.
    desk.customer_writes(&mut s, "hello??");
    desk.advance(Span::minutes(15));
    assert!(shows(&desk.fire_due_timers()).is_empty());
}

#[test]
fn r6_owner_replying_before_the_offer_is_answered_withdraws_it() {
    let mut desk = Desk::new();
    let mut s = idle_chat(&mut desk);
    desk.advance(IDLE);
    desk.fire_due_timers();
    assert!(desk.live(NotificationKey::Offer(s.id)));
    let out = desk.agent_writes(&mut s, ALICE, "sorry, here now");
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Offer(s.id),
            withdrawn(WithdrawReason::OwnerReplied)
        )]
    );
    assert!(
        out.contains(&Effect::DisarmTimer(TimerKey::Idle(s.id)))
            || !desk
                .engine
                .armed_timers()
                .any(|(k, _)| *k == TimerKey::Idle(s.id))
    );
    // Yes on the withdrawn offer is refused.
    assert_eq!(
        desk.act(NotificationKey::Offer(s.id), Action::Yes)
            .unwrap_err(),
        ActionError::NotLive
    );
}

#[test]
fn r6_owner_replying_before_the_timeout_prevents_the_offer() {
    let mut desk = Desk::new();
    let mut s = idle_chat(&mut desk);
    desk.advance(Span::minutes(2));
    let out = desk.agent_writes(&mut s, ALICE, "on it");
    assert!(out.contains(&Effect::DisarmTimer(TimerKey::Idle(s.id))));
    desk.advance(IDLE);
    assert!(shows(&desk.fire_due_timers()).is_empty());
}

#[test]
fn r6_someone_else_taking_the_session_withdraws_the_offer() {
    let mut desk = Desk::new();
    let mut s = idle_chat(&mut desk);
    desk.advance(IDLE);
    desk.fire_due_timers();
    let out = desk.owner_becomes(&mut s, Owner::User(BOB));
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Offer(s.id),
            withdrawn(WithdrawReason::TakenByOther)
        )]
    );
}

#[test]
fn r6_a_new_owner_gets_the_whole_idle_timeout_before_the_next_offer() {
    let mut desk = Desk::new();
    let mut s = idle_chat(&mut desk);
    desk.advance(IDLE);
    assert_eq!(shows(&desk.fire_due_timers()).len(), 1);
    // Bob takes it (ChatBell writes the time he accepted): the customer still
    // waits, but Bob has only just become responsible.
    s.accepted_on = Some(desk.now);
    desk.owner_becomes(&mut s, Owner::User(BOB));
    assert!(shows(&desk.fire_due_timers()).is_empty(), "not at once");
    desk.advance(IDLE - Span::seconds(1));
    assert!(shows(&desk.fire_due_timers()).is_empty());
    desk.advance(Span::seconds(1));
    let out = desk.fire_due_timers();
    let shown = shows(&out);
    assert_eq!(shown.len(), 1, "{out:#?}");
    assert_eq!(shown[0].peer, Some(BOB));
}

/// An idle chat of Alice's (session `n`) offered to me; I say Yes, and Dynamics
/// answers that `winner` (named `name`, if it says) was faster. What I am told.
fn my_yes_loses(me: &mut Desk, n: u128, winner: UserId, name: Option<&str>) -> Vec<Effect> {
    let mut s = owned_session(me, n, ALICE);
    let changes = me.customer_message_changes(&mut s, "hello?");
    me.sync(changes);
    me.advance(IDLE);
    me.fire_due_timers();
    let mine = Desk::write_back(&me.act(NotificationKey::Offer(s.id), Action::Yes).unwrap());
    me.handle(Event::WriteBackDone {
        command: mine.id,
        outcome: WriteBackOutcome::TooLate(Refusal::TakenBy {
            owner: winner,
            owner_name: name.map(str::to_string),
        }),
    })
}

#[test]
fn r15_the_loser_is_told_the_winners_name_even_when_it_never_met_that_agent() {
    let mut me = Desk::new();
    let stranger = UserId::from_u128(77);
    let out = my_yes_loses(&mut me, 1, stranger, Some("Sam Supervisor"));
    assert!(
        shows(&out)[0]
            .body
            .contains("Sam Supervisor already took this chat"),
        "{out:#?}"
    );
    // Without a name from Dynamics either, it still says something true.
    let out = my_yes_loses(&mut me, 2, stranger, None);
    assert!(shows(&out)[0]
        .body
        .contains("Another agent already took this chat"));
}

#[test]
fn r21_what_only_informs_can_be_cleared_from_the_panel() {
    let mut me = Desk::new();
    // "Too late" (R15).
    let out = my_yes_loses(&mut me, 1, BOB, None);
    let too_late = shows(&out)[0].clone();
    assert_eq!(too_late.kind, NotificationKind::ActionFailed);
    // A catch-up summary (R17).
    let mut team: Vec<Session> = (10..=12)
        .map(|n| session(n, WA, Owner::Team(DEFAULT_TEAM)))
        .collect();
    me.sync(team.iter().cloned().map(Change::Session).collect());
    let mut changes = Vec::new();
    for s in team.iter_mut() {
        changes.extend(me.customer_message_changes(s, "while you were away"));
    }
    let out = me.catch_up(changes);
    let summary = toasts(&out)
        .into_iter()
        .find(|n| n.kind == NotificationKind::CatchUpSummary)
        .expect("a summary")
        .clone();
    for n in [too_late, summary] {
        assert_eq!(n.actions, vec![Action::Open, Action::Dismiss], "{n:?}");
        let out = me.act(n.key, Action::Dismiss).unwrap();
        assert_eq!(closes(&out), vec![(n.key, Lifecycle::Dismissed)]);
        assert!(!me.live(n.key));
    }
}

/// A tiny stand-in for Dynamics' optimistic concurrency and ChatBell's writer: a
/// write with a stale etag gets 412, and the row is judged against the action's
/// precondition.
fn dynamics_take(row: &mut Session, cmd: &Command) -> WriteBackOutcome {
    let WriteOp::TakeOwnership {
        etag,
        me,
        precondition,
        ..
    } = &cmd.op
    else {
        panic!("not an ownership change: {cmd:?}");
    };
    if *etag != row.etag {
        match precondition.check(row, None, *me) {
            Verdict::Holds => {}
            Verdict::Done => return WriteBackOutcome::Done,
            Verdict::Refused(r) => return WriteBackOutcome::TooLate(r),
        }
    }
    row.owner = Owner::User(*me);
    row.etag = format!("{}+", row.etag);
    WriteBackOutcome::Done
}

#[test]
fn r6_two_agents_saying_yes_exactly_one_wins_and_the_other_is_told_who() {
    let mut me = Desk::new();
    let mut bob = Desk::as_agent(BOB, vec![DEFAULT_TEAM, ASSIGNED_TEAM]);
    let mut s = owned_session(&mut me, 1, ALICE);
    bob.sync(vec![Change::Session(s.clone())]);
    let changes = me.customer_message_changes(&mut s, "hello?");
    me.sync(changes.clone());
    bob.sync(changes);
    for d in [&mut me, &mut bob] {
        d.advance(IDLE);
        assert_eq!(shows(&d.fire_due_timers()).len(), 1);
    }
    let mine = Desk::write_back(&me.act(NotificationKey::Offer(s.id), Action::Yes).unwrap());
    let bobs = Desk::write_back(&bob.act(NotificationKey::Offer(s.id), Action::Yes).unwrap());

    let mut dynamics = s.clone();
    let bob_outcome = dynamics_take(&mut dynamics, &bobs);
    let my_outcome = dynamics_take(&mut dynamics, &mine);
    assert_eq!(bob_outcome, WriteBackOutcome::Done);
    assert!(matches!(
        my_outcome,
        WriteBackOutcome::TooLate(Refusal::TakenBy { .. })
    ));

    let out = me.handle(Event::WriteBackDone {
        command: mine.id,
        outcome: my_outcome,
    });
    let told = shows(&out);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, NotificationKind::ActionFailed);
    assert!(
        told[0].body.contains("Bob Brown already took this chat"),
        "{:?}",
        told[0]
    );
    assert!(!out.contains(&Effect::OpenChat(s.id)));

    let out = bob.handle(Event::WriteBackDone {
        command: bobs.id,
        outcome: bob_outcome,
    });
    assert!(out.contains(&Effect::OpenChat(s.id)));
}

// ----- R7 assigned through Dynamics ---------------------------------------------

#[test]
fn r7_assigned_through_dynamics_notifies_the_new_owner() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ALICE);
    let out = desk.owner_becomes(&mut s, Owner::User(ME));
    let shown = shows(&out);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].kind, NotificationKind::AssignedToMe);
    assert_eq!(shown[0].actions, vec![Action::Open], "no accept/reject");
    let out = desk
        .act(NotificationKey::Assigned(s.id), Action::Open)
        .unwrap();
    assert!(out.contains(&Effect::OpenChat(s.id)));
}

#[test]
fn r7_assigned_in_the_same_sync_as_a_new_message_still_says_assigned() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ALICE);
    s.owner = Owner::User(ME);
    s.accepted_on = Some(desk.now);
    let changes = desk.customer_message_changes(&mut s, "are you the new agent?");
    let out = desk.sync(changes);
    let kinds: Vec<NotificationKind> = toasts(&out).iter().map(|n| n.kind).collect();
    assert!(kinds.contains(&NotificationKind::AssignedToMe), "{kinds:?}");
}

#[test]
fn r7_not_raised_for_sessions_already_mine_on_first_sight() {
    // At start (the catch-up), however recently they were accepted.
    let mut desk = Desk::new();
    let out = desk.catch_up(vec![Change::Session(session(1, WA, Owner::User(ME)))]);
    assert!(shows(&out).is_empty());
    // In a live poll, when accepted long ago (another change made it visible).
    let mut desk = Desk::new();
    desk.advance(Span::hours(3));
    let out = desk.sync(vec![Change::Session(session(2, WA, Owner::User(ME)))]);
    assert!(shows(&out).is_empty(), "{out:#?}");
}

#[test]
fn r7_a_chat_first_seen_already_assigned_to_me_moments_ago_says_so() {
    let mut desk = Desk::new();
    desk.advance(Span::seconds(5));
    let mut s = session(1, WA, Owner::User(ME));
    s.accepted_on = Some(desk.now - Span::seconds(3));
    let changes = desk.customer_message_changes(&mut s, "hello");
    let out = desk.sync(changes);
    let kinds: Vec<NotificationKind> = toasts(&out).iter().map(|n| n.kind).collect();
    assert!(kinds.contains(&NotificationKind::AssignedToMe), "{kinds:?}");
}

// ----- R8 assign and discuss requests -------------------------------------------

fn assign_request_to_me(desk: &mut Desk) -> (Session, ChatRequest) {
    let s = owned_session(desk, 1, ALICE);
    let r = request(1, RequestKind::Assign, s.id, ALICE, ME, desk.now);
    desk.sync(vec![Change::Request(r.clone())]);
    (s, r)
}

#[test]
fn r8_target_is_notified_with_accept_and_reject() {
    let mut desk = Desk::new();
    let s = owned_session(&mut desk, 1, ALICE);
    let r = request(1, RequestKind::Assign, s.id, ALICE, ME, desk.now);
    let out = desk.sync(vec![Change::Request(r.clone())]);
    let shown = shows(&out);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].kind, NotificationKind::AssignRequest);
    assert_eq!(
        shown[0].actions,
        vec![Action::Open, Action::Accept, Action::Reject]
    );
    assert!(shown[0].title.contains("Alice Adams"));
    assert_eq!(count_sounds(&out, SoundKind::Request), 1);
    assert!(out.contains(&Effect::ArmTimer(
        TimerKey::RequestExpiry(r.id),
        r.created_on + REQUEST_TIMEOUT
    )));
}

#[test]
fn r8_accepting_an_assign_request_moves_ownership() {
    let mut desk = Desk::new();
    let (s, r) = assign_request_to_me(&mut desk);
    let out = desk
        .act(NotificationKey::Request(r.id), Action::Accept)
        .unwrap();
    let cmd = Desk::write_back(&out);
    assert_eq!(
        cmd.op,
        WriteOp::AnswerRequest {
            request: r.id,
            etag: r.etag.clone(),
            accept: true,
            reason: None,
            take_session: Some((s.id, s.etag.clone())),
            me: ME,
            session_owner: Some(s.owner),
        }
    );
}

#[test]
fn r15_accepting_an_assign_request_another_agent_took_first_says_who() {
    // What Dynamics says now; what I am told; whether the request stays in my
    // panel (it is still pending when only its chat stood in the way).
    for (now, told, stays) in [
        (
            Refusal::TakenBy {
                owner: BOB,
                owner_name: Some("Bob Brown".into()),
            },
            "Bob Brown already took this chat.",
            true,
        ),
        // The requester still has the chat, but withdrew the request.
        (
            Refusal::RequestWithdrawn,
            "Alice Adams withdrew the request.",
            false,
        ),
    ] {
        let mut desk = Desk::new();
        let (_, r) = assign_request_to_me(&mut desk);
        let key = NotificationKey::Request(r.id);
        let out = desk.act_answered(key, Action::Accept, WriteBackOutcome::TooLate(now));
        let told_toasts = toasts(&out);
        assert_eq!(told_toasts.len(), 1, "one toast, the refusal: {out:?}");
        assert_eq!(told_toasts[0].body, told);
        assert_eq!(desk.live(key), stays, "{told}");
    }
}

#[test]
fn r8_accepting_a_discuss_request_leaves_ownership() {
    let mut desk = Desk::new();
    let s = owned_session(&mut desk, 1, ALICE);
    let r = request(1, RequestKind::Discuss, s.id, ALICE, ME, desk.now);
    desk.sync(vec![Change::Request(r.clone())]);
    let out = desk
        .act(NotificationKey::Request(r.id), Action::Accept)
        .unwrap();
    let WriteOp::AnswerRequest {
        take_session,
        accept,
        ..
    } = Desk::write_back(&out).op
    else {
        panic!("expected an answer");
    };
    assert!(accept);
    assert_eq!(take_session, None);
}

#[test]
fn r8_blank_reject_reason_is_refused_and_nothing_changes() {
    let mut desk = Desk::new();
    let (_, r) = assign_request_to_me(&mut desk);
    let key = NotificationKey::Request(r.id);
    for blank in ["", "   ", "\n\t"] {
        let err = desk
            .act_with_reason(key, Action::Reject, blank)
            .unwrap_err();
        assert_eq!(err, ActionError::ReasonRequired);
        assert!(err.to_string().contains("reason is required"));
    }
    assert_eq!(
        desk.act(key, Action::Reject).unwrap_err(),
        ActionError::ReasonRequired
    );
    assert!(desk.live(key), "still open after the refusal");
    let out = desk
        .act_with_reason(key, Action::Reject, "  I'm off in 5 minutes ")
        .unwrap();
    let WriteOp::AnswerRequest { accept, reason, .. } = Desk::write_back(&out).op else {
        panic!("expected an answer");
    };
    assert!(!accept);
    assert_eq!(reason.as_deref(), Some("I'm off in 5 minutes"));
}

#[test]
fn r8_requester_is_told_the_outcome() {
    let mut desk = Desk::new();
    let s = owned_session(&mut desk, 1, ME);
    let mut accepted = request(1, RequestKind::Assign, s.id, ME, BOB, desk.now);
    let mut rejected = request(2, RequestKind::Discuss, s.id, ME, ALICE, desk.now);
    let out = desk.sync(vec![
        Change::Request(accepted.clone()),
        Change::Request(rejected.clone()),
    ]);
    assert!(
        shows(&out).is_empty(),
        "my own requests raise nothing while pending"
    );
    accepted.status = RequestStatus::Accepted;
    rejected.status = RequestStatus::Rejected;
    rejected.reason = Some("Busy with a VIP".into());
    let out = desk.sync(vec![Change::Request(accepted), Change::Request(rejected)]);
    let shown = shows(&out);
    assert_eq!(shown.len(), 2);
    assert!(shown
        .iter()
        .any(|n| n.title == "Bob Brown accepted your assign request"));
    assert!(shown
        .iter()
        .any(|n| n.title == "Alice Adams rejected your discuss request"
            && n.body == "Reason: Busy with a VIP"));
}

#[test]
fn r8_requester_is_told_even_when_the_request_was_answered_between_two_syncs() {
    let mut desk = Desk::new();
    let s = owned_session(&mut desk, 1, ME);
    let mut fresh = request(3, RequestKind::Assign, s.id, ME, BOB, desk.now);
    fresh.status = RequestStatus::Rejected;
    fresh.reason = Some("On a call".into());
    let mut stale = request(4, RequestKind::Assign, s.id, ME, ALICE, desk.now);
    stale.status = RequestStatus::Accepted;
    stale.modified_on = desk.now - Span::hours(2);
    let out = desk.sync(vec![Change::Request(fresh), Change::Request(stale)]);
    let shown = shows(&out);
    assert_eq!(shown.len(), 1, "only the recent answer is news: {shown:?}");
    assert_eq!(shown[0].title, "Bob Brown rejected your assign request");
    assert_eq!(shown[0].body, "Reason: On a call");
}

#[test]
fn r8_request_withdrawn_by_the_requester_withdraws_my_notification() {
    let mut desk = Desk::new();
    let (_, mut r) = assign_request_to_me(&mut desk);
    r.status = RequestStatus::Withdrawn;
    let out = desk.sync(vec![Change::Request(r.clone())]);
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Request(r.id),
            withdrawn(WithdrawReason::WithdrawnByRequester)
        )]
    );
    assert!(out.contains(&Effect::DisarmTimer(TimerKey::RequestExpiry(r.id))));
}

#[test]
fn r8_requester_withdraws_with_a_reason() {
    let mut desk = Desk::new();
    let s = owned_session(&mut desk, 1, ME);
    let r = request(1, RequestKind::Assign, s.id, ME, BOB, desk.now);
    desk.sync(vec![Change::Request(r.clone())]);
    let err = desk
        .try_handle(Event::WithdrawRequest {
            request: r.id,
            reason: " ".into(),
        })
        .unwrap_err();
    assert_eq!(err, ActionError::ReasonRequired);
    let out = desk.handle(Event::WithdrawRequest {
        request: r.id,
        reason: "Customer left".into(),
    });
    assert_eq!(
        Desk::write_back(&out).op,
        WriteOp::WithdrawRequest {
            request: r.id,
            etag: r.etag.clone(),
            reason: "Customer left".into()
        }
    );
    // Someone else's request cannot be withdrawn from my desk.
    let theirs = request(2, RequestKind::Assign, s.id, ALICE, BOB, desk.now);
    desk.sync(vec![Change::Request(theirs.clone())]);
    assert_eq!(
        desk.try_handle(Event::WithdrawRequest {
            request: theirs.id,
            reason: "x".into()
        })
        .unwrap_err(),
        ActionError::UnknownRequest
    );
}

#[test]
fn r8_my_pending_requests_lists_only_mine_still_pending() {
    let mut desk = Desk::new();
    let s = owned_session(&mut desk, 1, ME);
    let mine = request(1, RequestKind::Assign, s.id, ME, BOB, desk.now);
    let theirs = request(2, RequestKind::Discuss, s.id, ALICE, ME, desk.now);
    let mut answered = request(3, RequestKind::Discuss, s.id, ME, ALICE, desk.now);
    answered.status = RequestStatus::Rejected;
    desk.sync(vec![
        Change::Request(mine.clone()),
        Change::Request(theirs),
        Change::Request(answered),
    ]);
    let ids: Vec<RequestId> = desk
        .engine
        .my_pending_requests()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![mine.id]);
}

#[test]
fn r8_unanswered_request_expires_on_both_sides() {
    let mut target = Desk::new();
    let mut requester = Desk::as_agent(ALICE, vec![DEFAULT_TEAM, ASSIGNED_TEAM]);
    let (s, r) = assign_request_to_me(&mut target);
    requester.sync(vec![Change::Session(s.clone()), Change::Request(r.clone())]);
    for d in [&mut target, &mut requester] {
        d.advance(REQUEST_TIMEOUT);
    }
    let out = target.fire_due_timers();
    assert_eq!(
        closes(&out),
        vec![(NotificationKey::Request(r.id), Lifecycle::Expired)]
    );
    assert_eq!(
        target
            .act(NotificationKey::Request(r.id), Action::Accept)
            .unwrap_err(),
        ActionError::NotLive
    );
    let out = requester.fire_due_timers();
    assert_eq!(
        Desk::write_back(&out).op,
        WriteOp::ExpireRequest {
            request: r.id,
            etag: r.etag.clone()
        }
    );
    assert!(shows(&out)
        .iter()
        .any(|n| n.kind == NotificationKind::RequestOutcome && n.title.contains("expired")));
    // When Dynamics reports it expired, the requester is not told twice.
    let mut expired = r.clone();
    expired.status = RequestStatus::Expired;
    assert!(shows(&requester.sync(vec![Change::Request(expired)])).is_empty());
}

#[test]
fn r8_request_answered_elsewhere_withdraws_my_notification() {
    let mut desk = Desk::new();
    let (_, mut r) = assign_request_to_me(&mut desk);
    r.status = RequestStatus::Accepted; // accepted in the Chat UI
    let out = desk.sync(vec![Change::Request(r.clone())]);
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Request(r.id),
            withdrawn(WithdrawReason::AnsweredElsewhere)
        )]
    );
}

#[test]
fn r8_accepting_a_request_no_longer_pending_is_refused() {
    let mut desk = Desk::new();
    let (_, r) = assign_request_to_me(&mut desk);
    desk.advance(REQUEST_TIMEOUT);
    // The expiry timer has not been delivered yet; the engine still knows the time.
    assert_eq!(
        desk.act(NotificationKey::Request(r.id), Action::Accept)
            .unwrap_err(),
        ActionError::NoLongerPending
    );
}

// ----- R9 / R10 first message from a new number -----------------------------------

fn first_contact(desk: &mut Desk, config: ConfigId) -> Session {
    let mut s = session(1, config, Owner::Team(DEFAULT_TEAM));
    s.first_contact = true;
    desk.sync(vec![Change::Session(s.clone())]);
    s
}

#[test]
fn r9_first_sms_from_a_new_number_offers_accept_dismiss_block() {
    let mut desk = Desk::new();
    let mut s = first_contact(&mut desk, SMS);
    let out = desk.customer_writes(&mut s, "hi");
    assert_eq!(
        shows(&out)[0].actions,
        vec![Action::Open, Action::Accept, Action::Dismiss, Action::Block]
    );
}

#[test]
fn r10_whatsapp_first_messages_offer_dismiss_and_block_too() {
    let mut desk = Desk::new();
    let mut s = first_contact(&mut desk, WA);
    let out = desk.customer_writes(&mut s, "hi");
    assert_eq!(
        shows(&out)[0].actions,
        vec![Action::Open, Action::Accept, Action::Dismiss, Action::Block]
    );
}

#[test]
fn r9_known_number_offers_no_dismiss_or_block() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    let out = desk.customer_writes(&mut s, "hi again");
    assert!(!shows(&out)[0].offers(Action::Block));
    assert_eq!(
        desk.act(NotificationKey::Chat(s.id), Action::Block)
            .unwrap_err(),
        ActionError::NotOffered { action: "block" }
    );
}

#[test]
fn r9_dismiss_hides_the_chat_for_me_only_until_the_next_message() {
    let mut me = Desk::new();
    let mut bob = Desk::as_agent(BOB, vec![DEFAULT_TEAM, ASSIGNED_TEAM]);
    let mut s = first_contact(&mut me, SMS);
    bob.sync(vec![Change::Session(s.clone())]);
    let changes = me.customer_message_changes(&mut s, "hi");
    me.sync(changes.clone());
    bob.sync(changes);

    let out = me
        .act(NotificationKey::Chat(s.id), Action::Dismiss)
        .unwrap();
    assert!(out.contains(&Effect::Dismiss(s.id)));
    assert_eq!(unread_set(&out), Some(0));
    assert!(me.engine.is_dismissed(&s.id));
    assert!(
        out.iter().all(|e| !matches!(e, Effect::WriteBack(_))),
        "mine alone: nothing sent"
    );
    // Bob still sees it.
    assert!(bob.live(NotificationKey::Chat(s.id)));
    assert_eq!(bob.engine.unread(), 1);
    // Re-syncing the same rows keeps it hidden.
    assert!(shows(&me.sync(vec![Change::Session(s.clone())])).is_empty());
    // The next message brings it back.
    me.advance(Span::minutes(1));
    let out = me.customer_writes(&mut s, "hello??");
    assert!(out.contains(&Effect::Undismiss(s.id)));
    assert_eq!(shows(&out).len(), 1);
    assert_eq!(me.engine.unread(), 1);
}

#[test]
fn r9_block_makes_the_number_inactive_for_every_agent() {
    let mut me = Desk::new();
    let mut bob = Desk::as_agent(BOB, vec![DEFAULT_TEAM, ASSIGNED_TEAM]);
    let mut s = first_contact(&mut me, SMS);
    bob.sync(vec![Change::Session(s.clone())]);
    let changes = me.customer_message_changes(&mut s, "spam spam");
    me.sync(changes.clone());
    bob.sync(changes);

    let out = me.act(NotificationKey::Chat(s.id), Action::Block).unwrap();
    assert_eq!(
        Desk::write_back(&out).op,
        WriteOp::BlockNumber {
            session: s.id,
            number: s.number.clone(),
            channel: Channel::Sms,
            etag: Some(s.etag.clone()),
            anyway: false,
            me: Some(ME),
        }
    );
    // Dynamics creates the blocked number and closes the session (the add-on's
    // plug-in); both desks sync it.
    let blocked = BlockedNumber {
        id: BlockedId::from_u128(77),
        number: s.number.clone(),
        channel: Channel::Sms,
    };
    s.active = false;
    s.status = SessionStatus::Blocked;
    let sync = vec![Change::Blocked(blocked.clone()), Change::Session(s.clone())];
    me.sync(sync.clone());
    let out = bob.sync(sync);
    assert_eq!(
        closes(&out),
        vec![(
            NotificationKey::Chat(s.id),
            withdrawn(WithdrawReason::SessionClosed)
        )]
    );
    assert_eq!(bob.engine.unread(), 0);
    // A new session from the blocked number notifies nobody.
    let mut again = session(9, SMS, Owner::Team(DEFAULT_TEAM));
    again.number = s.number.clone();
    bob.sync(vec![Change::Session(again.clone())]);
    assert!(shows(&bob.customer_writes(&mut again, "let me in")).is_empty());
    // Until it is unblocked.
    bob.sync(vec![Change::BlockedRemoved(blocked.id)]);
    assert_eq!(shows(&bob.customer_writes(&mut again, "please")).len(), 1);
}

#[test]
fn r15_block_after_a_colleague_accepted_offers_block_anyway_and_the_owner_is_told() {
    let mut me = Desk::new();
    let mut bob = Desk::as_agent(BOB, vec![DEFAULT_TEAM, ASSIGNED_TEAM]);
    let mut s = first_contact(&mut me, SMS);
    let changes = me.customer_message_changes(&mut s, "spam spam");
    me.sync(changes);
    // Bob accepted it a moment before my Block reached Dynamics.
    let mut bobs = s.clone();
    bobs.owner = Owner::User(BOB);
    bobs.accepted_on = Some(me.now);
    bobs.etag = format!("{}+", s.etag);
    bob.sync(vec![Change::Session(bobs.clone())]);
    let refusal = match ChatPrecondition::Blockable.check(&bobs, Some("Bob Brown"), ME) {
        Verdict::Refused(r) => r,
        other => panic!("Block must be refused: {other:?}"),
    };
    let out = me.act_answered(
        NotificationKey::Chat(s.id),
        Action::Block,
        WriteBackOutcome::TooLate(refusal),
    );
    let told = toasts(&out)[0].clone();
    assert_eq!(told.body, "Bob Brown accepted this chat first.");
    assert_eq!(
        told.actions,
        vec![Action::Open, Action::BlockAnyway, Action::Dismiss]
    );
    // Blocking anyway is a second, explicit choice: the number only.
    let out = me.act(told.key, Action::BlockAnyway).unwrap();
    assert_eq!(
        Desk::write_back(&out).op,
        WriteOp::BlockNumber {
            session: s.id,
            number: s.number.clone(),
            channel: Channel::Sms,
            etag: None,
            anyway: true,
            me: Some(ME),
        }
    );
    // Dynamics closes Bob's chat as blocked; it is still his, and he is told.
    bobs.active = false;
    bobs.status = SessionStatus::Blocked;
    let out = bob.sync(vec![Change::Session(bobs.clone())]);
    let key = NotificationKey::Blocked(s.id);
    let shown = toasts(&out);
    assert_eq!(shown.len(), 1, "{out:#?}");
    assert_eq!(shown[0].key, key);
    assert_eq!(shown[0].kind, NotificationKind::NumberBlocked);
    // Once: the same row again tells nothing new.
    assert!(toasts(&bob.sync(vec![Change::Session(bobs)])).is_empty());
    bob.act(key, Action::Dismiss).unwrap();
    assert!(!bob.live(key));
    assert_eq!(bob.engine.check_invariants(), Ok(()));
}

#[test]
fn r15_each_refusal_says_what_is_true_now() {
    // Judged by the action's precondition against the row as Dynamics has it.
    let mut me = Desk::new();
    let mut s = idle_chat(&mut me);
    let since = s.last_customer_message_on.unwrap();
    let yes = ChatPrecondition::StillIdle {
        owner: ALICE,
        since,
    };
    // The customer wrote again: still idle, Yes goes through.
    me.advance(Span::seconds(30));
    me.customer_writes(&mut s, "anyone?");
    assert_eq!(yes.check(&s, Some("Alice Adams"), ME), Verdict::Holds);
    // Alice replied: refused, and said so.
    let mut replied = s.clone();
    replied.last_agent_message_on = Some(me.now);
    let Verdict::Refused(r) = yes.check(&replied, Some("Alice Adams"), ME) else {
        panic!("refused");
    };
    let name = |_: UserId, given: Option<&str>| given.unwrap_or("?").to_string();
    assert_eq!(
        r.words(Attempt::AssignToMe, &name, None, None),
        "Alice Adams replied meanwhile."
    );
    // Already mine (a command sent twice): done.
    let mut mine = s.clone();
    mine.owner = Owner::User(ME);
    assert_eq!(yes.check(&mine, None, ME), Verdict::Done);
    // A request answered or withdrawn is not answered again.
    let (_, mut r) = assign_request_to_me(&mut me);
    for (status, told) in [
        (
            RequestStatus::Withdrawn,
            "Alice Adams withdrew the request.",
        ),
        (RequestStatus::Expired, "This request expired."),
        (
            RequestStatus::Rejected,
            "This request was already answered (on another device or in Dynamics).",
        ),
    ] {
        r.status = status;
        let Verdict::Refused(refusal) = check_request(&r, RequestStatus::Accepted, me.now) else {
            panic!("refused");
        };
        assert_eq!(
            refusal.words(Attempt::AnswerRequest, &name, Some("Alice Adams"), None),
            told
        );
    }
    r.status = RequestStatus::Accepted;
    assert_eq!(
        check_request(&r, RequestStatus::Accepted, me.now),
        Verdict::Done
    );
}

#[test]
fn r9_a_blocked_number_moved_to_another_number_unblocks_the_first() {
    let mut desk = Desk::new();
    let mut s = session(1, WA, Owner::Team(DEFAULT_TEAM));
    desk.sync(vec![Change::Session(s.clone())]);
    desk.customer_writes(&mut s, "hello");
    assert_eq!(desk.engine.unread(), 1);
    let mut blocked = BlockedNumber {
        id: BlockedId::from_u128(77),
        number: s.number.clone(),
        channel: Channel::WhatsApp,
    };
    desk.sync(vec![Change::Blocked(blocked.clone())]);
    assert_eq!(desk.engine.unread(), 0);
    // The blocked-number row is edited in Dynamics to hold another number: this
    // customer is no longer blocked, and their unread chat counts again.
    blocked.number = "+31699999999".into();
    let out = desk.sync(vec![Change::Blocked(blocked)]);
    assert_eq!(unread_set(&out), Some(1));
    assert_eq!(desk.engine.unread(), 1);
    assert_eq!(desk.engine.check_invariants(), Ok(()));
}

// ----- R11 system sound ------------------------------------------------------------

#[test]
fn r11_sound_plays_for_new_messages_when_enabled_and_not_muted() {
    let mut desk = Desk::new();
    let mut wa = team_session(&mut desk, 1); // system notification on
    let out = desk.customer_writes(&mut wa, "hi");
    assert_eq!(count_sounds(&out, SoundKind::Message), 1);

    let mut sms = session(2, SMS, Owner::Team(DEFAULT_TEAM)); // off
    desk.sync(vec![Change::Session(sms.clone())]);
    let out = desk.customer_writes(&mut sms, "hi");
    assert_eq!(shows(&out).len(), 1);
    assert_eq!(count_sounds(&out, SoundKind::Message), 0);

    desk.handle(Event::SetMuted(true));
    let out = desk.customer_writes(&mut wa, "hello?");
    assert_eq!(count_sounds(&out, SoundKind::Message), 0);
    assert_eq!(updates(&out).len(), 1, "still notified, silently");
}

#[test]
fn r11_muting_stops_a_ringing_call_and_new_calls_do_not_ring() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    ring(&mut desk, &mut s);
    let out = desk.handle(Event::SetMuted(true));
    assert!(out.contains(&Effect::StopRinging(s.id)));
    let mut t = owned_session(&mut desk, 2, ME);
    let out = ring(&mut desk, &mut t);
    assert_eq!(shows(&out).len(), 1);
    assert!(!out.contains(&Effect::StartRinging(t.id)));
}

// ----- R12 click-through -------------------------------------------------------------

#[test]
fn r12_every_notifications_main_action_opens_the_chat() {
    let mut desk = Desk::new();
    let mut team = team_session(&mut desk, 1);
    desk.customer_writes(&mut team, "a");
    let mut alices = owned_session(&mut desk, 2, ALICE);
    desk.owner_becomes(&mut alices, Owner::User(ME)); // R7
    let mut call = owned_session(&mut desk, 3, ME);
    ring(&mut desk, &mut call);
    let s4 = owned_session(&mut desk, 4, ALICE);
    desk.sync(vec![Change::Request(request(
        1,
        RequestKind::Discuss,
        s4.id,
        ALICE,
        ME,
        desk.now,
    ))]);

    let live: Vec<Notification> = desk
        .engine
        .live_notifications()
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(live.len(), 4);
    for n in live {
        assert_eq!(n.actions[0], Action::Open, "{n:?}");
        let out = desk.act(n.key, Action::Open).unwrap();
        assert!(out.contains(&Effect::OpenChat(n.session.unwrap())), "{n:?}");
        assert!(
            out.iter().any(
                |e| matches!(e, Effect::Close { key, .. } | Effect::HideToast(key) if *key == n.key)
            ),
            "the toast goes away: {out:?}"
        );
    }
}

// ----- R14 nothing lost ------------------------------------------------------------

#[test]
fn r14_the_same_rows_delivered_twice_notify_once() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    let changes = desk.customer_message_changes(&mut s, "hello");
    assert_eq!(shows(&desk.sync(changes.clone())).len(), 1);
    let again = desk.sync(changes.clone());
    assert!(
        shows(&again).is_empty() && updates(&again).is_empty(),
        "{again:#?}"
    );
    // Even split across pages, in reverse order.
    let mut rev = changes;
    rev.reverse();
    assert!(toasts(&desk.sync(rev)).is_empty());
}

#[test]
fn r14_restored_engine_does_not_repeat_and_delivers_what_was_due() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    desk.customer_writes(&mut s, "hello");
    let mut idle = owned_session(&mut desk, 2, ALICE);
    desk.customer_writes(&mut idle, "anyone?");

    // What a store would keep: the rows, the notifications, the timers.
    let mut rows = agents();
    rows.push(Change::Configuration(whatsapp_config()));
    rows.push(Change::Configuration(sms_config()));
    rows.push(Change::MyTeams(vec![DEFAULT_TEAM, ASSIGNED_TEAM]));
    rows.push(Change::Session(s.clone()));
    rows.push(Change::Session(idle.clone()));
    let snapshot = Snapshot {
        me: Some(ME),
        rows,
        message_stats: vec![(
            idle.id,
            MessageStats {
                last_customer: idle.last_customer_message_on,
                last_agent: None,
                first_unreplied: idle.last_customer_message_on,
                ..Default::default()
            },
        )],
        notifications: desk.engine.notifications().cloned().collect(),
        dismissed: vec![],
        pending: vec![],
        timers: desk.engine.armed_timers().map(|(k, t)| (*k, *t)).collect(),
        muted: false,
    };
    // ChatBell was closed for an hour: the idle timeout expired meanwhile.
    let later = desk.now + Span::hours(1);
    let (mut engine, effects) = Engine::restore(snapshot, later);
    assert!(effects.contains(&Effect::SetUnread(1)));
    assert!(effects.contains(&Effect::ArmTimer(TimerKey::Idle(idle.id), desk.now + IDLE)));
    assert!(
        shows(&effects).is_empty(),
        "nothing repeated at start: {effects:#?}"
    );
    // The same rows again: still nothing new.
    let out = engine
        .handle(
            Event::Sync {
                changes: vec![Change::Session(s.clone()), Change::Session(idle.clone())],
                mode: SyncMode::CatchUp,
            },
            later,
        )
        .unwrap();
    assert!(toasts(&out).is_empty(), "{out:#?}");
    // The expired timer fires once, at start.
    let out = engine
        .handle(Event::TimerFired(TimerKey::Idle(idle.id)), later)
        .unwrap();
    assert_eq!(shows(&out).len(), 1);
    let out = engine
        .handle(Event::TimerFired(TimerKey::Idle(idle.id)), later)
        .unwrap();
    assert!(shows(&out).is_empty());
}

#[test]
fn r14_withdrawn_while_away_is_not_delivered() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    // While ChatBell was away: a message came, and Alice took the chat.
    let mut changes = desk.customer_message_changes(&mut s, "hello");
    s.owner = Owner::User(ALICE);
    s.accepted_on = Some(desk.now);
    desk.bump(&mut s);
    changes.push(Change::Session(s.clone()));
    let out = desk.catch_up(changes);
    assert!(shows(&out).is_empty(), "{out:#?}");
}

#[test]
fn r15_ownership_actions_refused_clearly_when_offline() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    desk.customer_writes(&mut s, "hello");
    desk.handle(Event::Connectivity { online: false });
    let err = desk
        .act(NotificationKey::Chat(s.id), Action::Accept)
        .unwrap_err();
    assert_eq!(err, ActionError::Offline);
    assert!(err.to_string().contains("offline"));
    assert!(desk.live(NotificationKey::Chat(s.id)), "nothing lost");
}

#[test]
fn r15_failed_write_back_says_why_and_gives_the_item_back() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    desk.customer_writes(&mut s, "hello");
    let out = desk.act_answered(
        NotificationKey::Chat(s.id),
        Action::Accept,
        WriteBackOutcome::Refused {
            message: "You do not have permission to assign this record.".into(),
        },
    );
    let shown = shows(&out);
    assert!(shown
        .iter()
        .any(|n| n.kind == NotificationKind::ActionFailed && n.body.contains("permission")));
    assert!(desk.live(NotificationKey::Chat(s.id)));
    // And a later assignment through Dynamics is R7 again, not mistaken for mine.
    let out = desk.owner_becomes(&mut s, Owner::User(ME));
    assert!(shows(&out)
        .iter()
        .any(|n| n.kind == NotificationKind::AssignedToMe));
}

#[test]
fn r15_accept_when_no_longer_eligible_is_refused() {
    let mut desk = Desk::new();
    let mut s = first_contact(&mut desk, SMS);
    desk.customer_writes(&mut s, "hi");
    let key = NotificationKey::Chat(s.id);
    // Membership dropped: the notification is withdrawn, so acting on it is refused.
    desk.sync(vec![Change::MyTeams(vec![])]);
    assert_eq!(
        desk.act(key, Action::Accept).unwrap_err(),
        ActionError::NotLive
    );
}

// ----- R16 one toast per conversation -----------------------------------------------

#[test]
fn r16_a_burst_of_messages_updates_one_toast() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    let first = desk.customer_writes(&mut s, "hi");
    assert_eq!(shows(&first).len(), 1);
    for (i, text) in ["are you there", "hello?", "my order 1234"]
        .iter()
        .enumerate()
    {
        desk.advance(Span::seconds(2));
        let out = desk.customer_writes(&mut s, text);
        assert!(shows(&out).is_empty());
        let up = updates(&out);
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].key, NotificationKey::Chat(s.id));
        assert_eq!(up[0].count, i as u32 + 2);
        assert!(up[0].body.contains(text), "newest preview: {}", up[0].body);
    }
    // Several messages in one sync batch count each.
    let mut changes = desk.customer_message_changes(&mut s, "one");
    desk.advance(Span::seconds(1));
    changes.extend(desk.customer_message_changes(&mut s, "two"));
    let out = desk.sync(changes);
    assert_eq!(updates(&out)[0].count, 6);
    assert!(updates(&out)[0].body.contains("two"));
    assert_eq!(
        count_sounds(&out, SoundKind::Message),
        1,
        "one sound per batch"
    );
}

#[test]
fn r16_messages_of_the_same_second_show_the_last_one_written() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    // Three messages within one second (`createdon` has a one-second grain), whose
    // ids happen to sort the other way round; the add-on's row says which came last.
    let at = desk.now;
    let texts = ["First", "Second", "Third"];
    let mut changes: Vec<Change> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Change::Message(Message {
                id: MessageId::from_u128(990 - i as u128),
                session: s.id,
                direction: Direction::FromCustomer,
                body: text.to_string(),
                created_on: at,
                created_by: None,
            })
        })
        .collect();
    s.last_customer_message_on = Some(at);
    s.last_message_preview = "Third".into();
    s.unread_count = 3;
    desk.bump(&mut s);
    changes.insert(0, Change::Session(s.clone()));
    let out = desk.sync(changes);
    let n = shows(&out)[0];
    assert_eq!(n.count, 3);
    assert_eq!(n.body, "3 new messages · Third");
}

// ----- R17 catch-up ------------------------------------------------------------------

#[test]
fn r17_catch_up_is_one_summary_plus_the_decisions() {
    let mut desk = Desk::new();
    let mut sessions: Vec<Session> = (1..=7)
        .map(|n| session(n, WA, Owner::Team(DEFAULT_TEAM)))
        .collect();
    desk.sync(sessions.iter().cloned().map(Change::Session).collect());
    let mut call = owned_session(&mut desk, 20, ME);
    let s30 = owned_session(&mut desk, 30, ALICE);

    // Back after a gap: seven chats with messages, a call ringing, a request.
    let mut changes = Vec::new();
    for s in sessions.iter_mut() {
        changes.extend(desk.customer_message_changes(s, "while you were away"));
    }
    call.call_state = CallState::Ringing;
    call.call_started_on = Some(desk.now);
    changes.push(Change::Session(call.clone()));
    changes.push(Change::Request(request(
        1,
        RequestKind::Assign,
        s30.id,
        ALICE,
        ME,
        desk.now,
    )));
    let out = desk.catch_up(changes);

    let toasted = toasts(&out);
    let kinds: Vec<NotificationKind> = toasted.iter().map(|n| n.kind).collect();
    assert_eq!(toasted.len(), 3, "{kinds:?}");
    let summary = toasted
        .iter()
        .find(|n| n.kind == NotificationKind::CatchUpSummary)
        .unwrap();
    assert_eq!(summary.title, "7 chats need you");
    assert!(kinds.contains(&NotificationKind::IncomingCall));
    assert!(kinds.contains(&NotificationKind::AssignRequest));
    // The chats are in the panel, not lost.
    assert_eq!(desk.engine.unread(), 7);
    assert_eq!(
        desk.engine
            .live_notifications()
            .iter()
            .filter(|n| n.kind == NotificationKind::NewConversation)
            .count(),
        7
    );
    assert_eq!(
        count_sounds(&out, SoundKind::Message),
        1,
        "one sound, not seven"
    );
    // Clicking the summary opens the panel.
    let out = desk.act(NotificationKey::CatchUp, Action::Open).unwrap();
    assert!(out.contains(&Effect::OpenPanel));
}

/// The title of the catch-up summary shown or updated in `out`.
fn summary_title(out: &[Effect]) -> String {
    toasts(out)
        .into_iter()
        .find(|n| n.kind == NotificationKind::CatchUpSummary)
        .map(|n| n.title.clone())
        .expect("the summary is shown or updated")
}

#[test]
fn r17_a_later_catch_up_counts_the_chats_the_summary_still_stands_for() {
    let mut desk = Desk::new();
    let mut first: Vec<Session> = (1..=3).map(|n| team_session(&mut desk, n)).collect();
    let mut changes = Vec::new();
    for s in first.iter_mut() {
        changes.extend(desk.customer_message_changes(s, "while you were away"));
    }
    let out = desk.catch_up(changes);
    assert_eq!(summary_title(&out), "3 chats need you");

    // Away again (a restart, an outage): two more, the first three still untouched.
    desk.advance(Span::minutes(5));
    let mut changes = Vec::new();
    for n in 4..=5 {
        let mut s = session(n, WA, Owner::Team(DEFAULT_TEAM));
        changes.push(Change::Session(s.clone()));
        changes.extend(desk.customer_message_changes(&mut s, "me too"));
    }
    let out = desk.catch_up(changes);
    assert_eq!(summary_title(&out), "5 chats need you");
    assert_eq!(
        toasts(&out).len(),
        1,
        "the two new ones are in the summary, not toasts of their own"
    );

    // One of the first three is taken elsewhere meanwhile: not counted any more.
    desk.advance(Span::minutes(5));
    let mut taken = first[0].clone();
    taken.owner = Owner::User(ALICE);
    taken.accepted_on = Some(desk.now);
    let mut s6 = session(6, WA, Owner::Team(DEFAULT_TEAM));
    let mut changes = vec![Change::Session(taken), Change::Session(s6.clone())];
    changes.extend(desk.customer_message_changes(&mut s6, "hello"));
    let out = desk.catch_up(changes);
    assert_eq!(summary_title(&out), "5 chats need you");
}

#[test]
fn r17_a_chat_whose_own_toast_is_updated_is_not_counted_in_the_summary_too() {
    let mut me = Desk::new();
    let mut team: Vec<Session> = (10..=13)
        .map(|n| session(n, WA, Owner::Team(DEFAULT_TEAM)))
        .collect();
    me.sync(team.iter().cloned().map(Change::Session).collect());
    // Chat 10 was toasted before the gap, and its toast is still up.
    let changes = me.customer_message_changes(&mut team[0], "first");
    me.sync(changes);
    let first = NotificationKey::Chat(team[0].id);
    assert!(me.live(first));
    // During the gap every chat got news.
    let mut changes = Vec::new();
    for s in team.iter_mut() {
        changes.extend(me.customer_message_changes(s, "while you were away"));
    }
    let out = me.catch_up(changes);
    // Chat 10 is told in its own toast, updated in place...
    assert!(
        toasts(&out).iter().any(|n| n.key == first),
        "chat 10's toast is updated: {out:#?}"
    );
    // ...and the summary counts the other three once each.
    let summary = toasts(&out)
        .into_iter()
        .find(|n| n.kind == NotificationKind::CatchUpSummary)
        .expect("a summary")
        .clone();
    assert_eq!(summary.count, 3);
    assert_eq!(summary.title, "3 chats need you");
}

#[test]
fn r17_a_single_missed_chat_is_its_own_toast() {
    let mut desk = Desk::new();
    let mut s = team_session(&mut desk, 1);
    let changes = desk.customer_message_changes(&mut s, "just one");
    let out = desk.catch_up(changes);
    let toasted = toasts(&out);
    assert_eq!(toasted.len(), 1);
    assert_eq!(toasted[0].kind, NotificationKind::NewConversation);
}

// ----- the agent's input is checked ----------------------------------------------------

#[test]
fn unknown_notification_or_action_is_refused_without_change() {
    let mut desk = Desk::new();
    let err = desk
        .act(NotificationKey::Chat(sid(404)), Action::Accept)
        .unwrap_err();
    assert_eq!(err, ActionError::UnknownNotification);
    let mut s = owned_session(&mut desk, 1, ME);
    desk.customer_writes(&mut s, "hi");
    let err = desk
        .act(NotificationKey::Chat(s.id), Action::Yes)
        .unwrap_err();
    assert_eq!(err, ActionError::NotOffered { action: "yes" });
    assert!(desk.live(NotificationKey::Chat(s.id)));
}

#[test]
fn notification_ids_and_actions_round_trip_as_text() {
    let keys = [
        NotificationKey::Chat(sid(1)),
        NotificationKey::Call(sid(2)),
        NotificationKey::Offer(sid(3)),
        NotificationKey::Assigned(sid(4)),
        NotificationKey::Request(rid(5)),
        NotificationKey::Outcome(rid(6)),
        NotificationKey::Info(CommandId::from_u128(7)),
        NotificationKey::CatchUp,
        NotificationKey::ReplyWindow(sid(8)),
        NotificationKey::Blocked(sid(9)),
    ];
    for k in keys {
        assert_eq!(k.to_string().parse::<NotificationKey>().unwrap(), k);
    }
    for bad in [
        "",
        "chat:",
        "chat:not-a-uuid",
        "nope:00000000-0000-0000-0000-000000000001",
        "chat",
    ] {
        assert!(bad.parse::<NotificationKey>().is_err(), "{bad}");
    }
    assert_eq!("reject".parse::<Action>().unwrap(), Action::Reject);
    assert!("Reject!".parse::<Action>().is_err());
}

#[test]
fn hostile_customer_text_is_clipped_to_one_line() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    s.name = "Evil\u{202e}Name\n<script>".repeat(50);
    desk.sync(vec![Change::Session(s.clone())]);
    let body = "x".repeat(1_000_000);
    let out = desk.customer_writes(&mut s, &body);
    let n = shows(&out)[0];
    assert!(n.body.chars().count() <= engine_preview_limit() + 1);
    assert!(!n.title.contains('\n'));
    assert!(n.title.chars().count() < 200);
}

fn engine_preview_limit() -> usize {
    chatbell_core::engine::PREVIEW_CHARS
}

// ----- R20 reply window ------------------------------------------------------------

/// Advance to `at` after `from` and fire what is due.
fn fire_at(desk: &mut Desk, from: Ts, at: Span) -> Vec<Effect> {
    desk.now = from + at;
    desk.fire_due_timers()
}

#[test]
fn r20_owner_is_warned_an_hour_before_the_reply_window_closes() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    let wrote = desk.now;
    desk.customer_writes(&mut s, "Can you send the invoice?");
    desk.agent_writes(&mut s, ME, "Sure, one moment");
    let key = NotificationKey::ReplyWindow(s.id);

    let early = fire_at(&mut desk, wrote, Span::hours(23) - Span::minutes(1));
    assert!(shows(&early).is_empty(), "{early:#?}");

    let out = fire_at(&mut desk, wrote, Span::hours(23));
    let shown = shows(&out);
    assert_eq!(shown.len(), 1, "{out:#?}");
    let n = shown[0];
    assert_eq!(n.key, key);
    assert_eq!(n.kind, NotificationKind::ReplyWindowClosing);
    assert_eq!(n.session, Some(s.id));
    assert_eq!(n.actions, vec![Action::Open, Action::Dismiss]);
    assert!(n.toast);
    assert!(n.body.contains("60 min"), "{}", n.body);
    assert_eq!(count_sounds(&out, SoundKind::Message), 1);

    // Once the window has closed, the warning goes with it.
    let out = fire_at(&mut desk, wrote, Span::hours(24));
    assert_eq!(closes(&out), vec![(key, Lifecycle::Expired)]);
    assert!(desk
        .engine
        .armed_timers()
        .all(|(k, _)| *k != TimerKey::ReplyWindow(s.id)));
}

#[test]
fn r20_customer_writing_again_withdraws_the_warning_and_restarts_the_window() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    let first = desk.now;
    desk.customer_writes(&mut s, "hello");
    fire_at(&mut desk, first, Span::hours(23) + Span::minutes(30));
    let key = NotificationKey::ReplyWindow(s.id);
    assert!(desk.live(key));

    let again = desk.now;
    let out = desk.customer_writes(&mut s, "still there?");
    assert!(
        closes(&out).contains(&(key, withdrawn(WithdrawReason::CustomerWrote))),
        "{out:#?}"
    );
    // Nothing at the old window's end; the warning comes back 23 h after the new message.
    assert!(shows(&fire_at(&mut desk, first, Span::hours(24))).is_empty());
    let out = fire_at(&mut desk, again, Span::hours(23));
    assert_eq!(shows(&out).len(), 1, "{out:#?}");
    assert_eq!(
        desk.notification(key).and_then(|n| n.anchor),
        Some(again + REPLY_WINDOW)
    );
}

#[test]
fn r20_no_warning_for_sms_or_for_a_session_someone_else_owns() {
    let mut desk = Desk::new();
    let start = desk.now;
    let mut sms = session(1, SMS, Owner::User(ME));
    desk.sync(vec![Change::Session(sms.clone())]);
    desk.customer_writes(&mut sms, "sms has no window");
    let mut alices = owned_session(&mut desk, 2, ALICE);
    desk.customer_writes(&mut alices, "for Alice");
    for hours in [23, 24] {
        let out = fire_at(&mut desk, start, Span::hours(hours));
        assert!(
            shows(&out)
                .iter()
                .all(|n| n.kind != NotificationKind::ReplyWindowClosing),
            "{out:#?}"
        );
    }
}

#[test]
fn r20_dismissed_warning_stays_down_for_that_window() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    let wrote = desk.now;
    desk.customer_writes(&mut s, "hello");
    fire_at(&mut desk, wrote, Span::hours(23));
    let key = NotificationKey::ReplyWindow(s.id);
    desk.act(key, Action::Dismiss).unwrap();
    assert_eq!(desk.state(key), Some(Lifecycle::Dismissed));
    // The same row synced again, and the window's end: nothing comes back.
    desk.bump(&mut s);
    let out = desk.sync(vec![Change::Session(s.clone())]);
    assert!(shows(&out).is_empty(), "{out:#?}");
    let out = fire_at(&mut desk, wrote, Span::hours(25));
    assert!(
        shows(&out).is_empty() && closes(&out).is_empty(),
        "{out:#?}"
    );
}

#[test]
fn r20_warning_withdrawn_when_the_session_moves_to_another_agent_or_closes() {
    let mut desk = Desk::new();
    let mut moved = owned_session(&mut desk, 1, ME);
    let mut closed = owned_session(&mut desk, 2, ME);
    let wrote = desk.now;
    desk.customer_writes(&mut moved, "one");
    desk.customer_writes(&mut closed, "two");
    fire_at(&mut desk, wrote, Span::hours(23));
    assert!(desk.live(NotificationKey::ReplyWindow(moved.id)));
    assert!(desk.live(NotificationKey::ReplyWindow(closed.id)));

    desk.owner_becomes(&mut moved, Owner::User(ALICE));
    assert_eq!(
        desk.state(NotificationKey::ReplyWindow(moved.id)),
        Some(withdrawn(WithdrawReason::Reassigned))
    );
    closed.status = SessionStatus::Closed;
    desk.bump(&mut closed);
    desk.sync(vec![Change::Session(closed.clone())]);
    assert_eq!(
        desk.state(NotificationKey::ReplyWindow(closed.id)),
        Some(withdrawn(WithdrawReason::SessionClosed))
    );
    assert!(desk
        .engine
        .armed_timers()
        .all(|(k, _)| !matches!(k, TimerKey::ReplyWindow(_))));
}

#[test]
fn r20_a_session_removed_from_dynamics_leaves_no_reply_window_timer() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    desk.customer_writes(&mut s, "Are you there?");
    let key = TimerKey::ReplyWindow(s.id);
    assert!(desk.engine.armed_timers().any(|(k, _)| *k == key));

    let out = desk.sync(vec![Change::SessionRemoved(s.id)]);
    assert!(out.contains(&Effect::DisarmTimer(key)), "{out:#?}");
    assert!(desk.engine.armed_timers().all(|(k, _)| *k != key));
    assert_eq!(desk.engine.check_invariants(), Ok(()));
}

#[test]
fn r20_open_goes_to_the_chat_and_the_warning_key_reads_back() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    let wrote = desk.now;
    desk.customer_writes(&mut s, "hello");
    fire_at(&mut desk, wrote, Span::hours(23) + Span::minutes(45));
    let key = NotificationKey::ReplyWindow(s.id);
    assert!(desk.notification(key).unwrap().body.contains("15 min"));
    assert_eq!(key.to_string().parse::<NotificationKey>(), Ok(key));
    let out = desk.act(key, Action::Open).unwrap();
    assert!(out.contains(&Effect::OpenChat(s.id)));
    assert!(!desk.live(key));
}

#[test]
fn r20_restored_engine_warns_for_a_window_that_neared_its_end_while_closed() {
    let mut desk = Desk::new();
    let mut s = owned_session(&mut desk, 1, ME);
    let wrote = desk.now;
    desk.customer_writes(&mut s, "hello");
    let timers: Vec<(TimerKey, Ts)> = desk.engine.armed_timers().map(|(k, t)| (*k, *t)).collect();
    assert!(timers.contains(&(TimerKey::ReplyWindow(s.id), wrote + Span::hours(23))));

    let mut rows = agents();
    rows.push(Change::Configuration(whatsapp_config()));
    rows.push(Change::MyTeams(vec![DEFAULT_TEAM, ASSIGNED_TEAM]));
    rows.push(Change::Session(s.clone()));
    let snapshot = Snapshot {
        me: Some(ME),
        rows,
        timers,
        ..Snapshot::default()
    };
    let later = wrote + Span::hours(23) + Span::minutes(10);
    let (mut engine, effects) = Engine::restore(snapshot, later);
    assert!(effects.contains(&Effect::ArmTimer(
        TimerKey::ReplyWindow(s.id),
        wrote + Span::hours(23)
    )));
    let out = engine
        .handle(Event::TimerFired(TimerKey::ReplyWindow(s.id)), later)
        .unwrap();
    let shown = shows(&out);
    assert_eq!(shown.len(), 1, "{out:#?}");
    assert!(shown[0].body.contains("50 min"), "{}", shown[0].body);
}
