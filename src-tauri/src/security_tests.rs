//! What the panel may do, read from the files that decide it: the capability
//! grants ChatBell's own commands and nothing else, and the content security
//! policy admits no remote or inline code.

use crate::commands::COMMANDS;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn json(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn capability_grants_the_panel_only_chatbells_own_commands() {
    let cap = json("capabilities/default.json");
    assert_eq!(cap["windows"], serde_json::json!(["panel"]));
    assert!(
        cap.get("remote").is_none(),
        "no remote origin may call commands"
    );
    let granted: BTreeSet<String> = cap["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .map(|p| p.as_str().expect("a permission by name").to_string())
        .collect();
    let mut expected: BTreeSet<String> = COMMANDS
        .iter()
        .map(|c| format!("allow-{}", c.replace('_', "-")))
        .collect();
    expected.insert("core:event:allow-listen".into());
    expected.insert("core:event:allow-unlisten".into());
    // The panel's own errors, to ChatBell's log files (tauri-plugin-log).
    expected.insert("log:allow-log".into());
    assert_eq!(granted, expected);
}

#[test]
fn csp_admits_no_remote_or_inline_code() {
    let conf = json("../tauri.conf.json");
    let csp = conf["app"]["security"]["csp"]
        .as_str()
        .expect("a CSP is set");
    let directives: Vec<(&str, Vec<&str>)> = csp
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut words = d.split_whitespace();
            (words.next().unwrap_or(""), words.collect())
        })
        .collect();
    let get = |name: &str| {
        directives
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
    };
    assert_eq!(get("default-src"), ["'self'"]);
    assert_eq!(get("script-src"), ["'self'"]);
    assert_eq!(get("object-src"), ["'none'"]);
    assert_eq!(get("base-uri"), ["'none'"]);
    for (name, sources) in &directives {
        for s in sources {
            assert!(
                !s.contains("unsafe") && *s != "*" && !s.starts_with("https:"),
                "{name} admits {s}"
            );
            if s.starts_with("http://") {
                // Tauri's own IPC endpoint is the only http source.
                assert_eq!((*name, *s), ("connect-src", "http://ipc.localhost"));
            }
        }
    }
    let security = &conf["app"]["security"];
    assert!(security
        .get("dangerousDisableAssetCspModification")
        .is_none());
    assert!(security.get("dangerousRemoteDomainIpcAccess").is_none());
    // Every window is the panel, made at run time from the embedded files.
    assert_eq!(conf["app"]["windows"], serde_json::json!([]));
    assert!(conf["build"].get("devUrl").is_none());
}
