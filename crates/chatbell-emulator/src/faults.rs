//! Fault injection for the Web API (`PUT /_emulator/faults`): service-protection
//! 429s with `Retry-After`, server errors, added latency and dropped connections,
//! each "every N requests". All off by default.

use crate::error::{codes, ApiError};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The fault settings (JSON of `PUT`/`GET /_emulator/faults`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Answer every Nth Web API request with 429 (0 = never).
    pub throttle_every: u64,
    /// The `Retry-After` of those 429s, in seconds.
    pub retry_after_seconds: u64,
    /// The service-protection code: `0x80072322` (requests), `0x80072321`
    /// (execution time) or `0x80072326` (concurrency).
    pub throttle_code: String,
    /// Answer every Nth request with a server error (0 = never).
    pub error_every: u64,
    /// The status of those errors (500-599).
    pub error_status: u16,
    /// Added latency for every Web API request, in (real) milliseconds.
    pub latency_ms: u64,
    /// Drop the connection without an answer on every Nth request (0 = never).
    pub drop_every: u64,
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            throttle_every: 0,
            retry_after_seconds: 5,
            throttle_code: codes::THROTTLE_REQUESTS.to_string(),
            error_every: 0,
            error_status: 503,
            latency_ms: 0,
            drop_every: 0,
        }
    }
}

impl FaultSettings {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if ![
            codes::THROTTLE_REQUESTS,
            codes::THROTTLE_TIME,
            codes::THROTTLE_CONCURRENCY,
        ]
        .contains(&self.throttle_code.as_str())
        {
            return Err(format!(
                "throttle_code must be one of {}, {}, {}",
                codes::THROTTLE_REQUESTS,
                codes::THROTTLE_TIME,
                codes::THROTTLE_CONCURRENCY
            ));
        }
        if !(500..=599).contains(&self.error_status) {
            return Err("error_status must be 500-599".into());
        }
        if self.latency_ms > 60_000 {
            return Err("latency_ms must be at most 60000".into());
        }
        Ok(())
    }
}

/// What to do with one request.
#[derive(Debug)]
pub enum FaultAction {
    /// Serve it.
    Serve,
    /// Answer with this error.
    Fail(ApiError),
    /// Drop the connection.
    Drop,
}

/// Fault settings and the request counter they apply to.
#[derive(Debug, Default)]
pub struct Faults {
    settings: Mutex<FaultSettings>,
    counter: AtomicU64,
}

fn throttle_message(code: &str) -> &'static str {
    match code {
        codes::THROTTLE_TIME => "Combined execution time of incoming requests exceeded limit of 1,200,000 milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
        codes::THROTTLE_CONCURRENCY => "Number of concurrent requests exceeded the limit of 52.",
        _ => "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
}

impl Faults {
    /// The current settings.
    pub fn get(&self) -> FaultSettings {
        crate::state::lock(&self.settings).clone()
    }
    /// Replaces the settings and restarts the count.
    pub fn set(&self, s: FaultSettings) {
        *crate::state::lock(&self.settings) = s;
        self.counter.store(0, Ordering::SeqCst);
    }
    /// Counts one Web API request and decides its fate; also returns the latency.
    pub fn next(&self) -> (u64, FaultAction) {
        let s = self.get();
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let hit = |every: u64| every > 0 && n % every == 0;
        let action = if hit(s.drop_every) {
            FaultAction::Drop
        } else if hit(s.throttle_every) {
            FaultAction::Fail(
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    &s.throttle_code,
                    throttle_message(&s.throttle_code),
                )
                .with_header("retry-after", s.retry_after_seconds.to_string()),
            )
        } else if hit(s.error_every) {
            FaultAction::Fail(ApiError::new(
                StatusCode::from_u16(s.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                codes::UNEXPECTED,
                "An unexpected error occurred.",
            ))
        } else {
            FaultAction::Serve
        };
        (s.latency_ms, action)
    }
}
