//! Fault injection for the Web API (`PUT /_emulator/faults`): service-protection
//! 429s with `Retry-After`, server errors, added latency and dropped connections,
//! each "every N requests". All off by default.
//!
//! A user who got a 429 is throttled until its `Retry-After` has passed, as
//! Dataverse's service protection does: every request of that user before then
//! is refused with a 429 too (with what is left of the wait), and counted in the
//! stats as an early retry, so that a test can check a client honours every
//! `Retry-After` it was given.
//!
//! And one-shot answers for the sign-in token endpoint
//! (`POST /_emulator/faults/token`): the next token request gets the queued OAuth
//! error instead of being processed (e.g. `slow_down` for a device code poll, or a
//! `temporarily_unavailable` 503 for a refresh), so that tests can see how a client
//! handles answers the identity platform gives at its own discretion.

use crate::error::{codes, ApiError};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

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

/// A one-shot OAuth error for the token endpoint (JSON of
/// `POST /_emulator/faults/token`). The request it answers is refused before it is
/// looked at: nothing is redeemed or rotated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFault {
    /// The OAuth `error` (`slow_down`, `invalid_grant`, `temporarily_unavailable`...).
    pub error: String,
    /// The AADSTS code (in `error_codes` and the description).
    pub code: u32,
    /// The HTTP status (400 by default; 400-599).
    #[serde(default = "bad_request")]
    pub status: u16,
    /// The description after `AADSTS<code>: ` (a generic one when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only a request of this `grant_type` takes it (`device_code` also matches the
    /// URN spelling); any token request when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
}

fn bad_request() -> u16 {
    400
}

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn same_grant(a: &str, b: &str) -> bool {
    let norm = |g: &str| {
        if g == "device_code" {
            DEVICE_CODE_GRANT
        } else {
            g
        }
        .to_string()
    };
    norm(a) == norm(b)
}

impl TokenFault {
    /// A 400 with this `error` and AADSTS `code`, for any grant type.
    pub fn new(error: &str, code: u32) -> Self {
        Self {
            error: error.to_string(),
            code,
            status: 400,
            description: None,
            grant_type: None,
        }
    }
    /// Sets the HTTP status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    /// Sets the description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_string());
        self
    }
    /// Applies it only to requests of this grant type.
    pub fn grant_type(mut self, grant: &str) -> Self {
        self.grant_type = Some(grant.to_string());
        self
    }
    /// Checks the fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.error.is_empty()
            || !self
                .error
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return Err("error must be an OAuth error code like slow_down".into());
        }
        if !(400..=599).contains(&self.status) {
            return Err("status must be 400-599".into());
        }
        Ok(())
    }
    /// The description to send.
    pub fn text(&self) -> String {
        if let Some(d) = &self.description {
            return d.clone();
        }
        match self.error.as_str() {
            "authorization_pending" => "The provided request has not yet been authorized by the user. The user must input their code.".into(),
            "slow_down" => "The client is polling too quickly and should increase its polling interval by 5 seconds.".into(),
            "temporarily_unavailable" => "The server is temporarily too busy to handle the request. Please retry the request later.".into(),
            "invalid_grant" => "Provided grant is invalid or malformed.".into(),
            "bad_verification_code" => {
                "The device_code sent to the /token endpoint wasn't recognized.".into()
            }
            other => format!("The request was refused ({other})."),
        }
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
    token: Mutex<VecDeque<TokenFault>>,
    /// Per user: throttled until then (on the emulator's clock).
    throttled_until: Mutex<HashMap<String, DateTime<Utc>>>,
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
        crate::state::lock(&self.throttled_until).clear();
    }
    /// `user` got a 429 that says to wait `seconds` (real seconds: on a clock
    /// that runs `rate` times faster, that many more of its seconds).
    pub fn throttle(&self, user: &str, seconds: u64, now: DateTime<Utc>, rate: f64) {
        let emu_ms = (seconds as f64 * 1000.0 * rate.max(1.0)) as i64;
        crate::state::lock(&self.throttled_until).insert(
            user.to_string(),
            now + chrono::Duration::milliseconds(emu_ms),
        );
    }
    /// What is left of `user`'s wait (in real time), if it is still throttled.
    pub fn throttled_for(&self, user: &str, now: DateTime<Utc>, rate: f64) -> Option<Duration> {
        let mut map = crate::state::lock(&self.throttled_until);
        let until = *map.get(user)?;
        match (until - now).to_std() {
            Ok(left) if !left.is_zero() => Some(left.div_f64(rate.max(1.0))),
            _ => {
                map.remove(user);
                None
            }
        }
    }
    /// The 429 for a request that came before its wait was over.
    pub fn still_throttled(&self, left: Duration) -> ApiError {
        let code = self.get().throttle_code;
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            &code,
            throttle_message(&code),
        )
        .with_header(
            "retry-after",
            left.as_secs_f64().ceil().max(1.0).to_string(),
        )
    }
    /// Queues a one-shot token endpoint fault.
    pub fn push_token(&self, f: TokenFault) {
        crate::state::lock(&self.token).push_back(f);
    }
    /// Takes the first queued token fault that applies to `grant_type`.
    pub fn take_token(&self, grant_type: &str) -> Option<TokenFault> {
        let mut q = crate::state::lock(&self.token);
        let i = q.iter().position(|f| {
            f.grant_type
                .as_deref()
                .is_none_or(|g| same_grant(g, grant_type))
        })?;
        q.remove(i)
    }
    /// The queued token faults.
    pub fn token_queue(&self) -> Vec<TokenFault> {
        crate::state::lock(&self.token).iter().cloned().collect()
    }
    /// Drops the queued token faults.
    pub fn clear_token(&self) {
        crate::state::lock(&self.token).clear();
    }
    /// Counts one Web API request and decides its fate; also returns the latency.
    pub fn next(&self) -> (u64, FaultAction) {
        let s = self.get();
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let hit = |every: u64| every > 0 && n.is_multiple_of(every);
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
