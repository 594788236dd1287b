//! A small, fast hasher for the engine's maps. Their keys are GUIDs minted by
//! Dynamics (not chosen by an attacker) and small enums, so the DoS resistance of
//! the standard SipHash buys nothing here, while its cost dominates the engine's
//! per-event work. This is the multiply-rotate scheme of rustc's FxHasher, with a folded
//! multiply at the end to spread the bits.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The engine's hash map.
pub type Map<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// The engine's hash set.
pub type Set<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// See the module documentation.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Multiplication only carries bits upwards: fold the 128-bit product so that
        // keys differing only in their high bytes (sequential GUIDs) still differ in
        // the low bits the table indexes by.
        let wide = u128::from(self.hash).wrapping_mul(u128::from(SEED));
        (wide as u64) ^ ((wide >> 64) as u64)
    }
}
