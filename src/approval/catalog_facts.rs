//! Baselines meet the catalog: the engine's `UpdateFacts` for every top-level update of a
//! catalog — product families from the category chain, successors from the other updates'
//! supersedence lists — and the `Offer` each baseline of a set makes for them.

use super::evaluate::evaluate_without_baselines;
use super::{
    evaluate, evaluation_epoch, Baseline, BaselineSet, Category, Offer, ReportUnapproved, UpdateFacts,
};
use crate::model::{CategoryType, Prerequisite, UpdateRecord, UpdateType};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// What a catalog's top-level updates are offered under the baselines of one set, as of one
/// evaluation epoch: the facts are worked out once, then each question is one evaluation.
pub struct CatalogOffers {
    facts: Vec<UpdateFacts>,
    /// Index into `facts` by update id (a map of indexes: the facts themselves are large).
    by_update: HashMap<Uuid, u32>,
    epoch: DateTime<Utc>,
    report_unapproved: ReportUnapproved,
}

impl CatalogOffers {
    /// The offers of `set` for `records` (newest revisions) at the evaluation epoch of `at`.
    pub fn new(records: &[UpdateRecord], set: &BaselineSet, at: DateTime<Utc>) -> CatalogOffers {
        CatalogOffers::of(
            catalog_facts(records),
            evaluation_epoch(at, set.evaluation.snapshot_interval_minutes),
            set.evaluation.report_unapproved,
        )
    }

    /// The offers without a baseline file (`offer_without_baselines`).
    pub fn without_baselines(records: &[UpdateRecord]) -> CatalogOffers {
        CatalogOffers::of(
            catalog_facts(records),
            DateTime::UNIX_EPOCH,
            ReportUnapproved::None,
        )
    }

    fn of(
        facts: Vec<UpdateFacts>,
        epoch: DateTime<Utc>,
        report_unapproved: ReportUnapproved,
    ) -> CatalogOffers {
        let by_update = facts
            .iter()
            .enumerate()
            .map(|(i, f)| (f.update_id, i as u32))
            .collect();
        CatalogOffers {
            facts,
            by_update,
            epoch,
            report_unapproved,
        }
    }

    fn facts_of(&self, record: &UpdateRecord) -> Option<&UpdateFacts> {
        let index = *self.by_update.get(&record.identity.update_id)?;
        self.facts.get(index as usize)
    }

    /// What is offered without a baseline file: every current update for install, nothing
    /// expired or superseded by a live update; an update that is not top-level is not sent by
    /// itself.
    pub fn offer_without_baselines(&self, record: &UpdateRecord) -> Offer {
        match self.facts_of(record) {
            Some(update) => evaluate_without_baselines(update).offer(ReportUnapproved::None),
            None => Offer::NotSent,
        }
    }

    /// What `baseline` offers `record`; an update that is not top-level is not sent by itself.
    pub fn offer(&self, baseline: &Baseline, record: &UpdateRecord) -> Offer {
        match self.facts_of(record) {
            Some(update) => evaluate(update, baseline, self.epoch).offer(self.report_unapproved),
            None => Offer::NotSent,
        }
    }

    /// The engine's whole answer for `record` (`None` for what is not top-level).
    pub fn evaluation(&self, baseline: &Baseline, record: &UpdateRecord) -> Option<super::Evaluation> {
        self.facts_of(record)
            .map(|update| evaluate(update, baseline, self.epoch))
    }

    /// Which unapproved updates are sent detect-only (`[evaluation] report_unapproved`).
    pub fn reports_unapproved(&self) -> ReportUnapproved {
        self.report_unapproved
    }

    /// The evaluation epoch the offers are decided at.
    pub fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }
}

/// Engine facts for every top-level update (software or driver, not a bundle member) of a
/// catalog given as its newest revisions. Updates whose release date cannot be read are
/// skipped with a log line.
pub fn catalog_facts(records: &[UpdateRecord]) -> Vec<UpdateFacts> {
    let titles = category_titles(records);
    let families = product_families(records);
    let members: std::collections::HashSet<Uuid> = records
        .iter()
        .flat_map(|r| r.bundled.iter().map(|m| m.update_id))
        .collect();
    let top_level: Vec<&UpdateRecord> = records
        .iter()
        .filter(|r| matches!(r.update_type, UpdateType::Software | UpdateType::Driver))
        .filter(|r| !members.contains(&r.identity.update_id))
        .collect();
    let read = |part: &[&UpdateRecord]| -> Vec<Option<UpdateFacts>> {
        part.iter()
            .map(|record| facts_of(record, &titles, &families))
            .collect()
    };
    let [first, second] = on_two_threads(&top_level, read);
    let mut facts = Vec::with_capacity(top_level.len());
    facts.extend(first);
    facts.extend(second);
    add_successors(&top_level, &mut facts);
    facts.into_iter().flatten().collect()
}

/// Engine facts for `wanted` (records of the catalog `records`), without their successors:
/// what one machine's list of patches shows (title, KB, classification, severity), at the cost
/// of those records and one pass over the categories rather than of the whole catalog.
pub fn facts_without_successors(records: &[UpdateRecord], wanted: &[&UpdateRecord]) -> Vec<UpdateFacts> {
    let titles = category_titles(records);
    let families = product_families(records);
    wanted
        .iter()
        .filter_map(|record| facts_of(record, &titles, &families))
        .collect()
}

/// Category id → title.
fn category_titles(records: &[UpdateRecord]) -> HashMap<Uuid, String> {
    records
        .iter()
        .filter(|r| r.update_type == UpdateType::Category)
        .map(|r| (r.identity.update_id, r.title.to_string()))
        .collect()
}

/// One record's facts with its product families (no successors); `None`, with a log line,
/// when its release date does not read.
fn facts_of(
    record: &UpdateRecord,
    titles: &HashMap<Uuid, String>,
    families: &HashMap<Uuid, String>,
) -> Option<UpdateFacts> {
    match UpdateFacts::from_record(record, |id| titles.get(id).cloned()) {
        Ok(mut facts) => {
            facts.product_families = record
                .products
                .iter()
                .filter_map(|p| families.get(p).cloned())
                .collect();
            Some(facts)
        }
        Err(err) => {
            tracing::warn!(update = %record.identity, error = %err, "update left out of baseline evaluation");
            None
        }
    }
}

/// `work` over the two halves of `items`, the second on a thread of its own (on this one when
/// no thread can be started); the halves' results in order. Reading a catalog's facts is
/// per update and a start-up waits for it.
fn on_two_threads<'a, I: Sync, T: Send>(items: &'a [I], work: impl Fn(&'a [I]) -> T + Sync) -> [T; 2] {
    let (first, second) = items.split_at(items.len() / 2);
    std::thread::scope(|scope| {
        let work = &work;
        let other = std::thread::Builder::new()
            .name("catalog-facts".into())
            .spawn_scoped(scope, move || work(second));
        let first = work(first);
        let second = match other {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => work(second),
        };
        [first, second]
    })
}

/// Adds each update's successors (one level: the updates whose `SupersededUpdates` name it);
/// `facts[i]` belongs to `top_level[i]`. A successor is shared by every update it supersedes:
/// a catalog's facts are held at most twice, whatever its supersedence.
fn add_successors(top_level: &[&UpdateRecord], facts: &mut [Option<UpdateFacts>]) {
    let mut successors: HashMap<Uuid, Vec<Arc<UpdateFacts>>> = HashMap::new();
    for (record, successor) in top_level.iter().zip(facts.iter()) {
        let Some(successor) = successor.as_ref().filter(|_| !record.superseded.is_empty()) else {
            continue;
        };
        let successor = Arc::new(successor.clone());
        for old in &record.superseded {
            successors.entry(*old).or_default().push(Arc::clone(&successor));
        }
    }
    for update in facts.iter_mut().flatten() {
        update.superseded_by = successors.remove(&update.update_id).unwrap_or_default();
    }
}

/// Product id → the title of its product family (the category its `IsCategory` clause names).
pub(super) fn product_families(records: &[UpdateRecord]) -> HashMap<Uuid, String> {
    let families: HashMap<Uuid, &str> = records
        .iter()
        .filter(|r| r.category_type == Some(CategoryType::ProductFamily))
        .map(|r| (r.identity.update_id, &*r.title))
        .collect();
    records
        .iter()
        .filter(|r| r.category_type == Some(CategoryType::Product))
        .filter_map(|product| {
            let family = product.prerequisites.iter().find_map(|clause| match clause {
                Prerequisite::AtLeastOne { ids, .. } => ids.iter().find_map(|id| families.get(id)),
                Prerequisite::Required(id) => families.get(id),
            })?;
            Some((product.identity.update_id, family.to_string()))
        })
        .collect()
}

/// Titles of a record's classifications, for tables.
pub fn first_title(categories: &[Category]) -> String {
    categories.first().map(|c| c.title.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UpdateIdentity;

    fn record(id: u128, kind: UpdateType, title: &str) -> UpdateRecord {
        let identity = UpdateIdentity {
            update_id: Uuid::from_u128(id),
            revision: 200,
        };
        UpdateRecord {
            title: title.into(),
            creation_date: "2025-11-01T00:00:00Z".into(),
            ..UpdateRecord::new(identity, kind)
        }
    }

    fn category(id: u128, kind: CategoryType, title: &str) -> UpdateRecord {
        UpdateRecord {
            category_type: Some(kind),
            ..record(id, UpdateType::Category, title)
        }
    }

    /// A family, a product in it, a classification, and two updates, the second superseding
    /// the first.
    fn catalog() -> Vec<UpdateRecord> {
        let mut product = category(2, CategoryType::Product, "Windows 11");
        product.prerequisites = vec![Prerequisite::AtLeastOne {
            ids: vec![Uuid::from_u128(1)],
            is_category: true,
        }]
        .into();
        let mut old = record(10, UpdateType::Software, "Cumulative Update (old)");
        old.products = vec![Uuid::from_u128(2)].into();
        old.classifications = vec![Uuid::from_u128(3)].into();
        old.kb = Some("5000001".into());
        let mut new = record(11, UpdateType::Software, "Cumulative Update (new)");
        new.products = vec![Uuid::from_u128(2)].into();
        new.classifications = vec![Uuid::from_u128(3)].into();
        new.superseded = vec![Uuid::from_u128(10)].into();
        vec![
            category(1, CategoryType::ProductFamily, "Windows"),
            product,
            category(3, CategoryType::UpdateClassification, "Security Updates"),
            old,
            new,
        ]
    }

    /// Facts for a few records are the catalog's facts of those records, successors aside.
    #[test]
    fn facts_of_some_updates_equal_the_catalogs_without_successors() {
        let records = catalog();
        let whole = catalog_facts(&records);
        assert_eq!(whole.len(), 2);
        assert_eq!(
            whole[0].superseded_by.len(),
            1,
            "the old update has its successor"
        );
        let some = facts_without_successors(&records, &[&records[3], &records[4]]);
        let expected: Vec<UpdateFacts> = whole
            .into_iter()
            .map(|facts| UpdateFacts {
                superseded_by: Vec::new(),
                ..facts
            })
            .collect();
        assert_eq!(some, expected);
        assert_eq!(some[0].product_families, ["Windows"]);
        assert_eq!(some[0].classifications[0].title, "Security Updates");
    }
}
