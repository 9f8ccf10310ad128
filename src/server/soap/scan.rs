//! StartCategoryScan, SyncUpdates, SyncPrinterCatalog and RefreshCache (docs/protocol.md §2.5–§2.7,
//! §4): the staged algorithm of `plan::staged` turned into wire answers.

use super::super::xpress::{cached_answer, AnswerKey, SharedAnswer};
use super::auth::require_cookie;
use super::{internal, seal_cookie, Context};
use crate::cookie::AccessState;
use crate::model::CategoryType;
use crate::plan::staged::{self, MAX_INSTALLED_NON_LEAF, PAGE_SIZE};
use crate::protocol::wusp::{
    ClientFault, Cookie, ErrorCode, RefreshCacheRequest, RefreshCacheResult, StartCategoryScanRequest,
    StartCategoryScanResponse, SyncInfo, SyncPrinterCatalogRequest, SyncUpdateParameters, SyncUpdatesRequest,
    UpdateInfo,
};
use crate::snapshot::Snapshot;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// StartCategoryScan rejects this many categories or more (WSUS, Spec-PB <52>).
const MAX_REQUESTED_CATEGORIES: usize = 200;

/// Chooses the preferred categories of a category-filtered scan (MS-WUSP 3.1.5.6): an
/// unknown category drops its AND-group into the error list; a group of one product, or of a
/// product and a classification, prefers the product; any other shape clears the list.
pub(super) fn start_category_scan(
    context: &Context<'_>,
    request: &StartCategoryScanRequest,
) -> Result<StartCategoryScanResponse, ClientFault> {
    if request.requested.len() >= MAX_REQUESTED_CATEGORIES {
        return Err(ClientFault::new(
            ErrorCode::InvalidParameters,
            "requestedCategories",
        ));
    }
    let mut groups: BTreeMap<i32, Vec<Uuid>> = BTreeMap::new();
    for (index, id) in &request.requested {
        groups.entry(*index).or_default().push(*id);
    }
    let kind_of = |id: &Uuid| {
        let node = context.snapshot.graph.by_update_id(id)?;
        context.snapshot.record(node).category_type
    };
    let mut response = StartCategoryScanResponse::default();
    for ids in groups.values() {
        let unknown: Vec<Uuid> = ids.iter().filter(|id| kind_of(id).is_none()).copied().collect();
        if !unknown.is_empty() {
            response.in_error.extend(unknown);
            continue;
        }
        match preferred_of_group(ids, kind_of) {
            Some(product) => response.preferred.push(product),
            None => {
                response.preferred.clear();
                break;
            }
        }
    }
    Ok(response)
}

fn preferred_of_group(ids: &[Uuid], kind_of: impl Fn(&Uuid) -> Option<CategoryType>) -> Option<Uuid> {
    let products: Vec<&Uuid> = ids
        .iter()
        .filter(|id| kind_of(id) == Some(CategoryType::Product))
        .collect();
    let classifications = ids
        .iter()
        .filter(|id| kind_of(id) == Some(CategoryType::UpdateClassification))
        .count();
    match (products.as_slice(), classifications, ids.len()) {
        ([product], 0, 1) | ([product], 1, 2) => Some(**product),
        _ => None,
    }
}

/// One SyncUpdates page: the software pass runs the staged algorithm; the driver pass
/// answers "no drivers" (wucache holds no driver catalog yet).
/// A SyncUpdates answer: built (with the key to keep it under when the client takes Xpress),
/// or the same answer kept compressed from an earlier client, with this client's cookie.
pub(super) enum Synced {
    Built(SyncInfo, Option<u128>),
    Kept(Arc<SharedAnswer>, Cookie),
}

pub(super) fn sync_updates(
    context: &Context<'_>,
    request: &SyncUpdatesRequest,
) -> Result<Synced, ClientFault> {
    let state = require_cookie(context, request.cookie.as_ref())?;
    let computer = super::report::require_registered(context, &state)?;
    let parameters = request
        .parameters
        .as_ref()
        .ok_or_else(|| ClientFault::new(ErrorCode::InvalidParameters, "parameters"))?;
    validate(parameters)?;
    super::report::note_sync(context, computer);
    if parameters.skip_software_sync {
        return Ok(Synced::Built(driver_pass(context, &state, parameters), None));
    }
    software_pass(context, &state, parameters)
}

fn validate(parameters: &SyncUpdateParameters) -> Result<(), ClientFault> {
    if parameters.system_spec_present && !parameters.skip_software_sync {
        return Err(ClientFault::new(
            ErrorCode::InvalidParameters,
            "parameters.SystemSpec",
        ));
    }
    if parameters
        .installed_non_leaf
        .as_ref()
        .is_some_and(|ids| ids.len() > MAX_INSTALLED_NON_LEAF)
    {
        return Err(ClientFault::new(
            ErrorCode::InvalidParameters,
            "parameters.InstalledNonLeafUpdateIDs",
        ));
    }
    Ok(())
}

fn software_pass(
    context: &Context<'_>,
    state: &AccessState,
    parameters: &SyncUpdateParameters,
) -> Result<Synced, ClientFault> {
    let snapshot = &context.snapshot;
    let empty = Vec::new();
    let request = staged::Request {
        installed_non_leaf: parameters.installed_non_leaf.as_ref().unwrap_or(&empty),
        other_cached: parameters.other_cached.as_ref().unwrap_or(&empty),
        watermark: state.watermark,
        filter_categories: &parameters.filter_category_ids,
        page_size: PAGE_SIZE,
    };
    let scope = snapshot.scope_for(&state.target_groups);
    let mut answer = staged::sync_software(&snapshot.graph, scope, &request);
    log_software_pass(context, state, parameters, &answer);
    let category_scan = !parameters.filter_category_ids.is_empty();
    let next = AccessState {
        watermark: answer.watermark,
        ..state.clone()
    };
    let new_cookie = seal_cookie(context, &next);
    let deployed_out_of_scope = (parameters.need_two_group_out_of_scope
        && !answer.deployed_out_of_scope.is_empty())
    .then(|| std::mem::take(&mut answer.deployed_out_of_scope));
    let driver_sync_not_needed = category_scan || !scope.has_drivers;
    let key = context.xpress.then(|| {
        let mut key = AnswerKey::new("SyncUpdates", snapshot.serial);
        key.number(std::ptr::from_ref(scope) as usize as u64)
            .positions(&answer.new)
            .positions(&answer.changed)
            .numbers(&answer.out_of_scope)
            .number(u64::from(answer.truncated))
            .number(u64::from(driver_sync_not_needed))
            .numbers(deployed_out_of_scope.as_deref().unwrap_or(&[]))
            .number(u64::from(deployed_out_of_scope.is_some()));
        key.finish()
    });
    if let Some(kept) = key.and_then(cached_answer) {
        return Ok(Synced::Kept(kept, new_cookie));
    }
    let info = SyncInfo {
        new_updates: update_infos(context, scope, &answer.new)?,
        out_of_scope_revision_ids: answer.out_of_scope,
        changed_updates: update_infos(context, scope, &answer.changed)?,
        truncated: answer.truncated,
        new_cookie,
        // WSUS leaves the element out when the list is empty, even when asked.
        deployed_out_of_scope_revision_ids: deployed_out_of_scope,
        driver_sync_not_needed: Some(driver_sync_not_needed),
    };
    Ok(Synced::Built(info, key))
}

/// A line per SyncUpdates call at debug, and one at info when the call ends a scan (its
/// answer is not truncated): who, which group, what this call sent.
fn log_software_pass(
    context: &Context<'_>,
    state: &AccessState,
    parameters: &SyncUpdateParameters,
    answer: &staged::Answer,
) {
    let cached = parameters.installed_non_leaf.as_ref().map_or(0, Vec::len)
        + parameters.other_cached.as_ref().map_or(0, Vec::len);
    if answer.truncated {
        tracing::debug!(client = %state.client_id, cached, new = answer.new.len(), "SyncUpdates page");
        return;
    }
    let assignment = context.snapshot.assignment(&state.target_groups);
    let group = assignment.group.as_deref().unwrap_or("default");
    tracing::info!(
        client = %state.client_id,
        group,
        baseline = %assignment.baseline_id,
        cached,
        new = answer.new.len(),
        changed = answer.changed.len(),
        out_of_scope = answer.out_of_scope.len(),
        "scan finished"
    );
}

/// Scope positions → `UpdateInfo` with deployment, `IsLeaf` and the Core fragment.
fn update_infos(
    context: &Context<'_>,
    scope: &crate::plan::Scope,
    positions: &[usize],
) -> Result<Vec<UpdateInfo>, ClientFault> {
    let snapshot = &context.snapshot;
    positions
        .iter()
        .map(|&position| {
            let entry = &scope.entries[position];
            let node = snapshot.graph.node(entry.node);
            let xml = context
                .app
                .fragments
                .core(&context.app.store, node.local_id)
                .map_err(|e| internal("Core fragment", e))?;
            Ok(UpdateInfo {
                id: node.local_id,
                deployment: Snapshot::deployment(entry),
                is_leaf: node.is_leaf,
                xml,
            })
        })
        .collect()
}

/// No driver catalog: nothing new, every cached driver id out of scope.
fn driver_pass(context: &Context<'_>, state: &AccessState, parameters: &SyncUpdateParameters) -> SyncInfo {
    SyncInfo {
        out_of_scope_revision_ids: parameters.cached_driver_ids.clone().unwrap_or_default(),
        new_cookie: seal_cookie(context, state),
        driver_sync_not_needed: Some(true),
        ..SyncInfo::default()
    }
}

/// Printer drivers are not mirrored: an empty answer.
pub(super) fn sync_printer_catalog(
    context: &Context<'_>,
    request: &SyncPrinterCatalogRequest,
) -> Result<SyncInfo, ClientFault> {
    let state = require_cookie(context, request.cookie.as_ref())?;
    Ok(SyncInfo {
        new_cookie: seal_cookie(context, &state),
        ..SyncInfo::default()
    })
}

/// Maps a client's cached identities to this server's revision ids, for the ones deployed to
/// it (bundle members are left out, as WSUS does; the client re-fetches them by SyncUpdates).
pub(super) fn refresh_cache(
    context: &Context<'_>,
    request: &RefreshCacheRequest,
) -> Result<Vec<RefreshCacheResult>, ClientFault> {
    let state = require_cookie(context, request.cookie.as_ref())?;
    let snapshot = &context.snapshot;
    let scope = snapshot.scope_for(&state.target_groups);
    let results = request
        .global_ids
        .iter()
        .filter_map(|identity| {
            let node = snapshot.graph.by_update_id(&identity.update_id)?;
            let graph_node = snapshot.graph.node(node);
            let entry = scope.get(node)?;
            let current = graph_node.revision == identity.revision;
            (current && entry.action != crate::protocol::wusp::DeploymentAction::Bundle).then(|| {
                RefreshCacheResult {
                    revision_id: graph_node.local_id,
                    global_id: *identity,
                    is_leaf: graph_node.is_leaf,
                    deployment: Snapshot::deployment(entry),
                }
            })
        })
        .collect();
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_groups_prefer_the_product() {
        let (product, class, other) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let kind = |id: &Uuid| match id.as_u128() {
            1 => Some(CategoryType::Product),
            2 => Some(CategoryType::UpdateClassification),
            _ => Some(CategoryType::ProductFamily),
        };
        assert_eq!(preferred_of_group(&[product], kind), Some(product));
        assert_eq!(preferred_of_group(&[class, product], kind), Some(product));
        assert_eq!(preferred_of_group(&[other], kind), None);
        assert_eq!(preferred_of_group(&[product, class, other], kind), None);
    }
}
