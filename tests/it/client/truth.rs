//! What a client must be sent, worked out from the synthetic catalog's own facts (its `SynthDoc`s
//! and the documents' relationships as the test kit reads them), never from the server: MS-WUSP's
//! deployment rules stated once, as expectations.
//!
//! - Only the newest revision of an update counts.
//! - A top-level update (software or bundle that no bundle contains) is sent as the policy
//!   decides: `Install` (approved), `PreDeploymentCheck` (known, not approved) or not at all.
//! - The members of a sent bundle are sent as `Bundle`.
//! - Every category (company, product family, product, classification) is sent as `Evaluate`,
//!   and so is everything that what is sent needs as a prerequisite (detectoids), recursively.
//! - A revision is a leaf when no document in the catalog names it as a prerequisite.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use uuid::Uuid;
use wucache_testkit::facts::{read_update, UpdateFacts};
use wucache_testkit::synth::{SynthCatalog, SynthDoc, SynthKind};
use wucache_testkit::wua::Action;

pub(super) struct Truth<'a> {
    /// The newest revision of every update.
    pub newest: BTreeMap<Uuid, &'a SynthDoc>,
    facts: HashMap<Uuid, UpdateFacts>,
    /// Every id some document names as a prerequisite.
    non_leaves: BTreeSet<Uuid>,
}

impl<'a> Truth<'a> {
    pub(super) fn new(catalog: &'a SynthCatalog) -> Truth<'a> {
        let mut newest: BTreeMap<Uuid, &SynthDoc> = BTreeMap::new();
        for doc in &catalog.docs {
            let entry = newest.entry(doc.update_id).or_insert(doc);
            if doc.revision > entry.revision {
                *entry = doc;
            }
        }
        let facts = newest
            .iter()
            .map(|(id, doc)| (*id, read_update(&doc.xml).expect("synthetic documents read")))
            .collect();
        let mut truth = Truth {
            newest,
            facts,
            non_leaves: BTreeSet::new(),
        };
        truth.non_leaves = truth
            .newest
            .keys()
            .flat_map(|id| truth.prerequisites(id))
            .collect();
        truth
    }

    /// Updates some bundle contains.
    pub(super) fn members(&self) -> BTreeSet<Uuid> {
        self.newest
            .values()
            .flat_map(|d| d.bundled.iter().copied())
            .collect()
    }

    /// Software updates and bundles no bundle contains: what a policy decides about.
    pub(super) fn top_level(&self) -> Vec<&'a SynthDoc> {
        let members = self.members();
        self.newest
            .values()
            .copied()
            .filter(|d| {
                matches!(d.kind, SynthKind::Software | SynthKind::Bundle) && !members.contains(&d.update_id)
            })
            .collect()
    }

    /// Updates that an unexpired top-level update's newest revision lists as superseded.
    pub(super) fn superseded(&self) -> BTreeSet<Uuid> {
        self.top_level()
            .into_iter()
            .filter(|d| !d.expired)
            .flat_map(|d| d.superseded.iter().copied())
            .collect()
    }

    /// What a client without a baseline file is offered for install: the top-level updates
    /// that are neither expired nor superseded by an unexpired update.
    pub(super) fn current(&self) -> BTreeSet<Uuid> {
        let superseded = self.superseded();
        self.top_level()
            .into_iter()
            .filter(|d| !d.expired && !superseded.contains(&d.update_id))
            .map(|d| d.update_id)
            .collect()
    }

    /// Everything a prerequisite clause of `id` names.
    fn prerequisites(&self, id: &Uuid) -> Vec<Uuid> {
        let facts = &self.facts[id];
        let clauses = facts.category_clauses.iter().chain(&facts.plain_clauses);
        facts.prerequisites.iter().chain(clauses).copied().collect()
    }

    /// Whether no document names `id` as a prerequisite.
    pub(super) fn is_leaf(&self, id: &Uuid) -> bool {
        !self.non_leaves.contains(id)
    }

    /// The action every update must be sent with under `decide` (the policy for top-level
    /// updates); updates not sent are absent.
    pub(super) fn scope(&self, decide: impl Fn(&SynthDoc) -> Option<Action>) -> BTreeMap<Uuid, Action> {
        let mut scope: BTreeMap<Uuid, Action> = self
            .top_level()
            .into_iter()
            .filter_map(|doc| decide(doc).map(|action| (doc.update_id, action)))
            .collect();
        let mut bundles: VecDeque<Uuid> = scope.keys().copied().collect();
        while let Some(bundle) = bundles.pop_front() {
            for member in &self.newest[&bundle].bundled {
                if add(&mut scope, *member, Action::Bundle) {
                    bundles.push_back(*member);
                }
            }
        }
        for doc in self.newest.values() {
            let category = matches!(
                doc.kind,
                SynthKind::Company
                    | SynthKind::ProductFamily
                    | SynthKind::Product
                    | SynthKind::Classification
            );
            if category {
                scope.entry(doc.update_id).or_insert(Action::Evaluate);
            }
        }
        let mut needing: VecDeque<Uuid> = scope.keys().copied().collect();
        while let Some(id) = needing.pop_front() {
            for needed in self.prerequisites(&id) {
                if add(&mut scope, needed, Action::Evaluate) {
                    needing.push_back(needed);
                }
            }
        }
        scope
    }

    /// The KB of a document as baselines write it (`KB` and the digits).
    pub(super) fn kb(doc: &SynthDoc) -> Option<String> {
        doc.kb
            .as_ref()
            .map(|kb| format!("KB{}", kb.trim_start_matches("KB")))
    }
}

/// Gives `id` the `action` unless it already has one (its own deployment beats `Bundle`, which
/// beats `Evaluate`); returns whether it was added.
fn add(scope: &mut BTreeMap<Uuid, Action>, id: Uuid, action: Action) -> bool {
    match scope.entry(id) {
        Entry::Vacant(slot) => {
            slot.insert(action);
            true
        }
        Entry::Occupied(_) => false,
    }
}

/// The policy without a baseline file: every update that is neither expired nor superseded by
/// an unexpired update is approved.
pub(super) fn everything_current<'t>(truth: &'t Truth<'_>) -> impl Fn(&SynthDoc) -> Option<Action> + 't {
    let superseded = truth.superseded();
    move |doc| (!doc.expired && !superseded.contains(&doc.update_id)).then_some(Action::Install)
}

/// A baseline that explicitly approves `kbs`, offers superseded updates and reports the others:
/// approved → Install, other unexpired → PreDeploymentCheck, expired → not sent.
pub(super) fn approving(kbs: &BTreeSet<String>) -> impl Fn(&SynthDoc) -> Option<Action> + '_ {
    move |doc| match doc.expired {
        true => None,
        false if Truth::kb(doc).is_some_and(|kb| kbs.contains(&kb)) => Some(Action::Install),
        false => Some(Action::PreDeploymentCheck),
    }
}

/// Like [`approving`], for a baseline that does not report unapproved updates (not sent).
pub(super) fn approving_only(kbs: &BTreeSet<String>) -> impl Fn(&SynthDoc) -> Option<Action> + '_ {
    move |doc| approving(kbs)(doc).filter(|action| *action == Action::Install)
}

/// Asserts that update → action maps are equal, naming only the updates where they differ.
#[track_caller]
pub(super) fn assert_actions(actual: &BTreeMap<Uuid, Action>, expected: &BTreeMap<Uuid, Action>) {
    let ids: BTreeSet<&Uuid> = actual.keys().chain(expected.keys()).collect();
    let differences: Vec<String> = ids
        .into_iter()
        .filter(|id| actual.get(id) != expected.get(id))
        .map(|id| format!("{id}: sent {:?}, expected {:?}", actual.get(id), expected.get(id)))
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} updates differ, e.g.:\n{}",
        differences.len(),
        expected.len(),
        differences[..differences.len().min(12)].join("\n")
    );
}
