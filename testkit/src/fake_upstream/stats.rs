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
    /// Content GET/HEAD requests for registered files, including those answered with an
    /// injected status or 416.
    pub content_requests: u64,
    /// Payload bytes handed to connections by content responses, all files together.
    pub content_bytes: u64,
    /// Per payload, by lower-case SHA-1 hex; see [`Stats::file`].
    pub files: BTreeMap<String, FileStats>,
    /// Content GETs being answered right now: from the request's arrival (an injected
    /// [`content_delay`](super::Faults::content_delay) included) until its body's last byte is
    /// handed to the connection or the response is dropped.
    pub content_active: usize,
    /// The most content GETs ever answered at once (the peak of `content_active`).
    pub content_peak_active: usize,
}

/// What happened to one payload file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStats {
    /// GET/HEAD requests at either of its paths, as in [`Stats::content_requests`].
    pub requests: u64,
    /// GETs answered 200 or 206, ranged or not: transfers that started, finished or not.
    pub transfers: u64,
    /// Body bytes handed to connections (a cut or abandoned transfer counts what went out).
    pub bytes: u64,
    /// The `Range` header of each request, in arrival order (`None`: no header).
    pub ranges: Vec<Option<String>>,
    /// GETs of this file being answered right now, as in [`Stats::content_active`].
    pub active: usize,
    /// Bodies dropped before their last byte was handed over (not by an injected cut): the
    /// client closed the connection mid-transfer.
    pub unfinished: u64,
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

    /// What happened to the file with this SHA-1 (hex, any case); zeros if never asked for.
    pub fn file(&self, sha1_hex: &str) -> FileStats {
        self.files
            .get(&sha1_hex.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// Counts one content request for `sha1_hex` (lower case) with its `Range` header.
    pub(super) fn count_content_request(&mut self, sha1_hex: &str, range: Option<String>) {
        self.content_requests += 1;
        let file = self.files.entry(sha1_hex.to_owned()).or_default();
        file.requests += 1;
        file.ranges.push(range);
    }

    pub(super) fn count_transfer(&mut self, sha1_hex: &str) {
        self.files.entry(sha1_hex.to_owned()).or_default().transfers += 1;
    }

    pub(super) fn count_content_bytes(&mut self, sha1_hex: &str, bytes: u64) {
        self.content_bytes += bytes;
        self.files.entry(sha1_hex.to_owned()).or_default().bytes += bytes;
    }

    /// One more content GET of `sha1_hex` being answered; raises the peak if need be.
    pub(super) fn transfer_started(&mut self, sha1_hex: &str) {
        self.content_active += 1;
        self.content_peak_active = self.content_peak_active.max(self.content_active);
        self.files.entry(sha1_hex.to_owned()).or_default().active += 1;
    }

    pub(super) fn transfer_ended(&mut self, sha1_hex: &str) {
        self.content_active = self.content_active.saturating_sub(1);
        let file = self.files.entry(sha1_hex.to_owned()).or_default();
        file.active = file.active.saturating_sub(1);
    }

    pub(super) fn count_unfinished(&mut self, sha1_hex: &str) {
        self.files.entry(sha1_hex.to_owned()).or_default().unfinished += 1;
    }

    pub(super) fn count_call(&mut self, op: &str) {
        *self.calls.entry(op.to_owned()).or_default() += 1;
    }

    pub(super) fn count_fault(&mut self, code: &str) {
        *self.faults.entry(code.to_owned()).or_default() += 1;
    }
}
