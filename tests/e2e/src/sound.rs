//! What comes out of the speakers: PulseAudio's null sink, recorded from its
//! monitor by `parec` into memory, and tone detection on the samples (Goertzel).
//!
//! ChatBell's sounds are synthesised with known notes: the message "ding-dong"
//! is B5 (987.77 Hz) then E6 (1318.51 Hz); the request chime G5, B5, D6; a call
//! rings with a 440 + 480 Hz dual tone, one second on and one off.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const RATE: u32 = 44_100;

/// Frequencies that tell ChatBell's sounds apart.
pub const CALL_TONE: [f64; 2] = [440.0, 480.0];
/// E6: only the message sound has it.
pub const MESSAGE_TONE: f64 = 1318.51;
/// D6: only the request chime has it.
pub const REQUEST_TONE: f64 = 1174.66;

#[derive(Default)]
struct Tape {
    samples: Vec<i16>,
    started: Option<Instant>,
}

/// The recording, growing while `parec` runs.
#[derive(Clone, Default)]
pub struct Recording {
    tape: Arc<Mutex<Tape>>,
}

impl Recording {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tape> {
        self.tape.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads raw s16le mono samples from `source` until it ends (a thread).
    pub fn feed_from(&self, mut source: impl Read + Send + 'static) {
        let tape = self.tape.clone();
        let _ = std::thread::Builder::new()
            .name("e2e-parec".into())
            .spawn(move || {
                let mut buf = vec![0u8; 8192];
                let mut odd: Option<u8> = None;
                loop {
                    let n = match source.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut t = tape.lock().unwrap_or_else(|p| p.into_inner());
                    if t.started.is_none() {
                        t.started = Some(Instant::now());
                    }
                    let mut bytes = buf.iter().take(n).copied();
                    if let Some(lo) = odd.take() {
                        if let Some(hi) = bytes.next() {
                            t.samples.push(i16::from_le_bytes([lo, hi]));
                        }
                    }
                    loop {
                        match (bytes.next(), bytes.next()) {
                            (Some(lo), Some(hi)) => t.samples.push(i16::from_le_bytes([lo, hi])),
                            (Some(lo), None) => {
                                odd = Some(lo);
                                break;
                            }
                            _ => break,
                        }
                    }
                }
            });
    }

    /// Samples recorded so far (a position to look after).
    pub fn position(&self) -> usize {
        self.lock().samples.len()
    }

    /// The samples from `from` on.
    pub fn since(&self, from: usize) -> Vec<i16> {
        let t = self.lock();
        t.samples
            .get(from.min(t.samples.len())..)
            .unwrap_or(&[])
            .to_vec()
    }

    /// Writes the whole recording as a WAV file (artefacts).
    pub fn save_wav(&self, path: &std::path::Path) {
        let samples = self.since(0);
        let data_len = (samples.len() * 2) as u32;
        let mut out = Vec::with_capacity(44 + samples.len() * 2);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&RATE.to_le_bytes());
        out.extend_from_slice(&(RATE * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        let _ = std::fs::write(path, out);
    }
}

/// The strength of `freq` in `samples` (Goertzel), relative to full scale: about
/// the tone's amplitude (0..1) when it is present.
pub fn tone_level(samples: &[i16], freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = std::f64::consts::TAU * freq / f64::from(RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = f64::from(x) / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / samples.len() as f64
}

/// The loudest sample, relative to full scale.
pub fn peak(samples: &[i16]) -> f64 {
    samples
        .iter()
        .map(|s| f64::from(s.unsigned_abs()) / 32768.0)
        .fold(0.0, f64::max)
}

/// Windows of 50 ms in which `freq` is clearly present.
pub fn windows_with(samples: &[i16], freq: f64) -> Vec<usize> {
    let win = (RATE / 20) as usize;
    samples
        .chunks(win)
        .enumerate()
        .filter(|(_, w)| w.len() == win && tone_level(w, freq) > 0.02)
        .map(|(i, _)| i)
        .collect()
}

/// Whether `freq` sounds in at least `min` of `samples` (in seconds of 50 ms
/// windows).
pub fn sounds_for(samples: &[i16], freq: f64, min: Duration) -> bool {
    let need = (min.as_millis() / 50).max(1) as usize;
    windows_with(samples, freq).len() >= need
}

/// Samples that make `d` of sound.
pub fn samples_in(d: Duration) -> usize {
    (d.as_secs_f64() * f64::from(RATE)) as usize
}
