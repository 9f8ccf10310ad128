//! Plain-HTTP connections as the sendfile path serves them, over raw sockets: keep-alive
//! sequences of HEAD, ranges, multipart, 416 and If-Range on one connection, pipelining,
//! `Connection: close`, the hand-over to hyper at the first request the path does not take,
//! malformed heads, a client that stops reading, a file evicted while it is being sent, and
//! idle connections on shutdown. Every body is checked byte for byte.

use super::{content_path, get, serve, upstream_with_payloads};
use crate::oracle::approved_files;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use wucache_testkit::synth::{self, hex, SynthFile};

/// Liveness bound for a whole test step, not a speed target.
const WITHIN: Duration = Duration::from_secs(30);

/// One keep-alive connection, read through a buffer so answers can follow each other.
struct Conn {
    stream: BufReader<TcpStream>,
}

/// An answer: status, headers (names lower-cased) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        Conn {
            stream: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        }
    }

    async fn send(&mut self, text: &str) {
        self.stream.get_mut().write_all(text.as_bytes()).await.unwrap();
    }

    /// Sends a request (extra header lines end in CRLF) and reads its answer.
    async fn ask(&mut self, method: &str, path: &str, extra: &str) -> Answer {
        self.send(&request(method, path, extra)).await;
        self.answer(method == "HEAD").await
    }

    /// Reads the status line and headers.
    async fn head(&mut self) -> (u16, Vec<(String, String)>) {
        let mut line = String::new();
        tokio::time::timeout(WITHIN, self.stream.read_line(&mut line))
            .await
            .expect("an answer in time")
            .unwrap();
        let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!(line.starts_with("HTTP/1.1 "), "status line {line:?}");
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        (status, headers)
    }

    /// Reads one answer; `Content-Length` bytes of body unless it answers a HEAD.
    async fn answer(&mut self, head_only: bool) -> Answer {
        let (status, headers) = self.head().await;
        let mut answer = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only {
            let length: usize = answer.header("content-length").unwrap().parse().unwrap();
            answer.body = vec![0; length];
            self.stream.read_exact(&mut answer.body).await.unwrap();
        }
        answer
    }

    /// Whether the server closed the connection (nothing more arrives).
    async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(WITHIN, self.stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}

fn request(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: wsus:8530\r\n{extra}\r\n")
}

fn range(first: u64, last: u64) -> String {
    format!("Range: bytes={first}-{last}\r\n")
}

fn assert_slice(answer: &Answer, file: &SynthFile, first: u64, last: u64) {
    assert_eq!(answer.status, 206, "{:?}", answer.headers);
    let expected = format!("bytes {first}-{last}/{}", file.size);
    assert_eq!(answer.header("content-range"), Some(expected.as_str()));
    assert!(
        answer.body == synth::payload_range(file, first, last + 1),
        "wrong bytes in {expected}"
    );
}

/// The approved files at least `min` bytes long, largest first.
fn large_files(catalog: &synth::SynthCatalog, min: u64) -> Vec<SynthFile> {
    let mut files: Vec<SynthFile> = approved_files(catalog)
        .into_iter()
        .filter(|f| f.size >= min)
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.size));
    files
}

/// The parts of a multipart/byteranges body: (Content-Range, bytes).
fn parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    loop {
        assert!(rest.starts_with(delimiter.as_bytes()), "a delimiter");
        rest = &rest[delimiter.len()..];
        if rest == b"--\r\n" {
            return parts;
        }
        let end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&rest[2..end]).into_owned();
        let content_range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap()
            .to_string();
        let span = content_range
            .strip_prefix("bytes ")
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let (first, last) = span.split_once('-').unwrap();
        let length = last.parse::<usize>().unwrap() - first.parse::<usize>().unwrap() + 1;
        rest = &rest[end + 4..];
        parts.push((content_range, rest[..length].to_vec()));
        rest = &rest[length..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_keep_alive_connection_gets_head_ranges_multipart_416_if_range_and_pipelined_answers() {
    let (upstream, catalog) = upstream_with_payloads(133, 30, 400_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = large_files(&catalog, 100_000).remove(0);
    let (path, size) = (content_path(&file), file.size);
    assert_eq!(
        get(daemon.client_addr, &path, None).await.status,
        200,
        "committed by a miss"
    );
    let mut conn = Conn::open(daemon.client_addr).await;

    let head = conn.ask("HEAD", &path, "").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(size.to_string().as_str()));
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    let etag = format!("\"{}\"", hex(&file.sha1).to_uppercase());
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert!(head.header("last-modified").is_some() && head.header("date").is_some());

    let slice = conn.ask("GET", &path, &range(1000, 66_535)).await;
    assert_slice(&slice, &file, 1000, 66_535);
    let last = conn.ask("GET", &path, &format!("Range: bytes=-{}\r\n", 10)).await;
    assert_slice(&last, &file, size - 10, size - 1);

    let multi = conn.ask("GET", &path, "Range: bytes=0-9,50000-59999\r\n").await;
    assert_eq!(multi.status, 206);
    let content_type = multi.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap();
    let got = parts(&multi.body, boundary);
    assert_eq!(got.len(), 2);
    for ((content_range, bytes), (first, last)) in got.iter().zip([(0, 9), (50_000, 59_999)]) {
        assert_eq!(content_range, &format!("bytes {first}-{last}/{size}"));
        assert!(*bytes == synth::payload_range(&file, first, last + 1));
    }

    let beyond = conn.ask("GET", &path, &format!("Range: bytes={size}-\r\n")).await;
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    assert!(beyond.body.is_empty());

    let other = "If-Range: \"0000000000000000000000000000000000000000\"\r\n";
    let whole = conn.ask("GET", &path, &format!("{}{other}", range(0, 9))).await;
    assert_eq!(whole.status, 200, "If-Range of another version: the whole file");
    assert!(whole.body == synth::payload(&file));
    let same = conn
        .ask("GET", &path, &format!("{}If-Range: {etag}\r\n", range(0, 9)))
        .await;
    assert_slice(&same, &file, 0, 9);

    let pipelined = [
        request("GET", &path, &range(10, 19)),
        request("GET", &path, &range(20, 29)),
    ];
    conn.send(&pipelined.concat()).await;
    assert_slice(&conn.answer(false).await, &file, 10, 19);
    assert_slice(&conn.answer(false).await, &file, 20, 29);

    let closing = conn
        .ask("GET", &path, &format!("{}Connection: close\r\n", range(5, 5)))
        .await;
    assert_slice(&closing, &file, 5, 5);
    assert_eq!(closing.header("connection"), Some("close"));
    assert!(conn.closed().await, "closed after Connection: close");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_goes_to_hyper_at_the_first_request_the_sendfile_path_does_not_take() {
    let (upstream, catalog) = upstream_with_payloads(133, 30, 400_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = large_files(&catalog, 20_000).remove(0);
    let path = content_path(&file);
    assert_eq!(get(daemon.client_addr, &path, None).await.status, 200);

    let mut conn = Conn::open(daemon.client_addr).await;
    assert_slice(&conn.ask("GET", &path, &range(0, 99)).await, &file, 0, 99);
    let unknown = conn
        .ask(
            "GET",
            "/Content/00/0000000000000000000000000000000000000000.cab",
            "",
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_slice(&conn.ask("GET", &path, &range(100, 199)).await, &file, 100, 199);
    let soap = conn.ask("GET", "/ClientWebService/client.asmx", "").await;
    assert_eq!(soap.status, 405, "SOAP services take POST");
    assert_slice(&conn.ask("GET", &path, &range(200, 299)).await, &file, 200, 299);

    // A GET with a body: hyper reads and drops the body, then answers.
    let mut with_body = Conn::open(daemon.client_addr).await;
    with_body
        .send(&format!(
            "{}abc",
            request("GET", &path, &format!("{}Content-Length: 3\r\n", range(0, 9)))
        ))
        .await;
    assert_slice(&with_body.answer(false).await, &file, 0, 9);
    assert_slice(&with_body.ask("GET", &path, &range(10, 19)).await, &file, 10, 19);

    // HTTP/1.0 is hyper's.
    let mut old = TcpStream::connect(daemon.client_addr).await.unwrap();
    let asked = format!("GET {path} HTTP/1.0\r\nRange: bytes=0-9\r\n\r\n");
    old.write_all(asked.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    old.read_to_end(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.0 206 ") || answer.starts_with(b"HTTP/1.1 206 "));
    assert!(answer.ends_with(&synth::payload_range(&file, 0, 10)));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_heads_get_hyper_s_refusal() {
    let (upstream, catalog) = upstream_with_payloads(133, 30, 400_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = large_files(&catalog, 1).remove(0);
    let path = content_path(&file);
    assert_eq!(get(daemon.client_addr, &path, None).await.status, 200);

    let mut bad = Conn::open(daemon.client_addr).await;
    bad.send(&format!("GET {path} HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"))
        .await;
    assert_eq!(bad.head().await.0, 400);
    assert!(bad.closed().await);

    // A head longer than the sendfile path reads goes to hyper whole.
    let mut long = Conn::open(daemon.client_addr).await;
    let padding = format!("X-Padding: {}\r\n", "p".repeat(40_000));
    let answer = long.ask("GET", &path, &format!("{padding}{}", range(0, 9))).await;
    assert_slice(&answer, &file, 0, 9);

    // A head cut short, then the client goes: nothing breaks for the next one.
    let mut cut = TcpStream::connect(daemon.client_addr).await.unwrap();
    cut.write_all(format!("GET {path} HTTP/1.1\r\nRan").as_bytes())
        .await
        .unwrap();
    drop(cut);
    let mut next = Conn::open(daemon.client_addr).await;
    assert_slice(&next.ask("GET", &path, &range(1, 2)).await, &file, 1, 2);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_holds_up_no_one_and_gets_its_bytes_when_it_reads() {
    let (upstream, catalog) = upstream_with_payloads(137, 120, 16_000_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let files = large_files(&catalog, 1_000_000);
    let (big, small) = (&files[0], &files[files.len() - 1]);
    for file in [big, small] {
        assert_eq!(
            get(daemon.client_addr, &content_path(file), None).await.status,
            200
        );
    }
    // More than the socket buffers hold, asked for and not read.
    let mut stalled = Conn::open(daemon.client_addr).await;
    stalled.send(&request("GET", &content_path(big), "")).await;
    let others = async {
        let mut conns = Vec::new();
        for _ in 0..4 {
            conns.push(Conn::open(daemon.client_addr).await);
        }
        for round in 0..5u64 {
            for conn in &mut conns {
                let first = (round * 65_536) % (small.size - 1_000);
                let answer = conn
                    .ask("GET", &content_path(small), &range(first, first + 999))
                    .await;
                assert_slice(&answer, small, first, first + 999);
            }
        }
    };
    tokio::time::timeout(WITHIN, others)
        .await
        .expect("others served while one client stalls");
    let whole = stalled.answer(false).await;
    assert_eq!(whole.status, 200);
    assert!(whole.body == synth::payload(big), "the stalled client's bytes");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_evicted_while_it_is_sent_arrives_whole_and_is_fetched_again_after() {
    let (upstream, catalog) = upstream_with_payloads(142, 60, 16_000_000).await;
    let files = large_files(&catalog, 1_000_000);
    let (a, b) = (files[0].clone(), files[1].clone());
    // Room for `a` alone: committing `b` evicts it.
    let (daemon, data) = serve(&upstream, |c| c.content.max_size = a.size).await;
    let on_disk = |file: &SynthFile| {
        let hex = hex(&file.sha1).to_uppercase();
        data.path().join("content").join(&hex[38..]).join(hex).exists()
    };
    assert_eq!(get(daemon.client_addr, &content_path(&a), None).await.status, 200);
    let mut conn = Conn::open(daemon.client_addr).await;
    conn.send(&request("GET", &content_path(&a), "")).await;
    let (status, headers) = conn.head().await;
    assert_eq!(status, 200);
    let mut first = vec![0u8; 65_536];
    conn.stream.read_exact(&mut first).await.unwrap();

    assert_eq!(get(daemon.client_addr, &content_path(&b), None).await.status, 200);
    assert!(!on_disk(&a) && on_disk(&b), "a evicted to make room for b");
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let mut rest = vec![0u8; length - first.len()];
    conn.stream.read_exact(&mut rest).await.unwrap();
    first.extend_from_slice(&rest);
    assert!(first == synth::payload(&a), "the open file is sent whole");

    // Not committed any more: the same connection's next request is a miss, fetched again.
    assert_slice(
        &conn.ask("GET", &content_path(&a), &range(0, 999)).await,
        &a,
        0,
        999,
    );
    assert_eq!(upstream.stats().file(&hex(&a.sha1)).transfers, 2);
    daemon.stop().await;
}

/// Drops a committed file's pages from the page cache (it is clean: committed files are
/// synced before they are renamed into place).
fn drop_from_page_cache(data: &std::path::Path, file: &SynthFile) {
    let hex = hex(&file.sha1).to_uppercase();
    let committed = std::fs::File::open(data.join("content").join(&hex[38..]).join(hex)).unwrap();
    rustix::fs::fadvise(&committed, 0, None, rustix::fs::Advice::DontNeed).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_no_longer_in_the_page_cache_is_sent_from_disk_byte_for_byte() {
    let (upstream, catalog) = upstream_with_payloads(137, 120, 16_000_000).await;
    let (daemon, data) = serve(&upstream, |_| {}).await;
    let file = large_files(&catalog, 1_000_000).remove(0);
    let path = content_path(&file);
    assert_eq!(get(daemon.client_addr, &path, None).await.status, 200);
    let mut conn = Conn::open(daemon.client_addr).await;
    drop_from_page_cache(data.path(), &file);
    let whole = conn.ask("GET", &path, "").await;
    assert_eq!(whole.status, 200);
    assert!(whole.body == synth::payload(&file), "the whole file from disk");
    drop_from_page_cache(data.path(), &file);
    let (first, last) = (3 << 20, (5 << 20) + 12_345);
    assert_slice(
        &conn.ask("GET", &path, &range(first, last)).await,
        &file,
        first,
        last,
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_an_idle_keep_alive_connection() {
    let (upstream, catalog) = upstream_with_payloads(133, 30, 400_000).await;
    let (daemon, _data) = serve(&upstream, |_| {}).await;
    let file = large_files(&catalog, 1).remove(0);
    let path = content_path(&file);
    assert_eq!(get(daemon.client_addr, &path, None).await.status, 200);
    let mut conn = Conn::open(daemon.client_addr).await;
    assert_slice(&conn.ask("GET", &path, &range(0, 9)).await, &file, 0, 9);
    daemon.stop().await;
    assert!(conn.closed().await, "the idle connection is closed on shutdown");
}
