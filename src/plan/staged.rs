//! The staged SyncUpdates algorithm (docs/protocol.md §4.3–§4.4), pure: given the graph, the
//! client's scope, the ids it says are installed (non-leaf) and cached, and its cookie
//! watermark, decide which revisions are new, changed, or out of scope, one page at a time.
//! A prerequisite is satisfied only by `InstalledNonLeafUpdateIDs` — never by "other cached"
//! ids — so delivery proceeds level by level, as on a real WSUS.

use super::graph::{Graph, NodeId, NodeSet};
use super::scope::Scope;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

/// WSUS rejects more installed non-leaf ids than this (InvalidParameters).
pub const MAX_INSTALLED_NON_LEAF: usize = 400;
/// NewUpdates per page. WSUS 3.x paged at 200 (Spec-PB <55>), WS2025 at 30: every call
/// re-sends all the client's cached ids, so bigger pages mean much less work per scan.
pub const PAGE_SIZE: usize = 200;

/// One software-pass request.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub(crate) installed_non_leaf: &'a [i32],
    pub(crate) other_cached: &'a [i32],
    /// The cookie's deployment watermark.
    pub watermark: i64,
    /// Category filter (StartCategoryScan's preferred ids); empty = full scan.
    pub filter_categories: &'a [Uuid],
    pub(crate) page_size: usize,
}

/// What to answer, as scope positions (for new and changed) and revision ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// Scope positions of the revisions to send as NewUpdates.
    pub new: Vec<usize>,
    /// Scope positions of cached revisions whose deployment changed after the watermark.
    pub changed: Vec<usize>,
    pub(crate) out_of_scope: Vec<i32>,
    /// Cached revisions still deployed but outside a category-filtered scan.
    pub deployed_out_of_scope: Vec<i32>,
    pub(crate) truncated: bool,
    /// The watermark the new cookie carries.
    pub watermark: i64,
}

/// Answers one software-pass SyncUpdates call. The client re-sends every id it has cached
/// on every call, so the per-id work is two bit tests (prerequisites met comes from the
/// scope's cache of installed lists); the scope walk stops at the page's end when no deployment changed since the
/// cookie's watermark (then cached entries cannot be "changed").
pub fn sync_software(graph: &Graph, scope: &Scope, request: &Request<'_>) -> Answer {
    let met = prerequisites_met(graph, scope, request.installed_non_leaf);
    let filtered = (!request.filter_categories.is_empty())
        .then(|| filtered_nodes(graph, scope, request.filter_categories));
    let in_filter = |node: NodeId| filtered.as_ref().is_none_or(|set| set.contains(&node));
    let mut answer = Answer {
        watermark: scope.max_seq.max(request.watermark),
        ..Answer::default()
    };
    let cached = classify_cached(graph, scope, request, &met, &in_filter, &mut answer);
    let changes_possible = scope.max_seq > request.watermark;
    let page_size = request.page_size.max(1);
    for (position, entry) in scope.entries.iter().enumerate() {
        if cached.contains(entry.node) {
            if changes_possible
                && entry.seq > request.watermark
                && met.contains(entry.node)
                && in_filter(entry.node)
            {
                answer.changed.push(position);
            }
            continue;
        }
        if !met.contains(entry.node) || !in_filter(entry.node) {
            continue;
        }
        if answer.new.len() < page_size {
            answer.new.push(position);
        } else {
            answer.truncated = true;
            if !changes_possible {
                break;
            }
        }
    }
    answer
}

/// The scope entries whose every prerequisite clause has an alternative among the installed
/// non-leaf ids: computed once per distinct list and kept with the scope, since a fleet's
/// clients send the same few lists call after call.
fn prerequisites_met(graph: &Graph, scope: &Scope, installed_non_leaf: &[i32]) -> Arc<NodeSet> {
    let mut key = installed_non_leaf.to_vec();
    key.sort_unstable();
    key.dedup();
    scope.met.get_or_compute(key, || {
        let mut installed = NodeSet::new(graph.len());
        for node in installed_non_leaf.iter().filter_map(|id| graph.by_local_id(*id)) {
            installed.insert(node);
        }
        let mut met = NodeSet::new(graph.len());
        for entry in &scope.entries {
            if graph.prerequisites_met(entry.node, &installed) {
                met.insert(entry.node);
            }
        }
        met
    })
}

/// Sorts the client's cached ids (installed non-leaf and other cached, each counted once)
/// into still needed, deployed but outside a category filter, and out of scope; returns
/// them as a set of nodes.
fn classify_cached(
    graph: &Graph,
    scope: &Scope,
    request: &Request<'_>,
    met: &NodeSet,
    in_filter: &impl Fn(NodeId) -> bool,
    answer: &mut Answer,
) -> NodeSet {
    let mut cached = NodeSet::new(graph.len());
    let mut unknown: Vec<i32> = Vec::new();
    for &id in request.installed_non_leaf.iter().chain(request.other_cached) {
        let Some(node) = graph.by_local_id(id) else {
            unknown.push(id);
            continue;
        };
        if !cached.insert(node) {
            continue;
        }
        if scope.position(node).is_none() || !met.contains(node) {
            answer.out_of_scope.push(id);
        } else if !in_filter(node) {
            answer.deployed_out_of_scope.push(id);
        }
    }
    answer.out_of_scope.extend(unknown);
    answer.out_of_scope.sort_unstable();
    answer.out_of_scope.dedup();
    answer.deployed_out_of_scope.sort_unstable();
    cached
}

/// A category-filtered scan's scope: scope entries belonging to the filter categories, the
/// categories themselves, and everything those need (members and prerequisites), recursively.
fn filtered_nodes(graph: &Graph, scope: &Scope, categories: &[Uuid]) -> HashSet<NodeId> {
    let mut set: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = Vec::new();
    for entry in &scope.entries {
        let node = graph.node(entry.node);
        let matches = categories.contains(&node.update_id)
            || graph
                .categories(entry.node)
                .iter()
                .any(|c| categories.contains(c));
        if matches && set.insert(entry.node) {
            stack.push(entry.node);
        }
    }
    while let Some(current) = stack.pop() {
        let members = graph.node(current).members.iter().copied();
        for next in graph.prerequisite_targets(current).chain(members) {
            if scope.get(next).is_some() && set.insert(next) {
                stack.push(next);
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeploymentAction;
    use crate::model::{Prerequisite, UpdateIdentity, UpdateRecord, UpdateType};
    use crate::plan::scope::{plan, ScopeEntry};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Company(1) ← Product(2) ← bundle(3, member 4) needing detectoid(5); an unrelated
    /// product(6) with an update(7).
    fn fixture() -> (Graph, Scope) {
        let category = |n| {
            vec![Prerequisite::AtLeastOne {
                ids: vec![id(n)],
                is_category: true,
            }]
        };
        let mk = |n: u128, kind, prerequisites, members: &[u128]| {
            let identity = UpdateIdentity {
                update_id: id(n),
                revision: 1,
            };
            UpdateRecord {
                local_id: 100 + n as i32,
                prerequisites,
                products: if n == 3 || n == 4 {
                    vec![id(2)].into()
                } else if n == 7 {
                    vec![id(6)].into()
                } else {
                    vec![].into()
                },
                bundled: members
                    .iter()
                    .map(|m| UpdateIdentity {
                        update_id: id(*m),
                        revision: 1,
                    })
                    .collect(),
                ..UpdateRecord::new(identity, kind)
            }
        };
        let mut bundle_prereqs = category(2);
        bundle_prereqs.push(Prerequisite::Required(id(5)));
        let records = vec![
            mk(1, UpdateType::Category, vec![].into(), &[]),
            mk(2, UpdateType::Category, category(1).into(), &[]),
            mk(3, UpdateType::Software, bundle_prereqs.into(), &[4]),
            mk(
                4,
                UpdateType::Software,
                vec![Prerequisite::Required(id(5))].into(),
                &[],
            ),
            mk(5, UpdateType::Detectoid, vec![].into(), &[]),
            mk(6, UpdateType::Category, category(1).into(), &[]),
            mk(7, UpdateType::Software, category(6).into(), &[]),
        ];
        let graph = Graph::build(&records);
        let planned = plan(&graph, |_| crate::approval::Offer::Install);
        let entries = planned
            .iter()
            .enumerate()
            .map(|(i, p)| ScopeEntry {
                node: p.node,
                action: p.action,
                deployment_id: i as i32 + 1,
                seq: 1,
                last_change: "2026-11-28".into(),
                deadline: None,
            })
            .collect();
        let scope = Scope::new(entries, &graph);
        (graph, scope)
    }

    /// A full-scan request (no category filter).
    fn paged<'a>(installed: &'a [i32], other: &'a [i32], watermark: i64, page_size: usize) -> Request<'a> {
        Request {
            installed_non_leaf: installed,
            other_cached: other,
            watermark,
            filter_categories: &[],
            page_size,
        }
    }

    fn ids(graph: &Graph, scope: &Scope, positions: &[usize]) -> Vec<i32> {
        positions
            .iter()
            .map(|&p| graph.node(scope.entries[p].node).local_id)
            .collect()
    }

    #[test]
    fn delivery_is_level_by_level_and_only_installed_satisfies() {
        let (graph, scope) = fixture();
        let request =
            |installed: &'static [i32], other: &'static [i32]| paged(installed, other, 1, PAGE_SIZE);
        // Round 1: only nodes with no prerequisites (company, detectoid).
        let first = sync_software(&graph, &scope, &request(&[], &[]));
        assert_eq!(ids(&graph, &scope, &first.new), vec![101, 105]);
        // "Other cached" does not satisfy anything.
        let cached_only = sync_software(&graph, &scope, &request(&[], &[101, 105]));
        assert!(cached_only.new.is_empty());
        // Company installed → both products.
        let second = sync_software(&graph, &scope, &request(&[101], &[105]));
        assert_eq!(ids(&graph, &scope, &second.new), vec![102, 106]);
        // Everything installed → the updates and the member.
        let third = sync_software(&graph, &scope, &request(&[101, 102, 105, 106], &[]));
        assert_eq!(ids(&graph, &scope, &third.new), vec![103, 104, 107]);
        assert!(third.out_of_scope.is_empty());
        let member = scope.entries[third.new[1]].action;
        assert_eq!(member, DeploymentAction::Bundle);
    }

    #[test]
    fn paging_truncates_and_cached_unknown_ids_go_out_of_scope() {
        let (graph, scope) = fixture();
        let installed = [101, 102, 105, 106];
        let answer = sync_software(&graph, &scope, &paged(&installed, &[999], 1, 2));
        assert_eq!(answer.new.len(), 2);
        assert!(answer.truncated);
        assert_eq!(answer.out_of_scope, vec![999]);
    }

    #[test]
    fn changed_updates_come_from_the_watermark() {
        let (graph, mut scope) = fixture();
        let position = scope.position(graph.by_update_id(&id(7)).unwrap()).unwrap();
        scope.entries[position].seq = 5;
        let scope = Scope::new(scope.entries, &graph);
        let installed = [101, 102, 105, 106];
        let other = [103, 104, 107];
        let request = |watermark| paged(&installed, &other, watermark, 50);
        assert_eq!(
            ids(
                &graph,
                &scope,
                &sync_software(&graph, &scope, &request(1)).changed
            ),
            vec![107]
        );
        let answer = sync_software(&graph, &scope, &request(5));
        assert!(answer.changed.is_empty());
        assert_eq!(answer.watermark, 5);
    }

    #[test]
    fn a_full_page_still_reports_changes_beyond_it_and_duplicates_count_once() {
        let (graph, mut scope) = fixture();
        let position = scope.position(graph.by_update_id(&id(7)).unwrap()).unwrap();
        scope.entries[position].seq = 5;
        let scope = Scope::new(scope.entries, &graph);
        // 107 is cached (and listed twice); 103 and 104 are new: a page of one truncates
        // before the walk reaches 107, whose deployment changed after watermark 1.
        let installed = [101, 102, 105, 106];
        let other = [107, 107, 999, 999];
        let answer = sync_software(&graph, &scope, &paged(&installed, &other, 1, 1));
        assert_eq!(ids(&graph, &scope, &answer.new), vec![103]);
        assert!(answer.truncated);
        assert_eq!(ids(&graph, &scope, &answer.changed), vec![107]);
        assert_eq!(answer.out_of_scope, vec![999]);
    }

    #[test]
    fn a_cached_update_whose_prerequisite_is_gone_is_out_of_scope() {
        let (graph, scope) = fixture();
        // Detectoid 105 no longer reported installed: bundle 103 and member 104 drop out.
        let installed = [101, 102, 106];
        let other = [103, 104, 105, 107];
        let answer = sync_software(&graph, &scope, &paged(&installed, &other, 1, 50));
        assert_eq!(answer.out_of_scope, vec![103, 104]);
        assert!(answer.new.is_empty() && !answer.truncated);
    }

    #[test]
    fn prerequisite_sets_are_kept_per_installed_list_and_bounded() {
        let (graph, scope) = fixture();
        let first = prerequisites_met(&graph, &scope, &[105, 101, 102]);
        let same = prerequisites_met(&graph, &scope, &[101, 102, 105, 105]);
        assert!(Arc::ptr_eq(&first, &same), "order and repeats do not matter");
        let bundle = graph.by_local_id(103).unwrap();
        assert!(first.contains(bundle));
        assert!(!prerequisites_met(&graph, &scope, &[101, 102]).contains(bundle));
        for n in 0..20 {
            prerequisites_met(&graph, &scope, &[1_000 + n]);
        }
        assert_eq!(scope.met.len(), 16, "only the most recent lists are kept");
        let again = prerequisites_met(&graph, &scope, &[101, 102, 105]);
        assert!(!Arc::ptr_eq(&first, &again), "the oldest list was evicted");
        assert!(again.contains(bundle));
    }

    #[test]
    fn category_filter_limits_the_scan_and_reports_deployed_out_of_scope() {
        let (graph, scope) = fixture();
        let installed = [101, 102, 105, 106];
        let other = [107];
        let filter = [id(2)];
        let answer = sync_software(
            &graph,
            &scope,
            &Request {
                installed_non_leaf: &installed,
                other_cached: &other,
                watermark: 1,
                filter_categories: &filter,
                page_size: 50,
            },
        );
        assert_eq!(ids(&graph, &scope, &answer.new), vec![103, 104]);
        assert_eq!(answer.deployed_out_of_scope, vec![106, 107]);
    }
}
