//! Time as the engine sees it: milliseconds since the Unix epoch, UTC, injected by
//! the caller. Nothing in the core reads a clock except [`SystemClock`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Ts(pub i64);

/// A span of time in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Span(pub i64);

impl Span {
    pub const fn millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn seconds(s: i64) -> Self {
        Self(s * 1_000)
    }
    pub const fn minutes(m: i64) -> Self {
        Self(m * 60_000)
    }
    pub const fn hours(h: i64) -> Self {
        Self(h * 3_600_000)
    }
}

impl Ts {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
}

impl Add<Span> for Ts {
    type Output = Ts;
    fn add(self, rhs: Span) -> Ts {
        Ts(self.0.saturating_add(rhs.0))
    }
}

impl Sub<Span> for Ts {
    type Output = Ts;
    fn sub(self, rhs: Span) -> Ts {
        Ts(self.0.saturating_sub(rhs.0))
    }
}

impl Sub<Ts> for Ts {
    type Output = Span;
    fn sub(self, rhs: Ts) -> Span {
        Span(self.0.saturating_sub(rhs.0))
    }
}

impl Add for Span {
    type Output = Span;
    fn add(self, rhs: Span) -> Span {
        Span(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Span {
    type Output = Span;
    fn sub(self, rhs: Span) -> Span {
        Span(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Debug for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ts({})", self.0)
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Where "now" comes from. The app uses [`SystemClock`]; tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> Ts;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Ts {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Ts(ms)
    }
}

/// A clock that runs `speed` times as fast as the wall clock, from `start`: a
/// simulated shift of eight hours takes two minutes at 240×.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    start: Ts,
    origin: std::time::Instant,
    speed: f64,
}

impl ScaledClock {
    pub fn new(start: Ts, speed: f64) -> Self {
        Self {
            start,
            origin: std::time::Instant::now(),
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }
    pub fn speed(&self) -> f64 {
        self.speed
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Ts {
        let real_ms = self.origin.elapsed().as_secs_f64() * 1000.0;
        self.start + Span((real_ms * self.speed) as i64)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(start: Ts) -> Self {
        Self(std::sync::atomic::AtomicI64::new(start.0))
    }
    pub fn set(&self, t: Ts) {
        self.0.store(t.0, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn advance(&self, by: Span) -> Ts {
        let new = self.0.fetch_add(by.0, std::sync::atomic::Ordering::SeqCst) + by.0;
        Ts(new)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Ts {
        Ts(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}
