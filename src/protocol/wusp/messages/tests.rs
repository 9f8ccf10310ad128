//! Tests of what the services share: the readers' fault paths, the writer's empty-element
//! styles and escaping, round trips of every operation, and the captures that span several
//! services.

use super::test_fixtures::*;
use super::test_generator::*;
use super::*;
use crate::protocol::wusp::envelope;
use crate::protocol::xml;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn spec_example_requests_with_soap_encoded_arrays_parse() {
    let req = parse_register_computer_request(&request_element(SPEC_REGISTER)).unwrap();
    assert_eq!(req.computer.processor_architecture, "x86");
    assert_eq!(
        req.computer.mobile_operator, "",
        "the 2006 client had no MobileOperator"
    );

    let req = parse_refresh_cache_request(&request_element(SPEC_REFRESH_CACHE)).unwrap();
    assert_eq!(req.global_ids.len(), 7);
    assert_eq!(
        req.global_ids[0],
        UpdateIdentity {
            update_id: uuid::uuid!("0a4c6c73-8887-4d7f-9cbe-d08fa8fa9d1e"),
            revision: 50
        }
    );
    assert!(
        req.cookie.unwrap().encrypted_data.is_some(),
        "base64 with a space decodes"
    );

    let req = parse_get_file_locations_request(&request_element(SPEC_FILE_LOCATIONS)).unwrap();
    assert_eq!(req.file_digests, vec![vec![0u8; 20]]);
}

#[test]
fn xsi_nil_counts_as_absent() {
    let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soap:Body>
<SyncUpdates xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService">
<cookie>
<Expiration>2006-05-23T04:06:32.9843746Z</Expiration>
<EncryptedData xsi:nil="1" />
</cookie>
<parameters>
<ExpressQuery>false</ExpressQuery>
<InstalledNonLeafUpdateIDs xsi:nil="1" />
<OtherCachedUpdateIDs soapenc:arrayType="xsd:int[2]" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/">
<int>109</int>
<int> 110 </int>
</OtherCachedUpdateIDs>
<SystemSpec xsi:nil="true" />
<CachedDriverIDs xsi:nil="1" />
<SkipSoftwareSync>false</SkipSoftwareSync>
</parameters>
</SyncUpdates>
</soap:Body>
</soap:Envelope>"#;
    let req = parse_sync_updates_request(&request_element(body)).unwrap();
    assert_eq!(req.cookie.unwrap().encrypted_data, None);
    let p = req.parameters.unwrap();
    assert_eq!(p.installed_non_leaf, None);
    assert_eq!(p.other_cached, Some(vec![109, 110]));
    assert!(!p.system_spec_present);
    assert_eq!(p.cached_driver_ids, None);
    assert!(!p.need_two_group_out_of_scope);
}

// ---- Real requests re-serialise as Windows wrote them ----------------------------

#[test]
fn rebuilt_native_requests_are_byte_identical() {
    let cases = [
        (
            SCAN_GET_CONFIG.0,
            "GetConfig",
            build_get_config_request(&parse_get_config_request(&request_element(SCAN_GET_CONFIG.0)).unwrap()),
        ),
        (
            SCAN_AUTH.0,
            "GetAuthorizationCookie",
            build_get_authorization_cookie_request(
                &parse_get_authorization_cookie_request(&request_element(SCAN_AUTH.0)).unwrap(),
            ),
        ),
        (
            SCAN_GET_COOKIE.0,
            "GetCookie",
            build_get_cookie_request(&parse_get_cookie_request(&request_element(SCAN_GET_COOKIE.0)).unwrap()),
        ),
        (
            SCAN_REGISTER.0,
            "RegisterComputer",
            build_register_computer_request(
                &parse_register_computer_request(&request_element(SCAN_REGISTER.0)).unwrap(),
            ),
        ),
        (
            SCAN_CATEGORY.0,
            "StartCategoryScan",
            build_start_category_scan_request(
                &parse_start_category_scan_request(&request_element(SCAN_CATEGORY.0)).unwrap(),
            ),
        ),
        (
            FLOW_REPORT.0,
            "ReportEventBatch",
            build_report_event_batch_request(
                &parse_report_event_batch_request(&request_element(FLOW_REPORT.0)).unwrap(),
            ),
        ),
        (
            FLOW_REPORT_FAILURE,
            "ReportEventBatch",
            build_report_event_batch_request(
                &parse_report_event_batch_request(&request_element(FLOW_REPORT_FAILURE)).unwrap(),
            ),
        ),
    ];
    for (body, name, rebuilt) in cases {
        assert_eq!(rebuilt, operation_xml(body, name), "{name}");
        assert_eq!(envelope::request(&rebuilt), body, "{name} envelope");
    }
}

/// Windows adds elements MS-WUSP does not define (and the model does not keep):
/// without them, the rebuilt request is the captured one byte for byte.
#[test]
fn rebuilt_native_requests_match_without_unmodelled_elements() {
    for (body, _) in SCAN_SYNC {
        let rebuilt =
            build_sync_updates_request(&parse_sync_updates_request(&request_element(body)).unwrap());
        let mut real = operation_xml(body, "SyncUpdates").to_string();
        for extra in ["AlsoPerformRegularSync", "ComputerSpec", "ProductsParameters"] {
            real = without(&real, extra);
        }
        assert_eq!(rebuilt, real);
    }
    for (body, _) in [SCAN_EXTENDED, FLOW_EXTENDED] {
        let rebuilt = build_get_extended_update_info_request(
            &parse_get_extended_update_info_request(&request_element(body)).unwrap(),
        );
        let mut real = operation_xml(body, "GetExtendedUpdateInfo").to_string();
        for extra in ["deviceAttributes", "GeoId", "callerAttributes"] {
            real = without(&real, extra);
        }
        assert_eq!(rebuilt, real);
    }
}

#[test]
fn empty_elements_follow_each_services_style() {
    assert_eq!(
        build_register_computer_response(&()),
        format!("<RegisterComputerResponse xmlns=\"{CLIENT_NS}\"/>")
    );
    let cookie = AuthorizationCookie {
        plugin_id: String::new(),
        cookie_data: vec![],
    };
    assert_eq!(
        build_get_authorization_cookie_response(&cookie),
        format!("<GetAuthorizationCookieResponse xmlns=\"{SIMPLE_AUTH_NS}\"><GetAuthorizationCookieResult><PlugInId /><CookieData /></GetAuthorizationCookieResult></GetAuthorizationCookieResponse>")
    );
}

#[test]
fn request_round_trips() {
    request_round_trip(
        |g| GetConfigRequest {
            protocol_version: g.string(),
        },
        build_get_config_request,
        parse_get_config_request,
    );
    request_round_trip(
        |g| GetAuthorizationCookieRequest {
            client_id: g.opt(Gen::string),
            target_group_name: g.opt(Gen::string),
            dns_name: g.opt(Gen::string),
        },
        build_get_authorization_cookie_request,
        parse_get_authorization_cookie_request,
    );
    request_round_trip(
        |g| GetCookieRequest {
            auth_cookies: g.vec(Gen::auth_cookie),
            old_cookie: g.opt(Gen::cookie),
            last_change: g.opt(Gen::string),
            current_time: g.opt(Gen::string),
            protocol_version: g.opt(Gen::string),
        },
        build_get_cookie_request,
        parse_get_cookie_request,
    );
    request_round_trip(
        |g| RegisterComputerRequest {
            cookie: g.opt(Gen::cookie),
            computer: g.computer(),
        },
        build_register_computer_request,
        parse_register_computer_request,
    );
    request_round_trip(
        |g| StartCategoryScanRequest {
            cookie: g.opt(Gen::cookie),
            requested: g.vec(|g| (g.int(), g.uuid())),
        },
        build_start_category_scan_request,
        parse_start_category_scan_request,
    );
    request_round_trip(
        |g| SyncUpdatesRequest {
            cookie: g.opt(Gen::cookie),
            parameters: g.opt(|g| SyncUpdateParameters {
                express_query: g.bool(),
                installed_non_leaf: g.opt(|g| g.vec(Gen::int)),
                other_cached: g.opt(|g| g.vec(Gen::int)),
                system_spec_present: g.bool(),
                cached_driver_ids: g.opt(|g| g.vec(Gen::int)),
                skip_software_sync: g.bool(),
                filter_category_ids: g.vec(Gen::uuid),
                need_two_group_out_of_scope: g.bool(),
                feature_score_matching_key: g.opt(Gen::string),
            }),
        },
        build_sync_updates_request,
        parse_sync_updates_request,
    );
    request_round_trip(
        |g| SyncPrinterCatalogRequest {
            cookie: g.opt(Gen::cookie),
            installed_non_leaf: g.vec(Gen::int),
            printer_update_ids: g.vec(Gen::int),
        },
        build_sync_printer_catalog_request,
        parse_sync_printer_catalog_request,
    );
    request_round_trip(
        |g| RefreshCacheRequest {
            cookie: g.opt(Gen::cookie),
            global_ids: g.vec(Gen::identity),
        },
        build_refresh_cache_request,
        parse_refresh_cache_request,
    );
    request_round_trip(
        |g| GetExtendedUpdateInfoRequest {
            cookie: g.opt(Gen::cookie),
            revision_ids: g.vec(Gen::int),
            info_types: g.vec(Gen::string),
            locales: g.vec(Gen::string),
        },
        build_get_extended_update_info_request,
        parse_get_extended_update_info_request,
    );
    request_round_trip(
        |g| GetExtendedUpdateInfo2Request {
            cookie: g.opt(Gen::cookie),
            update_ids: g.vec(Gen::identity),
            info_types: g.vec(Gen::string),
            locales: g.vec(Gen::string),
        },
        build_get_extended_update_info2_request,
        parse_get_extended_update_info2_request,
    );
    request_round_trip(
        |g| GetFileLocationsRequest {
            cookie: g.opt(Gen::cookie),
            file_digests: g.vec(Gen::bytes),
        },
        build_get_file_locations_request,
        parse_get_file_locations_request,
    );
    request_round_trip(
        |g| ReportEventBatchRequest {
            cookie: g.opt(Gen::cookie),
            client_time: g.opt(Gen::string),
            events: g.vec(Gen::event),
        },
        build_report_event_batch_request,
        parse_report_event_batch_request,
    );
}

#[test]
fn response_round_trips() {
    response_round_trip(
        Operation::GetConfig,
        |g| Config {
            last_change: g.string(),
            is_registration_required: g.bool(),
            plugin_id: g.string(),
            service_url: g.string(),
            properties: g.vec(|g| (g.string(), g.string())),
        },
        build_get_config_response,
        parse_get_config_response,
    );
    response_round_trip(
        Operation::GetAuthorizationCookie,
        Gen::auth_cookie,
        build_get_authorization_cookie_response,
        parse_get_authorization_cookie_response,
    );
    response_round_trip(
        Operation::GetCookie,
        Gen::cookie,
        build_get_cookie_response,
        parse_get_cookie_response,
    );
    response_round_trip(
        Operation::RegisterComputer,
        |_| (),
        build_register_computer_response,
        parse_register_computer_response,
    );
    response_round_trip(
        Operation::StartCategoryScan,
        |g| StartCategoryScanResponse {
            preferred: g.vec(Gen::uuid),
            in_error: g.vec(Gen::uuid),
        },
        build_start_category_scan_response,
        parse_start_category_scan_response,
    );
    response_round_trip(
        Operation::SyncUpdates,
        Gen::sync_info,
        build_sync_updates_response,
        parse_sync_updates_response,
    );
    response_round_trip(
        Operation::SyncPrinterCatalog,
        Gen::sync_info,
        build_sync_printer_catalog_response,
        parse_sync_printer_catalog_response,
    );
    response_round_trip(
        Operation::RefreshCache,
        |g| {
            g.vec(|g| RefreshCacheResult {
                revision_id: g.int(),
                global_id: g.identity(),
                is_leaf: g.bool(),
                deployment: g.deployment(),
            })
        },
        |results| build_refresh_cache_response(results),
        parse_refresh_cache_response,
    );
    response_round_trip(
        Operation::GetExtendedUpdateInfo,
        Gen::extended_update_info,
        build_get_extended_update_info_response,
        parse_get_extended_update_info_response,
    );
    response_round_trip(
        Operation::GetExtendedUpdateInfo2,
        |g| ExtendedUpdateInfo {
            out_of_scope_revision_ids: vec![],
            ..g.extended_update_info()
        },
        build_get_extended_update_info2_response,
        parse_get_extended_update_info2_response,
    );
    response_round_trip(
        Operation::GetFileLocations,
        |g| GetFileLocationsResponse {
            file_locations: g.vec(Gen::file_location),
            new_cookie: g.cookie(),
        },
        build_get_file_locations_response,
        parse_get_file_locations_response,
    );
    response_round_trip(
        Operation::ReportEventBatch,
        Gen::bool,
        build_report_event_batch_response,
        parse_report_event_batch_response,
    );
}

#[test]
fn generated_values_cover_the_interesting_shapes() {
    let infos: Vec<SyncInfo> = (0..48).map(|s| Gen::new(s).sync_info()).collect();
    assert!(infos.iter().any(|i| i.new_updates.is_empty()));
    assert!(infos.iter().any(|i| i.new_updates.len() > 1));
    assert!(infos
        .iter()
        .any(|i| i.deployed_out_of_scope_revision_ids == Some(vec![])));
    assert!(infos
        .iter()
        .any(|i| i.deployed_out_of_scope_revision_ids.is_none()));
    assert!(infos.iter().any(|i| i.new_cookie.encrypted_data == Some(vec![])));
    let xml: String = infos.iter().map(build_sync_updates_response).collect();
    for needle in ["&lt;&amp;&gt;\"'", "🦀", "&#xD;\n", "]]&gt;", "&amp;amp;"] {
        assert!(xml.contains(needle), "{needle}");
    }
}

// ---- Hostile and malformed input -------------------------------------------------

fn sync_request_with(parameters: &str) -> Element {
    let xml = format!(
        "<SyncUpdates xmlns=\"{CLIENT_NS}\"><cookie><Expiration>x</Expiration></cookie><parameters>{parameters}</parameters></SyncUpdates>"
    );
    xml::parse(&xml).unwrap()
}

#[test]
fn huge_ints_are_invalid_parameters_naming_the_field() {
    let el = sync_request_with(
        "<ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs><int>1</int><int>99999999999999999999</int></InstalledNonLeafUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync>",
    );
    assert_eq!(
        fault_message(parse_sync_updates_request(&el)),
        "parameters.InstalledNonLeafUpdateIDs[1]"
    );
    let el = sync_request_with(
        "<ExpressQuery>false</ExpressQuery><OtherCachedUpdateIDs><int>2147483648</int></OtherCachedUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync>",
    );
    assert_eq!(
        fault_message(parse_sync_updates_request(&el)),
        "parameters.OtherCachedUpdateIDs[0]"
    );
}

#[test]
fn missing_required_elements_are_named() {
    let el = sync_request_with("<SkipSoftwareSync>false</SkipSoftwareSync>");
    assert_eq!(
        fault_message(parse_sync_updates_request(&el)),
        "parameters.ExpressQuery"
    );
    let el =
        sync_request_with("<ExpressQuery>maybe</ExpressQuery><SkipSoftwareSync>false</SkipSoftwareSync>");
    assert_eq!(
        fault_message(parse_sync_updates_request(&el)),
        "parameters.ExpressQuery"
    );
    let el = xml::parse("<SyncUpdates><cookie><EncryptedData>AAAA</EncryptedData></cookie></SyncUpdates>")
        .unwrap();
    assert_eq!(
        fault_message(parse_sync_updates_request(&el)),
        "cookie.Expiration"
    );
    let el = xml::parse("<RegisterComputer><cookie><Expiration>x</Expiration></cookie></RegisterComputer>")
        .unwrap();
    assert_eq!(
        fault_message(parse_register_computer_request(&el)),
        "computerInfo"
    );
}

#[test]
fn wrong_base64_is_invalid_parameters_naming_the_field() {
    let el = xml::parse(
        "<GetCookie><oldCookie><Expiration>x</Expiration><EncryptedData>not base64!</EncryptedData></oldCookie></GetCookie>",
    )
    .unwrap();
    assert_eq!(
        fault_message(parse_get_cookie_request(&el)),
        "oldCookie.EncryptedData"
    );
    let el = xml::parse("<GetFileLocations><fileDigests><base64Binary>AAAA</base64Binary><base64Binary>A</base64Binary></fileDigests></GetFileLocations>").unwrap();
    assert_eq!(
        fault_message(parse_get_file_locations_request(&el)),
        "fileDigests[1]"
    );
    let el = xml::parse("<GetCookie><authCookies><AuthorizationCookie><CookieData>%%%%</CookieData></AuthorizationCookie></authCookies></GetCookie>").unwrap();
    assert_eq!(
        fault_message(parse_get_cookie_request(&el)),
        "authCookies[0].CookieData"
    );
}

#[test]
fn bad_guids_and_numbers_are_named() {
    let el = xml::parse("<StartCategoryScan><requestedCategories><CategoryRelationship><IndexOfAndGroup>0</IndexOfAndGroup><CategoryId>not-a-guid</CategoryId></CategoryRelationship></requestedCategories></StartCategoryScan>").unwrap();
    assert_eq!(
        fault_message(parse_start_category_scan_request(&el)),
        "requestedCategories[0].CategoryId"
    );
    let el = xml::parse("<RefreshCache><globalIDs><UpdateIdentity><UpdateID>0a4c6c73-8887-4d7f-9cbe-d08fa8fa9d1e</UpdateID><RevisionNumber>-1</RevisionNumber></UpdateIdentity></globalIDs></RefreshCache>").unwrap();
    assert_eq!(
        fault_message(parse_refresh_cache_request(&el)),
        "globalIDs[0].RevisionNumber"
    );
    let register = SCAN_REGISTER
        .0
        .replace("<SuiteMask>256</SuiteMask>", "<SuiteMask>65536</SuiteMask>");
    assert_eq!(
        fault_message(parse_register_computer_request(&request_element(&register))),
        "computerInfo.SuiteMask"
    );
    let report = FLOW_REPORT
        .0
        .replacen("<EventID>147</EventID>", "<EventID>40000</EventID>", 1);
    assert_eq!(
        fault_message(parse_report_event_batch_request(&request_element(&report))),
        "eventBatch[0].BasicData.EventID"
    );
    let sync = SCAN_SYNC[2]
        .1
        .replace("<Action>Evaluate</Action>", "<Action>Explode</Action>");
    assert_eq!(
        fault_message(parse_sync_updates_response(&response_element(&sync))),
        "SyncUpdatesResult.NewUpdates[0].Deployment.Action"
    );
}

#[test]
fn a_wrong_operation_element_is_refused() {
    let message = fault_message(parse_get_cookie_request(&request_element(SCAN_GET_CONFIG.0)));
    assert!(message.contains("GetCookie"), "{message}");
    assert!(parse_get_cookie_response(&response_element(SCAN_GET_CONFIG.1)).is_err());
}

/// Parses any request element with its operation's parser.
fn parse_any_request(op: Operation, el: &Element) -> Result<(), ClientFault> {
    match op {
        Operation::GetConfig => parse_get_config_request(el).map(drop),
        Operation::GetAuthorizationCookie => parse_get_authorization_cookie_request(el).map(drop),
        Operation::GetCookie => parse_get_cookie_request(el).map(drop),
        Operation::RegisterComputer => parse_register_computer_request(el).map(drop),
        Operation::StartCategoryScan => parse_start_category_scan_request(el).map(drop),
        Operation::SyncUpdates => parse_sync_updates_request(el).map(drop),
        Operation::SyncPrinterCatalog => parse_sync_printer_catalog_request(el).map(drop),
        Operation::RefreshCache => parse_refresh_cache_request(el).map(drop),
        Operation::GetExtendedUpdateInfo => parse_get_extended_update_info_request(el).map(drop),
        Operation::GetExtendedUpdateInfo2 => parse_get_extended_update_info2_request(el).map(drop),
        Operation::GetFileLocations => parse_get_file_locations_request(el).map(drop),
        Operation::ReportEventBatch => parse_report_event_batch_request(el).map(drop),
    }
}

/// Random byte damage to every real request: a fault or a value, never a panic.
#[test]
fn damaged_requests_never_panic() {
    let bodies = [
        SCAN_GET_CONFIG.0,
        SCAN_AUTH.0,
        SCAN_GET_COOKIE.0,
        SCAN_REGISTER.0,
        SCAN_CATEGORY.0,
        SCAN_SYNC[2].0,
        SCAN_EXTENDED.0,
        FLOW_REPORT.0,
        SPEC_REFRESH_CACHE,
        SPEC_FILE_LOCATIONS,
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let noise = b"<>&;/=\"' 0123456789-xAZ\x00\xff";
    for body in bodies {
        for _ in 0..100 {
            let mut bytes = body.as_bytes().to_vec();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = noise[rng.gen_range(0..noise.len())];
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok((op, el)) = envelope::parse_request(&text, None) {
                let _ = parse_any_request(op, &el);
            }
        }
    }
}
