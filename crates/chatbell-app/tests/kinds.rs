//! The panel's kinds and actions (`ui/src/kinds.ts`) are the core's: one
//! definition per notification kind and action label, read by the store,
//! `status --json`, the toasts and the panel alike.

use chatbell_app::view::panel_kinds_typescript;
use chatbell_core::{Action, NotificationKind};

#[test]
fn the_panels_kinds_file_is_generated_from_the_core() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/kinds.ts");
    let expected = panel_kinds_typescript();
    if std::env::var_os("CHATBELL_BLESS").is_some() {
        std::fs::write(&path, &expected).expect("ui/src/kinds.ts is writable");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "ui/src/kinds.ts differs from the core's kinds and actions: run \
         CHATBELL_BLESS=1 cargo test -p chatbell-app --test kinds, and commit it"
    );
}

#[test]
fn r12_a_toast_and_the_panel_name_each_action_the_same_way() {
    let ts = panel_kinds_typescript();
    for kind in NotificationKind::ALL {
        // The panel's label for "open" on this kind is the toast's.
        let line = format!(
            "  {}: {},",
            kind.wire(),
            serde_json::json!(Action::Open.label(kind))
        );
        assert!(ts.contains(&line), "{line} missing");
    }
    assert_eq!(
        Action::Open.label(NotificationKind::NewMessage),
        "View chat"
    );
    assert_eq!(
        Action::BlockAnyway.label(NotificationKind::ActionFailed),
        "Block anyway"
    );
}
