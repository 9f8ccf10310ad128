//! `wucache prefetch`: download the payloads of approved updates now (approved by the
//! baseline file, as `serve` decides), with a progress bar (files, bytes, rate, ETA); Ctrl-C
//! stops it, and the next run resumes partial files.

use crate::app::{load_baseline_file, open_cache, open_store};
use crate::config::Config;
use crate::content::cache::Cache;
use crate::content::prefetch::{self, PrefetchProgress, PrefetchSummary};
use crate::content::PayloadMeta;
use crate::shutdown::Shutdown;
use crate::snapshot::Snapshot;
use crate::stats::ContentCounters;
use crate::upstream::payload::HttpFetch;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

struct Bar {
    bar: ProgressBar,
    files: AtomicU64,
    done: AtomicU64,
}

impl PrefetchProgress for Bar {
    fn start(&self, files: u64, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.bar.set_message(format!("0/{files} files"));
        if !super::progress::is_terminal() {
            eprintln!("prefetch: {files} files, {bytes} bytes to download");
        }
    }

    fn file_done(&self, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.inc(bytes);
        self.bar
            .set_message(format!("{done}/{} files", self.files.load(Ordering::Relaxed)));
    }
}

pub(super) async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let store = open_store(&config.storage.data_dir)?;
    let snapshot = Arc::new(approved_by_the_baselines(&config, &store)?);
    let payloads = snapshot.approved_payloads();
    let cache = open_cache(&config, snapshot, Arc::new(ContentCounters::default()))?;
    let summary = download(&config, &cache, payloads).await;
    // Interrupted transfers keep what arrived, for the next run to resume.
    cache.stop().await;
    outln!(
        "prefetch: {} payloads ({:.1} MiB) approved; {} already cached, {} downloaded ({:.1} MiB), {} failed{}",
        summary.files,
        summary.bytes as f64 / 1048576.0,
        summary.already_cached,
        summary.downloaded,
        summary.downloaded_bytes as f64 / 1048576.0,
        summary.failed.len(),
        if summary.interrupted { "; interrupted: run again to resume" } else { "" }
    );
    for failure in &summary.failed {
        outln!("  failed: {failure}");
    }
    Ok(if summary.failed.is_empty() && !summary.interrupted {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Downloads the payloads `cache` lacks, with a progress bar (files, bytes, rate, ETA);
/// Ctrl-C stops it, keeping partial files for the next run. The caller stops the cache.
pub(super) async fn download(
    config: &Config,
    cache: &Cache<HttpFetch>,
    payloads: Vec<PayloadMeta>,
) -> PrefetchSummary {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if !super::progress::is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "prefetch [{bar:30}] {bytes}/{total_bytes}  {msg}  {bytes_per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let shutdown = Shutdown::default();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.trigger();
        }
    });
    let content = &config.content;
    let summary = prefetch::run(
        cache,
        payloads,
        content.prefetch_concurrency as usize,
        content.prefetch_rate,
        &Bar {
            bar: bar.clone(),
            files: AtomicU64::new(0),
            done: AtomicU64::new(0),
        },
        &shutdown,
    )
    .await;
    bar.finish_and_clear();
    summary
}

/// The catalog as `serve` plans it: approved by `[baselines] file` when one is configured,
/// else every update that is not expired.
fn approved_by_the_baselines(config: &Config, store: &crate::store::Store) -> anyhow::Result<Snapshot> {
    let now = chrono::Utc::now().timestamp();
    if config.baselines.file.is_empty() {
        return Ok(Snapshot::build(store, now)?);
    }
    let loaded = load_baseline_file(std::path::Path::new(&config.baselines.file))?;
    for warning in &loaded.warnings {
        tracing::warn!(%warning, "baseline file");
    }
    Ok(Snapshot::build_with_baselines(
        store,
        now,
        Arc::new(loaded.value),
    )?)
}
