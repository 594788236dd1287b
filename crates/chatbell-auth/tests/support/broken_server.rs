//! A stub for answers no well-behaved identity platform gives, which the
//! emulator therefore cannot be asked for: a `devicecode` endpoint answering the
//! given (malformed) JSON and a token endpoint answering 200 with the given body.

use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

/// Serves `devicecode` with `device` and `token` with 200 `token`; returns the base URL.
pub async fn start(device: Value, token: Value) -> String {
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
                let t = token.clone();
                async move { Json(t) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A client of `base` (the broken server is its authority and org).
pub fn client(base: &str) -> chatbell_auth::OAuthClient {
    let config = chatbell_auth::AuthConfig::new(base, "contoso", super::CLIENT_ID, base).unwrap();
    chatbell_auth::OAuthClient::new(config).unwrap()
}
