//! Patch Manager compliance for machines and patch groups (docs/baselines.md §5): every
//! top-level update the machine's baseline evaluates, paired with the state the machine
//! reported for it, becomes a compliance item (`approval::compliance_item`, the §5.3
//! mapping); a machine's items sum to its `PatchSummary`, and a group's machines to the
//! `DescribePatchGroupState` counters. Pure.

use super::status::MachineStatus;
use crate::approval::{
    compliance_item_of, evaluate, evaluate_without_baselines, is_security, predefined, summarize, Baseline,
    ComplianceItem, ComplianceStatus, Evaluation, PatchSummary, UpdateFacts, Verdict,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Where each top-level update of a catalog is in its facts list: what decisions keep of
/// the facts once they are evaluated.
#[derive(Debug, Default)]
pub struct UpdateIndex {
    ids: Vec<Uuid>,
    positions: HashMap<Uuid, u32>,
}

impl UpdateIndex {
    fn of(facts: &[UpdateFacts]) -> UpdateIndex {
        let ids: Vec<Uuid> = facts.iter().map(|f| f.update_id).collect();
        let positions = ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
        UpdateIndex { ids, positions }
    }

    /// Where the update is in the list.
    pub fn position(&self, update_id: &Uuid) -> Option<usize> {
        self.positions.get(update_id).map(|&i| i as usize)
    }

    /// The update at `position`.
    pub fn id(&self, position: usize) -> Uuid {
        self.ids[position]
    }

    /// How many updates.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// No updates.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A catalog's top-level updates with their index: built for one served snapshot while
/// someone needs them (decisions being made, an explanation), not kept beside the decisions.
#[derive(Debug, Default)]
pub struct CatalogFacts {
    facts: Vec<UpdateFacts>,
    index: Arc<UpdateIndex>,
}

impl CatalogFacts {
    /// Indexes `facts` (one per update).
    pub fn new(facts: Vec<UpdateFacts>) -> CatalogFacts {
        let index = Arc::new(UpdateIndex::of(&facts));
        CatalogFacts { facts, index }
    }

    /// The facts of one update.
    pub fn of(&self, update_id: &Uuid) -> Option<&UpdateFacts> {
        self.index.position(update_id).map(|i| &self.facts[i])
    }
}

impl std::ops::Deref for CatalogFacts {
    type Target = [UpdateFacts];

    fn deref(&self) -> &[UpdateFacts] {
        &self.facts
    }
}

/// One baseline's decisions for a catalog at one evaluation time: what compliance is
/// measured against. Built once per served snapshot, shared by every machine on the baseline.
/// Keeps two bytes per update (`Verdict`) and the updates' index, not their facts: a fleet
/// report reads verdicts only, and an explanation works an update's whole `Evaluation` (its
/// reason) out again from its facts.
#[derive(Debug, Clone)]
pub struct Decisions {
    pub baseline: Baseline,
    /// The catalog's top-level updates, shared by every baseline's decisions.
    pub updates: Arc<UpdateIndex>,
    /// When the baseline decided; `None`: no baseline file (`evaluate_without_baselines`).
    at: Option<DateTime<Utc>>,
    /// One verdict per update, in `updates` order.
    verdicts: Vec<Verdict>,
    /// Positions of the approved updates: the only ones that yield an item whatever the
    /// machine reported (any known state, not-applicable included).
    approved: Vec<u32>,
    /// Per update: its classification is one of the baseline's security classifications.
    security: Vec<bool>,
}

impl Decisions {
    /// Evaluates every update under `baseline` at `at`.
    pub fn evaluate(baseline: Baseline, facts: &CatalogFacts, at: DateTime<Utc>) -> Decisions {
        let verdicts = facts
            .iter()
            .map(|f| evaluate(f, &baseline, at).verdict())
            .collect();
        Decisions::new(baseline, facts, Some(at), verdicts)
    }

    fn new(
        baseline: Baseline,
        facts: &CatalogFacts,
        at: Option<DateTime<Utc>>,
        verdicts: Vec<Verdict>,
    ) -> Decisions {
        let approved = (0..verdicts.len() as u32)
            .filter(|&i| verdicts[i as usize].decision.is_approved())
            .collect();
        let security = facts.iter().map(|f| is_security(f, &baseline)).collect();
        Decisions {
            baseline,
            updates: Arc::clone(&facts.index),
            at,
            verdicts,
            approved,
            security,
        }
    }

    /// Without a baseline file every mirrored update that has not expired and that no live
    /// update supersedes is approved (`approval::evaluate_without_baselines`); the carrier
    /// baseline is AWS's default, whose only part used here is its security classifications.
    pub fn without_baselines(facts: &CatalogFacts) -> Decisions {
        let verdicts = facts
            .iter()
            .map(|f| evaluate_without_baselines(f).verdict())
            .collect();
        let baseline = predefined()
            .into_iter()
            .next()
            .expect("AWS predefined baselines are built in");
        Decisions::new(baseline, facts, None, verdicts)
    }

    /// The verdict on the update at `position` in `updates`.
    pub fn verdict(&self, position: usize) -> Verdict {
        self.verdicts[position]
    }

    /// The whole evaluation of `update` (with its reason), worked out again: given the facts
    /// these decisions were made from, the same decision as its verdict.
    pub fn evaluation(&self, update: &UpdateFacts) -> Evaluation {
        match self.at {
            Some(at) => evaluate(update, &self.baseline, at),
            None => evaluate_without_baselines(update),
        }
    }
}

/// One update's compliance item on one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MachineItem {
    pub update_id: Uuid,
    pub item: ComplianceItem,
}

/// A machine's compliance: its items and their summary. A machine that has not reported
/// yet has no items (`reported` false) and is counted apart, never as compliant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MachineCompliance {
    pub reported: bool,
    pub items: Vec<MachineItem>,
    pub summary: PatchSummary,
}

impl MachineCompliance {
    /// `COMPLIANT`, `NON_COMPLIANT`, or `UNKNOWN` for a machine that has not reported.
    pub(crate) fn status_name(&self) -> &'static str {
        match (self.reported, self.summary.status) {
            (false, _) => "UNKNOWN",
            (true, ComplianceStatus::Compliant) => "COMPLIANT",
            (true, ComplianceStatus::NonCompliant) => "NON_COMPLIANT",
        }
    }
}

/// The machine's compliance under `decisions`: the approved updates, then the others the
/// machine names (an unapproved update it does not name yields no item). Costs the approved
/// count plus the machine's lists, not the catalog size.
pub(crate) fn machine_compliance(status: &MachineStatus, decisions: &Decisions) -> MachineCompliance {
    let named = named_positions(status, decisions)
        .into_iter()
        .filter(|&i| !decisions.verdicts[i].decision.is_approved())
        .collect::<Vec<usize>>();
    let items: Vec<MachineItem> = decisions
        .approved
        .iter()
        .map(|&i| i as usize)
        .chain(named)
        .filter_map(|i| item_at(status, decisions, i))
        .collect();
    let summary = summarize(items.iter().map(|m| &m.item));
    MachineCompliance {
        reported: is_reported(status),
        items,
        summary,
    }
}

/// `machine_compliance` without its items, costing only the machine's own lists: an
/// approved update the machine does not name is `NOT_APPLICABLE` when it has reported a
/// status (it was not found applicable) and has no item before that, so those are counted,
/// not walked — the fleet report sums 10,000 machines over a catalog of 50,000 approved
/// updates this way.
pub(crate) fn machine_summary(status: &MachineStatus, decisions: &Decisions) -> MachineCompliance {
    let named = named_positions(status, decisions);
    let items: Vec<MachineItem> = named
        .iter()
        .filter_map(|&i| item_at(status, decisions, i))
        .collect();
    let mut summary = summarize(items.iter().map(|m| &m.item));
    if status.status_at.is_some() {
        let named_approved = named
            .iter()
            .filter(|&&i| decisions.verdicts[i].decision.is_approved())
            .count();
        let not_named = decisions.approved.len() - named_approved;
        summary.not_applicable += u32::try_from(not_named).unwrap_or(u32::MAX);
    }
    MachineCompliance {
        reported: is_reported(status),
        items: Vec::new(),
        summary,
    }
}

/// Positions (in `decisions`) of the updates the machine names: needed, installed, pending
/// reboot or failed; each once, in order.
fn named_positions(status: &MachineStatus, decisions: &Decisions) -> Vec<usize> {
    let mut named: Vec<usize> = status
        .needed
        .iter()
        .chain(&status.installed)
        .chain(status.pending_reboot.keys())
        .chain(status.failed.keys())
        .filter_map(|id| decisions.updates.position(id))
        .collect();
    named.sort_unstable();
    named.dedup();
    named
}

/// The compliance item of the update at position `i` on this machine, if it has one.
fn item_at(status: &MachineStatus, decisions: &Decisions, i: usize) -> Option<MachineItem> {
    let update_id = decisions.updates.id(i);
    let client = status.state_of(&update_id);
    compliance_item_of(
        decisions.security[i],
        decisions.verdicts[i],
        client,
        &decisions.baseline,
    )
    .map(|item| MachineItem { update_id, item })
}

fn is_reported(status: &MachineStatus) -> bool {
    status.status_at.is_some() || !status.failed.is_empty()
}

/// `DescribePatchGroupState`: how many machines of a group have at least one item of each
/// kind, plus the compliant / non-compliant / not-reported split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GroupState {
    pub instances: u32,
    pub instances_with_installed_patches: u32,
    pub instances_with_installed_other_patches: u32,
    pub instances_with_installed_pending_reboot_patches: u32,
    pub instances_with_installed_rejected_patches: u32,
    pub instances_with_missing_patches: u32,
    pub instances_with_failed_patches: u32,
    pub instances_with_not_applicable_patches: u32,
    pub instances_with_unreported_not_applicable_patches: u32,
    pub instances_with_critical_non_compliant_patches: u32,
    pub instances_with_security_non_compliant_patches: u32,
    pub instances_with_other_non_compliant_patches: u32,
    pub instances_with_available_security_updates: u32,
    /// Not in the AWS shape: machines by overall status.
    pub compliant: u32,
    pub non_compliant: u32,
    pub not_reported: u32,
}

impl GroupState {
    /// Counts one machine in.
    pub(crate) fn add(&mut self, machine: &MachineCompliance) {
        let s = &machine.summary;
        let has = |n: u32| u32::from(n > 0);
        self.instances += 1;
        self.instances_with_installed_patches += has(s.installed);
        self.instances_with_installed_other_patches += has(s.installed_other);
        self.instances_with_installed_pending_reboot_patches += has(s.installed_pending_reboot);
        self.instances_with_installed_rejected_patches += has(s.installed_rejected);
        self.instances_with_missing_patches += has(s.missing);
        self.instances_with_failed_patches += has(s.failed);
        self.instances_with_not_applicable_patches += has(s.not_applicable);
        self.instances_with_unreported_not_applicable_patches += has(s.unreported_not_applicable);
        self.instances_with_critical_non_compliant_patches += has(s.critical_non_compliant);
        self.instances_with_security_non_compliant_patches += has(s.security_non_compliant);
        self.instances_with_other_non_compliant_patches += has(s.other_non_compliant);
        self.instances_with_available_security_updates += has(s.available_security_update);
        match machine.status_name() {
            "COMPLIANT" => self.compliant += 1,
            "NON_COMPLIANT" => self.non_compliant += 1,
            _ => self.not_reported += 1,
        }
    }
}

#[cfg(test)]
mod tests;
