//! Test endpoints under `/_emulator/` (JSON, loopback peers only): users and their
//! flags and privileges (`PUT users/{user}` with `deny`/`grant` lists of
//! `verb:table`), minting tokens, approving device codes, the sign-in user for
//! `authorize`, fault injection (Web API faults, and one-shot token endpoint
//! errors under `/_emulator/faults/token`), request statistics, the clock, and expiring
//! change-tracking tokens.

use crate::clock::{format_ts, parse_ts};
use crate::error::ApiError;
use crate::faults::{FaultSettings, TokenFault};
use crate::server::ConnInfo;
use crate::state::{lock, Shared};
use crate::stats::Stats;
use crate::store::UserFlags;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const BAD_ARGUMENT: &str = "0x80040203";

fn bad(message: impl Into<String>) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, BAD_ARGUMENT, message).into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("Invalid JSON: {e}"))
}

/// Refuses peers that are not on loopback.
async fn loopback_only(req: Request, next: Next) -> Response {
    let ok = req
        .extensions()
        .get::<ConnInfo>()
        .is_some_and(|c| c.peer.ip().is_loopback());
    if !ok {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "0x80048405",
            "Access is denied: test endpoints answer loopback peers only.",
        )
        .into_response();
    }
    next.run(req).await
}

/// The `/_emulator` routes.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/info", get(info))
        .route("/_emulator/users", get(users))
        .route("/_emulator/users/{user}", put(set_user))
        .route("/_emulator/token", post(mint))
        .route("/_emulator/approve", post(approve))
        .route("/_emulator/devicecodes", get(devicecodes))
        .route("/_emulator/signin", put(signin))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route(
            "/_emulator/faults/token",
            get(get_token_faults)
                .post(post_token_fault)
                .delete(delete_token_faults),
        )
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/stats/reset", post(reset_stats))
        .route("/_emulator/clock", get(get_clock).put(put_clock))
        .route("/_emulator/changetracking/expire", post(expire_tokens))
        .layer(axum::middleware::from_fn(loopback_only))
}

async fn info(State(sh): State<Arc<Shared>>) -> Response {
    let sim = lock(&sh.sim).as_ref().map(|s| s.describe());
    ok(json!({
        "base_url": sh.base_url,
        "api_url": format!("{}{}", sh.base_url, crate::odata::API_PREFIX),
        "tenant_id": sh.cfg.tenant_id,
        "authority": format!("{}/{}", sh.base_url, sh.cfg.tenant_id),
        "organization_id": sh.cfg.organization_id,
        "business_unit_id": sh.cfg.business_unit_id,
        "now": format_ts(sh.clock.now()),
        "simulation": sim,
    }))
}

async fn users(State(sh): State<Arc<Shared>>) -> Response {
    let store = lock(&sh.store);
    let list: Vec<Value> = store
        .rows("systemusers")
        .map(|(id, r)| {
            let teams: Vec<Value> = store
                .teams_of(*id)
                .into_iter()
                .map(|t| json!({"teamid": t, "name": store.primary_name("team", t)}))
                .collect();
            json!({
                "systemuserid": id,
                "fullname": r.str("fullname"),
                "internalemailaddress": r.str("internalemailaddress"),
                "org_level_read": store.flags(*id).org_level_read,
                "teams": teams,
            })
        })
        .collect();
    ok(Value::Array(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    org_level_read: Option<bool>,
    /// Privileges to take away, as `verb:table` (`assign:cb_chatsession`,
    /// reference names).
    #[serde(default)]
    deny: Vec<String>,
    /// Privileges to give back, as `deny`.
    #[serde(default)]
    grant: Vec<String>,
}

/// `verb:table` → the privilege, in reference names.
fn privilege(s: &str) -> Result<(crate::metadata::Verb, &'static str), String> {
    let (verb, table) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: a privilege is verb:table, e.g. assign:cb_chatsession"))?;
    let verb = crate::metadata::Verb::parse(verb).ok_or_else(|| {
        format!("{verb:?} is no privilege verb (create, read, write, delete, append, appendto, assign, share)")
    })?;
    let table = crate::schema::schema()
        .by_logical(table)
        .ok_or_else(|| format!("no table {table:?}"))?;
    Ok((verb, table.logical))
}

async fn set_user(
    State(sh): State<Arc<Shared>>,
    Path(user): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let p: UserPatch = match parse(&body) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    let mut changes = Vec::new();
    for (list, granted) in [(&p.deny, false), (&p.grant, true)] {
        for s in list {
            match privilege(s) {
                Ok(pr) => changes.push((pr, granted)),
                Err(e) => return bad(e),
            }
        }
    }
    let mut store = lock(&sh.store);
    let Some(id) = store.find_user(&user) else {
        return bad(format!("no user {user}"));
    };
    let mut f: UserFlags = store.flags(id);
    if let Some(v) = p.org_level_read {
        f.org_level_read = v;
    }
    store.set_flags(id, f);
    let mut denied = lock(&sh.denied);
    let set = denied.entry(id).or_default();
    for (pr, granted) in changes {
        if granted {
            set.remove(&pr);
        } else {
            set.insert(pr);
        }
    }
    let denied: Vec<String> = set
        .iter()
        .map(|(v, t)| format!("{}:{t}", v.word().to_ascii_lowercase()))
        .collect();
    ok(json!({"systemuserid": id, "org_level_read": f.org_level_read, "denied": denied}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MintBody {
    user: String,
    expires_in: Option<i64>,
}

async fn mint(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let b: MintBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let Some(user) = lock(&sh.store).find_user(&b.user) else {
        return bad(format!("no user {}", b.user));
    };
    let life = b.expires_in.unwrap_or(sh.cfg.access_token_lifetime).max(1);
    let token =
        lock(&sh.auth).mint_access(&sh.base_url, sh.cfg.tenant_id, user, sh.clock.now(), life);
    ok(json!({"access_token": token, "token_type": "Bearer", "expires_in": life, "user_id": user}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    user_code: String,
    user: String,
    #[serde(default)]
    decline: bool,
}

async fn approve(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let b: ApproveBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let Some(user) = lock(&sh.store).find_user(&b.user) else {
        return bad(format!("no user {}", b.user));
    };
    match lock(&sh.auth).approve(&b.user_code, user, b.decline, sh.clock.now()) {
        Ok(()) => ok(json!({"approved": !b.decline, "user_id": user})),
        Err(e) => bad(e),
    }
}

async fn devicecodes(State(sh): State<Arc<Shared>>) -> Response {
    ok(json!({"pending": lock(&sh.auth).pending_user_codes(sh.clock.now())}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigninBody {
    user: Option<String>,
}

async fn signin(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let b: SigninBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let user = match b.user {
        None => None,
        Some(u) => match lock(&sh.store).find_user(&u) {
            Some(id) => Some(id),
            None => return bad(format!("no user {u}")),
        },
    };
    lock(&sh.auth).signin_user = user;
    ok(json!({"user_id": user}))
}

async fn get_faults(State(sh): State<Arc<Shared>>) -> Response {
    ok(serde_json::to_value(sh.faults.get()).unwrap_or(Value::Null))
}

async fn put_faults(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let s: FaultSettings = match parse(&body) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    if let Err(e) = s.validate() {
        return bad(e);
    }
    sh.faults.set(s.clone());
    ok(serde_json::to_value(s).unwrap_or(Value::Null))
}

fn token_faults_json(sh: &Shared) -> Response {
    ok(json!({"queued": sh.faults.token_queue()}))
}

async fn get_token_faults(State(sh): State<Arc<Shared>>) -> Response {
    token_faults_json(&sh)
}

async fn post_token_fault(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let f: TokenFault = match parse(&body) {
        Ok(f) => f,
        Err(e) => return bad(e),
    };
    if let Err(e) = f.validate() {
        return bad(e);
    }
    sh.faults.push_token(f);
    token_faults_json(&sh)
}

async fn delete_token_faults(State(sh): State<Arc<Shared>>) -> Response {
    sh.faults.clear_token();
    token_faults_json(&sh)
}

async fn stats(State(sh): State<Arc<Shared>>) -> Response {
    let s = lock(&sh.stats).clone();
    ok(serde_json::to_value(s).unwrap_or(Value::Null))
}

async fn reset_stats(State(sh): State<Arc<Shared>>) -> Response {
    *lock(&sh.stats) = Stats::default();
    ok(json!({"reset": true}))
}

fn clock_json(sh: &Shared) -> Value {
    json!({
        "now": format_ts(sh.clock.now()),
        "manual": sh.clock.is_manual(),
        "rate": sh.clock.rate(),
    })
}

async fn get_clock(State(sh): State<Arc<Shared>>) -> Response {
    ok(clock_json(&sh))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    advance_seconds: Option<i64>,
    now: Option<String>,
}

async fn put_clock(State(sh): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let b: ClockBody = match parse(&body) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    match (b.advance_seconds, b.now) {
        (Some(s), None) => {
            if !(-10 * 365 * 86400..=10 * 365 * 86400).contains(&s) {
                return bad("advance_seconds is out of range");
            }
            sh.clock.advance(s);
        }
        (None, Some(t)) => match parse_ts(&t) {
            Some(t) => sh.clock.set(t),
            None => return bad(format!("'{t}' is not a time like 2026-11-21T10:15:00Z")),
        },
        _ => return bad("give exactly one of advance_seconds and now"),
    }
    sh.run_due();
    ok(clock_json(&sh))
}

async fn expire_tokens(State(sh): State<Arc<Shared>>) -> Response {
    let mut store = lock(&sh.store);
    store.delta_epoch += 1;
    ok(json!({"delta_epoch": store.delta_epoch}))
}
