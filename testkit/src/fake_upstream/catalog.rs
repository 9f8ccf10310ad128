//! The fake's documents over logical time: what changed after an anchor, and which revisions a
//! `GetRevisionIdList` filter selects.
//!
//! Time is a counter, not the clock: `start` is time 1 and every `publish` is one later. An
//! anchor encodes that counter as WSUS's `<counter>,yyyy-MM-dd HH:mm:ss.fff` (one second per
//! tick after 2026-01-01), so tests are deterministic.

use std::collections::HashMap;
use std::io::{Cursor, Write};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{NaiveDate, NaiveDateTime};
use uuid::Uuid;

use super::wire::Filter;
use super::UpstreamDoc;

/// The first field of every anchor (WSUS counts deployment changes there; the fake has none).
const DEPLOYMENT_COUNTER: u64 = 1;
const ANCHOR_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// How a document's XML goes on the wire.
#[derive(Debug, Clone)]
pub(super) enum Blob {
    /// As escaped text in `XmlUpdateBlob`.
    Plain,
    /// As this base64 CAB in `XmlUpdateBlobCompressed`.
    Compressed(String),
}

/// One stored revision.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub doc: UpstreamDoc,
    pub blob: Blob,
    /// Logical time of the last `start`/`publish` that stored it.
    pub changed_at: u64,
}

/// All stored revisions, in first-stored order.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    entries: Vec<Entry>,
    index: HashMap<(Uuid, u32), usize>,
    by_id: HashMap<Uuid, Vec<usize>>,
    now: u64,
}

impl Catalog {
    /// A catalog holding `docs` at time 1.
    pub(super) fn new(docs: Vec<UpstreamDoc>) -> Catalog {
        let mut catalog = Catalog::default();
        catalog.publish(docs);
        catalog
    }

    /// Stores `docs` (replacing equal id+revision) at the next logical time.
    pub(super) fn publish(&mut self, docs: Vec<UpstreamDoc>) {
        self.now += 1;
        for doc in docs {
            self.insert(doc);
        }
    }

    fn insert(&mut self, doc: UpstreamDoc) {
        let key = (doc.update_id, doc.revision);
        let entry = Entry {
            blob: blob_for(&doc),
            doc,
            changed_at: self.now,
        };
        match self.index.get(&key) {
            Some(&at) => self.entries[at] = entry,
            None => {
                self.index.insert(key, self.entries.len());
                self.by_id.entry(key.0).or_default().push(self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// The anchor for "everything up to now".
    pub(super) fn anchor(&self) -> String {
        anchor_at(self.now)
    }

    pub(super) fn get(&self, id: Uuid, revision: u32) -> Option<&Entry> {
        self.index.get(&(id, revision)).map(|&at| &self.entries[at])
    }

    /// Categories, classifications and detectoids (every revision) changed after `since`.
    pub(super) fn config_revisions(&self, since: Option<u64>) -> Vec<(Uuid, u32)> {
        self.entries
            .iter()
            .filter(|e| e.doc.is_config && changed_after(e, since))
            .map(identity)
            .collect()
    }

    /// Non-config revisions selected by the product/classification filter, plus the members of
    /// selected bundles, limited to changes after `since` unless a matching id asked for
    /// everything (`Delta=false`).
    pub(super) fn update_revisions(&self, filter: &Filter, since: Option<u64>) -> Vec<(Uuid, u32)> {
        let Some(mut selected) = self.select(filter) else {
            return Vec::new();
        };
        self.add_bundle_members(&mut selected);
        self.entries
            .iter()
            .zip(&selected)
            .filter(|(entry, pick)| match pick {
                Some(everything) => *everything || changed_after(entry, since),
                None => false,
            })
            .map(|(entry, _)| identity(entry))
            .collect()
    }

    /// Per entry: `None` if not selected, else whether to return it regardless of the anchor.
    /// `None` overall when exactly one of the two lists is given (WSUS then returns nothing).
    fn select(&self, filter: &Filter) -> Option<Vec<Option<bool>>> {
        let products: HashMap<Uuid, bool> = filter.categories.iter().copied().collect();
        let classes: HashMap<Uuid, bool> = filter.classifications.iter().copied().collect();
        if products.is_empty() != classes.is_empty() {
            return None;
        }
        let everything = products.is_empty();
        let selected = self.entries.iter().map(|entry| {
            if entry.doc.is_config {
                return None;
            }
            if everything {
                return Some(false);
            }
            let product = best_match(&entry.doc.products, &products)?;
            let class = best_match(&entry.doc.classifications, &classes)?;
            Some(product || class)
        });
        Some(selected.collect())
    }

    /// Selects the members of selected bundles, transitively, inheriting the bundle's flag.
    fn add_bundle_members(&self, selected: &mut [Option<bool>]) {
        let mut queue: Vec<usize> = (0..selected.len()).filter(|&i| selected[i].is_some()).collect();
        while let Some(bundle) = queue.pop() {
            let everything = selected[bundle].unwrap_or(false);
            for member in &self.entries[bundle].doc.bundled {
                for &at in self.by_id.get(member).into_iter().flatten() {
                    if self.entries[at].doc.is_config {
                        continue;
                    }
                    let upgraded = match selected[at] {
                        None => true,
                        Some(current) => everything && !current,
                    };
                    if upgraded {
                        selected[at] = Some(everything);
                        queue.push(at);
                    }
                }
            }
        }
    }
}

/// `Some(true)` if some id matches with `Delta=false`, `Some(false)` if only with `Delta=true`,
/// `None` if no id matches.
fn best_match(ids: &[Uuid], listed: &HashMap<Uuid, bool>) -> Option<bool> {
    ids.iter()
        .filter_map(|id| listed.get(id))
        .fold(None, |best, &delta| Some(best.unwrap_or(false) || !delta))
}

fn changed_after(entry: &Entry, since: Option<u64>) -> bool {
    since.is_none_or(|since| entry.changed_at > since)
}

fn identity(entry: &Entry) -> (Uuid, u32) {
    (entry.doc.update_id, entry.doc.revision)
}

fn anchor_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// `1,2026-01-01 00:00:05.000` for time 5.
pub(super) fn anchor_at(time: u64) -> String {
    let seconds = i64::try_from(time).unwrap_or(i64::MAX);
    let at = anchor_epoch() + chrono::Duration::seconds(seconds);
    format!("{DEPLOYMENT_COUNTER},{}", at.format(ANCHOR_TIME_FORMAT))
}

/// The logical time an anchor stands for; `None` if it is not `<counter>,<timestamp>`.
/// Anchors from before the epoch stand for time 0.
pub(super) fn parse_anchor(anchor: &str) -> Option<u64> {
    let (counter, stamp) = anchor.split_once(',')?;
    counter.trim().parse::<u64>().ok()?;
    let at = NaiveDateTime::parse_from_str(stamp.trim(), ANCHOR_TIME_FORMAT).ok()?;
    let seconds = (at - anchor_epoch()).num_seconds();
    Some(u64::try_from(seconds).unwrap_or(0))
}

fn blob_for(doc: &UpstreamDoc) -> Blob {
    if let Some(cab) = &doc.cab {
        return Blob::Compressed(BASE64.encode(cab));
    }
    if !doc.compress {
        return Blob::Plain;
    }
    match compress_xml(&doc.xml) {
        Ok(cab) => Blob::Compressed(BASE64.encode(cab)),
        Err(error) => {
            tracing::warn!(%error, id = %doc.update_id, "fake upstream: cannot build CAB, serving plain XML");
            Blob::Plain
        }
    }
}

/// A cabinet holding `xml` as one member `blob` in UTF-16LE without BOM, the form of
/// `XmlUpdateBlobCompressed`. Real WSUS uses LZX, which the cab crate cannot write; this uses
/// MSZIP, which every CAB reader (and the cab crate) decodes the same way.
pub fn compress_xml(xml: &str) -> std::io::Result<Vec<u8>> {
    let utf16: Vec<u8> = xml.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut builder = cab::CabinetBuilder::new();
    builder.add_folder(cab::CompressionType::MsZip).add_file("blob");
    let mut writer = builder.build(Cursor::new(Vec::new()))?;
    while let Some(mut file) = writer.next_file()? {
        file.write_all(&utf16)?;
    }
    Ok(writer.finish()?.into_inner())
}
