//! The Reporting web service: ReportEventBatch, a client's batch of `ReportingEvent`s. An
//! ASMX service, so empty elements self-close as `<X />`. Uses the shared writer and
//! readers of `messages`.

use super::*;

const OS_VERSION_PARTS: [&str; 6] = [
    "Major",
    "Minor",
    "Build",
    "Revision",
    "ServicePackMajor",
    "ServicePackMinor",
];

fn read_event(el: &Element, path: &str) -> Parsed<ReportingEvent> {
    let basic_path = join(path, "BasicData");
    let basic = required(el, "BasicData", &basic_path)?;
    let short = |name: &str| -> Parsed<i32> { Ok(i32::from(req_scalar::<i16>(basic, name, &basic_path)?)) };
    let mut event = ReportingEvent {
        target_sid: child(basic, "TargetID")
            .map(|t| string(t, "Sid"))
            .unwrap_or_default(),
        sequence_number: req_scalar(basic, "SequenceNumber", &basic_path)?,
        time_at_target: req_string(basic, "TimeAtTarget", &basic_path)?,
        event_instance_id: req_scalar(basic, "EventInstanceID", &basic_path)?,
        namespace_id: req_scalar(basic, "NamespaceID", &basic_path)?,
        event_id: short("EventID")?,
        source_id: short("SourceID")?,
        update_id: child(basic, "UpdateID")
            .map(|u| read_identity(u, &join(&basic_path, "UpdateID")))
            .transpose()?
            .unwrap_or_default(),
        win32_hresult: req_scalar(basic, "Win32HResult", &basic_path)?,
        app_name: string(basic, "AppName"),
        ..ReportingEvent::default()
    };
    if let Some(extended) = child(el, "ExtendedData") {
        read_extended_data(extended, &join(path, "ExtendedData"), &mut event)?;
    }
    Ok(event)
}

/// `ExtendedData` is optional in the WSDL; when present its typed fields are required.
fn read_extended_data(el: &Element, path: &str, event: &mut ReportingEvent) -> Parsed<()> {
    let version_path = join(path, "OSVersion");
    let version = required(el, "OSVersion", &version_path)?;
    let parts = OS_VERSION_PARTS
        .iter()
        .map(|part| req_scalar::<i32>(version, part, &version_path).map(|n| n.to_string()))
        .collect::<Parsed<Vec<_>>>()?;
    event.replacement_strings = string_array(el, "ReplacementStrings", "string");
    event.misc_data = string_array(el, "MiscData", "string");
    event.computer_brand = string(el, "ComputerBrand");
    event.computer_model = string(el, "ComputerModel");
    event.bios_revision = string(el, "BiosRevision");
    event.processor_architecture = req_string(el, "ProcessorArchitecture", path)?;
    event.os_version = parts.join(".");
    event.os_locale_id = req_scalar(el, "OSLocaleID", path)?;
    event.device_id = string(el, "DeviceID");
    Ok(())
}

pub(crate) fn parse_report_event_batch_request(el: &Element) -> Parsed<ReportEventBatchRequest> {
    expect_name(el, "ReportEventBatch")?;
    Ok(ReportEventBatchRequest {
        cookie: opt_cookie(el, "cookie")?,
        client_time: opt_string(el, "clientTime"),
        events: struct_array(el, "eventBatch", "ReportingEvent", "", read_event)?,
    })
}

/// As Windows 11 writes an event: `AppName`, `ReplacementStrings`, `MiscData` and
/// `DeviceID` left out when empty, `PrivateData` empty. An `os_version` part that is
/// missing or not a number is sent as 0.
fn write_event(w: &mut Writer, e: &ReportingEvent) {
    w.element("ReportingEvent", |w| {
        w.element("BasicData", |w| {
            w.element("TargetID", |w| w.text("Sid", &e.target_sid));
            w.value("SequenceNumber", e.sequence_number);
            w.text("TimeAtTarget", &e.time_at_target);
            w.value("EventInstanceID", e.event_instance_id);
            w.value("NamespaceID", e.namespace_id);
            w.value("EventID", e.event_id);
            w.value("SourceID", e.source_id);
            write_identity(w, "UpdateID", &e.update_id);
            w.value("Win32HResult", e.win32_hresult);
            if !e.app_name.is_empty() {
                w.text("AppName", &e.app_name);
            }
        });
        w.element("ExtendedData", |w| {
            w.nonempty("ReplacementStrings", &e.replacement_strings, |w, s| {
                w.text("string", s)
            });
            w.nonempty("MiscData", &e.misc_data, |w, s| w.text("string", s));
            w.text("ComputerBrand", &e.computer_brand);
            w.text("ComputerModel", &e.computer_model);
            w.text("BiosRevision", &e.bios_revision);
            w.text("ProcessorArchitecture", &e.processor_architecture);
            w.element("OSVersion", |w| {
                let mut parts = e.os_version.split('.');
                for name in OS_VERSION_PARTS {
                    let n: i32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    w.value(name, n);
                }
            });
            w.value("OSLocaleID", e.os_locale_id);
            if !e.device_id.is_empty() {
                w.text("DeviceID", &e.device_id);
            }
        });
        w.text("PrivateData", "");
    });
}

/// Client side: writes a `ReportEventBatch` request.
pub fn build_report_event_batch_request(req: &ReportEventBatchRequest) -> String {
    Writer::client().root("ReportEventBatch", REPORTING_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.opt_text("clientTime", req.client_time.as_deref());
        w.nonempty("eventBatch", &req.events, write_event);
    })
}

pub(crate) fn build_report_event_batch_response(received: &bool) -> String {
    Writer::asmx().root("ReportEventBatchResponse", REPORTING_NS, |w| {
        w.value("ReportEventBatchResult", received)
    })
}

/// Client side: reads a `ReportEventBatchResponse`: whether the server took the batch.
pub fn parse_report_event_batch_response(el: &Element) -> Parsed<bool> {
    expect_name(el, "ReportEventBatchResponse")?;
    req_bool(el, "ReportEventBatchResult", "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wusp::messages::test_fixtures::*;

    #[test]
    fn native_report_event_batch_request() {
        let req = parse_report_event_batch_request(&request_element(FLOW_REPORT.0)).unwrap();
        assert!(req.cookie.is_some());
        assert_eq!(req.client_time.as_deref(), Some("2026-10-04T15:20:47.397Z"));
        assert_eq!(req.events.len(), 4);
        let first = &req.events[0];
        assert_eq!(first.target_sid, "e1da06a3-5601-43c9-bac3-52d5db701494");
        assert_eq!(first.time_at_target, "2026-10-04T15:20:47.397Z");
        assert_eq!(
            first.event_instance_id,
            uuid::uuid!("fab199c1-6123-44f2-b01c-a5a92201b011")
        );
        assert_eq!(
            (first.namespace_id, first.event_id, first.source_id),
            (1, 147, 101)
        );
        assert_eq!(
            first.update_id,
            UpdateIdentity {
                update_id: Uuid::nil(),
                revision: 0
            }
        );
        assert_eq!(first.app_name, "OOBE ZDP");
        assert_eq!(first.replacement_strings, vec!["0"]);
        assert_eq!(first.misc_data.len(), 29);
        assert_eq!(first.misc_data[0], "B=3");
        assert_eq!(first.processor_architecture, "Amd64Compatible");
        assert_eq!(first.os_version, "10.0.26200.65792.0.0");
        assert_eq!(first.os_locale_id, 1033);
        assert_eq!(first.device_id, "");
        assert_eq!(req.events[1].win32_hresult, -2145123272);
        let last = &req.events[3];
        assert_eq!(last.app_name, "", "the fourth event has no AppName");
        assert!(last
            .misc_data
            .contains(&"AppName=<<PROCESS>>: powershell.exe".to_string()));
    }

    #[test]
    fn native_install_failure_report() {
        let req = parse_report_event_batch_request(&request_element(FLOW_REPORT_FAILURE)).unwrap();
        assert_eq!(req.events.len(), 2);
        let [bundle_member, bundle] = &req.events[..] else {
            panic!()
        };
        assert_eq!(bundle_member.event_id, 182);
        assert!(bundle_member.replacement_strings.is_empty());
        assert_eq!(
            bundle_member.update_id,
            UpdateIdentity {
                update_id: uuid::uuid!("0daf8592-9e3f-4a8a-9141-d83fafebd09f"),
                revision: 200
            }
        );
        assert_eq!(bundle.win32_hresult, -2145099769);
        assert_eq!(bundle.replacement_strings.len(), 2);
        assert!(bundle.replacement_strings[1].contains("KB2267602"));
    }

    #[test]
    fn real_report_event_batch_response_round_trips() {
        assert!(parse_report_event_batch_response(&response_element(FLOW_REPORT.1)).unwrap());
        assert_eq!(
            build_report_event_batch_response(&true),
            operation_xml(FLOW_REPORT.1, "ReportEventBatchResponse")
        );
    }
}
