//! A token endpoint that plays back a script of answers and records when each
//! request came (tokio time), for the device code answers the emulator cannot be
//! made to give.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::time::Instant;

#[derive(Clone)]
pub struct Scripted {
    pub base: String,
    pub polls: Arc<Mutex<Vec<Instant>>>,
}

pub fn err(error: &str) -> (u16, Value) {
    (
        400,
        json!({"error": error, "error_description": format!("AADSTS0: {error}"), "error_codes": [0]}),
    )
}

pub fn tokens() -> (u16, Value) {
    (
        200,
        json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "at-s", "refresh_token": "rt-s"}),
    )
}

/// Serves `devicecode` with `device` and `token` with `script` (its last entry repeats).
pub async fn start(device: Value, script: Vec<(u16, Value)>) -> Scripted {
    let polls = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let p = polls.clone();
    let app = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(move || {
                let d = device.clone();
                async move { Json(d) }
            }),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(move || {
                p.lock().unwrap().push(Instant::now());
                let mut s = script.lock().unwrap();
                let (status, body) = if s.len() > 1 {
                    s.pop_front().unwrap()
                } else {
                    s[0].clone()
                };
                async move { (StatusCode::from_u16(status).unwrap(), Json(body)).into_response() }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Scripted { base, polls }
}

/// A devicecode answer with the given interval and lifetime.
pub fn device(interval: u64, expires_in: u64) -> Value {
    json!({
        "device_code": "DC-secret",
        "user_code": "ABCD-EFGH",
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": expires_in,
        "interval": interval,
        "message": "enter ABCD-EFGH",
    })
}
