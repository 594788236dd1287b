//! ChatBell without the GUI: everything the desktop shell (`src-tauri/`) needs, so
//! that the shell stays OS wiring with no business rule.
//!
//! - [`config`]: the TOML configuration and where ChatBell keeps its files;
//! - [`prefs`]: the agent's preferences on this desktop (sounds, do not disturb);
//! - [`view`]: the serializable state of the panel and `chatbell status --json`;
//! - [`deeplink`]: the Dynamics link that opens a chat (R12);
//! - [`control`]: the local control socket of the command line;
//! - [`demo`]: the built-in demo org, signed in through the real device code flow;
//! - [`app`]: [`App`], the running ChatBell, and the [`Shell`] trait the GUI implements.

pub mod app;
pub mod config;
pub mod control;
pub mod deeplink;
pub mod demo;
pub mod fsutil;
pub mod headless;
pub mod prefs;
pub mod view;

pub use app::{App, AppError, AppOptions, LogShell, Shell};
pub use config::{Config, ConfigError, Paths};
pub use prefs::Prefs;
pub use view::{Connection, NotificationView, SignInPrompt, Status};
