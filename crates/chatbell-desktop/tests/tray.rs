//! The tray icon against real parts: a private D-Bus session bus (dbus-daemon)
//! and the repository's test tray host, `tests/sni-watcher.py`, which owns
//! org.kde.StatusNotifierWatcher and writes down every item that registers.
//! What a tray host would read is read over D-Bus, as a host reads it.
#![allow(clippy::unwrap_used)]

use chatbell_desktop::badge::{self, Rgba};
use chatbell_desktop::tray::{
    rgba_of_pixmap, Tray, TrayError, TrayEvent, TrayMenuEntry, TrayMenuItem, TrayStatus, ITEM_PATH,
    MENU_PATH,
};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zbus::{Connection, OwnedVariant, Structure, Variant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sni-watcher.py");
const WAIT: Duration = Duration::from_secs(10);

/// A private session bus.
struct Bus {
    daemon: Child,
    address: String,
}

impl Bus {
    fn start() -> Bus {
        let mut daemon = match Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .spawn()
        {
            Ok(d) => d,
            Err(e) => panic!("dbus-daemon is needed (Debian's dbus package): {e}"),
        };
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        Bus {
            daemon,
            address: address.trim().to_string(),
        }
    }

    async fn connect(&self) -> Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await
            .unwrap()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

static FILES: AtomicU32 = AtomicU32::new(0);

fn scratch_file(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "chatbell-tray-{}-{}-{what}",
        std::process::id(),
        FILES.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A registration the tray host wrote down.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Registration {
    name: String,
    path: String,
    pid: u32,
}

/// The test tray host, running on a bus.
struct Host {
    child: Child,
    file: PathBuf,
}

impl Host {
    fn start(bus: &Bus) -> Host {
        let file = scratch_file("registrations");
        let ready = PathBuf::from(format!("{}.ready", file.display()));
        let child = Command::new("/usr/bin/python3")
            .arg(SCRIPT)
            .arg("serve")
            .arg(&file)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .spawn()
            .unwrap();
        let host = Host { child, file };
        let start = Instant::now();
        while !ready.exists() {
            assert!(start.elapsed() < WAIT, "the test tray host did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        host
    }

    fn registrations(&self) -> Vec<Registration> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut parts = l.split(' ');
                Some(Registration {
                    name: parts.next()?.to_string(),
                    path: parts.next()?.to_string(),
                    pid: parts.next()?.parse().ok()?,
                })
            })
            .collect()
    }

    /// The first registration, once there is one.
    fn wait_for_registration(&self) -> Registration {
        let start = Instant::now();
        loop {
            if let Some(r) = self.registrations().into_iter().next() {
                return r;
            }
            assert!(
                start.elapsed() < WAIT,
                "no item registered with the tray host"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_file(format!("{}.ready", self.file.display()));
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The StatusNotifierItem as a tray host reads it.
#[zbus::proxy(interface = "org.kde.StatusNotifierItem")]
trait Item {
    fn activate(&self, x: i32, y: i32) -> zbus::Result<()>;
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn category(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn title(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn status(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn icon_name(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn icon_pixmap(&self) -> zbus::Result<Vec<(i32, i32, Vec<u8>)>>;
    #[zbus(property)]
    fn tool_tip(&self) -> zbus::Result<(String, Vec<(i32, i32, Vec<u8>)>, String, String)>;
    #[zbus(property)]
    fn menu(&self) -> zbus::Result<zbus::OwnedObjectPath>;
    #[zbus(property)]
    fn item_is_menu(&self) -> zbus::Result<bool>;
    #[zbus(property)]
    fn window_id(&self) -> zbus::Result<i32>;
}

type Properties = HashMap<String, OwnedVariant>;

/// The menu as a tray host reads it.
#[zbus::proxy(interface = "com.canonical.dbusmenu")]
trait Menu {
    fn get_layout(
        &self,
        parent_id: i32,
        recursion_depth: i32,
        property_names: &[&str],
    ) -> zbus::Result<(u32, (i32, Properties, Vec<OwnedVariant>))>;
    fn get_group_properties(
        &self,
        ids: &[i32],
        property_names: &[&str],
    ) -> zbus::Result<Vec<(i32, Properties)>>;
    fn event(
        &self,
        id: i32,
        event_id: &str,
        data: &Variant<'_>,
        timestamp: u32,
    ) -> zbus::Result<()>;
    fn event_group(&self, events: &[(i32, &str, Variant<'_>, u32)]) -> zbus::Result<Vec<i32>>;
    fn about_to_show(&self, id: i32) -> zbus::Result<bool>;
    #[zbus(property)]
    fn version(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn status(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn text_direction(&self) -> zbus::Result<String>;
}

async fn item_proxy<'a>(conn: &Connection, name: &'a str) -> ItemProxy<'a> {
    ItemProxy::builder(conn)
        .destination(name)
        .path(ITEM_PATH)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

async fn menu_proxy<'a>(conn: &Connection, name: &'a str) -> MenuProxy<'a> {
    MenuProxy::builder(conn)
        .destination(name)
        .path(MENU_PATH)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

/// A menu line as GetLayout gives it.
#[derive(Debug)]
struct Line {
    id: i32,
    props: Properties,
}

impl Line {
    fn text(&self, name: &str) -> Option<String> {
        self.props
            .get(name)
            .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
    }
    fn int(&self, name: &str) -> Option<i32> {
        self.props
            .get(name)
            .and_then(|v| i32::try_from(v.try_clone().ok()?).ok())
    }
    fn flag(&self, name: &str) -> Option<bool> {
        self.props
            .get(name)
            .and_then(|v| bool::try_from(v.try_clone().ok()?).ok())
    }
}

/// The revision and the root's children.
async fn layout(menu: &MenuProxy<'_>) -> (u32, Vec<Line>) {
    let (revision, (root, _props, children)) = menu.get_layout(0, -1, &[]).await.unwrap();
    assert_eq!(root, 0);
    let lines = children
        .into_iter()
        .map(|child| {
            let structure = Structure::try_from(child).unwrap();
            let (id, props, grandchildren): (i32, Properties, Vec<OwnedVariant>) =
                structure.try_into().unwrap();
            assert!(grandchildren.is_empty());
            Line { id, props }
        })
        .collect();
    (revision, lines)
}

/// The signals the tray sends, heard on a connection of their own and handed
/// over from a thread.
fn hear_signals(bus: &Bus, sender: &str) -> mpsc::Receiver<zbus::Message> {
    let (tx, rx) = mpsc::channel();
    let (subscribed_tx, subscribed) = mpsc::channel();
    let address = bus.address.clone();
    let sender = sender.to_string();
    std::thread::spawn(move || {
        zbus::block_on(async move {
            use futures_lite::StreamExt;
            let conn = zbus::connection::Builder::address(address.as_str())
                .build()
                .await
                .unwrap();
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .sender(sender.as_str())
                .build()
                .unwrap();
            let mut stream = zbus::MessageStream::for_match_rule(rule, &conn, None)
                .await
                .unwrap();
            subscribed_tx.send(()).unwrap();
            while let Some(Ok(msg)) = stream.next().await {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        })
    });
    subscribed.recv_timeout(WAIT).unwrap();
    rx
}

fn member(msg: &zbus::Message) -> String {
    msg.header()
        .member()
        .map(|m| m.to_string())
        .unwrap_or_default()
}

/// The members of the signals heard until none comes for a moment.
fn members_heard(signals: &mpsc::Receiver<zbus::Message>) -> Vec<String> {
    let mut heard = Vec::new();
    while let Ok(msg) = signals.recv_timeout(Duration::from_millis(500)) {
        heard.push(member(&msg));
    }
    heard
}

/// ChatBell's teal square.
fn icon() -> Rgba {
    let px = [0x0F, 0x8B, 0x8D, 0xFF];
    Rgba::new(32, 32, px.repeat(32 * 32)).unwrap()
}

/// An IconPixmap image back into RGBA.
fn rgba_of(pixmap: &(i32, i32, Vec<u8>)) -> Rgba {
    let (w, h, argb) = pixmap;
    rgba_of_pixmap(*w, *h, argb).unwrap()
}

fn chatbell_menu(dnd: bool) -> Vec<TrayMenuEntry> {
    vec![
        TrayMenuItem::new("open-panel", "Open panel").into(),
        TrayMenuEntry::Separator,
        TrayMenuItem::check("dnd", "Do not disturb", dnd).into(),
        TrayMenuItem::check("mute", "Mute sounds", false).into(),
        TrayMenuItem {
            enabled: false,
            ..TrayMenuItem::new("signin", "Sign in")
        }
        .into(),
        TrayMenuEntry::Separator,
        TrayMenuItem::new("quit", "Quit").into(),
    ]
}

fn sendable<F: std::future::Future + Send>(f: F) -> F {
    f
}

fn next_event(events: &mpsc::Receiver<TrayEvent>) -> Option<TrayEvent> {
    events.recv_timeout(Duration::from_secs(5)).ok()
}

fn no_event(events: &mpsc::Receiver<TrayEvent>) -> bool {
    events.recv_timeout(Duration::from_millis(300)).is_err()
}

#[test]
fn tray_registers_with_the_watcher_and_shows_the_badge_as_a_pixmap() {
    let bus = Bus::start();
    let host = Host::start(&bus);
    let badged = badge::draw(&icon(), 3);
    let (conn, tray, _events) = zbus::block_on(async {
        let conn = bus.connect().await;
        let (tray, events) = Tray::start(&conn, "ChatBell", &badged, chatbell_menu(false))
            .await
            .unwrap();
        (conn, tray, events)
    });

    let registered = host.wait_for_registration();
    assert_eq!(registered.name, tray.bus_name());
    assert_eq!(registered.path, ITEM_PATH);
    assert_eq!(
        registered.pid,
        std::process::id(),
        "registered by this process"
    );

    zbus::block_on(async {
        let item = item_proxy(&conn, &registered.name).await;
        assert_eq!(item.id().await.unwrap(), "chatbell");
        assert_eq!(item.category().await.unwrap(), "Communications");
        assert_eq!(item.status().await.unwrap(), "Active");
        assert_eq!(item.title().await.unwrap(), "ChatBell");
        assert_eq!(item.icon_name().await.unwrap(), "");
        assert_eq!(item.menu().await.unwrap().as_str(), MENU_PATH);
        assert!(!item.item_is_menu().await.unwrap());
        assert_eq!(item.window_id().await.unwrap(), 0);
        let (icon_name, pixmaps, title, text) = item.tool_tip().await.unwrap();
        assert_eq!(
            (icon_name.as_str(), title.as_str(), text.as_str()),
            ("", "ChatBell", "")
        );
        assert!(pixmaps.is_empty());

        let pixmaps = item.icon_pixmap().await.unwrap();
        assert_eq!(pixmaps.len(), 1);
        let (w, h, argb) = &pixmaps[0];
        assert_eq!((*w, *h), (32, 32));
        assert_eq!(argb.len(), 32 * 32 * 4);
        // The top-left pixel is the teal of the icon, alpha first.
        assert_eq!(argb[0..4], [0xFF, 0x0F, 0x8B, 0x8D]);
        let back = rgba_of(&pixmaps[0]);
        assert_eq!(
            back, badged,
            "the pixmap is the badged icon, pixel for pixel"
        );
        assert_eq!(badge::read_count(&back).as_deref(), Some("3"));
    });

    // Another D-Bus implementation (python-dbus, as the host uses) reads the same.
    let out = Command::new("/usr/bin/python3")
        .arg(SCRIPT)
        .args(["item", &registered.name, ITEM_PATH])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains(r#""Id": "chatbell""#), "{printed}");
    assert!(
        printed.contains(r#""Category": "Communications""#),
        "{printed}"
    );
    assert!(printed.contains(r#""Status": "Active""#), "{printed}");
    drop(tray);
    host.stop();
}

#[test]
fn each_change_says_its_signal_once_and_a_repeat_says_nothing() {
    let bus = Bus::start();
    let _host = Host::start(&bus);
    let (conn, tray, _events) = zbus::block_on(async {
        let conn = bus.connect().await;
        let (tray, events) = Tray::start(&conn, "ChatBell", &icon(), chatbell_menu(false))
            .await
            .unwrap();
        (conn, tray, events)
    });
    let signals = hear_signals(&bus, tray.bus_name());

    zbus::block_on(async {
        // Sendable, for executors that move tasks between threads (Tauri's).
        sendable(tray.set_icon(&badge::draw(&icon(), 7)))
            .await
            .unwrap();
        // The same picture again: nothing to tell.
        tray.set_icon(&badge::draw(&icon(), 7)).await.unwrap();
        tray.set_tooltip("ChatBell", "7 chats need you")
            .await
            .unwrap();
        tray.set_tooltip("ChatBell", "7 chats need you")
            .await
            .unwrap();
        tray.set_title("ChatBell (7)").await.unwrap();
        tray.set_status(TrayStatus::NeedsAttention).await.unwrap();
        tray.set_status(TrayStatus::NeedsAttention).await.unwrap();
    });
    let heard = members_heard(&signals);
    assert_eq!(
        heard,
        [
            "NewIcon",
            "NewAttentionIcon",
            "NewToolTip",
            "NewTitle",
            "NewStatus"
        ],
        "one signal per change, in order"
    );

    zbus::block_on(async {
        let item = item_proxy(&conn, tray.bus_name()).await;
        let pixmaps = item.icon_pixmap().await.unwrap();
        assert_eq!(
            badge::read_count(&rgba_of(&pixmaps[0])).as_deref(),
            Some("7")
        );
        let (_, _, title, text) = item.tool_tip().await.unwrap();
        assert_eq!(
            (title.as_str(), text.as_str()),
            ("ChatBell", "7 chats need you")
        );
        assert_eq!(item.title().await.unwrap(), "ChatBell (7)");
        assert_eq!(item.status().await.unwrap(), "NeedsAttention");

        // Back to no badge.
        tray.set_icon(&icon()).await.unwrap();
        let pixmaps = item.icon_pixmap().await.unwrap();
        assert_eq!(badge::read_count(&rgba_of(&pixmaps[0])), None);
    });
    assert_eq!(members_heard(&signals), ["NewIcon", "NewAttentionIcon"]);
}

#[test]
fn the_menu_lists_its_items_with_checkmarks_and_a_click_comes_back_as_the_items_id() {
    let bus = Bus::start();
    let (conn, tray, events) = zbus::block_on(async {
        let conn = bus.connect().await;
        let (tray, events) = Tray::start(&conn, "ChatBell", &icon(), chatbell_menu(true))
            .await
            .unwrap();
        (conn, tray, events)
    });

    let lines = zbus::block_on(async {
        let menu = menu_proxy(&conn, tray.bus_name()).await;
        assert_eq!(menu.version().await.unwrap(), 3);
        assert_eq!(menu.status().await.unwrap(), "normal");
        assert_eq!(menu.text_direction().await.unwrap(), "ltr");
        let (_, lines) = layout(&menu).await;
        lines
    });
    let shown: Vec<(Option<String>, Option<String>)> = lines
        .iter()
        .map(|l| (l.text("type"), l.text("label")))
        .collect();
    let label = |s: &str| (None, Some(s.to_string()));
    let separator = (Some("separator".to_string()), None);
    assert_eq!(
        shown,
        [
            label("Open panel"),
            separator.clone(),
            label("Do not disturb"),
            label("Mute sounds"),
            label("Sign in"),
            separator,
            label("Quit"),
        ]
    );
    let by_label = |s: &str| {
        lines
            .iter()
            .find(|l| l.text("label").as_deref() == Some(s))
            .unwrap()
    };
    let dnd = by_label("Do not disturb");
    assert_eq!(dnd.text("toggle-type").as_deref(), Some("checkmark"));
    assert_eq!(dnd.int("toggle-state"), Some(1), "ticked");
    let mute = by_label("Mute sounds");
    assert_eq!(mute.text("toggle-type").as_deref(), Some("checkmark"));
    assert_eq!(mute.int("toggle-state"), Some(0), "not ticked");
    let open = by_label("Open panel");
    assert_eq!(open.text("toggle-type"), None, "a plain item");
    assert_eq!(open.flag("enabled"), None, "enabled, the default");
    let signin = by_label("Sign in");
    assert_eq!(signin.flag("enabled"), Some(false));
    let (dnd_id, signin_id, quit_id) = (dnd.id, signin.id, by_label("Quit").id);

    zbus::block_on(async {
        let menu = menu_proxy(&conn, tray.bus_name()).await;
        // What a host asks as it opens the menu.
        assert!(!menu.about_to_show(0).await.unwrap());
        let props = menu
            .get_group_properties(&[dnd_id], &["label"])
            .await
            .unwrap();
        assert_eq!(props.len(), 1);
        assert_eq!(
            props[0].1.keys().collect::<Vec<_>>(),
            ["label"],
            "only the property asked for"
        );
        // Hovering is not clicking.
        menu.event(dnd_id, "hovered", &Variant::from(0i32), 0)
            .await
            .unwrap();
        menu.event(dnd_id, "clicked", &Variant::from(0i32), 0)
            .await
            .unwrap();
    });
    assert_eq!(next_event(&events), Some(TrayEvent::Menu("dnd".into())));

    zbus::block_on(async {
        let menu = menu_proxy(&conn, tray.bus_name()).await;
        // A disabled item's click is ignored.
        menu.event(signin_id, "clicked", &Variant::from(0i32), 0)
            .await
            .unwrap();
        // An item the menu does not have is an error for the host.
        assert!(menu
            .event(9999, "clicked", &Variant::from(0i32), 0)
            .await
            .is_err());
        menu.event(quit_id, "clicked", &Variant::from(0i32), 0)
            .await
            .unwrap();
    });
    assert_eq!(
        next_event(&events),
        Some(TrayEvent::Menu("quit".into())),
        "nothing from the disabled item or the hover"
    );

    // libdbusmenu, which many hosts use, sends its clicks as EventGroup.
    let errors = zbus::block_on(async {
        let menu = menu_proxy(&conn, tray.bus_name()).await;
        menu.event_group(&[
            (dnd_id, "clicked", Variant::from(0i32), 0),
            (9999, "clicked", Variant::from(0i32), 0),
        ])
        .await
        .unwrap()
    });
    assert_eq!(errors, [9999], "the item the menu does not have");
    assert_eq!(next_event(&events), Some(TrayEvent::Menu("dnd".into())));
    assert!(no_event(&events));
}

#[test]
fn a_new_menu_raises_the_revision_says_layout_updated_and_keeps_item_ids() {
    let bus = Bus::start();
    let (conn, tray, events) = zbus::block_on(async {
        let conn = bus.connect().await;
        let (tray, events) = Tray::start(&conn, "ChatBell", &icon(), chatbell_menu(false))
            .await
            .unwrap();
        (conn, tray, events)
    });
    let (before, lines_before) = zbus::block_on(async {
        let menu = menu_proxy(&conn, tray.bus_name()).await;
        layout(&menu).await
    });
    let signals = hear_signals(&bus, tray.bus_name());

    zbus::block_on(async {
        tray.set_menu(chatbell_menu(true)).await.unwrap();
        // The same menu again: nothing to tell.
        tray.set_menu(chatbell_menu(true)).await.unwrap();
    });
    let first = signals.recv_timeout(WAIT).unwrap();
    let interface = first.header().interface().map(|i| i.to_string());
    assert_eq!(interface.as_deref(), Some("com.canonical.dbusmenu"));
    assert_eq!(member(&first), "LayoutUpdated");
    let (revision, parent): (u32, i32) = first.body().deserialize().unwrap();
    assert_eq!(
        (revision, parent),
        (before + 1, 0),
        "the new revision, from the root"
    );
    assert!(members_heard(&signals).is_empty(), "one LayoutUpdated only");

    let (after, lines_after) = zbus::block_on(async {
        let menu = menu_proxy(&conn, tray.bus_name()).await;
        layout(&menu).await
    });
    assert_eq!(after, before + 1);
    let dnd = |lines: &[Line]| {
        lines
            .iter()
            .find(|l| l.text("label").as_deref() == Some("Do not disturb"))
            .map(|l| (l.id, l.int("toggle-state")))
            .unwrap()
    };
    let (id_before, state_before) = dnd(&lines_before);
    let (id_after, state_after) = dnd(&lines_after);
    assert_eq!((state_before, state_after), (Some(0), Some(1)));
    assert_eq!(id_before, id_after, "the item keeps its number");

    // A click on the number the host had before the change still means "dnd".
    zbus::block_on(async {
        let menu = menu_proxy(&conn, tray.bus_name()).await;
        menu.event(id_before, "clicked", &Variant::from(0i32), 0)
            .await
            .unwrap();
    });
    assert_eq!(next_event(&events), Some(TrayEvent::Menu("dnd".into())));
}

#[test]
fn a_click_on_the_icon_is_heard_as_activate() {
    let bus = Bus::start();
    let (conn, tray, events) = zbus::block_on(async {
        let conn = bus.connect().await;
        let (tray, events) = Tray::start(&conn, "ChatBell", &icon(), chatbell_menu(false))
            .await
            .unwrap();
        (conn, tray, events)
    });
    zbus::block_on(async {
        let item = item_proxy(&conn, tray.bus_name()).await;
        item.activate(100, 20).await.unwrap();
    });
    assert_eq!(next_event(&events), Some(TrayEvent::Activate));
    assert!(no_event(&events));
}

#[test]
fn a_tray_host_started_after_chatbell_or_restarted_still_gets_the_icon() {
    let bus = Bus::start();
    let (_conn, tray, _events) = zbus::block_on(async {
        let conn = bus.connect().await;
        let (tray, events) = Tray::start(&conn, "ChatBell", &icon(), chatbell_menu(false))
            .await
            .unwrap();
        (conn, tray, events)
    });
    // No host yet: the tray waits without failing.
    std::thread::sleep(Duration::from_millis(200));

    let host = Host::start(&bus);
    let registered = host.wait_for_registration();
    assert_eq!(registered.name, tray.bus_name());
    assert_eq!(registered.pid, std::process::id());
    host.stop();

    // The desktop's panel restarted.
    let again = Host::start(&bus);
    let registered = again.wait_for_registration();
    assert_eq!(registered.name, tray.bus_name());
}

#[test]
fn a_second_tray_on_one_connection_is_refused_and_a_closed_tray_leaves_the_bus() {
    let bus = Bus::start();
    let (conn, tray, events) = zbus::block_on(async {
        let conn = bus.connect().await;
        let (tray, events) = Tray::start(&conn, "ChatBell", &icon(), chatbell_menu(false))
            .await
            .unwrap();
        (conn, tray, events)
    });
    let name = tray.bus_name().to_string();
    zbus::block_on(async {
        let second = Tray::start(&conn, "ChatBell", &icon(), chatbell_menu(false)).await;
        assert!(matches!(second, Err(TrayError::AlreadyServed)));
        let item = item_proxy(&conn, &name).await;
        assert_eq!(item.id().await.unwrap(), "chatbell", "the first one stays");

        tray.close().await.unwrap();
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        let owned = dbus
            .name_has_owner(name.as_str().try_into().unwrap())
            .await
            .unwrap();
        assert!(!owned, "the item's name is given up");
        let item = item_proxy(&conn, conn.unique_name().unwrap().as_str()).await;
        assert!(item.id().await.is_err(), "nothing served at {ITEM_PATH}");
    });
    assert!(
        matches!(
            events.recv_timeout(WAIT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ),
        "the events end"
    );
}
