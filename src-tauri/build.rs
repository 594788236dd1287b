//! Generates Tauri's build-time context; the config lives at the repository root.
//! The panel is embedded from `ui/dist`, which `./dev` builds with npm first.
//! The app manifest lists ChatBell's own commands, so that the panel's
//! capability (`capabilities/default.json`) grants exactly those.

include!("src/commands.rs");

fn main() -> tauri_build::Result<()> {
    println!("cargo:rerun-if-changed=../ui/dist");
    if !std::path::Path::new("../ui/dist/index.html").exists() {
        println!(
            "cargo:warning=the panel is not built: run `./dev run` or `./dev test`, \
             or `cd ui && npm ci && npm run build`"
        );
    }
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .config_path("../tauri.conf.json")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
}
