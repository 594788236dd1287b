//! ChatBell's configuration file (TOML) and where ChatBell keeps its files.
//!
//! ```toml
//! [dynamics]
//! url = "https://contoso.crm.dynamics.com"        # no url (or no [dynamics]): demo mode
//! app_id = "6a4c1f0e-..."                         # the model-driven app, for deep links
//! authority = "https://login.microsoftonline.com" # the default
//! tenant = "organizations"                        # the default
//! client_id = "..."                               # ChatBell's app registration
//!
//! [schema.cb_chatsession]                         # see chatbell_sync::schema
//! name = "new_whatsappsession"
//! ```
//!
//! A file that cannot be used is refused with the key and the line at fault; a
//! missing file is the defaults (demo mode).
//!
//! # The administrator's system-wide file
//!
//! A second file of the same form, readable by every user and writable only by
//! an administrator ([`default_system_config`]: `/etc/chatbell/config.toml` on
//! Linux, `%ProgramData%\ChatBell\config.toml` on Windows,
//! `/Library/Application Support/ChatBell/config.toml` on macOS;
//! `$CHATBELL_SYSTEM_CONFIG` instead, empty for none), lies under the user's:
//! a key the user's file leaves out comes from it. The keys it lists in
//! `[admin] locked` (any of [`LOCKABLE`]) always come from it: the user's file
//! cannot change them, and neither can the panel ([`write_dynamics`] refuses).
//!
//! ```toml
//! [dynamics]
//! url = "https://contoso.crm.dynamics.com"
//! tenant = "contoso.onmicrosoft.com"
//! client_id = "..."
//!
//! [admin]
//! locked = ["dynamics.url", "dynamics.tenant", "dynamics.client_id"]
//! ```

use chatbell_sync::{Mapping, Schema};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The default sign-in authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The default tenant: any work or school account.
pub const DEFAULT_TENANT: &str = "organizations";

/// The keys an administrator can lock in the system configuration
/// (`[admin] locked`); `schema` locks every table mapping at once.
pub const LOCKABLE: &[&str] = &[
    "dynamics.url",
    "dynamics.app_id",
    "dynamics.authority",
    "dynamics.tenant",
    "dynamics.client_id",
    "schema",
];

/// The system-wide configuration an administrator provisions: Linux and other
/// Unix `/etc/chatbell/config.toml`, Windows `%ProgramData%\ChatBell\config.toml`,
/// macOS `/Library/Application Support/ChatBell/config.toml`.
pub fn default_system_config() -> Option<PathBuf> {
    if cfg!(windows) {
        let base = std::env::var_os("ProgramData")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        Some(base.join("ChatBell").join("config.toml"))
    } else if cfg!(target_os = "macos") {
        Some(PathBuf::from(
            "/Library/Application Support/ChatBell/config.toml",
        ))
    } else if cfg!(unix) {
        Some(PathBuf::from("/etc/chatbell/config.toml"))
    } else {
        None
    }
}

/// Where ChatBell's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The user's configuration file (it may not exist).
    pub config_file: PathBuf,
    /// The administrator's system-wide configuration (it may not exist);
    /// `None`: none is read.
    pub system_config_file: Option<PathBuf>,
    /// SQLite cache, logs, sign-in file, preferences.
    pub data_dir: PathBuf,
}

impl Paths {
    /// `$CHATBELL_CONFIG` or the platform's config dir + `config.toml`;
    /// `$CHATBELL_SYSTEM_CONFIG` (empty: none) or [`default_system_config`];
    /// `$CHATBELL_DATA_DIR` or the platform's data dir.
    pub fn from_env() -> Result<Paths, ConfigError> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dirs = directories::ProjectDirs::from("app", "chatbell", "ChatBell");
        let config_file = match env("CHATBELL_CONFIG") {
            Some(p) => p,
            None => dirs
                .as_ref()
                .ok_or(ConfigError::NoHome)?
                .config_dir()
                .join("config.toml"),
        };
        let data_dir = match env("CHATBELL_DATA_DIR") {
            Some(p) => p,
            None => dirs
                .as_ref()
                .ok_or(ConfigError::NoHome)?
                .data_dir()
                .to_path_buf(),
        };
        let system_config_file = match std::env::var_os("CHATBELL_SYSTEM_CONFIG") {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(PathBuf::from(p)),
            None => default_system_config(),
        };
        Ok(Paths {
            config_file,
            system_config_file,
            data_dir,
        })
    }

    /// Explicit paths (tests, `--config`), with no system configuration.
    pub fn new(config_file: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Paths {
        Paths {
            config_file: config_file.into(),
            system_config_file: None,
            data_dir: data_dir.into(),
        }
    }

    /// The same paths with `file` as the system configuration.
    pub fn with_system_config(mut self, file: impl Into<PathBuf>) -> Paths {
        self.system_config_file = Some(file.into());
        self
    }

    /// Marks that ChatBell has run once for this user (the first run opens the
    /// panel, later ones start quietly in the tray).
    pub fn first_run_marker(&self) -> PathBuf {
        self.data_dir.join("first-run-done")
    }

    /// The agent's preferences on this desktop.
    pub fn prefs_file(&self) -> PathBuf {
        self.data_dir.join("prefs.json")
    }

    /// The cache of a Dynamics org.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("chatbell.db")
    }

    /// The demo's cache (started afresh with each demo).
    pub fn demo_database(&self) -> PathBuf {
        self.data_dir.join("demo.db")
    }
}

/// The Dynamics org to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dynamics {
    /// `https://contoso.crm.dynamics.com`, without a trailing slash.
    pub url: String,
    /// The model-driven app's id (a GUID), for deep links.
    pub app_id: Option<String>,
    pub authority: String,
    pub tenant: String,
    /// ChatBell's app registration; without it no sign-in is possible.
    pub client_id: Option<String>,
}

/// ChatBell's configuration: the user's file over the administrator's.
#[derive(Clone, Debug)]
pub struct Config {
    /// `None`: demo mode.
    pub dynamics: Option<Dynamics>,
    pub mapping: Mapping,
    /// The reference schema with `mapping` applied (checked when loaded).
    pub schema: Schema,
    /// The keys the administrator locked (of [`LOCKABLE`]).
    pub locked: BTreeSet<String>,
    /// The system configuration file that was read, if one was.
    pub system_file: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dynamics: None,
            mapping: Mapping::default(),
            schema: Schema::reference(),
            locked: BTreeSet::new(),
            system_file: None,
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: cannot write the configuration: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// Something wrong at a known place.
    #[error("{path}, line {line}, column {column}: {key}: {message}")]
    Invalid {
        path: String,
        /// The dotted key at fault (`dynamics.url`), or the nearest one known.
        key: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Other { path: String, message: String },
    /// The administrator locked `key` in the system configuration at `path`.
    #[error("{key} is set by your administrator ({path}) and cannot be changed here")]
    Locked { key: String, path: String },
    #[error("no home directory: set CHATBELL_CONFIG and CHATBELL_DATA_DIR")]
    NoHome,
}

impl ConfigError {
    /// The key at fault, if known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } | ConfigError::Locked { key, .. } => Some(key),
            _ => None,
        }
    }
    /// The line (1-based) at fault, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    dynamics: Option<RawDynamics>,
    #[serde(default)]
    schema: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    admin: Option<Spanned<RawAdmin>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    #[serde(default)]
    locked: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDynamics {
    url: Option<Spanned<String>>,
    app_id: Option<Spanned<String>>,
    authority: Option<Spanned<String>>,
    tenant: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Ctx<'a> {
    path: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn at(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.to_string(),
            key: key.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// The dotted key whose line holds `offset`: the nearest `[table]` header
    /// above it plus the key on that line.
    fn key_near(&self, offset: usize) -> String {
        let before = self.text.get(..offset.min(self.text.len())).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[line_start..].lines().next().unwrap_or("").trim();
        let mut table = String::new();
        for l in before[..line_start].lines() {
            let l = l.trim();
            if l.starts_with('[') {
                table = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            }
        }
        if line.starts_with('[') {
            return line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
        }
        let key = line
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .to_string();
        match (table.is_empty(), key.is_empty()) {
            (_, true) => table,
            (true, false) => key,
            (false, false) => format!("{table}.{key}"),
        }
    }
}

/// An org or authority URL: https, or http on this machine only; a host; no
/// query, fragment or credentials. Returned without a trailing slash.
pub fn check_url(s: &str) -> Result<String, String> {
    let u = url::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
    let host = u.host_str().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{s:?} has no host"));
    }
    match u.scheme() {
        "https" => {}
        "http" if matches!(host, "127.0.0.1" | "localhost" | "[::1]") => {}
        "http" => {
            return Err(format!(
                "{s:?} must use https (http only for 127.0.0.1 or localhost)"
            ))
        }
        other => return Err(format!("{s:?}: scheme {other:?} is not https")),
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!("{s:?} must not have a query or fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{s:?} must not hold a user name or password"));
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

fn check_app_id(s: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(s.trim())
        .map(|u| u.to_string())
        .map_err(|_| format!("{s:?} is not an app id (a GUID)"))
}

fn check_token(s: &str, what: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty()
        || t.len() > 256
        || !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        return Err(format!("{s:?} is not a {what}"));
    }
    Ok(t.to_string())
}

/// One configuration file, checked, before the files are put together.
#[derive(Clone, Debug, Default)]
struct Layer {
    /// The file's name, for messages.
    path: String,
    url: Option<String>,
    app_id: Option<String>,
    authority: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    mapping: Mapping,
    /// `[admin] locked` (the system file only).
    locked: BTreeSet<String>,
}

impl Layer {
    /// The value of a lockable `dynamics.*` key.
    fn dynamics_key(&self, key: &str) -> Option<&String> {
        match key {
            "dynamics.url" => self.url.as_ref(),
            "dynamics.app_id" => self.app_id.as_ref(),
            "dynamics.authority" => self.authority.as_ref(),
            "dynamics.tenant" => self.tenant.as_ref(),
            "dynamics.client_id" => self.client_id.as_ref(),
            _ => None,
        }
    }

    /// Whether this file sets `key` (one of [`LOCKABLE`]).
    fn sets(&self, key: &str) -> bool {
        match key {
            "schema" => !self.mapping.0.is_empty(),
            k => self.dynamics_key(k).is_some(),
        }
    }

    /// Reads one file: `system` allows `[admin]`. A missing file is empty.
    fn load(path: &Path, system: bool) -> Result<Layer, ConfigError> {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Layer::parse(&text, &shown, system),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Layer {
                path: shown,
                ..Layer::default()
            }),
            Err(source) => Err(ConfigError::Read {
                path: shown,
                source,
            }),
        }
    }

    fn parse(text: &str, path: &str, system: bool) -> Result<Layer, ConfigError> {
        let cx = Ctx { path, text };
        let raw: Raw = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => {
                let key = cx.key_near(span.start);
                cx.at(span, &key, e.message().to_string())
            }
            None => ConfigError::Other {
                path: path.to_string(),
                message: e.message().to_string(),
            },
        })?;
        let mut layer = Layer {
            path: path.to_string(),
            ..Layer::default()
        };
        if let Some(d) = raw.dynamics {
            let field = |v: &Option<Spanned<String>>,
                         key: &str,
                         check: &dyn Fn(&str) -> Result<String, String>|
             -> Result<Option<String>, ConfigError> {
                match v {
                    None => Ok(None),
                    Some(s) => check(s.get_ref())
                        .map(Some)
                        .map_err(|m| cx.at(s.span(), key, m)),
                }
            };
            layer.url = field(&d.url, "dynamics.url", &check_url)?;
            layer.app_id = field(&d.app_id, "dynamics.app_id", &check_app_id)?;
            layer.authority = field(&d.authority, "dynamics.authority", &check_url)?;
            layer.tenant = field(&d.tenant, "dynamics.tenant", &|s| {
                check_token(s, "tenant id or domain")
            })?;
            layer.client_id = field(&d.client_id, "dynamics.client_id", &|s| {
                check_token(s, "client id")
            })?;
        }
        for (table, value) in raw.schema {
            let key = format!("schema.{}", table.get_ref());
            let one: chatbell_sync::schema::TableMapping = value
                .get_ref()
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| cx.at(value.span(), &key, e.message().to_string()))?;
            let single = Mapping(
                [(table.get_ref().clone(), one.clone())]
                    .into_iter()
                    .collect(),
            );
            Schema::with_mapping(&single).map_err(|e| cx.at(table.span(), &key, e.to_string()))?;
            layer.mapping.0.insert(table.into_inner(), one);
        }
        if let Some(admin) = raw.admin {
            if !system {
                let at = admin.span();
                return Err(cx.at(
                    at,
                    "admin",
                    "only the administrator's system configuration can lock keys",
                ));
            }
            for entry in admin.into_inner().locked {
                let key = entry.get_ref().trim();
                if !LOCKABLE.contains(&key) {
                    return Err(cx.at(
                        entry.span(),
                        "admin.locked",
                        format!(
                            "{key:?} cannot be locked (lockable: {})",
                            LOCKABLE.join(", ")
                        ),
                    ));
                }
                if !layer.sets(key) {
                    return Err(cx.at(
                        entry.span(),
                        "admin.locked",
                        format!("{key} is locked but not set in this file"),
                    ));
                }
                layer.locked.insert(key.to_string());
            }
        }
        Ok(layer)
    }
}

/// The user's file over the system's; the locked keys from the system's.
fn merge(system: Option<&Layer>, user: &Layer) -> Result<Config, ConfigError> {
    let empty = Layer::default();
    let sys = system.unwrap_or(&empty);
    let pick = |key: &str, u: &Option<String>, s: &Option<String>| -> Option<String> {
        if sys.locked.contains(key) {
            if u.is_some() && u != s {
                tracing::warn!(
                    "{}: {key} is ignored: the administrator set it in {}",
                    user.path,
                    sys.path
                );
            }
            s.clone()
        } else {
            u.clone().or_else(|| s.clone())
        }
    };
    let url = pick("dynamics.url", &user.url, &sys.url);
    let app_id = pick("dynamics.app_id", &user.app_id, &sys.app_id);
    let authority = pick("dynamics.authority", &user.authority, &sys.authority);
    let tenant = pick("dynamics.tenant", &user.tenant, &sys.tenant);
    let client_id = pick("dynamics.client_id", &user.client_id, &sys.client_id);
    let mut mapping = sys.mapping.clone();
    if sys.locked.contains("schema") {
        if !user.mapping.0.is_empty() {
            tracing::warn!(
                "{}: [schema] is ignored: the administrator set it in {}",
                user.path,
                sys.path
            );
        }
    } else {
        for (table, one) in &user.mapping.0 {
            mapping.0.insert(table.clone(), one.clone());
        }
    }
    let schema = Schema::with_mapping(&mapping).map_err(|e| ConfigError::Other {
        path: match system {
            Some(s) => format!("{} over {}", user.path, s.path),
            None => user.path.clone(),
        },
        message: e.to_string(),
    })?;
    Ok(Config {
        dynamics: url.map(|url| Dynamics {
            url,
            app_id,
            authority: authority.unwrap_or_else(|| DEFAULT_AUTHORITY.to_string()),
            tenant: tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string()),
            client_id,
        }),
        mapping,
        schema,
        locked: sys.locked.clone(),
        system_file: system.map(|s| s.path.clone()),
    })
}

/// The system file, if `paths` names one and it exists.
fn system_layer(paths: &Paths) -> Result<Option<Layer>, ConfigError> {
    match &paths.system_config_file {
        Some(p) if p.exists() => Layer::load(p, true).map(Some),
        _ => Ok(None),
    }
}

impl Config {
    /// Reads the file at `path` alone; a missing file is the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        merge(None, &Layer::load(path, false)?)
    }

    /// Reads the user's configuration over the system's (see the module docs);
    /// missing files are the defaults.
    pub fn load_for(paths: &Paths) -> Result<Config, ConfigError> {
        let system = system_layer(paths)?;
        let user = Layer::load(&paths.config_file, false)?;
        merge(system.as_ref(), &user)
    }

    /// Reads a user's configuration; `path` only names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        merge(None, &Layer::parse(text, path, false)?)
    }

    /// Reads a user's configuration (`text`, named `path`) over a system one
    /// (`system_text`, named `system_path`).
    pub fn parse_layers(
        system_text: &str,
        system_path: &str,
        text: &str,
        path: &str,
    ) -> Result<Config, ConfigError> {
        let system = Layer::parse(system_text, system_path, true)?;
        merge(Some(&system), &Layer::parse(text, path, false)?)
    }

    /// No Dynamics URL: ChatBell runs against its built-in demo org.
    pub fn is_demo(&self) -> bool {
        self.dynamics.is_none()
    }

    /// Whether the administrator locked `key` (one of [`LOCKABLE`]).
    pub fn is_locked(&self, key: &str) -> bool {
        self.locked.contains(key)
    }
}

/// Sets (or, with `None`, removes) `dynamics.url` and `dynamics.app_id` in the
/// user's file (`paths.config_file`), keeping everything else (comments
/// included); checked before it is written, and written atomically. Returns the
/// configuration as it now is, the system file included. A key the
/// administrator locked is refused ([`ConfigError::Locked`]) unless it is given
/// the value it already has (or, for the app id, none), and is then left out of
/// the user's file.
pub fn write_dynamics(
    paths: &Paths,
    url: Option<&str>,
    app_id: Option<&str>,
) -> Result<Config, ConfigError> {
    let path = paths.config_file.as_path();
    let shown = path.display().to_string();
    let system = system_layer(paths)?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(ConfigError::Read {
                path: shown,
                source,
            })
        }
    };
    let mut doc: toml_edit::Document = text.parse().map_err(|e| ConfigError::Other {
        path: shown.clone(),
        message: format!("{e}"),
    })?;
    let url = url
        .map(check_url)
        .transpose()
        .map_err(|m| ConfigError::Other {
            path: shown.clone(),
            message: format!("dynamics.url: {m}"),
        })?;
    let app_id = app_id
        .filter(|a| !a.trim().is_empty())
        .map(check_app_id)
        .transpose()
        .map_err(|m| ConfigError::Other {
            path: shown.clone(),
            message: format!("dynamics.app_id: {m}"),
        })?;
    let locked = |key: &str| system.as_ref().filter(|s| s.locked.contains(key));
    let url_locked = match locked("dynamics.url") {
        Some(s) if s.url != url => {
            return Err(ConfigError::Locked {
                key: "dynamics.url".into(),
                path: s.path.clone(),
            })
        }
        l => l.is_some(),
    };
    let app_id_locked = match locked("dynamics.app_id") {
        Some(s) if app_id.is_some() && s.app_id != app_id => {
            return Err(ConfigError::Locked {
                key: "dynamics.app_id".into(),
                path: s.path.clone(),
            })
        }
        l => l.is_some(),
    };
    if !doc.contains_table("dynamics") {
        doc.insert("dynamics", toml_edit::table());
    }
    let table = doc["dynamics"]
        .as_table_mut()
        .ok_or_else(|| ConfigError::Other {
            path: shown.clone(),
            message: "dynamics: is not a table".into(),
        })?;
    if !url_locked {
        match &url {
            Some(u) => {
                table.insert("url", toml_edit::value(u.as_str()));
            }
            None => {
                table.remove("url");
            }
        }
    }
    if !app_id_locked {
        match (&url, &app_id) {
            (Some(_), Some(a)) => {
                table.insert("app_id", toml_edit::value(a.as_str()));
            }
            _ => {
                table.remove("app_id");
            }
        }
    }
    if table.is_empty() {
        doc.remove("dynamics");
    }
    let new_text = doc.to_string();
    let config = merge(system.as_ref(), &Layer::parse(&new_text, &shown, false)?)?;
    crate::fsutil::write_atomically(path, new_text.as_bytes()).map_err(|source| {
        ConfigError::Write {
            path: shown,
            source,
        }
    })?;
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        Config::parse(text, "config.toml").unwrap_err()
    }

    #[test]
    fn missing_file_is_demo_mode() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&dir.path().join("nope.toml")).unwrap();
        assert!(c.is_demo());
        assert!(Config::parse(
            "[dynamics]\napp_id = \"6a4c1f0e-1111-2222-3333-444455556666\"\n",
            "c"
        )
        .unwrap()
        .is_demo());
    }

    #[test]
    fn a_full_file_is_read_with_defaults() {
        let c = Config::parse(
            "# mine\n[dynamics]\nurl = \"https://contoso.crm.dynamics.com/\"\nclient_id = \"abc-123\"\n\n[schema.cb_chatsession]\nname = \"new_whatsappsession\"\n",
            "c",
        )
        .unwrap();
        let d = c.dynamics.unwrap();
        assert_eq!(d.url, "https://contoso.crm.dynamics.com");
        assert_eq!(d.authority, DEFAULT_AUTHORITY);
        assert_eq!(d.tenant, DEFAULT_TENANT);
        assert_eq!(d.client_id.as_deref(), Some("abc-123"));
        assert_eq!(
            c.schema.logical(chatbell_sync::Table::Session),
            "new_whatsappsession"
        );
    }

    #[test]
    fn config_error_names_the_key_and_line() {
        let e = err("[dynamics]\nurl = \"https://a.example\"\ncolour = \"red\"\n");
        assert_eq!(e.line(), Some(3), "{e}");
        assert!(e.to_string().contains("colour"), "{e}");
        assert!(e.to_string().contains("line 3"), "{e}");
        assert_eq!(e.key(), Some("dynamics.colour"), "{e}");
    }

    #[test]
    fn unknown_top_level_key_is_refused() {
        let e = err("\n\n[dynamix]\nurl = \"https://a.example\"\n");
        assert_eq!(e.line(), Some(3), "{e}");
        assert!(e.to_string().contains("dynamix"), "{e}");
    }

    #[test]
    fn bad_url_names_dynamics_url_and_its_line() {
        for bad in [
            "http://contoso.crm.dynamics.com",
            "not a url",
            "ftp://x.example",
            "https://x.example/?a=1",
            "https://user:pw@x.example",
        ] {
            let e = err(&format!("# c\n[dynamics]\n\nurl = \"{bad}\"\n"));
            assert_eq!(e.key(), Some("dynamics.url"), "{bad}: {e}");
            assert_eq!(e.line(), Some(4), "{bad}: {e}");
        }
        // http on this machine only.
        for ok in ["http://127.0.0.1:8080", "http://localhost:1"] {
            Config::parse(&format!("[dynamics]\nurl = \"{ok}\"\n"), "c").unwrap();
        }
    }

    #[test]
    fn wrong_type_names_the_key_and_line() {
        let e = err("[dynamics]\nurl = 42\n");
        assert_eq!(e.line(), Some(2), "{e}");
        assert_eq!(e.key(), Some("dynamics.url"), "{e}");
    }

    #[test]
    fn syntax_error_gives_the_line() {
        let e = err("[dynamics]\nurl = \"https://a.example\n");
        assert_eq!(e.line(), Some(2), "{e}");
    }

    #[test]
    fn bad_app_id_and_client_id_are_named() {
        let e = err("[dynamics]\nurl = \"https://a.example\"\napp_id = \"x&etn=evil\"\n");
        assert_eq!(e.key(), Some("dynamics.app_id"), "{e}");
        assert_eq!(e.line(), Some(3));
        let e = err("[dynamics]\nurl = \"https://a.example\"\nclient_id = \"a b\"\n");
        assert_eq!(e.key(), Some("dynamics.client_id"), "{e}");
    }

    #[test]
    fn bad_schema_mapping_names_the_table_and_line() {
        let e = err("[schema.cb_nosuch]\nname = \"x\"\n");
        assert_eq!(e.key(), Some("schema.cb_nosuch"), "{e}");
        assert_eq!(e.line(), Some(1), "{e}");
        let e = err("\n[schema.cb_chatsession]\ncolumns = { cb_nosuch = \"x\" }\n");
        assert_eq!(e.key(), Some("schema.cb_chatsession"), "{e}");
        assert!(e.to_string().contains("cb_nosuch"), "{e}");
        let e = err("[schema.cb_chatsession]\nname = \"bad name\"\n");
        assert_eq!(e.key(), Some("schema.cb_chatsession"), "{e}");
        let e = err("[schema.cb_chatsession]\nnmae = \"x\"\n");
        assert!(e.to_string().contains("nmae"), "{e}");
    }

    #[test]
    fn a_choice_mapping_that_leaves_a_meaning_out_names_it_and_its_key() {
        let e = err("[schema.cb_chatsession]\nchoices.statuscode = { open = 1, closed = 2 }\n");
        assert_eq!(e.key(), Some("schema.cb_chatsession"), "{e}");
        assert!(
            e.to_string()
                .contains("choices.statuscode: blocked missing"),
            "{e}"
        );
        let e = err("[schema.cb_chatsession]\nchoices.statuscode = { open = 1, closed = 2, blocked = 3, spam = 4 }\n");
        assert!(e.to_string().contains("\"spam\" is not a meaning"), "{e}");
        let e = err("[schema.cb_chatsession]\nchoices.cb_name = { open = 1 }\n");
        assert!(
            e.to_string().contains("cb_name\" is not a choice column"),
            "{e}"
        );
        let e = err("[schema.cb_chatsession]\nnavigation = { cb_name = \"x\" }\n");
        assert!(e.to_string().contains("is not a lookup"), "{e}");
        let e = err(
            "[schema.cb_chatsession]\nchoices.statuscode = { open = 1, closed = 1, blocked = 3 }\n",
        );
        assert!(e.to_string().contains("same value"), "{e}");
        let ok = Config::parse(
            "[schema.cb_chatsession]\nnavigation = { cb_configuration = \"new_Config\" }\nchoices.statuscode = { open = 1, closed = 2, blocked = 100000000 }\n",
            "config.toml",
        );
        let ok = ok.expect("a whole choice mapping is taken");
        assert_eq!(
            ok.schema
                .value(chatbell_sync::Table::Session, "statuscode", "blocked"),
            100000000
        );
        assert_eq!(
            ok.schema
                .lookup_bind(chatbell_sync::Table::Session, "cb_configuration"),
            "new_Config@odata.bind"
        );
    }

    #[test]
    fn write_dynamics_keeps_the_rest_and_can_go_back_to_demo() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("config.toml");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            "# keep me\n[dynamics]\nclient_id = \"abc\"\n\n[schema.cb_chatsession]\nname = \"new_s\"\n",
        )
        .unwrap();
        let paths = Paths::new(&p, dir.path().join("data"));
        let c = write_dynamics(
            &paths,
            Some("https://contoso.crm.dynamics.com"),
            Some("6a4c1f0e-1111-2222-3333-444455556666"),
        )
        .unwrap();
        assert_eq!(
            c.dynamics.as_ref().unwrap().client_id.as_deref(),
            Some("abc")
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("# keep me"), "{text}");
        let again = Config::load(&p).unwrap();
        assert_eq!(
            again.dynamics.unwrap().app_id.as_deref(),
            Some("6a4c1f0e-1111-2222-3333-444455556666")
        );
        assert_eq!(again.schema.logical(chatbell_sync::Table::Session), "new_s");
        // A bad URL is refused and nothing is written.
        assert!(write_dynamics(&paths, Some("http://evil.example"), None).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        // Back to demo.
        let c = write_dynamics(&paths, None, None).unwrap();
        assert!(c.is_demo());
        assert!(Config::load(&p).unwrap().is_demo());
    }

    const SYSTEM: &str = "# provisioned by IT\n[dynamics]\nurl = \"https://contoso.crm.dynamics.com\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n\n[admin]\nlocked = [\"dynamics.url\", \"dynamics.tenant\", \"dynamics.client_id\"]\n";

    fn layered(user: &str) -> Result<Config, ConfigError> {
        Config::parse_layers(SYSTEM, "/etc/chatbell/config.toml", user, "user.toml")
    }

    #[test]
    fn the_system_file_lies_under_the_users_and_its_locked_keys_win() {
        // Nothing of the user's: everything from the system file.
        let c = layered("").unwrap();
        let d = c.dynamics.clone().unwrap();
        assert_eq!(d.url, "https://contoso.crm.dynamics.com");
        assert_eq!(d.tenant, "contoso.onmicrosoft.com");
        assert_eq!(
            d.client_id.as_deref(),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(d.authority, DEFAULT_AUTHORITY);
        assert!(c.is_locked("dynamics.url") && c.is_locked("dynamics.client_id"));
        assert!(!c.is_locked("dynamics.app_id"));
        assert_eq!(c.system_file.as_deref(), Some("/etc/chatbell/config.toml"));
        // The user's file tries the locked keys and sets unlocked ones.
        let c = layered(
            "[dynamics]\nurl = \"https://fabrikam.crm.dynamics.com\"\ntenant = \"fabrikam.example\"\nclient_id = \"mine\"\napp_id = \"6a4c1f0e-1111-2222-3333-444455556666\"\nauthority = \"https://login.example.com\"\n\n[schema.cb_chatsession]\nname = \"new_session\"\n",
        )
        .unwrap();
        let d = c.dynamics.unwrap();
        assert_eq!(d.url, "https://contoso.crm.dynamics.com", "locked");
        assert_eq!(d.tenant, "contoso.onmicrosoft.com", "locked");
        assert_eq!(
            d.client_id.as_deref(),
            Some("11111111-2222-3333-4444-555555555555"),
            "locked"
        );
        assert_eq!(
            d.app_id.as_deref(),
            Some("6a4c1f0e-1111-2222-3333-444455556666"),
            "not locked: the user's"
        );
        assert_eq!(d.authority, "https://login.example.com", "not locked");
        assert_eq!(
            c.schema.logical(chatbell_sync::Table::Session),
            "new_session"
        );
    }

    #[test]
    fn unlocked_system_keys_are_defaults_the_user_can_change() {
        let system = "[dynamics]\nurl = \"https://contoso.crm.dynamics.com\"\nclient_id = \"abc\"\n[schema.cb_chatsession]\nname = \"org_session\"\n";
        let c = Config::parse_layers(system, "sys", "", "user").unwrap();
        assert_eq!(
            c.dynamics.as_ref().unwrap().url,
            "https://contoso.crm.dynamics.com"
        );
        assert_eq!(
            c.schema.logical(chatbell_sync::Table::Session),
            "org_session"
        );
        assert!(c.locked.is_empty());
        let c = Config::parse_layers(
            system,
            "sys",
            "[dynamics]\nurl = \"https://fabrikam.crm.dynamics.com\"\n[schema.cb_chatsession]\nname = \"my_session\"\n",
            "user",
        )
        .unwrap();
        let d = c.dynamics.unwrap();
        assert_eq!(d.url, "https://fabrikam.crm.dynamics.com");
        assert_eq!(d.client_id.as_deref(), Some("abc"), "from the system file");
        assert_eq!(
            c.schema.logical(chatbell_sync::Table::Session),
            "my_session"
        );
        // Locking the schema keeps the system's mapping.
        let locked = format!("{system}[admin]\nlocked = [\"schema\"]\n");
        let c = Config::parse_layers(
            &locked,
            "sys",
            "[schema.cb_chatsession]\nname = \"my_session\"\n",
            "user",
        )
        .unwrap();
        assert_eq!(
            c.schema.logical(chatbell_sync::Table::Session),
            "org_session"
        );
    }

    #[test]
    fn only_the_system_file_can_lock_keys() {
        let e = err(
            "[dynamics]\nurl = \"https://a.example\"\n\n[admin]\nlocked = [\"dynamics.url\"]\n",
        );
        assert_eq!(e.key(), Some("admin"), "{e}");
        assert!(e.to_string().contains("config.toml"), "{e}");
        assert!(e.to_string().contains("administrator"), "{e}");
        let e = layered("[admin]\nlocked = []\n").unwrap_err();
        assert!(e.to_string().starts_with("user.toml"), "{e}");
    }

    #[test]
    fn a_bad_lock_names_the_system_file_the_key_and_the_line() {
        let bad = "[dynamics]\nurl = \"https://a.example\"\n\n[admin]\nlocked = [\n  \"dynamics.url\",\n  \"dynamics.colour\",\n]\n";
        let e = Config::parse_layers(bad, "/etc/chatbell/config.toml", "", "user").unwrap_err();
        assert_eq!(e.key(), Some("admin.locked"), "{e}");
        assert_eq!(e.line(), Some(7), "{e}");
        assert!(
            e.to_string()
                .starts_with("/etc/chatbell/config.toml, line 7"),
            "{e}"
        );
        assert!(e.to_string().contains("dynamics.colour"), "{e}");
        // Locked but not set: there would be nothing to lock it to.
        let unset =
            "[dynamics]\nurl = \"https://a.example\"\n[admin]\nlocked = [\"dynamics.client_id\"]\n";
        let e = Config::parse_layers(unset, "sys.toml", "", "user").unwrap_err();
        assert_eq!(e.key(), Some("admin.locked"), "{e}");
        assert_eq!(e.line(), Some(4), "{e}");
        assert!(e.to_string().contains("not set"), "{e}");
        // Anything else wrong in the system file is named as in a user's.
        let e = Config::parse_layers("[admin]\nlock = []\n", "sys.toml", "", "user").unwrap_err();
        assert_eq!(e.line(), Some(2), "{e}");
        assert!(e.to_string().starts_with("sys.toml"), "{e}");
        let e = Config::parse_layers(
            "[dynamics]\nurl = \"http://a.example\"\n",
            "sys.toml",
            "",
            "user",
        )
        .unwrap_err();
        assert_eq!(e.key(), Some("dynamics.url"), "{e}");
        assert!(e.to_string().starts_with("sys.toml, line 2"), "{e}");
    }

    #[test]
    fn files_on_disk_are_read_in_layers_and_a_missing_system_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("etc").join("config.toml");
        let user = dir.path().join("user.toml");
        let paths = Paths::new(&user, dir.path().join("data")).with_system_config(&sys);
        let c = Config::load_for(&paths).unwrap();
        assert!(c.is_demo() && c.system_file.is_none());
        std::fs::create_dir_all(sys.parent().unwrap()).unwrap();
        std::fs::write(&sys, SYSTEM).unwrap();
        std::fs::write(
            &user,
            "[dynamics]\nurl = \"https://fabrikam.crm.dynamics.com\"\n",
        )
        .unwrap();
        let c = Config::load_for(&paths).unwrap();
        assert_eq!(c.dynamics.unwrap().url, "https://contoso.crm.dynamics.com");
        // A bad system file is reported as such.
        std::fs::write(&sys, "[dynamics]\nurl = 42\n").unwrap();
        let e = Config::load_for(&paths).unwrap_err();
        assert!(e.to_string().contains(&sys.display().to_string()), "{e}");
        assert_eq!(e.key(), Some("dynamics.url"));
    }

    #[test]
    fn the_panel_cannot_change_a_locked_key() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("system.toml");
        let user = dir.path().join("user.toml");
        std::fs::write(&sys, SYSTEM).unwrap();
        let paths = Paths::new(&user, dir.path().join("data")).with_system_config(&sys);
        for (url, app_id) in [
            (Some("https://fabrikam.crm.dynamics.com"), None),
            (None, None),
        ] {
            let e = write_dynamics(&paths, url, app_id).unwrap_err();
            assert!(matches!(e, ConfigError::Locked { .. }), "{e}");
            assert_eq!(e.key(), Some("dynamics.url"));
            assert!(e.to_string().contains("administrator"), "{e}");
            assert!(!user.exists(), "nothing written");
        }
        // The locked URL itself, with an app id (not locked): only the app id is
        // written to the user's file.
        let c = write_dynamics(
            &paths,
            Some("https://contoso.crm.dynamics.com/"),
            Some("6a4c1f0e-1111-2222-3333-444455556666"),
        )
        .unwrap();
        let d = c.dynamics.unwrap();
        assert_eq!(d.url, "https://contoso.crm.dynamics.com");
        assert_eq!(
            d.app_id.as_deref(),
            Some("6a4c1f0e-1111-2222-3333-444455556666")
        );
        let text = std::fs::read_to_string(&user).unwrap();
        assert!(!text.contains("url"), "{text}");
        assert!(text.contains("app_id"), "{text}");
        // A locked app id: another one is refused, none keeps it.
        std::fs::write(
            &sys,
            "[dynamics]\nurl = \"https://contoso.crm.dynamics.com\"\napp_id = \"6a4c1f0e-1111-2222-3333-444455556666\"\n[admin]\nlocked = [\"dynamics.app_id\"]\n",
        )
        .unwrap();
        let e = write_dynamics(
            &paths,
            Some("https://fabrikam.crm.dynamics.com"),
            Some("6a4c1f0e-9999-2222-3333-444455556666"),
        )
        .unwrap_err();
        assert_eq!(e.key(), Some("dynamics.app_id"), "{e}");
        let c = write_dynamics(&paths, Some("https://fabrikam.crm.dynamics.com"), None).unwrap();
        let d = c.dynamics.unwrap();
        assert_eq!(d.url, "https://fabrikam.crm.dynamics.com");
        assert_eq!(
            d.app_id.as_deref(),
            Some("6a4c1f0e-1111-2222-3333-444455556666")
        );
    }

    #[test]
    fn the_system_file_is_where_each_os_keeps_it() {
        let p = default_system_config().unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(p, PathBuf::from("/etc/chatbell/config.toml"));
        }
        assert!(p.ends_with("config.toml"));
        assert_eq!(Paths::new("u", "d").system_config_file, None);
    }
}
