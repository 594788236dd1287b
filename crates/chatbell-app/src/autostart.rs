//! Start at login (opt-in, off by default): an XDG autostart entry on Linux and
//! the BSDs. Other platforms say they do not support it yet, and nothing changes.

use std::path::{Path, PathBuf};

/// The autostart entry's file name.
pub const ENTRY: &str = "chatbell.desktop";

/// Why the choice could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    #[error("start at login is not supported on this platform yet")]
    Unsupported,
    #[error("start at login: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where autostart entries live: `$XDG_CONFIG_HOME/autostart`, or
/// `~/.config/autostart`.
pub fn default_dir() -> Option<PathBuf> {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return None;
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|c| c.join("autostart"))
}

/// The entry that starts `exe` at login.
pub fn entry_text(exe: &Path) -> String {
    // Exec quoting per the Desktop Entry spec: a path with spaces or specials is
    // double-quoted, with `"`, `` ` ``, `$` and `\\` escaped.
    let path = exe.display().to_string();
    let exec = if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        path
    } else {
        let mut q = String::from("\"");
        for c in path.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    };
    format!(
        "[Desktop Entry]\nType=Application\nName=ChatBell\nComment=Live chat notifications for Dynamics 365\nExec={exec}\nIcon=chatbell\nTerminal=false\nX-GNOME-Autostart-enabled=true\n"
    )
}

/// Writes (`on`) or removes the entry in `dir`.
pub fn apply(dir: &Path, exe: &Path, on: bool) -> Result<(), AutostartError> {
    let path = dir.join(ENTRY);
    let io = |source| AutostartError::Io {
        path: path.clone(),
        source,
    };
    if on {
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = dir.join(format!(".{ENTRY}.tmp"));
        std::fs::write(&tmp, entry_text(exe)).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    } else {
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

/// Applies the choice for the running executable, in the default place.
pub fn set(on: bool) -> Result<(), AutostartError> {
    let dir = default_dir().ok_or(AutostartError::Unsupported)?;
    let exe = std::env::current_exe().map_err(|source| AutostartError::Io {
        path: PathBuf::from("the running executable"),
        source,
    })?;
    apply(&dir, &exe, on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_at_login_writes_and_removes_the_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auto = dir.path().join("autostart");
        apply(&auto, Path::new("/usr/bin/chatbell"), true).expect("on");
        let text = std::fs::read_to_string(auto.join(ENTRY)).expect("written");
        assert!(text.contains("\nExec=/usr/bin/chatbell\n"), "{text}");
        apply(&auto, Path::new("/usr/bin/chatbell"), false).expect("off");
        assert!(!auto.join(ENTRY).exists());
        apply(&auto, Path::new("/usr/bin/chatbell"), false).expect("off twice");
    }

    #[test]
    fn an_executable_path_with_spaces_is_quoted() {
        let text = entry_text(Path::new("/opt/Chat Bell/chat$bell"));
        assert!(
            text.contains("Exec=\"/opt/Chat Bell/chat\\$bell\"\n"),
            "{text}"
        );
    }
}
