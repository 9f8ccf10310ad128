//! The test cases of docs/baselines.md §9, one test each (T35 one per sub-case), against the pure
//! engine, loader and compliance mapping. Where a case also concerns what a client is sent
//! through a scan or when (deadlines, gates), the test pins the engine's part and says what
//! the integration test of the offer side must check.
//!
//! One file per group of cases: `basis` (what decided), `rules` (delays, severities, levels,
//! filters, dates), `explicit` (approved and rejected lists), `supersedence` (and expiry),
//! `values` (filter values against update properties), `groups` (patch groups, maintenance
//! windows), `compliance` (patch states and node summaries) and `formats` (AWS documents and
//! their limits). This file holds what they share: a security update of one product, the checks of
//! an evaluation and of a patch state, and a valid baseline document to break.

mod basis;
mod compliance;
mod explicit;
mod formats;
mod groups;
mod rules;
mod supersedence;
mod values;

use crate::approval::compliance::{compliance_item, ClientState, PatchState};
use crate::approval::document::{Baseline, ComplianceLevel};
use crate::approval::evaluate::{evaluate, Decision, Evaluation};
use crate::approval::facts::UpdateFacts;
use crate::approval::testdata::{at, now, update, Build};
use serde_json::{json, Value};

const REPORT_UNAPPROVED: crate::approval::ReportUnapproved = crate::approval::ReportUnapproved::All;

fn security_update(product: &str, severity: &str, released: &str) -> UpdateFacts {
    update(released)
        .product(product)
        .classification("SecurityUpdates")
        .severity(severity)
}

fn assert_evaluation(
    evaluation: &Evaluation,
    decision: Decision,
    approval_date: Option<&str>,
    level: ComplianceLevel,
) {
    assert_eq!(evaluation.decision, decision, "{evaluation:?}");
    assert_eq!(evaluation.approval_date, approval_date.map(at), "{evaluation:?}");
    assert_eq!(evaluation.compliance_level, level, "{evaluation:?}");
}

fn state(update: &UpdateFacts, baseline: &Baseline, client: ClientState) -> Option<PatchState> {
    let evaluation = evaluate(update, baseline, now());
    compliance_item(update, &evaluation, client, baseline).map(|item| item.state)
}

/// A valid baseline: one rule with three filters, ready to be broken by T35 (and T28).
fn base_document() -> Value {
    json!({
        "Name": "t35-baseline",
        "OperatingSystem": "WINDOWS",
        "ApprovalRules": {"PatchRules": [{
            "PatchFilterGroup": {"PatchFilters": [
                {"Key": "CLASSIFICATION", "Values": ["SecurityUpdates"]},
                {"Key": "MSRC_SEVERITY", "Values": ["Critical"]},
                {"Key": "PRODUCT", "Values": ["*"]}]},
            "ApproveAfterDays": 7, "ComplianceLevel": "HIGH"}]}
    })
}
