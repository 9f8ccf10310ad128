//! What the fake upstream was asked and what it answered, for assertions.

use std::collections::BTreeMap;

/// A snapshot of the fake's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// SOAP calls received per operation name (as named by SOAPAction or the body), including
    /// calls that were answered with a fault or an injected failure.
    pub calls: BTreeMap<String, u64>,
    /// Update documents returned by successful GetUpdateData calls.
    pub documents_returned: u64,
    /// The most ids seen in one GetUpdateData request (also when it faulted).
    pub max_ids_per_get_update_data: usize,
    /// SOAP faults sent per `ErrorCode` (`NoErrorCode` for ASP.NET-level faults).
    pub faults: BTreeMap<String, u64>,
    /// Injected bare HTTP errors sent.
    pub http_errors: u64,
    /// Injected connection resets.
    pub resets: u64,
    /// Content GET/HEAD requests answered with a file.
    pub content_requests: u64,
    /// Payload bytes sent by content requests.
    pub content_bytes: u64,
}

impl Stats {
    /// Calls received for `op`.
    pub fn call_count(&self, op: &str) -> u64 {
        self.calls.get(op).copied().unwrap_or(0)
    }

    /// Faults sent with `ErrorCode` `code`.
    pub fn fault_count(&self, code: &str) -> u64 {
        self.faults.get(code).copied().unwrap_or(0)
    }

    pub(super) fn count_call(&mut self, op: &str) {
        *self.calls.entry(op.to_owned()).or_default() += 1;
    }

    pub(super) fn count_fault(&mut self, code: &str) {
        *self.faults.entry(code.to_owned()).or_default() += 1;
    }
}
