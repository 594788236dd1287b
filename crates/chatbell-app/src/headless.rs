//! `chatbell --headless`: the app with no tray or window, reachable through the
//! control socket, until `shutdown` resolves or `chatbell quit` asks it to stop.

use crate::app::{App, AppError, AppOptions, Shell};
use crate::config::Paths;
use crate::control::{self, ControlError, ControlServer, Request};
use crate::view::Status;
use chatbell_core::present::Output;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;

/// Passes everything to the desktop's shell, and hears `quit`.
struct Stoppable {
    shell: Arc<dyn Shell>,
    quit: Arc<Notify>,
}

impl Shell for Stoppable {
    fn outputs(&self, outputs: &[Output], status: &Status) {
        self.shell.outputs(outputs, status);
    }
    fn status_changed(&self, status: &Status) {
        self.shell.status_changed(status);
    }
    fn quit(&self) {
        self.shell.quit();
        self.quit.notify_one();
    }
    fn open_url(&self, url: &str) -> Result<(), String> {
        self.shell.open_url(url)
    }
    fn keep_only_toasts_of(&self, live: &[chatbell_core::NotificationKey]) {
        self.shell.keep_only_toasts_of(live);
    }
}

/// Runs ChatBell headless with `shell` (toasts and sounds, or only logs) until
/// `shutdown` resolves or a `quit` request comes; the control socket at `socket`
/// (default: [`control::default_socket_path`]). `started` gets the app once it
/// runs (for a shell whose toast buttons act on it). Fails if another instance
/// already answers there, or holds the socket and does not answer
/// ([`ControlError::NotAnswering`]).
pub async fn run(
    paths: Paths,
    shell: Arc<dyn Shell>,
    options: AppOptions,
    socket: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
    started: impl FnOnce(&App),
) -> Result<(), AppError> {
    let socket = socket.unwrap_or_else(|| control::default_socket_path(&paths.data_dir));
    // Another instance answering, or holding the socket and answering nothing
    // (stopped, stuck): stop before touching its data dir. Nobody listening (a
    // stale socket file, or none): start.
    match control::request(&socket, &Request::Ping).await {
        Ok(_) => return Err(ControlError::AlreadyRunning(socket).into()),
        Err(e @ ControlError::NotAnswering { .. }) => return Err(e.into()),
        Err(_) => {}
    }
    let quit = Arc::new(Notify::new());
    let shell = Arc::new(Stoppable {
        shell,
        quit: quit.clone(),
    });
    let app = App::start(paths, shell, options).await?;
    started(&app);
    let server = match ControlServer::bind(&socket, Arc::new(app.clone())).await {
        Ok(s) => Some(s),
        Err(e @ (ControlError::AlreadyRunning(_) | ControlError::NotAnswering { .. })) => {
            app.quit().await;
            return Err(e.into());
        }
        Err(e) => {
            // The app still runs; only the command line cannot reach it.
            tracing::warn!("{e}");
            None
        }
    };
    if let Some(s) = &server {
        tracing::info!(socket = %s.path().display(), "ChatBell is running headless");
    }
    tokio::select! {
        _ = shutdown => {}
        _ = quit.notified() => tracing::info!("quit over the control socket"),
    }
    if let Some(s) = server {
        s.shutdown().await;
    }
    app.quit().await;
    Ok(())
}
