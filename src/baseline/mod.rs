//! Patch baselines: AWS Systems Manager Patch Manager's Windows baselines adapted to a
//! WSUS-compatible proxy (docs: `baselines.md`). Owns the baseline document model, loading
//! (every AWS JSON form and the proxy's TOML file) with AWS's validation, the pure approval
//! engine, patch groups, and the Patch Manager view of compliance.
//!
//! Everything here is pure: no I/O, time or randomness; `now` and file contents are
//! arguments. Uses only `model` (to read catalog records) and external crates.
//!
//! - `document`: the validated model (`Baseline`, rules, filters, `ProxyExtensions`).
//! - `vocabulary`: AWS property names and the WSUS → AWS tables (classification GUIDs, products).
//! - `parse` / `validate` / `load`: text → raw serde shape → checked model, with field paths.
//! - `facts`: what the engine needs of an update (`UpdateFacts`) and its AWS property view.
//! - `evaluate`: the decision for one update under one baseline at one time.
//! - `groups` / `set`: which baseline a client's `TargetGroup` selects.
//! - `compliance`: patch states and node summaries from decisions and client states.
//! - `predefined`: the AWS predefined Windows baselines.

mod compliance;
mod document;
mod error;
mod evaluate;
mod facts;
mod groups;
mod load;
mod parse;
mod predefined;
mod set;
mod validate;
pub mod vocabulary;

#[cfg(test)]
mod cases;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod testdata;

pub use compliance::{
    compliance_item, summarize, ClientState, ComplianceItem, ItemCompliance, LevelCounts, PatchState,
    PatchSummary,
};
pub use document::{
    Approval, Baseline, ComplianceLevel, ComplianceStatus, Deadline, DeadlineMode, EvaluationSettings,
    FilterKey, MaintenanceWindow, MultiRuleComplianceLevel, PatchFilter, PatchId, PatchRule, ProxyExtensions,
    RejectedPatchesAction, SupersededHandling, WindowMode,
};
pub use error::{BaselineError, Loaded, Problem, Warning, WarningKind};
pub use evaluate::{evaluate, evaluation_epoch, Decision, Evaluation, Offer};
pub use facts::{Category, FactsError, PatchProperties, UpdateFacts};
pub use groups::{PatchGroups, Resolution};
pub use predefined::{predefined, AWS_DEFAULT, AWS_OS, AWS_OS_APPLICATIONS};
pub use set::{Assignment, BaselineSet, GroupRegistration};
