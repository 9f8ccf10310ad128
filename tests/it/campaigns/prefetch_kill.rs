//! Prefetch: `serve` in `[content] mode = "prefetch"` or `wucache prefetch`, SIGKILLed at a
//! random moment while it downloads the approved payloads from a throttled fake upstream
//! (sometimes twice in a row), then `serve` started again until its prefetch completes.
//! After every kill each committed file hashes to its SHA-1 and SHA-256 and each partial is a
//! prefix of its payload; at the end exactly the approved payloads are committed, all
//! verified, no partial or stray file is left, and the daemon counts as many cached files as
//! lie on disk.

use super::{
    files_by_sha1, get_text, inspect_content, metric, random_delay, upstream_where, write_config, Campaign,
    Run, Settings, Trial,
};
use crate::oracle::{approved_files, write_baseline};
use anyhow::{bail, ensure, Context, Result};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wucache_testkit::fake_upstream::FakeUpstream;
use wucache_testkit::synth::SynthFile;

const TRIALS: u32 = 20;
const UPDATES: usize = 60;
const MAX_FILE_SIZE: u64 = 6_000_000;
/// Bytes per second of each upstream response, so a prefetch lasts a few seconds.
const RATE: u64 = 1_000_000;
/// Approved payload bytes: enough for a prefetch that kills can land in, few enough for a
/// campaign of a minute or two.
const MIN_BYTES: u64 = 3_000_000;
const MAX_BYTES: u64 = 5_000_000;
const CONTENT: &str = "mode = \"prefetch\"\nprefetch_concurrency = 3\nattempts = 3";

struct Bench {
    upstream: FakeUpstream,
    approved: Vec<SynthFile>,
    files: HashMap<[u8; 20], SynthFile>,
    dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    span: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "crash campaign (minutes): cargo test --test it campaigns -- --ignored --nocapture"]
async fn prefetch_killed_at_random_moments_commits_only_verified_payloads() {
    let mut campaign = Campaign::start("prefetch-kill");
    let bench = Bench::new(&mut campaign.rng).await.expect("set-up");
    for n in 0..TRIALS {
        let outcome = trial(&mut campaign.rng, n, &bench).await;
        campaign.record(outcome);
    }
    campaign.finish(Some("mid-download"));
}

impl Bench {
    /// Syncs a catalog with `MIN_BYTES` to `MAX_BYTES` of approved payloads, then times one
    /// uninterrupted `wucache prefetch`.
    async fn new(rng: &mut StdRng) -> Result<Bench> {
        let enough = |approved: &[SynthFile]| {
            (MIN_BYTES..=MAX_BYTES).contains(&approved.iter().map(|f| f.size).sum::<u64>())
        };
        let (upstream, catalog) = upstream_where(rng, UPDATES, MAX_FILE_SIZE, enough).await?;
        upstream.faults().content_rate(RATE);
        let approved = approved_files(&catalog);
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
        let mut prefetch = Run::spawn("prefetch", &config, &dir.path().join("calibrate.log"))?;
        ensure!(
            prefetch.wait(Duration::from_secs(120)).await?.success(),
            "prefetch failed:\n{}",
            prefetch.log_tail()
        );
        let took = prefetch.started.elapsed();
        let bench = Bench {
            upstream,
            approved,
            files: files_by_sha1(&catalog),
            dir,
            data,
            config,
            span: took.mul_f64(1.2),
        };
        bench.check_complete()?;
        let bytes: u64 = bench.approved.iter().map(|f| f.size).sum();
        println!(
            "prefetch-kill: {} approved payloads, {bytes} bytes; an uninterrupted prefetch takes {took:.1?}",
            bench.approved.len()
        );
        Ok(bench)
    }

    fn content(&self) -> PathBuf {
        self.data.join("content")
    }

    /// Exactly the approved payloads committed and verified, nothing else left.
    fn check_complete(&self) -> Result<()> {
        let found = inspect_content(&self.content(), &self.files, &HashMap::new())?;
        let expected: HashSet<[u8; 20]> = self.approved.iter().map(|f| f.sha1).collect();
        ensure!(
            found.committed == expected,
            "{} payloads committed, {} approved ({} approved missing)",
            found.committed.len(),
            expected.len(),
            expected.difference(&found.committed).count()
        );
        ensure!(
            found.partials.is_empty(),
            "partials left: {:?}",
            found.partials.len()
        );
        ensure!(found.junk.is_empty(), "stray files left: {:?}", found.junk);
        Ok(())
    }
}

/// One trial from an empty cache: one or two kills, then `serve` until its prefetch is done.
async fn trial(rng: &mut StdRng, n: u32, bench: &Bench) -> Result<Trial> {
    match std::fs::remove_dir_all(bench.content()) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
        _ => {}
    }
    let logs = bench.dir.path().join(format!("trial-{n}"));
    std::fs::create_dir_all(&logs)?;
    let requests = requests_so_far(&bench.upstream);
    let kills = if rng.gen_ratio(1, 3) { 2 } else { 1 };
    let mut landed = 0;
    let mut notes = Vec::new();
    // The share of the approved bytes still to fetch: a second kill is drawn over that share
    // of the span (plus the start-up), so it too can land in the downloads.
    let total: u64 = bench.approved.iter().map(|f| f.size).sum();
    let mut left = 1.0;
    let mut kills_sent = 0;
    for k in 0..kills {
        if left <= 0.0 {
            break; // the first run finished before its kill: nothing left to interrupt
        }
        kills_sent += 1;
        let command = if n % 2 == 0 && k == 0 { "serve" } else { "prefetch" };
        let span = bench.span.mul_f64(left) + Duration::from_millis(200);
        let delay = random_delay(rng, span);
        let bytes_before = bench.upstream.stats().content_bytes;
        let mut run = Run::spawn(command, &bench.config, &logs.join(format!("kill-{k}.log")))?;
        tokio::time::sleep(delay).await;
        let in_flight = bench.upstream.stats().content_active;
        let running = run.kill9()?;
        let started = bench.upstream.stats().content_bytes > bytes_before;
        let finished = !running || run.log_text().contains("prefetch finished");
        let mid = started && !finished;
        landed += u32::from(mid);
        let found = inspect_content(&bench.content(), &bench.files, &HashMap::new())
            .with_context(|| format!("after killing {command} at {delay:?}"))?;
        let when = match (started, finished) {
            (false, _) => "before downloading",
            (true, false) => "mid-download",
            (true, true) => "after the prefetch",
        };
        let committed: u64 = bench
            .approved
            .iter()
            .filter(|f| found.committed.contains(&f.sha1))
            .map(|f| f.size)
            .sum();
        let kept: u64 = committed + found.partials.values().sum::<u64>();
        left = 1.0 - kept as f64 / total.max(1) as f64;
        notes.push(format!(
            "{command} killed at {} ms ({when}, {in_flight} transfers in flight): {} committed, {} partials",
            delay.as_millis(),
            found.committed.len(),
            found.partials.len()
        ));
    }

    let mut run = Run::spawn("serve", &bench.config, &logs.join("finish.log"))?;
    let (_, admin) = run.ready(Duration::from_secs(30)).await?;
    let token = std::fs::read_to_string(bench.data.join("admin.token"))?;
    let summary = finished_prefetch(&mut run, admin, token.trim()).await?;
    ensure!(
        summary["failed"].as_array().is_some_and(Vec::is_empty)
            && summary["files"].as_u64() == Some(bench.approved.len() as u64),
        "the prefetch after the kill: {summary}"
    );
    let (_, metrics) = get_text(admin, "/metrics", None).await.context("/metrics")?;
    let counted = metric(&metrics, "wucache_cache_files");
    ensure!(
        run.terminate(Duration::from_secs(30)).await?.success(),
        "serve did not stop cleanly:\n{}",
        run.log_tail()
    );
    bench.check_complete()?;
    ensure!(
        counted == Some(bench.approved.len() as u64),
        "the daemon counts {counted:?} cached files, {} lie on disk",
        bench.approved.len()
    );
    let resumed = resumed_since(&bench.upstream, &requests);
    notes.push(format!("completed, {resumed} transfers resumed with a range"));
    std::fs::remove_dir_all(&logs)?;
    Ok(Trial {
        kills: kills_sent,
        landed,
        note: notes.join("; "),
    })
}

/// Polls `GET /api/v1/prefetch` until the run that started with the daemon has finished.
async fn finished_prefetch(run: &mut Run, admin: SocketAddr, token: &str) -> Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some((200, body)) = get_text(admin, "/api/v1/prefetch", Some(token)).await {
            let state: serde_json::Value = serde_json::from_str(&body)?;
            if !state["last"].is_null() && state["running"] == false {
                return Ok(state["last"].clone());
            }
        }
        if let Some(status) = run.exited()? {
            bail!("serve exited ({status}) during the prefetch:\n{}", run.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the prefetch did not finish within 120 s:\n{}", run.log_tail())
}

/// Requests so far per payload, to tell a trial's requests from earlier ones.
fn requests_so_far(upstream: &FakeUpstream) -> HashMap<String, usize> {
    let stats = upstream.stats();
    stats
        .files
        .into_iter()
        .map(|(key, f)| (key, f.ranges.len()))
        .collect()
}

/// Requests since `before` that asked for a range not starting at byte 0: resumed transfers.
fn resumed_since(upstream: &FakeUpstream, before: &HashMap<String, usize>) -> usize {
    let stats = upstream.stats();
    let resumed = |key: &String, ranges: &[Option<String>]| {
        let seen = before.get(key).copied().unwrap_or(0).min(ranges.len());
        ranges[seen..]
            .iter()
            .flatten()
            .filter(|r| !r.starts_with("bytes=0-"))
            .count()
    };
    stats.files.iter().map(|(key, f)| resumed(key, &f.ranges)).sum()
}
