//! Eviction under `[content] max_size`: after every request the files left under the content
//! dir are exactly those a least-recently-used model keeps, so the order files go in is the
//! order of their last use (a hit protects a file, a miss is the most recent use).

use super::{committed_on_disk, content_path, get, metric, serve, upper_hex, upstream_with_payloads};
use crate::harness::http;
use crate::oracle::approved_files;
use std::collections::BTreeSet;
use wucache_testkit::synth::{self, hex, SynthFile};

/// The specification: files by last use, oldest first, the newest spared.
struct LruModel {
    max: u64,
    order: Vec<SynthFile>,
}

impl LruModel {
    fn cached(&self, file: &SynthFile) -> bool {
        self.order.iter().any(|f| f.sha1 == file.sha1)
    }

    /// A request for `file`: a hit moves it to the back; a miss adds it and evicts from the
    /// front until the total fits. Returns the victims in eviction order.
    fn request(&mut self, file: &SynthFile) -> Vec<String> {
        if let Some(at) = self.order.iter().position(|f| f.sha1 == file.sha1) {
            let used = self.order.remove(at);
            self.order.push(used);
            return Vec::new();
        }
        self.order.push(file.clone());
        let mut victims = Vec::new();
        while self.total() > self.max && self.order.len() > 1 {
            victims.push(upper_hex(&self.order.remove(0)));
        }
        victims
    }

    fn total(&self) -> u64 {
        self.order.iter().map(|f| f.size).sum()
    }

    fn on_disk(&self) -> BTreeSet<String> {
        self.order.iter().map(upper_hex).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_recently_used_files_go_first_and_exactly_the_recent_ones_stay_on_disk() {
    let (upstream, catalog) = upstream_with_payloads(76, 300, 50_000).await;
    // Sizes within a factor of seven, and room for about four: most misses evict.
    let files: Vec<SynthFile> = approved_files(&catalog)
        .into_iter()
        .filter(|f| f.size >= 8_000)
        .take(11)
        .collect();
    assert_eq!(files.len(), 11);
    let max_size = files[..4].iter().map(|f| f.size).sum::<u64>();
    let (daemon, data) = serve(&upstream, |c| c.content.max_size = max_size).await;
    let content = data.path().join("content");
    let mut model = LruModel {
        max: max_size,
        order: Vec::new(),
    };
    let mut steps = Step {
        addr: daemon.client_addr,
        content: &content,
        model: &mut model,
        observed: Vec::new(),
        expected: Vec::new(),
    };

    for file in &files[..6] {
        steps.request(file).await;
    }
    // A hit on the file next in line saves it: the one after it goes instead.
    let mut saved = 0;
    for file in &files[6..] {
        let oldest = steps.model.order[0].clone();
        steps.request(&oldest).await;
        let victims = steps.request(file).await;
        if !victims.is_empty() {
            saved += 1;
        }
    }
    assert!(saved >= 4, "hits changed which file went {saved} times");
    // An evicted file is fetched again.
    let evicted = files.iter().find(|f| !steps.model.cached(f)).unwrap().clone();
    steps.request(&evicted).await;
    assert_eq!(upstream.stats().file(&hex(&evicted.sha1)).transfers, 2);

    assert_eq!(steps.observed, steps.expected, "eviction order, step by step");
    let evictions: usize = steps.expected.iter().map(Vec::len).sum();
    assert!(evictions >= 6, "{evictions}");
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert_eq!(
        metric(&metrics, "wucache_cache_evictions_total"),
        Some(evictions as u64)
    );
    assert_eq!(metric(&metrics, "wucache_cache_bytes"), Some(model.total()));
    assert_eq!(
        metric(&metrics, "wucache_cache_files"),
        Some(model.order.len() as u64)
    );
    daemon.stop().await;
}

/// Requests one file at a time and records what left the disk against what the model evicts.
struct Step<'a> {
    addr: std::net::SocketAddr,
    content: &'a std::path::Path,
    model: &'a mut LruModel,
    /// Victims per request: seen on disk (sorted) and expected by the model (sorted).
    observed: Vec<Vec<String>>,
    expected: Vec<Vec<String>>,
}

impl Step<'_> {
    async fn request(&mut self, file: &SynthFile) -> Vec<String> {
        let before = committed_on_disk(self.content);
        let reply = get(self.addr, &content_path(file), None).await;
        assert!(
            (reply.status, &reply.body) == (200, &synth::payload(file)),
            "{}",
            file.name
        );
        let after = committed_on_disk(self.content);
        let victims = self.model.request(file);
        assert_eq!(after, self.model.on_disk(), "files on disk after {}", file.name);
        let mut gone: Vec<String> = before.difference(&after).cloned().collect();
        let mut expected = victims.clone();
        gone.sort();
        expected.sort();
        self.observed.push(gone);
        self.expected.push(expected);
        victims
    }
}
