//! Child processes the harness owns: each one's output goes to a log file in the
//! artefacts folder, and each one is ended by its own pid (SIGTERM, then SIGKILL)
//! and waited for. Never a process group, never a negative pid.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every pid started by the harness and not yet reaped: the watchdog kills these
/// if the whole run overstays its time.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends `signal` (e.g. "TERM", "KILL") to one process, by its (positive) pid.
pub fn signal(pid: u32, signal: &str) -> bool {
    if pid == 0 {
        return false;
    }
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether `pid` is still running (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // "pid (comm) S ...": the state follows the last ')'.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// The children of `parent` (from /proc), with their command names.
pub fn children_of(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && state != "Z" {
            out.push((pid, comm.to_string()));
        }
    }
    out
}

/// Kills every process the harness started and has not reaped (the watchdog's
/// last resort).
pub fn kill_all_started() {
    let pids: Vec<u32> = live().clone();
    for pid in pids {
        signal(pid, "KILL");
    }
}

/// A process the harness started.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
    /// Extra pids that belong with this one (e.g. the app a WebDriver started) and
    /// must be gone when it is stopped.
    pub companions: Vec<u32>,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `<logs>/<name>.log`, unless
    /// stdout was already set up by the caller (`keep_stdout`).
    pub fn spawn(
        name: &str,
        cmd: &mut Command,
        logs: &Path,
        keep_stdout: bool,
    ) -> Result<Proc, String> {
        std::fs::create_dir_all(logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let log = logs.join(format!("{name}.log"));
        let file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        if !keep_stdout {
            cmd.stdout(Stdio::from(file));
        }
        cmd.stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        live().push(child.id());
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
            companions: Vec::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stdout pipe, when the caller asked for one.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// The stdin pipe, when the caller asked for one.
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until it exits by itself, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => {
                    self.forget();
                    return true;
                }
                Ok(None) if Instant::now() >= end => return false,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn forget(&self) {
        let pid = self.child.id();
        live().retain(|p| *p != pid);
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; reaped either way. The
    /// companions get the same.
    pub fn stop(&mut self, grace: Duration) {
        for pid in self.companions.clone() {
            stop_pid(pid, grace);
        }
        if self.running() {
            signal(self.child.id(), "TERM");
            if !self.wait_exit(grace) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        } else {
            let _ = self.child.wait();
        }
        self.forget();
    }
}

/// SIGTERM to a process that is not our child, then SIGKILL after `grace`.
pub fn stop_pid(pid: u32, grace: Duration) {
    if !alive(pid) {
        return;
    }
    signal(pid, "TERM");
    let end = Instant::now() + grace;
    while alive(pid) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        signal(pid, "KILL");
        let end = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}
