//! What a sync does with the GetUpdateData answers it fetched, on two threads of its own so
//! that fetching the next batch, reading this one's documents and storing the previous one
//! overlap: the reader decompresses and parses each document once (`mirror::catalog_record`),
//! the writer classifies the batch's changes and stores it in one transaction. Batches keep
//! their order from hand-off to hand-off, and each is stored whole or not at all, as when the
//! sync did all three in turn.

use super::mirror::{catalog_record, SyncChange};
use crate::catalog::CategoryTypes;
use crate::model::{UpdateRecord, UpdateType};
use crate::protocol::wsusss::{Blob, UpdateData};
use crate::store::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use tokio::task::JoinHandle;

/// Batches waiting at each hand-off: enough to keep the upstream, the reader and the writer
/// busy at once, few enough that the catalog never sits in memory.
const DEPTH: usize = 2;

/// One fetched GetUpdateData answer for `requested` revision ids.
struct Fetched {
    requested: usize,
    data: UpdateData,
}

/// One batch read: the stored form of every document that could be read.
struct Read {
    requested: usize,
    /// Each record with its document as it is stored (see `read_document`).
    items: Vec<(UpdateRecord, Vec<u8>)>,
    unreadable: Vec<String>,
}

/// What storing one batch did, for the summary and the progress.
pub(super) struct Stored {
    /// Revision ids the batch asked the upstream for.
    pub(super) requested: usize,
    /// Revisions the store did not hold before.
    pub(super) new: usize,
    /// The batch's software and driver updates, as new, revised or expired.
    pub(super) changes: Vec<SyncChange>,
    /// Revisions whose document could not be read (skipped, retried next sync).
    pub(super) unreadable: Vec<String>,
}

/// Why the ingest stopped before every fetched batch was stored.
#[derive(Debug, thiserror::Error)]
pub(super) enum IngestError {
    /// The catalog store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worker thread panicked (a bug).
    #[error("the sync's document {0} stopped unexpectedly")]
    Panicked(&'static str),
}

/// The reader and writer threads of one phase, fed batch by batch.
pub(super) struct Ingest {
    to_reader: tokio::sync::mpsc::Sender<Fetched>,
    stored: tokio::sync::mpsc::UnboundedReceiver<Stored>,
    reader: JoinHandle<()>,
    writer: JoinHandle<Result<(), StoreError>>,
}

impl Ingest {
    /// Starts the reader (documents to records, with `types` for products and
    /// classifications) and the writer (into `store`).
    pub(super) fn start(store: Store, types: CategoryTypes) -> Ingest {
        let (to_reader, from_fetcher) = tokio::sync::mpsc::channel(DEPTH);
        let (to_writer, from_reader) = mpsc::sync_channel(DEPTH);
        let (report, stored) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::task::spawn_blocking(move || read_batches(from_fetcher, to_writer, &types));
        let writer = tokio::task::spawn_blocking(move || write_batches(from_reader, report, &store));
        Ingest {
            to_reader,
            stored,
            reader,
            writer,
        }
    }

    /// Hands a fetched answer on; false when the workers have stopped (`finish` says why).
    pub(super) async fn send(&self, requested: usize, data: UpdateData) -> bool {
        self.to_reader.send(Fetched { requested, data }).await.is_ok()
    }

    /// The batches stored since the last call, without waiting.
    pub(super) fn stored_so_far(&mut self) -> Vec<Stored> {
        std::iter::from_fn(|| self.stored.try_recv().ok()).collect()
    }

    /// Lets the workers store what they were handed, then stops them; `each` gets every
    /// stored batch not yet collected, in order.
    pub(super) async fn finish(self, mut each: impl FnMut(Stored)) -> Result<(), IngestError> {
        let Ingest {
            to_reader,
            mut stored,
            reader,
            writer,
        } = self;
        drop(to_reader);
        while let Some(batch) = stored.recv().await {
            each(batch);
        }
        let written = writer.await.map_err(|_| IngestError::Panicked("writer"))?;
        reader.await.map_err(|_| IngestError::Panicked("reader"))?;
        Ok(written?)
    }
}

/// The reader's loop: until the fetcher stops or the writer has gone.
fn read_batches(
    mut from_fetcher: tokio::sync::mpsc::Receiver<Fetched>,
    to_writer: mpsc::SyncSender<Read>,
    types: &CategoryTypes,
) {
    while let Some(fetched) = from_fetcher.blocking_recv() {
        if to_writer.send(read_batch(fetched, types)).is_err() {
            return;
        }
    }
}

/// Decompresses and parses a batch's documents; unreadable ones are logged and listed.
fn read_batch(fetched: Fetched, types: &CategoryTypes) -> Read {
    let Fetched { requested, data } = fetched;
    let urls: HashMap<[u8; 20], String> = data.file_urls.into_iter().collect();
    let mut items = Vec::with_capacity(data.updates.len());
    let mut unreadable = Vec::new();
    for update in data.updates {
        let identity = update.identity;
        let read = read_document(update.blob).and_then(|(xml, cabinet)| {
            let record = catalog_record(&xml, identity, types, &urls)?;
            Ok((record, cabinet.unwrap_or_else(|| xml.into_bytes())))
        });
        match read {
            Ok(item) => items.push(item),
            Err(detail) => {
                tracing::warn!(revision = %identity, error = %detail, "update document unreadable; skipped until the next sync");
                unreadable.push(identity.to_string());
            }
        }
    }
    Read {
        requested,
        items,
        unreadable,
    }
}

/// Most revisions the writer puts in one transaction when read batches wait for it.
/// A document's XML, and the upstream's cabinet when it came compressed: that is what is
/// stored then (a fraction of the XML's size; the store reads it back as XML), else the XML.
fn read_document(blob: Blob) -> Result<(String, Option<Vec<u8>>), String> {
    match blob {
        Blob::Compressed(cabinet) => {
            let xml = crate::protocol::blob::decode_compressed(&cabinet).map_err(|e| e.to_string())?;
            Ok((xml, Some(cabinet)))
        }
        other => other.into_document().map(|xml| (xml, None)),
    }
}

const MAX_TRANSACTION: usize = 1_000;

/// The writer's loop: stores the batches as they come, those that waited for it together in
/// one transaction (fewer, larger commits when the store is the slowest stage), and reports
/// them; stops at the first store error (the reader then stops at its next hand-off).
fn write_batches(
    from_reader: mpsc::Receiver<Read>,
    report: tokio::sync::mpsc::UnboundedSender<Stored>,
    store: &Store,
) -> Result<(), StoreError> {
    while let Ok(mut read) = from_reader.recv() {
        while read.items.len() < MAX_TRANSACTION {
            let Ok(next) = from_reader.try_recv() else { break };
            read.requested += next.requested;
            read.items.extend(next.items);
            read.unreadable.extend(next.unreadable);
        }
        let changes = classify_changes(store, &read.items)?;
        let (_, new) = store.put_batch_counted(&mut read.items)?;
        let stored = Stored {
            requested: read.requested,
            new,
            changes,
            unreadable: read.unreadable,
        };
        if report.send(stored).is_err() {
            break;
        }
    }
    Ok(())
}

/// What each software or driver revision of a batch is to the catalog, read before the
/// batch is stored: an update's first revision, a later one, or one that expires it.
fn classify_changes(store: &Store, items: &[(UpdateRecord, Vec<u8>)]) -> Result<Vec<SyncChange>, StoreError> {
    let mut changes = Vec::new();
    let mut in_batch = HashSet::new();
    for (record, _) in items {
        if !matches!(record.update_type, UpdateType::Software | UpdateType::Driver) {
            continue;
        }
        let id = record.identity.update_id;
        let known = !in_batch.insert(id) || store.knows_update(&id)?;
        let change = match (record.is_expired(), known) {
            (true, _) => "expired",
            (false, true) => "revised",
            (false, false) => "new",
        };
        changes.push(SyncChange {
            update_id: record.identity.update_id,
            revision: record.identity.revision,
            change: change.to_string(),
            kb: record.kb.as_deref().map(String::from),
            title: record.title.to_string(),
        });
    }
    Ok(changes)
}
