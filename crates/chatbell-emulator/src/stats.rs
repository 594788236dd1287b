//! Web API request counters (`GET /_emulator/stats`), so that tests and the demo
//! can check ChatBell's request budget (10,000 per 8-hour shift), and token
//! endpoint requests per grant type (so that sign-in tests can count polls and
//! refreshes).

use serde::Serialize;
use std::collections::BTreeMap;

/// Counters since start or the last reset.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Every Web API request (including refused ones).
    pub total: u64,
    /// Per entity set (or `WhoAmI`, `$metadata`...).
    pub by_entity_set: BTreeMap<String, u64>,
    /// Per authenticated user id.
    pub by_user: BTreeMap<String, u64>,
    /// Per HTTP method.
    pub by_method: BTreeMap<String, u64>,
    /// Per response status.
    pub by_status: BTreeMap<String, u64>,
    /// Token endpoint requests per `grant_type` sent (refused ones too). Not part
    /// of `total`, which counts Web API requests only.
    pub token_requests_by_grant_type: BTreeMap<String, u64>,
    /// 429s given by the throttling fault (each with a `Retry-After`).
    pub throttled: u64,
    /// Requests that came before their user's `Retry-After` was over (each
    /// refused with another 429), per user id.
    pub early_retries_by_user: BTreeMap<String, u64>,
}

impl Stats {
    /// Counts one request.
    pub fn count(&mut self, method: &str, set: &str) {
        self.total += 1;
        *self.by_entity_set.entry(set.to_string()).or_default() += 1;
        *self.by_method.entry(method.to_string()).or_default() += 1;
    }
    /// Counts the authenticated user of a request.
    pub fn count_user(&mut self, user: &str) {
        *self.by_user.entry(user.to_string()).or_default() += 1;
    }
    /// Counts a token endpoint request.
    pub fn count_token_request(&mut self, grant_type: &str) {
        *self
            .token_requests_by_grant_type
            .entry(grant_type.to_string())
            .or_default() += 1;
    }
    /// Token endpoint requests of one grant type.
    pub fn token_requests(&self, grant_type: &str) -> u64 {
        self.token_requests_by_grant_type
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }
    /// Counts a request that came before its user's `Retry-After` was over.
    pub fn count_early_retry(&mut self, user: &str) {
        *self
            .early_retries_by_user
            .entry(user.to_string())
            .or_default() += 1;
    }
    /// Early retries, every user together.
    pub fn early_retries(&self) -> u64 {
        self.early_retries_by_user.values().sum()
    }
    /// Counts a response status.
    pub fn count_status(&mut self, status: u16) {
        *self.by_status.entry(status.to_string()).or_default() += 1;
    }
}
