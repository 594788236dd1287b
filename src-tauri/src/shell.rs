//! The desktop side of [`chatbell_app::Shell`]: toasts, sounds, the tray icon and
//! its menu, the panel window. Every decision was made before it gets here.

use crate::PANEL;
use chatbell_app::view::Status;
use chatbell_app::{App, Shell};
use chatbell_core::present::Output;
use chatbell_core::{Action, Notification, NotificationKey, SessionId};
use chatbell_desktop::badge::{self, Rgba};
use chatbell_desktop::sound::SoundPlayer;
use chatbell_desktop::toast::{ToastEvent, Toasts};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{App as TauriApp, AppHandle, Emitter, Manager, Wry};

const TRAY_ID: &str = "chatbell";
const TRAY_ICON: Image<'_> = tauri::include_image!("./icons/tray.png");

enum ToastJob {
    Show(Arc<Notification>),
    Close(NotificationKey),
    /// Close the toasts a previous run left for anything not live.
    KeepOnly(Vec<NotificationKey>),
}

/// The tray menu's items whose state follows the status.
struct TrayMenu {
    dnd: CheckMenuItem<Wry>,
    mute: CheckMenuItem<Wry>,
    signin: MenuItem<Wry>,
}

/// The file in the data dir that remembers which toast is which notification's.
const TOAST_MEMORY: &str = "toasts-on-screen";

/// Carries out the app's outputs on this desktop.
pub struct DesktopShell {
    /// `None` when headless: no tray, no panel.
    handle: Option<AppHandle>,
    toasts: mpsc::Sender<ToastJob>,
    sounds: SoundPlayer,
    icon: Rgba,
    app: Arc<OnceLock<App>>,
    menu: OnceLock<TrayMenu>,
    badge: Mutex<Option<u32>>,
}

impl DesktopShell {
    /// `data_dir`: where the toasts on screen are remembered across restarts.
    pub fn new(handle: Option<AppHandle>, data_dir: &Path) -> DesktopShell {
        let app: Arc<OnceLock<App>> = Arc::new(OnceLock::new());
        let (jobs, events) = toast_worker(data_dir.join(TOAST_MEMORY));
        react_to_toasts(events, app.clone(), handle.clone());
        let icon = Rgba::new(
            TRAY_ICON.width(),
            TRAY_ICON.height(),
            TRAY_ICON.rgba().to_vec(),
        )
        .unwrap_or_else(|_| Rgba {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        });
        DesktopShell {
            handle,
            toasts: jobs,
            sounds: SoundPlayer::with_default_device(),
            icon,
            app,
            menu: OnceLock::new(),
            badge: Mutex::new(None),
        }
    }

    /// The app the toasts' buttons and the tray menu act on.
    pub fn attach(&self, app: App) {
        let _ = self.app.set(app.clone());
        // Woken from sleep, or the network back: Dynamics is checked at once
        // rather than when the backoff says.
        chatbell_desktop::system::watch(move |event| {
            use chatbell_desktop::system::SystemEvent;
            if matches!(event, SystemEvent::Resumed | SystemEvent::NetworkUp) {
                if let Err(e) = tauri::async_runtime::block_on(app.poll_now()) {
                    tracing::debug!("no poll after {event:?}: {e}");
                }
            }
            true
        });
    }

    fn set_badge(&self, unread: u32) {
        let mut last = self.badge.lock().unwrap_or_else(|p| p.into_inner());
        if *last == Some(unread) {
            return;
        }
        *last = Some(unread);
        let Some(tray) = self.handle.as_ref().and_then(|h| h.tray_by_id(TRAY_ID)) else {
            return;
        };
        let drawn = badge::draw(&self.icon, unread);
        let image = Image::new_owned(drawn.pixels, drawn.width, drawn.height);
        if let Err(e) = tray.set_icon(Some(image)) {
            tracing::warn!("could not update the tray icon: {e}");
        }
        let label = badge::label(unread);
        let _ = tray.set_title(label.as_deref());
        let tip = match unread {
            0 => "ChatBell".to_string(),
            1 => "ChatBell: 1 chat needs you".to_string(),
            n => format!("ChatBell: {n} chats need you"),
        };
        let _ = tray.set_tooltip(Some(tip));
    }

    fn open_chat(&self, session: SessionId) {
        let (Some(app), handle) = (self.app.get().cloned(), self.handle.clone()) else {
            return;
        };
        tauri::async_runtime::spawn(async move {
            match app.deep_link(session).await {
                Some(url) => {
                    if let Err(e) = open::that_detached(&url) {
                        tracing::warn!("could not open the chat in the browser: {e}");
                    }
                }
                None => {
                    if let Some(h) = handle {
                        show_panel(&h);
                    }
                }
            }
        });
    }
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
                Output::Badge(n) => self.set_badge(*n),
                Output::OpenChat(session) => self.open_chat(*session),
                Output::OpenPanel => {
                    if let Some(h) = &self.handle {
                        show_panel(h);
                    }
                }
            }
        }
        self.set_badge(status.unread);
    }

    fn open_url(&self, url: &str) -> Result<(), String> {
        open::that_detached(url).map_err(|e| format!("could not open the browser: {e}"))
    }

    fn quit(&self) {
        // Headless: `chatbell_app::headless::run` hears it and stops.
        if let Some(h) = &self.handle {
            tracing::info!("quit over the control socket");
            h.exit(0);
        }
    }

    fn keep_only_toasts_of(&self, live: &[NotificationKey]) {
        let _ = self.toasts.send(ToastJob::KeepOnly(live.to_vec()));
    }

    fn status_changed(&self, status: &Status) {
        self.set_badge(status.unread);
        let Some(h) = &self.handle else { return };
        if let Err(e) = h.emit_to(PANEL, "status-changed", status) {
            tracing::debug!("panel not told: {e}");
        }
        if let Some(m) = self.menu.get() {
            let _ = m.dnd.set_checked(status.dnd_active);
            let _ = m.mute.set_checked(status.muted);
            let _ = m.signin.set_text(if status.account.is_some() {
                "Sign out"
            } else {
                "Sign in"
            });
        }
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
    handle: Option<AppHandle>,
) {
    let spawned = std::thread::Builder::new()
        .name("chatbell-toast-clicks".into())
        .spawn(move || {
            for event in events {
                let ToastEvent::Invoked { key, action } = event else {
                    continue;
                };
                if action == Action::Reject {
                    if let Some(h) = &handle {
                        show_panel(h);
                    }
                    continue;
                }
                let Some(app) = app.get().cloned() else {
                    continue;
                };
                let id = key.to_string();
                let result = tauri::async_runtime::block_on(app.act(&id, action.as_str(), None));
                if let Err(e) = result {
                    tracing::info!(%id, action = action.as_str(), "toast action refused: {e}");
                    if let Some(h) = &handle {
                        show_panel(h);
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("toast clicks are not heard: {e}");
    }
}

/// Shows, raises and focuses the panel, creating it first: the panel exists only
/// while it is open, so that an idle ChatBell runs no web engine at all.
pub fn show_panel(handle: &AppHandle) {
    let panel = match handle.get_webview_window(PANEL) {
        Some(p) => p,
        None => {
            let built = tauri::WebviewWindowBuilder::new(
                handle,
                PANEL,
                tauri::WebviewUrl::App("index.html".into()),
            )
            .title("ChatBell")
            .inner_size(400.0, 600.0)
            .min_inner_size(320.0, 400.0)
            .center()
            .build();
            match built {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("could not open the panel: {e}");
                    return;
                }
            }
        }
    };
    let _ = panel.unminimize();
    if let Err(e) = panel.show() {
        tracing::error!("could not show the panel: {e}");
    }
    let _ = panel.set_focus();
}

/// The tray icon and its menu: Open panel, Do not disturb, Mute sounds,
/// Sign in / Sign out, Quit (R21: every action is also in the panel).
pub fn build_tray(app: &TauriApp, shell: &Arc<DesktopShell>) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open-panel", "Open panel", true, None::<&str>)?;
    let dnd = CheckMenuItem::with_id(app, "dnd", "Do not disturb", true, false, None::<&str>)?;
    let mute = CheckMenuItem::with_id(app, "mute", "Mute sounds", true, false, None::<&str>)?;
    let signin = MenuItem::with_id(app, "signin", "Sign in", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&open, &sep, &dnd, &mute, &signin, &sep, &quit])?;
    let _ = shell.menu.set(TrayMenu { dnd, mute, signin });
    let shell = shell.clone();
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(TRAY_ICON)
        .tooltip("ChatBell")
        .menu(&menu)
        .on_menu_event(move |handle, event| on_menu(handle, &event, &shell))
        .build(app)?;
    Ok(())
}

fn on_menu(handle: &AppHandle, event: &MenuEvent, shell: &Arc<DesktopShell>) {
    let id = event.id().as_ref();
    if id == "open-panel" {
        show_panel(handle);
        return;
    }
    if id == "quit" {
        tracing::info!("quit from the tray menu");
        handle.exit(0);
        return;
    }
    let Some(app) = shell.app.get().cloned() else {
        return;
    };
    let handle = handle.clone();
    let id = id.to_string();
    tauri::async_runtime::spawn(async move {
        let status = app.status();
        let result = match id.as_str() {
            "dnd" => {
                let mut prefs = app.preferences();
                prefs.presence.dnd.on = !prefs.presence.dnd.on;
                app.set_preferences(prefs)
            }
            "mute" => app.set_muted(!status.muted).await,
            "signin" if status.account.is_some() => app.sign_out().await,
            "signin" => {
                show_panel(&handle);
                app.start_sign_in().await.map(|_| ())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(item = %id, "tray menu: {e}");
        }
    });
}
