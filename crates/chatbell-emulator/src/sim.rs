//! The traffic simulation (`--simulate`): a seeded, deterministic stream of what
//! happens in a contact centre, written through the same write path as the Web
//! API (so the add-on's server-side behaviour and the etags apply).
//!
//! Customers start conversations and write; WhatsApp calls ring and are answered
//! and ended, or missed; other agents accept sessions, reply, close them, send
//! Assign and Discuss requests to the demo agent (and sometimes withdraw them), and
//! go idle (an idle agent neither accepts nor replies, which is what lets the
//! demo agent's "Assign to me?" offers appear). As the add-on's timer job would,
//! pending requests past `cb_expireson` become expired (`statuscode` 5).
//!
//! Events are scheduled on the emulator's clock: `rate` random events per
//! simulated hour (exponential gaps), plus follow-ups (a call answered 15-45 s
//! after it rang, ...). Each event is written with its own scheduled time, so the
//! same seed and the same clock moves give the same rows, ids and versions. With a
//! system clock the time scale is the clock's rate (`--simulate-speed 60` = one
//! simulated minute per real second); with a manual clock, events run when the
//! clock is moved.

use crate::clock::format_ts;
use crate::seed::SeedIds;
use crate::store::{OrgData, WriteCtx};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// A small deterministic PRNG (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_B00C)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as usize) as i64
    }
    /// A random (version 4) UUID from this generator.
    pub fn uuid(&mut self) -> Uuid {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            v.get(self.below(v.len()))
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum FollowUp {
    CallAnswered(Uuid),
    CallEnded(Uuid),
    CallMissed(Uuid),
    Withdraw(Uuid),
}

const FIRST: &[&str] = &[
    "Ana", "Ben", "Carla", "David", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko",
    "Luis", "Mina", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tariq",
];
const LAST: &[&str] = &[
    "Almeida", "Brandt", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nowak", "Okafor", "Petrov", "Rossi", "Silva",
    "Tanaka", "Weber",
];
const CUSTOMER_LINES: &[&str] = &[
    "Hi, I have a question about my order.",
    "Is anyone there?",
    "My package hasn't arrived yet.",
    "Can I change my appointment to Friday?",
    "I'd like a refund, please.",
    "The app shows an error when I pay.",
    "Thanks, that helps!",
    "What are your opening hours?",
    "Could you call me back?",
    "I sent you a photo of the receipt.",
    "Hello?",
    "Order number is 58213.",
];
const AGENT_LINES: &[&str] = &[
    "Hi! Happy to help. Could you give me your order number?",
    "Thanks, let me check that for you.",
    "I've updated it on our side.",
    "You'll get a confirmation e-mail shortly.",
    "Is there anything else I can do for you?",
    "Sorry for the wait, I'm looking into it now.",
];
const REASONS: &[&str] = &[
    "I'm going on break, can you take this one?",
    "You know this customer's history.",
    "Need a second opinion on a refund.",
    "Customer asks for a German speaker.",
];

/// The simulation's state.
#[derive(Debug)]
pub struct Simulator {
    rng: Rng,
    rate_per_hour: f64,
    next_at: DateTime<Utc>,
    queue: BTreeMap<(DateTime<Utc>, u64), FollowUp>,
    seq: u64,
    idle: BTreeSet<Uuid>,
    events_run: u64,
    customers: u64,
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn session_ref(id: Uuid) -> String {
    format!("/cb_chatsessions({id})")
}

/// The most events one call runs before skipping ahead (a clock moved by years).
const MAX_EVENTS_PER_RUN: u64 = 100_000;

impl Simulator {
    /// A simulation seeded with `seed`, producing `rate_per_hour` random events per
    /// simulated hour, starting at `now`.
    pub fn new(seed: u64, rate_per_hour: f64, now: DateTime<Utc>) -> Self {
        let mut s = Simulator {
            rng: Rng::new(seed),
            rate_per_hour: if rate_per_hour.is_finite() && rate_per_hour > 0.0 {
                rate_per_hour
            } else {
                40.0
            },
            next_at: now,
            queue: BTreeMap::new(),
            seq: 0,
            idle: BTreeSet::new(),
            events_run: 0,
            customers: 0,
        };
        s.next_at = now + s.gap();
        s
    }

    fn gap(&mut self) -> chrono::Duration {
        let mean = 3600.0 / self.rate_per_hour;
        let u = self.rng.f64().max(1e-9);
        let secs = (-u.ln() * mean).clamp(1.0, 6.0 * 3600.0);
        chrono::Duration::seconds(secs as i64)
    }

    /// A JSON summary (for `/_emulator/info`).
    pub fn describe(&self) -> Value {
        json!({
            "rate_per_hour": self.rate_per_hour,
            "next_event_at": format_ts(self.next_at),
            "events_run": self.events_run,
            "pending_follow_ups": self.queue.len(),
            "idle_agents": self.idle.iter().collect::<Vec<_>>(),
        })
    }

    /// How many events have run.
    pub fn events_run(&self) -> u64 {
        self.events_run
    }

    fn schedule(&mut self, at: DateTime<Utc>, f: FollowUp) {
        self.seq += 1;
        self.queue.insert((at, self.seq), f);
    }

    /// Runs every event due at or before `now`, in time order.
    pub fn run_until(&mut self, store: &mut OrgData, now: DateTime<Utc>) {
        let mut ran = 0;
        loop {
            let follow = self.queue.keys().next().copied();
            let take_follow = follow.is_some_and(|(t, _)| t <= self.next_at);
            let at = if take_follow {
                follow.map_or(self.next_at, |(t, _)| t)
            } else {
                self.next_at
            };
            if at > now {
                break;
            }
            if ran >= MAX_EVENTS_PER_RUN {
                self.next_at = now + self.gap();
                self.queue.clear();
                break;
            }
            ran += 1;
            self.events_run += 1;
            expire_requests(store, at);
            if take_follow {
                if let Some(key) = follow {
                    if let Some(f) = self.queue.remove(&key) {
                        self.follow_up(store, f, at);
                    }
                }
            } else {
                self.random_event(store, at);
                self.next_at = at + self.gap();
            }
        }
        expire_requests(store, now);
    }

    fn agents(&self, store: &OrgData) -> Vec<Uuid> {
        let team = SeedIds::default_team();
        store
            .members_of(team)
            .into_iter()
            .filter(|u| *u != SeedIds::demo_agent() && *u != SeedIds::system())
            .collect()
    }

    fn active_agents(&self, store: &OrgData) -> Vec<Uuid> {
        self.agents(store)
            .into_iter()
            .filter(|a| !self.idle.contains(a))
            .collect()
    }

    fn random_event(&mut self, store: &mut OrgData, at: DateTime<Utc>) {
        let roll = self.rng.below(100);
        let done = match roll {
            0..=19 => self.new_conversation(store, at),
            20..=49 => self.customer_message(store, at),
            50..=61 => self.accept(store, at),
            62..=76 => self.agent_reply(store, at),
            77..=82 => self.ring(store, at),
            83..=88 => self.request(store, at),
            89..=92 => self.close(store, at),
            _ => self.toggle_idle(store),
        };
        if !done {
            self.new_conversation(store, at);
        }
    }

    fn sessions_where(&self, store: &OrgData, f: impl Fn(&crate::store::Row) -> bool) -> Vec<Uuid> {
        store
            .rows("cb_chatsessions")
            .filter(|(_, r)| r.int("statecode") == Some(0) && f(r))
            .map(|(id, _)| *id)
            .collect()
    }

    fn new_conversation(&mut self, store: &mut OrgData, at: DateTime<Utc>) -> bool {
        let sys = WriteCtx {
            actor: SeedIds::system(),
            now: at,
        };
        let channel = if self.rng.below(3) < 2 { 1 } else { 2 };
        let cfg = if channel == 1 {
            SeedIds::whatsapp_config()
        } else {
            SeedIds::sms_config()
        };
        if store.get("cb_configurations", cfg).is_none() {
            return false;
        }
        self.customers += 1;
        let n = self.customers;
        let first = self.rng.pick(FIRST).copied().unwrap_or("Alex");
        let last = self.rng.pick(LAST).copied().unwrap_or("Smith");
        let number = if channel == 1 {
            format!("+1555{:07}", self.rng.below(10_000_000))
        } else {
            format!("+447700{:06}", self.rng.below(1_000_000))
        };
        let id = self.rng.uuid();
        let body = obj(json!({
            "cb_name": format!("{first} {last}"),
            "cb_customernumber": number,
            "cb_channel": channel,
            "cb_configuration@odata.bind": format!("/cb_configurations({cfg})"),
            "ownerid@odata.bind": format!("/teams({})", SeedIds::default_team()),
        }));
        if store
            .create("cb_chatsessions", Some(id), &body, sys)
            .is_err()
        {
            return false;
        }
        let _ = n;
        self.write_message(store, id, 1, SeedIds::system(), at);
        true
    }

    fn write_message(
        &mut self,
        store: &mut OrgData,
        session: Uuid,
        direction: i64,
        actor: Uuid,
        at: DateTime<Utc>,
    ) -> bool {
        let lines = if direction == 1 {
            CUSTOMER_LINES
        } else {
            AGENT_LINES
        };
        let text = self.rng.pick(lines).copied().unwrap_or("Hello");
        let id = self.rng.uuid();
        let body = obj(json!({
            "cb_chatsession@odata.bind": session_ref(session),
            "cb_direction": direction,
            "cb_body": text,
        }));
        // A customer message from a blocked number is dropped by the add-on.
        store
            .create(
                "cb_chatmessages",
                Some(id),
                &body,
                WriteCtx { actor, now: at },
            )
            .is_ok()
    }

    fn customer_message(&mut self, store: &mut OrgData, at: DateTime<Utc>) -> bool {
        let candidates = self.sessions_where(store, |_| true);
        let Some(s) = self.rng.pick(&candidates).copied() else {
            return false;
        };
        self.write_message(store, s, 1, SeedIds::system(), at)
    }

    fn accept(&mut self, store: &mut OrgData, at: DateTime<Utc>) -> bool {
        let team = SeedIds::default_team().to_string();
        let candidates = self.sessions_where(store, |r| {
            r.str("_ownerid_value") == Some(team.as_str())
                && r.fields.get("cb_acceptedon").is_none_or(Value::is_null)
        });
        let agents = self.active_agents(store);
        let (Some(s), Some(a)) = (
            self.rng.pick(&candidates).copied(),
            self.rng.pick(&agents).copied(),
        ) else {
            return false;
        };
        let body = obj(json!({
            "ownerid@odata.bind": format!("/systemusers({a})"),
            "cb_acceptedon": format_ts(at),
        }));
        store
            .update("cb_chatsessions", s, &body, WriteCtx { actor: a, now: at })
            .is_ok()
    }

    fn owned_by_others(&self, store: &OrgData, active_only: bool) -> Vec<(Uuid, Uuid)> {
        let agents: Vec<Uuid> = if active_only {
            self.active_agents(store)
        } else {
            self.agents(store)
        };
        store
            .rows("cb_chatsessions")
            .filter(|(_, r)| r.int("statecode") == Some(0))
            .filter_map(|(id, r)| {
                let owner = r.guid("_ownerid_value")?;
                agents.contains(&owner).then_some((*id, owner))
            })
            .collect()
    }

    fn agent_reply(&mut self, store: &mut OrgData, at: DateTime<Utc>) -> bool {
        let candidates: Vec<(Uuid, Uuid)> = self
            .owned_by_others(store, true)
            .into_iter()
            .filter(|(s, _)| {
                store
                    .get("cb_chatsessions", *s)
                    .and_then(|r| r.int("cb_unreadcount"))
                    .unwrap_or(0)
                    > 0
            })
            .collect();
        let Some((s, agent)) = self.rng.pick(&candidates).copied() else {
            return false;
        };
        self.write_message(store, s, 2, agent, at)
    }

    fn ring(&mut self, store: &mut OrgData, at: DateTime<Utc>) -> bool {
        let candidates = self.sessions_where(store, |r| {
            r.int("cb_channel") == Some(1) && r.int("cb_callstate") == Some(0)
        });
        let Some(s) = self.rng.pick(&candidates).copied() else {
            return false;
        };
        let body = obj(json!({"cb_callstate": 1, "cb_callstartedon": format_ts(at)}));
        let ok = store
            .update(
                "cb_chatsessions",
                s,
                &body,
                WriteCtx {
                    actor: SeedIds::system(),
                    now: at,
                },
            )
            .is_ok();
        if ok {
            if self.rng.below(10) < 7 {
                let t = at + chrono::Duration::seconds(self.rng.range(15, 45));
                self.schedule(t, FollowUp::CallAnswered(s));
            } else {
                let t = at + chrono::Duration::seconds(self.rng.range(30, 60));
                self.schedule(t, FollowUp::CallMissed(s));
            }
        }
        ok
    }

    fn request(&mut self, store: &mut OrgData, at: DateTime<Utc>) -> bool {
        let candidates = self.owned_by_others(store, false);
        let Some((s, agent)) = self.rng.pick(&candidates).copied() else {
            return false;
        };
        if store.get("systemusers", SeedIds::demo_agent()).is_none() {
            return false;
        }
        let kind = if self.rng.below(2) == 0 { 1 } else { 2 };
        let reason = self.rng.pick(REASONS).copied().unwrap_or("Please help.");
        let id = self.rng.uuid();
        let body = obj(json!({
            "cb_kind": kind,
            "cb_chatsession@odata.bind": session_ref(s),
            "cb_requestedby@odata.bind": format!("/systemusers({agent})"),
            "cb_requestedto@odata.bind": format!("/systemusers({})", SeedIds::demo_agent()),
            "cb_reason": reason,
        }));
        let ok = store
            .create(
                "cb_chatrequests",
                Some(id),
                &body,
                WriteCtx {
                    actor: agent,
                    now: at,
                },
            )
            .is_ok();
        if ok && self.rng.below(10) < 3 {
            let t = at + chrono::Duration::seconds(self.rng.range(120, 360));
            self.schedule(t, FollowUp::Withdraw(id));
        }
        ok
    }

    fn close(&mut self, store: &mut OrgData, at: DateTime<Utc>) -> bool {
        let candidates = self.owned_by_others(store, true);
        let Some((s, agent)) = self.rng.pick(&candidates).copied() else {
            return false;
        };
        store
            .update(
                "cb_chatsessions",
                s,
                &obj(json!({"statecode": 1, "statuscode": 2, "cb_callstate": 0})),
                WriteCtx {
                    actor: agent,
                    now: at,
                },
            )
            .is_ok()
    }

    fn toggle_idle(&mut self, store: &OrgData) -> bool {
        let agents = self.agents(store);
        let Some(a) = self.rng.pick(&agents).copied() else {
            return false;
        };
        if !self.idle.remove(&a) {
            self.idle.insert(a);
        }
        true
    }

    fn follow_up(&mut self, store: &mut OrgData, f: FollowUp, at: DateTime<Utc>) {
        let sys = WriteCtx {
            actor: SeedIds::system(),
            now: at,
        };
        let still = |store: &OrgData, s: Uuid, state: i64| {
            store
                .get("cb_chatsessions", s)
                .is_some_and(|r| r.int("cb_callstate") == Some(state))
        };
        match f {
            FollowUp::CallAnswered(s) if still(store, s, 1) => {
                let _ = store.update("cb_chatsessions", s, &obj(json!({"cb_callstate": 2})), sys);
                let t = at + chrono::Duration::seconds(self.rng.range(60, 300));
                self.schedule(t, FollowUp::CallEnded(s));
            }
            FollowUp::CallEnded(s) if still(store, s, 2) => {
                let _ = store.update("cb_chatsessions", s, &obj(json!({"cb_callstate": 0})), sys);
            }
            FollowUp::CallMissed(s) if still(store, s, 1) => {
                let _ = store.update("cb_chatsessions", s, &obj(json!({"cb_callstate": 0})), sys);
            }
            FollowUp::Withdraw(r) => {
                let pending = store.get("cb_chatrequests", r).and_then(|row| {
                    Some((row.int("statuscode")?, row.guid("_cb_requestedby_value")?))
                });
                if let Some((1, by)) = pending {
                    let body = obj(
                        json!({"statecode": 1, "statuscode": 4, "cb_reason": "Sorted it out myself."}),
                    );
                    let _ =
                        store.update("cb_chatrequests", r, &body, WriteCtx { actor: by, now: at });
                }
            }
            _ => {}
        }
    }
}

/// The add-on's timer job: pending requests past `cb_expireson` expire.
pub fn expire_requests(store: &mut OrgData, now: DateTime<Utc>) {
    let due: Vec<Uuid> = store
        .rows("cb_chatrequests")
        .filter(|(_, r)| {
            r.int("statuscode") == Some(1) && r.time("cb_expireson").is_some_and(|t| t <= now)
        })
        .map(|(id, _)| *id)
        .collect();
    for id in due {
        let _ = store.update(
            "cb_chatrequests",
            id,
            &obj(json!({"statecode": 1, "statuscode": 5})),
            WriteCtx {
                actor: SeedIds::system(),
                now,
            },
        );
    }
}
