//! The start-up reconciliation of what a crash or an older catalog left below the content
//! root: resumable partials kept, malformed, misplaced, wrongly sized or unknown files
//! deleted, foreign top-level entries left alone, all of it reported. Uses `disk`'s error
//! and `content::layout`'s names.

use super::{At, DiskError};
use crate::content::layout::{committed_name, decode_upper_hex, shard_byte, PARTIAL_SUFFIX, TMP_DIR};
use crate::content::Sha1;
use std::fs::{self, FileType};
use std::path::{Path, PathBuf};

/// What `open` found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Resumable partials kept in `tmp/`, with their length so far.
    pub partials: Vec<(Sha1, u64)>,
    /// Deleted: malformed or misplaced names, wrong sizes, unknown digests, strays in `tmp/`.
    pub removed: Vec<PathBuf>,
    /// Top-level entries that are neither `tmp/` nor a shard folder, left alone: a root
    /// pointed at the wrong directory must not cost its contents.
    pub ignored: Vec<PathBuf>,
    /// Committed files kept, and their bytes.
    pub files: u64,
    pub(crate) bytes: u64,
}

/// The start-up scan `ContentDir::open` runs once `tmp` exists (the rules are on `open`).
pub(super) fn reconcile(
    root: &Path,
    tmp: &Path,
    known_size: &impl Fn(&Sha1) -> Option<u64>,
) -> Result<Reconciled, DiskError> {
    let mut report = Reconciled::default();
    reconcile_tmp(tmp, known_size, &mut report)?;
    for entry in fs::read_dir(root).at(root)? {
        let entry = entry.at(root)?;
        let path = entry.path();
        let kind = entry.file_type().at(&path)?;
        match shard_byte(&entry.file_name()) {
            Some(byte) if kind.is_dir() => reconcile_shard(&path, byte, known_size, &mut report)?,
            _ if entry.file_name() == TMP_DIR => {}
            _ => report.ignored.push(path),
        }
    }
    report.partials.sort_unstable();
    report.removed.sort_unstable();
    report.ignored.sort_unstable();
    Ok(report)
}

fn reconcile_tmp(
    tmp: &Path,
    known_size: &impl Fn(&Sha1) -> Option<u64>,
    report: &mut Reconciled,
) -> Result<(), DiskError> {
    for entry in fs::read_dir(tmp).at(tmp)? {
        let entry = entry.at(tmp)?;
        let path = entry.path();
        let kind = entry.file_type().at(&path)?;
        let digest = entry
            .file_name()
            .to_str()
            .and_then(|name| name.strip_suffix(PARTIAL_SUFFIX))
            .and_then(decode_upper_hex::<20>);
        let resumable = match digest {
            Some(sha1) if kind.is_file() => {
                let len = entry.metadata().at(&path)?.len();
                known_size(&sha1)
                    .is_some_and(|size| len <= size)
                    .then_some((sha1, len))
            }
            _ => None,
        };
        match resumable {
            Some(partial) => report.partials.push(partial),
            None => delete(path, kind, report)?,
        }
    }
    Ok(())
}

fn reconcile_shard(
    shard: &Path,
    byte: u8,
    known_size: &impl Fn(&Sha1) -> Option<u64>,
    report: &mut Reconciled,
) -> Result<(), DiskError> {
    for entry in fs::read_dir(shard).at(shard)? {
        let entry = entry.at(shard)?;
        let path = entry.path();
        let kind = entry.file_type().at(&path)?;
        let len = match committed_name(&entry.file_name(), byte) {
            Some(sha1) if kind.is_file() => {
                let len = entry.metadata().at(&path)?.len();
                (known_size(&sha1) == Some(len)).then_some(len)
            }
            _ => None,
        };
        match len {
            Some(len) => {
                report.files += 1;
                report.bytes += len;
            }
            None => delete(path, kind, report)?,
        }
    }
    Ok(())
}

fn delete(path: PathBuf, kind: FileType, report: &mut Reconciled) -> Result<(), DiskError> {
    let result = if kind.is_dir() {
        fs::remove_dir_all(&path)
    } else {
        fs::remove_file(&path)
    };
    result.at(&path)?;
    report.removed.push(path);
    Ok(())
}
