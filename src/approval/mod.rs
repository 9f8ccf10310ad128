//! Approval: what each client is offered. AWS Systems Manager Patch Manager's Windows
//! baselines adapted to a WSUS-compatible server (docs: `docs/baselines.md`): the baseline
//! document model, loading (every AWS JSON form and wucache's TOML file) with AWS's
//! validation, the pure approval engine, patch groups, the engine's facts for a catalog, the
//! `Offer` a decision becomes, and the Patch Manager view of compliance.
//!
//! Everything here is pure: no I/O, time or randomness; `now` and file contents are
//! arguments (the baseline file is read by `app`). Uses only `model`.
//!
//! - `document`: the validated model (`Baseline`, rules, filters, `ProxyExtensions`).
//! - `vocabulary`: AWS property names and the WSUS → AWS tables (classification GUIDs, products).
//! - `parse` / `validate` / `load`: text → raw serde shape → checked model, with field paths.
//! - `facts`: what the engine needs of an update (`UpdateFacts`) and its AWS property view.
//! - `catalog_facts`: `UpdateFacts` for every top-level update of a catalog (product
//!   families from the category chain, successors from supersedence lists).
//! - `evaluate`: the decision for one update under one baseline at one time, and the
//!   `Offer` (Install / detect-only / not sent) it becomes; `evaluate_without_baselines`
//!   without a baseline file.
//! - `groups` / `set`: which baseline a client's `TargetGroup` selects.
//! - `keys`: the keys a document knows where, for "did you mean" on unknown ones.
//! - `guardrails`: warnings about a loaded file alone (window settings) and against a synced
//!   catalog (values nothing has, OS-only rules beside application updates, supersedence gaps).
//! - `compliance`: patch states and node summaries from decisions and client states.
//! - `predefined`: the AWS predefined Windows baselines.
//! - `sync_names`: the AWS names `[sync] products` / `classifications` may use, with the
//!   category ids each stands for (`upstream` passes them to `catalog`).

mod catalog_facts;
mod compliance;
mod document;
mod error;
mod evaluate;
mod facts;
mod groups;
mod guardrails;
mod keys;
mod load;
mod parse;
mod predefined;
mod set;
mod sync_names;
mod validate;
pub mod vocabulary;
mod windows;

#[cfg(test)]
mod cases;
#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod testdata;

pub use catalog_facts::{catalog_facts, facts_without_successors, first_title, CatalogOffers};
pub use compliance::{
    compliance_item, compliance_item_of, is_security, summarize, ClientState, ComplianceItem, ItemCompliance,
    LevelCounts, PatchState, PatchSummary,
};
pub use document::{
    Approval, Baseline, ComplianceLevel, ComplianceStatus, Deadline, DeadlineMode, EvaluationSettings,
    FilterKey, MaintenanceWindow, MultiRuleComplianceLevel, PatchFilter, PatchId, PatchRule, ProxyExtensions,
    RejectedPatchesAction, ReportUnapproved, SupersededHandling, WindowMode,
};
pub use error::{BaselineError, Loaded, Problem, Warning, WarningKind};
pub use evaluate::{
    evaluate, evaluate_without_baselines, evaluation_epoch, DecidedBy, Decision, Evaluation, Offer, Verdict,
};
pub use facts::{Category, FactsError, PatchProperties, UpdateFacts};
pub use groups::{PatchGroups, Resolution};
pub use guardrails::{catalog_warnings, document_warnings, Guardrail};
pub use predefined::{predefined, AWS_DEFAULT, AWS_OS, AWS_OS_APPLICATIONS};
pub use set::{Assignment, BaselineSet, GroupRegistration};
pub use sync_names::sync_aliases;
pub use windows::{CompiledWindow, GateState, PolicyOffers, WindowPlan};
