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
    /// Which downstream servers may sync (`[downstream]`).
    pub(crate) downstream: DownstreamAccess,
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
            downstream: DownstreamAccess::new(&whole.downstream),
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

/// How long an address that a downstream server authorized from may fetch payloads no patch
/// group here approves (a sync's downloads follow its metadata within hours).
const DOWNSTREAM_CONTENT_GRANT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Addresses remembered at once (older grants go first).
const MAX_DOWNSTREAM_GRANTS: usize = 4096;

/// Who may sync from this server (`[downstream]`): address ranges and an optional secret in
/// the DSS account name. An address that authorized recently may also fetch any payload of
/// the catalog, approved here or not, as a downstream server's content sync needs.
#[derive(Debug)]
pub(crate) struct DownstreamAccess {
    enabled: bool,
    networks: Vec<ipnet::IpNet>,
    secret: String,
    granted: Mutex<HashMap<IpAddr, std::time::Instant>>,
}

/// Why a downstream server was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DownstreamRefusal {
    /// `[downstream] enabled = false`.
    Disabled,
    /// The address is outside `[downstream] allow`.
    Address,
    /// The account name does not carry `[downstream] secret`.
    Secret,
}

impl std::fmt::Display for DownstreamRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DownstreamRefusal::Disabled => "serving downstream servers is off ([downstream] enabled = false)",
            DownstreamRefusal::Address => "the address is not in [downstream] allow",
            DownstreamRefusal::Secret => "the account name does not carry [downstream] secret",
        })
    }
}

impl DownstreamAccess {
    pub(crate) fn new(config: &crate::config::DownstreamConfig) -> DownstreamAccess {
        DownstreamAccess {
            enabled: config.enabled,
            // Validated with the config; an entry that does not parse lets no one in.
            networks: config.allowed_networks().unwrap_or_default(),
            secret: config.secret.clone(),
            granted: Mutex::default(),
        }
    }

    /// Whether downstream servers are served at all.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `address` may call the downstream services.
    pub(crate) fn admits_address(&self, address: IpAddr) -> Result<(), DownstreamRefusal> {
        if !self.enabled {
            return Err(DownstreamRefusal::Disabled);
        }
        let address = canonical(address);
        if self.networks.iter().any(|net| net.contains(&address)) {
            Ok(())
        } else {
            Err(DownstreamRefusal::Address)
        }
    }

    /// Whether a downstream at `address` with `account_name` may sync; when it may, its
    /// address is granted payload access for a day.
    pub(crate) fn authorize(&self, address: IpAddr, account_name: &str) -> Result<(), DownstreamRefusal> {
        self.admits_address(address)?;
        if !self.secret.is_empty() && !carries_secret(account_name, &self.secret) {
            return Err(DownstreamRefusal::Secret);
        }
        self.grant(canonical(address), std::time::Instant::now());
        Ok(())
    }

    fn grant(&self, address: IpAddr, now: std::time::Instant) {
        let mut granted = self.granted.lock().unwrap_or_else(|e| e.into_inner());
        granted.retain(|_, at| now.duration_since(*at) < DOWNSTREAM_CONTENT_GRANT);
        if granted.len() >= MAX_DOWNSTREAM_GRANTS && !granted.contains_key(&address) {
            if let Some(oldest) = granted.iter().min_by_key(|(_, at)| **at).map(|(a, _)| *a) {
                granted.remove(&oldest);
            }
        }
        granted.insert(address, now);
    }

    /// Whether `address` may fetch payloads no patch group approves: it authorized as a
    /// downstream server within the last day and is still in the allowed ranges.
    pub(crate) fn may_fetch_any_payload(&self, address: IpAddr) -> bool {
        if self.admits_address(address).is_err() {
            return false;
        }
        let granted = self.granted.lock().unwrap_or_else(|e| e.into_inner());
        granted
            .get(&canonical(address))
            .is_some_and(|at| at.elapsed() < DOWNSTREAM_CONTENT_GRANT)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The secret is one whole label of the account name (compared without early exit).
fn carries_secret(account_name: &str, secret: &str) -> bool {
    account_name.split('.').fold(false, |found, label| {
        let same = label.len() == secret.len()
            && label
                .bytes()
                .zip(secret.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0;
        found | same
    })
}

#[cfg(test)]
mod downstream_tests {
    use super::*;
    use crate::config::DownstreamConfig;

    fn access(allow: &[&str], secret: &str) -> DownstreamAccess {
        DownstreamAccess::new(&DownstreamConfig {
            enabled: true,
            allow: allow.iter().map(|a| a.to_string()).collect(),
            secret: secret.into(),
            publish_baselines: true,
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_are_matched_against_the_ranges() {
        let access = access(&["10.0.0.0/8", "192.0.2.7"], "");
        assert!(access.admits_address(ip("10.1.2.3")).is_ok());
        assert!(
            access.admits_address(ip("::ffff:10.1.2.3")).is_ok(),
            "IPv4-mapped"
        );
        assert!(access.admits_address(ip("192.0.2.7")).is_ok());
        assert_eq!(
            access.admits_address(ip("192.0.2.8")),
            Err(DownstreamRefusal::Address)
        );
        assert_eq!(access.admits_address(ip("::1")), Err(DownstreamRefusal::Address));
        let default = DownstreamAccess::new(&DownstreamConfig::default());
        for inside in ["127.0.0.1", "::1", "172.20.0.1", "192.168.1.1", "fd00::1"] {
            assert!(default.admits_address(ip(inside)).is_ok(), "{inside}");
        }
        assert!(default.admits_address(ip("8.8.8.8")).is_err());
        let off = DownstreamAccess::new(&DownstreamConfig {
            enabled: false,
            ..DownstreamConfig::default()
        });
        assert_eq!(
            off.admits_address(ip("127.0.0.1")),
            Err(DownstreamRefusal::Disabled)
        );
    }

    #[test]
    fn the_secret_must_be_a_whole_label_of_the_account_name() {
        let access = access(&["127.0.0.0/8"], "k7f3q9k7f3q9k7f3");
        let here = ip("127.0.0.1");
        assert!(access.authorize(here, "spoke-1.k7f3q9k7f3q9k7f3.corp").is_ok());
        assert!(access.authorize(here, "k7f3q9k7f3q9k7f3").is_ok());
        assert_eq!(
            access.authorize(here, "spoke-1.corp"),
            Err(DownstreamRefusal::Secret)
        );
        assert_eq!(
            access.authorize(here, "spoke.k7f3q9k7f3q9k7f3x"),
            Err(DownstreamRefusal::Secret)
        );
        assert_eq!(
            access.authorize(ip("10.0.0.1"), "k7f3q9k7f3q9k7f3"),
            Err(DownstreamRefusal::Address)
        );
    }

    #[test]
    fn payload_access_follows_an_authorization_from_the_same_address() {
        let access = access(&["127.0.0.0/8"], "");
        assert!(!access.may_fetch_any_payload(ip("127.0.0.2")), "never authorized");
        access.authorize(ip("127.0.0.2"), "dss.example").unwrap();
        assert!(access.may_fetch_any_payload(ip("127.0.0.2")));
        assert!(!access.may_fetch_any_payload(ip("127.0.0.3")));
        for n in 0..(MAX_DOWNSTREAM_GRANTS as u32 + 10) {
            access.grant(IpAddr::from(n.to_be_bytes()), std::time::Instant::now());
        }
        assert!(
            access.granted.lock().unwrap().len() <= MAX_DOWNSTREAM_GRANTS,
            "bounded"
        );
    }
}
