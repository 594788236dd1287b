//! Property tests of the rules engine: random sequences of what Dynamics, the
//! agent, the clock and the write-backs can do, checking after every event
//! that
//!
//! - nothing panics, and a refused action changes nothing;
//! - the engine's bookkeeping holds (`Engine::check_invariants`): the unread
//!   count is the number of sessions that count as unread (R3), notifications
//!   are filed under their own keys, per-session caches agree with the maps;
//! - the effects tell the shell a consistent story: a notification is updated,
//!   hidden or closed only while live (a new `Show` replaces it); the
//!   notifications the shell then believes live are the engine's, each once;
//!   the last unread count it was told is the engine's;
//!
//! and that notification ids and action names round-trip through their text.
//!
//! `PROPTEST_CASES` sets the number of cases (default 64, to keep
//! `cargo test` quick); `CHATBELL_PROPTEST_STEPS` the events per case (default
//! 60).

mod support;

use chatbell_core::*;
use proptest::prelude::*;
use std::collections::BTreeSet;
use support::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn steps() -> usize {
    std::env::var("CHATBELL_PROPTEST_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

const USERS: [UserId; 4] = [ME, ALICE, BOB, OUTSIDER];
const TEAMS: [TeamId; 3] = [DEFAULT_TEAM, ASSIGNED_TEAM, OTHER_TEAM];
const SESSIONS: u8 = 4;
const REQUESTS: u8 = 3;
const ACTIONS: [Action; 8] = Action::ALL;

/// One thing that happens.
#[derive(Clone, Debug)]
enum Step {
    /// Dynamics sends a session's row as it now is (after the changes given).
    Session {
        s: u8,
        sms: bool,
        owner: u8,
        unread: u32,
        customer_wrote: bool,
        agent_wrote: bool,
        call: u8,
        status: u8,
        active: bool,
        first_contact: bool,
        catch_up: bool,
    },
    /// A customer writes (a message row and the session row, unread + 1).
    CustomerWrites {
        s: u8,
        body: String,
        catch_up: bool,
    },
    /// An agent replies (unread back to 0).
    AgentWrites {
        s: u8,
        by: u8,
    },
    /// A request's row.
    Request {
        r: u8,
        discuss: bool,
        s: u8,
        by: u8,
        to: u8,
        status: u8,
        expires_in: Option<u16>,
    },
    SessionRemoved(u8),
    RequestRemoved(u8),
    MyTeams(u8),
    Blocked {
        b: u8,
        s: u8,
        removed: bool,
    },
    /// The agent acts on a live notification (or on one that is not).
    Act {
        pick: u8,
        action: u8,
        reason: Option<String>,
        live: bool,
    },
    Withdraw {
        r: u8,
        reason: String,
    },
    FireTimer(u8),
    WriteBackDone {
        pick: u8,
        outcome: u8,
        owner: u8,
    },
    Connectivity(bool),
    Mute(bool),
    Advance(u32),
}

fn reason() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   ".to_string()),
        Just("Busy with a call".to_string()),
        "[a-z \\n]{0,12}",
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..SESSIONS, any::<bool>(), 0..7u8, 0..4u32, any::<bool>(), any::<bool>(), 0..3u8,
              prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)], prop::bool::weighted(0.9),
              any::<bool>(), prop::bool::weighted(0.15))
            .prop_map(|(s, sms, owner, unread, customer_wrote, agent_wrote, call, status, active, first_contact, catch_up)| {
                Step::Session { s, sms, owner, unread, customer_wrote, agent_wrote, call, status, active, first_contact, catch_up }
            }),
        4 => (0..SESSIONS, "[a-zA-Z <>\\n]{0,20}", prop::bool::weighted(0.15))
            .prop_map(|(s, body, catch_up)| Step::CustomerWrites { s, body, catch_up }),
        2 => (0..SESSIONS, 0..4u8).prop_map(|(s, by)| Step::AgentWrites { s, by }),
        2 => (0..REQUESTS, any::<bool>(), 0..SESSIONS, 0..4u8, 0..4u8, prop_oneof![4 => Just(0u8), 1 => 1..5u8], prop::option::of(0..30u16))
            .prop_map(|(r, discuss, s, by, to, status, expires_in)| Step::Request { r, discuss, s, by, to, status, expires_in }),
        1 => (0..SESSIONS).prop_map(Step::SessionRemoved),
        1 => (0..REQUESTS).prop_map(Step::RequestRemoved),
        1 => (0..8u8).prop_map(Step::MyTeams),
        1 => (0..2u8, 0..SESSIONS, any::<bool>()).prop_map(|(b, s, removed)| Step::Blocked { b, s, removed }),
        5 => (any::<u8>(), 0..7u8, prop::option::of(reason()), prop::bool::weighted(0.85))
            .prop_map(|(pick, action, reason, live)| Step::Act { pick, action, reason, live }),
        1 => (0..REQUESTS, reason()).prop_map(|(r, reason)| Step::Withdraw { r, reason }),
        3 => any::<u8>().prop_map(Step::FireTimer),
        3 => (any::<u8>(), 0..4u8, 0..7u8).prop_map(|(pick, outcome, owner)| Step::WriteBackDone { pick, outcome, owner }),
        1 => any::<bool>().prop_map(Step::Connectivity),
        1 => any::<bool>().prop_map(Step::Mute),
        3 => prop_oneof![0..120u32, 0..2000u32].prop_map(Step::Advance),
    ]
}

fn owner(n: u8) -> Owner {
    match n {
        0..=3 => Owner::User(USERS[usize::from(n)]),
        _ => Owner::Team(TEAMS[usize::from(n - 4) % TEAMS.len()]),
    }
}

/// The world the steps act on: the rows as Dynamics has them.
struct World {
    desk: Desk,
    sessions: Vec<Option<Session>>,
    next_msg: u128,
    /// What the shell was told: the notifications it shows as live and the
    /// last unread count.
    live: BTreeSet<NotificationKey>,
    unread: Option<u32>,
}

impl World {
    fn new() -> World {
        World {
            desk: Desk::new(),
            sessions: vec![None; usize::from(SESSIONS)],
            next_msg: 0,
            live: BTreeSet::new(),
            unread: None,
        }
    }

    fn row(&mut self, s: u8) -> Session {
        let now = self.desk.now;
        let slot = &mut self.sessions[usize::from(s)];
        let mut row = slot
            .clone()
            .unwrap_or_else(|| session(u128::from(s), WA, Owner::Team(DEFAULT_TEAM)));
        self.desk.bump(&mut row);
        row.modified_on = now;
        row
    }

    fn sync(&mut self, changes: Vec<Change>, catch_up: bool) -> Result<Vec<Effect>, ActionError> {
        self.desk.try_handle(Event::Sync {
            changes,
            mode: if catch_up {
                SyncMode::CatchUp
            } else {
                SyncMode::Live
            },
        })
    }

    fn apply(&mut self, step: &Step) -> Result<Vec<Effect>, ActionError> {
        let now = self.desk.now;
        match step.clone() {
            Step::Session {
                s,
                sms,
                owner: o,
                unread,
                customer_wrote,
                agent_wrote,
                call,
                status,
                active,
                first_contact,
                catch_up,
            } => {
                let mut row = self.row(s);
                (row.channel, row.config) = if sms {
                    (Channel::Sms, SMS)
                } else {
                    (Channel::WhatsApp, WA)
                };
                row.owner = owner(o);
                if let Owner::User(_) = row.owner {
                    row.accepted_on.get_or_insert(now);
                }
                row.unread_count = unread;
                if customer_wrote {
                    row.last_customer_message_on = Some(now);
                }
                if agent_wrote {
                    row.last_agent_message_on = Some(now);
                }
                (row.call_state, row.call_started_on) = match call {
                    0 => (CallState::None, None),
                    1 => (CallState::Ringing, Some(now)),
                    _ => (CallState::InCall, row.call_started_on.or(Some(now))),
                };
                row.status = match status {
                    0 => SessionStatus::Open,
                    1 => SessionStatus::Closed,
                    _ => SessionStatus::Blocked,
                };
                row.active = active;
                row.first_contact = first_contact;
                self.sessions[usize::from(s)] = Some(row.clone());
                self.sync(vec![Change::Session(row)], catch_up)
            }
            Step::CustomerWrites { s, body, catch_up } => {
                let mut row = self.row(s);
                self.next_msg += 1;
                row.last_customer_message_on = Some(now);
                row.last_message_preview = body.clone();
                row.unread_count = row.unread_count.saturating_add(1);
                self.sessions[usize::from(s)] = Some(row.clone());
                let m = Message {
                    id: MessageId::from_u128(900_000 + self.next_msg),
                    session: row.id,
                    direction: Direction::FromCustomer,
                    body,
                    created_on: now,
                    created_by: None,
                };
                self.sync(vec![Change::Session(row), Change::Message(m)], catch_up)
            }
            Step::AgentWrites { s, by } => {
                let mut row = self.row(s);
                self.next_msg += 1;
                row.last_agent_message_on = Some(now);
                row.unread_count = 0;
                self.sessions[usize::from(s)] = Some(row.clone());
                let m = Message {
                    id: MessageId::from_u128(900_000 + self.next_msg),
                    session: row.id,
                    direction: Direction::FromAgent,
                    body: "On it".into(),
                    created_on: now,
                    created_by: Some(USERS[usize::from(by)]),
                };
                self.sync(vec![Change::Session(row), Change::Message(m)], false)
            }
            Step::Request {
                r,
                discuss,
                s,
                by,
                to,
                status,
                expires_in,
            } => {
                let kind = if discuss {
                    RequestKind::Discuss
                } else {
                    RequestKind::Assign
                };
                let mut req = request(
                    u128::from(r),
                    kind,
                    sid(u128::from(s)),
                    USERS[usize::from(by)],
                    USERS[usize::from(to)],
                    now,
                );
                req.status = match status {
                    0 => RequestStatus::Pending,
                    1 => RequestStatus::Accepted,
                    2 => RequestStatus::Rejected,
                    3 => RequestStatus::Withdrawn,
                    _ => RequestStatus::Expired,
                };
                req.expires_on = expires_in.map(|m| now + Span::minutes(i64::from(m)));
                self.sync(vec![Change::Request(req)], false)
            }
            Step::SessionRemoved(s) => {
                self.sessions[usize::from(s)] = None;
                self.sync(vec![Change::SessionRemoved(sid(u128::from(s)))], false)
            }
            Step::RequestRemoved(r) => {
                self.sync(vec![Change::RequestRemoved(rid(u128::from(r)))], false)
            }
            Step::MyTeams(mask) => {
                let teams = TEAMS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, t)| *t)
                    .collect();
                self.sync(vec![Change::MyTeams(teams)], false)
            }
            Step::Blocked { b, s, removed } => {
                let id = BlockedId::from_u128(7000 + u128::from(b));
                let change = if removed {
                    Change::BlockedRemoved(id)
                } else {
                    Change::Blocked(BlockedNumber {
                        id,
                        number: session(u128::from(s), WA, Owner::Team(DEFAULT_TEAM)).number,
                        channel: Channel::WhatsApp,
                    })
                };
                self.sync(vec![change], false)
            }
            Step::Act {
                pick,
                action,
                reason,
                live,
            } => {
                let live_keys: Vec<NotificationKey> = self
                    .desk
                    .engine
                    .live_notifications()
                    .iter()
                    .map(|n| n.key)
                    .collect();
                let key = if live && !live_keys.is_empty() {
                    live_keys[usize::from(pick) % live_keys.len()]
                } else {
                    match pick % 3 {
                        0 => NotificationKey::Chat(sid(u128::from(pick % SESSIONS))),
                        1 => NotificationKey::Request(rid(u128::from(pick % REQUESTS))),
                        _ => NotificationKey::Offer(sid(u128::from(pick % SESSIONS))),
                    }
                };
                self.desk.try_handle(Event::Act {
                    key,
                    action: ACTIONS[usize::from(action)],
                    reason,
                })
            }
            Step::Withdraw { r, reason } => self.desk.try_handle(Event::WithdrawRequest {
                request: rid(u128::from(r)),
                reason,
            }),
            Step::FireTimer(pick) => {
                let mut armed: Vec<(Ts, TimerKey)> = self
                    .desk
                    .engine
                    .armed_timers()
                    .map(|(k, t)| (*t, *k))
                    .collect();
                armed.sort();
                let Some((at, key)) = armed.get(usize::from(pick) % armed.len().max(1)).copied()
                else {
                    return Ok(Vec::new());
                };
                // As the scheduler does: at the deadline, or later after a sleep.
                if at > self.desk.now {
                    self.desk.now = at;
                }
                self.desk.try_handle(Event::TimerFired(key))
            }
            Step::WriteBackDone {
                pick,
                outcome,
                owner: o,
            } => {
                let pending: Vec<CommandId> =
                    self.desk.engine.pending_commands().map(|c| c.id).collect();
                let command = match pending.get(usize::from(pick) % pending.len().max(1)) {
                    Some(c) => *c,
                    None => CommandId::from_u128(u128::from(pick)),
                };
                let outcome = match outcome {
                    0 => WriteBackOutcome::Done,
                    1 => WriteBackOutcome::TooLate(match owner(o) {
                        Owner::User(u) if o % 2 == 0 => Refusal::TakenBy {
                            owner: u,
                            owner_name: (o == 2).then(|| "Someone New".to_string()),
                        },
                        Owner::User(u) => Refusal::OwnerReplied {
                            owner: u,
                            owner_name: None,
                        },
                        Owner::Team(_) => [
                            Refusal::BackToTeam,
                            Refusal::RequestWithdrawn,
                            Refusal::KeptChanging,
                            Refusal::NumberBlocked,
                        ][usize::from(o) % 4]
                            .clone(),
                    }),
                    2 => WriteBackOutcome::Refused {
                        message: "Principal user is missing prvWritecb_chatsession".into(),
                    },
                    _ => WriteBackOutcome::Failed {
                        message: "Dynamics is unreachable".into(),
                    },
                };
                self.desk
                    .try_handle(Event::WriteBackDone { command, outcome })
            }
            Step::Connectivity(online) => self.desk.try_handle(Event::Connectivity { online }),
            Step::Mute(muted) => self.desk.try_handle(Event::SetMuted(muted)),
            Step::Advance(minutes) => {
                self.desk.advance(Span::minutes(i64::from(minutes)));
                Ok(Vec::new())
            }
        }
    }

    /// Follows the effects as the shell would, checking that they make sense.
    fn follow(&mut self, effects: &[Effect]) -> Result<(), String> {
        for e in effects {
            match e {
                // A new occurrence (a new call, say) replaces a live one.
                Effect::Show(n) => {
                    if n.is_live() {
                        self.live.insert(n.key);
                    } else {
                        self.live.remove(&n.key);
                    }
                }
                Effect::Update(n) => {
                    if !self.live.contains(&n.key) {
                        return Err(format!("{} updated while not live", n.key));
                    }
                    if !n.is_live() {
                        self.live.remove(&n.key);
                    }
                }
                Effect::HideToast(key) if !self.live.contains(key) => {
                    return Err(format!("{key}: toast hidden while not live"));
                }
                Effect::Close { key, state } => {
                    let was_live = self.live.remove(key);
                    if !was_live {
                        return Err(format!("{key} closed ({state:?}) while not live"));
                    }
                }
                Effect::SetUnread(n) => self.unread = Some(*n),
                _ => {}
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        self.desk.engine.check_invariants()?;
        let engine_live: BTreeSet<NotificationKey> = self
            .desk
            .engine
            .live_notifications()
            .iter()
            .map(|n| n.key)
            .collect();
        if engine_live != self.live {
            return Err(format!(
                "the shell was told {:?} are live, the engine has {:?}",
                self.live, engine_live
            ));
        }
        if self.unread.is_some_and(|u| u != self.desk.engine.unread()) {
            return Err(format!(
                "the tray shows {:?}, the engine counts {}",
                self.unread,
                self.desk.engine.unread()
            ));
        }
        Ok(())
    }
}

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut w = World::new();
    // What the desk's set-up told the shell.
    w.unread = Some(w.desk.engine.unread());
    for (i, step) in steps.iter().enumerate() {
        let live_before = w.desk.engine.live_notifications().len();
        let unread_before = w.desk.engine.unread();
        match w.apply(step) {
            Ok(effects) => w.follow(&effects),
            Err(e) => {
                // A refused action changes nothing.
                prop_assert!(!e.to_string().is_empty());
                prop_assert_eq!(w.desk.engine.live_notifications().len(), live_before);
                prop_assert_eq!(w.desk.engine.unread(), unread_before);
                Ok(())
            }
        }
        .and_then(|()| w.check())
        .map_err(|m| TestCaseError::fail(format!("after step {i} {step:?}: {m}")))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2000,
        .. ProptestConfig::default()
    })]

    #[test]
    fn random_events_keep_the_engine_consistent(steps in prop::collection::vec(step(), 1..=steps())) {
        run(&steps)?;
    }

    #[test]
    fn notification_ids_round_trip_through_their_text(kind in 0..10u8, id in any::<u128>()) {
        let uuid = uuid::Uuid::from_u128(id);
        let key = match kind {
            0 => NotificationKey::Chat(SessionId(uuid)),
            1 => NotificationKey::Call(SessionId(uuid)),
            2 => NotificationKey::Offer(SessionId(uuid)),
            3 => NotificationKey::Assigned(SessionId(uuid)),
            4 => NotificationKey::Request(RequestId(uuid)),
            5 => NotificationKey::Outcome(RequestId(uuid)),
            6 => NotificationKey::Info(CommandId(uuid)),
            7 => NotificationKey::ReplyWindow(SessionId(uuid)),
            8 => NotificationKey::Blocked(SessionId(uuid)),
            _ => NotificationKey::CatchUp,
        };
        let text = key.to_string();
        prop_assert_eq!(text.parse::<NotificationKey>(), Ok(key));
        let json = serde_json::to_string(&key).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: NotificationKey = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, key);
    }

    #[test]
    fn any_text_is_a_notification_id_or_a_short_error(text in ".{0,300}") {
        match text.parse::<NotificationKey>() {
            Ok(key) => prop_assert_eq!(key.to_string().parse::<NotificationKey>(), Ok(key)),
            Err(e) => {
                prop_assert!(e.0.chars().count() <= 80);
                prop_assert!(!e.to_string().is_empty());
            }
        }
        match text.parse::<Action>() {
            Ok(a) => prop_assert_eq!(a.as_str(), text.as_str()),
            Err(e) => prop_assert!(e.0.chars().count() <= 40),
        }
    }

    #[test]
    fn actions_round_trip_through_their_text(i in 0..ACTIONS.len()) {
        let a = ACTIONS[i];
        prop_assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        let json = serde_json::to_string(&a).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(json, format!("\"{}\"", a.as_str()));
    }
}
