//! `chatbell report`: one plain-text file an agent can send to IT, with what
//! IT needs to see why ChatBell misbehaves on this desktop, and neither a token
//! nor customer text.
//!
//! # What the report holds
//!
//! In sections, each titled `== ... ==`:
//!
//! - **ChatBell**: its version and the executable's path;
//! - **Platform**: the operating system and processor; on Linux the kernel
//!   (`/proc/sys/kernel`) and the distribution (`/etc/os-release`); the desktop
//!   session's variables (`XDG_CURRENT_DESKTOP`, `XDG_SESSION_TYPE`, `DISPLAY`,
//!   `WAYLAND_DISPLAY`, `LANG`...), ChatBell's own (`CHATBELL_CONFIG`...) and
//!   `RUST_LOG`; no host name, and no other variable;
//! - **Configuration**: the system file and the user's file, each with its path
//!   and whether it was found and read, then the configuration in effect, each
//!   key with the file it comes from (or the default) and whether the
//!   administrator locked it, then each file's text. ChatBell's configuration
//!   holds no secret: it signs in as a public client, so there is no client
//!   secret, and `dynamics.client_id` (the app registration's id) is public;
//! - **Doctor**: the checks of `chatbell doctor`: those of the desktop (given by
//!   the caller as [`Finding`]s), the configuration and Dynamics
//!   ([`crate::doctor::dynamics`]), the running ChatBell, and the org as the
//!   running ChatBell checks it ([`crate::doctor::org_at`]);
//! - **Running ChatBell**: what the running instance answers over its control
//!   socket (within its time limits), as counts: its connection, unread count,
//!   the number of live notifications of each kind, whether someone is signed
//!   in, and the problems its org check found; never a notification's text,
//!   the account's name or a sign-in code;
//! - **Data directory**: its files with their sizes and times; the preferences
//!   (sounds, quiet hours); never the cache's or the sign-in file's content;
//! - **Logs**: the last [`DEFAULT_LOG_LINES`] lines of the log files, the newest
//!   last.
//!
//! Nothing that goes wrong while collecting (a missing or unreadable file, a
//! configuration that cannot be used, a ChatBell that does not answer) stops
//! the report: the section says what went wrong instead.
//!
//! # What is removed
//!
//! Every text that comes from outside ChatBell's code (log lines, error
//! messages, files, variables, the running instance's answers) goes through
//! [`redact`], and the whole report through [`redact_secrets`] before it is
//! written. They replace with [`REMOVED`]:
//!
//! - **tokens**: JWTs (`eyJ...`, access and ID tokens), the value after
//!   `Bearer` or `Basic`, an `Authorization:`, `Proxy-Authorization:`,
//!   `Cookie:` or `Set-Cookie:` header's value, the value of `access_token`,
//!   `refresh_token`, `id_token`, `token`, `device_code`, `user_code`,
//!   `client_secret`, `client_assertion`, `code_verifier`, `password`,
//!   `secret` and `api_key` (as JSON, Rust `Debug`, `key=value` log fields or
//!   query strings), an OAuth `code` in a query string (`?code=` / `&code=`),
//!   a user name and password in a URL, and any run of 40 or more letters,
//!   digits, `-`, `_` and `+` that mixes upper case, lower case and digits
//!   (a token of a form not known here);
//! - **customer text** (only [`redact`]): the value of the keys that carry
//!   customer names, numbers and messages: `preview`, `body`, `text`, `title`,
//!   `subject`, `description`, `summary`, `content`, `name`, `full_name`,
//!   `customer`, `customer_name`, `number`, `phone`, `from`, `to`, `reason`,
//!   `email` and Dataverse's columns of them (`cb_name`, `cb_customernumber`,
//!   `cb_lastmessagepreview`, `cb_body`, `cb_reason`, `cb_number`, `fullname`,
//!   `internalemailaddress`...), quoted (JSON, `Debug`, `key="..."`) or as a
//!   log field (`key=value...`, to the next field);
//! - **phone numbers and e-mail addresses**, wherever they are: `+` and 7 to
//!   17 digits (spaces, dots, dashes and brackets between them allowed, as in
//!   `+49 151 1234 5678`), a run of 8 or more digits (spaces and brackets
//!   allowed) that is not part of a word, a GUID, a version or a date, and an
//!   e-mail address's part before the `@` (the domain stays).
//!
//! Kept: URLs (the org's, the sign-in authority's), tenant and client ids,
//! GUIDs (session and request ids), dates, versions, error codes and messages
//! other than these.
//!
//! The logs should not hold customer text in the first place (a toast is
//! logged by its key, see [`crate::LogShell`]), nor tokens (the token types
//! print as `[redacted]`); the redaction is the second line, for what a
//! dependency or an error message lets through. Customer text under a key not
//! listed here (an org's own column name) is removed only if it is shaped like
//! a number or an address.

use crate::cli::CliOutput;
use crate::config::{Config, Paths};
use crate::control::{self, ControlError, Request};
use crate::doctor;
use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

/// How many log lines a report holds, by default.
pub const DEFAULT_LOG_LINES: usize = 500;
/// What a removed value is replaced with.
pub const REMOVED: &str = "[removed]";
/// How to use the command.
pub const USAGE: &str = "usage: chatbell report [--out FILE]";

/// A log line longer than this is cut (in characters).
const MAX_LINE_CHARS: usize = 2_000;
/// How much of the end of one log file is read at most.
const MAX_TAIL_BYTES: u64 = 4 * 1024 * 1024;
/// How many lines of a configuration file are shown at most.
const MAX_CONFIG_LINES: usize = 300;
/// How long the Dynamics check may take in all.
const DYNAMICS_CHECK_LIMIT: Duration = Duration::from_secs(20);
/// How long the org check through the running ChatBell may take in all (the
/// request's own limit is 120 s while ChatBell answers meanwhile).
const ORG_CHECK_LIMIT: Duration = Duration::from_secs(130);
/// How long the running ChatBell may take to answer, in all (each request has
/// its own, shorter limits: [`control::Patience::DEFAULT`]).
const STATUS_LIMIT: Duration = Duration::from_secs(15);
/// The environment variables a report shows, by value.
const VARIABLES: &[&str] = &[
    "XDG_CURRENT_DESKTOP",
    "XDG_SESSION_TYPE",
    "XDG_SESSION_DESKTOP",
    "DESKTOP_SESSION",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "GDK_BACKEND",
    "GDK_GL",
    "XDG_RUNTIME_DIR",
    "LANG",
    "LC_ALL",
    "TZ",
    "APPIMAGE",
    "CHATBELL_CONFIG",
    "CHATBELL_SYSTEM_CONFIG",
    "CHATBELL_DATA_DIR",
    "RUST_LOG",
];
/// The environment variables a report shows only as set or not.
const VARIABLES_SET: &[&str] = &["DBUS_SESSION_BUS_ADDRESS"];

/// One check's verdict, as `chatbell doctor` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    /// What was checked ("tray host").
    pub name: String,
    /// What was found, or what to do about it.
    pub detail: String,
}

impl Finding {
    pub fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Finding {
        Finding {
            ok,
            name: name.into(),
            detail: detail.into(),
        }
    }
}

/// What to put in a report besides what it finds itself.
#[derive(Clone, Debug)]
pub struct Options {
    /// ChatBell's version (the binary's).
    pub version: String,
    /// The desktop's checks (notification server, tray host, sound, keychain),
    /// which the desktop shell runs.
    pub findings: Vec<Finding>,
    /// Whether to check Dynamics over the network: that it answers at the
    /// configured URL, and the org (through the running ChatBell's sign-in,
    /// as `chatbell doctor` does).
    pub check_dynamics: bool,
    /// How many of the last log lines to include.
    pub log_lines: usize,
    /// The running ChatBell's control socket; `None`: the default one
    /// ([`control::default_socket_path`]).
    pub socket: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            version: env!("CARGO_PKG_VERSION").to_string(),
            findings: Vec::new(),
            check_dynamics: true,
            log_lines: DEFAULT_LOG_LINES,
            socket: None,
        }
    }
}

/// A report, ready to be written.
#[derive(Clone, Debug)]
pub struct Report {
    /// When it was made.
    pub created: DateTime<Utc>,
    text: String,
}

impl Report {
    /// The report's text, redacted.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `chatbell-report-<UTC time>.txt`, e.g. `chatbell-report-20261121T235358Z.txt`.
    pub fn file_name(&self) -> String {
        format!(
            "chatbell-report-{}.txt",
            self.created.format("%Y%m%dT%H%M%SZ")
        )
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("nowhere to write the report: {0}")]
    Nowhere(String),
}

/// Where to write a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// This file, replaced if it exists (the agent named it); a directory:
    /// a new file in it, as [`Destination::NewIn`].
    File(PathBuf),
    /// A new file named [`Report::file_name`] in the first of these
    /// directories that takes it; an existing file is never replaced (a name
    /// taken gets `-2`, `-3`...).
    NewIn(Vec<PathBuf>),
}

/// Reads the arguments after `report`: `Ok(Some(file))` for `--out FILE`.
pub fn parse_args(args: &[String]) -> Result<Option<PathBuf>, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = match args.as_slice() {
        [] => return Ok(None),
        ["--out", file] => *file,
        [one] => match one.strip_prefix("--out=") {
            Some(file) => file,
            None => return Err(USAGE.to_string()),
        },
        _ => return Err(USAGE.to_string()),
    };
    if out.trim().is_empty() {
        return Err(format!("--out needs a file name\n{USAGE}"));
    }
    Ok(Some(PathBuf::from(out)))
}

/// Where `chatbell report` writes without `--out`: the current directory, else
/// the data directory.
pub fn default_directories(paths: &Paths) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    dirs.push(paths.data_dir.clone());
    dirs
}

/// `chatbell report [--out FILE]`: makes the report, writes it (see
/// [`Destination`]) and says where. Exit code 2 for a usage error, 1 when it
/// cannot be written.
pub async fn run(args: &[String], paths: &Paths, options: &Options) -> CliOutput {
    let fail = |code: i32, msg: String| CliOutput {
        code,
        stdout: String::new(),
        stderr: format!("{msg}\n"),
    };
    let destination = match parse_args(args) {
        Ok(Some(file)) => Destination::File(file),
        Ok(None) => Destination::NewIn(default_directories(paths)),
        Err(e) => return fail(2, e),
    };
    let report = collect(paths, options).await;
    match write(&report, &destination) {
        Ok(path) => CliOutput {
            code: 0,
            stdout: format!("{}\n", path.display()),
            stderr: "ChatBell's report for IT: tokens and customer text are removed. \
                     Read it before you send it.\n"
                .to_string(),
        },
        Err(e) => fail(1, e.to_string()),
    }
}

/// Writes `report` (mode 0600 on Unix) and returns the file's path.
pub fn write(report: &Report, to: &Destination) -> Result<PathBuf, ReportError> {
    match to {
        Destination::File(path) if path.is_dir() => {
            write_new_in(report, std::slice::from_ref(path))
        }
        Destination::File(path) => {
            replace(path, report.text().as_bytes()).map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path.clone())
        }
        Destination::NewIn(dirs) => write_new_in(report, dirs),
    }
}

/// Opens a new file, readable by its owner only; fails if it exists.
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

fn write_new_in(report: &Report, dirs: &[PathBuf]) -> Result<PathBuf, ReportError> {
    let name = report.file_name();
    let stem = name.trim_end_matches(".txt");
    let mut failures = Vec::new();
    for dir in dirs {
        for n in 1..=100 {
            let path = match n {
                1 => dir.join(&name),
                n => dir.join(format!("{stem}-{n}.txt")),
            };
            match create_new(&path) {
                Ok(mut f) => {
                    let written = f
                        .write_all(report.text().as_bytes())
                        .and_then(|()| f.sync_all());
                    return match written {
                        Ok(()) => Ok(path),
                        Err(source) => {
                            let _ = std::fs::remove_file(&path);
                            Err(ReportError::Write { path, source })
                        }
                    };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    failures.push(format!("{}: {e}", dir.display()));
                    break;
                }
            }
        }
    }
    Err(ReportError::Nowhere(if failures.is_empty() {
        "every name is taken".to_string()
    } else {
        failures.join("; ")
    }))
}

/// Replaces `path` with `bytes`: a new file (0600) beside it, renamed over it.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = create_new(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

// ----- collecting -------------------------------------------------------------

/// Makes the report. Never fails: what cannot be found or read is said so in
/// its section.
pub async fn collect(paths: &Paths, options: &Options) -> Report {
    let created = Utc::now();
    let socket = options
        .socket
        .clone()
        .unwrap_or_else(|| control::default_socket_path(&paths.data_dir));
    let status =
        match tokio::time::timeout(STATUS_LIMIT, control::request(&socket, &Request::Status)).await
        {
            Ok(answer) => answer,
            Err(_) => Err(ControlError::NotAnswering {
                path: socket.clone(),
                pid: None,
            }),
        };

    let mut out = String::new();
    line(&mut out, "ChatBell support report");
    line(&mut out, "=======================");
    line(
        &mut out,
        &format!("created: {}", created.format("%Y-%m-%dT%H:%M:%SZ")),
    );
    line(
        &mut out,
        "Tokens, secrets and customer text (names, numbers, messages) are removed \
         from this report: see \"Removed\" at its end.",
    );
    section(&mut out, "ChatBell");
    field(&mut out, "version", &options.version);
    field(
        &mut out,
        "executable",
        &match std::env::current_exe() {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("unknown ({e})"),
        },
    );
    platform(&mut out);
    configuration(&mut out, paths);
    doctor_section(&mut out, paths, options, &socket, &status).await;
    running(&mut out, &socket, &status);
    data_directory(&mut out, paths);
    logs(&mut out, &crate::logs::dir(paths), options.log_lines);
    section(&mut out, "Removed");
    line(
        &mut out,
        "Replaced with [removed]: tokens (JWTs, what follows Bearer or Basic, \
         Authorization and Cookie headers, access/refresh/ID tokens, device and user codes, client \
         secrets, passwords, OAuth codes in URLs, credentials in URLs, long \
         token-like strings); customer text (names, numbers, message texts and \
         previews, titles, reasons); phone numbers; the name part of e-mail \
         addresses. Never included: the cache's content, the sign-in file's \
         content, the text of notifications, the signed-in account.",
    );
    Report {
        created,
        text: redact_secrets(&out),
    }
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

fn section(out: &mut String, title: &str) {
    let _ = write!(out, "\n== {title} ==\n");
}

fn field(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "{name}: {value}");
}

fn platform(out: &mut String) {
    section(out, "Platform");
    field(
        out,
        "system",
        &format!(
            "{} ({}), {}",
            std::env::consts::OS,
            std::env::consts::FAMILY,
            std::env::consts::ARCH
        ),
    );
    if cfg!(target_os = "linux") {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|e| format!("? ({e})"))
        };
        field(
            out,
            "kernel",
            &redact(&format!(
                "{} {} {}",
                read("/proc/sys/kernel/ostype"),
                read("/proc/sys/kernel/osrelease"),
                read("/proc/sys/kernel/version")
            )),
        );
        let distribution = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
            .unwrap_or_else(|| "unknown (no /etc/os-release)".into());
        field(out, "distribution", &redact(&distribution));
    }
    line(out, "environment:");
    for name in VARIABLES {
        let value = match std::env::var_os(name) {
            Some(v) => redact(&v.to_string_lossy()),
            None => "(not set)".into(),
        };
        let _ = writeln!(out, "  {name}={value}");
    }
    for name in VARIABLES_SET {
        let set = if std::env::var_os(name).is_some() {
            "(set)"
        } else {
            "(not set)"
        };
        let _ = writeln!(out, "  {name}={set}");
    }
}

/// One configuration file as read for the report.
struct ConfigFile {
    /// What became of it, for the report.
    state: String,
    /// Its text, if it could be read.
    text: Option<String>,
    /// Its table tree, if it is TOML.
    tree: Option<toml::Table>,
}

fn read_config_file(path: &Path) -> ConfigFile {
    match std::fs::read(path) {
        Ok(bytes) => {
            let len = bytes.len() as u64;
            let (text, utf8) = match String::from_utf8(bytes) {
                Ok(t) => (t, true),
                Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
            };
            let tree = text.parse::<toml::Table>().ok();
            let state = format!(
                "read, {}{}",
                size(len),
                match (utf8, tree.is_some()) {
                    (false, _) => ", not UTF-8 text",
                    (true, false) => ", not valid TOML",
                    (true, true) => "",
                }
            );
            ConfigFile {
                state,
                text: Some(text),
                tree,
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile {
            state: "not found".into(),
            text: None,
            tree: None,
        },
        Err(e) => ConfigFile {
            state: redact(&format!("cannot be read: {e}")),
            text: None,
            tree: None,
        },
    }
}

fn has_dynamics_key(file: Option<&ConfigFile>, key: &str) -> bool {
    file.and_then(|f| f.tree.as_ref())
        .and_then(|t| t.get("dynamics"))
        .and_then(|d| d.get(key))
        .is_some()
}

fn configuration(out: &mut String, paths: &Paths) {
    section(out, "Configuration");
    let system = paths
        .system_config_file
        .as_ref()
        .map(|p| (p.clone(), read_config_file(p)));
    let user = read_config_file(&paths.config_file);
    match &system {
        Some((p, f)) => field(
            out,
            "system file",
            &format!("{} ({})", p.display(), f.state),
        ),
        None => field(
            out,
            "system file",
            "none is read (CHATBELL_SYSTEM_CONFIG is empty, or none on this system)",
        ),
    }
    field(
        out,
        "user file",
        &format!("{} ({})", paths.config_file.display(), user.state),
    );
    line(out, "in effect (the user's file over the system's):");
    match Config::load_for(paths) {
        Err(e) => {
            let _ = writeln!(
                out,
                "  the configuration cannot be used: {}",
                redact(&e.to_string())
            );
        }
        Ok(c) => {
            let system_path = system
                .as_ref()
                .map(|(p, _)| p.display().to_string())
                .unwrap_or_default();
            let system_file = system.as_ref().map(|(_, f)| f);
            let source = |key: &str| -> String {
                let short = key.trim_start_matches("dynamics.");
                if c.is_locked(key) {
                    format!("system file {system_path}, locked")
                } else if has_dynamics_key(Some(&user), short) {
                    "user file".into()
                } else if has_dynamics_key(system_file, short) {
                    format!("system file {system_path}")
                } else {
                    "default".into()
                }
            };
            match &c.dynamics {
                None => line(out, "  no Dynamics org: ChatBell runs its demo"),
                Some(d) => {
                    let none = "(not set)".to_string();
                    for (key, value, note) in [
                        ("dynamics.url", &d.url, ""),
                        ("dynamics.app_id", d.app_id.as_ref().unwrap_or(&none), ""),
                        ("dynamics.authority", &d.authority, ""),
                        ("dynamics.tenant", &d.tenant, ""),
                        (
                            "dynamics.client_id",
                            d.client_id.as_ref().unwrap_or(&none),
                            "; the app registration's id: public, not a secret",
                        ),
                    ] {
                        let _ = writeln!(out, "  {key} = {value}  ({}{note})", source(key));
                    }
                }
            }
            if c.mapping.0.is_empty() {
                line(out, "  schema: the add-on's own table and column names");
            }
            let schema_source = if c.is_locked("schema") {
                format!("system file {system_path}, locked")
            } else {
                "the user's file over the system's".into()
            };
            for (table, m) in &c.mapping.0 {
                let at = format!("  schema.{table}");
                if let Some(n) = &m.name {
                    let _ = writeln!(out, "{at}.name: {n}  ({schema_source})");
                }
                if let Some(s) = &m.entity_set {
                    let _ = writeln!(out, "{at}.entity_set: {s}  ({schema_source})");
                }
                for (col, name) in &m.columns {
                    let _ = writeln!(out, "{at}.columns.{col}: {name}  ({schema_source})");
                }
            }
            if !c.locked.is_empty() {
                let locked: Vec<&str> = c.locked.iter().map(String::as_str).collect();
                let _ = writeln!(out, "  admin.locked: {}", locked.join(", "));
            }
        }
    }
    line(
        out,
        "secrets: none in ChatBell's configuration (a public client: no client \
         secret); the sign-in's tokens are only in the encrypted sign-in file",
    );
    let files = system
        .iter()
        .map(|(p, f)| (p.clone(), f))
        .chain(std::iter::once((paths.config_file.clone(), &user)));
    for (path, file) in files {
        let Some(text) = &file.text else { continue };
        let _ = writeln!(out, "--- {} ---", path.display());
        for (n, l) in text.lines().enumerate().take(MAX_CONFIG_LINES) {
            let _ = writeln!(out, "{:>4} | {}", n + 1, redact_secrets(&clip(l)));
        }
        let total = text.lines().count();
        if total > MAX_CONFIG_LINES {
            let _ = writeln!(out, "     ({} more lines)", total - MAX_CONFIG_LINES);
        }
    }
}

async fn doctor_section(
    out: &mut String,
    paths: &Paths,
    options: &Options,
    socket: &Path,
    status: &Result<Value, ControlError>,
) {
    section(out, "Doctor");
    let mut say = |f: &Finding| {
        let _ = writeln!(
            out,
            "{} {}: {}",
            if f.ok { "ok  " } else { "FIX " },
            redact(&f.name),
            redact(&f.detail)
        );
    };
    if options.findings.is_empty() {
        say(&Finding::new(
            "desktop",
            true,
            "not checked here (the desktop shell runs those checks)",
        ));
    }
    for f in &options.findings {
        say(f);
    }
    let dynamics = if options.check_dynamics {
        match tokio::time::timeout(DYNAMICS_CHECK_LIMIT, doctor::dynamics(paths)).await {
            Ok((ok, detail)) => Finding::new("Dynamics", ok, detail),
            Err(_) => Finding::new(
                "Dynamics",
                false,
                format!("no answer within {} s", DYNAMICS_CHECK_LIMIT.as_secs()),
            ),
        }
    } else {
        Finding::new("Dynamics", true, "not checked")
    };
    say(&dynamics);
    let (ok, detail) = doctor::running_verdict(status);
    say(&Finding::new("ChatBell", ok, detail));
    if options.check_dynamics {
        let org = match tokio::time::timeout(ORG_CHECK_LIMIT, doctor::org_at(socket)).await {
            Ok(lines) => lines,
            Err(_) => vec![(
                false,
                format!(
                    "org check: no answer within {} s",
                    ORG_CHECK_LIMIT.as_secs()
                ),
            )],
        };
        for (ok, detail) in org {
            say(&Finding::new("Dynamics", ok, detail));
        }
    }
}

/// The running instance's status, as counts: no text of a notification, no
/// account, no sign-in code.
fn running(out: &mut String, socket: &Path, status: &Result<Value, ControlError>) {
    section(out, "Running ChatBell");
    field(out, "control socket", &socket.display().to_string());
    let v = match status {
        Ok(v) => v,
        Err(ControlError::NotRunning { .. }) => {
            line(out, "not running");
            return;
        }
        Err(e) => {
            line(out, &redact(&e.to_string()));
            return;
        }
    };
    let text = |key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .map(redact)
            .unwrap_or_else(|| "?".into())
    };
    let yes = |key: &str| match v.get(key) {
        Some(Value::Bool(true)) => "yes",
        Some(Value::Bool(false)) => "no",
        Some(Value::Null) | None => "no",
        Some(_) => "yes",
    };
    let count = |key: &str| v.get(key).and_then(Value::as_array).map_or(0, |a| a.len());
    field(out, "connection", &text("connection"));
    field(out, "demo", yes("demo"));
    field(out, "signed in", yes("account"));
    let signing_in = match (yes("signin"), yes("browser_signin")) {
        ("yes", _) => "yes, with a device code",
        (_, "yes") => "yes, in the browser",
        _ => "no",
    };
    field(out, "signing in", signing_in);
    field(out, "first run's question open", yes("welcome"));
    field(
        out,
        "unread",
        &v.get("unread")
            .and_then(Value::as_u64)
            .map_or("?".into(), |n| n.to_string()),
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(list) = v.get("notifications").and_then(Value::as_array) {
        for n in list {
            let kind = n.get("kind").and_then(Value::as_str).unwrap_or("?");
            *kinds.entry(redact(kind)).or_default() += 1;
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    field(
        out,
        "live notifications",
        &format!(
            "{}{} (their texts are not included)",
            count("notifications"),
            if kinds.is_empty() {
                String::new()
            } else {
                format!(": {}", kinds.join(", "))
            }
        ),
    );
    field(
        out,
        "my requests waiting",
        &count("my_pending_requests").to_string(),
    );
    field(out, "do not disturb", yes("dnd_active"));
    field(out, "sounds muted", yes("muted"));
    field(out, "sign-in kept", &text("storage"));
    if let Some(note) = v.get("storage_note").and_then(Value::as_str) {
        field(out, "sign-in note", &redact(note));
    }
    let problems: Vec<&str> = v
        .get("org_problems")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    field(out, "org problems found", &problems.len().to_string());
    for p in problems {
        let _ = writeln!(out, "  {}", redact(&clip(p)));
    }
}

fn modified(meta: &std::fs::Metadata) -> String {
    meta.modified()
        .map(|t| {
            DateTime::<Utc>::from(t)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| "?".into())
}

/// A size for people: `512 B`, `3.4 KiB`, `1.2 MiB` (never a long run of digits).
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn data_directory(out: &mut String, paths: &Paths) {
    section(out, "Data directory");
    let dir = &paths.data_dir;
    field(out, "path", &dir.display().to_string());
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            line(
                out,
                "it does not exist (ChatBell has not run for this user)",
            );
            return;
        }
        Err(e) => {
            line(out, &redact(&format!("cannot be read: {e}")));
            return;
        }
    };
    let mut rows: Vec<(String, String)> = entries
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let row = match e.metadata() {
                Ok(m) if m.is_dir() => format!("directory, modified {}", modified(&m)),
                Ok(m) => format!("{}, modified {}", size(m.len()), modified(&m)),
                Err(err) => format!("? ({err})"),
            };
            let note = match name.as_str() {
                "chatbell.db" | "demo.db" => "; the cache of chats: its content is not included",
                chatbell_auth::FILE_NAME => "; the encrypted sign-in: its content is not included",
                _ => "",
            };
            (name, format!("{row}{note}"))
        })
        .collect();
    rows.sort();
    for (name, row) in rows {
        let _ = writeln!(out, "  {}: {row}", redact(&name));
    }
    match std::fs::read(paths.prefs_file()) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let _ = writeln!(out, "preferences: {}", redact(&clip(text.trim())));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            line(out, "preferences: the defaults (no prefs.json)")
        }
        Err(e) => line(out, &redact(&format!("preferences: cannot be read: {e}"))),
    }
}

/// `text` cut to [`MAX_LINE_CHARS`] characters.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_LINE_CHARS) {
        Some((at, _)) => format!("{}… (cut)", &text[..at]),
        None => text.to_string(),
    }
}

/// The last `n` lines of the file at `path` (of its last [`MAX_TAIL_BYTES`]),
/// and whether it holds more than were read.
fn tail(path: &Path, n: usize) -> std::io::Result<(Vec<String>, bool)> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(MAX_TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    f.take(MAX_TAIL_BYTES).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The first line read is probably a line's end.
        lines.remove(0);
    }
    let more = start > 0 || lines.len() > n;
    let from = lines.len().saturating_sub(n);
    Ok((lines[from..].iter().map(|l| l.to_string()).collect(), more))
}

fn logs(out: &mut String, dir: &Path, wanted: usize) {
    section(out, &format!("Logs (the last {wanted} lines)"));
    field(out, "directory", &dir.display().to_string());
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            line(
                out,
                "no log directory: ChatBell has not written logs here (the tray app \
                 and --headless write them; the other commands do not)",
            );
            return;
        }
        Err(e) => {
            line(out, &redact(&format!("cannot be read: {e}")));
            return;
        }
    };
    let mut files: Vec<(SystemTime, String, PathBuf)> = entries
        .flatten()
        // ChatBell's and its panel's.
        .filter(|e| crate::logs::is_log_file(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            Some((
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                e.file_name().to_string_lossy().into_owned(),
                e.path(),
            ))
        })
        .collect();
    if files.is_empty() {
        line(out, "no log files");
        return;
    }
    files.sort();
    // Newest first, until enough lines.
    let mut left = wanted;
    let mut parts = Vec::new();
    let mut older = 0;
    for (_, name, path) in files.iter().rev() {
        if left == 0 {
            older += 1;
            continue;
        }
        match tail(path, left) {
            Ok((lines, more)) => {
                left -= lines.len();
                parts.push((name, Ok((lines, more))));
            }
            Err(e) => parts.push((name, Err(e))),
        }
    }
    if older > 0 {
        let _ = writeln!(out, "({older} older log files are not included)");
    }
    for (name, part) in parts.into_iter().rev() {
        match part {
            Ok((lines, more)) => {
                let _ = writeln!(
                    out,
                    "--- {} ({}{} line{}) ---",
                    redact(name),
                    if more { "its last " } else { "" },
                    lines.len(),
                    if lines.len() == 1 { "" } else { "s" }
                );
                for l in lines {
                    line(out, &redact(&clip(&l)));
                }
            }
            Err(e) => {
                let _ = writeln!(out, "--- {} ---", redact(name));
                line(out, &redact(&format!("cannot be read: {e}")));
            }
        }
    }
}

// ----- redaction --------------------------------------------------------------

/// Keys whose value is a secret (matched whole, in any case).
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "device_code",
    "user_code",
    "client_secret",
    "client_assertion",
    "code_verifier",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
];

/// Headers whose value is a secret, to the end of the line.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Keys whose value is customer text: names, numbers, messages (ChatBell's
/// own fields and Dataverse's columns).
const CUSTOMER_KEYS: &[&str] = &[
    "preview",
    "last_message_preview",
    "lastmessagepreview",
    "cb_lastmessagepreview",
    "body",
    "cb_body",
    "text",
    "message_text",
    "title",
    "subject",
    "description",
    "summary",
    "content",
    "name",
    "cb_name",
    "full_name",
    "fullname",
    "display_name",
    "session_name",
    "customer",
    "customer_name",
    "customername",
    "customer_number",
    "customernumber",
    "cb_customernumber",
    "number",
    "cb_number",
    "phone",
    "phone_number",
    "mobile",
    "msisdn",
    "from",
    "to",
    "reason",
    "cb_reason",
    "email",
    "internalemailaddress",
];

/// How far a key's value goes when it is not quoted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unquoted {
    /// Not removed (`name: ...` in prose is no field).
    Kept,
    /// To a blank or a delimiter: a token.
    Word,
    /// To the next `key=` field of a log line, or its end.
    ToNextField,
    /// To the end of the line.
    ToLineEnd,
}

/// `"key": `, `key=`, `\"key\":` and the like, with the key in group `key`
/// and the separator in group `sep`; the character before the key is no
/// letter, digit or `_`.
fn key_pattern(keys: &[&str]) -> Regex {
    let alternatives: Vec<String> = keys.iter().map(|k| regex::escape(k)).collect();
    let pattern = format!(
        r#"(?i)(?:^|[^A-Za-z0-9_])(?:\\?")?(?P<key>{})(?:\\?")?[ \t]*(?P<sep>[:=])[ \t]*"#,
        alternatives.join("|")
    );
    Regex::new(&pattern).expect("a pattern built from the constant lists above")
}

static SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| key_pattern(SECRET_KEYS));
static SECRET_HEADER: LazyLock<Regex> = LazyLock::new(|| key_pattern(SECRET_HEADERS));
static CUSTOMER_KEY: LazyLock<Regex> = LazyLock::new(|| key_pattern(CUSTOMER_KEYS));

/// Compiles one of the constant patterns below.
fn pattern(p: &str) -> Regex {
    Regex::new(p).expect("a constant pattern (each is compiled by the tests)")
}

static NEXT_FIELD: LazyLock<Regex> = LazyLock::new(|| pattern(r"[ \t][A-Za-z_][A-Za-z0-9_.]*="));
static OAUTH_CODE: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)(?P<pre>[?&](?:amp;)?code=)[^&\s\x22'#<>]*"));
static URL_CREDENTIALS: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"(?i)(?P<pre>\b[a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]*@"));
static SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"(?i)\b(?P<pre>bearer[ \t]+)[A-Za-z0-9\-._~+/]{6,}=*|\b(?P<pre2>basic[ \t]+)[A-Za-z0-9+/]{8,}=*",
    )
});
static JWT: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"eyJ[A-Za-z0-9_\-]{6,}(?:\.[A-Za-z0-9_\-]*){0,2}"));
static OPAQUE: LazyLock<Regex> = LazyLock::new(|| pattern(r"[A-Za-z0-9_\-+]{40,}"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"[A-Za-z0-9._%+\-]+@(?P<domain>(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,})"));
static E164: LazyLock<Regex> = LazyLock::new(|| pattern(r"\+\d(?:[ ().\-]{0,2}\d){6,16}"));
static DIGITS: LazyLock<Regex> = LazyLock::new(|| pattern(r"\(?\d(?:[ ()]{0,2}\d){7,}"));

/// Removes tokens and customer text from `text`: see the [module
/// documentation](self) for what is removed. For any text from outside
/// ChatBell's code: log lines, error messages, answers.
pub fn redact(text: &str) -> String {
    let text = mask_keyed(text, &CUSTOMER_KEY, |sep| match sep {
        '=' => Unquoted::ToNextField,
        _ => Unquoted::Kept,
    });
    redact_secrets(&text)
}

/// Removes tokens and secrets, phone numbers and the name part of e-mail
/// addresses from `text`, and leaves the values of the customer-text keys (a
/// table mapping's `name = "..."`, say). For text that holds no customer text
/// by construction (a configuration file), and as the last pass over a whole
/// report.
pub fn redact_secrets(text: &str) -> String {
    let text = mask_keyed(text, &SECRET_HEADER, |_| Unquoted::ToLineEnd);
    let text = mask_keyed(&text, &SECRET_KEY, |_| Unquoted::Word);
    let text = OAUTH_CODE.replace_all(&text, format!("${{pre}}{REMOVED}"));
    let text = URL_CREDENTIALS.replace_all(&text, format!("${{pre}}{REMOVED}@"));
    let text = SCHEME.replace_all(&text, |c: &regex::Captures| {
        let pre = c
            .name("pre")
            .or_else(|| c.name("pre2"))
            .map_or("", |m| m.as_str());
        format!("{pre}{REMOVED}")
    });
    let text = JWT.replace_all(&text, REMOVED);
    let text = OPAQUE.replace_all(&text, |c: &regex::Captures| {
        let s = &c[0];
        let mixed = s.chars().any(|c| c.is_ascii_uppercase())
            && s.chars().any(|c| c.is_ascii_lowercase())
            && s.chars().any(|c| c.is_ascii_digit());
        if mixed {
            REMOVED.to_string()
        } else {
            s.to_string()
        }
    });
    let text = EMAIL.replace_all(&text, format!("{REMOVED}@${{domain}}"));
    let text = mask_numbers(&E164, 7, &text);
    mask_numbers(&DIGITS, 8, &text)
}

/// Replaces the numbers `re` finds that stand alone: not inside a word, a GUID,
/// a version or a date. The character before is no letter, digit or `_` (nor,
/// unless the number starts with `+`, a `.` or `-`); the one after no letter,
/// digit, `_` or `-`. A match that runs into something joined is cut back to
/// its longest part of `min_digits` digits or more that stands alone.
fn mask_numbers(re: &Regex, min_digits: usize, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut pos = 0;
    while let Some(m) = re.find_at(text, pos) {
        let s = m.as_str();
        let before = text[..m.start()].chars().next_back();
        let joined_before = match before {
            None => false,
            Some(c) if s.starts_with('+') => c.is_alphanumeric() || c == '_',
            Some(c) => c.is_alphanumeric() || c == '_' || c == '.' || c == '-',
        };
        let mut end = None;
        if !joined_before {
            let mut digits = 0;
            for (i, c) in s.char_indices() {
                if c.is_ascii_digit() {
                    digits += 1;
                    let e = m.start() + i + 1;
                    let joined_after = text[e..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
                    if digits >= min_digits && !joined_after {
                        end = Some(e);
                    }
                }
            }
        }
        match end {
            Some(e) => {
                out.push_str(&text[last..m.start()]);
                out.push_str(REMOVED);
                last = e;
                pos = e;
            }
            None => {
                // Past the first run of digits: what follows may stand alone.
                let skip = s
                    .char_indices()
                    .find(|(i, c)| *i > 0 && !c.is_ascii_digit())
                    .map_or(s.len(), |(i, _)| i);
                pos = m.start() + skip.max(1);
            }
        }
        if pos >= text.len() {
            break;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// The length of a quoted value at the start of `rest` (quotes included), if
/// it starts with one: `"..."` (with `\"` inside), `\"...\"` (JSON in a
/// quoted string) or `'...'`; an unclosed one runs to the end of the line.
fn quoted_len(rest: &str) -> Option<(usize, &'static str)> {
    let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
    if let Some(inner) = rest.strip_prefix("\\\"") {
        return Some(match inner.find("\\\"") {
            Some(i) if i + 4 <= line_end => (i + 4, "\\\""),
            _ => (line_end, ""),
        });
    }
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        match c {
            '\n' | '\r' => return Some((i, "")),
            '\\' if !escaped => escaped = true,
            c if c == quote && !escaped => {
                return Some((i + 1, if quote == '"' { "\"" } else { "'" }))
            }
            _ => escaped = false,
        }
    }
    Some((rest.len(), ""))
}

/// Replaces the values after the keys `re` finds; `unquoted` says how far a
/// value without quotes goes, by the separator (`:` or `=`).
fn mask_keyed(text: &str, re: &Regex, unquoted: impl Fn(char) -> Unquoted) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(c) = re.captures_at(text, at) {
        let Some(whole) = c.get(0) else { break };
        let sep = c
            .name("sep")
            .and_then(|m| m.as_str().chars().next())
            .unwrap_or('=');
        out.push_str(&text[at..whole.end()]);
        let rest = &text[whole.end()..];
        let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        // `Debug` of an `Option<String>`: `title: Some("...")`.
        let some = if rest.starts_with("Some(") { 5 } else { 0 };
        if rest[some..]
            .trim_start_matches(['"', '\'', '\\'])
            .starts_with(REMOVED)
        {
            // Removed already (a report redacted twice stays the same).
            at = whole.end();
            continue;
        }
        let (len, quote) = match quoted_len(&rest[some..]) {
            Some((len, quote)) => (some + len, quote),
            None => match unquoted(sep) {
                Unquoted::Kept => (0, ""),
                Unquoted::ToLineEnd => (line_end, ""),
                Unquoted::Word => (
                    rest.find(|c: char| c.is_whitespace() || "&\"',;)}]>".contains(c))
                        .unwrap_or(rest.len()),
                    "",
                ),
                Unquoted::ToNextField => (
                    NEXT_FIELD
                        .find(&rest[..line_end])
                        .map_or(line_end, |m| m.start()),
                    "",
                ),
            },
        };
        if len > 0 {
            if len > some {
                out.push_str(&rest[..some]);
            }
            out.push_str(quote);
            out.push_str(REMOVED);
            out.push_str(quote);
        }
        at = whole.end() + len;
    }
    out.push_str(&text[at..]);
    out
}
