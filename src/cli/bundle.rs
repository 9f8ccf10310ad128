//! `wucache export`, `wucache import` and `wucache bundle keygen`: air-gap bundles (the
//! format and the rules are in `bundle`). Both commands work on the data directory with the
//! daemon stopped (the catalog store is one process's); progress as a bar on a terminal,
//! plain lines otherwise; a summary at the end.

use crate::app::{load_baseline_file, open_cache_knowing, open_store, AppError};
use crate::bundle::{self, sign, ExportOptions, ImportOptions, Scope, SignaturePolicy, Step};
use crate::config::Config;
use crate::store::Store;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// `wucache export`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["group", "baseline", "all"])))]
pub(super) struct ExportArgs {
    #[command(flatten)]
    config: super::ConfigArg,
    /// What this patch group is offered (its baseline's decisions).
    #[arg(long)]
    group: Option<String>,
    /// What this baseline offers.
    #[arg(long)]
    baseline: Option<String>,
    /// Every update's newest revision, with the payloads every baseline in use approves.
    #[arg(long)]
    all: bool,
    /// Leave out what an earlier bundle (its folder or manifest.json) already carried.
    #[arg(long, value_name = "EXPORT")]
    since: Option<PathBuf>,
    /// The bundle folder to write (new or empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Sign the manifest with this Ed25519 private key (PKCS#8 PEM, `wucache bundle keygen`).
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// Carry update documents only, no payloads.
    #[arg(long)]
    metadata_only: bool,
    /// Baseline file (default: [baselines] file of the config).
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

/// `wucache import`.
#[derive(clap::Args)]
pub(super) struct ImportArgs {
    #[command(flatten)]
    config: super::ConfigArg,
    /// The bundle folder.
    dir: PathBuf,
    /// The exporter's public key (64 hex digits): the bundle must be signed by it.
    #[arg(long, value_name = "PUB", conflicts_with = "no_verify")]
    verify_key: Option<PathBuf>,
    /// Import a signed bundle without checking its signature (its SHA-256 manifest is still
    /// checked).
    #[arg(long)]
    no_verify: bool,
    /// Import an incremental bundle although its base was not imported here.
    #[arg(long)]
    without_base: bool,
}

/// A progress bar over the steps of an export or import.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if !super::progress::is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Bar(bar)
    }
}

impl bundle::Progress for Bar {
    fn step(&self, step: Step, total: u64) {
        let template = match step {
            Step::Payloads => "{prefix:>10} [{bar:30}] {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}",
            _ => "{prefix:>10} [{bar:30}] {pos}/{len} files  {per_sec}  eta {eta}",
        };
        self.0.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        self.0.set_prefix(step.as_str());
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.reset_eta();
        if !super::progress::is_terminal() {
            let unit = if step == Step::Payloads { "bytes" } else { "files" };
            eprintln!("{}: {total} {unit}", step.as_str());
        }
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// Opens the store for a command that needs it to itself.
fn open_store_alone(config: &Config, command: &str) -> anyhow::Result<Store> {
    match open_store(&config.storage.data_dir) {
        Err(AppError::Locked { path }) => anyhow::bail!(
            "the catalog store in {path} is in use by a running wucache (`wucache serve`): stop the daemon, run `wucache {command}`, then start the daemon again"
        ),
        other => Ok(other?),
    }
}

pub(super) async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.config.as_deref())?;
    let scope = match (&args.group, &args.baseline) {
        (Some(group), _) => Scope::Group(group.clone()),
        (_, Some(baseline)) => Scope::Baseline(baseline.clone()),
        _ => Scope::All,
    };
    check_out_folder(&args.out)?;
    if let Some(key) = &args.sign_key {
        let bytes = std::fs::read(key).map_err(|e| anyhow::anyhow!("--sign-key {}: {e}", key.display()))?;
        sign::private_key(&bytes).map_err(|e| anyhow::anyhow!("--sign-key {}: {e}", key.display()))?;
    }
    let store = open_store_alone(&config, "export")?;
    let set = baselines(&config, args.file.as_deref())?;
    let records = store.latest_records()?;
    if records.is_empty() {
        anyhow::bail!(
            "the catalog in {} is empty: run `wucache sync` first",
            config.storage.data_dir.display()
        );
    }
    let sizes: HashMap<[u8; 20], u64> = records
        .iter()
        .flat_map(|r| r.files.iter().map(|f| (f.sha1, f.size)))
        .collect();
    let selection = bundle::select(records, &scope, set.as_ref(), chrono::Utc::now())?;
    for warning in &selection.warnings {
        eprintln!("wucache export: warning: {warning}");
    }
    if !args.metadata_only {
        let source = store.meta(crate::store::MetaKey::UpstreamContent)?;
        fetch_missing(&config, &sizes, &selection, source.as_deref()).await?;
    }
    let options = ExportOptions {
        out: &args.out,
        since: args.since.as_deref(),
        sign_key: args.sign_key.as_deref(),
        metadata_only: args.metadata_only,
        content_root: &config.content_dir(),
    };
    let bar = Bar::new();
    let summary = bundle::export(&store, &selection, &options, &bar)?;
    bar.0.finish_and_clear();
    print_exported(&args.out, &summary, args.metadata_only);
    Ok(ExitCode::SUCCESS)
}

/// Fetches the payloads of `selection` the cache lacks, as `wucache prefetch` does: from the
/// upstream's `/Content` when it hosts payloads (`source`, a WSUS or wucache hub), else from
/// each file's `MUUrl`.
async fn fetch_missing(
    config: &Config,
    sizes: &HashMap<[u8; 20], u64>,
    selection: &bundle::Selection,
    source: Option<&str>,
) -> anyhow::Result<()> {
    let counters = Arc::new(crate::stats::ContentCounters::default());
    let cache = open_cache_knowing(config, |sha1| sizes.get(sha1).copied(), counters)?;
    let wanted = selection
        .payloads()
        .iter()
        .map(|meta| match source {
            Some(base) => crate::content::PayloadMeta {
                url: crate::content::layout::content_url(
                    base,
                    &meta.sha1,
                    &crate::model::content_extension(&meta.name),
                ),
                ..meta.clone()
            },
            None => meta.clone(),
        })
        .collect();
    let fetched = super::prefetch::download(config, &cache, wanted).await;
    cache.stop().await;
    if !fetched.interrupted && fetched.failed.is_empty() {
        return Ok(());
    }
    for failure in &fetched.failed {
        eprintln!("  failed: {failure}");
    }
    anyhow::bail!(
        "{} of the bundle's payloads could not be fetched into the cache{}; run the export again, or pass --metadata-only to carry documents only",
        fetched.failed.len(),
        if fetched.interrupted { " (interrupted)" } else { "" }
    )
}

fn print_exported(out: &Path, summary: &bundle::ExportSummary, metadata_only: bool) {
    outln!("exported to {}", out.display());
    outln!(
        "  documents: {} written{}",
        summary.documents,
        in_base(summary.documents_in_base)
    );
    outln!(
        "  payloads:  {} written ({:.1} MiB){}{}",
        summary.payloads,
        summary.payload_bytes as f64 / 1048576.0,
        in_base(summary.payloads_in_base),
        if metadata_only { " (--metadata-only)" } else { "" }
    );
    outln!("  manifest:  SHA-256 {}", summary.manifest_sha256);
    match &summary.signed_by {
        Some(key) => outln!("  signed:    Ed25519, public key {key}"),
        None => outln!("  signed:    no (pass --sign-key to sign)"),
    }
}

fn in_base(count: usize) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(", {count} left out (in the base bundle)")
    }
}

/// Refuses early (before any payload is fetched) a folder the export would refuse.
fn check_out_folder(out: &Path) -> anyhow::Result<()> {
    if let Ok(mut entries) = std::fs::read_dir(out) {
        if entries.next().is_some() {
            anyhow::bail!(
                "--out {} is not empty: export into a new or empty folder",
                out.display()
            );
        }
    }
    Ok(())
}

/// The baseline file of `--file`, else of the config; `None` without one.
fn baselines(config: &Config, file: Option<&Path>) -> anyhow::Result<Option<crate::approval::BaselineSet>> {
    let path = file
        .map(Path::to_path_buf)
        .or_else(|| (!config.baselines.file.is_empty()).then(|| PathBuf::from(&config.baselines.file)));
    let Some(path) = path else {
        return Ok(None);
    };
    let loaded = load_baseline_file(&path)?;
    for warning in &loaded.warnings {
        tracing::warn!(%warning, "baseline file");
    }
    Ok(Some(loaded.value))
}

pub(super) async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.config.as_deref())?;
    let signature = match (&args.verify_key, args.no_verify) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--verify-key {}: {e}", path.display()))?;
            SignaturePolicy::Verify(
                sign::public_key(&text)
                    .map_err(|e| anyhow::anyhow!("--verify-key {}: {e}", path.display()))?,
            )
        }
        (None, true) => SignaturePolicy::Ignore,
        (None, false) => SignaturePolicy::Unsigned,
    };
    let store = open_store_alone(&config, "import")?;
    let options = ImportOptions {
        bundle: &args.dir,
        signature,
        without_base: args.without_base,
        data_dir: &config.storage.data_dir,
        content_root: &config.content_dir(),
    };
    let bar = Bar::new();
    let result = bundle::import(&store, &options, &bar).await;
    bar.0.finish_and_clear();
    store.flush()?;
    let summary = result?;
    print_imported(&args.dir, &summary);
    if let Err(err) = store.close_recovered() {
        tracing::warn!(error = %err, "the store was not reopened after the import: the next start replays its log");
    }
    if config.content.max_size > 0 {
        let cached = cached_bytes(&config.content_dir());
        if cached > config.content.max_size {
            eprintln!(
                "wucache import: warning: the cache holds {:.1} MiB, more than [content] max_size ({:.1} MiB); the daemon will evict the least recently used payloads when it starts",
                cached as f64 / 1048576.0,
                config.content.max_size as f64 / 1048576.0
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_imported(dir: &Path, summary: &bundle::ImportSummary) {
    outln!(
        "imported {} (exported {}){}",
        dir.display(),
        summary.created,
        if summary.resumed {
            "; finished an interrupted import"
        } else {
            ""
        }
    );
    outln!("  {}", summary.signature);
    outln!(
        "  documents: {} in the bundle, {} new to this catalog",
        summary.documents,
        summary.documents_stored
    );
    outln!(
        "  payloads:  {} in the bundle, {} written to the cache ({:.1} MiB)",
        summary.payloads,
        summary.payloads_written,
        summary.payload_bytes as f64 / 1048576.0
    );
}

/// Bytes of the committed payloads below `root`.
fn cached_bytes(root: &Path) -> u64 {
    let shards = std::fs::read_dir(root).into_iter().flatten().flatten();
    shards
        .filter(|shard| shard.file_name() != "tmp")
        .flat_map(|shard| std::fs::read_dir(shard.path()).into_iter().flatten().flatten())
        .filter_map(|file| file.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
}

/// File names `keygen` writes.
const PRIVATE_KEY_FILE: &str = "bundle-signing-key.pem";
const PUBLIC_KEY_FILE: &str = "bundle-signing-key.pub";

/// `wucache bundle keygen`: an Ed25519 key pair for signing bundles.
pub(super) fn keygen(out: &Path, force: bool) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out)?;
    let (private, public) = (out.join(PRIVATE_KEY_FILE), out.join(PUBLIC_KEY_FILE));
    for path in [&private, &public] {
        if path.exists() && !force {
            anyhow::bail!("{} exists; pass --force to replace it", path.display());
        }
    }
    let (pem, public_hex) = sign::generate()?;
    // Replaced, not rewritten: a new file gets mode 0600 whatever the old one had.
    let _ = std::fs::remove_file(&private);
    write_private(&private, pem.as_bytes())?;
    std::fs::write(&public, &public_hex)?;
    outln!(
        "wrote {} (private: keep it on the exporting side, mode 0600)",
        private.display()
    );
    outln!(
        "wrote {} (public: give it to the importing side)",
        public.display()
    );
    outln!("public key: {}", public_hex.trim());
    outln!();
    outln!("export:  wucache export ... --sign-key {}", private.display());
    outln!("import:  wucache import DIR --verify-key {}", public.display());
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
