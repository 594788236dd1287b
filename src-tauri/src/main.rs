//! ChatBell's desktop shell: the tray, toasts, sounds and the panel window,
//! wired to [`chatbell_app::App`]. Only OS wiring lives here: what to show,
//! when and how loud is decided in the GUI-free crates.
//!
//! One binary:
//! - `chatbell`: the tray app;
//! - `chatbell --headless`: no tray or window (toasts and sounds only);
//! - `chatbell status [--json] | act <id> <action> [--reason TEXT] | signin |
//!   signout | open | quit | ping`: talk to the running instance over its control
//!   socket (`open` shows the panel; so does starting `chatbell` a second time);
//! - `chatbell org inspect | org check`: the signed-in org's add-on tables
//!   found and their mapping proposed (TOML); the org checked;
//! - `chatbell doctor`: what this desktop and the org offer ChatBell, and what
//!   to fix;
//! - `chatbell report [--out FILE]`: a support bundle for IT (version, platform,
//!   configuration, doctor's findings, the last logs; no token or customer text).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(test)]
mod commands;
mod ipc;
#[cfg(test)]
mod security_tests;
mod shell;
mod updates;

use anyhow::Context as _;
use chatbell_app::config::Paths;
use chatbell_app::control::{self, ControlError, ControlServer, Request};
use chatbell_app::report::{self, Finding};
use chatbell_app::{App, AppOptions};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use tauri::Manager;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Label of the panel window declared in `tauri.conf.json`.
pub const PANEL: &str = "panel";

const USAGE: &str = "usage: chatbell [--headless]
       chatbell status [--json] | act <id> <action> [--reason TEXT] | signin | signout | open | quit | ping
       chatbell org inspect | org check
       chatbell doctor
       chatbell report [--out FILE]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => {
            no_gl_in_the_tray();
            gui()
        }
        Some("--headless") if args.len() == 1 => headless(),
        Some("status" | "act" | "signin" | "signout" | "open" | "quit" | "ping" | "org") => {
            return cli(&args)
        }
        Some("doctor") if args.len() == 1 => return doctor(),
        Some("report") => return report(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("ChatBell: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The tray process draws no OpenGL itself, but GTK 3 on X11 sets up GLX when it
/// opens the display, which loads the GL driver (with a software renderer, LLVM):
/// about 50 MB resident for nothing. `GDK_GL=disable` skips that; the panel's web
/// engine renders in its own process and is not affected. Runs before any thread
/// starts; an agent's own `GDK_GL` wins.
fn no_gl_in_the_tray() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
    }
}

/// `chatbell status|act|signin|signout|open|quit|ping`: one request to the running
/// instance.
fn cli(args: &[String]) -> ExitCode {
    let paths = match Paths::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ChatBell: {e}");
            return ExitCode::from(2);
        }
    };
    let socket = control::default_socket_path(&paths.data_dir);
    let out = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(chatbell_app::cli::run(args, &socket)),
        Err(e) => {
            eprintln!("ChatBell: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    ExitCode::from(u8::try_from(out.code).unwrap_or(1))
}

/// What this desktop offers ChatBell: the notification server, the tray host,
/// the sound device and the keychain.
fn desktop_findings() -> Vec<Finding> {
    use chatbell_desktop::doctor;
    [
        doctor::notification_server(),
        doctor::tray_host(),
        doctor::sound_device(),
        doctor::keychain(),
    ]
    .into_iter()
    .map(|f| Finding::new(f.what, f.ok, f.detail))
    .collect()
}

/// `chatbell doctor`: checks the notification server, the tray host, the sound
/// device, the keychain and the Dynamics connection, and says what to fix.
fn doctor() -> ExitCode {
    let mut all_ok = true;
    let mut say = |what: &str, ok: bool, detail: &str| {
        all_ok &= ok;
        println!("{} {what}: {detail}", if ok { "ok  " } else { "FIX " });
    };
    for f in desktop_findings() {
        say(&f.name, f.ok, &f.detail);
    }
    match Paths::from_env() {
        Ok(paths) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => {
                let (ok, detail) = rt.block_on(chatbell_app::doctor::dynamics(&paths));
                say("Dynamics", ok, &detail);
                let (ok, detail) = rt.block_on(chatbell_app::doctor::running(&paths));
                say("ChatBell", ok, &detail);
                for (ok, detail) in rt.block_on(chatbell_app::doctor::org(&paths)) {
                    say("Dynamics", ok, &detail);
                }
            }
            Err(e) => say("Dynamics", false, &e.to_string()),
        },
        Err(e) => say("configuration", false, &e.to_string()),
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `chatbell report [--out FILE]`: writes the support bundle
/// ([`chatbell_app::report`]) and prints its path.
fn report(args: &[String]) -> ExitCode {
    if let Err(e) = report::parse_args(args) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let paths = match Paths::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ChatBell: {e}");
            return ExitCode::from(2);
        }
    };
    let options = report::Options {
        version: env!("CARGO_PKG_VERSION").to_string(),
        findings: desktop_findings(),
        ..report::Options::default()
    };
    let out = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(report::run(args, &paths, &options)),
        Err(e) => {
            eprintln!("ChatBell: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    ExitCode::from(u8::try_from(out.code).unwrap_or(1))
}

/// Logs to stderr and to a file a day in the data dir's `logs/` (`RUST_LOG`
/// filters, `info` by default). Tokens never reach the logs: the sign-in types
/// redact themselves.
fn init_logging(paths: &Paths) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let logs = paths.data_dir.join("logs");
    let (file, guard) = match std::fs::create_dir_all(&logs) {
        Ok(()) => {
            let appender = tracing_appender::rolling::daily(&logs, "chatbell.log");
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(writer)
                        .with_filter(filter()),
                ),
                Some(guard),
            )
        }
        Err(e) => {
            eprintln!("ChatBell: no log files ({}: {e})", logs.display());
            (None, None)
        }
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    guard
}

/// `chatbell --headless`: the app with toasts and sounds, no tray or window.
fn headless() -> anyhow::Result<()> {
    let paths = Paths::from_env()?;
    let _logs = init_logging(&paths);
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async move {
        let shell = Arc::new(shell::DesktopShell::new(None, &paths.data_dir));
        let attach = shell.clone();
        chatbell_app::headless::run(
            paths,
            shell,
            AppOptions::default(),
            None,
            stop_signal(),
            move |app| attach.attach(app.clone()),
        )
        .await?;
        Ok(())
    });
    // A keychain call still waiting for an unlock prompt must not keep the
    // process alive once ChatBell has stopped.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

/// Ctrl-C, or (Unix) SIGTERM: how a headless ChatBell is told to stop.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The control socket's server, kept until ChatBell quits.
struct Control(Mutex<Option<ControlServer>>);

/// `chatbell`: the tray app.
fn gui() -> anyhow::Result<()> {
    let paths = Paths::from_env()?;
    let _logs = init_logging(&paths);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting ChatBell");
    let socket = control::default_socket_path(&paths.data_dir);
    // One ChatBell per user: a second start shows the first one's panel. One
    // that holds the socket and does not answer (stopped, stuck) is said so:
    // no second ChatBell beside it. Nobody listening: this one starts.
    match tauri::async_runtime::block_on(control::request(&socket, &Request::Ping)) {
        Ok(_) => {
            tauri::async_runtime::block_on(control::request(&socket, &Request::Open))?;
            eprintln!("ChatBell is already running: its panel is open");
            return Ok(());
        }
        Err(e @ ControlError::NotAnswering { .. }) => return Err(e.into()),
        Err(_) => {}
    }

    let context = tauri::generate_context!("../tauri.conf.json");
    // In-app updates only for the AppImage and the Windows installers, and only
    // with a real signing key.
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
            let shell = Arc::new(shell::DesktopShell::new(
                Some(handle.clone()),
                &paths.data_dir,
            ));
            shell::build_tray(app, &shell)?;
            tracing::info!("tray icon ready");
            let chat = tauri::async_runtime::block_on(App::start(
                paths.clone(),
                shell.clone(),
                AppOptions::default(),
            ))?;
            shell.attach(chat.clone());
            app.manage(chat.clone());
            app.manage(shell.clone());
            let server = tauri::async_runtime::block_on(ControlServer::bind(
                &socket,
                Arc::new(chat.clone()),
            ))
            .map_err(|e| tracing::warn!("the command line cannot reach ChatBell: {e}"))
            .ok();
            app.manage(Control(Mutex::new(server)));
            if updates {
                updates::check_in_background(handle.clone());
            }
            // SIGTERM (an uninstall, a logout) quits as the tray's Quit does.
            let quit = handle.clone();
            tauri::async_runtime::spawn(async move {
                stop_signal().await;
                tracing::info!("asked to stop");
                quit.exit(0);
            });
            // First run (connect an org or keep the demo), or nothing to do
            // without the agent; otherwise ChatBell starts quietly in the tray.
            // Under WebDriver (TAURI_WEBVIEW_AUTOMATION=true) the panel opens at
            // start: the driver's session attaches to a webview that exists.
            if chat.opens_panel_at_start()
                || std::env::var("TAURI_WEBVIEW_AUTOMATION").is_ok_and(|v| v == "true")
            {
                shell::show_panel(&handle);
            }
            Ok(())
        })
        .build(context)
        .context("could not start ChatBell's window system")?
        .run(on_run_event);
    Ok(())
}

/// Closing the panel closes its window (and its web engine); ChatBell lives on
/// in the tray until "Quit", which the event loop must not take closing the last
/// window for.
fn on_run_event(handle: &tauri::AppHandle, event: tauri::RunEvent) {
    match event {
        tauri::RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        tauri::RunEvent::Exit => {
            let server = handle
                .try_state::<Control>()
                .and_then(|c| c.0.lock().ok().and_then(|mut s| s.take()));
            let app = handle.try_state::<App>().map(|a| a.inner().clone());
            tauri::async_runtime::block_on(async move {
                if let Some(s) = server {
                    s.shutdown().await;
                }
                if let Some(a) = app {
                    a.quit().await;
                }
            });
        }
        _ => {}
    }
}
