//! ReportEventBatch as Windows 11 sends it after a scan (captured `flow-000016`): each
//! `ReportingEvent` with `BasicData`, `ExtendedData` describing the machine, and an empty
//! `PrivateData`.

use uuid::Uuid;

use super::answers::Cookie;
use super::request::{cookie_element, element, reporting_call, Request};

/// One reporting event (the fields a test varies; the machine description is fixed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `TargetID/Sid`: the client id.
    pub sid: String,
    pub(crate) time_at_target: String,
    pub(crate) instance_id: Uuid,
    /// 147 = scan succeeded, 156 = status report, ...
    pub event_id: u16,
    pub(crate) source_id: u16,
    /// `UpdateID` and `RevisionNumber` of the update the event is about (zero GUID for none).
    pub update: (Uuid, u32),
    /// `Win32HResult`: 0, or the error of a failed scan, download or install.
    pub win32_hresult: i32,
    pub(crate) app_name: String,
    pub(crate) replacement_strings: Vec<String>,
    /// `MiscData` entries as `Tag=Value` (`U=` needed ids, `V=` installed ids …).
    pub misc_data: Vec<String>,
}

impl Event {
    /// An event of the Automatic Updates source (101) about no particular update.
    pub fn new(sid: &str, time_at_target: &str, event_id: u16) -> Event {
        Event {
            sid: sid.to_owned(),
            time_at_target: time_at_target.to_owned(),
            instance_id: Uuid::new_v4(),
            event_id,
            source_id: 101,
            update: (Uuid::nil(), 0),
            win32_hresult: 0,
            app_name: "AutomaticUpdates".to_owned(),
            replacement_strings: vec!["0".to_owned()],
            misc_data: Vec::new(),
        }
    }
}

/// ReportEventBatch.
pub fn report_event_batch(cookie: &Cookie, client_time: &str, events: &[Event]) -> Request {
    let events: String = events.iter().map(event).collect();
    let inner = format!(
        "{}{}<eventBatch>{events}</eventBatch>",
        cookie_element("cookie", cookie),
        element("clientTime", client_time)
    );
    reporting_call("ReportEventBatch", &inner)
}

fn event(e: &Event) -> String {
    let basic = format!(
        "<BasicData><TargetID>{}</TargetID><SequenceNumber>0</SequenceNumber>{}<EventInstanceID>{}</EventInstanceID>\
<NamespaceID>1</NamespaceID><EventID>{}</EventID><SourceID>{}</SourceID><UpdateID><UpdateID>{}</UpdateID>\
<RevisionNumber>{}</RevisionNumber></UpdateID><Win32HResult>{}</Win32HResult>{}</BasicData>",
        element("Sid", &e.sid),
        element("TimeAtTarget", &e.time_at_target),
        e.instance_id,
        e.event_id,
        e.source_id,
        e.update.0,
        e.update.1,
        e.win32_hresult,
        element("AppName", &e.app_name)
    );
    let strings = |name: &str, items: &[String]| {
        let items: String = items.iter().map(|s| element("string", s)).collect();
        format!("<{name}>{items}</{name}>")
    };
    let extended = format!(
        "<ExtendedData>{}{}<ComputerBrand>QEMU</ComputerBrand><ComputerModel>Standard PC (Q35 + ICH9, 2009)</ComputerModel>\
<BiosRevision>unknown</BiosRevision><ProcessorArchitecture>Amd64Compatible</ProcessorArchitecture><OSVersion><Major>10</Major>\
<Minor>0</Minor><Build>26200</Build><Revision>65792</Revision><ServicePackMajor>0</ServicePackMajor>\
<ServicePackMinor>0</ServicePackMinor></OSVersion><OSLocaleID>1033</OSLocaleID></ExtendedData>",
        strings("ReplacementStrings", &e.replacement_strings),
        strings("MiscData", &e.misc_data)
    );
    format!("<ReportingEvent>{basic}{extended}<PrivateData/></ReportingEvent>")
}
