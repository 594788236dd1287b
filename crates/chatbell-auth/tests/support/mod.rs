//! Test support: ChatBell's Dataverse emulator (`chatbell-emulator`), started in
//! process on `127.0.0.1:0`, is the identity provider of every integration test;
//! `broken_server` answers only what no well-behaved server would (malformed JSON).
#![allow(dead_code, clippy::unwrap_used)]

pub mod broken_server;

use std::sync::Arc;
use std::time::Duration;

use chatbell_auth::{AuthConfig, OAuthClient};
use chatbell_core::{Clock, ManualClock, Ts};
use chatbell_emulator::{Emulator, Options, RunningEmulator, Seed, TokenFault};
use reqwest::StatusCode;
use serde_json::json;

/// The app registration's client id the tests sign in with.
pub const CLIENT_ID: &str = "chatbell-test";
/// The seeded demo agent, Dana Demo.
pub const DANA: &str = chatbell_emulator::DEMO_AGENT_EMAIL;
/// Another seeded agent, Alex Rivera.
pub const ALEX: &str = "alex.rivera@chatbell.example";
/// The device code grant type, as sent to the token endpoint.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A running emulator and an HTTP client for its test endpoints.
pub struct Idp {
    pub emu: RunningEmulator,
    http: reqwest::Client,
}

/// The emulator's options for these tests: demo seed, its manual clock (moved
/// only by [`Idp::advance`]), and the given device code polling interval.
pub fn options(interval: Duration) -> Options {
    Options::default()
        .seed(Seed::Demo)
        .clock(chatbell_emulator::OrgClock::manual_default())
        .device_code_interval(interval)
}

impl Idp {
    /// An emulator that hands out a 1 s device code interval, for tests that
    /// wait in real time.
    pub async fn start() -> Idp {
        Idp::start_with(options(Duration::from_secs(1))).await
    }

    /// An emulator with Microsoft's 5 s interval, for tests under tokio's paused
    /// clock that check the polling schedule to the second.
    pub async fn start_paced() -> Idp {
        Idp::start_with(options(Duration::from_secs(5))).await
    }

    pub async fn start_with(opts: Options) -> Idp {
        Idp {
            emu: Emulator::start(opts).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> &str {
        self.emu.base_url()
    }

    /// A client of the emulator's authority and tenant, for its org (the base URL).
    pub fn client(&self, clock: Option<Arc<ManualClock>>) -> OAuthClient {
        let tenant = self.emu.tenant_id().to_string();
        let config = AuthConfig::new(self.base(), &tenant, CLIENT_ID, self.base()).unwrap();
        let client = OAuthClient::new(config).unwrap();
        match clock {
            Some(c) => client.with_clock(c as Arc<dyn Clock>),
            None => client,
        }
    }

    /// `POST /_emulator/approve`: the user signs in on the verification page.
    pub async fn approve(&self, user_code: &str, user: &str) -> StatusCode {
        self.answer(user_code, user, false).await
    }

    /// `POST /_emulator/approve` with `"decline": true`.
    pub async fn decline(&self, user_code: &str, user: &str) -> StatusCode {
        self.answer(user_code, user, true).await
    }

    async fn answer(&self, user_code: &str, user: &str, decline: bool) -> StatusCode {
        self.http
            .post(format!("{}/_emulator/approve", self.base()))
            .json(&json!({"user_code": user_code, "user": user, "decline": decline}))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// `PUT /_emulator/clock`: moves the emulator's (manual) clock.
    pub async fn advance(&self, seconds: u64) {
        let r = self
            .http
            .put(format!("{}/_emulator/clock", self.base()))
            .json(&json!({"advance_seconds": seconds}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// `GET /api/data/v9.2/WhoAmI` with an `Authorization` header: the HTTP status.
    pub async fn whoami(&self, bearer: &str) -> u16 {
        self.http
            .get(format!("{}/WhoAmI", self.emu.api_url()))
            .header("Authorization", bearer)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The user codes the emulator is waiting for (`GET /_emulator/devicecodes`).
    pub async fn pending_user_codes(&self) -> Vec<String> {
        let v: serde_json::Value = self
            .http
            .get(format!("{}/_emulator/devicecodes", self.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        serde_json::from_value(v["pending"].clone()).unwrap()
    }

    /// Token endpoint requests of `grant_type` so far (the emulator's stats).
    pub fn grants(&self, grant_type: &str) -> u64 {
        self.emu.stats().token_requests(grant_type)
    }

    /// Device code polls so far.
    pub fn polls(&self) -> u64 {
        self.grants(DEVICE_GRANT)
    }

    /// The next token request (of the fault's grant type) gets this OAuth error.
    pub fn fault(&self, fault: TokenFault) {
        self.emu.queue_token_fault(fault).unwrap();
    }
}

/// A manual clock at a fixed, arbitrary wall time.
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Ts(1_800_000_000_000)))
}

/// Polls `cond` every 10 ms (real time) until it holds; panics after 10 s.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            std::time::Instant::now() < give_up,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
