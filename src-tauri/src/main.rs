//! ChatBell's desktop shell: a tray icon and a hidden panel window.
//!
//! Only OS wiring lives here; behaviour belongs to the GUI-free crates.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use anyhow::Context as _;
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{App, AppHandle, Manager, Window, WindowEvent};
use tracing_subscriber::EnvFilter;

/// Label of the panel window declared in `tauri.conf.json`.
const PANEL: &str = "panel";
const TRAY_ID: &str = "chatbell";
const MENU_OPEN_PANEL: &str = "open-panel";
const MENU_QUIT: &str = "quit";

const TRAY_ICON: Image<'_> = tauri::include_image!("./icons/tray.png");

fn main() -> anyhow::Result<()> {
    init_tracing();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting ChatBell");

    tauri::Builder::default()
        .setup(|app| {
            setup_tray(app)?;
            Ok(())
        })
        .on_window_event(on_window_event)
        .run(tauri::generate_context!("../tauri.conf.json"))
        .context("ChatBell's event loop failed")
}

/// Logs to stderr; `RUST_LOG` filters, `info` by default.
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn setup_tray(app: &App) -> anyhow::Result<()> {
    let open = MenuItem::with_id(app, MENU_OPEN_PANEL, "Open panel", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, MENU_QUIT, "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &quit])?;

    TrayIconBuilder::with_id(TRAY_ID)
        .icon(TRAY_ICON)
        .tooltip("ChatBell")
        .title("ChatBell")
        .menu(&menu)
        .on_menu_event(on_menu_event)
        .build(app)
        .context("could not create the tray icon")?;
    tracing::info!("tray icon ready");
    Ok(())
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        MENU_OPEN_PANEL => {
            if let Err(err) = show_panel(app) {
                tracing::error!("could not open the panel: {err:#}");
            }
        }
        MENU_QUIT => {
            tracing::info!("quit from the tray menu");
            app.exit(0);
        }
        other => tracing::debug!(id = other, "unhandled menu event"),
    }
}

fn show_panel(app: &AppHandle) -> anyhow::Result<()> {
    let panel = app
        .get_webview_window(PANEL)
        .context("the panel window does not exist")?;
    panel.unminimize()?;
    panel.show()?;
    panel.set_focus()?;
    Ok(())
}

/// Closing the panel hides it: the app lives on in the tray until "Quit".
fn on_window_event(window: &Window, event: &WindowEvent) {
    if window.label() != PANEL {
        return;
    }
    if let WindowEvent::CloseRequested { api, .. } = event {
        api.prevent_close();
        if let Err(err) = window.hide() {
            tracing::error!("could not hide the panel: {err}");
        }
    }
}
