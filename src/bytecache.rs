//! A cache bounded by bytes, with CLOCK eviction: an entry read since the hand last passed
//! gets a second chance, any other goes first. One rule for every in-memory cache of derived
//! answer bytes (metadata fragments, compressed Xpress blocks). Thread-safe (one std Mutex,
//! never held across an await or while deriving a value). Uses nothing.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What a cache holds and how it has done, for metrics and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held.
    pub entries: usize,
    /// Bytes held, as the entries were charged.
    pub bytes: usize,
    /// The budget in bytes.
    pub budget: usize,
    /// Look-ups that found their entry.
    pub hits: u64,
    /// Look-ups that did not.
    pub misses: u64,
}

/// A fast keyed hash for cache keys and cached content: 8 bytes a step, multiply and rotate,
/// then mixed; the key is random per process. Not a defence against an adversary who sees
/// hash values (none is ever shown), and many times quicker than SipHash on 64 KiB blocks,
/// which were a twentieth of a scan's server time.
#[derive(Debug, Clone, Copy)]
pub struct FastHash {
    seed: u64,
}

impl FastHash {
    /// A hash with a random key.
    pub fn random() -> FastHash {
        FastHash { seed: rand::random() }
    }
}

impl Default for FastHash {
    fn default() -> Self {
        FastHash::random()
    }
}

impl BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.seed)
    }
}

/// The state of one [`FastHash`].
pub struct FastHasher(u64);

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(MULTIPLIER);
        }
        let mut tail = [0u8; 8];
        let rest = words.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.0 =
            (self.0.rotate_left(23) ^ u64::from_le_bytes(tail) ^ bytes.len() as u64).wrapping_mul(MULTIPLIER);
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(23) ^ value).wrapping_mul(MULTIPLIER);
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_i32(&mut self, value: i32) {
        self.write_u64(u64::from(value as u32));
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h
    }
}

/// Keys to values of a known size, at most `budget` bytes in all.
pub struct ByteCache<K, V> {
    budget: usize,
    state: Mutex<Clock<K, V>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The entries and the hand: every key is in `ring` exactly once.
struct Clock<K, V> {
    entries: HashMap<K, Slot<V>, FastHash>,
    ring: VecDeque<K>,
    bytes: usize,
}

struct Slot<V> {
    value: V,
    referenced: bool,
    bytes: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> ByteCache<K, V> {
    /// An empty cache of at most `budget` bytes (0: holds nothing).
    pub fn new(budget: usize) -> ByteCache<K, V> {
        ByteCache {
            budget,
            state: Mutex::new(Clock {
                entries: HashMap::with_hasher(FastHash::random()),
                ring: VecDeque::new(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The value of `key`, marked read; counts a hit or a miss.
    pub fn get(&self, key: &K) -> Option<V> {
        let found = self.state.lock().ok().and_then(|mut state| {
            let slot = state.entries.get_mut(key)?;
            slot.referenced = true;
            Some(slot.value.clone())
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Whether `key` is held, without marking it read or counting.
    pub fn contains(&self, key: &K) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| state.entries.contains_key(key))
    }

    /// Keeps `value`, charged `bytes`, evicting as needed; a value larger than the whole
    /// budget, or a key already held, is not stored.
    pub fn insert(&self, key: K, value: V, bytes: usize) {
        if bytes > self.budget {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.entries.contains_key(&key) {
            return;
        }
        while state.bytes + bytes > self.budget && state.evict_one() {}
        state.ring.push_back(key.clone());
        state.bytes += bytes;
        let slot = Slot {
            value,
            referenced: false,
            bytes,
        };
        state.entries.insert(key, slot);
    }

    /// Entries, bytes and counts.
    pub fn stats(&self) -> CacheStats {
        let (entries, bytes) = self
            .state
            .lock()
            .map(|s| (s.entries.len(), s.bytes))
            .unwrap_or_default();
        CacheStats {
            entries,
            bytes,
            budget: self.budget,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

impl<K: Hash + Eq, V> Clock<K, V> {
    /// Moves the hand: read entries lose their mark and stay, the first other one is
    /// evicted. Returns false when nothing is left to evict.
    fn evict_one(&mut self) -> bool {
        while let Some(key) = self.ring.pop_front() {
            let Some(slot) = self.entries.get_mut(&key) else {
                continue;
            };
            if slot.referenced {
                slot.referenced = false;
                self.ring.push_back(key);
                continue;
            }
            self.bytes -= slot.bytes;
            self.entries.remove(&key);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_again_survive_the_hand_and_the_bytes_stay_within_budget() {
        let cache: ByteCache<u32, &str> = ByteCache::new(30);
        cache.insert(1, "one", 10);
        cache.insert(2, "two", 10);
        cache.insert(3, "three", 10);
        assert_eq!(cache.get(&1), Some("one"));
        cache.insert(4, "four", 10);
        assert!(cache.contains(&1), "read since the hand passed: kept");
        assert!(!cache.contains(&2), "the oldest unread entry went");
        assert!(cache.contains(&3) && cache.contains(&4));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes, stats.hits), (3, 30, 1));
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.stats().misses, 1);
    }

    #[test]
    fn fast_hashes_tell_neighbouring_blocks_apart_and_depend_on_their_key() {
        let hash = FastHash { seed: 7 };
        let block: Vec<u8> = (0..65_535u32).map(|i| (i % 251) as u8).collect();
        let mut other = block.clone();
        other[40_000] ^= 1;
        assert_ne!(hash.hash_one(&block), hash.hash_one(&other));
        assert_ne!(hash.hash_one(&block[..100]), hash.hash_one(&block[..101]));
        assert_eq!(hash.hash_one(&block), FastHash { seed: 7 }.hash_one(&block));
        assert_ne!(hash.hash_one(&block), FastHash { seed: 8 }.hash_one(&block));
    }

    #[test]
    fn what_does_not_fit_is_not_kept_and_a_held_key_is_not_replaced() {
        let cache: ByteCache<u32, u32> = ByteCache::new(10);
        cache.insert(1, 1, 11);
        assert_eq!(cache.stats().entries, 0);
        cache.insert(2, 2, 10);
        cache.insert(2, 3, 10);
        assert_eq!(cache.get(&2), Some(2));
        // Every entry read: the hand clears the marks and still makes room.
        cache.insert(3, 3, 10);
        assert_eq!((cache.stats().entries, cache.stats().bytes), (1, 10));
        let none: ByteCache<u32, u32> = ByteCache::new(0);
        none.insert(1, 1, 1);
        assert!(!none.contains(&1), "a zero budget holds nothing");
    }
}
