//! ChatBell without the GUI: everything the desktop shell (`src-tauri/`) needs, so
//! that the shell stays OS wiring with no business rule.
//!
//! - [`config`]: the TOML configuration and where ChatBell keeps its files;
//! - [`prefs`]: the agent's preferences on this desktop (sounds, do not disturb);
//! - [`view`]: the serializable state of the panel and `chatbell status --json`;
//! - [`deeplink`]: the Dynamics link that opens a chat (R12);
//! - [`control`]: the local control socket of the command line;
//! - [`demo`]: the built-in demo org, signed in through the real device code flow;
//! - [`lifecycle`]: where the app stands with Dynamics (signed out, signing in,
//!   running a desk...), as one state machine without I/O;
//! - [`report`]: `chatbell report`, the support bundle for IT, with tokens and
//!   customer text removed;
//! - [`app`]: [`App`], the running ChatBell, and the [`Shell`] trait the GUI implements.
//!
//! # In the desktop shell
//!
//! The shell implements [`Shell`] (hand everything to the UI thread and return),
//! starts the [`App`] and the control socket, and forwards the panel's IPC calls
//! to the app's methods. Nothing else: no rule lives in the shell.
//!
//! ```no_run
//! use chatbell_app::control::{self, ControlServer};
//! use chatbell_app::{App, AppOptions, Paths, Shell, Status};
//! use chatbell_core::present::Output;
//! use std::sync::Arc;
//!
//! struct TauriShell; // holds an AppHandle in the real shell
//!
//! impl Shell for TauriShell {
//!     fn outputs(&self, outputs: &[Output], status: &Status) {
//!         for o in outputs {
//!             match o {
//!                 Output::Toast(n) => { /* show a toast: n.key, n.title, n.body, n.actions */ }
//!                 Output::CloseToast(_key) => { /* take it down */ }
//!                 Output::Play { sound: _, volume: _ } => { /* play once */ }
//!                 Output::Ring { session: _, volume: _, repeat: _ } => { /* ring */ }
//!                 Output::StopRing(_session) => {}
//!                 Output::Badge(_n) => { /* tray count */ }
//!                 // app.deep_link(session): Some(url) → open it; None (demo) → the panel.
//!                 Output::OpenChat(_session) => {}
//!                 Output::OpenPanel => {}
//!             }
//!         }
//!         let _ = status;
//!     }
//!     fn status_changed(&self, status: &Status) {
//!         // emit("status", status) to the panel; tray tooltip from status.unread
//!         let _ = status;
//!     }
//!     fn open_url(&self, url: &str) -> Result<(), String> {
//!         // the system browser (a browser sign-in's page)
//!         let _ = url;
//!         Ok(())
//!     }
//!     fn quit(&self) {
//!         // app_handle.exit(0)
//!     }
//! }
//!
//! # async fn shell() -> Result<(), Box<dyn std::error::Error>> {
//! let paths = Paths::from_env()?;
//! let socket = control::default_socket_path(&paths.data_dir);
//! let app = App::start(paths, Arc::new(TauriShell), AppOptions::default()).await?;
//! let server = ControlServer::bind(&socket, Arc::new(app.clone())).await?;
//!
//! // IPC commands from the panel:
//! let status = app.status();
//! if let Some(n) = status.notifications.first() {
//!     app.act(&n.id, "open", None).await?;
//! }
//! app.act("request:6a4c1f0e-1111-2222-3333-444455556666", "reject", Some("busy")).await.ok();
//! let _history = app.history(50).await?;
//! let mut prefs = app.preferences();
//! prefs.presence.dnd.on = true;
//! app.set_preferences(prefs)?;
//! let prompt = app.start_sign_in().await?; // show prompt.user_code, prompt.verification_uri
//! # let _ = prompt;
//! app.set_dynamics(Some("https://contoso.crm.dynamics.com"), None).await?;
//!
//! // Quit from the tray:
//! server.shutdown().await;
//! app.quit().await;
//! # Ok(()) }
//! ```
//!
//! `chatbell status --json` and friends: [`cli::run`] with the arguments after
//! the program name.

pub mod app;
pub mod autostart;
pub mod cli;
pub mod config;
pub mod control;
pub mod deeplink;
pub mod demo;
pub mod doctor;
pub mod fsutil;
pub mod headless;
pub mod lifecycle;
pub mod logs;
pub mod panels;
pub mod prefs;
pub mod report;
pub mod view;

pub use app::{App, AppError, AppOptions, LogShell, Shell};
pub use config::{Config, ConfigError, Paths};
pub use prefs::Prefs;
pub use view::{Connection, NotificationView, SignInPrompt, Status};
