//! The fleet as the admin API and CLI show it: every computer with its effective patch group
//! and baseline and its Patch Manager summary (shaped like `DescribeInstancePatchStates`),
//! one computer's per-update states (`DescribeInstancePatches`), and per-group states
//! (`DescribePatchGroupState`), plus a CSV of the summaries. Reads the store's computer
//! records and statuses and the served snapshot's decisions. Uses `approval`, `fleet`,
//! `snapshot`, `store`.

use crate::approval::{ComplianceLevel, ComplianceStatus, PatchProperties, PatchSummary};
use crate::fleet::{
    machine_compliance, machine_summary, ComputerRecord, GroupState, MachineCompliance, MachineStatus,
};
use crate::snapshot::{Assignment, Snapshot, DEFAULT_GROUP};
use crate::store::{Store, StoreError};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

/// One computer as compliance sees it.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub record: ComputerRecord,
    pub status: MachineStatus,
    pub assignment: Assignment,
    pub compliance: MachineCompliance,
}

impl Machine {
    /// The patch group name shown: the registered group, or `default`.
    pub(crate) fn group_name(&self) -> &str {
        self.assignment.group.as_deref().unwrap_or(DEFAULT_GROUP)
    }
}

/// The fleet's machines with their compliance, kept between reads so that a report over
/// 10,000 machines costs a walk of the cache, not of the store: rebuilt whole when the served
/// snapshot changes (new decisions), and one machine at a time when its record or status
/// changes (`touch`). Kept without the per-update items, status lists and inventory (`find`
/// reads those fresh for one machine, `with_inventory` the inventory of a listed page).
#[derive(Default)]
pub(crate) struct FleetCache {
    /// Client ids touched since the last read (std Mutex: held for an insert or a swap only).
    dirty: Mutex<HashSet<String>>,
    /// std Mutex, never held across an await; a rebuild holds it (readers wait for it).
    rows: Mutex<Rows>,
}

#[derive(Default)]
struct Rows {
    /// The snapshot the rows were computed under (weak: an old snapshot is not kept alive).
    snapshot: Weak<Snapshot>,
    machines: BTreeMap<String, Machine>,
}

impl FleetCache {
    /// Marks a client's row stale: its record or status changed in the store.
    pub(crate) fn touch(&self, client_id: &str) {
        if let Ok(mut dirty) = self.dirty.lock() {
            dirty.insert(client_id.to_string());
        }
    }

    /// Brings the rows up to date with the store and `snapshot`; returns how many machines.
    pub(crate) fn refresh(&self, store: &Store, snapshot: &Arc<Snapshot>) -> Result<usize, StoreError> {
        Ok(self.rows_up_to_date(store, snapshot)?.machines.len())
    }

    /// Every machine (in `group` only, when given; names compare without case), up to date
    /// with the store and `snapshot`.
    pub(crate) fn machines(
        &self,
        store: &Store,
        snapshot: &Arc<Snapshot>,
        group: Option<&str>,
    ) -> Result<Vec<Machine>, StoreError> {
        let rows = self.rows_up_to_date(store, snapshot)?;
        Ok(rows
            .machines
            .values()
            .filter(|m| group.is_none_or(|g| m.group_name().eq_ignore_ascii_case(g)))
            .cloned()
            .collect())
    }

    fn rows_up_to_date(
        &self,
        store: &Store,
        snapshot: &Arc<Snapshot>,
    ) -> Result<std::sync::MutexGuard<'_, Rows>, StoreError> {
        let dirty = self
            .dirty
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        let mut rows = self.rows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !Weak::ptr_eq(&rows.snapshot, &Arc::downgrade(snapshot)) {
            rows.machines = light_machines(store, snapshot)?;
            rows.snapshot = Arc::downgrade(snapshot);
        } else {
            for client_id in dirty {
                refresh(&mut rows.machines, store, snapshot, &client_id)?;
            }
        }
        Ok(rows)
    }
}

/// Re-reads one client's record and status; a client no longer stored leaves the cache.
fn refresh(
    machines: &mut BTreeMap<String, Machine>,
    store: &Store,
    snapshot: &Snapshot,
    client_id: &str,
) -> Result<(), StoreError> {
    let record = store
        .computer(client_id)?
        .and_then(|json| serde_json::from_str::<Listed>(&json).ok());
    match record {
        Some(record) => {
            machines.insert(
                client_id.to_string(),
                light_machine(store, snapshot, record.into())?,
            );
        }
        None => {
            machines.remove(client_id);
        }
    }
    Ok(())
}

/// Every stored computer as the fleet report shows it, by client id (see `light_machine`).
/// Collected, not inserted one by one: the map is then built from the sorted rows with full
/// nodes (inserting in key order leaves every node half empty, and a row is ~1 KB).
fn light_machines(store: &Store, snapshot: &Snapshot) -> Result<BTreeMap<String, Machine>, StoreError> {
    listed_records(store)?
        .into_iter()
        .map(|record| Ok((record.client_id.clone(), light_machine(store, snapshot, record)?)))
        .collect()
}

/// A machine without what the fleet report does not show: its summary is counted without
/// its items (`fleet::machine_summary`), its status keeps only when it was reported, and its
/// record comes without the inventory (`with_inventory` reads it again).
fn light_machine(store: &Store, snapshot: &Snapshot, record: ComputerRecord) -> Result<Machine, StoreError> {
    let status = machine_status(store, &record.client_id)?;
    let assignment = snapshot.assignment(&record.requested_groups);
    let compliance = match snapshot.decisions(&assignment.baseline_id) {
        Some(decisions) => machine_summary(&status, &decisions),
        None => machine_summary(&MachineStatus::default(), &empty_decisions()),
    };
    Ok(Machine {
        record,
        status: MachineStatus {
            status_at: status.status_at,
            ..MachineStatus::default()
        },
        assignment,
        compliance,
    })
}

/// Every stored computer's record that reads (an unreadable one is left out).
fn computer_records(store: &Store) -> Result<Vec<ComputerRecord>, StoreError> {
    Ok(store
        .computers()?
        .iter()
        .filter_map(|json| serde_json::from_str::<ComputerRecord>(json).ok())
        .collect())
}

/// Every stored computer's record that reads, without its inventory (see `Listed`).
fn listed_records(store: &Store) -> Result<Vec<ComputerRecord>, StoreError> {
    Ok(store
        .computers()?
        .iter()
        .filter_map(|json| serde_json::from_str::<Listed>(json).ok())
        .map(ComputerRecord::from)
        .collect())
}

/// A stored `ComputerRecord` read without its inventory (`computer`, some 600 bytes of small
/// strings per machine): the fleet's rows do not show it, and reading it only to drop it
/// would leave that much of the heap in holes between the rows.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Listed {
    client_id: String,
    dns_name: String,
    requested_groups: Vec<String>,
    registered: bool,
    first_seen: String,
    last_authorization: String,
    last_sync: String,
    last_report: String,
    events_received: u64,
    ip: String,
}

impl From<Listed> for ComputerRecord {
    fn from(listed: Listed) -> ComputerRecord {
        ComputerRecord {
            client_id: listed.client_id,
            dns_name: listed.dns_name,
            requested_groups: listed.requested_groups,
            registered: listed.registered,
            computer: Default::default(),
            first_seen: listed.first_seen,
            last_authorization: listed.last_authorization,
            last_sync: listed.last_sync,
            last_report: listed.last_report,
            events_received: listed.events_received,
            ip: listed.ip,
        }
    }
}

/// The machine's record as stored, inventory included (a cached row leaves it out); the
/// cached record when the store no longer has the machine.
pub(crate) fn with_inventory(store: &Store, machine: &Machine) -> Result<ComputerRecord, StoreError> {
    Ok(store
        .computer(&machine.record.client_id)?
        .and_then(|json| serde_json::from_str::<ComputerRecord>(&json).ok())
        .unwrap_or_else(|| machine.record.clone()))
}

/// One computer by client id or (case-insensitive) DNS name, with its compliance items.
pub(crate) fn find(store: &Store, snapshot: &Snapshot, key: &str) -> Result<Option<Machine>, StoreError> {
    let record = match store.computer(key)? {
        Some(json) => serde_json::from_str::<ComputerRecord>(&json).ok(),
        None => None,
    };
    let record = match record {
        Some(record) => Some(record),
        None => computer_records(store)?
            .into_iter()
            .find(|r| r.dns_name.eq_ignore_ascii_case(key)),
    };
    record.map(|record| machine(store, snapshot, record)).transpose()
}

fn machine(store: &Store, snapshot: &Snapshot, record: ComputerRecord) -> Result<Machine, StoreError> {
    let status = machine_status(store, &record.client_id)?;
    let assignment = snapshot.assignment(&record.requested_groups);
    let compliance = match snapshot.decisions(&assignment.baseline_id) {
        Some(decisions) => machine_compliance(&status, &decisions),
        None => machine_compliance(&MachineStatus::default(), &empty_decisions()),
    };
    Ok(Machine {
        record,
        status,
        assignment,
        compliance,
    })
}

/// The machine's status; one that does not decode counts as none (its next report folds it
/// again).
fn machine_status(store: &Store, client_id: &str) -> Result<MachineStatus, StoreError> {
    match store.machine_status(client_id) {
        Ok(status) => Ok(status.unwrap_or_default()),
        Err(StoreError::Corrupt(_)) => Ok(MachineStatus::default()),
        Err(err) => Err(err),
    }
}

fn empty_decisions() -> crate::fleet::Decisions {
    crate::fleet::Decisions::without_baselines(&Default::default())
}

/// `DescribeInstancePatchStates`-shaped JSON for machines, plus wucache's columns
/// (`ComputerName`, `ComplianceStatus`, `OverallSeverity`, `LastSync`, `LastReport`).
pub(crate) fn instance_state(machine: &Machine) -> Value {
    let s = &machine.compliance.summary;
    json!({
        "InstanceId": machine.record.client_id,
        "ComputerName": machine.record.dns_name,
        "PatchGroup": machine.group_name(),
        "BaselineId": machine.assignment.baseline_id,
        "ComplianceStatus": machine.compliance.status_name(),
        "OverallSeverity": overall_severity(s),
        "InstalledCount": s.installed,
        "InstalledOtherCount": s.installed_other,
        "InstalledPendingRebootCount": s.installed_pending_reboot,
        "InstalledRejectedCount": s.installed_rejected,
        "MissingCount": s.missing,
        "FailedCount": s.failed,
        "UnreportedNotApplicableCount": s.unreported_not_applicable,
        "NotApplicableCount": s.not_applicable,
        "AvailableSecurityUpdateCount": s.available_security_update,
        "CriticalNonCompliantCount": s.critical_non_compliant,
        "SecurityNonCompliantCount": s.security_non_compliant,
        "OtherNonCompliantCount": s.other_non_compliant,
        "Operation": "Scan",
        "OperationEndTime": machine.status.status_at.map(millis_to_rfc3339),
        "LastSync": machine.record.last_sync,
        "LastReport": machine.record.last_report,
    })
}

fn overall_severity(summary: &PatchSummary) -> &'static str {
    match summary.status {
        ComplianceStatus::Compliant => ComplianceLevel::Unspecified.as_str(),
        ComplianceStatus::NonCompliant => summary.overall_severity.as_str(),
    }
}

fn millis_to_rfc3339(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339()
}

/// `DescribePatchGroupState` per group, keyed by group name.
pub(crate) fn group_states(machines: &[Machine]) -> BTreeMap<String, GroupRow> {
    let mut groups: BTreeMap<String, GroupRow> = BTreeMap::new();
    for machine in machines {
        let row = groups
            .entry(machine.group_name().to_string())
            .or_insert_with(|| GroupRow {
                baseline_id: machine.assignment.baseline_id.clone(),
                state: GroupState::default(),
            });
        row.state.add(&machine.compliance);
    }
    groups
}

/// One group's state and the baseline its machines use.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GroupRow {
    #[serde(rename = "BaselineId")]
    pub baseline_id: String,
    #[serde(flatten)]
    pub state: GroupState,
}

/// The answer of `/api/v1/compliance`: every machine's state, every group's, and (with a
/// baseline file) the TargetGroups asked for that no patch group registers.
/// `page` selects the machines listed in `InstancePatchStates`; the group states and unknown
/// TargetGroups are of every machine.
pub(crate) fn report(
    machines: &[Machine],
    baselines_configured: bool,
    page: std::ops::Range<usize>,
) -> Value {
    let groups: Vec<Value> = group_states(machines)
        .into_iter()
        .map(|(name, row)| {
            let mut value = serde_json::to_value(&row).unwrap_or_default();
            value["PatchGroup"] = Value::String(name);
            value
        })
        .collect();
    json!({
        "InstancePatchStates": machines[page].iter().map(instance_state).collect::<Vec<_>>(),
        "PatchGroupStates": groups,
        "UnknownTargetGroups": if baselines_configured { unknown_target_groups(machines) } else { Vec::new() },
    })
}

/// TargetGroups clients asked for that no patch group registers (a typo in a GPO sends a
/// machine to the default baseline), with the machines that asked.
fn unknown_target_groups(machines: &[Machine]) -> Vec<Value> {
    let mut asked: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for machine in machines.iter().filter(|m| m.assignment.group.is_none()) {
        for group in machine.record.requested_groups.iter().flat_map(|g| g.split(';')) {
            let group = group.trim();
            if !group.is_empty() {
                asked
                    .entry(group.to_string())
                    .or_default()
                    .push(&machine.record.client_id);
            }
        }
    }
    asked
        .into_iter()
        .map(|(group, computers)| json!({"TargetGroup": group, "Computers": computers}))
        .collect()
}

/// `DescribeInstancePatches` for one machine: every update with a compliance item.
pub(crate) fn instance_patches(machine: &Machine, snapshot: &Snapshot) -> Value {
    let Some(decisions) = snapshot.decisions(&machine.assignment.baseline_id) else {
        return json!({ "Patches": [] });
    };
    let facts = snapshot.facts_of(machine.compliance.items.iter().map(|item| item.update_id));
    let patches: Vec<Value> = machine
        .compliance
        .items
        .iter()
        .filter_map(|item| facts.get(&item.update_id).map(|f| (item, f)))
        .map(|(item, facts)| {
            let properties = PatchProperties::of(facts, &decisions.baseline.extensions);
            json!({
                "UpdateId": item.update_id,
                "Title": facts.title,
                "KBId": facts.kb,
                "Classification": properties.classifications.first(),
                "Severity": properties.msrc_severity,
                "State": item.item.state.as_str(),
                "ComplianceLevel": item.item.severity.as_str(),
                "FailureHResult": machine.status.failed.get(&item.update_id)
                    .map(|f| format!("{:#010x}", f.hresult)),
            })
        })
        .collect();
    json!({ "Patches": patches })
}

/// The instance states as CSV, one machine a line, the columns of `instance_state`.
pub(crate) fn csv(machines: &[Machine]) -> String {
    const COLUMNS: [&str; 16] = [
        "InstanceId",
        "ComputerName",
        "PatchGroup",
        "BaselineId",
        "ComplianceStatus",
        "OverallSeverity",
        "InstalledCount",
        "InstalledOtherCount",
        "InstalledPendingRebootCount",
        "InstalledRejectedCount",
        "MissingCount",
        "FailedCount",
        "NotApplicableCount",
        "AvailableSecurityUpdateCount",
        "CriticalNonCompliantCount",
        "OperationEndTime",
    ];
    let mut out = COLUMNS.join(",") + "\n";
    for machine in machines {
        let state = instance_state(machine);
        let cells: Vec<String> = COLUMNS.iter().map(|c| csv_cell(&state[*c])).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// A CSV field: numbers as they are, text quoted when it holds a comma, quote or newline.
fn csv_cell(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wusp::ComputerInfo;

    /// `Listed` reads every field of a stored record but the inventory: each field of
    /// `ComputerRecord` (found from its JSON, so a field added later is covered) is set to a
    /// value of its own, and comes back.
    #[test]
    fn a_listed_record_keeps_every_field_but_the_inventory() {
        let serde_json::Value::Object(fields) = serde_json::to_value(ComputerRecord::default()).unwrap()
        else {
            panic!("a record is a JSON object");
        };
        let mut stored = serde_json::Map::new();
        for (key, default) in fields {
            let value = match default {
                Value::String(_) => json!(format!("{key}-value")),
                Value::Bool(b) => json!(!b),
                Value::Number(_) => json!(7),
                Value::Array(_) => json!([format!("{key}-item")]),
                Value::Object(_) => json!(ComputerInfo {
                    dns_name: "inventory.example".into(),
                    os_build_number: "26200".into(),
                    ..Default::default()
                }),
                Value::Null => panic!("{key}: no default to vary"),
            };
            stored.insert(key, value);
        }
        let json = Value::Object(stored).to_string();
        let full: ComputerRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(full.computer.os_build_number, "26200");
        let listed = ComputerRecord::from(serde_json::from_str::<Listed>(&json).unwrap());
        assert_eq!(
            listed,
            ComputerRecord {
                computer: Default::default(),
                ..full
            }
        );
    }
}
