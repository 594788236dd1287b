//! Test support: a loopback identity provider speaking the protocol of ChatBell's
//! Dataverse emulator (see `fake_idp`), and a scripted token endpoint for the
//! answers the emulator cannot be asked to give (slow_down, declined, ...).
#![allow(dead_code, clippy::unwrap_used)]

pub mod fake_idp;
pub mod scripted;

use std::sync::Arc;

use chatbell_auth::{AuthConfig, Clock, ManualClock, OAuthClient};

/// A client for `base` (tenant `contoso`, client id `chatbell-test`, org = base).
pub fn client(base: &str, clock: Option<Arc<ManualClock>>) -> OAuthClient {
    let config = AuthConfig::new(base, fake_idp::TENANT, fake_idp::CLIENT_ID, base).unwrap();
    let client = OAuthClient::new(config).unwrap();
    match clock {
        Some(c) => client.with_clock(c as Arc<dyn Clock>),
        None => client,
    }
}

/// A manual clock at a fixed, arbitrary wall time.
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
    ))
}
