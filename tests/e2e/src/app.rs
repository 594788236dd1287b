//! ChatBell under test: the real `chatbell` binary on the virtual desktop,
//! pointed at the emulator, with its panel driven through WebKitWebDriver (or
//! headless, for a second agent), signed in through the device code flow as an
//! agent does it: the panel shows a code, the agent enters it on the sign-in page
//! (the emulator's approve endpoint stands for that page).

use crate::desktop::Desktop;
use crate::org::Org;
use crate::proc::{self, Proc};
use crate::wait::{wait_until, Limit};
use crate::webdriver::Session;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The model-driven app id written into the configuration (deep links carry it).
pub const APP_ID: &str = "6a4c1f0e-1111-2222-3333-444455556666";

/// The panel's binary: `$CHATBELL_PANEL_BIN`, or `chatbell-panel` beside `bin`.
pub fn panel_binary(bin: &Path) -> Result<PathBuf, String> {
    let p = std::env::var_os("CHATBELL_PANEL_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| bin.with_file_name("chatbell-panel"));
    if !p.is_file() {
        return Err(format!(
            "no panel binary at {} (build it: cargo build -p chatbell-panel; or set CHATBELL_PANEL_BIN)",
            p.display()
        ));
    }
    Ok(p)
}

/// The `chatbell` binary: `$CHATBELL_BIN`.
pub fn binary() -> Result<PathBuf, String> {
    let p = std::env::var_os("CHATBELL_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or(
            "CHATBELL_BIN is not set: the end-to-end tests need the built `chatbell` binary \
             (`./dev test` builds it and sets CHATBELL_BIN; or set CHATBELL_E2E_SKIP=1 to skip \
             them on purpose)",
        )?;
    let p = p
        .canonicalize()
        .map_err(|e| format!("CHATBELL_BIN={}: {e}", p.display()))?;
    if !p.is_file() {
        return Err(format!("CHATBELL_BIN={} is not a file", p.display()));
    }
    Ok(p)
}

/// One agent's ChatBell: its files and how it runs.
pub struct ChatBell {
    pub name: String,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
    bin: PathBuf,
    /// ChatBell itself.
    proc: Option<Proc>,
    /// WebKitWebDriver, which started the panel (panel runs).
    driver: Option<Proc>,
    pub panel: Option<Session>,
    /// ChatBell's own pid.
    pub pid: u32,
    /// The panel's process (`chatbell-panel`), while it runs.
    pub panel_pid: u32,
    /// A session bus of its own (another agent's desktop session), instead of
    /// the desktop's.
    pub bus_address: Option<String>,
    /// More environment for every `chatbell` run (a clock moved by libfaketime).
    pub extra_env: Vec<(String, String)>,
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    Ok(port)
}

impl ChatBell {
    /// Files for agent `name`: a configuration pointing at the emulator, a data dir
    /// and a runtime dir of its own (the control socket lives there).
    pub fn prepare(desk: &Desktop, name: &str, bin: &Path) -> Result<ChatBell, String> {
        let root = desk.dir.join("agents").join(name);
        let data_dir = root.join("data");
        let runtime_dir = if name == "dana" {
            desk.dir.join("run")
        } else {
            root.join("run")
        };
        for d in [&data_dir, &runtime_dir] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        let base = desk.emulator.base_url().to_string();
        let config = root.join("config.toml");
        let mapping = match crate::test_org() {
            None => String::new(),
            Some(name) => {
                let path = crate::orgs_dir().join(format!("{name}.mapping.toml"));
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        std::fs::write(
            &config,
            format!(
                "[dynamics]\nurl = \"{base}\"\napp_id = \"{APP_ID}\"\nauthority = \"{base}\"\ntenant = \"{}\"\nclient_id = \"chatbell-desktop\"\n\n{mapping}",
                desk.emulator.tenant_id()
            ),
        )
        .map_err(|e| e.to_string())?;
        Ok(ChatBell {
            name: name.to_string(),
            config,
            data_dir,
            runtime_dir,
            bin: bin.to_path_buf(),
            proc: None,
            driver: None,
            panel: None,
            pid: 0,
            panel_pid: 0,
            bus_address: None,
            extra_env: Vec::new(),
        })
    }

    fn env<'a>(&self, desk: &Desktop, cmd: &'a mut Command) -> &'a mut Command {
        let cmd = desk
            .env(cmd)
            .env("CHATBELL_CONFIG", &self.config)
            .env("CHATBELL_DATA_DIR", &self.data_dir)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("RUST_LOG", "info")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        match &self.bus_address {
            Some(a) => cmd.env("DBUS_SESSION_BUS_ADDRESS", a),
            None => cmd,
        }
    }

    /// `chatbell status --json`, parsed.
    pub fn status(&self, desk: &Desktop) -> Result<serde_json::Value, String> {
        let (code, out) = self.cli(desk, &["status", "--json"])?;
        if code != 0 {
            return Err(format!(
                "`chatbell status --json` exited with {code}: {out}"
            ));
        }
        serde_json::from_str(&out).map_err(|e| format!("`chatbell status --json`: {e}: {out}"))
    }

    /// Starts ChatBell in the tray (`chatbell --no-panel`), then its panel
    /// (`chatbell-panel`) through WebKitWebDriver, so that it can be driven.
    pub async fn start_with_panel(&mut self, desk: &Desktop) -> Result<(), String> {
        let panel_bin = panel_binary(&self.bin)?;
        let logs = desk.artefacts.logs();
        let resident = Proc::spawn(
            &format!("{}-chatbell", self.name),
            self.env(
                desk,
                Command::new(&self.bin)
                    .arg("--no-panel")
                    .stdin(Stdio::null()),
            ),
            &logs,
            false,
        )?;
        self.pid = resident.pid();
        self.proc = Some(resident);
        let me = &*self;
        wait_until(
            Limit::secs(30),
            "ChatBell answers `chatbell ping`",
            || async {
                if !me.alive() {
                    return Some(Err("ChatBell stopped at its start".to_string()));
                }
                me.cli(desk, &["ping"])
                    .ok()
                    .filter(|(code, _)| *code == 0)
                    .map(|_| Ok(()))
            },
        )
        .await??;
        self.open_panel(desk, &panel_bin).await
    }

    /// Starts the panel through WebKitWebDriver (ChatBell runs).
    async fn open_panel(&mut self, desk: &Desktop, panel_bin: &Path) -> Result<(), String> {
        let port = free_port()?;
        let logs = desk.artefacts.logs();
        let mut driver = Proc::spawn(
            &format!("{}-chatbell-panel", self.name),
            self.env(
                desk,
                Command::new("WebKitWebDriver")
                    .arg(format!("--port={port}"))
                    .env("TAURI_WEBVIEW_AUTOMATION", "true")
                    .stdin(Stdio::null()),
            ),
            &logs,
            false,
        )?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let status = format!("{url}/status");
        wait_until(Limit::secs(20), "WebKitWebDriver answers", || async {
            http.get(&status)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await?;
        let bin = panel_bin.display().to_string();
        let session = Session::start(&url, &bin, Duration::from_secs(90)).await;
        let pid = proc::children_of(driver.pid())
            .into_iter()
            .find(|(_, comm)| comm.starts_with("chatbell-panel"))
            .map(|(pid, _)| pid);
        if let Some(pid) = pid {
            driver.companions.push(pid);
            self.panel_pid = pid;
        }
        self.driver = Some(driver);
        let session = session?;
        if self.panel_pid == 0 {
            return Err("the panel's process was not found under WebKitWebDriver".into());
        }
        let s = &session;
        wait_until(Limit::secs(30), "the panel is rendered", || async {
            s.find(".panel .connection").await.ok().flatten()
        })
        .await?;
        self.panel = Some(session);
        Ok(())
    }

    /// Starts `chatbell --headless` (toasts and sounds, no tray or panel).
    pub fn start_headless(&mut self, desk: &Desktop) -> Result<(), String> {
        let p = Proc::spawn(
            &format!("{}-chatbell-headless", self.name),
            self.env(
                desk,
                Command::new(&self.bin)
                    .arg("--headless")
                    .stdin(Stdio::null()),
            ),
            &desk.artefacts.logs(),
            false,
        )?;
        self.pid = p.pid();
        self.proc = Some(p);
        Ok(())
    }

    /// `chatbell <args>` against this instance, to be run.
    pub fn command(&self, desk: &Desktop, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        self.env(desk, cmd.args(args)).stdin(Stdio::null());
        cmd
    }

    /// `chatbell-panel` against this instance, to be run (its output piped).
    pub fn panel_command(&self, desk: &Desktop) -> Result<Command, String> {
        let mut cmd = Command::new(panel_binary(&self.bin)?);
        self.env(desk, &mut cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(cmd)
    }

    /// Runs `chatbell <args>` against this instance; (exit code, stdout).
    pub fn cli(&self, desk: &Desktop, args: &[&str]) -> Result<(i32, String), String> {
        let out = self
            .env(desk, Command::new(&self.bin).args(args))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("chatbell {args:?}: {e}"))?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    /// The panel (a panel run).
    pub fn panel(&self) -> Result<&Session, String> {
        self.panel
            .as_ref()
            .ok_or_else(|| format!("{}'s ChatBell has no panel", self.name))
    }

    /// Signs in as `user` the way an agent does in the panel: "Sign in", read the
    /// code, enter it on the sign-in page; then waits for "Online".
    pub async fn sign_in_through_panel(&self, org: &Org, user: &str) -> Result<(), String> {
        let panel = self.panel()?;
        let button = wait_until(Limit::secs(30), "the panel's Sign in button", || async {
            panel.find(".signin button.primary").await.ok().flatten()
        })
        .await?;
        panel.click(&button).await?;
        let code = wait_until(Limit::secs(30), "the panel shows a device code", || async {
            let e = panel.find(".signin .user-code").await.ok().flatten()?;
            let t = panel.text(&e).await.ok()?;
            (!t.trim().is_empty()).then(|| t.trim().to_string())
        })
        .await?;
        org.approve(&code, user).await?;
        self.wait_online().await
    }

    /// Waits until the panel says "Online".
    pub async fn wait_online(&self) -> Result<(), String> {
        let panel = self.panel()?;
        wait_until(Limit::secs(60), "the panel says Online", || async {
            let v = panel
                .script(
                    "return document.querySelector('.panel .connection')?.dataset.state ?? null",
                    serde_json::json!([]),
                )
                .await
                .ok()?;
            (v.as_str() == Some("online")).then_some(())
        })
        .await
    }

    /// Signs in a headless instance from the command line (`chatbell signin`).
    pub async fn sign_in_cli(&self, desk: &Desktop, org: &Org, user: &str) -> Result<(), String> {
        let me = self;
        let (_, out) = wait_until(Limit::secs(30), "`chatbell signin` answers", || async {
            me.cli(desk, &["signin"])
                .ok()
                .filter(|(code, _)| *code == 0)
        })
        .await?;
        let code = out
            .split_whitespace()
            .last()
            .ok_or_else(|| format!("no code in {out:?}"))?
            .to_string();
        org.approve(&code, user).await?;
        wait_until(Limit::secs(60), "`chatbell status` says online", || async {
            let (_, s) = me.cli(desk, &["status", "--json"]).ok()?;
            s.contains("\"connection\":\"online\"").then_some(())
        })
        .await
    }

    /// Whether ChatBell's process is alive.
    pub fn alive(&self) -> bool {
        self.pid != 0 && proc::alive(self.pid)
    }

    /// Quits the way an agent does (`chatbell quit`), then ends what is left.
    pub async fn quit(&mut self, desk: &Desktop) {
        if let Some(panel) = self.panel.take() {
            let _ = panel.end().await;
        }
        if self.alive() {
            let _ = self.cli(desk, &["quit"]);
            let pid = self.pid;
            let _ = wait_until(Limit::secs(10), "ChatBell exits", || async {
                (!proc::alive(pid)).then_some(())
            })
            .await;
        }
        self.stop_processes();
    }

    /// Freezes ChatBell (SIGSTOP), as a machine going to sleep does.
    pub fn freeze(&self) {
        if self.alive() {
            proc::signal(self.pid, "STOP");
        }
    }

    /// Lets a frozen ChatBell run again (SIGCONT).
    pub fn thaw(&self) {
        if self.pid != 0 {
            proc::signal(self.pid, "CONT");
        }
    }

    /// SIGKILL to ChatBell's own pid: no chance to save anything. Its panel,
    /// if open, closes by itself (its connection to ChatBell ends).
    pub fn kill_hard(&mut self) {
        if self.alive() {
            proc::signal(self.pid, "KILL");
        }
        let pid = self.pid;
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while proc::alive(pid) && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.panel = None;
        self.stop_processes();
    }

    fn stop_processes(&mut self) {
        if let Some(mut d) = self.driver.take() {
            d.stop(Duration::from_secs(5));
        }
        self.panel_pid = 0;
        if let Some(mut p) = self.proc.take() {
            p.stop(Duration::from_secs(5));
        }
        if self.alive() {
            proc::stop_pid(self.pid, Duration::from_secs(5));
        }
        self.pid = 0;
    }

    /// Copies ChatBell's own log files into the artefacts.
    pub fn keep_logs(&self, desk: &Desktop) {
        let from = self.data_dir.join("logs");
        let to = desk
            .artefacts
            .logs()
            .join(format!("{}-data-logs", self.name));
        if let Ok(dir) = std::fs::read_dir(&from) {
            let _ = std::fs::create_dir_all(&to);
            for e in dir.flatten() {
                let _ = std::fs::copy(e.path(), to.join(e.file_name()));
            }
        }
    }
}

impl Drop for ChatBell {
    fn drop(&mut self) {
        self.stop_processes();
    }
}

/// The desktop's clock as one ChatBell sees it, moved while it runs:
/// libfaketime (Debian's `libfaketime`) preloaded, its offset read from a file
/// the test rewrites. Only the wall clock moves, as when NTP corrects it or a
/// machine wakes: the monotonic clock is left alone.
pub struct FakeClock {
    file: PathBuf,
    library: PathBuf,
}

/// Where Debian puts libfaketime's multi-threaded library, for this machine's
/// architecture (`/usr/lib/<triplet>/faketime/`).
fn libfaketime() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.is_file())
}

impl FakeClock {
    /// A clock file in `dir`, at the real time.
    pub fn new(dir: &Path) -> Result<FakeClock, String> {
        let library = libfaketime().ok_or(
            "no /usr/lib/*/faketime/libfaketimeMT.so.1: the clock tests need Debian's libfaketime package",
        )?;
        let clock = FakeClock {
            file: dir.join("faketime"),
            library,
        };
        clock.set("+0")?;
        Ok(clock)
    }

    /// The environment that puts a `chatbell` run on this clock.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.library.display().to_string()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.file.display().to_string(),
            ),
            // Read again at every call: the move is seen at once.
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ]
    }

    /// Moves the clock to the real time plus `offset`, in libfaketime's
    /// words (`+4m`, `-1h`, `+3d`, `+0`).
    pub fn set(&self, offset: &str) -> Result<(), String> {
        // Written whole, then renamed: a reader never sees half a line.
        let tmp = self.file.with_extension("new");
        std::fs::write(&tmp, format!("{offset}\n")).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &self.file).map_err(|e| e.to_string())
    }
}
