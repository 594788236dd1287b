//! The panel's commands (`ui/src/types.ts` is their contract). Each one is a
//! request to the running ChatBell over its control socket, which checks the
//! input and does the work; errors come back as the message to show.

use chatbell_app::control::{self, Request, HISTORY_MAX};
use serde_json::Value;
use std::path::PathBuf;
use tauri::State;

type Answer<T> = Result<T, String>;

/// The running ChatBell, reached through its control socket.
pub struct Resident {
    socket: PathBuf,
}

impl Resident {
    pub fn new(socket: PathBuf) -> Resident {
        Resident { socket }
    }

    /// ChatBell's answer; `{"ok":false,"error":…}` becomes the error to show.
    async fn ask(&self, request: Request) -> Answer<Value> {
        let answer = control::request(&self.socket, &request)
            .await
            .map_err(|e| e.to_string())?;
        refused(&answer).map_or(Ok(answer), Err)
    }

    /// A request that answers only whether it was done.
    async fn done(&self, request: Request) -> Answer<()> {
        self.ask(request).await.map(|_| ())
    }
}

/// The error of a refusal (`{"ok":false,"error":…}`), if `answer` is one.
fn refused(answer: &Value) -> Option<String> {
    if answer.get("ok") != Some(&Value::Bool(false)) {
        return None;
    }
    Some(
        answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("ChatBell refused")
            .to_string(),
    )
}

#[tauri::command]
pub async fn status(chatbell: State<'_, Resident>) -> Answer<Value> {
    chatbell.ask(Request::Status).await
}

#[tauri::command]
pub async fn act(
    chatbell: State<'_, Resident>,
    id: String,
    action: String,
    reason: Option<String>,
) -> Answer<()> {
    chatbell.done(Request::Act { id, action, reason }).await
}

#[tauri::command]
pub async fn withdraw_request(
    chatbell: State<'_, Resident>,
    request_id: String,
    reason: String,
) -> Answer<()> {
    chatbell
        .done(Request::WithdrawRequest { request_id, reason })
        .await
}

#[tauri::command]
pub async fn history(chatbell: State<'_, Resident>, limit: u32) -> Answer<Value> {
    let limit = limit.min(HISTORY_MAX);
    chatbell.ask(Request::History { limit }).await
}

#[tauri::command]
pub async fn get_preferences(chatbell: State<'_, Resident>) -> Answer<Value> {
    chatbell.ask(Request::Preferences).await
}

#[tauri::command]
pub async fn set_preferences(chatbell: State<'_, Resident>, prefs: Value) -> Answer<()> {
    chatbell.done(Request::SetPreferences { prefs }).await
}

#[tauri::command]
pub async fn start_sign_in(chatbell: State<'_, Resident>) -> Answer<Value> {
    chatbell.ask(Request::Signin { browser: false }).await
}

/// Signs in through the system browser (authorization code + PKCE on a
/// loopback redirect); the status says `browser_signin` meanwhile.
#[tauri::command]
pub async fn start_browser_sign_in(chatbell: State<'_, Resident>) -> Answer<()> {
    chatbell.done(Request::Signin { browser: true }).await
}

#[tauri::command]
pub async fn cancel_sign_in(chatbell: State<'_, Resident>) -> Answer<()> {
    chatbell.done(Request::CancelSignin).await
}

#[tauri::command]
pub async fn sign_out(chatbell: State<'_, Resident>) -> Answer<()> {
    chatbell.done(Request::Signout).await
}

/// Opens the sign-in page the identity platform named, in the system browser:
/// only an https page (or http on this machine, for the demo).
#[tauri::command]
pub async fn open_verification_uri(chatbell: State<'_, Resident>) -> Answer<()> {
    let status = chatbell.ask(Request::Status).await?;
    let Some(uri) = status
        .pointer("/signin/verification_uri")
        .and_then(Value::as_str)
    else {
        return Err("no sign-in is in progress".into());
    };
    if !verification_uri_allowed(uri) {
        return Err(format!("not opening {uri:?}: not an https page"));
    }
    open::that_detached(uri).map_err(|e| format!("could not open the browser: {e}"))
}

/// An https page, or http on this machine (the demo's sign-in page).
fn verification_uri_allowed(uri: &str) -> bool {
    uri.starts_with("https://")
        || uri.starts_with("http://127.0.0.1")
        || uri.starts_with("http://localhost")
}

#[tauri::command]
pub async fn use_demo(chatbell: State<'_, Resident>) -> Answer<()> {
    chatbell.done(Request::UseDemo).await
}

#[tauri::command]
pub async fn set_dynamics(
    chatbell: State<'_, Resident>,
    url: String,
    app_id: Option<String>,
) -> Answer<()> {
    chatbell.done(Request::SetDynamics { url, app_id }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_becomes_the_error_to_show_and_anything_else_the_answer() {
        let no = serde_json::json!({"ok": false, "error": "no such notification"});
        assert_eq!(refused(&no).as_deref(), Some("no such notification"));
        assert_eq!(refused(&serde_json::json!({"ok": true})), None);
        assert_eq!(refused(&serde_json::json!({"unread": 2, "ok": null})), None);
        assert_eq!(refused(&serde_json::json!([])), None);
    }

    #[test]
    fn only_an_https_or_local_sign_in_page_is_opened() {
        assert!(verification_uri_allowed(
            "https://microsoft.com/devicelogin"
        ));
        assert!(verification_uri_allowed("http://127.0.0.1:8080/device"));
        assert!(!verification_uri_allowed("http://evil.example/device"));
        assert!(!verification_uri_allowed("file:///etc/passwd"));
    }
}
