//! The agent's status as `GET /status` shows it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;

/// A snapshot of what the agent is doing. Holds no secrets: `last_error` is a message
/// only, and session ids and keys are never recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgentStatus {
    /// The device key as `did:key:z6Mk…`.
    pub device: String,
    /// Device kind (`coverage`, `storage`, `compute`, `sensor`).
    pub kind: String,
    pub network: String,
    /// The ingest endpoint.
    pub ingest: String,
    /// Seconds since the agent started.
    pub uptime_s: u64,
    /// Whether a session with ingest is open.
    pub connected: bool,
    /// When the current session ends (Unix ms, server's clock).
    pub session_expires_at_ms: Option<u64>,
    /// Reports waiting in the queue.
    pub queue_len: u64,
    /// Reports submitted (retries count again).
    pub reports_sent: u64,
    /// Reports ingest wrote durably.
    pub reports_acked: u64,
    /// Reports ingest already had.
    pub reports_duplicate: u64,
    /// Reports given up (queue full, or refused as malformed or too old).
    pub reports_dropped: u64,
    /// When ingest last acknowledged reports (Unix ms, device clock).
    pub last_ack_ms: Option<u64>,
    /// The last error, as a message.
    pub last_error: Option<String>,
}

/// Shared, cheaply cloned handle to the live status.
#[derive(Debug, Clone)]
pub struct StatusHandle {
    inner: Arc<Mutex<AgentStatus>>,
    started: Instant,
}

impl StatusHandle {
    pub fn new(initial: AgentStatus) -> Self {
        StatusHandle {
            inner: Arc::new(Mutex::new(initial)),
            started: Instant::now(),
        }
    }

    /// The current status, with `uptime_s` filled in.
    pub fn snapshot(&self) -> AgentStatus {
        let mut s = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        s.uptime_s = self.started.elapsed().as_secs();
        s
    }

    /// Change the status.
    pub fn update(&self, f: impl FnOnce(&mut AgentStatus)) {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// When this handle was created (the agent's start).
    pub fn started(&self) -> Instant {
        self.started
    }
}
