//! What the benchmarks share: setting up what they measure (`setup`: the synthetic catalog on
//! the fake upstream, the daemon's configuration and mirror, named runtimes, sizes from the
//! environment; `fleet`: registered machines and a baseline file), starting `serve` as a child
//! and watching it until `/ready` (`serve`), reading this process's and its children's CPU and
//! memory from `/proc` (`proc_stats`), and summarising timings (`timings`). Uses the library's
//! public API and the test kit.
//!
//! Each benchmark is its own crate and includes this module (`mod support;`, or with a
//! `#[path]` from a benchmark's folder); `benches/support/mod.rs` is not a benchmark itself.

// Each benchmark uses only part of this module.
#![allow(dead_code)]

pub(crate) mod fleet;
pub(crate) mod proc_stats;
pub(crate) mod serve;
pub(crate) mod setup;
pub(crate) mod timings;
