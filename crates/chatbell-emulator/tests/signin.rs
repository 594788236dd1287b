//! Sign-in endpoints (device code, authorization code + PKCE, refresh rotation)
//! and the `/_emulator` test endpoints (faults, stats, clock, tokens).
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use chatbell_emulator::{Options, OrgClock, Seed, SeedIds, TokenFault, DEMO_AGENT_EMAIL};
use common::{read, start, start_with, Resp, T};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

const CLIENT: &str = "11111111-aaaa-4bbb-8ccc-222222222222";
const SCOPE: &str = "https://org.crm.dynamics.com/user_impersonation offline_access openid profile";

async fn form(t: &T, path: &str, pairs: &[(&str, &str)]) -> Resp {
    let url = format!(
        "{}/{}/oauth2/v2.0/{path}",
        t.emu.base_url(),
        t.emu.tenant_id()
    );
    read(t.http.post(url).form(pairs).send().await.unwrap()).await
}

fn assert_aad_error(r: &Resp, error: &str, code: u64) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["error"], error, "{}", r.text);
    assert_eq!(r.json["error_codes"], json!([code]), "{}", r.text);
    assert!(r.json["error_description"]
        .as_str()
        .unwrap()
        .starts_with(&format!("AADSTS{code}:")));
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(r.json[k].is_string(), "{k} in {}", r.text);
    }
}

async fn whoami_with(t: &T, token: &str) -> Resp {
    read(t.req_as(token, Method::GET, "WhoAmI").send().await.unwrap()).await
}

async fn device_code(t: &T) -> Value {
    let r = form(t, "devicecode", &[("client_id", CLIENT), ("scope", SCOPE)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

async fn poll(t: &T, device_code: &str) -> Resp {
    form(
        t,
        "token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", CLIENT),
            ("device_code", device_code),
        ],
    )
    .await
}

#[tokio::test]
async fn device_code_pending_until_approved() {
    let t = start().await;
    let dc = device_code(&t).await;
    for k in ["device_code", "user_code", "verification_uri", "message"] {
        assert!(dc[k].is_string(), "{k}");
    }
    assert_eq!(dc["expires_in"], 900);
    assert_eq!(dc["interval"], 5);
    let code = dc["device_code"].as_str().unwrap();
    assert_aad_error(&poll(&t, code).await, "authorization_pending", 70016);

    let pending = t.admin(Method::GET, "devicecodes", None).await;
    assert_eq!(pending.json["pending"], json!([dc["user_code"]]));
    let a = t
        .admin(
            Method::POST,
            "approve",
            Some(json!({"user_code": dc["user_code"], "user": DEMO_AGENT_EMAIL})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    let r = poll(&t, code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(
        r.json["scope"],
        "https://org.crm.dynamics.com/user_impersonation"
    );
    assert_eq!(r.json["expires_in"], 3600);
    assert!(r.json["refresh_token"].is_string() && r.json["id_token"].is_string());
    let w = whoami_with(&t, r.json["access_token"].as_str().unwrap()).await;
    assert_eq!(w.json["UserId"], SeedIds::demo_agent().to_string());
    // A device code is redeemed once.
    assert_aad_error(&poll(&t, code).await, "invalid_grant", 70000);
}

#[tokio::test]
async fn token_and_device_code_endpoints_refuse_other_methods_with_an_oauth_error() {
    let t = start().await;
    for path in ["token", "devicecode"] {
        let url = format!(
            "{}/{}/oauth2/v2.0/{path}",
            t.emu.base_url(),
            t.emu.tenant_id()
        );
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let r = read(t.http.request(method.clone(), &url).send().await.unwrap()).await;
            assert_eq!(r.status, 405, "{method} {path}: {}", r.text);
            assert_eq!(r.json["error"], "invalid_request", "{}", r.text);
            assert!(r.json["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS900561:"));
        }
    }
}

#[tokio::test]
async fn a_tenant_that_is_not_utf8_still_gets_an_oauth_error() {
    let t = start().await;
    for path in ["token", "devicecode"] {
        let url = format!("{}/%FF%92/oauth2/v2.0/{path}", t.emu.base_url());
        let r = read(t.http.post(url).form(&[("x", "y")]).send().await.unwrap()).await;
        assert_aad_error(&r, "invalid_request", 900144);
    }
}

#[tokio::test]
async fn device_code_expires() {
    let t = start().await;
    let dc = device_code(&t).await;
    t.emu.advance_clock(901);
    assert_aad_error(
        &poll(&t, dc["device_code"].as_str().unwrap()).await,
        "expired_token",
        70019,
    );
}

#[tokio::test]
async fn device_code_can_be_declined() {
    let t = start().await;
    let dc = device_code(&t).await;
    t.admin(
        Method::POST,
        "approve",
        Some(json!({"user_code": dc["user_code"], "user": DEMO_AGENT_EMAIL, "decline": true})),
    )
    .await;
    assert_aad_error(
        &poll(&t, dc["device_code"].as_str().unwrap()).await,
        "authorization_declined",
        70018,
    );
}

#[tokio::test]
async fn unknown_device_code_is_bad_verification_code() {
    let t = start().await;
    for code in ["never-issued", ""] {
        let r = poll(&t, code).await;
        assert_aad_error(&r, "bad_verification_code", 70018);
        assert!(r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("wasn't recognized"));
    }
    // A code it issued to another client, or one already redeemed, is known:
    // those stay invalid_grant.
    let dc = device_code(&t).await;
    let code = dc["device_code"].as_str().unwrap();
    let other = form(
        &t,
        "token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "someone-else"),
            ("device_code", code),
        ],
    )
    .await;
    assert_aad_error(&other, "invalid_grant", 70000);
}

#[tokio::test]
async fn device_code_interval_and_lifetime_are_options() {
    let t = start_with(
        Options::default()
            .seed(Seed::Demo)
            .clock(OrgClock::manual_default())
            .device_code_interval(Duration::from_secs(1))
            .device_code_lifetime(Duration::from_secs(60)),
    )
    .await;
    let dc = device_code(&t).await;
    assert_eq!(dc["interval"], 1);
    assert_eq!(dc["expires_in"], 60);
    let code = dc["device_code"].as_str().unwrap();
    t.emu.advance_clock(59);
    assert_aad_error(&poll(&t, code).await, "authorization_pending", 70016);
    t.emu.advance_clock(1);
    assert_aad_error(&poll(&t, code).await, "expired_token", 70019);
}

#[tokio::test]
async fn sign_in_requests_missing_parameters_are_invalid_requests() {
    let t = start().await;
    assert_aad_error(
        &form(&t, "devicecode", &[("scope", SCOPE)]).await,
        "invalid_request",
        900144,
    );
    assert_aad_error(
        &form(&t, "devicecode", &[("client_id", CLIENT)]).await,
        "invalid_request",
        900144,
    );
    assert_aad_error(
        &form(&t, "token", &[("client_id", CLIENT)]).await,
        "invalid_request",
        900144,
    );
    assert_aad_error(
        &form(
            &t,
            "token",
            &[("grant_type", "password"), ("client_id", CLIENT)],
        )
        .await,
        "unsupported_grant_type",
        70003,
    );
}

async fn signed_in(t: &T) -> Value {
    let dc = device_code(t).await;
    t.admin(
        Method::POST,
        "approve",
        Some(json!({"user_code": dc["user_code"], "user": DEMO_AGENT_EMAIL})),
    )
    .await;
    poll(t, dc["device_code"].as_str().unwrap()).await.json
}

async fn refresh(t: &T, rt: &str) -> Resp {
    form(
        t,
        "token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", rt),
            ("scope", SCOPE),
        ],
    )
    .await
}

#[tokio::test]
async fn refresh_token_rotates_and_an_old_one_is_invalid_grant() {
    let t = start().await;
    let first = signed_in(&t).await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let second = refresh(&t, rt1).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let rt2 = second.json["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    assert_eq!(
        whoami_with(&t, second.json["access_token"].as_str().unwrap())
            .await
            .status,
        200
    );
    // The rotated-out token no longer works (stricter than Microsoft, on purpose).
    assert_aad_error(&refresh(&t, rt1).await, "invalid_grant", 70000);
    assert_eq!(refresh(&t, rt2).await.status, 200);
    assert_aad_error(&refresh(&t, "garbage").await, "invalid_grant", 9002313);
}

#[tokio::test]
async fn access_token_expires_after_the_configured_lifetime() {
    let t = start_with(
        Options::default()
            .seed(Seed::Demo)
            .clock(OrgClock::manual_default())
            .access_token_lifetime(Duration::from_secs(120)),
    )
    .await;
    let tokens = signed_in(&t).await;
    assert_eq!(tokens["expires_in"], 120);
    let at = tokens["access_token"].as_str().unwrap();
    t.emu.advance_clock(119);
    assert_eq!(whoami_with(&t, at).await.status, 200);
    t.emu.advance_clock(2);
    assert_eq!(whoami_with(&t, at).await.status, 401);
    // The refresh token still gets a fresh access token.
    let r = refresh(&t, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        whoami_with(&t, r.json["access_token"].as_str().unwrap())
            .await
            .status,
        200
    );
}

fn pkce() -> (String, String) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_string();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn authorize(t: &T, params: &[(&str, &str)]) -> reqwest::Response {
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize",
        t.emu.base_url(),
        t.emu.tenant_id()
    );
    t.http.get(url).query(params).send().await.unwrap()
}

const REDIRECT: &str = "http://127.0.0.1:53682/callback";

fn location_params(r: &reqwest::Response) -> (String, Vec<(String, String)>) {
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let url = reqwest::Url::parse(&loc).unwrap();
    let pairs = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (loc, pairs)
}

fn param<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn authorization_code_with_pkce_redirects_with_code_and_state() {
    let t = start().await;
    let (verifier, challenge) = pkce();
    let r = authorize(
        &t,
        &[
            ("client_id", CLIENT),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", SCOPE),
            ("state", "xyz 42"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", "alex.rivera@chatbell.example"),
        ],
    )
    .await;
    assert_eq!(r.status(), 302);
    let (loc, pairs) = location_params(&r);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    assert_eq!(param(&pairs, "state"), Some("xyz 42"));
    let code = param(&pairs, "code").unwrap().to_string();

    let redeem = |v: &str| {
        let v = v.to_string();
        let code = code.clone();
        let t = &t;
        async move {
            form(
                t,
                "token",
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", CLIENT),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &v),
                ],
            )
            .await
        }
    };
    assert_aad_error(&redeem("wrong-verifier").await, "invalid_grant", 501481);
    let ok = redeem(&verifier).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let w = whoami_with(&t, ok.json["access_token"].as_str().unwrap()).await;
    assert_eq!(w.json["UserId"], SeedIds::alex().to_string());
    assert_aad_error(&redeem(&verifier).await, "invalid_grant", 54005);
}

#[tokio::test]
async fn authorize_signs_in_the_user_set_by_the_test_endpoint() {
    let t = start().await;
    let (_, challenge) = pkce();
    let params = [
        ("client_id", CLIENT),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost:8400"),
        ("scope", SCOPE),
        ("state", "s"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = authorize(&t, &params).await;
    assert_eq!(r.status(), 302);
    let (_, pairs) = location_params(&r);
    assert_eq!(param(&pairs, "error"), Some("login_required"));
    t.admin(
        Method::PUT,
        "signin",
        Some(json!({"user": DEMO_AGENT_EMAIL})),
    )
    .await;
    let r = authorize(&t, &params).await;
    let (_, pairs) = location_params(&r);
    assert!(param(&pairs, "code").is_some(), "{pairs:?}");
}

#[tokio::test]
async fn authorize_refuses_non_loopback_redirects_and_missing_pkce() {
    let t = start().await;
    for redirect in [
        "https://evil.example/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://localhost@evil.example/",
    ] {
        let r = authorize(
            &t,
            &[
                ("client_id", CLIENT),
                ("response_type", "code"),
                ("redirect_uri", redirect),
            ],
        )
        .await;
        assert_eq!(r.status(), 400, "{redirect}");
        assert!(r.headers().get("location").is_none());
    }
    let r = authorize(
        &t,
        &[
            ("client_id", CLIENT),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("login_hint", DEMO_AGENT_EMAIL),
        ],
    )
    .await;
    assert_eq!(r.status(), 302);
    let (_, pairs) = location_params(&r);
    assert_eq!(param(&pairs, "error"), Some("invalid_request"));
}

// ---- /_emulator ----

#[tokio::test]
async fn emulator_endpoints_list_users_and_mint_tokens() {
    let t = start().await;
    let users = t.admin(Method::GET, "users", None).await;
    let list = users.json.as_array().unwrap();
    let demo = list
        .iter()
        .find(|u| u["internalemailaddress"] == DEMO_AGENT_EMAIL)
        .unwrap();
    assert_eq!(demo["teams"].as_array().unwrap().len(), 2);
    assert_eq!(demo["org_level_read"], false);
    let m = t
        .admin(
            Method::POST,
            "token",
            Some(json!({"user": SeedIds::sam().to_string()})),
        )
        .await;
    assert_eq!(m.json["user_id"], SeedIds::sam().to_string());
    assert_eq!(m.json["expires_in"], 3600);
    assert_eq!(
        whoami_with(&t, m.json["access_token"].as_str().unwrap())
            .await
            .json["UserId"],
        SeedIds::sam().to_string()
    );
    let p = t
        .admin(
            Method::PUT,
            &format!("users/{DEMO_AGENT_EMAIL}"),
            Some(json!({"org_level_read": true})),
        )
        .await;
    assert_eq!(p.json["org_level_read"], true);
    assert_eq!(
        t.admin(Method::POST, "token", Some(json!({"user": "nobody@x"})))
            .await
            .status,
        400
    );
    assert_eq!(
        t.admin(Method::POST, "token", Some(json!({"nope": 1})))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn faults_throttle_every_n_with_retry_after() {
    let t = start().await;
    let off = t.admin(Method::GET, "faults", None).await;
    assert_eq!(off.json["throttle_every"], 0);
    let set = t
        .admin(
            Method::PUT,
            "faults",
            Some(json!({"throttle_every": 3, "retry_after_seconds": 7})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(
        t.admin(Method::GET, "faults", None).await.json["throttle_every"],
        3
    );
    let statuses = [
        t.get("WhoAmI").await,
        t.get("WhoAmI").await,
        t.get("WhoAmI").await,
    ];
    assert_eq!(statuses[0].status, 200);
    assert_eq!(statuses[1].status, 200);
    let r = &statuses[2];
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("7"));
    assert_eq!(r.error_code(), "0x80072322");
    // Service protection: the same user is refused until the wait is over,
    // and the early request is counted.
    let early = t.get("WhoAmI").await;
    assert_eq!(early.status, 429);
    let left: u64 = early
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=7).contains(&left), "{left}");
    let stats = t.admin(Method::GET, "stats", None).await.json;
    assert_eq!(stats["throttled"], 1);
    let early_retries: u64 = stats["early_retries_by_user"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(early_retries, 1);
    let bad = t
        .admin(Method::PUT, "faults", Some(json!({"throttle_code": "0x1"})))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn faults_server_errors_and_dropped_connections_every_n() {
    let t = start().await;
    t.admin(
        Method::PUT,
        "faults",
        Some(json!({"error_every": 2, "error_status": 502})),
    )
    .await;
    assert_eq!(t.get("WhoAmI").await.status, 200);
    let r = t.get("WhoAmI").await;
    assert_eq!(r.status, 502);
    assert!(r.error_code().starts_with("0x"));

    t.admin(Method::PUT, "faults", Some(json!({"drop_every": 2})))
        .await;
    assert_eq!(t.get("WhoAmI").await.status, 200);
    let dropped = t.req(Method::GET, "WhoAmI").send().await;
    assert!(
        dropped.is_err(),
        "the connection should be dropped without a response"
    );
    assert_eq!(t.get("WhoAmI").await.status, 200);
}

#[tokio::test]
async fn faults_add_latency() {
    let t = start().await;
    t.admin(Method::PUT, "faults", Some(json!({"latency_ms": 150})))
        .await;
    let start = std::time::Instant::now();
    assert_eq!(t.get("WhoAmI").await.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(150));

    // While a slow request is served, it is counted in flight.
    assert_eq!(t.emu.in_flight(), 0);
    let (served, seen) = tokio::join!(t.get("WhoAmI"), async {
        tokio::time::sleep(Duration::from_millis(75)).await;
        t.emu.in_flight()
    });
    assert_eq!(served.status, 200);
    assert_eq!(seen, 1);
    assert_eq!(t.emu.in_flight(), 0);
}

#[tokio::test]
async fn stats_count_requests_per_entity_set_and_user() {
    let t = start().await;
    t.get("WhoAmI").await;
    t.get("cb_chatsessions?$select=cb_name").await;
    t.get("cb_chatsessions?$select=cb_name").await;
    read(
        t.http
            .get(format!("{}/WhoAmI", t.api()))
            .send()
            .await
            .unwrap(),
    )
    .await; // 401
    let s = t.admin(Method::GET, "stats", None).await;
    assert_eq!(s.json["total"], 4, "{}", s.text);
    assert_eq!(s.json["by_entity_set"]["cb_chatsessions"], 2);
    assert_eq!(s.json["by_entity_set"]["WhoAmI"], 2);
    assert_eq!(s.json["by_user"][SeedIds::demo_agent().to_string()], 3);
    assert_eq!(s.json["by_status"]["401"], 1);
    t.admin(Method::POST, "stats/reset", None).await;
    assert_eq!(t.admin(Method::GET, "stats", None).await.json["total"], 0);
}

#[tokio::test]
async fn clock_endpoint_advances_and_sets_time() {
    let t = start().await;
    let c = t.admin(Method::GET, "clock", None).await;
    assert_eq!(c.json["now"], "2026-11-21T09:00:00Z");
    assert_eq!(c.json["manual"], true);
    let c = t
        .admin(Method::PUT, "clock", Some(json!({"advance_seconds": 90})))
        .await;
    assert_eq!(c.json["now"], "2026-11-21T09:01:30Z");
    let c = t
        .admin(
            Method::PUT,
            "clock",
            Some(json!({"now": "2026-11-21T09:45:00Z"})),
        )
        .await;
    assert_eq!(c.json["now"], "2026-11-21T09:45:00Z");
    // Rows written now carry the new time.
    let id = t
        .create("cb_blockednumbers", json!({"cb_number": "+15550000009"}))
        .await;
    assert_eq!(
        t.get(&format!("cb_blockednumbers({id})")).await.json["createdon"],
        "2026-11-21T09:45:00Z"
    );
    assert_eq!(
        t.admin(Method::PUT, "clock", Some(json!({"now": "soon"})))
            .await
            .status,
        400
    );
    assert_eq!(
        t.admin(Method::PUT, "clock", Some(json!({}))).await.status,
        400
    );
}

#[tokio::test]
async fn token_faults_answer_the_next_matching_token_request_once() {
    let t = start().await;
    let dc = device_code(&t).await;
    let code = dc["device_code"].as_str().unwrap();
    t.admin(
        Method::POST,
        "approve",
        Some(json!({"user_code": dc["user_code"], "user": DEMO_AGENT_EMAIL})),
    )
    .await;
    // Through the test endpoint: a slow_down for the next device code poll only.
    let q = t
        .admin(
            Method::POST,
            "faults/token",
            Some(json!({"error": "slow_down", "code": 70016, "grant_type": "device_code"})),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.text);
    assert_eq!(q.json["queued"][0]["error"], "slow_down");
    // A refresh is not a device code poll: it passes the fault by.
    t.emu
        .queue_token_fault(TokenFault::new("invalid_grant", 50173).grant_type("refresh_token"))
        .unwrap();
    assert_eq!(t.emu.token_faults().len(), 2);
    let r = poll(&t, code).await;
    assert_aad_error(&r, "slow_down", 70016);
    assert!(r.json["error_description"]
        .as_str()
        .unwrap()
        .contains("polling too quickly"));
    // The refused poll redeemed nothing: the next one gets the tokens.
    let tokens = poll(&t, code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let rt = tokens.json["refresh_token"].as_str().unwrap();
    assert_aad_error(&refresh(&t, rt).await, "invalid_grant", 50173);
    // ... and the refused refresh did not rotate the token away.
    assert!(t.emu.token_faults().is_empty());
    let fresh = refresh(&t, rt).await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);

    // Server errors, with any status from 400 to 599.
    t.emu
        .queue_token_fault(
            TokenFault::new("temporarily_unavailable", 50196)
                .status(503)
                .description("Service busy."),
        )
        .unwrap();
    let rt = fresh.json["refresh_token"].as_str().unwrap();
    let busy = refresh(&t, rt).await;
    assert_eq!(busy.status, 503);
    assert_eq!(busy.json["error"], "temporarily_unavailable");
    assert!(busy.json["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS50196: Service busy."));
    assert_eq!(refresh(&t, rt).await.status, 200);

    // Refused faults, listing and clearing.
    for bad in [
        json!({"error": "slow_down", "code": 1, "status": 200}),
        json!({"error": "", "code": 1}),
        json!({"error": "slow_down"}),
        json!({"error": "slow_down", "code": 1, "colour": "red"}),
    ] {
        let r = t
            .admin(Method::POST, "faults/token", Some(bad.clone()))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    assert!(t
        .emu
        .queue_token_fault(TokenFault::new("x", 1).status(302))
        .is_err());
    t.admin(
        Method::POST,
        "faults/token",
        Some(json!({"error": "invalid_client", "code": 700016})),
    )
    .await;
    let listed = t.admin(Method::GET, "faults/token", None).await;
    assert_eq!(listed.json["queued"][0]["status"], 400);
    let cleared = t.admin(Method::DELETE, "faults/token", None).await;
    assert_eq!(cleared.json["queued"], json!([]));
}

#[tokio::test]
async fn stats_count_token_requests_per_grant_type() {
    let t = start().await;
    let dc = device_code(&t).await;
    let code = dc["device_code"].as_str().unwrap();
    poll(&t, code).await; // pending
    t.admin(
        Method::POST,
        "approve",
        Some(json!({"user_code": dc["user_code"], "user": DEMO_AGENT_EMAIL})),
    )
    .await;
    let tokens = poll(&t, code).await.json;
    refresh(&t, tokens["refresh_token"].as_str().unwrap()).await;
    refresh(&t, "garbage").await; // refused, still counted
    let s = t.admin(Method::GET, "stats", None).await;
    let by_grant = &s.json["token_requests_by_grant_type"];
    assert_eq!(
        by_grant["urn:ietf:params:oauth:grant-type:device_code"], 2,
        "{}",
        s.text
    );
    assert_eq!(by_grant["refresh_token"], 2);
    assert_eq!(
        s.json["total"], 0,
        "token requests are not Web API requests"
    );
    assert_eq!(t.emu.stats().token_requests("refresh_token"), 2);
    t.admin(Method::POST, "stats/reset", None).await;
    assert_eq!(t.emu.stats().token_requests("refresh_token"), 0);
}
