//! wucache — WSUS replacement for isolated networks.
#![forbid(unsafe_code)]

pub mod config;
pub mod model;
pub mod protocol;
pub mod testkit;
