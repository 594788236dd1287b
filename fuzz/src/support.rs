//! What several targets share: a runtime, an in-process emulator, a running
//! App, a scratch folder, and the checks on answers.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use chatbell_app::{App, AppOptions, LogShell, Paths};
use chatbell_emulator::{InProcess, Options, DEMO_AGENT_EMAIL};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The Web API's root, as the emulator serves it.
pub const API: &str = "/api/data/v9.2";

/// The org URL the App of the IPC and control targets is configured with.
pub const ORG_URL: &str = "https://contoso.crm.dynamics.com";

/// Runs `f` to completion on one current-thread runtime, shared by every input.
pub fn block_on<F: Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
    .block_on(f)
}

/// A folder of this process's own for files the targets write (in memory
/// where the system has `/dev/shm`, so that `fsync` costs nothing).
pub fn scratch(name: &str) -> PathBuf {
    let base = ["/dev/shm"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base
        .join(format!("chatbell-fuzz-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// An emulator with the demo org, and an access token of its demo agent.
pub struct Emulator {
    pub emu: InProcess,
    pub token: String,
}

impl Emulator {
    pub fn demo() -> Emulator {
        let emu = InProcess::new(Options::default()).expect("the demo org");
        let token = emu.mint_token(DEMO_AGENT_EMAIL).expect("a demo token");
        Emulator { emu, token }
    }

    /// Sends one request; the demo agent's token goes with it unless the
    /// request has its own `Authorization`. Answers status and body.
    pub async fn send(&self, req: &RawRequest) -> Option<(StatusCode, Vec<u8>)> {
        let mut b = Request::builder()
            .method(req.method.clone())
            .uri(req.target.as_str());
        let mut authorized = false;
        for (k, v) in &req.headers {
            authorized |= k == axum::http::header::AUTHORIZATION;
            b = b.header(k, v);
        }
        if !authorized {
            b = b.header("authorization", format!("Bearer {}", self.token));
        }
        let request = b.body(Body::from(req.body.clone())).ok()?;
        let resp = self.emu.call(request).await;
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 64 * 1024 * 1024)
            .await
            .expect("the emulator's answer is readable");
        Some((status, body.to_vec()))
    }
}

/// One HTTP request as a target's input writes it:
///
/// ```text
/// METHOD /path?query
/// Header: value
///
/// body
/// ```
pub struct RawRequest {
    pub method: Method,
    pub target: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl RawRequest {
    /// `None` when the request line cannot be an HTTP request at all (an HTTP
    /// server would refuse it before the emulator saw it); header lines that
    /// cannot be headers are left out for the same reason.
    pub fn parse(data: &[u8]) -> Option<RawRequest> {
        let (head, body) = match find(data, b"\n\n") {
            Some(i) => (&data[..i], &data[i + 2..]),
            None => (data, &[][..]),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.lines();
        let first = lines.next()?.trim();
        let (method, target) = first.split_once(' ')?;
        let method = Method::from_bytes(method.as_bytes()).ok()?;
        let target = target.trim();
        target.parse::<axum::http::Uri>().ok()?;
        let headers = lines
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((
                    HeaderName::from_bytes(k.trim().as_bytes()).ok()?,
                    HeaderValue::from_str(v.trim()).ok()?,
                ))
            })
            .collect();
        Some(RawRequest {
            method,
            target: target.to_string(),
            headers,
            body: body.to_vec(),
        })
    }
}

impl RawRequest {
    /// The path the server sees: what the URI parser keeps of the target,
    /// without its query and without a `#` and what follows it.
    pub fn path(&self) -> String {
        self.target
            .parse::<axum::http::Uri>()
            .map(|u| u.path().to_string())
            .unwrap_or_default()
    }
}

/// Percent-encodes the bytes a URI cannot carry as they are.
pub fn uri_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b <= b' ' || b >= 0x7f || b"\"#<>\\^`{|}".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// What every answer of the emulator must be: no server error, and a client
/// error of the Web API (other than the empty-bodied 401 Dataverse sends) is
/// Dataverse's error JSON with a code and a message; one of the sign-in
/// endpoints is the OAuth error JSON.
pub fn check_answer(path: &str, status: StatusCode, body: &[u8]) {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(500)
            .collect::<String>()
    };
    assert!(!status.is_server_error(), "{status} for {path}: {}", text());
    if !status.is_client_error() {
        return;
    }
    if path.starts_with(API) && status != StatusCode::UNAUTHORIZED {
        let v: serde_json::Value = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("{status} for {path} is not JSON ({e}): {}", text()));
        let message = v["error"]["message"].as_str().unwrap_or_default();
        let code = v["error"]["code"].as_str().unwrap_or_default();
        // Dataverse's routing error (a function called with another method)
        // has an empty code, as the emulator copies it.
        let routing = code.is_empty() && message.starts_with("No HTTP resource was found");
        assert!(
            !message.trim().is_empty() && (code.starts_with("0x") || routing),
            "{status} for {path} without a code and a message: {}",
            text()
        );
    } else if is_sign_in_endpoint(path) {
        let v: serde_json::Value = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("{status} for {path} is not JSON ({e}): {}", text()));
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{status} for {path} without an OAuth error: {}",
            text()
        );
    }
}

/// `/<tenant>/oauth2/v2.0/token` or `.../devicecode`, which ChatBell's sign-in
/// reads the OAuth error JSON of.
fn is_sign_in_endpoint(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    matches!(
        parts.as_slice(),
        ["", tenant, "oauth2", "v2.0", "token" | "devicecode"] if !tenant.is_empty()
    )
}

/// A running ChatBell with a Dynamics URL but no client id: it waits to be
/// configured, so its commands check their input and answer without reaching
/// any network. Its files are in a scratch folder.
pub fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = scratch("app");
        let config = dir.join("config.toml");
        std::fs::write(&config, format!("[dynamics]\nurl = \"{ORG_URL}\"\n"))
            .expect("the App's configuration");
        let paths = Paths::new(config, dir.join("data"));
        let options = AppOptions {
            keychain: false,
            autostart: false,
            ..AppOptions::default()
        };
        block_on(App::start(paths, Arc::new(LogShell), options)).expect("the App starts")
    })
}

/// Every error must say something.
pub fn says(e: &impl std::fmt::Display) -> String {
    let m = e.to_string();
    assert!(!m.trim().is_empty(), "an error without a message");
    m
}
