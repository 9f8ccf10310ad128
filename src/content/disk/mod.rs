//! The payload files on disk, keyed by SHA-1 only (never by URL or file name):
//! `<root>/<XX>/<SHA1HEX>`, XX the digest's last byte. A write is a `Partial` in `<root>/tmp`
//! that must be finished: `commit` verifies size, SHA-1 and SHA-256, fsyncs, renames into
//! place and fsyncs the folder, so nothing unverified is ever in a committed place; a dropped
//! handle deletes its partial unless kept for resuming. `open` reconciles what a crash left.
//! Uses `content::{Sha1, PayloadMeta}`, the file names of `content::layout`, `model`'s hex
//! and external crates only.
//!
//! Threading: every file operation of a transfer (resume re-hash, append + hash, verify,
//! fsync, rename) runs as one `spawn_blocking` job, so hashing never runs on the async
//! runtime whatever the chunk size. `open` and `list` walk the tree synchronously (start-up
//! work); `committed_size` and `remove` are one or two syscalls on the caller's thread.
//!
//! `write` holds the verified write handle (`Partial`: temp → verify → fsync → rename),
//! `reconcile` the start-up scan of leftovers (`Reconciled`); this file the shared directory
//! handle, its usage counts and the listing of committed files.

mod reconcile;
mod write;

pub use reconcile::Reconciled;
pub use write::Partial;

use super::layout::{committed_name, partial_name, relative_path, shard_byte, TMP_DIR};
use super::Sha1;
use reconcile::reconcile;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

/// Why a payload file could not be written, verified or read.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// A file operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The written bytes hash to other digests than the metadata gives.
    #[error(
        "payload {sha1_expected} has SHA-1 {sha1_actual} and SHA-256 {sha256_actual} \
         (expected SHA-256 {})",
        .sha256_expected.as_deref().unwrap_or("not given")
    )]
    DigestMismatch {
        /// The SHA-1 the metadata gives, upper-case hex.
        sha1_expected: String,
        /// The SHA-1 of the bytes written, upper-case hex.
        sha1_actual: String,
        /// The SHA-256 the metadata gives, upper-case hex; `None` when it gives none.
        sha256_expected: Option<String>,
        /// The SHA-256 of the bytes written, upper-case hex.
        sha256_actual: String,
    },
    /// The written file's length differs from the metadata's size.
    #[error("payload {sha1} is {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The payload's SHA-1, upper-case hex.
        sha1: String,
        /// Bytes the metadata gives.
        expected: u64,
        /// Bytes written.
        actual: u64,
    },
    /// A chunk would grow the file past the metadata's size; refused before writing.
    #[error("payload {sha1}: refusing to grow to {would_be} bytes, expected {expected}")]
    Overrun {
        /// The payload's SHA-1, upper-case hex.
        sha1: String,
        /// Bytes the metadata gives.
        expected: u64,
        /// Bytes the file would have after the chunk.
        would_be: u64,
    },
    /// Another handle is already writing this payload (one writer per file).
    #[error("payload {sha1} is already being written")]
    Busy {
        /// The payload's SHA-1, upper-case hex.
        sha1: String,
    },
    /// An earlier write on this handle failed or was cancelled; the handle is unusable.
    #[error("payload {sha1}: an earlier write on this handle failed or was cancelled")]
    Interrupted {
        /// The payload's SHA-1, upper-case hex.
        sha1: String,
    },
}

impl DiskError {
    /// The bytes were wrong (size or digest): the source's fault, not the disk's.
    pub fn is_bad_payload(&self) -> bool {
        matches!(
            self,
            DiskError::DigestMismatch { .. } | DiskError::SizeMismatch { .. } | DiskError::Overrun { .. }
        )
    }
}

trait At<T> {
    /// Names the file an I/O error is about.
    fn at(self, path: &Path) -> Result<T, DiskError>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, DiskError> {
        self.map_err(|source| DiskError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// A cheap-clone handle to the content root.
#[derive(Debug, Clone)]
pub struct ContentDir {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    tmp: PathBuf,
    /// Digests with a live `Partial` (or one of its jobs still running): one writer per file.
    /// std `Mutex`: held for a set insert or remove, never across an await.
    writing: Mutex<HashSet<Sha1>>,
    /// Serialises "stat, then rename or unlink" of committed files with the usage update, so
    /// each file is counted once. Held across those syscalls only, on a blocking thread or in
    /// `remove`, never across an await.
    namespace: Mutex<()>,
    usage: Mutex<Usage>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    files: u64,
    bytes: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ContentDir {
    /// Creates `<root>` and `<root>/tmp` and reconciles leftovers: a `tmp/<SHA1HEX>.partial`
    /// is kept when `known_size` still knows the digest and the partial is no longer than
    /// that; a committed file is kept when its name is 40 upper-case hex digits, it sits in
    /// the right shard and `known_size` gives its length. Everything else in `tmp/` and the
    /// shards is deleted. Sizes are checked, contents are not re-hashed (they were verified
    /// before the rename).
    pub fn open(
        root: &Path,
        known_size: impl Fn(&Sha1) -> Option<u64>,
    ) -> Result<(ContentDir, Reconciled), DiskError> {
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp).at(&tmp)?;
        let report = reconcile(root, &tmp, &known_size)?;
        let usage = Usage {
            files: report.files,
            bytes: report.bytes,
        };
        let shared = Shared {
            root: root.to_path_buf(),
            tmp,
            writing: Mutex::default(),
            namespace: Mutex::default(),
            usage: Mutex::new(usage),
        };
        let dir = ContentDir {
            shared: Arc::new(shared),
        };
        Ok((dir, report))
    }

    /// Creates `<root>/tmp` and writes and removes an empty file there: whether payloads can
    /// be written at all (a read-only mount or another owner cannot), checked before the
    /// daemon starts. An empty file takes no data blocks, so a full disk usually passes.
    pub fn check_writable(root: &Path) -> Result<(), DiskError> {
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp).at(&tmp)?;
        let probe = tmp.join(".write-probe");
        fs::write(&probe, b"").at(&probe)?;
        fs::remove_file(&probe).at(&probe)
    }

    /// The committed file, open for reading, with its metadata: one open (which does not
    /// follow a symbolic link) and one fstat, where `committed_size` then an open would look
    /// the path up twice. `None` when there is no committed regular file.
    pub fn open_committed(&self, sha1: &Sha1) -> Option<(fs::File, fs::Metadata)> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(self.path(sha1))
            .ok()?;
        let meta = file.metadata().ok()?;
        meta.is_file().then_some((file, meta))
    }

    /// Length of the committed file, if there is one.
    pub fn committed_size(&self, sha1: &Sha1) -> Option<u64> {
        committed_len(&self.path(sha1))
    }

    /// Where the partial of a transfer in progress lives (for serving arrived bytes before
    /// the whole file is verified, when configured to).
    pub fn partial_path(&self, sha1: &Sha1) -> PathBuf {
        self.shared.root.join(TMP_DIR).join(partial_name(sha1))
    }

    /// Where the committed file lives, built from the digest alone.
    pub fn path(&self, sha1: &Sha1) -> PathBuf {
        self.shared.root.join(relative_path(sha1))
    }

    /// Deletes the committed file. Returns whether there was one.
    pub fn remove(&self, sha1: &Sha1) -> Result<bool, DiskError> {
        let path = self.path(sha1);
        let _namespace = lock(&self.shared.namespace);
        let Some(size) = committed_len(&path) else {
            return Ok(false);
        };
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error).at(&path),
        }
        let mut usage = lock(&self.shared.usage);
        usage.files = usage.files.saturating_sub(1);
        usage.bytes = usage.bytes.saturating_sub(size);
        Ok(true)
    }

    /// (files, bytes) committed, kept up to date by commits and removals.
    pub fn usage(&self) -> (u64, u64) {
        let usage = *lock(&self.shared.usage);
        (usage.files, usage.bytes)
    }

    /// Every committed digest with its size and modification time (to rebuild the LRU at
    /// start-up). Misnamed files are skipped; `open` has already removed them.
    pub fn list(&self) -> Result<Vec<(Sha1, u64, SystemTime)>, DiskError> {
        let root = &self.shared.root;
        let mut out = Vec::new();
        for shard in fs::read_dir(root).at(root)? {
            let shard = shard.at(root)?;
            let Some(byte) = shard_byte(&shard.file_name()) else {
                continue;
            };
            if shard.file_type().at(&shard.path())?.is_dir() {
                list_shard(&shard.path(), byte, &mut out)?;
            }
        }
        out.sort_unstable_by_key(|entry| entry.0);
        Ok(out)
    }
}

/// Length of a regular file (symbolic links do not count).
fn committed_len(path: &Path) -> Option<u64> {
    let meta = fs::symlink_metadata(path).ok()?;
    meta.is_file().then_some(meta.len())
}

fn list_shard(shard: &Path, byte: u8, out: &mut Vec<(Sha1, u64, SystemTime)>) -> Result<(), DiskError> {
    for entry in fs::read_dir(shard).at(shard)? {
        let entry = entry.at(shard)?;
        let Some(sha1) = committed_name(&entry.file_name(), byte) else {
            continue;
        };
        let meta = match entry.metadata() {
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            meta => meta.at(&entry.path())?,
        };
        if meta.is_file() {
            out.push((sha1, meta.len(), meta.modified().at(&entry.path())?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
