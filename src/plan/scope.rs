//! What one policy group is deployed (docs/protocol.md §4.4–§4.5): every top-level update's
//! decision becomes `Install` (approved) or `PreDeploymentCheck` (known, not approved, so
//! clients report status) or nothing (excluded); members of a deployed bundle get `Bundle`;
//! every category (company, product family, product, classification) and everything the
//! scope needs, recursively, gets `Evaluate` — a real WSUS delivers the whole category tree
//! even for products without updates (category-filtered scans start from it). An update's
//! own deployment beats `Bundle`, which beats `Evaluate`. Pure.

use super::graph::{Graph, NodeId, NodeSet};
use crate::approval::Offer;
use crate::model::DeploymentAction;
use crate::model::UpdateType;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One planned deployment, before it has a persistent id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub(crate) node: NodeId,
    pub(crate) action: DeploymentAction,
}

/// Plans the scope: non-leaf nodes first, then leaves, each in local-id order (the order
/// WSUS delivers in).
pub fn plan(graph: &Graph, decide: impl Fn(NodeId) -> Offer) -> Vec<Planned> {
    let mut actions: Vec<Option<DeploymentAction>> = vec![None; graph.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        if node.is_top_level() {
            actions[i] = match decide(i as NodeId) {
                Offer::Install => Some(DeploymentAction::Install),
                Offer::DetectOnly => Some(DeploymentAction::PreDeploymentCheck),
                Offer::NotSent => None,
            };
        }
    }
    mark_members(graph, &mut actions);
    for (i, node) in graph.nodes.iter().enumerate() {
        if node.update_type == crate::model::UpdateType::Category {
            actions[i].get_or_insert(DeploymentAction::Evaluate);
        }
    }
    mark_prerequisites(graph, &mut actions);
    let mut planned: Vec<Planned> = actions
        .iter()
        .enumerate()
        .filter_map(|(i, action)| {
            action.map(|action| Planned {
                node: i as NodeId,
                action,
            })
        })
        .collect();
    planned.sort_by_key(|p| {
        let node = graph.node(p.node);
        (node.is_leaf, node.local_id)
    });
    planned
}

/// Members of deployed bundles, recursively: a bundle may contain hidden intermediate
/// bundles whose own members are deployed with it (KB2267602 does).
fn mark_members(graph: &Graph, actions: &mut [Option<DeploymentAction>]) {
    let mut queue: VecDeque<usize> = (0..actions.len()).filter(|&i| actions[i].is_some()).collect();
    while let Some(i) = queue.pop_front() {
        for &member in &graph.nodes[i].members {
            let slot = &mut actions[member as usize];
            if slot.is_none() {
                *slot = Some(DeploymentAction::Bundle);
                queue.push_back(member as usize);
            }
        }
    }
}

/// Breadth-first over prerequisite clauses from everything already in scope.
fn mark_prerequisites(graph: &Graph, actions: &mut [Option<DeploymentAction>]) {
    let mut queue: VecDeque<usize> = (0..actions.len()).filter(|&i| actions[i].is_some()).collect();
    while let Some(i) = queue.pop_front() {
        for target in graph.prerequisite_targets(i as NodeId) {
            let slot = &mut actions[target as usize];
            if slot.is_none() {
                *slot = Some(DeploymentAction::Evaluate);
                queue.push_back(target as usize);
            }
        }
    }
}

/// A planned deployment with its persistent identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEntry {
    pub(crate) node: NodeId,
    /// What the client is told to do with the update.
    pub action: DeploymentAction,
    /// Server deployment id (int32, persistent; a new one whenever the action changes).
    pub deployment_id: i32,
    /// Change sequence number: larger than any cookie watermark issued before the change.
    pub seq: i64,
    /// `LastChangeTime`, date only.
    pub last_change: String,
    /// The install deadline (unix seconds) the baseline's windows or `Deadline` imply.
    pub deadline: Option<i64>,
}

/// A policy group's scope, indexed by node.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The deployments; `position` finds a node's.
    pub entries: Vec<ScopeEntry>,
    /// Position in `entries` by node (`NOT_IN_SCOPE` when absent): an array, since every
    /// SyncUpdates call looks up each id the client has cached.
    by_node: Vec<u32>,
    pub(crate) max_seq: i64,
    /// Some entry is a driver (the driver pass has something to offer).
    pub has_drivers: bool,
    /// Recent installed non-leaf lists and the entries whose prerequisites each meets.
    pub(crate) met: MetCache,
}

/// How many installed lists [`MetCache`] remembers: a fleet's machines move through the same
/// few stages, and a client sending random lists costs one scope walk per call, no more.
const MET_CACHE_LISTS: usize = 16;

/// The entries of a scope whose prerequisites an installed non-leaf list meets, for the most
/// recent lists (sorted, deduplicated), newest last.
#[derive(Debug, Default)]
pub(crate) struct MetCache(Mutex<Vec<(Vec<i32>, Arc<NodeSet>)>>);

impl Clone for MetCache {
    fn clone(&self) -> Self {
        MetCache::default()
    }
}

impl MetCache {
    /// Lists held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Vec<i32>, Arc<NodeSet>)>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The set for `installed` (sorted, deduplicated), computed by `compute` when not held.
    pub(crate) fn get_or_compute(
        &self,
        installed: Vec<i32>,
        compute: impl FnOnce() -> NodeSet,
    ) -> Arc<NodeSet> {
        {
            let mut lists = self.lock();
            if let Some(at) = lists.iter().position(|(key, _)| *key == installed) {
                let hit = lists.remove(at);
                let met = Arc::clone(&hit.1);
                lists.push(hit);
                return met;
            }
        }
        let met = Arc::new(compute());
        let mut lists = self.lock();
        if lists.len() >= MET_CACHE_LISTS {
            lists.remove(0);
        }
        lists.push((installed, Arc::clone(&met)));
        met
    }
}

const NOT_IN_SCOPE: u32 = u32::MAX;

impl Scope {
    /// The scope of these deployments of `graph`'s nodes.
    pub fn new(entries: Vec<ScopeEntry>, graph: &Graph) -> Scope {
        let mut by_node = vec![NOT_IN_SCOPE; graph.len()];
        for (i, entry) in entries.iter().enumerate() {
            by_node[entry.node as usize] = i as u32;
        }
        let max_seq = entries.iter().map(|e| e.seq).max().unwrap_or(0);
        let has_drivers = entries
            .iter()
            .any(|e| graph.node(e.node).update_type == UpdateType::Driver);
        Scope {
            entries,
            by_node,
            max_seq,
            has_drivers,
            met: MetCache::default(),
        }
    }

    pub(crate) fn get(&self, node: NodeId) -> Option<&ScopeEntry> {
        self.position(node).map(|i| &self.entries[i])
    }

    /// Index in `entries` of the node's deployment, if the node is in scope.
    pub fn position(&self, node: NodeId) -> Option<usize> {
        match self.by_node.get(node as usize) {
            Some(&i) if i != NOT_IN_SCOPE => Some(i as usize),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Prerequisite, UpdateIdentity, UpdateRecord, UpdateType};
    use uuid::Uuid;

    fn record(n: u128, kind: UpdateType, prerequisites: Vec<Prerequisite>, members: &[u128]) -> UpdateRecord {
        let identity = UpdateIdentity {
            update_id: Uuid::from_u128(n),
            revision: 1,
        };
        UpdateRecord {
            local_id: n as i32,
            prerequisites: prerequisites.into(),
            bundled: members
                .iter()
                .map(|m| UpdateIdentity {
                    update_id: Uuid::from_u128(*m),
                    revision: 1,
                })
                .collect(),
            ..UpdateRecord::new(identity, kind)
        }
    }

    fn action_of(graph: &Graph, planned: &[Planned], n: u128) -> Option<DeploymentAction> {
        let node = graph.by_update_id(&Uuid::from_u128(n)).unwrap();
        planned.iter().find(|p| p.node == node).map(|p| p.action)
    }

    #[test]
    fn actions_follow_the_wsus_mapping() {
        let category = || {
            vec![Prerequisite::AtLeastOne {
                ids: vec![Uuid::from_u128(1)],
                is_category: true,
            }]
        };
        let records = vec![
            record(1, UpdateType::Category, vec![], &[]),
            record(2, UpdateType::Detectoid, vec![], &[]),
            record(3, UpdateType::Software, category(), &[4]),
            record(
                4,
                UpdateType::Software,
                vec![Prerequisite::Required(Uuid::from_u128(2))],
                &[],
            ),
            record(5, UpdateType::Software, category(), &[]),
            record(6, UpdateType::Software, category(), &[]),
            record(7, UpdateType::Detectoid, vec![], &[]),
        ];
        let graph = Graph::build(&records);
        let approved = graph.by_update_id(&Uuid::from_u128(3)).unwrap();
        let excluded = graph.by_update_id(&Uuid::from_u128(6)).unwrap();
        let planned = plan(&graph, |node| match node {
            n if n == approved => Offer::Install,
            n if n == excluded => Offer::NotSent,
            _ => Offer::DetectOnly,
        });
        assert_eq!(action_of(&graph, &planned, 3), Some(DeploymentAction::Install));
        assert_eq!(action_of(&graph, &planned, 4), Some(DeploymentAction::Bundle));
        assert_eq!(
            action_of(&graph, &planned, 5),
            Some(DeploymentAction::PreDeploymentCheck)
        );
        assert_eq!(action_of(&graph, &planned, 1), Some(DeploymentAction::Evaluate));
        assert_eq!(
            action_of(&graph, &planned, 2),
            Some(DeploymentAction::Evaluate),
            "a member's prerequisite"
        );
        assert_eq!(action_of(&graph, &planned, 6), None);
        assert_eq!(
            action_of(&graph, &planned, 7),
            None,
            "a detectoid nothing needs is not sent"
        );
        let first_leaf = planned.iter().position(|p| graph.node(p.node).is_leaf).unwrap();
        assert!(
            planned[..first_leaf].iter().all(|p| !graph.node(p.node).is_leaf),
            "non-leaf first"
        );
    }
}
