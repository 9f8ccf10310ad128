//! `wucache baseline check [FILE] [--config PATH] [--strict]`: loads a baseline file and
//! prints what it holds, the loader's warnings and the guardrails' — the file's own
//! (maintenance-window settings) and, with `--config`, those against the config's synced
//! catalog (read from the store, or through the daemon's admin API while it holds the
//! store). `--strict` turns warnings into a failing exit code for CI.

use crate::app::{load_baseline_file, open_store, AppError};
use crate::approval::{catalog_facts, catalog_warnings, document_warnings, BaselineSet, Loaded, Warning};
use crate::config::Config;
use crate::model::UpdateRecord;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Checks `file` (default: the config's `[baselines] file`); with a config, against its
/// catalog too.
pub(super) fn check(file: Option<&Path>, config: Option<&Path>, strict: bool) -> anyhow::Result<ExitCode> {
    let config = config.map(|path| Config::load(Some(path))).transpose()?;
    let path = baseline_path(file, config.as_ref())?;
    let loaded = match load_baseline_file(&path) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("{err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    print_loaded(&path, &loaded);
    let mut warnings = loaded.warnings;
    warnings.extend(document_warnings(&loaded.value));
    match &config {
        Some(config) => warnings.extend(against_catalog(config, &loaded.value)?),
        None => outln!("  catalog checks skipped (give --config PATH to check against a synced catalog)"),
    }
    for warning in &warnings {
        outln!("  warning: {warning}");
    }
    if strict && !warnings.is_empty() {
        eprintln!(
            "{}: {} warning(s), failing (--strict)",
            path.display(),
            warnings.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn baseline_path(file: Option<&Path>, config: Option<&Config>) -> anyhow::Result<PathBuf> {
    match (file, config) {
        (Some(file), _) => Ok(file.to_path_buf()),
        (None, Some(config)) if !config.baselines.file.is_empty() => Ok(config.baselines.file.clone().into()),
        (None, Some(_)) => {
            anyhow::bail!("the config sets no [baselines] file: give the baseline FILE to check")
        }
        (None, None) => {
            anyhow::bail!(
                "give a baseline FILE, or --config PATH to check its [baselines] file against its catalog"
            )
        }
    }
}

/// What the file holds; the warnings are printed by the caller with the guardrails'.
fn print_loaded(file: &Path, loaded: &Loaded<BaselineSet>) {
    let set = &loaded.value;
    outln!("{}: valid", file.display());
    for baseline in set.baselines() {
        outln!(
            "  baseline {} ({} rules, {} approved, {} rejected)",
            baseline.id,
            baseline.rules.len(),
            baseline.approved_patches.len(),
            baseline.rejected_patches.len()
        );
    }
    outln!("  default baseline: {}", set.default_baseline().id);
    for (group, baseline) in set.groups().iter() {
        outln!("  patch group {group} -> {baseline}");
    }
    for field in &loaded.ignored {
        outln!("  ignored: {field}");
    }
}

/// The catalog guardrails for `set` against the catalog of `config`'s store, now.
fn against_catalog(config: &Config, set: &BaselineSet) -> anyhow::Result<Vec<Warning>> {
    let (records, source) = catalog_records(config)?;
    let facts = catalog_facts(&records);
    outln!("  checked against {} updates of {source}", facts.len());
    Ok(catalog_warnings(set, &facts, chrono::Utc::now()))
}

/// The newest revisions of the config's catalog, and where they came from: the store, or
/// the running daemon that holds it.
pub(super) fn catalog_records(config: &Config) -> anyhow::Result<(Vec<UpdateRecord>, String)> {
    let dir = &config.storage.data_dir;
    if !dir.exists() {
        anyhow::bail!(
            "no catalog store in {}: run `wucache sync` with this config first",
            dir.display()
        );
    }
    match open_store(dir) {
        Ok(store) => Ok((
            store.latest_records()?,
            format!("the catalog in {}", dir.display()),
        )),
        Err(AppError::Locked { .. }) => {
            let records = super::runtime()?.block_on(super::baseline::served_records(config))?;
            Ok((records, "the catalog the running daemon serves".to_string()))
        }
        Err(err) => Err(err.into()),
    }
}
