//! `chatbell-panel`: ChatBell's panel, a process of its own that lives only
//! while its window is open. It holds no state: it attaches to the running
//! ChatBell (`chatbell`) over the control socket, shows the status it streams
//! and sends the agent's actions back as requests (`ipc.rs`), where ChatBell
//! checks them. A crash of either process loses nothing: ChatBell keeps it all,
//! and a panel whose ChatBell is gone closes.
//!
//! Started by ChatBell (the tray, a toast, `chatbell open`, the first run), or
//! by the agent (the desktop's menu entry), in which case it starts ChatBell
//! first if it is not running. One panel at most: a second one brings the first
//! to the front and goes.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(test)]
mod commands;
mod ipc;
#[cfg(test)]
mod security_tests;
mod updates;

use anyhow::Context as _;
use chatbell_app::config::Paths;
use chatbell_app::control::{self, ControlError, PanelLine, Request};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tauri::{Emitter as _, Manager as _};
use tokio::sync::mpsc;

/// The panel window's label (its capability names it).
pub const PANEL: &str = "panel";

/// How long a ChatBell this panel started has to answer.
const RESIDENT_START: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    no_gl();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("ChatBell's panel: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The panel draws no OpenGL itself, but GTK 3 on X11 sets up GLX when it opens
/// the display, which loads the GL driver (with a software renderer, LLVM):
/// about 50 MB resident for nothing. `GDK_GL=disable` skips that; the web
/// engine renders in its own process and is not affected. Runs before any
/// thread starts; an agent's own `GDK_GL` wins.
fn no_gl() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
    }
}

/// What the panel hears from ChatBell.
enum Heard {
    Line(PanelLine),
    /// The stream ended: ChatBell stopped, or refused this panel.
    Ended(Result<(), ControlError>),
}

fn run() -> anyhow::Result<()> {
    let paths = Paths::from_env()?;
    let _logs = chatbell_app::logs::init(&paths, chatbell_app::logs::PANEL);
    let socket = control::default_socket_path(&paths.data_dir);
    tauri::async_runtime::block_on(resident_running(&socket))?;

    // Attach before any window shows: a second panel goes without a flash.
    let (tx, mut heard) = mpsc::unbounded_channel();
    {
        let socket = socket.clone();
        tauri::async_runtime::spawn(async move {
            let lines = tx.clone();
            let ended =
                control::attach_panel(&socket, move |line| lines.send(Heard::Line(line)).is_ok())
                    .await;
            let _ = tx.send(Heard::Ended(ended));
        });
    }
    let first = tauri::async_runtime::block_on(async {
        tokio::time::timeout(Duration::from_secs(10), heard.recv()).await
    });
    let first_status = match first {
        Ok(Some(Heard::Line(PanelLine::Status(s)))) => s,
        Ok(Some(Heard::Ended(Err(ControlError::PanelOpen)))) => {
            tracing::info!("the panel is open already: brought to the front");
            return Ok(());
        }
        Ok(Some(Heard::Ended(Err(e)))) => return Err(e.into()),
        Ok(Some(_) | None) => anyhow::bail!("ChatBell ended the panel's connection"),
        Err(_) => anyhow::bail!("ChatBell did not answer the panel within 10 s"),
    };
    tracing::debug!(unread = %first_status["unread"], "attached to ChatBell");

    let context = tauri::generate_context!("../tauri.conf.json");
    // In-app updates only for the AppImage and the Windows installers, and only
    // with a real signing key; checked while the panel is open.
    let mut updates = updates::enabled();
    tracing::info!(
        installed = updates::installed_as(),
        "updates: {}",
        if updates {
            "in-app"
        } else {
            "not in-app (the package manager, or a build from source)"
        }
    );
    if updates {
        if let Some(why) = updates::refusal(context.config().plugins.0.get("updater")) {
            tracing::warn!("in-app updates are off: {why}");
            updates = false;
        }
    }
    let mut builder = tauri::Builder::default();
    if updates {
        builder = builder.plugin(tauri_plugin_updater::Builder::new().build());
    }
    builder
        // The panel's own log lines (webview target) go through `log` to the
        // tracing subscriber above: the plugin must not install a logger of its own.
        .plugin(tauri_plugin_log::Builder::new().skip_logger().build())
        .manage(ipc::Resident::new(socket))
        .invoke_handler(tauri::generate_handler![
            ipc::status,
            ipc::act,
            ipc::withdraw_request,
            ipc::history,
            ipc::get_preferences,
            ipc::set_preferences,
            ipc::start_sign_in,
            ipc::start_browser_sign_in,
            ipc::cancel_sign_in,
            ipc::sign_out,
            ipc::open_verification_uri,
            ipc::use_demo,
            ipc::set_dynamics,
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            open_window(&handle)?;
            if updates {
                updates::check_in_background(handle.clone());
            }
            // ChatBell's status to the page, its "come to the front" to the
            // window; its end (quit, crash) closes the panel.
            tauri::async_runtime::spawn(async move {
                while let Some(h) = heard.recv().await {
                    match h {
                        Heard::Line(PanelLine::Status(s)) => {
                            if let Err(e) = handle.emit_to(PANEL, "status-changed", s) {
                                tracing::debug!("panel not told: {e}");
                            }
                        }
                        Heard::Line(PanelLine::Show) => bring_to_front(&handle),
                        Heard::Ended(result) => {
                            match result {
                                Ok(()) => tracing::info!("ChatBell stopped: the panel closes"),
                                Err(e) => tracing::warn!("the panel lost ChatBell: {e}"),
                            }
                            handle.exit(0);
                            return;
                        }
                    }
                }
            });
            Ok(())
        })
        .run(context)
        .context("could not open ChatBell's panel")?;
    Ok(())
}

/// Makes sure ChatBell runs: if nobody answers on its socket, starts
/// `chatbell --no-panel` (this panel is the one the agent asked for) and waits
/// for it to answer.
async fn resident_running(socket: &Path) -> anyhow::Result<()> {
    match control::request(socket, &Request::Ping).await {
        Ok(_) => return Ok(()),
        Err(e @ ControlError::NotAnswering { .. }) => return Err(e.into()),
        Err(_) => {}
    }
    let program = resident_program()?;
    tracing::info!(program = %program.display(), "ChatBell is not running: starting it");
    let mut cmd = std::process::Command::new(&program);
    cmd.arg("--no-panel").stdin(std::process::Stdio::null());
    // Its own process group: a Ctrl-C meant for the panel does not stop it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start {}", program.display()))?;
    let deadline = tokio::time::Instant::now() + RESIDENT_START;
    loop {
        if control::request(socket, &Request::Ping).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            anyhow::bail!("ChatBell stopped at once ({status}); see its log");
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "ChatBell did not answer within {} s of its start",
                RESIDENT_START.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `chatbell` beside this program (where the packages install both), or
/// `$CHATBELL_RESIDENT`.
fn resident_program() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("CHATBELL_RESIDENT").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("where is the panel's program")?;
    Ok(exe.with_file_name(format!("chatbell{}", std::env::consts::EXE_SUFFIX)))
}

fn open_window(handle: &tauri::AppHandle) -> tauri::Result<()> {
    let panel = tauri::WebviewWindowBuilder::new(
        handle,
        PANEL,
        tauri::WebviewUrl::App("index.html".into()),
    )
    .title("ChatBell")
    .inner_size(400.0, 600.0)
    .min_inner_size(320.0, 400.0)
    .center()
    .build()?;
    let _ = panel.set_focus();
    Ok(())
}

/// Shows, raises and focuses the window.
fn bring_to_front(handle: &tauri::AppHandle) {
    let Some(panel) = handle.get_webview_window(PANEL) else {
        return;
    };
    let _ = panel.unminimize();
    if let Err(e) = panel.show() {
        tracing::warn!("could not show the panel: {e}");
    }
    let _ = panel.set_focus();
}
