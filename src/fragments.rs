//! The fragment cache: every fragment a client can ask for — Core (SyncUpdates), Extended,
//! LocalizedProperties for a language list, and Eula (GetExtendedUpdateInfo) — derived once
//! from the stored document and kept escaped, ready to copy into an answer. One cache for
//! every kind, bounded by bytes, with one eviction rule (CLOCK: an entry read since the hand
//! last passed gets a second chance). It outlives snapshots: a revision's local id names one
//! document forever, so its fragments never change. Uses `protocol`, `store`.

use crate::protocol::fragment::Document;
use crate::protocol::wusp::XmlText;
use crate::protocol::xml::escape_text;
use crate::store::Store;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes an entry costs beyond its text: key, slot, ring position, allocation headers.
const ENTRY_OVERHEAD: usize = 128;

/// Warming stops when the cache holds this share of its budget, leaving room for what
/// clients ask beyond the Core fragments.
const WARM_SHARE: f64 = 0.8;

/// A fragment kind of one revision, as a client names it in `infoTypes`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `UpdateInfo/Xml` of SyncUpdates.
    Core,
    /// `Extended`.
    Extended,
    /// `LocalizedProperties` for the client's language list (joined with `,`): the first
    /// language the document has, else English.
    Localized(Box<str>),
    /// `Eula`: one fragment per EULA file.
    Eula,
}

impl Kind {
    /// The kind an `infoTypes` entry asks for, with the request's locales; `None` for types
    /// wucache does not produce.
    pub fn of_info_type(info_type: &str, locales: &[String]) -> Option<Kind> {
        Some(match info_type {
            "Core" => Kind::Core,
            "Extended" => Kind::Extended,
            "LocalizedProperties" => Kind::Localized(locales.join(",").into()),
            "Eula" => Kind::Eula,
            _ => return None,
        })
    }

    /// The fragments of this kind, escaped.
    fn derive(&self, document: &Document) -> Result<Vec<XmlText>, String> {
        let texts = match self {
            Kind::Core => vec![document.core().map_err(|e| e.to_string())?],
            Kind::Extended => vec![document.extended().map_err(|e| e.to_string())?],
            Kind::Localized(languages) => {
                let languages: Vec<&str> = languages.split(',').filter(|l| !l.is_empty()).collect();
                document.localized(&languages).into_iter().collect()
            }
            Kind::Eula => document.eulas(),
        };
        Ok(texts
            .iter()
            .map(|text| XmlText::from_escaped(escape_text(text).into()))
            .collect())
    }
}

/// The fragments of one kind of one revision.
pub type Fragments = Arc<[XmlText]>;

/// Every fragment kind of every revision, derived once, bounded by bytes.
pub struct FragmentCache {
    budget: usize,
    state: Mutex<Clock>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The entries and the CLOCK hand: every key is in `ring` exactly once.
#[derive(Default)]
struct Clock {
    entries: HashMap<(i32, Kind), Slot>,
    ring: VecDeque<(i32, Kind)>,
    bytes: usize,
}

struct Slot {
    fragments: Fragments,
    referenced: bool,
    bytes: usize,
}

/// What the cache holds and how it has done, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries (a kind of a revision).
    pub entries: usize,
    /// Bytes held, overhead included.
    pub bytes: usize,
    /// The budget in bytes.
    pub budget: usize,
    /// Look-ups answered from the cache.
    pub hits: u64,
    /// Look-ups that derived fragments from the stored document.
    pub misses: u64,
}

impl FragmentCache {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: usize) -> FragmentCache {
        FragmentCache {
            budget,
            state: Mutex::new(Clock::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The Core fragment of revision `local_id`.
    pub fn core(&self, store: &Store, local_id: i32) -> Result<XmlText, String> {
        let fragments = self.fragments(store, local_id, &[Kind::Core])?;
        fragments
            .first()
            .and_then(|core| core.first())
            .cloned()
            .ok_or_else(|| format!("revision {local_id} has no Core fragment"))
    }

    /// The fragments of each of `kinds` of revision `local_id`, in the same order. What the
    /// cache lacks is derived from one parse of the stored document.
    pub fn fragments(&self, store: &Store, local_id: i32, kinds: &[Kind]) -> Result<Vec<Fragments>, String> {
        let mut found: Vec<Option<Fragments>> = self.lookup(local_id, kinds);
        if found.iter().all(Option::is_some) {
            self.hits.fetch_add(kinds.len() as u64, Ordering::Relaxed);
            return Ok(found.into_iter().flatten().collect());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let xml = store
            .document(local_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("revision {local_id} has no stored document"))?;
        let document = Document::parse(&xml).map_err(|e| format!("revision {local_id}: {e}"))?;
        for (kind, slot) in kinds.iter().zip(found.iter_mut()) {
            if slot.is_none() {
                let fragments: Fragments = kind
                    .derive(&document)
                    .map_err(|e| format!("revision {local_id}: {e}"))?
                    .into();
                self.insert(local_id, kind.clone(), Arc::clone(&fragments));
                *slot = Some(fragments);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    fn lookup(&self, local_id: i32, kinds: &[Kind]) -> Vec<Option<Fragments>> {
        let Ok(mut state) = self.state.lock() else {
            return vec![None; kinds.len()];
        };
        kinds
            .iter()
            .map(|kind| {
                let slot = state.entries.get_mut(&(local_id, kind.clone()))?;
                slot.referenced = true;
                Some(Arc::clone(&slot.fragments))
            })
            .collect()
    }

    fn insert(&self, local_id: i32, kind: Kind, fragments: Fragments) {
        let bytes = ENTRY_OVERHEAD + fragments.iter().map(XmlText::len).sum::<usize>();
        if bytes > self.budget {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let key = (local_id, kind);
        if state.entries.contains_key(&key) {
            return;
        }
        while state.bytes + bytes > self.budget && state.evict_one() {}
        state.ring.push_back(key.clone());
        state.bytes += bytes;
        state.entries.insert(
            key,
            Slot {
                fragments,
                referenced: false,
                bytes,
            },
        );
    }

    /// Derives the Core fragments of `local_ids` not cached yet, in order, while the cache is
    /// below its warming share and `keep_going` says so; returns how many it derived. Errors
    /// are left for the request that meets them.
    pub fn warm(
        &self,
        store: &Store,
        local_ids: impl IntoIterator<Item = i32>,
        keep_going: impl Fn() -> bool,
    ) -> usize {
        let limit = (self.budget as f64 * WARM_SHARE) as usize;
        let mut derived = 0;
        for local_id in local_ids {
            if !keep_going() || self.stats().bytes >= limit {
                break;
            }
            if self.lookup_quietly(local_id, &Kind::Core) {
                continue;
            }
            if self.fragments(store, local_id, &[Kind::Core]).is_ok() {
                derived += 1;
            }
        }
        derived
    }

    /// Whether the entry is cached, without marking it read.
    fn lookup_quietly(&self, local_id: i32, kind: &Kind) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| state.entries.contains_key(&(local_id, kind.clone())))
    }

    /// Entries, bytes and hit counts.
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

impl Clock {
    /// Moves the hand one entry: a read entry loses its mark and stays, another is evicted.
    /// Returns false when there is nothing left to evict.
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
mod tests;
