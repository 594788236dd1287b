//! ChatBell's tray icon without GTK: a StatusNotifierItem on the session bus
//! (the tray protocol of KDE Plasma, GNOME's AppIndicator extension, waybar,
//! Xfce and most other desktops) with its menu served as `com.canonical.dbusmenu`.
//!
//! The item lives at [`ITEM_PATH`], its menu at [`MENU_PATH`]. The item is
//! registered with the desktop's `org.kde.StatusNotifierWatcher`, and again each
//! time a watcher appears (a tray host started, or restarted, after ChatBell):
//! ChatBell listens for that one name changing owner, so nothing else on the bus
//! wakes it.
//!
//! The icon goes to the host as pixels (`IconPixmap`), so the unread badge that
//! [`crate::badge::draw`] puts on the icon reaches the tray without a file.
//!
//! Nothing runs while nothing changes: a signal goes out only when the icon, the
//! tooltip, the title, the status or the menu is set to something new. What the
//! agent does with the icon (a click, a menu item) comes back as a [`TrayEvent`].

use crate::badge::Rgba;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use zbus::object_server::SignalEmitter;
use zbus::{fdo, Connection, OwnedObjectPath, OwnedVariant, Str, Structure};

/// Where the StatusNotifierItem is served.
pub const ITEM_PATH: &str = "/StatusNotifierItem";
/// Where the item's menu is served.
pub const MENU_PATH: &str = "/MenuBar";

const WATCHER: &str = "org.kde.StatusNotifierWatcher";
const WATCHER_PATH: &str = "/StatusNotifierWatcher";
const ITEM_INTERFACE: &str = "org.kde.StatusNotifierItem";

/// One entry of the tray menu that the agent can click.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrayMenuItem {
    /// What [`TrayEvent::Menu`] says when the item is clicked; unique in a menu.
    pub id: String,
    pub label: String,
    /// `Some` makes it a checkmark item, ticked when `true`.
    pub checked: Option<bool>,
    /// A disabled item is shown greyed and its clicks are ignored.
    pub enabled: bool,
}

impl TrayMenuItem {
    /// An enabled item without a checkmark.
    pub fn new(id: &str, label: &str) -> TrayMenuItem {
        TrayMenuItem {
            id: id.to_string(),
            label: label.to_string(),
            checked: None,
            enabled: true,
        }
    }

    /// An enabled checkmark item.
    pub fn check(id: &str, label: &str, checked: bool) -> TrayMenuItem {
        TrayMenuItem {
            checked: Some(checked),
            ..TrayMenuItem::new(id, label)
        }
    }
}

/// A line of the tray menu: an item, or a separator between items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrayMenuEntry {
    Item(TrayMenuItem),
    Separator,
}

impl From<TrayMenuItem> for TrayMenuEntry {
    fn from(item: TrayMenuItem) -> TrayMenuEntry {
        TrayMenuEntry::Item(item)
    }
}

/// How much the icon asks for the agent's attention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrayStatus {
    /// Shown as usual.
    #[default]
    Active,
    /// Something waits for the agent: hosts may highlight or blink the icon.
    NeedsAttention,
}

impl TrayStatus {
    fn as_str(self) -> &'static str {
        match self {
            TrayStatus::Active => "Active",
            TrayStatus::NeedsAttention => "NeedsAttention",
        }
    }
}

/// What the agent did with the tray icon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrayEvent {
    /// The icon itself was clicked (the host's primary activation).
    Activate,
    /// A menu item was clicked: its [`TrayMenuItem::id`].
    Menu(String),
}

/// Why the tray icon could not be shown or changed.
#[derive(Debug, thiserror::Error)]
pub enum TrayError {
    #[error("the session bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("a tray icon of {width}x{height} cannot be made of {got} bytes of RGBA")]
    BadIcon { width: u32, height: u32, got: usize },
    #[error("the tray menu has two items with the id {0:?}")]
    DuplicateMenuId(String),
    #[error("another tray icon is already served on this connection")]
    AlreadyServed,
    #[error("no thread to hear the tray host from: {0}")]
    Thread(#[source] std::io::Error),
}

/// One image of `IconPixmap`: width, height, ARGB32 in network byte order.
type Pixmap = (i32, i32, Vec<u8>);

/// The icon as the StatusNotifierItem protocol carries it: each RGBA pixel
/// becomes A, R, G, B. An empty image gives no pixmap at all.
pub fn argb_pixmaps(icon: &Rgba) -> Result<Vec<(i32, i32, Vec<u8>)>, TrayError> {
    let bad = || TrayError::BadIcon {
        width: icon.width,
        height: icon.height,
        got: icon.pixels.len(),
    };
    let expected = (icon.width as usize)
        .checked_mul(icon.height as usize)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(bad)?;
    if icon.pixels.len() != expected {
        return Err(bad());
    }
    if expected == 0 {
        return Ok(Vec::new());
    }
    let width = i32::try_from(icon.width).map_err(|_| bad())?;
    let height = i32::try_from(icon.height).map_err(|_| bad())?;
    let argb = icon
        .pixels
        .chunks_exact(4)
        .flat_map(|p| [p[3], p[0], p[1], p[2]])
        .collect();
    Ok(vec![(width, height, argb)])
}

/// One `IconPixmap` image back into RGBA, as a tray host would draw it (the
/// end-to-end tests read the badge from it). `None` when the sizes do not
/// describe the bytes.
pub fn rgba_of_pixmap(width: i32, height: i32, argb: &[u8]) -> Option<Rgba> {
    let width = u32::try_from(width).ok()?;
    let height = u32::try_from(height).ok()?;
    let expected = (width as usize)
        .checked_mul(height as usize)?
        .checked_mul(4)?;
    if argb.len() != expected {
        return None;
    }
    let pixels = argb
        .chunks_exact(4)
        .flat_map(|p| [p[1], p[2], p[3], p[0]])
        .collect();
    Rgba::new(width, height, pixels).ok()
}

/// A menu line with the number the dbusmenu protocol knows it by.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Numbered {
    number: i32,
    entry: TrayMenuEntry,
}

/// Everything the host reads, shared by the served objects and [`Tray`].
struct State {
    title: String,
    status: TrayStatus,
    pixmaps: Vec<Pixmap>,
    tooltip: (String, String),
    menu: Vec<Numbered>,
    /// The layout's revision, raised with every new menu.
    revision: u32,
    /// The number each item id got, kept for as long as the tray lives so that
    /// a click on a menu shown before a change still reaches the right item.
    numbers: HashMap<String, i32>,
    /// The numbers of the separators, first, second, ...
    separator_numbers: Vec<i32>,
    next_number: i32,
}

impl State {
    fn new(title: &str, pixmaps: Vec<Pixmap>) -> State {
        State {
            title: title.to_string(),
            status: TrayStatus::Active,
            pixmaps,
            tooltip: (title.to_string(), String::new()),
            menu: Vec::new(),
            revision: 1,
            numbers: HashMap::new(),
            separator_numbers: Vec::new(),
            next_number: 1,
        }
    }

    fn is_showing(&self, menu: &[TrayMenuEntry]) -> bool {
        self.menu.iter().map(|n| &n.entry).eq(menu.iter())
    }

    fn number_menu(&mut self, menu: &[TrayMenuEntry]) -> Vec<Numbered> {
        let mut separators = 0;
        let mut out = Vec::with_capacity(menu.len());
        for entry in menu {
            let number = match entry {
                TrayMenuEntry::Item(item) => match self.numbers.get(&item.id) {
                    Some(n) => *n,
                    None => {
                        let n = self.take_number();
                        self.numbers.insert(item.id.clone(), n);
                        n
                    }
                },
                TrayMenuEntry::Separator => {
                    let n = match self.separator_numbers.get(separators) {
                        Some(n) => *n,
                        None => {
                            let n = self.take_number();
                            self.separator_numbers.push(n);
                            n
                        }
                    };
                    separators += 1;
                    n
                }
            };
            out.push(Numbered {
                number,
                entry: entry.clone(),
            });
        }
        out
    }

    fn take_number(&mut self) -> i32 {
        let n = self.next_number;
        self.next_number = self.next_number.saturating_add(1);
        n
    }

    fn entry(&self, number: i32) -> Option<&TrayMenuEntry> {
        self.menu
            .iter()
            .find(|n| n.number == number)
            .map(|n| &n.entry)
    }
}

fn check_menu(menu: &[TrayMenuEntry]) -> Result<(), TrayError> {
    let mut seen = std::collections::HashSet::new();
    for entry in menu {
        if let TrayMenuEntry::Item(item) = entry {
            if !seen.insert(item.id.as_str()) {
                return Err(TrayError::DuplicateMenuId(item.id.clone()));
            }
        }
    }
    Ok(())
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    events: mpsc::Sender<TrayEvent>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, event: TrayEvent) {
        // Nobody listening any more is not the host's fault: it is only logged.
        if self.events.send(event).is_err() {
            tracing::debug!("a tray event nobody listens to");
        }
    }
}

/// The StatusNotifierItem.
struct Item(Shared);

#[zbus::interface(name = "org.kde.StatusNotifierItem", introspection_docs = false)]
impl Item {
    #[zbus(property(emits_changed_signal = "const"))]
    fn category(&self) -> String {
        "Communications".into()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn id(&self) -> String {
        "chatbell".into()
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn title(&self) -> String {
        self.0.lock().title.clone()
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn status(&self) -> String {
        self.0.lock().status.as_str().into()
    }

    // The KDE interface file and Plasma read WindowId as a signed integer.
    #[zbus(property(emits_changed_signal = "const"))]
    fn window_id(&self) -> i32 {
        0
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn icon_theme_path(&self) -> String {
        String::new()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn icon_name(&self) -> String {
        String::new()
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn icon_pixmap(&self) -> Vec<Pixmap> {
        self.0.lock().pixmaps.clone()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn overlay_icon_name(&self) -> String {
        String::new()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn overlay_icon_pixmap(&self) -> Vec<Pixmap> {
        Vec::new()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn attention_icon_name(&self) -> String {
        String::new()
    }

    // The same picture as the icon: a host that shows the attention icon while
    // the status is NeedsAttention still shows the badge.
    #[zbus(property(emits_changed_signal = "false"))]
    fn attention_icon_pixmap(&self) -> Vec<Pixmap> {
        self.0.lock().pixmaps.clone()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn attention_movie_name(&self) -> String {
        String::new()
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn tool_tip(&self) -> (String, Vec<Pixmap>, String, String) {
        let state = self.0.lock();
        let (title, text) = state.tooltip.clone();
        (String::new(), Vec::new(), title, text)
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn item_is_menu(&self) -> bool {
        false
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn menu(&self) -> OwnedObjectPath {
        OwnedObjectPath::try_from(MENU_PATH).unwrap_or_default()
    }

    // Where the click was does not matter to ChatBell.
    fn activate(&self, x: i32, y: i32) {
        let _ = (x, y);
        self.0.send(TrayEvent::Activate);
    }

    fn secondary_activate(&self, x: i32, y: i32) {
        let _ = (x, y);
    }

    // The host shows the menu itself from `Menu`: ChatBell draws no menu of its own.
    fn context_menu(&self, x: i32, y: i32) {
        let _ = (x, y);
    }

    fn scroll(&self, delta: i32, orientation: String) {
        let _ = (delta, orientation);
    }

    #[zbus(signal)]
    async fn new_title(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn new_icon(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn new_attention_icon(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn new_tool_tip(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn new_status(emitter: &SignalEmitter<'_>, status: &str) -> zbus::Result<()>;
}

/// A menu item's properties, as dbusmenu names them. Defaults (visible,
/// enabled, a standard item) are left out, as the protocol asks.
type Properties = HashMap<String, OwnedVariant>;

fn string(s: &str) -> OwnedVariant {
    OwnedVariant::from(Str::from(s.to_string()))
}

fn properties_of(entry: Option<&TrayMenuEntry>, wanted: &[String]) -> Properties {
    let mut props = Properties::new();
    match entry {
        // The root: the menu itself.
        None => {
            props.insert("children-display".into(), string("submenu"));
        }
        Some(TrayMenuEntry::Separator) => {
            props.insert("type".into(), string("separator"));
        }
        Some(TrayMenuEntry::Item(item)) => {
            // A single underscore marks an access key in dbusmenu labels.
            props.insert("label".into(), string(&item.label.replace('_', "__")));
            if !item.enabled {
                props.insert("enabled".into(), OwnedVariant::from(false));
            }
            if let Some(checked) = item.checked {
                props.insert("toggle-type".into(), string("checkmark"));
                props.insert(
                    "toggle-state".into(),
                    OwnedVariant::from(i32::from(checked)),
                );
            }
        }
    }
    if !wanted.is_empty() {
        props.retain(|k, _| wanted.iter().any(|w| w == k));
    }
    props
}

/// A menu line as GetLayout's `(ia{sv}av)`.
type Layout = (i32, Properties, Vec<OwnedVariant>);

fn child_layout(number: i32, props: Properties) -> Option<OwnedVariant> {
    let structure = Structure::from((number, props, Vec::<OwnedVariant>::new()));
    OwnedVariant::try_from(structure).ok()
}

/// The tray menu.
struct Menu(Shared);

fn unknown(number: i32) -> fdo::Error {
    fdo::Error::InvalidArgs(format!("no menu item {number}"))
}

#[zbus::interface(name = "com.canonical.dbusmenu", introspection_docs = false)]
impl Menu {
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> u32 {
        3
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn text_direction(&self) -> String {
        "ltr".into()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn status(&self) -> String {
        "normal".into()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn icon_theme_path(&self) -> Vec<String> {
        Vec::new()
    }

    #[zbus(out_args("revision", "layout"))]
    fn get_layout(
        &self,
        parent_id: i32,
        recursion_depth: i32,
        property_names: Vec<String>,
    ) -> fdo::Result<(u32, Layout)> {
        let state = self.0.lock();
        if parent_id != 0 {
            // Items have no submenus.
            let entry = state.entry(parent_id).ok_or_else(|| unknown(parent_id))?;
            let props = properties_of(Some(entry), &property_names);
            return Ok((state.revision, (parent_id, props, Vec::new())));
        }
        let children = if recursion_depth == 0 {
            Vec::new()
        } else {
            state
                .menu
                .iter()
                .filter_map(|n| {
                    child_layout(n.number, properties_of(Some(&n.entry), &property_names))
                })
                .collect()
        };
        let root = properties_of(None, &property_names);
        Ok((state.revision, (0, root, children)))
    }

    #[zbus(out_args("properties"))]
    fn get_group_properties(
        &self,
        ids: Vec<i32>,
        property_names: Vec<String>,
    ) -> Vec<(i32, Properties)> {
        let state = self.0.lock();
        let one = |number: i32| -> Option<(i32, Properties)> {
            let entry = if number == 0 {
                None
            } else {
                Some(state.entry(number)?)
            };
            Some((number, properties_of(entry, &property_names)))
        };
        if ids.is_empty() {
            // No ids asks for every item.
            state.menu.iter().filter_map(|n| one(n.number)).collect()
        } else {
            ids.into_iter().filter_map(one).collect()
        }
    }

    #[zbus(out_args("value"))]
    fn get_property(&self, id: i32, name: String) -> fdo::Result<OwnedVariant> {
        let state = self.0.lock();
        let entry = if id == 0 {
            None
        } else {
            Some(state.entry(id).ok_or_else(|| unknown(id))?)
        };
        properties_of(entry, &[])
            .remove(&name)
            .ok_or_else(|| fdo::Error::InvalidArgs(format!("menu item {id} has no {name}")))
    }

    fn event(
        &self,
        id: i32,
        event_id: String,
        data: OwnedVariant,
        timestamp: u32,
    ) -> fdo::Result<()> {
        let _ = (data, timestamp);
        if self.handle_event(id, &event_id) {
            Ok(())
        } else {
            Err(unknown(id))
        }
    }

    #[zbus(out_args("idErrors"))]
    fn event_group(&self, events: Vec<(i32, String, OwnedVariant, u32)>) -> fdo::Result<Vec<i32>> {
        let errors: Vec<i32> = events
            .iter()
            .filter(|(id, event_id, _, _)| !self.handle_event(*id, event_id))
            .map(|(id, _, _, _)| *id)
            .collect();
        if !events.is_empty() && errors.len() == events.len() {
            return Err(fdo::Error::InvalidArgs("no such menu items".into()));
        }
        Ok(errors)
    }

    #[zbus(out_args("needUpdate"))]
    fn about_to_show(&self, id: i32) -> fdo::Result<bool> {
        if id == 0 || self.0.lock().entry(id).is_some() {
            // The menu is always up to date: nothing to fetch first.
            Ok(false)
        } else {
            Err(unknown(id))
        }
    }

    #[zbus(out_args("updatesNeeded", "idErrors"))]
    fn about_to_show_group(&self, ids: Vec<i32>) -> (Vec<i32>, Vec<i32>) {
        let state = self.0.lock();
        let errors = ids
            .into_iter()
            .filter(|id| *id != 0 && state.entry(*id).is_none())
            .collect();
        (Vec::new(), errors)
    }

    #[zbus(signal)]
    async fn items_properties_updated(
        emitter: &SignalEmitter<'_>,
        updated_props: Vec<(i32, Properties)>,
        removed_props: Vec<(i32, Vec<String>)>,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn layout_updated(
        emitter: &SignalEmitter<'_>,
        revision: u32,
        parent: i32,
    ) -> zbus::Result<()>;
}

impl Menu {
    /// Acts on a dbusmenu event; `false` for an item this menu does not have.
    fn handle_event(&self, number: i32, event_id: &str) -> bool {
        let clicked = {
            let state = self.0.lock();
            if number == 0 {
                return true;
            }
            match state.entry(number) {
                None => return false,
                Some(TrayMenuEntry::Item(item)) if event_id == "clicked" && item.enabled => {
                    Some(item.id.clone())
                }
                Some(_) => None,
            }
        };
        if let Some(id) = clicked {
            self.0.send(TrayEvent::Menu(id));
        }
        true
    }
}

/// Says "stop" to the thread that watches for tray hosts, and wakes it.
#[derive(Default)]
struct Stop {
    state: Mutex<(bool, Option<Waker>)>,
}

impl Stop {
    fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 = true;
        if let Some(waker) = state.1.take() {
            waker.wake();
        }
    }

    fn stopped(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.0 {
                Poll::Ready(())
            } else {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

/// The name the specification suggests, org.kde.StatusNotifierItem-PID-N, and
/// whether it is ours; the connection's own name if it cannot be had.
async fn take_name(bus: &Connection) -> (String, bool) {
    let wanted = format!(
        "{ITEM_INTERFACE}-{}-{}",
        std::process::id(),
        TRAYS.fetch_add(1, Ordering::Relaxed)
    );
    let owned = bus
        .request_name_with_flags(wanted.as_str(), fdo::RequestNameFlags::DO_NOT_QUEUE)
        .await;
    match owned {
        Ok(fdo::RequestNameReply::PrimaryOwner | fdo::RequestNameReply::AlreadyOwner) => {
            (wanted, true)
        }
        other => {
            tracing::debug!("no name of its own for the tray icon: {other:?}");
            let unique = bus.unique_name().map(|n| n.to_string()).unwrap_or_default();
            (unique, false)
        }
    }
}

/// Tells the watcher about the item. Without a watcher nothing is lost: the
/// icon is offered again when one starts.
async fn register(conn: &Connection, service: &str) {
    let result = conn
        .call_method(
            Some(WATCHER),
            WATCHER_PATH,
            Some(WATCHER),
            "RegisterStatusNotifierItem",
            &(service,),
        )
        .await;
    match result {
        Ok(_) => tracing::info!(%service, "the tray icon is registered with the tray host"),
        Err(e) => tracing::info!("no tray host took the icon ({e}): it shows when one starts"),
    }
}

/// Whether a NameOwnerChanged says that a watcher has just appeared.
fn watcher_appeared(msg: &zbus::Message) -> bool {
    match msg.body().deserialize::<(String, String, String)>() {
        Ok((name, _old, new)) => name == WATCHER && !new.is_empty(),
        Err(_) => false,
    }
}

/// The desktop's session bus (`DBUS_SESSION_BUS_ADDRESS`), where the tray host
/// listens.
pub async fn session_bus() -> Result<Connection, TrayError> {
    Ok(Connection::session().await?)
}

/// Distinguishes the trays of one process in their bus names.
static TRAYS: AtomicU32 = AtomicU32::new(1);

/// ChatBell's icon in the desktop's tray. Dropping it stops listening for tray
/// hosts; [`Tray::close`] also takes the icon down.
pub struct Tray {
    conn: Connection,
    shared: Shared,
    /// The name given to the watcher: a well-known name of ours, or the
    /// connection's unique name.
    service: String,
    owns_name: bool,
    stop: Arc<Stop>,
}

impl Tray {
    /// Serves the tray icon on `bus` (the desktop's session bus, or a test's)
    /// and registers it with the tray host if one runs, or as soon as one
    /// starts. Returns the tray and what the agent does with it.
    ///
    /// One tray per connection: [`ITEM_PATH`] and [`MENU_PATH`] are its.
    pub async fn start<I, E>(
        bus: &Connection,
        title: &str,
        icon: &Rgba,
        menu: I,
    ) -> Result<(Tray, mpsc::Receiver<TrayEvent>), TrayError>
    where
        I: IntoIterator<Item = E>,
        E: Into<TrayMenuEntry>,
    {
        let menu: Vec<TrayMenuEntry> = menu.into_iter().map(Into::into).collect();
        check_menu(&menu)?;
        let pixmaps = argb_pixmaps(icon)?;
        let mut state = State::new(title, pixmaps);
        state.menu = state.number_menu(&menu);
        let (events, received) = mpsc::channel();
        let shared = Shared {
            state: Arc::new(Mutex::new(state)),
            events,
        };

        let server = bus.object_server();
        if server.at(ITEM_PATH, Item(shared.clone())).await?.is_some() {
            return Err(TrayError::AlreadyServed);
        }
        if server.at(MENU_PATH, Menu(shared.clone())).await?.is_some() {
            let _ = server.remove::<Item, _>(ITEM_PATH).await;
            return Err(TrayError::AlreadyServed);
        }

        let (service, owns_name) = take_name(bus).await;
        let tray = Tray {
            conn: bus.clone(),
            shared,
            service,
            owns_name,
            stop: Arc::new(Stop::default()),
        };
        if let Err(e) = tray.offer().await {
            if let Err(cleanup) = tray.withdraw().await {
                tracing::debug!("the tray icon was not fully withdrawn: {cleanup}");
            }
            return Err(e);
        }
        Ok((tray, received))
    }

    /// Registers the icon with the tray host, if one runs, and hands a thread
    /// the watch for tray hosts that start later.
    async fn offer(&self) -> Result<(), TrayError> {
        // Listen for watchers before registering, so one that starts in
        // between is not missed.
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender("org.freedesktop.DBus")
            .interface("org.freedesktop.DBus")
            .member("NameOwnerChanged")
            .path("/org/freedesktop/DBus")
            .arg(0, WATCHER)
            .build()?;
        let mut appeared = zbus::MessageStream::for_match_rule(rule, &self.conn, None).await?;
        register(&self.conn, &self.service).await;

        let stop = self.stop.clone();
        let conn = self.conn.clone();
        let service = self.service.clone();
        std::thread::Builder::new()
            .name("chatbell-tray".into())
            .spawn(move || {
                zbus::block_on(async move {
                    use futures_lite::StreamExt;
                    loop {
                        let next = async { Some(appeared.next().await) };
                        let stopped = async {
                            stop.stopped().await;
                            None
                        };
                        match futures_lite::future::or(next, stopped).await {
                            // Told to stop, or the bus is gone.
                            None | Some(None) => break,
                            Some(Some(Ok(msg))) if watcher_appeared(&msg) => {
                                register(&conn, &service).await;
                            }
                            Some(Some(_)) => {}
                        }
                    }
                });
            })
            .map_err(TrayError::Thread)?;
        Ok(())
    }

    /// The bus name the tray host knows the icon by.
    pub fn bus_name(&self) -> &str {
        &self.service
    }

    fn item_signals(&self) -> Result<SignalEmitter<'static>, TrayError> {
        Ok(SignalEmitter::new(&self.conn, ITEM_PATH)?)
    }

    /// Shows `icon` (the unread badge drawn on it, typically).
    pub async fn set_icon(&self, icon: &Rgba) -> Result<(), TrayError> {
        let pixmaps = argb_pixmaps(icon)?;
        {
            let mut state = self.shared.lock();
            if state.pixmaps == pixmaps {
                return Ok(());
            }
            state.pixmaps = pixmaps;
        }
        let emitter = self.item_signals()?;
        Item::new_icon(&emitter).await?;
        Item::new_attention_icon(&emitter).await?;
        Ok(())
    }

    /// The tooltip's title and text.
    pub async fn set_tooltip(&self, title: &str, text: &str) -> Result<(), TrayError> {
        {
            let mut state = self.shared.lock();
            if state.tooltip.0 == title && state.tooltip.1 == text {
                return Ok(());
            }
            state.tooltip = (title.to_string(), text.to_string());
        }
        Item::new_tool_tip(&self.item_signals()?).await?;
        Ok(())
    }

    /// The item's title (what a host shows where it names the icon).
    pub async fn set_title(&self, title: &str) -> Result<(), TrayError> {
        {
            let mut state = self.shared.lock();
            if state.title == title {
                return Ok(());
            }
            state.title = title.to_string();
        }
        Item::new_title(&self.item_signals()?).await?;
        Ok(())
    }

    pub async fn set_status(&self, status: TrayStatus) -> Result<(), TrayError> {
        {
            let mut state = self.shared.lock();
            if state.status == status {
                return Ok(());
            }
            state.status = status;
        }
        Item::new_status(&self.item_signals()?, status.as_str()).await?;
        Ok(())
    }

    /// Replaces the menu; the host is told that the layout changed.
    pub async fn set_menu<I, E>(&self, menu: I) -> Result<(), TrayError>
    where
        I: IntoIterator<Item = E>,
        E: Into<TrayMenuEntry>,
    {
        let menu: Vec<TrayMenuEntry> = menu.into_iter().map(Into::into).collect();
        check_menu(&menu)?;
        let revision = {
            let mut state = self.shared.lock();
            if state.is_showing(&menu) {
                return Ok(());
            }
            state.menu = state.number_menu(&menu);
            state.revision = state.revision.wrapping_add(1);
            state.revision
        };
        let emitter = SignalEmitter::new(&self.conn, MENU_PATH)?;
        Menu::layout_updated(&emitter, revision, 0).await?;
        Ok(())
    }

    /// Takes the icon off the tray: the objects leave the bus and the name is
    /// given up, which tells the tray host the item is gone.
    pub async fn close(self) -> Result<(), TrayError> {
        self.withdraw().await
    }

    /// Everything `close` does, each step tried even if one before failed.
    async fn withdraw(&self) -> Result<(), TrayError> {
        self.stop.stop();
        let server = self.conn.object_server();
        let item = server.remove::<Item, _>(ITEM_PATH).await;
        let menu = server.remove::<Menu, _>(MENU_PATH).await;
        let name = match self.owns_name {
            true => self
                .conn
                .release_name(self.service.as_str())
                .await
                .map(|_| true),
            false => Ok(false),
        };
        item?;
        menu?;
        name?;
        Ok(())
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_pixels_go_out_as_argb_in_network_byte_order() {
        let icon = Rgba::new(2, 1, vec![1, 2, 3, 4, 0xFF, 0x80, 0x00, 0x7F]).expect("size");
        let pixmaps = argb_pixmaps(&icon).expect("converts");
        assert_eq!(
            pixmaps,
            vec![(2, 1, vec![4, 1, 2, 3, 0x7F, 0xFF, 0x80, 0x00])]
        );
    }

    #[test]
    fn an_empty_icon_gives_no_pixmap_and_a_short_buffer_is_refused() {
        let empty = Rgba {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        };
        assert_eq!(argb_pixmaps(&empty).expect("empty"), Vec::new());
        let short = Rgba {
            width: 2,
            height: 2,
            pixels: vec![0; 4],
        };
        assert!(matches!(
            argb_pixmaps(&short),
            Err(TrayError::BadIcon { got: 4, .. })
        ));
    }

    #[test]
    fn a_menu_with_two_items_of_one_id_is_refused() {
        let menu = [
            TrayMenuItem::new("dnd", "Do not disturb").into(),
            TrayMenuEntry::Separator,
            TrayMenuItem::new("dnd", "Again").into(),
        ];
        assert!(matches!(
            check_menu(&menu),
            Err(TrayError::DuplicateMenuId(id)) if id == "dnd"
        ));
    }

    #[test]
    fn an_item_keeps_its_number_when_the_menu_changes() {
        let mut state = State::new("ChatBell", Vec::new());
        let first = state.number_menu(&[
            TrayMenuItem::new("open", "Open panel").into(),
            TrayMenuEntry::Separator,
            TrayMenuItem::new("quit", "Quit").into(),
        ]);
        let second = state.number_menu(&[
            TrayMenuItem::new("signin", "Sign in").into(),
            TrayMenuItem::new("quit", "Quit").into(),
            TrayMenuEntry::Separator,
            TrayMenuItem::new("open", "Open panel").into(),
        ]);
        let number = |list: &[Numbered], id: &str| {
            list.iter()
                .find(|n| matches!(&n.entry, TrayMenuEntry::Item(i) if i.id == id))
                .map(|n| n.number)
        };
        assert_eq!(number(&first, "open"), number(&second, "open"));
        assert_eq!(number(&first, "quit"), number(&second, "quit"));
        assert_eq!(first[1].number, second[2].number, "the first separator");
        let mut all: Vec<i32> = second.iter().map(|n| n.number).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4, "every line has a number of its own");
        assert!(all.iter().all(|n| *n != 0), "0 is the menu itself");
    }
}
