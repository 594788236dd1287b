//! The configuration file: reading it ([`Config::parse`]), the deep links built
//! from it, and rewriting its Dynamics URL and app id the way the panel does
//! ([`write_dynamics`]) with whatever else the file holds.
//!
//! Input: the file's text.
//!
//! Checks: no panic; a file that cannot be used is a [`ConfigError`] with a
//! message, and the line it names is in the file; a deep link goes to the
//! configured host only; a rewrite either leaves the file as it was (and says
//! why) or writes one that reads back with the new URL and app id, and going
//! back to the demo org after it works the same way.
//!
//! [`ConfigError`]: chatbell_app::ConfigError

use crate::support::{says, scratch, ORG_URL};
use chatbell_app::config::{write_dynamics, Config, Paths};
use chatbell_app::deeplink::session_link;
use chatbell_core::SessionId;
use std::sync::OnceLock;

const APP_ID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

/// The scratch user file, with no system file beside it.
fn paths() -> &'static Paths {
    static PATHS: OnceLock<Paths> = OnceLock::new();
    PATHS.get_or_init(|| {
        let dir = scratch("config");
        Paths::new(dir.join("config.toml"), dir.join("data"))
    })
}

fn host(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.host_str().map(str::to_string)
}

fn check(text: &str, result: &Result<Config, chatbell_app::ConfigError>) {
    match result {
        Err(e) => {
            says(e);
            if let Some(line) = e.line() {
                assert!(
                    line >= 1 && line <= text.lines().count().max(1) + 1,
                    "line {line}: {e}"
                );
            }
        }
        Ok(c) => {
            if let Some(d) = &c.dynamics {
                let session = SessionId(uuid::Uuid::from_u128(7));
                let link = session_link(c, session).unwrap_or_default();
                assert!(!link.is_empty(), "no deep link for {}", d.url);
                assert_eq!(host(&link), host(&d.url), "{link} leaves {}", d.url);
            }
        }
    }
}

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check(&text, &Config::parse(&text, "config.toml"));

    let paths = paths();
    let path = &paths.config_file;
    std::fs::write(path, text.as_bytes()).expect("the scratch file");
    match write_dynamics(paths, Some(ORG_URL), Some(APP_ID)) {
        Err(e) => {
            says(&e);
            let now = std::fs::read(path).expect("the scratch file");
            assert!(
                now == text.as_bytes(),
                "a refused rewrite changed the file: {e}"
            );
        }
        Ok(c) => {
            let d = c
                .dynamics
                .as_ref()
                .expect("a rewrite with a URL has a Dynamics org");
            assert_eq!(d.url, ORG_URL);
            assert_eq!(d.app_id.as_deref(), Some(APP_ID));
            let written = std::fs::read_to_string(path).expect("the rewritten file");
            let again = Config::parse(&written, "config.toml");
            check(&written, &again);
            assert!(again.is_ok(), "the rewritten file is refused: {written}");
            match write_dynamics(paths, None, None) {
                Ok(c) => assert!(c.is_demo(), "{:?}", c.dynamics),
                Err(e) => {
                    says(&e);
                }
            }
        }
    }
}
