//! What clients tell the server, kept per client: the computer record (JSON chosen by the
//! caller), the folded update status (`STATUS_FORMAT` and postcard), and the raw events — each once by its instance id,
//! keyed by client and arrival so one client's events can be trimmed oldest first and old
//! ones removed by age.

use super::{Store, StoreError};
use crate::fleet::MachineStatus;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::sync::atomic::Ordering;
use uuid::Uuid;

impl Store {
    /// Stores what we know of a computer (JSON chosen by the caller), by client id.
    pub fn put_computer(&self, client_id: &str, json: &str) -> Result<(), StoreError> {
        if self
            .computers
            .insert(client_id.as_bytes(), json.as_bytes())?
            .is_none()
        {
            self.computer_count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Whether a computer with this client id is stored.
    pub fn has_computer(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.computers.contains_key(client_id.as_bytes())?)
    }

    /// Computers stored.
    pub fn computer_count(&self) -> u64 {
        self.computer_count.load(Ordering::Relaxed)
    }

    pub(super) fn count_computers(&self) {
        let count = self.computers.iter().keys().count() as u64;
        self.computer_count.store(count, Ordering::Relaxed);
    }

    /// What is stored of a computer (its JSON), by client id.
    pub(crate) fn computer(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .computers
            .get(client_id.as_bytes())?
            .map(|raw| String::from_utf8_lossy(&raw).into_owned()))
    }

    /// Every stored computer's JSON.
    pub fn computers(&self) -> Result<Vec<String>, StoreError> {
        self.computers
            .iter()
            .values()
            .map(|v| Ok(String::from_utf8_lossy(&v?).into_owned()))
            .collect()
    }

    /// Stores a client's event unless one with the same instance id is already stored;
    /// returns true when it was new. `received_ms`: arrival, unix milliseconds.
    pub fn put_event(
        &self,
        client_id: &str,
        instance_id: &Uuid,
        received_ms: i64,
        json: &str,
    ) -> Result<bool, StoreError> {
        let key = event_key(client_id, received_ms, self.db.generate_id()?, instance_id);
        let result = (&self.events, &self.client_events).transaction(|(index, events)| {
            if index.get(instance_id.as_bytes())?.is_some() {
                return Ok(false);
            }
            index.insert(instance_id.as_bytes(), key.as_slice())?;
            events.insert(key.as_slice(), json.as_bytes())?;
            Ok(true)
        });
        result.map_err(|err: TransactionError<StoreError>| match err {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// A client's stored events, oldest first (JSON as stored).
    pub fn client_events(&self, client_id: &str) -> Result<Vec<String>, StoreError> {
        self.client_events
            .scan_prefix(client_prefix(client_id))
            .values()
            .map(|v| Ok(String::from_utf8_lossy(&v?).into_owned()))
            .collect()
    }

    /// Removes a client's oldest events beyond `keep`; returns how many went.
    pub fn trim_client_events(&self, client_id: &str, keep: u64) -> Result<u64, StoreError> {
        let keys: Vec<sled::IVec> = self
            .client_events
            .scan_prefix(client_prefix(client_id))
            .keys()
            .collect::<Result<_, _>>()?;
        let excess = keys.len().saturating_sub(keep as usize);
        for key in &keys[..excess] {
            self.remove_event(key)?;
        }
        Ok(excess as u64)
    }

    /// Removes every event that arrived before `cutoff_ms` (unix milliseconds); returns how
    /// many went. Walks all events: a periodic clean-up, not a per-request call.
    pub fn remove_events_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for key in self.client_events.iter().keys() {
            let key = key?;
            if arrival(&key).is_some_and(|at| at < cutoff_ms) {
                self.remove_event(&key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn remove_event(&self, key: &[u8]) -> Result<(), StoreError> {
        let instance = &key[key.len().saturating_sub(16)..];
        let result = (&self.events, &self.client_events).transaction(|(index, events)| {
            index.remove(instance)?;
            events.remove(key)?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        });
        result.map_err(|err| match err {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Events stored (a walk of the index: for tests and occasional reports).
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Stores a client's folded update status.
    pub(crate) fn put_machine_status(
        &self,
        client_id: &str,
        status: &MachineStatus,
    ) -> Result<(), StoreError> {
        let value = postcard::to_extend(status, vec![STATUS_FORMAT])
            .map_err(|e| StoreError::Corrupt(format!("machine status of {client_id}: {e}")))?;
        self.statuses.insert(client_id.as_bytes(), value)?;
        Ok(())
    }

    /// A client's folded update status, if it reported; a stored value that does not decode
    /// is `StoreError::Corrupt`.
    pub(crate) fn machine_status(&self, client_id: &str) -> Result<Option<MachineStatus>, StoreError> {
        self.statuses
            .get(client_id.as_bytes())?
            .map(|raw| {
                decode_status(&raw)
                    .map_err(|e| StoreError::Corrupt(format!("machine status of {client_id}: {e}")))
            })
            .transpose()
    }

    /// `put_machine_status` from the status's JSON (for tools and tests outside the crate).
    pub fn put_status(&self, client_id: &str, json: &str) -> Result<(), StoreError> {
        let status: MachineStatus = serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("machine status of {client_id}: {e}")))?;
        self.put_machine_status(client_id, &status)
    }

    /// A client's folded update status as JSON, if it reported.
    pub fn status(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .machine_status(client_id)?
            .map(|status| serde_json::to_string(&status).unwrap_or_default()))
    }
}

/// The first byte of a stored status: postcard follows (an update id takes 16 bytes, against
/// 39 in JSON; sled keeps recently read pages in memory, so a fleet's statuses read at
/// start-up cost memory in proportion). A value starting with `{` is the JSON that stores
/// written before 2026-12 hold.
const STATUS_FORMAT: u8 = 1;

fn decode_status(raw: &[u8]) -> Result<MachineStatus, String> {
    match raw.split_first() {
        Some((&STATUS_FORMAT, body)) => postcard::from_bytes(body).map_err(|e| e.to_string()),
        Some((b'{', _)) => serde_json::from_slice(raw).map_err(|e| e.to_string()),
        _ => Err("neither a status record nor JSON".into()),
    }
}

/// The prefix of one client's events: its id and a 0x00 (client ids never hold one).
fn client_prefix(client_id: &str) -> Vec<u8> {
    let mut prefix = client_id.as_bytes().to_vec();
    prefix.push(0);
    prefix
}

/// Client prefix, arrival (ms), a store-wide sequence number (so events of one millisecond
/// keep their arrival order), instance id.
fn event_key(client_id: &str, received_ms: i64, sequence: u64, instance_id: &Uuid) -> Vec<u8> {
    let mut key = client_prefix(client_id);
    key.extend_from_slice(&(received_ms.max(0) as u64).to_be_bytes());
    key.extend_from_slice(&sequence.to_be_bytes());
    key.extend_from_slice(instance_id.as_bytes());
    key
}

/// The arrival time in an event key (before the sequence number and the instance id).
fn arrival(key: &[u8]) -> Option<i64> {
    let end = key.len().checked_sub(24)?;
    let raw: [u8; 8] = key.get(end.checked_sub(8)?..end)?.try_into().ok()?;
    Some(u64::from_be_bytes(raw) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// A status is stored compact and reads back whole; the JSON that older stores hold
    /// still reads; a value that is neither is a corrupt status, not a panic.
    #[test]
    fn statuses_are_stored_compact_and_older_json_still_reads() {
        let (_dir, store) = open();
        let ids: Vec<Uuid> = (0..300u128).map(|n| Uuid::from_u128(n * 7_919 + 1)).collect();
        let json = format!(
            "{{\"status_at\":1764583200000,\"needed\":[{}],\"installed\":[{}],\"pending_reboot\":{{\"{}\":5}},\"failed\":{{\"{}\":{{\"hresult\":-2145099769,\"at\":7}}}},\"last_scan\":{{\"at\":9,\"succeeded\":true,\"detail\":\"12\"}}}}",
            ids[..30].iter().map(|id| format!("\"{id}\"")).collect::<Vec<_>>().join(","),
            ids[30..298].iter().map(|id| format!("\"{id}\"")).collect::<Vec<_>>().join(","),
            ids[298],
            ids[299],
        );
        let expected: MachineStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(expected.installed.len(), 268);

        store.put_status("pc", &json).unwrap();
        let raw = store.statuses.get("pc").unwrap().unwrap();
        assert_eq!(raw[0], STATUS_FORMAT);
        assert!(raw.len() * 2 < json.len(), "{} vs {}", raw.len(), json.len());
        assert_eq!(store.machine_status("pc").unwrap(), Some(expected.clone()));
        let back: MachineStatus = serde_json::from_str(&store.status("pc").unwrap().unwrap()).unwrap();
        assert_eq!(back, expected);

        store.statuses.insert("old", json.as_bytes()).unwrap();
        assert_eq!(store.machine_status("old").unwrap(), Some(expected));
        for bad in [&b"\x01\xff\xff\xff"[..], b"{not json", b"garbage", b""] {
            store.statuses.insert("bad", bad).unwrap();
            assert!(
                matches!(store.machine_status("bad"), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
        assert_eq!(store.machine_status("nobody").unwrap(), None);
    }

    #[test]
    fn events_are_deduplicated_by_instance_id_across_clients() {
        let (_dir, store) = open();
        let id = Uuid::from_u128(5);
        assert!(store.put_event("a", &id, 10, "{}").unwrap());
        assert!(!store.put_event("a", &id, 11, "{\"again\":1}").unwrap());
        assert!(!store.put_event("b", &id, 12, "{}").unwrap());
        assert_eq!(store.event_count(), 1);
        assert_eq!(store.client_events("a").unwrap(), ["{}"]);
        assert!(store.client_events("b").unwrap().is_empty());
    }

    #[test]
    fn trimming_keeps_a_clients_newest_events_and_touches_no_other_client() {
        let (_dir, store) = open();
        for n in 0..10u128 {
            store
                .put_event("pc", &Uuid::from_u128(n), 1_000 + n as i64, &format!("{n}"))
                .unwrap();
        }
        store.put_event("pc2", &Uuid::from_u128(99), 5, "other").unwrap();
        // "pc" is a prefix of "pc2": the 0x00 separator keeps them apart.
        assert_eq!(store.trim_client_events("pc", 3).unwrap(), 7);
        assert_eq!(store.client_events("pc").unwrap(), ["7", "8", "9"]);
        assert_eq!(store.client_events("pc2").unwrap(), ["other"]);
        assert_eq!(store.event_count(), 4, "the index shrinks with the events");
        assert!(
            store.put_event("pc", &Uuid::from_u128(0), 2_000, "back").unwrap(),
            "a trimmed event's id is free again"
        );
    }

    #[test]
    fn events_older_than_the_cutoff_are_removed() {
        let (_dir, store) = open();
        store.put_event("a", &Uuid::from_u128(1), 100, "old").unwrap();
        store.put_event("b", &Uuid::from_u128(2), 200, "new").unwrap();
        assert_eq!(store.remove_events_before(150).unwrap(), 1);
        assert!(store.client_events("a").unwrap().is_empty());
        assert_eq!(store.client_events("b").unwrap(), ["new"]);
    }

    #[test]
    fn the_computer_count_follows_inserts_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.put_computer("a", "{}").unwrap();
            store.put_computer("a", "{\"again\":1}").unwrap();
            store.put_computer("b", "{}").unwrap();
            assert_eq!(store.computer_count(), 2);
            assert!(store.has_computer("a").unwrap());
        }
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.computer_count(), 2);
    }
}
