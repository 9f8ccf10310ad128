//! Writes synthetic `<upd:Update>` documents as plain strings.
//!
//! Shapes follow the real documents in `tests/fixtures/upstream/`: categories like 56309036 /
//! 6964aab4 / dd78b8a1, bundles like a2fef9b0, member leaves like 266f6222, detectoids like the
//! real detectoid fragments. Element order, attribute order and namespace declarations match.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Datelike, Timelike, Utc};
use uuid::Uuid;

use super::SynthFile;
use crate::xml::{escape_attr_into, escape_text_into};

const UPD: &str = "http://schemas.microsoft.com/msus/2002/12/Update";
const PUB: &str = "http://schemas.microsoft.com/msus/2002/12/Publishing";
const BAR: &str = "http://schemas.microsoft.com/msus/2002/12/BaseApplicabilityRules";
const LAR: &str = "http://schemas.microsoft.com/msus/2002/12/LogicalApplicabilityRules";
const CMD: &str = "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation";
const CAT: &str = "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/Category";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A company, product family, product or classification category.
pub(super) struct CategorySpec<'a> {
    pub id: Uuid,
    pub revision: u32,
    pub title: &'a str,
    /// `Company`, `ProductFamily`, `Product` or `UpdateClassification`.
    pub category_type: &'a str,
    /// The category this one sits under (`AtLeastOne IsCategory="true"`).
    pub parent: Option<Uuid>,
    pub created: DateTime<Utc>,
    pub publisher: &'a str,
    pub display_order: u32,
}

/// Where a software document sits in a bundle hierarchy.
#[derive(Clone, Copy)]
pub(super) enum Role<'a> {
    /// A leaf offered on its own: files plus `IsCategory` clauses.
    Standalone,
    /// A leaf inside a bundle: files, and its product only in a plain `AtLeastOne`.
    Member,
    /// A bundle of these members (revision 200 each), no files.
    Bundle(&'a [Uuid]),
}

/// A software update or bundle.
pub(super) struct SoftwareSpec<'a> {
    pub id: Uuid,
    pub revision: u32,
    pub title: &'a str,
    pub created: DateTime<Utc>,
    pub expired: bool,
    pub role: Role<'a>,
    pub product: Uuid,
    pub classification: Uuid,
    pub detectoids: &'a [Uuid],
    pub superseded: &'a [Uuid],
    pub msrc: Option<&'a str>,
    pub kb: Option<&'a str>,
    pub bulletin: Option<&'a str>,
    pub files: &'a [SynthFile],
    pub publisher: &'a str,
}

/// A category document, shaped like the real Microsoft / Windows / OOBE ZDP categories.
pub(super) fn category(spec: &CategorySpec<'_>) -> String {
    let mut out = String::with_capacity(1200);
    open_update(&mut out, &[("pub", PUB), ("lar", LAR), ("cat", CAT)]);
    identity(&mut out, spec.id, spec.revision);
    out.push_str(r#"<upd:Properties DefaultPropertiesLanguage="en" IsPublic="true" UpdateType="Category""#);
    attr(&mut out, "Handler", CAT);
    published(&mut out, false, spec.created, spec.publisher);
    out.push_str("></upd:Properties>");
    localized(&mut out, spec.title, Some(spec.title));
    if let Some(parent) = spec.parent {
        out.push_str("<upd:Relationships><upd:Prerequisites>");
        clause(&mut out, &[parent], true);
        out.push_str("</upd:Prerequisites></upd:Relationships>");
    }
    out.push_str(
        "<upd:ApplicabilityRules><upd:IsInstalled><lar:True /></upd:IsInstalled></upd:ApplicabilityRules>",
    );
    out.push_str(r#"<upd:HandlerSpecificData xsi:type="cat:Category""#);
    attr(&mut out, "xmlns:xsi", XSI);
    out.push_str("><cat:CategoryInformation");
    attr(&mut out, "CategoryType", spec.category_type);
    out.push_str(&category_flags(spec.category_type, spec.display_order));
    out.push_str(" /></upd:HandlerSpecificData></upd:Update>");
    out
}

/// The `CategoryInformation` attributes after `CategoryType`, as real categories carry them.
fn category_flags(category_type: &str, order: u32) -> String {
    match category_type {
        "Product" => r#" ProhibitsSubcategories="true""#.to_owned(),
        "UpdateClassification" => {
            format!(r#" ProhibitsSubcategories="true" ProhibitsUpdates="false" DisplayOrder="{order}""#)
        }
        _ => format!(r#" ProhibitsSubcategories="false" ProhibitsUpdates="true" DisplayOrder="{order}""#),
    }
}

/// A detectoid that requires its product and tests one registry key.
pub(super) fn detectoid(
    id: Uuid,
    revision: u32,
    title: &str,
    product: Uuid,
    created: DateTime<Utc>,
    serial: usize,
) -> String {
    let mut out = String::with_capacity(900);
    open_update(&mut out, &[("bar", BAR)]);
    identity(&mut out, id, revision);
    out.push_str(r#"<upd:Properties UpdateType="Detectoid" DefaultPropertiesLanguage="en""#);
    published(&mut out, false, created, super::generator::CATEGORY_PUBLISHER);
    out.push_str("></upd:Properties>");
    localized(&mut out, title, None);
    out.push_str("<upd:Relationships><upd:Prerequisites>");
    plain_identity(&mut out, product);
    out.push_str("</upd:Prerequisites></upd:Relationships>");
    out.push_str(&format!(
        r#"<upd:ApplicabilityRules><upd:IsInstalled><bar:RegKeyExists Key="HKEY_LOCAL_MACHINE" Subkey="SOFTWARE\Wucache\Synth\Detectoid{serial}" /></upd:IsInstalled></upd:ApplicabilityRules>"#
    ));
    out.push_str("</upd:Update>");
    out
}

/// A software leaf or bundle.
pub(super) fn software(spec: &SoftwareSpec<'_>) -> String {
    let mut out = String::with_capacity(1800 + 300 * spec.files.len());
    match spec.role {
        Role::Bundle(_) => open_update(&mut out, &[("pub", PUB)]),
        Role::Standalone | Role::Member => open_update(
            &mut out,
            &[("pub", PUB), ("bar", BAR), ("lar", LAR), ("cmd", CMD)],
        ),
    }
    identity(&mut out, spec.id, spec.revision);
    properties(&mut out, spec);
    let description = match spec.role {
        Role::Member => None,
        Role::Standalone | Role::Bundle(_) => Some(
            "Install this update to resolve issues in the product. See the associated Microsoft \
             Knowledge Base article.",
        ),
    };
    localized(&mut out, spec.title, description);
    relationships(&mut out, spec);
    if !matches!(spec.role, Role::Bundle(_)) {
        leaf_tail(&mut out, spec);
    }
    out.push_str("</upd:Update>");
    out
}

fn properties(out: &mut String, spec: &SoftwareSpec<'_>) {
    out.push_str(r#"<upd:Properties UpdateType="Software" DefaultPropertiesLanguage="en""#);
    let size: u64 = spec.files.iter().map(|f| f.size).sum();
    match spec.role {
        Role::Bundle(_) => {}
        Role::Standalone | Role::Member => attr(out, "Handler", CMD),
    }
    if !matches!(spec.role, Role::Member) {
        out.push_str(r#" AutoSelectOnWebSites="true" ExplicitlyDeployable="true""#);
    }
    attr(out, "MaxDownloadSize", &size.to_string());
    out.push_str(r#" MinDownloadSize="0""#);
    if let Some(msrc) = spec.msrc {
        attr(out, "MsrcSeverity", msrc);
    }
    published(out, spec.expired, spec.created, spec.publisher);
    out.push('>');
    if !matches!(spec.role, Role::Bundle(_)) {
        out.push_str(r#"<upd:InstallationBehavior Impact="Minor" />"#);
    }
    if let Some(kb) = spec.kb {
        element(
            out,
            "upd:SupportUrl",
            &format!("https://support.microsoft.com/help/{kb}"),
        );
    }
    if let Some(bulletin) = spec.bulletin {
        element(out, "upd:SecurityBulletinID", bulletin);
    }
    if let Some(kb) = spec.kb {
        element(out, "upd:KBArticleID", kb);
    }
    out.push_str("</upd:Properties>");
}

/// Supersedence, then prerequisites (detectoids, classification, product), then bundle members:
/// the order of a2fef9b0.
fn relationships(out: &mut String, spec: &SoftwareSpec<'_>) {
    out.push_str("<upd:Relationships>");
    if !spec.superseded.is_empty() {
        out.push_str("<upd:SupersededUpdates>");
        for id in spec.superseded {
            plain_identity(out, *id);
        }
        out.push_str("</upd:SupersededUpdates>");
    }
    out.push_str("<upd:Prerequisites>");
    for id in spec.detectoids {
        plain_identity(out, *id);
    }
    match spec.role {
        Role::Member => clause(out, &[spec.product], false),
        Role::Standalone | Role::Bundle(_) => {
            clause(out, &[spec.classification], true);
            clause(out, &[spec.product], true);
        }
    }
    out.push_str("</upd:Prerequisites>");
    if let Role::Bundle(members) = spec.role {
        out.push_str("<upd:BundledUpdates><upd:AtLeastOne>");
        for id in members {
            out.push_str(&format!(
                r#"<upd:UpdateIdentity UpdateID="{id}" RevisionNumber="200" />"#
            ));
        }
        out.push_str("</upd:AtLeastOne></upd:BundledUpdates>");
    }
    out.push_str("</upd:Relationships>");
}

/// Applicability rules, files and the command-line handler data of a leaf.
fn leaf_tail(out: &mut String, spec: &SoftwareSpec<'_>) {
    let marker = spec
        .kb
        .map_or_else(|| spec.id.simple().to_string(), |kb| format!("KB{kb}"));
    out.push_str(&format!(
        r#"<upd:ApplicabilityRules><upd:IsInstalled><bar:RegDword Key="HKEY_LOCAL_MACHINE" Subkey="SOFTWARE\Wucache\Synth\{marker}" Value="Installed" Comparison="EqualTo" Data="1" /></upd:IsInstalled><upd:IsInstallable><lar:True /></upd:IsInstallable></upd:ApplicabilityRules>"#
    ));
    out.push_str("<upd:Files>");
    let modified = iso_seconds(spec.created - chrono::Duration::hours(6));
    for file in spec.files {
        out.push_str("<upd:File");
        attr(out, "Digest", &BASE64.encode(file.sha1));
        out.push_str(r#" DigestAlgorithm="SHA1""#);
        attr(out, "FileName", &file.name);
        attr(out, "Size", &file.size.to_string());
        attr(out, "Modified", &modified);
        out.push_str(r#"><upd:AdditionalDigest Algorithm="SHA256">"#);
        out.push_str(&BASE64.encode(file.sha256));
        out.push_str("</upd:AdditionalDigest></upd:File>");
    }
    out.push_str("</upd:Files>");
    let program = spec.files.first().map_or("setup.exe", |f| f.name.as_str());
    out.push_str(r#"<upd:HandlerSpecificData xsi:type="cmd:CommandLineInstallation""#);
    attr(out, "xmlns:xsi", XSI);
    out.push_str("><cmd:InstallCommand");
    attr(out, "Program", program);
    out.push_str(r#" Arguments="/quiet /norestart"><cmd:ReturnCode Code="0" Result="Succeeded" /><cmd:ReturnCode Code="3010" Result="Succeeded" Reboot="true" /></cmd:InstallCommand></upd:HandlerSpecificData>"#);
}

/// `<upd:Update xmlns:…>` with the given prefixes, `upd` last as in the real documents.
fn open_update(out: &mut String, namespaces: &[(&str, &str)]) {
    out.push_str("<upd:Update");
    for (prefix, uri) in namespaces {
        attr(out, &format!("xmlns:{prefix}"), uri);
    }
    attr(out, "xmlns:upd", UPD);
    out.push('>');
}

fn identity(out: &mut String, id: Uuid, revision: u32) {
    out.push_str(&format!(
        r#"<upd:UpdateIdentity UpdateID="{id}" RevisionNumber="{revision}" />"#
    ));
}

/// `PublicationState`, `CreationDate` and `PublisherID`, which end every `Properties` tag.
fn published(out: &mut String, expired: bool, created: DateTime<Utc>, publisher: &str) {
    let state = if expired { "Expired" } else { "Published" };
    attr(out, "PublicationState", state);
    attr(out, "CreationDate", &iso_millis(created));
    attr(out, "PublisherID", publisher);
}

fn localized(out: &mut String, title: &str, description: Option<&str>) {
    out.push_str(
        "<upd:LocalizedPropertiesCollection><upd:LocalizedProperties><upd:Language>en</upd:Language>",
    );
    element(out, "upd:Title", title);
    if let Some(description) = description {
        element(out, "upd:Description", description);
    }
    out.push_str("</upd:LocalizedProperties></upd:LocalizedPropertiesCollection>");
}

/// An `AtLeastOne` prerequisite clause, optionally `IsCategory="true"`.
fn clause(out: &mut String, ids: &[Uuid], is_category: bool) {
    out.push_str(if is_category {
        r#"<upd:AtLeastOne IsCategory="true">"#
    } else {
        "<upd:AtLeastOne>"
    });
    for id in ids {
        plain_identity(out, *id);
    }
    out.push_str("</upd:AtLeastOne>");
}

fn plain_identity(out: &mut String, id: Uuid) {
    out.push_str(&format!(r#"<upd:UpdateIdentity UpdateID="{id}" />"#));
}

fn element(out: &mut String, tag: &str, text: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    escape_text_into(out, text);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape_attr_into(out, value);
    out.push('"');
}

/// `2026-10-04T12:00:58.287Z`, as `CreationDate` is written. (chrono's `format` parses its
/// pattern on every call, which showed in profiles of 100,000-update catalogs.)
pub(super) fn iso_millis(t: DateTime<Utc>) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        iso_date(t),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis()
    )
}

/// `2026-10-04T09:39:26Z`, as `File/@Modified` is written.
fn iso_seconds(t: DateTime<Utc>) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        iso_date(t),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn iso_date(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}
