//! GetExtendedUpdateInfo, GetExtendedUpdateInfo2 and GetFileLocations (docs/protocol.md §2.8–§2.10,
//! §5): fragments of in-scope revisions, and WSUS-style content URLs for their files.

use super::super::xpress::AnswerKey;
use super::auth::{require_cookie, MAX_EXTENDED_UPDATES};
use super::{internal, seal_cookie, Context};
use crate::fragments::Kind;
use crate::model::FileRef;
use crate::plan::NodeId;
use crate::protocol::wusp::{
    ClientFault, ErrorCode, ExtendedUpdateInfo, FileLocation, GetExtendedUpdateInfo2Request,
    GetExtendedUpdateInfoRequest, GetFileLocationsRequest, GetFileLocationsResponse,
};

pub(super) fn get_extended_update_info(
    context: &Context<'_>,
    request: &GetExtendedUpdateInfoRequest,
) -> Result<ExtendedUpdateInfo, ClientFault> {
    let state = require_cookie(context, request.cookie.as_ref())?;
    validate(
        request.revision_ids.len(),
        "revisionIDs",
        &request.info_types,
        &request.locales,
    )?;
    let snapshot = &context.snapshot;
    let scope = snapshot.scope_for(&state.target_groups);
    let mut nodes = Vec::new();
    let mut out_of_scope = Vec::new();
    for &id in &request.revision_ids {
        match snapshot
            .graph
            .by_local_id(id)
            .filter(|node| scope.get(*node).is_some())
        {
            Some(node) => nodes.push(node),
            None => out_of_scope.push(id),
        }
    }
    let mut info = extended_info(context, &nodes, &request.info_types, &request.locales)?;
    info.out_of_scope_revision_ids = out_of_scope;
    Ok(info)
}

/// The key a GetExtendedUpdateInfo answer is kept under: everything its bytes depend on —
/// the snapshot, the client's scope, the ids in order, the info types, the locales and the
/// content base of file URLs. `None` when the cookie does not open (the call then faults).
pub(super) fn answer_key(context: &Context<'_>, request: &GetExtendedUpdateInfoRequest) -> Option<u128> {
    let state = require_cookie(context, request.cookie.as_ref()).ok()?;
    let scope = context.snapshot.scope_for(&state.target_groups);
    let mut key = AnswerKey::new("GetExtendedUpdateInfo", context.snapshot.serial);
    key.number(std::ptr::from_ref(scope) as usize as u64)
        .numbers(&request.revision_ids)
        .number(request.info_types.len() as u64);
    for info_type in &request.info_types {
        key.text(info_type);
    }
    key.number(request.locales.len() as u64);
    for locale in &request.locales {
        key.text(locale);
    }
    key.text(&context.content_base);
    Some(key.finish())
}

/// The same by (UpdateID, RevisionNumber); identities not in scope are simply left out.
pub(super) fn get_extended_update_info2(
    context: &Context<'_>,
    request: &GetExtendedUpdateInfo2Request,
) -> Result<ExtendedUpdateInfo, ClientFault> {
    let state = require_cookie(context, request.cookie.as_ref())?;
    validate(
        request.update_ids.len(),
        "updateIDs",
        &request.info_types,
        &request.locales,
    )?;
    let snapshot = &context.snapshot;
    let scope = snapshot.scope_for(&state.target_groups);
    let nodes: Vec<NodeId> = request
        .update_ids
        .iter()
        .filter_map(|identity| {
            let node = snapshot.graph.by_update_id(&identity.update_id)?;
            (snapshot.graph.node(node).revision == identity.revision && scope.get(node).is_some())
                .then_some(node)
        })
        .collect();
    extended_info(context, &nodes, &request.info_types, &request.locales)
}

fn validate(count: usize, field: &str, info_types: &[String], locales: &[String]) -> Result<(), ClientFault> {
    if count > MAX_EXTENDED_UPDATES {
        return Err(ClientFault::new(ErrorCode::InvalidParameters, field));
    }
    if info_types.is_empty() {
        return Err(ClientFault::new(ErrorCode::InvalidParameters, "infoTypes"));
    }
    let needs_locales = info_types
        .iter()
        .any(|t| t == "LocalizedProperties" || t == "Eula");
    if needs_locales && locales.is_empty() {
        return Err(ClientFault::new(ErrorCode::InvalidParameters, "locales"));
    }
    Ok(())
}

/// One `Update` per (fragment type, revision) and one location per distinct file of the
/// revisions, when their Extended fragment was asked for.
fn extended_info(
    context: &Context<'_>,
    nodes: &[NodeId],
    info_types: &[String],
    locales: &[String],
) -> Result<ExtendedUpdateInfo, ClientFault> {
    let snapshot = &context.snapshot;
    // Types wucache does not produce yield no fragments.
    let kinds: Vec<Kind> = info_types
        .iter()
        .filter_map(|t| Kind::of_info_type(t, locales))
        .collect();
    let per_revision = nodes
        .iter()
        .map(|&node| {
            let local_id = snapshot.graph.node(node).local_id;
            context
                .app
                .fragments
                .fragments(&context.app.store, local_id, &kinds)
                .map(|fragments| (local_id, fragments))
                .map_err(|e| internal("fragment", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut info = ExtendedUpdateInfo::default();
    // Grouped by fragment type, then by revision, as WSUS orders them.
    for kind in 0..kinds.len() {
        for (local_id, fragments) in &per_revision {
            for text in fragments[kind].iter() {
                info.updates.push((*local_id, text.clone()));
            }
        }
    }
    if info_types.iter().any(|t| t == "Extended") {
        for file in nodes.iter().flat_map(|&node| &snapshot.record(node).files) {
            if !info.file_locations.iter().any(|l| l.file_digest == file.sha1) {
                info.file_locations.push(location(&context.content_base, file));
            }
        }
    }
    Ok(info)
}

/// `<base>/Content/<XX>/<SHA1-HEX>.<ext>`: XX = the last digest byte in upper-case hex, as
/// WSUS lays content out (docs/protocol.md §5.4; the path is `content::layout::url_path`).
pub(in crate::server) fn content_url(base: &str, file: &FileRef) -> String {
    crate::content::layout::content_url(base, &file.sha1, &file.content_extension())
}

fn location(base: &str, file: &FileRef) -> FileLocation {
    FileLocation {
        file_digest: file.sha1.to_vec(),
        url: content_url(base, file),
    }
}

/// Locations of the requested digests (each must be a 20-byte SHA-1); digests the catalog
/// does not know are left out.
pub(super) fn get_file_locations(
    context: &Context<'_>,
    request: &GetFileLocationsRequest,
) -> Result<GetFileLocationsResponse, ClientFault> {
    let state = require_cookie(context, request.cookie.as_ref())?;
    let mut file_locations = Vec::new();
    for digest in &request.file_digests {
        let sha1: [u8; 20] = digest
            .as_slice()
            .try_into()
            .map_err(|_| ClientFault::new(ErrorCode::InvalidParameters, "fileDigests"))?;
        if let Some((_, file)) = context.snapshot.file(&sha1) {
            file_locations.push(location(&context.content_base, file));
        }
    }
    Ok(GetFileLocationsResponse {
        file_locations,
        new_cookie: seal_cookie(context, &state),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_urls_follow_the_wsus_layout() {
        let mut file = FileRef {
            sha1: [0; 20],
            sha256: None,
            name: "AM_Delta.EXE".into(),
            size: 1,
            url: Box::default(),
            modified: Box::default(),
            patching_type: None,
        };
        file.sha1[19] = 0x0a;
        file.sha1[0] = 0xab;
        let url = content_url("http://wucache:8530/", &file);
        assert_eq!(
            url,
            "http://wucache:8530/Content/0A/AB0000000000000000000000000000000000000A.exe"
        );
        file.name = "noextension".into();
        assert!(content_url("http://h", &file).ends_with(".cab"));
    }
}
