//! Sync: `wucache sync`, or `serve` syncing at start, SIGKILLed at a random moment while it
//! mirrors a few hundred synthetic updates from a slowed fake upstream (sometimes twice in a
//! row). After every kill the store opens and holds only whole, distinct catalog revisions;
//! a sync run afterwards completes, leaving exactly the catalog's revisions, each record
//! equal to an uninterrupted sync's, and every local id handed out before a kill unchanged.

use super::{random_delay, read_store, store_records, write_config, Campaign, Run, Settings, Trial};
use crate::harness::{fake_with, synthetic, synthetic_identities};
use anyhow::{ensure, Context, Result};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use uuid::Uuid;
use wucache::model::UpdateRecord;
use wucache_testkit::fake_upstream::FakeUpstream;
use wucache_testkit::synth::SynthCatalog;

const TRIALS: u32 = 20;
/// Software updates in the catalog (categories and detectoids come on top).
const UPDATES: usize = 400;
/// Small GetUpdateData batches and a delay per call, so a sync lasts long enough for kills
/// to land inside it.
const BATCH: usize = 20;
const CALL_DELAY: Duration = Duration::from_millis(15);

/// What every trial syncs against.
struct Bench {
    upstream: FakeUpstream,
    catalog: SynthCatalog,
    dir: tempfile::TempDir,
    /// Records of an uninterrupted sync, local ids zeroed.
    reference: BTreeMap<(Uuid, u32), UpdateRecord>,
    /// Kills are drawn over this span from the start of the process.
    span: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "crash campaign (minutes): cargo test --test it campaigns -- --ignored --nocapture"]
async fn sync_killed_at_random_moments_keeps_a_whole_catalog() {
    let mut campaign = Campaign::start("sync-kill");
    let bench = Bench::new(campaign.rng.gen()).await.expect("calibration");
    for n in 0..TRIALS {
        let outcome = trial(&mut campaign.rng, n, &bench).await;
        campaign.record(outcome);
    }
    campaign.finish(Some("mid-sync"));
}

impl Bench {
    /// Serves a synthetic catalog and times one uninterrupted `wucache sync` of it.
    async fn new(seed: u64) -> Result<Bench> {
        let catalog = synthetic(seed, UPDATES);
        let upstream = fake_with(&catalog).await;
        upstream.faults().set_max_updates_per_request(BATCH);
        upstream.faults().set_delay(CALL_DELAY);
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("reference");
        let config = dir.path().join("reference.toml");
        write_config(&config, &data, &upstream.url(), &Settings::default())?;
        let mut run = Run::spawn("sync", &config, &dir.path().join("reference.log"))?;
        let status = run.wait(Duration::from_secs(120)).await?;
        ensure!(status.success(), "the reference sync failed:\n{}", run.log_tail());
        let took = run.started.elapsed();
        let held = read_store(&data, &catalog)?;
        ensure!(
            held.keys().copied().collect::<HashSet<_>>() == synthetic_identities(&catalog),
            "the reference sync did not store the catalog"
        );
        let reference = store_records(&data)?;
        println!(
            "sync-kill: {} revisions, an uninterrupted sync takes {took:.1?}",
            reference.len()
        );
        let span = took.mul_f64(1.2);
        Ok(Bench {
            upstream,
            catalog,
            dir,
            reference,
            span,
        })
    }

    fn calls(&self) -> u64 {
        self.upstream.stats().calls.values().sum()
    }
}

/// One trial in a fresh data directory: one or two kills, then a sync to completion.
async fn trial(rng: &mut StdRng, n: u32, bench: &Bench) -> Result<Trial> {
    let dir = bench.dir.path().join(format!("trial-{n}"));
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("data");
    let sync_config = dir.join("sync.toml");
    let serve_config = dir.join("serve.toml");
    let url = bench.upstream.url();
    write_config(&sync_config, &data, &url, &Settings::default())?;
    let on_start = Settings {
        sync_on_start: true,
        ..Settings::default()
    };
    write_config(&serve_config, &data, &url, &on_start)?;

    // A second kill, in one trial of three, hits the run that resumes the first one's work.
    let planned = if rng.gen_ratio(1, 3) { 2 } else { 1 };
    let mut kept = BTreeMap::new();
    let (mut kills, mut landed) = (0, 0);
    let mut notes = Vec::new();
    let mut done = false;
    for k in 0..planned {
        if done {
            break; // the first run finished before its kill: nothing left to interrupt
        }
        kills += 1;
        let (command, config) = if n % 2 == 1 && k == 0 {
            ("serve", &serve_config)
        } else {
            ("sync", &sync_config)
        };
        let delay = random_delay(rng, bench.span);
        let calls = bench.calls();
        let mut run = Run::spawn(command, config, &dir.join(format!("kill-{k}.log")))?;
        tokio::time::sleep(delay).await;
        let running = run.kill9()?;
        let started = bench.calls() > calls;
        let finished = !running || run.log_text().contains("sync finished");
        done = finished;
        let mid = started && !finished;
        landed += u32::from(mid);
        let held = read_store(&data, &bench.catalog)
            .with_context(|| format!("after killing {command} at {delay:?}"))?;
        same_local_ids(&kept, &held)?;
        let when = match (started, finished) {
            (false, _) => "before syncing",
            (true, false) => "mid-sync",
            (true, true) => "after the sync",
        };
        notes.push(format!(
            "{command} killed at {} ms ({when}): {}/{} revisions kept",
            delay.as_millis(),
            held.len(),
            bench.reference.len()
        ));
        kept = held;
    }

    let mut run = Run::spawn("sync", &sync_config, &dir.join("finish.log"))?;
    let status = run.wait(Duration::from_secs(120)).await?;
    ensure!(
        status.success(),
        "the sync after the kill failed:\n{}",
        run.log_tail()
    );
    let held = read_store(&data, &bench.catalog).context("after the completing sync")?;
    same_local_ids(&kept, &held)?;
    let completed = store_records(&data)?;
    ensure!(
        completed.len() == bench.reference.len(),
        "{} revisions after the completing sync, the catalog has {}",
        completed.len(),
        bench.reference.len()
    );
    if let Some((identity, _)) = completed
        .iter()
        .find(|(id, r)| bench.reference.get(id) != Some(r))
    {
        anyhow::bail!(
            "revision {}/{} differs from an uninterrupted sync's",
            identity.0,
            identity.1
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(Trial {
        kills,
        landed,
        note: notes.join("; "),
    })
}

/// Every revision held before keeps its local id.
fn same_local_ids(before: &BTreeMap<(Uuid, u32), i32>, now: &BTreeMap<(Uuid, u32), i32>) -> Result<()> {
    for (identity, id) in before {
        let again = now.get(identity);
        ensure!(
            again == Some(id),
            "revision {}/{} had local id {id}, now {again:?}",
            identity.0,
            identity.1
        );
    }
    Ok(())
}
