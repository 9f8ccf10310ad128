//! The upstream side: HTTP transport, the authorized MS-WSUSSS session, and the sync run
//! that mirrors metadata into the store, and payload fetching (`payload` implements
//! `content::Fetch`). Uses `model`, `config`, `protocol`, `catalog`, `store`, `content`.

pub mod mirror;
pub mod payload;
pub mod session;
pub mod transport;

pub use mirror::{run as run_sync, Phase, Progress, Quiet, SyncChange, SyncError, SyncSummary};
