//! What ChatBell shows and plays on the desktop, apart from the webview: the
//! unread count drawn on the tray icon, the tray icon itself (a StatusNotifierItem,
//! no GTK), toasts with their actions, and sounds.
//!
//! Kept out of the Tauri shell so that it builds and is tested without WebKit.

pub mod badge;
pub mod doctor;
pub mod sound;
pub mod system;
pub mod toast;
pub mod tray;
