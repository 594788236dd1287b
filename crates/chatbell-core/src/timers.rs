//! One scheduler for every idle and expiry deadline.
//!
//! [`Scheduler`] holds all of the agent's deadlines (R6 idle timers, R8 request
//! expiries) in one structure instead of one task per timer. It never reads a clock:
//! callers pass `now` to [`Scheduler::pop_due`], which removes and returns every timer
//! that is due, in deadline order. Each key has at most one deadline; arming a key
//! again replaces its deadline, so a re-armed or disarmed timer never fires with an
//! old deadline, and a timer fires exactly once.
//!
//! Internally it is an indexed 4-ary min-heap of `(deadline, key)` entries plus a
//! map from key to heap position, so arm, re-arm and disarm are `O(log n)` and no
//! stale entries are ever left behind.

use crate::ids::{RequestId, SessionId};
use crate::time::Ts;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::hash::Hash;

/// What a deadline is for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum TimerKey {
    /// R6: the session's owner has not replied within the idle timeout.
    Idle(SessionId),
    /// R8: an Assign/Discuss request not answered in time expires.
    RequestExpiry(RequestId),
    /// R20: warn the owner before the WhatsApp reply window closes, then retire
    /// the warning when it has closed.
    ReplyWindow(SessionId),
}

impl TimerKey {
    /// The session a per-session deadline belongs to.
    pub fn session(self) -> Option<SessionId> {
        match self {
            TimerKey::Idle(s) | TimerKey::ReplyWindow(s) => Some(s),
            TimerKey::RequestExpiry(_) => None,
        }
    }
}

/// Children per heap node. A 4-ary heap is half as deep as a binary one, which halves
/// the position-map updates per pop (they dominate: each one hashes a key).
const ARITY: usize = 4;

/// One heap slot: a deadline and the key it belongs to.
#[derive(Clone, Copy, Debug)]
struct Slot<K> {
    at: Ts,
    key: K,
}

impl<K: Ord> Slot<K> {
    /// Heap order: earlier deadline first, ties broken by key.
    #[inline]
    fn before(&self, other: &Self) -> bool {
        (self.at, &self.key) < (other.at, &other.key)
    }
}

/// All pending deadlines, keyed by `K` (by default [`TimerKey`]), on an injected clock.
///
/// Each key has at most one deadline. [`arm`](Self::arm) sets or replaces it,
/// [`disarm`](Self::disarm) removes it, and [`pop_due`](Self::pop_due) removes and
/// returns every timer whose deadline is `<= now`, ordered by `(deadline, key)`.
///
/// To survive a restart, persist [`iter`](Self::iter) and rebuild with
/// [`FromIterator`] or [`Extend`]; deadlines that passed while the app was closed
/// fire on the first `pop_due(now)`, once.
///
/// ```
/// use chatbell_core::{Scheduler, SessionId, TimerKey, Ts};
///
/// let idle = TimerKey::Idle(SessionId::from_u128(1));
/// let mut timers: Scheduler = Scheduler::new();
/// timers.arm(idle, Ts(1_000));
/// assert!(timers.pop_due(Ts(999)).is_empty());
/// assert_eq!(timers.pop_due(Ts(1_000)), vec![(idle, Ts(1_000))]);
/// assert!(timers.pop_due(Ts(5_000)).is_empty()); // fired once
/// ```
#[derive(Clone, Debug)]
pub struct Scheduler<K = TimerKey> {
    /// 4-ary min-heap ordered by [`Slot::before`]: children of `i` are `4i+1..=4i+4`.
    heap: Vec<Slot<K>>,
    /// Key -> index of its slot in `heap`. Always holds exactly the keys in `heap`.
    pos: HashMap<K, u32>,
}

impl<K> Scheduler<K> {
    /// An empty scheduler.
    pub fn new() -> Self {
        Self {
            heap: Vec::new(),
            pos: HashMap::new(),
        }
    }

    /// An empty scheduler with room for `n` timers before it reallocates.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            heap: Vec::with_capacity(n),
            pos: HashMap::with_capacity(n),
        }
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The earliest armed deadline, if any: when the caller should next wake up and
    /// call [`pop_due`](Self::pop_due).
    pub fn next_deadline(&self) -> Option<Ts> {
        self.heap.first().map(|s| s.at)
    }
}

impl<K> Default for Scheduler<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + Hash + Ord> Scheduler<K> {
    /// Arms `key` to fire at `at`, replacing any deadline it already had.
    ///
    /// Returns the previous deadline, if the key was armed. A deadline in the past is
    /// allowed: it fires on the next [`pop_due`](Self::pop_due).
    ///
    /// # Panics
    ///
    /// If more than 2^32 timers would be armed at once (positions are stored as `u32`).
    pub fn arm(&mut self, key: K, at: Ts) -> Option<Ts> {
        let i = match self.pos.entry(key) {
            MapEntry::Occupied(e) => {
                let i = *e.get() as usize;
                let old = self.heap[i].at;
                self.heap[i].at = at;
                if at < old {
                    self.sift_up(i);
                } else if at > old {
                    self.sift_down(i);
                }
                return Some(old);
            }
            MapEntry::Vacant(e) => {
                let i = self.heap.len();
                e.insert(u32::try_from(i).expect("more than u32::MAX timers armed"));
                self.heap.push(Slot { at, key });
                i
            }
        };
        self.sift_up(i);
        None
    }

    /// Disarms `key`. Returns the deadline it had, or `None` if it was not armed.
    pub fn disarm(&mut self, key: &K) -> Option<Ts> {
        let i = *self.pos.get(key)? as usize;
        Some(self.remove_at(i).at)
    }

    /// The deadline of `key`, if armed.
    pub fn deadline(&self, key: &K) -> Option<Ts> {
        self.pos.get(key).map(|&i| self.heap[i as usize].at)
    }

    /// True when `key` is armed.
    pub fn contains(&self, key: &K) -> bool {
        self.pos.contains_key(key)
    }

    /// Removes and returns every timer with deadline `<= now`, ordered by
    /// `(deadline, key)`. Each returned timer is disarmed: it fires exactly once.
    pub fn pop_due(&mut self, now: Ts) -> Vec<(K, Ts)> {
        let mut out = Vec::new();
        self.pop_due_into(now, &mut out);
        out
    }

    /// Like [`pop_due`](Self::pop_due), but appends to `out` (which it does not clear)
    /// instead of allocating: reuse one buffer to fire timers without allocating.
    pub fn pop_due_into(&mut self, now: Ts, out: &mut Vec<(K, Ts)>) {
        while let Some(top) = self.heap.first() {
            if top.at > now {
                break;
            }
            let s = self.remove_at(0);
            out.push((s.key, s.at));
        }
    }

    /// Every armed timer as `(key, deadline)`, in unspecified order: for persistence.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (K, Ts)> + '_ {
        self.heap.iter().map(|s| (s.key, s.at))
    }

    /// Removes the slot at heap index `i` and restores the heap.
    fn remove_at(&mut self, i: usize) -> Slot<K> {
        let removed = self.heap.swap_remove(i);
        self.pos.remove(&removed.key);
        if i < self.heap.len() {
            // The former last slot now sits at `i`: move it to where it belongs.
            if !self.sift_up(i) && !self.sift_down(i) {
                self.set_pos(i);
            }
        }
        removed
    }

    /// Moves the slot at `i` towards the root while it sorts before its parent.
    /// Updates the positions of every moved slot; returns whether anything moved
    /// (if not, the position of the slot at `i` is left untouched).
    fn sift_up(&mut self, start: usize) -> bool {
        let slot = self.heap[start];
        let mut i = start;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !slot.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            self.set_pos(i);
            i = parent;
        }
        if i == start {
            return false;
        }
        self.heap[i] = slot;
        self.set_pos(i);
        true
    }

    /// Moves the slot at `i` towards the leaves while a child sorts before it.
    /// Same contract as [`sift_up`](Self::sift_up).
    fn sift_down(&mut self, start: usize) -> bool {
        let n = self.heap.len();
        let slot = self.heap[start];
        let mut i = start;
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            let mut child = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.heap[c].before(&self.heap[child]) {
                    child = c;
                }
            }
            if !self.heap[child].before(&slot) {
                break;
            }
            self.heap[i] = self.heap[child];
            self.set_pos(i);
            i = child;
        }
        if i == start {
            return false;
        }
        self.heap[i] = slot;
        self.set_pos(i);
        true
    }

    /// Records that the slot now at heap index `i` lives there.
    #[inline]
    fn set_pos(&mut self, i: usize) {
        let p = self.pos.get_mut(&self.heap[i].key);
        debug_assert!(p.is_some(), "heap slot without a position entry");
        if let Some(p) = p {
            // `i < heap.len() <= u32::MAX + 1`, checked in `arm`.
            *p = i as u32;
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> Extend<(K, Ts)> for Scheduler<K> {
    /// Arms every `(key, deadline)`; a key that is already armed (or repeated) is
    /// re-armed, so the last deadline given for a key wins.
    fn extend<I: IntoIterator<Item = (K, Ts)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        let (lower, _) = iter.size_hint();
        self.heap.reserve(lower);
        self.pos.reserve(lower);
        for (key, at) in iter {
            self.arm(key, at);
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> FromIterator<(K, Ts)> for Scheduler<K> {
    /// Builds a scheduler from persisted `(key, deadline)` pairs; see [`Extend`].
    fn from_iter<I: IntoIterator<Item = (K, Ts)>>(iter: I) -> Self {
        let mut s = Self::new();
        s.extend(iter);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl<K: Copy + Eq + Hash + Ord + std::fmt::Debug> Scheduler<K> {
        /// Panics unless the heap order and the position map are consistent.
        fn check(&self) {
            assert_eq!(self.heap.len(), self.pos.len());
            for (i, s) in self.heap.iter().enumerate() {
                assert_eq!(self.pos.get(&s.key), Some(&(i as u32)), "{s:?}");
                if i > 0 {
                    assert!(!s.before(&self.heap[(i - 1) / ARITY]), "heap order at {i}");
                }
            }
        }
    }

    #[test]
    fn heap_and_positions_stay_consistent() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut s: Scheduler<u16> = Scheduler::new();
        for step in 0..20_000u32 {
            let key = (next() % 300) as u16;
            match next() % 4 {
                0 | 1 => {
                    s.arm(key, Ts((next() % 500) as i64));
                }
                2 => {
                    s.disarm(&key);
                }
                _ => {
                    s.pop_due(Ts((next() % 200) as i64));
                }
            }
            if step % 97 == 0 {
                s.check();
            }
        }
        s.check();
    }
}
