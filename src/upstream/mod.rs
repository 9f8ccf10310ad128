//! The upstream side: HTTP transport (straight or through the egress proxy), the authorized
//! MS-WSUSSS session, and the sync run that mirrors metadata into the store, and payload
//! fetching (`payload` implements `content::Fetch`). Uses `model`, `config`, `protocol`, `catalog`, `store`, `content`.

mod ingest;
pub mod mirror;
pub mod payload;
pub mod proxy;
pub mod session;
pub mod transport;
mod tunnel;

pub use mirror::{
    replica_incoming, run as run_sync, Phase, Progress, Quiet, SyncChange, SyncError, SyncSummary,
};
