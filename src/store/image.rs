//! The latest-records image: the stored form of every update's newest revision in one file,
//! `catalog/latest.image`, so that `serve` reads one file at start-up instead of walking the
//! revisions tree record by record. It is a cache of the store, never the truth: it names the
//! catalog and the store generation it was written at, ends with a checksum of everything
//! before it (XXH3-128: it guards against torn writes and damaged disks, not against someone
//! who can write the data folder, and is read at memory speed on the start-up path), and is written to a temporary file, synced and renamed into place. A missing,
//! stale, truncated or damaged image is refused with the reason, and the caller reads the
//! store instead.
//!
//! Layout (big-endian): `MAGIC`, catalog id (u64), generation (u64), then each record as its
//! length (u32) and the bytes the revisions tree holds for it (version byte + postcard), then
//! the record count (u32) and the XXH3-128 (big-endian) of all the bytes before it. Format 2;
//! format 1 ended with a SHA-256 and is refused as another format (the store is read
//! instead, and the next sync writes format 2).

use std::io::Write;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

const MAGIC: &[u8; 8] = b"WUCIMG\x00\x02";
const HEADER: usize = MAGIC.len() + 8 + 8;
const TRAILER: usize = 4 + CHECKSUM;
/// Bytes of the checksum.
const CHECKSUM: usize = 16;
/// The longest record the reader accepts (a stored record is a few KiB at most).
const MAX_RECORD: usize = 16 << 20;

/// Which store state an image holds: the store's catalog id and its generation, a value
/// that changes with every write to the revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) catalog_id: u64,
    pub(super) generation: u64,
}

/// Why an image was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unusable {
    /// No image has been written for this store (or it was removed).
    #[error("no image")]
    Missing,
    /// The file could not be read.
    #[error("unreadable: {0}")]
    Unreadable(std::io::Error),
    /// Shorter than its own framing says (a torn write or a cut copy).
    #[error("truncated ({0} bytes)")]
    Truncated(usize),
    /// The checksum does not match the bytes, or the framing is wrong.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// Written for another store (a moved or rebuilt catalog).
    #[error("written for catalog {found:016x}, this store is catalog {expected:016x}")]
    OtherCatalog {
        /// The image's catalog id.
        found: u64,
        /// The store's.
        expected: u64,
    },
    /// Written before the store last changed.
    #[error("stale: written at generation {found:016x}, the store is at {expected:016x}")]
    Stale {
        /// The image's generation.
        found: u64,
        /// The store's.
        expected: u64,
    },
}

/// The image's path in the store's folder.
pub(super) fn path(catalog_dir: &Path) -> PathBuf {
    catalog_dir.join("latest.image")
}

/// Writes the image of `records` (the raw values of the revisions tree, in the order they are
/// to be read back) for `stamp`: temporary file, fsync, rename, fsync of the folder. Returns
/// the number of records written. A failure leaves any previous image in place and no
/// temporary file behind.
pub(super) fn write<E: From<std::io::Error>>(
    path: &Path,
    stamp: Stamp,
    records: impl Iterator<Item = Result<impl AsRef<[u8]>, E>>,
) -> Result<usize, E> {
    let partial = path.with_extension("image.partial");
    let result = write_partial(&partial, stamp, records).and_then(|count| {
        std::fs::rename(&partial, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(count)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_partial<E: From<std::io::Error>>(
    partial: &Path,
    stamp: Stamp,
    records: impl Iterator<Item = Result<impl AsRef<[u8]>, E>>,
) -> Result<usize, E> {
    let file = std::fs::File::create(partial)?;
    let mut out = Hashed {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hash: Xxh3::new(),
    };
    out.put(MAGIC)?;
    out.put(&stamp.catalog_id.to_be_bytes())?;
    out.put(&stamp.generation.to_be_bytes())?;
    let mut count: u32 = 0;
    for record in records {
        let record = record?;
        let bytes = record.as_ref();
        let len = u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("record too long"))?;
        out.put(&len.to_be_bytes())?;
        out.put(bytes)?;
        count = count
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("too many records"))?;
    }
    out.put(&count.to_be_bytes())?;
    let Hashed { mut inner, hash } = out;
    inner.write_all(&hash.digest128().to_be_bytes())?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(count as usize)
}

/// A writer that hashes what it writes.
struct Hashed<W> {
    inner: W,
    hash: Xxh3,
}

impl<W: Write> Hashed<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.inner.write_all(bytes)
    }
}

/// The image's bytes, checked whole: framing, checksum, catalog and generation.
pub(super) fn read(path: &Path, expected: Stamp) -> Result<Vec<u8>, Unusable> {
    let (found, bytes) = read_any(path)?;
    check_stamp(found, expected)?;
    Ok(bytes)
}

/// Whether the image on disk is of `expected`, whole: its header is read first, so a stale
/// image is told without reading the rest.
pub(super) fn is_current(path: &Path, expected: Stamp) -> bool {
    let mut header = [0u8; HEADER];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    let stamp = Stamp {
        catalog_id: be_u64(&header[8..16]),
        generation: be_u64(&header[16..24]),
    };
    read.is_ok() && &header[..MAGIC.len()] == MAGIC && stamp == expected && self::read(path, expected).is_ok()
}

/// The image's bytes, their framing and checksum checked, and the stamp they carry (for a
/// caller that reads the image before it can ask the store for its own stamp).
pub(super) fn read_any(path: &Path) -> Result<(Stamp, Vec<u8>), Unusable> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Unusable::Missing,
        _ => Unusable::Unreadable(e),
    })?;
    let stamp = check(&bytes)?;
    Ok((stamp, bytes))
}

/// An image of `found` is usable for a store at `expected` only when they are the same.
pub(super) fn check_stamp(found: Stamp, expected: Stamp) -> Result<(), Unusable> {
    if found.catalog_id != expected.catalog_id {
        return Err(Unusable::OtherCatalog {
            found: found.catalog_id,
            expected: expected.catalog_id,
        });
    }
    if found.generation != expected.generation {
        return Err(Unusable::Stale {
            found: found.generation,
            expected: expected.generation,
        });
    }
    Ok(())
}

/// Checks an image's framing and checksum; returns its stamp.
fn check(bytes: &[u8]) -> Result<Stamp, Unusable> {
    if bytes.len() < HEADER + TRAILER {
        return Err(Unusable::Truncated(bytes.len()));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(Unusable::Corrupt("not a catalog image of this format".into()));
    }
    let (hashed, sum) = bytes.split_at(bytes.len() - CHECKSUM);
    if xxhash_rust::xxh3::xxh3_128(hashed).to_be_bytes() != sum {
        return Err(Unusable::Corrupt("checksum mismatch".into()));
    }
    Ok(Stamp {
        catalog_id: be_u64(&bytes[8..16]),
        generation: be_u64(&bytes[16..24]),
    })
}

/// The records of a checked image, as slices of it, in order.
pub(super) fn records(bytes: &[u8]) -> Result<Vec<&[u8]>, Unusable> {
    let body_end = bytes.len() - TRAILER;
    let count = be_u32(&bytes[body_end..body_end + 4]) as usize;
    let mut records = Vec::with_capacity(count.min(body_end / 5));
    let mut at = HEADER;
    while at < body_end {
        let len_end = at + 4;
        if len_end > body_end {
            return Err(Unusable::Corrupt("a record's length runs past the end".into()));
        }
        let len = be_u32(&bytes[at..len_end]) as usize;
        if len > MAX_RECORD || len_end + len > body_end {
            return Err(Unusable::Corrupt(format!(
                "a record of {len} bytes runs past the end"
            )));
        }
        records.push(&bytes[len_end..len_end + len]);
        at = len_end + len;
    }
    if records.len() != count {
        return Err(Unusable::Corrupt(format!(
            "{} records where the trailer says {count}",
            records.len()
        )));
    }
    Ok(records)
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(raw)
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        catalog_id: 7,
        generation: 42,
    };

    fn written(dir: &Path, records: &[&[u8]]) -> PathBuf {
        let path = path(dir);
        let count = write::<std::io::Error>(&path, STAMP, records.iter().map(Ok)).unwrap();
        assert_eq!(count, records.len());
        path
    }

    #[test]
    fn records_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"one", b"", b"three"]);
        let bytes = read(&path, STAMP).unwrap();
        assert_eq!(records(&bytes).unwrap(), vec![&b"one"[..], b"", b"three"]);
        assert!(!path.with_extension("image.partial").exists());
    }

    #[test]
    fn every_cut_of_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"one", b"two"]);
        let whole = std::fs::read(&path).unwrap();
        for len in 0..whole.len() {
            std::fs::write(&path, &whole[..len]).unwrap();
            let err = read(&path, STAMP).expect_err("a cut image is refused");
            assert!(
                matches!(err, Unusable::Truncated(_) | Unusable::Corrupt(_)),
                "{len}: {err}"
            );
        }
    }

    /// An image of the first format (same framing, SHA-256 trailer) is another format.
    #[test]
    fn a_format_one_image_is_refused() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        let mut old = b"WUCIMG\x00\x01".to_vec();
        old.extend_from_slice(&STAMP.catalog_id.to_be_bytes());
        old.extend_from_slice(&STAMP.generation.to_be_bytes());
        old.extend_from_slice(&0u32.to_be_bytes());
        let sum = sha2::Sha256::digest(&old);
        old.extend_from_slice(&sum);
        let path = path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, old).unwrap();
        let refused = read(&path, STAMP).unwrap_err();
        assert!(
            refused.to_string().contains("not a catalog image of this format"),
            "{refused}"
        );
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"one", b"two"]);
        let whole = std::fs::read(&path).unwrap();
        for at in 0..whole.len() {
            let mut bytes = whole.clone();
            bytes[at] ^= 0x10;
            std::fs::write(&path, &bytes).unwrap();
            assert!(
                matches!(read(&path, STAMP), Err(Unusable::Corrupt(_))),
                "byte {at}"
            );
        }
    }

    #[test]
    fn only_a_whole_image_of_the_same_state_is_current() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"one", b"two"]);
        assert!(is_current(&path, STAMP));
        let later = Stamp {
            generation: 43,
            ..STAMP
        };
        assert!(!is_current(&path, later));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();
        assert!(!is_current(&path, STAMP), "truncated");
        std::fs::remove_file(&path).unwrap();
        assert!(!is_current(&path, STAMP), "missing");
    }

    #[test]
    fn another_generation_or_catalog_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"one"]);
        let later = Stamp {
            generation: 43,
            ..STAMP
        };
        assert!(matches!(
            read(&path, later),
            Err(Unusable::Stale {
                found: 42,
                expected: 43
            })
        ));
        let other = Stamp {
            catalog_id: 8,
            ..STAMP
        };
        assert!(matches!(read(&path, other), Err(Unusable::OtherCatalog { .. })));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(read(&path, STAMP), Err(Unusable::Missing)));
    }

    #[test]
    fn a_failed_write_keeps_the_previous_image_and_no_partial() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), &[b"old"]);
        let failing = [Ok(&b"new"[..]), Err(std::io::Error::other("the store failed"))];
        let later = Stamp {
            generation: 43,
            ..STAMP
        };
        assert!(write(&path, later, failing.into_iter()).is_err());
        let bytes = read(&path, STAMP).expect("the old image stands");
        assert_eq!(records(&bytes).unwrap(), vec![&b"old"[..]]);
        assert!(!path.with_extension("image.partial").exists());
    }
}
