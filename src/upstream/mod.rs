//! The upstream side: HTTP transport, the authorized MS-WSUSSS session, and the sync run
//! that mirrors metadata into the store. Uses `protocol`, `catalog`, `store`, `config`,
//! `model`; nothing above it.

pub mod mirror;
pub mod payload;
pub mod session;
pub mod transport;

pub use mirror::{run as run_sync, Phase, Progress, Quiet, SyncError, SyncSummary};
