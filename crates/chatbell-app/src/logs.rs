//! ChatBell's log files, in the data dir's `logs/`: one a day for the resident
//! process (`chatbell.log.YYYY-MM-DD`) and one a day for the panel
//! (`panel.log.YYYY-MM-DD`). `chatbell report` gathers both. Tokens never reach
//! them: the sign-in types redact themselves, and a toast is logged by its key
//! and kind only.

use crate::config::Paths;
use std::path::PathBuf;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The resident process's log file (before its date).
pub const CHATBELL: &str = "chatbell.log";
/// The panel's log file (before its date).
pub const PANEL: &str = "panel.log";

/// Where the log files are.
pub fn dir(paths: &Paths) -> PathBuf {
    paths.data_dir.join("logs")
}

/// Whether `name` is one of ChatBell's log files.
pub fn is_log_file(name: &str) -> bool {
    name.starts_with(CHATBELL) || name.starts_with(PANEL)
}

/// What keeps the log file written: dropped, the last lines are flushed.
pub type Guard = tracing_appender::non_blocking::WorkerGuard;

/// Logs this process to stderr and to `file` (`CHATBELL` or `PANEL`), a file
/// a day; `RUST_LOG` filters, `info` by default. Without a log directory it
/// says so on stderr and logs there only.
pub fn init(paths: &Paths, file: &str) -> Option<Guard> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let logs = dir(paths);
    let (file, guard) = match std::fs::create_dir_all(&logs) {
        Ok(()) => {
            let appender = tracing_appender::rolling::daily(&logs, file);
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
