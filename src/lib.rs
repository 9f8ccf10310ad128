//! wucache — a WSUS replacement for networks without internet access.
//!
//! # Layout
//!
//! Dependencies point down this list only; nothing imports a module above it.
//!
//! - `model`: plain data (update identities, indexed revisions, files). Uses nothing.
//! - `config`: the TOML configuration, defaults, validation. Uses nothing.
//! - `shutdown`: the one shutdown signal. Uses nothing.
//! - `stats`: counters (atomics) for metrics and the stats API. Uses nothing.
//! - `protocol`: wire formats, pure — XML tree, SOAP framing and faults, MS-WSUSSS
//!   requests/responses, update documents, compressed blobs. Uses `model`.
//! - `catalog`: pure multi-document rules (products/classifications, bundle inheritance,
//!   configured names → ids). Uses `model`.
//! - `baseline`: Patch Manager baselines — document model, loading (TOML and every AWS
//!   JSON form) with field-path errors, the pure approval engine, patch groups, compliance.
//!   Uses `model`.
//! - `store`: the sled catalog store; the only module that names sled. Uses `model`, `catalog`.
//! - `content`: the payload cache on disk — ranges, layout, eviction (pure), verified writes,
//!   serving; fetches through its `Fetch` trait, never through `upstream`. Uses `model`.
//! - `upstream`: HTTP transport, the authorized MS-WSUSSS session with retries, the sync run.
//!   Uses `protocol`, `catalog`, `store`, `config`, `model`.
//! - `app`: wiring — the shared `App`, the background sync worker. Uses the modules above.
//! - `policy`: baseline files and the engine's facts for a catalog. Uses `baseline`, `model`.
//! - `prefetch`: downloads approved payloads ahead of clients. Uses `content`.
//! - `metrics`: the Prometheus text of the counters. Uses `app`.
//! - `server`: listeners, routing, payload serving, admin endpoints. Uses `app` and below.
//! - `daemon`: `serve` as a value (start/stop) for the CLI and tests. Uses `server`, `app`.
//! - `cli`: commands, progress bars, tables; the only place that prints. Uses everything.
//! - `testkit`: test and benchmark support — a synthetic catalog generator and a fake
//!   MS-WSUSSS upstream on loopback. Uses only external crates (so it is an independent
//!   oracle for the code it tests); never used by the daemon.
#![forbid(unsafe_code)]

pub mod app;
pub mod approval;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod content;
pub mod cookie;
pub mod daemon;
pub mod gpo;
pub mod model;
pub mod plan;

pub mod protocol;
pub mod server;
pub mod shutdown;
pub mod snapshot;
pub mod stats;
pub mod store;
pub mod upstream;
pub mod worker;
