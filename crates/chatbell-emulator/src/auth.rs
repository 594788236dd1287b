//! Sign-in endpoints shaped like the Microsoft identity platform (v2.0), and the
//! Web API's bearer-token check.
//!
//! - `POST /{tenant}/oauth2/v2.0/devicecode` and the `device_code` grant:
//!   `authorization_pending` until the code is approved (through
//!   `POST /_emulator/approve` or the `/devicelogin` page), `expired_token` after
//!   its lifetime, `authorization_declined` if declined, `bad_verification_code`
//!   for a device code it never issued, `invalid_grant` for one already redeemed
//!   or issued to another client.
//! - `GET /{tenant}/oauth2/v2.0/authorize` (authorization code with PKCE) on a
//!   loopback redirect, and the `authorization_code` grant.
//! - The `refresh_token` grant, which rotates the refresh token.
//! - One-shot injected OAuth errors for the token endpoint (see
//!   [`crate::faults::TokenFault`]), and token requests counted per grant type in
//!   the stats.
//!
//! Errors carry `error`, `error_description` (with an AADSTS code, trace id,
//! correlation id and timestamp), `error_codes`, `timestamp`, `trace_id`,
//! `correlation_id` and `error_uri`, as Microsoft's do.
//!
//! Deviations from Microsoft, on purpose:
//! - A refresh token can be redeemed once: once rotated, the old one fails with
//!   `invalid_grant`. Microsoft usually still accepts an old refresh token for a
//!   while; the emulator is stricter so that a client which does not keep the
//!   newest token fails in tests rather than in production weeks later.
//! - `authorize` requires PKCE (`code_challenge`, `S256` or `plain`), because
//!   ChatBell must always use it; the user is the one named by `login_hint`, else
//!   the one set with `PUT /_emulator/signin`; there is no interactive page.
//! - Tokens are JWT-shaped, but their signatures are random: the Web API accepts
//!   exactly the tokens this emulator issued, and only until they expire.

use crate::clock::format_ts;
use crate::odata::query_pairs;
use crate::state::{lock, Shared};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone)]
struct Access {
    user: Uuid,
    expires: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Refresh {
    user: Uuid,
    client_id: String,
    scope: String,
    expires: DateTime<Utc>,
    redeemed: bool,
}

#[derive(Debug, Clone)]
struct Device {
    user_code: String,
    client_id: String,
    scope: String,
    expires: DateTime<Utc>,
    approved: Option<Uuid>,
    declined: bool,
    redeemed: bool,
}

#[derive(Debug, Clone)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    method: String,
    scope: String,
    user: Uuid,
    expires: DateTime<Utc>,
    redeemed: bool,
}

/// Tokens and pending sign-ins.
#[derive(Debug, Default)]
pub struct AuthState {
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    devices: HashMap<String, Device>,
    codes: HashMap<String, AuthCode>,
    /// The user `authorize` signs in when no `login_hint` is given.
    pub signin_user: Option<Uuid>,
}

impl AuthState {
    /// Every access and refresh token issued to `user` that is still on record
    /// (refresh tokens stay after use): for tests that check a client never
    /// writes one down in plain text.
    pub fn tokens_of(&self, user: Uuid) -> Vec<String> {
        let access = self
            .access
            .iter()
            .filter(|(_, a)| a.user == user)
            .map(|(t, _)| t.clone());
        let refresh = self
            .refresh
            .iter()
            .filter(|(_, r)| r.user == user)
            .map(|(t, _)| t.clone());
        access.chain(refresh).collect()
    }
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token this emulator issued, now expired.
    Expired,
    /// A token this emulator never issued.
    Unknown,
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn random_string(bytes: usize) -> String {
    let mut v = Vec::with_capacity(bytes);
    while v.len() < bytes {
        v.extend_from_slice(Uuid::new_v4().as_bytes());
    }
    v.truncate(bytes);
    b64(&v)
}

fn jwt(claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "chatbell-emulator"});
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        random_string(64)
    )
}

impl AuthState {
    /// Issues an access token for `user` valid for `lifetime` seconds.
    pub fn mint_access(
        &mut self,
        sh_base: &str,
        tenant: Uuid,
        user: Uuid,
        now: DateTime<Utc>,
        lifetime: i64,
    ) -> String {
        let exp = now + chrono::Duration::seconds(lifetime);
        let claims = json!({
            "aud": format!("{sh_base}/"),
            "iss": format!("https://sts.windows.net/{tenant}/"),
            "iat": now.timestamp(), "nbf": now.timestamp(), "exp": exp.timestamp(),
            "oid": user.to_string(), "tid": tenant.to_string(),
            "scp": "user_impersonation", "ver": "1.0",
            "uti": Uuid::new_v4().to_string(),
        });
        let t = jwt(&claims);
        self.access.insert(t.clone(), Access { user, expires: exp });
        t
    }

    /// The user of a bearer token.
    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Result<Uuid, TokenProblem> {
        match self.access.get(token) {
            None => Err(TokenProblem::Unknown),
            Some(a) if a.expires <= now => Err(TokenProblem::Expired),
            Some(a) => Ok(a.user),
        }
    }

    /// Approves (or declines) a pending device code by its user code.
    pub fn approve(
        &mut self,
        user_code: &str,
        user: Uuid,
        decline: bool,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let d = self
            .devices
            .values_mut()
            .find(|d| d.user_code.eq_ignore_ascii_case(user_code.trim()))
            .ok_or_else(|| format!("no device code with user code {user_code}"))?;
        if d.expires <= now {
            return Err("the code has expired".into());
        }
        if decline {
            d.declined = true;
        } else {
            d.approved = Some(user);
        }
        Ok(())
    }

    /// Pending (not yet approved, not expired) user codes.
    pub fn pending_user_codes(&self, now: DateTime<Utc>) -> Vec<String> {
        self.devices
            .values()
            .filter(|d| d.approved.is_none() && !d.declined && d.expires > now)
            .map(|d| d.user_code.clone())
            .collect()
    }
}

/// Checks the request's bearer token; on `Err`, send [`unauthorized`].
pub fn authenticate(sh: &Shared, headers: &HeaderMap) -> Result<Uuid, TokenProblem> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
    match token {
        None => Err(TokenProblem::Missing),
        Some(t) => lock(&sh.auth).check(&t, sh.clock.now()),
    }
}

/// Dataverse's 401: an empty body and a `WWW-Authenticate` challenge that names
/// the authority to sign in with.
pub fn unauthorized(sh: &Shared, problem: TokenProblem) -> Response {
    let authz = format!("{}/{}/oauth2/authorize", sh.base_url, sh.cfg.tenant_id);
    let challenge = match problem {
        TokenProblem::Missing => format!("Bearer authorization_uri={authz}, resource_id={}/", sh.base_url),
        TokenProblem::Expired | TokenProblem::Unknown => format!(
            "Bearer error=invalid_token, error_description=Error during token validation!, authorization_uri={authz}, resource_id={}/",
            sh.base_url
        ),
    };
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r.headers_mut()
        .insert("odata-version", HeaderValue::from_static("4.0"));
    r
}

/// A Microsoft identity platform error response.
pub fn aad_error(sh: &Shared, status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let now = sh.clock.now();
    let ts = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
    let trace = Uuid::new_v4().to_string();
    let corr = Uuid::new_v4().to_string();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("{}/error?code={code}", sh.base_url),
    });
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    r
}

/// The token and device code endpoints answer any method but `POST` with the
/// identity platform's AADSTS900561 (as `405`).
pub async fn post_only(State(sh): State<Arc<Shared>>, method: Method) -> Response {
    aad_error(
        &sh,
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        900561,
        &format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
    )
}

fn missing(sh: &Shared, name: &str) -> Response {
    aad_error(
        sh,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn form(body: &[u8]) -> HashMap<String, String> {
    let s = String::from_utf8_lossy(body);
    query_pairs(&s).into_iter().collect()
}

/// The scopes an access token is issued for (resource scopes only).
fn token_scope(scope: &str) -> String {
    let s: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access" | "email"))
        .collect();
    s.join(" ")
}

fn token_response(
    sh: &Shared,
    auth: &mut AuthState,
    user: Uuid,
    client_id: &str,
    scope: &str,
) -> Response {
    let now = sh.clock.now();
    let life = sh.cfg.access_token_lifetime;
    let access = auth.mint_access(&sh.base_url, sh.cfg.tenant_id, user, now, life);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": token_scope(scope),
        "expires_in": life,
        "ext_expires_in": life,
        "access_token": access,
    });
    let words: Vec<&str> = scope.split_whitespace().collect();
    if words.contains(&"offline_access") {
        let rt = random_string(96);
        auth.refresh.insert(
            rt.clone(),
            Refresh {
                user,
                client_id: client_id.to_string(),
                scope: scope.to_string(),
                expires: now + chrono::Duration::seconds(sh.cfg.refresh_token_lifetime),
                redeemed: false,
            },
        );
        body["refresh_token"] = Value::String(rt);
    }
    if words.contains(&"openid") {
        let store = lock(&sh.store);
        let row = store.get("systemusers", user);
        let name = row.and_then(|r| r.str("fullname")).unwrap_or_default();
        let upn = row
            .and_then(|r| r.str("internalemailaddress"))
            .unwrap_or_default();
        body["id_token"] = Value::String(jwt(&json!({
            "aud": client_id,
            "iss": format!("{}/{}/v2.0", sh.base_url, sh.cfg.tenant_id),
            "iat": now.timestamp(), "nbf": now.timestamp(),
            "exp": (now + chrono::Duration::hours(1)).timestamp(),
            "name": name, "preferred_username": upn,
            "oid": user.to_string(), "sub": user.simple().to_string(),
            "tid": sh.cfg.tenant_id.to_string(), "ver": "2.0",
        })));
    }
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    r
}

fn user_code() -> String {
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    Uuid::new_v4().as_bytes()[..9]
        .iter()
        .map(|b| LETTERS[*b as usize % LETTERS.len()] as char)
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (any tenant: the path is not read, so
/// that even one that is not UTF-8 gets an OAuth error).
pub async fn devicecode(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let f = form(&body);
    let Some(client_id) = f.get("client_id").filter(|s| !s.is_empty()) else {
        return missing(&sh, "client_id");
    };
    let Some(scope) = f.get("scope").filter(|s| !s.is_empty()) else {
        return missing(&sh, "scope");
    };
    let now = sh.clock.now();
    let device_code = random_string(96);
    let code = user_code();
    let uri = format!("{}/devicelogin", sh.base_url);
    lock(&sh.auth).devices.insert(
        device_code.clone(),
        Device {
            user_code: code.clone(),
            client_id: client_id.clone(),
            scope: scope.clone(),
            expires: now + chrono::Duration::seconds(sh.cfg.device_code_lifetime),
            approved: None,
            declined: false,
            redeemed: false,
        },
    );
    let body = json!({
        "user_code": code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": sh.cfg.device_code_lifetime,
        "interval": sh.cfg.device_code_interval,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {code} to authenticate."),
    });
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// `POST /{tenant}/oauth2/v2.0/token` (any tenant: the path is not read, so
/// that even one that is not UTF-8 gets an OAuth error).
pub async fn token(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let f = form(&body);
    let Some(grant) = f.get("grant_type") else {
        return missing(&sh, "grant_type");
    };
    lock(&sh.stats).count_token_request(grant);
    if let Some(fault) = sh.faults.take_token(grant) {
        let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::BAD_REQUEST);
        return aad_error(&sh, status, &fault.error, fault.code, &fault.text());
    }
    let Some(client_id) = f.get("client_id").filter(|s| !s.is_empty()).cloned() else {
        return missing(&sh, "client_id");
    };
    let now = sh.clock.now();
    let bad = |code: u32, text: &str| {
        aad_error(&sh, StatusCode::BAD_REQUEST, "invalid_grant", code, text)
    };
    match grant.as_str() {
        "urn:ietf:params:oauth:grant-type:device_code" | "device_code" => {
            let Some(dc) = f.get("device_code") else {
                return missing(&sh, "device_code");
            };
            let mut auth = lock(&sh.auth);
            let Some(d) = auth.devices.get(dc).cloned() else {
                // The identity platform's device code page lists
                // `bad_verification_code` for "the device_code sent to the /token
                // endpoint wasn't recognized" (learn.microsoft.com, "Microsoft
                // identity platform and the OAuth 2.0 device authorization grant
                // flow", expected errors); AADSTS70018 is BadVerificationCode.
                return aad_error(
                    &sh,
                    StatusCode::BAD_REQUEST,
                    "bad_verification_code",
                    70018,
                    "The device_code sent to the /token endpoint wasn't recognized.",
                );
            };
            if d.client_id != client_id {
                return bad(70000, "The device code was issued to another client.");
            }
            if d.redeemed {
                return bad(70000, "The provided device code has already been redeemed.");
            }
            if d.expires <= now {
                return aad_error(
                    &sh,
                    StatusCode::BAD_REQUEST,
                    "expired_token",
                    70019,
                    "Verification code expired.",
                );
            }
            if d.declined {
                return aad_error(
                    &sh,
                    StatusCode::BAD_REQUEST,
                    "authorization_declined",
                    70018,
                    "The user declined to authorize the request.",
                );
            }
            let Some(user) = d.approved else {
                return aad_error(
                    &sh,
                    StatusCode::BAD_REQUEST,
                    "authorization_pending",
                    70016,
                    "The provided request has not yet been authorized by the user. The user must input their code.",
                );
            };
            if let Some(x) = auth.devices.get_mut(dc) {
                x.redeemed = true;
            }
            token_response(&sh, &mut auth, user, &client_id, &d.scope)
        }
        "refresh_token" => {
            let Some(rt) = f.get("refresh_token") else {
                return missing(&sh, "refresh_token");
            };
            let mut auth = lock(&sh.auth);
            let Some(r) = auth.refresh.get(rt).cloned() else {
                return bad(9002313, "Invalid request. Request is malformed or invalid.");
            };
            if r.redeemed {
                return bad(
                    70000,
                    "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid: this refresh token was already redeemed (rotated); use the newest one.",
                );
            }
            if r.expires <= now {
                return bad(70008, "The provided authorization code or refresh token has expired due to inactivity.");
            }
            if r.client_id != client_id {
                return bad(70000, "The refresh token was issued to a different client.");
            }
            if let Some(x) = auth.refresh.get_mut(rt) {
                x.redeemed = true;
            }
            let scope = f.get("scope").cloned().unwrap_or(r.scope.clone());
            // Rotation always keeps offline_access so the client gets a new refresh token.
            let scope = if scope.split_whitespace().any(|s| s == "offline_access") {
                scope
            } else {
                format!("{scope} offline_access")
            };
            token_response(&sh, &mut auth, r.user, &client_id, &scope)
        }
        "authorization_code" => {
            let Some(code) = f.get("code") else {
                return missing(&sh, "code");
            };
            let Some(redirect) = f.get("redirect_uri") else {
                return missing(&sh, "redirect_uri");
            };
            let mut auth = lock(&sh.auth);
            let Some(c) = auth.codes.get(code).cloned() else {
                return bad(70000, "Provided grant is invalid or malformed.");
            };
            if c.redeemed {
                return bad(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
            }
            if c.expires <= now {
                return bad(70008, "The provided authorization code or refresh token has expired due to inactivity.");
            }
            if c.client_id != client_id {
                return bad(
                    70000,
                    "The authorization code was issued to a different client.",
                );
            }
            if &c.redirect_uri != redirect {
                return bad(500117, "The reply uri specified in the request does not match the reply uri specified in the authorization request.");
            }
            let Some(verifier) = f.get("code_verifier") else {
                return missing(&sh, "code_verifier");
            };
            let computed = if c.method == "S256" {
                b64(&Sha256::digest(verifier.as_bytes()))
            } else {
                verifier.clone()
            };
            if computed != c.challenge {
                return bad(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
            }
            if let Some(x) = auth.codes.get_mut(code) {
                x.redeemed = true;
            }
            token_response(&sh, &mut auth, c.user, &client_id, &c.scope)
        }
        other => aad_error(
            &sh,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
    }
}

/// Whether `uri` is an allowed loopback redirect (`http://127.0.0.1:<port>[/path]`,
/// `http://localhost[:port][/path]` or `http://[::1]:<port>[/path]`).
pub fn is_loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = if let Some(h) = host_port.strip_prefix('[') {
        match h.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => return false,
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    matches!(host, "127.0.0.1" | "localhost" | "::1") && port_ok
}

fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    let mut s = uri.to_string();
    let mut sep = if s.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        s.push(sep);
        s.push_str(k);
        s.push('=');
        s.push_str(&crate::odata::encode(v));
        sep = '&';
    }
    s
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub async fn authorize(
    State(sh): State<Arc<Shared>>,
    Path(_tenant): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let q: HashMap<String, String> = query_pairs(uri.query().unwrap_or("")).into_iter().collect();
    let Some(client_id) = q.get("client_id").filter(|s| !s.is_empty()) else {
        return aad_error(
            &sh,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return aad_error(
            &sh,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'redirect_uri'.",
        );
    };
    if !is_loopback_redirect(redirect_uri) {
        return aad_error(
            &sh,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50011,
            &format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application. A public desktop client must use http://127.0.0.1:<port> or http://localhost."),
        );
    }
    let state = q.get("state").cloned().unwrap_or_default();
    let fail = |error: &str, code: u32, text: &str| {
        redirect(&with_params(
            redirect_uri,
            &[
                ("error", error),
                ("error_description", &format!("AADSTS{code}: {text}")),
                ("error_codes", &code.to_string()),
                ("state", &state),
            ],
        ))
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return fail(
            "unsupported_response_type",
            70005,
            "The response_type must be 'code'.",
        );
    }
    let Some(challenge) = q.get("code_challenge").filter(|s| !s.is_empty()) else {
        return fail("invalid_request", 9002325, "Proof Key for Code Exchange is required: send code_challenge and code_challenge_method=S256.");
    };
    let method = q
        .get("code_challenge_method")
        .cloned()
        .unwrap_or_else(|| "plain".into());
    if method != "S256" && method != "plain" {
        return fail(
            "invalid_request",
            50148,
            "The code_challenge_method must be S256 or plain.",
        );
    }
    let user = {
        let store = lock(&sh.store);
        match q.get("login_hint") {
            Some(h) => store.find_user(h),
            None => lock(&sh.auth).signin_user,
        }
    };
    let Some(user) = user else {
        return fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in (set one with login_hint or PUT /_emulator/signin).");
    };
    let code = random_string(96);
    lock(&sh.auth).codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: challenge.clone(),
            method,
            scope: q.get("scope").cloned().unwrap_or_default(),
            user,
            expires: sh.clock.now() + chrono::Duration::minutes(10),
            redeemed: false,
        },
    );
    let session = Uuid::new_v4().to_string();
    redirect(&with_params(
        redirect_uri,
        &[
            ("code", &code),
            ("state", &state),
            ("session_state", &session),
        ],
    ))
}

/// `GET /devicelogin`: a small page to approve a device code by hand (demo).
pub async fn devicelogin_page(State(sh): State<Arc<Shared>>) -> Html<String> {
    let users: Vec<String> = lock(&sh.store)
        .rows("systemusers")
        .filter_map(|(_, r)| r.str("internalemailaddress").map(str::to_string))
        .map(|e| format!("<option>{e}</option>"))
        .collect();
    Html(format!(
        "<!doctype html><title>ChatBell emulator sign-in</title><h1>Sign in (emulated)</h1>\
         <form method=post><p>Code <input name=code autofocus></p>\
         <p>User <select name=user>{}</select></p><button>Sign in</button></form>",
        users.join("")
    ))
}

/// `POST /devicelogin`: approves the code typed in the page.
pub async fn devicelogin_submit(
    State(sh): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> Response {
    let f = form(&body);
    let code = f.get("code").cloned().unwrap_or_default();
    let who = f.get("user").cloned().unwrap_or_default();
    let Some(user) = lock(&sh.store).find_user(&who) else {
        return (StatusCode::BAD_REQUEST, Html(format!("Unknown user {who}"))).into_response();
    };
    match lock(&sh.auth).approve(&code, user, false, sh.clock.now()) {
        Ok(()) => Html("<p>Signed in. You can close this window.</p>".to_string()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Html(format!("<p>{e}</p>"))).into_response(),
    }
}

/// Formats a time for JSON bodies.
pub fn ts(t: DateTime<Utc>) -> String {
    format_ts(t)
}
