//! What clients tell the server, kept per client: the computer record and the folded update
//! status (JSON chosen by the caller), and the raw events, each once by its instance id.

use super::{Store, StoreError};
use uuid::Uuid;

impl Store {
    /// Stores what we know of a computer (JSON chosen by the caller), by client id.
    pub fn put_computer(&self, client_id: &str, json: &str) -> Result<(), StoreError> {
        self.computers.insert(client_id.as_bytes(), json.as_bytes())?;
        Ok(())
    }

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

    /// Stores an event unless one with the same instance id is already stored; returns true
    /// when it was new.
    pub fn put_event(&self, instance_id: &Uuid, json: &str) -> Result<bool, StoreError> {
        let swapped =
            self.events
                .compare_and_swap(instance_id.as_bytes(), None::<&[u8]>, Some(json.as_bytes()))?;
        Ok(swapped.is_ok())
    }

    /// Events stored, duplicates not counted.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Stores a client's folded update status (JSON chosen by the caller).
    pub fn put_status(&self, client_id: &str, json: &str) -> Result<(), StoreError> {
        self.statuses.insert(client_id.as_bytes(), json.as_bytes())?;
        Ok(())
    }

    pub(crate) fn status(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .statuses
            .get(client_id.as_bytes())?
            .map(|raw| String::from_utf8_lossy(&raw).into_owned()))
    }
}
