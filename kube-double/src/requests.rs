//! The request log: every API request with its outcome, for tests to count and inspect.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One served API request (control calls under `/_double` are not recorded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Order of arrival, from 1.
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// The raw query string, empty when there is none.
    pub query: String,
    /// The HTTP status answered (for watches: of the response head).
    pub status: u16,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub unix_ms: u64,
    /// For POST/PUT/PATCH/DELETE: the body, as JSON when it parses, else as a string.
    pub body: Option<Value>,
    /// Whether an injected fault answered it.
    pub faulted: bool,
}

impl RecordedRequest {
    pub fn is_watch(&self) -> bool {
        self.query
            .split('&')
            .any(|p| p == "watch=true" || p == "watch=1")
    }
}

/// The bounded request log.
#[derive(Debug)]
pub struct RequestLog {
    entries: Vec<RecordedRequest>,
    next_seq: u64,
    limit: usize,
}

impl RequestLog {
    pub fn new(limit: usize) -> Self {
        Self {
            entries: Vec::new(),
            next_seq: 1,
            limit: limit.max(1),
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub fn push(&mut self, request: RecordedRequest) {
        if self.entries.len() >= self.limit {
            self.entries.remove(0);
        }
        self.entries.push(request);
    }

    pub fn entries(&self) -> Vec<RecordedRequest> {
        let mut entries = self.entries.clone();
        entries.sort_by_key(|r| r.seq);
        entries
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
