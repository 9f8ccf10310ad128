//! Update details on the ClientWebService: GetExtendedUpdateInfo, GetExtendedUpdateInfo2 and
//! GetFileLocations, with the `FileLocation` they share. Uses the shared writer and
//! readers of `messages`.

use super::*;

// ---- GetExtendedUpdateInfo (and 2) -----------------------------------------------------

/// `GeoId`, `callerAttributes` and Windows 11's undeclared `deviceAttributes` are ignored.
pub fn parse_get_extended_update_info_request(el: &Element) -> Parsed<GetExtendedUpdateInfoRequest> {
    expect_name(el, "GetExtendedUpdateInfo")?;
    Ok(GetExtendedUpdateInfoRequest {
        cookie: opt_cookie(el, "cookie")?,
        revision_ids: int_array(el, "revisionIDs", "")?.unwrap_or_default(),
        info_types: string_array(el, "infoTypes", "XmlUpdateFragmentType"),
        locales: string_array(el, "locales", "string"),
    })
}

/// Client side: writes a `GetExtendedUpdateInfo` request.
pub fn build_get_extended_update_info_request(req: &GetExtendedUpdateInfoRequest) -> String {
    Writer::client().root("GetExtendedUpdateInfo", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("revisionIDs", &req.revision_ids, int_item);
        w.nonempty("infoTypes", &req.info_types, |w, s| {
            w.text("XmlUpdateFragmentType", s)
        });
        w.nonempty("locales", &req.locales, |w, s| w.text("string", s));
    })
}

pub(crate) fn parse_get_extended_update_info2_request(el: &Element) -> Parsed<GetExtendedUpdateInfo2Request> {
    expect_name(el, "GetExtendedUpdateInfo2")?;
    Ok(GetExtendedUpdateInfo2Request {
        cookie: opt_cookie(el, "cookie")?,
        update_ids: struct_array(el, "updateIDs", "UpdateIdentity", "", read_identity)?,
        info_types: string_array(el, "infoTypes", "XmlUpdateFragmentType"),
        locales: string_array(el, "locales", "string"),
    })
}

/// Client side: writes a `GetExtendedUpdateInfo2` request.
pub fn build_get_extended_update_info2_request(req: &GetExtendedUpdateInfo2Request) -> String {
    Writer::client().root("GetExtendedUpdateInfo2", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("updateIDs", &req.update_ids, identity_item);
        w.nonempty("infoTypes", &req.info_types, |w, s| {
            w.text("XmlUpdateFragmentType", s)
        });
        w.nonempty("locales", &req.locales, |w, s| w.text("string", s));
    })
}

fn file_location_item(w: &mut Writer, f: &FileLocation) {
    w.element("FileLocation", |w| {
        w.base64("FileDigest", &f.file_digest);
        w.text("Url", &f.url);
    });
}

/// `PiecesHashUrl`, `BlockMapUrl` and the decryption fields of GetExtendedUpdateInfo2's
/// `FileLocation` are ignored.
fn read_file_location(el: &Element, path: &str) -> Parsed<FileLocation> {
    let digest_path = join(path, "FileDigest");
    Ok(FileLocation {
        file_digest: child(el, "FileDigest")
            .map(|d| base64(d, &digest_path))
            .transpose()?
            .unwrap_or_default(),
        url: string(el, "Url"),
    })
}

fn write_updates_and_locations(w: &mut Writer, info: &ExtendedUpdateInfo) {
    w.nonempty("Updates", &info.updates, |w, (id, xml)| {
        w.element("Update", |w| {
            w.value("ID", id);
            w.xml_text("Xml", xml);
        })
    });
    w.nonempty("FileLocations", &info.file_locations, file_location_item);
}

fn read_extended_update_info(response: &Element, result: &str) -> Parsed<ExtendedUpdateInfo> {
    let el = required(response, result, result)?;
    Ok(ExtendedUpdateInfo {
        updates: struct_array(el, "Updates", "Update", result, |u, path| {
            Ok((req_scalar(u, "ID", path)?, XmlText::new(string(u, "Xml"))))
        })?,
        file_locations: struct_array(el, "FileLocations", "FileLocation", result, read_file_location)?,
        out_of_scope_revision_ids: int_array(el, "OutOfScopeRevisionIDs", result)?.unwrap_or_default(),
    })
}

/// Room for an answer's fragments and file locations, so that it is written without copies.
fn extended_capacity(info: &ExtendedUpdateInfo) -> usize {
    let fragments: usize = info.updates.iter().map(|(_, xml)| xml.len() + 64).sum();
    fragments + info.file_locations.len() * 256 + 4096
}

pub(crate) fn build_get_extended_update_info_response(info: &ExtendedUpdateInfo) -> String {
    Writer::client_sized(extended_capacity(info)).root("GetExtendedUpdateInfoResponse", CLIENT_NS, |w| {
        w.element("GetExtendedUpdateInfoResult", |w| {
            write_updates_and_locations(w, info);
            w.nonempty("OutOfScopeRevisionIDs", &info.out_of_scope_revision_ids, int_item);
        })
    })
}

/// Client side: reads a `GetExtendedUpdateInfoResponse`.
pub fn parse_get_extended_update_info_response(el: &Element) -> Parsed<ExtendedUpdateInfo> {
    expect_name(el, "GetExtendedUpdateInfoResponse")?;
    read_extended_update_info(el, "GetExtendedUpdateInfoResult")
}

/// `ExtendedUpdateInfo2` has no `OutOfScopeRevisionIDs` in the WSDL, so
/// `info.out_of_scope_revision_ids` is not sent; the decryption lists are never filled.
pub fn build_get_extended_update_info2_response(info: &ExtendedUpdateInfo) -> String {
    Writer::client().root("GetExtendedUpdateInfo2Response", CLIENT_NS, |w| {
        w.element("GetExtendedUpdateInfo2Result", |w| {
            write_updates_and_locations(w, info)
        })
    })
}

/// Client side: reads a `GetExtendedUpdateInfo2Response`.
pub fn parse_get_extended_update_info2_response(el: &Element) -> Parsed<ExtendedUpdateInfo> {
    expect_name(el, "GetExtendedUpdateInfo2Response")?;
    read_extended_update_info(el, "GetExtendedUpdateInfo2Result")
}

// ---- GetFileLocations ------------------------------------------------------------------

pub(crate) fn parse_get_file_locations_request(el: &Element) -> Parsed<GetFileLocationsRequest> {
    expect_name(el, "GetFileLocations")?;
    let file_digests = match child(el, "fileDigests") {
        None => Vec::new(),
        Some(array) => items(array, "base64Binary")
            .map(|(i, d)| base64(d, &format!("fileDigests[{i}]")))
            .collect::<Parsed<_>>()?,
    };
    Ok(GetFileLocationsRequest {
        cookie: opt_cookie(el, "cookie")?,
        file_digests,
    })
}

/// Client side: writes a `GetFileLocations` request.
pub fn build_get_file_locations_request(req: &GetFileLocationsRequest) -> String {
    Writer::client().root("GetFileLocations", CLIENT_NS, |w| {
        write_opt_cookie(w, &req.cookie);
        w.nonempty("fileDigests", &req.file_digests, |w, d| {
            w.base64("base64Binary", d)
        });
    })
}

pub(crate) fn build_get_file_locations_response(resp: &GetFileLocationsResponse) -> String {
    Writer::client().root("GetFileLocationsResponse", CLIENT_NS, |w| {
        w.element("GetFileLocationsResult", |w| {
            w.nonempty("FileLocations", &resp.file_locations, file_location_item);
            write_cookie(w, "NewCookie", &resp.new_cookie);
        })
    })
}

/// Client side: reads a `GetFileLocationsResponse`.
pub fn parse_get_file_locations_response(el: &Element) -> Parsed<GetFileLocationsResponse> {
    expect_name(el, "GetFileLocationsResponse")?;
    let path = "GetFileLocationsResult";
    let result = required(el, path, path)?;
    Ok(GetFileLocationsResponse {
        file_locations: struct_array(result, "FileLocations", "FileLocation", path, read_file_location)?,
        new_cookie: req_cookie(result, "NewCookie", path)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wusp::messages::test_fixtures::*;

    #[test]
    fn native_get_extended_update_info_requests() {
        let req = parse_get_extended_update_info_request(&request_element(SCAN_EXTENDED.0)).unwrap();
        assert_eq!(req.revision_ids, vec![72571, 108226, 108231]);
        assert_eq!(req.info_types, vec!["Extended", "LocalizedProperties"]);
        assert_eq!(req.locales, vec!["en-US", "en"]);
        let req = parse_get_extended_update_info_request(&request_element(FLOW_EXTENDED.0)).unwrap();
        assert_eq!(req.revision_ids.len(), 18);
        assert_eq!(req.revision_ids.first(), Some(&191472));
        assert_eq!(req.revision_ids.last(), Some(&200996));
        assert_eq!(req.info_types, vec!["Extended", "LocalizedProperties"]);
    }

    #[test]
    fn real_get_extended_update_info_responses_round_trip() {
        for body in [SCAN_EXTENDED.1, FLOW_EXTENDED.1] {
            let info = parse_get_extended_update_info_response(&response_element(body)).unwrap();
            assert_eq!(
                build_get_extended_update_info_response(&info),
                operation_xml(body, "GetExtendedUpdateInfoResponse")
            );
        }
        let scan = parse_get_extended_update_info_response(&response_element(SCAN_EXTENDED.1)).unwrap();
        assert_eq!(scan.updates.len(), 6);
        assert!(scan.file_locations.is_empty() && scan.out_of_scope_revision_ids.is_empty());
        let flow = parse_get_extended_update_info_response(&response_element(FLOW_EXTENDED.1)).unwrap();
        assert_eq!(flow.file_locations.len(), 9);
        let first = &flow.file_locations[0];
        assert_eq!(first.file_digest.len(), 20);
        assert_eq!(
            first.url,
            "http://192.0.2.1:8530/Content/49/A379D5526FB3A7A0423DA1CD7FC3182A8D448449.exe"
        );
    }

    /// The source redacted both cookie fields to `REDACTED`; that happens to be valid
    /// base64 (six bytes), so the capture still round-trips.
    #[test]
    fn real_get_file_locations_response_round_trips() {
        let resp = parse_get_file_locations_response(&response_element(CBS_FILE_LOCATIONS_RESPONSE)).unwrap();
        assert_eq!(resp.file_locations.len(), 1);
        assert_eq!(resp.file_locations[0].file_digest.len(), 20);
        assert!(resp.file_locations[0]
            .url
            .ends_with("/Content/A2/86542C97261C46D5B379A43EC895F97EAF409BA2.cab"));
        assert_eq!(
            build_get_file_locations_response(&resp),
            operation_xml(CBS_FILE_LOCATIONS_RESPONSE, "GetFileLocationsResponse")
        );
    }

    /// GetExtendedUpdateInfo2's result type has no `OutOfScopeRevisionIDs`.
    #[test]
    fn extended_update_info2_does_not_send_out_of_scope_ids() {
        let info = ExtendedUpdateInfo {
            out_of_scope_revision_ids: vec![7],
            ..ExtendedUpdateInfo::default()
        };
        let xml = build_get_extended_update_info2_response(&info);
        assert_eq!(
            xml,
            format!("<GetExtendedUpdateInfo2Response xmlns=\"{CLIENT_NS}\"><GetExtendedUpdateInfo2Result/></GetExtendedUpdateInfo2Response>")
        );
    }
}
