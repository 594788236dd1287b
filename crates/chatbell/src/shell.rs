//! The desktop side of [`chatbell_app::Shell`]: toasts, sounds, the tray icon and
//! its menu, and the panel process. Every decision was made before it gets here.

use crate::panel::Launcher;
use chatbell_app::control::{Handler as _, Request};
use chatbell_app::view::Status;
use chatbell_app::{App, Shell};
use chatbell_core::present::Output;
use chatbell_core::{Action, Notification, NotificationKey, SessionId};
use chatbell_desktop::badge::{self, Rgba};
use chatbell_desktop::sound::SoundPlayer;
use chatbell_desktop::toast::{ToastEvent, Toasts};
use chatbell_desktop::tray::{self, Tray, TrayEvent, TrayMenuEntry, TrayMenuItem};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, OnceLock};
use tokio::runtime::Handle;

/// The tray icon: a white bell on a teal square (`assets/make-icons.py`).
const TRAY_PNG: &[u8] = include_bytes!("../tray.png");

/// The file in the data dir that remembers which toast is which notification's.
const TOAST_MEMORY: &str = "toasts-on-screen";

enum ToastJob {
    Show(Arc<Notification>),
    Close(NotificationKey),
    /// Close the toasts a previous run left for anything not live.
    KeepOnly(Vec<NotificationKey>),
}

/// What the tray shows, as the status says it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TrayLook {
    unread: u32,
    dnd: bool,
    muted: bool,
    signed_in: bool,
}

impl TrayLook {
    fn of(status: &Status) -> TrayLook {
        TrayLook {
            unread: status.unread,
            dnd: status.dnd_active,
            muted: status.muted,
            signed_in: status.account.is_some(),
        }
    }

    /// The tray menu: Open panel, Do not disturb, Mute sounds, Sign in / Sign
    /// out, Quit (R21: every action is also in the panel).
    fn menu(&self) -> Vec<TrayMenuEntry> {
        vec![
            TrayMenuItem::new("open-panel", "Open panel").into(),
            TrayMenuEntry::Separator,
            TrayMenuItem::check("dnd", "Do not disturb", self.dnd).into(),
            TrayMenuItem::check("mute", "Mute sounds", self.muted).into(),
            TrayMenuItem::new(
                "signin",
                if self.signed_in {
                    "Sign out"
                } else {
                    "Sign in"
                },
            )
            .into(),
            TrayMenuEntry::Separator,
            TrayMenuItem::new("quit", "Quit").into(),
        ]
    }

    fn tooltip(&self) -> String {
        match self.unread {
            0 => "ChatBell".to_string(),
            1 => "ChatBell: 1 chat needs you".to_string(),
            n => format!("ChatBell: {n} chats need you"),
        }
    }
}

/// Carries out the app's outputs on this desktop.
pub struct DesktopShell {
    rt: Handle,
    toasts: mpsc::Sender<ToastJob>,
    sounds: SoundPlayer,
    app: Arc<OnceLock<App>>,
    /// The icon's look, to the task that keeps the tray up to date (none when
    /// headless, or no session bus).
    looks: OnceLock<tokio::sync::watch::Sender<TrayLook>>,
    tray: Arc<tokio::sync::Mutex<Option<Tray>>>,
    panel: Arc<Launcher>,
}

impl DesktopShell {
    /// `data_dir`: where the toasts on screen are remembered across restarts;
    /// `rt`: the runtime the app runs on.
    pub fn new(data_dir: &Path, rt: Handle) -> DesktopShell {
        let app: Arc<OnceLock<App>> = Arc::new(OnceLock::new());
        let panel = Arc::new(Launcher::new(rt.clone()));
        let (jobs, events) = toast_worker(data_dir.join(TOAST_MEMORY));
        react_to_toasts(events, app.clone(), panel.clone(), rt.clone());
        DesktopShell {
            rt,
            toasts: jobs,
            sounds: SoundPlayer::with_default_device(),
            app,
            looks: OnceLock::new(),
            tray: Arc::default(),
            panel,
        }
    }

    /// Puts the icon in the tray (StatusNotifierItem over the session bus;
    /// registered with the tray host now or whenever one starts).
    pub async fn show_tray(&self) {
        let icon = match tray_icon() {
            Ok(i) => i,
            Err(e) => {
                tracing::error!("no tray icon: {e}");
                return;
            }
        };
        let look = TrayLook {
            unread: 0,
            dnd: false,
            muted: false,
            signed_in: false,
        };
        let started = async {
            let bus = tray::session_bus().await?;
            Tray::start(&bus, "ChatBell", &icon, look.menu()).await
        };
        let (tray, events) = match started.await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("no tray icon: {e}");
                return;
            }
        };
        tracing::info!(name = tray.bus_name(), "tray icon ready");
        let (looks, seen) = tokio::sync::watch::channel(look);
        let _ = self.looks.set(looks);
        *self.tray.lock().await = Some(tray);
        self.rt
            .spawn(keep_tray_up_to_date(self.tray.clone(), seen, icon));
        hear_tray(
            events,
            self.app.clone(),
            self.panel.clone(),
            self.rt.clone(),
        );
    }

    /// Takes the icon off the tray (ChatBell stops).
    pub async fn close_tray(&self) {
        let tray = self.tray.lock().await.take();
        if let Some(t) = tray {
            if let Err(e) = t.close().await {
                tracing::debug!("tray icon not withdrawn: {e}");
            }
        }
    }

    /// The app the toasts' buttons and the tray menu act on.
    pub fn attach(&self, app: App) {
        let _ = self.app.set(app.clone());
        // Woken from sleep, or the network back: Dynamics is checked at once
        // rather than when the backoff says.
        let rt = self.rt.clone();
        chatbell_desktop::system::watch(move |event| {
            use chatbell_desktop::system::SystemEvent;
            if matches!(event, SystemEvent::Resumed | SystemEvent::NetworkUp) {
                if let Err(e) = rt.block_on(app.poll_now()) {
                    tracing::debug!("no poll after {event:?}: {e}");
                }
            }
            true
        });
    }

    /// Brings the panel to the front, starting it if none is attached.
    pub fn show_panel(&self) {
        show_panel(self.app.get(), &self.panel);
    }

    fn set_look(&self, status: &Status) {
        if let Some(looks) = self.looks.get() {
            looks.send_if_modified(|l| {
                let now = TrayLook::of(status);
                let changed = *l != now;
                *l = now;
                changed
            });
        }
    }

    fn open_chat(&self, session: SessionId) {
        let Some(app) = self.app.get().cloned() else {
            return;
        };
        let panel = self.panel.clone();
        self.rt.spawn(async move {
            match app.deep_link(session).await {
                Some(url) => {
                    if let Err(e) = open::that_detached(&url) {
                        tracing::warn!("could not open the chat in the browser: {e}");
                    }
                }
                None => show_panel(Some(&app), &panel),
            }
        });
    }
}

/// Draws the badge, tooltip and menu each time the look changes, in order (a
/// burst of changes is drawn once, as it ends), until the tray is closed.
async fn keep_tray_up_to_date(
    tray: Arc<tokio::sync::Mutex<Option<Tray>>>,
    mut seen: tokio::sync::watch::Receiver<TrayLook>,
    icon: Rgba,
) {
    let mut drawn: Option<TrayLook> = None;
    loop {
        let look = seen.borrow_and_update().clone();
        {
            let guard = tray.lock().await;
            let Some(t) = guard.as_ref() else { return };
            let result = async {
                if drawn.as_ref().map(|d| d.unread) != Some(look.unread) {
                    t.set_icon(&badge::draw(&icon, look.unread)).await?;
                    t.set_tooltip("ChatBell", &look.tooltip()).await?;
                    let label = badge::label(look.unread);
                    t.set_title(&match label {
                        Some(n) => format!("ChatBell ({n})"),
                        None => "ChatBell".to_string(),
                    })
                    .await?;
                }
                t.set_menu(look.menu()).await
            };
            if let Err(e) = result.await {
                tracing::warn!("could not update the tray icon: {e}");
            }
        }
        drawn = Some(look);
        if seen.changed().await.is_err() {
            return;
        }
    }
}

fn tray_icon() -> Result<Rgba, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(TRAY_PNG));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader.output_buffer_size().ok_or("the icon is too large")?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(info.buffer_size());
    if info.color_type != png::ColorType::Rgba {
        return Err(format!("the icon is {:?}, not RGBA", info.color_type));
    }
    Rgba::new(info.width, info.height, buf).map_err(|e| e.to_string())
}

/// Tells the attached panel to come to the front, or starts one.
fn show_panel(app: Option<&App>, panel: &Launcher) {
    if app.is_some_and(|a| a.panels().show()) {
        return;
    }
    panel.start();
}

impl Shell for DesktopShell {
    fn outputs(&self, outputs: &[Output], status: &Status) {
        for o in outputs {
            match o {
                Output::Toast(n) => {
                    let _ = self.toasts.send(ToastJob::Show(n.clone()));
                }
                Output::CloseToast(key) => {
                    let _ = self.toasts.send(ToastJob::Close(*key));
                }
                Output::Play { sound, volume } => self.sounds.play(*sound, *volume),
                Output::Ring {
                    session,
                    volume,
                    repeat,
                } => self.sounds.ring(*session, *volume, *repeat),
                Output::StopRing(session) => self.sounds.stop_ring(*session),
                Output::Badge(_) => {}
                Output::OpenChat(session) => self.open_chat(*session),
                Output::OpenPanel => self.show_panel(),
            }
        }
        self.set_look(status);
    }

    fn open_url(&self, url: &str) -> Result<(), String> {
        open::that_detached(url).map_err(|e| format!("could not open the browser: {e}"))
    }

    fn quit(&self) {
        // `chatbell_app::headless::run` hears it and stops.
        tracing::info!("quitting");
    }

    fn keep_only_toasts_of(&self, live: &[NotificationKey]) {
        let _ = self.toasts.send(ToastJob::KeepOnly(live.to_vec()));
    }

    fn status_changed(&self, status: &Status) {
        self.set_look(status);
    }
}

/// Toasts talk D-Bus synchronously: they get a thread of their own. Returns the
/// job queue and the clicks.
fn toast_worker(memory: PathBuf) -> (mpsc::Sender<ToastJob>, mpsc::Receiver<ToastEvent>) {
    let (jobs_tx, jobs_rx) = mpsc::channel::<ToastJob>();
    let (events_tx, events_rx) = mpsc::channel::<ToastEvent>();
    let spawned = std::thread::Builder::new()
        .name("chatbell-toast-jobs".into())
        .spawn(move || {
            let toasts = Toasts::connect_remembering("ChatBell", events_tx, &memory);
            for job in jobs_rx {
                match job {
                    ToastJob::Show(n) => toasts.show(&n),
                    ToastJob::Close(key) => toasts.close(&key),
                    ToastJob::KeepOnly(live) => toasts.keep_only(&live),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no toasts: {e}");
    }
    (jobs_tx, events_rx)
}

/// What the agent clicks on a toast goes to the app; Reject needs a reason, so it
/// opens the panel, where the reason is asked (R8, R21).
fn react_to_toasts(
    events: mpsc::Receiver<ToastEvent>,
    app: Arc<OnceLock<App>>,
    panel: Arc<Launcher>,
    rt: Handle,
) {
    let spawned = std::thread::Builder::new()
        .name("chatbell-toast-clicks".into())
        .spawn(move || {
            for event in events {
                let ToastEvent::Invoked { key, action } = event else {
                    continue;
                };
                let Some(app) = app.get().cloned() else {
                    continue;
                };
                if action == Action::Reject {
                    show_panel(Some(&app), &panel);
                    continue;
                }
                let id = key.to_string();
                if let Err(e) = rt.block_on(app.act(&id, action.as_str(), None)) {
                    tracing::info!(%id, action = action.as_str(), "toast action refused: {e}");
                    show_panel(Some(&app), &panel);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("toast clicks are not heard: {e}");
    }
}

/// What the agent does with the tray icon goes to the app: a click on the icon
/// or "Open panel" shows the panel; the rest are the panel's actions.
fn hear_tray(
    events: mpsc::Receiver<TrayEvent>,
    app: Arc<OnceLock<App>>,
    panel: Arc<Launcher>,
    rt: Handle,
) {
    let spawned = std::thread::Builder::new()
        .name("chatbell-tray-clicks".into())
        .spawn(move || {
            for event in events {
                let id = match event {
                    TrayEvent::Activate => "open-panel".to_string(),
                    TrayEvent::Menu(id) => id,
                };
                let Some(app) = app.get().cloned() else {
                    tracing::info!(item = %id, "tray menu: ChatBell is still starting");
                    continue;
                };
                if id == "open-panel" {
                    show_panel(Some(&app), &panel);
                    continue;
                }
                if id == "quit" {
                    tracing::info!("quit from the tray menu");
                    rt.block_on(app.handle(Request::Quit));
                    continue;
                }
                let status = app.status();
                let result = rt.block_on(async {
                    match id.as_str() {
                        "dnd" => {
                            let mut prefs = app.preferences();
                            prefs.presence.dnd.on = !prefs.presence.dnd.on;
                            app.set_preferences(prefs)
                        }
                        "mute" => app.set_muted(!status.muted).await,
                        "signin" if status.account.is_some() => app.sign_out().await,
                        "signin" => {
                            show_panel(Some(&app), &panel);
                            app.start_sign_in().await.map(|_| ())
                        }
                        _ => Ok(()),
                    }
                });
                if let Err(e) = result {
                    tracing::warn!(item = %id, "tray menu: {e}");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("tray clicks are not heard: {e}");
    }
}
