//! The state shared by every request handler and background task.

use crate::auth::AuthState;
use crate::clock::OrgClock;
use crate::faults::Faults;
use crate::sim::Simulator;
use crate::stats::Stats;
use crate::store::OrgData;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};
use uuid::Uuid;

/// Fixed settings of one running emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// The tenant id used in sign-in URLs and tokens.
    pub tenant_id: Uuid,
    /// `OrganizationId` returned by WhoAmI.
    pub organization_id: Uuid,
    /// `BusinessUnitId` returned by WhoAmI.
    pub business_unit_id: Uuid,
    /// Access token lifetime in seconds.
    pub access_token_lifetime: i64,
    /// Refresh token lifetime in seconds.
    pub refresh_token_lifetime: i64,
    /// Device code lifetime in seconds.
    pub device_code_lifetime: i64,
    /// Device code polling interval in seconds.
    pub device_code_interval: i64,
    /// Maximum age of a change-tracking delta token, in seconds.
    pub delta_token_max_age: i64,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// Rows and relationships.
    pub store: Mutex<OrgData>,
    /// Tokens, device codes, authorization codes.
    pub auth: Mutex<AuthState>,
    /// The emulator's clock.
    pub clock: OrgClock,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Fixed settings.
    pub cfg: Config,
    /// Fault injection.
    pub faults: Faults,
    /// The org's names for the reference schema.
    pub profile: crate::profile::OrgProfile,
    /// Privileges denied to a user (verb, reference table): every user has
    /// every privilege on every table unless a test takes one away.
    pub denied: Mutex<HashMap<Uuid, BTreeSet<(crate::metadata::Verb, &'static str)>>>,
    /// Request counters.
    pub stats: Mutex<Stats>,
    /// The traffic simulation, when enabled.
    pub sim: Mutex<Option<Simulator>>,
    /// Web API requests being served now (a test can tell whether a client
    /// was in the middle of a sync).
    pub in_flight: AtomicU64,
}

/// Locks a mutex, recovering from poisoning (a panicked holder cannot leave the
/// emulator's plain data structures in a state worse than a failed request).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Runs the simulation's events that are due at the clock's current time.
    pub fn run_due(&self) {
        let now = self.clock.now();
        let mut sim = lock(&self.sim);
        if let Some(sim) = sim.as_mut() {
            let mut store = lock(&self.store);
            sim.run_until(&mut store, now);
        }
    }
}
