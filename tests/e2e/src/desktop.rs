//! One virtual desktop session for a test run: Xvfb, a private D-Bus session
//! bus, the notification server and tray watcher (see [`crate::bus`]), a Secret
//! Service (gnome-keyring), PulseAudio with a null sink recorded from its
//! monitor, a browser stand-in that records the links it is asked to open, and
//! the Dataverse emulator. Every process is a child of the harness, logged to the
//! artefacts folder and ended by its own pid.

use crate::bus::DesktopBus;
use crate::proc::Proc;
use crate::sound::Recording;
use crate::wait::{wait_until, Limit};
use chatbell_emulator::{Emulator, Options, RunningEmulator, Seed};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The null sink every sound goes to.
pub const SINK: &str = "chatbell_e2e";

/// Where a run keeps its screenshots, recordings and logs.
#[derive(Clone, Debug)]
pub struct Artefacts {
    pub root: PathBuf,
}

impl Artefacts {
    /// `$CHATBELL_E2E_ARTEFACTS`, or `tests/artifacts/e2e` in the repository;
    /// emptied first.
    pub fn fresh() -> Result<Artefacts, String> {
        let root = match std::env::var_os("CHATBELL_E2E_ARTEFACTS").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts/e2e"),
        };
        if root.exists() {
            std::fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        }
        std::fs::create_dir_all(root.join("logs"))
            .map_err(|e| format!("{}: {e}", root.display()))?;
        let root = root.canonicalize().unwrap_or(root);
        Ok(Artefacts { root })
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// A scenario's own folder.
    pub fn scenario(&self, name: &str) -> PathBuf {
        let p = self.root.join(name);
        let _ = std::fs::create_dir_all(&p);
        p
    }
}

/// Reads one line from a child's stdout, at most `limit`.
fn first_line(stdout: std::process::ChildStdout, limit: Duration) -> Result<String, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = std::thread::Builder::new()
        .name("e2e-first-line".into())
        .spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading so that the child never writes to a closed pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
    rx.recv_timeout(limit)
        .map(|l| l.trim().to_string())
        .map_err(|_| "no answer in time".to_string())
}

/// The virtual desktop. Dropping it ends every process, newest first.
pub struct Desktop {
    pub artefacts: Artefacts,
    /// Scratch: runtime dir, home, app data.
    pub dir: PathBuf,
    pub display: String,
    pub bus_address: String,
    pub bus: DesktopBus,
    /// A bus standing for the system bus (logind, NetworkManager): what
    /// ChatBell hears the machine wake up on.
    pub system_bus_address: String,
    pub recording: Recording,
    pub emulator: RunningEmulator,
    /// The file the browser stand-in appends every URL it is asked to open to.
    pub opened_links: PathBuf,
    fake_bin: PathBuf,
    procs: Vec<Proc>,
}

fn check_tools() -> Result<(), String> {
    let tools = [
        ("Xvfb", "xvfb"),
        ("dbus-daemon", "dbus"),
        ("gnome-keyring-daemon", "gnome-keyring"),
        ("pulseaudio", "pulseaudio"),
        ("pactl", "pulseaudio-utils"),
        ("parec", "pulseaudio-utils"),
        ("WebKitWebDriver", "webkit2gtk-driver"),
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<String> = tools
        .iter()
        .filter(|(bin, _)| !std::env::split_paths(&path).any(|d| d.join(bin).is_file()))
        .map(|(bin, pkg)| format!("{bin} (Debian package {pkg})"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the end-to-end tests need {}: run them through `./dev test`, which installs them",
            missing.join(", ")
        ))
    }
}

/// Starts a session bus of its own under `dir` (its socket in `dir/run`):
/// the process and its address.
fn session_bus(
    dir: &Path,
    name: &str,
    display: &str,
    logs: &Path,
) -> Result<(Proc, String), String> {
    let bus_config = dir.join(format!("{name}.conf"));
    std::fs::write(
        &bus_config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            dir.join("run").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut d = Proc::spawn(
        name,
        Command::new("dbus-daemon")
            .arg(format!("--config-file={}", bus_config.display()))
            .args(["--nofork", "--print-address=1"])
            .env("XDG_RUNTIME_DIR", dir.join("run"))
            .env("DISPLAY", display)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
        logs,
        true,
    )?;
    let out = d.take_stdout().ok_or("dbus-daemon: no stdout")?;
    let address = first_line(out, Duration::from_secs(20)).map_err(|e| format!("{name}: {e}"))?;
    if address.is_empty() {
        return Err(format!("{name}: dbus-daemon printed no address"));
    }
    Ok((d, address))
}

/// A second desktop session's bus, for another agent's ChatBell on the same
/// machine: its own notification server and tray watcher, no keyring (that
/// ChatBell keeps its sign-in in memory).
pub struct OtherSession {
    pub address: String,
    pub bus: DesktopBus,
}

impl Desktop {
    /// Starts another session bus with its notification server; its process
    /// ends with the desktop.
    pub async fn other_session(&mut self, name: &str) -> Result<OtherSession, String> {
        let logs = self.artefacts.logs();
        let (p, address) = session_bus(&self.dir, &format!("dbus-{name}"), &self.display, &logs)?;
        self.procs.push(p);
        let bus = DesktopBus::start(&address).await?;
        Ok(OtherSession { address, bus })
    }

    /// Starts everything, in order, each waited for; the emulator with the
    /// demo seed.
    pub async fn start(artefacts: Artefacts) -> Result<Desktop, String> {
        Self::start_with(
            artefacts,
            Options {
                seed: Seed::Demo,
                device_code_interval: Duration::from_secs(1),
                ..Options::default()
            },
        )
        .await
    }

    /// As [`Desktop::start`], the emulator with `emulator` options (a
    /// simulation, for instance).
    pub async fn start_with(artefacts: Artefacts, emulator: Options) -> Result<Desktop, String> {
        check_tools()?;
        let emulator = match crate::test_org() {
            None => emulator,
            Some(name) => {
                let path = crate::orgs_dir().join(format!("{name}.profile.toml"));
                let profile = chatbell_emulator::profile::OrgProfile::load(&path)
                    .map_err(|e| e.to_string())?;
                emulator.org(profile)
            }
        };
        let dir = std::env::temp_dir().join(format!(
            "chatbell-e2e-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        ));
        for sub in ["run", "home", "bin", "data"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        let logs = artefacts.logs();
        let mut procs = Vec::new();

        // The browser: every link ChatBell opens is written down.
        let opened_links = dir.join("opened-links.txt");
        let fake_bin = dir.join("bin");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            opened_links.display()
        );
        for name in ["xdg-open", "gio", "gnome-open", "kde-open", "wslview"] {
            let p = fake_bin.join(name);
            std::fs::write(&p, &script).map_err(|e| e.to_string())?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }

        // X server.
        let mut x = Proc::spawn(
            "xvfb",
            Command::new("Xvfb")
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "1280x1024x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped()),
            &logs,
            true,
        )?;
        let out = x.take_stdout().ok_or("Xvfb: no stdout")?;
        procs.push(x);
        let n = first_line(out, Duration::from_secs(20)).map_err(|e| format!("Xvfb: {e}"))?;
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("Xvfb printed {n:?} instead of a display number"));
        }
        let display = format!(":{n}");

        // Session bus, without service activation: nothing starts on the bus
        // but what the tests start (no other notification server, keyring or
        // accessibility bus).
        let (d, bus_address) = session_bus(&dir, "dbus", &display, &logs)?;
        procs.push(d);
        let (d, system_bus_address) = session_bus(&dir, "dbus-system", &display, &logs)?;
        procs.push(d);

        let bus = DesktopBus::start(&bus_address).await?;
        let emulator = Emulator::start(emulator)
            .await
            .map_err(|e| format!("emulator: {e}"))?;

        let mut desk = Desktop {
            artefacts,
            dir,
            display,
            bus_address,
            bus,
            system_bus_address,
            recording: Recording::default(),
            emulator,
            opened_links,
            fake_bin,
            procs,
        };

        // Secret Service: a login keyring created and unlocked with a password
        // read from stdin (an empty one creates no keyring).
        let mut k = Proc::spawn(
            "gnome-keyring",
            desk.env(
                Command::new("gnome-keyring-daemon")
                    .args(["--foreground", "--components=secrets", "--unlock"])
                    .stdin(Stdio::piped()),
            ),
            &logs,
            false,
        )?;
        if let Some(mut stdin) = k.take_stdin() {
            let _ = stdin.write_all(b"chatbell-e2e");
        }
        desk.procs.push(k);
        let bus = &desk.bus;
        wait_until(
            Limit::secs(20),
            "gnome-keyring owns org.freedesktop.secrets",
            || async { bus.has_owner("org.freedesktop.secrets").await.then_some(()) },
        )
        .await?;

        // Sound: PulseAudio with a null sink, recorded from its monitor.
        let pa = Proc::spawn(
            "pulseaudio",
            desk.env(
                Command::new("pulseaudio")
                    .args([
                        "-n",
                        "--daemonize=no",
                        "--exit-idle-time=-1",
                        "--disallow-exit",
                        "--log-target=stderr",
                        "--load=module-native-protocol-unix",
                        &format!("--load=module-null-sink sink_name={SINK} rate=44100"),
                    ])
                    .stdin(Stdio::null()),
            ),
            &logs,
            false,
        )?;
        desk.procs.push(pa);
        let me = &desk;
        wait_until(Limit::secs(20), "PulseAudio answers", || async {
            me.env(Command::new("pactl").arg("info"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .ok()
                .filter(|s| s.success())
        })
        .await?;
        let ok = desk
            .env(Command::new("pactl").args(["set-default-sink", SINK]))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err("pactl set-default-sink failed".into());
        }
        let mut rec = Proc::spawn(
            "parec",
            desk.env(
                Command::new("parec")
                    .args([
                        "-d",
                        &format!("{SINK}.monitor"),
                        "--format=s16le",
                        "--rate=44100",
                        "--channels=1",
                        "--latency-msec=20",
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped()),
            ),
            &logs,
            true,
        )?;
        let out = rec.take_stdout().ok_or("parec: no stdout")?;
        desk.recording.feed_from(out);
        desk.procs.push(rec);
        let r = desk.recording.clone();
        wait_until(
            Limit::secs(20),
            "the sink's monitor is recorded",
            || async { (r.position() > 0).then_some(()) },
        )
        .await?;
        Ok(desk)
    }

    /// Whether a window titled `title` of the program `class` (its WM_CLASS
    /// instance) is mapped and viewable on the display (`xwininfo`).
    pub fn window_viewable(&self, title: &str, class: &str) -> bool {
        let run = |args: &[&str]| {
            Command::new("xwininfo")
                .args(args)
                .env("DISPLAY", &self.display)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let Some(tree) = run(&["-root", "-tree"]) else {
            return false;
        };
        let wanted = format!("\"{title}\": (\"{class}\"");
        tree.lines()
            .filter(|l| l.contains(&wanted))
            .filter_map(|l| l.split_whitespace().next())
            .any(|id| run(&["-id", id]).is_some_and(|w| w.contains("Map State: IsViewable")))
    }

    /// Sets the desktop session's environment on a command.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.fake_bin.clone()];
        paths.extend(std::env::split_paths(&path));
        let home = self.dir.join("home");
        cmd.env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.system_bus_address)
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env(
                "PULSE_SERVER",
                format!("unix:{}", self.dir.join("run/pulse/native").display()),
            )
            .env("NO_AT_BRIDGE", "1")
            .env("GDK_BACKEND", "x11")
            .env("PATH", std::env::join_paths(paths).unwrap_or(path))
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DESKTOP_SESSION")
            .env_remove("XDG_CURRENT_DESKTOP")
    }

    /// Says on the system bus what logind says around a sleep:
    /// `PrepareForSleep(true)` before it, `PrepareForSleep(false)` on waking.
    pub async fn logind_prepare_for_sleep(&self, going: bool) -> Result<(), String> {
        let conn = zbus::connection::Builder::address(self.system_bus_address.as_str())
            .build()
            .await
            .map_err(|e| format!("the system bus: {e}"))?;
        conn.emit_signal(
            None::<()>,
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
            "PrepareForSleep",
            &(going,),
        )
        .await
        .map_err(|e| format!("PrepareForSleep: {e}"))
    }

    /// Keeps a process to be ended with the desktop.
    pub fn adopt(&mut self, p: Proc) {
        self.procs.push(p);
    }

    /// The links opened so far.
    pub fn opened_links(&self) -> Vec<String> {
        std::fs::read_to_string(&self.opened_links)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A screenshot of the whole X screen (imagemagick's `import`), if it is there.
    pub fn screenshot_root(&self, path: &Path) {
        let _ = self
            .env(Command::new("import").args(["-window", "root"]).arg(path))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Ends every process, newest first.
    pub fn stop(&mut self) {
        while let Some(mut p) = self.procs.pop() {
            p.stop(Duration::from_secs(3));
        }
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
