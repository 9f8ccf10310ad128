//! Deciding what a client is sent, pure: the catalog graph (`graph`), a policy group's
//! deployments (`scope`), and the staged SyncUpdates algorithm (`staged`). Uses `model`,
//! `approval` and the MS-WUSP types; no store, no I/O.

pub mod graph;
pub mod scope;
pub mod staged;

pub use graph::{Graph, Node, NodeId};
pub use scope::{plan, Planned, Scope, ScopeEntry};
