//! Timer scheduler bench: arm, memory per armed timer, fire, re-arm, disarm at
//! 100,000 timers. Plain `fn main` (harness = false), no dependencies: a counting
//! global allocator measures the bytes the scheduler holds.
//!
//! Run: `cargo bench -p chatbell-core --bench timers`
#![allow(unsafe_code)] // Only for the counting allocator below.

use chatbell_core::{RequestId, Scheduler, SessionId, Span, TimerKey, Ts};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Wraps the system allocator and tracks the bytes currently allocated.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and
// only updates counters besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            add(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 100_000;
const ROUNDS: usize = 5;
const MEMORY_GOAL: f64 = 100.0;
/// Deadlines spread over a day, fired by stepping `now` one second at a time.
const WINDOW: Span = Span::hours(24);
const STEP: Span = Span::seconds(1);
const T0: Ts = Ts(1_700_000_000_000);

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn deadline(&mut self) -> Ts {
        T0 + Span::millis((self.next() % WINDOW.0 as u64) as i64)
    }
}

fn keys(rng: &mut XorShift) -> Vec<TimerKey> {
    (0..N)
        .map(|i| {
            let id = u128::from(rng.next()) << 64 | u128::from(rng.next());
            if i % 4 == 0 {
                TimerKey::RequestExpiry(RequestId::from_u128(id))
            } else {
                TimerKey::Idle(SessionId::from_u128(id))
            }
        })
        .collect()
}

fn current() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

fn ns_each(d: Duration) -> f64 {
    d.as_nanos() as f64 / N as f64
}

fn per_sec(d: Duration) -> f64 {
    N as f64 / d.as_secs_f64() / 1e6
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Round {
    arm: Duration,
    mem_bytes: usize,
    rearm: Duration,
    mem_after_rearm: usize,
    fire: Duration,
    fire_calls: usize,
    disarm: Duration,
}

/// One full round on a scheduler built with `new()` (or `with_capacity(N)`).
fn round(seed: u64, presized: bool) -> Round {
    let mut rng = XorShift(seed);
    let keys = keys(&mut rng);
    let first: Vec<Ts> = (0..N).map(|_| rng.deadline()).collect();
    let second: Vec<Ts> = (0..N).map(|_| rng.deadline()).collect();
    let mut out: Vec<(TimerKey, Ts)> = Vec::with_capacity(N);

    // (1) + (2): arm N timers; memory = bytes held afterwards minus before.
    let before = current();
    let t = Instant::now();
    let mut s: Scheduler = if presized {
        Scheduler::with_capacity(N)
    } else {
        Scheduler::new()
    };
    for (k, at) in keys.iter().zip(&first) {
        s.arm(*k, *at);
    }
    let arm = t.elapsed();
    let mem_bytes = current() - before;
    assert_eq!(s.len(), N);

    // (4): re-arm every timer to a new deadline.
    let t = Instant::now();
    for (k, at) in keys.iter().zip(&second) {
        black_box(s.arm(*k, *at));
    }
    let rearm = t.elapsed();
    let mem_after_rearm = current() - before;
    assert_eq!(s.len(), N, "re-arm must not add timers");

    // (3): fire everything by stepping `now` forward.
    let mut now = T0;
    let mut fired = 0usize;
    let mut fire_calls = 0usize;
    let mut last = Ts(i64::MIN);
    let t = Instant::now();
    while !s.is_empty() {
        out.clear();
        s.pop_due_into(now, &mut out);
        fire_calls += 1;
        fired += out.len();
        if let Some(&(_, at)) = out.last() {
            last = at;
        }
        now = now + STEP;
    }
    let fire = t.elapsed();
    assert_eq!(fired, N, "every timer fires exactly once");
    black_box(last);

    // Disarm: arm again (untimed), then disarm every key.
    for (k, at) in keys.iter().zip(&first) {
        s.arm(*k, *at);
    }
    let t = Instant::now();
    for k in &keys {
        black_box(s.disarm(k));
    }
    let disarm = t.elapsed();
    assert!(s.is_empty());

    Round {
        arm,
        mem_bytes,
        rearm,
        mem_after_rearm,
        fire,
        fire_calls,
        disarm,
    }
}

fn report(label: &str, rounds: Vec<Round>) {
    let mem = rounds[0].mem_bytes;
    assert!(
        rounds.iter().all(|r| r.mem_bytes == mem),
        "memory is deterministic"
    );
    let mem_rearm = rounds[0].mem_after_rearm;
    let fire_calls = rounds[0].fire_calls;
    let arm = median(rounds.iter().map(|r| r.arm).collect());
    let rearm = median(rounds.iter().map(|r| r.rearm).collect());
    let fire = median(rounds.iter().map(|r| r.fire).collect());
    let disarm = median(rounds.iter().map(|r| r.disarm).collect());
    let per_timer = mem as f64 / N as f64;
    println!("timers [{label}]");
    println!(
        "timers: arm {N} in {:.1} ms ({:.1} M/s, {:.0} ns each)",
        arm.as_secs_f64() * 1e3,
        per_sec(arm),
        ns_each(arm)
    );
    println!(
        "timers: memory per armed timer {per_timer:.1} bytes (goal <= {MEMORY_GOAL:.0}) \
         [{mem} bytes for {N}; after re-arming all: {mem_rearm}] {}",
        if per_timer <= MEMORY_GOAL {
            "OK"
        } else {
            "OVER GOAL"
        }
    );
    println!(
        "timers: re-arm {N} in {:.1} ms ({:.1} M/s, {:.0} ns each)",
        rearm.as_secs_f64() * 1e3,
        per_sec(rearm),
        ns_each(rearm)
    );
    println!(
        "timers: fire {N} in {:.1} ms ({:.1} M fires/s, {:.0} ns each) over {fire_calls} pop_due_into calls, now += {}s",
        fire.as_secs_f64() * 1e3,
        per_sec(fire),
        ns_each(fire),
        STEP.0 / 1_000
    );
    println!(
        "timers: disarm {N} in {:.1} ms ({:.1} M/s, {:.0} ns each)",
        disarm.as_secs_f64() * 1e3,
        per_sec(disarm),
        ns_each(disarm)
    );
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "timers: {N} timers, K = TimerKey ({} bytes), {cores} cores, median of {ROUNDS} rounds, single-threaded",
        std::mem::size_of::<TimerKey>()
    );
    // Warm-up round (not reported).
    black_box(round(0xC0FFEE, false).arm);

    let plain: Vec<Round> = (0..ROUNDS)
        .map(|i| round(0x5EED + i as u64, false))
        .collect();
    report("Scheduler::new() + plain arm loop", plain);
    let sized: Vec<Round> = (0..ROUNDS)
        .map(|i| round(0x5EED + i as u64, true))
        .collect();
    report("Scheduler::with_capacity(100000) + arm loop", sized);
    println!(
        "timers: peak bytes allocated by the bench process {:.1} MB",
        PEAK.load(Ordering::Relaxed) as f64 / 1e6
    );
}
