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

/// The org the suite runs against: `None` for the reference schema, or with
/// `CHATBELL_TEST_ORG=contoso` the org of `tests/orgs/contoso.profile.toml`,
/// whose every table, column and choice value has a name of its own. ChatBell
/// then runs with `tests/orgs/contoso.mapping.toml`; the org's other people
/// (customers, colleagues, the add-on) still write in the reference names.
pub fn test_org() -> Option<&'static str> {
    match std::env::var("CHATBELL_TEST_ORG").ok().as_deref() {
        None | Some("" | "reference") => None,
        Some("contoso") => Some("contoso"),
        Some(other) => panic!("CHATBELL_TEST_ORG={other}: known orgs are reference and contoso"),
    }
}

/// The folder of the test orgs (`tests/orgs`).
pub fn orgs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../orgs")
}

/// The chat table's logical name in [`test_org`] (deep links carry it).
pub fn session_table() -> &'static str {
    match test_org() {
        Some(_) => "cts_conversation",
        None => "cb_chatsession",
    }
}
