//! wucache — a WSUS replacement for networks without internet access.
//!
//! # Layout
//!
//! Lowest layer first: a module uses only modules listed before it (the `layout` integration
//! test reads every `crate::` path and fails on one that points later in this list).
//!
//! - `model`: plain data — update identities, indexed revisions, files, digests, deployment
//!   actions, hex, "did you mean" for names. Uses nothing.
//! - `bytecache`: a cache bounded by bytes with CLOCK eviction, the one rule of every cache
//!   of derived answer bytes. Uses nothing.
//! - `config`: the TOML configuration, defaults, validation. Uses nothing.
//! - `shutdown`: the one shutdown signal. Uses nothing.
//! - `stats`: counters (atomics) for metrics. Uses nothing.
//! - `admission`: what the HTTP front lets in — connections overall and per address, SOAP
//!   body memory, SOAP workers, which downstream servers may sync. Uses `config`.
//! - `gpo`: the client-side Group Policy settings as `.reg` and PowerShell text. Uses nothing.
//! - `protocol`: wire formats, pure — XML reading and escaping, SOAP framing and faults,
//!   MS-WUSP messages, MS-WSUSSS as the downstream asks it and as the upstream answers it,
//!   update documents and their fragments, compressed blobs (read and written), Xpress.
//!   Uses `model`.
//! - `catalog`: pure multi-document rules (products/classifications, bundle inheritance,
//!   configured names → ids, with other names passed in by the caller). Uses `model`.
//! - `approval`: what a client is offered — Patch Manager baselines (document model, TOML and
//!   AWS JSON loading with field-path errors), the pure engine, patch groups, install
//!   override lists, maintenance windows (schedules, gate, deadlines), the engine's facts for a
//!   catalog, the `Offer` and `PolicyOffers`, compliance, guardrails. Uses `model`.
//! - `plan`: the catalog graph, a baseline's deployments, the staged SyncUpdates algorithm;
//!   pure. Uses `model`, `approval`.
//! - `fleet`: what machines reported — per-machine update states folded from their events,
//!   Patch Manager compliance per machine and per patch group; pure. Uses `model`,
//!   `protocol`, `approval`.
//! - `cookie`: client cookies sealed with AES-256-GCM; pure. Uses nothing.
//! - `cert`: TLS server certificates — the `[tls]` PEM chain and key loaded and checked
//!   against each other, the rustls resolver that swaps them on reload, trial CA and server
//!   certificates (rcgen). Uses nothing.
//! - `store`: the sled catalog store, the documents file beside it (sled holds pointers into
//!   it) and the catalog image `serve` starts from (checksummed, stamped with the store
//!   generation); the only module that names sled. Uses `model`,
//!   `protocol` (a document stored as the upstream's cabinet is read back as XML), `catalog`,
//!   `fleet` (a machine's folded status, stored compact).
//! - `fragments`: the fragment cache — Core, Extended, LocalizedProperties and Eula
//!   fragments derived once from the stored documents and held escaped and LZ4-compressed
//!   (a read decompresses them, ready to write) in one cache bounded by bytes (CLOCK
//!   eviction) that outlives snapshots; warmed in the background. Uses `bytecache`,
//!   `protocol`, `store`.
//! - `listing`: the catalog as `updates` and `/api/v1/updates` list it, with a baseline's
//!   decisions. Uses `model`, `approval`.
//! - `content`: the payload cache on disk — ranges, layout, eviction (pure), verified writes,
//!   single-flight transfers, prefetch runner; fetches through its `Fetch` trait, never
//!   through `upstream`. Uses `model`, `stats`, `shutdown`.
//! - `snapshot`: the served catalog, frozen per sync or epoch: records, graph, one scope per
//!   baseline in use, file index, Core fragment cache, each baseline's decisions for
//!   compliance. Uses `model`, `protocol`, `approval`, `fleet`, `plan`, `store`, `content`.
//! - `compliance`: the fleet as the admin API and CLI show it — computers with their patch
//!   group, baseline and Patch Manager summary, per-update states, group states, CSV. Uses
//!   `approval`, `fleet`, `snapshot`, `store`.
//! - `explain`: why a machine is or is not offered an update — its patch group and
//!   baseline, the engine's decision and what decided it, supersedence, the served offer,
//!   what the machine reported. Uses `approval`, `model`, `fleet`, `snapshot`, `store`,
//!   `compliance`.
//! - `upstream`: HTTP transport (straight or through the egress proxy), the authorized
//!   MS-WSUSSS session with retries, the sync run, payload fetching (implements
//!   `content::Fetch`). Uses `model`, `config`, `protocol`, `catalog`, `approval` (the AWS
//!   names `[sync]` may use), `store`, `content`.
//! - `bundle`: air-gap bundles — `export` writes the documents, payloads and a SHA-256
//!   manifest (optionally Ed25519-signed) of a scope; `import` checks a bundle whole, then
//!   stores it resumably through the sync's document path and the cache's verified writes.
//!   Uses `model`, `approval`, `plan`, `store`, `content`, `snapshot`, `upstream`.
//! - `app`: wiring — the shared `App` of handles built from the config; reads the baseline
//!   file. Uses the modules above.
//! - `worker`: the background workers (catalog load and sync loop, prefetch and clean-up,
//!   epoch and window-boundary re-plan, a replica's adoption of its hub's baselines). Uses
//!   `app` and below.
//! - `server`: the HTTP front — listeners (plain or TLS), client routes, the MS-WUSP SOAP
//!   services, Xpress answers shared across clients (block frames and whole answers kept
//!   compressed, the cookie framed apart), the MS-WSUSSS services for downstream servers and
//!   the replica baselines route, the payload route (plain-HTTP hits by sendfile on one
//!   single-threaded lane per core), the admin API, metrics. Uses `app` and below.
//! - `daemon`: `serve` as a value (start/stop) for the CLI and tests. Uses `content`, `app`,
//!   `worker`, `server`.
//! - `cli`: commands, progress bars, tables; the only place that prints. Uses everything.
//!
//! Test support (a synthetic catalog generator and a fake MS-WSUSSS upstream on loopback)
//! is the separate `wucache-testkit` crate in `testkit/`, a dev-dependency only.
#![forbid(unsafe_code)]

mod admission;
pub mod app;
pub mod approval;
pub mod bundle;
pub mod bytecache;
mod catalog;
pub mod cert;
pub mod cli;
mod compliance;
pub mod config;
pub mod content;
mod cookie;
pub mod daemon;
mod explain;
mod fleet;
pub mod fragments;
mod gpo;
mod listing;
pub mod model;
pub mod plan;
pub mod protocol;
pub mod server;
mod shutdown;
pub mod snapshot;
mod stats;
pub mod store;
pub mod upstream;
pub mod worker;
