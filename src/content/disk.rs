//! The payload files on disk, keyed by SHA-1 only (never by URL or file name):
//! `<root>/<XX>/<SHA1HEX>`, XX the digest's last byte. A write is a `Partial` in `<root>/tmp`
//! that must be finished: `commit` verifies size, SHA-1 and SHA-256, fsyncs, renames into
//! place and fsyncs the folder, so nothing unverified is ever in a committed place; a dropped
//! handle deletes its partial unless kept for resuming. `open` reconciles what a crash left.
//! Uses `content::{Sha1, PayloadMeta}` and `model::hex`.
//!
//! Threading: every file operation of a transfer (resume re-hash, append + hash, verify,
//! fsync, rename) runs as one `spawn_blocking` job, so hashing never runs on the async
//! runtime whatever the chunk size. `open` and `list` walk the tree synchronously (start-up
//! work); `committed_size` and `remove` are one or two syscalls on the caller's thread.

use super::layout::relative_path;
use super::{PayloadMeta, Sha1};
use sha1::Digest;
use sha2::Sha256;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File, FileType, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

const TMP_DIR: &str = "tmp";
const PARTIAL_SUFFIX: &str = ".partial";

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "payload {sha1_expected} has SHA-1 {sha1_actual} and SHA-256 {sha256_actual} \
         (expected SHA-256 {})",
        .sha256_expected.as_deref().unwrap_or("not given")
    )]
    DigestMismatch {
        sha1_expected: String,
        sha1_actual: String,
        sha256_expected: Option<String>,
        sha256_actual: String,
    },
    #[error("payload {sha1} is {actual} bytes, expected {expected}")]
    SizeMismatch {
        sha1: String,
        expected: u64,
        actual: u64,
    },
    #[error("payload {sha1}: refusing to grow to {would_be} bytes, expected {expected}")]
    Overrun {
        sha1: String,
        expected: u64,
        would_be: u64,
    },
    #[error("payload {sha1} is already being written")]
    Busy { sha1: String },
    #[error("payload {sha1}: an earlier write on this handle failed or was cancelled")]
    Interrupted { sha1: String },
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
    pub bytes: u64,
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
        let mut report = Reconciled::default();
        reconcile_tmp(&tmp, &known_size, &mut report)?;
        for entry in fs::read_dir(root).at(root)? {
            let entry = entry.at(root)?;
            let path = entry.path();
            let kind = entry.file_type().at(&path)?;
            match shard_byte(&entry.file_name()) {
                Some(byte) if kind.is_dir() => reconcile_shard(&path, byte, &known_size, &mut report)?,
                _ if entry.file_name() == TMP_DIR => {}
                _ => report.ignored.push(path),
            }
        }
        report.partials.sort_unstable();
        report.removed.sort_unstable();
        report.ignored.sort_unstable();
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

    /// Length of the committed file, if there is one.
    pub fn committed_size(&self, sha1: &Sha1) -> Option<u64> {
        committed_len(&self.path(sha1))
    }

    /// Where the committed file lives, built from the digest alone.
    /// Where the partial of a transfer in progress lives (for serving arrived bytes before
    /// the whole file is verified, when configured to).
    pub fn partial_path(&self, sha1: &Sha1) -> PathBuf {
        self.shared.root.join(TMP_DIR).join(partial_name(sha1))
    }

    pub fn path(&self, sha1: &Sha1) -> PathBuf {
        self.shared.root.join(relative_path(sha1))
    }

    /// Starts writing `meta.sha1`, or resumes a partial left by `keep_for_resume` or a crash:
    /// the partial's bytes are re-read and hashed, and the handle continues at their end (a
    /// partial longer than `meta.size` is started over). Fails with `Busy` while another
    /// handle for the digest is alive.
    pub async fn begin(&self, meta: &PayloadMeta) -> Result<Partial, DiskError> {
        let claim = Arc::new(self.claim(meta.sha1)?);
        let tmp_path = self.shared.tmp.join(partial_name(&meta.sha1));
        let (path, size, hold) = (tmp_path.clone(), meta.size, Arc::clone(&claim));
        let (writer, offset) = blocking(&tmp_path, move || {
            let _hold = hold;
            Writer::resume(&path, size)
        })
        .await?;
        Ok(Partial {
            dir: self.clone(),
            meta: meta.clone(),
            tmp_path,
            claim,
            writer: Some(writer),
            offset,
            settled: false,
        })
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

    fn claim(&self, sha1: Sha1) -> Result<Claim, DiskError> {
        if !lock(&self.shared.writing).insert(sha1) {
            return Err(DiskError::Busy {
                sha1: upper_hex(&sha1),
            });
        }
        Ok(Claim {
            shared: Arc::clone(&self.shared),
            sha1,
        })
    }
}

/// Holds a digest in `Shared::writing` until dropped. Shared (`Arc`) between a `Partial` and
/// its running blocking job, so a handle dropped mid-write keeps the digest claimed until the
/// orphaned job stops touching the file.
#[derive(Debug)]
struct Claim {
    shared: Arc<Shared>,
    sha1: Sha1,
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.shared.writing).remove(&self.sha1);
    }
}

/// An unfinished write of one payload: owns `<root>/tmp/<SHA1HEX>.partial`.
pub struct Partial {
    dir: ContentDir,
    meta: PayloadMeta,
    tmp_path: PathBuf,
    claim: Arc<Claim>,
    /// `None` after a write failed or was cancelled: the handle can only be dropped or kept.
    writer: Option<Writer>,
    offset: u64,
    /// Committed, or kept for resuming: `Drop` leaves the file alone.
    settled: bool,
}

impl fmt::Debug for Partial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partial")
            .field("sha1", &upper_hex(&self.meta.sha1))
            .field("offset", &self.offset)
            .field("size", &self.meta.size)
            .finish()
    }
}

impl Partial {
    /// Bytes written so far, including those of a resumed partial.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Appends `chunk`, hashing it as it goes. A chunk that would take the file past
    /// `meta.size` is refused with `Overrun` and nothing is written.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), DiskError> {
        let would_be = self.offset + chunk.len() as u64;
        if would_be > self.meta.size {
            return Err(DiskError::Overrun {
                sha1: upper_hex(&self.meta.sha1),
                expected: self.meta.size,
                would_be,
            });
        }
        let mut writer = self.writer.take().ok_or_else(|| self.interrupted())?;
        let (data, path, hold) = (chunk.to_vec(), self.tmp_path.clone(), self.hold());
        let writer = blocking(&self.tmp_path, move || {
            let _hold = hold;
            writer.append(&data).at(&path)?;
            Ok(writer)
        })
        .await?;
        self.writer = Some(writer);
        self.offset = would_be;
        Ok(())
    }

    /// Verifies length, SHA-1 and (when the catalog has one) SHA-256, then fsyncs the file,
    /// renames it to `<root>/<XX>/<SHA1HEX>` and fsyncs the folder. On any failure the
    /// partial is deleted; a mismatch names expected and actual digests. An error after the
    /// rename (the folder fsync) leaves the verified file in place.
    pub async fn commit(mut self) -> Result<PathBuf, DiskError> {
        let writer = self.writer.take().ok_or_else(|| self.interrupted())?;
        // From here the job decides the partial's fate, even if this future is dropped.
        self.settled = true;
        let job = Commit {
            shared: Arc::clone(&self.dir.shared),
            meta: self.meta.clone(),
            tmp_path: self.tmp_path.clone(),
            written: self.offset,
            _hold: self.hold(),
        };
        blocking(&self.tmp_path, move || job.run(writer)).await
    }

    /// Leaves the partial on disk for a later `begin` to resume.
    pub fn keep_for_resume(mut self) {
        self.settled = true;
    }

    fn hold(&self) -> Arc<Claim> {
        Arc::clone(&self.claim)
    }

    fn interrupted(&self) -> DiskError {
        DiskError::Interrupted {
            sha1: upper_hex(&self.meta.sha1),
        }
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.settled {
            self.writer = None;
            // Best effort: a leftover is reconciled by the next `open` or resumed by `begin`.
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

/// The open partial and the digests of everything written to it.
struct Writer {
    file: File,
    sha1: sha1::Sha1,
    sha256: Sha256,
}

impl Writer {
    /// Opens (or creates) the partial and hashes what it holds. Returns the writer
    /// positioned at the end, and that length.
    fn resume(path: &Path, size: u64) -> Result<(Writer, u64), DiskError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at(path)?;
        let mut len = file.metadata().at(path)?.len();
        if len > size {
            file.set_len(0).at(path)?;
            len = 0;
        }
        let mut sha1 = sha1::Sha1::new();
        let mut sha256 = Sha256::new();
        let mut hashing = Hashing(&mut sha1, &mut sha256);
        let read = io::copy(&mut (&mut file).take(len), &mut hashing).at(path)?;
        if read < len {
            file.set_len(read).at(path)?;
        }
        file.seek(SeekFrom::Start(read)).at(path)?;
        Ok((Writer { file, sha1, sha256 }, read))
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.sha1.update(data);
        self.sha256.update(data);
        Ok(())
    }
}

/// Feeds bytes to both hashers (the `io::copy` sink of a resume).
struct Hashing<'a>(&'a mut sha1::Sha1, &'a mut Sha256);

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        self.1.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Everything a commit needs on the blocking thread.
struct Commit {
    shared: Arc<Shared>,
    meta: PayloadMeta,
    tmp_path: PathBuf,
    written: u64,
    _hold: Arc<Claim>,
}

impl Commit {
    fn run(self, writer: Writer) -> Result<PathBuf, DiskError> {
        let outcome = self.verify(writer).and_then(|()| self.install());
        if outcome.is_err() {
            let _ = fs::remove_file(&self.tmp_path);
        }
        outcome
    }

    fn verify(&self, writer: Writer) -> Result<(), DiskError> {
        let Writer { file, sha1, sha256 } = writer;
        let on_disk = file.metadata().at(&self.tmp_path)?.len();
        for actual in [self.written, on_disk] {
            if actual != self.meta.size {
                return Err(DiskError::SizeMismatch {
                    sha1: upper_hex(&self.meta.sha1),
                    expected: self.meta.size,
                    actual,
                });
            }
        }
        let sha1_actual: Sha1 = sha1.finalize().into();
        let sha256_actual: [u8; 32] = sha256.finalize().into();
        let sha256_wrong = self.meta.sha256.is_some_and(|sha256| sha256 != sha256_actual);
        if sha1_actual != self.meta.sha1 || sha256_wrong {
            return Err(DiskError::DigestMismatch {
                sha1_expected: upper_hex(&self.meta.sha1),
                sha1_actual: upper_hex(&sha1_actual),
                sha256_expected: self.meta.sha256.map(|sha256| upper_hex(&sha256)),
                sha256_actual: upper_hex(&sha256_actual),
            });
        }
        file.sync_all().at(&self.tmp_path)
    }

    fn install(&self) -> Result<PathBuf, DiskError> {
        let shared = &self.shared;
        let target = shared.root.join(relative_path(&self.meta.sha1));
        let shard = target.parent().unwrap_or(&shared.root);
        let new_shard = !shard.is_dir();
        fs::create_dir_all(shard).at(shard)?;
        {
            let _namespace = lock(&shared.namespace);
            let replaced = committed_len(&target);
            fs::rename(&self.tmp_path, &target).at(&target)?;
            let mut usage = lock(&shared.usage);
            if let Some(old) = replaced {
                usage.files = usage.files.saturating_sub(1);
                usage.bytes = usage.bytes.saturating_sub(old);
            }
            usage.files += 1;
            usage.bytes += self.meta.size;
        }
        sync_dir(shard)?;
        if new_shard {
            sync_dir(&shared.root)?;
        }
        Ok(target)
    }
}

/// Runs file work on the blocking pool; a panicked job becomes an I/O error about `path`.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, DiskError> + Send + 'static,
) -> Result<T, DiskError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(io::Error::other(join)).at(path),
    }
}

fn sync_dir(dir: &Path) -> Result<(), DiskError> {
    File::open(dir).and_then(|dir| dir.sync_all()).at(dir)
}

/// Length of a regular file (symbolic links do not count).
fn committed_len(path: &Path) -> Option<u64> {
    let meta = fs::symlink_metadata(path).ok()?;
    meta.is_file().then_some(meta.len())
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

/// The digest a committed file name stands for, if it is well formed and in shard `byte`.
fn committed_name(name: &OsStr, byte: u8) -> Option<Sha1> {
    let sha1 = decode_upper_hex::<20>(name.to_str()?)?;
    (sha1[19] == byte).then_some(sha1)
}

fn shard_byte(name: &OsStr) -> Option<u8> {
    decode_upper_hex::<1>(name.to_str()?).map(|[byte]| byte)
}

fn partial_name(sha1: &Sha1) -> String {
    format!("{}{PARTIAL_SUFFIX}", upper_hex(sha1))
}

fn upper_hex(bytes: &[u8]) -> String {
    crate::model::hex(bytes).to_ascii_uppercase()
}

/// Exactly `2 * N` upper-case hex digits (the only spelling this module writes).
fn decode_upper_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Deterministic bytes that are not all alike.
    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    /// What the catalog would say about `bytes`; name and URL are hostile on purpose: the
    /// path must come from the digest alone.
    fn meta_for(bytes: &[u8]) -> PayloadMeta {
        PayloadMeta {
            sha1: sha1::Sha1::digest(bytes).into(),
            sha256: Some(Sha256::digest(bytes).into()),
            size: bytes.len() as u64,
            name: "../../evil.cab".to_string(),
            url: "http://upstream/../../etc/passwd?x=/".to_string(),
        }
    }

    /// A `known_size` that knows exactly `metas`.
    fn catalog(metas: &[&PayloadMeta]) -> impl Fn(&Sha1) -> Option<u64> {
        let sizes: HashMap<Sha1, u64> = metas.iter().map(|m| (m.sha1, m.size)).collect();
        move |sha1| sizes.get(sha1).copied()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    async fn write_in_chunks(partial: &mut Partial, bytes: &[u8], chunk: usize) {
        for piece in bytes.chunks(chunk) {
            partial.write(piece).await.unwrap();
        }
    }

    #[test]
    fn relative_path_is_last_byte_shard_and_upper_case_hex() {
        let mut sha1 = [0xab; 20];
        sha1[19] = 0x0c;
        let expected = Path::new("0C").join(format!("{}0C", "AB".repeat(19)));
        assert_eq!(relative_path(&sha1), expected);
        assert_eq!(committed_name(expected.file_name().unwrap(), 0x0c), Some(sha1));
        assert_eq!(committed_name(expected.file_name().unwrap(), 0x0d), None);
        let lower = expected.file_name().unwrap().to_str().unwrap().to_lowercase();
        assert_eq!(committed_name(OsStr::new(&lower), 0x0c), None);
    }

    #[tokio::test]
    async fn commit_in_many_chunks_lands_at_shard_path_and_leaves_tmp_empty() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(100_000);
        let meta = meta_for(&bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        assert_eq!(partial.offset(), 0);
        write_in_chunks(&mut partial, &bytes, 777).await;
        assert_eq!(partial.offset(), bytes.len() as u64);
        let path = partial.commit().await.unwrap();

        let hex = upper_hex(&meta.sha1);
        assert_eq!(path, root.path().join(&hex[38..]).join(&hex));
        assert_eq!(path, dir.path(&meta.sha1));
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert!(names_in(&root.path().join(TMP_DIR)).is_empty());
        assert_eq!(dir.committed_size(&meta.sha1), Some(bytes.len() as u64));
    }

    #[tokio::test]
    async fn commit_without_sha256_checks_sha1_and_size() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(5000);
        let meta = PayloadMeta {
            sha256: None,
            ..meta_for(&bytes)
        };
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        partial.write(&bytes).await.unwrap();
        partial.commit().await.unwrap();
        assert_eq!(dir.committed_size(&meta.sha1), Some(5000));
    }

    #[tokio::test]
    async fn flipped_byte_is_a_digest_mismatch_naming_both_digests() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(10_000);
        let meta = meta_for(&bytes);
        let mut corrupt = bytes.clone();
        corrupt[4321] ^= 0x01;
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        write_in_chunks(&mut partial, &corrupt, 1000).await;
        let error = partial.commit().await.unwrap_err();

        let DiskError::DigestMismatch {
            sha1_expected,
            sha1_actual,
            sha256_expected,
            sha256_actual,
        } = &error
        else {
            panic!("expected a digest mismatch, got {error:?}");
        };
        assert_eq!(*sha1_expected, upper_hex(&meta.sha1));
        assert_eq!(*sha1_actual, upper_hex(&sha1::Sha1::digest(&corrupt)));
        assert_eq!(*sha256_expected, meta.sha256.map(|d| upper_hex(&d)));
        assert_eq!(*sha256_actual, upper_hex(&Sha256::digest(&corrupt)));
        assert!(error.is_bad_payload());
        let message = error.to_string();
        assert!(message.contains(sha1_expected) && message.contains(sha1_actual));
        assert_eq!(dir.committed_size(&meta.sha1), None);
        assert!(!dir.path(&meta.sha1).exists());
        assert!(names_in(&root.path().join(TMP_DIR)).is_empty());
        assert_eq!(dir.usage(), (0, 0));
    }

    #[tokio::test]
    async fn wrong_sha256_with_right_sha1_is_a_mismatch() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(3000);
        let mut meta = meta_for(&bytes);
        meta.sha256 = Some([7; 32]);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        partial.write(&bytes).await.unwrap();
        let error = partial.commit().await.unwrap_err();
        assert!(
            matches!(&error, DiskError::DigestMismatch { sha1_expected, sha1_actual, .. }
                if sha1_expected == sha1_actual),
            "{error:?}"
        );
        assert!(error.to_string().contains(&upper_hex(&[7; 32])));
        assert_eq!(dir.committed_size(&meta.sha1), None);
        assert!(names_in(&root.path().join(TMP_DIR)).is_empty());
    }

    #[tokio::test]
    async fn short_commit_is_a_size_mismatch_and_deletes_the_partial() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(3000);
        let meta = meta_for(&bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        partial.write(&bytes[..2999]).await.unwrap();
        let error = partial.commit().await.unwrap_err();
        assert!(
            matches!(
                error,
                DiskError::SizeMismatch {
                    expected: 3000,
                    actual: 2999,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(dir.committed_size(&meta.sha1), None);
        assert!(names_in(&root.path().join(TMP_DIR)).is_empty());
    }

    #[tokio::test]
    async fn writing_past_the_size_is_refused_without_touching_the_partial() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(3000);
        let meta = meta_for(&bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        partial.write(&bytes[..2000]).await.unwrap();
        let error = partial.write(&payload(1001)).await.unwrap_err();
        assert!(
            matches!(
                error,
                DiskError::Overrun {
                    expected: 3000,
                    would_be: 3001,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(partial.offset(), 2000);
        partial.write(&bytes[2000..]).await.unwrap();
        assert!(partial.write(b"x").await.is_err());
        partial.commit().await.unwrap();
        assert_eq!(fs::read(dir.path(&meta.sha1)).unwrap(), bytes);
    }

    #[tokio::test]
    async fn dropping_an_unfinished_handle_deletes_the_partial() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(3000);
        let meta = meta_for(&bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        partial.write(&bytes[..1000]).await.unwrap();
        let tmp = root.path().join(TMP_DIR);
        assert_eq!(names_in(&tmp), [partial_name(&meta.sha1)]);
        drop(partial);
        assert!(names_in(&tmp).is_empty());
        assert_eq!(dir.committed_size(&meta.sha1), None);
    }

    #[tokio::test]
    async fn one_writer_per_digest_until_the_handle_is_gone() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(300);
        let meta = meta_for(&bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let first = dir.begin(&meta).await.unwrap();
        let error = dir.begin(&meta).await.unwrap_err();
        assert!(matches!(error, DiskError::Busy { .. }), "{error:?}");
        assert!(!error.is_bad_payload());
        drop(first);
        let mut second = dir.begin(&meta).await.unwrap();
        second.write(&bytes).await.unwrap();
        second.commit().await.unwrap();
        assert_eq!(dir.committed_size(&meta.sha1), Some(300));
    }

    #[tokio::test]
    async fn kept_partial_survives_reopen_and_resumes_at_its_offset() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(50_000);
        let meta = meta_for(&bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        write_in_chunks(&mut partial, &bytes[..20_000], 4096).await;
        partial.keep_for_resume();
        drop(dir);

        let (dir, report) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        assert_eq!(report.partials, [(meta.sha1, 20_000)]);
        assert!(report.removed.is_empty());
        let mut partial = dir.begin(&meta).await.unwrap();
        assert_eq!(partial.offset(), 20_000);
        write_in_chunks(&mut partial, &bytes[20_000..], 4096).await;
        let path = partial.commit().await.unwrap();
        assert_eq!(fs::read(path).unwrap(), bytes);
        assert_eq!(dir.usage(), (1, 50_000));
    }

    #[tokio::test]
    async fn resume_hashes_the_kept_bytes_so_a_damaged_prefix_fails_the_commit() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(50_000);
        let meta = meta_for(&bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        partial.write(&bytes[..20_000]).await.unwrap();
        partial.keep_for_resume();
        let tmp_file = root.path().join(TMP_DIR).join(partial_name(&meta.sha1));
        let mut on_disk = fs::read(&tmp_file).unwrap();
        on_disk[10] ^= 0xff;
        fs::write(&tmp_file, on_disk).unwrap();

        let mut partial = dir.begin(&meta).await.unwrap();
        assert_eq!(partial.offset(), 20_000);
        partial.write(&bytes[20_000..]).await.unwrap();
        let error = partial.commit().await.unwrap_err();
        assert!(matches!(error, DiskError::DigestMismatch { .. }), "{error:?}");
        assert!(!tmp_file.exists());
        assert_eq!(dir.committed_size(&meta.sha1), None);
    }

    #[tokio::test]
    async fn partial_longer_than_the_payload_starts_over() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(1000);
        let meta = meta_for(&bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        let tmp_file = root.path().join(TMP_DIR).join(partial_name(&meta.sha1));
        fs::write(&tmp_file, payload(1500)).unwrap();
        let mut partial = dir.begin(&meta).await.unwrap();
        assert_eq!(partial.offset(), 0);
        partial.write(&bytes).await.unwrap();
        partial.commit().await.unwrap();
        assert_eq!(fs::read(dir.path(&meta.sha1)).unwrap(), bytes);
    }

    #[tokio::test]
    async fn crash_mid_write_leaves_a_partial_that_reopen_reconciles() {
        let root = tempfile::tempdir().unwrap();
        let wanted_bytes = payload(8000);
        let wanted = meta_for(&wanted_bytes);
        let dropped_bytes = payload(9000);
        let dropped = meta_for(&dropped_bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&wanted, &dropped])).unwrap();
        for (meta, bytes) in [(&wanted, &wanted_bytes), (&dropped, &dropped_bytes)] {
            let mut partial = dir.begin(meta).await.unwrap();
            partial.write(&bytes[..4000]).await.unwrap();
            std::mem::forget(partial);
        }
        drop(dir);

        // After the "restart" the catalog no longer lists `dropped`.
        let (dir, report) = ContentDir::open(root.path(), catalog(&[&wanted])).unwrap();
        assert_eq!(report.partials, [(wanted.sha1, 4000)]);
        let dropped_tmp = root.path().join(TMP_DIR).join(partial_name(&dropped.sha1));
        assert_eq!(report.removed, [dropped_tmp]);
        assert_eq!(names_in(&root.path().join(TMP_DIR)), [partial_name(&wanted.sha1)]);
        let mut partial = dir.begin(&wanted).await.unwrap();
        assert_eq!(partial.offset(), 4000);
        partial.write(&wanted_bytes[4000..]).await.unwrap();
        partial.commit().await.unwrap();
        assert_eq!(dir.usage(), (1, 8000));
    }

    #[tokio::test]
    async fn reconcile_removes_junk_and_reports_it() {
        let root = tempfile::tempdir().unwrap();
        let good_bytes = payload(700);
        let good = meta_for(&good_bytes);
        let resized_bytes = payload(800);
        let resized = meta_for(&resized_bytes);
        let unknown_bytes = payload(900);
        let unknown = meta_for(&unknown_bytes);
        {
            let known = catalog(&[&good, &resized, &unknown]);
            let (dir, _) = ContentDir::open(root.path(), known).unwrap();
            for (meta, bytes) in [
                (&good, &good_bytes),
                (&resized, &resized_bytes),
                (&unknown, &unknown_bytes),
            ] {
                let mut partial = dir.begin(meta).await.unwrap();
                partial.write(bytes).await.unwrap();
                partial.commit().await.unwrap();
            }
        }
        let r = root.path();
        let good_path = r.join(relative_path(&good.sha1));
        let shard = good_path.parent().unwrap().to_path_buf();
        let hex = upper_hex(&good.sha1);
        let other_shard = if hex.ends_with("00") { "01" } else { "00" };
        fs::create_dir_all(r.join(other_shard)).unwrap();
        let junk = [
            shard.join(hex.to_lowercase()),
            shard.join(format!("{hex}.cab")),
            shard.join(&hex[1..]),
            shard.join("notes.txt"),
            r.join(other_shard).join(&hex),
            r.join(TMP_DIR).join("stray"),
            r.join(TMP_DIR).join(partial_name(&unknown.sha1)),
            r.join(TMP_DIR).join(format!("{}.partial", hex.to_lowercase())),
        ];
        for path in &junk {
            fs::write(path, &good_bytes).unwrap();
        }
        let junk_dir = shard.join("subdir");
        fs::create_dir_all(junk_dir.join("deeper")).unwrap();
        let resumable = r.join(TMP_DIR).join(partial_name(&resized.sha1));
        fs::write(&resumable, payload(801)).unwrap();
        let foreign = r.join("README");
        fs::write(&foreign, b"not ours").unwrap();

        let mut resized_now = resized.clone();
        resized_now.size = 801;
        let (dir, report) = ContentDir::open(r, catalog(&[&good, &resized_now])).unwrap();

        let mut expected_removed: Vec<PathBuf> = junk.to_vec();
        expected_removed.extend([
            junk_dir,
            r.join(relative_path(&resized.sha1)),
            r.join(relative_path(&unknown.sha1)),
        ]);
        expected_removed.sort();
        assert_eq!(report.removed, expected_removed);
        assert!(expected_removed.iter().all(|path| !path.exists()));
        assert_eq!(report.partials, [(resized.sha1, 801)], "801 <= 801 is resumable");
        assert_eq!(report.ignored, [r.join("README")]);
        assert!(foreign.exists());
        assert_eq!((report.files, report.bytes), (1, 700));
        assert_eq!(dir.usage(), (1, 700));
        assert_eq!(fs::read(&good_path).unwrap(), good_bytes);
        let listed: Vec<(Sha1, u64)> = dir.list().unwrap().into_iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(listed, [(good.sha1, 700)]);
    }

    #[tokio::test]
    async fn partial_longer_than_the_known_size_is_removed_at_open() {
        let root = tempfile::tempdir().unwrap();
        let bytes = payload(100);
        let meta = meta_for(&bytes);
        fs::create_dir_all(root.path().join(TMP_DIR)).unwrap();
        let tmp_file = root.path().join(TMP_DIR).join(partial_name(&meta.sha1));
        fs::write(&tmp_file, payload(101)).unwrap();
        let (_, report) = ContentDir::open(root.path(), catalog(&[&meta])).unwrap();
        assert_eq!(report.removed, [tmp_file]);
        assert!(report.partials.is_empty());
    }

    #[tokio::test]
    async fn usage_follows_commits_replacements_and_removals() {
        let root = tempfile::tempdir().unwrap();
        let a_bytes = payload(1000);
        let a = meta_for(&a_bytes);
        let b_bytes = payload(2500);
        let b = meta_for(&b_bytes);
        let (dir, _) = ContentDir::open(root.path(), catalog(&[&a, &b])).unwrap();
        assert_eq!(dir.usage(), (0, 0));
        for (meta, bytes) in [(&a, &a_bytes), (&b, &b_bytes), (&a, &a_bytes)] {
            let mut partial = dir.begin(meta).await.unwrap();
            partial.write(bytes).await.unwrap();
            partial.commit().await.unwrap();
        }
        assert_eq!(dir.usage(), (2, 3500), "recommitting a digest counts it once");
        let clone = dir.clone();
        assert!(clone.remove(&a.sha1).unwrap());
        assert!(!dir.remove(&a.sha1).unwrap());
        assert_eq!(dir.usage(), (1, 2500));
        assert_eq!(dir.committed_size(&a.sha1), None);
        let (_, report) = ContentDir::open(root.path(), catalog(&[&a, &b])).unwrap();
        assert_eq!((report.files, report.bytes), (1, 2500));
    }

    #[tokio::test]
    async fn list_reports_committed_digests_with_size_and_time() {
        let root = tempfile::tempdir().unwrap();
        let before = SystemTime::now() - std::time::Duration::from_secs(5);
        let metas: Vec<(PayloadMeta, Vec<u8>)> = [10, 2000, 30_000]
            .into_iter()
            .map(|len| (meta_for(&payload(len)), payload(len)))
            .collect();
        let refs: Vec<&PayloadMeta> = metas.iter().map(|(meta, _)| meta).collect();
        let (dir, _) = ContentDir::open(root.path(), catalog(&refs)).unwrap();
        for (meta, bytes) in &metas {
            let mut partial = dir.begin(meta).await.unwrap();
            partial.write(bytes).await.unwrap();
            partial.commit().await.unwrap();
        }
        let listed = dir.list().unwrap();
        let mut expected: Vec<(Sha1, u64)> = metas.iter().map(|(m, _)| (m.sha1, m.size)).collect();
        expected.sort();
        let got: Vec<(Sha1, u64)> = listed.iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(got, expected);
        assert!(listed.iter().all(|entry| entry.2 >= before));
    }
}
