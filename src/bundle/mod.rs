//! Air-gap bundles: `wucache export` writes the catalog (or what one patch group or baseline
//! is offered) with its payloads into a folder that can be carried across; `wucache import`
//! checks it whole and brings it into another server's data directory, where clients see the
//! same updates as on the exporting side. Uses `model`, `approval`, `plan`, `store`,
//! `content`, `snapshot`, `upstream` (the document → record path of the sync).
//!
//! A bundle folder:
//!
//! ```text
//! manifest.json                       format, version, created, source catalog id, scope,
//!                                     base (incremental), every file's path, kind, size, SHA-256
//! manifest.sig                        optional: Ed25519 over manifest.json's exact bytes (hex)
//! documents/<UpdateID>.<rev>.xml      update documents as the upstream sent them
//! content/<SHA1HEX>.<ext>             payloads as cached
//! ```
//!
//! - `scope`: which revisions and payloads (the server's own decisions).
//! - `manifest`: the manifest's shape and the parsing that keeps hostile paths out (pure).
//! - `sign`: keys and signatures (ring Ed25519).
//! - `export`: writing a bundle from the store and the content cache, full or `--since` an
//!   earlier one.
//! - `import`: verifying everything, then storing documents and payloads, resumably.

mod export;
mod import;
pub mod manifest;
mod scope;
pub mod sign;

pub use export::{export, ExportOptions, ExportSummary};
pub use import::{import, ImportOptions, ImportSummary, SignaturePolicy};
pub use scope::{select, Scope, Selection};

use crate::content::disk::DiskError;
use crate::store::StoreError;
use std::path::PathBuf;

/// Why an export or import stopped.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file or folder could not be read or written (ours, not the bundle's content).
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The catalog store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The payload cache could not take a payload.
    #[error("content cache: {0}")]
    Content(#[from] DiskError),
    /// What to export cannot be decided (an unknown baseline, no baseline file).
    #[error("{0}")]
    Scope(String),
    /// The export cannot be written as asked.
    #[error("export: {0}")]
    Export(String),
    /// The import stopped part-way (what was stored stays; a re-run finishes it).
    #[error("import: {0}")]
    Import(String),
    /// A key file is unusable.
    #[error("{}: {source}", .path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        source: sign::KeyError,
    },
    /// The bundle failed a check before anything was imported; `file` is the first bad one.
    #[error("bundle {}: {file}: {problem}; nothing was imported", .bundle.display())]
    Refused {
        /// The bundle folder.
        bundle: PathBuf,
        /// The first bad file, as a path inside the bundle.
        file: String,
        /// What is wrong, and whose doing it likely is.
        problem: String,
    },
    /// The bundle is signed but no key was given to check it.
    #[error("bundle {} is signed ({}): pass --verify-key FILE with the exporter's public key, or --no-verify to rely on its SHA-256 manifest alone; nothing was imported", .0.display(), manifest::SIGNATURE_FILE)]
    SignedWithoutKey(PathBuf),
    /// An incremental bundle whose base this data directory has not imported.
    #[error("bundle {} builds on the bundle exported {created} (manifest SHA-256 {sha256}), which was not imported here; import that one first, or pass --without-base if this catalog already holds it; nothing was imported", .bundle.display())]
    BaseMissing {
        /// The bundle folder.
        bundle: PathBuf,
        /// When the base was exported.
        created: String,
        /// The base's manifest SHA-256.
        sha256: String,
    },
}

/// The stages export and import report progress for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Checking every file of the bundle against the manifest (import).
    Checking,
    /// Writing or storing update documents.
    Documents,
    /// Copying payloads.
    Payloads,
}

impl Step {
    /// The step's name for progress lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Checking => "checking",
            Step::Documents => "documents",
            Step::Payloads => "payloads",
        }
    }
}

/// Receives progress: the CLI draws a bar, tests ignore it.
pub trait Progress: Send + Sync {
    /// A step starts with `total` items.
    fn step(&self, step: Step, total: u64);
    /// `n` more items of the current step are done.
    fn advance(&self, n: u64);
}

/// Progress that goes nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn step(&self, _: Step, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// `Io` for a path.
fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}
