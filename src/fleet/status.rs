//! One machine's update states, folded from the events it reports (docs/protocol.md §6.3).
//!
//! - 156 ("reporting client status") carries the lists WSUS derives status from: `U`
//!   (needed), `V` (installed), `W` (installed, pending reboot). It replaces the previous
//!   lists; an update of the machine's scope named in none of them is not applicable.
//! - 182 marks an install failure with its HRESULT; the update stays failed until a later
//!   report shows it installed.
//! - 183 (install succeeded) marks it installed; 201 (installation pending, Windows 11's
//!   restart-required success) and 184 mark it installed pending reboot; 202 (reboot
//!   completed) turns pending-reboot updates into installed ones.
//! - 147 / 148 record the last scan's outcome (detected count, or the failure code).
//!
//! Events apply in `TimeAtTarget` order: one older than what it would overwrite is ignored, so
//! a batch that arrives late cannot roll a machine back. A machine that never sent a 156 is
//! `Unknown` for every update. Pure: events in, states out.

use crate::approval::ClientState;
use crate::protocol::wusp::ReportingEvent;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Event ids that change what the server knows (namespace 1).
mod event {
    pub(super) const SCAN_SUCCEEDED: i32 = 147;
    pub(super) const SCAN_FAILED: i32 = 148;
    pub(super) const STATUS: i32 = 156;
    pub(super) const INSTALL_FAILED: i32 = 182;
    pub(super) const INSTALL_SUCCEEDED: i32 = 183;
    pub(super) const INSTALL_SUCCEEDED_REBOOT: i32 = 184;
    pub(super) const INSTALL_PENDING: i32 = 201;
    pub(super) const REBOOT_COMPLETED: i32 = 202;
}

/// An install failure: the HRESULT and when the client saw it (unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub hresult: i32,
    pub at: i64,
}

/// The last scan's outcome (147 or 148).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ScanOutcome {
    pub at: i64,
    pub succeeded: bool,
    /// 147: the number of updates detected; 148: the failure code, as the client wrote it.
    pub detail: String,
}

/// What one machine has reported, as far as status goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct MachineStatus {
    /// `TimeAtTarget` of the last 156 applied (unix milliseconds); `None`: never reported.
    pub status_at: Option<i64>,
    pub needed: BTreeSet<Uuid>,
    pub installed: BTreeSet<Uuid>,
    /// Installed, waiting for a reboot, since (unix milliseconds).
    pub pending_reboot: BTreeMap<Uuid, i64>,
    pub failed: BTreeMap<Uuid, Failure>,
    pub last_scan: Option<ScanOutcome>,
}

impl MachineStatus {
    /// The state of one update on this machine.
    pub(crate) fn state_of(&self, update: &Uuid) -> ClientState {
        if self.pending_reboot.contains_key(update) {
            ClientState::InstalledPendingReboot
        } else if self.installed.contains(update) {
            ClientState::Installed
        } else if self.failed.contains_key(update) {
            ClientState::Failed
        } else if self.needed.contains(update) {
            ClientState::NotInstalled
        } else if self.status_at.is_some() {
            ClientState::NotApplicable
        } else {
            ClientState::Unknown
        }
    }

    /// Folds a batch of events in, oldest first. Answers whether anything changed.
    pub(crate) fn apply_all<'a>(&mut self, events: impl IntoIterator<Item = &'a ReportingEvent>) -> bool {
        let mut timed: Vec<(i64, &ReportingEvent)> = events
            .into_iter()
            .filter_map(|e| event_time(e).map(|at| (at, e)))
            .collect();
        timed.sort_by_key(|(at, _)| *at);
        let before = self.clone();
        for (at, event) in timed {
            self.apply(event, at);
        }
        *self != before
    }

    fn apply(&mut self, event: &ReportingEvent, at: i64) {
        let update = event.update_id.update_id;
        match event.event_id {
            event::STATUS => self.status(event, at),
            event::SCAN_SUCCEEDED | event::SCAN_FAILED => self.scan(event, at),
            event::INSTALL_FAILED if !update.is_nil() => self.install_failed(update, event.win32_hresult, at),
            event::INSTALL_SUCCEEDED if !update.is_nil() => self.installed_at(update, at),
            event::INSTALL_PENDING | event::INSTALL_SUCCEEDED_REBOOT if !update.is_nil() => {
                self.failed.remove(&update);
                self.pending_reboot.insert(update, at);
            }
            event::REBOOT_COMPLETED => self.rebooted(update, at),
            _ => {}
        }
    }

    /// 156: the lists replace the previous ones; failures and pending reboots stay unless
    /// this report shows the update installed after them.
    fn status(&mut self, event: &ReportingEvent, at: i64) {
        if self.status_at.is_some_and(|previous| previous > at) {
            return;
        }
        self.status_at = Some(at);
        self.needed = misc_list(event, "U");
        self.installed = misc_list(event, "V");
        for update in misc_list(event, "W") {
            self.pending_reboot.entry(update).or_insert(at);
        }
        let installed = &self.installed;
        self.failed
            .retain(|update, failure| failure.at > at || !installed.contains(update));
        self.pending_reboot
            .retain(|update, since| *since >= at || !installed.contains(update));
    }

    fn scan(&mut self, event: &ReportingEvent, at: i64) {
        if self.last_scan.as_ref().is_some_and(|scan| scan.at > at) {
            return;
        }
        let succeeded = event.event_id == event::SCAN_SUCCEEDED;
        let detail = event.replacement_strings.first().cloned().unwrap_or_else(|| {
            if succeeded {
                String::new()
            } else {
                format!("{:#010x}", event.win32_hresult)
            }
        });
        self.last_scan = Some(ScanOutcome {
            at,
            succeeded,
            detail,
        });
    }

    fn install_failed(&mut self, update: Uuid, hresult: i32, at: i64) {
        if self.failed.get(&update).is_some_and(|f| f.at > at) {
            return;
        }
        self.failed.insert(update, Failure { hresult, at });
    }

    fn installed_at(&mut self, update: Uuid, at: i64) {
        if self.failed.get(&update).is_some_and(|f| f.at > at) {
            return;
        }
        self.failed.remove(&update);
        self.needed.remove(&update);
        self.installed.insert(update);
    }

    /// 202: the reboot finished the installs that waited for it (only `update`'s, when the
    /// event names one).
    fn rebooted(&mut self, update: Uuid, at: i64) {
        let finished: Vec<Uuid> = self
            .pending_reboot
            .iter()
            .filter(|(id, since)| **since <= at && (update.is_nil() || **id == update))
            .map(|(id, _)| *id)
            .collect();
        for id in finished {
            self.pending_reboot.remove(&id);
            self.needed.remove(&id);
            self.installed.insert(id);
        }
    }
}

/// `TimeAtTarget` as unix milliseconds; `None` when unreadable (the event is ignored).
pub(crate) fn event_time(event: &ReportingEvent) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(event.time_at_target.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The update ids of a `MiscData` list tag (`U=GUID;GUID;...`); unreadable entries skipped.
fn misc_list(event: &ReportingEvent, tag: &str) -> BTreeSet<Uuid> {
    event
        .misc_data
        .iter()
        .filter_map(|entry| entry.split_once('='))
        .filter(|(key, _)| *key == tag)
        .flat_map(|(_, ids)| ids.split(';'))
        .filter_map(|id| Uuid::parse_str(id.trim()).ok())
        .collect()
}

#[cfg(test)]
mod tests;
