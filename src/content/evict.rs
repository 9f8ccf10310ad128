//! LRU bookkeeping for committed payloads, pure: no clock, no disk. The caller says when a
//! file was used (`now` is an argument) and deletes the victims `victims` hands back
//! (pingora-cache: eviction returns victims, the caller deletes). A pinned file is never a
//! victim; the cache pins the file it has just committed while it picks victims. A file being
//! read is not pinned: evicting it unlinks the name, and on Unix the reader's open handle keeps
//! the bytes until it is done, so no client gets a short or wrong file. Uses only `content::Sha1`.

use super::Sha1;
use std::collections::{BTreeMap, HashMap};

/// Position in the recency order: the caller's timestamp, ties broken by which was recorded
/// last (a per-index counter), so the order is total and deterministic.
type Stamp = (u64, u64);

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    stamp: Stamp,
    /// Readers and writers holding the file; while non-zero the entry is out of `order`.
    pins: u32,
}

/// Committed files by recency of use. Every operation is O(log n) (`victims` is O(log n) per
/// victim): unpinned entries sit in a `BTreeMap` ordered by `(last_used, seq)`, pinned ones
/// leave it, so the oldest evictable entry is always the first key.
#[derive(Debug, Default)]
pub struct Lru {
    entries: HashMap<Sha1, Entry>,
    order: BTreeMap<Stamp, Sha1>,
    total: u64,
    seq: u64,
}

impl Lru {
    pub(crate) fn new() -> Lru {
        Lru::default()
    }

    /// Records a committed file; an existing entry takes the new size and time and keeps its
    /// pins.
    pub fn insert(&mut self, sha1: Sha1, size: u64, last_used: u64) {
        let stamp = self.next_stamp(last_used);
        let pins = match self.entries.get(&sha1) {
            Some(old) => {
                self.total -= old.size;
                self.order.remove(&old.stamp);
                old.pins
            }
            None => 0,
        };
        self.total += size;
        self.entries.insert(sha1, Entry { size, stamp, pins });
        if pins == 0 {
            self.order.insert(stamp, sha1);
        }
    }

    /// Marks a file as used at `now`. Returns false for an unknown digest.
    pub fn touch(&mut self, sha1: &Sha1, now: u64) -> bool {
        let stamp = self.next_stamp(now);
        let Some(entry) = self.entries.get_mut(sha1) else {
            return false;
        };
        if entry.pins == 0 {
            self.order.remove(&entry.stamp);
            self.order.insert(stamp, *sha1);
        }
        entry.stamp = stamp;
        true
    }

    /// Forgets a file, pinned or not (the caller decided it is gone). Returns its size.
    pub fn remove(&mut self, sha1: &Sha1) -> Option<u64> {
        let entry = self.entries.remove(sha1)?;
        if entry.pins == 0 {
            self.order.remove(&entry.stamp);
        }
        self.total -= entry.size;
        Some(entry.size)
    }

    /// Protects a file from eviction until the matching `unpin`; pins nest. Returns false for
    /// an unknown digest (nothing to protect: it cannot be a victim either).
    pub fn pin(&mut self, sha1: &Sha1) -> bool {
        let Some(entry) = self.entries.get_mut(sha1) else {
            return false;
        };
        if entry.pins == 0 {
            self.order.remove(&entry.stamp);
        }
        entry.pins += 1;
        true
    }

    /// Releases one pin; the file becomes evictable when the last one goes. Returns false when
    /// the digest is unknown or was not pinned.
    pub fn unpin(&mut self, sha1: &Sha1) -> bool {
        let Some(entry) = self.entries.get_mut(sha1) else {
            return false;
        };
        if entry.pins == 0 {
            return false;
        }
        entry.pins -= 1;
        if entry.pins == 0 {
            self.order.insert(entry.stamp, *sha1);
        }
        true
    }

    /// Whether the file is recorded.
    pub fn contains(&self, sha1: &Sha1) -> bool {
        self.entries.contains_key(sha1)
    }

    /// Whether the file holds at least one pin.
    pub fn is_pinned(&self, sha1: &Sha1) -> bool {
        self.entries.get(sha1).is_some_and(|entry| entry.pins > 0)
    }

    /// Bytes of all recorded files, pinned ones included.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Files recorded, pinned ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No file is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes and returns least-recently-used unpinned files, oldest first, until
    /// `total_bytes() <= max_bytes` or nothing evictable is left. The caller deletes them.
    pub fn victims(&mut self, max_bytes: u64) -> Vec<(Sha1, u64)> {
        let mut out = Vec::new();
        while self.total > max_bytes {
            let Some((_, sha1)) = self.order.pop_first() else {
                break;
            };
            let entry = self
                .entries
                .remove(&sha1)
                .expect("every digest in `order` has an entry");
            self.total -= entry.size;
            out.push((sha1, entry.size));
        }
        out
    }

    fn next_stamp(&mut self, time: u64) -> Stamp {
        self.seq += 1;
        (time, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn digest(n: u8) -> Sha1 {
        let mut sha1 = [0; 20];
        sha1[0] = n;
        sha1
    }

    #[test]
    fn victims_are_least_recently_used_first_until_under_the_limit() {
        let mut lru = Lru::new();
        lru.insert(digest(1), 100, 10);
        lru.insert(digest(2), 100, 20);
        lru.insert(digest(3), 100, 30);
        lru.touch(&digest(1), 40);
        assert_eq!(lru.victims(150), vec![(digest(2), 100), (digest(3), 100)]);
        assert_eq!((lru.len(), lru.total_bytes()), (1, 100));
        assert!(lru.contains(&digest(1)));
    }

    #[test]
    fn victims_under_the_limit_is_empty() {
        let mut lru = Lru::new();
        lru.insert(digest(1), 100, 10);
        assert!(lru.victims(100).is_empty());
        assert_eq!(lru.len(), 1);
    }

    #[test]
    fn equal_times_evict_the_earlier_recorded_first() {
        let mut lru = Lru::new();
        lru.insert(digest(1), 1, 5);
        lru.insert(digest(2), 1, 5);
        lru.touch(&digest(1), 5);
        assert_eq!(lru.victims(1), vec![(digest(2), 1)]);
    }

    #[test]
    fn pinned_entries_are_never_victims_and_still_count() {
        let mut lru = Lru::new();
        lru.insert(digest(1), 100, 1);
        lru.insert(digest(2), 100, 2);
        assert!(lru.pin(&digest(1)));
        assert!(lru.pin(&digest(1)));
        assert_eq!(lru.victims(0), vec![(digest(2), 100)]);
        assert_eq!(lru.total_bytes(), 100);
        assert!(lru.unpin(&digest(1)));
        assert!(lru.victims(0).is_empty(), "one pin is still held");
        assert!(lru.unpin(&digest(1)));
        assert!(!lru.unpin(&digest(1)));
        assert_eq!(lru.victims(0), vec![(digest(1), 100)]);
        assert!(lru.is_empty());
    }

    #[test]
    fn touch_while_pinned_takes_effect_on_unpin() {
        let mut lru = Lru::new();
        lru.insert(digest(1), 1, 1);
        lru.insert(digest(2), 1, 2);
        lru.pin(&digest(1));
        lru.touch(&digest(1), 3);
        lru.unpin(&digest(1));
        assert_eq!(lru.victims(1), vec![(digest(2), 1)]);
    }

    #[test]
    fn reinsert_replaces_size_and_keeps_pins() {
        let mut lru = Lru::new();
        lru.insert(digest(1), 100, 1);
        lru.pin(&digest(1));
        lru.insert(digest(1), 40, 2);
        assert_eq!((lru.len(), lru.total_bytes()), (1, 40));
        assert!(lru.is_pinned(&digest(1)));
        assert!(lru.victims(0).is_empty());
    }

    #[test]
    fn unknown_digests_are_refused() {
        let mut lru = Lru::new();
        assert!(!lru.touch(&digest(9), 1));
        assert!(!lru.pin(&digest(9)));
        assert!(!lru.unpin(&digest(9)));
        assert_eq!(lru.remove(&digest(9)), None);
        assert!(!lru.contains(&digest(9)));
    }

    #[test]
    fn remove_of_a_pinned_entry_forgets_it() {
        let mut lru = Lru::new();
        lru.insert(digest(1), 7, 1);
        lru.pin(&digest(1));
        assert_eq!(lru.remove(&digest(1)), Some(7));
        assert_eq!((lru.len(), lru.total_bytes()), (0, 0));
        assert!(lru.victims(0).is_empty());
    }

    /// The specification, as slowly as possible: scan everything for the oldest unpinned
    /// entry. Ties on time go to the earlier operation, as in `Lru`.
    #[derive(Default)]
    struct Naive {
        entries: Vec<(Sha1, u64, u64, u64, u32)>,
        op: u64,
    }

    impl Naive {
        fn find(&mut self, sha1: &Sha1) -> Option<&mut (Sha1, u64, u64, u64, u32)> {
            self.entries.iter_mut().find(|entry| entry.0 == *sha1)
        }

        fn insert(&mut self, sha1: Sha1, size: u64, time: u64) {
            self.op += 1;
            let op = self.op;
            match self.find(&sha1) {
                Some(entry) => (entry.1, entry.2, entry.3) = (size, time, op),
                None => self.entries.push((sha1, size, time, op, 0)),
            }
        }

        fn touch(&mut self, sha1: &Sha1, time: u64) -> bool {
            self.op += 1;
            let op = self.op;
            self.find(sha1)
                .map(|entry| (entry.2, entry.3) = (time, op))
                .is_some()
        }

        fn remove(&mut self, sha1: &Sha1) -> Option<u64> {
            let at = self.entries.iter().position(|entry| entry.0 == *sha1)?;
            Some(self.entries.remove(at).1)
        }

        fn pin(&mut self, sha1: &Sha1) -> bool {
            self.find(sha1).map(|entry| entry.4 += 1).is_some()
        }

        fn unpin(&mut self, sha1: &Sha1) -> bool {
            match self.find(sha1) {
                Some(entry) if entry.4 > 0 => {
                    entry.4 -= 1;
                    true
                }
                _ => false,
            }
        }

        fn total(&self) -> u64 {
            self.entries.iter().map(|entry| entry.1).sum()
        }

        fn victims(&mut self, max: u64) -> Vec<(Sha1, u64)> {
            let mut out = Vec::new();
            while self.total() > max {
                let oldest = (0..self.entries.len())
                    .filter(|&i| self.entries[i].4 == 0)
                    .min_by_key(|&i| (self.entries[i].2, self.entries[i].3));
                let Some(at) = oldest else { break };
                let entry = self.entries.remove(at);
                out.push((entry.0, entry.1));
            }
            out
        }
    }

    #[test]
    fn behaves_like_a_naive_scan_under_random_operations() {
        for seed in 0..40 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut lru = Lru::new();
            let mut naive = Naive::default();
            for step in 0..500 {
                let sha1 = digest(rng.gen_range(0..12));
                let time = rng.gen_range(0..30);
                let context = format!("seed {seed} step {step}");
                match rng.gen_range(0..7) {
                    0 | 1 => {
                        let size = rng.gen_range(0..1000);
                        lru.insert(sha1, size, time);
                        naive.insert(sha1, size, time);
                    }
                    2 => assert_eq!(lru.touch(&sha1, time), naive.touch(&sha1, time), "{context}"),
                    3 => assert_eq!(lru.remove(&sha1), naive.remove(&sha1), "{context}"),
                    4 => assert_eq!(lru.pin(&sha1), naive.pin(&sha1), "{context}"),
                    5 => assert_eq!(lru.unpin(&sha1), naive.unpin(&sha1), "{context}"),
                    _ => {
                        let max = rng.gen_range(0..6000);
                        let pinned: Vec<Sha1> = naive
                            .entries
                            .iter()
                            .filter(|entry| entry.4 > 0)
                            .map(|entry| entry.0)
                            .collect();
                        let victims = lru.victims(max);
                        assert_eq!(victims, naive.victims(max), "{context}");
                        assert!(
                            victims.iter().all(|(sha1, _)| !pinned.contains(sha1)),
                            "{context}: a pinned entry was evicted"
                        );
                        let evictable_left = naive.entries.iter().any(|entry| entry.4 == 0);
                        assert!(lru.total_bytes() <= max || !evictable_left, "{context}");
                    }
                }
                assert_eq!(lru.total_bytes(), naive.total(), "{context}");
                assert_eq!(lru.len(), naive.entries.len(), "{context}");
            }
        }
    }
}
