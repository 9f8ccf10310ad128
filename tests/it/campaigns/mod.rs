//! Crash and fault campaigns (issue #10 item 4), ignored by default because they take minutes:
//! the real binary runs as a child process against a fake upstream in this process, is killed
//! with SIGKILL at seeded-random moments and started again, and every invariant is checked
//! from here — the store read with the daemon stopped, payload files hashed, bytes compared
//! with the synthetic payloads — never from what the daemon says about itself.
//!
//! `cargo test --test it campaigns -- --ignored --nocapture --test-threads=1` runs them all;
//! each prints its seed, one line per trial and a summary line, and fails if any trial
//! failed. `WUCACHE_CAMPAIGN_SEED=N` replays a run's catalogs, requests, damage and kill
//! delays (where a delay lands still depends on timing). The read-only campaign needs root
//! (it bind-mounts directories read-only and runs the binary as another user).

mod damaged_snapshot;
mod prefetch_kill;
mod read_only;
mod serving_kill;
mod sync_kill;

use anyhow::{bail, ensure, Context, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use sha1::Digest;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;
use wucache::store::Store;
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{self, payload_range, SynthCatalog, SynthFile, SynthOptions};

const BIN: &str = env!("CARGO_BIN_EXE_wucache");

/// One campaign: its seeded randomness and its tally.
pub(crate) struct Campaign {
    name: &'static str,
    seed: u64,
    pub(crate) rng: StdRng,
    started: Instant,
    trials: u32,
    kills: u32,
    landed: u32,
    failures: Vec<String>,
}

/// What one trial did, for its line and the summary.
pub(crate) struct Trial {
    /// SIGKILLs sent.
    pub(crate) kills: u32,
    /// Of those, the ones that landed while the operation under test was running.
    pub(crate) landed: u32,
    /// What happened, in a few words.
    pub(crate) note: String,
}

impl Campaign {
    /// Seeds from `WUCACHE_CAMPAIGN_SEED` or the clock, and prints the seed.
    pub(crate) fn start(name: &'static str) -> Campaign {
        let seed = std::env::var("WUCACHE_CAMPAIGN_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_007)
            });
        println!("campaign {name}: seed {seed} (replay with WUCACHE_CAMPAIGN_SEED={seed})");
        // Each campaign draws its own stream from the one seed, so any one replays alone.
        let salt = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Campaign {
            name,
            seed,
            rng: StdRng::seed_from_u64(seed ^ salt),
            started: Instant::now(),
            trials: 0,
            kills: 0,
            landed: 0,
            failures: Vec::new(),
        }
    }

    /// Counts a trial and prints its line.
    pub(crate) fn record(&mut self, outcome: Result<Trial>) {
        self.trials += 1;
        let (name, n) = (self.name, self.trials);
        match outcome {
            Ok(trial) => {
                self.kills += trial.kills;
                self.landed += trial.landed;
                println!("{name} trial {n}: ok — {}", trial.note);
            }
            Err(err) => {
                println!("{name} trial {n}: FAILED — {err:#}");
                self.failures.push(format!("trial {n}: {err:#}"));
            }
        }
    }

    /// Prints the summary line (with the kills and how many landed `landed`, for a kill
    /// campaign) and fails the test if any trial failed.
    pub(crate) fn finish(self, landed: Option<&str>) {
        let kills = landed.map_or_else(String::new, |landed| {
            format!("{} kills, {} landed {landed}, ", self.kills, self.landed)
        });
        println!(
            "campaign {}: {} trials, {kills}{} failures (seed {}, {:.0} s)",
            self.name,
            self.trials,
            self.failures.len(),
            self.seed,
            self.started.elapsed().as_secs_f64()
        );
        assert!(
            self.failures.is_empty(),
            "campaign {} (seed {}): {}",
            self.name,
            self.seed,
            self.failures.join("\n")
        );
    }
}

/// What goes in a config file beyond the loopback listeners, data directory and upstream.
#[derive(Default)]
pub(crate) struct Settings<'a> {
    pub(crate) sync_on_start: bool,
    /// Lines of the `[content]` section.
    pub(crate) content: &'a str,
    /// `[baselines] file`.
    pub(crate) baselines: Option<&'a Path>,
}

/// Writes a config for the binary: listeners on free loopback ports, fast retries, everything
/// synced, no periodic sync.
pub(crate) fn write_config(path: &Path, data: &Path, upstream: &str, settings: &Settings<'_>) -> Result<()> {
    let baselines = settings
        .baselines
        .map(|file| format!("[baselines]\nfile = \"{}\"\n", file.display()))
        .unwrap_or_default();
    let text = format!(
        r#"[server]
http_listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[storage]
data_dir = "{data}"
[upstream]
server = "{upstream}"
initial_backoff = "5ms"
max_backoff = "50ms"
request_timeout = "20s"
[sync]
products = ["all"]
classifications = ["all"]
languages = []
interval = "0s"
on_start = {on_start}
[content]
{content}
{baselines}"#,
        data = data.display(),
        on_start = settings.sync_on_start,
        content = settings.content,
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A `wucache` child process whose log (stdout and stderr) goes to a file; killed when
/// dropped.
pub(crate) struct Run {
    child: crate::harness::ChildGuard,
    log: PathBuf,
    pub(crate) started: Instant,
}

impl Run {
    /// Starts `wucache <command> --config <config>`, logging to `log`.
    pub(crate) fn spawn(command: &str, config: &Path, log: &Path) -> Result<Run> {
        Run::spawn_with(Command::new(BIN).arg(command).arg("--config").arg(config), log)
    }

    /// Starts a prepared `wucache` command, logging to `log`.
    pub(crate) fn spawn_with(command: &mut Command, log: &Path) -> Result<Run> {
        let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = command
            .env("RUST_LOG", "wucache=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting wucache")?;
        Ok(Run {
            child: crate::harness::ChildGuard(child),
            log: log.to_path_buf(),
            started: Instant::now(),
        })
    }

    /// The exit status if the process has ended.
    pub(crate) fn exited(&mut self) -> Result<Option<ExitStatus>> {
        Ok(self.child.0.try_wait()?)
    }

    /// SIGKILL; returns whether the process was still running (not ended by itself).
    pub(crate) fn kill9(&mut self) -> Result<bool> {
        if self.exited()?.is_some() {
            return Ok(false);
        }
        self.child.0.kill()?;
        let status = self.child.0.wait()?;
        Ok(std::os::unix::process::ExitStatusExt::signal(&status) == Some(9))
    }

    /// SIGTERM, then waits up to `limit` for a clean exit.
    pub(crate) async fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.0.id().to_string())
            .status()?;
        self.wait(limit).await
    }

    /// Waits up to `limit` for the process to end by itself.
    pub(crate) async fn wait(&mut self, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("still running after {limit:?}; log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the start-up line and returns (client, admin) addresses.
    pub(crate) async fn serving(&mut self, limit: Duration) -> Result<(SocketAddr, SocketAddr)> {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log_text();
            if let Some(line) = log.lines().find(|l| l.contains("wucache serving")) {
                return Ok((field(line, "client_addr=")?, field(line, "admin_addr=")?));
            }
            if let Some(status) = self.exited()? {
                bail!(
                    "serve exited ({status}) before serving; log:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!("serve did not start within {limit:?}; log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the start-up line, then for `/ready` to answer 200; returns (client, admin).
    pub(crate) async fn ready(&mut self, limit: Duration) -> Result<(SocketAddr, SocketAddr)> {
        let deadline = Instant::now() + limit;
        let (client, admin) = self.serving(limit).await?;
        loop {
            if let Some((200, _)) = get_text(admin, "/ready", None).await {
                return Ok((client, admin));
            }
            if let Some(status) = self.exited()? {
                bail!(
                    "serve exited ({status}) before it was ready; log:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!("not ready within {limit:?}; log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the log, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    }
}

fn field(line: &str, key: &str) -> Result<SocketAddr> {
    let start = line.find(key).context("address field")? + key.len();
    let value = line[start..].split_whitespace().next().unwrap_or_default();
    value.parse().with_context(|| format!("{key}{value}"))
}

/// A GET on loopback that never panics: `None` when the connection fails or stalls (the
/// daemon may have just been killed).
pub(crate) async fn get_text(addr: SocketAddr, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
}

/// A sample's value in Prometheus text, if present.
pub(crate) fn metric(text: &str, sample: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// A uniformly drawn duration in `[0, upto)`.
pub(crate) fn random_delay(rng: &mut StdRng, upto: Duration) -> Duration {
    use rand::Rng;
    let millis = upto.as_millis().max(1) as u64;
    Duration::from_millis(rng.gen_range(0..millis))
}

/// A fake upstream serving the first synthetic catalog drawn from `rng` whose approved
/// payloads (by [`crate::oracle`]) `fit`, with its payloads; `None` after 100 draws.
pub(crate) async fn upstream_where(
    rng: &mut StdRng,
    updates: usize,
    max_file_size: u64,
    fit: impl Fn(&[SynthFile]) -> bool,
) -> Result<(FakeUpstream, SynthCatalog)> {
    use rand::Rng;
    let upstream = FakeUpstream::start(Vec::new()).await?;
    let catalog = (0..100)
        .map(|_| {
            synth::generate(&SynthOptions {
                seed: rng.gen(),
                updates,
                max_file_size,
                content_base_url: upstream.url(),
                ..SynthOptions::default()
            })
        })
        .find(|catalog| fit(&crate::oracle::approved_files(catalog)))
        .context("no synthetic catalog fits")?;
    upstream.publish(catalog.docs.iter().map(UpstreamDoc::from_synth).collect());
    upstream.serve_files(catalog.files());
    Ok((upstream, catalog))
}

/// Every revision in the store, read here with the daemon stopped, by identity with its
/// local id. Fails on anything a crash must not leave behind: a store that does not open, a
/// revision or local id stored twice, a revision the catalog does not have, a revision
/// without its document or with another document than the upstream's, an update count or
/// `latest` pointers that disagree with the records.
pub(crate) fn read_store(data: &Path, catalog: &SynthCatalog) -> Result<BTreeMap<(Uuid, u32), i32>> {
    let store = Store::open(data).context("the store does not open")?;
    let documents: HashMap<(Uuid, u32), &str> = catalog
        .docs
        .iter()
        .map(|d| ((d.update_id, d.revision), d.xml.as_str()))
        .collect();
    let mut held = BTreeMap::new();
    let mut local_ids = HashSet::new();
    let mut newest: HashMap<Uuid, u32> = HashMap::new();
    for record in store.all_revisions() {
        let record = record.context("a stored revision does not decode")?;
        let identity = (record.identity.update_id, record.identity.revision);
        ensure!(
            local_ids.insert(record.local_id),
            "local id {} used twice",
            record.local_id
        );
        ensure!(
            held.insert(identity, record.local_id).is_none(),
            "revision {} stored twice",
            record.identity
        );
        let expected = documents
            .get(&identity)
            .with_context(|| format!("revision {} is not in the catalog", record.identity))?;
        let document = store
            .document(record.local_id)?
            .with_context(|| format!("revision {} has no document", record.identity))?;
        ensure!(
            document == *expected,
            "revision {}: the stored document differs from the upstream's",
            record.identity
        );
        let top = newest.entry(identity.0).or_default();
        *top = (*top).max(identity.1);
    }
    for (update_id, revision) in &newest {
        let latest = store.latest(update_id)?.context("an update without latest")?;
        ensure!(
            latest.identity.revision == *revision,
            "latest of {update_id} is revision {}, the newest stored is {revision}",
            latest.identity.revision
        );
    }
    let updates = store.counts().updates;
    ensure!(
        updates == newest.len(),
        "the store counts {updates} updates, it holds {}",
        newest.len()
    );
    Ok(held)
}

/// Every stored record by identity, local ids zeroed (they depend on arrival order).
pub(crate) fn store_records(data: &Path) -> Result<BTreeMap<(Uuid, u32), wucache::model::UpdateRecord>> {
    let store = Store::open(data)?;
    let mut out = BTreeMap::new();
    for record in store.all_revisions() {
        let mut record = record?;
        record.local_id = 0;
        out.insert((record.identity.update_id, record.identity.revision), record);
    }
    Ok(out)
}

/// What a content directory holds, every committed file hashed here.
#[derive(Debug, Default)]
pub(crate) struct OnDisk {
    /// Committed payloads (their SHA-1 and SHA-256 checked against the catalog's).
    pub(crate) committed: HashSet<[u8; 20]>,
    /// Partials in `tmp/` with their length (each a prefix of what the upstream sends).
    pub(crate) partials: BTreeMap<[u8; 20], u64>,
    /// Anything else but shard folders, `tmp/` and JSON bookkeeping.
    pub(crate) junk: Vec<PathBuf>,
}

/// Reads a content directory: every committed file must be a known payload with the right
/// size, SHA-1 and SHA-256; every partial a prefix of that payload as the upstream serves it
/// (`flipped`: files it serves with the byte at that offset inverted).
pub(crate) fn inspect_content(
    root: &Path,
    files: &HashMap<[u8; 20], SynthFile>,
    flipped: &HashMap<[u8; 20], u64>,
) -> Result<OnDisk> {
    let mut found = OnDisk::default();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(found);
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type()?.is_dir();
        if name == "tmp" && is_dir {
            inspect_partials(&entry.path(), files, flipped, &mut found)?;
        } else if is_dir && name.len() == 2 {
            for file in std::fs::read_dir(entry.path())? {
                let file = file?;
                let sha1 = verify_committed(&file.path(), &name, files)?;
                found.committed.insert(sha1);
            }
        } else if !name.ends_with(".json") {
            found.junk.push(entry.path());
        }
    }
    Ok(found)
}

/// Reads and hashes one committed file; fails unless it is exactly its payload.
fn verify_committed(path: &Path, shard: &str, files: &HashMap<[u8; 20], SynthFile>) -> Result<[u8; 20]> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let sha1 = decode_sha1(&name).with_context(|| format!("{} is not a payload name", path.display()))?;
    ensure!(name.ends_with(shard), "{} is in the wrong shard", path.display());
    let file = files
        .get(&sha1)
        .with_context(|| format!("{} is no payload of the catalog", path.display()))?;
    let bytes = std::fs::read(path)?;
    let sha1_actual: [u8; 20] = sha1::Sha1::digest(&bytes).into();
    let sha256_actual: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    ensure!(
        bytes.len() as u64 == file.size && sha1_actual == file.sha1 && sha256_actual == file.sha256,
        "committed {} is not its payload ({} bytes of {})",
        path.display(),
        bytes.len(),
        file.size
    );
    Ok(sha1)
}

fn inspect_partials(
    tmp: &Path,
    files: &HashMap<[u8; 20], SynthFile>,
    flipped: &HashMap<[u8; 20], u64>,
    found: &mut OnDisk,
) -> Result<()> {
    for entry in std::fs::read_dir(tmp)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let known = name
            .strip_suffix(".partial")
            .and_then(decode_sha1)
            .and_then(|sha1| files.get(&sha1));
        let Some(file) = known else {
            found.junk.push(path);
            continue;
        };
        let bytes = std::fs::read(&path)?;
        let mut expected = payload_range(file, 0, bytes.len() as u64);
        if let Some(&at) = flipped.get(&file.sha1).filter(|&&at| at < bytes.len() as u64) {
            expected[at as usize] ^= 0xFF;
        }
        ensure!(
            bytes == expected,
            "partial {} ({} bytes) is not a prefix of what the upstream sent",
            path.display(),
            bytes.len()
        );
        found.partials.insert(file.sha1, bytes.len() as u64);
    }
    Ok(())
}

fn decode_sha1(text: &str) -> Option<[u8; 20]> {
    if text.len() != 40
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The catalog's payloads by SHA-1.
pub(crate) fn files_by_sha1(catalog: &SynthCatalog) -> HashMap<[u8; 20], SynthFile> {
    catalog.files().map(|f| (f.sha1, f.clone())).collect()
}

/// Copies a directory tree (files and folders only).
pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
