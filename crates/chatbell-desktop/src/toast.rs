//! Toasts through the desktop's notification server (notify-rust).
//!
//! One toast per notification key, replaced in place when the notification is
//! updated (R16) and closed when it is withdrawn or acted on (R12). Its buttons
//! are the notification's actions where the server offers action buttons; the
//! toast's own click (the server's "default" action) opens the chat. What the
//! agent clicks comes back as a [`ToastEvent`]; the panel offers every action too
//! (R21), so a server without buttons loses nothing.
//!
//! Customers write names and messages: the text goes out as plain text, with
//! `&`, `<` and `>` escaped where the server reads markup in bodies.
//!
//! Which toast stands for which notification is remembered in a small file
//! (keys and the server's ids, nothing of the text) when the shell gives one:
//! after a crash or a restart ChatBell still updates, closes and hears the
//! clicks of the toasts its last run left on screen, rather than stacking a
//! second toast beside one it can no longer take down (R14, R16). The file
//! names the notification server's connection; a server restarted since (a
//! new login) has other toasts under those ids, and the file is then ignored.
//!
//! Every call talks D-Bus synchronously: call it from a thread that may block
//! (not from an async task).

use chatbell_core::{Action, Notification, NotificationKey};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

/// The hint that carries a toast's notification key (`chat:<uuid>`, ...):
/// servers ignore hints they do not know, and it lets a test or a tool tell
/// which notification a toast stands for.
pub const KEY_HINT: &str = "x-chatbell-key";

/// What the agent did with a toast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToastEvent {
    /// A button, or the toast itself ([`Action::Open`]).
    Invoked {
        key: NotificationKey,
        action: Action,
    },
    /// Closed without an action (expired or dismissed on the server).
    Closed { key: NotificationKey },
}

/// Escapes what a notification server reading markup would take for it.
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// What the notification server can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub actions: bool,
    pub body_markup: bool,
}

struct Shown {
    /// The server's id for the toast.
    id: u32,
}

type ShownMap = Arc<Mutex<HashMap<NotificationKey, Shown>>>;

/// The toasts on screen.
#[derive(Clone)]
pub struct Toasts {
    app_name: String,
    caps: Capabilities,
    shown: ShownMap,
    memory: Option<Memory>,
}

/// Where the toasts on screen are remembered, and for which server.
#[derive(Clone)]
struct Memory {
    file: PathBuf,
    /// The unique bus name of the notification server's connection.
    server: String,
    /// The last save failed (a full disk): said once, until one works again.
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Memory {
    /// The remembered toasts, if the file is this server's.
    fn load(&self) -> HashMap<NotificationKey, Shown> {
        let Ok(text) = std::fs::read_to_string(&self.file) else {
            return HashMap::new();
        };
        parse_memory(&text, &self.server)
    }

    fn save(&self, shown: &HashMap<NotificationKey, Shown>) {
        let text = format_memory(&self.server, shown);
        let tmp = self.file.with_extension("tmp");
        let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &self.file));
        use std::sync::atomic::Ordering;
        match result {
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(file = %self.file.display(), "could not remember the toasts on screen: {e}");
                }
            }
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(file = %self.file.display(), "the toasts on screen are remembered again");
                }
            }
        }
    }
}

/// The memory file's text: `server <name>`, then `<key> <id>` per toast.
fn format_memory(server: &str, shown: &HashMap<NotificationKey, Shown>) -> String {
    let mut lines: Vec<String> = shown.iter().map(|(k, s)| format!("{k} {}", s.id)).collect();
    lines.sort();
    let mut out = format!("server {server}\n");
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Reads a memory file written for `server`; anything else (another server, a
/// damaged line) is left out.
fn parse_memory(text: &str, server: &str) -> HashMap<NotificationKey, Shown> {
    let mut lines = text.lines();
    if lines.next().and_then(|l| l.strip_prefix("server ")) != Some(server) {
        return HashMap::new();
    }
    lines
        .filter_map(|l| {
            let (k, id) = l.split_once(' ')?;
            let key = k.parse::<NotificationKey>().ok()?;
            let id = id.trim().parse::<u32>().ok().filter(|id| *id != 0)?;
            Some((key, Shown { id }))
        })
        .collect()
}

/// The unique name of whoever owns `org.freedesktop.Notifications` now.
fn notification_server_name() -> Option<String> {
    let result = zbus::block_on(async {
        let conn = zbus::Connection::session().await?;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
        let name = zbus::names::BusName::try_from("org.freedesktop.Notifications")?;
        let owner = dbus.get_name_owner(name).await?;
        Ok::<String, zbus::Error>(owner.to_string())
    });
    match result {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::debug!("no notification server's name: {e}");
            None
        }
    }
}

impl Toasts {
    /// Connects to the session's notification server and asks what it can do.
    /// Without one, toasts fail quietly (logged) and the panel remains.
    pub fn connect(app_name: &str, events: mpsc::Sender<ToastEvent>) -> Toasts {
        Self::connect_with_memory(app_name, events, None)
    }

    /// As [`Toasts::connect`], remembering the toasts on screen in `file` (see
    /// the module's documentation) and taking back those a previous run left.
    pub fn connect_remembering(
        app_name: &str,
        events: mpsc::Sender<ToastEvent>,
        file: &Path,
    ) -> Toasts {
        Self::connect_with_memory(app_name, events, Some(file))
    }

    fn connect_with_memory(
        app_name: &str,
        events: mpsc::Sender<ToastEvent>,
        file: Option<&Path>,
    ) -> Toasts {
        let caps = match notify_rust::get_capabilities() {
            Ok(c) => Capabilities {
                actions: c.iter().any(|x| x == "actions"),
                body_markup: c.iter().any(|x| x == "body-markup"),
            },
            Err(e) => {
                tracing::warn!("no notification server answered ({e}): toasts may not show");
                Capabilities::default()
            }
        };
        let memory = file.and_then(|f| {
            notification_server_name().map(|server| Memory {
                file: f.to_path_buf(),
                server,
                failing: Default::default(),
            })
        });
        let remembered = memory.as_ref().map(Memory::load).unwrap_or_default();
        if !remembered.is_empty() {
            tracing::info!(
                toasts = remembered.len(),
                "taking back the toasts the last run left on screen"
            );
        }
        let shown = Arc::new(Mutex::new(remembered));
        listen(shown.clone(), memory.clone(), events);
        Toasts {
            app_name: app_name.to_string(),
            caps,
            shown,
            memory,
        }
    }

    fn remember(&self, shown: &HashMap<NotificationKey, Shown>) {
        if let Some(m) = &self.memory {
            m.save(shown);
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// Shows `n`, or replaces its toast in place.
    pub fn show(&self, n: &Notification) {
        let existing = self
            .shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&n.key)
            .map(|s| s.id);
        let mut toast = notify_rust::Notification::new();
        toast.appname(&self.app_name).summary(&n.title);
        #[cfg(all(unix, not(target_os = "macos")))]
        toast.hint(notify_rust::Hint::Custom(
            KEY_HINT.to_string(),
            n.key.to_string(),
        ));
        // The body already says how many messages it stands for (R16).
        if self.caps.body_markup {
            toast.body(&escape_markup(&n.body));
        } else {
            toast.body(&n.body);
        }
        // The toast's own click opens the chat (R12).
        toast.action("default", Action::Open.label(n.kind));
        if self.caps.actions {
            for a in n.actions.iter().filter(|a| **a != Action::Open) {
                toast.action(a.as_str(), a.label(n.kind));
            }
        }
        if n.kind.asks_for_decision() {
            toast.timeout(notify_rust::Timeout::Never);
            #[cfg(all(unix, not(target_os = "macos")))]
            toast.urgency(notify_rust::Urgency::Critical);
        }
        if let Some(id) = existing {
            toast.id(id);
        }
        let handle = match toast.show() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(key = %n.key, "could not show a toast: {e}");
                return;
            }
        };
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        let new = shown.insert(n.key, Shown { id: handle.id() });
        if new.is_none_or(|old| old.id != handle.id()) {
            self.remember(&shown);
        }
    }

    /// Takes the toast for `key` down, if one is up.
    pub fn close(&self, key: &NotificationKey) {
        let id = {
            let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
            let id = shown.remove(key).map(|s| s.id);
            if id.is_some() {
                self.remember(&shown);
            }
            id
        };
        if let Some(id) = id {
            close_by_id(id);
        }
    }

    /// Closes every toast up for a key not in `live`: after a restart, a toast
    /// the last run left for what was withdrawn while it was going down.
    pub fn keep_only(&self, live: &[NotificationKey]) {
        let gone: Vec<NotificationKey> = self
            .shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|k| !live.contains(k))
            .copied()
            .collect();
        for key in gone {
            self.close(&key);
        }
    }

    /// The keys with a toast up.
    pub fn keys(&self) -> Vec<NotificationKey> {
        self.shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }
}

/// Listens, from a thread of its own, to the server's answers for every toast:
/// subscribed before the first toast is shown, so no click is missed. An action
/// or a close ends the toast (a server sends both for a click: the second finds
/// nothing left to report).
fn listen(shown: ShownMap, memory: Option<Memory>, events: mpsc::Sender<ToastEvent>) {
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("chatbell-toasts".into())
        .spawn(move || {
            let result = zbus::block_on(async move {
                use futures_lite::StreamExt;
                let conn = zbus::Connection::session().await?;
                let rule = zbus::MatchRule::builder()
                    .msg_type(zbus::message::Type::Signal)
                    .interface("org.freedesktop.Notifications")
                    .build()?;
                let mut stream = zbus::MessageStream::for_match_rule(rule, &conn, None).await?;
                let _ = ready_tx.send(());
                while let Some(msg) = stream.next().await {
                    let Ok(msg) = msg else { continue };
                    let member = msg.header().member().map(|m| m.to_string());
                    let (id, answer) = match member.as_deref() {
                        Some("ActionInvoked") => match msg.body().deserialize::<(u32, String)>() {
                            Ok((id, action)) => (id, Some(action)),
                            Err(_) => continue,
                        },
                        Some("NotificationClosed") => {
                            match msg.body().deserialize::<(u32, u32)>() {
                                Ok((id, _reason)) => (id, None),
                                Err(_) => continue,
                            }
                        }
                        _ => continue,
                    };
                    let key = {
                        let mut shown = shown.lock().unwrap_or_else(|p| p.into_inner());
                        let key = shown.iter().find(|(_, s)| s.id == id).map(|(k, _)| *k);
                        if let Some(k) = key {
                            shown.remove(&k);
                            if let Some(m) = &memory {
                                m.save(&shown);
                            }
                        }
                        key
                    };
                    let Some(key) = key else { continue };
                    let event = match answer.as_deref() {
                        Some("default") => Some(ToastEvent::Invoked {
                            key,
                            action: Action::Open,
                        }),
                        None => Some(ToastEvent::Closed { key }),
                        Some(other) => other
                            .parse::<Action>()
                            .ok()
                            .map(|action| ToastEvent::Invoked { key, action }),
                    };
                    if let Some(e) = event {
                        if events.send(e).is_err() {
                            break;
                        }
                    }
                }
                Ok::<(), zbus::Error>(())
            });
            if let Err(e) = result {
                tracing::warn!("not listening to toast clicks: {e}");
            }
        });
    match spawned {
        Ok(_) => {
            // Shown toasts must not race the subscription.
            let _ = ready_rx.recv_timeout(std::time::Duration::from_secs(5));
        }
        Err(e) => tracing::warn!("could not listen to toasts: {e}"),
    }
}

/// Asks the server to close toast `id` (notify-rust closes only through the
/// handle, which the toast's listener holds).
fn close_by_id(id: u32) {
    let result = zbus::block_on(async {
        let conn = zbus::Connection::session().await?;
        conn.call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "CloseNotification",
            &(id,),
        )
        .await?;
        Ok::<(), zbus::Error>(())
    });
    if let Err(e) = result {
        tracing::warn!(id, "could not close a toast: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatbell_core::NotificationKind;

    #[test]
    fn hostile_text_is_escaped_for_markup_servers() {
        assert_eq!(
            escape_markup("<b>Jane</b> & <a href='x'>co</a>\u{7}"),
            "&lt;b&gt;Jane&lt;/b&gt; &amp; &lt;a href='x'&gt;co&lt;/a&gt; "
        );
    }

    #[test]
    fn r14_toast_memory_reads_back_for_the_same_server_only() {
        let chat: NotificationKey = "chat:6f1c2a7e-0000-4000-8000-000000000001"
            .parse()
            .expect("a key");
        let mut shown = HashMap::new();
        shown.insert(chat, Shown { id: 42 });
        let text = format_memory(":1.7", &shown);
        let back = parse_memory(&text, ":1.7");
        assert_eq!(back.get(&chat).map(|s| s.id), Some(42));
        assert!(
            parse_memory(&text, ":1.9").is_empty(),
            "a restarted server's ids are other toasts"
        );
        let damaged = format!("{text}not-a-key 3\nchat:x y\n{chat} 0\n");
        assert_eq!(parse_memory(&damaged, ":1.7").len(), 1);
        assert!(parse_memory("", ":1.7").is_empty());
    }

    #[test]
    fn r12_the_main_action_is_labelled_for_what_it_opens() {
        assert_eq!(
            Action::Open.label(NotificationKind::NewMessage),
            "View chat"
        );
        assert_eq!(
            Action::Yes.label(NotificationKind::AssignToMe),
            "Yes, assign to me"
        );
    }
}
