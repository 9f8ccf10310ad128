//! Scanning on the ClientWebService: StartCategoryScan, SyncUpdates, SyncPrinterCatalog and
//! RefreshCache, with the `Deployment` and `UpdateInfo` they share. Uses the shared writer
//! and readers of `messages`.

use super::*;

// ---- StartCategoryScan -----------------------------------------------------------------

pub(crate) fn parse_start_category_scan_request(el: &Element) -> Parsed<StartCategoryScanRequest> {
    expect_name(el, "StartCategoryScan")?;
    let requested = struct_array(
        el,
        "requestedCategories",
        "CategoryRelationship",
        "",
        |c, path| {
            Ok((
                req_scalar(c, "IndexOfAndGroup", path)?,
                req_scalar(c, "CategoryId", path)?,
            ))
        },
    )?;
    Ok(StartCategoryScanRequest {
        cookie: opt_cookie(el, "cookie")?,
        requested,
    })
}

/// The WSDL has no cookie here and Windows 11 sends none; one is written only when set.
pub fn build_start_category_scan_request(req: &StartCategoryScanRequest) -> String {
    Writer::client().root("StartCategoryScan", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("requestedCategories", &req.requested, |w, (index, id)| {
            w.element("CategoryRelationship", |w| {
                w.value("IndexOfAndGroup", index);
                w.value("CategoryId", id);
            })
        });
    })
}

/// Both lists sit directly under the response element (no `…Result` wrapper).
pub fn build_start_category_scan_response(resp: &StartCategoryScanResponse) -> String {
    Writer::client().root("StartCategoryScanResponse", CLIENT_NS, |w| {
        w.nonempty("preferredCategoryIds", &resp.preferred, guid_item);
        w.nonempty("requestedCategoryIdsInError", &resp.in_error, guid_item);
    })
}

/// Client side: reads a `StartCategoryScanResponse`.
pub fn parse_start_category_scan_response(el: &Element) -> Parsed<StartCategoryScanResponse> {
    expect_name(el, "StartCategoryScanResponse")?;
    Ok(StartCategoryScanResponse {
        preferred: guid_array(el, "preferredCategoryIds", "")?,
        in_error: guid_array(el, "requestedCategoryIdsInError", "")?,
    })
}

// ---- SyncUpdates -----------------------------------------------------------------------

fn read_sync_parameters(el: &Element, path: &str) -> Parsed<SyncUpdateParameters> {
    let filter_category_ids =
        struct_array(el, "FilterCategoryIds", "CategoryIdentifier", path, |c, path| {
            req_scalar(c, "Id", path)
        })?;
    Ok(SyncUpdateParameters {
        express_query: req_bool(el, "ExpressQuery", path)?,
        installed_non_leaf: int_array(el, "InstalledNonLeafUpdateIDs", path)?,
        other_cached: int_array(el, "OtherCachedUpdateIDs", path)?,
        system_spec_present: child(el, "SystemSpec").is_some(),
        cached_driver_ids: int_array(el, "CachedDriverIDs", path)?,
        skip_software_sync: req_bool(el, "SkipSoftwareSync", path)?,
        filter_category_ids,
        need_two_group_out_of_scope: opt_bool(el, "NeedTwoGroupOutOfScopeUpdates", path)?.unwrap_or(false),
        feature_score_matching_key: opt_string(el, "FeatureScoreMatchingKey"),
    })
}

/// Ignores what MS-WUSP does not define (`AlsoPerformRegularSync`, `ProductsParameters`,
/// `ComputerSpec`, the devices of `SystemSpec`).
pub fn parse_sync_updates_request(el: &Element) -> Parsed<SyncUpdatesRequest> {
    expect_name(el, "SyncUpdates")?;
    Ok(SyncUpdatesRequest {
        cookie: opt_cookie(el, "cookie")?,
        parameters: child(el, "parameters")
            .map(|p| read_sync_parameters(p, "parameters"))
            .transpose()?,
    })
}

/// In Windows 11's order. `SystemSpec` is written empty when present (devices are not
/// modelled); the non-MS-WUSP elements Windows adds are not written.
pub fn build_sync_updates_request(req: &SyncUpdatesRequest) -> String {
    Writer::client().root("SyncUpdates", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        if let Some(p) = &req.parameters {
            w.element("parameters", |w| write_sync_parameters(w, p));
        }
    })
}

fn write_sync_parameters(w: &mut Writer, p: &SyncUpdateParameters) {
    w.value("ExpressQuery", p.express_query);
    if let Some(ids) = &p.installed_non_leaf {
        w.array("InstalledNonLeafUpdateIDs", ids, int_item);
    }
    if let Some(ids) = &p.other_cached {
        w.array("OtherCachedUpdateIDs", ids, int_item);
    }
    if p.system_spec_present {
        w.text("SystemSpec", "");
    }
    if let Some(ids) = &p.cached_driver_ids {
        w.array("CachedDriverIDs", ids, int_item);
    }
    w.value("SkipSoftwareSync", p.skip_software_sync);
    w.nonempty("FilterCategoryIds", &p.filter_category_ids, |w, id| {
        w.element("CategoryIdentifier", |w| w.value("Id", id))
    });
    w.value("NeedTwoGroupOutOfScopeUpdates", p.need_two_group_out_of_scope);
    w.opt_text("FeatureScoreMatchingKey", p.feature_score_matching_key.as_deref());
}

fn write_deployment(w: &mut Writer, d: &Deployment) {
    w.element("Deployment", |w| {
        w.value("ID", d.id);
        w.text("Action", d.action.as_str());
        w.opt_text("Deadline", d.deadline.as_deref());
        w.value("IsAssigned", d.is_assigned);
        w.text("LastChangeTime", &d.last_change_time);
        w.opt_text("DownloadPriority", d.download_priority.as_deref());
        w.opt_text("AutoSelect", d.auto_select.as_deref());
        w.opt_text("AutoDownload", d.auto_download.as_deref());
        w.opt_text("SupersedenceBehavior", d.supersedence_behavior.as_deref());
    });
}

/// `HardwareIds`, `FlagBitmask` and `ClientBehaviors` are not modelled and ignored.
fn read_deployment(el: &Element, path: &str) -> Parsed<Deployment> {
    let action_path = join(path, "Action");
    let action = required(el, "Action", &action_path)?;
    Ok(Deployment {
        id: req_scalar(el, "ID", path)?,
        action: DeploymentAction::parse(action.text.trim()).ok_or_else(|| invalid(&action_path))?,
        deadline: opt_string(el, "Deadline"),
        is_assigned: req_bool(el, "IsAssigned", path)?,
        last_change_time: req_string(el, "LastChangeTime", path)?,
        download_priority: opt_string(el, "DownloadPriority"),
        auto_select: opt_string(el, "AutoSelect"),
        auto_download: opt_string(el, "AutoDownload"),
        supersedence_behavior: opt_string(el, "SupersedenceBehavior"),
    })
}

fn req_deployment(el: &Element, path: &str) -> Parsed<Deployment> {
    let path = join(path, "Deployment");
    read_deployment(required(el, "Deployment", &path)?, &path)
}

fn update_info_item(w: &mut Writer, u: &UpdateInfo) {
    w.element("UpdateInfo", |w| {
        w.value("ID", u.id);
        write_deployment(w, &u.deployment);
        w.value("IsLeaf", u.is_leaf);
        w.xml_text("Xml", &u.xml);
    });
}

fn read_update_info(el: &Element, path: &str) -> Parsed<UpdateInfo> {
    Ok(UpdateInfo {
        id: req_scalar(el, "ID", path)?,
        deployment: req_deployment(el, path)?,
        is_leaf: req_bool(el, "IsLeaf", path)?,
        xml: string(el, "Xml").into(),
    })
}

fn write_sync_info(w: &mut Writer, result: &str, info: &SyncInfo) {
    w.element(result, |w| {
        w.nonempty("NewUpdates", &info.new_updates, update_info_item);
        w.nonempty("OutOfScopeRevisionIDs", &info.out_of_scope_revision_ids, int_item);
        w.nonempty("ChangedUpdates", &info.changed_updates, update_info_item);
        w.value("Truncated", info.truncated);
        write_cookie(w, "NewCookie", &info.new_cookie);
        if let Some(ids) = &info.deployed_out_of_scope_revision_ids {
            w.array("DeployedOutOfScopeRevisionIds", ids, int_item);
        }
        if let Some(not_needed) = info.driver_sync_not_needed {
            w.value("DriverSyncNotNeeded", not_needed);
        }
    });
}

fn read_sync_info(response: &Element, result: &str) -> Parsed<SyncInfo> {
    let el = required(response, result, result)?;
    Ok(SyncInfo {
        new_updates: struct_array(el, "NewUpdates", "UpdateInfo", result, read_update_info)?,
        out_of_scope_revision_ids: int_array(el, "OutOfScopeRevisionIDs", result)?.unwrap_or_default(),
        changed_updates: struct_array(el, "ChangedUpdates", "UpdateInfo", result, read_update_info)?,
        truncated: req_bool(el, "Truncated", result)?,
        new_cookie: req_cookie(el, "NewCookie", result)?,
        deployed_out_of_scope_revision_ids: int_array(el, "DeployedOutOfScopeRevisionIds", result)?,
        driver_sync_not_needed: opt_bool(el, "DriverSyncNotNeeded", result)?,
    })
}

pub(crate) fn build_sync_updates_response(info: &SyncInfo) -> String {
    let items = info.new_updates.iter().chain(&info.changed_updates);
    let capacity = items.map(|u| u.xml.len() + 512).sum::<usize>() + 4096;
    Writer::client_sized(capacity).root("SyncUpdatesResponse", CLIENT_NS, |w| {
        write_sync_info(w, "SyncUpdatesResult", info)
    })
}

/// Client side: reads a `SyncUpdatesResponse`.
pub fn parse_sync_updates_response(el: &Element) -> Parsed<SyncInfo> {
    expect_name(el, "SyncUpdatesResponse")?;
    read_sync_info(el, "SyncUpdatesResult")
}

// ---- SyncPrinterCatalog ----------------------------------------------------------------

pub(crate) fn parse_sync_printer_catalog_request(el: &Element) -> Parsed<SyncPrinterCatalogRequest> {
    expect_name(el, "SyncPrinterCatalog")?;
    Ok(SyncPrinterCatalogRequest {
        cookie: opt_cookie(el, "cookie")?,
        installed_non_leaf: int_array(el, "installedNonLeafUpdateIDs", "")?.unwrap_or_default(),
        printer_update_ids: int_array(el, "printerUpdateIDs", "")?.unwrap_or_default(),
    })
}

/// Client side: writes a `SyncPrinterCatalog` request.
pub fn build_sync_printer_catalog_request(req: &SyncPrinterCatalogRequest) -> String {
    Writer::client().root("SyncPrinterCatalog", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("installedNonLeafUpdateIDs", &req.installed_non_leaf, int_item);
        w.nonempty("printerUpdateIDs", &req.printer_update_ids, int_item);
    })
}

pub(crate) fn build_sync_printer_catalog_response(info: &SyncInfo) -> String {
    Writer::client().root("SyncPrinterCatalogResponse", CLIENT_NS, |w| {
        write_sync_info(w, "SyncPrinterCatalogResult", info)
    })
}

/// Client side: reads a `SyncPrinterCatalogResponse`.
pub fn parse_sync_printer_catalog_response(el: &Element) -> Parsed<SyncInfo> {
    expect_name(el, "SyncPrinterCatalogResponse")?;
    read_sync_info(el, "SyncPrinterCatalogResult")
}

// ---- RefreshCache ----------------------------------------------------------------------

pub(crate) fn parse_refresh_cache_request(el: &Element) -> Parsed<RefreshCacheRequest> {
    expect_name(el, "RefreshCache")?;
    Ok(RefreshCacheRequest {
        cookie: opt_cookie(el, "cookie")?,
        global_ids: struct_array(el, "globalIDs", "UpdateIdentity", "", read_identity)?,
    })
}

/// Client side: writes a `RefreshCache` request.
pub fn build_refresh_cache_request(req: &RefreshCacheRequest) -> String {
    Writer::client().root("RefreshCache", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("globalIDs", &req.global_ids, identity_item);
    })
}

/// The result list is the `RefreshCacheResult` element itself, holding `RefreshCacheResult`
/// items.
pub fn build_refresh_cache_response(results: &[RefreshCacheResult]) -> String {
    Writer::client().root("RefreshCacheResponse", CLIENT_NS, |w| {
        w.nonempty("RefreshCacheResult", results, |w, r| {
            w.element("RefreshCacheResult", |w| {
                w.value("RevisionID", r.revision_id);
                write_identity(w, "GlobalID", &r.global_id);
                w.value("IsLeaf", r.is_leaf);
                write_deployment(w, &r.deployment);
            })
        });
    })
}

/// Client side: reads a `RefreshCacheResponse`.
pub fn parse_refresh_cache_response(el: &Element) -> Parsed<Vec<RefreshCacheResult>> {
    expect_name(el, "RefreshCacheResponse")?;
    struct_array(el, "RefreshCacheResult", "RefreshCacheResult", "", |r, path| {
        Ok(RefreshCacheResult {
            revision_id: req_scalar(r, "RevisionID", path)?,
            global_id: req_identity(r, "GlobalID", path)?,
            is_leaf: req_bool(r, "IsLeaf", path)?,
            deployment: req_deployment(r, path)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wusp::messages::test_fixtures::*;
    use crate::protocol::xml;

    #[test]
    fn native_start_category_scan_request_has_no_cookie() {
        let req = parse_start_category_scan_request(&request_element(SCAN_CATEGORY.0)).unwrap();
        assert_eq!(req.cookie, None);
        assert_eq!(req.requested, vec![(0, OOBE_ZDP)]);
    }

    #[test]
    fn native_first_sync_updates_request_omits_the_id_arrays() {
        let req = parse_sync_updates_request(&request_element(SCAN_SYNC[0].0)).unwrap();
        assert!(req.cookie.is_some());
        let p = req.parameters.expect("parameters");
        assert_eq!(
            p,
            SyncUpdateParameters {
                express_query: false,
                installed_non_leaf: None,
                other_cached: None,
                system_spec_present: false,
                cached_driver_ids: None,
                skip_software_sync: false,
                filter_category_ids: vec![OOBE_ZDP],
                need_two_group_out_of_scope: true,
                feature_score_matching_key: None,
            }
        );
    }

    #[test]
    fn native_later_sync_updates_requests_list_installed_non_leaf_ids() {
        let installed = |body| {
            let req = parse_sync_updates_request(&request_element(body)).unwrap();
            let p = req.parameters.unwrap();
            assert_eq!(p.other_cached, None);
            p.installed_non_leaf
        };
        assert_eq!(installed(SCAN_SYNC[1].0), Some(vec![108226]));
        assert_eq!(installed(SCAN_SYNC[2].0), Some(vec![108226, 108231]));
    }

    #[test]
    fn real_start_category_scan_response_round_trips() {
        let resp = parse_start_category_scan_response(&response_element(SCAN_CATEGORY.1)).unwrap();
        assert_eq!(
            resp,
            StartCategoryScanResponse {
                preferred: vec![OOBE_ZDP],
                in_error: vec![]
            }
        );
        assert_eq!(
            build_start_category_scan_response(&resp),
            operation_xml(SCAN_CATEGORY.1, "StartCategoryScanResponse")
        );
    }

    #[test]
    fn real_sync_updates_responses_round_trip() {
        let bodies = [
            SCAN_SYNC[0].1,
            SCAN_SYNC[1].1,
            SCAN_SYNC[2].1,
            SCAN_DRIVER_SYNC_RESPONSE,
            FLOW_SYNC_RESPONSE,
        ];
        for body in bodies {
            let info = parse_sync_updates_response(&response_element(body)).unwrap();
            assert_eq!(
                build_sync_updates_response(&info),
                operation_xml(body, "SyncUpdatesResponse")
            );
        }
    }

    #[test]
    fn real_sync_updates_responses_say_what_the_capture_says() {
        let info = parse_sync_updates_response(&response_element(SCAN_SYNC[2].1)).unwrap();
        assert_eq!(info.new_updates.len(), 1);
        let update = &info.new_updates[0];
        assert_eq!((update.id, update.is_leaf), (72571, true));
        assert_eq!(
            update.deployment,
            Deployment {
                id: 4650,
                action: DeploymentAction::Evaluate,
                deadline: None,
                is_assigned: true,
                last_change_time: "2026-10-04".into(),
                download_priority: None,
                auto_select: Some("0".into()),
                auto_download: Some("0".into()),
                supersedence_behavior: Some("0".into()),
            }
        );
        assert!(update.xml.text().starts_with(
            r#"<UpdateIdentity UpdateID="dd78b8a1-0b20-45c1-add6-4da72e9364cf" RevisionNumber="202" />"#
        ));
        assert!(!info.truncated);
        assert_eq!(info.deployed_out_of_scope_revision_ids, None);
        assert_eq!(info.driver_sync_not_needed, Some(true));

        let driver = parse_sync_updates_response(&response_element(SCAN_DRIVER_SYNC_RESPONSE)).unwrap();
        assert!(driver.new_updates.is_empty() && driver.changed_updates.is_empty());

        let flow = parse_sync_updates_response(&response_element(FLOW_SYNC_RESPONSE)).unwrap();
        assert_eq!(flow.new_updates.len(), 6);
        assert!(flow
            .new_updates
            .iter()
            .all(|u| u.xml.text().contains(r#"<Properties UpdateType="Detectoid" />"#)));
        assert_eq!(flow.driver_sync_not_needed, Some(false));
    }

    #[test]
    fn empty_lists_are_omitted_but_requested_empty_lists_are_sent() {
        let info = SyncInfo {
            deployed_out_of_scope_revision_ids: Some(vec![]),
            ..SyncInfo::default()
        };
        let xml = build_sync_updates_response(&info);
        assert!(!xml.contains("NewUpdates") && !xml.contains("OutOfScopeRevisionIDs>"));
        assert!(xml.contains("<DeployedOutOfScopeRevisionIds/>"), "{xml}");
        assert!(!xml.contains("DriverSyncNotNeeded"));
    }

    #[test]
    fn omitted_and_empty_id_arrays_stay_apart() {
        let parameters = SyncUpdateParameters {
            installed_non_leaf: Some(vec![]),
            other_cached: None,
            cached_driver_ids: Some(vec![5]),
            ..SyncUpdateParameters::default()
        };
        let req = SyncUpdatesRequest {
            cookie: None,
            parameters: Some(parameters),
        };
        let xml = build_sync_updates_request(&req);
        assert!(xml.contains("<InstalledNonLeafUpdateIDs/>"), "{xml}");
        assert!(!xml.contains("OtherCachedUpdateIDs"), "{xml}");
        assert!(
            xml.contains("<CachedDriverIDs><int>5</int></CachedDriverIDs>"),
            "{xml}"
        );
        assert_eq!(
            parse_sync_updates_request(&xml::parse(&xml).unwrap()).unwrap(),
            req
        );
    }
}
