//! How the cache gets bytes it does not have: the `Fetch` trait, implemented by the upstream
//! side (HTTP to the CDN or an upstream WSUS) and by tests. A fetch answers the bytes of one
//! URL from an offset, as a channel of chunks, so the cache never names a HTTP client.

use bytes::Bytes;
use std::future::Future;
use tokio::sync::mpsc;

/// Why a fetch failed; `retryable` says whether trying again (resuming) makes sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {detail}")]
pub struct FetchError {
    pub(crate) url: String,
    pub(crate) detail: String,
    pub(crate) retryable: bool,
}

/// An answer in progress: where its bytes start and the chunks as they arrive.
pub struct Fetched {
    /// The offset of the first chunk: the requested offset when the server honoured the
    /// range, 0 when it sent the whole file instead.
    pub start: u64,
    pub(crate) chunks: mpsc::Receiver<Result<Bytes, FetchError>>,
}

/// Gets a URL's bytes from `offset` (a `Range: bytes=offset-` request when offset > 0).
pub trait Fetch: Send + Sync + 'static {
    /// Starts fetching `url` from byte `offset`; resolves once the answer's headers are in.
    fn fetch(&self, url: &str, offset: u64) -> impl Future<Output = Result<Fetched, FetchError>> + Send;
}
