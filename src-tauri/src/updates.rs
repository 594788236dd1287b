//! In-app updates, only where ChatBell updates itself: the AppImage and the
//! Windows installers (NSIS, MSI). A .deb or .rpm install is updated by the
//! package manager and a build from source by whoever built it: for those the
//! updater plugin is not even loaded. The panel cannot reach the updater (its
//! capability grants none of the plugin's commands); ChatBell checks by itself.
//!
//! The endpoints and the public key that every update must be signed with are
//! `plugins.updater` in `tauri.conf.json` (README: Updates).

use std::time::Duration;
use tauri::utils::config::BundleType;
use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::UpdaterExt as _;

/// The first check, a little after the start; then one a day.
const FIRST_CHECK: Duration = Duration::from_secs(120);
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
