//! Test support: the §8.3 example baselines as the §9 cases use them, the default `now`, and
//! a small builder for update facts.

use super::document::{Baseline, SupersededHandling};
use super::facts::{Category, UpdateFacts};
use super::set::BaselineSet;
use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// The example file of docs/baselines.md §8.3.
pub(crate) const EXAMPLES: &str = include_str!("../../config/baselines/baselines.toml");
/// Example B3 in its JSON form.
pub(crate) const B3_JSON: &str = include_str!("../../config/baselines/os-and-apps.json");

/// The default `now` of §9.
pub(crate) fn now() -> DateTime<Utc> {
    at("2025-11-20T12:00:00Z")
}

/// An RFC 3339 time, or a bare date meaning its UTC midnight.
pub(crate) fn at(text: &str) -> DateTime<Utc> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).unwrap().and_utc();
    }
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

pub(crate) fn examples() -> BaselineSet {
    BaselineSet::from_toml(EXAMPLES, &|_| Err("no files".into()))
        .unwrap()
        .value
}

fn example(id: &str) -> Baseline {
    examples().baseline(id).unwrap().clone()
}

/// B1 (already `Exclude`).
pub(crate) fn b1() -> Baseline {
    example("aws-default")
}

/// B2 with `SupersededHandling = Exclude`, as §9 uses it unless stated.
pub(crate) fn b2() -> Baseline {
    let mut baseline = example("prod-servers");
    baseline.extensions.superseded_handling = SupersededHandling::Exclude;
    baseline
}

pub(crate) fn b3() -> Baseline {
    example("os-and-apps")
}

/// An OS update (family Windows) released at `released`, with nothing else set.
pub(crate) fn update(released: &str) -> UpdateFacts {
    let mut facts = UpdateFacts::new(Uuid::nil(), at(released));
    facts.product_families = vec!["Windows".into()];
    facts
}

/// Fluent setters for update facts in tests.
pub(crate) trait Build: Sized {
    fn kb(self, kb: &str) -> Self;
    fn bulletin(self, bulletin: &str) -> Self;
    fn product(self, product: &str) -> Self;
    fn family(self, family: &str) -> Self;
    fn classification(self, classification: &str) -> Self;
    fn severity(self, severity: &str) -> Self;
    fn superseded_by(self, successor: UpdateFacts) -> Self;
    fn expired(self) -> Self;
}

impl Build for UpdateFacts {
    fn kb(mut self, kb: &str) -> Self {
        self.update_id = Uuid::from_u128(kb.bytes().fold(0u128, |h, b| h * 31 + u128::from(b)));
        self.kb = Some(kb.into());
        self
    }

    fn bulletin(mut self, bulletin: &str) -> Self {
        self.bulletin = Some(bulletin.into());
        self
    }

    fn product(mut self, product: &str) -> Self {
        self.products.push(Category::named(product));
        self
    }

    /// Replaces the product families.
    fn family(mut self, family: &str) -> Self {
        self.product_families = vec![family.into()];
        self
    }

    fn classification(mut self, classification: &str) -> Self {
        self.classifications.push(Category::named(classification));
        self
    }

    fn severity(mut self, severity: &str) -> Self {
        self.msrc_severity = Some(severity.into());
        self
    }

    fn superseded_by(mut self, successor: UpdateFacts) -> Self {
        self.superseded_by.push(std::sync::Arc::new(successor));
        self
    }

    fn expired(mut self) -> Self {
        self.expired = true;
        self
    }
}
