//! `wucache updates`: the catalog as a table or JSON (the views of `listing`), read from the
//! store, or through the running daemon's `/api/v1/updates` when it holds the store.

use super::api;
use crate::app::{open_store, AppError};
use crate::config::Config;
use crate::listing::{self, Named, UpdateView};
use std::collections::HashMap;
use std::process::ExitCode;
use uuid::Uuid;

pub(super) fn print(config: &Config, json: bool, all: bool, group: Option<&str>) -> anyhow::Result<ExitCode> {
    let views = match open_store(&config.storage.data_dir) {
        Ok(store) => local_views(config, &store, all, group)?,
        Err(AppError::Locked { .. }) => super::runtime()?.block_on(remote_views(config, all, group))?,
        Err(err) => return Err(err.into()),
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&views)?);
    } else {
        print_table(&views);
    }
    Ok(ExitCode::SUCCESS)
}

/// From the store: decisions from the baseline file at the current evaluation epoch.
fn local_views(
    config: &Config,
    store: &crate::store::Store,
    all: bool,
    group: Option<&str>,
) -> anyhow::Result<Vec<UpdateView>> {
    let records = store.latest_records()?;
    let titles: HashMap<Uuid, String> = store
        .categories()?
        .into_iter()
        .map(|(id, _, title)| (id, title))
        .collect();
    let Some(group) = group else {
        return Ok(listing::views(&records, &titles, all, None));
    };
    if config.baselines.file.is_empty() {
        anyhow::bail!("--group needs a baseline file: set [baselines] file in the config");
    }
    let set = crate::app::load_baseline_file(std::path::Path::new(&config.baselines.file))?.value;
    let epoch =
        crate::approval::evaluation_epoch(chrono::Utc::now(), set.evaluation.snapshot_interval_minutes);
    let baseline = set.named_group(group).map_err(anyhow::Error::msg)?;
    Ok(listing::views(&records, &titles, all, Some((baseline, epoch))))
}

/// Through the daemon that holds the store (its baselines decide).
async fn remote_views(config: &Config, all: bool, group: Option<&str>) -> anyhow::Result<Vec<UpdateView>> {
    let base = api::base_url(config, None);
    let mut query = Vec::new();
    if all {
        query.push("all=1".to_string());
    }
    if let Some(group) = group {
        query.push(format!(
            "group={}",
            form_urlencoded::byte_serialize(group.as_bytes()).collect::<String>()
        ));
    }
    let path = format!("/api/v1/updates?{}", query.join("&"));
    let items = api::get_all(config, &base, path.trim_end_matches('?')).await?;
    Ok(serde_json::from_value(serde_json::Value::Array(items))?)
}

fn print_table(views: &[UpdateView]) {
    outln!(
        "{:<36}  {:>5}  {:>7}  {:<9}  {:<9}  {:<9}  {:<10}  {:>5}  {:<22}  {:<24}  TITLE",
        "UPDATE ID",
        "REV",
        "LOCAL",
        "TYPE",
        "KB",
        "SEVERITY",
        "CREATED",
        "FILES",
        "CLASSIFICATION",
        "PRODUCT"
    );
    for v in views {
        let first = |list: &[Named]| {
            let mut text = list
                .first()
                .map(|n| {
                    if n.title.is_empty() {
                        n.id.to_string()
                    } else {
                        n.title.clone()
                    }
                })
                .unwrap_or_else(|| "-".into());
            if list.len() > 1 {
                text.push_str(&format!(" +{}", list.len() - 1));
            }
            clip(&text, 24)
        };
        let state = if v.state == "Expired" { " [expired]" } else { "" };
        let state = match &v.decision {
            Some(d) => format!("{state} [{}]", d.decision),
            None => state.to_string(),
        };
        outln!(
            "{:<36}  {:>5}  {:>7}  {:<9}  {:<9}  {:<9}  {:<10}  {:>5}  {:<22}  {:<24}  {}{}",
            v.update_id,
            v.revision,
            v.local_revision_id,
            v.update_type,
            v.kb.as_deref().unwrap_or("-"),
            v.msrc_severity.as_deref().unwrap_or("-"),
            v.created.get(..10).unwrap_or("-"),
            v.files.len(),
            clip(&first(&v.classifications), 22),
            first(&v.products),
            v.title,
            state
        );
    }
    outln!("{} updates", views.len());
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}
