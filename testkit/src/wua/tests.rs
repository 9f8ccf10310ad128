//! The client side held against real traffic: the readers read what a real WSUS answered, and the
//! builders write what the real Windows 11 client sent (byte for byte where no value of ours is
//! in it, element for element otherwise).

use uuid::Uuid;

use super::answers::{self, AuthorizationCookie, Cookie};
use super::reply::{read_reply, Reply};
use super::report;
use super::request::{self, Machine, SyncParams};
use super::shape::paths;
use super::sync::{read_sync_updates, Action};
use crate::xml::Element;

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!("../../../tests/fixtures/", $path))
    };
}

/// The response element of a real answer.
fn answer(xml: &str) -> Element {
    match read_reply(xml).expect("readable envelope") {
        Reply::Answer(element) => element,
        Reply::Fault(fault) => panic!("unexpected fault {fault:?}"),
    }
}

/// `element` with every text and attribute value blanked: its skeleton.
fn masked(element: &Element) -> Element {
    Element {
        name: element.name.clone(),
        attrs: element
            .attrs
            .iter()
            .map(|(name, _)| (name.clone(), String::new()))
            .collect(),
        text: String::new(),
        children: element.children.iter().map(masked).collect(),
    }
}

fn tree(xml: &str) -> Element {
    Element::parse(xml).expect("well-formed")
}

fn text_at(xml: &str, path: &[&str]) -> String {
    tree(xml)
        .find(path)
        .expect("element in capture")
        .trimmed()
        .to_owned()
}

#[test]
fn real_handshake_answers_are_read() {
    let config = answers::read_config(&answer(fixture!("replay/scan-000001.response.xml"))).unwrap();
    assert_eq!(config.last_change, "2026-10-04T13:17:07.59Z");
    assert!(config.is_registration_required);
    assert_eq!(
        config.auth_plug_ins[0].plug_in_id.as_deref(),
        Some("SimpleTargeting")
    );
    assert_eq!(config.property("MaxExtendedUpdatesPerRequest"), Some("50"));
    let auth =
        answers::read_authorization_cookie(&answer(fixture!("replay/scan-000002.response.xml"))).unwrap();
    assert_eq!(auth.plug_in_id, "SimpleTargeting");
    let cookie = answers::read_get_cookie(&answer(fixture!("replay/scan-000003.response.xml"))).unwrap();
    assert_eq!(cookie.expiration, "2026-10-04T16:03:35.9967236Z");
    answers::read_register_computer(&answer(fixture!("replay/scan-000004.response.xml"))).unwrap();
    let scan = answers::read_category_scan(&answer(fixture!("replay/scan-000005.response.xml"))).unwrap();
    assert_eq!(
        scan.preferred,
        [Uuid::from_u128(0xdd78b8a1_0b20_45c1_add6_4da72e9364cf)]
    );
    let report = answer(fixture!(
        "wusp/native-flow-000016.report-event-batch.response.xml"
    ));
    assert!(answers::read_report_event_batch(&report).unwrap());
}

#[test]
fn real_sync_updates_answers_are_read_with_their_core_fragments() {
    let info = read_sync_updates(&answer(fixture!("replay/scan-000007.response.xml"))).unwrap();
    let [update] = info.new_updates.as_slice() else {
        panic!("one update expected")
    };
    assert_eq!(update.id, 108231);
    assert_eq!(update.action(), Some(Action::Evaluate));
    assert!(!update.is_leaf);
    let core = update.core().unwrap();
    assert_eq!(
        core.update_id,
        Uuid::from_u128(0x6964aab4_c5b5_43bd_a17d_ffb4346a8e1d)
    );
    assert_eq!((core.revision, core.update_type.as_str()), (100, "Category"));
    assert_eq!(
        core.prerequisites,
        [Uuid::from_u128(0x56309036_4c77_4dd9_951a_99ee9c246a94)]
    );
    assert!(!info.truncated);
    assert_eq!(info.driver_sync_not_needed, Some(true));
    assert!(info.new_cookie.is_some() && info.out_of_scope.is_empty() && info.changed_updates.is_empty());

    let page = read_sync_updates(&answer(fixture!(
        "wusp/native-flow-000001.sync-updates.response.xml"
    )))
    .unwrap();
    assert_eq!(page.new_updates.len(), 6);
    assert!(page
        .new_updates
        .iter()
        .all(|u| u.core().unwrap().update_type == "Detectoid"));
    assert_eq!(page.driver_sync_not_needed, Some(false));
    let drivers = read_sync_updates(&answer(fixture!("replay/scan-000009.response.xml"))).unwrap();
    assert!(drivers.new_updates.is_empty());
}

#[test]
fn a_real_bundle_core_names_its_members_through_groups() {
    let core = super::core::read_core(fixture!(
        "fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.core.xml"
    ))
    .unwrap();
    assert_eq!(core.update_type, "Software");
    assert!(core.bundled.len() > 1, "{:?}", core.bundled);
    assert!(core.bundled.iter().all(|(_, revision)| *revision == 200));
}

#[test]
fn real_extended_info_file_locations_and_faults_are_read() {
    let info = answers::read_extended_info(&answer(fixture!("replay/flow-000015.response.xml"))).unwrap();
    assert_eq!((info.updates.len(), info.file_locations.len()), (36, 9));
    assert!(info
        .file_locations
        .iter()
        .all(|l| l.digest.len() == 20 && l.url.contains("/Content/")));
    let found =
        answers::read_file_locations(&answer(fixture!("wusp/cbs-get-file-locations.response.xml"))).unwrap();
    assert_eq!(found.locations.len(), 1);
    assert!(found.locations[0]
        .url
        .ends_with("/Content/A2/86542C97261C46D5B379A43EC895F97EAF409BA2.cab"));
    let Reply::Fault(fault) =
        read_reply(fixture!("wusp/wsus-m0-000141.fault-invalid-parameters.xml")).unwrap()
    else {
        panic!("a fault")
    };
    assert_eq!(fault.fault_code, "s:Client");
    assert_eq!(fault.error_code.as_deref(), Some("InvalidParameters"));
    assert_eq!(
        fault.message.as_deref(),
        Some("parameters.InstalledNonLeafUpdateIDs")
    );
}

#[test]
fn answers_out_of_wsdl_order_or_not_soap_are_refused() {
    let swapped = fixture!("replay/scan-000007.response.xml").replace(
        "<IsAssigned>true</IsAssigned><LastChangeTime>2026-10-04</LastChangeTime>",
        "<LastChangeTime>2026-10-04</LastChangeTime><IsAssigned>true</IsAssigned>",
    );
    assert!(read_sync_updates(&answer(&swapped)).is_err());
    let unknown = fixture!("replay/scan-000007.response.xml").replace("<Action>Evaluate", "<Action>Detect");
    assert!(read_sync_updates(&answer(&unknown)).is_err());
    let soap12 = fixture!("replay/scan-000001.response.xml").replace(
        "http://schemas.xmlsoap.org/soap/envelope/",
        "http://www.w3.org/2003/05/soap-envelope",
    );
    assert!(read_reply(&soap12).is_err());
}

#[test]
fn handshake_requests_are_the_captured_bytes() {
    let captured = fixture!("replay/scan-000001.request.xml");
    assert_eq!(request::get_config("2.90").body, captured);

    let captured = fixture!("replay/scan-000002.request.xml");
    let client_id = text_at(captured, &["Body", "GetAuthorizationCookie", "clientId"]);
    assert_eq!(
        request::get_authorization_cookie(&client_id, None, "REDACTED3").body,
        captured
    );

    let captured = fixture!("replay/scan-000003.request.xml");
    let auth = AuthorizationCookie {
        plug_in_id: "SimpleTargeting".into(),
        cookie_data: text_at(
            captured,
            &[
                "Body",
                "GetCookie",
                "authCookies",
                "AuthorizationCookie",
                "CookieData",
            ],
        ),
    };
    let old = Cookie {
        expiration: "2026-10-04T15:03:36Z".into(),
        encrypted_data: None,
    };
    let built = request::get_cookie(
        &auth,
        Some(&old),
        "2026-10-04T13:17:07.59Z",
        "2026-10-04T15:03:36Z",
        "2.90",
    );
    assert_eq!(built.body, captured);
    assert_eq!(
        built.action,
        "\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetCookie\""
    );

    let captured = fixture!("replay/scan-000004.request.xml");
    let cookie = Cookie {
        expiration: "2026-10-04T16:03:35.9967236Z".into(),
        encrypted_data: Some(text_at(
            captured,
            &["Body", "RegisterComputer", "cookie", "EncryptedData"],
        )),
    };
    assert_eq!(
        request::register_computer(&cookie, &Machine::windows11("REDACTED3")).body,
        captured
    );

    let category = Uuid::from_u128(0xdd78b8a1_0b20_45c1_add6_4da72e9364cf);
    assert_eq!(
        request::start_category_scan(&[(0, category)]).body,
        fixture!("replay/scan-000005.request.xml")
    );
}

#[test]
fn scan_requests_have_the_captured_skeleton() {
    let cookie = Cookie {
        expiration: "2026-10-04T16:03:35.9967236Z".into(),
        encrypted_data: Some("AAAA".into()),
    };
    let params = SyncParams {
        installed_non_leaf: Some(vec![108226]),
        filter_categories: vec![Uuid::from_u128(0xdd78b8a1_0b20_45c1_add6_4da72e9364cf)],
        need_two_group_out_of_scope: true,
        ..SyncParams::default()
    };
    let built = request::sync_updates(Some(&cookie), &params);
    assert_eq!(
        masked(&tree(&built.body)),
        masked(&tree(fixture!("replay/scan-000007.request.xml")))
    );
    let first = SyncParams {
        installed_non_leaf: None,
        ..params
    };
    let built = request::sync_updates(Some(&cookie), &first);
    assert_eq!(
        masked(&tree(&built.body)),
        masked(&tree(fixture!("replay/scan-000006.request.xml")))
    );

    let ids: Vec<i32> = (0..18).collect();
    let built = request::get_extended_update_info(
        Some(&cookie),
        &ids,
        &["Extended", "LocalizedProperties"],
        &["en-US", "en"],
    );
    assert_eq!(
        masked(&tree(&built.body)),
        masked(&tree(fixture!("replay/flow-000015.request.xml")))
    );

    let mut event = report::Event::new(
        "e1da06a3-5601-43c9-bac3-52d5db701494",
        "2026-10-04T15:20:47.397Z",
        147,
    );
    event.misc_data = vec!["B=3".into()];
    let built = report::report_event_batch(&cookie, "2026-10-04T15:20:47.397Z", &[event]);
    assert_eq!(
        paths(&tree(&built.body)),
        paths(&tree(fixture!("replay/flow-000016.request.xml")))
    );
}

/// The specification's own RefreshCache and GetFileLocations requests (a Windows XP client's,
/// SOAP-encoded arrays) hold the same elements as ours.
#[test]
fn cache_requests_have_the_specified_elements() {
    let elements = |xml: &str| -> Vec<String> {
        paths(&tree(xml))
            .into_iter()
            .filter(|p| !p.contains('@'))
            .collect()
    };
    let cookie = Cookie {
        expiration: "2006-05-23T03:18:56Z".into(),
        encrypted_data: Some("AAAA".into()),
    };
    let built = request::refresh_cache(Some(&cookie), &[(Uuid::nil(), 50)]);
    let spec = fixture!("wusp/spec-09.refresh-cache.request.xml");
    let spec = &spec[spec.find("<soap:Envelope").expect("envelope")..];
    assert_eq!(elements(&built.body), elements(spec));
    let built = request::get_file_locations(Some(&cookie), &[vec![0; 20]]);
    let spec = fixture!("wusp/spec-10.get-file-locations.request.xml");
    let spec = &spec[spec.find("<soap:Envelope").expect("envelope")..];
    assert_eq!(elements(&built.body), elements(spec));
}
