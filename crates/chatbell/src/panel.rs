//! Starting the panel, `chatbell-panel`, when it is wanted and none is attached.
//!
//! The panel is a process of its own (the webview and its engine) that lives
//! only while its window is open; it attaches to ChatBell over the control
//! socket ([`chatbell_app::panels`]). ChatBell starts one at most at a time:
//! while the one it started is still coming up (not attached yet), asking again
//! starts no second one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A panel started this long ago and still not attached is taken for stuck: the
/// next request to show the panel stops it and starts another.
const ATTACH_WITHIN: Duration = Duration::from_secs(30);

/// The panel's program: `$CHATBELL_PANEL`, or `chatbell-panel` beside this
/// program (where the packages install both).
pub fn program() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CHATBELL_PANEL").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("where is ChatBell's program: {e}"))?;
    Ok(exe.with_file_name(format!("chatbell-panel{}", std::env::consts::EXE_SUFFIX)))
}

/// The panel ChatBell started last, while it runs.
pub struct Launcher {
    rt: tokio::runtime::Handle,
    started: Mutex<Option<Started>>,
}

struct Started {
    pid: Option<u32>,
    at: Instant,
    /// Cleared when the process has ended (and was reaped: no zombie is left
    /// behind for the rest of the day).
    running: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
}

impl Launcher {
    /// `rt`: the runtime that waits for the panel's process.
    pub fn new(rt: tokio::runtime::Handle) -> Launcher {
        Launcher {
            rt,
            started: Mutex::new(None),
        }
    }

    /// Starts the panel, unless the one started last is still coming up.
    pub fn start(&self) {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = started.as_mut() {
            if s.running.load(Ordering::SeqCst) {
                if s.at.elapsed() < ATTACH_WITHIN {
                    tracing::debug!("the panel is starting already");
                    return;
                }
                tracing::warn!(
                    pid = s.pid,
                    "the panel never attached; stopping it and starting another"
                );
                if let Some(stop) = s.stop.take() {
                    let _ = stop.send(());
                }
            }
        }
        *started = None;
        let program = match program() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("could not open the panel: {e}");
                return;
            }
        };
        let _runtime = self.rt.enter();
        let mut child = match tokio::process::Command::new(&program)
            .stdin(std::process::Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(program = %program.display(), "could not open the panel: {e}");
                return;
            }
        };
        let pid = child.id();
        tracing::info!(pid, "panel started");
        let running = Arc::new(AtomicBool::new(true));
        let (stop, stopped) = oneshot::channel::<()>();
        {
            let running = running.clone();
            self.rt.spawn(async move {
                tokio::select! {
                    _ = child.wait() => {}
                    Ok(()) = stopped => {
                        let _ = child.kill().await;
                    }
                }
                running.store(false, Ordering::SeqCst);
            });
        }
        *started = Some(Started {
            pid,
            at: Instant::now(),
            running,
            stop: Some(stop),
        });
    }
}
