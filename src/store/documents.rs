//! The documents file (`catalog/documents.dat`): every update document the store holds, as
//! stored (a cabinet or an LZ4 block), appended one batch at a time; the `documents` tree
//! keeps only where each one is ([`Pointer`]: offset, length, CRC-32).
//!
//! Why not in sled: sled 0.34 keeps every page a read touches in memory until its LRU shard
//! has seen 64 more accesses (256 shards), whatever `cache_capacity` says, so a fragment
//! warm-up and a client's first scan — one read per document — left ~60 MiB of document
//! pages resident in `serve`. A read here is one `pread` into the operating system's file
//! cache, which is not the process's memory.
//!
//! Crash safety: a batch's bytes are written and made durable (`fdatasync`) before the
//! transaction that points at them commits, so a pointer never names bytes that may be lost.
//! A crash between the two leaves bytes no pointer names at the end of the file; the next
//! append starts after them. Documents are never rewritten in place: the same document
//! stored again keeps its pointer (same length and CRC), so re-syncs do not grow the file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file's name inside sled's folder.
pub(super) const FILE_NAME: &str = "documents.dat";

/// The first bytes of a `documents` tree value that points into the file (a stored document
/// starts with `MSCF`, `WLZ4` or XML, never with these).
const POINTER_MAGIC: &[u8] = b"WREF";

/// Where one document is: its bytes' offset and length in the file, and their CRC-32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pointer {
    offset: u64,
    length: u32,
    crc: u32,
}

impl Pointer {
    /// The pointer as the `documents` tree keeps it: magic, offset, length, CRC (LE).
    pub(super) fn encode(self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..4].copy_from_slice(POINTER_MAGIC);
        out[4..12].copy_from_slice(&self.offset.to_le_bytes());
        out[12..16].copy_from_slice(&self.length.to_le_bytes());
        out[16..].copy_from_slice(&self.crc.to_le_bytes());
        out
    }

    /// The pointer a tree value holds; `None` for a value that is the document itself (stores
    /// written before the documents file).
    pub(super) fn decode(raw: &[u8]) -> Option<Pointer> {
        let rest = raw.strip_prefix(POINTER_MAGIC)?;
        let rest: &[u8; 16] = rest.try_into().ok()?;
        let (offset, rest) = rest.split_first_chunk::<8>()?;
        let (length, crc) = rest.split_first_chunk::<4>()?;
        Some(Pointer {
            offset: u64::from_le_bytes(*offset),
            length: u32::from_le_bytes(*length),
            crc: u32::from_le_bytes(crc.try_into().ok()?),
        })
    }

    /// True when `bytes` are what this pointer names (same length and CRC).
    pub(super) fn matches(self, bytes: &[u8]) -> bool {
        usize::try_from(self.length) == Ok(bytes.len()) && self.crc == crc32fast::hash(bytes)
    }
}

/// The documents file, open for appending and positioned reads.
pub(super) struct DocumentFile {
    path: PathBuf,
    file: File,
    /// Where the next batch goes (the file's length); held across a batch's write and sync so
    /// that two batches never interleave.
    end: Mutex<u64>,
}

impl DocumentFile {
    /// Opens (or creates) the file in sled's folder `dir`.
    pub(super) fn open(dir: &Path) -> std::io::Result<DocumentFile> {
        let path = dir.join(FILE_NAME);
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let end = file.metadata()?.len();
        Ok(DocumentFile {
            path,
            file,
            end: Mutex::new(end),
        })
    }

    /// Appends `documents` in one write, makes them durable, and returns their pointers in
    /// the same order.
    pub(super) fn append(&self, documents: &[&[u8]]) -> std::io::Result<Vec<Pointer>> {
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let mut end = self.end.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut pointers = Vec::with_capacity(documents.len());
        let mut bytes = Vec::with_capacity(documents.iter().map(|d| d.len()).sum());
        for document in documents {
            let length = u32::try_from(document.len()).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("a document of {} bytes is too large to store", document.len()),
                )
            })?;
            pointers.push(Pointer {
                offset: *end + bytes.len() as u64,
                length,
                crc: crc32fast::hash(document),
            });
            bytes.extend_from_slice(document);
        }
        self.file.write_all_at(&bytes, *end)?;
        self.file.sync_data()?;
        *end += bytes.len() as u64;
        Ok(pointers)
    }

    /// The bytes `pointer` names, checked against its CRC; the error says what is wrong.
    pub(super) fn read(&self, pointer: Pointer, max_bytes: usize) -> Result<Vec<u8>, String> {
        let length = usize::try_from(pointer.length).unwrap_or(usize::MAX);
        if length > max_bytes {
            return Err(format!("its pointer claims {length} bytes"));
        }
        let mut bytes = vec![0u8; length];
        self.file.read_exact_at(&mut bytes, pointer.offset).map_err(|e| {
            format!(
                "{} bytes at offset {} of {}: {e} (the file is shorter than the store expects)",
                length,
                pointer.offset,
                self.path.display()
            )
        })?;
        if crc32fast::hash(&bytes) != pointer.crc {
            return Err(format!(
                "{} bytes at offset {} of {} fail their CRC (the file is damaged)",
                length,
                pointer.offset,
                self.path.display()
            ));
        }
        Ok(bytes)
    }

    /// The file's length as this handle knows it.
    #[cfg(test)]
    pub(super) fn len(&self) -> u64 {
        *self.end.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_round_trip_and_plain_documents_are_not_pointers() {
        let pointer = Pointer {
            offset: u64::MAX - 1,
            length: 7,
            crc: 0xDEAD_BEEF,
        };
        assert_eq!(Pointer::decode(&pointer.encode()), Some(pointer));
        for plain in [&b"MSCF\0\0\0\0"[..], b"WLZ4abcd", b"<Update/>", b"WREF", b""] {
            assert_eq!(Pointer::decode(plain), None, "{plain:?}");
        }
        let mut long = pointer.encode().to_vec();
        long.push(0);
        assert_eq!(Pointer::decode(&long), None);
    }

    #[test]
    fn batches_append_and_read_back_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let file = DocumentFile::open(dir.path()).unwrap();
            let pointers = file.append(&[b"one", b"", b"three"]).unwrap();
            let more = file.append(&[b"four"]).unwrap();
            assert_eq!(file.len(), 12);
            [pointers, more].concat()
        };
        let file = DocumentFile::open(dir.path()).unwrap();
        let read: Vec<Vec<u8>> = first.iter().map(|p| file.read(*p, 100).unwrap()).collect();
        assert_eq!(read, [&b"one"[..], b"", b"three", b"four"]);
        assert!(first[3].matches(b"four") && !first[3].matches(b"fous"));
        let next = file.append(&[b"five"]).unwrap();
        assert_eq!(file.read(next[0], 100).unwrap(), b"five");
    }

    #[test]
    fn damaged_short_and_oversized_reads_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let file = DocumentFile::open(dir.path()).unwrap();
        let pointer = file.append(&[b"document bytes"]).unwrap()[0];
        assert!(file.read(pointer, 4).unwrap_err().contains("claims 14 bytes"));

        file.file.write_all_at(b"X", 3).unwrap();
        let err = file.read(pointer, 100).unwrap_err();
        assert!(err.contains("fail their CRC") && err.contains(FILE_NAME), "{err}");

        file.file.set_len(5).unwrap();
        let err = file.read(pointer, 100).unwrap_err();
        assert!(err.contains("shorter than the store expects"), "{err}");
    }

    /// Bytes a crash left at the end (written, never pointed at) are skipped, not reused.
    #[test]
    fn an_unreferenced_tail_is_appended_after() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"torn batch").unwrap();
        let file = DocumentFile::open(dir.path()).unwrap();
        let pointer = file.append(&[b"next"]).unwrap()[0];
        assert_eq!(pointer.offset, 10);
        assert_eq!(file.read(pointer, 100).unwrap(), b"next");
    }
}
