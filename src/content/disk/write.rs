//! The verified write handle: `ContentDir::begin` claims a digest and opens (or resumes)
//! `<root>/tmp/<SHA1HEX>.partial`; `Partial::write` appends and hashes; `Partial::commit`
//! verifies size, SHA-1 and SHA-256, fsyncs, renames into `<root>/<XX>/<SHA1HEX>` and fsyncs
//! the folder. Every file operation runs as one `spawn_blocking` job. Uses the directory
//! handle of `disk`, `content::layout`'s names and `model`'s hex.

use super::{committed_len, lock, At, ContentDir, DiskError, Shared};
use crate::content::layout::{partial_name, relative_path};
use crate::content::{PayloadMeta, Sha1};
use crate::model::upper_hex;
use sha1::Digest;
use sha2::Sha256;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl ContentDir {
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
