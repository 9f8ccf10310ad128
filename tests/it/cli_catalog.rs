//! The CLI on a synced catalog in baseline terms: `baseline check --strict --config` fails on
//! a guardrail (a PRODUCT the catalog names differently) and passes a file without one;
//! `updates --properties --json` lists the AWS properties the test kit's own facts give.

use crate::harness::{config, fake_with, synthetic};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;
use uuid::Uuid;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::synth::{SynthCatalog, SynthDoc, SynthKind, CLASSIFICATIONS};

const BIN: &str = env!("CARGO_BIN_EXE_wucache");

/// Syncs `catalog` from a fake upstream into a temp data folder and writes a CLI config for
/// it naming `baselines` (TOML text) as its `[baselines] file`.
async fn synced(catalog: &SynthCatalog, baselines: &str) -> (TempDir, PathBuf) {
    let upstream = fake_with(catalog).await;
    let data = tempfile::tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    run_sync(&store, &config(&upstream.url(), &data), &Quiet)
        .await
        .unwrap();
    drop(store);
    let file = data.path().join("baselines.toml");
    std::fs::write(&file, baselines).unwrap();
    let path = data.path().join("cli.toml");
    let text = format!(
        "[storage]\ndata_dir = \"{}\"\n[baselines]\nfile = \"{}\"\n",
        data.path().display(),
        file.display()
    );
    std::fs::write(&path, text).unwrap();
    (data, path)
}

fn wucache(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

/// One baseline whose only rule filters on `product` (OS patch set, approved at release).
fn baseline_for(product: &str) -> String {
    format!(
        "default_baseline = \"servers\"\n[[baseline]]\nid = \"servers\"\n\
         [[baseline.ApprovalRules.PatchRules]]\nApproveAfterDays = 0\n\
         PatchFilterGroup = {{ PatchFilters = [\n  {{ Key = \"PATCH_SET\", Values = [\"OS\"] }},\n  \
         {{ Key = \"PRODUCT\", Values = [\"{product}\"] }},\n] }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_check_strict_fails_on_a_product_the_synced_catalog_names_differently() {
    let catalog = synthetic(44, 80);
    let server = catalog
        .docs
        .iter()
        .find(|d| d.kind == SynthKind::Product && d.title == "Windows Server 2022")
        .map(|d| d.update_id)
        .unwrap();
    assert!(
        catalog
            .docs
            .iter()
            .any(|d| d.products.contains(&server) && !d.expired),
        "the catalog has live Windows Server 2022 updates"
    );
    let (data, config) = synced(&catalog, &baseline_for("WindowsServer2022")).await;
    let clean = data.path().join("clean.toml");
    std::fs::write(&clean, baseline_for("Windows Server 2022")).unwrap();

    let (strict, lenient, passing) = tokio::task::spawn_blocking(move || {
        let clean = clean.display().to_string();
        (
            wucache(&["baseline", "check", "--strict"], &config),
            wucache(&["baseline", "check"], &config),
            wucache(&["baseline", "check", "--strict", &clean], &config),
        )
    })
    .await
    .unwrap();

    let warning = "  warning: baseline[servers].ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1].Values[0]: \
                   PRODUCT value \"WindowsServer2022\" matches no update of the synced catalog \
                   (closest there: \"Windows Server 2022\"";
    let stdout = String::from_utf8_lossy(&strict.stdout);
    assert_eq!(strict.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(warning), "{stdout}");
    assert!(stdout.contains("checked against"), "{stdout}");
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(stderr.contains("1 warning(s), failing (--strict)"), "{stderr}");

    assert_eq!(lenient.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&lenient.stdout).contains(warning));

    let stdout = String::from_utf8_lossy(&passing.stdout);
    assert_eq!(
        passing.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&passing.stderr)
    );
    assert!(!stdout.contains("warning:"), "{stdout}");
}

/// §2.3 of docs/baselines.md for the synthetic product titles: the OS products of the alias
/// table by title; "Windows Server 2022" is not a WSUS title (the real one is "Microsoft
/// Server operating system-21H2"), so it stays as it is, as application titles do.
fn expected_product(title: &str) -> String {
    match title {
        "Windows 11" => "Windows11",
        "Microsoft Defender Antivirus" => "MicrosoftDefenderAntivirus",
        "Windows 10, version 1903 and later" => "Windows10",
        "Windows Server 2019" => "WindowsServer2019",
        other => other,
    }
    .to_string()
}

/// §2.3's classification table by GUID; classifications without an AWS value keep their title.
fn expected_classification(id: &Uuid) -> String {
    let aws = match id.to_string().as_str() {
        "e6cf1350-c01b-414d-a61f-263d14d133b4" => "CriticalUpdates",
        "e0789628-ce08-4437-be74-2495b842f43b" => "DefinitionUpdates",
        "ebfc1fc5-71a4-4f7b-9aca-3b9a503104a0" => "Drivers",
        "b54e7d24-7add-428f-8b75-90a396fa584f" => "FeaturePacks",
        "0fa1201d-4330-4fa8-8ae9-b877473b6441" => "SecurityUpdates",
        "68c5b0a3-d1a6-4553-ae49-01d3a7827828" => "ServicePacks",
        "b4832bd8-e735-4761-8daf-37f882276dab" => "Tools",
        "28bc880e-0592-4cbf-8f95-c79b17911d5f" => "UpdateRollups",
        "cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83" => "Updates",
        "3689bdc8-b205-4af4-8d4a-a63924c5e9d5" => "Upgrades",
        _ => {
            let (_, title) = CLASSIFICATIONS.iter().find(|(known, _)| known == id).unwrap();
            title
        }
    };
    aws.to_string()
}

/// The newest revision of every top-level update (not a bundle member) of the catalog.
fn top_level(catalog: &SynthCatalog) -> Vec<&SynthDoc> {
    let members: HashSet<Uuid> = catalog.docs.iter().flat_map(|d| d.bundled.clone()).collect();
    let mut newest: HashMap<Uuid, &SynthDoc> = HashMap::new();
    for doc in catalog.docs.iter().filter(|d| !d.kind.is_config()) {
        if members.contains(&doc.update_id) {
            continue;
        }
        let kept = newest.entry(doc.update_id).or_insert(doc);
        if doc.revision > kept.revision {
            *kept = doc;
        }
    }
    newest.into_values().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_properties_json_lists_the_aws_properties_the_test_kit_expects() {
    let catalog = synthetic(45, 120);
    let (_data, config) = synced(&catalog, &baseline_for("*")).await;
    let (listing, one_kb) = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            (
                wucache(&["updates", "--properties", "--json"], &config),
                wucache(
                    &[
                        "updates",
                        "--properties",
                        "--json",
                        "--group",
                        "default",
                        "--product",
                        "windows11",
                    ],
                    &config,
                ),
            )
        })
        .await
        .unwrap()
    };
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&listing.stdout).unwrap();

    // The test kit's own facts: product titles and their families from the category documents.
    let titles: HashMap<Uuid, &str> = catalog
        .docs
        .iter()
        .map(|d| (d.update_id, d.title.as_str()))
        .collect();
    let family_of = |product: &Uuid| -> String {
        let doc = catalog.docs.iter().find(|d| d.update_id == *product).unwrap();
        let facts = wucache_testkit::facts::read_update(&doc.xml).unwrap();
        titles[&facts.category_clauses[0]].to_string()
    };
    let expected = top_level(&catalog);
    assert_eq!(rows.len(), expected.len());
    let by_id: HashMap<String, &serde_json::Value> = rows
        .iter()
        .map(|row| (row["update_id"].as_str().unwrap().to_string(), row))
        .collect();
    let mut patch_sets = HashSet::new();
    for doc in expected {
        let row = by_id[&doc.update_id.to_string()];
        let families: Vec<String> = doc.products.iter().map(family_of).collect();
        let patch_set = if families.iter().any(|f| f == "Windows") {
            "OS"
        } else {
            "APPLICATION"
        };
        let products: Vec<String> = doc.products.iter().map(|p| expected_product(titles[p])).collect();
        let classifications: Vec<String> = doc.classifications.iter().map(expected_classification).collect();
        assert_eq!(row["PRODUCT"], serde_json::json!(products), "{row}");
        assert_eq!(row["PRODUCT_FAMILY"], serde_json::json!(families), "{row}");
        assert_eq!(row["PATCH_SET"], patch_set, "{row}");
        assert_eq!(row["CLASSIFICATION"], serde_json::json!(classifications), "{row}");
        assert_eq!(
            row["MSRC_SEVERITY"],
            doc.msrc_severity().unwrap_or("Unspecified"),
            "{row}"
        );
        assert_eq!(
            row["kb"],
            serde_json::json!(doc.kb.as_ref().map(|kb| format!("KB{kb}")))
        );
        assert_eq!(row["expired"], doc.expired);
        patch_sets.insert(patch_set);
    }
    assert_eq!(patch_sets.len(), 2, "both patch sets occur");

    assert!(
        one_kb.status.success(),
        "{}",
        String::from_utf8_lossy(&one_kb.stderr)
    );
    let windows_11: Vec<serde_json::Value> = serde_json::from_slice(&one_kb.stdout).unwrap();
    assert!(!windows_11.is_empty());
    for row in &windows_11 {
        assert_eq!(row["PRODUCT"], serde_json::json!(["Windows11"]), "{row}");
        assert_eq!(
            row["decision"]["baseline"], "servers",
            "the default baseline decides for group any"
        );
    }
}

/// While `serve` holds the store, `baseline check --config` and `updates --properties` read
/// the catalog through the admin API and say what they say from the store once it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_properties_go_through_the_api_while_serve_holds_the_store() {
    let catalog = synthetic(46, 60);
    let (data, config_path) = synced(&catalog, &baseline_for("WindowsServer2022")).await;
    let mut config = wucache::config::Config::load(Some(&config_path)).unwrap();
    config.server.http_listen = "127.0.0.1:0".parse().unwrap();
    config.admin.listen = "127.0.0.1:0".parse().unwrap();
    config.sync.on_start = false;
    let daemon = wucache::daemon::Daemon::start(config).await.unwrap();
    let text = std::fs::read_to_string(&config_path).unwrap()
        + &format!("[admin]\nlisten = \"{}\"\n", daemon.admin_addr);
    std::fs::write(&config_path, text).unwrap();
    let run = |config: PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            (
                wucache(&["baseline", "check", "--strict"], &config),
                wucache(
                    &["updates", "--properties", "--json", "--group", "default"],
                    &config,
                ),
            )
        })
        .await
        .unwrap()
    };

    let (remote_check, remote_properties) = run(config_path.clone()).await;
    daemon.stop().await;
    let (local_check, local_properties) = run(config_path).await;

    let warnings = |output: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.contains("warning:") || line.contains("checked against"))
            .map(str::to_string)
            .collect()
    };
    let remote = warnings(&remote_check);
    assert!(
        remote.iter().any(|l| l.contains("the running daemon serves")),
        "{remote:?}"
    );
    assert!(remote
        .iter()
        .any(|l| l.contains("\"WindowsServer2022\" matches no update")));
    assert_eq!(remote_check.status.code(), Some(1));
    let local = warnings(&local_check);
    assert!(
        local
            .iter()
            .any(|l| l.contains(&format!("the catalog in {}", data.path().display()))),
        "{local:?}"
    );
    assert_eq!(remote[1..], local[1..], "the same warnings either way");
    assert!(
        remote_properties.status.success(),
        "{}",
        String::from_utf8_lossy(&remote_properties.stderr)
    );
    let remote: serde_json::Value = serde_json::from_slice(&remote_properties.stdout).unwrap();
    let local: serde_json::Value = serde_json::from_slice(&local_properties.stdout).unwrap();
    assert_eq!(remote, local);
    assert!(!remote.as_array().unwrap().is_empty());
}
