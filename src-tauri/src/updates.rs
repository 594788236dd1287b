//! In-app updates, only where ChatBell updates itself: the AppImage and the
//! Windows installers (NSIS, MSI). A .deb or .rpm install is updated by the
//! package manager and a build from source by whoever built it: for those the
//! updater plugin is not even loaded. The page cannot reach the updater (its
//! capability grants none of the plugin's commands); the panel's process checks
//! by itself, while the panel is open (ChatBell's resident process links no
//! Tauri: it stays small all day).
//!
//! The endpoints and the public key that every update must be signed with are
//! `plugins.updater` in `tauri.conf.json` (README: Updates).

use base64::Engine as _;
use std::time::Duration;
use tauri::utils::config::BundleType;
use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::UpdaterExt as _;

/// The first check, a little after the panel opens; then one a day while it
/// stays open.
const FIRST_CHECK: Duration = Duration::from_secs(20);
const EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// How this ChatBell was installed, as the packager wrote it into the binary.
pub fn installed_as() -> &'static str {
    match tauri::utils::platform::bundle_type() {
        Some(BundleType::Deb) => "deb",
        Some(BundleType::Rpm) => "rpm",
        Some(BundleType::AppImage) => "AppImage",
        Some(BundleType::Msi) => "msi",
        Some(BundleType::Nsis) => "nsis",
        Some(BundleType::App) => "app",
        Some(BundleType::Dmg) => "dmg",
        None => "from source",
    }
}

/// Whether ChatBell updates itself here.
pub fn enabled() -> bool {
    let appimage = std::env::var_os("APPIMAGE").is_some_and(|v| !v.is_empty());
    decide(
        tauri::utils::platform::bundle_type(),
        cfg!(windows),
        appimage,
    )
}

/// Why the updater configuration (`plugins.updater` of `tauri.conf.json`) must
/// not be used, if it must not: every update is checked against the public key
/// in `pubkey`, so without a real key (the placeholder a build starts with) no
/// update could ever be trusted; and updates are fetched over https only.
pub fn refusal(updater: Option<&serde_json::Value>) -> Option<String> {
    let Some(updater) = updater else {
        return Some("no `plugins.updater` in tauri.conf.json".into());
    };
    let key = updater["pubkey"].as_str().unwrap_or_default();
    if let Err(e) = decode_public_key(key) {
        return Some(format!(
            "`plugins.updater.pubkey` is not an update signing key ({e}): see README, Updates"
        ));
    }
    let endpoints = updater["endpoints"].as_array().cloned().unwrap_or_default();
    if endpoints.is_empty() {
        return Some("no `plugins.updater.endpoints`".into());
    }
    for e in &endpoints {
        let e = e.as_str().unwrap_or_default();
        if !e.starts_with("https://") {
            return Some(format!("update endpoint {e:?} is not https"));
        }
    }
    if updater["requireSignedVersion"].as_bool() == Some(false) {
        return Some(
            "`requireSignedVersion` is off: a signed older version could be offered".into(),
        );
    }
    None
}

/// The updater's key format: base64 of a minisign public key file.
fn decode_public_key(key: &str) -> Result<minisign_verify::PublicKey, String> {
    let text = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|_| "not base64".to_string())?;
    let text = String::from_utf8(text).map_err(|_| "not text".to_string())?;
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or("no key line")?;
    minisign_verify::PublicKey::from_base64(line.trim()).map_err(|e| e.to_string())
}

/// `bundle`: what the packager wrote into the binary; `appimage`: the AppImage
/// runtime started it (`$APPIMAGE`).
fn decide(bundle: Option<BundleType>, windows: bool, appimage: bool) -> bool {
    match bundle {
        // The package manager's job, always.
        Some(BundleType::Deb | BundleType::Rpm) => false,
        Some(BundleType::AppImage) => appimage && !windows,
        Some(BundleType::Msi | BundleType::Nsis) => windows,
        // An AppImage built without the packager's mark still says so.
        None => appimage && !windows,
        Some(BundleType::App | BundleType::Dmg) => false,
    }
}

/// Checks for an update now and then; one that is found is downloaded, its
/// signature checked, and installed: on Windows the installer replaces and
/// restarts ChatBell, an AppImage runs the new version from its next start.
pub fn check_in_background<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(FIRST_CHECK).await;
        loop {
            if let Err(e) = check_once(&app).await {
                tracing::warn!("update check: {e}");
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}

async fn check_once<R: Runtime>(app: &AppHandle<R>) -> Result<(), tauri_plugin_updater::Error> {
    let Some(update) = app.updater()?.check().await? else {
        tracing::info!("ChatBell is up to date");
        return Ok(());
    };
    tracing::info!(version = %update.version, "installing a ChatBell update");
    update.download_and_install(|_, _| {}, || {}).await?;
    tracing::info!(version = %update.version, "ChatBell is updated: the new version runs from the next start");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An updater key as `tauri signer generate` prints it (its bytes made up).
    fn a_key() -> String {
        let mut raw = b"Ed".to_vec();
        raw.extend_from_slice(&[7u8; 8]);
        raw.extend_from_slice(&[42u8; 32]);
        let line = base64::engine::general_purpose::STANDARD.encode(raw);
        let file = format!("untrusted comment: minisign public key 0707070707070707\n{line}\n");
        base64::engine::general_purpose::STANDARD.encode(file)
    }

    #[test]
    fn updates_need_a_signing_key_and_https() {
        let good = json!({
            "pubkey": a_key(),
            "endpoints": ["https://updates.example.com/{{target}}"],
            "requireSignedVersion": true,
        });
        assert_eq!(refusal(Some(&good)), None);
        for (bad, why) in [
            (
                json!({"pubkey": "REPLACE WITH THE PUBLIC KEY", "endpoints": ["https://u.example.com"]}),
                "signing key",
            ),
            (
                json!({"pubkey": "", "endpoints": ["https://u.example.com"]}),
                "signing key",
            ),
            (
                json!({"pubkey": a_key(), "endpoints": ["http://u.example.com"]}),
                "not https",
            ),
            (json!({"pubkey": a_key(), "endpoints": []}), "endpoints"),
            (
                json!({"pubkey": a_key(), "endpoints": ["https://u.example.com"], "requireSignedVersion": false}),
                "requireSignedVersion",
            ),
        ] {
            let r = refusal(Some(&bad)).unwrap_or_default();
            assert!(r.contains(why), "{bad}: {r:?}");
        }
        assert!(refusal(None).is_some());
    }

    #[test]
    fn the_committed_configuration_does_not_update_until_a_key_is_put_in() {
        let conf: serde_json::Value = serde_json::from_str(include_str!("../../tauri.conf.json"))
            .expect("tauri.conf.json is JSON");
        let r = refusal(conf.pointer("/plugins/updater")).unwrap_or_default();
        assert!(r.contains("signing key"), "{r:?}");
    }

    #[test]
    fn packages_from_a_package_manager_never_update_themselves() {
        for bundle in [BundleType::Deb, BundleType::Rpm] {
            for windows in [false, true] {
                for appimage in [false, true] {
                    assert!(!decide(Some(bundle.clone()), windows, appimage));
                }
            }
        }
    }

    #[test]
    fn the_appimage_and_the_windows_installers_do() {
        assert!(decide(Some(BundleType::AppImage), false, true));
        assert!(
            !decide(Some(BundleType::AppImage), false, false),
            "extracted, not run as an AppImage"
        );
        assert!(decide(None, false, true));
        assert!(decide(Some(BundleType::Nsis), true, false));
        assert!(decide(Some(BundleType::Msi), true, false));
        assert!(!decide(None, true, false), "a Windows build from source");
        assert!(!decide(None, false, false), "a Linux build from source");
        assert!(!decide(Some(BundleType::App), false, false));
    }
}
