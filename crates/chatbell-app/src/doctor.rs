//! `chatbell doctor`'s checks of the configuration and of Dynamics.

use crate::config::{Config, Paths};
use crate::control::{self, ControlError, Request};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The configuration file, and whether Dynamics answers at its URL (an
/// unauthenticated `WhoAmI` must be refused with a 401 and a sign-in challenge).
pub async fn dynamics(paths: &Paths) -> (bool, String) {
    let config = match Config::load_for(paths) {
        Ok(c) => c,
        Err(e) => return (false, format!("the configuration cannot be used: {e}")),
    };
    let Some(d) = config.dynamics else {
        return (true, "no org configured: ChatBell runs its demo".into());
    };
    if d.client_id.is_none() {
        return (
            false,
            "dynamics.client_id is missing: ChatBell cannot sign in without it".into(),
        );
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return (false, format!("no HTTP client: {e}")),
    };
    let url = format!("{}/api/data/v9.2/WhoAmI", d.url);
    match client.get(&url).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
            (true, format!("{} answers and asks for a sign-in", d.url))
        }
        Ok(r) => (
            false,
            format!(
                "{} answered {} where Dynamics asks for a sign-in: is the URL right?",
                d.url,
                r.status()
            ),
        ),
        Err(e) => (
            false,
            format!("cannot reach {}: {}", d.url, e.without_url()),
        ),
    }
}

/// Whether a ChatBell runs for this user, and how it is doing. One that holds
/// its socket but does not answer is a failed check.
pub async fn running(paths: &Paths) -> (bool, String) {
    running_at(&control::default_socket_path(&paths.data_dir)).await
}

/// [`running`], for the instance whose control socket is `socket`.
pub async fn running_at(socket: &Path) -> (bool, String) {
    running_verdict(&control::request(socket, &Request::Status).await)
}

/// The check's verdict on the answer to a status request: a ChatBell that
/// answers is running; one that holds its socket but does not answer is a
/// failed check; nobody there is no failure.
pub fn running_verdict(answer: &Result<Value, ControlError>) -> (bool, String) {
    match answer {
        Ok(v) => {
            let running = format!(
                "running: {}, {} unread",
                v.get("connection").and_then(|c| c.as_str()).unwrap_or("?"),
                v.get("unread").and_then(|u| u.as_u64()).unwrap_or(0)
            );
            // The local cache cannot be written, or was rebuilt: said, and a
            // check to fix while it cannot be written.
            let mut line = running;
            let cache = v.get("cache_note").and_then(|n| n.as_str());
            // A clock far off is said; ChatBell keeps Dynamics' time, so it
            // fails no check (the org check names it).
            let clock = v.get("clock_note").and_then(|n| n.as_str());
            for note in cache.iter().chain(clock.iter()) {
                line = format!("{line}; {note}");
            }
            (!cache.is_some_and(|n| n.contains("cannot save")), line)
        }
        Err(e @ ControlError::NotAnswering { .. }) => (false, e.to_string()),
        Err(_) => (true, "not running".into()),
    }
}

/// The org checked by the running ChatBell with the agent's sign-in: each
/// finding as `(ok, detail)` lines of [`crate::cli::findings`]. Not running or
/// not signed in: one line saying the org was not checked, and how to check it.
pub async fn org(paths: &Paths) -> Vec<(bool, String)> {
    org_at(&control::default_socket_path(&paths.data_dir)).await
}

/// [`org`], for the instance whose control socket is `socket`.
pub async fn org_at(socket: &Path) -> Vec<(bool, String)> {
    let not_checked = |why: String| {
        vec![(
            true,
            format!(
                "org not checked: {why}; start ChatBell, sign in, and run chatbell doctor again"
            ),
        )]
    };
    match control::request(socket, &Request::OrgCheck).await {
        Ok(answer) if answer.get("ok") == Some(&serde_json::Value::Bool(false)) => not_checked(
            answer
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("refused")
                .to_string(),
        ),
        Ok(answer) => answer
            .get("findings")
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f.get("ok").and_then(|o| o.as_bool()).unwrap_or(false),
                    format!(
                        "org, {}: {}",
                        f.get("check").and_then(|c| c.as_str()).unwrap_or("?"),
                        f.get("detail").and_then(|d| d.as_str()).unwrap_or("")
                    ),
                )
            })
            .collect(),
        Err(e @ ControlError::NotAnswering { .. }) => vec![(false, e.to_string())],
        Err(_) => not_checked("ChatBell is not running".into()),
    }
}
