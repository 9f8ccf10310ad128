//! Hostile payload requests: a Range header of thousands of ranges, overlapping and reversed
//! ranges.
//! Each gets a bounded answer (the whole file, or 416), checked against the true payload, and
//! a normal client is served afterwards.

use super::assert_normal_client_served;
use crate::content::{content_path, request, serve, upstream_with_payloads};
use hyper::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_ranges_get_the_whole_file_once() {
    let (upstream, catalog) = upstream_with_payloads(121, 20, 50_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = crate::content::largest_approved(&catalog);
    let payload = wucache_testkit::synth::payload(&file);
    let path = content_path(&file);
    // 2,500 one-byte ranges (~22 KB of header): more than 16 specs are answered as a plain
    // GET, so the answer is the file once, not 2,500 parts.
    let ranges = |count: u64| {
        let many: Vec<String> = (0..count)
            .map(|i| format!("{}-{}", i % file.size, i % file.size))
            .collect();
        format!("bytes={}", many.join(","))
    };
    let reply = request(Method::GET, daemon.client_addr, &path, Some(&ranges(2_500))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len() as u64, file.size);
    assert!(reply.body == payload, "the verified payload");
    // 10,000 (~90 KB) do not fit the 32 KiB a request head may take.
    let reply = request(Method::GET, daemon.client_addr, &path, Some(&ranges(10_000))).await;
    assert_eq!(reply.status, 431);
    // Overlapping ranges covering the file many times over: bounded the same way.
    let overlapping = format!("bytes={}", vec!["0-"; 16].join(","));
    let reply = request(Method::GET, daemon.client_addr, &path, Some(&overlapping)).await;
    assert_eq!(reply.status, 200, "ranges adding up to more than the file");
    assert_eq!(reply.body.len() as u64, file.size);
    // Reversed and out-of-file ranges.
    let reply = request(Method::GET, daemon.client_addr, &path, Some("bytes=500-100")).await;
    assert!(matches!(reply.status, 200 | 416), "{}", reply.status);
    let beyond = format!("bytes={}-", file.size + 10);
    let reply = request(Method::GET, daemon.client_addr, &path, Some(&beyond)).await;
    assert_eq!(reply.status, 416);
    assert_normal_client_served(daemon.client_addr).await;
    daemon.stop().await;
}
