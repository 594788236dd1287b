//! `chatbell --headless`: the app with no GUI, its outputs logged, reachable
//! through the control socket, until `shutdown` resolves.

use crate::app::{App, AppError, AppOptions, LogShell};
use crate::config::Paths;
use crate::control::{self, ControlServer};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// Runs ChatBell headless until `shutdown` resolves; the control socket at
/// `socket` (default: [`control::default_socket_path`]). Fails if another
/// instance already answers there.
pub async fn run(
    paths: Paths,
    options: AppOptions,
    socket: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AppError> {
    let socket = socket.unwrap_or_else(|| control::default_socket_path(&paths.data_dir));
    // Another instance answering: stop before touching its data dir.
    if control::request(&socket, &control::Request::Ping)
        .await
        .is_ok()
    {
        return Err(AppError::Invalid(
            control::ControlError::AlreadyRunning(socket).to_string(),
        ));
    }
    let app = App::start(paths, Arc::new(LogShell), options).await?;
    let server = match ControlServer::bind(&socket, Arc::new(app.clone())).await {
        Ok(s) => Some(s),
        Err(e @ control::ControlError::AlreadyRunning(_)) => {
            app.quit().await;
            return Err(AppError::Invalid(e.to_string()));
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
    shutdown.await;
    if let Some(s) = server {
        s.shutdown().await;
    }
    app.quit().await;
    Ok(())
}
