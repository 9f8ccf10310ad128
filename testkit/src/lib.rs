//! Test and benchmark support: a synthetic catalog generator, a fake MS-WSUSSS upstream, and the
//! Windows client side of MS-WUSP.
//!
//! # Layout
//!
//! - [`synth`]: deterministic synthetic update catalogs (10 to 100,000 updates) whose documents
//!   have the shape of real WSUS `<upd:Update>` documents, plus the payload bytes behind their
//!   file digests. Pure: no I/O.
//! - [`fake_upstream`]: a real hyper server on loopback speaking MS-WSUSSS SOAP exactly like the
//!   recorded Windows Server 2025 WSUS, with runtime-settable faults and call statistics.
//!   Serves [`synth`] catalogs, the nine real documents in `tests/fixtures/upstream/`, and
//!   synthetic payloads.
//! - [`xml`]: a small prefix-agnostic element tree over quick-xml and text escaping, shared by
//!   both.
//! - [`facts`]: reads the few facts the testkit needs (identity, type, categories, bundle
//!   members, files …) from an update document.
//! - [`wua`]: the Windows client side of MS-WUSP, independent of the server: requests shaped like
//!   the captured Windows 11 ones, an Xpress decoder, and a strict reader of the answers.
//!
//! The testkit uses only external crates, never wucache itself (the compiler enforces it: this
//! crate does not depend on wucache), so it is an independent oracle for the code it tests.

pub mod facts;
pub mod fake_upstream;
pub mod synth;
pub mod wua;
pub mod xml;
