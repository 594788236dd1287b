//! The panel's commands, with the arguments the panel sends (JSON, as Tauri
//! hands them to the commands in `src-tauri/src/ipc.rs`), through the App's
//! own entry points on a running ChatBell that is not signed in: `act`,
//! `withdraw_request`, `history`, `set_preferences` (sounds, do not disturb and
//! its quiet hours, start at login, the Dynamics URL and app id) and
//! `set_dynamics`.
//!
//! Input: a first line naming the command, then its arguments' JSON object
//! (`{"id": "chat:<uuid>", "action": "accept", "reason": null}`). A blank
//! Dynamics URL is left out: it switches to the demo org, which starts an
//! emulator of its own.
//!
//! Checks: no panic; arguments the panel cannot have sent are refused (as Tauri
//! refuses them); a command refuses with an [`AppError`] that has a message;
//! preferences that were accepted read back as they were given; a Dynamics URL
//! that was accepted is the org's URL afterwards and the configuration file
//! reads back.
//!
//! [`AppError`]: chatbell_app::AppError

use crate::support::{app, block_on, says, ORG_URL};
use chatbell_app::config::Config;
use chatbell_app::prefs::PanelPrefs;
use serde::Deserialize;

#[derive(Deserialize)]
struct Act {
    id: String,
    action: String,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Withdraw {
    request_id: String,
    reason: String,
}

#[derive(Deserialize)]
struct History {
    limit: u32,
}

#[derive(Deserialize)]
struct SetPreferences {
    prefs: PanelPrefs,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetDynamics {
    url: String,
    app_id: Option<String>,
}

fn args<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Option<T> {
    serde_json::from_slice(json).ok()
}

pub fn run(data: &[u8]) {
    let Some(i) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    let (command, json) = (String::from_utf8_lossy(&data[..i]), &data[i + 1..]);
    let app = app();
    block_on(async {
        let answer = match command.trim() {
            "act" => {
                let Some(a) = args::<Act>(json) else { return };
                app.act(&a.id, &a.action, a.reason.as_deref()).await
            }
            "withdraw_request" => {
                let Some(a) = args::<Withdraw>(json) else {
                    return;
                };
                app.withdraw_request(&a.request_id, &a.reason).await
            }
            "history" => {
                let Some(a) = args::<History>(json) else {
                    return;
                };
                app.history(a.limit.min(500)).await.map(|_| ())
            }
            "set_preferences" => {
                let Some(a) = args::<SetPreferences>(json) else {
                    return;
                };
                if a.prefs
                    .dynamics
                    .url
                    .as_deref()
                    .is_none_or(|u| u.trim().is_empty())
                {
                    return;
                }
                let given = a.prefs.clone();
                let r = app.set_panel_preferences(a.prefs).await;
                if r.is_ok() {
                    let now = app.panel_preferences().await;
                    assert_eq!(now.sounds, given.sounds);
                    assert_eq!(now.dnd, given.dnd);
                    assert_eq!(now.start_at_login, given.start_at_login);
                    org_reads_back().await;
                }
                r
            }
            "set_dynamics" => {
                let Some(a) = args::<SetDynamics>(json) else {
                    return;
                };
                if a.url.trim().is_empty() {
                    return;
                }
                let r = app.set_dynamics(Some(&a.url), a.app_id.as_deref()).await;
                if r.is_ok() {
                    org_reads_back().await;
                }
                r
            }
            _ => return,
        };
        if let Err(e) = answer {
            says(&e);
        }
        // The next input starts from the same org.
        if app.dynamics().await.0.as_deref() != Some(ORG_URL) {
            if let Err(e) = app.set_dynamics(Some(ORG_URL), None).await {
                panic!("cannot go back to {ORG_URL}: {e}");
            }
        }
    });
}

/// The configuration file reads back, with the org the App now uses.
async fn org_reads_back() {
    let app = app();
    let config = Config::load(&app.paths().config_file)
        .unwrap_or_else(|e| panic!("the configuration written is refused: {e}"));
    let url = config.dynamics.map(|d| d.url);
    assert!(url.is_some(), "an accepted URL left no org");
    assert_eq!(url, app.dynamics().await.0);
}
