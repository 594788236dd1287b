//! The panel's commands (`ui/src/types.ts` is their contract). Each one hands its
//! input to [`App`], which checks it; errors go back as the message to show.

use chatbell_app::control::HISTORY_MAX;
use chatbell_app::prefs::PanelPrefs;
use chatbell_app::view::{NotificationView, SignInPrompt, Status};
use chatbell_app::App;
use tauri::State;

type Answer<T> = Result<T, String>;

fn says<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

#[tauri::command]
pub async fn status(app: State<'_, App>) -> Answer<Status> {
    Ok(app.status())
}

#[tauri::command]
pub async fn act(
    app: State<'_, App>,
    id: String,
    action: String,
    reason: Option<String>,
) -> Answer<()> {
    app.act(&id, &action, reason.as_deref()).await.map_err(says)
}

#[tauri::command]
pub async fn withdraw_request(
    app: State<'_, App>,
    request_id: String,
    reason: String,
) -> Answer<()> {
    app.withdraw_request(&request_id, &reason)
        .await
        .map_err(says)
}

#[tauri::command]
pub async fn history(app: State<'_, App>, limit: u32) -> Answer<Vec<NotificationView>> {
    app.history(limit.min(HISTORY_MAX)).await.map_err(says)
}

#[tauri::command]
pub async fn get_preferences(app: State<'_, App>) -> Answer<PanelPrefs> {
    Ok(app.panel_preferences().await)
}

#[tauri::command]
pub async fn set_preferences(app: State<'_, App>, prefs: PanelPrefs) -> Answer<()> {
    app.set_panel_preferences(prefs).await.map_err(says)
}

#[tauri::command]
pub async fn start_sign_in(app: State<'_, App>) -> Answer<SignInPrompt> {
    app.start_sign_in().await.map_err(says)
}

/// Signs in through the system browser (authorization code + PKCE on a
/// loopback redirect); the status says `browser_signin` meanwhile.
#[tauri::command]
pub async fn start_browser_sign_in(app: State<'_, App>) -> Answer<()> {
    app.start_browser_sign_in().await.map_err(says)
}

#[tauri::command]
pub async fn cancel_sign_in(app: State<'_, App>) -> Answer<()> {
    app.cancel_sign_in().await;
    Ok(())
}

#[tauri::command]
pub async fn sign_out(app: State<'_, App>) -> Answer<()> {
    app.sign_out().await.map_err(says)
}

/// Opens the sign-in page the identity platform named, in the system browser:
/// only an https page (or http on this machine, for the demo).
#[tauri::command]
pub async fn open_verification_uri(app: State<'_, App>) -> Answer<()> {
    let Some(prompt) = app.status().signin else {
        return Err("no sign-in is in progress".into());
    };
    let uri = prompt.verification_uri;
    let allowed = uri.starts_with("https://")
        || uri.starts_with("http://127.0.0.1")
        || uri.starts_with("http://localhost");
    if !allowed {
        return Err(format!("not opening {uri:?}: not an https page"));
    }
    open::that_detached(&uri).map_err(|e| format!("could not open the browser: {e}"))
}

#[tauri::command]
pub async fn use_demo(app: State<'_, App>) -> Answer<()> {
    app.use_demo().await.map_err(says)
}

#[tauri::command]
pub async fn set_dynamics(app: State<'_, App>, url: String, app_id: Option<String>) -> Answer<()> {
    app.set_dynamics(Some(&url), app_id.as_deref())
        .await
        .map_err(says)
}
