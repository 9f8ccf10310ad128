//! Cache misses are bounded (issue #10 item 7): HEAD is answered from the catalog without a
//! download, at most `max_transfers` upstream transfers run at once with at most `max_queued`
//! waiting (beyond that 503 + Retry-After), and a transfer every client gave up on is
//! cancelled unless prefetch wants the file. Concurrency and cancellation are measured at the
//! fake upstream.

use super::prefetch::finished_run;
use super::{
    committed_on_disk, content_path, get, largest_approved, metric, request, serve, upper_hex,
    upstream_with_payloads,
};
use crate::harness::{eventually, http};
use crate::oracle::{approved_files, unapproved_files};
use hyper::Method;
use std::sync::atomic::Ordering;
use std::time::Duration;
use wucache::config::ContentMode;
use wucache::daemon::Daemon;
use wucache_testkit::synth::{self, hex, SynthFile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_of_uncached_files_answers_the_catalog_size_without_a_download() {
    let (upstream, catalog) = upstream_with_payloads(86, 1_100, 5_000).await;
    let files = approved_files(&catalog);
    assert!(files.len() >= 300, "enough approved files: {}", files.len());
    let files = &files[..300];
    let (daemon, _data) = serve(&upstream, |_| {}).await;

    let mut heads = tokio::task::JoinSet::new();
    for file in files.iter().cloned() {
        let addr = daemon.client_addr;
        heads.spawn(async move {
            let reply = request(Method::HEAD, addr, &content_path(&file), None).await;
            (file, reply)
        });
    }
    while let Some(done) = heads.join_next().await {
        let (file, reply) = done.unwrap();
        let context = format!("{}: {:?}", file.name, reply.headers);
        assert_eq!(reply.status, 200, "{context}");
        assert_eq!(reply.header("content-length"), file.size.to_string(), "{context}");
        assert_eq!(reply.header("accept-ranges"), "bytes", "{context}");
        assert_eq!(
            reply.header("content-type"),
            "application/octet-stream",
            "{context}"
        );
        assert_eq!(
            reply.header("etag"),
            format!("\"{}\"", hex(&file.sha1).to_uppercase()),
            "{context}"
        );
        assert!(reply.body.is_empty(), "{context}");
    }
    let file = &files[0];
    let ranged = request(
        Method::HEAD,
        daemon.client_addr,
        &content_path(file),
        Some("bytes=1-2"),
    )
    .await;
    assert_eq!(ranged.status, 206, "{:?}", ranged.headers);
    assert_eq!(ranged.header("content-range"), format!("bytes 1-2/{}", file.size));
    assert_eq!(ranged.header("content-length"), "2");
    let unknown = "/Content/00/0000000000000000000000000000000000000000.cab";
    assert_eq!(
        request(Method::HEAD, daemon.client_addr, unknown, None)
            .await
            .status,
        404
    );
    let post = request(Method::POST, daemon.client_addr, &content_path(file), None).await;
    assert_eq!(post.status, 405);

    assert_eq!(upstream.stats().content_requests, 0, "no upstream request at all");
    let counters = &daemon.app.counters;
    assert_eq!(counters.transfers_started.load(Ordering::Relaxed), 0);
    // GET is unchanged: it fetches, and then HEAD answers from the committed file.
    let whole = request(Method::GET, daemon.client_addr, &content_path(file), None).await;
    assert!(whole.status == 200 && whole.body == synth::payload(file));
    let head = request(Method::HEAD, daemon.client_addr, &content_path(file), None).await;
    assert_eq!(head.header("content-length"), file.size.to_string());
    assert!(!head.header("last-modified").is_empty(), "{:?}", head.headers);
    assert_eq!(upstream.stats().file(&hex(&file.sha1)).transfers, 1);
    daemon.stop().await;
}

/// A client that sends a GET and never reads the answer; dropping it closes the connection,
/// as a client that gave up does.
struct Impatient {
    _stream: tokio::net::TcpStream,
}

async fn impatient(addr: std::net::SocketAddr, path: &str) -> Impatient {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    Impatient { _stream: stream }
}

/// The transfer of `file` in the daemon's list: (clients waiting, queued), if it has one.
fn transfer_of(daemon: &Daemon, file: &SynthFile) -> Option<(usize, bool)> {
    let cache = daemon.app.content.get().unwrap();
    cache
        .transfers()
        .into_iter()
        .find(|t| *t.meta.sha1() == file.sha1)
        .map(|t| (t.clients, t.queued))
}

fn count(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_transfers_run_at_once_and_the_other_misses_wait_their_turn() {
    let (upstream, catalog) = upstream_with_payloads(87, 60, 20_000).await;
    let files: Vec<SynthFile> = approved_files(&catalog).into_iter().take(12).collect();
    assert_eq!(files.len(), 12, "enough approved files");
    let (daemon, _data) = serve(&upstream, |c| {
        c.content.max_transfers = 3;
        c.content.max_queued = 16;
    })
    .await;
    upstream.faults().content_hold();

    let mut clients = tokio::task::JoinSet::new();
    for file in files.iter().cloned() {
        let addr = daemon.client_addr;
        clients.spawn(async move { (get(addr, &content_path(&file), None).await, file) });
    }
    let counters = &daemon.app.counters;
    let settled = eventually(|| async {
        upstream.stats().content_active == 3 && count(&counters.transfers_queued) == 9
    })
    .await;
    let stats = upstream.stats();
    assert!(
        settled,
        "3 transfers at the upstream and 9 queued; got {} active upstream, {} requests, {} queued",
        stats.content_active,
        stats.content_requests,
        count(&counters.transfers_queued)
    );
    assert_eq!(stats.content_requests, 3, "no upstream request beyond the cap");

    upstream.faults().content_release();
    while let Some(done) = clients.join_next().await {
        let (reply, file) = done.unwrap();
        assert!(
            (reply.status, &reply.body) == (200, &synth::payload(&file)),
            "{} got {}",
            file.name,
            reply.status
        );
    }
    let stats = upstream.stats();
    assert_eq!(
        stats.content_peak_active, 3,
        "never more than max_transfers upstream"
    );
    assert_eq!(stats.content_requests, 12, "one transfer per file");
    assert_eq!(count(&counters.transfers_started), 12);
    assert_eq!(
        (count(&counters.transfers_queued), count(&counters.in_flight)),
        (0, 0)
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misses_beyond_max_queued_are_answered_503_with_retry_after() {
    let (upstream, catalog) = upstream_with_payloads(88, 40, 20_000).await;
    let files: Vec<SynthFile> = approved_files(&catalog).into_iter().take(8).collect();
    assert_eq!(files.len(), 8, "enough approved files");
    let (daemon, _data) = serve(&upstream, |c| {
        c.content.max_transfers = 2;
        c.content.max_queued = 3;
    })
    .await;
    upstream.faults().content_hold();

    let mut clients = tokio::task::JoinSet::new();
    for file in files.iter().cloned() {
        let addr = daemon.client_addr;
        clients.spawn(async move { (get(addr, &content_path(&file), None).await, file) });
    }
    // Nothing can finish while the upstream holds every transfer: the first three answers are
    // the refusals.
    let mut refused = Vec::new();
    for _ in 0..3 {
        let (reply, file) = clients.join_next().await.unwrap().unwrap();
        assert_eq!(reply.status, 503, "{}: {:?}", file.name, reply.headers);
        let retry_after: u64 = reply
            .header("retry-after")
            .parse()
            .expect("Retry-After in seconds");
        assert!(retry_after > 0);
        assert!(reply.body.len() < 100, "no payload bytes");
        refused.push(file);
    }
    let counters = &daemon.app.counters;
    assert!(eventually(|| async { upstream.stats().content_active == 2 }).await);
    assert_eq!(count(&counters.transfers_queued), 3);
    assert_eq!(count(&counters.busy), 3);
    // A request for a file already queued or running joins its transfer; it is never refused.
    let admitted = files.iter().find(|f| !refused.contains(f)).unwrap().clone();
    let addr = daemon.client_addr;
    let joiner = tokio::spawn({
        let path = content_path(&admitted);
        async move { get(addr, &path, None).await }
    });
    assert!(eventually(|| async { transfer_of(&daemon, &admitted).is_some_and(|(c, _)| c == 2) }).await);

    upstream.faults().content_release();
    while let Some(done) = clients.join_next().await {
        let (reply, file) = done.unwrap();
        assert!(
            (reply.status, &reply.body) == (200, &synth::payload(&file)),
            "{}",
            file.name
        );
    }
    let reply = joiner.await.unwrap();
    assert!((reply.status, &reply.body) == (200, &synth::payload(&admitted)));
    let stats = upstream.stats();
    assert_eq!(
        stats.file(&hex(&admitted.sha1)).transfers,
        1,
        "the joiner shared it"
    );
    for file in &refused {
        assert_eq!(
            stats.file(&hex(&file.sha1)).requests,
            0,
            "{} was refused",
            file.name
        );
    }
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert_eq!(
        metric(&metrics, "wucache_content_requests_total{result=\"busy\"}"),
        Some(3),
        "{metrics}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_every_client_gave_up_on_is_cancelled_and_its_partial_kept() {
    let (upstream, catalog) = upstream_with_payloads(89, 30, 3_000_000).await;
    let mut files = approved_files(&catalog);
    files.sort_by_key(|f| std::cmp::Reverse(f.size));
    let (slow, queued) = (files[0].clone(), files[1].clone());
    assert!(slow.size > 200_000, "a file worth cutting: {}", slow.size);
    let (daemon, data) = serve(&upstream, |c| c.content.max_transfers = 1).await;
    // About 20 seconds for the whole file: the clients leave long before it ends.
    upstream.faults().content_rate(slow.size / 20);

    let addr = daemon.client_addr;
    let mut gone = Vec::new();
    for _ in 0..3 {
        gone.push(impatient(addr, &content_path(&slow)).await);
    }
    let key = hex(&slow.sha1);
    assert!(eventually(|| async { upstream.stats().file(&key).bytes > 0 }).await);
    for _ in 0..2 {
        gone.push(impatient(addr, &content_path(&queued)).await);
    }
    assert!(
        eventually(|| async {
            transfer_of(&daemon, &slow) == Some((3, false))
                && transfer_of(&daemon, &queued) == Some((2, true))
        })
        .await,
        "three clients on the running transfer, two on the queued one"
    );

    drop(gone);
    let counters = &daemon.app.counters;
    assert!(
        eventually(|| async {
            count(&counters.transfers_abandoned) == 2 && upstream.stats().file(&key).active == 0
        })
        .await,
        "both transfers cancelled: {} abandoned",
        count(&counters.transfers_abandoned)
    );
    let at_upstream = upstream.stats().file(&key);
    assert_eq!(
        at_upstream.unfinished, 1,
        "the upstream saw the connection close mid-body"
    );
    assert!(at_upstream.bytes < slow.size);
    assert_eq!(
        upstream.stats().file(&hex(&queued.sha1)).requests,
        0,
        "never fetched"
    );
    assert!(committed_on_disk(&data.path().join("content")).is_empty());
    let cache = daemon.app.content.get().unwrap();
    assert!(cache.transfers().is_empty());
    let partial = std::fs::metadata(cache.partial_path(&slow.sha1)).map_or(0, |m| m.len());
    assert!(
        partial > 0 && partial < slow.size,
        "partial of {partial} bytes kept"
    );
    assert_eq!(
        (count(&counters.in_flight), count(&counters.transfers_queued)),
        (0, 0)
    );

    // The next client resumes where the cancelled transfer stopped.
    upstream.faults().content_clear();
    let reply = get(addr, &content_path(&slow), None).await;
    assert!((reply.status, &reply.body) == (200, &synth::payload(&slow)));
    let ranges = upstream.stats().file(&key).ranges;
    assert!(
        ranges.last().unwrap().as_deref().is_some_and(|r| r != "bytes=0-"),
        "resumed: {ranges:?}"
    );
    let (_, metrics) = http("GET", daemon.admin_addr, "/metrics", None).await;
    assert_eq!(
        metric(&metrics, "wucache_content_transfers_abandoned_total"),
        Some(2),
        "{metrics}"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_prefetch_wants_finishes_after_its_clients_leave() {
    let (upstream, catalog) = upstream_with_payloads(90, 40, 3_000_000).await;
    let wanted = largest_approved(&catalog);
    let unwanted = unapproved_files(&catalog)
        .into_iter()
        .max_by_key(|f| f.size)
        .unwrap();
    let slowest = wanted.size.min(unwanted.size);
    assert!(
        slowest > 200_000,
        "files worth cutting: {}, {}",
        wanted.size,
        unwanted.size
    );
    let (daemon, data) = serve(&upstream, |c| {
        c.content.mode = ContentMode::Both;
        c.content.serve_unapproved = true;
    })
    .await;
    // Prefetch fetches every approved file at start; one of them is then removed, so it is
    // wanted by prefetch but not cached, as after an eviction or before prefetch reaches it.
    finished_run(&daemon, &serde_json::Value::Null, Duration::from_secs(60)).await;
    let cache = daemon.app.content.get().unwrap();
    assert!(cache.remove(&wanted.sha1).unwrap());
    upstream.faults().content_rate(slowest / 20);

    let addr = daemon.client_addr;
    let (wanted_key, unwanted_key) = (hex(&wanted.sha1), hex(&unwanted.sha1));
    let client = impatient(addr, &content_path(&wanted)).await;
    assert!(eventually(|| async { upstream.stats().file(&wanted_key).active == 1 }).await);
    drop(client);
    assert!(eventually(|| async { transfer_of(&daemon, &wanted) == Some((0, false)) }).await);
    // A file prefetch does not want, left later: once its transfer is cancelled, the wanted
    // one has had no client for longer and would have been cancelled first.
    let client = impatient(addr, &content_path(&unwanted)).await;
    assert!(eventually(|| async { upstream.stats().file(&unwanted_key).bytes > 0 }).await);
    drop(client);
    let counters = &daemon.app.counters;
    assert!(
        eventually(|| async {
            count(&counters.transfers_abandoned) == 1 && upstream.stats().file(&unwanted_key).active == 0
        })
        .await
    );
    assert_eq!(
        upstream.stats().file(&wanted_key).active,
        1,
        "the wanted transfer goes on"
    );

    upstream.faults().content_clear();
    assert!(eventually(|| async { cache.committed(&wanted.sha1).is_some() }).await);
    let committed = committed_on_disk(&data.path().join("content"));
    assert!(committed.contains(&upper_hex(&wanted)));
    assert!(!committed.contains(&upper_hex(&unwanted)));
    let on_disk = std::fs::read(cache.committed(&wanted.sha1).unwrap().0).unwrap();
    assert!(on_disk == synth::payload(&wanted));
    assert_eq!(upstream.stats().file(&wanted_key).unfinished, 0);
    assert_eq!(count(&counters.transfers_abandoned), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_forty_clients_give_up_only_the_transfers_that_ran_reached_the_upstream() {
    let (upstream, catalog) = upstream_with_payloads(91, 150, 20_000).await;
    let files: Vec<SynthFile> = approved_files(&catalog).into_iter().take(40).collect();
    assert_eq!(files.len(), 40, "enough approved files");
    let (daemon, data) = serve(&upstream, |c| {
        c.content.max_transfers = 4;
        c.content.max_queued = 8;
    })
    .await;
    upstream.faults().content_hold();

    let mut gone = Vec::new();
    for file in &files {
        gone.push(impatient(daemon.client_addr, &content_path(file)).await);
    }
    let counters = &daemon.app.counters;
    assert!(
        eventually(|| async {
            upstream.stats().content_active == 4
                && count(&counters.transfers_queued) == 8
                && count(&counters.busy) == 28
        })
        .await,
        "4 running, 8 queued, 28 refused"
    );
    drop(gone);
    assert!(
        eventually(|| async {
            count(&counters.transfers_abandoned) == 12 && upstream.stats().content_active == 0
        })
        .await,
        "{} abandoned",
        count(&counters.transfers_abandoned)
    );
    upstream.faults().content_release();

    let stats = upstream.stats();
    assert_eq!(
        stats.content_requests, 4,
        "only the transfers that ran asked the upstream"
    );
    assert_eq!(stats.content_peak_active, 4);
    assert_eq!(stats.content_bytes, 0);
    assert_eq!(count(&counters.transfers_started), 4);
    assert_eq!(
        (count(&counters.in_flight), count(&counters.transfers_queued)),
        (0, 0)
    );
    assert!(committed_on_disk(&data.path().join("content")).is_empty());
    daemon.stop().await;
}
