//! Planning what a client is sent, pure: the catalog graph (`graph`), a baseline's
//! deployments from its offers (`scope`), and the staged SyncUpdates algorithm (`staged`).
//! Uses `model` and `approval`; no wire format, no store, no I/O.

pub mod graph;
pub mod scope;
pub mod staged;

pub use graph::{Graph, Node, NodeId};
pub use scope::{plan, Planned, Scope, ScopeEntry};
