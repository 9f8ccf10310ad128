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
