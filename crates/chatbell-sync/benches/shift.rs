//! A simulated shift: the request budget and the delivery delay (R13).
//!
//! The emulator runs its traffic simulation (customers writing and calling, other
//! agents accepting, replying, sending requests, going idle) on a clock that runs
//! `CHATBELL_SHIFT_SPEED` times as fast as real time (default 240: an 8-hour shift
//! in two minutes); the demo agent's desk runs on that same clock, with the
//! production poll intervals, and every wait divided by the same factor. At the
//! end it prints the Web API requests the agent sent (as the emulator counted
//! them) against the budget of 10,000 a shift, and how long rows took from their
//! `modifiedon` to the engine (median goal: 5 s). `modifiedon` has a one-second
//! grain and the simulation writes each event within ~0.25 simulated seconds of
//! its time, so the delays printed are pessimistic by about half a second.
//!
//! Run: `cargo bench -p chatbell-sync --bench shift`
//! (`CHATBELL_SHIFT_HOURS`, `CHATBELL_SHIFT_SPEED`, `CHATBELL_SHIFT_RATE` events
//! per simulated hour, default 60).

use chatbell_core::{Clock, Effect, Engine, Ts};
use chatbell_emulator::{Emulator, Options, Seed, DEMO_AGENT_EMAIL};
use chatbell_store::Store;
use chatbell_sync::{Dataverse, Desk, DeskConfig, Desktop, RetryPolicy, Schema, StaticToken};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const BUDGET: f64 = 10_000.0;
const SHIFT_HOURS: f64 = 8.0;

struct EmuClock(chatbell_emulator::OrgClock);

impl Clock for EmuClock {
    fn now(&self) -> Ts {
        Ts(self.0.now().timestamp_millis())
    }
}

/// Counts toasts shown and updated: what the agent would have seen.
#[derive(Clone, Default)]
struct Count(Arc<AtomicU64>, Arc<AtomicU64>);

impl Desktop for Count {
    fn perform(&mut self, effects: &[Effect], _: &Engine) {
        for e in effects {
            match e {
                Effect::Show(_) => self.0.fetch_add(1, Ordering::Relaxed),
                Effect::Update(_) => self.1.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
        }
    }
}

fn env(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hours = env("CHATBELL_SHIFT_HOURS", SHIFT_HOURS);
    let speed = env("CHATBELL_SHIFT_SPEED", 240.0);
    let rate = env("CHATBELL_SHIFT_RATE", 60.0);
    let clock = chatbell_emulator::OrgClock::system_scaled(speed);
    let mut opts = Options::default()
        .seed(Seed::Demo)
        .simulate(7)
        .clock(clock.clone());
    opts.simulate_speed = speed;
    opts.simulate_rate = rate;
    opts.access_token_lifetime = Duration::from_secs(48 * 3600);
    let emu = Emulator::start(opts).await?;
    let me = emu.user_id(DEMO_AGENT_EMAIL)?;
    let dir = tempfile::tempdir()?;
    let dv = Dataverse::new(
        emu.base_url(),
        Arc::new(StaticToken(emu.mint_token(DEMO_AGENT_EMAIL)?)),
        RetryPolicy::default(),
    )?;
    let store = Store::open(&dir.path().join("chatbell.db")).await?;
    let seen = Count::default();
    let desk = Desk::open(
        store,
        dv,
        Schema::reference(),
        Arc::new(EmuClock(clock.clone())),
        seen.clone(),
        DeskConfig::default(),
    )
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let running = tokio::spawn(desk.run(rx, speed));
    tokio::time::sleep(Duration::from_secs_f64(hours * 3600.0 / speed)).await;
    drop(tx);
    let desk = running.await??;

    let stats = emu.stats();
    let requests = stats.by_user.get(&me.to_string()).copied().unwrap_or(0) as f64;
    let per_shift = requests * SHIFT_HOURS / hours;
    let s = desk.stats();
    let secs = |q: f64| s.lag_quantile(q).map_or(f64::NAN, |l| l.0 as f64 / 1000.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "shift: {hours} simulated hours at {speed}x, {rate} simulated events/hour, {cores} cores"
    );
    println!(
        "shift: {requests:.0} Web API requests ({per_shift:.0} per 8-hour shift; budget {BUDGET:.0}) {}",
        if per_shift < BUDGET { "OK" } else { "OVER BUDGET" }
    );
    println!(
        "shift: {} polls ({} failed), {} rows delivered live, {} toasts shown, {} updated",
        s.polls,
        s.failed_polls,
        s.rows,
        seen.0.load(Ordering::Relaxed),
        seen.1.load(Ordering::Relaxed)
    );
    println!(
        "shift: delivery delay median {:.1} s, p90 {:.1} s, max {:.1} s (goal: median under 5 s) {}",
        secs(0.5),
        secs(0.9),
        secs(1.0),
        if secs(0.5) < 5.0 { "OK" } else { "ABOVE GOAL" }
    );
    for (set, n) in &stats.by_entity_set {
        println!("shift:   {set}: {n}");
    }
    emu.shutdown().await;
    Ok(())
}
