//! The payload cache end to end: a fake upstream serving payloads (with injectable faults),
//! wucache in front of it, clients downloading through `/Content/...`. Which payloads are
//! approved comes from [`crate::oracle`], never from the daemon.

mod eviction;
mod misses;
mod prefetch;
mod ranges;
mod sendfile;
mod serving;
mod stats;

use crate::harness::{config, eventually};
use hyper::header::HeaderMap;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use tempfile::TempDir;
use wucache::config::Config;
use wucache::daemon::Daemon;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{self, hex, SynthCatalog, SynthFile, SynthOptions};

/// A fake upstream whose MUUrls point at itself, serving the catalog's payloads.
pub(crate) async fn upstream_with_payloads(
    seed: u64,
    updates: usize,
    max_file_size: u64,
) -> (FakeUpstream, SynthCatalog) {
    let upstream = FakeUpstream::start(Vec::new()).await.unwrap();
    let options = SynthOptions {
        seed,
        updates,
        max_file_size,
        content_base_url: upstream.url(),
        ..SynthOptions::default()
    };
    let catalog = synth::generate(&options);
    upstream.publish(catalog.docs.iter().map(UpstreamDoc::from_synth).collect());
    upstream.serve_files(catalog.files());
    (upstream, catalog)
}

/// Syncs into a fresh data dir and starts the daemon with the oracle's baseline file; waits
/// for the cache to open.
pub(crate) async fn serve(upstream: &FakeUpstream, tune: impl FnOnce(&mut Config)) -> (Daemon, TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut config = config(&upstream.url(), &data);
    config.content.attempts = 4;
    // Hundreds of simulated clients share 127.0.0.1 here; a real fleet has one address each.
    config.server.max_connections_per_ip = 4096;
    config.baselines.file = crate::oracle::write_baseline(data.path()).display().to_string();
    tune(&mut config);
    {
        let store = Store::open(data.path()).unwrap();
        run_sync(&store, &config, &Quiet).await.unwrap();
    }
    let daemon = Daemon::start(config).await.unwrap();
    let app = daemon.app.clone();
    assert!(
        eventually(|| {
            let app = app.clone();
            async move { app.content.get().is_some() }
        })
        .await
    );
    (daemon, data)
}

/// The oracle's approved file with the most bytes.
pub(crate) fn largest_approved(catalog: &SynthCatalog) -> SynthFile {
    crate::oracle::approved_files(catalog)
        .into_iter()
        .max_by_key(|f| f.size)
        .unwrap()
}

pub(crate) fn content_path(file: &SynthFile) -> String {
    let hex = hex(&file.sha1).to_uppercase();
    let ext = file.name.rsplit('.').next().unwrap().to_lowercase();
    format!("/Content/{}/{hex}.{ext}", &hex[38..])
}

/// What a GET got.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value, empty when absent.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// GET with an optional Range header.
pub(crate) async fn get(addr: SocketAddr, path: &str, range: Option<&str>) -> Reply {
    request(hyper::Method::GET, addr, path, range).await
}

/// A request with an optional Range header, on a connection of its own.
pub(crate) async fn request(
    method: hyper::Method,
    addr: SocketAddr,
    path: &str,
    range: Option<&str>,
) -> Reply {
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    let response = client
        .request(
            request
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

/// The inclusive byte range a single-range header (`a-b`, `a-`, `-n`) selects from a file of
/// `size` bytes (RFC 9110 §14.1.2), or `None` when it selects nothing.
pub(crate) fn expected_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=").unwrap();
    let (first, last) = spec.split_once('-').unwrap();
    if first.is_empty() {
        let suffix: u64 = last.parse().unwrap();
        return (suffix > 0 && size > 0).then(|| (size.saturating_sub(suffix), size - 1));
    }
    let first: u64 = first.parse().unwrap();
    let last = match last {
        "" => size.saturating_sub(1),
        last => last.parse::<u64>().unwrap().min(size.saturating_sub(1)),
    };
    (first < size).then_some((first, last))
}

/// A 206 for `range` of `file`: the status, `Content-Range`, `Content-Length`, body length
/// and bytes all as computed here from the file's size.
pub(crate) fn assert_partial(reply: &Reply, range: &str, file: &SynthFile) {
    let (first, last) = expected_range(range, file.size).expect("a satisfiable range");
    let length = last - first + 1;
    let context = format!("{range} of {} bytes: {:?}", file.size, reply.headers);
    assert_eq!(reply.status, 206, "{context}");
    assert_eq!(
        reply.header("content-range"),
        format!("bytes {first}-{last}/{}", file.size),
        "{context}"
    );
    assert_eq!(reply.header("content-length"), length.to_string(), "{context}");
    assert_eq!(reply.body.len() as u64, length, "{context}");
    assert!(
        reply.body == synth::payload_range(file, first, last + 1),
        "{context}: wrong bytes"
    );
}

/// Upper-case SHA-1 hex of every committed payload under a content dir (`<XX>/<SHA1HEX>`),
/// checking nothing else but `tmp/` and JSON bookkeeping lies there.
pub(crate) fn committed_on_disk(content: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(content) else {
        return found;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() && name != "tmp" {
            for file in std::fs::read_dir(entry.path()).unwrap() {
                let file = file.unwrap().file_name().to_string_lossy().into_owned();
                assert!(file.ends_with(&name), "{name}/{file} is in the wrong folder");
                found.insert(file);
            }
        } else {
            assert!(name == "tmp" || name.ends_with(".json"), "unexpected {name}");
        }
    }
    found
}

pub(crate) fn upper_hex(file: &SynthFile) -> String {
    hex(&file.sha1).to_uppercase()
}

/// A sample's value in Prometheus text (`name{labels}` as written), if present.
pub(crate) fn metric(text: &str, sample: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}
