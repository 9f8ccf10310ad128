//! `wucache sync`: a progress bar (phase, count, rate) on a terminal, log lines otherwise,
//! and a summary at the end.

use crate::app::open_store;
use crate::config::Config;
use crate::upstream::{self, Phase, Progress, SyncSummary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;

pub(super) fn is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn phase(&self, phase: Phase, total: u64) {
        self.0.set_prefix(phase.as_str());
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.reset_eta();
        if !is_terminal() {
            eprintln!("sync: {} — {total} revisions to fetch", phase.as_str());
        }
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

pub(super) async fn sync_with_progress(config: Config) -> anyhow::Result<ExitCode> {
    let store = open_store(&config.storage.data_dir)?;
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if !is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix:>13} [{bar:30}] {pos}/{len} revisions  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let progress = Bar(bar.clone());
    let result = upstream::run_sync(&store, &config, &progress).await;
    bar.finish_and_clear();
    match result {
        Ok(summary) => {
            print_summary(&summary);
            if let Err(err) = store.close_recovered() {
                tracing::warn!(error = %err, "the store was not reopened after the sync: the next start replays its log");
            }
            if config.upstream.replica {
                match crate::app::adopt_replica_baselines(&config) {
                    Ok(true) => outln!("  replica:  the hub's baselines are in force"),
                    Ok(false) => {}
                    Err(err) => {
                        eprintln!("wucache sync: {err}");
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("wucache sync: failed: {err}");
            eprintln!("the catalog keeps every revision stored before the failure; run `wucache sync` again to continue");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_summary(summary: &SyncSummary) {
    outln!(
        "sync from {} finished in {:.1} s",
        summary.upstream,
        summary.seconds
    );
    outln!(
        "  listed:   {} category/detectoid revisions, {} update revisions ({} products x {} classifications)",
        summary.categories_listed,
        summary.updates_listed,
        summary.products,
        summary.classifications
    );
    outln!(
        "  fetched:  {} documents, {} new revisions ({:.0} revisions/s)",
        summary.documents_fetched,
        summary.new_revisions,
        summary.revisions_per_second()
    );
    outln!(
        "  upstream: {} calls, {} retries, {:.1} MiB received",
        summary.upstream_calls,
        summary.retries,
        summary.bytes_received as f64 / 1048576.0
    );
    outln!(
        "  catalog:  {} revisions of {} updates",
        summary.catalog_revisions,
        summary.catalog_updates
    );
    if let Some(rss) = summary.peak_rss_bytes {
        outln!("  memory:   {:.1} MiB peak RSS", rss as f64 / 1048576.0);
    }
    for id in &summary.skipped_ids {
        outln!("  skipped (upstream could not serve it): {id}");
    }
    for id in &summary.unreadable {
        outln!("  skipped (document unreadable): {id}");
    }
}
