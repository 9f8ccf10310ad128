//! The served catalog, frozen: the newest revision of every update, its graph, one scope
//! per baseline in use (persistent deployment identities; a client's TargetGroup picks its
//! patch group's baseline), and a cache of Core fragments. Built at start-up, after every
//! sync and at every evaluation epoch; requests read one `Arc<Snapshot>`
//! from start to end, so a sync never changes an answer half-way. Uses `model`,
//! `protocol`, `approval`, `fleet`, `plan`, `store`, `content`.

use crate::approval::{
    catalog_facts, evaluation_epoch, facts_without_successors, BaselineSet, CatalogOffers, Offer, UpdateFacts,
};
use crate::content::PayloadMeta;
use crate::fleet::{CatalogFacts, Decisions};
use crate::model::{FileRef, UpdateRecord};
use crate::plan::{self, Graph, NodeId, Scope, ScopeEntry};
use crate::protocol::wusp::{Deployment, DeploymentAction};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use uuid::Uuid;

/// The policy every client belongs to when no baseline file is configured.
pub const DEFAULT_GROUP: &str = "default";

/// A policy: its id (the baseline id) and its decision for a top-level update.
/// A policy: its id (a baseline id, or `<baseline>#<group>` for a patch group with windows of
/// its own) and its offer and install deadline (unix seconds) for a top-level update.
type Policy<'a> = (String, Box<dyn Fn(&UpdateRecord) -> (Offer, Option<i64>) + 'a>);

/// The served catalog, frozen per sync or evaluation epoch: records, graph, scopes, file index.
pub struct Snapshot {
    /// Same order as `graph.nodes`.
    pub records: Vec<UpdateRecord>,
    /// The prerequisite and bundle graph over `records`.
    pub graph: Graph,
    /// The default policy's scope (the only one without a baseline file).
    pub scope: Scope,
    default_policy: String,
    /// Scopes of the other baselines patch groups use, by baseline id.
    other_scopes: HashMap<String, Scope>,
    baselines: Option<Arc<BaselineSet>>,
    pub(crate) catalog_id: u64,
    /// `Config.LastChange`: fixed per store, so clients' cached configs stay valid.
    pub config_last_change: String,
    /// SHA-1 → (node, index in its record's files).
    files: HashMap<[u8; 20], (NodeId, usize)>,
    /// Payloads of approved updates (Install, and the members of approved bundles), in a
    /// stable order: what is served, prefetched and kept.
    approved_files: Vec<[u8; 20]>,
    approved_set: std::collections::HashSet<[u8; 20]>,
    /// The upstream's base URL when it hosts payloads (`MetaKey::UpstreamContent`): payloads
    /// are fetched from its `/Content` rather than from their `MUUrl`.
    content_source: Option<String>,
    /// The next time a maintenance window opens or reaches its cutoff for some policy (unix
    /// seconds): the offers change then, so the catalog is re-planned then.
    pub next_window_boundary: Option<i64>,
    /// When the offers were decided (unix seconds); compliance is measured as of then.
    built_at: i64,
    /// Unique per snapshot built in this process: answers cached by what determines them
    /// name the snapshot they came from.
    pub serial: u64,
    /// Each baseline's decisions for compliance, by baseline id, computed on first use.
    decisions: OnceLock<HashMap<String, Arc<Decisions>>>,
    /// The catalog's facts while someone holds them (`catalog_facts`).
    facts: Mutex<Weak<CatalogFacts>>,
}

/// The patch group and baseline a client's requested TargetGroups select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The registered patch group, `None` when the client fell to the default baseline.
    pub group: Option<String>,
    pub(crate) baseline_id: String,
}

fn next_serial() -> u64 {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Snapshot {
    /// An empty catalog (before the first load).
    pub fn empty() -> Snapshot {
        Snapshot {
            records: Vec::new(),
            graph: Graph::default(),
            scope: Scope::default(),
            default_policy: DEFAULT_GROUP.to_string(),
            other_scopes: HashMap::new(),
            baselines: None,
            catalog_id: 0,
            config_last_change: String::new(),
            files: HashMap::new(),
            approved_files: Vec::new(),
            approved_set: Default::default(),
            content_source: None,
            next_window_boundary: None,
            built_at: 0,
            serial: next_serial(),
            decisions: OnceLock::new(),
            facts: Mutex::new(Weak::new()),
        }
    }

    /// Reads the store and plans the default group's deployments as of `now` (unix seconds)
    /// without a baseline file: every mirrored update that is neither expired nor superseded
    /// by a live update is approved.
    pub fn build(store: &Store, now: i64) -> Result<Snapshot, StoreError> {
        let records = store.load_latest()?;
        let (offers, graph) = beside_graph(&records, || CatalogOffers::without_baselines(&records));
        let decide = |record: &UpdateRecord| (offers.offer_without_baselines(record), None);
        let policies: Vec<Policy<'_>> = vec![(DEFAULT_GROUP.to_string(), Box::new(decide))];
        let snapshot = Snapshot::build_policies_from(store, now, records, graph, policies, None);
        drop_aside(offers);
        snapshot
    }

    /// `build` with another approval decision (benchmarks approve a chosen subset).
    pub fn build_with(
        store: &Store,
        now: i64,
        decide: impl Fn(&UpdateRecord) -> Offer,
    ) -> Result<Snapshot, StoreError> {
        let policies: Vec<Policy<'_>> = vec![(
            DEFAULT_GROUP.to_string(),
            Box::new(move |record: &UpdateRecord| (decide(record), None)),
        )];
        Snapshot::build_policies(store, now, policies, None)
    }

    /// Plans one scope per baseline that a patch group (or the default) uses, deciding by the
    /// baseline engine at the evaluation epoch of `now`.
    pub fn build_with_baselines(
        store: &Store,
        now: i64,
        set: Arc<BaselineSet>,
    ) -> Result<Snapshot, StoreError> {
        let records = store.load_latest()?;
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        let (offers, graph) = beside_graph(&records, || CatalogOffers::new(&records, &set, at));
        let mut ids: Vec<(String, Option<String>)> = vec![(set.default_baseline().id.clone(), None)];
        for (group, baseline) in set.groups().iter() {
            let wanted = if set.has_group_policy(group) {
                (baseline.to_string(), Some(group.to_string()))
            } else {
                (baseline.to_string(), None)
            };
            if !ids.contains(&wanted) {
                ids.push(wanted);
            }
        }
        let mut boundary: Option<i64> = None;
        let policies: Vec<Policy<'_>> = ids
            .into_iter()
            .filter_map(|(id, group)| set.baseline(&id).map(|baseline| (id, group, baseline)))
            .map(|(id, group, baseline)| {
                let policy = crate::approval::PolicyOffers::new(&set, baseline, group.as_deref(), at);
                if let Some(next) = policy.plan().next_boundary(at) {
                    boundary = Some(boundary.map_or(next.timestamp(), |b| b.min(next.timestamp())));
                }
                let offers = &offers;
                let decide = move |record: &UpdateRecord| {
                    let Some(evaluation) = offers.evaluation(baseline, record) else {
                        return (Offer::NotSent, None);
                    };
                    let (offer, deadline) =
                        policy.offer(&evaluation, record.kb.as_deref(), record.is_expired());
                    (offer, deadline.map(|d| d.timestamp()))
                };
                let id = match group {
                    Some(group) => policy_id(&id, Some(&group)),
                    None => id,
                };
                (
                    id,
                    Box::new(decide) as Box<dyn Fn(&UpdateRecord) -> (Offer, Option<i64>) + '_>,
                )
            })
            .collect();
        let snapshot =
            Snapshot::build_policies_from(store, now, records, graph, policies, Some(Arc::clone(&set)));
        drop_aside(offers);
        let mut snapshot = snapshot?;
        snapshot.next_window_boundary = boundary;
        Ok(snapshot)
    }

    fn build_policies(
        store: &Store,
        now: i64,
        policies: Vec<Policy<'_>>,
        baselines: Option<Arc<BaselineSet>>,
    ) -> Result<Snapshot, StoreError> {
        let records = store.load_latest()?;
        let graph = Graph::build(&records);
        Snapshot::build_policies_from(store, now, records, graph, policies, baselines)
    }

    fn build_policies_from(
        store: &Store,
        now: i64,
        records: Vec<UpdateRecord>,
        graph: Graph,
        policies: Vec<Policy<'_>>,
        baselines: Option<Arc<BaselineSet>>,
    ) -> Result<Snapshot, StoreError> {
        let started = std::time::Instant::now();
        let today = chrono::DateTime::from_timestamp(now, 0)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string();
        let mut scopes = HashMap::new();
        let mut approved_files = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (id, decide) in &policies {
            let decided: Vec<(Offer, Option<i64>)> = records.iter().map(decide).collect();
            let planned = plan::plan(&graph, |node| decided[node as usize].0);
            let deadline_of = |p: &plan::Planned| match p.action {
                DeploymentAction::Install => decided[p.node as usize].1,
                _ => None,
            };
            let identities: Vec<_> = planned
                .iter()
                .map(|p| {
                    (
                        graph.node(p.node).update_id,
                        deployment_code(p.action, deadline_of(p)),
                    )
                })
                .collect();
            let rows = store.reconcile_deployments(id, &identities, &today)?;
            let entries = planned
                .iter()
                .zip(rows)
                .map(|(p, row)| ScopeEntry {
                    node: p.node,
                    action: p.action,
                    deployment_id: row.id,
                    seq: row.seq,
                    last_change: row.date,
                    deadline: deadline_of(p),
                })
                .collect();
            approved_files.extend(
                approved_payloads(&records, &graph, &planned)
                    .into_iter()
                    .filter(|sha1| seen.insert(*sha1)),
            );
            scopes.insert(id.clone(), Scope::new(entries, &graph));
        }
        let default_id = policies
            .first()
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| DEFAULT_GROUP.to_string());
        let scope = scopes.remove(&default_id).unwrap_or_default();
        tracing::info!(
            updates = records.len(),
            policies = policies.len(),
            in_scope = scope.entries.len(),
            ms = started.elapsed().as_millis() as u64,
            "catalog snapshot built"
        );
        Ok(Snapshot {
            scope,
            default_policy: default_id,
            other_scopes: scopes,
            baselines,
            catalog_id: store.catalog_id()?,
            config_last_change: store.created()?,
            files: index_files(&records),
            approved_set: approved_files.iter().copied().collect(),
            approved_files,
            content_source: store.meta(crate::store::MetaKey::UpstreamContent)?,
            next_window_boundary: None,
            built_at: now,
            serial: next_serial(),
            decisions: OnceLock::new(),
            facts: Mutex::new(Weak::new()),
            records,
            graph,
        })
    }

    /// The baseline (and registered group) `target_groups` select, `None` without baselines.
    fn assigned<'a>(
        &'a self,
        target_groups: &[String],
    ) -> Option<(&'a BaselineSet, crate::approval::Assignment<'a>)> {
        let set = self.baselines.as_deref()?;
        let joined = target_groups.join(";");
        let requested = (!joined.is_empty()).then_some(joined.as_str());
        Some((set, set.for_target_group(requested)))
    }

    /// The scope of a client that asked for `target_groups` (its GPO `TargetGroup`): the first
    /// registered patch group decides the baseline, else the default baseline.
    pub fn scope_for(&self, target_groups: &[String]) -> &Scope {
        let Some((set, assigned)) = self.assigned(target_groups) else {
            return &self.scope;
        };
        let baseline = &assigned.baseline.id;
        if let Some(group) = assigned.group.filter(|g| set.has_group_policy(g)) {
            if let Some(scope) = self.other_scopes.get(&policy_id(baseline, Some(group))) {
                return scope;
            }
        }
        if *baseline == self.default_policy {
            return &self.scope;
        }
        self.other_scopes.get(baseline).unwrap_or(&self.scope)
    }

    /// The gate of the policy `target_groups` select, as of when the offers were planned
    /// (`None` without baselines), with its `Gate` windows' names.
    pub fn gate_for(&self, target_groups: &[String]) -> Option<(crate::approval::GateState, Vec<String>)> {
        let (set, assigned) = self.assigned(target_groups)?;
        let group = assigned.group.filter(|g| set.has_group_policy(g));
        let plan = set.window_plan(assigned.baseline, group);
        let at = chrono::DateTime::from_timestamp(self.built_at, 0).unwrap_or_default();
        Some((plan.gate(at), plan.gate_names()))
    }

    /// Whether the patch group `target_groups` select lists `kb` (digits, with or without
    /// `KB`) in its install override list.
    pub fn install_override(&self, target_groups: &[String], kb: &str) -> bool {
        let Some((set, assigned)) = self.assigned(target_groups) else {
            return false;
        };
        let kb = kb.trim_start_matches("KB");
        assigned.group.is_some_and(|g| {
            set.install_overrides(g)
                .iter()
                .any(|o| o.trim_start_matches("KB") == kb)
        })
    }

    /// The patch group and baseline `target_groups` select (as `scope_for` does).
    pub fn assignment(&self, target_groups: &[String]) -> Assignment {
        let Some((_, assigned)) = self.assigned(target_groups) else {
            return Assignment {
                group: None,
                baseline_id: DEFAULT_GROUP.to_string(),
            };
        };
        Assignment {
            group: assigned.group.map(str::to_string),
            baseline_id: assigned.baseline.id.clone(),
        }
    }

    /// The decisions a machine on baseline `baseline_id` is measured against.
    pub fn decisions(&self, baseline_id: &str) -> Option<Arc<Decisions>> {
        self.decisions
            .get_or_init(|| self.all_decisions())
            .get(baseline_id)
            .cloned()
    }

    /// The evaluation epoch the baselines decided at (`None` without a baseline file).
    pub fn evaluated_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let set = self.baselines.as_ref()?;
        let at = chrono::DateTime::from_timestamp(self.built_at, 0).unwrap_or_default();
        Some(evaluation_epoch(at, set.evaluation.snapshot_interval_minutes))
    }

    /// The engine's facts for the catalog's top-level updates (`approval::catalog_facts`):
    /// built when asked, shared while anyone holds them, dropped after (decisions keep only
    /// their verdicts; a 100k catalog's facts are tens of MiB).
    pub fn catalog_facts(&self) -> Arc<CatalogFacts> {
        let mut held = self.facts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(facts) = held.upgrade() {
            return facts;
        }
        let facts = Arc::new(CatalogFacts::new(catalog_facts(&self.records)));
        *held = Arc::downgrade(&facts);
        facts
    }

    /// The facts of some updates, without their successors (`approval::facts_without_successors`),
    /// by update id: a machine's list of patches needs a few hundred, not the catalog's.
    pub fn facts_of(&self, update_ids: impl IntoIterator<Item = Uuid>) -> HashMap<Uuid, UpdateFacts> {
        let wanted: Vec<&UpdateRecord> = update_ids
            .into_iter()
            .filter_map(|id| self.graph.by_update_id(&id))
            .map(|node| self.record(node))
            .collect();
        facts_without_successors(&self.records, &wanted)
            .into_iter()
            .map(|facts| (facts.update_id(), facts))
            .collect()
    }

    fn all_decisions(&self) -> HashMap<String, Arc<Decisions>> {
        let facts = self.catalog_facts();
        let Some(set) = &self.baselines else {
            let decisions = Arc::new(Decisions::without_baselines(&facts));
            return HashMap::from([(DEFAULT_GROUP.to_string(), decisions)]);
        };
        let epoch = self.evaluated_at().unwrap_or_default();
        set.baselines()
            .iter()
            .map(|baseline| {
                let decisions = Decisions::evaluate(baseline.clone(), &facts, epoch);
                (baseline.id.clone(), Arc::new(decisions))
            })
            .collect()
    }

    pub(crate) fn record(&self, node: NodeId) -> &UpdateRecord {
        &self.records[node as usize]
    }

    /// The file with this SHA-1 and the record naming it.
    pub fn file(&self, sha1: &[u8; 20]) -> Option<(&UpdateRecord, &FileRef)> {
        self.files.get(sha1).map(|&(node, i)| {
            let record = self.record(node);
            (record, &record.files[i])
        })
    }

    /// What the cache needs to know of a payload, and whether an approved update uses it.
    pub fn payload(&self, sha1: &[u8; 20]) -> Option<(PayloadMeta, bool)> {
        let (_, file) = self.file(sha1)?;
        Some((
            payload_meta_via(file, self.content_source.as_deref()),
            self.approved_set.contains(sha1),
        ))
    }

    /// Payloads of approved updates, in a stable order.
    pub fn approved_payloads(&self) -> Vec<PayloadMeta> {
        self.approved_files
            .iter()
            .filter_map(|sha1| self.file(sha1))
            .map(|(_, file)| payload_meta_via(file, self.content_source.as_deref()))
            .collect()
    }

    /// The local ids of every revision some policy serves, the default policy's first, each
    /// once: what the fragment cache warms.
    pub fn served_local_ids(&self) -> Vec<i32> {
        let mut seen = vec![false; self.graph.len()];
        std::iter::once(&self.scope)
            .chain(self.other_scopes.values())
            .flat_map(|scope| &scope.entries)
            .filter(|entry| !std::mem::replace(&mut seen[entry.node as usize], true))
            .map(|entry| self.graph.node(entry.node).local_id)
            .collect()
    }

    /// The wire `Deployment` of a scope entry, as WSUS writes it.
    pub fn deployment(entry: &ScopeEntry) -> Deployment {
        Deployment {
            id: entry.deployment_id,
            action: entry.action,
            deadline: entry.deadline.map(deadline_text),
            is_assigned: true,
            last_change_time: entry.last_change.clone(),
            download_priority: None,
            auto_select: Some("0".into()),
            auto_download: Some("0".into()),
            supersedence_behavior: Some("0".into()),
        }
    }

    /// Number of updates approved for install.
    pub fn approved_count(&self) -> usize {
        self.scope
            .entries
            .iter()
            .filter(|e| e.action == DeploymentAction::Install)
            .count()
    }

    /// The deployment action a node has in the default group, if it is in scope.
    pub fn action_of(&self, node: NodeId) -> Option<DeploymentAction> {
        self.scope.get(node).map(|e| e.action)
    }
}

/// The stored XML of a revision.
pub fn document(store: &Store, local_id: i32) -> Result<String, String> {
    store
        .document(local_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("revision {local_id} has no stored document"))
}

/// The cache's view of a file, fetched from its `MUUrl`.
pub(crate) fn payload_meta(file: &FileRef) -> PayloadMeta {
    payload_meta_via(file, None)
}

/// The cache's view of a file; fetched from the upstream's `/Content` when it hosts payloads
/// (`content_source`, the upstream's base URL), else from its `MUUrl`.
pub(crate) fn payload_meta_via(file: &FileRef, content_source: Option<&str>) -> PayloadMeta {
    let url = match content_source {
        Some(base) => crate::content::layout::content_url(base, &file.sha1, &file.content_extension()),
        None => file.url.to_string(),
    };
    PayloadMeta {
        sha1: file.sha1,
        sha256: file.sha256,
        size: file.size,
        name: file.name.to_string(),
        url,
    }
}

/// Files of updates deployed for install and of their bundle members, recursively (a bundle
/// only evaluated for status does not make its members' files approved).
pub(crate) fn approved_payloads(
    records: &[UpdateRecord],
    graph: &Graph,
    planned: &[plan::Planned],
) -> Vec<[u8; 20]> {
    let mut approved_nodes = vec![false; graph.len()];
    let mut stack: Vec<NodeId> = planned
        .iter()
        .filter(|p| p.action == DeploymentAction::Install)
        .map(|p| p.node)
        .collect();
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut approved_nodes[node as usize], true) {
            continue;
        }
        stack.extend(graph.node(node).members.iter().copied());
    }
    let mut seen = std::collections::HashSet::new();
    planned
        .iter()
        .filter(|p| approved_nodes[p.node as usize])
        .flat_map(|p| records[p.node as usize].files.iter().map(|f| f.sha1))
        .filter(|sha1| seen.insert(*sha1))
        .collect()
}

/// `work` on this thread while the prerequisite graph of `records` is built on another: at
/// start-up the approval facts and the graph are the two largest parts of the snapshot, and
/// neither needs the other. Builds the graph here when no thread can be started.
fn beside_graph<T>(records: &[UpdateRecord], work: impl FnOnce() -> T) -> (T, Graph) {
    std::thread::scope(|scope| {
        let graph = std::thread::Builder::new()
            .name("snapshot-graph".into())
            .spawn_scoped(scope, || Graph::build(records));
        let done = work();
        let graph = match graph {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => Graph::build(records),
        };
        (done, graph)
    })
}

/// Frees the per-update facts a build worked from on a thread of its own: a catalog's worth
/// of small allocations, freed after the snapshot is served rather than before.
fn drop_aside(offers: CatalogOffers) {
    let spawned = std::thread::Builder::new()
        .name("snapshot-free".into())
        .spawn(move || drop(offers));
    // Without a thread (none can be made), the caller's thread frees them when `spawn` drops
    // its closure.
    drop(spawned);
}

fn index_files(records: &[UpdateRecord]) -> HashMap<[u8; 20], (NodeId, usize)> {
    let mut files = HashMap::new();
    for (node, record) in records.iter().enumerate() {
        for (i, file) in record.files.iter().enumerate() {
            files.entry(file.sha1).or_insert((node as NodeId, i));
        }
    }
    files
}

/// Persistent code of an action (stored in deployment rows).
/// A patch group's own policy id (its windows differ from its baseline's).
fn policy_id(baseline: &str, group: Option<&str>) -> String {
    match group {
        Some(group) => format!("{baseline}#{}", group.to_ascii_lowercase()),
        None => baseline.to_string(),
    }
}

/// `Deployment/Deadline`: xs:dateTime in UTC.
fn deadline_text(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The code a deployment row keeps: the action in the low three bits and, for an install
/// with a deadline, a five-bit digest of the deadline above them — so a changed deadline
/// makes a new deployment (and a ChangedUpdates) as a changed action does. Rows written
/// before deadlines existed hold the bare action code, which an install without a deadline
/// still has.
fn deployment_code(action: DeploymentAction, deadline: Option<i64>) -> u8 {
    let code = action_code(action);
    match deadline {
        None => code,
        Some(unix) => code | (((unix.rem_euclid(31)) as u8 + 1) << 3),
    }
}

fn action_code(action: DeploymentAction) -> u8 {
    match action {
        DeploymentAction::Install => 1,
        DeploymentAction::OptionalInstall => 2,
        DeploymentAction::Uninstall => 3,
        DeploymentAction::PreDeploymentCheck => 4,
        DeploymentAction::Block => 5,
        DeploymentAction::Evaluate => 6,
        DeploymentAction::Bundle => 7,
    }
}
