//! Streaming readers of the two big answers (a SyncUpdates page is hundreds of KB to MBs, a
//! GetExtendedUpdateInfo batch tens of KB): one quick-xml pass that keeps what the client needs
//! and checks the envelope and the required elements, without building a tree. The small
//! answers are read by the test kit's strict readers instead (`session`). A fault in any
//! answer is read by the test kit too, for its `ErrorCode`.

use crate::wire::Failure;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;
use std::collections::HashMap;
use uuid::Uuid;
use wucache_testkit::wua::{reply, Action, Cookie, Reply};
use wucache_testkit::xml::Element;

/// What a SyncUpdates page says, as far as the simulated client uses it.
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// `NewUpdates`.
    pub(crate) updates: Vec<Delivered>,
    /// `ChangedUpdates` (counted only: the machine keeps no per-revision deployments).
    pub(crate) changed: usize,
    /// `OutOfScopeRevisionIDs`.
    pub(crate) out_of_scope: Vec<i32>,
    pub(crate) truncated: bool,
    pub(crate) new_cookie: Option<Cookie>,
    pub(crate) driver_sync_not_needed: Option<bool>,
}

/// One `UpdateInfo` of `NewUpdates`. The Core fragment's own identity is read for every
/// update (the machine evaluates it); its bundle members only for an update offered for
/// install.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) id: i32,
    pub(crate) is_leaf: bool,
    pub(crate) action: Action,
    /// `UpdateIdentity/@UpdateID` of the Core fragment.
    pub(crate) update_id: Uuid,
    /// `BundledUpdates` of the Core fragment of an update offered for install.
    pub(crate) bundled: Vec<Uuid>,
}

/// What a GetExtendedUpdateInfo batch says.
#[derive(Debug, Default)]
pub(crate) struct Extended {
    /// Fragments (`Updates/Update`) per revision id.
    pub(crate) fragments: HashMap<i32, usize>,
    pub(crate) file_locations: usize,
    pub(crate) out_of_scope: Vec<i32>,
}

/// Reads a SyncUpdates answer.
pub(crate) fn sync_updates(xml: &str) -> Result<Page, Failure> {
    let mut page = PageReader::default();
    walk(xml, "SyncUpdatesResponse", &mut page)?;
    page.finish()
}

/// Reads a GetExtendedUpdateInfo answer.
pub(crate) fn extended_info(xml: &str) -> Result<Extended, Failure> {
    let mut reader = ExtendedReader::default();
    walk(xml, "GetExtendedUpdateInfoResponse", &mut reader)?;
    Ok(reader.read)
}

/// What the walker does with an element the visitor was shown.
enum Open {
    /// Collect its text (unescaped) for `close`.
    Text,
    /// Take its whole content as text in one piece, still escaped (an escaped document such
    /// as a Core fragment: one slice instead of an event per entity; the visitor unescapes
    /// what it reads of it).
    Raw,
    /// Skip it and everything inside, unread.
    Skip,
    /// Walk into it.
    Walk,
}

/// Sees the elements below the operation's response element; paths start with its child.
trait Visit {
    fn open(&mut self, path: &[&str]) -> Open;
    fn close(&mut self, path: &[&str], text: &str) -> Result<(), Failure>;
}

fn undecodable(what: impl std::fmt::Display) -> Failure {
    Failure::Undecodable(what.to_string())
}

fn xml_error(error: impl std::fmt::Display) -> Failure {
    undecodable(format!("XML: {error}"))
}

/// Walks a SOAP 1.1 answer: `Envelope/Body/<response>`, or a `Fault`, which becomes
/// [`Failure::Fault`] with the `ErrorCode` the test kit reads from it.
fn walk(xml: &str, response: &str, visit: &mut impl Visit) -> Result<(), Failure> {
    if !xml.contains(reply::SOAP_NS) {
        return Err(undecodable("no SOAP 1.1 namespace"));
    }
    let mut walker = Walker {
        xml,
        response,
        reader: Reader::from_str(xml),
        path: Vec::new(),
        text: String::new(),
        collecting: false,
    };
    loop {
        match walker.reader.read_event().map_err(xml_error)? {
            Event::Start(start) => walker.start(&start, visit)?,
            Event::Empty(start) => walker.empty(&start, visit)?,
            Event::End(_) => walker.end(visit)?,
            Event::Text(part) if walker.collecting => {
                walker.text.push_str(&part.xml10_content().map_err(xml_error)?)
            }
            Event::GeneralRef(reference) if walker.collecting => walker.text.push_str(&resolve(&reference)?),
            Event::Eof => break,
            _ => {}
        }
    }
    if walker.path.is_empty() {
        Ok(())
    } else {
        Err(undecodable("answer ends inside an element"))
    }
}

/// The walk's state: the path of local names from `Envelope` down (as [`name`] spells them),
/// and the text of the element being collected.
struct Walker<'a> {
    xml: &'a str,
    response: &'a str,
    reader: Reader<&'a [u8]>,
    path: Vec<&'static str>,
    text: String,
    collecting: bool,
}

impl Walker<'_> {
    /// Enters an element; elements below the response element are the visitor's.
    fn enter(&mut self, start: &BytesStart<'_>) -> Result<bool, Failure> {
        let local = start.local_name();
        let name = name(local.as_ref());
        check_frame(self.xml, &self.path, (name, local.as_ref()), self.response)?;
        self.path.push(name);
        Ok(self.path.len() > 3)
    }

    fn start(&mut self, start: &BytesStart<'_>, visit: &mut impl Visit) -> Result<(), Failure> {
        self.text.clear();
        self.collecting = false;
        if !self.enter(start)? {
            return Ok(());
        }
        match visit.open(&self.path[3..]) {
            Open::Walk => {}
            Open::Text => self.collecting = true,
            Open::Raw => {
                let raw = self.reader.read_text(start.name()).map_err(xml_error)?;
                visit.close(&self.path[3..], &raw)?;
                self.path.pop();
            }
            Open::Skip => {
                self.reader.read_to_end(start.name()).map_err(xml_error)?;
                self.path.pop();
            }
        }
        Ok(())
    }

    fn empty(&mut self, start: &BytesStart<'_>, visit: &mut impl Visit) -> Result<(), Failure> {
        if self.enter(start)? {
            visit.open(&self.path[3..]);
            visit.close(&self.path[3..], "")?;
        }
        self.path.pop();
        Ok(())
    }

    fn end(&mut self, visit: &mut impl Visit) -> Result<(), Failure> {
        if self.path.len() > 3 {
            let own = if self.collecting { self.text.as_str() } else { "" };
            visit.close(&self.path[3..], own)?;
        }
        self.collecting = false;
        self.path.pop();
        Ok(())
    }
}

/// Checks the frame around the answer: `Envelope`, `Body`, then the response element or a
/// fault (read whole by the test kit for its `ErrorCode`). `name` as [`name`] spells it and
/// as it came.
fn check_frame(
    xml: &str,
    path: &[&str],
    (name, local): (&str, &[u8]),
    response: &str,
) -> Result<(), Failure> {
    let expected = match path.len() {
        0 => "Envelope",
        1 if name == "Header" => return Ok(()),
        1 => "Body",
        2 if name == "Fault" => return Err(fault(xml)),
        2 => response,
        _ => return Ok(()),
    };
    if name == expected {
        Ok(())
    } else {
        let name = String::from_utf8_lossy(local);
        Err(undecodable(format!("{name} where {expected} belongs")))
    }
}

/// The local names the readers look at, as static strings, so that walking a page allocates
/// nothing per element; any other name is `*` (the readers match it only as a wildcard).
fn name(local: &[u8]) -> &'static str {
    const NAMES: [&str; 31] = [
        "Envelope",
        "Header",
        "Body",
        "Fault",
        "SyncUpdatesResponse",
        "SyncUpdatesResult",
        "NewUpdates",
        "ChangedUpdates",
        "UpdateInfo",
        "ID",
        "Deployment",
        "Action",
        "IsLeaf",
        "Xml",
        "HardwareIds",
        "ClientBehaviors",
        "OutOfScopeRevisionIDs",
        "DeployedOutOfScopeRevisionIds",
        "int",
        "Truncated",
        "NewCookie",
        "Expiration",
        "EncryptedData",
        "DriverSyncNotNeeded",
        "GetExtendedUpdateInfoResponse",
        "GetExtendedUpdateInfoResult",
        "Updates",
        "Update",
        "FileLocations",
        "FileLocation",
        "Url",
    ];
    NAMES
        .iter()
        .find(|known| known.as_bytes() == local)
        .copied()
        .unwrap_or("*")
}

/// The fault's `ErrorCode`, read by the test kit's strict reader, and its `Message`.
pub(crate) fn fault(xml: &str) -> Failure {
    match reply::read_reply(xml) {
        Ok(Reply::Fault(fault)) => Failure::Fault {
            code: fault.error_code.unwrap_or_default(),
            message: fault_message(xml),
        },
        Ok(Reply::Answer(_)) => undecodable("a Fault that is not one"),
        Err(e) => undecodable(format!("fault: {e}")),
    }
}

/// `Body/Fault/detail/Message`, or empty.
fn fault_message(xml: &str) -> String {
    let root = Element::parse(xml).unwrap_or_default();
    let message = root.find(&["Body", "Fault", "detail", "Message"]);
    message.map(|m| m.trimmed().to_owned()).unwrap_or_default()
}

/// `&amp;`-style and `&#NN;` references.
fn resolve(reference: &BytesRef<'_>) -> Result<String, Failure> {
    if let Some(ch) = reference.resolve_char_ref().map_err(undecodable)? {
        return Ok(ch.to_string());
    }
    let name = reference.decode().map_err(undecodable)?;
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or_else(|| undecodable(format!("unknown entity &{name};")))
}

fn int(text: &str, what: &str) -> Result<i32, Failure> {
    text.trim()
        .parse()
        .map_err(|_| undecodable(format!("{what}: bad value {text:?}")))
}

fn boolean(text: &str, what: &str) -> Result<bool, Failure> {
    match text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(undecodable(format!("{what}: bad boolean {other:?}"))),
    }
}

// ---- SyncUpdates ----------------------------------------------------------------------

/// One `UpdateInfo` while it is read.
#[derive(Default)]
struct Partial {
    id: Option<i32>,
    is_leaf: Option<bool>,
    action: Option<Action>,
    update_id: Option<Uuid>,
    bundled: Vec<Uuid>,
}

#[derive(Default)]
struct PageReader {
    page: Page,
    result: bool,
    truncated: Option<bool>,
    current: Partial,
    cookie: Cookie,
}

impl PageReader {
    fn finish(self) -> Result<Page, Failure> {
        if !self.result {
            return Err(undecodable("SyncUpdatesResult is missing"));
        }
        let truncated = self
            .truncated
            .ok_or_else(|| undecodable("SyncUpdatesResult/Truncated is missing"))?;
        Ok(Page {
            truncated,
            ..self.page
        })
    }

    /// The Core fragment's bundle members are read for updates offered for install.
    fn wants_members(&self) -> bool {
        matches!(self.current.action, Some(Action::Install))
    }

    fn finish_update(&mut self, new: bool) -> Result<(), Failure> {
        let info = std::mem::take(&mut self.current);
        let id = info.id.ok_or_else(|| undecodable("UpdateInfo/ID is missing"))?;
        let missing = |what: &str| undecodable(format!("UpdateInfo {id}: {what} is missing"));
        let delivered = Delivered {
            id,
            is_leaf: info.is_leaf.ok_or_else(|| missing("IsLeaf"))?,
            action: info.action.ok_or_else(|| missing("Deployment/Action"))?,
            update_id: info.update_id.ok_or_else(|| missing("Xml"))?,
            bundled: info.bundled,
        };
        if new {
            self.page.updates.push(delivered);
        } else {
            self.page.changed += 1;
        }
        Ok(())
    }

    /// Reads the escaped Core fragment `raw` as far as the machine needs it.
    fn take_core(&mut self, raw: &str) -> Result<(), Failure> {
        let members = self.wants_members();
        let xml = quick_xml::escape::unescape(core_prefix(raw, members)).map_err(xml_error)?;
        let core = core_identities(&xml, members)?;
        self.current.update_id = Some(core.0);
        self.current.bundled = core.1;
        Ok(())
    }
}

impl Visit for PageReader {
    fn open(&mut self, path: &[&str]) -> Open {
        match path {
            ["SyncUpdatesResult"] => {
                self.result = true;
                Open::Walk
            }
            ["SyncUpdatesResult", "NewUpdates" | "ChangedUpdates", "UpdateInfo", "Xml"] => Open::Raw,
            ["SyncUpdatesResult", "DeployedOutOfScopeRevisionIds"] => Open::Skip,
            ["SyncUpdatesResult", _, _, "Deployment", "HardwareIds" | "ClientBehaviors"] => Open::Skip,
            _ => Open::Text,
        }
    }

    fn close(&mut self, path: &[&str], text: &str) -> Result<(), Failure> {
        match path {
            ["SyncUpdatesResult", list @ ("NewUpdates" | "ChangedUpdates"), "UpdateInfo"] => {
                self.finish_update(*list == "NewUpdates")?
            }
            ["SyncUpdatesResult", _, "UpdateInfo", "ID"] => {
                self.current.id = Some(int(text, "UpdateInfo/ID")?)
            }
            ["SyncUpdatesResult", _, "UpdateInfo", "IsLeaf"] => {
                self.current.is_leaf = Some(boolean(text, "UpdateInfo/IsLeaf")?)
            }
            ["SyncUpdatesResult", _, "UpdateInfo", "Deployment", "Action"] => {
                let action = Action::parse(text.trim())
                    .ok_or_else(|| undecodable(format!("Deployment/Action {text:?}")))?;
                self.current.action = Some(action);
            }
            ["SyncUpdatesResult", _, "UpdateInfo", "Xml"] => self.take_core(text)?,
            ["SyncUpdatesResult", "OutOfScopeRevisionIDs", "int"] => self
                .page
                .out_of_scope
                .push(int(text, "OutOfScopeRevisionIDs/int")?),
            ["SyncUpdatesResult", "Truncated"] => self.truncated = Some(boolean(text, "Truncated")?),
            ["SyncUpdatesResult", "NewCookie", "Expiration"] => {
                self.cookie.expiration = text.trim().to_owned()
            }
            ["SyncUpdatesResult", "NewCookie", "EncryptedData"] => {
                self.cookie.encrypted_data = Some(text.trim().to_owned())
            }
            ["SyncUpdatesResult", "NewCookie"] => {
                if self.cookie.expiration.is_empty() {
                    return Err(undecodable("NewCookie/Expiration is missing"));
                }
                self.page.new_cookie = Some(std::mem::take(&mut self.cookie));
            }
            ["SyncUpdatesResult", "DriverSyncNotNeeded"] => {
                self.page.driver_sync_not_needed = Some(boolean(text, "DriverSyncNotNeeded")?)
            }
            _ => {}
        }
        Ok(())
    }
}

/// The part of an escaped Core fragment that holds the update's own identity (its first
/// element) and, with `members`, its `Relationships` (the bundle members): a fragment is
/// ~2 KB and only its head is read, so the rest is neither unescaped nor parsed. The whole
/// fragment when the end is not found.
fn core_prefix(raw: &str, members: bool) -> &str {
    let end = |at: usize| {
        let rest = &raw[at..];
        [("&gt;", 4), (">", 1)]
            .iter()
            .find(|(close, _)| rest.starts_with(close))
            .map(|(_, len)| at + len)
    };
    let found = if members {
        raw.find("/Relationships")
            .and_then(|at| end(at + "/Relationships".len()))
    } else {
        raw.find('/').and_then(|at| end(at + 1))
    };
    found.map_or(raw, |at| &raw[..at])
}

/// The update's own `UpdateIdentity/@UpdateID` (the fragment's first element) and, with
/// `members`, the ids under `Relationships/BundledUpdates`, looking through `AtLeastOne` groups.
fn core_identities(xml: &str, members: bool) -> Result<(Uuid, Vec<Uuid>), Failure> {
    let bad = |e: &dyn std::fmt::Display| undecodable(format!("Core fragment: {e}"));
    let mut reader = Reader::from_str(xml);
    let mut own = None;
    let mut bundled = Vec::new();
    let mut in_bundled = false;
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(e) if e.local_name().as_ref() == b"BundledUpdates" => in_bundled = true,
            Event::End(e) if e.local_name().as_ref() == b"BundledUpdates" => in_bundled = false,
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"UpdateIdentity" => {
                let id = update_id_of(&e).map_err(|e| bad(&e))?;
                match (own, in_bundled) {
                    (None, _) if !members => return Ok((id, bundled)),
                    (None, _) => own = Some(id),
                    (Some(_), true) => bundled.push(id),
                    (Some(_), false) => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let own = own.ok_or_else(|| bad(&"no UpdateIdentity"))?;
    Ok((own, bundled))
}

fn update_id_of(start: &BytesStart<'_>) -> Result<Uuid, String> {
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        if attr.key.local_name().as_ref() == b"UpdateID" {
            let value = attr.unescape_value().map_err(|e| e.to_string())?;
            return Uuid::parse_str(&value).map_err(|_| format!("bad UpdateID {value:?}"));
        }
    }
    Err("UpdateIdentity without UpdateID".into())
}

// ---- GetExtendedUpdateInfo -----------------------------------------------------------

#[derive(Default)]
struct ExtendedReader {
    read: Extended,
    id: Option<i32>,
}

impl Visit for ExtendedReader {
    fn open(&mut self, path: &[&str]) -> Open {
        match path {
            ["GetExtendedUpdateInfoResult", "Updates", "Update", "Xml"] => Open::Skip,
            ["GetExtendedUpdateInfoResult", "FileLocations", "FileLocation", _] => Open::Skip,
            _ => Open::Text,
        }
    }

    fn close(&mut self, path: &[&str], text: &str) -> Result<(), Failure> {
        let result = &mut self.read;
        match path {
            ["GetExtendedUpdateInfoResult", "Updates", "Update", "ID"] => {
                self.id = Some(int(text, "Update/ID")?);
            }
            ["GetExtendedUpdateInfoResult", "Updates", "Update"] => {
                let id = self
                    .id
                    .take()
                    .ok_or_else(|| undecodable("Update/ID is missing"))?;
                *result.fragments.entry(id).or_default() += 1;
            }
            ["GetExtendedUpdateInfoResult", "FileLocations", "FileLocation"] => result.file_locations += 1,
            ["GetExtendedUpdateInfoResult", "OutOfScopeRevisionIDs", "int"] => {
                result.out_of_scope.push(int(text, "OutOfScopeRevisionIDs/int")?)
            }
            _ => {}
        }
        Ok(())
    }
}
