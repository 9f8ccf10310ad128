//! The benchmark's set-up: a small synthetic catalog on the fake upstream whose first few
//! standalone updates carry the benchmark's large files, the daemon mirroring it, and the
//! warm files fetched once so they are committed.

use crate::load::{connect, get};
use crate::support::setup::{config, mirror};
use crate::{Knobs, Runtimes};
use hyper::StatusCode;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use wucache::daemon::Daemon;
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{self, SynthCatalog, SynthFile, SynthKind, SynthOptions};

/// The fake upstream, the daemon in front of it, and the files both serve.
pub(crate) struct Bench {
    pub(crate) upstream: FakeUpstream,
    pub(crate) daemon: Daemon,
    /// Files the warm load downloads, committed in wucache's cache.
    pub(crate) warm: Vec<Target>,
    /// The file the cold miss asks for, not cached yet.
    pub(crate) cold: Target,
    _data: TempDir,
}

/// A payload and the path it is requested at.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) file: SynthFile,
    pub(crate) path: String,
}

impl Target {
    pub(crate) fn new(file: SynthFile) -> Target {
        let ext = file.name.rsplit('.').next().unwrap_or("exe").to_string();
        let path = wucache::content::layout::url_path(&file.sha1, &ext);
        Target { file, path }
    }
}

impl Bench {
    /// Publishes a small synthetic catalog whose first few standalone updates carry the
    /// benchmark's large files, mirrors it, starts the daemon and warms the cache.
    pub(crate) fn start(runtimes: &Runtimes, knobs: &Knobs) -> Bench {
        let started = Instant::now();
        let upstream = runtimes
            .upstream
            .block_on(FakeUpstream::start(Vec::new()))
            .expect("fake upstream");
        let mut sizes = vec![knobs.file_mb * 1_000_000; knobs.files];
        sizes.push(knobs.cold_mb * 1_000_000);
        let (catalog, mut files) = catalog_with_files(&upstream.url(), &sizes);
        upstream.publish(catalog.docs.iter().map(UpstreamDoc::from_synth).collect());
        upstream.serve_files(catalog.files());
        let data = tempfile::tempdir().expect("temp dir");
        let daemon = runtimes.server.block_on(serve(&upstream.url(), &data));
        let cold = Target::new(files.pop().expect("cold file"));
        let warm: Vec<Target> = files.into_iter().map(Target::new).collect();
        for target in warm.iter().chain([&cold]) {
            let approved = daemon.app.snapshot().payload(&target.file.sha1);
            assert!(
                approved.is_some_and(|(_, ok)| ok),
                "the benchmark file {} must belong to an approved update",
                target.path
            );
        }
        let set_up = started.elapsed();
        let warming = Instant::now();
        runtimes.load.block_on(warm_cache(daemon.client_addr, &warm));
        println!(
            "set-up: catalog, digests and mirror {:.1} s; cache warmed with {} x {} MB in {:.1} s",
            set_up.as_secs_f64(),
            warm.len(),
            knobs.file_mb,
            warming.elapsed().as_secs_f64()
        );
        Bench {
            upstream,
            daemon,
            warm,
            cold,
            _data: data,
        }
    }

    /// Where wucache committed a warm file.
    pub(crate) fn committed(&self, target: &Target) -> PathBuf {
        let cache = self.daemon.app.content.get().expect("content cache open");
        cache.committed(&target.file.sha1).expect("warm file committed").0
    }
}

/// A small synthetic catalog in which one file each of that many standalone, published,
/// latest-revision updates is replaced by a file of the given size (same name). The
/// document's `Digest`, `Size` and SHA-256 are rewritten to match.
pub(crate) fn catalog_with_files(base_url: &str, sizes: &[u64]) -> (SynthCatalog, Vec<SynthFile>) {
    let mut catalog = synth::generate(&SynthOptions {
        seed: 2026,
        updates: 40 + 4 * sizes.len(),
        content_base_url: base_url.to_string(),
        ..SynthOptions::default()
    });
    let candidates = standalone_leaves(&catalog);
    assert!(candidates.len() >= sizes.len(), "not enough standalone updates");
    let mut files = Vec::new();
    for (n, (&index, &size)) in candidates.iter().zip(sizes).enumerate() {
        let doc = &mut catalog.docs[index];
        let old = doc.files[0].clone();
        let new = synth::make_file(0xC0_7E47 + n as u64, size, &old.name, base_url);
        doc.xml = replace_once(&doc.xml, &file_attrs(&old), &file_attrs(&new));
        doc.xml = replace_once(&doc.xml, &sha256_element(&old), &sha256_element(&new));
        doc.files[0] = new.clone();
        files.push(new);
    }
    (catalog, files)
}

/// Indices of software leaves that are published, the latest revision of their update, no
/// bundle's member and superseded by no live update: each is a top-level update the default
/// approval (no baseline file) approves.
fn standalone_leaves(catalog: &SynthCatalog) -> Vec<usize> {
    let members: HashSet<_> = catalog.docs.iter().flat_map(|d| d.bundled.iter()).collect();
    let superseded: HashSet<_> = catalog
        .docs
        .iter()
        .filter(|d| !d.expired)
        .flat_map(|d| d.superseded.iter())
        .collect();
    let latest = |doc: &synth::SynthDoc| {
        !catalog
            .docs
            .iter()
            .any(|d| d.update_id == doc.update_id && d.revision > doc.revision)
    };
    let docs = catalog.docs.iter().enumerate();
    docs.filter(|(_, d)| d.kind == SynthKind::Software && !d.expired && !d.files.is_empty())
        .filter(|(_, d)| !members.contains(&d.update_id) && !superseded.contains(&d.update_id) && latest(d))
        .map(|(i, _)| i)
        .collect()
}

fn file_attrs(file: &SynthFile) -> String {
    use base64::Engine as _;
    let digest = base64::engine::general_purpose::STANDARD.encode(file.sha1);
    format!(
        r#"Digest="{digest}" DigestAlgorithm="SHA1" FileName="{}" Size="{}""#,
        file.name, file.size
    )
}

fn sha256_element(file: &SynthFile) -> String {
    use base64::Engine as _;
    let digest = base64::engine::general_purpose::STANDARD.encode(file.sha256);
    format!(r#"<upd:AdditionalDigest Algorithm="SHA256">{digest}<"#)
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected `{from}` once in the document"
    );
    text.replacen(from, to, 1)
}

/// Mirrors the upstream's catalog into `data` and starts the daemon there.
async fn serve(upstream: &str, data: &TempDir) -> Daemon {
    let config = config(upstream, data);
    mirror(&config).await;
    let daemon = Daemon::start(config).await.expect("daemon");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(daemon.app.is_ready() && daemon.app.content.get().is_some()) {
        assert!(Instant::now() < deadline, "the daemon did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon
}

/// GETs each warm file once, whole, so it is fetched, verified and committed.
async fn warm_cache(addr: SocketAddr, targets: &[Target]) {
    for target in targets {
        let mut sender = connect(addr).await;
        let fetched = get(&mut sender, addr, &target.path, None).await;
        assert_eq!(fetched.status, StatusCode::OK, "warming {}", target.path);
        assert_eq!(fetched.length, target.file.size, "warming {}", target.path);
    }
}
