//! The embedded catalog store (sled 0.34.7, pinned). The only module that names sled, so the
//! engine can be swapped without touching the rest. Uses `model` and `catalog`.
//!
//! Trees, one per record kind, big-endian keys, versioned values:
//! - `meta`: schema version, the local-id counter, anchors and other small strings.
//! - `revisions`: local id (u32 BE) → `UpdateRecord` (version byte + postcard).
//! - `identities`: UpdateID (16) + RevisionNumber (u32 BE) → local id.
//! - `documents`: local id → where its full update document is in the documents file
//!   (`catalog/documents.dat`, see `documents`): the cabinet of its `XmlUpdateBlobCompressed`
//!   (`MSCF…`) as the upstream sent it, or its XML LZ4-compressed (`WLZ4`, size, block); read
//!   back as XML. Stores written before schema 2 hold the document itself here (plain UTF-8
//!   XML before 2026-12), still read.
//! - `latest`: UpdateID → local id of its newest revision (the one served).
//! - `deployments`: policy group → its table of UpdateID → `DeploymentRow` (persistent ids
//!   and change sequence numbers, so clients see the same deployment until it changes).
//! - `computers`: client id → JSON of what the client told us (registration, last contact).
//! - `events`: EventInstanceID → the event's `client_events` key (the de-duplication index;
//!   stores written before 2026-12 hold the event's JSON here instead).
//! - `client_events`: client id, 0x00, arrival (unix ms, BE), sequence (BE), EventInstanceID →
//!   JSON of a reported event: one client's events are one prefix, oldest first.
//! - `statuses`: client id → its update states folded from its events (format byte +
//!   postcard; stores written before 2026-12 hold JSON, still read).
//! - `syncs`: sync start time (RFC 3339, sorts by time) → JSON of its summary; the newest
//!   hundred are kept.
//!
//! `clients` holds the per-client records (computers, statuses, events), `documents` the
//! documents file, `history` the
//! sync history, `image` the latest-records image beside the trees (`catalog/latest.image`:
//! what `serve` loads at start-up, checked against the store's generation).
//!
//! A batch of revisions lands in one transaction, so a crash leaves each batch whole or
//! absent; anchors are written by the caller only after `flush` has made the data durable.

mod clients;
mod documents;
mod history;
mod image;

use crate::catalog::CategoryTypes;
use crate::model::{CategoryType, UpdateIdentity, UpdateRecord, UpdateType};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::collections::HashMap;
use std::path::Path;
use uuid::Uuid;

/// sled's page cache unless the caller bounds it otherwise: a sync's random look-ups
/// (identities, latest) stay cached while it writes documents.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// The on-disk layout this build reads and writes: 2 since documents live in their own file
/// (a build reading schema 1 would take a pointer for a document).
pub const SCHEMA_VERSION: u32 = 2;
const RECORD_FORMAT: u8 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";
const NEXT_ID_KEY: &[u8] = b"next_local_id";
/// Counts kept beside the data (sled's `len` walks the whole tree).
const REVISION_COUNT_KEY: &[u8] = b"count.revisions";
const UPDATE_COUNT_KEY: &[u8] = b"count.updates";
const NEXT_DEPLOYMENT_KEY: &[u8] = b"next_deployment_id";
const DEPLOYMENT_SEQ_KEY: &[u8] = b"deployment_seq";
const CATALOG_ID_KEY: &[u8] = b"catalog_id";
const CREATED_KEY: &[u8] = b"created";
/// A random value replaced in the same transaction as every write to `revisions` or `latest`:
/// an image written at one generation is stale at any other.
const GENERATION_KEY: &[u8] = b"generation";

/// Why the catalog store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O or its own corruption checks).
    #[error("catalog store: {0}")]
    Sled(#[from] sled::Error),
    /// The store on disk has another schema version than this build.
    #[error("catalog store at {path} is schema version {found}, this build uses {expected}; run `wucache upgrade` to convert it")]
    Schema {
        /// The data directory.
        path: String,
        /// The version on disk.
        found: u32,
        /// [`SCHEMA_VERSION`], the one this build uses.
        expected: u32,
    },
    /// Another process holds the store's lock.
    #[error("catalog store is in use by another process")]
    Locked,
    /// The store's folder or files could not be opened or created (a read-only mount, another
    /// owner, a file in the way).
    #[error("cannot open the catalog store {path}: {error}{}", write_hint(.error))]
    Open {
        /// The store's folder, `<data_dir>/catalog`.
        path: String,
        /// What the file system said.
        error: std::io::Error,
    },
    /// A file of the store could not be written (a full disk, a read-only mount).
    #[error("cannot write the catalog store's {path}: {error}{}", write_hint(.error))]
    Write {
        /// The file.
        path: String,
        /// What the file system said.
        error: std::io::Error,
    },
    /// A value on disk cannot be decoded; the message says which.
    #[error("catalog store is corrupt: {0}")]
    Corrupt(String),
    /// The latest-records image could not be written.
    #[error("writing the catalog image: {0}")]
    Image(#[from] std::io::Error),
    /// Every positive int32 local revision id has been handed out.
    #[error("catalog store has used every local revision id (int32)")]
    IdsExhausted,
}

/// Small persistent values, by purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    /// The upstream's anchor of the last committed configuration phase.
    ConfigAnchor,
    /// The upstream's anchor of the last committed categories phase.
    CategoriesAnchor,
    /// The upstream's anchor of the last committed updates phase.
    UpdatesAnchor,
    /// Comma-separated product ids the last committed updates phase asked for.
    SyncedProducts,
    /// Comma-separated classification ids the last committed updates phase asked for.
    SyncedClassifications,
    /// Comma-separated languages the last committed updates phase asked for.
    SyncedLanguages,
    /// The GUID this server announces to its upstream.
    AccountGuid,
    /// Where payloads come from when the upstream hosts them (`CatalogOnlySync` false, a WSUS
    /// or wucache upstream): its base URL, under which `/Content/XX/<SHA1>.<ext>` is fetched.
    /// Absent: each file's `MUUrl` (Microsoft Update).
    UpstreamContent,
    /// RFC 3339 time of the last successful sync.
    LastSyncSuccess,
    /// JSON summary of the last sync, successful or not.
    LastSyncSummary,
    /// JSON of the content counters that persist across restarts.
    ContentCounters,
    /// JSON of the sync totals that persist across restarts.
    SyncCounters,
    /// Set (durably) before the updates phase stores its first revision, removed once bundle
    /// members have inherited their bundles' categories: a sync killed in between leaves it,
    /// and the next run repeats the inheritance even when it has nothing new to store.
    InheritancePending,
}

impl MetaKey {
    fn key(self) -> &'static [u8] {
        match self {
            MetaKey::ConfigAnchor => b"anchor.config",
            MetaKey::CategoriesAnchor => b"anchor.categories",
            MetaKey::UpdatesAnchor => b"anchor.updates",
            MetaKey::SyncedProducts => b"synced.products",
            MetaKey::SyncedClassifications => b"synced.classifications",
            MetaKey::SyncedLanguages => b"synced.languages",
            MetaKey::AccountGuid => b"upstream.account_guid",
            MetaKey::UpstreamContent => b"upstream.content_base",
            MetaKey::LastSyncSuccess => b"sync.last_success",
            MetaKey::LastSyncSummary => b"sync.last_summary",
            MetaKey::InheritancePending => b"sync.inheritance_pending",
            MetaKey::ContentCounters => b"counters.content",
            MetaKey::SyncCounters => b"counters.sync",
        }
    }
}

/// Counts for `/ready`, metrics and summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub(crate) revisions: usize,
    /// Distinct updates (UpdateIDs), each counted once whatever its revisions.
    pub updates: usize,
}

/// The catalog store: a cheap-clone handle to the sled database and its trees.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    revisions: sled::Tree,
    identities: sled::Tree,
    documents: sled::Tree,
    latest: sled::Tree,
    deployments: sled::Tree,
    computers: sled::Tree,
    events: sled::Tree,
    client_events: sled::Tree,
    statuses: sled::Tree,
    syncs: sled::Tree,
    /// The documents file the `documents` tree points into.
    document_file: std::sync::Arc<documents::DocumentFile>,
    /// Computers stored (sled's `len` walks the tree).
    computer_count: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// sled's folder, `<data_dir>/catalog`, where the latest-records image lives too.
    dir: std::sync::Arc<Path>,
    /// The latest-records image being read and decoded while sled opens (`open_prefetching`),
    /// taken by the first `load_latest`.
    prefetched: std::sync::Arc<std::sync::Mutex<Option<Prefetch>>>,
}

/// An image read and decoded: the store state it claims, its records, and how long reading
/// and decoding took.
type ReadImage = (image::Stamp, Vec<UpdateRecord>, std::time::Duration);

/// A thread reading the latest-records image, or why it is unusable.
type Prefetch = std::thread::JoinHandle<Result<ReadImage, image::Unusable>>;

/// Reads, checks and decodes an image whatever store state it claims.
fn read_image(path: &Path) -> Result<ReadImage, image::Unusable> {
    let started = std::time::Instant::now();
    let (stamp, bytes) = image::read_any(path)?;
    let records =
        decode_all(&image::records(&bytes)?).map_err(|e| image::Unusable::Corrupt(e.to_string()))?;
    Ok((stamp, records, started.elapsed()))
}

impl Store {
    /// Opens (or creates) the store in `dir`, refusing a schema it does not know.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// `open_with_cache` that also starts reading the latest-records image on a thread of its
    /// own, so that decoding it overlaps sled's recovery of its log (`serve`'s start-up).
    pub fn open_prefetching(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let path = image::path(&dir.join("catalog"));
        let prefetch = std::thread::Builder::new()
            .name("catalog-image".into())
            .spawn(move || read_image(&path))
            .ok();
        let store = Store::open_with_cache(dir, cache_bytes)?;
        if let Ok(mut slot) = store.prefetched.lock() {
            *slot = prefetch;
        }
        Ok(store)
    }

    /// `open` with sled's page cache bounded to `cache_bytes` (what it keeps of the trees in
    /// memory, beyond the operating system's file cache).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let db = open_db(dir, cache_bytes)?;
        let catalog = dir.join("catalog");
        let document_file = documents::DocumentFile::open(&catalog).map_err(|error| StoreError::Open {
            path: catalog.join(documents::FILE_NAME).display().to_string(),
            error,
        })?;
        let store = Store {
            document_file: document_file.into(),
            meta: db.open_tree("meta")?,
            revisions: db.open_tree("revisions")?,
            identities: db.open_tree("identities")?,
            documents: db.open_tree("documents")?,
            latest: db.open_tree("latest")?,
            deployments: db.open_tree("deployments")?,
            computers: db.open_tree("computers")?,
            events: db.open_tree("events")?,
            client_events: db.open_tree("client_events")?,
            statuses: db.open_tree("statuses")?,
            syncs: db.open_tree("syncs")?,
            computer_count: Default::default(),
            dir: catalog.into(),
            prefetched: Default::default(),
            db,
        };
        store.check_schema(dir)?;
        store.ensure_counts()?;
        store.count_computers();
        Ok(store)
    }

    /// Checks the schema version, or writes it into a new store. A store that held something
    /// once has a marker file beside sled's own (`catalog/wucache.created`): finding the marker
    /// but no schema means sled lost its log (it reads a damaged log as ending early), which
    /// is refused rather than started empty.
    fn check_schema(&self, dir: &Path) -> Result<(), StoreError> {
        let marker = dir.join("catalog").join(CREATED_MARKER);
        let io = |e: std::io::Error| StoreError::Sled(e.into());
        match self.meta.get(SCHEMA_KEY)? {
            None if self.revisions.is_empty() => {
                if marker.exists() {
                    return Err(damaged(
                        &dir.join("catalog"),
                        "it reads as empty though it held a catalog (its log is damaged)",
                    ));
                }
                self.meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                std::fs::write(&marker, b"wucache catalog store\n").map_err(io)?;
                Ok(())
            }
            None => Err(StoreError::Corrupt(
                "revisions present but no schema version".into(),
            )),
            Some(raw) => {
                if !marker.exists() {
                    std::fs::write(&marker, b"wucache catalog store\n").map_err(io)?;
                }
                let found = u32_from(&raw)?;
                if found == SCHEMA_VERSION {
                    Ok(())
                } else {
                    Err(StoreError::Schema {
                        path: dir.display().to_string(),
                        found,
                        expected: SCHEMA_VERSION,
                    })
                }
            }
        }
    }

    /// Fills the counters once for a store written before they existed.
    fn ensure_counts(&self) -> Result<(), StoreError> {
        if self.meta.contains_key(REVISION_COUNT_KEY)? {
            return Ok(());
        }
        self.meta
            .insert(REVISION_COUNT_KEY, &(self.revisions.len() as u64).to_be_bytes())?;
        self.meta
            .insert(UPDATE_COUNT_KEY, &(self.latest.len() as u64).to_be_bytes())?;
        Ok(())
    }

    /// The schema version on disk.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let raw = self
            .meta
            .get(SCHEMA_KEY)?
            .ok_or_else(|| StoreError::Corrupt("no schema version".into()))?;
        u32_from(&raw)
    }

    /// True when this exact revision is already stored.
    pub fn contains(&self, identity: &UpdateIdentity) -> Result<bool, StoreError> {
        Ok(self.identities.contains_key(identity_key(identity))?)
    }

    /// Stores a batch of revisions with their documents in one transaction. New identities
    /// get the next local ids; a revision already stored keeps its id and is rewritten.
    /// Returns the local ids in input order.
    pub fn put_batch(&self, items: &[(UpdateRecord, String)]) -> Result<Vec<i32>, StoreError> {
        Ok(self.put_batch_counted(&mut items.to_vec())?.0)
    }

    /// `put_batch`, also returning how many of the revisions were new. Each record's
    /// `local_id` is set to the id it was stored under.
    pub fn put_batch_counted<D: AsRef<[u8]>>(
        &self,
        items: &mut [(UpdateRecord, D)],
    ) -> Result<(Vec<i32>, usize), StoreError> {
        let pointers = self.store_documents(items)?;
        // sled may run the transaction again after a conflict; setting an id again is harmless.
        let items = std::cell::RefCell::new(items);
        let trees = (
            &self.meta,
            &self.revisions,
            &self.identities,
            &self.documents,
            &self.latest,
        );
        let result = trees.transaction(|(meta, revisions, identities, documents, latest)| {
            let mut next = match meta.get(NEXT_ID_KEY)? {
                Some(raw) => u32_from(&raw).map_err(ConflictableTransactionError::Abort)?,
                None => 1,
            };
            let read_count = |key: &[u8]| -> Result<u64, ConflictableTransactionError<StoreError>> {
                Ok(meta
                    .get(key)?
                    .map(|raw| u64_from(&raw))
                    .transpose()
                    .map_err(ConflictableTransactionError::Abort)?
                    .unwrap_or(0))
            };
            let (mut revision_count, mut update_count) =
                (read_count(REVISION_COUNT_KEY)?, read_count(UPDATE_COUNT_KEY)?);
            let mut new_revisions = 0;
            let mut ids = Vec::with_capacity(items.borrow().len());
            for ((record, _), pointer) in items.borrow_mut().iter_mut().zip(&pointers) {
                let key = identity_key(&record.identity);
                let local = match identities.get(key)? {
                    Some(raw) => u32_from(&raw).map_err(ConflictableTransactionError::Abort)?,
                    None => {
                        let local = next;
                        if local > i32::MAX as u32 {
                            return Err(ConflictableTransactionError::Abort(StoreError::IdsExhausted));
                        }
                        next += 1;
                        new_revisions += 1;
                        revision_count += 1;
                        identities.insert(&key[..], &local.to_be_bytes())?;
                        local
                    }
                };
                record.local_id = local as i32;
                revisions.insert(&local.to_be_bytes(), encode(record))?;
                documents.insert(&local.to_be_bytes(), &pointer.encode())?;
                let newer = match latest.get(record.identity.update_id.as_bytes())? {
                    Some(raw) => {
                        let current = u32_from(&raw).map_err(ConflictableTransactionError::Abort)?;
                        let current = revisions
                            .get(current.to_be_bytes())?
                            .map(|v| decode(&v))
                            .transpose()
                            .map_err(ConflictableTransactionError::Abort)?;
                        current.is_none_or(|c| c.identity.revision <= record.identity.revision)
                    }
                    None => {
                        update_count += 1;
                        true
                    }
                };
                if newer {
                    latest.insert(record.identity.update_id.as_bytes(), &local.to_be_bytes())?;
                }
                ids.push(local as i32);
            }
            meta.insert(NEXT_ID_KEY, &next.to_be_bytes())?;
            meta.insert(GENERATION_KEY, &rand::random::<u64>().to_be_bytes())?;
            meta.insert(REVISION_COUNT_KEY, &revision_count.to_be_bytes())?;
            meta.insert(UPDATE_COUNT_KEY, &update_count.to_be_bytes())?;
            Ok((ids, new_revisions))
        });
        result.map_err(|err| match err {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Writes a batch's documents to the documents file, durably, and returns where each one
    /// is, in input order. A revision stored before with the same document keeps its place.
    fn store_documents<D: AsRef<[u8]>>(
        &self,
        items: &[(UpdateRecord, D)],
    ) -> Result<Vec<documents::Pointer>, StoreError> {
        let packed: Vec<Option<Vec<u8>>> = items
            .iter()
            .map(|(_, xml)| packed_document(xml.as_ref()))
            .collect();
        let stored: Vec<&[u8]> = items
            .iter()
            .zip(&packed)
            .map(|((_, xml), packed)| packed.as_deref().unwrap_or(xml.as_ref()))
            .collect();
        let mut kept = Vec::with_capacity(items.len());
        for ((record, _), bytes) in items.iter().zip(&stored) {
            kept.push(
                self.stored_pointer(&record.identity)?
                    .filter(|p| p.matches(bytes)),
            );
        }
        let new: Vec<&[u8]> = stored
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| kept.is_none())
            .map(|(bytes, _)| *bytes)
            .collect();
        let mut appended = self
            .document_file
            .append(&new)
            .map_err(|error| StoreError::Write {
                path: self.dir.join(documents::FILE_NAME).display().to_string(),
                error,
            })?
            .into_iter();
        Ok(kept
            .into_iter()
            .map(|kept| {
                kept.or_else(|| appended.next())
                    .expect("one pointer per new document")
            })
            .collect())
    }

    /// Where the stored revision with this identity has its document, when it is in the
    /// documents file.
    fn stored_pointer(&self, identity: &UpdateIdentity) -> Result<Option<documents::Pointer>, StoreError> {
        let Some(local) = self.identities.get(identity_key(identity))? else {
            return Ok(None);
        };
        Ok(self
            .documents
            .get(local)?
            .and_then(|raw| documents::Pointer::decode(&raw)))
    }

    /// Rewrites the index entries of stored revisions (their documents are unchanged), all
    /// in one transaction with a new generation.
    pub fn update_records(&self, records: &[UpdateRecord]) -> Result<(), StoreError> {
        let result = (&self.meta, &self.revisions).transaction(|(meta, revisions)| {
            for record in records {
                let key = (record.local_id as u32).to_be_bytes();
                if revisions.get(key)?.is_none() {
                    return Err(ConflictableTransactionError::Abort(StoreError::Corrupt(format!(
                        "no revision with local id {}",
                        record.local_id
                    ))));
                }
                revisions.insert(&key, encode(record))?;
            }
            meta.insert(GENERATION_KEY, &rand::random::<u64>().to_be_bytes())?;
            Ok(())
        });
        result.map_err(|err| match err {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    pub(crate) fn get(&self, local_id: i32) -> Result<Option<UpdateRecord>, StoreError> {
        self.revisions
            .get((local_id as u32).to_be_bytes())?
            .map(|raw| decode(&raw))
            .transpose()
    }

    /// The stored revision with this identity.
    pub fn get_identity(&self, identity: &UpdateIdentity) -> Result<Option<UpdateRecord>, StoreError> {
        match self.identities.get(identity_key(identity))? {
            Some(raw) => self.get(u32_from(&raw)? as i32),
            None => Ok(None),
        }
    }

    /// The full update XML of a stored revision (decompressed when it was stored as the
    /// upstream's cabinet).
    pub fn document(&self, local_id: i32) -> Result<Option<String>, StoreError> {
        self.documents
            .get((local_id as u32).to_be_bytes())?
            .map(|raw| match documents::Pointer::decode(&raw) {
                Some(pointer) => {
                    let bytes = self
                        .document_file
                        .read(pointer, MAX_DOCUMENT_BYTES)
                        .map_err(|e| StoreError::Corrupt(format!("document {local_id}: {e}")))?;
                    document_text(local_id, &bytes)
                }
                None => document_text(local_id, &raw),
            })
            .transpose()
    }

    /// Whether any revision of the update is stored (a key look-up, no record decoded).
    pub fn knows_update(&self, update_id: &Uuid) -> Result<bool, StoreError> {
        Ok(self.latest.contains_key(update_id.as_bytes())?)
    }

    /// The newest revision of an update (the one served).
    pub fn latest(&self, update_id: &Uuid) -> Result<Option<UpdateRecord>, StoreError> {
        match self.latest.get(update_id.as_bytes())? {
            Some(raw) => self.get(u32_from(&raw)? as i32),
            None => Ok(None),
        }
    }

    /// Every stored revision, in local-id order.
    pub fn all_revisions(&self) -> impl Iterator<Item = Result<UpdateRecord, StoreError>> + '_ {
        self.revisions
            .iter()
            .map(|item| item.map_err(StoreError::from).and_then(|(_, raw)| decode(&raw)))
    }

    /// The newest revision of every update, in local-id order, from the latest-records image
    /// when it matches the store (one file read and decoded on every core), else from the
    /// trees, saying why the image was not used. `serve` loads its catalog through this.
    pub fn load_latest(&self) -> Result<Vec<UpdateRecord>, StoreError> {
        let started = std::time::Instant::now();
        let path = image::path(&self.dir);
        let expected = self.stamp()?;
        let prefetched = self.prefetched.lock().ok().and_then(|mut slot| slot.take());
        let read = match prefetched {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(image::Unusable::Corrupt("the image reader panicked".into()))),
            None => read_image(&path),
        };
        let read = read
            .and_then(|(found, records, took)| image::check_stamp(found, expected).map(|()| (records, took)));
        match read {
            Ok((records, took)) => {
                tracing::info!(
                    records = records.len(),
                    read_ms = took.as_millis() as u64,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "catalog read from its image"
                );
                return Ok(records);
            }
            Err(why @ (image::Unusable::Missing | image::Unusable::Stale { .. })) => {
                tracing::info!(image = %path.display(), reason = %why, "catalog image not used: reading every record from the store")
            }
            Err(why) => {
                tracing::warn!(image = %path.display(), reason = %why, "catalog image not used: reading every record from the store")
            }
        }
        self.latest_records()
    }

    /// Writes the latest-records image for the store as it is now, unless the one on disk
    /// already matches it; returns how many records were written (`None`: it was current).
    /// Streams the revisions tree into the file, so the catalog is never in memory whole.
    pub fn save_latest_image(&self) -> Result<Option<usize>, StoreError> {
        let stamp = self.stamp()?;
        let path = image::path(&self.dir);
        if image::is_current(&path, stamp) {
            return Ok(None);
        }
        let ids = self.latest_ids()?;
        let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
            return Ok(Some(image::write(
                &path,
                stamp,
                std::iter::empty::<Result<Vec<u8>, StoreError>>(),
            )?));
        };
        let mut wanted = ids.iter().copied().peekable();
        let raw = self
            .revisions
            .range(first.to_be_bytes()..=last.to_be_bytes())
            .map(|item| -> Result<Option<sled::IVec>, StoreError> {
                let (key, raw) = item?;
                if wanted.peek() == Some(&u32_from(&key)?) {
                    wanted.next();
                    Ok(Some(raw))
                } else {
                    Ok(None)
                }
            })
            .filter_map(Result::transpose);
        let written = image::write(&path, stamp, raw)?;
        if written != ids.len() {
            return Err(StoreError::Corrupt(format!(
                "{} latest revisions listed, {written} found",
                ids.len()
            )));
        }
        Ok(Some(written))
    }

    /// The store state an image must match: catalog id and generation.
    fn stamp(&self) -> Result<image::Stamp, StoreError> {
        let generation = match self.meta.get(GENERATION_KEY)? {
            Some(raw) => u64_from(&raw)?,
            None => 0,
        };
        Ok(image::Stamp {
            catalog_id: self.catalog_id()?,
            generation,
        })
    }

    /// Local ids of every update's newest revision, sorted.
    fn latest_ids(&self) -> Result<Vec<u32>, StoreError> {
        let mut ids = Vec::new();
        for item in self.latest.iter() {
            let (_, raw) = item?;
            ids.push(u32_from(&raw)?);
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The newest revision of every update, in local-id order.
    pub fn latest_records(&self) -> Result<Vec<UpdateRecord>, StoreError> {
        let ids = self.latest_ids()?;
        // Reading the revisions tree (sled pulls its pages from the log) and decoding the
        // records are most of a 100k start-up: each thread walks its own stretch of local
        // ids, decoding as it goes, so both cores work and no raw copy of the catalog waits.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        if threads < 2 || ids.len() < 4096 {
            return self.records_with_ids(&ids);
        }
        let parts: Vec<Result<Vec<UpdateRecord>, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(ids.len().div_ceil(threads))
                .map(|part| scope.spawn(move || self.records_with_ids(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(StoreError::Corrupt("record reader panicked".into())))
                })
                .collect()
        });
        let mut records = Vec::with_capacity(ids.len());
        for part in parts {
            records.extend(part?);
        }
        Ok(records)
    }

    /// The revisions with these local ids (sorted, present), in one ordered pass over their
    /// stretch of the revisions tree: cheaper than a B-tree look-up each.
    fn records_with_ids(&self, ids: &[u32]) -> Result<Vec<UpdateRecord>, StoreError> {
        let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
            return Ok(Vec::new());
        };
        let mut wanted = ids.iter().copied().peekable();
        let mut records = Vec::with_capacity(ids.len());
        for item in self.revisions.range(first.to_be_bytes()..=last.to_be_bytes()) {
            let Some(&next) = wanted.peek() else { break };
            let (key, raw) = item?;
            if u32_from(&key)? == next {
                records.push(decode(&raw)?);
                wanted.next();
            }
        }
        Ok(records)
    }

    /// The newest revision of every stored category, whole (product families are read off
    /// their products' prerequisites).
    pub fn category_records(&self) -> Result<Vec<UpdateRecord>, StoreError> {
        let mut records = self.latest_records()?;
        records.retain(|r| r.update_type == UpdateType::Category);
        Ok(records)
    }

    /// Stored categories' types, newest revision of each.
    pub fn category_types(&self) -> Result<CategoryTypes, StoreError> {
        Ok(self
            .categories()?
            .into_iter()
            .map(|(id, kind, _)| (id, kind))
            .collect())
    }

    /// (id, type, title) of every stored category, newest revision of each.
    pub fn categories(&self) -> Result<Vec<(Uuid, CategoryType, String)>, StoreError> {
        Ok(self
            .category_records()?
            .into_iter()
            .map(|r| {
                (
                    r.identity.update_id,
                    r.category_type.unwrap_or(CategoryType::Other),
                    r.title.into(),
                )
            })
            .collect())
    }

    /// Revisions and updates stored (constant time: kept by `put_batch`).
    pub fn counts(&self) -> Counts {
        let read = |key: &[u8]| {
            self.meta
                .get(key)
                .ok()
                .flatten()
                .and_then(|raw| u64_from(&raw).ok())
                .unwrap_or(0)
        };
        Counts {
            revisions: read(REVISION_COUNT_KEY) as usize,
            updates: read(UPDATE_COUNT_KEY) as usize,
        }
    }

    pub(crate) fn meta(&self, key: MetaKey) -> Result<Option<String>, StoreError> {
        self.meta
            .get(key.key())?
            .map(|raw| {
                String::from_utf8(raw.to_vec())
                    .map_err(|_| StoreError::Corrupt("meta value is not UTF-8".into()))
            })
            .transpose()
    }

    pub(crate) fn set_meta(&self, key: MetaKey, value: &str) -> Result<(), StoreError> {
        self.meta.insert(key.key(), value.as_bytes())?;
        Ok(())
    }

    pub(crate) fn remove_meta(&self, key: MetaKey) -> Result<(), StoreError> {
        self.meta.remove(key.key())?;
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Flushes and closes the store, then opens and closes it once more. sled writes its
    /// page-table snapshot only when an open recovers the log, so after a large write (a
    /// sync) the next open — `serve`'s start — would replay all of it; `wucache sync` pays for
    /// that here instead. Fails with `Locked` while another handle keeps the store open.
    pub fn close_recovered(self) -> Result<(), StoreError> {
        self.flush()?;
        let data_dir = self.dir.parent().map(Path::to_path_buf);
        drop(self);
        match data_dir {
            Some(data_dir) => Store::open(&data_dir).map(drop),
            None => Ok(()),
        }
    }

    /// Writes a small value and flushes it to disk: whether the store takes writes now.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        self.meta.insert(PROBE_KEY, &now.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// A random id fixed when the store was created; a rebuilt store (new revision-id space)
    /// gets a new one, which tells clients `ServerChanged`.
    pub fn catalog_id(&self) -> Result<u64, StoreError> {
        if let Some(raw) = self.meta.get(CATALOG_ID_KEY)? {
            return u64_from(&raw);
        }
        let id = rand::random::<u64>() | 1;
        match self
            .meta
            .compare_and_swap(CATALOG_ID_KEY, None::<&[u8]>, Some(&id.to_be_bytes()[..]))?
        {
            Ok(()) => Ok(id),
            Err(current) => current.current.map(|raw| u64_from(&raw)).unwrap_or(Ok(id)),
        }
    }

    /// When the store was created (RFC 3339), fixed at first use.
    pub fn created(&self) -> Result<String, StoreError> {
        if let Some(raw) = self.meta.get(CREATED_KEY)? {
            return String::from_utf8(raw.to_vec())
                .map_err(|_| StoreError::Corrupt("created is not UTF-8".into()));
        }
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        self.meta.insert(CREATED_KEY, now.as_bytes())?;
        Ok(now)
    }

    /// Gives each planned deployment of `group` its persistent identity: an unchanged action
    /// keeps its id and sequence number; a new or changed one gets a fresh id, the next
    /// sequence number and `today` as its change date. Input and output are in the same order;
    /// `planned` names each update once (as a plan does).
    ///
    /// A group's deployments are one value (read and written whole: per-row keys cost a
    /// B-tree operation each, most of a second at 100k updates). Ids and the sequence number
    /// are reserved before the rows are written, so a crash in between skips ids and never
    /// reuses them.
    pub fn reconcile_deployments(
        &self,
        group: &str,
        planned: &[(Uuid, u8)],
        today: &str,
    ) -> Result<Vec<DeploymentRow>, StoreError> {
        let mut table = self.deployment_table(group)?;
        let changed: Vec<usize> = planned
            .iter()
            .enumerate()
            .filter(|(_, (id, action))| table.get(id).is_none_or(|row| row.action != *action))
            .map(|(i, _)| i)
            .collect();
        if !changed.is_empty() {
            let (first_id, seq) = self.reserve_deployment_ids(changed.len())?;
            for (offset, &i) in changed.iter().enumerate() {
                let (update_id, action) = planned[i];
                let row = DeploymentRow {
                    id: first_id + offset as i32,
                    action,
                    seq,
                    date: today.to_string(),
                };
                table.insert(update_id, row);
            }
            self.deployments.insert(group.as_bytes(), encode_table(&table))?;
        }
        // Each update is planned once: its row moves out of the table rather than being copied.
        Ok(planned.iter().filter_map(|(id, _)| table.remove(id)).collect())
    }

    fn deployment_table(&self, group: &str) -> Result<HashMap<Uuid, DeploymentRow>, StoreError> {
        match self.deployments.get(group.as_bytes())? {
            Some(raw) => decode_table(&raw),
            None => Ok(HashMap::new()),
        }
    }

    /// Reserves `count` deployment ids and the next sequence number, durably.
    fn reserve_deployment_ids(&self, count: usize) -> Result<(i32, i64), StoreError> {
        let read = |key: &[u8]| -> Result<u64, StoreError> {
            Ok(self
                .meta
                .get(key)?
                .map(|raw| u64_from(&raw))
                .transpose()?
                .unwrap_or(0))
        };
        let first_id = read(NEXT_DEPLOYMENT_KEY)?.max(1);
        let seq = read(DEPLOYMENT_SEQ_KEY)? + 1;
        let next_id = first_id + count as u64;
        if next_id > i32::MAX as u64 {
            return Err(StoreError::IdsExhausted);
        }
        self.meta.insert(NEXT_DEPLOYMENT_KEY, &next_id.to_be_bytes())?;
        self.meta.insert(DEPLOYMENT_SEQ_KEY, &seq.to_be_bytes())?;
        self.meta.flush()?;
        Ok((first_id as i32, seq as i64))
    }
}

/// Converts a store written by an older build to this schema (1 → 2: see `upgrade_from_1`)
/// and returns the version it is at.
pub fn upgrade(dir: &Path) -> Result<u32, StoreError> {
    let store = match Store::open(dir) {
        Ok(store) => store,
        Err(StoreError::Schema { found: 1, .. }) => {
            upgrade_from_1(dir)?;
            Store::open(dir)?
        }
        Err(StoreError::Schema { found, .. }) if found > SCHEMA_VERSION => {
            return Err(StoreError::Corrupt(format!(
                "schema {found} is newer than this build ({SCHEMA_VERSION}); use a newer wucache"
            )))
        }
        Err(err) => return Err(err),
    };
    store.schema_version()
}

/// Schema 1 → 2: documents stored in the `documents` tree stay there and are still read
/// (new ones go to the documents file), so only the version changes.
fn upgrade_from_1(dir: &Path) -> Result<(), StoreError> {
    let db = open_db(dir, DEFAULT_CACHE_BYTES)?;
    db.open_tree("meta")?
        .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
    db.flush()?;
    tracing::info!(store = %dir.join("catalog").display(), "catalog store upgraded from schema 1 to 2");
    Ok(())
}

/// A deployment's persistent identity (see `Store::reconcile_deployments`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeploymentRow {
    pub(crate) id: i32,
    /// The caller's action code.
    pub action: u8,
    pub(crate) seq: i64,
    /// `LastChangeTime`, date only.
    pub date: String,
}

fn encode_table(table: &HashMap<Uuid, DeploymentRow>) -> Vec<u8> {
    let mut rows: Vec<(&Uuid, &DeploymentRow)> = table.iter().collect();
    rows.sort_unstable_by_key(|(id, _)| **id);
    let mut out = vec![RECORD_FORMAT];
    out.extend(postcard::to_stdvec(&rows).unwrap_or_default());
    out
}

fn decode_table(raw: &[u8]) -> Result<HashMap<Uuid, DeploymentRow>, StoreError> {
    match raw.split_first() {
        Some((&RECORD_FORMAT, body)) => postcard::from_bytes::<Vec<(Uuid, DeploymentRow)>>(body)
            .map(|rows| rows.into_iter().collect())
            .map_err(|e| StoreError::Corrupt(format!("deployment table: {e}"))),
        _ => Err(StoreError::Corrupt("unknown deployment table format".into())),
    }
}

/// Opens sled, waiting up to two seconds for a lock that a store dropped a moment ago may
/// still hold (sled's flusher thread lets go of it asynchronously).
/// Opens sled, waiting up to 2 s for another process's lock. sled's snapshot file
/// (`catalog/snap.*`) is a cache of its log: when it is damaged, it is moved aside (to
/// `catalog/damaged/`) and the store opened again from the log alone; when that fails too,
/// the error says what to do.
fn open_db(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let path = dir.join("catalog");
    match open_db_waiting(&path, cache_bytes) {
        Err(StoreError::Sled(sled::Error::Corruption { .. })) => {
            let moved = move_snapshots_aside(&path)?;
            if moved.is_empty() {
                return Err(damaged(&path, "its log is damaged"));
            }
            tracing::warn!(store = %path.display(), moved = ?moved, "catalog store snapshot damaged: moved aside, rebuilding from the log");
            match open_db_waiting(&path, cache_bytes) {
                Err(StoreError::Sled(sled::Error::Corruption { .. })) => {
                    Err(damaged(&path, "it is damaged beyond its snapshot"))
                }
                other => other,
            }
        }
        other => other,
    }
}

/// The meta key `probe_write` writes.
const PROBE_KEY: &[u8] = b"health.probe";

/// The file inside sled's directory that says a store was created there.
const CREATED_MARKER: &str = "wucache.created";

fn damaged(path: &Path, what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{} cannot be opened: {what}. Restore the data directory from a backup, or move {} away and start again (the catalog re-syncs; computers, events and counters start empty)",
        path.display(),
        path.display()
    ))
}

/// Moves sled's `snap.*` files into `catalog/damaged/`; returns their names.
fn move_snapshots_aside(path: &Path) -> Result<Vec<String>, StoreError> {
    let aside = path.join("damaged");
    let mut moved = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|e| StoreError::Sled(e.into()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("snap.") {
            continue;
        }
        std::fs::create_dir_all(&aside).map_err(|e| StoreError::Sled(e.into()))?;
        std::fs::rename(entry.path(), aside.join(&name)).map_err(|e| StoreError::Sled(e.into()))?;
        moved.push(name);
    }
    Ok(moved)
}

/// A document as stored: `None` for a cabinet (stored as it came, already compressed with
/// LZX), anything else LZ4-compressed behind `LZ4_MAGIC` (plain XML takes about three times
/// the bytes of disk and of the operating system's file cache).
fn packed_document(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.starts_with(CABINET_MAGIC) {
        return None;
    }
    let block = lz4_flex::block::compress(raw);
    let mut packed = Vec::with_capacity(LZ4_MAGIC.len() + 4 + block.len());
    packed.extend_from_slice(LZ4_MAGIC);
    packed.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    packed.extend_from_slice(&block);
    Some(packed)
}

/// A stored document as XML: a cabinet (`MSCF`, as the sync stores compressed documents) is
/// decompressed, an LZ4 block (`WLZ4`) too, anything else is UTF-8 text (an XML document
/// starts with neither).
fn document_text(local_id: i32, raw: &[u8]) -> Result<String, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("document {local_id}: {what}"));
    if raw.starts_with(CABINET_MAGIC) {
        return crate::protocol::blob::decode_compressed(raw).map_err(|e| corrupt(e.to_string()));
    }
    let bytes = match raw.strip_prefix(LZ4_MAGIC) {
        Some(packed) => unpacked_lz4(packed).map_err(corrupt)?,
        None => raw.to_vec(),
    };
    String::from_utf8(bytes).map_err(|_| corrupt("not UTF-8".into()))
}

/// An LZ4 block behind its size (u32 LE), the size bounded before anything is allocated.
fn unpacked_lz4(packed: &[u8]) -> Result<Vec<u8>, String> {
    let (size, block) = packed
        .split_first_chunk::<4>()
        .ok_or_else(|| "LZ4 block without its size".to_string())?;
    let size = u32::from_le_bytes(*size) as usize;
    if size > MAX_DOCUMENT_BYTES {
        return Err(format!("LZ4 block claims {size} bytes"));
    }
    lz4_flex::block::decompress(block, size).map_err(|e| format!("LZ4 block does not decompress: {e}"))
}

/// The first bytes of a Microsoft Cabinet.
const CABINET_MAGIC: &[u8] = b"MSCF";
/// The first bytes of a document stored LZ4-compressed.
const LZ4_MAGIC: &[u8] = b"WLZ4";
/// The largest document an LZ4 block may claim to hold (the largest real ones are a few MB).
const MAX_DOCUMENT_BYTES: usize = 64 << 20;

fn open_db_waiting(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(1000))
            .open();
        match opened {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io)) if is_lock_error(&io) => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked);
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(sled::Error::Io(error)) => {
                return Err(StoreError::Open {
                    path: path.display().to_string(),
                    error,
                })
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// What to check when the store cannot be written at all.
fn write_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            " (the data directory must be writable by the user wucache runs as, and not on a read-only mount)"
        }
        _ => "",
    }
}

fn is_lock_error(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock")
}

fn identity_key(identity: &UpdateIdentity) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(identity.update_id.as_bytes());
    key[16..].copy_from_slice(&identity.revision.to_be_bytes());
    key
}

fn u32_from(raw: &[u8]) -> Result<u32, StoreError> {
    <[u8; 4]>::try_from(raw)
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("expected 4 bytes, found {}", raw.len())))
}

fn u64_from(raw: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(raw)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("expected 8 bytes, found {}", raw.len())))
}

fn encode(record: &UpdateRecord) -> Vec<u8> {
    // Room for a typical record, so that serialising does not grow the buffer step by step.
    let mut out = Vec::with_capacity(512);
    out.push(RECORD_FORMAT);
    // Serialising plain data into a Vec cannot fail.
    postcard::to_extend(record, out).unwrap_or_else(|_| vec![RECORD_FORMAT])
}

fn decode(raw: &[u8]) -> Result<UpdateRecord, StoreError> {
    match raw.split_first() {
        Some((&RECORD_FORMAT, body)) => {
            postcard::from_bytes(body).map_err(|e| StoreError::Corrupt(format!("revision record: {e}")))
        }
        Some((version, _)) => Err(StoreError::Corrupt(format!(
            "unknown revision record format {version}"
        ))),
        None => Err(StoreError::Corrupt("empty revision record".into())),
    }
}

/// Decodes records on every core (up to four threads, this one among them), keeping their
/// order. The first part is decoded straight into a vector sized for all of them and the
/// others appended: a catalog's records are neither regrown nor copied twice (at 100k the
/// vector alone is ~29 MiB).
fn decode_all(raw: &[&[u8]]) -> Result<Vec<UpdateRecord>, StoreError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if threads < 2 || raw.len() < 4096 {
        return decode_into(Vec::with_capacity(raw.len()), raw);
    }
    let (first, rest) = raw.split_at(raw.len().div_ceil(threads));
    std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .chunks(first.len())
            .map(|part| scope.spawn(move || decode_into(Vec::with_capacity(part.len()), part)))
            .collect();
        let mut records = decode_into(Vec::with_capacity(raw.len()), first);
        for other in others {
            let part = other
                .join()
                .unwrap_or_else(|_| Err(StoreError::Corrupt("record decoder panicked".into())));
            if let Ok(all) = &mut records {
                all.extend(part?);
            }
        }
        records
    })
}

/// `records` with `raw`'s records decoded onto its end.
fn decode_into(mut records: Vec<UpdateRecord>, raw: &[&[u8]]) -> Result<Vec<UpdateRecord>, StoreError> {
    for bytes in raw {
        records.push(decode(bytes)?);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn record(update: u128, revision: u32) -> UpdateRecord {
        let identity = UpdateIdentity {
            update_id: Uuid::from_u128(update),
            revision,
        };
        UpdateRecord {
            title: format!("update {update} r{revision}").into(),
            ..UpdateRecord::new(identity, UpdateType::Software)
        }
    }

    /// sled's page-table snapshot files (`snap.<lsn>`) in a store's folder.
    fn snapshots(data_dir: &Path) -> std::collections::BTreeSet<String> {
        std::fs::read_dir(data_dir.join("catalog"))
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("snap."))
            .collect()
    }

    /// After a batch of writes, closing plainly leaves sled's snapshot as it was at open (the
    /// next open replays the log); `close_recovered` leaves one written after the writes.
    #[test]
    fn closing_recovered_writes_a_snapshot_after_the_writes() {
        let write = |dir: &Path| -> (Store, std::collections::BTreeSet<String>) {
            let store = Store::open(dir).unwrap();
            let at_open = snapshots(dir);
            let items: Vec<(UpdateRecord, String)> = (1..=2_000)
                .map(|n| (record(n, 1), format!("<Update n=\"{n}\"/>")))
                .collect();
            store.put_batch(&items).unwrap();
            (store, at_open)
        };
        let plain = tempfile::tempdir().unwrap();
        let (store, at_open) = write(plain.path());
        store.flush().unwrap();
        drop(store);
        assert_eq!(
            snapshots(plain.path()),
            at_open,
            "a plain close writes no snapshot"
        );

        let recovered = tempfile::tempdir().unwrap();
        let (store, at_open) = write(recovered.path());
        store.close_recovered().unwrap();
        let after = snapshots(recovered.path());
        assert!(
            after.iter().any(|name| !at_open.contains(name)),
            "a snapshot after the writes: {at_open:?} -> {after:?}"
        );
        let reopened = Store::open(recovered.path()).unwrap();
        assert_eq!(reopened.load_latest().unwrap().len(), 2_000);
    }

    /// Enough records for the decode to split over threads: all come back, in order; one
    /// bad record in a later part fails the whole decode.
    #[test]
    fn decoding_on_several_threads_keeps_every_record_in_order() {
        let encoded: Vec<Vec<u8>> = (0..10_000).map(|n| encode(&record(n, 1))).collect();
        let mut raw: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let records = decode_all(&raw).unwrap();
        let ids: Vec<u128> = records.iter().map(|r| r.identity.update_id.as_u128()).collect();
        assert_eq!(ids, (0..10_000).collect::<Vec<u128>>());
        let bad = [RECORD_FORMAT, 0xff, 0xff];
        raw[9_000] = &bad;
        assert!(matches!(decode_all(&raw), Err(StoreError::Corrupt(_))));
    }

    /// The sync stores a compressed document as the upstream's cabinet; it reads back as the
    /// XML in it, after a reopen too. A damaged cabinet is a corrupt document, not a panic.
    #[test]
    fn cabinet_documents_read_back_as_xml() {
        let dir = tempfile::tempdir().unwrap();
        let xml = format!("<Update>{}é</Update>", "<x/>".repeat(2000));
        let cabinet = crate::protocol::blob::encode_compressed(&xml);
        assert!(
            cabinet.len() * 3 < xml.len(),
            "{} vs {}",
            cabinet.len(),
            xml.len()
        );
        {
            let store = Store::open(dir.path()).unwrap();
            let mut items = vec![
                (record(1, 1), cabinet.clone()),
                (record(2, 1), b"<plain/>".to_vec()),
            ];
            store.put_batch_counted(&mut items).unwrap();
            assert_eq!(store.document(1).unwrap().unwrap(), xml);
            let mut damaged = cabinet[..cabinet.len() / 2].to_vec();
            damaged.extend_from_slice(&[0xAB; 64]);
            store.put_batch_counted(&mut [(record(3, 1), damaged)]).unwrap();
            assert!(matches!(store.document(3), Err(StoreError::Corrupt(_))));
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.document(1).unwrap().unwrap(), xml);
        assert_eq!(store.document(2).unwrap().unwrap(), "<plain/>");
    }

    /// Plain XML is stored LZ4-compressed and reads back as it was, after a reopen too; a
    /// document stored plain (before compression) still reads; a damaged or oversized block is
    /// a corrupt document.
    #[test]
    fn plain_documents_are_stored_compressed_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let xml = format!(
            "<Update>{}é</Update>",
            "<Title>Security Update</Title>".repeat(200)
        );
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .put_batch_counted(&mut [(record(1, 1), xml.as_bytes().to_vec())])
                .unwrap();
            let raw = store.documents.get(1u32.to_be_bytes()).unwrap().unwrap();
            let pointer = documents::Pointer::decode(&raw).unwrap();
            let raw = store.document_file.read(pointer, usize::MAX).unwrap();
            assert!(raw.starts_with(LZ4_MAGIC));
            assert!(raw.len() * 3 < xml.len(), "{} vs {}", raw.len(), xml.len());
            store.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.document(1).unwrap().unwrap(), xml);

        let raw = |id: u32, bytes: &[u8]| store.documents.insert(id.to_be_bytes(), bytes).unwrap();
        raw(2, b"<written-plain/>");
        assert_eq!(store.document(2).unwrap().unwrap(), "<written-plain/>");
        let packed = packed_document(xml.as_bytes()).unwrap();
        raw(3, &packed[..packed.len() / 2]);
        assert!(matches!(store.document(3), Err(StoreError::Corrupt(_))));
        let mut huge = LZ4_MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&packed[8..]);
        raw(4, &huge);
        assert!(matches!(store.document(4), Err(StoreError::Corrupt(_))));
        raw(5, LZ4_MAGIC);
        assert!(matches!(store.document(5), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn local_ids_are_stable_across_rewrites_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let store = Store::open(dir.path()).unwrap();
            let ids = store
                .put_batch(&[(record(1, 100), "<a/>".into()), (record(2, 100), "<b/>".into())])
                .unwrap();
            assert_eq!(ids, vec![1, 2]);
            store.flush().unwrap();
            ids
        };
        let store = Store::open(dir.path()).unwrap();
        let again = store
            .put_batch(&[(record(2, 100), "<b2/>".into()), (record(3, 1), "<c/>".into())])
            .unwrap();
        assert_eq!(again, vec![first[1], 3]);
        assert_eq!(store.document(2).unwrap().unwrap(), "<b2/>");
        assert_eq!(
            store.counts(),
            Counts {
                revisions: 3,
                updates: 3
            }
        );
    }

    #[test]
    fn a_damaged_snapshot_is_moved_aside_and_the_store_rebuilt_from_its_log() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let batch: Vec<_> = (1..=200).map(|i| (record(i, 1), format!("<d{i}/>"))).collect();
            store.put_batch(&batch).unwrap();
            store.put_computer("c1", "{}").unwrap();
            store.flush().unwrap();
        }
        // sled writes its snapshot when a store is opened after a run.
        drop(Store::open(dir.path()).unwrap());
        let catalog = dir.path().join("catalog");
        let snapshots: Vec<_> = std::fs::read_dir(&catalog)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("snap."))
            .map(|e| e.path())
            .collect();
        assert!(!snapshots.is_empty(), "sled wrote a snapshot");
        for snapshot in &snapshots {
            let mut bytes = std::fs::read(snapshot).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle..].iter_mut().for_each(|b| *b ^= 0x5a);
            std::fs::write(snapshot, bytes).unwrap();
        }
        let store = Store::open(dir.path()).expect("opens from the log");
        assert_eq!(store.counts().revisions, 200);
        assert_eq!(store.document(200).unwrap().unwrap(), "<d200/>");
        assert!(store.has_computer("c1").unwrap());
        assert!(
            catalog.join("damaged").read_dir().unwrap().next().is_some(),
            "kept for a post-mortem"
        );
    }

    #[test]
    fn a_store_that_cannot_be_opened_names_its_directory_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("catalog"),
            b"a file where the store's folder goes",
        )
        .unwrap();
        let err = Store::open(dir.path()).err().expect("refused");
        let message = format!("{:#}", anyhow::Error::from(err));
        let path = dir.path().join("catalog").display().to_string();
        assert_eq!(message.matches(&path).count(), 1, "{message}");
        assert_eq!(message.matches("os error").count(), 1, "said once: {message}");
    }

    #[test]
    fn a_damaged_log_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.put_batch(&[(record(1, 1), "<a/>".into())]).unwrap();
            store.flush().unwrap();
        }
        let catalog = dir.path().join("catalog");
        for entry in std::fs::read_dir(&catalog).unwrap().flatten() {
            if entry.path().is_file() && entry.file_name() != "conf" {
                let mut bytes = std::fs::read(entry.path()).unwrap();
                bytes.iter_mut().take(4096).for_each(|b| *b ^= 0xa5);
                std::fs::write(entry.path(), bytes).unwrap();
            }
        }
        let message = Store::open(dir.path())
            .err()
            .expect("refused, not opened empty")
            .to_string();
        assert!(
            message.contains("damaged") && message.contains("backup"),
            "{message}"
        );
        // Moved away as the message says, a new store starts.
        std::fs::rename(&catalog, dir.path().join("catalog.old")).unwrap();
        assert_eq!(Store::open(dir.path()).unwrap().counts().revisions, 0);
    }

    #[test]
    fn latest_is_the_highest_revision_whatever_the_arrival_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_batch(&[(record(1, 200), String::new())]).unwrap();
        store.put_batch(&[(record(1, 100), String::new())]).unwrap();
        let latest = store.latest(&Uuid::from_u128(1)).unwrap().unwrap();
        assert_eq!(latest.identity.revision, 200);
        assert_eq!(
            store.counts(),
            Counts {
                revisions: 2,
                updates: 1
            }
        );
        assert_eq!(store.latest_records().unwrap().len(), 1);
    }

    fn titles(records: &[UpdateRecord]) -> Vec<String> {
        records.iter().map(|r| r.title.to_string()).collect()
    }

    /// A store at state A with its image saved, then moved on to state B (one more update).
    fn store_moved_past_its_image(dir: &Path) -> (Store, Vec<UpdateRecord>) {
        let store = Store::open(dir).unwrap();
        let batch: Vec<_> = (1..=50).map(|i| (record(i, 1), String::new())).collect();
        store.put_batch(&batch).unwrap();
        assert_eq!(store.save_latest_image().unwrap(), Some(50));
        let at_a = store.load_latest().unwrap();
        store.put_batch(&[(record(51, 1), String::new())]).unwrap();
        (store, at_a)
    }

    /// Writes the records of state A as an image claiming the store's current state B.
    fn forge_image(store: &Store, records: &[UpdateRecord]) -> std::path::PathBuf {
        let path = image::path(&store.dir);
        let raw = records.iter().map(|r| Ok::<_, std::io::Error>(encode(r)));
        image::write(&path, store.stamp().unwrap(), raw).unwrap();
        path
    }

    #[test]
    fn the_image_loads_what_the_trees_hold_and_is_rewritten_only_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_batch(&[(record(1, 100), String::new())]).unwrap();
        store
            .put_batch(&[(record(1, 200), String::new()), (record(2, 1), String::new())])
            .unwrap();
        assert_eq!(store.save_latest_image().unwrap(), Some(2));
        assert_eq!(store.save_latest_image().unwrap(), None, "already current");
        assert_eq!(store.load_latest().unwrap(), store.latest_records().unwrap());
        let mut changed = store.latest(&Uuid::from_u128(2)).unwrap().unwrap();
        changed.title = "inherited".into();
        store.update_records(&[changed]).unwrap();
        assert_eq!(
            store.save_latest_image().unwrap(),
            Some(2),
            "stale after update_records"
        );
        assert_eq!(store.load_latest().unwrap(), store.latest_records().unwrap());
        assert!(titles(&store.load_latest().unwrap()).contains(&"inherited".to_string()));
    }

    #[test]
    fn a_stale_image_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (store, at_a) = store_moved_past_its_image(dir.path());
        let loaded = store.load_latest().unwrap();
        assert_eq!(loaded.len(), at_a.len() + 1);
        assert_eq!(loaded, store.latest_records().unwrap());
    }

    #[test]
    fn a_missing_image_is_not_needed() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store_moved_past_its_image(dir.path());
        std::fs::remove_file(image::path(&store.dir)).unwrap();
        assert_eq!(store.load_latest().unwrap(), store.latest_records().unwrap());
    }

    #[test]
    fn an_image_that_matches_the_store_is_what_is_loaded() {
        // The control for the cases below: a (forged) image stamped with the store's state
        // is believed, so what they load shows which source was used.
        let dir = tempfile::tempdir().unwrap();
        let (store, at_a) = store_moved_past_its_image(dir.path());
        forge_image(&store, &at_a);
        assert_eq!(titles(&store.load_latest().unwrap()), titles(&at_a));
    }

    #[test]
    fn a_truncated_image_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (store, at_a) = store_moved_past_its_image(dir.path());
        let path = forge_image(&store, &at_a);
        let bytes = std::fs::read(&path).unwrap();
        for len in [bytes.len() - 1, bytes.len() / 2, 10, 0] {
            std::fs::write(&path, &bytes[..len]).unwrap();
            assert_eq!(
                store.load_latest().unwrap(),
                store.latest_records().unwrap(),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn a_corrupt_image_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (store, at_a) = store_moved_past_its_image(dir.path());
        let path = forge_image(&store, &at_a);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(store.load_latest().unwrap(), store.latest_records().unwrap());
    }

    #[test]
    fn an_image_with_undecodable_records_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store_moved_past_its_image(dir.path());
        let path = image::path(&store.dir);
        let junk = [Ok::<_, std::io::Error>(vec![RECORD_FORMAT, 0xff, 0xff])];
        image::write(&path, store.stamp().unwrap(), junk.into_iter()).unwrap();
        assert_eq!(store.load_latest().unwrap(), store.latest_records().unwrap());
    }

    #[test]
    fn an_image_of_another_catalog_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (store, at_a) = store_moved_past_its_image(dir.path());
        let path = image::path(&store.dir);
        let other = image::Stamp {
            catalog_id: store.catalog_id().unwrap() ^ 2,
            ..store.stamp().unwrap()
        };
        let raw = at_a.iter().map(|r| Ok::<_, std::io::Error>(encode(r)));
        image::write(&path, other, raw).unwrap();
        assert_eq!(store.load_latest().unwrap(), store.latest_records().unwrap());
    }

    #[test]
    fn an_image_read_while_the_store_opens_is_checked_against_it() {
        let dir = tempfile::tempdir().unwrap();
        let at_a = {
            let (store, at_a) = store_moved_past_its_image(dir.path());
            store.flush().unwrap();
            at_a
        };
        let store = Store::open_prefetching(dir.path(), DEFAULT_CACHE_BYTES).unwrap();
        let loaded = store.load_latest().unwrap();
        assert_eq!(loaded.len(), at_a.len() + 1, "the stale image was refused");
        assert_eq!(loaded, store.latest_records().unwrap());
        forge_image(&store, &at_a);
        store.flush().unwrap();
        drop(store);
        let store = Store::open_prefetching(dir.path(), DEFAULT_CACHE_BYTES).unwrap();
        assert_eq!(
            titles(&store.load_latest().unwrap()),
            titles(&at_a),
            "a matching one is used"
        );
        assert_eq!(
            store.load_latest().unwrap().len(),
            at_a.len(),
            "later loads read the image again"
        );
    }

    /// Documents go to the documents file, the tree holds 20-byte pointers; the same
    /// document stored again keeps its place, a changed one is appended; a damaged file is a
    /// corrupt document naming it.
    #[test]
    fn documents_live_in_their_own_file_and_are_not_written_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let xml = |n: usize| format!("<Update>{}</Update>", "<Title>Cumulative</Title>".repeat(n));
        let put = |items: &[(UpdateRecord, String)]| store.put_batch(items).unwrap();
        put(&[(record(1, 1), xml(100)), (record(2, 1), xml(200))]);
        assert!(store.documents.iter().values().all(|v| v.unwrap().len() == 20));
        let size = store.document_file.len();
        put(&[(record(2, 1), xml(200)), (record(1, 1), xml(100))]);
        assert_eq!(
            store.document_file.len(),
            size,
            "unchanged documents are not appended"
        );
        put(&[(record(1, 1), xml(300))]);
        assert!(store.document_file.len() > size);
        assert_eq!(store.document(1).unwrap().unwrap(), xml(300));
        assert_eq!(store.document(2).unwrap().unwrap(), xml(200));

        let file = dir.path().join("catalog").join(documents::FILE_NAME);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[size as usize - 1] ^= 0xFF; // the last byte of the first batch: document 2's
        std::fs::write(&file, bytes).unwrap();
        let reopened = {
            drop(store);
            Store::open(dir.path()).unwrap()
        };
        assert_eq!(reopened.document(1).unwrap().unwrap(), xml(300));
        let err = reopened.document(2).unwrap_err().to_string();
        assert!(err.contains("document 2") && err.contains("CRC"), "{err}");
    }

    /// A schema-1 store (documents in the tree) is refused until `upgrade`, which keeps its
    /// documents readable and sends new ones to the documents file.
    #[test]
    fn a_schema_1_store_is_upgraded_and_keeps_its_documents() {
        let dir = tempfile::tempdir().unwrap();
        let packed = packed_document(b"<Update>old</Update>").unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .put_batch(&[(record(1, 1), "<Update>x</Update>".into())])
                .unwrap();
            store.documents.insert(1u32.to_be_bytes(), packed).unwrap();
            store.meta.insert(SCHEMA_KEY, &1u32.to_be_bytes()).unwrap();
            store.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("schema version 1") && err.contains("wucache upgrade"),
            "{err}"
        );
        assert_eq!(upgrade(dir.path()).unwrap(), 2);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.document(1).unwrap().unwrap(), "<Update>old</Update>");
        store
            .put_batch(&[(record(2, 1), "<Update>new</Update>".into())])
            .unwrap();
        assert_eq!(store.document(2).unwrap().unwrap(), "<Update>new</Update>");
        assert_eq!(
            upgrade(dir.path()).err().map(|e| e.to_string()),
            Some("catalog store is in use by another process".into())
        );
    }

    #[test]
    fn a_newer_schema_is_refused_naming_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.meta.insert(SCHEMA_KEY, &7u32.to_be_bytes()).unwrap();
            store.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("schema version 7"), "{err}");
        assert!(upgrade(dir.path()).is_err());
    }

    #[test]
    fn deployments_keep_ids_until_the_action_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let first = store
            .reconcile_deployments("g", &[(a, 1), (b, 2)], "2026-11-01")
            .unwrap();
        assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2]);
        let same = store
            .reconcile_deployments("g", &[(a, 1), (b, 2)], "2026-11-02")
            .unwrap();
        assert_eq!(same, first);
        let changed = store
            .reconcile_deployments("g", &[(a, 1), (b, 3)], "2026-11-03")
            .unwrap();
        assert_eq!(changed[0], first[0]);
        assert_eq!(
            (changed[1].id, changed[1].seq, changed[1].date.as_str()),
            (3, 2, "2026-11-03")
        );
        let other_group = store.reconcile_deployments("h", &[(a, 1)], "2026-11-03").unwrap();
        assert_eq!(other_group[0].id, 4);
    }

    /// Model-based: whatever sequence of batches is written, the store agrees with a map.
    #[test]
    fn store_agrees_with_a_model() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut model: BTreeMap<(u128, u32), i32> = BTreeMap::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut next = 1;
        for _ in 0..50 {
            let batch: Vec<_> = (0..rng.gen_range(1..8))
                .map(|_| (record(rng.gen_range(0..20), rng.gen_range(1..4)), String::new()))
                .collect();
            let ids = store.put_batch(&batch).unwrap();
            for ((rec, _), id) in batch.iter().zip(ids) {
                let expected = *model
                    .entry((rec.identity.update_id.as_u128(), rec.identity.revision))
                    .or_insert_with(|| {
                        next += 1;
                        next - 1
                    });
                assert_eq!(id, expected);
            }
        }
        assert_eq!(store.counts().revisions, model.len());
        for ((update, revision), id) in &model {
            let identity = UpdateIdentity {
                update_id: Uuid::from_u128(*update),
                revision: *revision,
            };
            assert_eq!(store.get_identity(&identity).unwrap().unwrap().local_id, *id);
        }
        for update in model.keys().map(|(u, _)| *u) {
            let newest = model
                .keys()
                .filter(|(u, _)| *u == update)
                .map(|(_, r)| *r)
                .max()
                .unwrap();
            assert_eq!(
                store
                    .latest(&Uuid::from_u128(update))
                    .unwrap()
                    .unwrap()
                    .identity
                    .revision,
                newest
            );
        }
    }
}
