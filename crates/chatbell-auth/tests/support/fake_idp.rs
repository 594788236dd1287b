//! An in-process identity provider implementing the sign-in protocol that ChatBell's
//! Dataverse emulator documents, on one loopback base URL:
//!
//! - `POST /{tenant}/oauth2/v2.0/devicecode` (form `client_id`, `scope`)
//! - `POST /{tenant}/oauth2/v2.0/token`: device code (`authorization_pending` until
//!   approved, `expired_token` after `expires_in`), `refresh_token` (rotates; the old
//!   one then gets `invalid_grant`), `authorization_code` with S256 PKCE
//! - `GET /{tenant}/oauth2/v2.0/authorize`: signs in the user named by `login_hint`
//!   and 302s to `redirect_uri` with `code` and `state`
//! - `POST /_emulator/approve {"user_code", "user", "decline"?}`, `PUT /_emulator/clock {"advance_seconds"}`
//! - `GET /api/data/v9.2/WhoAmI`: 401 with a `WWW-Authenticate: Bearer` challenge
//!   unless the bearer token is valid at the emulator's clock
//!
//! It also counts requests, which the emulator does not expose.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

pub const TENANT: &str = "contoso";
pub const CLIENT_ID: &str = "chatbell-test";
/// Access token lifetime, seconds.
pub const ACCESS_TTL: u64 = 3600;
/// Device code lifetime, seconds.
pub const DEVICE_TTL: u64 = 900;

#[derive(Default)]
pub struct Inner {
    now: u64,
    next: u64,
    devices: HashMap<String, Device>,
    codes: HashMap<String, Code>,
    refresh: HashMap<String, String>,
    access: HashMap<String, (String, u64)>,
    /// Token requests by grant type.
    pub grants: HashMap<String, usize>,
    /// Answers to give to the next token requests instead of the real ones.
    pub forced: VecDeque<(StatusCode, Value)>,
    /// Requests seen on `/`-less paths by the authorize endpoint.
    pub authorize_requests: usize,
}

struct Device {
    user_code: String,
    expires: u64,
    user: Option<String>,
    declined: bool,
}

struct Code {
    user: String,
    challenge: String,
    method: String,
    redirect_uri: String,
}

#[derive(Clone)]
pub struct FakeIdp {
    pub base: String,
    pub state: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

pub fn users() -> HashMap<&'static str, (&'static str, &'static str)> {
    HashMap::from([
        (
            "demo.agent@chatbell.example",
            ("Dana Demo", "00000000-0000-0000-0000-00000000ada0"),
        ),
        (
            "alex.rivera@chatbell.example",
            ("Alex Rivera", "00000000-0000-0000-0000-000000000b00"),
        ),
    ])
}

impl FakeIdp {
    pub async fn start() -> FakeIdp {
        let state = Arc::new(Mutex::new(Inner {
            now: 1_800_000_000,
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
            .route("/_emulator/approve", post(approve))
            .route("/_emulator/clock", put(clock))
            .route("/api/data/v9.2/WhoAmI", get(whoami))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeIdp {
            base,
            state,
            http: reqwest::Client::new(),
        }
    }

    /// `POST /_emulator/approve`.
    pub async fn approve(&self, user_code: &str, user: &str) -> StatusCode {
        self.answer(user_code, user, false).await
    }

    /// `POST /_emulator/approve` with `"decline": true`.
    pub async fn decline(&self, user_code: &str, user: &str) -> StatusCode {
        self.answer(user_code, user, true).await
    }

    async fn answer(&self, user_code: &str, user: &str, decline: bool) -> StatusCode {
        let r = self
            .http
            .post(format!("{}/_emulator/approve", self.base))
            .json(&json!({"user_code": user_code, "user": user, "decline": decline}))
            .send()
            .await
            .unwrap();
        StatusCode::from_u16(r.status().as_u16()).unwrap()
    }

    /// `PUT /_emulator/clock`.
    pub async fn advance(&self, seconds: u64) {
        let r = self
            .http
            .put(format!("{}/_emulator/clock", self.base))
            .json(&json!({"advance_seconds": seconds}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// `GET /api/data/v9.2/WhoAmI` with the token: the HTTP status.
    pub async fn whoami(&self, bearer: &str) -> u16 {
        self.http
            .get(format!("{}/api/data/v9.2/WhoAmI", self.base))
            .header("Authorization", bearer)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub fn grants(&self, grant: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .grants
            .get(grant)
            .copied()
            .unwrap_or(0)
    }

    /// The next token request gets this answer.
    pub fn force_next(&self, status: StatusCode, body: Value) {
        self.state.lock().unwrap().forced.push_back((status, body));
    }
}

fn oauth_error(error: &str, code: u64, desc: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {desc}\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-11-21 10:15:00Z"),
            "error_codes": [code],
            "timestamp": "2026-11-21 10:15:00Z",
            "trace_id": "t",
            "correlation_id": "c",
        })),
    )
        .into_response()
}

fn id_token(user: &str) -> String {
    let (name, oid) = users().get(user).copied().unwrap_or(("Unknown", "0"));
    let claims = json!({"name": name, "preferred_username": user, "oid": oid, "tid": TENANT, "aud": CLIENT_ID});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn issue(s: &mut Inner, user: &str) -> Response {
    s.next += 1;
    let at = format!("at-{}-{}", s.next, user);
    let rt = format!("rt-{}-{}", s.next, user);
    s.access
        .insert(at.clone(), (user.to_owned(), s.now + ACCESS_TTL));
    s.refresh.insert(rt.clone(), user.to_owned());
    Json(json!({
        "token_type": "Bearer",
        "scope": "user_impersonation",
        "expires_in": ACCESS_TTL,
        "ext_expires_in": ACCESS_TTL,
        "access_token": at,
        "refresh_token": rt,
        "id_token": id_token(user),
    }))
    .into_response()
}

async fn devicecode(
    State(st): State<Arc<Mutex<Inner>>>,
    Path(tenant): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if tenant != TENANT || f.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return oauth_error("invalid_client", 700016, "Application not found");
    }
    if !f.get("scope").is_some_and(|s| s.contains("offline_access")) {
        return oauth_error("invalid_scope", 70011, "scope");
    }
    let mut s = st.lock().unwrap();
    s.next += 1;
    let device_code = format!("dc-{}", s.next);
    let user_code = format!("UC{:04}", s.next);
    let expires = s.now + DEVICE_TTL;
    s.devices.insert(
        device_code.clone(),
        Device {
            user_code: user_code.clone(),
            expires,
            user: None,
            declined: false,
        },
    );
    Json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": DEVICE_TTL,
        "interval": 5,
        "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate."),
    }))
    .into_response()
}

async fn token(
    State(st): State<Arc<Mutex<Inner>>>,
    Path(tenant): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = st.lock().unwrap();
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    *s.grants.entry(grant.clone()).or_default() += 1;
    if let Some((status, body)) = s.forced.pop_front() {
        return (status, Json(body)).into_response();
    }
    if tenant != TENANT || f.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return oauth_error("invalid_client", 700016, "Application not found");
    }
    if f.contains_key("client_secret") {
        return oauth_error("invalid_request", 90023, "public clients send no secret");
    }
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    match grant.as_str() {
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let now = s.now;
            let Some(d) = s.devices.get(&get("device_code")) else {
                return oauth_error("bad_verification_code", 70019, "unknown device code");
            };
            if now >= d.expires {
                return oauth_error("expired_token", 70019, "Verification code expired.");
            }
            if d.declined {
                return oauth_error(
                    "authorization_declined",
                    70018,
                    "The user declined to authorize the request.",
                );
            }
            let Some(user) = d.user.clone() else {
                return oauth_error("authorization_pending", 70016, "pending");
            };
            s.devices.remove(&get("device_code"));
            issue(&mut s, &user)
        }
        "refresh_token" => match s.refresh.remove(&get("refresh_token")) {
            Some(user) => issue(&mut s, &user),
            None => oauth_error(
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed.",
            ),
        },
        "authorization_code" => {
            let Some(c) = s.codes.remove(&get("code")) else {
                return oauth_error("invalid_grant", 70000, "code unknown or used");
            };
            let verifier = get("code_verifier");
            let computed =
                URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
            if c.method != "S256" || computed != c.challenge {
                return oauth_error(
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge.",
                );
            }
            if get("redirect_uri") != c.redirect_uri {
                return oauth_error("invalid_grant", 50148, "redirect_uri mismatch");
            }
            issue(&mut s, &c.user)
        }
        _ => oauth_error("unsupported_grant_type", 70003, "grant"),
    }
}

async fn authorize(
    State(st): State<Arc<Mutex<Inner>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = st.lock().unwrap();
    s.authorize_requests += 1;
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let user = get("login_hint");
    if get("response_type") != "code"
        || get("client_id") != CLIENT_ID
        || !users().contains_key(user.as_str())
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    s.next += 1;
    let code = format!("code-{}", s.next);
    s.codes.insert(
        code.clone(),
        Code {
            user,
            challenge: get("code_challenge"),
            method: get("code_challenge_method"),
            redirect_uri: get("redirect_uri"),
        },
    );
    let mut target = reqwest::Url::parse(&get("redirect_uri")).unwrap();
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

async fn approve(State(st): State<Arc<Mutex<Inner>>>, Json(b): Json<Value>) -> StatusCode {
    let mut s = st.lock().unwrap();
    let (Some(code), Some(user)) = (b["user_code"].as_str(), b["user"].as_str()) else {
        return StatusCode::BAD_REQUEST;
    };
    match s.devices.values_mut().find(|d| d.user_code == code) {
        Some(d) => {
            if b["decline"].as_bool() == Some(true) {
                d.declined = true;
            } else {
                d.user = Some(user.to_owned());
            }
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn clock(State(st): State<Arc<Mutex<Inner>>>, Json(b): Json<Value>) -> StatusCode {
    match b["advance_seconds"].as_u64() {
        Some(n) => {
            st.lock().unwrap().now += n;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn whoami(State(st): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    let s = st.lock().unwrap();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| s.access.get(t)) {
        Some((user, exp)) if s.now < *exp => {
            let oid = users().get(user.as_str()).map(|u| u.1).unwrap_or("0");
            Json(json!({"UserId": oid, "BusinessUnitId": "bu", "OrganizationId": "org"})).into_response()
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer authorization_uri=https://login.microsoftonline.com/contoso/oauth2/authorize")],
        )
            .into_response(),
    }
}
