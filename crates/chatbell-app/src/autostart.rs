//! Start at login (opt-in, off by default):
//! - Linux and the BSDs: an XDG autostart entry, `~/.config/autostart/chatbell.desktop`;
//! - macOS: a launch agent, `~/Library/LaunchAgents/app.chatbell.desktop.plist`
//!   (`RunAtLoad`), read by launchd at the next login;
//! - Windows: the `ChatBell` value under
//!   `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`, written with `reg.exe`.
//!
//! Each writes what the agent chose and nothing else; turning it off removes it,
//! and removing what is not there is fine.

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

/// The launch agent's label and file name (macOS), the bundle identifier.
pub const LAUNCH_AGENT: &str = "app.chatbell.desktop";
/// The value's name under the Windows `Run` key.
pub const RUN_VALUE: &str = "ChatBell";
/// The Windows `Run` key of the current user.
pub const RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";

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

/// Writes (`on`) or removes the XDG entry in `dir`.
pub fn apply(dir: &Path, exe: &Path, on: bool) -> Result<(), AutostartError> {
    write_or_remove(dir, ENTRY, &entry_text(exe), on)
}

/// Where a macOS launch agent goes: `~/Library/LaunchAgents`.
pub fn launch_agents_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Library").join("LaunchAgents"))
}

/// Escapes text for an XML property list.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The macOS launch agent that starts `exe` at login.
pub fn launch_agent_text(exe: &Path) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n\
<dict>\n\
\t<key>Label</key>\n\t<string>{LAUNCH_AGENT}</string>\n\
\t<key>ProgramArguments</key>\n\t<array>\n\t\t<string>{}</string>\n\t</array>\n\
\t<key>RunAtLoad</key>\n\t<true/>\n\
\t<key>ProcessType</key>\n\t<string>Interactive</string>\n\
</dict>\n\
</plist>\n",
        xml_escape(&exe.display().to_string())
    )
}

/// Writes (`on`) or removes the launch agent in `dir` (macOS).
pub fn apply_launch_agent(dir: &Path, exe: &Path, on: bool) -> Result<(), AutostartError> {
    write_or_remove(
        dir,
        &format!("{LAUNCH_AGENT}.plist"),
        &launch_agent_text(exe),
        on,
    )
}

/// The `reg.exe` arguments that write (`on`) or delete the `Run` value for `exe`.
pub fn windows_run_args(exe: &Path, on: bool) -> Vec<String> {
    let mut args: Vec<String> = vec![
        if on { "add" } else { "delete" }.into(),
        RUN_KEY.into(),
        "/v".into(),
        RUN_VALUE.into(),
    ];
    if on {
        // The command line stored is the quoted path, so that spaces survive.
        args.extend(["/t".into(), "REG_SZ".into(), "/d".into()]);
        args.push(format!("\"{}\"", exe.display()));
    }
    args.push("/f".into());
    args
}

/// Runs `reg.exe` with `args`, without a console window.
#[cfg(windows)]
fn run_reg(args: &[String]) -> Result<std::process::Output, std::io::Error> {
    use std::os::windows::process::CommandExt;
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    std::process::Command::new("reg")
        .args(args)
        .creation_flags(CREATE_NO_WINDOW)
        .output()
}

/// Writes or deletes the `Run` value (Windows).
#[cfg(windows)]
fn apply_windows_run(exe: &Path, on: bool) -> Result<(), AutostartError> {
    let io = |source| AutostartError::Io {
        path: PathBuf::from(format!("{RUN_KEY}\\{RUN_VALUE}")),
        source,
    };
    if !on {
        // Deleting a value that is not there fails: look first.
        let query = vec![
            "query".to_string(),
            RUN_KEY.into(),
            "/v".into(),
            RUN_VALUE.into(),
        ];
        if !run_reg(&query).map_err(io)?.status.success() {
            return Ok(());
        }
    }
    let out = run_reg(&windows_run_args(exe, on)).map_err(io)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )))
    }
}

/// Writes `text` to `dir/name` atomically (`on`), or removes it.
fn write_or_remove(dir: &Path, name: &str, text: &str, on: bool) -> Result<(), AutostartError> {
    let path = dir.join(name);
    let io = |source| AutostartError::Io {
        path: path.clone(),
        source,
    };
    if on {
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    } else {
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

/// What to start at login: the AppImage file itself when ChatBell runs from one
/// (`$APPIMAGE`; the running executable is inside its temporary mount), else
/// the running executable.
pub fn executable(appimage: Option<std::ffi::OsString>) -> Result<PathBuf, AutostartError> {
    match appimage.filter(|p| !p.is_empty()) {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe().map_err(|source| AutostartError::Io {
            path: PathBuf::from("the running executable"),
            source,
        }),
    }
}

/// Applies the choice for the running executable, the platform's way.
pub fn set(on: bool) -> Result<(), AutostartError> {
    let exe = executable(std::env::var_os("APPIMAGE"))?;
    #[cfg(windows)]
    {
        apply_windows_run(&exe, on)
    }
    #[cfg(target_os = "macos")]
    {
        let dir = launch_agents_dir().ok_or(AutostartError::Unsupported)?;
        apply_launch_agent(&dir, &exe, on)
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        let dir = default_dir().ok_or(AutostartError::Unsupported)?;
        apply(&dir, &exe, on)
    }
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
    fn start_at_login_on_macos_is_a_launch_agent_run_at_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agents = dir.path().join("LaunchAgents");
        let exe = Path::new("/Applications/ChatBell & Co.app/Contents/MacOS/chatbell");
        apply_launch_agent(&agents, exe, true).expect("on");
        let file = agents.join("app.chatbell.desktop.plist");
        let text = std::fs::read_to_string(&file).expect("written");
        assert!(
            text.contains("<string>app.chatbell.desktop</string>"),
            "{text}"
        );
        assert!(
            text.contains(
                "<string>/Applications/ChatBell &amp; Co.app/Contents/MacOS/chatbell</string>"
            ),
            "{text}"
        );
        assert!(text.contains("<key>RunAtLoad</key>\n\t<true/>"), "{text}");
        apply_launch_agent(&agents, exe, false).expect("off");
        assert!(!file.exists());
        apply_launch_agent(&agents, exe, false).expect("off twice");
    }

    #[test]
    fn start_at_login_on_windows_is_the_run_value_with_the_quoted_path() {
        let exe = Path::new(r"C:\Program Files\ChatBell\chatbell.exe");
        assert_eq!(
            windows_run_args(exe, true),
            [
                "add",
                r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run",
                "/v",
                "ChatBell",
                "/t",
                "REG_SZ",
                "/d",
                "\"C:\\Program Files\\ChatBell\\chatbell.exe\"",
                "/f"
            ]
        );
        assert_eq!(
            windows_run_args(exe, false),
            [
                "delete",
                r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run",
                "/v",
                "ChatBell",
                "/f"
            ]
        );
    }

    #[test]
    fn an_executable_path_with_spaces_is_quoted() {
        let text = entry_text(Path::new("/opt/Chat Bell/chat$bell"));
        assert!(
            text.contains("Exec=\"/opt/Chat Bell/chat\\$bell\"\n"),
            "{text}"
        );
    }

    #[test]
    fn an_appimage_starts_itself_at_login_not_its_mount() {
        let running = std::env::current_exe().expect("current exe");
        assert_eq!(
            executable(Some("/home/dana/Apps/ChatBell.AppImage".into())).expect("appimage"),
            PathBuf::from("/home/dana/Apps/ChatBell.AppImage")
        );
        assert_eq!(executable(Some("".into())).expect("empty"), running);
        assert_eq!(executable(None).expect("none"), running);
    }
}
