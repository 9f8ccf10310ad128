//! The cold miss: many clients at once ask for the first 1 MiB of one uncached file; the
//! upstream transfers it counts, and the clients' times next to the upstream's own.

use crate::load::{connect, get, get_sent, PIECE};
use crate::served::{Bench, Target};
use crate::support::timings::{ms, quantile, ratio, sorted};
use http_body_util::Empty;
use hyper::header::{HOST, RANGE};
use hyper::Request;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Direct GETs to the upstream for its time to first byte (the median is printed).
const UPSTREAM_SAMPLES: usize = 5;

/// What the cold miss measured.
pub(crate) struct Cold {
    /// Each client's time to first byte and to its whole 1 MiB range.
    pub(crate) first_byte: Vec<Duration>,
    last_byte: Vec<Duration>,
    pub(crate) transfers: u64,
    /// The upstream's own time to first byte for the same request (median of a few).
    pub(crate) upstream_first_byte: Duration,
    /// The upstream sending the whole file, direct (time to last byte).
    pub(crate) upstream_whole: Duration,
}

/// All clients ask at once for the first 1 MiB of the uncached file (connections opened
/// first); then the upstream is timed directly with the same request, and with a whole GET.
pub(crate) async fn cold_miss(bench: &Bench, clients: usize) -> Cold {
    let addr = bench.daemon.client_addr;
    let target = Arc::new(bench.cold.clone());
    let end = PIECE.min(target.file.size) - 1;
    let mut senders = Vec::with_capacity(clients);
    for _ in 0..clients {
        senders.push(connect(addr).await);
    }
    let hex = wucache::model::hex(&target.file.sha1);
    let transfers_before = bench.upstream.stats().file(&hex).transfers;
    let mut tasks = tokio::task::JoinSet::new();
    for mut sender in senders {
        let target = Arc::clone(&target);
        tasks.spawn(async move {
            let request = Request::get(target.path.as_str())
                .header(HOST, addr.to_string())
                .header(RANGE, format!("bytes=0-{end}"))
                .body(Empty::new())
                .expect("request");
            sender.ready().await.expect("connection ready");
            let fetched = get_sent(&mut sender, request, true).await;
            fetched.check(&target.file, 0, end, "wucache (cold)");
            (fetched.first_byte, fetched.last_byte)
        });
    }
    let times = tasks.join_all().await;
    let transfers = bench.upstream.stats().file(&hex).transfers - transfers_before;
    let (upstream_first_byte, upstream_whole) = time_upstream(&bench.upstream.url(), &target, end).await;
    Cold {
        first_byte: sorted(times.iter().map(|t| t.0)),
        last_byte: sorted(times.iter().map(|t| t.1)),
        transfers,
        upstream_first_byte,
        upstream_whole,
    }
}

/// The upstream's time to first byte for `bytes=0-end` of the cold file's MUUrl (median of
/// [`UPSTREAM_SAMPLES`] fresh connections), and its time to send the whole file.
async fn time_upstream(url: &str, target: &Target, end: u64) -> (Duration, Duration) {
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("upstream address");
    let mu_url = &target.file.mu_url;
    let path = &mu_url[mu_url.find("://").map_or(0, |at| at + 3)..];
    let path = &path[path.find('/').unwrap_or(0)..];
    let mut first = Vec::new();
    for _ in 0..UPSTREAM_SAMPLES {
        let mut sender = connect(addr).await;
        let fetched = get(&mut sender, addr, path, Some((0, end))).await;
        fetched.check(&target.file, 0, end, "upstream");
        first.push(fetched.first_byte);
    }
    let mut sender = connect(addr).await;
    let whole = get(&mut sender, addr, path, None).await;
    assert_eq!(whole.length, target.file.size, "upstream whole file");
    (sorted(first.into_iter())[UPSTREAM_SAMPLES / 2], whole.last_byte)
}

pub(crate) fn print_cold(bench: &Bench, cold: &Cold) {
    let size_mb = bench.cold.file.size as f64 / 1e6;
    println!();
    println!(
        "cold miss: {} clients at once ask for the first 1 MiB range (bytes=0-1048575) of one uncached",
        cold.first_byte.len()
    );
    println!(
        "{size_mb:.0} MB file; the fake upstream serves it at full speed (generated on the fly, loopback)"
    );
    println!("  upstream transfers of that file: {} (target 1)", cold.transfers);
    println!(
        "  wucache time to first byte: min {:.0} ms, p50 {:.0} ms, max {:.0} ms; whole 1 MiB range p50 {:.0} ms",
        ms(cold.first_byte[0]),
        ms(quantile(&cold.first_byte, 0.5)),
        ms(quantile(&cold.first_byte, 1.0)),
        ms(quantile(&cold.last_byte, 0.5)),
    );
    println!(
        "  upstream direct, same request: time to first byte {:.2} ms (median of {UPSTREAM_SAMPLES});",
        ms(cold.upstream_first_byte)
    );
    println!(
        "  upstream direct, whole file: {:.0} ms ({:.0} MB/s)",
        ms(cold.upstream_whole),
        size_mb / cold.upstream_whole.as_secs_f64()
    );
    println!(
        "  ratio wucache p50 TTFB / upstream TTFB = {:.0}x; / upstream whole-file time = {:.2}x",
        ratio(quantile(&cold.first_byte, 0.5), cold.upstream_first_byte),
        ratio(quantile(&cold.first_byte, 0.5), cold.upstream_whole),
    );
    println!("  (wucache sends no byte before the whole file has arrived and its SHA-1 and SHA-256 are");
    println!("  verified and it is committed, so its first byte comes after a whole upstream transfer)");
}
