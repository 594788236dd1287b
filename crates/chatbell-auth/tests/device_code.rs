//! Device code flow over real loopback HTTP, under tokio's paused clock.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use chatbell_auth::{AuthError, DeviceCodeFailure};
use support::{fake_idp::FakeIdp, scripted};

#[tokio::test(start_paused = true)]
async fn device_code_keeps_polling_while_pending_then_signs_in() {
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
    let prompt = client.start_device_code().await.unwrap();
    assert!(prompt.user_code.starts_with("UC"));
    assert_eq!(prompt.verification_uri, "https://microsoft.com/devicelogin");
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
    let pending_polls = idp.grants("urn:ietf:params:oauth:grant-type:device_code");
    assert_eq!(pending_polls, 3, "one poll per interval");
    assert!(!waiting.is_finished());

    assert!(idp
        .approve(&prompt.user_code, "demo.agent@chatbell.example")
        .await
        .is_success());
    let tokens = waiting.await.unwrap().unwrap();
    assert_eq!(idp.whoami(&tokens.access_token.bearer()).await, 200);
    assert!(tokens.refresh_token.is_some());
    let account = tokens.account.unwrap();
    assert_eq!(
        account.username.as_deref(),
        Some("demo.agent@chatbell.example")
    );
    assert_eq!(account.name.as_deref(), Some("Dana Demo"));
}

#[tokio::test(start_paused = true)]
async fn device_code_expired_on_the_server_is_a_typed_outcome() {
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
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

#[tokio::test(start_paused = true)]
async fn device_code_declined_by_the_user_on_the_server_is_a_typed_outcome() {
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
    let prompt = client.start_device_code().await.unwrap();
    assert!(idp
        .decline(&prompt.user_code, "demo.agent@chatbell.example")
        .await
        .is_success());
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
    let s = scripted::start(
        scripted::device(5, 900),
        vec![
            scripted::err("authorization_pending"),
            scripted::err("slow_down"),
            scripted::err("authorization_pending"),
            scripted::err("slow_down"),
            scripted::err("authorization_pending"),
            scripted::tokens(),
        ],
    )
    .await;
    let client = support::client(&s.base, None);
    let start = tokio::time::Instant::now();
    let prompt = client.start_device_code().await.unwrap();
    let tokens = client
        .complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap();
    assert_eq!(tokens.access_token.secret(), "at-s");
    let polls = s.polls.lock().unwrap().clone();
    let gaps: Vec<u64> = std::iter::once(start)
        .chain(polls.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(gaps, vec![5, 5, 10, 10, 15, 15]);
}

async fn outcome_of(answer: &str) -> AuthError {
    let s = scripted::start(
        scripted::device(1, 900),
        vec![
            scripted::err("authorization_pending"),
            scripted::err(answer),
        ],
    )
    .await;
    let client = support::client(&s.base, None);
    let prompt = client.start_device_code().await.unwrap();
    client
        .complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap_err()
}

#[tokio::test(start_paused = true)]
async fn device_code_declined_is_a_typed_outcome() {
    let e = outcome_of("authorization_declined").await;
    assert!(
        matches!(e, AuthError::DeviceCode(DeviceCodeFailure::Declined)),
        "{e:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn device_code_expired_token_is_a_typed_outcome() {
    let e = outcome_of("expired_token").await;
    assert!(
        matches!(e, AuthError::DeviceCode(DeviceCodeFailure::Expired)),
        "{e:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn device_code_bad_verification_code_is_a_typed_outcome() {
    let e = outcome_of("bad_verification_code").await;
    assert!(
        matches!(
            e,
            AuthError::DeviceCode(DeviceCodeFailure::BadVerificationCode)
        ),
        "{e:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn device_code_other_server_errors_are_reported_with_their_code() {
    let e = outcome_of("invalid_client").await;
    match e {
        AuthError::OAuth(o) => assert_eq!(o.error, "invalid_client"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn device_code_stops_at_its_own_deadline_if_the_server_keeps_saying_pending() {
    let s = scripted::start(
        scripted::device(5, 60),
        vec![scripted::err("authorization_pending")],
    )
    .await;
    let client = support::client(&s.base, None);
    let start = tokio::time::Instant::now();
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
    assert_eq!(
        s.polls.lock().unwrap().len(),
        11,
        "polls at 5, 10, ... 55 s"
    );
}

#[tokio::test(start_paused = true)]
async fn device_code_can_be_cancelled_by_the_caller() {
    let s = scripted::start(
        scripted::device(5, 900),
        vec![scripted::err("authorization_pending")],
    )
    .await;
    let client = support::client(&s.base, None);
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
    assert_eq!(s.polls.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn device_code_malformed_answers_are_errors_not_panics() {
    for device in [
        serde_json::json!({"user_code": "X"}),
        serde_json::json!({"device_code": "d", "user_code": "X", "verification_uri": "u", "expires_in": "soon"}),
        serde_json::json!({"device_code": "", "user_code": "X", "verification_uri": "u", "expires_in": 5}),
        serde_json::json!([1, 2]),
    ] {
        let s = scripted::start(device.clone(), vec![scripted::tokens()]).await;
        let e = support::client(&s.base, None)
            .start_device_code()
            .await
            .unwrap_err();
        assert!(
            matches!(e, AuthError::MalformedResponse { .. }),
            "{device}: {e:?}"
        );
    }
    // A 200 from the token endpoint that is not a token response.
    let s = scripted::start(
        scripted::device(1, 900),
        vec![(200, serde_json::json!({"hello": 1}))],
    )
    .await;
    let client = support::client(&s.base, None);
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

#[tokio::test(start_paused = true)]
async fn device_code_prompt_debug_hides_the_device_code() {
    let s = scripted::start(scripted::device(5, 900), vec![scripted::tokens()]).await;
    let prompt = support::client(&s.base, None)
        .start_device_code()
        .await
        .unwrap();
    let dbg = format!("{prompt:?}");
    assert!(dbg.contains("ABCD-EFGH"));
    assert!(!dbg.contains("DC-secret"), "{dbg}");
}
