//! What this desktop does with the engine's effects, given what the agent set
//! here: do not disturb and quiet hours (R18), and sounds per kind (R19).
//!
//! The engine decides *what* happened and what is due; [`present`] decides, for
//! this desktop and this moment, whether it becomes a toast, which sound plays and
//! how loud. The shell carries out [`Output`]s and decides nothing.

use crate::effect::{Effect, SoundKind};
use crate::ids::SessionId;
use crate::notification::{Notification, NotificationKey};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A day of the week.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// The day before.
    pub fn previous(self) -> Weekday {
        let i = Weekday::ALL.iter().position(|d| *d == self).unwrap_or(0);
        Weekday::ALL[(i + 6) % 7]
    }
}

/// The local wall-clock time, as the shell reads it in the desktop's time zone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LocalTime {
    pub weekday: Weekday,
    /// Minutes since local midnight, 0..1440.
    pub minute: u16,
}

/// One kind's sound.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoundPref {
    pub on: bool,
    /// 0.0 (silent) to 1.0 (full).
    pub volume: f32,
}

/// The call's sound: it may ring until answered (the default) or play once.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSoundPref {
    pub on: bool,
    pub volume: f32,
    pub repeat: bool,
}

/// Sounds per kind (R19).
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sounds {
    pub message: SoundPref,
    pub call: CallSoundPref,
    pub request: SoundPref,
}

impl Default for Sounds {
    fn default() -> Self {
        Sounds {
            message: SoundPref {
                on: true,
                volume: 0.8,
            },
            call: CallSoundPref {
                on: true,
                volume: 1.0,
                repeat: true,
            },
            request: SoundPref {
                on: true,
                volume: 0.8,
            },
        }
    }
}

/// Quiet hours: from `from` to `to` (local time) on the listed days; a span that
/// ends before it starts runs over midnight, and belongs to the day it starts on.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub enabled: bool,
    /// "HH:MM".
    pub from: String,
    pub to: String,
    pub days: Vec<Weekday>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            enabled: false,
            from: "18:00".into(),
            to: "08:00".into(),
            days: Weekday::ALL.to_vec(),
        }
    }
}

/// A schedule time that is not "HH:MM".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time of day like 18:00")]
pub struct BadTimeOfDay(pub String);

/// Reads "HH:MM" into minutes since midnight.
pub fn minute_of_day(s: &str) -> Result<u16, BadTimeOfDay> {
    let bad = || BadTimeOfDay(s.chars().take(20).collect());
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let digits = |x: &str| !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Schedule {
    /// Whether `at` falls in quiet hours. A schedule whose times cannot be read
    /// is never quiet (preferences are checked when saved).
    pub fn covers(&self, at: LocalTime) -> bool {
        if !self.enabled {
            return false;
        }
        let (Ok(from), Ok(to)) = (minute_of_day(&self.from), minute_of_day(&self.to)) else {
            return false;
        };
        let on = |d: Weekday| self.days.contains(&d);
        if from == to {
            // All day.
            on(at.weekday)
        } else if from < to {
            on(at.weekday) && (from..to).contains(&at.minute)
        } else {
            // Overnight: the evening of a listed day, or the morning after one.
            (on(at.weekday) && at.minute >= from) || (on(at.weekday.previous()) && at.minute < to)
        }
    }
}

/// Do not disturb (R18).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dnd {
    /// The desktop switch.
    pub on: bool,
    pub schedule: Schedule,
    /// Calls and requests addressed to me still come through (the default).
    pub let_calls_and_requests_through: bool,
}

impl Default for Dnd {
    fn default() -> Self {
        Dnd {
            on: false,
            schedule: Schedule::default(),
            let_calls_and_requests_through: true,
        }
    }
}

impl Dnd {
    /// Whether do not disturb is in force at `at`.
    pub fn active(&self, at: LocalTime) -> bool {
        self.on || self.schedule.covers(at)
    }
}

/// What the agent set on this desktop about being told.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Presence {
    pub sounds: Sounds,
    pub dnd: Dnd,
}

/// Preferences that cannot be used as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPresence {
    #[error("volume of {kind} sounds must be between 0 and 1")]
    Volume { kind: &'static str },
    #[error("quiet hours: {0}")]
    Time(#[from] BadTimeOfDay),
}

impl Presence {
    /// Checks volumes and schedule times.
    pub fn validate(&self) -> Result<(), BadPresence> {
        let s = &self.sounds;
        for (kind, v) in [
            ("message", s.message.volume),
            ("call", s.call.volume),
            ("request", s.request.volume),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(BadPresence::Volume { kind });
            }
        }
        minute_of_day(&self.dnd.schedule.from)?;
        minute_of_day(&self.dnd.schedule.to)?;
        Ok(())
    }
}

/// What the shell does.
#[derive(Clone, PartialEq, Debug)]
pub enum Output {
    /// Show a toast, or replace the one with the same key (R16).
    Toast(Arc<Notification>),
    /// Take a toast down (it stays in the panel if it is still live).
    CloseToast(NotificationKey),
    /// A one-shot sound.
    Play {
        sound: Sound,
        volume: f32,
    },
    /// Ring for a call: repeating until [`Output::StopRing`], or once.
    Ring {
        session: SessionId,
        volume: f32,
        repeat: bool,
    },
    StopRing(SessionId),
    /// The tray's unread count (kept up to date whatever DND says, R18).
    Badge(u32),
    OpenChat(SessionId),
    OpenPanel,
}

/// The sounds ChatBell plays.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sound {
    Message,
    Call,
    Request,
}

/// Turns the engine's effects into what this desktop does at `at`.
pub fn present(effects: &[Effect], presence: &Presence, at: LocalTime, out: &mut Vec<Output>) {
    let quiet = presence.dnd.active(at);
    let through = presence.dnd.let_calls_and_requests_through;
    let sounds = &presence.sounds;
    for e in effects {
        match e {
            Effect::Show(n) | Effect::Update(n) => {
                if n.toast
                    && n.is_live()
                    && (!quiet || (through && n.kind.info().through_do_not_disturb))
                {
                    out.push(Output::Toast(n.clone()));
                }
            }
            Effect::Close { key, .. } | Effect::HideToast(key) => {
                out.push(Output::CloseToast(*key));
            }
            Effect::PlaySound(SoundKind::Message) => {
                if sounds.message.on && !quiet {
                    out.push(Output::Play {
                        sound: Sound::Message,
                        volume: sounds.message.volume,
                    });
                }
            }
            Effect::PlaySound(SoundKind::Request) => {
                if sounds.request.on && (!quiet || through) {
                    out.push(Output::Play {
                        sound: Sound::Request,
                        volume: sounds.request.volume,
                    });
                }
            }
            Effect::StartRinging(session) => {
                if sounds.call.on && (!quiet || through) {
                    out.push(Output::Ring {
                        session: *session,
                        volume: sounds.call.volume,
                        repeat: sounds.call.repeat,
                    });
                }
            }
            Effect::StopRinging(session) => out.push(Output::StopRing(*session)),
            Effect::SetUnread(n) => out.push(Output::Badge(*n)),
            Effect::OpenChat(s) => out.push(Output::OpenChat(*s)),
            Effect::OpenPanel => out.push(Output::OpenPanel),
            Effect::ArmTimer(..)
            | Effect::DisarmTimer(_)
            | Effect::WriteBack(_)
            | Effect::Dismiss(_)
            | Effect::Undismiss(_) => {}
        }
    }
}
