//! ChatBell's sounds, synthesised here (no audio files), and a player that plays
//! them on the default output device (R5, R11, R19).
//!
//! - message: a two-note "ding-dong" (B5 then E6), 0.35 s;
//! - request: a rising three-note chime (G5, B5, D6), 0.45 s;
//! - call: one ring cycle, a 440 + 480 Hz dual tone for 1 s then 1 s of silence;
//!   it repeats until stopped when the call rings "until answered" (the default).
//!
//! A desktop without an audio device says so once in the log and goes on.

use chatbell_core::present::Sound;
use chatbell_core::SessionId;
use std::collections::HashMap;
use std::sync::mpsc;

/// Samples per second of every synthesised sound (mono).
pub const SAMPLE_RATE: u32 = 44_100;

/// A note: frequency in Hz and duration in seconds, with a soft attack and an
/// exponential decay so that it sounds like a bell rather than a beep.
fn bell(out: &mut Vec<f32>, freq: f32, seconds: f32, level: f32) {
    let n = (seconds * SAMPLE_RATE as f32) as usize;
    let attack = (0.005 * SAMPLE_RATE as f32) as usize;
    for i in 0..n {
        let t = i as f32 / SAMPLE_RATE as f32;
        let env = if i < attack {
            i as f32 / attack as f32
        } else {
            (-(t * 6.0)).exp()
        };
        let s = (std::f32::consts::TAU * freq * t).sin()
            + 0.3 * (std::f32::consts::TAU * 2.0 * freq * t).sin();
        out.push(level * env * s / 1.3);
    }
}

fn silence(out: &mut Vec<f32>, seconds: f32) {
    out.extend(std::iter::repeat_n(
        0.0,
        (seconds * SAMPLE_RATE as f32) as usize,
    ));
}

/// The samples of a sound (mono, [`SAMPLE_RATE`]), each in -1.0..=1.0.
pub fn samples(sound: Sound) -> Vec<f32> {
    let mut out = Vec::new();
    match sound {
        Sound::Message => {
            bell(&mut out, 987.77, 0.15, 0.8);
            bell(&mut out, 1318.51, 0.20, 0.8);
        }
        Sound::Request => {
            bell(&mut out, 783.99, 0.15, 0.7);
            bell(&mut out, 987.77, 0.15, 0.7);
            bell(&mut out, 1174.66, 0.15, 0.7);
        }
        Sound::Call => {
            let n = SAMPLE_RATE as usize;
            let ramp = (0.01 * SAMPLE_RATE as f32) as usize;
            for i in 0..n {
                let t = i as f32 / SAMPLE_RATE as f32;
                let env = (i.min(n - 1 - i) as f32 / ramp as f32).min(1.0);
                let s = (std::f32::consts::TAU * 440.0 * t).sin()
                    + (std::f32::consts::TAU * 480.0 * t).sin();
                out.push(0.45 * env * s);
            }
            silence(&mut out, 1.0);
        }
    }
    out
}

/// Where sounds go: the speakers in the app, a recorder in tests.
pub trait Speaker: Send + 'static {
    /// Starts playing `samples` at `volume`, mixed with what already plays, under
    /// `channel`: a later sound on the same channel replaces it. `repeat` loops it
    /// until [`Speaker::stop`].
    fn start(&mut self, channel: &str, samples: &[f32], volume: f32, repeat: bool);
    fn stop(&mut self, channel: &str);
    /// Whether anything still plays. A speaker that holds a device lets it go
    /// when nothing does: an open output stream wakes the process up a
    /// hundred times a second and more, even silent.
    fn busy(&mut self) -> bool {
        false
    }
}

/// The default output device through rodio, open only while a sound plays.
#[derive(Default)]
pub struct Speakers {
    sink: Option<rodio::MixerDeviceSink>,
    players: HashMap<String, rodio::Player>,
    /// The last failure to open the device, said once until it opens again.
    failed: Option<String>,
}

/// No sound device could be opened.
#[derive(Debug, thiserror::Error)]
#[error("no sound device: {0}")]
pub struct NoSoundDevice(pub String);

impl Speakers {
    /// The default output device, opened (and checked) now; it is let go once
    /// nothing plays and opened again for the next sound.
    pub fn open() -> Result<Speakers, NoSoundDevice> {
        let mut speakers = Speakers::default();
        speakers.device()?;
        Ok(speakers)
    }

    fn device(&mut self) -> Result<&rodio::MixerDeviceSink, NoSoundDevice> {
        if self.sink.is_none() {
            let mut sink = rodio::DeviceSinkBuilder::open_default_sink()
                .map_err(|e| NoSoundDevice(e.to_string()))?;
            sink.log_on_drop(false);
            self.sink = Some(sink);
        }
        self.sink
            .as_ref()
            .ok_or_else(|| NoSoundDevice("the output was not opened".into()))
    }
}

impl Speaker for Speakers {
    fn start(&mut self, channel: &str, samples: &[f32], volume: f32, repeat: bool) {
        use rodio::Source;
        let (Some(channels), Some(rate)) = (
            std::num::NonZero::new(1u16),
            std::num::NonZero::new(SAMPLE_RATE),
        ) else {
            return;
        };
        if let Err(e) = self.device() {
            if self.failed.as_deref() != Some(e.0.as_str()) {
                tracing::warn!("{e}: this sound is not played");
                self.failed = Some(e.0);
            }
            return;
        }
        self.failed = None;
        let Some(sink) = self.sink.as_ref() else {
            return;
        };
        let player = rodio::Player::connect_new(sink.mixer());
        player.set_volume(volume.clamp(0.0, 1.0));
        let buffer = rodio::buffer::SamplesBuffer::new(channels, rate, samples.to_vec());
        if repeat {
            player.append(buffer.repeat_infinite());
        } else {
            player.append(buffer);
        }
        if let Some(old) = self.players.insert(channel.to_string(), player) {
            old.stop();
        }
        // Forget players whose one-shot sound has ended.
        self.players.retain(|_, p| !p.empty());
    }

    fn stop(&mut self, channel: &str) {
        if let Some(p) = self.players.remove(channel) {
            p.stop();
        }
    }

    fn busy(&mut self) -> bool {
        self.players.retain(|_, p| !p.empty());
        if self.players.is_empty() {
            // Nothing plays: the device goes, and its threads with it.
            self.sink = None;
        }
        !self.players.is_empty()
    }
}

/// While a sound plays, how often the sound thread looks whether it ended
/// (to let the device go).
const WHILE_PLAYING: std::time::Duration = std::time::Duration::from_millis(500);

enum Command {
    Play {
        sound: Sound,
        volume: f32,
    },
    Ring {
        session: SessionId,
        volume: f32,
        repeat: bool,
    },
    StopRing(SessionId),
}

/// Plays ChatBell's sounds from a thread of its own (audio devices are not
/// `Send` on every platform), so that callers never wait on the sound system.
#[derive(Clone)]
pub struct SoundPlayer {
    tx: mpsc::Sender<Command>,
}

impl SoundPlayer {
    /// A player on the default output device, opened for each sound and let
    /// go when nothing plays. With no device, a sound is a no-op (said once).
    pub fn with_default_device() -> SoundPlayer {
        Self::spawn(|| Some(Box::new(Speakers::default()) as Box<dyn Speaker>))
    }

    /// A player on a speaker made on the player's thread.
    pub fn spawn(open: impl FnOnce() -> Option<Box<dyn Speaker>> + Send + 'static) -> SoundPlayer {
        let (tx, rx) = mpsc::channel::<Command>();
        let spawned = std::thread::Builder::new()
            .name("chatbell-sound".into())
            .spawn(move || {
                let mut speaker = open();
                let cache: HashMap<Sound, Vec<f32>> = [Sound::Message, Sound::Request, Sound::Call]
                    .into_iter()
                    .map(|s| (s, samples(s)))
                    .collect();
                let mut busy = false;
                loop {
                    // Idle: blocked until a command, no wake-up at all.
                    let cmd = if busy {
                        match rx.recv_timeout(WHILE_PLAYING) {
                            Ok(cmd) => Some(cmd),
                            Err(mpsc::RecvTimeoutError::Timeout) => None,
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    } else {
                        match rx.recv() {
                            Ok(cmd) => Some(cmd),
                            Err(_) => break,
                        }
                    };
                    let Some(sp) = speaker.as_mut() else { continue };
                    let Some(cmd) = cmd else {
                        // A look while a sound plays: has it ended?
                        busy = sp.busy();
                        continue;
                    };
                    match cmd {
                        Command::Play { sound, volume } => {
                            let channel = format!("{sound:?}");
                            sp.start(&channel, &cache[&sound], volume, false);
                        }
                        Command::Ring {
                            session,
                            volume,
                            repeat,
                        } => sp.start(
                            &format!("call:{session}"),
                            &cache[&Sound::Call],
                            volume,
                            repeat,
                        ),
                        Command::StopRing(session) => sp.stop(&format!("call:{session}")),
                    }
                    busy = sp.busy();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("could not start the sound thread: {e}");
        }
        SoundPlayer { tx }
    }

    pub fn play(&self, sound: Sound, volume: f32) {
        let _ = self.tx.send(Command::Play { sound, volume });
    }

    pub fn ring(&self, session: SessionId, volume: f32, repeat: bool) {
        let _ = self.tx.send(Command::Ring {
            session,
            volume,
            repeat,
        });
    }

    pub fn stop_ring(&self, session: SessionId) {
        let _ = self.tx.send(Command::StopRing(session));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// The frequency with the most energy between `lo` and `hi` Hz (a plain DFT
    /// over a window of the signal).
    fn dominant(samples: &[f32], lo: u32, hi: u32) -> u32 {
        let n = samples.len().min(4096);
        (lo..=hi)
            .step_by(5)
            .max_by(|a, b| {
                let power = |f: u32| {
                    let (mut re, mut im) = (0.0f32, 0.0f32);
                    for (i, s) in samples[..n].iter().enumerate() {
                        let w = std::f32::consts::TAU * f as f32 * i as f32 / SAMPLE_RATE as f32;
                        re += s * w.cos();
                        im += s * w.sin();
                    }
                    re * re + im * im
                };
                power(*a).total_cmp(&power(*b))
            })
            .unwrap_or(0)
    }

    #[test]
    fn r19_each_kind_has_its_own_sound() {
        let m = samples(Sound::Message);
        let r = samples(Sound::Request);
        let c = samples(Sound::Call);
        assert_ne!(m, r);
        assert!((dominant(&m, 800, 1500) as i64 - 988).abs() <= 5);
        assert!((dominant(&r, 700, 1500) as i64 - 784).abs() <= 5);
        assert!([440, 480].contains(&dominant(&c, 400, 520)));
        // A ring cycle is two seconds, the second one silent.
        assert_eq!(c.len(), 2 * SAMPLE_RATE as usize);
        assert!(c[SAMPLE_RATE as usize..].iter().all(|s| *s == 0.0));
        for s in [&m, &r, &c] {
            assert!(s.iter().all(|x| x.abs() <= 1.0), "no clipping");
            assert!(s.iter().any(|x| x.abs() > 0.3), "audible");
        }
    }

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Speaker for Recorder {
        fn start(&mut self, channel: &str, samples: &[f32], volume: f32, repeat: bool) {
            self.0.lock().expect("lock").push(format!(
                "start {channel} {} {volume} {repeat}",
                samples.len()
            ));
        }
        fn stop(&mut self, channel: &str) {
            self.0.lock().expect("lock").push(format!("stop {channel}"));
        }
    }

    /// A device that plays for `plays` looks, then is idle.
    struct Device {
        log: Arc<Mutex<Vec<&'static str>>>,
        plays: usize,
    }

    impl Speaker for Device {
        fn start(&mut self, _: &str, _: &[f32], _: f32, _: bool) {
            self.log.lock().expect("lock").push("start");
            self.plays = 2;
        }
        fn stop(&mut self, _: &str) {}
        fn busy(&mut self) -> bool {
            let busy = self.plays > 0;
            self.plays = self.plays.saturating_sub(1);
            self.log
                .lock()
                .expect("lock")
                .push(if busy { "busy" } else { "idle" });
            busy
        }
    }

    #[test]
    fn r19_the_sound_device_is_looked_at_while_a_sound_plays_then_let_be() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let device = Device {
            log: log.clone(),
            plays: 0,
        };
        let player = SoundPlayer::spawn(move || Some(Box::new(device) as Box<dyn Speaker>));
        player.play(Sound::Message, 0.8);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !log.lock().expect("lock").ends_with(&["idle"])
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let seen = log.lock().expect("lock").clone();
        assert_eq!(seen.first(), Some(&"start"), "{seen:?}");
        assert!(
            seen.iter().filter(|e| **e == "busy").count() >= 2,
            "{seen:?}"
        );
        assert_eq!(
            seen.last(),
            Some(&"idle"),
            "asked until it was idle: {seen:?}"
        );
        // Idle, the thread waits for the next sound without looking again.
        std::thread::sleep(WHILE_PLAYING * 3);
        assert_eq!(log.lock().expect("lock").len(), seen.len(), "no more looks");
        drop(player);
    }

    #[test]
    fn r5_a_call_rings_until_stopped_and_stops_on_its_own_channel() {
        let rec = Recorder::default();
        let log = rec.0.clone();
        let player = SoundPlayer::spawn(move || Some(Box::new(rec) as Box<dyn Speaker>));
        let s = SessionId::from_u128(7);
        player.ring(s, 0.5, true);
        player.play(Sound::Message, 0.8);
        player.stop_ring(s);
        drop(player);
        // The thread ends when the last sender goes; wait for the log to fill.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while log.lock().expect("lock").len() < 3 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        let log = log.lock().expect("lock").clone();
        assert_eq!(
            log,
            vec![
                format!("start call:{s} 88200 0.5 true"),
                "start Message 15435 0.8 false".to_string(),
                format!("stop call:{s}"),
            ]
        );
    }

    #[test]
    fn no_sound_device_is_not_an_error_for_callers() {
        let player = SoundPlayer::spawn(|| None);
        player.play(Sound::Request, 1.0);
        player.ring(SessionId::from_u128(1), 1.0, true);
    }
}
