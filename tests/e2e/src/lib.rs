//! ChatBell end to end, as an agent meets it: the real `chatbell` binary on a
//! virtual desktop (Xvfb, a private D-Bus session bus, a notification server, a
//! StatusNotifierWatcher, gnome-keyring, PulseAudio with a null sink), pointed at
//! the Dataverse emulator, its panel driven through WebKitWebDriver. Every check
//! reads what the desktop received (toasts, tray icon pixels, recorded sound, the
//! links the browser was asked to open), what the panel shows, or what Dynamics
//! (the emulator) holds; never ChatBell's own account of itself.
//!
//! The scenarios are in `tests/rules.rs`, one per rule, named after it; the soak
//! under faults and the two-agent races in `tests/faults.rs`.

pub mod app;
pub mod bus;
pub mod desktop;
pub mod org;
pub mod proc;
pub mod runner;
pub mod sound;
pub mod tray;
pub mod wait;
pub mod webdriver;
