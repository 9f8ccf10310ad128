//! Range requests answered from the cache: every single-range form gets exactly its bytes,
//! `Content-Length` and `Content-Range` (computed here from the file size), unsatisfiable ones
//! 416 with `bytes */size`, several ranges a multipart body with one `Content-Range` per part.

use super::{assert_partial, content_path, get, largest_approved, serve, upstream_with_payloads, Reply};
use wucache_testkit::synth;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_single_range_form_gets_its_exact_bytes_and_content_range() {
    let (upstream, catalog) = upstream_with_payloads(82, 20, 200_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = largest_approved(&catalog);
    let size = file.size;
    assert!(size > 1_000, "a file worth slicing");
    let ranges = [
        "bytes=0-0".to_string(),
        "bytes=0-99".to_string(),
        "bytes=1-".to_string(),
        format!("bytes={}-", size - 1),
        format!("bytes={}-{}", size - 1, size - 1),
        format!("bytes={}-{}", size / 3, size / 2),
        format!("bytes={}-{}", size / 2, size * 2),
        "bytes=-1".to_string(),
        "bytes=-500".to_string(),
        format!("bytes=-{}", size + 10),
    ];
    // The first is a miss (answered once the file is committed), the rest are hits.
    for range in &ranges {
        let reply = get(daemon.client_addr, &content_path(&file), Some(range)).await;
        assert_partial(&reply, range, &file);
    }
    for range in [
        format!("bytes={size}-"),
        format!("bytes={}-{}", size + 5, size + 10),
        "bytes=-0".to_string(),
    ] {
        let reply = get(daemon.client_addr, &content_path(&file), Some(&range)).await;
        assert_eq!(reply.status, 416, "{range}");
        assert_eq!(
            reply.header("content-range"),
            format!("bytes */{size}"),
            "{range}"
        );
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_ranges_are_multipart_and_overlapping_ones_coalesce() {
    let (upstream, catalog) = upstream_with_payloads(83, 20, 200_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = largest_approved(&catalog);
    let size = file.size;
    let path = content_path(&file);

    let range = format!("bytes=0-9,{}-{},-7", size / 2, size / 2 + 99);
    let reply = get(daemon.client_addr, &path, Some(&range)).await;
    assert_eq!(reply.status, 206);
    let parts = multipart(&reply);
    let expected = [(0, 9), (size / 2, size / 2 + 99), (size - 7, size - 1)];
    assert_eq!(parts.len(), expected.len(), "{range}");
    for ((content_range, bytes), (first, last)) in parts.iter().zip(expected) {
        assert_eq!(*content_range, format!("bytes {first}-{last}/{size}"));
        assert!(
            *bytes == synth::payload_range(&file, first, last + 1),
            "{content_range}"
        );
    }
    assert_eq!(reply.header("content-length"), reply.body.len().to_string());

    // Overlapping and adjacent ranges are one range.
    let reply = get(daemon.client_addr, &path, Some("bytes=0-9,5-19,20-29")).await;
    assert_partial(&reply, "bytes=0-29", &file);
    daemon.stop().await;
}

/// The parts of a `multipart/byteranges` body: (Content-Range, bytes), read independently.
fn multipart(reply: &Reply) -> Vec<(String, Vec<u8>)> {
    let content_type = reply.header("content-type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {content_type}"));
    let delimiter = format!("\r\n--{boundary}");
    let mut body = reply.body.clone();
    if body.starts_with(&delimiter.as_bytes()[2..]) {
        body.splice(0..0, *b"\r\n");
    }
    let pieces = split(&body, delimiter.as_bytes());
    assert!(pieces[0].is_empty(), "nothing before the first part");
    assert!(pieces.last().unwrap().starts_with(b"--"), "a closing delimiter");
    pieces[1..pieces.len() - 1]
        .iter()
        .map(|piece| part(piece))
        .collect()
}

fn part(piece: &[u8]) -> (String, Vec<u8>) {
    let piece = piece
        .strip_prefix(b"\r\n")
        .expect("a line break after the delimiter");
    let at = piece
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("part headers end");
    let head = String::from_utf8(piece[..at].to_vec()).unwrap();
    let content_range = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Range: "))
        .expect("each part has a Content-Range")
        .to_string();
    (content_range, piece[at + 4..].to_vec())
}

fn split<'a>(body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.windows(delimiter.len()).position(|w| w == delimiter) {
        pieces.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    pieces.push(rest);
    pieces
}
