//! The sync history: each run's summary (JSON chosen by the caller) under its start time,
//! the newest kept.

use super::{Store, StoreError};

impl Store {
    /// Adds a sync's summary (JSON chosen by the caller) under its start time and drops the
    /// oldest beyond `keep`.
    pub fn add_sync(&self, started: &str, json: &str, keep: usize) -> Result<(), StoreError> {
        self.syncs.insert(started.as_bytes(), json.as_bytes())?;
        let excess = self.syncs.len().saturating_sub(keep);
        let oldest: Vec<sled::IVec> = self.syncs.iter().keys().take(excess).collect::<Result<_, _>>()?;
        for key in oldest {
            self.syncs.remove(key)?;
        }
        Ok(())
    }

    /// The kept sync summaries, newest first.
    pub fn syncs(&self) -> Result<Vec<String>, StoreError> {
        self.syncs
            .iter()
            .rev()
            .map(|entry| Ok(String::from_utf8_lossy(&entry?.1).into_owned()))
            .collect()
    }
}
