//! One metadata sync run, as a downstream WSUS does it (docs/protocol.md §8.2): configuration,
//! then the categories phase (`GetConfig=true`), then the updates phase (configured products ×
//! classifications, `Delta` per id against the saved anchor). Only revisions the store lacks
//! are fetched; batches never exceed the upstream's limit; an id the upstream cannot serve is
//! found by bisection and skipped; an unreadable document is skipped and reported. Anchors
//! are saved only after their phase's data is durable.

use super::ingest::{Ingest, IngestError, Stored};
use super::session::{RetryPolicy, Session, UpstreamError};
use super::transport::Transport;
use crate::catalog::{self, CategoryTypes, UnknownCategory};
use crate::config::Config;
use crate::model::{CategoryType, UpdateIdentity, UpdateRecord};
use crate::protocol::update_xml;
use crate::protocol::wsusss::{self, ConfigData, Filter, RevisionIdList, UpdateData};
use crate::store::{MetaKey, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Instant;
use uuid::Uuid;

/// Our own ceiling on ids per GetUpdateData, whatever the upstream allows.
const MAX_BATCH: usize = 1000;

/// Why a sync run stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// An upstream call failed for good (after retries, or with a fault that ends the run).
    #[error(transparent)]
    Upstream(Box<UpstreamError>),
    /// The catalog store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The replica's copy of the hub's baselines could not be written.
    #[error("cannot write the hub's baselines to {path}: {source}")]
    Replica {
        /// The file.
        path: String,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A worker of the sync panicked (a bug).
    #[error("{0}")]
    Panicked(String),
    /// A configured product or classification names no known category.
    #[error("config key `{key}`: {source}")]
    Config {
        /// The config key, `sync.products` or `sync.classifications`.
        key: &'static str,
        /// The name that matched nothing.
        source: UnknownCategory,
    },
}

impl From<IngestError> for SyncError {
    fn from(err: IngestError) -> Self {
        match err {
            IngestError::Store(err) => SyncError::Store(err),
            IngestError::Panicked(_) => SyncError::Panicked(err.to_string()),
        }
    }
}

impl From<UpstreamError> for SyncError {
    fn from(err: UpstreamError) -> Self {
        SyncError::Upstream(Box::new(err))
    }
}

/// The stages a sync reports progress for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// `GetConfigData`: the upstream's configuration and limits.
    Configuration,
    /// The categories phase: categories, classifications and detectoids (`GetConfig=true`).
    Categories,
    /// The updates phase: the configured products × classifications.
    Updates,
}

impl Phase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Configuration => "configuration",
            Phase::Categories => "categories",
            Phase::Updates => "updates",
        }
    }
}

/// Receives progress; the CLI draws a bar, the daemon logs.
pub trait Progress: Send + Sync {
    /// A phase starts with `total` revisions to fetch (0 when unknown or nothing to do).
    fn phase(&self, phase: Phase, total: u64);
    /// `n` more revisions of the current phase are done.
    fn advance(&self, n: u64);
}

/// Progress that goes nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _: Phase, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// What one sync did, for the CLI summary, the admin API and the log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SyncSummary {
    pub(crate) started: String,
    pub(crate) seconds: f64,
    pub(crate) upstream: String,
    /// Revisions the upstream listed in each phase.
    pub categories_listed: usize,
    /// Revisions the upstream listed in the updates phase.
    pub updates_listed: usize,
    /// Update documents transferred (GetUpdateData items).
    pub documents_fetched: usize,
    /// Revisions newly stored.
    pub new_revisions: usize,
    /// Revisions the upstream listed but could not serve (skipped, retried next sync).
    pub skipped_ids: Vec<String>,
    /// Revisions whose document could not be read (skipped, retried next sync).
    pub unreadable: Vec<String>,
    pub(crate) products: usize,
    pub(crate) classifications: usize,
    pub(crate) upstream_calls: u64,
    /// Upstream calls repeated after a retryable failure.
    pub retries: u64,
    pub(crate) bytes_received: u64,
    pub(crate) catalog_revisions: usize,
    pub(crate) catalog_updates: usize,
    pub(crate) peak_rss_bytes: Option<u64>,
    pub(crate) error: Option<String>,
    /// Software and driver updates this run brought their first revision.
    pub new_updates: usize,
    /// Software and driver updates this run brought a later revision.
    pub revised_updates: usize,
    /// Software and driver updates whose new revision expires them.
    pub expired_updates: usize,
    /// Those updates with KB and title, the first `MAX_LISTED_CHANGES` of them.
    pub changes: Vec<SyncChange>,
}

/// The most changes one sync summary lists (the counts above are complete).
pub const MAX_LISTED_CHANGES: usize = 1_000;

/// One update a sync brought.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SyncChange {
    /// The update.
    pub update_id: Uuid,
    /// The revision this run stored.
    pub revision: u32,
    /// `new`, `revised` or `expired`.
    pub change: String,
    /// Its KB article, as the document names it.
    pub kb: Option<String>,
    /// Its English title.
    pub title: String,
}

impl SyncSummary {
    pub(crate) fn revisions_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.new_revisions as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Sync summaries kept in the history.
const SYNC_HISTORY: usize = 100;

/// Runs one sync against `config.upstream.server`, recording the outcome in the store.
pub async fn run(store: &Store, config: &Config, progress: &dyn Progress) -> Result<SyncSummary, SyncError> {
    let started = Instant::now();
    let mut mirror = Mirror::new(store, config, progress)?;
    let result = match mirror.run_phases().await {
        Err(SyncError::Upstream(err)) if err.error_code() == Some("ServerChanged") => {
            tracing::warn!("upstream reports ServerChanged: dropping anchors and listing everything again");
            clear_anchors(store)?;
            mirror.session.reset();
            mirror.run_phases().await
        }
        other => other,
    };
    let mut summary = mirror.finish(started);
    if let Err(err) = &result {
        summary.error = Some(err.to_string());
    }
    let json = serde_json::to_string(&summary).unwrap_or_default();
    store.set_meta(MetaKey::LastSyncSummary, &json)?;
    store.add_sync(&summary.started, &json, SYNC_HISTORY)?;
    if result.is_ok() {
        store.set_meta(MetaKey::LastSyncSuccess, &chrono::Utc::now().to_rfc3339())?;
    }
    store.flush()?;
    save_latest_image(store);
    result.map(|()| summary)
}

/// Writes the latest-records image `serve` starts from, after the run's data is durable; a
/// failure only costs the next start-up the slower load from the trees.
pub(crate) fn save_latest_image(store: &Store) {
    let started = Instant::now();
    match store.save_latest_image() {
        Ok(Some(records)) => tracing::info!(
            records,
            ms = started.elapsed().as_millis() as u64,
            "catalog image written"
        ),
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %err, "catalog image not written; the next start-up reads the store")
        }
    }
}

/// Where a replica's sync leaves the hub's baselines (JSON `{format, text}`) for the daemon to
/// check and adopt: `<data_dir>/replica/incoming.json`.
pub fn replica_incoming(config: &Config) -> std::path::PathBuf {
    config.storage.data_dir.join("replica").join("incoming.json")
}

fn clear_anchors(store: &Store) -> Result<(), StoreError> {
    for key in [
        MetaKey::ConfigAnchor,
        MetaKey::CategoriesAnchor,
        MetaKey::UpdatesAnchor,
    ] {
        store.remove_meta(key)?;
    }
    store.flush()
}

struct Mirror<'a> {
    store: &'a Store,
    config: &'a Config,
    progress: &'a dyn Progress,
    session: Session,
    batch: usize,
    summary: SyncSummary,
}

impl<'a> Mirror<'a> {
    fn new(
        store: &'a Store,
        config: &'a Config,
        progress: &'a dyn Progress,
    ) -> Result<Mirror<'a>, SyncError> {
        let upstream = &config.upstream;
        let transport = Transport::new(upstream).map_err(UpstreamError::Setup)?;
        tracing::info!(upstream = %upstream.server, proxy = %transport.proxy_description(), "sync starts");
        let retry = RetryPolicy {
            max_attempts: upstream.max_attempts,
            initial: upstream.initial_backoff,
            max: upstream.max_backoff,
        };
        let session = Session::new(
            transport,
            &upstream.server,
            &upstream.account_name,
            account_guid(store)?,
            retry,
        );
        let summary = SyncSummary {
            started: chrono::Utc::now().to_rfc3339(),
            upstream: upstream.server.clone(),
            ..SyncSummary::default()
        };
        Ok(Mirror {
            store,
            config,
            progress,
            session,
            batch: 1,
            summary,
        })
    }

    async fn run_phases(&mut self) -> Result<(), SyncError> {
        self.progress.phase(Phase::Configuration, 0);
        let config_data = self.configuration().await?;
        self.categories_phase().await?;
        self.updates_phase(&config_data).await?;
        if self.config.upstream.replica {
            self.fetch_replica_baselines().await?;
        }
        Ok(())
    }

    /// Replica mode: the hub's baselines, as its JSON answer, to
    /// [`replica_incoming`]; the daemon (or `wucache sync`) checks them and puts them in force.
    async fn fetch_replica_baselines(&mut self) -> Result<(), SyncError> {
        let answer = self.session.replica_baselines().await?;
        let path = replica_incoming(self.config);
        let write = || -> std::io::Result<()> {
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(dir)?;
            let partial = path.with_extension("partial");
            std::fs::write(&partial, answer.as_bytes())?;
            std::fs::File::open(&partial)?.sync_all()?;
            std::fs::rename(&partial, &path)
        };
        write().map_err(|source| SyncError::Replica {
            path: path.display().to_string(),
            source,
        })?;
        tracing::info!(bytes = answer.len(), "hub baselines fetched (replica mode)");
        Ok(())
    }

    /// GetConfigData: the live limits decide the batch size.
    async fn configuration(&mut self) -> Result<ConfigData, SyncError> {
        let anchor = self.store.meta(MetaKey::ConfigAnchor)?;
        let data = self
            .session
            .call(
                "GetConfigData",
                |c| wsusss::get_config_data(c, anchor.as_deref()),
                wsusss::parse_config_data,
            )
            .await?;
        self.batch = data.max_updates_per_request.clamp(1, MAX_BATCH);
        // A WSUS (or wucache) upstream hosts the payloads itself; Microsoft Update does not.
        if data.catalog_only_sync {
            self.store.remove_meta(MetaKey::UpstreamContent)?;
        } else {
            let base = self.config.upstream.server.trim_end_matches('/');
            self.store.set_meta(MetaKey::UpstreamContent, base)?;
        }
        tracing::info!(max_updates_per_request = data.max_updates_per_request, protocol = %data.protocol_version, "upstream configuration read");
        if let Some(anchor) = &data.new_config_anchor {
            self.store.set_meta(MetaKey::ConfigAnchor, anchor)?;
        }
        Ok(data)
    }

    /// Categories, classifications and detectoids changed since the saved anchor.
    async fn categories_phase(&mut self) -> Result<(), SyncError> {
        let filter = Filter {
            anchor: self.store.meta(MetaKey::CategoriesAnchor)?,
            get_config: true,
            ..Filter::default()
        };
        let list = self.list(&filter).await?;
        self.summary.categories_listed = list.revisions.len();
        self.fetch_missing(Phase::Categories, &list.revisions, &CategoryTypes::new())
            .await?;
        self.commit_anchor(MetaKey::CategoriesAnchor, list.anchor.as_deref())
    }

    /// The stored categories as (id, type, title), and the AWS names (`WindowsServer2022`,
    /// product families, `SecurityUpdates`) configured names may use besides titles and GUIDs.
    fn category_names(&self) -> Result<(Vec<catalog::KnownCategory>, Vec<catalog::Alias>), SyncError> {
        let records = self.store.category_records()?;
        let aliases = crate::approval::sync_aliases(&records);
        let known = records
            .into_iter()
            .map(|r| {
                let kind = r.category_type.unwrap_or(CategoryType::Other);
                (r.identity.update_id, kind, r.title.into())
            })
            .collect();
        Ok((known, aliases))
    }

    /// Updates of the configured products × classifications.
    async fn updates_phase(&mut self, config_data: &ConfigData) -> Result<(), SyncError> {
        let (known, aliases) = self.category_names()?;
        let sync = &self.config.sync;
        let products = catalog::resolve_names(&sync.products, CategoryType::Product, &known, &aliases)
            .map_err(|source| SyncError::Config {
                key: "sync.products",
                source,
            })?;
        let classifications = catalog::resolve_names(
            &sync.classifications,
            CategoryType::UpdateClassification,
            &known,
            &aliases,
        )
        .map_err(|source| SyncError::Config {
            key: "sync.classifications",
            source,
        })?;
        self.summary.products = products.len();
        self.summary.classifications = classifications.len();
        if products.is_empty() || classifications.is_empty() {
            tracing::warn!("no products or no classifications configured ([sync] products / classifications): only categories were synced");
            self.progress.phase(Phase::Updates, 0);
            return Ok(());
        }
        let languages = language_ids(&sync.languages, config_data);
        let filter = self.updates_filter(&products, &classifications, &languages)?;
        let list = self.list(&filter).await?;
        self.summary.updates_listed = list.revisions.len();
        let types = self.store.category_types()?;
        self.fetch_missing(Phase::Updates, &list.revisions, &types)
            .await?;
        self.inherit_bundle_categories()?;
        self.commit_anchor(MetaKey::UpdatesAnchor, list.anchor.as_deref())?;
        self.store
            .set_meta(MetaKey::SyncedProducts, &join_ids(&products))?;
        self.store
            .set_meta(MetaKey::SyncedClassifications, &join_ids(&classifications))?;
        self.store.set_meta(MetaKey::SyncedLanguages, &join(&languages))?;
        self.store.flush()?;
        Ok(())
    }

    /// `Delta=true` only for ids the last committed phase already asked for.
    fn updates_filter(
        &self,
        products: &[Uuid],
        classifications: &[Uuid],
        languages: &[i32],
    ) -> Result<Filter, SyncError> {
        let anchor = self.store.meta(MetaKey::UpdatesAnchor)?;
        let synced = |key| -> Result<HashSet<String>, StoreError> {
            Ok(self
                .store
                .meta(key)?
                .unwrap_or_default()
                .split(',')
                .map(str::to_string)
                .collect())
        };
        let (old_products, old_classes, old_languages) = (
            synced(MetaKey::SyncedProducts)?,
            synced(MetaKey::SyncedClassifications)?,
            synced(MetaKey::SyncedLanguages)?,
        );
        let has_anchor = anchor.is_some();
        let delta = |set: &HashSet<String>, id: String| has_anchor && set.contains(&id);
        Ok(Filter {
            anchor,
            get_config: false,
            products: products
                .iter()
                .map(|id| (*id, delta(&old_products, id.to_string())))
                .collect(),
            classifications: classifications
                .iter()
                .map(|id| (*id, delta(&old_classes, id.to_string())))
                .collect(),
            languages: languages
                .iter()
                .map(|id| (*id, delta(&old_languages, id.to_string())))
                .collect(),
        })
    }

    async fn list(&mut self, filter: &Filter) -> Result<RevisionIdList, SyncError> {
        Ok(self
            .session
            .call(
                "GetRevisionIdList",
                |c| wsusss::get_revision_id_list(c, filter),
                wsusss::parse_revision_id_list,
            )
            .await?)
    }

    /// Fetches and stores every listed revision the store does not hold yet.
    async fn fetch_missing(
        &mut self,
        phase: Phase,
        listed: &[UpdateIdentity],
        types: &CategoryTypes,
    ) -> Result<(), SyncError> {
        let mut seen = HashSet::new();
        let mut wanted = Vec::new();
        for identity in listed {
            if seen.insert(*identity) && !self.store.contains(identity)? {
                wanted.push(*identity);
            }
        }
        self.progress.phase(phase, wanted.len() as u64);
        if phase == Phase::Updates && !wanted.is_empty() {
            self.store.set_meta(MetaKey::InheritancePending, "1")?;
            self.store.flush()?;
        }
        tracing::info!(
            phase = phase.as_str(),
            listed = listed.len(),
            missing = wanted.len(),
            "fetching revisions"
        );
        let mut ingest = Ingest::start(self.store.clone(), types.clone());
        let mut fetched = Ok(());
        for chunk in wanted.chunks(self.batch) {
            let data = match self.fetch_batch(chunk).await {
                Ok(data) => data,
                Err(err) => {
                    fetched = Err(err);
                    break;
                }
            };
            self.summary.documents_fetched += data.updates.len();
            if !ingest.send(chunk.len(), data).await {
                break;
            }
            for stored in ingest.stored_so_far() {
                self.count_stored(stored);
            }
        }
        let ingested = ingest.finish(|stored| self.count_stored(stored)).await;
        fetched?;
        ingested?;
        self.store.flush()?;
        Ok(())
    }

    /// Counts a stored batch into the summary and the progress.
    fn count_stored(&mut self, stored: Stored) {
        self.summary.new_revisions += stored.new;
        self.summary.unreadable.extend(stored.unreadable);
        for change in stored.changes {
            self.record_change(change);
        }
        self.progress.advance(stored.requested as u64);
    }

    /// GetUpdateData for `ids`. One id the upstream cannot serve faults the whole call, so a
    /// faulting batch is split in halves until the bad id stands alone; it is then skipped.
    async fn fetch_batch(&mut self, ids: &[UpdateIdentity]) -> Result<UpdateData, SyncError> {
        let mut merged = UpdateData::default();
        let mut pending = vec![ids.to_vec()];
        while let Some(part) = pending.pop() {
            let result = self
                .session
                .call(
                    "GetUpdateData",
                    |c| wsusss::get_update_data(c, &part),
                    wsusss::parse_update_data,
                )
                .await;
            match result {
                Ok(data) => {
                    merged.updates.extend(data.updates);
                    merged.file_urls.extend(data.file_urls);
                }
                Err(err) if is_per_id_fault(&err) && part.len() > 1 => {
                    let (left, right) = part.split_at(part.len() / 2);
                    pending.push(right.to_vec());
                    pending.push(left.to_vec());
                }
                Err(err) if is_per_id_fault(&err) => {
                    tracing::warn!(revision = %part[0], error = %err, "upstream cannot serve this revision; skipped until the next sync");
                    self.summary.skipped_ids.push(part[0].to_string());
                }
                Err(err) => return Err(SyncError::from(err)),
            }
        }
        Ok(merged)
    }

    fn record_change(&mut self, change: SyncChange) {
        let counter = match change.change.as_str() {
            "expired" => &mut self.summary.expired_updates,
            "revised" => &mut self.summary.revised_updates,
            _ => &mut self.summary.new_updates,
        };
        *counter += 1;
        if self.summary.changes.len() < MAX_LISTED_CHANGES {
            self.summary.changes.push(change);
        }
    }

    /// Bundle members take their bundle's products and classifications when they lack their
    /// own: after a run that stored something, or one killed before it got this far.
    fn inherit_bundle_categories(&mut self) -> Result<(), SyncError> {
        let pending = self.store.meta(MetaKey::InheritancePending)?.is_some();
        if self.summary.new_revisions == 0 && !pending {
            return Ok(());
        }
        Ok(inherit_bundle_categories(self.store)?)
    }

    fn commit_anchor(&mut self, key: MetaKey, anchor: Option<&str>) -> Result<(), SyncError> {
        self.store.flush()?;
        if let Some(anchor) = anchor {
            if self.summary.skipped_ids.is_empty() && self.summary.unreadable.is_empty() {
                self.store.set_meta(key, anchor)?;
            } else {
                tracing::info!(
                    "anchor not advanced: some revisions were skipped and will be asked for again"
                );
            }
        }
        self.store.flush()?;
        Ok(())
    }

    fn finish(&mut self, started: Instant) -> SyncSummary {
        let counts = self.store.counts();
        let stats = self.session.stats;
        let mut summary = std::mem::take(&mut self.summary);
        summary.seconds = started.elapsed().as_secs_f64();
        summary.upstream_calls = stats.calls;
        summary.retries = stats.retries;
        summary.bytes_received = stats.bytes_received;
        summary.catalog_revisions = counts.revisions;
        summary.catalog_updates = counts.updates;
        summary.peak_rss_bytes = peak_rss_bytes();
        summary
    }
}

/// A record carrying only what a bundle hands down to its members.
fn categories_only(bundle: &UpdateRecord) -> UpdateRecord {
    UpdateRecord {
        products: bundle.products.clone(),
        classifications: bundle.classifications.clone(),
        ..UpdateRecord::new(bundle.identity, bundle.update_type)
    }
}

/// Faults that mean "something in this id list", worth bisecting.
fn is_per_id_fault(err: &UpstreamError) -> bool {
    matches!(err, UpstreamError::Fault { .. })
        && matches!(
            err.error_code(),
            Some("InternalServerError" | "InvalidParameters")
        )
}

/// An update document as the store keeps it: parsed, checked to be revision `identity`, its
/// products and classifications assigned (`types`: the stored categories), its files' download
/// URLs attached. The sync and `bundle` import read documents through this one function.
pub(crate) fn catalog_record(
    xml: &str,
    identity: UpdateIdentity,
    types: &CategoryTypes,
    urls: &HashMap<[u8; 20], String>,
) -> Result<UpdateRecord, String> {
    let mut record = update_xml::parse_update(xml).map_err(|e| e.to_string())?;
    if record.identity != identity {
        return Err(format!(
            "document is revision {}, not {identity}",
            record.identity
        ));
    }
    catalog::assign_categories(&mut record, types);
    for file in &mut record.files {
        if let Some(url) = urls.get(&file.sha1) {
            file.url = url.as_str().into();
        }
    }
    Ok(record)
}

/// Bundle members take their bundle's products and classifications when they lack their own,
/// then the `InheritancePending` mark is removed. Streams the store twice instead of holding
/// the catalog in memory: first the categories every bundle hands down, then the members
/// that lack them. Whoever stores revisions sets the mark (durably) first, so a run killed
/// in between is completed by the next.
pub(crate) fn inherit_bundle_categories(store: &Store) -> Result<(), StoreError> {
    let mut inherited: HashMap<Uuid, UpdateRecord> = HashMap::new();
    for record in store.all_revisions() {
        let bundle = record?;
        if bundle.bundled.is_empty() || (bundle.products.is_empty() && bundle.classifications.is_empty()) {
            continue;
        }
        for member in &bundle.bundled {
            inherited
                .entry(member.update_id)
                .or_insert_with(|| categories_only(&bundle));
        }
    }
    let mut changed = Vec::new();
    for (member_id, bundle) in &inherited {
        let Some(mut member) = store.latest(member_id)? else {
            continue;
        };
        if catalog::inherit_from_bundle(&mut member, bundle) {
            changed.push(member);
        }
        if changed.len() == INHERIT_BATCH {
            store.update_records(&std::mem::take(&mut changed))?;
        }
    }
    store.update_records(&changed)?;
    store.flush()?;
    store.remove_meta(MetaKey::InheritancePending)?;
    Ok(())
}

/// Members whose inherited categories are written in one transaction.
const INHERIT_BATCH: usize = 1_000;

/// Language short names → upstream LanguageIDs; empty or "all" means no language filter.
fn language_ids(names: &[String], config_data: &ConfigData) -> Vec<i32> {
    if names.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case("all")) {
        return Vec::new();
    }
    let mut ids: Vec<i32> = config_data
        .languages
        .iter()
        .filter(|l| l.id != 0 && names.iter().any(|n| n.eq_ignore_ascii_case(&l.short)))
        .map(|l| l.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// The GUID this server announces upstream, created once and kept.
fn account_guid(store: &Store) -> Result<Uuid, StoreError> {
    if let Some(text) = store.meta(MetaKey::AccountGuid)? {
        if let Ok(id) = Uuid::parse_str(&text) {
            return Ok(id);
        }
    }
    let id = Uuid::new_v4();
    store.set_meta(MetaKey::AccountGuid, &id.to_string())?;
    Ok(id)
}

fn join_ids(ids: &[Uuid]) -> String {
    ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",")
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Peak resident memory of this process (Linux `VmHWM`), for summaries and benchmarks.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wsusss::Language;

    #[test]
    fn languages_resolve_by_short_name() {
        let data = ConfigData {
            catalog_only_sync: false,
            lazy_sync: false,
            max_updates_per_request: 100,
            new_config_anchor: None,
            protocol_version: "1.20".into(),
            languages: vec![
                Language {
                    id: 0,
                    short: "all".into(),
                    enabled: false,
                },
                Language {
                    id: 1033,
                    short: "en".into(),
                    enabled: true,
                },
                Language {
                    id: 1031,
                    short: "de".into(),
                    enabled: false,
                },
            ],
        };
        assert_eq!(language_ids(&["EN".into(), "de".into()], &data), vec![1031, 1033]);
        assert!(language_ids(&["all".into()], &data).is_empty());
        assert!(language_ids(&[], &data).is_empty());
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        assert!(peak_rss_bytes().unwrap_or(1) > 0);
    }
}
