//! [`App`]: the running ChatBell without the GUI, and the [`Shell`] the GUI
//! implements.
//!
//! The app opens the local cache, the sign-in session and the [`Desk`], runs the
//! desk on a task fed by an [`Input`] channel, and, as the desk's [`Desktop`],
//! keeps the shared [`Status`] up to date, runs [`present`] with the agent's
//! preferences and the local time, and hands the [`Output`]s to the [`Shell`].
//! Every command the panel, the tray or the control socket sends goes through
//! the methods here, which check their input.

use crate::config::{self, Config, ConfigError, Paths};
use crate::control::{self, BoxFuture, Handler, Request};
use crate::demo::{DemoError, DemoOrg};
use crate::lifecycle::{
    DeskReport, Effect, Event, Kit, Lifecycle, LifecycleError, Signer, Ticket, Wanted, Way,
};
use crate::panels::Panels;
use crate::prefs::{DynamicsPrefs, PanelPrefs, Prefs, PrefsError};
use crate::view::{self, AccountView, Connection, NotificationView, SignInPrompt, Status, Storage};
use chatbell_auth::{
    Account, AuthConfig, AuthError, BrowserOpener, BrowserSignIn, DeviceCodePrompt, OAuthClient,
    SignIn, StorageMode, TokenStore,
};
use chatbell_core::present::{present, LocalTime, Output, Presence, Weekday};
use chatbell_core::{
    Action, ActionError, Engine, NotificationKey, RequestId, SessionId, SystemClock,
};
use chatbell_store::Store;
use chatbell_sync::signin::SignedIn;
use chatbell_sync::{
    Dataverse, DataverseError, Desk, DeskConfig, DeskError, Desktop, Input, RetryPolicy, Schema,
};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// The longest reason accepted for a rejection or a withdrawal (R8).
pub const MAX_REASON_CHARS: usize = 2_000;
/// How long an action may wait for the desk.
pub(crate) const ACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// What the desktop shell carries out: toasts, sounds, the tray, the panel.
/// Called from the desk's task: return quickly (hand off to the UI thread).
pub trait Shell: Send + Sync + 'static {
    /// Toasts, sounds, badge, chats to open, already decided for this desktop.
    fn outputs(&self, outputs: &[Output], status: &Status);
    /// The status changed (tray tooltip, panel).
    fn status_changed(&self, status: &Status);
    /// Open `url` in the agent's browser (a browser sign-in's page).
    fn open_url(&self, url: &str) -> Result<(), String>;
    /// Stop ChatBell (`chatbell quit`): close the window system's loop, or
    /// whatever keeps the process alive. The app itself is stopped by the caller
    /// of [`App::quit`].
    fn quit(&self);
    /// The desk opened with these notifications live (restored from the
    /// cache): a toast a previous run left up for anything else stands for
    /// nothing any more and goes. Called once per desk, before its first
    /// outputs.
    fn keep_only_toasts_of(&self, _live: &[NotificationKey]) {}
}

/// A browser sign-in's way to the agent's browser: through the shell.
struct ShellOpener(Arc<dyn Shell>);

impl BrowserOpener for ShellOpener {
    fn open(&self, url: &str) -> Result<(), String> {
        self.0.open_url(url)
    }
}

/// A shell that only logs what it is told: `chatbell --headless`, tests.
///
/// A toast is logged by its key and kind only: its title and body are customer
/// text (a name, a number, a message's preview), which never goes to a log.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogShell;

impl Shell for LogShell {
    fn outputs(&self, outputs: &[Output], status: &Status) {
        for o in outputs {
            match o {
                Output::Toast(n) => {
                    tracing::info!(id = %n.key, kind = n.kind.wire(), "toast")
                }
                other => tracing::info!(output = ?other, unread = status.unread, "output"),
            }
        }
    }
    fn quit(&self) {
        tracing::info!("quit requested");
    }
    fn open_url(&self, url: &str) -> Result<(), String> {
        tracing::info!(%url, "open this page in a browser");
        Ok(())
    }
    fn status_changed(&self, status: &Status) {
        tracing::debug!(
            unread = status.unread,
            connection = ?status.connection,
            live = status.notifications.len(),
            "status"
        );
    }
}

/// Why a command was refused. Its `Display` is meant for the agent.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input could not be used (an id, an action, a reason too long...).
    #[error("{0}")]
    Invalid(String),
    #[error("you are not signed in")]
    NotSignedIn,
    #[error("ChatBell is not configured: {0}")]
    NotConfigured(String),
    #[error("{0}")]
    Action(#[from] ActionError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Prefs(#[from] PrefsError),
    #[error("sign-in: {0}")]
    SignIn(String),
    #[error(transparent)]
    Demo(#[from] DemoError),
    #[error("the local cache: {0}")]
    Store(String),
    /// Another ChatBell holds the control socket (running, or not answering).
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    #[error("ChatBell did not answer in time; try again")]
    Timeout,
    #[error("ChatBell is stopping")]
    Stopped,
    #[error("cannot create {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    /// Not possible in ChatBell's present state (see [`Lifecycle`]).
    #[error(transparent)]
    Lifecycle(LifecycleError),
}

impl From<LifecycleError> for AppError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Stopped | LifecycleError::DeskStopped => AppError::Stopped,
            LifecycleError::NotConfigured(why) => AppError::NotConfigured(why),
            LifecycleError::NotSignedIn => AppError::NotSignedIn,
            LifecycleError::AlreadySignedIn => AppError::SignIn("already signed in".into()),
            other => AppError::Lifecycle(other),
        }
    }
}

/// How the app runs (tests change these).
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// Keep the sign-in in the OS keychain (off: memory only).
    pub keychain: bool,
    /// Write the login autostart entry when the agent asks for it (tests: off).
    pub autostart: bool,
    pub desk: DeskConfig,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            keychain: true,
            autostart: true,
            desk: DeskConfig::default(),
        }
    }
}

/// The running ChatBell. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("paths", &self.inner.paths)
            .finish_non_exhaustive()
    }
}

struct Inner {
    paths: Paths,
    /// The panel process attached, if any.
    panels: Panels,
    options: AppOptions,
    shell: Arc<dyn Shell>,
    status: watch::Sender<Status>,
    prefs: RwLock<Prefs>,
    /// Names each sign-in and desk (the next [`Ticket`]).
    tickets: AtomicU64,
    /// The ticket of the running desk, whose outputs reach the shell (0: none):
    /// the lifecycle's, read again after each of its transitions.
    live_desk: AtomicU64,
    /// What the desks report, applied to the lifecycle in order by
    /// [`apply_desk_reports`].
    reports: mpsc::UnboundedSender<(Ticket, DeskReport)>,
    state: tokio::sync::Mutex<State>,
    /// This is the user's first run of ChatBell.
    first_run: bool,
}

struct State {
    config: Config,
    life: Lifecycle<Live>,
}

/// What the app's lifecycle holds: the real things.
#[derive(Debug)]
struct Live;

impl Kit for Live {
    type Org = Arc<DemoOrg>;
    type SignIn = Arc<SignIn>;
    type Desk = DeskHandle;
    type Cancel = oneshot::Sender<()>;
}

/// A desk running on its task, with its local cache.
#[derive(Debug)]
struct DeskHandle {
    tx: mpsc::Sender<Input>,
    task: tokio::task::JoinHandle<()>,
    store: Store,
    /// The desk's link with its org (the same requests counter), for the org
    /// check and discovery.
    org: OrgLink,
}

/// A desk's org: its Web API client, the mapping it runs with, its address.
#[derive(Clone)]
struct OrgLink {
    dv: Dataverse,
    schema: Schema,
    url: String,
    opened: std::time::Instant,
}

impl std::fmt::Debug for OrgLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgLink").field("url", &self.url).finish()
    }
}

/// Checks quiet hours at the start of every minute, while the app lives.
async fn watch_quiet_hours(inner: std::sync::Weak<Inner>) {
    loop {
        let into_minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() % 60_000) as u64;
        tokio::time::sleep(Duration::from_millis(60_000 - into_minute + 200)).await;
        let Some(inner) = inner.upgrade() else { return };
        App { inner }.refresh_quiet_hours(local_time_now());
    }
}

/// The local wall-clock time, for quiet hours.
pub fn local_time_now() -> LocalTime {
    use chrono::{Datelike, Timelike};
    let now = chrono::Local::now();
    let weekday = match now.weekday() {
        chrono::Weekday::Mon => Weekday::Mon,
        chrono::Weekday::Tue => Weekday::Tue,
        chrono::Weekday::Wed => Weekday::Wed,
        chrono::Weekday::Thu => Weekday::Thu,
        chrono::Weekday::Fri => Weekday::Fri,
        chrono::Weekday::Sat => Weekday::Sat,
        chrono::Weekday::Sun => Weekday::Sun,
    };
    LocalTime {
        weekday,
        minute: (now.hour() * 60 + now.minute()) as u16,
    }
}

fn check_reason(reason: &str) -> Result<(), AppError> {
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::Invalid(format!(
            "the reason is too long: at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(())
}

fn prompt_view(p: &DeviceCodePrompt) -> SignInPrompt {
    SignInPrompt {
        user_code: p.user_code.clone(),
        verification_uri: p.verification_uri.clone(),
        expires_at: view::iso_system(p.expires_at),
    }
}

fn storage_of(mode: &StorageMode) -> (Storage, Option<String>) {
    match mode {
        StorageMode::Keychain => (Storage::Keychain, None),
        StorageMode::MemoryOnly { why } => (
            Storage::MemoryOnly,
            Some(format!("sign-in is not remembered after a restart: {why}")),
        ),
    }
}

/// Whether this is the user's first run (no configuration file of theirs, and
/// no marker left by an earlier run); leaves the marker.
fn mark_first_run(paths: &Paths) -> bool {
    let marker = paths.first_run_marker();
    let first_run = !paths.config_file.exists() && !marker.exists();
    if first_run {
        if let Err(e) = crate::fsutil::write_atomically(&marker, b"") {
            tracing::warn!("{}: {e}", marker.display());
        }
    }
    first_run
}

fn account_view(a: Account) -> AccountView {
    AccountView {
        name: a.name.clone().or(a.username.clone()).unwrap_or_default(),
        username: a.username.unwrap_or_default(),
    }
}

impl App {
    /// Starts ChatBell: reads the configuration and the preferences, then signs in
    /// (demo mode: at once; Dynamics: with the stored sign-in, if any) and runs
    /// the desk in the background. A configuration that cannot be used does not
    /// stop it: the status says `not_configured` and [`App::config_error`] why.
    pub async fn start(
        paths: Paths,
        shell: Arc<dyn Shell>,
        options: AppOptions,
    ) -> Result<App, AppError> {
        std::fs::create_dir_all(&paths.data_dir).map_err(|source| AppError::DataDir {
            path: paths.data_dir.display().to_string(),
            source,
        })?;
        let prefs = Prefs::load(&paths.prefs_file());
        let first_run = mark_first_run(&paths);
        let (config, load_error) = match Config::load_for(&paths) {
            Ok(c) => (c, None),
            Err(e) => {
                tracing::error!("{e}");
                (Config::default(), Some(e.to_string()))
            }
        };
        let wanted = match (&load_error, config.is_demo()) {
            (None, true) => Wanted::Demo { welcome: first_run },
            _ => Wanted::Dynamics,
        };
        let (status, _) = watch::channel(Status::default());
        let (reports, desk_reports) = mpsc::unbounded_channel();
        let app = App {
            inner: Arc::new(Inner {
                paths,
                options,
                shell,
                status,
                prefs: RwLock::new(prefs),
                tickets: AtomicU64::new(1),
                live_desk: AtomicU64::new(0),
                reports,
                state: tokio::sync::Mutex::new(State {
                    config,
                    life: Lifecycle::Activating { wanted },
                }),
                first_run,
                panels: Panels::default(),
            }),
        };
        tokio::spawn(apply_desk_reports(Arc::downgrade(&app.inner), desk_reports));
        {
            let mut st = app.inner.state.lock().await;
            app.publish(&st.life);
            app.activate(&mut st, load_error).await;
        }
        tokio::spawn(watch_quiet_hours(Arc::downgrade(&app.inner)));
        Ok(app)
    }

    /// Where ChatBell keeps its files.
    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// Whether this is the user's first run of ChatBell: no configuration file
    /// of theirs and no earlier run (see [`Paths::first_run_marker`]).
    pub fn first_run(&self) -> bool {
        self.inner.first_run
    }

    /// Whether the shell should open the panel as ChatBell starts: on the first
    /// run (connect an org or keep the demo; sign in), and whenever ChatBell
    /// cannot work without the agent (not configured, or signed out of an org).
    /// Otherwise ChatBell starts quietly in the tray.
    pub fn opens_panel_at_start(&self) -> bool {
        let s = self.status();
        self.inner.first_run
            || s.connection == Connection::NotConfigured
            || (!s.demo && s.connection == Connection::SignedOut)
    }

    /// The keys the administrator locked in the system configuration.
    pub async fn locked_keys(&self) -> Vec<String> {
        let st = self.inner.state.lock().await;
        st.config.locked.iter().cloned().collect()
    }

    /// The current status (what the panel and `chatbell status --json` show).
    pub fn status(&self) -> Status {
        let mut s = self.inner.status.borrow().clone();
        s.dnd_active = self.dnd_active();
        s
    }

    /// Status changes, as they happen.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Whether a panel is attached, and the way to bring it to the front.
    pub fn panels(&self) -> &Panels {
        &self.inner.panels
    }

    /// Why the configuration file could not be used, if it could not.
    pub async fn config_error(&self) -> Option<String> {
        let st = self.inner.state.lock().await;
        st.life.config_error().map(str::to_string)
    }

    /// The Dynamics link that opens `session` (R12); `None` in demo mode (open
    /// the panel instead).
    /// The configured Dynamics URL and app id (both `None` in demo mode).
    pub async fn dynamics(&self) -> (Option<String>, Option<String>) {
        let st = self.inner.state.lock().await;
        match &st.config.dynamics {
            Some(d) => (Some(d.url.clone()), d.app_id.clone()),
            None => (None, None),
        }
    }

    pub async fn deep_link(&self, session: SessionId) -> Option<String> {
        let st = self.inner.state.lock().await;
        crate::deeplink::session_link(&st.config, session)
    }

    fn dnd_active(&self) -> bool {
        self.dnd_active_at(local_time_now())
    }

    fn dnd_active_at(&self, at: LocalTime) -> bool {
        let prefs = self.inner.prefs.read().unwrap_or_else(|p| p.into_inner());
        prefs.presence.dnd.active(at)
    }

    /// Quiet hours (R18) begin and end with the clock, not with an event: tells
    /// the shell (tray menu, panel) when do not disturb changed by itself at `at`.
    /// Returns whether it changed. [`App::start`] calls it every minute.
    pub fn refresh_quiet_hours(&self, at: LocalTime) -> bool {
        let dnd = self.dnd_active_at(at);
        if self.inner.status.borrow().dnd_active == dnd {
            return false;
        }
        tracing::info!(dnd, "quiet hours {}", if dnd { "began" } else { "ended" });
        self.update_status(|s| s.dnd_active = dnd);
        true
    }

    fn update_status(&self, f: impl FnOnce(&mut Status)) {
        Inner::update_status(&self.inner, f);
    }

    /// The agent acts on a notification: `id` as in [`NotificationView::id`],
    /// `action` one of open, accept, reject, yes, no, dismiss, block; a reason for
    /// reject (R8).
    /// The org of the desk (running or halted), or why there is none.
    async fn org_link(&self) -> Result<OrgLink, AppError> {
        let st = self.inner.state.lock().await;
        match st.life.desk() {
            Some(d) => Ok(d.org.clone()),
            None => Err(AppError::NotSignedIn),
        }
    }

    /// `chatbell org inspect`: the add-on's tables found in the signed-in
    /// org, and the mapping proposed for them (configuration TOML).
    pub async fn org_inspect(&self) -> Result<String, AppError> {
        let org = self.org_link().await?;
        let proposal = chatbell_sync::inspect::inspect(&org.dv)
            .await
            .map_err(|e| AppError::Invalid(format!("reading the org's table definitions: {e}")))?;
        Ok(proposal.to_toml(&org.url))
    }

    /// The org checked with the agent's sign-in (`chatbell doctor`).
    pub async fn org_check(&self) -> Result<Vec<chatbell_sync::orgcheck::Finding>, AppError> {
        let org = self.org_link().await?;
        let findings = org_check(&org).await;
        let problems: Vec<String> = findings
            .iter()
            .filter(|f| !f.ok)
            .map(|f| format!("{}: {}", f.check, f.detail))
            .collect();
        Inner::update_status(&self.inner, |s| s.org_problems = problems);
        Ok(findings)
    }

    pub async fn act(&self, id: &str, action: &str, reason: Option<&str>) -> Result<(), AppError> {
        let key: NotificationKey = id
            .trim()
            .parse()
            .map_err(|e: chatbell_core::BadNotificationKey| AppError::Invalid(e.to_string()))?;
        let action: Action = action
            .trim()
            .parse()
            .map_err(|e: chatbell_core::BadAction| AppError::Invalid(e.to_string()))?;
        if let Some(r) = reason {
            check_reason(r)?;
        }
        let (reply, answer) = oneshot::channel();
        self.send(Input::Act {
            key,
            action,
            reason: reason.map(str::to_string),
            reply,
        })
        .await?;
        Self::await_reply(answer).await
    }

    /// Withdraws a pending request I made, with a reason (R8).
    pub async fn withdraw_request(&self, request_id: &str, reason: &str) -> Result<(), AppError> {
        let request: RequestId = request_id.trim().parse().map_err(|_| {
            AppError::Invalid(format!(
                "not a request id: {:?}",
                request_id.chars().take(80).collect::<String>()
            ))
        })?;
        check_reason(reason)?;
        let (reply, answer) = oneshot::channel();
        self.send(Input::WithdrawRequest {
            request,
            reason: reason.to_string(),
            reply,
        })
        .await?;
        Self::await_reply(answer).await
    }

    async fn await_reply(
        answer: oneshot::Receiver<Result<(), ActionError>>,
    ) -> Result<(), AppError> {
        match tokio::time::timeout(ACTION_TIMEOUT, answer).await {
            Err(_) => Err(AppError::Timeout),
            Ok(Err(_)) => Err(AppError::Stopped),
            Ok(Ok(r)) => r.map_err(AppError::from),
        }
    }

    async fn send(&self, input: Input) -> Result<(), AppError> {
        let tx = {
            let st = self.inner.state.lock().await;
            st.life.desk_for_input().map(|d| d.tx.clone())?
        };
        tx.send(input).await.map_err(|_| {
            // The desk stopped on its own: the sign-in was lost, or it could not open.
            match self.inner.status.borrow().connection {
                Connection::SignedOut => AppError::NotSignedIn,
                _ => AppError::Stopped,
            }
        })
    }

    /// Mutes the sounds on this desktop, or not (R11).
    pub async fn set_muted(&self, muted: bool) -> Result<(), AppError> {
        self.send(Input::SetMuted(muted)).await?;
        self.update_status(|s| s.muted = muted);
        Ok(())
    }

    /// Asks for a poll now (the agent pressed "refresh", the network came back).
    pub async fn poll_now(&self) -> Result<(), AppError> {
        self.send(Input::PollNow).await
    }

    /// The newest notifications, live or not, newest first (at most 500).
    pub async fn history(&self, limit: u32) -> Result<Vec<NotificationView>, AppError> {
        let store = {
            let st = self.inner.state.lock().await;
            st.life.desk().map(|d| d.store.clone())
        };
        let Some(store) = store else {
            return Ok(Vec::new());
        };
        let notes = store
            .history(limit.min(500))
            .await
            .map_err(|e| AppError::Store(e.to_string()))?;
        Ok(notes
            .iter()
            .map(|n| NotificationView::new(n, None))
            .collect())
    }

    /// The agent's preferences on this desktop.
    pub fn preferences(&self) -> Prefs {
        self.inner
            .prefs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The panel's preferences: this desktop's and the Dynamics connection.
    pub async fn panel_preferences(&self) -> PanelPrefs {
        let prefs = self.preferences();
        let (url, app_id) = self.dynamics().await;
        PanelPrefs {
            sounds: prefs.presence.sounds,
            dnd: prefs.presence.dnd,
            start_at_login: prefs.start_at_login,
            dynamics: DynamicsPrefs {
                url,
                app_id,
                locked: self.locked_keys().await,
            },
        }
    }

    /// Saves the panel's preferences: this desktop's first, then the Dynamics
    /// connection if it changed (a blank URL is the demo org).
    pub async fn set_panel_preferences(&self, prefs: PanelPrefs) -> Result<(), AppError> {
        let (url, app_id) = self.dynamics().await;
        self.set_preferences(Prefs {
            presence: Presence {
                sounds: prefs.sounds,
                dnd: prefs.dnd,
            },
            start_at_login: prefs.start_at_login,
        })?;
        let wanted = (
            prefs.dynamics.url.filter(|u| !u.trim().is_empty()),
            prefs.dynamics.app_id.filter(|a| !a.trim().is_empty()),
        );
        if wanted != (url, app_id) {
            self.set_dynamics(wanted.0.as_deref(), wanted.1.as_deref())
                .await?;
        }
        Ok(())
    }

    /// Checks and saves the preferences; they apply to the next effects at once.
    pub fn set_preferences(&self, prefs: Prefs) -> Result<(), AppError> {
        let was = self.preferences().start_at_login;
        if prefs.start_at_login != was && self.inner.options.autostart {
            crate::autostart::set(prefs.start_at_login)
                .map_err(|e| AppError::Invalid(e.to_string()))?;
        }
        prefs.save(&self.inner.paths.prefs_file())?;
        *self.inner.prefs.write().unwrap_or_else(|p| p.into_inner()) = prefs;
        let dnd = self.dnd_active();
        self.update_status(|s| s.dnd_active = dnd);
        Ok(())
    }

    /// The session a new sign-in goes into (a demo signed out of gets a new
    /// one), or why none can start. Caller holds the state lock.
    fn sign_in_session(&self, st: &State) -> Result<Arc<SignIn>, AppError> {
        match st.life.signer()? {
            Signer::SignIn(session) => Ok(session),
            Signer::NewDemoSession(org) => Ok(org.new_session()?),
        }
    }

    /// Starts a device code sign-in: the code and URL to show. In demo mode the
    /// code is approved at once for the demo agent. A sign-in still waiting is
    /// cancelled.
    pub async fn start_sign_in(&self) -> Result<SignInPrompt, AppError> {
        let mut st = self.inner.state.lock().await;
        let session = self.sign_in_session(&st)?;
        let prompt = session
            .start_device_code()
            .await
            .map_err(|e| AppError::SignIn(e.to_string()))?;
        let view = prompt_view(&prompt);
        let (cancel, cancelled) = oneshot::channel::<()>();
        let ticket = self.ticket();
        let way = Way::DeviceCode {
            prompt: view.clone(),
            cancel,
        };
        let started = Event::SignInStarted {
            ticket,
            session: session.clone(),
            way,
        };
        self.apply(&mut st, started).await?;
        let demo = st.life.demo_org().cloned();
        drop(st);
        let app = self.clone();
        tokio::spawn(async move {
            if let Some(org) = demo {
                if let Err(e) = org.approve(&prompt).await {
                    tracing::warn!("{e}");
                }
            }
            let done = session
                .complete_device_code(&prompt, async {
                    let _ = cancelled.await;
                })
                .await;
            app.sign_in_ended(ticket, done).await;
        });
        Ok(view)
    }

    /// Starts a browser sign-in (authorization code + PKCE on a loopback
    /// redirect): the shell opens the sign-in page in the agent's browser
    /// ([`Shell::open_url`]), which comes back to ChatBell on `127.0.0.1`. The
    /// status says `browser_signin` until it completes, fails, times out (5 min)
    /// or is cancelled. The demo org signs its demo agent in.
    pub async fn start_browser_sign_in(&self) -> Result<(), AppError> {
        let opener = ShellOpener(self.inner.shell.clone());
        let mut st = self.inner.state.lock().await;
        let session = self.sign_in_session(&st)?;
        let (cancel, cancelled) = oneshot::channel::<()>();
        let ticket = self.ticket();
        let started = Event::SignInStarted {
            ticket,
            session: session.clone(),
            way: Way::Browser { cancel },
        };
        self.apply(&mut st, started).await?;
        let options = BrowserSignIn {
            login_hint: st
                .life
                .demo_org()
                .map(|_| crate::demo::DEMO_AGENT_EMAIL.to_string()),
            ..BrowserSignIn::default()
        };
        drop(st);
        let app = self.clone();
        tokio::spawn(async move {
            let done = tokio::select! {
                done = session.sign_in_with_browser(&opener, &options) => done,
                _ = cancelled => Err(AuthError::Cancelled),
            };
            app.sign_in_ended(ticket, done).await;
        });
        Ok(())
    }

    /// A sign-in flow ended: the desk opens, or the agent is signed out (unless
    /// the sign-in was cancelled or replaced meanwhile).
    async fn sign_in_ended(&self, ticket: Ticket, done: Result<Account, AuthError>) {
        match &done {
            Ok(account) => tracing::info!(account = ?account.display(), "signed in"),
            Err(e) => tracing::warn!("sign-in did not complete: {e}"),
        }
        self.finish_sign_in(ticket, done.is_ok()).await;
    }

    async fn finish_sign_in(&self, ticket: Ticket, signed_in: bool) {
        let mut st = self.inner.state.lock().await;
        let finished = Event::SignInFinished { ticket, signed_in };
        if let Err(e) = self.apply(&mut st, finished).await {
            tracing::debug!("a sign-in ended: {e}");
        }
    }

    /// Stops waiting for a sign-in.
    pub async fn cancel_sign_in(&self) {
        let mut st = self.inner.state.lock().await;
        if let Err(e) = self.apply(&mut st, Event::CancelSignIn).await {
            tracing::debug!("cancel sign-in: {e}");
        }
    }

    /// Signs out: stops the desk, forgets the tokens (and the stored sign-in).
    /// Not configured, there is nothing to sign out of.
    pub async fn sign_out(&self) -> Result<(), AppError> {
        let mut st = self.inner.state.lock().await;
        match self.apply(&mut st, Event::SignOut).await {
            Err(AppError::NotConfigured(_)) => Ok(()),
            done => done,
        }
    }

    /// Switches to the demo org (writes the configuration file); in the demo
    /// already, it only answers the first run's welcome: the demo goes on.
    pub async fn use_demo(&self) -> Result<(), AppError> {
        {
            let mut st = self.inner.state.lock().await;
            if self.apply(&mut st, Event::KeepDemo).await.is_ok() {
                return Ok(());
            }
        }
        self.set_dynamics(None, None).await
    }

    /// Points ChatBell at a Dynamics org (`None`: demo mode) and writes the
    /// configuration file; the other keys of the file are kept. Signs out of the
    /// previous org.
    pub async fn set_dynamics(
        &self,
        url: Option<&str>,
        app_id: Option<&str>,
    ) -> Result<(), AppError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        let config = config::write_dynamics(&self.inner.paths, url, app_id)?;
        let wanted = if config.is_demo() {
            Wanted::Demo { welcome: false }
        } else {
            Wanted::Dynamics
        };
        let mut st = self.inner.state.lock().await;
        self.apply(&mut st, Event::Reconfigure { wanted }).await?;
        st.config = config;
        self.activate(&mut st, None).await;
        Ok(())
    }

    /// Stops everything: the desk, a sign-in under way, the demo org.
    pub async fn quit(&self) {
        let mut st = self.inner.state.lock().await;
        if let Err(e) = self.apply(&mut st, Event::Quit).await {
            tracing::warn!("quit: {e}");
        }
    }

    // ----- the lifecycle ---------------------------------------------------------

    fn ticket(&self) -> Ticket {
        Ticket(self.inner.tickets.fetch_add(1, Ordering::SeqCst))
    }

    /// Applies `event` to the lifecycle, shows the state it leads to, and
    /// carries out its effects in order (an opened desk is one more event).
    /// The refusal, or the first effect that failed. Caller holds the state lock.
    fn apply<'a>(
        &'a self,
        st: &'a mut State,
        event: Event<Live>,
    ) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async move {
            let mut effects = VecDeque::from(self.step(st, event)?);
            let mut failed = None;
            while let Some(effect) = effects.pop_front() {
                match self.carry_out(st, effect).await {
                    Ok(more) => effects.extend(more),
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            failed.map_or(Ok(()), Err)
        })
    }

    /// One transition: the lifecycle moves, the live desk and the status follow.
    fn step(&self, st: &mut State, event: Event<Live>) -> Result<Vec<Effect<Live>>, AppError> {
        let what = event.name();
        let effects = st.life.handle(event);
        let live = st.life.live_desk().map_or(0, |t| t.0);
        self.inner.live_desk.store(live, Ordering::SeqCst);
        match &effects {
            Ok(_) => tracing::debug!(event = what, state = st.life.name(), "lifecycle"),
            Err(e) => tracing::debug!(event = what, state = st.life.name(), "refused: {e}"),
        }
        self.publish(&st.life);
        Ok(effects?)
    }

    /// Shows what the lifecycle says (connection, sign-in, account, demo...),
    /// if that changed.
    fn publish(&self, life: &Lifecycle<Live>) {
        let Some(shown) = life.shown() else { return };
        if self.inner.status.send_if_modified(|s| shown.write(s)) {
            let s = self.inner.status.borrow().clone();
            self.inner.shell.status_changed(&s);
        }
    }

    /// Carries out one effect of a transition; the effects that follow from it.
    async fn carry_out(
        &self,
        st: &mut State,
        effect: Effect<Live>,
    ) -> Result<Vec<Effect<Live>>, AppError> {
        match effect {
            Effect::SignInDemo {
                ticket,
                org,
                session,
            } => self.sign_in_demo(ticket, org, session),
            Effect::OpenDesk { session, demo } => {
                return Ok(self.open_desk(st, session, demo).await)
            }
            Effect::CancelSignIn(cancel) => {
                let _ = cancel.send(());
            }
            Effect::StopDesk(desk) => {
                stop_desk(desk).await;
                // What was said of that desk's org and cache goes with it.
                Inner::update_status(&self.inner, |s| {
                    s.org_problems.clear();
                    s.cache_note = None;
                    s.clock_note = None;
                });
            }
            Effect::ShutDown(org) => shut_down(org).await,
            Effect::ForgetSignIn(session) => session
                .sign_out()
                .await
                .map_err(|e| AppError::SignIn(e.to_string()))?,
            Effect::ClearChats => self.update_status(|s| {
                s.unread = 0;
                s.notifications.clear();
                s.my_pending_requests.clear();
            }),
            Effect::ClearView => self.update_status(|s| {
                s.unread = 0;
                s.muted = false;
                s.notifications.clear();
                s.my_pending_requests.clear();
            }),
        }
        Ok(Vec::new())
    }

    /// Starts what the configuration asks for: the demo org, or the agent's
    /// org with its stored sign-in. Caller holds the state lock.
    async fn activate(&self, st: &mut State, load_error: Option<String>) {
        let event = match (load_error, st.config.dynamics.clone()) {
            (Some(why), _) => {
                tracing::warn!("not configured: {why}");
                Event::Unusable { why }
            }
            (None, None) => self.start_demo().await,
            (None, Some(d)) => self.restore_sign_in(&d).await,
        };
        if let Err(e) = self.apply(st, event).await {
            tracing::warn!("{e}");
        }
    }

    /// Starts the demo org and a session for its agent.
    async fn start_demo(&self) -> Event<Live> {
        let org = match DemoOrg::start().await {
            Ok(o) => Arc::new(o),
            Err(e) => {
                tracing::error!("{e}");
                return Event::Unusable { why: e.to_string() };
            }
        };
        tracing::info!(url = org.base_url(), "demo org started");
        match org.new_session() {
            Ok(session) => Event::DemoStarted {
                org,
                session,
                ticket: self.ticket(),
            },
            Err(e) => {
                tracing::error!("{e}");
                shut_down(org).await;
                Event::Unusable { why: e.to_string() }
            }
        }
    }

    /// Signs the demo agent in through the device code flow, in the background.
    fn sign_in_demo(&self, ticket: Ticket, org: Arc<DemoOrg>, session: Arc<SignIn>) {
        let app = self.clone();
        tokio::spawn(async move {
            let signed = org.sign_in(&session).await;
            drop(org);
            if let Err(e) = &signed {
                tracing::error!("{e}");
            }
            app.finish_sign_in(ticket, signed.is_ok()).await;
        });
    }

    /// The agent's org: its sign-in session, restored from where it is kept.
    async fn restore_sign_in(&self, d: &config::Dynamics) -> Event<Live> {
        let Some(client_id) = d.client_id.clone() else {
            let why = "dynamics.client_id is not set: ChatBell cannot sign in".to_string();
            tracing::warn!("{why}");
            return Event::Unusable { why };
        };
        let auth = match AuthConfig::new(&d.authority, &d.tenant, &client_id, &d.url)
            .and_then(OAuthClient::new)
        {
            Ok(c) => c,
            Err(e) => return Event::Unusable { why: e.to_string() },
        };
        let (tokens, mode) = if self.inner.options.keychain {
            TokenStore::open_with_os_keychain(&self.inner.paths.data_dir, "sign-in key").await
        } else {
            let why = "the keychain is turned off".to_string();
            (
                TokenStore::memory_only(why.clone()),
                StorageMode::MemoryOnly { why },
            )
        };
        let (storage, storage_note) = storage_of(&mode);
        let session = Arc::new(SignIn::new(auth, tokens));
        let signed_in = match session.restore().await {
            Ok(restored) => restored.is_some(),
            Err(e) => {
                tracing::warn!("the stored sign-in could not be read (sign in again): {e}");
                false
            }
        };
        Event::Restored {
            session,
            storage,
            storage_note,
            signed_in,
        }
    }

    /// Opens the local cache and a desk for `session` on a task, and tells the
    /// lifecycle; the effects that follow. The desk starts once the lifecycle
    /// holds it. Caller holds the state lock.
    async fn open_desk(
        &self,
        st: &mut State,
        session: Arc<SignIn>,
        demo: Option<Arc<DemoOrg>>,
    ) -> Vec<Effect<Live>> {
        let account = session.account().await.map(account_view);
        let (url, store) = match self.open_store(&st.config, demo.as_deref()).await {
            Ok(opened) => opened,
            Err(why) => return self.step(st, Event::DeskFailed { why }).unwrap_or_default(),
        };
        let signed_in = Arc::new(SignedIn::new(session.clone()));
        let dv = match Dataverse::new(&url, signed_in, RetryPolicy::default()) {
            Ok(dv) => dv,
            Err(e) => {
                return self
                    .step(st, Event::DeskFailed { why: e.to_string() })
                    .unwrap_or_default()
            }
        };
        let org = OrgLink {
            dv,
            schema: st.config.schema.clone(),
            url,
            opened: std::time::Instant::now(),
        };
        let (tx, rx) = mpsc::channel(64);
        let (go, gate) = oneshot::channel();
        let ticket = self.ticket();
        let run = DeskRun {
            inner: self.inner.clone(),
            ticket,
            session,
            org: org.clone(),
            store: store.clone(),
        };
        let task = tokio::spawn(run_desk(run, rx, gate));
        let desk = DeskHandle {
            tx,
            task,
            store,
            org,
        };
        let effects = self.step(
            st,
            Event::DeskOpened {
                ticket,
                desk,
                account,
            },
        );
        if effects.is_ok() {
            let _ = go.send(());
        }
        effects.unwrap_or_default()
    }

    /// The org's URL and its local cache, opened (the demo's anew).
    async fn open_store(
        &self,
        config: &Config,
        demo: Option<&DemoOrg>,
    ) -> Result<(String, Store), String> {
        let (url, db) = match (demo, &config.dynamics) {
            (Some(org), _) => {
                let db = self.inner.paths.demo_database();
                // The demo org is new on every start: so is its cache.
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = db.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
                (org.base_url().to_string(), db)
            }
            (None, Some(d)) => (d.url.clone(), self.inner.paths.database()),
            (None, None) => return Err("no Dynamics org is configured".into()),
        };
        // On a blocking thread: the compiler cannot prove `Store::open`'s future
        // Send (sqlx's migrations, rust-lang/rust#96865), so it is not awaited here.
        let opened = {
            let db = db.clone();
            let rt = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                rt.block_on(async {
                    match Store::open_or_rebuild(&db).await {
                        // The disk cannot take the cache (full): a cache in
                        // memory for this run, the file left as it is.
                        Err(e) if e.cannot_write() && !e.is_damaged() => {
                            let why = e.to_string();
                            Store::open_in_memory(&db)
                                .await
                                .map(|s| (s, None, Some(why)))
                                .map_err(|e| e.to_string())
                        }
                        Ok((store, rebuilt)) => Ok((store, rebuilt, None)),
                        Err(e) => Err(e.to_string()),
                    }
                })
            })
            .await
        };
        match opened.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok((store, _, Some(why))) => {
                let note = chatbell_sync::CacheState::InMemory { why }.note();
                if let Some(n) = &note {
                    tracing::warn!("local cache {}: {n}", db.display());
                }
                Inner::update_status(&self.inner, |s| s.cache_note = note);
                Ok((url, store))
            }
            Ok((store, rebuilt, None)) => {
                // A cache found damaged at start was moved aside: the agent is
                // told, and the desk fills the new one in its first catch-up.
                let note = rebuilt.map(|r| {
                    chatbell_sync::CacheState::Rebuilt {
                        moved_to: r.moved_to,
                        why: r.why,
                    }
                    .note()
                    .unwrap_or_default()
                });
                if let Some(n) = &note {
                    tracing::warn!("local cache: {n}");
                }
                Inner::update_status(&self.inner, |s| s.cache_note = note);
                Ok((url, store))
            }
            Err(e) => {
                tracing::error!("cannot open the local cache {}: {e}", db.display());
                Err(format!("the local cache: {e}"))
            }
        }
    }
}

/// Stops a desk's task (its input channel closed; aborted after 5 s) and closes
/// its cache.
async fn stop_desk(desk: DeskHandle) {
    let DeskHandle {
        tx,
        mut task,
        store,
        org: _,
    } = desk;
    drop(tx);
    if tokio::time::timeout(Duration::from_secs(5), &mut task)
        .await
        .is_err()
    {
        task.abort();
    }
    store.close().await;
}

/// Stops the demo org (a sign-in task that still holds it stops it when it
/// lets go).
async fn shut_down(org: Arc<DemoOrg>) {
    match Arc::try_unwrap(org) {
        Ok(org) => org.shutdown().await,
        Err(org) => drop(org),
    }
}

/// Applies the desks' reports to the lifecycle, in the order they came, while
/// the app lives.
async fn apply_desk_reports(
    inner: std::sync::Weak<Inner>,
    mut reports: mpsc::UnboundedReceiver<(Ticket, DeskReport)>,
) {
    while let Some((ticket, report)) = reports.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        let app = App { inner };
        let mut st = app.inner.state.lock().await;
        if let Err(e) = app.apply(&mut st, Event::Desk { ticket, report }).await {
            tracing::debug!(?report, "desk report: {e}");
        }
    }
}

impl Inner {
    fn update_status(this: &Arc<Inner>, f: impl FnOnce(&mut Status)) {
        this.status.send_modify(f);
        let s = this.status.borrow().clone();
        this.shell.status_changed(&s);
    }

    /// Whether the desk of `ticket` is the running one.
    fn is_live(&self, ticket: Ticket) -> bool {
        self.live_desk.load(Ordering::SeqCst) == ticket.0
    }

    /// A desk's report, for the lifecycle.
    fn report(&self, ticket: Ticket, report: DeskReport) {
        let _ = self.reports.send((ticket, report));
    }
}

/// What a desk's task works with.
struct DeskRun {
    inner: Arc<Inner>,
    ticket: Ticket,
    session: Arc<SignIn>,
    org: OrgLink,
    store: Store,
}

impl DeskRun {
    fn report(&self, report: DeskReport) {
        self.inner.report(self.ticket, report);
    }
}

/// Once the lifecycle holds the desk (`gate`), opens it (retrying while
/// Dynamics is unreachable), then runs it until its input channel closes or the
/// sign-in is lost; reports how it goes.
async fn run_desk(run: DeskRun, mut rx: mpsc::Receiver<Input>, gate: oneshot::Receiver<()>) {
    if gate.await.is_err() {
        return;
    }
    let Some(desk) = connect_desk(&run, &mut rx).await else {
        return;
    };
    run.report(if desk.is_online() {
        DeskReport::Online
    } else {
        DeskReport::Offline
    });
    // The org checked once a desk runs: what is wrong shows in the panel.
    tokio::spawn(check_org_once(
        run.inner.clone(),
        run.ticket,
        run.org.clone(),
    ));
    tokio::select! {
        r = desk.run(rx, 1.0) => {
            if let Err(e) = r {
                tracing::error!("the desk stopped: {e}");
                run.report(DeskReport::Ended);
            }
        }
        () = signed_out(&run.session) => {
            tracing::warn!("the sign-in expired or was revoked: sign in again");
            run.report(DeskReport::SignInLost);
        }
    }
}

/// Opens the desk, retrying while Dynamics is unreachable; `None` when it
/// cannot (reported) or was stopped meanwhile.
async fn connect_desk(run: &DeskRun, rx: &mut mpsc::Receiver<Input>) -> Option<Desk<AppDesktop>> {
    let dv = run.org.dv.clone();
    let mut failures = 0u32;
    loop {
        let desktop = AppDesktop {
            inner: run.inner.clone(),
            ticket: run.ticket,
            told_live: false,
        };
        let opened = Desk::open(
            run.store.clone(),
            dv.clone(),
            run.org.schema.clone(),
            Arc::new(SystemClock),
            desktop,
            run.inner.options.desk.clone(),
        )
        .await;
        match opened {
            Ok(desk) => return Some(desk),
            Err(DeskError::Dataverse(e)) if e.is_offline() => {
                tracing::warn!("Dynamics is unreachable: {e}");
                run.report(DeskReport::Offline);
                failures += 1;
                let wait = Duration::from_secs((1u64 << failures.min(6)).min(60));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = closed(rx) => return None,
                }
            }
            Err(DeskError::Dataverse(DataverseError::SignInRequired(e))) => {
                tracing::warn!("sign-in required: {e}");
                run.report(DeskReport::SignInLost);
                return None;
            }
            Err(e) => {
                tracing::error!("the desk could not open: {e}");
                run.report(DeskReport::Ended);
                return None;
            }
        }
    }
}

/// Checks the org once (after a desk opened); its failed checks go to the
/// panel's status, as long as this desk is the running one.
async fn check_org_once(inner: Arc<Inner>, ticket: Ticket, org: OrgLink) {
    let findings = org_check(&org).await;
    if !inner.is_live(ticket) {
        return;
    }
    let problems: Vec<String> = findings
        .into_iter()
        .filter(|f| !f.ok)
        .map(|f| format!("{}: {}", f.check, f.detail))
        .collect();
    for p in &problems {
        tracing::warn!("org check: {p}");
    }
    Inner::update_status(&inner, |s| s.org_problems = problems);
}

/// The org check of [`chatbell_sync::orgcheck`] with the desk's link.
async fn org_check(org: &OrgLink) -> Vec<chatbell_sync::orgcheck::Finding> {
    let spent = (
        org.dv
            .counters()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        org.opened.elapsed(),
    );
    chatbell_sync::orgcheck::check(
        &org.dv,
        &org.schema,
        chatbell_core::Clock::now(&SystemClock),
        Some(spent),
    )
    .await
}

/// Resolves once `rx`'s senders are all gone (inputs meanwhile are refused).
async fn closed(rx: &mut mpsc::Receiver<Input>) {
    while let Some(input) = rx.recv().await {
        refuse(input, ActionError::Offline);
    }
}

fn refuse(input: Input, why: ActionError) {
    match input {
        Input::Act { reply, .. } | Input::WithdrawRequest { reply, .. } => {
            let _ = reply.send(Err(why));
        }
        Input::SetMuted(_) | Input::PollNow => {}
    }
}

/// Resolves when the session has lost its sign-in (a refused refresh).
async fn signed_out(session: &SignIn) {
    session.signed_out().await;
}

/// The desk's [`Desktop`]: status, presentation, the shell.
struct AppDesktop {
    inner: Arc<Inner>,
    ticket: Ticket,
    /// The shell has been told what is live after the restore.
    told_live: bool,
}

impl Desktop for AppDesktop {
    fn perform(&mut self, effects: &[chatbell_core::Effect], engine: &Engine) {
        if !self.inner.is_live(self.ticket) {
            return;
        }
        if !self.told_live {
            self.told_live = true;
            let live: Vec<NotificationKey> =
                engine.live_notifications().iter().map(|n| n.key).collect();
            self.inner.shell.keep_only_toasts_of(&live);
        }
        let (presence, at) = {
            let prefs = self.inner.prefs.read().unwrap_or_else(|p| p.into_inner());
            (prefs.presence.clone(), local_time_now())
        };
        let mut outputs = Vec::new();
        present(effects, &presence, at, &mut outputs);
        self.inner.status.send_modify(|s| {
            s.update_from_engine(engine);
            s.dnd_active = presence.dnd.active(at);
        });
        let status = self.inner.status.borrow().clone();
        if !outputs.is_empty() {
            self.inner.shell.outputs(&outputs, &status);
        }
        self.inner.shell.status_changed(&status);
    }

    fn cache(&mut self, state: &chatbell_sync::CacheState) {
        if !self.inner.is_live(self.ticket) {
            return;
        }
        if let chatbell_sync::CacheState::Rebuilt { .. } = state {
            // The engine started over: the shell is told again what is live.
            self.told_live = false;
        }
        let note = state.note();
        if let Some(n) = &note {
            tracing::warn!("local cache: {n}");
        }
        Inner::update_status(&self.inner, |s| s.cache_note = note);
    }

    fn clock(&mut self, skew: chatbell_core::Span) {
        if !self.inner.is_live(self.ticket) {
            return;
        }
        // The org's clock ahead of the desktop's is the desktop's behind.
        let note = chatbell_sync::orgcheck::clock_note(-skew.0);
        Inner::update_status(&self.inner, |s| s.clock_note = note);
    }

    fn connection(&mut self, online: bool) {
        let report = if online {
            DeskReport::Online
        } else {
            DeskReport::Offline
        };
        self.inner.report(self.ticket, report);
    }
}

impl Handler for App {
    fn handle(&self, request: Request) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async move {
            let done = |r: Result<(), AppError>| match r {
                Ok(()) => control::ok(),
                Err(e) => control::error(e),
            };
            match request {
                Request::Ping => control::ok(),
                Request::Status => {
                    serde_json::to_value(self.status()).unwrap_or_else(control::error)
                }
                Request::Act { id, action, reason } => {
                    done(self.act(&id, &action, reason.as_deref()).await)
                }
                Request::Signin { browser: true } => done(self.start_browser_sign_in().await),
                Request::Signin { browser: false } => match self.start_sign_in().await {
                    Ok(p) => serde_json::to_value(p).unwrap_or_else(control::error),
                    Err(e) => control::error(e),
                },
                Request::Signout => done(self.sign_out().await),
                Request::OrgInspect => match self.org_inspect().await {
                    Ok(toml) => serde_json::json!({ "mapping": toml }),
                    Err(e) => control::error(e),
                },
                Request::OrgCheck => match self.org_check().await {
                    Ok(findings) => serde_json::json!({ "findings": findings }),
                    Err(e) => control::error(e),
                },
                Request::Open => {
                    self.inner
                        .shell
                        .outputs(&[Output::OpenPanel], &self.status());
                    control::ok()
                }
                Request::Quit => {
                    // The answer goes out first; then the shell stops.
                    let shell = self.inner.shell.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        shell.quit();
                    });
                    control::ok()
                }
                Request::WithdrawRequest { request_id, reason } => {
                    done(self.withdraw_request(&request_id, &reason).await)
                }
                Request::History { limit } => {
                    match self.history(limit.min(control::HISTORY_MAX)).await {
                        Ok(items) => serde_json::to_value(items).unwrap_or_else(control::error),
                        Err(e) => control::error(e),
                    }
                }
                Request::Preferences => serde_json::to_value(self.panel_preferences().await)
                    .unwrap_or_else(control::error),
                Request::SetPreferences { prefs } => {
                    match serde_json::from_value::<crate::prefs::PanelPrefs>(prefs) {
                        Ok(prefs) => done(self.set_panel_preferences(prefs).await),
                        Err(e) => control::error(format!("preferences: {e}")),
                    }
                }
                Request::CancelSignin => {
                    self.cancel_sign_in().await;
                    control::ok()
                }
                Request::UseDemo => done(self.use_demo().await),
                Request::SetDynamics { url, app_id } => {
                    done(self.set_dynamics(Some(&url), app_id.as_deref()).await)
                }
                // Answered by the connection itself (`Handler::watch`).
                Request::Watch | Request::Panel => control::error("watch is a stream of its own"),
            }
        })
    }

    fn panel(&self) -> Option<Result<control::PanelFeed, serde_json::Value>> {
        let Some(attached) = self.inner.panels.attach() else {
            let mut refused = control::error("ChatBell's panel is open already");
            refused["already_open"] = serde_json::Value::Bool(true);
            return Some(Err(refused));
        };
        let status = self.watch()?;
        let show = attached.show.clone();
        Some(Ok(control::PanelFeed {
            status,
            show,
            attached: Box::new(attached),
        }))
    }

    fn watch(&self) -> Option<watch::Receiver<serde_json::Value>> {
        let json = |s: &Status| serde_json::to_value(s).unwrap_or_else(control::error);
        let mut status = self.subscribe();
        let (tx, rx) = watch::channel(json(&status.borrow_and_update()));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = json(&status.borrow_and_update());
                        if tx.send(now).is_err() {
                            return;
                        }
                    }
                    // The watching connection ended.
                    () = tx.closed() => return,
                }
            }
        });
        Some(rx)
    }
}
