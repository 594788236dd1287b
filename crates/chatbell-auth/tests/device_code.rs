//! Device code flow against the emulator over real loopback HTTP.
//!
//! Tests that check the polling schedule to the second run under tokio's paused
//! clock (the client waits in tokio time; an exchange with the in-process emulator
//! over loopback takes no virtual time) with Microsoft's 5 s interval; the others
//! run in real time with a 1 s interval. Expiry on the server is the emulator's
//! manual clock, moved through `PUT /_emulator/clock`.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use chatbell_auth::{AuthError, DeviceCodeFailure, DeviceCodePrompt};
use chatbell_emulator::TokenFault;
use support::{broken_server, Idp, DANA, DEVICE_GRANT};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn device_code_keeps_polling_while_pending_then_signs_in() {
    let idp = Idp::start_paced().await;
    let client = idp.client(None);
    let prompt = client.start_device_code().await.unwrap();
    assert_eq!(
        idp.pending_user_codes().await,
        vec![prompt.user_code.clone()]
    );
    assert_eq!(
        prompt.verification_uri,
        format!("{}/devicelogin", idp.base())
    );
    assert_eq!(prompt.interval, Duration::from_secs(5));
    assert!(prompt
        .message
        .as_deref()
        .unwrap()
        .contains(&prompt.user_code));

    let waiting = tokio::spawn({
        let client = client.clone();
        let prompt = prompt.clone();
        async move {
            client
                .complete_device_code(&prompt, std::future::pending())
                .await
        }
    });
    // Let it poll a few times while the user has not approved yet.
    tokio::time::sleep(prompt.interval * 3 + Duration::from_secs(2)).await;
    assert_eq!(idp.polls(), 3, "one poll per interval");
    assert!(!waiting.is_finished());

    assert!(idp.approve(&prompt.user_code, DANA).await.is_success());
    let tokens = waiting.await.unwrap().unwrap();
    assert_eq!(idp.whoami(&tokens.access_token.bearer()).await, 200);
    assert!(tokens.refresh_token.is_some());
    let account = tokens.account.unwrap();
    assert_eq!(account.username.as_deref(), Some(DANA));
    assert_eq!(account.name.as_deref(), Some("Dana Demo"));
}

#[tokio::test]
async fn device_code_expired_on_the_server_is_a_typed_outcome() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let prompt = client.start_device_code().await.unwrap();
    // The server's clock runs out first (the client's own deadline is later).
    let lifetime = prompt
        .expires_at
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    idp.advance(lifetime.as_secs() + 1).await;
    let err = client
        .complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::DeviceCode(DeviceCodeFailure::Expired)),
        "{err:?}"
    );
}

#[tokio::test]
async fn device_code_declined_by_the_user_on_the_server_is_a_typed_outcome() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let prompt = client.start_device_code().await.unwrap();
    assert!(idp.decline(&prompt.user_code, DANA).await.is_success());
    let err = client
        .complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::DeviceCode(DeviceCodeFailure::Declined)),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn device_code_slow_down_adds_five_seconds_to_the_interval() {
    let idp = Idp::start_paced().await;
    let client = idp.client(None);
    let start = Instant::now();
    let prompt = client.start_device_code().await.unwrap();
    let task = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .complete_device_code(&prompt, std::future::pending())
                .await
        }
    });
    // Look at the emulator's poll count half a second after each (virtual) second,
    // so each poll is dated to its second. The emulator answers pending by itself;
    // after the 1st and 3rd poll it is told to say slow_down once, and after the
    // 5th the user approves.
    let mut polls: Vec<Instant> = Vec::new();
    let mut tick = start + Duration::from_millis(500);
    while !task.is_finished() {
        assert!(
            tick - start < Duration::from_secs(120),
            "sign-in never ended"
        );
        tokio::time::sleep_until(tick).await;
        let second = tick - Duration::from_millis(500);
        let seen = usize::try_from(idp.polls()).unwrap();
        while polls.len() < seen {
            polls.push(second);
            match polls.len() {
                1 | 3 => idp.fault(TokenFault::new("slow_down", 70016).grant_type(DEVICE_GRANT)),
                5 => {
                    let code = idp.pending_user_codes().await.remove(0);
                    assert!(idp.approve(&code, DANA).await.is_success());
                }
                _ => {}
            }
        }
        tick += Duration::from_secs(1);
    }
    let tokens = task.await.unwrap().unwrap();
    assert_eq!(idp.whoami(&tokens.access_token.bearer()).await, 200);
    let gaps: Vec<u64> = std::iter::once(start)
        .chain(polls.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(gaps, vec![5, 5, 10, 10, 15, 15]);
}

/// What the server does after the first (pending) poll.
enum Then {
    Decline,
    Expire,
    Fault(TokenFault),
}

async fn outcome_after_a_pending_poll(then: Then) -> AuthError {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let prompt = client.start_device_code().await.unwrap();
    let task = tokio::spawn({
        let client = client.clone();
        let prompt = prompt.clone();
        async move {
            client
                .complete_device_code(&prompt, std::future::pending())
                .await
        }
    });
    support::wait_for("the first poll", || idp.polls() >= 1).await;
    match then {
        Then::Decline => assert!(idp.decline(&prompt.user_code, DANA).await.is_success()),
        Then::Expire => idp.advance(15 * 60).await,
        Then::Fault(f) => idp.fault(f.grant_type(DEVICE_GRANT)),
    }
    let e = task.await.unwrap().unwrap_err();
    assert!(idp.polls() >= 2, "answered after a pending poll");
    e
}

#[tokio::test]
async fn device_code_declined_is_a_typed_outcome() {
    let e = outcome_after_a_pending_poll(Then::Decline).await;
    assert!(
        matches!(e, AuthError::DeviceCode(DeviceCodeFailure::Declined)),
        "{e:?}"
    );
}

#[tokio::test]
async fn device_code_expired_token_is_a_typed_outcome() {
    let e = outcome_after_a_pending_poll(Then::Expire).await;
    assert!(
        matches!(e, AuthError::DeviceCode(DeviceCodeFailure::Expired)),
        "{e:?}"
    );
}

#[tokio::test]
async fn device_code_bad_verification_code_is_a_typed_outcome() {
    let e = outcome_after_a_pending_poll(Then::Fault(
        TokenFault::new("bad_verification_code", 70000)
            .description("The device_code sent to the /token endpoint wasn't recognized."),
    ))
    .await;
    assert!(
        matches!(
            e,
            AuthError::DeviceCode(DeviceCodeFailure::BadVerificationCode)
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_device_code_the_server_never_issued_is_bad_verification_code() {
    // The identity platform answers a device code it does not know with
    // `bad_verification_code` (as the emulator does on its own, without a fault):
    // a typed outcome, not a raw OAuth error.
    let idp = Idp::start().await;
    let client = idp.client(None);
    let body = serde_json::json!({
        "user_code": "BCDFGHJKL",
        "device_code": "a-device-code-this-server-never-issued",
        "verification_uri": format!("{}/devicelogin", idp.base()),
        "expires_in": 900,
        "interval": 1,
    });
    let prompt = DeviceCodePrompt::from_response(
        200,
        body.to_string().as_bytes(),
        std::time::SystemTime::now(),
    )
    .unwrap();
    let e = client
        .complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            AuthError::DeviceCode(DeviceCodeFailure::BadVerificationCode)
        ),
        "{e:?}"
    );
    assert_eq!(idp.polls(), 1, "no second poll after bad_verification_code");
}

#[tokio::test]
async fn device_code_other_server_errors_are_reported_with_their_code() {
    let e = outcome_after_a_pending_poll(Then::Fault(
        TokenFault::new("invalid_client", 700016).description(
            "Application with identifier 'chatbell-test' was not found in the directory.",
        ),
    ))
    .await;
    match e {
        AuthError::OAuth(o) => {
            assert_eq!(o.error, "invalid_client");
            assert!(o.has_code(700016));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn device_code_stops_at_its_own_deadline_if_the_server_keeps_saying_pending() {
    // The emulator's clock stands still, so to it the code never expires: it
    // keeps answering pending, and the client must stop at its own deadline.
    let idp = Idp::start_with(
        support::options(Duration::from_secs(5)).device_code_lifetime(Duration::from_secs(60)),
    )
    .await;
    let client = idp.client(None);
    let start = Instant::now();
    let prompt = client.start_device_code().await.unwrap();
    let e = client
        .complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(e, AuthError::DeviceCode(DeviceCodeFailure::Expired)),
        "{e:?}"
    );
    assert_eq!(start.elapsed().as_secs(), 60);
    assert_eq!(idp.polls(), 11, "polls at 5, 10, ... 55 s");
}

#[tokio::test(start_paused = true)]
async fn device_code_can_be_cancelled_by_the_caller() {
    let idp = Idp::start_paced().await;
    let client = idp.client(None);
    let prompt = client.start_device_code().await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .complete_device_code(&prompt, async {
                    let _ = rx.await;
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_secs(12)).await;
    tx.send(()).unwrap();
    let e = task.await.unwrap().unwrap_err();
    assert!(matches!(e, AuthError::Cancelled), "{e:?}");
    assert_eq!(idp.polls(), 2);
}

#[tokio::test]
async fn device_code_malformed_answers_are_errors_not_panics() {
    let tokens = serde_json::json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "at", "refresh_token": "rt"});
    for device in [
        serde_json::json!({"user_code": "X"}),
        serde_json::json!({"device_code": "d", "user_code": "X", "verification_uri": "u", "expires_in": "soon"}),
        serde_json::json!({"device_code": "", "user_code": "X", "verification_uri": "u", "expires_in": 5}),
        serde_json::json!([1, 2]),
    ] {
        let base = broken_server::start(device.clone(), tokens.clone()).await;
        let e = broken_server::client(&base)
            .start_device_code()
            .await
            .unwrap_err();
        assert!(
            matches!(e, AuthError::MalformedResponse { .. }),
            "{device}: {e:?}"
        );
    }
    // A 200 from the token endpoint that is not a token response.
    let device = serde_json::json!({
        "device_code": "DC-secret", "user_code": "ABCD-EFGH",
        "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 1,
    });
    let base = broken_server::start(device, serde_json::json!({"hello": 1})).await;
    let client = broken_server::client(&base);
    let prompt = client.start_device_code().await.unwrap();
    let e = client
        .complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(e, AuthError::MalformedResponse { status: 200, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn device_code_prompt_debug_hides_the_device_code() {
    let idp = Idp::start().await;
    let prompt = idp.client(None).start_device_code().await.unwrap();
    let dbg = format!("{prompt:?}");
    assert!(dbg.contains(&prompt.user_code), "{dbg}");
    assert!(dbg.contains("device_code: [redacted]"), "{dbg}");
    // The emulator's device codes are 128 base64url characters: no such run shows.
    assert!(
        dbg.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .all(|word| word.len() < 64),
        "{dbg}"
    );
}
