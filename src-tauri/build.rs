//! Generates Tauri's build-time context; the config lives at the repository root.

fn main() -> tauri_build::Result<()> {
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
}
