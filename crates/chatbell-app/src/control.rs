//! The local control socket: how `chatbell status --json`, `chatbell act`,
//! `chatbell signin` and `chatbell signout` reach the running instance, and how
//! `chatbell doctor` and a second start find it.
//!
//! Unix: a Unix domain socket at `$XDG_RUNTIME_DIR/chatbell/control.sock` (else
//! in the data dir), its directory 0700 and the socket 0600, and every
//! connection's peer credentials checked: only the same user is served.
//!
//! Protocol: one JSON request per line, one JSON answer per line.
//!
//! ```text
//! {"cmd":"status"}                                              → Status
//! {"cmd":"act","id":"chat:<uuid>","action":"reject","reason":"…"} → {"ok":true} | {"ok":false,"error":"…"}
//! {"cmd":"signin"}                                              → SignInPrompt
//! {"cmd":"signin","browser":true}                               → {"ok":true}   (the browser opens)
//! {"cmd":"signout"}                                             → {"ok":true}
//! {"cmd":"ping"}                                                → {"ok":true}
//! {"cmd":"open"}                                                → {"ok":true}   (shows the panel)
//! {"cmd":"quit"}                                                → {"ok":true}   (then ChatBell stops)
//! {"cmd":"watch"}                                               → {"status":…} now and at each change
//! {"cmd":"panel"}                                               → as watch, and {"show":true} lines
//! ```
//!
//! and the panel's own (`withdraw_request`, `history`, `preferences`,
//! `set_preferences`, `cancel_signin`, `use_demo`, `set_dynamics`): see
//! [`Request`].
//!
//! Malformed input gets an error answer; a line longer than [`MAX_LINE`] gets one
//! and the connection is closed.
//!
//! A client never waits forever ([`request`], [`Patience::DEFAULT`]): it connects
//! within 2 s and wants its answer within 5 s. A request the app may work on for
//! longer ([`Request::may_take`]: an action in Dynamics, a sign-in, a sign-out) is
//! waited for up to that long, as long as ChatBell answers a ping on another
//! connection at each 5 s meanwhile. Otherwise the client gives up with
//! [`ControlError::NotAnswering`], "ChatBell is running (pid N) but not answering"
//! (the pid from the socket's peer credentials): a ChatBell that was stopped
//! (SIGSTOP) or is stuck holds its socket, and the kernel queues connections to
//! it that nobody serves. A connection refused (a socket file nobody listens on) is
//! [`ControlError::NotRunning`], as is a missing socket.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// The longest request line accepted.
pub const MAX_LINE: usize = 64 * 1024;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// The most history items one request may ask for.
pub const HISTORY_MAX: u32 = 500;

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Act {
        id: String,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Signin {
        /// Sign in through the browser (PKCE) instead of a device code.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        browser: bool,
    },
    Signout,
    Ping,
    /// Show the panel (a second `chatbell` start, or `chatbell open`).
    Open,
    /// Stop ChatBell, as the tray menu's Quit does.
    Quit,
    /// The add-on's tables found in the org, and the mapping proposed.
    OrgInspect,
    /// The org checked with the agent's sign-in.
    OrgCheck,
    /// Withdraw a request I made (R8), with the reason the requested agent sees.
    WithdrawRequest {
        request_id: String,
        reason: String,
    },
    /// The notifications of late, newest first, at most `limit` (500).
    History {
        limit: u32,
    },
    /// The panel's preferences.
    Preferences,
    /// Change the panel's preferences (`PanelPrefs` as JSON), checked whole.
    SetPreferences {
        prefs: Value,
    },
    /// Stop a sign-in in progress.
    CancelSignin,
    /// Use the demo org.
    UseDemo,
    /// Use this Dynamics org (and model-driven app).
    SetDynamics {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_id: Option<String>,
    },
    /// The connection becomes a stream: the status now, then each time it
    /// changes, one `{"status": …}` line each, until the client closes it. A
    /// panel in a process of its own follows ChatBell so.
    Watch,
    /// The panel attaches: a [`Request::Watch`] stream that also carries a
    /// `{"show":true}` line each time ChatBell wants the panel in front (the
    /// tray's "Open panel", a toast, `chatbell open`). One panel at most: while
    /// one is attached, another gets one error answer with `"already_open":true`
    /// (and the attached one is brought to the front).
    Panel,
}

impl Request {
    /// How long the running app may work on this request before it answers (its
    /// own bounds and a margin): past [`Patience::answer`], a client waits up to
    /// this long while ChatBell keeps answering pings. Zero: answered from memory.
    pub fn may_take(&self) -> Duration {
        match self {
            Request::Status
            | Request::Ping
            | Request::Open
            | Request::Quit
            | Request::Watch
            | Request::Panel
            | Request::CancelSignin => Duration::ZERO,
            Request::WithdrawRequest { .. } => crate::app::ACTION_TIMEOUT + Duration::from_secs(10),
            // The local cache and preference files.
            Request::History { .. } | Request::Preferences | Request::SetPreferences { .. } => {
                Duration::from_secs(10)
            }
            // The demo org started (its program has 20 s to say where it
            // listens), or the desk of another org opened.
            Request::UseDemo | Request::SetDynamics { .. } => Duration::from_secs(40),
            // The desk's answer from Dynamics: the app gives up by itself after
            // ACTION_TIMEOUT and answers why.
            Request::Act { .. } => crate::app::ACTION_TIMEOUT + Duration::from_secs(10),
            // A device code from the identity provider (chatbell-auth's HTTP
            // requests time out after 30 s).
            Request::Signin { .. } => Duration::from_secs(40),
            // Stopping the desk (5 s), then deleting the sign-in from the keychain
            // (chatbell-auth gives a keychain call 20 s).
            Request::Signout => Duration::from_secs(40),
            // Table definitions read one request at a time, each with the
            // client's retries: a few dozen requests.
            Request::OrgInspect | Request::OrgCheck => Duration::from_secs(120),
        }
    }
}

/// How long a client waits for the running ChatBell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patience {
    /// To connect. A listening socket takes a connection at once, even when its
    /// process is stopped; this bounds only what should never take long.
    pub connect: Duration,
    /// For an answer; for a request that may take longer
    /// ([`Request::may_take`]), for the answer to a ping meanwhile.
    pub answer: Duration,
}

impl Patience {
    /// The command line's: connect within 2 s, an answer within 5 s.
    pub const DEFAULT: Patience = Patience {
        connect: Duration::from_secs(2),
        answer: Duration::from_secs(5),
    };
}

impl Default for Patience {
    fn default() -> Self {
        Patience::DEFAULT
    }
}

/// `{"ok":true}`.
pub fn ok() -> Value {
    json!({"ok": true})
}

/// `{"ok":false,"error":message}`.
pub fn error(message: impl std::fmt::Display) -> Value {
    json!({"ok": false, "error": message.to_string()})
}

/// A line of a [`Request::Panel`] stream, as the panel gets it.
#[derive(Clone, Debug, PartialEq)]
pub enum PanelLine {
    /// The status now.
    Status(Value),
    /// ChatBell wants the panel in front.
    Show,
}

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What answers requests: the running app.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> BoxFuture<'_, Value>;
    /// What a [`Request::Watch`] follows: the status as JSON, its changes
    /// announced. `None`: this handler has nothing to watch.
    fn watch(&self) -> Option<tokio::sync::watch::Receiver<Value>> {
        None
    }
    /// A panel attaches ([`Request::Panel`]). `None`: no panel here; `Err`: the
    /// answer that refuses it (one is attached already).
    fn panel(&self) -> Option<Result<PanelFeed, Value>> {
        None
    }
}

/// What an attached panel follows: the status, and the times it is asked to
/// come to the front. It stays attached while `attached` lives.
pub struct PanelFeed {
    pub status: tokio::sync::watch::Receiver<Value>,
    pub show: tokio::sync::watch::Receiver<u64>,
    pub attached: Box<dyn Send + Sync>,
}

/// Why the control socket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("ChatBell is already running (control socket {0})")]
    AlreadyRunning(PathBuf),
    #[error("ChatBell is not running (no control socket at {path}: {source})")]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {0}: it is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("control socket directory {0} belongs to another user")]
    ForeignDirectory(PathBuf),
    /// A ChatBell holds the socket but does not answer in time: it was stopped
    /// (SIGSTOP) or is stuck. `pid` from the socket's peer credentials, when known.
    #[error("ChatBell is running{} but not answering", pid_in_parentheses(*.pid))]
    NotAnswering { path: PathBuf, pid: Option<u32> },
    #[error("unreadable answer from ChatBell: {0}")]
    BadAnswer(String),
    #[error("ChatBell's panel is open already (it was brought to the front)")]
    PanelOpen,
    #[error("the control socket is not supported on this platform")]
    Unsupported,
}

fn pid_in_parentheses(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

/// Where the control socket goes: `$XDG_RUNTIME_DIR/chatbell/control.sock`, else
/// `<data dir>/control/control.sock`.
pub fn default_socket_path(data_dir: &Path) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(run) => PathBuf::from(run).join("chatbell").join("control.sock"),
        None => data_dir.join("control").join("control.sock"),
    }
}

/// Whether a peer with `peer_uid` may use a socket served for `allowed_uid`.
pub fn peer_allowed(peer_uid: u32, allowed_uid: u32) -> bool {
    peer_uid == allowed_uid
}

async fn write_line(stream: &mut (impl AsyncWrite + Unpin), v: &Value) -> bool {
    let mut line = v.to_string();
    line.push('\n');
    stream.write_all(line.as_bytes()).await.is_ok()
}

/// The protocol on one connection whose peer was let in: reads request lines
/// from `read` until it ends, answers each on `write`. A line over
/// [`MAX_LINE`] gets an error answer and ends the connection.
pub async fn serve_lines(
    read: impl AsyncRead + Unpin,
    mut write: impl AsyncWrite + Unpin,
    handler: &dyn Handler,
) {
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = match (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
            write_line(
                &mut write,
                &error(format!("request line longer than {MAX_LINE} bytes")),
            )
            .await;
            return;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Request>(line) {
            Ok(Request::Watch) => match handler.watch() {
                Some(changes) => {
                    stream_status(&mut reader, &mut write, changes, None).await;
                    return;
                }
                None => error("nothing to watch here"),
            },
            Ok(Request::Panel) => match handler.panel() {
                Some(Ok(feed)) => {
                    let PanelFeed {
                        status,
                        show,
                        attached,
                    } = feed;
                    stream_status(&mut reader, &mut write, status, Some(show)).await;
                    drop(attached);
                    return;
                }
                Some(Err(refused)) => refused,
                None => error("no panel here"),
            },
            Ok(req) => handler.handle(req).await,
            Err(e) => error(format!("bad request: {e}")),
        };
        if !write_line(&mut write, &answer).await {
            return;
        }
    }
}

/// A [`Request::Watch`] (or [`Request::Panel`], with `show`): the status now
/// and at each change, and `{"show":true}` each time `show` changes, until the
/// client closes the connection (or writes anything more) or the app stops.
async fn stream_status(
    reader: &mut (impl AsyncRead + Unpin),
    write: &mut (impl AsyncWrite + Unpin),
    mut changes: tokio::sync::watch::Receiver<Value>,
    mut show: Option<tokio::sync::watch::Receiver<u64>>,
) {
    let mut byte = [0u8; 1];
    let mut status_due = true;
    loop {
        if status_due {
            let status = changes.borrow_and_update().clone();
            if !write_line(write, &serde_json::json!({ "status": status })).await {
                return;
            }
        } else if !write_line(write, &serde_json::json!({ "show": true })).await {
            return;
        }
        let shown = async {
            match show.as_mut() {
                Some(s) => s.changed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() { return }
                status_due = true;
            }
            changed = shown => {
                if changed.is_err() { return }
                if let Some(s) = show.as_mut() { s.borrow_and_update(); }
                status_due = false;
            }
            // The client closed (or broke the protocol): the stream ends.
            _ = reader.read(&mut byte) => return,
        }
    }
}

#[cfg(unix)]
pub use unix::*;

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{UnixListener, UnixStream};

    /// This process's user id.
    pub fn my_uid() -> u32 {
        rustix::process::getuid().as_raw()
    }

    /// The running control socket. Dropping it stops accepting; [`ControlServer::shutdown`]
    /// also removes the socket file.
    pub struct ControlServer {
        path: PathBuf,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl std::fmt::Debug for ControlServer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("ControlServer")
                .field("path", &self.path)
                .finish_non_exhaustive()
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ControlError + '_ {
        move |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    impl ControlServer {
        /// Serves `handler` at `path`, for this user only.
        pub async fn bind(
            path: &Path,
            handler: Arc<dyn Handler>,
        ) -> Result<ControlServer, ControlError> {
            Self::bind_for_uid(path, handler, my_uid()).await
        }

        /// Serves `handler` at `path` for the user `allowed_uid` only.
        pub async fn bind_for_uid(
            path: &Path,
            handler: Arc<dyn Handler>,
            allowed_uid: u32,
        ) -> Result<ControlServer, ControlError> {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let meta = std::fs::metadata(dir).map_err(io(dir))?;
            if meta.uid() != my_uid() {
                return Err(ControlError::ForeignDirectory(dir.to_path_buf()));
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io(dir))?;
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_socket() => {
                    match connect(path, Patience::DEFAULT.connect).await {
                        Ok(_) => return Err(ControlError::AlreadyRunning(path.to_path_buf())),
                        // Someone listens, and serves no one: not a socket to replace.
                        Err(e @ ControlError::NotAnswering { .. }) => return Err(e),
                        Err(_) => {}
                    }
                    // Left by an instance that crashed: nobody answers it.
                    tracing::info!(path = %path.display(), "replacing a stale control socket");
                    std::fs::remove_file(path).map_err(io(path))?;
                }
                Ok(_) => return Err(ControlError::NotASocket(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(path)(e)),
            }
            let listener = UnixListener::bind(path).map_err(io(path))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(io(path))?;
            let (stop, mut stopped) = tokio::sync::oneshot::channel();
            let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
            let task = tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => {
                                let Ok(permit) = limit.clone().try_acquire_owned() else {
                                    tracing::warn!("too many control connections; refusing one");
                                    continue;
                                };
                                let handler = handler.clone();
                                tokio::spawn(async move {
                                    serve(stream, handler, allowed_uid).await;
                                    drop(permit);
                                });
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "control socket accept failed");
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                }
            });
            Ok(ControlServer {
                path: path.to_path_buf(),
                stop: Some(stop),
                task,
            })
        }

        pub fn path(&self) -> &Path {
            &self.path
        }

        /// Stops accepting and removes the socket file.
        pub async fn shutdown(mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            let _ = (&mut self.task).await;
            let _ = std::fs::remove_file(&self.path);
        }
    }

    impl Drop for ControlServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn serve(stream: UnixStream, handler: Arc<dyn Handler>, allowed_uid: u32) {
        let peer = stream.peer_cred().map(|c| c.uid());
        let (read, mut write) = stream.into_split();
        match peer {
            Ok(uid) if peer_allowed(uid, allowed_uid) => {}
            Ok(uid) => {
                tracing::warn!(
                    uid,
                    "control socket: refused a connection from another user"
                );
                write_line(&mut write, &error("refused: not the same user")).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket: no peer credentials; refused");
                write_line(&mut write, &error("refused: no peer credentials")).await;
                return;
            }
        }
        serve_lines(read, write, handler.as_ref()).await;
    }

    /// Connects to the instance at `path`. Nobody listening (refused, or no
    /// socket file): [`ControlError::NotRunning`]. A listener whose queue is full
    /// (a stuck instance that stopped accepting long ago), or no connection within
    /// `within`: [`ControlError::NotAnswering`], with no pid.
    async fn connect(path: &Path, within: Duration) -> Result<UnixStream, ControlError> {
        let not_answering = || ControlError::NotAnswering {
            path: path.to_path_buf(),
            pid: None,
        };
        match tokio::time::timeout(within, UnixStream::connect(path)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Err(not_answering()),
            Ok(Err(source)) => Err(ControlError::NotRunning {
                path: path.to_path_buf(),
                source,
            }),
            Err(_) => Err(not_answering()),
        }
    }

    /// Follows the instance at `path` ([`Request::Watch`]): `each` gets the
    /// status now and at every change, until it returns `false` or ChatBell
    /// stops (then `Ok`: the stream ended).
    pub async fn watch(
        path: &Path,
        mut each: impl FnMut(Value) -> bool,
    ) -> Result<(), ControlError> {
        follow(path, &Request::Watch, |line| match line {
            PanelLine::Status(s) => each(s),
            PanelLine::Show => true,
        })
        .await
    }

    /// Attaches a panel to the instance at `path` ([`Request::Panel`]): `each`
    /// gets the status now and at every change, and each request to come to the
    /// front, until it returns `false` or ChatBell stops (then `Ok`). A panel
    /// attached already: [`ControlError::PanelOpen`] (it was brought to the
    /// front).
    pub async fn attach_panel(
        path: &Path,
        each: impl FnMut(PanelLine) -> bool,
    ) -> Result<(), ControlError> {
        follow(path, &Request::Panel, each).await
    }

    async fn follow(
        path: &Path,
        request: &Request,
        mut each: impl FnMut(PanelLine) -> bool,
    ) -> Result<(), ControlError> {
        let patience = Patience::default();
        let stream = connect(path, patience.connect).await?;
        let io = |source| ControlError::Io {
            path: path.to_path_buf(),
            source,
        };
        let (read, mut write) = stream.into_split();
        let mut line =
            serde_json::to_string(request).map_err(|e| ControlError::BadAnswer(e.to_string()))?;
        line.push('\n');
        write.write_all(line.as_bytes()).await.map_err(io)?;
        // As for an answer: a status line up to 64 MiB.
        const MAX_ANSWER: u64 = 64 * 1024 * 1024;
        let mut reader = BufReader::new(read);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut reader)
                .take(MAX_ANSWER)
                .read_until(b'\n', &mut line)
                .await
                .map_err(io)?;
            if n == 0 {
                break;
            }
            let v: Value = serde_json::from_slice(&line)
                .map_err(|e| ControlError::BadAnswer(e.to_string()))?;
            let line = if let Some(status) = v.get("status") {
                PanelLine::Status(status.clone())
            } else if v.get("show") == Some(&Value::Bool(true)) {
                PanelLine::Show
            } else if v.get("already_open") == Some(&Value::Bool(true)) {
                return Err(ControlError::PanelOpen);
            } else {
                return Err(ControlError::BadAnswer(v.to_string()));
            };
            if !each(line) {
                break;
            }
        }
        Ok(())
    }

    /// The pid of the process listening at the other end (its peer credentials).
    fn peer_pid(stream: &UnixStream) -> Option<u32> {
        let pid = stream.peer_cred().ok()?.pid()?;
        u32::try_from(pid).ok()
    }

    /// Writes `req` and reads the answer line.
    async fn exchange(
        stream: UnixStream,
        req: &Request,
        path: &Path,
    ) -> Result<Value, ControlError> {
        let (read, mut write) = stream.into_split();
        let mut line =
            serde_json::to_string(req).map_err(|e| ControlError::BadAnswer(e.to_string()))?;
        line.push('\n');
        write.write_all(line.as_bytes()).await.map_err(io(path))?;
        let mut answer = Vec::new();
        BufReader::new(read)
            .take(64 * 1024 * 1024)
            .read_until(b'\n', &mut answer)
            .await
            .map_err(io(path))?;
        serde_json::from_slice(&answer).map_err(|e| ControlError::BadAnswer(e.to_string()))
    }

    /// Whether the instance at `path` answers a ping within `patience`.
    async fn answers_ping(path: &Path, patience: Patience) -> bool {
        let Ok(stream) = connect(path, patience.connect).await else {
            return false;
        };
        let ping = exchange(stream, &Request::Ping, path);
        matches!(tokio::time::timeout(patience.answer, ping).await, Ok(Ok(_)))
    }

    /// Sends one request to the instance listening at `path` and returns its
    /// answer, waiting as [`Patience::DEFAULT`] says.
    pub async fn request(path: &Path, req: &Request) -> Result<Value, ControlError> {
        request_with(path, req, Patience::DEFAULT).await
    }

    /// [`request`], waiting as `patience` says: an answer within
    /// [`Patience::answer`], or, for a request that may take longer
    /// ([`Request::may_take`]), within that as long as the instance answers a
    /// ping at each [`Patience::answer`] meanwhile. Otherwise
    /// [`ControlError::NotAnswering`].
    pub async fn request_with(
        path: &Path,
        req: &Request,
        patience: Patience,
    ) -> Result<Value, ControlError> {
        let stream = connect(path, patience.connect).await?;
        let pid = peer_pid(&stream);
        let deadline = tokio::time::Instant::now() + patience.answer.max(req.may_take());
        let exchange = exchange(stream, req, path);
        tokio::pin!(exchange);
        loop {
            let until = (tokio::time::Instant::now() + patience.answer).min(deadline);
            if let Ok(answer) = tokio::time::timeout_at(until, &mut exchange).await {
                return answer;
            }
            // Busy with the request, or stuck? A live ChatBell answers a ping at once.
            if tokio::time::Instant::now() >= deadline || !answers_ping(path, patience).await {
                return Err(ControlError::NotAnswering {
                    path: path.to_path_buf(),
                    pid,
                });
            }
        }
    }
}

#[cfg(not(unix))]
pub use other::*;

#[cfg(not(unix))]
mod other {
    use super::*;

    /// The control socket is Unix-only for now: on this platform the command line
    /// cannot reach a running instance.
    #[derive(Debug)]
    pub struct ControlServer;

    impl ControlServer {
        pub async fn bind(
            _path: &Path,
            _handler: Arc<dyn Handler>,
        ) -> Result<ControlServer, ControlError> {
            Err(ControlError::Unsupported)
        }
        pub fn path(&self) -> &Path {
            Path::new("")
        }
        pub async fn shutdown(self) {}
    }

    pub async fn request(_path: &Path, _req: &Request) -> Result<Value, ControlError> {
        Err(ControlError::Unsupported)
    }

    pub async fn request_with(
        _path: &Path,
        _req: &Request,
        _patience: Patience,
    ) -> Result<Value, ControlError> {
        Err(ControlError::Unsupported)
    }
}
