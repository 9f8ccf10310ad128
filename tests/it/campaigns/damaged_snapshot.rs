//! A damaged sled snapshot: with the daemon stopped, `catalog/snap.*` of a synced store gets
//! bytes flipped, a region scrambled, zeroed or replaced by noise, or is cut short; then
//! `serve` starts. It must come up ready with every revision the store held, record for
//! record (the snapshot is a cache of sled's log: the store moves it aside and rebuilds), or
//! stop saying what to do. Silently losing or changing data is the failure.

use super::{copy_dir, get_text, read_store, store_records, write_config, Campaign, Run, Settings, Trial};
use crate::harness::{fake_with, synthetic};
use anyhow::{bail, ensure, Context, Result};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;
use wucache::model::UpdateRecord;
use wucache_testkit::synth::SynthCatalog;

const TRIALS: u32 = 20;
const UPDATES: usize = 300;

/// How a snapshot file is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// A few single bytes inverted at random offsets.
    Flips(usize),
    /// A random region XORed with a pattern.
    Scramble,
    /// Every byte zero, length kept.
    Zeroed,
    /// Random bytes, length kept.
    Noise,
    /// Cut at a random length.
    Truncated,
}

struct Bench {
    catalog: SynthCatalog,
    dir: tempfile::TempDir,
    /// A synced store, stopped cleanly, with its snapshot written.
    pristine: PathBuf,
    reference: BTreeMap<(Uuid, u32), UpdateRecord>,
    upstream: String,
    _fake: wucache_testkit::fake_upstream::FakeUpstream,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault campaign (a minute): cargo test --test it campaigns -- --ignored --nocapture"]
async fn a_damaged_snapshot_is_rebuilt_from_the_log_with_every_revision() {
    let mut campaign = Campaign::start("damaged-snapshot");
    let bench = Bench::new(campaign.rng.gen()).await.expect("set-up");
    for n in 0..TRIALS {
        let damage = match n % 5 {
            0 => Damage::Flips(campaign.rng.gen_range(1..=16)),
            1 => Damage::Scramble,
            2 => Damage::Zeroed,
            3 => Damage::Noise,
            _ => Damage::Truncated,
        };
        let outcome = trial(&mut campaign.rng, n, damage, &bench).await;
        campaign.record(outcome);
    }
    campaign.finish(None);
}

impl Bench {
    /// Syncs a catalog with `wucache sync`, then runs `serve` once and stops it with SIGTERM,
    /// so the store has a snapshot as a production store would.
    async fn new(seed: u64) -> Result<Bench> {
        let catalog = synthetic(seed, UPDATES);
        let fake = fake_with(&catalog).await;
        let dir = tempfile::tempdir()?;
        let pristine = dir.path().join("pristine");
        let config = dir.path().join("pristine.toml");
        write_config(&config, &pristine, &fake.url(), &Settings::default())?;
        let mut sync = Run::spawn("sync", &config, &dir.path().join("sync.log"))?;
        ensure!(
            sync.wait(Duration::from_secs(120)).await?.success(),
            "sync failed:\n{}",
            sync.log_tail()
        );
        let mut serve = Run::spawn("serve", &config, &dir.path().join("serve.log"))?;
        serve.ready(Duration::from_secs(30)).await?;
        ensure!(
            serve.terminate(Duration::from_secs(30)).await?.success(),
            "serve stop"
        );
        ensure!(!snapshots(&pristine)?.is_empty(), "sled wrote no snapshot");
        read_store(&pristine, &catalog)?;
        let reference = store_records(&pristine)?;
        ensure!(
            reference.len() == catalog.docs.len(),
            "the sync stored the catalog"
        );
        Ok(Bench {
            catalog,
            upstream: fake.url(),
            _fake: fake,
            dir,
            pristine,
            reference,
        })
    }
}

/// The store's `snap.*` files.
fn snapshots(data: &Path) -> Result<Vec<PathBuf>> {
    let catalog = data.join("catalog");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&catalog).with_context(|| format!("{}", catalog.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("snap.") && entry.file_type()?.is_file() {
            found.push(entry.path());
        }
    }
    Ok(found)
}

fn damage_file(rng: &mut StdRng, path: &Path, damage: Damage) -> Result<()> {
    let mut bytes = std::fs::read(path)?;
    let len = bytes.len();
    ensure!(len > 0, "empty snapshot {}", path.display());
    match damage {
        Damage::Flips(n) => {
            for _ in 0..n {
                let at = rng.gen_range(0..len);
                bytes[at] ^= rng.gen_range(1..=255u8);
            }
        }
        Damage::Scramble => {
            let start = rng.gen_range(0..len);
            let end = (start + rng.gen_range(16..=4096)).min(len);
            bytes[start..end].iter_mut().for_each(|b| *b ^= 0x5a);
        }
        Damage::Zeroed => bytes.fill(0),
        Damage::Noise => rng.fill(&mut bytes[..]),
        Damage::Truncated => bytes.truncate(rng.gen_range(0..len)),
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

async fn trial(rng: &mut StdRng, n: u32, damage: Damage, bench: &Bench) -> Result<Trial> {
    let root = bench.dir.path().join(format!("trial-{n}"));
    let data = root.join("data");
    copy_dir(&bench.pristine, &data)?;
    let snaps = snapshots(&data)?;
    for snap in &snaps {
        damage_file(rng, snap, damage)?;
    }
    let config = root.join("wucache.toml");
    write_config(&config, &data, &bench.upstream, &Settings::default())?;
    let mut run = Run::spawn("serve", &config, &root.join("serve.log"))?;
    let came_up = run.ready(Duration::from_secs(60)).await;
    let (_, admin) = match came_up {
        Ok(addrs) => addrs,
        Err(err) => {
            let log = run.log_text();
            if run.exited()?.is_some() && (log.contains("backup") || log.contains("move")) {
                let advice = log
                    .lines()
                    .rev()
                    .find(|l| l.contains("wucache:"))
                    .unwrap_or("")
                    .trim();
                return Ok(Trial {
                    kills: 0,
                    landed: 0,
                    note: format!("{damage:?}: refused with advice: {advice}"),
                });
            }
            return Err(err.context(format!("{damage:?}: serve neither came up nor said what to do")));
        }
    };
    let (_, ready) = get_text(admin, "/ready", None).await.context("/ready")?;
    let ready: serde_json::Value = serde_json::from_str(&ready)?;
    ensure!(
        ready["revisions"].as_u64() == Some(bench.reference.len() as u64),
        "{damage:?}: ready with {ready}, the store held {} revisions",
        bench.reference.len()
    );
    ensure!(
        run.terminate(Duration::from_secs(30)).await?.success(),
        "{damage:?}: serve did not stop cleanly:\n{}",
        run.log_tail()
    );
    read_store(&data, &bench.catalog).with_context(|| format!("{damage:?}: after the restart"))?;
    let records = store_records(&data)?;
    if records != bench.reference {
        bail!(
            "{damage:?}: {} revisions after the restart, {} before, or some differ",
            records.len(),
            bench.reference.len()
        );
    }
    let moved = data.join("catalog/damaged").read_dir().map_or(0, Iterator::count);
    let how = if moved > 0 {
        format!("snapshot moved aside ({moved} files), rebuilt from the log")
    } else {
        "sled did not notice (read its log as it was)".to_string()
    };
    std::fs::remove_dir_all(&root)?;
    Ok(Trial {
        kills: 0,
        landed: 0,
        note: format!(
            "{damage:?} on {} snapshot file(s): ready with all {} revisions, {how}",
            snaps.len(),
            bench.reference.len()
        ),
    })
}
