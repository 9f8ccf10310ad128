//! The simulated fleet: a fixed number of distinct machines, each with its own client id, DNS
//! name, loopback source address and profile (`profile`: what it evaluates as installed), and
//! what it remembers between sessions (cookie, config stamp, cached revision ids, what it was
//! offered and already fetched). Sessions take
//! machines in turn; once every machine has had its first scan, a machine's next session is a
//! returning client's. The id lists are the same for thousands of machines of one catalog, so
//! they are shared (interned) rather than copied per machine.

use crate::profile::{Profile, Truth};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use uuid::Uuid;
use wucache_testkit::wua::Cookie;

/// What a machine remembers after a scan that ended.
#[derive(Debug, Clone)]
pub(crate) struct Memory {
    pub(crate) cookie: Cookie,
    /// The config's `LastChange`, echoed in GetCookie.
    pub(crate) last_change: String,
    /// `MaxExtendedUpdatesPerRequest` from the config it was given.
    pub(crate) max_extended: usize,
    /// Cached non-leaf revisions evaluated as installed (`InstalledNonLeafUpdateIDs`).
    pub(crate) installed: Arc<[i32]>,
    /// Every other cached revision (`OtherCachedUpdateIDs`).
    pub(crate) other: Arc<[i32]>,
    /// Top-level updates offered for install (reported as needed in event 156).
    pub(crate) offered: Arc<[Uuid]>,
    /// Revisions whose extended info it already has.
    pub(crate) fetched: Arc<[i32]>,
}

/// One machine, taken out of the fleet for a session.
pub(crate) struct Machine {
    pub(crate) index: usize,
    pub(crate) client_id: String,
    pub(crate) source: Ipv4Addr,
    /// What it is: which non-leaf revisions it evaluates as installed.
    pub(crate) profile: Arc<Profile>,
    pub(crate) memory: Option<Memory>,
}

impl Machine {
    pub(crate) fn new(index: usize, truth: &Truth) -> Machine {
        Machine {
            index,
            client_id: format!("{index:08x}-10ad-4e00-8000-5ca1ab1e0000"),
            source: source_address(index),
            profile: truth.profile(index),
            memory: None,
        }
    }

    pub(crate) fn dns_name(&self) -> String {
        format!("pc-{:05}.corp.example", self.index)
    }
}

/// Machine `index`'s address: 127.b.c.d with d in 1..=250, so no address ends in .0 or .255
/// (Linux routes all of 127/8 to the loopback interface).
pub(crate) fn source_address(index: usize) -> Ipv4Addr {
    let (block, host) = (index / 250, index % 250);
    Ipv4Addr::new(127, 1 + (block / 256) as u8, (block % 256) as u8, 1 + host as u8)
}

/// A slot: the machine when it is idle, `None` while a session has it.
type Slot = Option<Machine>;

/// The fleet, the catalog's ground truth, and the shared id lists.
pub(crate) struct Fleet {
    pub(crate) truth: Arc<Truth>,
    slots: Vec<Mutex<Slot>>,
    next: Mutex<usize>,
    next_returning: Mutex<usize>,
    lists: Interner<i32>,
    guids: Interner<Uuid>,
}

/// A poisoned lock only means a session panicked; the data is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Fleet {
    pub(crate) fn new(machines: usize, truth: Arc<Truth>) -> Fleet {
        Fleet {
            slots: (0..machines)
                .map(|i| Mutex::new(Some(Machine::new(i, &truth))))
                .collect(),
            truth,
            next: Mutex::new(0),
            next_returning: Mutex::new(0),
            lists: Interner::default(),
            guids: Interner::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// A machine outside the fleet (the next index).
    pub(crate) fn outsider(&self) -> Machine {
        Machine::new(self.len(), &self.truth)
    }

    /// The next idle machine in turn — with `returning`, the next idle one that has finished a
    /// scan before (its own turn order) — or `None` when there is none.
    pub(crate) fn take(self: &Arc<Self>, returning: bool) -> Option<Lease> {
        let cursor = if returning {
            &self.next_returning
        } else {
            &self.next
        };
        let mut next = lock(cursor);
        for _ in 0..self.slots.len() {
            let index = *next;
            *next = (index + 1) % self.slots.len();
            let mut slot = lock(&self.slots[index]);
            if slot.as_ref().is_some_and(|m| !returning || m.memory.is_some()) {
                return Some(Lease {
                    fleet: Arc::clone(self),
                    machine: slot.take(),
                });
            }
        }
        None
    }

    /// Machines that have finished a scan and would come back as returning clients.
    pub(crate) fn known(&self) -> usize {
        let known = |slot: &Mutex<Slot>| lock(slot).as_ref().is_some_and(|m| m.memory.is_some());
        self.slots.iter().filter(|slot| known(slot)).count()
    }

    /// One shared copy of a list of revision ids (sorted first).
    pub(crate) fn ids(&self, mut ids: Vec<i32>) -> Arc<[i32]> {
        ids.sort_unstable();
        ids.dedup();
        self.lists.intern(ids)
    }

    /// One shared copy of a list of update ids (sorted first).
    pub(crate) fn guids(&self, mut ids: Vec<Uuid>) -> Arc<[Uuid]> {
        ids.sort_unstable();
        ids.dedup();
        self.guids.intern(ids)
    }
}

/// A machine taken for a session; it goes back to the fleet when the lease is dropped, also
/// when the session is cut off at a step's drain deadline.
pub(crate) struct Lease {
    fleet: Arc<Fleet>,
    machine: Option<Machine>,
}

impl Lease {
    pub(crate) fn machine(&mut self) -> &mut Machine {
        self.machine.as_mut().expect("held until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(machine) = self.machine.take() {
            let index = machine.index;
            *lock(&self.fleet.slots[index]) = Some(machine);
        }
    }
}

/// Equal lists stored once.
struct Interner<T> {
    lists: Mutex<HashMap<u64, Vec<Arc<[T]>>>>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            lists: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Hash + Eq> Interner<T> {
    fn intern(&self, list: Vec<T>) -> Arc<[T]> {
        let mut hasher = DefaultHasher::new();
        list.hash(&mut hasher);
        let mut lists = lock(&self.lists);
        let bucket = lists.entry(hasher.finish()).or_default();
        if let Some(found) = bucket.iter().find(|known| known[..] == list[..]) {
            return Arc::clone(found);
        }
        let shared: Arc<[T]> = list.into();
        bucket.push(Arc::clone(&shared));
        shared
    }
}
