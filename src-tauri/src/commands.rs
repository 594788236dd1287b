// Shared by build.rs (the app manifest) and the crate's tests (the capability).

/// ChatBell's own commands, the only ones the panel may call: the app manifest
/// declares them and `capabilities/default.json` grants each by name.
pub const COMMANDS: &[&str] = &[
    "status",
    "act",
    "withdraw_request",
    "history",
    "get_preferences",
    "set_preferences",
    "start_sign_in",
    "start_browser_sign_in",
    "cancel_sign_in",
    "sign_out",
    "open_verification_uri",
    "use_demo",
    "set_dynamics",
];
