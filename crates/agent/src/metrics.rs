//! The agent's Prometheus metrics (OpenMetrics text via `prometheus-client`), all
//! prefixed `cairn_agent_`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Counters and gauges the runtime updates and `/metrics` exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `cairn_agent_reports_enqueued_total{kind}`: reports added to the queue, by report
    /// kind (`heartbeat`, `resource`, `challenge_response`, `beacon`, `witness`,
    /// `sensor_reading`).
    pub reports_enqueued: Family<Labels, Counter>,
    /// `cairn_agent_reports_sent_total`: reports submitted (retries count again).
    pub reports_sent: Counter,
    /// `cairn_agent_reports_acked_total`: reports ingest wrote durably.
    pub reports_acked: Counter,
    /// `cairn_agent_reports_duplicate_total`: reports ingest already had.
    pub reports_duplicate: Counter,
    /// `cairn_agent_reports_dropped_total{reason}`: reports given up: `queue_full`,
    /// `invalid_argument`, `failed_precondition`, `too_large`.
    pub reports_dropped: Family<Labels, Counter>,
    /// `cairn_agent_sessions_opened_total`.
    pub sessions_opened: Counter,
    /// `cairn_agent_reconnects_total`: connection attempts after the first.
    pub reconnects: Counter,
    /// `cairn_agent_queue_length`.
    pub queue_length: Gauge,
    /// `cairn_agent_connected`: 1 while a session is open.
    pub connected: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cairn_agent");
        let m = Metrics {
            registry: Registry::default(),
            reports_enqueued: Family::default(),
            reports_sent: Counter::default(),
            reports_acked: Counter::default(),
            reports_duplicate: Counter::default(),
            reports_dropped: Family::default(),
            sessions_opened: Counter::default(),
            reconnects: Counter::default(),
            queue_length: Gauge::default(),
            connected: Gauge::default(),
        };
        registry.register(
            "reports_enqueued",
            "Reports added to the local queue, by report kind",
            m.reports_enqueued.clone(),
        );
        registry.register(
            "reports_sent",
            "Reports submitted to ingest, retries included",
            m.reports_sent.clone(),
        );
        registry.register(
            "reports_acked",
            "Reports ingest acknowledged as newly durable",
            m.reports_acked.clone(),
        );
        registry.register(
            "reports_duplicate",
            "Reports ingest already held",
            m.reports_duplicate.clone(),
        );
        registry.register(
            "reports_dropped",
            "Reports given up, by reason",
            m.reports_dropped.clone(),
        );
        registry.register(
            "sessions_opened",
            "Ingest sessions opened",
            m.sessions_opened.clone(),
        );
        registry.register(
            "reconnects",
            "Connection attempts to ingest after the first",
            m.reconnects.clone(),
        );
        registry.register(
            "queue_length",
            "Reports waiting in the local queue",
            m.queue_length.clone(),
        );
        registry.register(
            "connected",
            "1 while a session with ingest is open, else 0",
            m.connected.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Count one report enqueued of this kind.
    pub fn enqueued(&self, kind: &str) {
        self.reports_enqueued
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    /// Count `n` reports dropped for `reason`.
    pub fn dropped(&self, reason: &str, n: u64) {
        self.reports_dropped
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc_by(n);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
