//! `wucache updates --properties`: the catalog in baseline terms, like `aws ssm
//! describe-patch-properties` — each top-level update's derived Patch Manager properties
//! (`PRODUCT`, `PRODUCT_FAMILY`, `PATCH_SET`, `CLASSIFICATION`, `MSRC_SEVERITY`), with a patch
//! group's decision when asked, filtered by KB, product, decision and release date. Product
//! names go through the group baseline's `ProductAliases` (without a group, the built-in table).

use crate::app::load_baseline_file;
use crate::approval::{
    catalog_facts, evaluate, evaluation_epoch, Baseline, PatchProperties, ProxyExtensions, UpdateFacts,
};
use crate::config::Config;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

/// What `--properties` lists and how.
pub(super) struct Query {
    /// `--group`: the decisions of that patch group's baseline.
    pub group: Option<String>,
    /// `--kb`: only this KB (with or without `KB`).
    pub kb: Option<String>,
    /// `--product`: only updates with this derived `PRODUCT` (ASCII case-insensitive).
    pub product: Option<String>,
    /// `--decision`: only this decision of the group's baseline (`APPROVED` …).
    pub decision: Option<String>,
    /// `--since`: only updates released (or last revised) on or after this date or time.
    pub since: Option<String>,
    /// `--json`.
    pub json: bool,
}

/// One update as baseline filters see it.
#[derive(Debug, Serialize)]
struct Row {
    update_id: String,
    kb: Option<String>,
    title: String,
    release_date: String,
    expired: bool,
    #[serde(rename = "PATCH_SET")]
    patch_set: &'static str,
    #[serde(rename = "PRODUCT")]
    products: Vec<String>,
    #[serde(rename = "PRODUCT_FAMILY")]
    product_families: Vec<String>,
    #[serde(rename = "CLASSIFICATION")]
    classifications: Vec<String>,
    #[serde(rename = "MSRC_SEVERITY")]
    msrc_severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<Decided>,
}

/// With `--group`: the baseline's decision.
#[derive(Debug, Serialize)]
struct Decided {
    baseline: String,
    decision: &'static str,
    approval_date: Option<String>,
    compliance_level: &'static str,
}

/// Filters checked up front, so a typo in `--since` fails before the catalog is read.
struct Filters {
    kb: Option<String>,
    product: Option<String>,
    decision: Option<String>,
    since: Option<DateTime<Utc>>,
}

pub(super) fn print(config: &Config, query: &Query) -> anyhow::Result<ExitCode> {
    let filters = Filters {
        kb: query.kb.as_deref().map(normalise_kb),
        product: query.product.clone(),
        decision: query.decision.clone(),
        since: query.since.as_deref().map(parse_since).transpose()?,
    };
    if filters.decision.is_some() && query.group.is_none() {
        anyhow::bail!("--decision needs --group: decisions are a patch group's baseline's");
    }
    let set = match &query.group {
        Some(_) => Some(baseline_set(config)?),
        None => None,
    };
    let (records, _) = super::check::catalog_records(config)?;
    let facts = catalog_facts(&records);
    let judged = match (&set, &query.group) {
        (Some(set), Some(group)) => {
            let epoch = evaluation_epoch(Utc::now(), set.evaluation.snapshot_interval_minutes);
            Some((set.named_group(group).map_err(anyhow::Error::msg)?, epoch))
        }
        _ => None,
    };
    let rows: Vec<Row> = rows(&facts, judged)
        .into_iter()
        .filter(|row| filters.keep(row))
        .collect();
    if query.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_table(&rows, judged.is_some());
    }
    Ok(ExitCode::SUCCESS)
}

fn baseline_set(config: &Config) -> anyhow::Result<crate::approval::BaselineSet> {
    if config.baselines.file.is_empty() {
        anyhow::bail!("--group needs a baseline file: set [baselines] file in the config");
    }
    Ok(load_baseline_file(Path::new(&config.baselines.file))?.value)
}

/// The rows of `facts`, each with `baseline`'s decision at the epoch when one is given.
fn rows(facts: &[UpdateFacts], baseline: Option<(&Baseline, DateTime<Utc>)>) -> Vec<Row> {
    let defaults = ProxyExtensions::default();
    let extensions = baseline.map_or(&defaults, |(b, _)| &b.extensions);
    facts
        .iter()
        .map(|update| {
            let properties = PatchProperties::of(update, extensions);
            Row {
                update_id: update.update_id.to_string(),
                kb: update.kb_number(),
                title: update.title.clone(),
                release_date: update.release_date.to_rfc3339(),
                expired: update.expired,
                patch_set: properties.patch_set,
                products: properties.products,
                product_families: properties.product_families,
                classifications: properties.classifications,
                msrc_severity: properties.msrc_severity,
                decision: baseline.map(|(baseline, epoch)| decided(update, baseline, epoch)),
            }
        })
        .collect()
}

fn decided(update: &UpdateFacts, baseline: &Baseline, epoch: DateTime<Utc>) -> Decided {
    let evaluation = evaluate(update, baseline, epoch);
    Decided {
        baseline: baseline.id.clone(),
        decision: evaluation.decision.as_str(),
        approval_date: evaluation.approval_date.map(|d| d.to_rfc3339()),
        compliance_level: evaluation.compliance_level.as_str(),
    }
}

impl Filters {
    fn keep(&self, row: &Row) -> bool {
        let kb = self
            .kb
            .as_deref()
            .is_none_or(|kb| row.kb.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(kb)));
        let product = self
            .product
            .as_deref()
            .is_none_or(|product| row.products.iter().any(|own| own.eq_ignore_ascii_case(product)));
        let decision = self.decision.as_deref().is_none_or(|wanted| {
            row.decision
                .as_ref()
                .is_some_and(|d| d.decision.eq_ignore_ascii_case(wanted))
        });
        let since = self.since.is_none_or(|since| {
            DateTime::parse_from_rfc3339(&row.release_date).is_ok_and(|released| released >= since)
        });
        kb && product && decision && since
    }
}

/// `KB5034441`, `kb5034441` or `5034441` → `KB5034441`.
fn normalise_kb(text: &str) -> String {
    let text = text.trim();
    let digits = text
        .get(..2)
        .filter(|head| head.eq_ignore_ascii_case("KB"))
        .map_or(text, |_| &text[2..]);
    format!("KB{digits}")
}

/// `YYYY-MM-DD` (its UTC midnight) or an RFC 3339 time.
fn parse_since(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| anyhow::anyhow!("--since `{text}` is neither YYYY-MM-DD nor an RFC 3339 time"))
}

fn print_table(rows: &[Row], with_decision: bool) {
    let decision_head = if with_decision {
        "DECISION             "
    } else {
        ""
    };
    outln!(
        "{:<11} {:<10} {:<11} {:<28} {:<18} {:<18} {:<11} {decision_head}TITLE",
        "KB",
        "RELEASED",
        "PATCH_SET",
        "PRODUCT",
        "PRODUCT_FAMILY",
        "CLASSIFICATION",
        "SEVERITY"
    );
    for row in rows {
        let decision = match &row.decision {
            Some(d) => format!("{:<20} ", d.decision),
            None => String::new(),
        };
        let expired = if row.expired { " [expired]" } else { "" };
        outln!(
            "{:<11} {:<10} {:<11} {:<28} {:<18} {:<18} {:<11} {decision}{}{expired}",
            row.kb.as_deref().unwrap_or("-"),
            row.release_date.get(..10).unwrap_or("-"),
            row.patch_set,
            joined(&row.products, 28),
            joined(&row.product_families, 18),
            joined(&row.classifications, 18),
            row.msrc_severity,
            row.title
        );
    }
    outln!("{} updates", rows.len());
}

/// Values joined with `, `, cut to `width` characters with `…`; `-` when there are none.
fn joined(values: &[String], width: usize) -> String {
    let text = values.join(", ");
    if text.is_empty() {
        return "-".into();
    }
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::Category;
    use uuid::Uuid;

    fn facts(kb: &str, product: &str, family: &str, released: &str) -> UpdateFacts {
        let released = DateTime::parse_from_rfc3339(released)
            .unwrap()
            .with_timezone(&Utc);
        let mut facts = UpdateFacts::new(Uuid::from_u128(u128::from(kb.len() as u32)), released);
        facts.kb = Some(kb.trim_start_matches("KB").into());
        facts.products = vec![Category::named(product)];
        facts.product_families = vec![family.into()];
        facts.classifications = vec![Category::named("Security Updates")];
        facts
    }

    fn filters(kb: Option<&str>, product: Option<&str>, since: Option<&str>) -> Filters {
        Filters {
            kb: kb.map(normalise_kb),
            product: product.map(str::to_string),
            decision: None,
            since: since.map(|s| parse_since(s).unwrap()),
        }
    }

    #[test]
    fn rows_carry_the_aws_properties_of_each_update() {
        let catalog = [facts(
            "KB5034441",
            "Microsoft Server operating system-21H2",
            "Windows",
            "2025-11-18T00:00:00Z",
        )];
        let row = &rows(&catalog, None)[0];
        assert_eq!(row.products, ["WindowsServer2022"]);
        assert_eq!(row.classifications, ["SecurityUpdates"]);
        assert_eq!((row.patch_set, row.msrc_severity.as_str()), ("OS", "Unspecified"));
        assert!(row.decision.is_none());
    }

    #[test]
    fn filters_select_by_kb_product_and_release_date() {
        let catalog = [
            facts("KB1", "Windows 11", "Windows", "2025-10-01T00:00:00Z"),
            facts("KB22", "Office 2016", "Office", "2025-11-01T00:00:00Z"),
        ];
        let all = rows(&catalog, None);
        let kept = |filters: Filters| -> Vec<String> {
            all.iter()
                .filter(|row| filters.keep(row))
                .filter_map(|row| row.kb.clone())
                .collect()
        };
        assert_eq!(kept(filters(Some("kb22"), None, None)), ["KB22"]);
        assert_eq!(kept(filters(Some("1"), None, None)), ["KB1"]);
        assert_eq!(kept(filters(None, Some("windows11"), None)), ["KB1"]);
        assert_eq!(kept(filters(None, None, Some("2025-10-02"))), ["KB22"]);
        assert_eq!(
            kept(filters(None, None, Some("2025-10-01T00:00:00Z"))),
            ["KB1", "KB22"]
        );
        assert!(parse_since("Oct 1").is_err());
    }
}
