//! `chatbell doctor`: what this desktop offers ChatBell, and what to fix.

use std::time::Duration;

/// One check's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub what: &'static str,
    pub ok: bool,
    /// What was found, or what to do about it.
    pub detail: String,
}

/// Whether `name` has an owner on the session bus.
fn has_owner(name: &str) -> Result<bool, String> {
    zbus::block_on(async {
        let conn = zbus::Connection::session().await?;
        let reply = conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "NameHasOwner",
                &(name,),
            )
            .await?;
        reply.body().deserialize::<bool>()
    })
    .map_err(|e| e.to_string())
}

/// The notification server (toasts), with its name and whether it has buttons.
pub fn notification_server() -> Finding {
    let what = "notification server (toasts)";
    match notify_rust::get_server_information() {
        Ok(info) => {
            let buttons = notify_rust::get_capabilities()
                .map(|c| c.iter().any(|x| x == "actions"))
                .unwrap_or(false);
            Finding {
                what,
                ok: true,
                detail: format!(
                    "{} {}{}",
                    info.name,
                    info.version,
                    if buttons {
                        ", with action buttons"
                    } else {
                        ", without action buttons: use the panel for actions"
                    }
                ),
            }
        }
        Err(e) => Finding {
            what,
            ok: false,
            detail: format!(
                "none answers ({e}): install or enable your desktop's notification daemon; \
                 the panel still shows everything"
            ),
        },
    }
}

/// A tray host (StatusNotifierWatcher) for the tray icon.
pub fn tray_host() -> Finding {
    let what = "tray host";
    match has_owner("org.kde.StatusNotifierWatcher") {
        Ok(true) => Finding {
            what,
            ok: true,
            detail: "a StatusNotifierWatcher is running".into(),
        },
        Ok(false) => Finding {
            what,
            ok: false,
            detail: "no StatusNotifierWatcher on the session bus: on GNOME, enable the \
                     AppIndicator extension; or run `chatbell --headless`"
                .into(),
        },
        Err(e) => Finding {
            what,
            ok: false,
            detail: format!("no session bus ({e})"),
        },
    }
}

/// A keychain (Secret Service) to remember the sign-in.
pub fn keychain() -> Finding {
    let what = "keychain";
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return Finding {
            what,
            ok: true,
            detail: "the system keychain".into(),
        };
    }
    match has_owner("org.freedesktop.secrets") {
        Ok(true) => Finding {
            what,
            ok: true,
            detail: "a Secret Service is running".into(),
        },
        _ => Finding {
            what,
            ok: false,
            detail: "no Secret Service (e.g. gnome-keyring): the sign-in is kept in memory \
                     only and asked again at each start"
                .into(),
        },
    }
}

/// A sound device.
pub fn sound_device() -> Finding {
    let what = "sound device";
    // Opening the device can take a moment on some systems: bounded.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(crate::sound::Speakers::open().map(|_| ()));
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => Finding {
            what,
            ok: true,
            detail: "the default output opens".into(),
        },
        Ok(Err(e)) => Finding {
            what,
            ok: false,
            detail: format!("{e}: ChatBell runs silent"),
        },
        Err(_) => Finding {
            what,
            ok: false,
            detail: "the default output did not open within 5 s".into(),
        },
    }
}
