//! What the tests run on the private session bus: a notification server that owns
//! `org.freedesktop.Notifications`, records every Notify and CloseNotification
//! and clicks like a person would (`ActionInvoked`, then `NotificationClosed`);
//! and a `StatusNotifierWatcher` (with a host) that sees the tray item, so that
//! the tray icon can be read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::OwnedVariant;

/// One call to `Notify`.
#[derive(Clone, Debug)]
pub struct Notify {
    /// The id the server gave (the same as `replaces` when it replaced one).
    pub id: u32,
    pub replaces: u32,
    /// The pid of the process that sent it.
    pub pid: Option<u32>,
    pub app: String,
    pub summary: String,
    pub body: String,
    /// (key, label) pairs.
    pub actions: Vec<(String, String)>,
    pub urgency: Option<u8>,
    pub timeout: i32,
    /// ChatBell's notification key (its `x-chatbell-key` hint).
    pub key: Option<String>,
    pub at: Instant,
}

impl Notify {
    /// The action keys offered, in order.
    pub fn action_keys(&self) -> Vec<&str> {
        self.actions.iter().map(|(k, _)| k.as_str()).collect()
    }
    /// The label of an action.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.actions
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, l)| l.as_str())
    }
    /// Summary and body together, for searching.
    pub fn text(&self) -> String {
        format!("{} | {}", self.summary, self.body)
    }
}

/// What happened on the notification server, in order.
#[derive(Clone, Debug)]
pub enum Event {
    Notify(Notify),
    /// `CloseNotification(id)` from a client.
    Close {
        id: u32,
        pid: Option<u32>,
        at: Instant,
    },
    /// The server closed it itself (a click, as a person would).
    ClosedByServer {
        id: u32,
        at: Instant,
    },
}

#[derive(Default)]
struct Log {
    events: Vec<Event>,
    next: u32,
}

/// The recorded events, shared with the server.
#[derive(Clone, Default)]
pub struct Toasts {
    log: Arc<Mutex<Log>>,
}

impl Toasts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }
    /// How many events so far (a mark to look after).
    pub fn mark(&self) -> usize {
        self.lock().events.len()
    }
    /// Every Notify since `mark`.
    pub fn notifies_since(&self, mark: usize) -> Vec<Notify> {
        self.lock()
            .events
            .iter()
            .skip(mark)
            .filter_map(|e| match e {
                Event::Notify(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }
    /// Every Notify since `mark` whose summary or body contains `text`.
    pub fn matching(&self, mark: usize, text: &str) -> Vec<Notify> {
        self.notifies_since(mark)
            .into_iter()
            .filter(|n| n.text().contains(text))
            .collect()
    }
    /// Whether toast `id` was closed (by its client or by a click) since `mark`.
    pub fn closed_since(&self, mark: usize, id: u32) -> bool {
        self.lock().events.iter().skip(mark).any(|e| match e {
            Event::Close { id: i, .. } | Event::ClosedByServer { id: i, .. } => *i == id,
            _ => false,
        })
    }
    /// Whether the client itself closed toast `id` since `mark`.
    pub fn closed_by_client_since(&self, mark: usize, id: u32) -> bool {
        self.lock()
            .events
            .iter()
            .skip(mark)
            .any(|e| matches!(e, Event::Close { id: i, .. } if *i == id))
    }
    /// Whether toast `id` is up: shown (or replaced) and not closed since.
    pub fn is_up(&self, id: u32) -> bool {
        let mut up = false;
        for e in self.lock().events.iter() {
            match e {
                Event::Notify(n) if n.id == id => up = true,
                Event::Close { id: i, .. } | Event::ClosedByServer { id: i, .. } if *i == id => {
                    up = false
                }
                _ => {}
            }
        }
        up
    }
    fn closed_by_server(&self, id: u32) {
        self.lock().events.push(Event::ClosedByServer {
            id,
            at: Instant::now(),
        });
    }
    /// Writes every event to a text file (artefacts).
    pub fn dump(&self, path: &std::path::Path) {
        let start = self.lock().events.first().map(|e| match e {
            Event::Notify(n) => n.at,
            Event::Close { at, .. } | Event::ClosedByServer { at, .. } => *at,
        });
        let mut out = String::new();
        for e in self.events() {
            let (at, line) = match &e {
                Event::Notify(n) => (
                    n.at,
                    format!(
                        "NOTIFY id={} replaces={} pid={:?} key={:?} urgency={:?} timeout={} summary={:?} body={:?} actions={:?}",
                        n.id, n.replaces, n.pid, n.key, n.urgency, n.timeout, n.summary, n.body, n.actions
                    ),
                ),
                Event::Close { id, pid, at } => (*at, format!("CLOSE id={id} pid={pid:?}")),
                Event::ClosedByServer { id, at } => (*at, format!("CLOSED-BY-SERVER id={id}")),
            };
            let t = start.map_or(0.0, |s| at.duration_since(s).as_secs_f64());
            out.push_str(&format!("{t:9.3} {line}\n"));
        }
        let _ = std::fs::write(path, out);
    }
}

async fn pid_of(conn: &zbus::Connection, hdr: &Header<'_>) -> Option<u32> {
    let sender = hdr.sender()?.to_owned();
    let dbus = zbus::fdo::DBusProxy::new(conn).await.ok()?;
    dbus.get_connection_unix_process_id(sender.into())
        .await
        .ok()
}

struct NotificationServer {
    toasts: Toasts,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl NotificationServer {
    fn get_capabilities(&self) -> Vec<String> {
        ["actions", "body", "persistence"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &mut self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedVariant>,
        expire_timeout: i32,
    ) -> u32 {
        let pid = pid_of(conn, &hdr).await;
        let urgency = hints
            .get("urgency")
            .and_then(|v| v.try_clone().ok())
            .and_then(|v| u8::try_from(v).ok());
        let key = hints
            .get("x-chatbell-key")
            .and_then(|v| v.try_clone().ok())
            .and_then(|v| String::try_from(v).ok());
        let pairs = actions
            .chunks(2)
            .map(|c| {
                (
                    c.first().cloned().unwrap_or_default(),
                    c.get(1).cloned().unwrap_or_default(),
                )
            })
            .collect();
        let mut log = self.toasts.lock();
        let id = if replaces_id != 0 {
            replaces_id
        } else {
            log.next += 1;
            log.next
        };
        log.events.push(Event::Notify(Notify {
            id,
            replaces: replaces_id,
            pid,
            app: app_name,
            summary,
            body,
            actions: pairs,
            urgency,
            timeout: expire_timeout,
            key,
            at: Instant::now(),
        }));
        id
    }

    async fn close_notification(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
        id: u32,
    ) {
        let pid = pid_of(conn, &hdr).await;
        self.toasts.lock().events.push(Event::Close {
            id,
            pid,
            at: Instant::now(),
        });
        // 3: closed by a call to CloseNotification.
        let _ = Self::notification_closed(&emitter, id, 3).await;
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "chatbell-e2e".into(),
            "chatbell".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;
}

/// A dbusmenu layout node: id, properties, children (each a variant of a node).
type MenuNode = (i32, HashMap<String, OwnedVariant>, Vec<OwnedVariant>);

/// A tray item that registered with the watcher.
#[derive(Clone, Debug)]
pub struct TrayItem {
    /// The unique bus name of its connection.
    pub bus_name: String,
    /// Its object path (or the name it registered with).
    pub path: String,
    pub pid: Option<u32>,
}

#[derive(Clone, Default)]
pub struct Tray {
    items: Arc<Mutex<Vec<TrayItem>>>,
}

impl Tray {
    /// The items registered so far (newest last).
    pub fn items(&self) -> Vec<TrayItem> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

struct Watcher {
    tray: Tray,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
        service: String,
    ) {
        let sender = hdr.sender().map(|s| s.to_string()).unwrap_or_default();
        let (bus_name, path) = if service.starts_with('/') {
            (sender.clone(), service.clone())
        } else {
            (service.clone(), "/StatusNotifierItem".to_string())
        };
        let pid = pid_of(conn, &hdr).await;
        self.tray
            .items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(TrayItem {
                bus_name: bus_name.clone(),
                path: path.clone(),
                pid,
            });
        let _ = Self::status_notifier_item_registered(&emitter, &format!("{bus_name}{path}")).await;
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.tray
            .items()
            .iter()
            .map(|i| format!("{}{}", i.bus_name, i.path))
            .collect()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

/// The tests' own connection to the session bus, owning the notification server
/// and the tray watcher.
pub struct DesktopBus {
    pub conn: zbus::Connection,
    pub toasts: Toasts,
    pub tray: Tray,
}

const NOTIFICATIONS_PATH: &str = "/org/freedesktop/Notifications";

impl DesktopBus {
    /// Connects to `address` and owns both names.
    pub async fn start(address: &str) -> Result<DesktopBus, String> {
        let toasts = Toasts::default();
        let tray = Tray::default();
        let conn = zbus::connection::Builder::address(address)
            .name("org.freedesktop.Notifications")
            .name("org.kde.StatusNotifierWatcher")
            .serve_at(
                NOTIFICATIONS_PATH,
                NotificationServer {
                    toasts: toasts.clone(),
                },
            )
            .serve_at("/StatusNotifierWatcher", Watcher { tray: tray.clone() })
            .build()
            .await
            .map_err(|e| format!("cannot serve on the session bus: {e}"))?;
        Ok(DesktopBus { conn, toasts, tray })
    }

    /// Whether `name` has an owner on the bus.
    pub async fn has_owner(&self, name: &str) -> bool {
        let Ok(dbus) = zbus::fdo::DBusProxy::new(&self.conn).await else {
            return false;
        };
        let Ok(name) = zbus::names::BusName::try_from(name) else {
            return false;
        };
        dbus.name_has_owner(name).await.unwrap_or(false)
    }

    /// Clicks toast `id`'s action `key` (`default` is the toast itself) as a person
    /// would: `ActionInvoked`, then the server closes it (`NotificationClosed`, 2).
    pub async fn click(&self, id: u32, key: &str) -> Result<(), String> {
        let emitter =
            SignalEmitter::new(&self.conn, NOTIFICATIONS_PATH).map_err(|e| e.to_string())?;
        NotificationServer::action_invoked(&emitter, id, key)
            .await
            .map_err(|e| format!("ActionInvoked: {e}"))?;
        self.toasts.closed_by_server(id);
        NotificationServer::notification_closed(&emitter, id, 2)
            .await
            .map_err(|e| format!("NotificationClosed: {e}"))
    }

    /// Clicks the tray menu's item labelled `label` as the desktop's tray host does
    /// (the item's `Menu` over com.canonical.dbusmenu: `Event(id, "clicked")`).
    pub async fn click_tray_menu(&self, item: &TrayItem, label: &str) -> Result<(), String> {
        let menu = zbus::OwnedObjectPath::try_from(self.tray_variant(item, "Menu").await?)
            .map_err(|e| format!("Menu: {e}"))?;
        let reply = self
            .conn
            .call_method(
                Some(item.bus_name.as_str()),
                menu.as_str(),
                Some("com.canonical.dbusmenu"),
                "GetLayout",
                &(0i32, -1i32, vec!["label"]),
            )
            .await
            .map_err(|e| format!("GetLayout: {e}"))?;
        let (_revision, root): (u32, MenuNode) = reply
            .body()
            .deserialize()
            .map_err(|e| format!("GetLayout: {e}"))?;
        let mut labels = Vec::new();
        let mut found = None;
        let mut stack = vec![root];
        while let Some((id, props, children)) = stack.pop() {
            let l = props
                .get("label")
                .and_then(|v| v.try_clone().ok())
                .and_then(|v| String::try_from(v).ok());
            if let Some(l) = l {
                let plain = l.replace('_', "");
                if plain == label {
                    found = Some(id);
                }
                labels.push(plain);
            }
            for c in children {
                if let Ok(node) = MenuNode::try_from(c) {
                    stack.push(node);
                }
            }
        }
        let id = found.ok_or_else(|| format!("no tray menu item {label:?} in {labels:?}"))?;
        self.conn
            .call_method(
                Some(item.bus_name.as_str()),
                menu.as_str(),
                Some("com.canonical.dbusmenu"),
                "Event",
                &(id, "clicked", zbus::Variant::from(0i32), 0u32),
            )
            .await
            .map_err(|e| format!("Event clicked: {e}"))?;
        Ok(())
    }

    async fn tray_variant(&self, item: &TrayItem, name: &str) -> Result<OwnedVariant, String> {
        let reply = self
            .conn
            .call_method(
                Some(item.bus_name.as_str()),
                item.path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.kde.StatusNotifierItem", name),
            )
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        reply
            .body()
            .deserialize()
            .map_err(|e| format!("{name}: {e}"))
    }

    /// A tray item's `IconPixmap`: its images as (width, height, ARGB32 in
    /// network byte order).
    pub async fn tray_pixmaps(&self, item: &TrayItem) -> Result<Vec<(i32, i32, Vec<u8>)>, String> {
        let v = self.tray_variant(item, "IconPixmap").await?;
        let v = zbus::Variant::from(v);
        let images: zbus::Array = v
            .downcast()
            .map_err(|e| format!("IconPixmap is not an array: {e}"))?;
        let mut out = Vec::new();
        for image in images.iter() {
            let image = image.try_clone().map_err(|e| format!("IconPixmap: {e}"))?;
            let (w, h, bytes): (i32, i32, Vec<u8>) = image
                .downcast()
                .map_err(|e| format!("IconPixmap image: {e}"))?;
            out.push((w, h, bytes));
        }
        Ok(out)
    }

    /// Reads a string property of a tray item.
    pub async fn tray_property(&self, item: &TrayItem, name: &str) -> Result<String, String> {
        let reply = self
            .conn
            .call_method(
                Some(item.bus_name.as_str()),
                item.path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.kde.StatusNotifierItem", name),
            )
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        let v: OwnedVariant = reply
            .body()
            .deserialize()
            .map_err(|e| format!("{name}: {e}"))?;
        String::try_from(v).map_err(|e| format!("{name}: {e}"))
    }
}
