//! The machine waking up and the network coming back, from the system bus:
//! logind's `PrepareForSleep(false)` (org.freedesktop.login1.Manager, on
//! `/org/freedesktop/login1`) and NetworkManager's `StateChanged` reaching
//! `NM_STATE_CONNECTED_GLOBAL` (70, on `/org/freedesktop/NetworkManager`).
//! ChatBell then checks Dynamics at once instead of waiting out its backoff.
//!
//! Signals are matched by interface, member and path, not by sender: on a bus
//! without logind or NetworkManager nothing comes, and nothing fails.

use std::sync::mpsc;

/// What happened to the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemEvent {
    /// Resumed from sleep or hibernation.
    Resumed,
    /// Going to sleep.
    Sleeping,
    /// The network is up again (full connectivity).
    NetworkUp,
    /// The network went down.
    NetworkDown,
}

/// NetworkManager's `NM_STATE_CONNECTED_GLOBAL`.
const NM_CONNECTED_GLOBAL: u32 = 70;
/// NetworkManager's states up to `NM_STATE_DISCONNECTED` (20).
const NM_DISCONNECTED: u32 = 20;

/// Watches the system bus (`DBUS_SYSTEM_BUS_ADDRESS`, or the system's) from a
/// thread of its own and calls `on_event` for each event, until it returns
/// `false`. Returns at once; without a system bus it logs and does nothing.
pub fn watch(on_event: impl Fn(SystemEvent) -> bool + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("chatbell-system".into())
        .spawn(move || {
            let result = zbus::block_on(async move {
                use futures_lite::StreamExt;
                let conn = zbus::Connection::system().await?;
                // Only these two signals reach this process: no wake-up for the
                // system bus's other traffic.
                let sleep = zbus::MatchRule::builder()
                    .msg_type(zbus::message::Type::Signal)
                    .interface("org.freedesktop.login1.Manager")
                    .member("PrepareForSleep")
                    .path("/org/freedesktop/login1")
                    .build()?;
                let network = zbus::MatchRule::builder()
                    .msg_type(zbus::message::Type::Signal)
                    .interface("org.freedesktop.NetworkManager")
                    .member("StateChanged")
                    .path("/org/freedesktop/NetworkManager")
                    .build()?;
                let sleep = zbus::MessageStream::for_match_rule(sleep, &conn, None).await?;
                let network = zbus::MessageStream::for_match_rule(network, &conn, None).await?;
                let mut stream = sleep.or(network);
                while let Some(msg) = stream.next().await {
                    let Ok(msg) = msg else { continue };
                    let Some(event) = event_of(&msg) else {
                        continue;
                    };
                    tracing::info!(?event, "the system says");
                    if !on_event(event) {
                        break;
                    }
                }
                Ok::<(), zbus::Error>(())
            });
            if let Err(e) = result {
                tracing::info!("no system bus to hear of sleep and network changes from: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch the system bus: {e}");
    }
}

fn event_of(msg: &zbus::Message) -> Option<SystemEvent> {
    let h = msg.header();
    let interface = h.interface()?.to_string();
    let member = h.member()?.to_string();
    let path = h.path()?.to_string();
    match (interface.as_str(), member.as_str(), path.as_str()) {
        ("org.freedesktop.login1.Manager", "PrepareForSleep", "/org/freedesktop/login1") => {
            let going: bool = msg.body().deserialize().ok()?;
            Some(if going {
                SystemEvent::Sleeping
            } else {
                SystemEvent::Resumed
            })
        }
        ("org.freedesktop.NetworkManager", "StateChanged", "/org/freedesktop/NetworkManager") => {
            let state: u32 = msg.body().deserialize().ok()?;
            match state {
                NM_CONNECTED_GLOBAL => Some(SystemEvent::NetworkUp),
                s if s <= NM_DISCONNECTED => Some(SystemEvent::NetworkDown),
                _ => None,
            }
        }
        _ => None,
    }
}

/// [`watch`] into a channel, for callers that would rather receive.
pub fn channel() -> mpsc::Receiver<SystemEvent> {
    let (tx, rx) = mpsc::channel();
    watch(move |e| tx.send(e).is_ok());
    rx
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn signal<B>(path: &str, interface: &str, member: &str, body: B) -> zbus::Message
    where
        B: zbus::export::serde::Serialize + zbus::zvariant::DynamicType,
    {
        zbus::Message::signal(path, interface, member)
            .build(&body)
            .unwrap()
    }

    #[test]
    fn logind_and_network_manager_signals_become_events() {
        let resumed = signal(
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
            "PrepareForSleep",
            false,
        );
        assert_eq!(event_of(&resumed), Some(SystemEvent::Resumed));
        let sleeping = signal(
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
            "PrepareForSleep",
            true,
        );
        assert_eq!(event_of(&sleeping), Some(SystemEvent::Sleeping));
        let up = signal(
            "/org/freedesktop/NetworkManager",
            "org.freedesktop.NetworkManager",
            "StateChanged",
            70u32,
        );
        assert_eq!(event_of(&up), Some(SystemEvent::NetworkUp));
        let connecting = signal(
            "/org/freedesktop/NetworkManager",
            "org.freedesktop.NetworkManager",
            "StateChanged",
            40u32,
        );
        assert_eq!(event_of(&connecting), None);
        let down = signal(
            "/org/freedesktop/NetworkManager",
            "org.freedesktop.NetworkManager",
            "StateChanged",
            20u32,
        );
        assert_eq!(event_of(&down), Some(SystemEvent::NetworkDown));
        let elsewhere = signal(
            "/somewhere/else",
            "org.freedesktop.login1.Manager",
            "PrepareForSleep",
            false,
        );
        assert_eq!(event_of(&elsewhere), None);
    }
}
