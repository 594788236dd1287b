//! Signed in through the device code flow, the desk syncs with the session's
//! tokens; a refused token is refreshed once; a refused refresh asks for a new
//! sign-in.
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_auth::{
    AuthConfig, InMemoryKeyProvider, KeyProvider, OAuthClient, SignIn, TokenStore,
};
use chatbell_emulator::faults::TokenFault;
use chatbell_emulator::{Emulator, Options, Seed};
use chatbell_store::Store;
use chatbell_sync::signin::SignedIn;
use chatbell_sync::{Dataverse, DataverseError, Desk, DeskError, RetryPolicy};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn device_code_sign_in_then_sync_and_a_refused_token_is_refreshed_once() {
    let mut opts = Options::default()
        .seed(Seed::Demo)
        .clock(chatbell_emulator::OrgClock::manual_default())
        .access_token_lifetime(Duration::from_secs(3600))
        .device_code_interval(Duration::from_secs(1));
    opts.refresh_token_lifetime = Duration::from_secs(90 * 86_400);
    let emu = Emulator::start(in_test_org(opts)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Sign in: the agent enters the code shown; here the emulator approves it.
    let config = AuthConfig::new(
        emu.base_url(),
        &emu.tenant_id().to_string(),
        "chatbell-desktop",
        emu.base_url(),
    )
    .unwrap();
    let keys: Arc<dyn KeyProvider> = Arc::new(InMemoryKeyProvider::new());
    let (store, _mode) = TokenStore::open(dir.path(), keys).await;
    let session = Arc::new(SignIn::new(OAuthClient::new(config).unwrap(), store));
    let prompt = session.start_device_code().await.unwrap();
    let approve = reqwest::Client::new()
        .post(format!("{}/_emulator/approve", emu.base_url()))
        .json(&json!({"user_code": prompt.user_code, "user": DEMO_AGENT_EMAIL}))
        .send()
        .await
        .unwrap();
    assert!(approve.status().is_success());
    session
        .complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap();

    let dv = Dataverse::new(
        emu.base_url(),
        Arc::new(SignedIn::new(session.clone())),
        RetryPolicy::default(),
    )
    .unwrap();
    let recorder = Recorder::default();
    let mut desk = Desk::open(
        Store::open(&dir.path().join("chatbell.db")).await.unwrap(),
        dv,
        support::test_schema(),
        Arc::new(EmuClock(emu.clock().clone())),
        recorder,
        quick(),
    )
    .await
    .unwrap();
    assert_eq!(desk.me().0, SeedIds::demo_agent());
    desk.poll().await.unwrap();
    assert_eq!(emu.stats().token_requests("refresh_token"), 0);

    // Dynamics' clock passes the token's expiry: the next request meets a 401,
    // the session refreshes once, and the request goes through.
    emu.advance_clock(3601);
    desk.poll().await.unwrap();
    assert_eq!(emu.stats().token_requests("refresh_token"), 1);
    assert_eq!(emu.stats().by_status.get("401").copied(), Some(1));

    // The refresh is refused: the agent must sign in again.
    emu.queue_token_fault(TokenFault {
        error: "invalid_grant".into(),
        code: 50173,
        status: 400,
        description: None,
        grant_type: Some("refresh_token".into()),
    })
    .unwrap();
    emu.advance_clock(3601);
    match desk.poll().await {
        Err(DeskError::Dataverse(DataverseError::SignInRequired(_))) => {}
        other => panic!("expected sign-in required, got {other:?}"),
    }
    emu.shutdown().await;
}
