//! Cache misses are bounded (issue #10 item 7): HEAD is answered from the catalog without a
//! download, at most `max_transfers` upstream transfers run at once with at most `max_queued`
//! waiting (beyond that 503 + Retry-After), and a transfer every client gave up on is
//! cancelled unless prefetch wants the file. Concurrency and cancellation are measured at the
//! fake upstream.

use super::{content_path, request, serve, upstream_with_payloads};
use crate::oracle::approved_files;
use hyper::Method;
use std::sync::atomic::Ordering;
use wucache_testkit::synth::hex;

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
    assert!(whole.status == 200 && whole.body == wucache_testkit::synth::payload(file));
    let head = request(Method::HEAD, daemon.client_addr, &content_path(file), None).await;
    assert_eq!(head.header("content-length"), file.size.to_string());
    assert!(!head.header("last-modified").is_empty(), "{:?}", head.headers);
    assert_eq!(upstream.stats().file(&hex(&file.sha1)).transfers, 1);
    daemon.stop().await;
}
