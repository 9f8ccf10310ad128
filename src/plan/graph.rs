//! The served catalog as a graph (docs/protocol.md §4.1–§4.2): one node per update (its newest
//! revision), prerequisite clauses and bundle members resolved to nodes, and `IsLeaf`
//! computed from the whole catalog — a node is a leaf when nothing names it as a
//! prerequisite, `IsCategory` clauses included. Pure; built once per catalog snapshot.

use crate::model::{Prerequisite, UpdateRecord, UpdateType};
use std::collections::HashMap;
use uuid::Uuid;

/// Index of a node in `Graph::nodes`.
pub type NodeId = u32;

/// One update of the served catalog (its newest revision), with its relationships resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The revision's server-local revision id.
    pub local_id: i32,
    /// `UpdateID`: the update, whatever its revision.
    pub update_id: Uuid,
    pub(crate) revision: u32,
    pub(crate) update_type: UpdateType,
    pub(crate) members: Vec<NodeId>,
    pub(crate) is_leaf: bool,
    /// Named in some bundle's `BundledUpdates`.
    pub is_member: bool,
    /// `PublicationState="Expired"`: withdrawn by Microsoft.
    pub expired: bool,
}

impl Node {
    /// Offerable on its own: a software or driver update that no bundle contains.
    pub fn is_top_level(&self) -> bool {
        matches!(self.update_type, UpdateType::Software | UpdateType::Driver) && !self.is_member
    }
}

/// The prerequisite and bundle graph of the served catalog, with lookups by id.
///
/// What every node has a few of (prerequisite clauses, categories) is kept in one array per
/// kind rather than in vectors per node: a 100k catalog held ~10 MiB of small vectors.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Every node, indexed by [`NodeId`].
    pub nodes: Vec<Node>,
    /// Node by local id: local ids are dense (allocated from 1 upwards), so an array
    /// beats a hash map on the hot path (thousands of lookups per SyncUpdates call).
    by_local: Vec<NodeId>,
    by_update: HashMap<Uuid, NodeId>,
    /// Every node's prerequisite clauses (CNF: every clause needs one installed alternative;
    /// a clause whose ids are all unknown to the catalog is empty and never satisfied):
    /// `prerequisites[starts[n]..starts[n + 1]]` holds node `n`'s clauses, each as its
    /// length followed by its alternatives.
    prerequisites: Vec<NodeId>,
    starts: Vec<u32>,
    /// Every node's products and classifications (for category-filtered scans):
    /// `categories[category_starts[n]..category_starts[n + 1]]`.
    categories: Vec<Uuid>,
    category_starts: Vec<u32>,
}

/// A set of nodes as bits: what a SyncUpdates call says is installed or cached.
#[derive(Debug, Clone)]
pub struct NodeSet {
    words: Vec<u64>,
}

impl NodeSet {
    /// An empty set for a graph of `len` nodes.
    pub fn new(len: usize) -> NodeSet {
        NodeSet {
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// Adds `node`; false when it was already there.
    pub fn insert(&mut self, node: NodeId) -> bool {
        let (word, bit) = (node as usize / 64, 1u64 << (node % 64));
        let fresh = self.words[word] & bit == 0;
        self.words[word] |= bit;
        fresh
    }

    /// Whether `node` is in the set.
    pub fn contains(&self, node: NodeId) -> bool {
        self.words[node as usize / 64] & (1u64 << (node % 64)) != 0
    }
}

impl Graph {
    /// Builds the graph from the newest revision of every update.
    pub fn build(latest: &[UpdateRecord]) -> Graph {
        let by_update: HashMap<Uuid, NodeId> = latest
            .iter()
            .enumerate()
            .map(|(i, r)| (r.identity.update_id, i as NodeId))
            .collect();
        let (prerequisites, starts) = flat_clauses(latest, &by_update);
        let (categories, category_starts) = flat_categories(latest);
        let mut graph = Graph {
            nodes: latest.iter().map(|r| node(r, &by_update)).collect(),
            by_local: Vec::new(),
            by_update,
            prerequisites,
            starts,
            categories,
            category_starts,
        };
        graph.mark_referenced();
        graph.by_local = local_index(&graph.nodes);
        graph
    }

    /// Every prerequisite clause of `node` has at least one alternative in `installed`.
    pub fn prerequisites_met(&self, node: NodeId, installed: &NodeSet) -> bool {
        self.clauses(node)
            .all(|alternatives| alternatives.iter().any(|alt| installed.contains(*alt)))
    }

    /// `node`'s prerequisite clauses, each as its alternatives.
    pub fn clauses(&self, node: NodeId) -> impl Iterator<Item = &[NodeId]> + '_ {
        let range = self.starts[node as usize] as usize..self.starts[node as usize + 1] as usize;
        let mut rest = &self.prerequisites[range];
        std::iter::from_fn(move || {
            let (&count, after) = rest.split_first()?;
            let (alternatives, next) = after.split_at(count as usize);
            rest = next;
            Some(alternatives)
        })
    }

    /// Every node some prerequisite clause of `node` names.
    pub fn prerequisite_targets(&self, node: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.clauses(node).flatten().copied()
    }

    /// `node`'s products and classifications.
    pub fn categories(&self, node: NodeId) -> &[Uuid] {
        let (start, end) = (
            self.category_starts[node as usize],
            self.category_starts[node as usize + 1],
        );
        &self.categories[start as usize..end as usize]
    }

    pub(crate) fn by_local_id(&self, local_id: i32) -> Option<NodeId> {
        let index = usize::try_from(local_id).ok()?;
        self.by_local.get(index).copied().filter(|node| *node != NO_NODE)
    }

    /// The node of an update, by `UpdateID`.
    pub fn by_update_id(&self, update_id: &Uuid) -> Option<NodeId> {
        self.by_update.get(update_id).copied()
    }

    /// The node with this id (an index into `nodes`; panics when out of range).
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }
}

const NO_NODE: NodeId = NodeId::MAX;

/// The clauses of every record, flattened (see `Graph::prerequisites`); ids the catalog
/// does not know are left out of their clause.
fn flat_clauses(latest: &[UpdateRecord], by_update: &HashMap<Uuid, NodeId>) -> (Vec<NodeId>, Vec<u32>) {
    let mut flat = Vec::new();
    let mut starts = Vec::with_capacity(latest.len() + 1);
    for record in latest {
        starts.push(flat.len() as u32);
        for clause in &record.prerequisites {
            let ids = match clause {
                Prerequisite::Required(id) => std::slice::from_ref(id),
                Prerequisite::AtLeastOne { ids, .. } => ids.as_slice(),
            };
            let count_at = flat.len();
            flat.push(0);
            flat.extend(ids.iter().filter_map(|id| by_update.get(id).copied()));
            flat[count_at] = (flat.len() - count_at - 1) as NodeId;
        }
    }
    starts.push(flat.len() as u32);
    flat.shrink_to_fit();
    (flat, starts)
}

/// Every record's products then classifications, flattened (see `Graph::categories`).
fn flat_categories(latest: &[UpdateRecord]) -> (Vec<Uuid>, Vec<u32>) {
    let mut flat = Vec::new();
    let mut starts = Vec::with_capacity(latest.len() + 1);
    for record in latest {
        starts.push(flat.len() as u32);
        flat.extend(record.products.iter().chain(&record.classifications).copied());
    }
    starts.push(flat.len() as u32);
    flat.shrink_to_fit();
    (flat, starts)
}

fn local_index(nodes: &[Node]) -> Vec<NodeId> {
    let max = nodes
        .iter()
        .map(|n| n.local_id.max(0) as usize)
        .max()
        .unwrap_or(0);
    let mut index = vec![NO_NODE; max + 1];
    for (i, node) in nodes.iter().enumerate() {
        if node.local_id >= 0 {
            index[node.local_id as usize] = i as NodeId;
        }
    }
    index
}

fn node(record: &UpdateRecord, by_update: &HashMap<Uuid, NodeId>) -> Node {
    Node {
        local_id: record.local_id,
        update_id: record.identity.update_id,
        revision: record.identity.revision,
        update_type: record.update_type,
        members: record
            .bundled
            .iter()
            .filter_map(|m| by_update.get(&m.update_id).copied())
            .collect(),
        is_leaf: true,
        is_member: false,
        expired: record.is_expired(),
    }
}

impl Graph {
    /// Marks prerequisite targets non-leaf and bundle members as members.
    fn mark_referenced(&mut self) {
        let mut prerequisite = vec![false; self.nodes.len()];
        let mut member = vec![false; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for target in self.prerequisite_targets(i as NodeId) {
                prerequisite[target as usize] = true;
            }
            for &target in &node.members {
                member[target as usize] = true;
            }
        }
        for (i, node) in self.nodes.iter_mut().enumerate() {
            node.is_leaf = !prerequisite[i];
            node.is_member = member[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UpdateIdentity;

    fn record(n: u128, local_id: i32, kind: UpdateType, prerequisites: Vec<Prerequisite>) -> UpdateRecord {
        let identity = UpdateIdentity {
            update_id: Uuid::from_u128(n),
            revision: 1,
        };
        UpdateRecord {
            local_id,
            prerequisites: prerequisites.into(),
            ..UpdateRecord::new(identity, kind)
        }
    }

    #[test]
    fn leaves_members_and_category_targets() {
        let company = record(1, 10, UpdateType::Category, vec![]);
        let product = record(
            2,
            11,
            UpdateType::Category,
            vec![Prerequisite::AtLeastOne {
                ids: vec![Uuid::from_u128(1)],
                is_category: true,
            }],
        );
        let detectoid = record(3, 12, UpdateType::Detectoid, vec![]);
        let mut bundle = record(
            4,
            13,
            UpdateType::Software,
            vec![
                Prerequisite::Required(Uuid::from_u128(3)),
                Prerequisite::AtLeastOne {
                    ids: vec![Uuid::from_u128(2)],
                    is_category: true,
                },
                Prerequisite::Required(Uuid::from_u128(99)),
            ],
        );
        bundle.products = vec![Uuid::from_u128(7)].into();
        bundle.classifications = vec![Uuid::from_u128(8)].into();
        bundle.bundled = vec![UpdateIdentity {
            update_id: Uuid::from_u128(5),
            revision: 1,
        }]
        .into();
        let member = record(5, 14, UpdateType::Software, vec![]);
        let graph = Graph::build(&[company, product, detectoid, bundle, member]);

        let leaf = |n: u128| {
            graph
                .node(graph.by_update_id(&Uuid::from_u128(n)).unwrap())
                .is_leaf
        };
        assert!(
            !leaf(1) && !leaf(2) && !leaf(3),
            "prerequisite targets, IsCategory ones included, are non-leaf"
        );
        assert!(
            leaf(4) && leaf(5),
            "software updates and bundle members are leaves"
        );
        let bundle_node = graph.by_local_id(13).unwrap();
        let clauses: Vec<&[NodeId]> = graph.clauses(bundle_node).collect();
        assert_eq!(
            clauses,
            [&[2][..], &[1][..], &[][..]],
            "clauses resolve to nodes; an unknown prerequisite is an empty clause"
        );
        assert_eq!(
            graph.categories(bundle_node),
            [Uuid::from_u128(7), Uuid::from_u128(8)],
            "products, then classifications"
        );
        assert_eq!(graph.categories(0), &[] as &[Uuid]);
        let bundle = graph.node(bundle_node);
        assert!(bundle.is_top_level());
        assert!(!graph.node(graph.by_local_id(14).unwrap()).is_top_level());
    }
}
