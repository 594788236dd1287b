//! The emulator's clock.
//!
//! Everything time-related (row timestamps, token expiry, device codes, delta token
//! age, the simulation) reads this clock, never the system clock directly, so that
//! tests can move time without sleeping. A clock is either the system clock
//! (optionally offset and sped up, for the simulation's time scale) or a manual
//! clock that moves only when told.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Real time: `origin_emu + (real_now - origin_real) * rate + offset`.
    System {
        origin_real: DateTime<Utc>,
        origin_emu: DateTime<Utc>,
        rate: f64,
    },
    /// Manual: the time is what was last set.
    Manual { now: DateTime<Utc> },
}

/// A shared, cloneable clock.
#[derive(Debug, Clone)]
pub struct OrgClock {
    inner: Arc<Mutex<Mode>>,
}

impl Default for OrgClock {
    fn default() -> Self {
        Self::system()
    }
}

impl OrgClock {
    /// The system clock.
    pub fn system() -> Self {
        Self::system_scaled(1.0)
    }

    /// The system clock running `rate` times faster than real time, starting at the
    /// real now (used by the simulation's time scale: 60 = one minute per second).
    pub fn system_scaled(rate: f64) -> Self {
        let now = Utc::now();
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0
        };
        Self {
            inner: Arc::new(Mutex::new(Mode::System {
                origin_real: now,
                origin_emu: now,
                rate,
            })),
        }
    }

    /// A manual clock that starts at `start` and moves only through
    /// [`OrgClock::advance`] and [`OrgClock::set`].
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Mode::Manual { now: start })),
        }
    }

    /// A manual clock starting at `2026-11-21T09:00:00Z`, handy for tests.
    pub fn manual_default() -> Self {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 21, 9, 0, 0)
            .single()
            .unwrap_or_else(Utc::now);
        Self::manual(start)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mode> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match *self.lock() {
            Mode::Manual { now } => now,
            Mode::System {
                origin_real,
                origin_emu,
                rate,
            } => {
                let real = (Utc::now() - origin_real).num_milliseconds() as f64;
                origin_emu + chrono::Duration::milliseconds((real * rate) as i64)
            }
        }
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        matches!(*self.lock(), Mode::Manual { .. })
    }

    /// The rate against real time (1 for a manual clock).
    pub fn rate(&self) -> f64 {
        match *self.lock() {
            Mode::Manual { .. } => 1.0,
            Mode::System { rate, .. } => rate,
        }
    }

    /// Moves the clock forward (or back, for a negative amount).
    pub fn advance(&self, seconds: i64) {
        let mut mode = self.lock();
        match &mut *mode {
            Mode::Manual { now } => *now += chrono::Duration::seconds(seconds),
            Mode::System { origin_emu, .. } => *origin_emu += chrono::Duration::seconds(seconds),
        }
    }

    /// Moves the clock forward by `d` (to the millisecond).
    pub fn advance_by(&self, d: std::time::Duration) {
        let d = chrono::Duration::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut mode = self.lock();
        match &mut *mode {
            Mode::Manual { now } => *now += d,
            Mode::System { origin_emu, .. } => *origin_emu += d,
        }
    }

    /// Sets the current time.
    pub fn set(&self, to: DateTime<Utc>) {
        let mut mode = self.lock();
        match &mut *mode {
            Mode::Manual { now } => *now = to,
            Mode::System {
                origin_real,
                origin_emu,
                ..
            } => {
                *origin_real = Utc::now();
                *origin_emu = to;
            }
        }
    }
}

/// Formats a time the way Dataverse returns `createdon`: UTC, to the second.
pub fn format_ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses an OData `DateTimeOffset` (`2026-11-21T10:15:00Z`, with optional
/// fraction or offset) or a plain date (`2026-11-21`, taken as midnight UTC).
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = OrgClock::manual_default();
        let a = c.now();
        c.advance(90);
        assert_eq!((c.now() - a).num_seconds(), 90);
        assert_eq!(format_ts(a), "2026-11-21T09:00:00Z");
    }

    #[test]
    fn parses_odata_times() {
        assert!(parse_ts("2026-11-21T10:15:00Z").is_some());
        assert!(parse_ts("2026-11-21T10:15:00.123+01:00").is_some());
        assert!(parse_ts("2026-11-21").is_some());
        assert!(parse_ts("yesterday").is_none());
    }
}
