//! The payload cache: files keyed by SHA-1 on disk, verified by SHA-1 and SHA-256 before
//! they are committed, fetched on a miss (one transfer however many clients ask, at most
//! `max_transfers` at once, `cache`; cancelled when every client has gone unless prefetch
//! wants the file, `demand`) or ahead of time (`prefetch`, with `rate` as its bandwidth cap). Pure parts — `range`
//! (Range/If-Range), `layout` (URL path ↔ digest ↔ disk path, file names), `evict` (LRU
//! bookkeeping) — are plain functions; `disk` owns the files (verified writes, start-up
//! reconciliation of leftovers). HTTP answers are built by `server::payload`. Never imports
//! `upstream`: fetching goes through the `Fetch` trait. Uses `model`, `stats`, `shutdown`.

pub mod cache;
pub mod demand;
pub mod disk;
pub mod evict;
pub mod fetch;
pub mod layout;
pub mod prefetch;
pub mod range;
pub mod rate;

/// A payload's SHA-1, the cache key.
pub type Sha1 = [u8; 20];

/// What the catalog says about a payload: the digests it must have, its size, its file
/// name (for the URL extension) and where the upstream serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadMeta {
    pub(crate) sha1: Sha1,
    pub(crate) sha256: Option<[u8; 32]>,
    pub(crate) size: u64,
    pub(crate) name: String,
    pub(crate) url: String,
}

impl PayloadMeta {
    /// The payload's SHA-1.
    pub fn sha1(&self) -> &Sha1 {
        &self.sha1
    }
}
