//! Air-gap bundles with the real binary: `wucache export` on a server synced from the fake
//! upstream, `wucache import` into an empty data directory, and a Windows client (the test
//! kit's `wua`) scanning both servers. Which payloads a patch group needs comes from the
//! oracle (the synthetic catalog's own facts), never from wucache. Tampered bundles are
//! refused whole; a killed import finishes when run again; `--since` bundles chain.

use crate::client::{start, WindowsClient};
use crate::content::{committed_on_disk, content_path, get, upper_hex};
use crate::harness::{config, stored_identities, ChildGuard};
use crate::oracle::{approved_files, BASELINE_TOML};
use sha1::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;
use uuid::Uuid;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::fake_upstream::{FakeUpstream, UpstreamDoc};
use wucache_testkit::synth::{self, SynthCatalog, SynthDoc, SynthKind, SynthOptions};

const BIN: &str = env!("CARGO_BIN_EXE_wucache");

/// The patch group the group export is for.
const GROUP: &str = "Ring1";

/// Ring1 gets the oracle's baseline (so the oracle says what it approves); everyone else a
/// narrower one (Critical Updates only), which the bundle must not follow.
fn baselines_toml() -> String {
    let ring = BASELINE_TOML
        .replace("default_baseline = \"test-approvals\"\n", "")
        .replace("schema_version = 1\n", "");
    format!(
        r#"schema_version = 1
default_baseline = "everyone"

[[patch_group]]
name = "{GROUP}"
baseline = "test-approvals"

[[baseline]]
id = "everyone"
Name = "everyone"
OperatingSystem = "WINDOWS"

[[baseline.ApprovalRules.PatchRules]]
ApproveAfterDays = 0
PatchFilterGroup = {{ PatchFilters = [
  {{ Key = "PATCH_SET", Values = ["OS", "APPLICATION"] }},
  {{ Key = "CLASSIFICATION", Values = ["CriticalUpdates"] }},
] }}
{ring}"#
    )
}

/// One server's folder: its data directory and a config file for the binary.
struct Server {
    dir: TempDir,
    config: wucache::config::Config,
    config_file: PathBuf,
}

impl Server {
    /// A server of `upstream` (a URL; nothing listens on the default), deciding by
    /// `baselines` (TOML) when given.
    fn new(upstream: &str, baselines: Option<&str>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(upstream, &dir);
        config.storage.data_dir = dir.path().join("data");
        let mut text = format!(
            "[upstream]\nserver = \"{upstream}\"\ninitial_backoff = \"5ms\"\nmax_backoff = \"50ms\"\n\
             [sync]\nproducts = [\"all\"]\nclassifications = [\"all\"]\nlanguages = []\n\
             [storage]\ndata_dir = \"{}\"\n",
            config.storage.data_dir.display()
        );
        if let Some(baselines) = baselines {
            let file = dir.path().join("baselines.toml");
            std::fs::write(&file, baselines).unwrap();
            config.baselines.file = file.display().to_string();
            text.push_str(&format!("[baselines]\nfile = \"{}\"\n", file.display()));
        }
        let config_file = dir.path().join("wucache.toml");
        std::fs::write(&config_file, text).unwrap();
        Server {
            dir,
            config,
            config_file,
        }
    }

    /// A server on the air-gapped side: its upstream is a port nothing listens on.
    fn offline(baselines: Option<&str>) -> Server {
        Server::new("http://127.0.0.1:9", baselines)
    }

    fn data(&self) -> &Path {
        &self.config.storage.data_dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn sync(&self) {
        let store = Store::open(self.data()).unwrap();
        run_sync(&store, &self.config, &Quiet).await.unwrap();
    }

    /// `wucache ARGS --config <this server's>`, off the async threads.
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        command.args(args).arg("--config").arg(&self.config_file);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    /// Like `run`, asserting success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        assert!(
            output.status.success(),
            "wucache {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The served revisions (each update's newest) and the committed payloads.
    fn contents(&self) -> (BTreeSet<(Uuid, u32)>, BTreeSet<String>) {
        let store = Store::open(self.data()).unwrap();
        stored_identities(&store);
        let latest = store.latest_records().unwrap().into_iter();
        let identities = latest
            .map(|r| (r.identity.update_id, r.identity.revision))
            .collect();
        (identities, committed_on_disk(&self.data().join("content")))
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A fake upstream serving `docs` of `catalog`, whose payloads it serves at their MUUrls.
async fn upstream_with(seed: u64, updates: usize, max_file_size: u64) -> (FakeUpstream, SynthCatalog) {
    let upstream = FakeUpstream::start(Vec::new()).await.unwrap();
    let catalog = synth::generate(&SynthOptions {
        seed,
        updates,
        max_file_size,
        content_base_url: upstream.url(),
        ..SynthOptions::default()
    });
    upstream.serve_files(catalog.files());
    (upstream, catalog)
}

fn publish<'a>(upstream: &FakeUpstream, docs: impl IntoIterator<Item = &'a SynthDoc>) {
    upstream.publish(docs.into_iter().map(UpstreamDoc::from_synth).collect());
}

/// The payload names (`<SHA1HEX>`) a bundle carries, from its `content/` folder.
fn bundle_payloads(bundle: &Path) -> BTreeSet<String> {
    std::fs::read_dir(bundle.join("content"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .map(|name| name.split('.').next().unwrap().to_string())
        .collect()
}

/// Update id → (action, revision) as a scan saw them.
fn seen(scan: &crate::client::ScanResult) -> BTreeMap<Uuid, (wucache_testkit::wua::Action, u32)> {
    scan.seen
        .values()
        .map(|s| (s.update_id, (s.action, s.revision)))
        .collect()
}

async fn ring_scan(config: wucache::config::Config) -> (crate::client::ScanResult, wucache::daemon::Daemon) {
    let daemon = start(config).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.target_group = Some(GROUP.into());
    client.handshake().await;
    (client.scan().await, daemon)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_bundle_imported_into_an_empty_server_offers_the_same_updates_and_payloads() {
    let (upstream, catalog) = upstream_with(90, 150, 30_000).await;
    publish(&upstream, &catalog.docs);
    let baselines = baselines_toml();
    let source = Server::new(&upstream.url(), Some(&baselines));
    source.sync().await;
    let keys = source.path("keys");
    source.ok(&["bundle", "keygen", "--out", arg(&keys)]).await;
    let bundle = source.path("bundle");
    let key = keys.join("bundle-signing-key.pem");

    let out = source
        .ok(&[
            "export",
            "--group",
            GROUP,
            "--out",
            arg(&bundle),
            "--sign-key",
            arg(&key),
        ])
        .await;

    assert!(out.contains("signed:    Ed25519"), "{out}");
    // The payloads Ring1's baseline approves, by the oracle, and nothing else.
    let approved: BTreeSet<String> = approved_files(&catalog).iter().map(upper_hex).collect();
    assert!(approved.len() >= 5, "a test with payloads: {}", approved.len());
    assert_eq!(bundle_payloads(&bundle), approved);

    let target = Server::offline(Some(&baselines));
    let public = keys.join("bundle-signing-key.pub");
    let out = target
        .ok(&["import", arg(&bundle), "--verify-key", arg(&public)])
        .await;
    assert!(out.contains("signature verified"), "{out}");
    let (_, committed) = target.contents();
    assert_eq!(committed, approved);
    // The import left the catalog image of the store as it is now (writing it again is a no-op).
    let store = wucache::store::Store::open(&target.config.storage.data_dir).unwrap();
    assert_eq!(
        store.save_latest_image().unwrap(),
        None,
        "the import wrote a current image"
    );
    drop(store);

    // A Ring1 machine is offered the same updates, at the same revisions, with the same
    // deployments, on both sides.
    let (exporting, daemon) = ring_scan(source.config.clone()).await;
    daemon.stop().await;
    let (importing, daemon) = ring_scan(target.config.clone()).await;
    assert!(!exporting.offered().is_empty());
    assert_eq!(seen(&importing), seen(&exporting));
    assert_eq!(importing.offered(), exporting.offered());

    // And downloads every approved payload from the importing server, bytes intact.
    let files: HashMap<String, synth::SynthFile> =
        catalog.files().map(|f| (upper_hex(f), f.clone())).collect();
    let located: BTreeSet<String> = importing
        .file_locations
        .iter()
        .map(|l| synth::hex(&l.digest).to_uppercase())
        .filter(|sha1| approved.contains(sha1))
        .collect();
    assert_eq!(located, approved, "every approved payload is offered");
    for sha1 in &approved {
        let file = &files[sha1];
        let reply = get(daemon.client_addr, &content_path(file), None).await;
        assert_eq!(reply.status, 200, "{}", file.name);
        assert_eq!(<[u8; 20]>::from(sha1::Sha1::digest(&reply.body)), file.sha1);
        assert_eq!(reply.body, synth::payload(file));
    }
    daemon.stop().await;
}

/// A signed `--all` bundle of a small catalog, and its key pair.
struct Signed {
    source: Server,
    bundle: PathBuf,
    key: PathBuf,
    public: PathBuf,
    _upstream: FakeUpstream,
}

async fn signed_bundle(seed: u64) -> Signed {
    let (upstream, catalog) = upstream_with(seed, 40, 8_000).await;
    publish(&upstream, &catalog.docs);
    let source = Server::new(&upstream.url(), None);
    source.sync().await;
    let keys = source.path("keys");
    source.ok(&["bundle", "keygen", "--out", arg(&keys)]).await;
    let (bundle, key) = (source.path("bundle"), keys.join("bundle-signing-key.pem"));
    source
        .ok(&["export", "--all", "--out", arg(&bundle), "--sign-key", arg(&key)])
        .await;
    Signed {
        public: keys.join("bundle-signing-key.pub"),
        source,
        bundle,
        key,
        _upstream: upstream,
    }
}

/// A copy of a bundle folder to tamper with.
fn copy_bundle(from: &Path, to: &Path) {
    for dir in ["", "documents", "content"] {
        std::fs::create_dir_all(to.join(dir)).unwrap();
        for entry in std::fs::read_dir(from.join(dir)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(dir).join(entry.file_name())).unwrap();
            }
        }
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_bundle_is_refused_whole_naming_the_first_bad_file() {
    let signed = signed_bundle(91).await;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(signed.bundle.join("manifest.json")).unwrap()).unwrap();
    let first_listed = |kind: &str| -> String {
        let files = manifest["files"].as_array().unwrap();
        let entry = files.iter().find(|f| f["kind"] == kind).unwrap();
        entry["path"].as_str().unwrap().to_string()
    };
    let (document, payload) = (first_listed("document"), first_listed("payload"));
    let verify = ["--verify-key", arg(&signed.public)];
    let other_keys = signed.source.path("other-keys");
    signed
        .source
        .ok(&["bundle", "keygen", "--out", arg(&other_keys)])
        .await;
    let resign = |bundle: &Path, key: &Path| {
        let bytes = std::fs::read(bundle.join("manifest.json")).unwrap();
        let key = wucache::bundle::sign::private_key(&std::fs::read(key).unwrap()).unwrap();
        std::fs::write(
            bundle.join("manifest.sig"),
            wucache::bundle::sign::sign(&key, &bytes),
        )
        .unwrap();
    };
    type Tamper<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: Vec<(&str, Tamper<'_>, Vec<&str>, Vec<&str>)> = vec![
        (
            "a flipped byte in a document",
            Box::new(|b: &Path| flip_byte(&b.join(&document), 200)),
            verify.to_vec(),
            vec![&document, "SHA-256 differs"],
        ),
        (
            "a flipped byte in a payload",
            Box::new(|b: &Path| flip_byte(&b.join(&payload), 100)),
            verify.to_vec(),
            vec![&payload, "SHA-256 differs"],
        ),
        (
            "a flipped byte in the signed manifest",
            Box::new(|b: &Path| flip_byte(&b.join("manifest.json"), 300)),
            verify.to_vec(),
            vec!["manifest.sig", "changed after it was signed"],
        ),
        (
            "a manifest that is no longer JSON, unsigned",
            Box::new(|b: &Path| {
                std::fs::remove_file(b.join("manifest.sig")).unwrap();
                flip_byte(&b.join("manifest.json"), 0);
            }),
            vec![],
            vec!["manifest.json", "not a bundle manifest"],
        ),
        (
            "a missing payload",
            Box::new(|b: &Path| std::fs::remove_file(b.join(&payload)).unwrap()),
            verify.to_vec(),
            vec![&payload, "missing"],
        ),
        (
            "a signature by another key",
            Box::new(|b: &Path| resign(b, &other_keys.join("bundle-signing-key.pem"))),
            verify.to_vec(),
            vec!["manifest.sig", "does not verify"],
        ),
        (
            "a signed bundle imported without a key",
            Box::new(|_: &Path| {}),
            vec![],
            vec!["is signed", "--verify-key"],
        ),
        (
            "a path-traversal entry, signed with the right key",
            Box::new(|b: &Path| {
                let mut hostile = manifest.clone();
                let mut entry = hostile["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["kind"] == "payload")
                    .unwrap()
                    .clone();
                entry["path"] = "../outside.cab".into();
                hostile["files"].as_array_mut().unwrap().push(entry);
                std::fs::write(
                    b.join("manifest.json"),
                    serde_json::to_vec_pretty(&hostile).unwrap(),
                )
                .unwrap();
                resign(b, &signed.key);
            }),
            verify.to_vec(),
            vec!["../outside.cab", "not a bundle path"],
        ),
    ];
    for (case, tamper, args, expected) in cases {
        let bundle = tempfile::tempdir().unwrap();
        copy_bundle(&signed.bundle, bundle.path());
        tamper(bundle.path());
        let target = Server::offline(None);
        let mut command = vec!["import", arg(bundle.path())];
        command.extend(&args);

        let output = target.run(&command).await;

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{case}: imported\n{stderr}");
        for text in &expected {
            assert!(stderr.contains(text), "{case}: `{text}` not in\n{stderr}");
        }
        let (identities, committed) = target.contents();
        assert!(
            identities.is_empty(),
            "{case}: {} revisions stored",
            identities.len()
        );
        assert!(
            committed.is_empty(),
            "{case}: {} payloads written",
            committed.len()
        );
    }
    // The untouched bundle imports.
    let target = Server::offline(None);
    target
        .ok(&["import", arg(&signed.bundle), "--verify-key", arg(&signed.public)])
        .await;
    assert_eq!(target.contents(), signed.source.contents());
}

/// Committed payloads below a content folder (0 while it does not exist).
fn committed_count(content: &Path) -> usize {
    let Ok(shards) = std::fs::read_dir(content) else {
        return 0;
    };
    shards
        .flatten()
        .filter(|shard| shard.file_name() != "tmp")
        .filter_map(|shard| std::fs::read_dir(shard.path()).ok())
        .map(|files| files.count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_midway_finishes_when_run_again() {
    let (upstream, catalog) = upstream_with(92, 300, 200_000).await;
    publish(&upstream, &catalog.docs);
    let source = Server::new(&upstream.url(), None);
    source.sync().await;
    let bundle = source.path("bundle");
    source.ok(&["export", "--all", "--out", arg(&bundle)]).await;
    let payloads = bundle_payloads(&bundle).len();
    assert!(payloads >= 100, "enough payloads to be killed among: {payloads}");
    let target = Server::offline(None);

    // Killed (SIGKILL) once the first payload is committed: documents stored, payloads not all.
    let mut child = ChildGuard(
        Command::new(BIN)
            .args(["import", arg(&bundle), "--config", arg(&target.config_file)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let content = target.data().join("content");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while committed_count(&content) == 0 {
        assert!(child.0.try_wait().unwrap().is_none(), "the import ended early");
        assert!(std::time::Instant::now() < deadline, "no payload within a minute");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let killed_at = committed_count(&content);
    assert!(
        killed_at < payloads,
        "killed mid-import: {killed_at} of {payloads}"
    );

    let out = target.ok(&["import", arg(&bundle)]).await;

    assert!(out.contains("finished an interrupted import"), "{out}");
    assert_eq!(target.contents(), source.contents());
    // A clean import elsewhere gives the same catalog and cache.
    let clean = Server::offline(None);
    clean.ok(&["import", arg(&bundle)]).await;
    assert_eq!(clean.contents(), target.contents());
    // Running it once more changes nothing.
    let out = target.ok(&["import", arg(&bundle)]).await;
    assert!(
        out.contains("0 new to this catalog") && out.contains("0 written"),
        "{out}"
    );
}

/// The top-level update each document belongs to (a bundle member's is its bundle).
fn groups(catalog: &SynthCatalog) -> Vec<Vec<&SynthDoc>> {
    let owner: HashMap<Uuid, Uuid> = catalog
        .docs
        .iter()
        .flat_map(|d| d.bundled.iter().map(move |m| (*m, d.update_id)))
        .collect();
    let mut order: Vec<Uuid> = Vec::new();
    let mut by_owner: HashMap<Uuid, Vec<&SynthDoc>> = HashMap::new();
    for doc in catalog.docs.iter().filter(|d| !d.kind.is_config()) {
        let key = owner.get(&doc.update_id).copied().unwrap_or(doc.update_id);
        if !by_owner.contains_key(&key) {
            order.push(key);
        }
        by_owner.entry(key).or_default().push(doc);
    }
    order.iter().map(|key| by_owner.remove(key).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_increment_since_a_full_bundle_carries_only_what_is_new_and_completes_the_catalog() {
    let (upstream, catalog) = upstream_with(93, 120, 8_000).await;
    let groups = groups(&catalog);
    let (first, later) = groups.split_at(groups.len() * 3 / 4);
    let config_docs = catalog.docs.iter().filter(|d| d.kind.is_config());
    publish(&upstream, config_docs.chain(first.iter().flatten().copied()));
    let source = Server::new(&upstream.url(), None);
    source.sync().await;
    let (base, increment) = (source.path("base"), source.path("increment"));
    source.ok(&["export", "--all", "--out", arg(&base)]).await;
    let base_payloads = bundle_payloads(&base);

    publish(&upstream, later.iter().flatten().copied());
    source.sync().await;
    let out = source
        .ok(&["export", "--all", "--since", arg(&base), "--out", arg(&increment)])
        .await;

    // Only the later updates' newest revisions, and only payloads the base lacks.
    assert!(out.contains("left out (in the base bundle)"), "{out}");
    let newest_later: BTreeSet<String> = later
        .iter()
        .flatten()
        .filter(|d| {
            !later
                .iter()
                .flatten()
                .any(|o| o.update_id == d.update_id && o.revision > d.revision)
        })
        .map(|d| format!("{}.{}.xml", d.update_id, d.revision))
        .collect();
    let carried: BTreeSet<String> = std::fs::read_dir(increment.join("documents"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(carried, newest_later);
    let increment_payloads = bundle_payloads(&increment);
    assert!(!increment_payloads.is_empty());
    assert!(increment_payloads.is_disjoint(&base_payloads));
    assert!(later.iter().flatten().any(|d| d.kind == SynthKind::Bundle));

    // The increment alone is refused, naming its base; base then increment is the catalog.
    let target = Server::offline(None);
    let output = target.run(&["import", arg(&increment)]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("import that one first"),
        "{stderr}"
    );
    assert!(target.contents().0.is_empty());
    target.ok(&["import", arg(&base)]).await;
    target.ok(&["import", arg(&increment)]).await;
    let source_store = Store::open(source.data()).unwrap();
    let target_store = Store::open(target.data()).unwrap();
    let latest = |store: &Store| -> BTreeMap<(Uuid, u32), (Vec<Uuid>, Vec<Uuid>)> {
        store
            .latest_records()
            .unwrap()
            .into_iter()
            .map(|r| {
                let key = (r.identity.update_id, r.identity.revision);
                (key, (r.products.to_vec(), r.classifications.to_vec()))
            })
            .collect()
    };
    assert_eq!(latest(&target_store), latest(&source_store));
    let union: BTreeSet<String> = base_payloads.union(&increment_payloads).cloned().collect();
    assert_eq!(committed_on_disk(&target.data().join("content")), union);
    assert_eq!(committed_on_disk(&source.data().join("content")), union);
}
