//! What the HTTP front lets in, so no one client can take what every client needs: open
//! connections (overall and per source address), bytes of SOAP request bodies held in memory
//! at once, SOAP requests being worked on at once (off the async threads), and new computer
//! records per source address and minute. Built once per
//! daemon from `[server]` and shared by its client listeners; the admin listener has its own,
//! small connection limit so a client flood cannot lock the operator out.

use crate::config::Config;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections the admin listener keeps open at once (from any address).
const ADMIN_CONNECTIONS: u32 = 64;
/// Longest a SOAP request waits for body memory or a worker before it is answered 503.
pub(crate) const QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Body memory is reserved in units of this many bytes.
const BUDGET_UNIT: usize = 1024;

/// The limits of one daemon's listeners.
#[derive(Debug)]
pub(crate) struct Admission {
    /// Connections to the client listeners.
    pub(crate) clients: ConnectionLimit,
    /// Connections to the admin listener.
    pub(crate) admin: ConnectionLimit,
    /// Bytes of SOAP request bodies held at once, in `BUDGET_UNIT`s.
    bodies: Arc<Semaphore>,
    /// Bytes of SOAP request bodies held at once, by source address (each at most a quarter
    /// of the budget, so slow uploads from one address cannot hold all of it).
    bodies_by_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
    body_share: usize,
    /// Largest SOAP request body.
    pub(crate) max_soap_body: usize,
    /// SOAP requests parsed and answered at once.
    workers: Arc<Semaphore>,
    /// Requests answered 503 because body memory or a worker was not free in time.
    pub(crate) busy_refusals: AtomicU64,
    /// New computer records per source address (`[reporting] new_computers_per_minute_per_ip`).
    pub(crate) new_computers: AddressRate,
    /// Reported events taken per source address (`[reporting] events_per_minute_per_ip`).
    pub(crate) events: AddressRate,
}

impl Admission {
    /// The limits `[server]` and `[reporting]` set.
    pub(crate) fn new(whole: &Config) -> Admission {
        let config = &whole.server;
        let workers = match config.soap_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n as usize,
        };
        Admission {
            clients: ConnectionLimit::new(config.max_connections, config.max_connections_per_ip),
            admin: ConnectionLimit::new(ADMIN_CONNECTIONS, ADMIN_CONNECTIONS),
            bodies: Arc::new(Semaphore::new(units(config.soap_body_budget as usize))),
            bodies_by_address: Arc::default(),
            body_share: (config.soap_body_budget as usize / 4).max(config.max_soap_body as usize),
            max_soap_body: config.max_soap_body as usize,
            workers: Arc::new(Semaphore::new(workers)),
            busy_refusals: AtomicU64::new(0),
            new_computers: AddressRate::new(whole.reporting.new_computers_per_minute_per_ip),
            events: AddressRate::new(whole.reporting.events_per_minute_per_ip),
        }
    }

    /// An empty reservation of body memory for one request from `address`; it grows as the
    /// body's bytes arrive (`BodyMemory::grow`) and is given back when dropped.
    pub(crate) fn body_memory(&self, address: IpAddr) -> BodyMemory<'_> {
        BodyMemory {
            admission: self,
            address,
            bytes: 0,
            permits: None,
        }
    }

    /// A SOAP worker slot, waiting up to `QUEUE_WAIT`.
    pub(crate) async fn worker(&self) -> Option<OwnedSemaphorePermit> {
        let acquire = Arc::clone(&self.workers).acquire_owned();
        self.within_queue_wait(acquire).await
    }

    async fn within_queue_wait(
        &self,
        acquire: impl std::future::Future<Output = Result<OwnedSemaphorePermit, tokio::sync::AcquireError>>,
    ) -> Option<OwnedSemaphorePermit> {
        match tokio::time::timeout(QUEUE_WAIT, acquire).await {
            Ok(Ok(permit)) => Some(permit),
            _ => {
                self.busy_refusals.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// Body memory held by one request: permits of the shared budget and its address's share.
#[derive(Debug)]
pub(crate) struct BodyMemory<'a> {
    admission: &'a Admission,
    address: IpAddr,
    bytes: usize,
    permits: Option<OwnedSemaphorePermit>,
}

impl BodyMemory<'_> {
    /// Holds `more` bytes too: refused at once when the address would pass its share, and
    /// when the shared budget has no room within `QUEUE_WAIT`. Either refusal is counted.
    pub(crate) async fn grow(&mut self, more: usize) -> bool {
        let admission = self.admission;
        let total = self.bytes + more;
        {
            let mut by_address = admission
                .bodies_by_address
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let held = by_address.entry(self.address).or_insert(0);
            if *held + more > admission.body_share {
                drop(by_address);
                admission.busy_refusals.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            *held += more;
        }
        self.bytes = total;
        let needed = units(total) - self.permits.as_ref().map_or(0, |p| p.num_permits());
        if needed == 0 {
            return true;
        }
        let Ok(needed) = u32::try_from(needed) else {
            return false;
        };
        let acquire = Arc::clone(&admission.bodies).acquire_many_owned(needed);
        let Some(permit) = admission.within_queue_wait(acquire).await else {
            return false;
        };
        match &mut self.permits {
            Some(held) => held.merge(permit),
            None => self.permits = Some(permit),
        }
        true
    }
}

impl Drop for BodyMemory<'_> {
    fn drop(&mut self) {
        let mut by_address = self
            .admission
            .bodies_by_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(held) = by_address.get_mut(&self.address) {
            *held = held.saturating_sub(self.bytes);
            if *held == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(BUDGET_UNIT).min(Semaphore::MAX_PERMITS)
}

/// Open connections, overall and per source address.
#[derive(Debug)]
pub(crate) struct ConnectionLimit {
    total: u32,
    per_address: u32,
    open: Arc<Mutex<OpenConnections>>,
    /// Connections closed at accept because a limit was reached.
    pub(crate) refused: AtomicU64,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: u32,
    by_address: HashMap<IpAddr, u32>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    address: IpAddr,
    open: Arc<Mutex<OpenConnections>>,
}

impl ConnectionLimit {
    fn new(total: u32, per_address: u32) -> ConnectionLimit {
        ConnectionLimit {
            total,
            per_address,
            open: Arc::default(),
            refused: AtomicU64::new(0),
        }
    }

    /// A place for a connection from `address`, or `None` when the listener or that address
    /// is at its limit.
    pub(crate) fn admit(&self, address: IpAddr) -> Option<ConnectionPermit> {
        let mut open = lock(&self.open);
        let from_address = open.by_address.get(&address).copied().unwrap_or(0);
        if open.total >= self.total || from_address >= self.per_address {
            drop(open);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        open.total += 1;
        open.by_address.insert(address, from_address + 1);
        Some(ConnectionPermit {
            address,
            open: Arc::clone(&self.open),
        })
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> u32 {
        lock(&self.open).total
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

/// A rate per source address: a bucket of `per_minute` tokens each address draws from,
/// refilled continuously. Addresses idle for a minute are forgotten once the map is large, so
/// its size stays bounded whatever addresses a flood uses.
#[derive(Debug)]
pub(crate) struct AddressRate {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

/// Addresses remembered before idle ones are forgotten.
const RATE_ADDRESSES: usize = 65_536;

impl AddressRate {
    /// `per_minute` 0: no limit.
    pub(crate) fn new(per_minute: u32) -> AddressRate {
        AddressRate {
            per_minute,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `address`; false when its bucket is empty.
    pub(crate) fn allow(&self, address: IpAddr) -> bool {
        self.allow_at(address, std::time::Instant::now())
    }

    /// Takes up to `wanted` tokens for `address`; returns how many it got.
    pub(crate) fn take(&self, address: IpAddr, wanted: u64) -> u64 {
        self.take_at(address, wanted, std::time::Instant::now())
    }

    fn allow_at(&self, address: IpAddr, now: std::time::Instant) -> bool {
        self.take_at(address, 1, now) == 1
    }

    fn take_at(&self, address: IpAddr, wanted: u64, now: std::time::Instant) -> u64 {
        if self.per_minute == 0 {
            return wanted;
        }
        let capacity = f64::from(self.per_minute);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= RATE_ADDRESSES && !buckets.contains_key(&address) {
            buckets.retain(|_, bucket| now.duration_since(bucket.at) < Duration::from_secs(60));
            if buckets.len() >= RATE_ADDRESSES {
                // Every address was active this minute: forget them all rather than grow.
                buckets.clear();
            }
        }
        let bucket = buckets.entry(address).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * capacity / 60.0;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        let granted = (bucket.tokens.floor() as u64).min(wanted);
        bucket.tokens -= granted as f64;
        granted
    }
}

/// std Mutex, held for a map update only.
fn lock(open: &Mutex<OpenConnections>) -> std::sync::MutexGuard<'_, OpenConnections> {
    open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_limited_overall_and_per_address_and_freed_on_drop() {
        let limit = ConnectionLimit::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = limit.admit(a).unwrap();
        let _second = limit.admit(a).unwrap();
        assert!(limit.admit(a).is_none(), "a third from one address");
        let _third = limit.admit(b).unwrap();
        assert!(limit.admit(b).is_none(), "a fourth overall");
        assert_eq!(limit.refused.load(Ordering::Relaxed), 2);
        drop(first);
        assert_eq!(limit.open(), 2);
        assert!(limit.admit(a).is_some(), "a's place came back");
    }

    #[test]
    fn each_address_draws_from_its_own_bucket_refilled_over_a_minute() {
        let rate = AddressRate::new(3);
        let start = std::time::Instant::now();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!((0..3).all(|_| rate.allow_at(a, start)));
        assert!(!rate.allow_at(a, start), "a's bucket is empty");
        assert!(rate.allow_at(b, start), "b has its own");
        assert!(
            !rate.allow_at(a, start + Duration::from_secs(19)),
            "a third of a token per 20 s"
        );
        assert!(rate.allow_at(a, start + Duration::from_secs(40)));
        assert!(AddressRate::new(0).allow_at(a, start), "0 = no limit");
        let events = AddressRate::new(100);
        assert_eq!(events.take_at(a, 70, start), 70);
        assert_eq!(
            events.take_at(a, 70, start),
            30,
            "what is left of the minute's 100"
        );
        assert_eq!(events.take_at(a, 70, start + Duration::from_secs(6)), 10);
    }

    #[test]
    fn a_flood_of_addresses_does_not_grow_the_map_without_bound() {
        let rate = AddressRate::new(1);
        let now = std::time::Instant::now();
        for i in 0..(RATE_ADDRESSES as u32 + 10) {
            rate.allow_at(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(rate.buckets.lock().unwrap().len() <= RATE_ADDRESSES);
    }

    #[tokio::test]
    async fn body_memory_is_a_shared_budget_with_a_share_per_address() {
        let mut config = Config::default();
        config.server.max_soap_body = 64 << 10;
        config.server.soap_body_budget = 256 << 10;
        let admission = Admission::new(&config);
        let a: IpAddr = [10, 0, 0, 1].into();
        let mut first = admission.body_memory(a);
        assert!(first.grow(40 << 10).await);
        let mut second = admission.body_memory(a);
        assert!(!second.grow(40 << 10).await, "past a's quarter of the budget");
        drop(first);
        assert!(second.grow(40 << 10).await, "a's share came back");
        let mut others = Vec::new();
        for i in 2..=6u8 {
            let mut memory = admission.body_memory([10, 0, 0, i].into());
            assert!(memory.grow(40 << 10).await);
            others.push(memory);
        }
        let mut last = admission.body_memory([10, 0, 0, 7].into());
        let waiting = last.grow(40 << 10);
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut waiting)
                .await
                .is_err(),
            "the budget (256 KiB) is held: 6 x 40 KiB"
        );
        drop(others);
        assert!(waiting.await, "served once it is freed");
    }
}
