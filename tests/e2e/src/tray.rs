//! The tray icon as the desktop sees it: the StatusNotifierItem that ChatBell
//! registered with the watcher names a PNG (IconThemePath + IconName); the
//! badge's number is read back from that file's pixels.

use crate::bus::{DesktopBus, TrayItem};
use chatbell_desktop::badge::{self, Rgba};
use std::path::PathBuf;

/// The item registered by process `pid` (the newest one).
pub fn item_of(bus: &DesktopBus, pid: u32) -> Option<TrayItem> {
    bus.tray
        .items()
        .into_iter()
        .rev()
        .find(|i| i.pid == Some(pid))
}

/// The icon file the item shows now.
pub async fn icon_file(bus: &DesktopBus, item: &TrayItem) -> Result<PathBuf, String> {
    let name = bus.tray_property(item, "IconName").await?;
    if name.is_empty() {
        return Err("the tray item has no IconName".into());
    }
    let p = PathBuf::from(&name);
    if p.is_absolute() {
        return Ok(if p.extension().is_some() {
            p
        } else {
            p.with_extension("png")
        });
    }
    let dir = bus
        .tray_property(item, "IconThemePath")
        .await
        .unwrap_or_default();
    Ok(PathBuf::from(dir).join(format!("{name}.png")))
}

/// Decodes a PNG into RGBA.
pub fn decode_png(bytes: &[u8]) -> Result<Rgba, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader.output_buffer_size().ok_or("the PNG is too large")?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks(3)
            .flat_map(|c| [c[0], c[1], c[2], 0xFF])
            .collect(),
        other => return Err(format!("unexpected PNG colour type {other:?}")),
    };
    Rgba::new(info.width, info.height, rgba).map_err(|e| e.to_string())
}

/// What the tray icon of process `pid` reads now: `Ok(None)` for no badge,
/// `Ok(Some("3"))` for a badge with 3.
pub async fn badge_of(bus: &DesktopBus, pid: u32) -> Result<Option<String>, String> {
    let item = item_of(bus, pid).ok_or("ChatBell has no tray item registered")?;
    let file = icon_file(bus, &item).await?;
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let icon = decode_png(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(badge::read_count(&icon))
}
