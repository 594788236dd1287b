//! How many events the rules engine takes per second on one core.
//!
//! The events are what a busy contact centre produces: customer messages in team
//! and agent-owned sessions (new conversations, View chat, bursts), agent replies,
//! ownership changes, calls, requests and idle timers firing, over 10,000 sessions.
//! The events are built before the clock starts; each is handled to completion,
//! effects included. Run: `cargo bench -p chatbell-core --bench engine`.

use chatbell_core::*;
use std::hint::black_box;
use std::time::Instant;

const CHUNK: usize = 64;
const EVENTS_DEFAULT: usize = 1_000_000;
/// The floor, in events per second on one core.
const FLOOR: f64 = 200_000.0;

const ME: UserId = UserId::from_u128(1);
const ALICE: UserId = UserId::from_u128(2);
const TEAM: TeamId = TeamId::from_u128(100);
const CFG: ConfigId = ConfigId::from_u128(200);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn session(n: u128, owner: Owner) -> Session {
    Session {
        id: SessionId::from_u128(1_000 + n),
        name: format!("Customer {n}"),
        number: format!("+31612{n:06}"),
        channel: Channel::WhatsApp,
        config: CFG,
        owner,
        accepted_on: None,
        first_contact: n.is_multiple_of(7),
        last_customer_message_on: None,
        last_agent_message_on: None,
        last_message_preview: String::new(),
        unread_count: 0,
        call_state: CallState::None,
        call_started_on: None,
        active: true,
        status: SessionStatus::Open,
        modified_on: Ts(0),
        etag: "W/\"1\"".into(),
    }
}

fn setup(sessions_n: u128) -> (Engine, Vec<Session>, Ts) {
    let t0 = Ts(1_800_000_000_000);
    let mut engine = Engine::new(Some(ME));
    let mut changes = vec![
        Change::Agent(Agent {
            id: ALICE,
            full_name: "Alice Adams".into(),
            email: "alice@example.com".into(),
        }),
        Change::Configuration(Configuration {
            id: CFG,
            name: "WhatsApp".into(),
            channel: Channel::WhatsApp,
            default_team: TEAM,
            assigned_team: None,
            idle_timeout: Span::minutes(5),
            request_timeout: Span::minutes(10),
            system_notification: true,
        }),
        Change::MyTeams(vec![TEAM]),
    ];
    let sessions: Vec<Session> = (0..sessions_n)
        .map(|n| {
            let owner = match n % 3 {
                0 => Owner::Team(TEAM),
                1 => Owner::User(ME),
                _ => Owner::User(ALICE),
            };
            session(n, owner)
        })
        .collect();
    changes.extend(sessions.iter().cloned().map(Change::Session));
    engine
        .handle(
            Event::Sync {
                changes,
                mode: SyncMode::Live,
            },
            t0,
        )
        .expect("setup");
    (engine, sessions, t0)
}

/// The event stream, and the time of each event.
fn events(sessions: &mut [Session], t0: Ts, n: usize, offset: usize) -> Vec<(Event, Ts)> {
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ (offset as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut out = Vec::with_capacity(n);
    let mut now = t0;
    let mut msg: u128 = offset as u128;
    for i in offset..offset + n {
        now = now + Span::millis(250);
        let s = &mut sessions[rng.below(sessions.len() as u64) as usize];
        s.etag = format!("W/\"{i}\"");
        s.modified_on = now;
        let roll = rng.below(100);
        let event = if roll < 60 {
            // A customer writes.
            msg += 1;
            s.last_customer_message_on = Some(now);
            s.unread_count += 1;
            s.last_message_preview = "Hello, I have a question about my order".into();
            Event::Sync {
                changes: vec![
                    Change::Session(s.clone()),
                    Change::Message(Message {
                        id: MessageId::from_u128(msg),
                        session: s.id,
                        direction: Direction::FromCustomer,
                        body: "Hello, I have a question about my order".into(),
                        created_on: now,
                        created_by: None,
                    }),
                ],
                mode: SyncMode::Live,
            }
        } else if roll < 85 {
            // An agent replies.
            msg += 1;
            s.last_agent_message_on = Some(now);
            s.unread_count = 0;
            Event::Sync {
                changes: vec![
                    Change::Session(s.clone()),
                    Change::Message(Message {
                        id: MessageId::from_u128(msg),
                        session: s.id,
                        direction: Direction::FromAgent,
                        body: "Let me check".into(),
                        created_on: now,
                        created_by: Some(ALICE),
                    }),
                ],
                mode: SyncMode::Live,
            }
        } else if roll < 92 {
            // A call rings or stops.
            s.call_state = if s.call_state == CallState::Ringing {
                CallState::None
            } else {
                CallState::Ringing
            };
            s.call_started_on = Some(now);
            Event::Sync {
                changes: vec![Change::Session(s.clone())],
                mode: SyncMode::Live,
            }
        } else if roll < 97 {
            // An idle timer fires (due or not).
            Event::TimerFired(TimerKey::Idle(s.id))
        } else {
            // Ownership moves.
            s.owner = match s.owner {
                Owner::Team(_) => Owner::User(ALICE),
                Owner::User(u) if u == ALICE => Owner::User(ME),
                Owner::User(_) => Owner::Team(TEAM),
            };
            Event::Sync {
                changes: vec![Change::Session(s.clone())],
                mode: SyncMode::Live,
            }
        };
        out.push((event, now));
    }
    out
}

fn main() {
    let events_n: usize = std::env::var("CHATBELL_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(EVENTS_DEFAULT);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("engine: {events_n} events per round, one thread ({cores} cores on the machine)");
    // CHATBELL_BENCH_SESSIONS=10000 runs one case alone (for profiling).
    let only: Option<u128> = std::env::var("CHATBELL_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok());
    for sessions_n in [1_000u128, 10_000] {
        if only.is_none_or(|n| n == sessions_n) {
            run(events_n, sessions_n);
        }
    }
}

fn run(events_n: usize, sessions_n: u128) {
    let mut rates = Vec::new();
    for _round in 0..3 {
        let (mut engine, mut sessions, t0) = setup(sessions_n);
        let mut out = Vec::with_capacity(64);
        let mut busy = std::time::Duration::ZERO;
        let mut now = t0;
        let mut done = 0;
        // Events are made in small chunks outside the timed part, so that the
        // timing covers the engine alone, and each event is still warm in the
        // cache when handled, as one just decoded from a sync response would be.
        while done < events_n {
            let chunk = CHUNK.min(events_n - done);
            let evs = events(&mut sessions, now, chunk, done);
            now = evs.last().map_or(now, |(_, t)| *t);
            let start = Instant::now();
            for (event, at) in evs {
                out.clear();
                let _ = engine.handle_into(event, at, &mut out);
                black_box(&out);
            }
            busy += start.elapsed();
            done += chunk;
        }
        rates.push(events_n as f64 / busy.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    // No agent feels the engine's speed: the rules are written once, plainly,
    // and the engine must only stay well above what a desk ever sends it.
    println!(
        "engine: {sessions_n:>6} sessions: median of 3 rounds {:.2} M events/s ({:.0} ns/event; floor >= {:.2} M/s) {}",
        median / 1e6,
        1e9 / median,
        FLOOR / 1e6,
        if median >= FLOOR { "OK" } else { "BELOW THE FLOOR" }
    );
}
