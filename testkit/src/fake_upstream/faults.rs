//! Runtime knobs of the fake upstream: injected failures and a few served values.
//!
//! Every setter takes `&self` so a test can change behaviour while a sync or a download is
//! running. The std mutexes here are never held across an `.await`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use uuid::Uuid;

use super::gate::Gate;

/// `MaxNumberOfUpdatesPerRequest` of the recorded WSUS.
const DEFAULT_MAX_UPDATES: usize = 100;
/// Access cookie lifetime unless a test changes it.
const DEFAULT_COOKIE_LIFETIME: Duration = Duration::from_secs(3600);

/// Failures to inject and limits to announce; shared by all connections of one fake.
#[derive(Debug)]
pub struct Faults {
    max_updates: AtomicUsize,
    bad_ids: Mutex<HashSet<Uuid>>,
    garbage_blob_ids: Mutex<HashSet<Uuid>>,
    invalidate_after: Mutex<Option<u64>>,
    forget_cookies: AtomicBool,
    server_busy: AtomicU64,
    http_errors: AtomicU64,
    http_status: AtomicU16,
    resets: AtomicU64,
    delay: Mutex<Duration>,
    cookie_lifetime: Mutex<Duration>,
    catalog_only_sync: AtomicBool,
    content: ContentFaults,
}

/// Failures of payload (content) responses; see the `content_*` setters of [`Faults`].
#[derive(Debug, Default)]
struct ContentFaults {
    delay: Mutex<Duration>,
    rate: AtomicU64,
    cuts: Mutex<Cuts>,
    statuses: AtomicU64,
    status: AtomicU16,
    flips: Mutex<HashMap<[u8; 20], u64>>,
    gate: Gate,
}

/// Content responses still to cut, and after how many body bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Cuts {
    left: u64,
    after_bytes: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            max_updates: AtomicUsize::new(DEFAULT_MAX_UPDATES),
            bad_ids: Mutex::default(),
            garbage_blob_ids: Mutex::default(),
            invalidate_after: Mutex::default(),
            forget_cookies: AtomicBool::new(false),
            server_busy: AtomicU64::new(0),
            http_errors: AtomicU64::new(0),
            http_status: AtomicU16::new(500),
            resets: AtomicU64::new(0),
            delay: Mutex::new(Duration::ZERO),
            cookie_lifetime: Mutex::new(DEFAULT_COOKIE_LIFETIME),
            catalog_only_sync: AtomicBool::new(false),
            content: ContentFaults::default(),
        }
    }
}

impl Faults {
    /// Sets `MaxNumberOfUpdatesPerRequest` (announced by GetConfigData and enforced by
    /// GetUpdateData with `InvalidParameters` / `updateIds`). Default 100.
    pub fn set_max_updates_per_request(&self, max: usize) {
        self.max_updates.store(max, Ordering::SeqCst);
    }

    pub(crate) fn max_updates_per_request(&self) -> usize {
        self.max_updates.load(Ordering::SeqCst)
    }

    /// Ids whose GetUpdateData always faults `InternalServerError` (an id the upstream lists but
    /// cannot serve). Replaces the previous set.
    pub fn set_bad_ids(&self, ids: impl IntoIterator<Item = Uuid>) {
        *lock(&self.bad_ids) = ids.into_iter().collect();
    }

    /// Adds one id to the [`set_bad_ids`](Self::set_bad_ids) set.
    pub fn add_bad_id(&self, id: Uuid) {
        lock(&self.bad_ids).insert(id);
    }

    /// Empties the [`set_bad_ids`](Self::set_bad_ids) set.
    pub fn clear_bad_ids(&self) {
        lock(&self.bad_ids).clear();
    }

    /// Ids whose `XmlUpdateBlob` (every revision) is served as unparseable garbage inside a
    /// valid envelope. Replaces the previous set.
    pub fn set_garbage_blob_ids(&self, ids: impl IntoIterator<Item = Uuid>) {
        *lock(&self.garbage_blob_ids) = ids.into_iter().collect();
    }

    /// Adds one id to the [`set_garbage_blob_ids`](Self::set_garbage_blob_ids) set.
    pub fn add_garbage_blob_id(&self, id: Uuid) {
        lock(&self.garbage_blob_ids).insert(id);
    }

    pub(crate) fn clear_garbage_blob_ids(&self) {
        lock(&self.garbage_blob_ids).clear();
    }

    /// After `calls` more successful SOAP calls, forget every access cookie once, so the next
    /// call that presents one gets `InvalidCookie`. `0` forgets before the next call.
    pub fn invalidate_cookies_after(&self, calls: u64) {
        if calls == 0 {
            *lock(&self.invalidate_after) = None;
            self.forget_cookies.store(true, Ordering::SeqCst);
        } else {
            *lock(&self.invalidate_after) = Some(calls);
        }
    }

    /// The next `calls` SOAP calls answer a `ServerBusy` fault.
    pub fn server_busy(&self, calls: u64) {
        self.server_busy.store(calls, Ordering::SeqCst);
    }

    /// The next `calls` SOAP calls answer a bare HTTP 500 with an HTML body (no SOAP).
    pub fn http_500(&self, calls: u64) {
        self.http_error(calls, 500);
    }

    /// The next `calls` SOAP calls answer a bare HTTP `status` (e.g. 503) with an HTML body.
    pub fn http_error(&self, calls: u64, status: u16) {
        self.http_status.store(status, Ordering::SeqCst);
        self.http_errors.store(calls, Ordering::SeqCst);
    }

    /// The next `calls` SOAP calls drop the connection without answering.
    pub fn reset(&self, calls: u64) {
        self.resets.store(calls, Ordering::SeqCst);
    }

    /// Wait this long before every SOAP answer (faults included). Default zero.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    /// Lifetime of access cookies handed out from now on. Default one hour.
    pub fn set_cookie_lifetime(&self, lifetime: Duration) {
        *lock(&self.cookie_lifetime) = lifetime;
    }

    /// `CatalogOnlySync` announced by GetConfigData: `false` (default, as the recorded WSUS)
    /// means "download from my `/Content/XX/<SHA1>.<ext>`", `true` (as Microsoft Update) means
    /// "download from each file's `MUUrl`". The fake serves registered files at both.
    pub fn set_catalog_only_sync(&self, catalog_only: bool) {
        self.catalog_only_sync.store(catalog_only, Ordering::SeqCst);
    }

    /// Wait this long before answering every content request (faults included). Default zero.
    pub fn content_delay(&self, delay: Duration) {
        *lock(&self.content.delay) = delay;
    }

    /// Send payload bodies at about `bytes_per_second`, read afresh for every frame so a
    /// running transfer speeds up or slows down; `0` (default) means unlimited.
    pub fn content_rate(&self, bytes_per_second: u64) {
        self.content.rate.store(bytes_per_second, Ordering::SeqCst);
    }

    /// The next `responses` content GETs that send a body drop the connection after
    /// `after_bytes` body bytes (a body no longer than that is sent whole, and still uses one
    /// up). Headers, including the full `Content-Length`, go out first.
    pub fn content_reset_after(&self, responses: u64, after_bytes: u64) {
        *lock(&self.content.cuts) = Cuts {
            left: responses,
            after_bytes,
        };
    }

    /// The next `requests` content GET/HEADs for registered files answer a bare HTTP `status`
    /// (e.g. 503) with an HTML body.
    pub fn content_status(&self, requests: u64, status: u16) {
        self.content.status.store(status, Ordering::SeqCst);
        self.content.statuses.store(requests, Ordering::SeqCst);
    }

    /// Serve the file with this SHA-1 with the byte at `offset` XOR 0xFF, every time until
    /// [`content_clear`](Self::content_clear); replaces an earlier flip of the same file.
    pub fn content_flip_byte(&self, sha1: [u8; 20], offset: u64) {
        lock(&self.content.flips).insert(sha1, offset);
    }

    /// Hold every content request from now on (counted, and active for a GET) before it is
    /// answered, until [`content_release`](Self::content_release); requests already past the
    /// gate go on.
    pub fn content_hold(&self) {
        self.content.gate.set_closed(true);
    }

    /// Lets held content requests, and all later ones, through.
    pub fn content_release(&self) {
        self.content.gate.set_closed(false);
    }

    /// No content faults: no hold, no delay, no throttle, no cuts, no statuses, no flipped
    /// bytes.
    pub fn content_clear(&self) {
        self.content_release();
        self.content_delay(Duration::ZERO);
        self.content_rate(0);
        self.content_reset_after(0, 0);
        self.content_status(0, 500);
        lock(&self.content.flips).clear();
    }

    /// Back to defaults: no injected failures (content faults included), limit 100, one-hour
    /// cookies.
    pub fn clear(&self) {
        self.set_max_updates_per_request(DEFAULT_MAX_UPDATES);
        self.clear_bad_ids();
        self.clear_garbage_blob_ids();
        *lock(&self.invalidate_after) = None;
        self.forget_cookies.store(false, Ordering::SeqCst);
        self.server_busy(0);
        self.http_error(0, 500);
        self.reset(0);
        self.set_delay(Duration::ZERO);
        self.set_cookie_lifetime(DEFAULT_COOKIE_LIFETIME);
        self.set_catalog_only_sync(false);
        self.content_clear();
    }

    pub(super) fn is_bad(&self, id: &Uuid) -> bool {
        lock(&self.bad_ids).contains(id)
    }

    pub(super) fn is_garbage(&self, id: &Uuid) -> bool {
        lock(&self.garbage_blob_ids).contains(id)
    }

    pub(super) fn delay(&self) -> Duration {
        *lock(&self.delay)
    }

    pub(super) fn cookie_lifetime(&self) -> Duration {
        *lock(&self.cookie_lifetime)
    }

    pub(super) fn catalog_only_sync(&self) -> bool {
        self.catalog_only_sync.load(Ordering::SeqCst)
    }

    pub(super) fn content_wait(&self) -> Duration {
        *lock(&self.content.delay)
    }

    /// Waits while content requests are held.
    pub(super) async fn content_gate(&self) {
        self.content.gate.pass().await;
    }

    pub(super) fn content_bytes_per_second(&self) -> u64 {
        self.content.rate.load(Ordering::SeqCst)
    }

    /// Uses up one injected content status, returning it.
    pub(super) fn take_content_status(&self) -> Option<u16> {
        take_one(&self.content.statuses).then(|| self.content.status.load(Ordering::SeqCst))
    }

    /// Uses up one injected content cut, returning after how many body bytes to cut.
    pub(super) fn take_content_cut(&self) -> Option<u64> {
        let mut cuts = lock(&self.content.cuts);
        cuts.left = cuts.left.checked_sub(1)?;
        Some(cuts.after_bytes)
    }

    /// The offset of the flipped byte of the file with this SHA-1, if any.
    pub(super) fn flipped_byte(&self, sha1: &[u8; 20]) -> Option<u64> {
        lock(&self.content.flips).get(sha1).copied()
    }

    /// Uses up one injected reset, if any is left.
    pub(super) fn take_reset(&self) -> bool {
        take_one(&self.resets)
    }

    /// Uses up one injected HTTP error, returning its status.
    pub(super) fn take_http_error(&self) -> Option<u16> {
        take_one(&self.http_errors).then(|| self.http_status.load(Ordering::SeqCst))
    }

    pub(super) fn take_server_busy(&self) -> bool {
        take_one(&self.server_busy)
    }

    /// Whether access cookies must be forgotten now (once per `invalidate_cookies_after`).
    pub(super) fn take_forget_cookies(&self) -> bool {
        self.forget_cookies.swap(false, Ordering::SeqCst)
    }

    /// Counts one successful call towards `invalidate_cookies_after`.
    pub(super) fn note_success(&self) {
        let mut countdown = lock(&self.invalidate_after);
        if let Some(left) = countdown.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                *countdown = None;
                self.forget_cookies.store(true, Ordering::SeqCst);
            }
        }
    }
}

fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Locks a mutex, ignoring poisoning: the guarded values stay valid if a test panicked.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
