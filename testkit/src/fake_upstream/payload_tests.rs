//! Loopback tests of payload serving: streamed bodies, ranges, content faults and their stats.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};
use tokio::net::TcpStream;

use super::*;
use crate::synth::{self, hex, make_file, payload, payload_chunks, payload_range};

/// What a client got: the head, the body bytes that arrived, and whether the body ended early.
struct Got {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    broken: bool,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// One request on a fresh connection, reading the body frame by frame so a cut body still
/// shows what arrived.
async fn fetch(fake: &FakeUpstream, method: Method, path: &str, range: Option<&str>) -> Got {
    let stream = TcpStream::connect(fake.addr).await.expect("connect");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", fake.addr.to_string());
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let request = request.body(Empty::<Bytes>::new()).expect("request");
    let response = sender.send_request(request).await.expect("response head");
    let (head, mut body) = response.into_parts();
    let mut got = Got {
        status: head.status.as_u16(),
        headers: head.headers,
        body: Vec::new(),
        broken: false,
    };
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => got
                .body
                .extend_from_slice(frame.data_ref().map_or(&[][..], |d| d)),
            Err(_) => {
                got.broken = true;
                break;
            }
        }
    }
    got
}

async fn get(fake: &FakeUpstream, path: &str, range: Option<&str>) -> Got {
    fetch(fake, Method::GET, path, range).await
}

/// A fake serving one ad-hoc file of `size` bytes; returns the file and its `MUUrl` path.
async fn serving(size: u64) -> (FakeUpstream, SynthFile, String) {
    let fake = FakeUpstream::start(Vec::new()).await.expect("start");
    let file = make_file(size ^ 0x5eed, size, "Windows-KB5001234-x64.cab", &fake.url());
    fake.serve_files([&file]);
    let path = file
        .mu_url
        .strip_prefix(&fake.url())
        .expect("served here")
        .to_owned();
    (fake, file, path)
}

/// The WSUS content path, upper case as WSUS writes it.
fn content_path(file: &SynthFile) -> String {
    let ext = file.name.rsplit_once('.').map_or("", |(_, e)| e);
    format!(
        "/Content/{:02X}/{}.{ext}",
        file.sha1[19],
        hex(&file.sha1).to_uppercase()
    )
}

#[test]
fn payload_range_and_chunks_match_the_whole_payload_at_any_offset() {
    let file = make_file(42, 1000, "a.exe", "http://h");
    let whole = payload(&file);
    for (start, end) in [
        (0, 1000),
        (1, 9),
        (7, 8),
        (8, 16),
        (13, 999),
        (995, 2000),
        (1000, 1000),
    ] {
        assert_eq!(
            payload_range(&file, start, end),
            whole[start as usize..end.min(1000) as usize]
        );
    }
    let chunks: Vec<Vec<u8>> = payload_chunks(&file, 3, 1000, 77).collect();
    assert!(chunks.iter().all(|c| c.len() <= 77));
    assert_eq!(chunks.concat(), whole[3..]);
}

#[test]
fn make_file_digests_its_payload() {
    let file = make_file(7, 100_003, "Big.Cab", "http://h/");
    let bytes = payload(&file);
    assert_eq!(bytes.len(), 100_003);
    assert_eq!(<[u8; 20]>::from(Sha1::digest(&bytes)), file.sha1);
    assert_eq!(<[u8; 32]>::from(sha2::Sha256::digest(&bytes)), file.sha256);
    assert_eq!(
        file.mu_url,
        format!(
            "http://h/d/msdownload/update/software/updt/big_{}.Cab",
            hex(&file.sha1)
        )
    );
}

#[tokio::test]
async fn a_multi_mib_file_streams_equal_to_its_payload() {
    let (fake, file, path) = serving(3 * 1024 * 1024 + 5).await;
    for path in [path, content_path(&file)] {
        let got = get(&fake, &path, None).await;
        assert_eq!((got.status, got.broken), (200, false));
        assert_eq!(got.header("content-length"), file.size.to_string());
        assert_eq!(got.header("accept-ranges"), "bytes");
        assert!(got.body == payload(&file), "{path}: streamed bytes differ");
    }
    let stats = fake.stats();
    assert_eq!(stats.content_bytes, 2 * file.size);
    let of_file = stats.file(&hex(&file.sha1).to_uppercase());
    assert_eq!(
        (of_file.requests, of_file.transfers, of_file.bytes),
        (2, 2, 2 * file.size)
    );
}

#[tokio::test]
async fn closed_open_and_suffix_ranges_answer_206_and_bad_ones_416() {
    let (fake, file, path) = serving(200_000).await;
    let whole = payload(&file);
    let cases = [
        ("bytes=0-9", 0, 10),
        ("bytes=150000-", 150_000, 200_000),
        ("bytes=-10", 199_990, 200_000),
        ("bytes=199990-300000", 199_990, 200_000),
    ];
    for (range, start, end) in cases {
        let got = get(&fake, &path, Some(range)).await;
        assert_eq!(got.status, 206, "{range}");
        assert_eq!(
            got.header("content-range"),
            format!("bytes {start}-{}/200000", end - 1)
        );
        assert_eq!(got.header("content-length"), (end - start).to_string());
        assert!(got.body == whole[start..end], "{range}: wrong bytes");
    }
    for range in ["bytes=200000-", "bytes=5-1", "bytes=0-1,4-5"] {
        let got = get(&fake, &path, Some(range)).await;
        assert_eq!(got.status, 416, "{range}");
        assert_eq!(got.header("content-range"), "bytes */200000");
    }
    let of_file = fake.stats().file(&hex(&file.sha1));
    assert_eq!((of_file.requests, of_file.transfers), (7, 4));
    assert_eq!(of_file.ranges[1].as_deref(), Some("bytes=150000-"));
}

#[tokio::test]
async fn head_states_the_length_without_a_body_or_a_transfer() {
    let (fake, file, path) = serving(5000).await;
    let whole = fetch(&fake, Method::HEAD, &path, None).await;
    assert_eq!((whole.status, whole.body.len()), (200, 0));
    assert_eq!(whole.header("content-length"), "5000");
    assert_eq!(whole.header("accept-ranges"), "bytes");
    let part = fetch(&fake, Method::HEAD, &path, Some("bytes=-100")).await;
    assert_eq!((part.status, part.header("content-length")), (206, "100"));
    let of_file = fake.stats().file(&hex(&file.sha1));
    assert_eq!((of_file.requests, of_file.transfers, of_file.bytes), (2, 0, 0));
}

#[tokio::test]
async fn a_range_near_the_end_of_a_huge_file_is_generated_from_its_start() {
    let fake = FakeUpstream::start(Vec::new()).await.expect("start");
    let huge = SynthFile {
        sha1: [0xab; 20],
        sha256: [0; 32],
        name: "huge.cab".to_owned(),
        size: 1 << 40,
        mu_url: format!("{}/huge.cab", fake.url()),
        seed: 3,
    };
    fake.serve_files([&huge]);
    let got = get(&fake, "/huge.cab", Some("bytes=-1000")).await;
    assert_eq!(got.status, 206);
    assert_eq!(got.body, payload_range(&huge, huge.size - 1000, huge.size));
}

#[tokio::test]
async fn a_cut_transfer_sends_exactly_after_bytes_then_a_resume_completes_it() {
    let (fake, file, path) = serving(300_000).await;
    fake.faults().content_reset_after(1, 100_000);
    let cut = get(&fake, &path, None).await;
    assert_eq!(cut.status, 200);
    assert_eq!(cut.header("content-length"), "300000");
    assert!(cut.broken, "the client must see the body end early");
    assert_eq!(cut.body.len(), 100_000);
    let resume = format!("bytes={}-", cut.body.len());
    let rest = get(&fake, &path, Some(&resume)).await;
    assert_eq!((rest.status, rest.broken), (206, false));
    assert!([cut.body, rest.body].concat() == payload(&file));
    let of_file = fake.stats().file(&hex(&file.sha1));
    assert_eq!(of_file.transfers, 2);
    assert_eq!(of_file.bytes, 300_000);
    assert_eq!(of_file.ranges, vec![None, Some(resume)]);
}

#[tokio::test]
async fn content_cuts_apply_to_the_next_n_bodies_only() {
    let (fake, _, path) = serving(10_000).await;
    fake.faults().content_reset_after(2, 10);
    for _ in 0..2 {
        let got = get(&fake, &path, None).await;
        assert!(got.broken && got.body.len() == 10);
    }
    assert!(!get(&fake, &path, None).await.broken);
    fake.faults().content_reset_after(1, 5);
    assert_eq!(
        get(&fake, &path, Some("bytes=0-3")).await.body.len(),
        4,
        "shorter than the cut"
    );
    assert!(
        !get(&fake, &path, None).await.broken,
        "the short body used the cut up"
    );
}

#[tokio::test]
async fn an_injected_status_answers_the_next_n_requests() {
    let (fake, file, path) = serving(1000).await;
    fake.faults().content_status(2, 503);
    assert_eq!(get(&fake, &path, None).await.status, 503);
    assert_eq!(fetch(&fake, Method::HEAD, &path, None).await.status, 503);
    let ok = get(&fake, &path, None).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, payload(&file));
    let of_file = fake.stats().file(&hex(&file.sha1));
    assert_eq!((of_file.requests, of_file.transfers), (3, 1));
    assert_eq!(get(&fake, "/not-registered.cab", None).await.status, 404);
    assert_eq!(fake.stats().content_requests, 3);
}

#[tokio::test]
async fn a_flipped_byte_changes_exactly_that_byte_until_cleared() {
    let (fake, file, path) = serving(200_000).await;
    let offset = 70_001;
    fake.faults().content_flip_byte(file.sha1, offset);
    let whole = payload(&file);
    let got = get(&fake, &path, None).await;
    let differ: Vec<usize> = (0..whole.len()).filter(|&i| got.body[i] != whole[i]).collect();
    assert_eq!(differ, vec![offset as usize]);
    assert_eq!(got.body[offset as usize], whole[offset as usize] ^ 0xff);
    let part = get(&fake, &path, Some("bytes=70000-70002")).await;
    assert_eq!(part.body, [whole[70_000], whole[70_001] ^ 0xff, whole[70_002]]);
    fake.faults().content_clear();
    assert!(get(&fake, &path, None).await.body == whole);
}

#[tokio::test]
async fn delay_and_throttle_slow_the_answer_but_keep_the_bytes() {
    let (fake, file, path) = serving(30_000).await;
    fake.faults().content_delay(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(get(&fake, &path, None).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(100));
    fake.faults().content_delay(Duration::ZERO);
    // 30,000 bytes at 100,000 B/s go in 5,000-byte frames with a 50 ms pause after each
    // but the last: at least 250 ms.
    fake.faults().content_rate(100_000);
    let started = Instant::now();
    let got = get(&fake, &path, None).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(got.body == payload(&file));
    fake.faults().clear();
    assert_eq!(get(&fake, &path, None).await.body.len(), 30_000);
}

#[tokio::test]
async fn synthetic_catalog_files_count_per_file() {
    let fake = FakeUpstream::start(Vec::new()).await.expect("start");
    let catalog = synth::generate(&synth::SynthOptions {
        seed: 4,
        updates: 5,
        content_base_url: fake.url(),
        ..synth::SynthOptions::default()
    });
    fake.serve_files(catalog.files());
    let mut files: Vec<&SynthFile> = catalog.files().collect();
    files.sort_by_key(|f| f.sha1);
    files.dedup_by_key(|f| f.sha1);
    files.truncate(3);
    for file in &files {
        assert_eq!(get(&fake, &content_path(file), None).await.body, payload(file));
    }
    let stats = fake.stats();
    for file in &files {
        assert_eq!(stats.file(&hex(&file.sha1)).bytes, file.size);
    }
    assert_eq!(stats.content_bytes, files.iter().map(|f| f.size).sum::<u64>());
    assert_eq!(stats.file(&"0".repeat(40)), FileStats::default());
}

#[tokio::test]
async fn the_peak_of_concurrent_transfers_counts_overlapping_gets_only() {
    let (fake, file, path) = serving(20_000).await;
    for _ in 0..3 {
        assert!(get(&fake, &path, None).await.body == payload(&file));
    }
    assert_eq!(get(&fake, &path, Some("bytes=999999-")).await.status, 416);
    assert_eq!(fetch(&fake, Method::HEAD, &path, None).await.status, 200);
    let stats = fake.stats();
    assert_eq!(
        (stats.content_peak_active, stats.content_active),
        (1, 0),
        "one at a time"
    );

    // Three GETs that each wait 200 ms before answering overlap.
    fake.faults().content_delay(Duration::from_millis(200));
    let (a, b, c) = tokio::join!(
        get(&fake, &path, None),
        get(&fake, &path, None),
        get(&fake, &path, None)
    );
    for got in [a, b, c] {
        assert!(got.body == payload(&file));
    }
    let stats = fake.stats();
    assert_eq!((stats.content_peak_active, stats.content_active), (3, 0));
}

#[tokio::test]
async fn a_cut_or_abandoned_transfer_stops_counting_as_active() {
    let (fake, _, path) = serving(200_000).await;
    fake.faults().content_reset_after(1, 1_000);
    assert!(get(&fake, &path, None).await.broken);
    fake.faults().content_rate(10_000);
    let abandoned = tokio::spawn({
        let path = path.clone();
        let url = fake.url();
        async move {
            let stream = TcpStream::connect(url.trim_start_matches("http://"))
                .await
                .expect("connect");
            let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await.expect("handshake");
            let driver = tokio::spawn(connection);
            let request = Request::get(path).body(Empty::<Bytes>::new()).expect("request");
            let _head = sender.send_request(request).await.expect("head");
            driver.abort();
        }
    });
    abandoned.await.expect("client task");
    let mut active = usize::MAX;
    for _ in 0..100 {
        active = fake.stats().content_active;
        if active == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(active, 0, "the dropped response ends its transfer");
    let stats = fake.stats();
    assert_eq!(stats.content_peak_active, 1);
    let file = stats.files.values().next().expect("one file");
    assert_eq!(file.active, 0);
    assert_eq!(file.unfinished, 1, "the abandoned body, not the injected cut");
}

#[tokio::test]
async fn held_requests_wait_active_at_the_gate_until_released() {
    let (fake, file, path) = serving(20_000).await;
    fake.faults().content_hold();
    let fake = std::sync::Arc::new(fake);
    let mut gets = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (fake, path) = (std::sync::Arc::clone(&fake), path.clone());
        gets.spawn(async move { get(&fake, &path, None).await });
    }
    let key = hex(&file.sha1);
    let mut held = 0;
    for _ in 0..250 {
        held = fake.stats().file(&key).active;
        if held == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(held, 3, "all three arrived and wait");
    assert_eq!(fake.stats().file(&key).bytes, 0, "nothing is answered while held");
    assert!(gets.try_join_next().is_none());

    fake.faults().content_release();
    while let Some(got) = gets.join_next().await {
        assert!(got.expect("client task").body == payload(&file));
    }
    let stats = fake.stats().file(&key);
    assert_eq!((stats.active, stats.unfinished, stats.transfers), (0, 0, 3));
}
