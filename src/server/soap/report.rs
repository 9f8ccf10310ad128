//! What clients tell us: authorization (with the target group asked for), RegisterComputer
//! (the inventory), contact times, and ReportEventBatch (events stored, de-duplicated by
//! EventInstanceID, and the new ones folded into the machine's update status).

use super::auth::require_cookie;
use super::{internal, Context};
use crate::cookie::AccessState;
use crate::fleet::computer::{bounded_computer, bounded_event};
use crate::fleet::{ComputerRecord, MachineStatus, StoredEvent};
use crate::protocol::wusp::{ClientFault, ErrorCode, RegisterComputerRequest, ReportEventBatchRequest};
use crate::store::StoreError;
use std::sync::atomic::Ordering;

fn now_text(context: &Context<'_>) -> String {
    chrono::DateTime::from_timestamp(context.now, 0)
        .unwrap_or_default()
        .to_rfc3339()
}

fn load(context: &Context<'_>, client_id: &str) -> ComputerRecord {
    context
        .app
        .store
        .computer(client_id)
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_else(|| ComputerRecord {
            client_id: client_id.to_string(),
            first_seen: now_text(context),
            ..ComputerRecord::default()
        })
}

fn save(context: &Context<'_>, record: &ComputerRecord) -> Result<(), ClientFault> {
    let json = serde_json::to_string(record).map_err(|e| internal("computer record", e))?;
    context
        .app
        .store
        .put_computer(&record.client_id, &json)
        .map_err(|e| internal("computer record", e))?;
    context.app.fleet.touch(&record.client_id);
    Ok(())
}

/// SimpleAuth: remember the client and the group it asked for (failures only logged: the
/// handshake must not depend on bookkeeping).
pub(super) fn note_authorization(context: &Context<'_>, client_id: &str, dns_name: &str, groups: &[String]) {
    if !may_record(context, client_id) {
        return;
    }
    let mut record = load(context, client_id);
    if record.requested_groups != groups {
        log_assignment(context, client_id, dns_name, groups);
    }
    record.dns_name = dns_name.to_string();
    record.requested_groups = groups.to_vec();
    note_peer(context, &mut record);
    record.last_authorization = now_text(context);
    if let Err(fault) = save(context, &record) {
        tracing::warn!(client = client_id, error = ?fault, "recording a client's authorization failed");
    }
}

/// One line when a client first asks for its groups (or changes them): which patch group
/// and baseline it gets, and a warning when it names only groups no baseline file registers.
fn log_assignment(context: &Context<'_>, client_id: &str, dns_name: &str, groups: &[String]) {
    let assignment = context.snapshot.assignment(groups);
    let requested = groups.join(";");
    if assignment.group.is_none() && !groups.is_empty() && context.app.baselines().is_some() {
        tracing::warn!(
            client = client_id,
            computer = dns_name,
            requested = %requested,
            baseline = %assignment.baseline_id,
            "client asked for a TargetGroup no patch group registers; it gets the default baseline"
        );
        return;
    }
    tracing::info!(
        client = client_id,
        computer = dns_name,
        requested = %requested,
        group = assignment.group.as_deref().unwrap_or("default"),
        baseline = %assignment.baseline_id,
        "client authorized"
    );
}

pub(super) fn register_computer(
    context: &Context<'_>,
    request: &RegisterComputerRequest,
) -> Result<(), ClientFault> {
    let state = require_cookie(context, request.cookie.as_ref())?;
    if !may_record(context, &state.client_id) {
        return Err(internal(
            "RegisterComputer",
            "the computer limit is reached ([reporting] max_computers)",
        ));
    }
    let mut record = load(context, &state.client_id);
    record.registered = true;
    record.computer = bounded_computer(&request.computer);
    note_peer(context, &mut record);
    if !record.computer.dns_name.is_empty() {
        record.dns_name = record.computer.dns_name.clone();
    }
    save(context, &record)
}

/// SyncUpdates needs a registered client (`IsRegistrationRequired` is true).
/// The client's computer record, when it registered.
pub(super) fn require_registered(
    context: &Context<'_>,
    state: &AccessState,
) -> Result<ComputerRecord, ClientFault> {
    context
        .app
        .store
        .computer(&state.client_id)
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str::<ComputerRecord>(&json).ok())
        .filter(|r| r.registered)
        .ok_or_else(|| ClientFault::new(ErrorCode::RegistrationRequired, ""))
}

/// Notes the time of a SyncUpdates call in the computer record, at most once a minute: a
/// scan is tens of calls, and one store write per call was bookkeeping nobody reads at that
/// precision.
pub(super) fn note_sync(context: &Context<'_>, mut record: ComputerRecord) {
    let now = now_text(context);
    if same_minute(&record.last_sync, &now) {
        return;
    }
    record.last_sync = now;
    let _ = save(context, &record);
}

/// Whether two RFC 3339 times (as `now_text` writes them) fall in the same minute.
fn same_minute(a: &str, b: &str) -> bool {
    const MINUTE: usize = "2026-01-01T00:00".len();
    a.len() >= MINUTE && b.len() >= MINUTE && a[..MINUTE] == b[..MINUTE]
}

/// Events taken from one ReportEventBatch; the rest are dropped (counted). Windows sends a
/// few dozen at most.
const MAX_EVENTS_PER_BATCH: usize = 1000;

/// Stores each event once (by EventInstanceID), its strings bounded; answers `true` as WSUS
/// does.
pub(super) fn report_event_batch(
    context: &Context<'_>,
    request: &ReportEventBatchRequest,
) -> Result<bool, ClientFault> {
    let state = require_cookie(context, request.cookie.as_ref())?;
    let reporting = &context.app.reporting;
    if !context
        .app
        .store
        .has_computer(&state.client_id)
        .map_err(|e| internal("computer record", e))?
    {
        reporting
            .events_dropped
            .fetch_add(request.events.len() as u64, Ordering::Relaxed);
        return Ok(true);
    }
    let received = now_text(context);
    let mut new_events = Vec::new();
    let allowed = context.peer.map_or(u64::MAX, |peer| {
        let wanted = request.events.len().min(MAX_EVENTS_PER_BATCH) as u64;
        context.app.admission.events.take(peer, wanted)
    });
    let (taken, beyond) = request.events.split_at(
        request
            .events
            .len()
            .min(MAX_EVENTS_PER_BATCH)
            .min(allowed as usize),
    );
    reporting
        .events_dropped
        .fetch_add(beyond.len() as u64, Ordering::Relaxed);
    for event in taken {
        let stored = StoredEvent {
            client_id: state.client_id.clone(),
            received: received.clone(),
            event: bounded_event(event),
        };
        let json = serde_json::to_string(&stored).map_err(|e| internal("event", e))?;
        if context
            .app
            .store
            .put_event(
                &state.client_id,
                &event.event_instance_id,
                context.now * 1000,
                &json,
            )
            .map_err(|e| internal("event", e))?
        {
            new_events.push(event);
        }
    }
    fold_status(context, &state.client_id, &new_events)?;
    let keep = context.app.config.reporting.max_events_per_computer;
    let trimmed = context
        .app
        .store
        .trim_client_events(&state.client_id, keep)
        .map_err(|e| internal("event", e))?;
    reporting.events_dropped.fetch_add(trimmed, Ordering::Relaxed);
    tracing::info!(
        client = %state.client_id,
        events = request.events.len(),
        new = new_events.len(),
        dropped = trimmed,
        "report received"
    );
    let mut record = load(context, &state.client_id);
    record.last_report = received;
    record.events_received += new_events.len() as u64;
    save(context, &record)?;
    Ok(true)
}

/// The address the request came from, when the listener knows it.
fn note_peer(context: &Context<'_>, record: &mut ComputerRecord) {
    if let Some(peer) = context.peer {
        record.ip = peer.to_string();
    }
}

/// Whether a client may be recorded: it already is, or fewer than `[reporting]
/// max_computers` computers are (concurrent first contacts may overshoot by a few). A refusal
/// is counted, and logged at the first and every 1,000th.
fn may_record(context: &Context<'_>, client_id: &str) -> bool {
    let store = &context.app.store;
    if store.has_computer(client_id).unwrap_or(false) {
        return true;
    }
    let limit = context.app.config.reporting.max_computers;
    if store.computer_count() < limit {
        let allowed = context
            .peer
            .is_none_or(|peer| context.app.admission.new_computers.allow(peer));
        if !allowed {
            let limited = context
                .app
                .reporting
                .computers_rate_limited
                .fetch_add(1, Ordering::Relaxed);
            if limited % 1000 == 0 {
                tracing::warn!(
                    client = client_id,
                    peer = ?context.peer,
                    limited = limited + 1,
                    "new computers from one address over [reporting] new_computers_per_minute_per_ip: served, not recorded"
                );
            }
        }
        return allowed;
    }
    let refused = context
        .app
        .reporting
        .computers_refused
        .fetch_add(1, Ordering::Relaxed);
    if refused % 1000 == 0 {
        tracing::warn!(
            client = client_id,
            limit,
            refused = refused + 1,
            "computer limit reached ([reporting] max_computers): new client ids are served but not recorded"
        );
    }
    false
}

/// Folds newly stored events into the machine's update status (docs/protocol.md §6.3).
fn fold_status(
    context: &Context<'_>,
    client_id: &str,
    events: &[&crate::protocol::wusp::ReportingEvent],
) -> Result<(), ClientFault> {
    let store = &context.app.store;
    let mut status: MachineStatus = match store.machine_status(client_id) {
        Ok(status) => status.unwrap_or_default(),
        // Folded again from this report on: the events themselves are stored apart.
        Err(StoreError::Corrupt(what)) => {
            tracing::warn!(
                client_id,
                what,
                "a stored machine status does not decode; starting it again"
            );
            MachineStatus::default()
        }
        Err(err) => return Err(internal("machine status", err)),
    };
    if !status.apply_all(events.iter().copied()) {
        return Ok(());
    }
    store
        .put_machine_status(client_id, &status)
        .map_err(|e| internal("machine status", e))?;
    context.app.fleet.touch(client_id);
    Ok(())
}
