//! A fake MS-WSUSSS upstream: a real hyper server on `127.0.0.1:0` that answers the
//! server-server protocol the way the recorded Windows Server 2025 WSUS does.
//!
//! It serves [`UpstreamDoc`]s (from [`synth`](crate::synth) catalogs or [`real_docs`])
//! over GetAuthConfig, DSS GetAuthorizationCookie, GetCookie, GetConfigData, GetRevisionIdList
//! and GetUpdateData, plus payloads registered with [`FakeUpstream::serve_files`]. Behaviour can
//! be bent at runtime through [`Faults`]; [`Stats`] tells a test what happened.
//!
//! Layout: `wire` (envelopes, faults, request fields), `catalog` (documents over logical time,
//! filters), `ops` (one handler per operation), `server` (hyper plumbing, injected HTTP
//! failures), `content` (payload GETs), `real` (fixture documents), `faults` (with `gate`, which
//! holds content answers), `stats`.

mod catalog;
mod content;
mod faults;
mod gate;
mod ops;
#[cfg(test)]
mod payload_tests;
mod real;
mod server;
mod stats;
#[cfg(test)]
mod tests;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use catalog::compress_xml;
pub use faults::Faults;
pub use real::real_docs;
pub use stats::{FileStats, Stats};

use super::synth::{SynthDoc, SynthFile};
use catalog::Catalog;
use faults::lock;
use ops::Cookies;

/// One revision as the fake serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamDoc {
    pub(crate) update_id: Uuid,
    pub(crate) revision: u32,
    /// The complete `<upd:Update>` document.
    pub xml: String,
    /// If set, served as `XmlUpdateBlobCompressed` with exactly these CAB bytes.
    pub cab: Option<Vec<u8>>,
    /// Without `cab`: build a CAB (member `blob`, UTF-16LE without BOM, MSZIP) and serve it
    /// compressed; otherwise serve `XmlUpdateBlob` as escaped text.
    pub compress: bool,
    /// `(base64 SHA-1, MUUrl)` per file, for `FileDigestList` and `fileUrls`.
    pub file_urls: Vec<(String, String)>,
    /// Products and classifications the GetRevisionIdList filter matches on.
    pub products: Vec<Uuid>,
    pub(crate) classifications: Vec<Uuid>,
    /// Category, classification or detectoid: listed only for `GetConfig=true`.
    pub is_config: bool,
    /// Bundle members, listed whenever this bundle is.
    pub bundled: Vec<Uuid>,
}

impl UpstreamDoc {
    /// Serves a synthetic document; compressed when Windows would compress it (UTF-16 form over
    /// 5,120 bytes).
    pub fn from_synth(doc: &SynthDoc) -> Self {
        UpstreamDoc {
            update_id: doc.update_id,
            revision: doc.revision,
            xml: doc.xml.clone(),
            cab: None,
            compress: real::needs_compression(&doc.xml),
            file_urls: doc
                .files
                .iter()
                .map(|f| (BASE64.encode(f.sha1), f.mu_url.clone()))
                .collect(),
            products: doc.products.clone(),
            classifications: doc.classifications.clone(),
            is_config: doc.kind.is_config(),
            bundled: doc.bundled.clone(),
        }
    }
}

/// State shared by all connections. The std mutexes are never held across an `.await`.
#[derive(Debug)]
struct Shared {
    catalog: Mutex<Catalog>,
    cookies: Mutex<Cookies>,
    faults: Faults,
    stats: Mutex<Stats>,
    /// Registered payloads by lower-case request path.
    content: Mutex<HashMap<String, SynthFile>>,
}

/// A running fake upstream. Dropping it stops the server too; [`FakeUpstream::stop`] also
/// waits for open connections to drain.
#[derive(Debug)]
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeUpstream {
    /// Binds `127.0.0.1:0` and serves `docs` (logical time 1).
    pub async fn start(docs: Vec<UpstreamDoc>) -> std::io::Result<FakeUpstream> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            catalog: Mutex::new(Catalog::new(docs)),
            cookies: Mutex::default(),
            faults: Faults::default(),
            stats: Mutex::default(),
            content: Mutex::default(),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(FakeUpstream {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds or replaces (same id and revision) `docs` at a new, later logical time, so a
    /// GetRevisionIdList anchored before this call returns only them.
    pub fn publish(&self, docs: Vec<UpstreamDoc>) {
        lock(&self.shared.catalog).publish(docs);
    }

    /// The anchor GetRevisionIdList would return now.
    pub fn anchor(&self) -> String {
        lock(&self.shared.catalog).anchor()
    }

    /// Serves these files' payloads at their `MUUrl` path (any host) and at
    /// `/Content/<XX>/<SHA1HEX>.<ext>`; GET and HEAD, single byte ranges.
    pub fn serve_files<'a>(&self, files: impl IntoIterator<Item = &'a SynthFile>) {
        let mut content = lock(&self.shared.content);
        for file in files {
            for path in content::paths(file) {
                content.insert(path, file.clone());
            }
        }
    }

    /// Runtime-settable failures and limits.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Stops accepting, then waits (up to five seconds) for open connections to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            // The receiver is gone only if the server already ended, which is what we want.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(error) = task.await {
                tracing::warn!(%error, "fake upstream server task failed");
            }
        }
    }
}
