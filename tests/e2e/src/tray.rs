//! The tray icon as the desktop sees it: the StatusNotifierItem that ChatBell
//! registered with the watcher carries its image (`IconPixmap`, ARGB32); the
//! badge's number is read back from its pixels.

use crate::bus::{DesktopBus, TrayItem};
use chatbell_desktop::badge::{self, Rgba};
use chatbell_desktop::tray::rgba_of_pixmap;

/// The item registered by process `pid` (the newest one).
pub fn item_of(bus: &DesktopBus, pid: u32) -> Option<TrayItem> {
    bus.tray
        .items()
        .into_iter()
        .rev()
        .find(|i| i.pid == Some(pid))
}

/// The largest image the item shows now.
pub async fn icon_of(bus: &DesktopBus, item: &TrayItem) -> Result<Rgba, String> {
    let pixmaps = bus.tray_pixmaps(item).await?;
    let (w, h, argb) = pixmaps
        .into_iter()
        .max_by_key(|(w, h, _)| i64::from(*w) * i64::from(*h))
        .ok_or("the tray item has no IconPixmap")?;
    rgba_of_pixmap(w, h, &argb)
        .ok_or_else(|| format!("an IconPixmap of {w}x{h} that is not ARGB32"))
}

/// What the tray icon of process `pid` reads now: `Ok(None)` for no badge,
/// `Ok(Some("3"))` for a badge with 3.
pub async fn badge_of(bus: &DesktopBus, pid: u32) -> Result<Option<String>, String> {
    let item = item_of(bus, pid).ok_or("ChatBell has no tray item registered")?;
    let icon = icon_of(bus, &item).await?;
    Ok(badge::read_count(&icon))
}
