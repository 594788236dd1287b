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

use chatbell_sync::{Mapping, Schema};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The default sign-in authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The default tenant: any work or school account.
pub const DEFAULT_TENANT: &str = "organizations";

/// Where ChatBell's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The configuration file (it may not exist).
    pub config_file: PathBuf,
    /// SQLite cache, logs, sign-in file, preferences.
    pub data_dir: PathBuf,
}

impl Paths {
    /// `$CHATBELL_CONFIG` or the platform's config dir + `config.toml`;
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
        Ok(Paths {
            config_file,
            data_dir,
        })
    }

    /// Explicit paths (tests, `--config`).
    pub fn new(config_file: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Paths {
        Paths {
            config_file: config_file.into(),
            data_dir: data_dir.into(),
        }
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

/// ChatBell's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `None`: demo mode.
    pub dynamics: Option<Dynamics>,
    pub mapping: Mapping,
    /// The reference schema with `mapping` applied (checked when loaded).
    pub schema: Schema,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dynamics: None,
            mapping: Mapping::default(),
            schema: Schema::reference(),
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
    #[error("no home directory: set CHATBELL_CONFIG and CHATBELL_DATA_DIR")]
    NoHome,
}

impl ConfigError {
    /// The key at fault, if known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
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

impl Config {
    /// Reads the file at `path`; a missing file is the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Reads a configuration; `path` only names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
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
        let dynamics = match raw.dynamics {
            None => None,
            Some(d) => {
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
                let url = field(&d.url, "dynamics.url", &check_url)?;
                let app_id = field(&d.app_id, "dynamics.app_id", &check_app_id)?;
                let authority = field(&d.authority, "dynamics.authority", &check_url)?;
                let tenant = field(&d.tenant, "dynamics.tenant", &|s| {
                    check_token(s, "tenant id or domain")
                })?;
                let client_id = field(&d.client_id, "dynamics.client_id", &|s| {
                    check_token(s, "client id")
                })?;
                url.map(|url| Dynamics {
                    url,
                    app_id,
                    authority: authority.unwrap_or_else(|| DEFAULT_AUTHORITY.to_string()),
                    tenant: tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string()),
                    client_id,
                })
            }
        };
        let mut mapping = Mapping::default();
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
            mapping.0.insert(table.into_inner(), one);
        }
        let schema = Schema::with_mapping(&mapping).map_err(|e| ConfigError::Other {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        Ok(Config {
            dynamics,
            mapping,
            schema,
        })
    }

    /// No Dynamics URL: ChatBell runs against its built-in demo org.
    pub fn is_demo(&self) -> bool {
        self.dynamics.is_none()
    }
}

/// Sets (or, with `None`, removes) `dynamics.url` and `dynamics.app_id` in the
/// file at `path`, keeping everything else (comments included); checked before
/// it is written, and written atomically.
pub fn write_dynamics(
    path: &Path,
    url: Option<&str>,
    app_id: Option<&str>,
) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
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
    if !doc.contains_table("dynamics") {
        doc.insert("dynamics", toml_edit::table());
    }
    let table = doc["dynamics"]
        .as_table_mut()
        .ok_or_else(|| ConfigError::Other {
            path: shown.clone(),
            message: "dynamics: is not a table".into(),
        })?;
    match (&url, &app_id) {
        (Some(u), a) => {
            table.insert("url", toml_edit::value(u.as_str()));
            match a {
                Some(a) => {
                    table.insert("app_id", toml_edit::value(a.as_str()));
                }
                None => {
                    table.remove("app_id");
                }
            }
        }
        (None, _) => {
            table.remove("url");
            table.remove("app_id");
        }
    }
    if table.is_empty() {
        doc.remove("dynamics");
    }
    let new_text = doc.to_string();
    let config = Config::parse(&new_text, &shown)?;
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
    fn write_dynamics_keeps_the_rest_and_can_go_back_to_demo() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("config.toml");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            "# keep me\n[dynamics]\nclient_id = \"abc\"\n\n[schema.cb_chatsession]\nname = \"new_s\"\n",
        )
        .unwrap();
        let c = write_dynamics(
            &p,
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
        assert!(write_dynamics(&p, Some("http://evil.example"), None).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        // Back to demo.
        let c = write_dynamics(&p, None, None).unwrap();
        assert!(c.is_demo());
        assert!(Config::load(&p).unwrap().is_demo());
    }
}
