//! How the cache gets bytes it does not have: the `Fetch` trait, implemented by the upstream
//! side (HTTP to the CDN or an upstream WSUS) and by tests. A fetch answers the bytes of one
//! URL from an offset, as a channel of chunks, so the cache never names a HTTP client.

use bytes::Bytes;
use std::future::Future;
use std::time::Duration;
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

impl Fetched {
    /// Tells the fetcher to stop and waits, up to `limit`, until it has dropped its end of
    /// the channel — and so its connection — so a transfer halted to free its slot does not
    /// overlap the next one at the upstream.
    pub(crate) async fn stop(mut self, limit: Duration) {
        self.chunks.close();
        let drained = async { while self.chunks.recv().await.is_some() {} };
        let _ = tokio::time::timeout(limit, drained).await;
    }
}

/// Gets a URL's bytes from `offset` (a `Range: bytes=offset-` request when offset > 0). The
/// fetcher stops once the chunk channel is closed, and lets go of its connection no later
/// than of the channel's sender.
pub trait Fetch: Send + Sync + 'static {
    /// Starts fetching `url` from byte `offset`; resolves once the answer's headers are in.
    fn fetch(&self, url: &str, offset: u64) -> impl Future<Output = Result<Fetched, FetchError>> + Send;
}
