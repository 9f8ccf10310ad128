//! The derivation rules against real WSUS output, and hostile documents.

use super::super::tree::MAX_DEPTH;
use super::*;

// The nine real documents (tests/fixtures/upstream/PROVENANCE.md) ...
const DOC_56309036: &str =
    include_str!("../../../../tests/fixtures/upstream/56309036-4c77-4dd9-951a-99ee9c246a94-r101.xml");
const DOC_6964AAB4: &str =
    include_str!("../../../../tests/fixtures/upstream/6964aab4-c5b5-43bd-a17d-ffb4346a8e1d-r100.xml");
const DOC_DD78B8A1: &str =
    include_str!("../../../../tests/fixtures/upstream/dd78b8a1-0b20-45c1-add6-4da72e9364cf-r202.xml");
const DOC_1F9BD9BB: &str =
    include_str!("../../../../tests/fixtures/upstream/1f9bd9bb-7390-4aa3-bbdb-ded99fac2583-r200.xml");
const DOC_266F6222: &str =
    include_str!("../../../../tests/fixtures/upstream/266f6222-c89d-43f2-9f8a-69340271e677-r200.xml");
const DOC_7366A74A: &str =
    include_str!("../../../../tests/fixtures/upstream/7366a74a-ef29-44e1-b738-570b516aca1f-r200.xml");
const DOC_A2FEF9B0: &str =
    include_str!("../../../../tests/fixtures/upstream/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.xml");
const DOC_CCB78947: &str =
    include_str!("../../../../tests/fixtures/upstream/ccb78947-6453-4ecc-9de8-bc0305c98f2d-r200.xml");
const DOC_FF36F0B5: &str =
    include_str!("../../../../tests/fixtures/upstream/ff36f0b5-dded-4780-8664-cd78af8b62c1-r200.xml");
const ALL_DOCS: [&str; 9] = [
    DOC_56309036,
    DOC_6964AAB4,
    DOC_DD78B8A1,
    DOC_1F9BD9BB,
    DOC_266F6222,
    DOC_7366A74A,
    DOC_A2FEF9B0,
    DOC_CCB78947,
    DOC_FF36F0B5,
];

// ... and what the same real WSUS served for them (tests/fixtures/fragments/PROVENANCE.md).
const SYNC_56309036: &str =
    include_str!("../../../../tests/fixtures/fragments/native-scan-000006.response.xml");
const SYNC_6964AAB4: &str =
    include_str!("../../../../tests/fixtures/fragments/native-scan-000007.response.xml");
const SYNC_DD78B8A1: &str =
    include_str!("../../../../tests/fixtures/fragments/native-scan-000008.response.xml");
const EXTENDED_CATEGORIES: &str =
    include_str!("../../../../tests/fixtures/fragments/native-scan-000010.response.xml");
const EXTENDED_DEFENDER: &str =
    include_str!("../../../../tests/fixtures/fragments/native-flow-000015.response.xml");
const REF_CORE_1F9BD9BB: &str =
    include_str!("../../../../tests/fixtures/fragments/1f9bd9bb-7390-4aa3-bbdb-ded99fac2583-r200.core.xml");
const REF_CORE_266F6222: &str =
    include_str!("../../../../tests/fixtures/fragments/266f6222-c89d-43f2-9f8a-69340271e677-r200.core.xml");
const REF_CORE_A2FEF9B0: &str =
    include_str!("../../../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.core.xml");
const REF_CORE_DD78B8A1: &str =
    include_str!("../../../../tests/fixtures/fragments/dd78b8a1-0b20-45c1-add6-4da72e9364cf-r202.core.xml");
const REF_EXTENDED_266F6222: &str = include_str!(
    "../../../../tests/fixtures/fragments/266f6222-c89d-43f2-9f8a-69340271e677-r200.extended.xml"
);
const REF_EXTENDED_A2FEF9B0: &str = include_str!(
    "../../../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.extended.xml"
);
const REF_EXTENDED_FF36F0B5: &str = include_str!(
    "../../../../tests/fixtures/fragments/ff36f0b5-dded-4780-8664-cd78af8b62c1-r200.extended.xml"
);
const REF_LOCALIZED_A2FEF9B0: &str = include_str!(
    "../../../../tests/fixtures/fragments/a2fef9b0-7951-4c2c-a42b-9e351dd1c1fe-r200.localized-en.xml"
);
const CBS_DOTNET_EXTENDED: &str =
    include_str!("../../../../tests/fixtures/fragments/cbs-dotnet-extended.xml");
const OSINSTALLER_CORE: &str = include_str!("../../../../tests/fixtures/fragments/osinstaller-core.xml");
const OSINSTALLER_EXTENDED: &str =
    include_str!("../../../../tests/fixtures/fragments/osinstaller-extended.xml");

/// The locales the real WUA sent in GetExtendedUpdateInfo (native-flow 000015 request).
const CLIENT_LOCALES: [&str; 2] = ["en-US", "en"];

const UPD: &str = "http://schemas.microsoft.com/msus/2002/12/Update";
const BAR: &str = "http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules";
const MAR: &str = "http://schemas.microsoft.com/msus/2002/12/MsiApplicabilityRules";
const DRV: &str = "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsDriver";
const LAR: &str = "http://schemas.microsoft.com/msus/2002/12/LogicalApplicabilityRules";
const CMD: &str = "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Every `<Xml>` a response carries after `marker`, unescaped once (SOAP text → fragment).
fn served_after(body: &str, marker: &str) -> Vec<String> {
    body.match_indices(marker)
        .map(|(at, _)| {
            let rest = &body[at + marker.len()..];
            let rest = &rest[rest.find("<Xml>").expect("an Xml element") + "<Xml>".len()..];
            let escaped = &rest[..rest.find("</Xml>").expect("an Xml end tag")];
            quick_xml::escape::unescape(escaped)
                .expect("escaped text")
                .into_owned()
        })
        .collect()
}

/// The one Core fragment of a SyncUpdates response with a single `UpdateInfo`.
fn served_core(body: &str) -> String {
    let mut all = served_after(body, "<UpdateInfo>");
    assert_eq!(all.len(), 1, "one UpdateInfo");
    all.remove(0)
}

/// The GetExtendedUpdateInfo fragment of `revision_id` whose text starts with `root`.
fn served_extended(body: &str, revision_id: u32, root: &str) -> String {
    let mut matching: Vec<String> = served_after(body, &format!("<Update><ID>{revision_id}</ID>"))
        .into_iter()
        .filter(|xml| xml.starts_with(root))
        .collect();
    assert_eq!(matching.len(), 1, "one {root} for revision {revision_id}");
    matching.remove(0)
}

fn doc(body: &str) -> String {
    format!("<upd:Update xmlns:upd=\"{UPD}\"><upd:UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" />{body}</upd:Update>")
}

fn en(update_xml: &str) -> Option<String> {
    localized(update_xml, &CLIENT_LOCALES).unwrap()
}

// ---- Real WSUS output, byte for byte -----------------------------------------------

/// SyncUpdates answers of the real scan (native-scan 000006..8, [hash]).
#[test]
fn core_equals_what_wsus_served_in_sync_updates() {
    assert_eq!(core(DOC_56309036).unwrap(), served_core(SYNC_56309036));
    assert_eq!(core(DOC_6964AAB4).unwrap(), served_core(SYNC_6964AAB4));
    assert_eq!(core(DOC_DD78B8A1).unwrap(), served_core(SYNC_DD78B8A1));
}

/// The wusp-reference Core files ([len], transcribed by the source; dd78b8a1's equals the
/// [hash] SyncUpdates answer above).
#[test]
fn core_equals_the_wusp_reference() {
    assert_eq!(core(DOC_DD78B8A1).unwrap(), REF_CORE_DD78B8A1);
    assert_eq!(core(DOC_1F9BD9BB).unwrap(), REF_CORE_1F9BD9BB);
    assert_eq!(core(DOC_266F6222).unwrap(), REF_CORE_266F6222);
    assert_eq!(core(DOC_A2FEF9B0).unwrap(), REF_CORE_A2FEF9B0);
}

/// GetExtendedUpdateInfo for the three categories (native-scan 000010, [hash]): revision
/// 108226 is 56309036, 108231 is 6964aab4, 72571 is dd78b8a1 (their SyncUpdates IDs).
#[test]
fn extended_and_localized_equal_what_wsus_served_for_categories() {
    for (doc, revision) in [
        (DOC_56309036, 108226),
        (DOC_6964AAB4, 108231),
        (DOC_DD78B8A1, 72571),
    ] {
        let served = served_extended(EXTENDED_CATEGORIES, revision, "<ExtendedProperties");
        assert_eq!(extended(doc).unwrap(), served, "revision {revision}");
        let served = served_extended(EXTENDED_CATEGORIES, revision, "<LocalizedProperties");
        assert_eq!(en(doc).unwrap(), served, "revision {revision}");
    }
}

/// GetExtendedUpdateInfo of the real WUA for the Defender revisions (native-flow 000015,
/// [hash]). Revision → document by the file digest in Extended and the title in
/// LocalizedProperties: 197762 266f6222, 192576 7366a74a, 200373 ff36f0b5, 200996 a2fef9b0,
/// 200712 ccb78947 ("…MpSigStub…"), 200724 1f9bd9bb ("…Engine…").
const DEFENDER_REVISIONS: [(&str, u32); 6] = [
    (DOC_266F6222, 197762),
    (DOC_7366A74A, 192576),
    (DOC_FF36F0B5, 200373),
    (DOC_A2FEF9B0, 200996),
    (DOC_CCB78947, 200712),
    (DOC_1F9BD9BB, 200724),
];

#[test]
fn extended_equals_what_wsus_served_in_get_extended_update_info() {
    for (doc, revision) in DEFENDER_REVISIONS {
        let served = served_extended(EXTENDED_DEFENDER, revision, "<ExtendedProperties");
        assert_eq!(extended(doc).unwrap(), served, "revision {revision}");
    }
}

/// Exact except a2fef9b0's `SupportUrl`: the capture's sanitizer replaced the `LinkId`
/// query value of every localized `SupportUrl` by `REDACTED` (source README: "`LinkId=REDACTED`
/// in the localized `SupportUrl`"; flow sanitize-manifest: `url_query_value: 6`, the six
/// KB2267602 revisions). The document, decoded from the real CAB, has `LinkId=52661`; so
/// only that value is put back before comparing, and the rest must be equal.
#[test]
fn localized_equals_what_wsus_served_in_get_extended_update_info() {
    for (doc, revision) in DEFENDER_REVISIONS {
        let served = served_extended(EXTENDED_DEFENDER, revision, "<LocalizedProperties");
        let served = served.replace("?LinkId=REDACTED<", "?LinkId=52661<");
        assert_eq!(en(doc).unwrap(), served, "revision {revision}");
    }
    let ours = en(DOC_A2FEF9B0).unwrap();
    assert_eq!(ours.matches("LinkId=52661").count(), 1, "the one redacted value");
}

/// The wusp-reference files ([len]) agree with the [hash] capture above, with the same
/// `LinkId=REDACTED` in the localized one.
#[test]
fn extended_and_localized_equal_the_wusp_reference() {
    assert_eq!(extended(DOC_266F6222).unwrap(), REF_EXTENDED_266F6222);
    assert_eq!(extended(DOC_A2FEF9B0).unwrap(), REF_EXTENDED_A2FEF9B0);
    assert_eq!(extended(DOC_FF36F0B5).unwrap(), REF_EXTENDED_FF36F0B5);
    let reference = REF_LOCALIZED_A2FEF9B0.replace("?LinkId=REDACTED<", "?LinkId=52661<");
    assert_eq!(en(DOC_A2FEF9B0).unwrap(), reference);
}

/// Real fragments whose documents are not available (cbs-osinstaller, [len]): rebuild a
/// document around each — every element in the Update namespace, `type` as `xsi:type`,
/// plus the publishing attributes WSUS drops — and derive the fragment back. Pins source
/// attribute order (`File` in reverse order), unknown attributes kept
/// (`CompatibleProtocolVersion`, `PatchingTypePreferred`, `ProductName`), empty values,
/// `Properties` children (`Language`) and an unprefixed `xsi:type` value.
#[test]
fn extended_reproduces_real_cbs_and_os_installer_fragments() {
    for fragment in [CBS_DOTNET_EXTENDED, OSINSTALLER_EXTENDED] {
        let dropped = "UpdateType=\"Software\" ExplicitlyDeployable=\"true\" AutoSelectOnWebSites=\"true\" \
                       IsPublic=\"true\" PublicationState=\"Published\" CreationDate=\"2025-09-08T17:31:31.000Z\" \
                       PublisherID=\"395392a0-19c0-48b7-a927-f7c15066d905\" LegacyName=\"x\" PerUser=\"false\"";
        let body = fragment
            .replacen("<ExtendedProperties ", &format!("<Properties {dropped} "), 1)
            .replacen("</ExtendedProperties>", "</Properties>", 1)
            .replacen("<HandlerSpecificData type=", "<HandlerSpecificData xsi:type=", 1);
        let document = format!(
            "<Update xmlns=\"{UPD}\" xmlns:xsi=\"{XSI}\"><UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" />{body}</Update>"
        );
        assert_eq!(extended(&document).unwrap(), fragment);
    }
}

/// The same for the real OS-installer Core fragment (`ProductReleaseInstalled`,
/// `DeviceAttribute`: rules outside the b./m./d. namespaces stay unprefixed).
#[test]
fn core_reproduces_the_real_os_installer_fragment() {
    let body = OSINSTALLER_CORE.replacen(
        "<Properties UpdateType=\"Software\" />",
        "<Properties DefaultPropertiesLanguage=\"en\" UpdateType=\"Software\" ExplicitlyDeployable=\"false\" \
         PublicationState=\"Published\"><InstallationBehavior RebootBehavior=\"CanRequestReboot\" /></Properties>",
        1,
    );
    let document = format!("<Update xmlns=\"{UPD}\">{body}</Update>");
    assert_eq!(core(&document).unwrap(), OSINSTALLER_CORE);
}

/// Deriving Core from a document made of a Core fragment gives the fragment back.
#[test]
fn core_of_a_core_fragment_is_itself() {
    for doc in ALL_DOCS {
        let fragment = core(doc).unwrap();
        let document = format!("<Update xmlns=\"{UPD}\">{fragment}</Update>");
        assert_eq!(core(&document).unwrap(), fragment);
    }
}

#[test]
fn every_real_document_yields_every_fragment() {
    for doc in ALL_DOCS {
        assert!(core(doc).unwrap().starts_with("<UpdateIdentity UpdateID=\""));
        assert!(extended(doc).unwrap().starts_with("<ExtendedProperties"));
        assert!(en(doc)
            .unwrap()
            .starts_with("<LocalizedProperties><Language>en</Language>"));
        assert_eq!(
            eulas(doc).unwrap(),
            Vec::<String>::new(),
            "none of them has a EulaFile"
        );
    }
}

// ---- Rules ----------------------------------------------------------------------

#[test]
fn rule_elements_get_b_m_d_by_namespace_not_by_prefix() {
    let rules = format!(
        "<upd:ApplicabilityRules><upd:IsInstalled><l:And xmlns:l=\"{LAR}\"><bar:RegDword xmlns:bar=\"{BAR}\" Key=\"k\" />\
         <x:WindowsVersion xmlns:x=\"{BAR}\" /><MsiProductInstalled xmlns=\"{MAR}\" ProductCode=\"p\" />\
         <bar:NotBase xmlns:bar=\"urn:other\" /></l:And></upd:IsInstalled>\
         <upd:Metadata><drv:WindowsDriverMetaData xmlns:drv=\"{DRV}\" HardwareID=\"h\" /></upd:Metadata>\
         </upd:ApplicabilityRules><upd:Properties UpdateType=\"Driver\" />"
    );
    let fragment = core(&doc(&rules)).unwrap();
    assert_eq!(
        fragment,
        "<UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" /><Properties UpdateType=\"Driver\" />\
         <ApplicabilityRules><IsInstalled><And><b.RegDword Key=\"k\" /><b.WindowsVersion />\
         <m.MsiProductInstalled ProductCode=\"p\" /><NotBase /></And></IsInstalled>\
         <Metadata><d.WindowsDriverMetaData HardwareID=\"h\" /></Metadata></ApplicabilityRules>"
    );
}

/// `xsi:type` loses its prefix whatever the prefix is; the value keeps its own.
#[test]
fn xsi_type_becomes_type_with_its_value_untouched() {
    let body = format!(
        "<upd:Properties UpdateType=\"Software\" /><upd:HandlerSpecificData i:type=\"cmd:CommandLineInstallation\" \
         xmlns:i=\"{XSI}\"><cmd:InstallCommand xmlns:cmd=\"{CMD}\" Program=\"a.exe\" /></upd:HandlerSpecificData>"
    );
    assert_eq!(
        extended(&doc(&body)).unwrap(),
        "<ExtendedProperties /><HandlerSpecificData type=\"cmd:CommandLineInstallation\">\
         <InstallCommand Program=\"a.exe\" /></HandlerSpecificData>"
    );
}

/// Core keeps five attributes in WSUS's order (not the source's) and no children.
#[test]
fn core_properties_keep_five_attributes_in_wsus_order() {
    let body = "<upd:Properties EulaID=\"E\" OSUpgrade=\"Upgrade\" AutoSelectOnWebSites=\"true\" \
                DefaultPropertiesLanguage=\"en\" ExplicitlyDeployable=\"true\" UpdateType=\"Software\" \
                MsrcSeverity=\"Critical\"><upd:KBArticleID>1</upd:KBArticleID></upd:Properties>";
    assert_eq!(
        core(&doc(body)).unwrap(),
        "<UpdateIdentity UpdateID=\"x\" RevisionNumber=\"1\" /><Properties UpdateType=\"Software\" \
         ExplicitlyDeployable=\"true\" AutoSelectOnWebSites=\"true\" OSUpgrade=\"Upgrade\" EulaID=\"E\" />"
    );
}

/// `ExplicitlyDeployable="false"` is left out (dd78b8a1); `AutoSelectOnWebSites` by analogy.
#[test]
fn core_leaves_out_false_booleans() {
    let body = "<upd:Properties UpdateType=\"Software\" ExplicitlyDeployable=\"false\" AutoSelectOnWebSites=\"0\" />";
    let fragment = core(&doc(body)).unwrap();
    assert!(
        fragment.ends_with("<Properties UpdateType=\"Software\" />"),
        "{fragment}"
    );
}

/// The MS-WUSP list and `PerUser="false"` go; everything else stays in source order,
/// default-looking values such as `MinDownloadSize="0"` included.
#[test]
fn extended_drops_publishing_attributes_and_default_per_user() {
    let all_dropped: String = EXTENDED_DROPPED
        .iter()
        .map(|name| format!(" {name}=\"v\""))
        .collect();
    let body = format!(
        "<upd:Properties DefaultPropertiesLanguage=\"en\"{all_dropped} PerUser=\"false\" MinDownloadSize=\"0\" \
         MsrcSeverity=\"Critical\" IsBeta=\"false\"><upd:InstallationBehavior Impact=\"Minor\" /></upd:Properties>"
    );
    assert_eq!(
        extended(&doc(&body)).unwrap(),
        "<ExtendedProperties DefaultPropertiesLanguage=\"en\" MinDownloadSize=\"0\" MsrcSeverity=\"Critical\" \
         IsBeta=\"false\"><InstallationBehavior Impact=\"Minor\" /></ExtendedProperties>"
    );
    let per_user = doc("<upd:Properties PerUser=\"true\" />");
    assert_eq!(
        extended(&per_user).unwrap(),
        "<ExtendedProperties PerUser=\"true\" />"
    );
}

/// Only `Properties` loses default values: `ProhibitsSubcategories="false"` (real, 56309036)
/// and `IsCategory="false"` stay.
#[test]
fn false_values_elsewhere_are_kept() {
    assert!(extended(DOC_56309036)
        .unwrap()
        .contains("ProhibitsSubcategories=\"false\""));
    let body = "<upd:Properties UpdateType=\"Software\" /><upd:Relationships><upd:Prerequisites>\
                <upd:AtLeastOne IsCategory=\"false\"><upd:UpdateIdentity UpdateID=\"y\" /></upd:AtLeastOne>\
                </upd:Prerequisites></upd:Relationships>";
    assert!(core(&doc(body))
        .unwrap()
        .contains("<AtLeastOne IsCategory=\"false\">"));
}

/// 6964aab4 has an upper-case own id and a lower-case prerequisite; WSUS served both so.
#[test]
fn guid_case_is_kept_as_the_document_writes_it() {
    let fragment = core(DOC_6964AAB4).unwrap();
    assert!(fragment.starts_with("<UpdateIdentity UpdateID=\"6964AAB4-C5B5-43BD-A17D-FFB4346A8E1D\""));
    assert!(fragment.contains("<UpdateIdentity UpdateID=\"56309036-4c77-4dd9-951a-99ee9c246a94\" />"));
}

/// `<X></X>` in the source is written `<X />` (real: 1f9bd9bb's empty `Properties`).
#[test]
fn empty_elements_are_self_closing_with_a_space() {
    assert_eq!(
        extended(DOC_1F9BD9BB).unwrap(),
        "<ExtendedProperties DefaultPropertiesLanguage=\"en\" />"
    );
    let body = "<upd:Properties UpdateType=\"Software\">\n  <upd:InstallationBehavior>\n  </upd:InstallationBehavior>\n</upd:Properties>";
    assert_eq!(
        extended(&doc(body)).unwrap(),
        "<ExtendedProperties><InstallationBehavior /></ExtendedProperties>"
    );
}

#[test]
fn text_and_values_are_re_escaped() {
    let body = "<upd:Properties UpdateType=\"Software\" /><upd:LocalizedPropertiesCollection><upd:LocalizedProperties>\
                <upd:Language>en</upd:Language><upd:Title>a &amp; b &lt; c &gt; d \"q\" &apos;s&apos; &#x41;</upd:Title>\
                <upd:Description><![CDATA[<b>raw</b>]]></upd:Description>\
                <upd:MoreInfoUrl Note='x&quot;y&apos;z&lt;&amp;&#xA;tab\tline\nend'>u</upd:MoreInfoUrl>\
                <!-- a comment --><?pi data?></upd:LocalizedProperties></upd:LocalizedPropertiesCollection>";
    assert_eq!(
        en(&doc(body)).unwrap(),
        "<LocalizedProperties><Language>en</Language><Title>a &amp; b &lt; c &gt; d \"q\" 's' A</Title>\
         <Description><![CDATA[<b>raw</b>]]></Description>\
         <MoreInfoUrl Note=\"x&quot;y'z&lt;&amp;&#xA;tab line end\">u</MoreInfoUrl></LocalizedProperties>"
    );
}

#[test]
fn localized_picks_the_first_requested_language_the_document_has() {
    let entry = |lang: &str| {
        format!("<upd:LocalizedProperties><upd:Language>{lang}</upd:Language><upd:Title>{lang}</upd:Title></upd:LocalizedProperties>")
    };
    let langs: String = ["de", "en", "pt-br", "pt"].iter().map(|l| entry(l)).collect();
    let document = doc(&format!(
        "<upd:Properties UpdateType=\"Software\" /><upd:LocalizedPropertiesCollection>{langs}</upd:LocalizedPropertiesCollection>"
    ));
    let title = |wanted: &[&str]| {
        localized(&document, wanted)
            .unwrap()
            .map(|f| f[f.find("<Title>").unwrap() + 7..f.find("</Title>").unwrap()].to_string())
    };
    assert_eq!(title(&["de-DE", "en"]).as_deref(), Some("de"), "primary subtag");
    assert_eq!(
        title(&["pt-BR"]).as_deref(),
        Some("pt-br"),
        "exact, ignoring case, before the subtag"
    );
    assert_eq!(
        title(&["fr-FR", "pt"]).as_deref(),
        Some("pt"),
        "the first one the document has"
    );
    assert_eq!(title(&["fr"]).as_deref(), Some("en"), "falls back to en");
    assert_eq!(title(&[]).as_deref(), Some("en"));
    let without_en = doc(&format!(
        "<upd:Properties UpdateType=\"Software\" /><upd:LocalizedPropertiesCollection>{}</upd:LocalizedPropertiesCollection>",
        entry("de")
    ));
    assert_eq!(localized(&without_en, &["fr"]).unwrap(), None);
    assert_eq!(localized(&doc("<upd:Properties />"), &["en"]).unwrap(), None);
}

#[test]
fn eulas_are_every_eula_file_in_order() {
    let body = "<upd:Properties UpdateType=\"Software\" /><upd:LocalizedPropertiesCollection>\
                <upd:LocalizedProperties><upd:Language>en</upd:Language></upd:LocalizedProperties>\
                <upd:EulaFile Language=\"en\"><upd:File FileName=\"eula.txt\" /></upd:EulaFile>\
                <upd:EulaFile Language=\"de\" GeoId=\"DEU\"><upd:File FileName=\"eula-de.txt\" /></upd:EulaFile>\
                </upd:LocalizedPropertiesCollection>";
    assert_eq!(
        eulas(&doc(body)).unwrap(),
        vec![
            "<EulaFile Language=\"en\"><File FileName=\"eula.txt\" /></EulaFile>".to_string(),
            "<EulaFile Language=\"de\" GeoId=\"DEU\"><File FileName=\"eula-de.txt\" /></EulaFile>"
                .to_string(),
        ]
    );
}

#[test]
fn a_bom_and_declaration_before_the_root_are_accepted() {
    let document = format!("\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n{DOC_DD78B8A1}\r\n");
    assert_eq!(core(&document).unwrap(), REF_CORE_DD78B8A1);
}

// ---- Hostile and malformed input ------------------------------------------------

#[test]
fn doctype_is_refused() {
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]>{}",
        doc("<upd:Properties />")
    );
    assert_eq!(core(&bomb), Err(FragmentError::Doctype));
}

#[test]
fn undeclared_entities_are_refused() {
    let in_text = doc(
        "<upd:Properties UpdateType=\"Software\"><upd:KBArticleID>&a;</upd:KBArticleID></upd:Properties>",
    );
    assert_eq!(
        extended(&in_text),
        Err(FragmentError::UndeclaredEntity("a".into()))
    );
    let in_value = doc("<upd:Properties UpdateType=\"&b;\" />");
    assert_eq!(core(&in_value), Err(FragmentError::UndeclaredEntity("b".into())));
}

#[test]
fn the_root_must_be_upd_update() {
    assert_eq!(
        core("<Update />"),
        Err(FragmentError::NotAnUpdate("Update".into()))
    );
    let other = format!("<upd:Envelope xmlns:upd=\"{UPD}\" />");
    assert_eq!(
        core(&other),
        Err(FragmentError::NotAnUpdate("upd:Envelope".into()))
    );
}

#[test]
fn core_and_extended_need_identity_and_properties() {
    let bare = format!("<upd:Update xmlns:upd=\"{UPD}\" />");
    assert_eq!(core(&bare), Err(FragmentError::Missing("UpdateIdentity")));
    assert_eq!(extended(&bare), Err(FragmentError::Missing("Properties")));
    assert_eq!(core(&doc("")), Err(FragmentError::Missing("Properties")));
    assert_eq!(eulas(&bare), Ok(Vec::new()));
}

#[test]
fn depth_is_bounded() {
    let deep = "<upd:And>".repeat(MAX_DEPTH) + &"</upd:And>".repeat(MAX_DEPTH);
    assert_eq!(core(&doc(&deep)), Err(FragmentError::TooDeep));
}

#[test]
fn malformed_documents_are_errors() {
    let cases = [
        String::new(),
        "   ".to_string(),
        "not xml".to_string(),
        doc("<upd:Properties>").replace("</upd:Update>", ""),
        doc("<upd:Properties></upd:Files>"),
        doc("<upd:Properties />") + "<upd:Update />",
        doc("<upd:Properties />") + "trailing",
        doc("<upd:Properties UpdateType=\"a\" UpdateType=\"b\" />"),
        doc("<upd:Properties UpdateType=unquoted />"),
        doc("<upd:Properties>&#0;</upd:Properties>"),
        doc("<upd:Properties>a & b</upd:Properties>"),
        doc("<upd:Properties><u:X /></upd:Properties>"),
        doc("<upd:Properties u:type=\"t\" />"),
    ];
    for case in cases {
        for result in [core(&case), extended(&case), eulas(&case).map(|v| v.concat())] {
            assert!(
                matches!(
                    result,
                    Err(FragmentError::Malformed { .. } | FragmentError::NotAnUpdate(_))
                ),
                "{case:?} gave {result:?}"
            );
        }
    }
}

/// Every truncation of a real document is an error, never a panic or a fragment.
#[test]
fn truncated_documents_are_errors() {
    let cuts = (0..DOC_DD78B8A1.len()).filter(|&n| DOC_DD78B8A1.is_char_boundary(n));
    for cut in cuts {
        let text = &DOC_DD78B8A1[..cut];
        assert!(core(text).is_err(), "cut at {cut}");
        assert!(extended(text).is_err(), "cut at {cut}");
        assert!(localized(text, &CLIENT_LOCALES).is_err(), "cut at {cut}");
        assert!(eulas(text).is_err(), "cut at {cut}");
    }
}
