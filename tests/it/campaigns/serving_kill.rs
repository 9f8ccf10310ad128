//! Serving: `serve` (on-demand, `serve_while_downloading = false`, the default) SIGKILLed at a
//! random moment while six clients download payloads through it on cache misses — whole
//! files and single ranges, half of them reading slowly — from a throttled fake upstream
//! that corrupts one of the requested files. Every byte any client received before the kill
//! must be the payload's byte at that offset, and the corrupt file must never be answered
//! with a 2xx; after a restart the same requests get exactly the right bytes (the corrupt
//! file a 502 again), and the content directory holds only verified files and no partials.

use super::{
    files_by_sha1, inspect_content, random_delay, upstream_where, write_config, Campaign, Run, Settings,
    Trial,
};
use crate::content::{content_path, expected_range};
use crate::oracle::{approved_files, write_baseline};
use anyhow::{bail, ensure, Context, Result};
use http_body_util::BodyExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wucache_testkit::fake_upstream::FakeUpstream;
use wucache_testkit::synth::{payload_range, SynthFile};

const TRIALS: u32 = 20;
const UPDATES: usize = 120;
const MAX_FILE_SIZE: u64 = 6_000_000;
/// Bytes per second of each upstream response: a miss on a large file takes a second or two.
const RATE: u64 = 1_500_000;
const CLIENTS: usize = 6;
/// Bytes per second a slow client reads, so some are mid-body when the kill comes.
const SLOW_READ: u64 = 1_000_000;
/// The socket receive buffer of a slow client.
const SLOW_WINDOW: usize = 32 * 1024;
/// Clients ask for files at least this large, drawn from this many.
const MIN_SIZE: u64 = 500_000;
const CANDIDATES: usize = 5;
const CONTENT: &str = "serve_while_downloading = false\nattempts = 3";

struct Bench {
    upstream: FakeUpstream,
    candidates: Vec<SynthFile>,
    files: HashMap<[u8; 20], SynthFile>,
    dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    span: Duration,
}

/// One client's request: which file, which range, how fast it reads.
#[derive(Clone)]
struct Ask {
    file: SynthFile,
    range: Option<String>,
    slow: bool,
}

/// What one client got: the status and headers, and the body bytes that arrived (all of
/// them, or those before the connection went).
#[derive(Debug, Default)]
struct Got {
    status: u16,
    content_range: Option<String>,
    body: Vec<u8>,
    complete: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "crash campaign (minutes): cargo test --test it campaigns -- --ignored --nocapture"]
async fn serve_killed_while_clients_download_never_sends_an_unverified_byte() {
    let mut campaign = Campaign::start("serving-kill");
    let mut bench = Bench::new(&mut campaign.rng).await.expect("set-up");
    bench.calibrate(&mut campaign.rng).await.expect("calibration");
    for n in 0..TRIALS {
        let outcome = trial(&mut campaign.rng, n, &bench).await;
        campaign.record(outcome);
    }
    campaign.finish(Some("with clients waiting or mid-body"));
}

impl Bench {
    /// Serves the first catalog drawn from `rng` whose approved payloads include enough
    /// large ones, and syncs it.
    async fn new(rng: &mut StdRng) -> Result<Bench> {
        let (upstream, catalog) = upstream_where(rng, UPDATES, MAX_FILE_SIZE, |approved| {
            large(approved).len() == CANDIDATES
        })
        .await?;
        let candidates = large(&approved_files(&catalog));
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let config = dir.path().join("wucache.toml");
        let baselines = write_baseline(dir.path());
        let settings = Settings {
            content: CONTENT,
            baselines: Some(&baselines),
            ..Settings::default()
        };
        write_config(&config, &data, &upstream.url(), &settings)?;
        let mut sync = Run::spawn("sync", &config, &dir.path().join("sync.log"))?;
        ensure!(
            sync.wait(Duration::from_secs(60)).await?.success(),
            "sync failed:\n{}",
            sync.log_tail()
        );
        Ok(Bench {
            upstream,
            candidates,
            files: files_by_sha1(&catalog),
            dir,
            data,
            config,
            span: Duration::ZERO,
        })
    }

    /// Times one round of clients against an empty cache, start to last byte; kills are
    /// drawn over 1.1 times that, from the moment the clients start.
    async fn calibrate(&mut self, rng: &mut StdRng) -> Result<()> {
        self.fresh_cache(None)?;
        let asks = self.asks(rng, None);
        let mut run = Run::spawn("serve", &self.config, &self.dir.path().join("calibrate.log"))?;
        let (client, _) = run.ready(Duration::from_secs(30)).await?;
        let started = Instant::now();
        for (ask, got) in asks.iter().zip(round(client, &asks, true).await) {
            check_whole(ask, &got, false)?;
        }
        let took = started.elapsed();
        run.kill9()?;
        self.span = took.mul_f64(1.1);
        let sizes: Vec<u64> = asks.iter().map(|a| a.file.size).collect();
        println!("serving-kill: {CLIENTS} clients on misses (sizes {sizes:?}) are served in {took:.1?}");
        Ok(())
    }

    /// An empty content directory, and the upstream serving `poisoned` with one byte
    /// inverted.
    fn fresh_cache(&self, poisoned: Option<(&SynthFile, u64)>) -> Result<()> {
        match std::fs::remove_dir_all(self.data.join("content")) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
            _ => {}
        }
        let faults = self.upstream.faults();
        faults.content_clear();
        faults.content_rate(RATE);
        if let Some((file, at)) = poisoned {
            faults.content_flip_byte(file.sha1, at);
        }
        Ok(())
    }

    /// `CLIENTS` requests: the first for `poisoned` (when given), the others for random
    /// large files, each whole or a random single range, every other one reading slowly.
    fn asks(&self, rng: &mut StdRng, poisoned: Option<&SynthFile>) -> Vec<Ask> {
        (0..CLIENTS)
            .map(|i| {
                let file = match (i, poisoned) {
                    (0, Some(file)) => file.clone(),
                    _ => self.candidates.choose(rng).cloned().expect("candidate files"),
                };
                let range = random_range(rng, file.size);
                Ask {
                    file,
                    range,
                    slow: i % 2 == 1,
                }
            })
            .collect()
    }
}

/// The largest approved files of at least `MIN_SIZE`, at most `CANDIDATES` of them.
fn large(approved: &[SynthFile]) -> Vec<SynthFile> {
    let mut large: Vec<SynthFile> = approved.iter().filter(|f| f.size >= MIN_SIZE).cloned().collect();
    large.sort_by_key(|f| std::cmp::Reverse(f.size));
    large.truncate(CANDIDATES);
    large
}

/// No header (the whole file), or `a-b`, `a-` or `-n` within the file.
fn random_range(rng: &mut StdRng, size: u64) -> Option<String> {
    let a = rng.gen_range(0..size);
    let b = rng.gen_range(a..size);
    match rng.gen_range(0..4) {
        0 => None,
        1 => Some(format!("bytes={a}-{b}")),
        2 => Some(format!("bytes={a}-")),
        _ => Some(format!("bytes=-{}", size - a)),
    }
}

/// One trial: clients start on an empty cache, the daemon is killed, then restarted and
/// asked the same again.
async fn trial(rng: &mut StdRng, n: u32, bench: &Bench) -> Result<Trial> {
    let logs = bench.dir.path().join(format!("trial-{n}"));
    std::fs::create_dir_all(&logs)?;
    let poisoned = bench.candidates.choose(rng).context("a file")?.clone();
    let flip = rng.gen_range(0..poisoned.size);
    bench.fresh_cache(Some((&poisoned, flip)))?;
    let asks = bench.asks(rng, Some(&poisoned));
    let flipped: HashMap<[u8; 20], u64> = [(poisoned.sha1, flip)].into();

    let mut run = Run::spawn("serve", &bench.config, &logs.join("killed.log"))?;
    let (client, _) = run.ready(Duration::from_secs(30)).await?;
    let clients: Vec<_> = asks
        .iter()
        .cloned()
        .map(|ask| tokio::spawn(async move { fetch(client, &ask, true).await }))
        .collect();
    let delay = random_delay(rng, bench.span);
    tokio::time::sleep(delay).await;
    let waiting = clients.iter().filter(|c| !c.is_finished()).count();
    let transfers = bench.upstream.stats().content_active;
    let running = run.kill9()?;
    let mut received = 0;
    let mut cut = 0;
    for (i, (ask, task)) in asks.iter().zip(clients).enumerate() {
        let got = task.await?;
        let corrupt = ask.file.sha1 == poisoned.sha1;
        check_prefix(ask, &got, corrupt).with_context(|| format!("client {i} before the kill"))?;
        received += got.body.len();
        cut += usize::from(got.status != 0 && !got.complete);
    }
    let on_disk =
        inspect_content(&bench.data.join("content"), &bench.files, &flipped).context("after the kill")?;
    ensure!(
        !on_disk.committed.contains(&poisoned.sha1),
        "the corrupt payload was committed"
    );

    let mut run = Run::spawn("serve", &bench.config, &logs.join("restarted.log"))?;
    let (client, _) = run.ready(Duration::from_secs(30)).await?;
    for (i, (ask, got)) in asks.iter().zip(round(client, &asks, false).await).enumerate() {
        let corrupt = ask.file.sha1 == poisoned.sha1;
        check_whole(ask, &got, corrupt).with_context(|| format!("client {i} after the restart"))?;
    }
    ensure!(
        run.terminate(Duration::from_secs(30)).await?.success(),
        "serve did not stop cleanly:\n{}",
        run.log_tail()
    );
    let on_disk =
        inspect_content(&bench.data.join("content"), &bench.files, &flipped).context("at the end")?;
    for ask in asks.iter().filter(|a| a.file.sha1 != poisoned.sha1) {
        ensure!(
            on_disk.committed.contains(&ask.file.sha1),
            "{} is not cached after it was served",
            ask.file.name
        );
    }
    ensure!(
        !on_disk.committed.contains(&poisoned.sha1),
        "the corrupt payload was committed"
    );
    ensure!(
        on_disk.partials.is_empty() && on_disk.junk.is_empty(),
        "left behind: partials {:?}, other files {:?}",
        on_disk.partials,
        on_disk.junk
    );
    std::fs::remove_dir_all(&logs)?;
    Ok(Trial {
        kills: 1,
        landed: u32::from(running && waiting > 0),
        note: format!(
            "killed at {} ms with {waiting} clients waiting, {transfers} upstream transfers; {cut} responses cut mid-body, {received} bytes received before the kill, all right",
            delay.as_millis()
        ),
    })
}

/// Every client at once; their results in order.
async fn round(client: SocketAddr, asks: &[Ask], pace: bool) -> Vec<Got> {
    let tasks: Vec<_> = asks
        .iter()
        .cloned()
        .map(|ask| tokio::spawn(async move { fetch(client, &ask, pace).await }))
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap_or_default());
    }
    out
}

/// One GET, retried while the daemon answers 503 (its cache not open yet); keeps whatever
/// body bytes arrive, at `SLOW_READ` when the client is slow and `pace` is set.
async fn fetch(addr: SocketAddr, ask: &Ask, pace: bool) -> Got {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = fetch_once(addr, ask, pace).await;
        if got.status != 503 || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fetch_once(addr: SocketAddr, ask: &Ask, pace: bool) -> Got {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    if ask.slow {
        // A small receive window, so the daemon's writes wait for the reader.
        connector.set_recv_buffer_size(Some(SLOW_WINDOW));
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Empty<bytes::Bytes>>(connector);
    let mut request = hyper::Request::get(format!("http://{addr}{}", content_path(&ask.file)));
    if let Some(range) = &ask.range {
        request = request.header("Range", range.as_str());
    }
    let Ok(request) = request.body(http_body_util::Empty::<bytes::Bytes>::new()) else {
        return Got::default();
    };
    let Ok(response) = client.request(request).await else {
        return Got::default(); // no answer before the connection went
    };
    let mut got = Got {
        status: response.status().as_u16(),
        content_range: response
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ..Got::default()
    };
    let mut body = response.into_body();
    loop {
        match body.frame().await {
            None => {
                got.complete = true;
                return got;
            }
            Some(Err(_)) => return got,
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else { continue };
                got.body.extend_from_slice(&data);
                if pace && ask.slow {
                    let pause = data.len() as f64 / SLOW_READ as f64;
                    tokio::time::sleep(Duration::from_secs_f64(pause)).await;
                }
            }
        }
    }
}

/// Where the answer's body starts in the file, checking status and `Content-Range` against
/// the request; `None` for a non-2xx answer.
fn body_start(ask: &Ask, got: &Got) -> Result<Option<u64>> {
    let size = ask.file.size;
    match (got.status, &ask.range) {
        (200, None) => Ok(Some(0)),
        (206, Some(range)) => {
            let (first, last) = expected_range(range, size).context("a satisfiable range")?;
            let expected = format!("bytes {first}-{last}/{size}");
            ensure!(
                got.content_range.as_deref() == Some(expected.as_str()),
                "asked {range}, got Content-Range {:?}, expected {expected}",
                got.content_range
            );
            Ok(Some(first))
        }
        (status, _) if (200..300).contains(&status) => {
            bail!("status {status} for range {:?}", ask.range)
        }
        _ => Ok(None),
    }
}

/// Whatever arrived before the kill is the payload's bytes at their offset; the corrupt file
/// gets no 2xx.
fn check_prefix(ask: &Ask, got: &Got, poisoned: bool) -> Result<()> {
    let Some(start) = body_start(ask, got)? else {
        ensure!(
            got.body.is_empty() || !(200..300).contains(&got.status),
            "a body with status {}",
            got.status
        );
        return Ok(());
    };
    ensure!(!poisoned, "the corrupt payload was answered {}", got.status);
    let end = start + got.body.len() as u64;
    ensure!(
        got.body == payload_range(&ask.file, start, end),
        "{} bytes {start}..{end} of {} are not the payload's",
        got.body.len(),
        ask.file.name
    );
    Ok(())
}

/// A whole answer with exactly the right bytes; the corrupt file a 502 without a body.
fn check_whole(ask: &Ask, got: &Got, poisoned: bool) -> Result<()> {
    if poisoned {
        ensure!(
            got.status == 502,
            "the corrupt payload was answered {}",
            got.status
        );
        return Ok(());
    }
    let start = body_start(ask, got)?.with_context(|| format!("status {}", got.status))?;
    let end = match &ask.range {
        None => ask.file.size,
        Some(range) => expected_range(range, ask.file.size).map_or(0, |(_, last)| last + 1),
    };
    ensure!(got.complete, "the body ended early");
    ensure!(
        got.body == payload_range(&ask.file, start, end),
        "bytes {start}..{end} of {} are not the payload's ({} bytes arrived)",
        ask.file.name,
        got.body.len()
    );
    Ok(())
}
