//! ChatBell, the process that stays up all day: the sync with Dynamics, the
//! rules, the cache, the tray icon, the toasts, the sounds and the control
//! socket. It holds no webview, no GTK and no demo org: the panel is the
//! `chatbell-panel` process, started when the agent wants it and gone when its
//! window closes; the demo's org is the `chatbell-emulator` process.
//!
//! - `chatbell [--no-panel]`: the tray app (`--no-panel`: the panel does not
//!   open at start, even on a first run; a panel that starts ChatBell says so);
//! - `chatbell --headless`: no tray icon (toasts and sounds only);
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

mod panel;
mod shell;

use chatbell_app::cli::CliOutput;
use chatbell_app::config::Paths;
use chatbell_app::control::{self, ControlError, Request};
use chatbell_app::report::{self, Finding};
use chatbell_app::AppOptions;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: chatbell [--no-panel | --headless]
       chatbell status [--json] | act <id> <action> [--reason TEXT] | signin | signout | open | quit | ping
       chatbell org inspect | org check
       chatbell doctor
       chatbell report [--out FILE]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => resident(Tray::Shown {
            panel_at_start: true,
        }),
        Some("--no-panel") if args.len() == 1 => resident(Tray::Shown {
            panel_at_start: false,
        }),
        Some("--headless") if args.len() == 1 => resident(Tray::None),
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
    run_command(chatbell_app::cli::run(args, &socket))
}

/// Runs a command on a runtime of its own, prints what it says and exits with
/// its code.
fn run_command(command: impl std::future::Future<Output = CliOutput>) -> ExitCode {
    let out = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(command),
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
    run_command(report::run(args, &paths, &options))
}

/// Whether ChatBell shows its tray icon.
#[derive(Clone, Copy, Debug)]
enum Tray {
    /// The tray app; the panel opens at start on a first run (or when nothing
    /// can be done without the agent) unless `panel_at_start` is off.
    Shown { panel_at_start: bool },
    /// `--headless`: toasts and sounds only.
    None,
}

/// `chatbell` (and `--headless`): runs until Quit (the tray menu, `chatbell
/// quit`), SIGTERM or Ctrl-C. One thread runs it all (a current-thread
/// runtime): nothing here needs more, and every idle thread is memory and
/// wake-ups on a host shared by dozens of agents.
fn resident(tray: Tray) -> anyhow::Result<()> {
    let paths = Paths::from_env()?;
    let _logs = chatbell_app::logs::init(&paths, chatbell_app::logs::CHATBELL);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting ChatBell");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        let socket = control::default_socket_path(&paths.data_dir);
        // One ChatBell per user: a second start of the tray app shows the first
        // one's panel (headless, it refuses). One that holds the socket and
        // does not answer (stopped, stuck) is said so: no second ChatBell
        // beside it. Nobody listening: this one starts.
        if let Tray::Shown { .. } = tray {
            match control::request(&socket, &Request::Ping).await {
                Ok(_) => {
                    control::request(&socket, &Request::Open).await?;
                    eprintln!("ChatBell is already running: its panel is open");
                    return Ok(());
                }
                Err(e @ ControlError::NotAnswering { .. }) => return Err(e.into()),
                Err(_) => {}
            }
        }
        let shell = Arc::new(shell::DesktopShell::new(
            &paths.data_dir,
            tokio::runtime::Handle::current(),
        ));
        if let Tray::Shown { .. } = tray {
            // The icon first: the agent sees ChatBell at once, the cache and
            // the sign-in follow.
            shell.show_tray().await;
        }
        let attach = shell.clone();
        chatbell_app::headless::run(
            paths,
            shell.clone(),
            AppOptions::default(),
            None,
            stop_signal(),
            move |app| {
                attach.attach(app.clone());
                // First run (connect an org or keep the demo), or nothing to
                // do without the agent: the panel opens.
                if let Tray::Shown {
                    panel_at_start: true,
                } = tray
                {
                    if app.opens_panel_at_start() {
                        attach.show_panel();
                    }
                }
            },
        )
        .await?;
        shell.close_tray().await;
        anyhow::Ok(())
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
