//! What the server keeps of each client besides its update status: the computer record
//! (registration, requested groups, contact times) and each reported event as stored.

use crate::protocol::wusp::{ComputerInfo, ReportingEvent};
use serde::{Deserialize, Serialize};

/// Everything the server knows of one client, stored as JSON by client id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ComputerRecord {
    pub client_id: String,
    pub dns_name: String,
    /// Target groups the client asked for (GPO `TargetGroup`), as sent.
    pub requested_groups: Vec<String>,
    pub registered: bool,
    pub computer: ComputerInfo,
    pub first_seen: String,
    pub last_authorization: String,
    pub last_sync: String,
    pub last_report: String,
    pub events_received: u64,
    /// The address the client last connected from (as the listener saw it; a proxy or NAT
    /// in between shows its own).
    pub ip: String,
}

/// An event as stored: the client's report plus who sent it and when it arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    pub client_id: String,
    pub received: String,
    pub event: ReportingEvent,
}

/// Longest text kept of one inventory field or one event string a client sent (real ones are
/// under 100 bytes; the request limits allow 64 KiB).
pub(crate) const MAX_FIELD: usize = 1024;
/// Most replacement strings and `MiscData` entries kept of one event (real ones carry up to 4).
pub(crate) const MAX_LIST: usize = 16;

/// The inventory as kept: every field cut to `MAX_FIELD` bytes.
pub(crate) fn bounded_computer(info: &ComputerInfo) -> ComputerInfo {
    let mut info = info.clone();
    for field in [
        &mut info.dns_name,
        &mut info.os_major_version,
        &mut info.os_minor_version,
        &mut info.os_build_number,
        &mut info.os_service_pack_major_number,
        &mut info.os_service_pack_minor_number,
        &mut info.os_locale,
        &mut info.computer_manufacturer,
        &mut info.computer_model,
        &mut info.bios_version,
        &mut info.bios_name,
        &mut info.bios_release_date,
        &mut info.processor_architecture,
        &mut info.suite_mask,
        &mut info.old_product_type,
        &mut info.new_product_type,
        &mut info.system_metrics,
        &mut info.client_version_major_number,
        &mut info.client_version_minor_number,
        &mut info.client_version_build_number,
        &mut info.client_version_qfe_number,
        &mut info.os_description,
        &mut info.oem,
        &mut info.device_type,
        &mut info.firmware_version,
        &mut info.mobile_operator,
    ] {
        cut(field, MAX_FIELD);
    }
    info
}

/// An event as kept raw: strings cut to `MAX_FIELD` bytes, lists to `MAX_LIST` entries. The
/// status is folded from the event as sent (event 156's `U`/`V` lists can be kilobytes), so
/// nothing a status needs is lost.
pub(crate) fn bounded_event(event: &ReportingEvent) -> ReportingEvent {
    let mut event = event.clone();
    for list in [&mut event.replacement_strings, &mut event.misc_data] {
        list.truncate(MAX_LIST);
        list.iter_mut().for_each(|entry| cut(entry, MAX_FIELD));
    }
    for field in [
        &mut event.target_sid,
        &mut event.time_at_target,
        &mut event.app_name,
        &mut event.computer_brand,
        &mut event.computer_model,
        &mut event.bios_revision,
        &mut event.processor_architecture,
        &mut event.os_version,
        &mut event.device_id,
    ] {
        cut(field, MAX_FIELD);
    }
    event
}

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_fields_are_cut_on_character_boundaries() {
        let mut text = "é".repeat(MAX_FIELD);
        cut(&mut text, MAX_FIELD + 1);
        assert_eq!(text.len(), MAX_FIELD, "a two-byte character is not split");
        let info = ComputerInfo {
            computer_model: "m".repeat(8 << 20),
            ..ComputerInfo::default()
        };
        assert_eq!(bounded_computer(&info).computer_model.len(), MAX_FIELD);
        let event = ReportingEvent {
            misc_data: vec!["x".repeat(5000); 100],
            device_id: "d".repeat(5000),
            ..ReportingEvent::default()
        };
        let kept = bounded_event(&event);
        assert_eq!(kept.misc_data.len(), MAX_LIST);
        assert!(kept.misc_data.iter().all(|m| m.len() == MAX_FIELD));
        assert_eq!(kept.device_id.len(), MAX_FIELD);
    }
}
