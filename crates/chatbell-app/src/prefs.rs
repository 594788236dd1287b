//! The agent's preferences on this desktop: sounds and do not disturb (R18, R19)
//! and whether ChatBell starts at login. JSON in the data dir, written atomically.

use chatbell_core::present::{BadPresence, Dnd, Presence, Sounds};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What the agent set on this desktop.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prefs {
    #[serde(default)]
    pub presence: Presence,
    #[serde(default)]
    pub start_at_login: bool,
}

/// The Dynamics connection, as the panel's preferences show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicsPrefs {
    pub url: Option<String>,
    pub app_id: Option<String>,
    /// The keys the administrator locked (shown, not editable).
    #[serde(default)]
    pub locked: Vec<String>,
}

/// The panel's preferences (`get_preferences` / `set_preferences`): this
/// desktop's presence settings, start at login, and the Dynamics connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanelPrefs {
    pub sounds: Sounds,
    pub dnd: Dnd,
    pub start_at_login: bool,
    pub dynamics: DynamicsPrefs,
}

/// Why preferences could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum PrefsError {
    #[error("preferences: {0}")]
    Invalid(#[from] BadPresence),
    #[error("cannot save the preferences to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl Prefs {
    /// Reads the file; missing → defaults; unreadable or invalid → defaults and a
    /// warning in the log (never an error: preferences must not stop ChatBell).
    pub fn load(path: &Path) -> Prefs {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Prefs::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the preferences; using the defaults");
                return Prefs::default();
            }
        };
        match serde_json::from_str::<Prefs>(&text) {
            Ok(p) => match p.presence.validate() {
                Ok(()) => p,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "invalid preferences; using the defaults");
                    Prefs::default()
                }
            },
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable preferences; using the defaults");
                Prefs::default()
            }
        }
    }

    /// Checks, then writes atomically.
    pub fn save(&self, path: &Path) -> Result<(), PrefsError> {
        self.presence.validate()?;
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| PrefsError::Write {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        crate::fsutil::write_atomically(path, &bytes).map_err(|source| PrefsError::Write {
            path: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prefs_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prefs.json");
        assert_eq!(Prefs::load(&p), Prefs::default());
        let mut prefs = Prefs {
            start_at_login: true,
            ..Prefs::default()
        };
        prefs.presence.dnd.on = true;
        prefs.presence.sounds.message.volume = 0.25;
        prefs.save(&p).unwrap();
        assert_eq!(Prefs::load(&p), prefs);
    }

    #[test]
    fn invalid_prefs_are_refused_and_the_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prefs.json");
        Prefs::default().save(&p).unwrap();
        let before = std::fs::read_to_string(&p).unwrap();
        let mut bad = Prefs::default();
        bad.presence.sounds.call.volume = 2.0;
        assert!(matches!(bad.save(&p), Err(PrefsError::Invalid(_))));
        bad = Prefs::default();
        bad.presence.dnd.schedule.from = "25:00".into();
        assert!(bad.save(&p).is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), before);
    }

    #[test]
    fn unreadable_prefs_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prefs.json");
        for junk in [
            "{not json",
            "{\"presence\": 3}",
            "{\"surprise\": true}",
            "\u{0}\u{1}",
        ] {
            std::fs::write(&p, junk).unwrap();
            assert_eq!(Prefs::load(&p), Prefs::default(), "{junk:?}");
        }
        // A valid JSON file with an out-of-range volume: defaults too.
        let mut bad = serde_json::to_value(Prefs::default()).unwrap();
        bad["presence"]["sounds"]["message"]["volume"] = serde_json::json!(7.0);
        std::fs::write(&p, bad.to_string()).unwrap();
        assert_eq!(Prefs::load(&p), Prefs::default());
    }
}
