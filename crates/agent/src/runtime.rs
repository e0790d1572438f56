//! The agent's runtime: a producer that schedules reports into the queue, a sender that
//! keeps a session with ingest and drains the queue, a challenge listener per session,
//! and the admin endpoint.
//!
//! - **Producer**: a resource report at start and every `resource_interval_s`, a
//!   heartbeat at start and every `heartbeat_interval_s`, a sensor reading every
//!   `reading_interval_s`; each interval gets ± `jitter_pct` random jitter. A radio's
//!   witness reports are collected every `LISTEN_INTERVAL_MS` (200 ms) and sent at once.
//! - **Sender**: connects (10 s connect timeout), handshakes (Hello, fresh session key,
//!   grant signed by the device key, OpenSession), submits batches of up to `batch_max`
//!   reports signed with the session key, and removes them from the queue once ingest
//!   says they are durable (accepted or duplicate). It opens a new session before the
//!   current one expires (at 80% of its length, at most 60 s early) and whenever ingest
//!   answers UNAUTHENTICATED. Connection failures back off exponentially from
//!   `backoff_initial_ms` to `backoff_max_ms` with jitter; a success resets the backoff.
//! - **Challenges**: per session, a subscription to `Challenges`; each answer goes into
//!   the queue's priority lane, ahead of ordinary reports.
//!
//! How Submit errors are handled:
//!
//! | status | action |
//! |---|---|
//! | UNAUTHENTICATED | new session, resend |
//! | ALREADY_EXISTS | every report in the batch is durable: remove them |
//! | RESOURCE_EXHAUSTED | back off, retry on the same session |
//! | UNAVAILABLE, others | back off, reconnect |
//! | PERMISSION_DENIED, NOT_FOUND | log, wait `backoff_max_ms`, retry; the queue is kept |
//! | INVALID_ARGUMENT, FAILED_PRECONDITION | batch of several: resend one by one to find the culprit; a single report: drop it, counted in `reports_dropped_total{reason}` |
//!
//! A handshake refused with NOT_FOUND (device not onboarded), PERMISSION_DENIED
//! (denylisted) or FAILED_PRECONDITION (wrong network) is logged as an error and retried
//! every `backoff_max_ms`: it needs an operator, not a quick retry.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_core::keys::Signer;
use cairn_core::{Keypair, NetworkId, PublicKey};
use cairn_proto::client::open_session;
use cairn_proto::v1::ingest_client::IngestClient;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::{Challenge, ChallengeSubscription, Heartbeat, SignedReport, SubmitRequest};
use cairn_proto::{MAX_MESSAGE_BYTES, content_id, report_signing_bytes};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::admin::{AdminError, AdminServer};
use crate::config::{AgentConfig, AgentKind};
use crate::driver::Driver;
use crate::metrics::Metrics;
use crate::queue::{Queue, QueueError};
use crate::status::{AgentStatus, StatusHandle};

/// The firmware string in heartbeats.
pub const FIRMWARE: &str = concat!("cairn-agent/", env!("CARGO_PKG_VERSION"));
/// Connect timeout for ingest.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout for each unary call to ingest.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// Challenge ids remembered to ignore a challenge delivered twice.
const RECENT_CHALLENGES: usize = 1024;

/// Why the agent could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the driver is for {driver} devices but the config says kind = {config}")]
    KindMismatch {
        driver: AgentKind,
        config: AgentKind,
    },
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("invalid ingest endpoint {url:?}: {message}")]
    Ingest { url: String, message: String },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("agent task failed: {0}")]
    Task(String),
    #[error("service endpoint: {0}")]
    Service(String),
}

/// The device agent.
#[derive(Debug)]
pub struct Agent;

pub(crate) struct Shared {
    pub(crate) config: AgentConfig,
    pub(crate) network: NetworkId,
    pub(crate) device: Keypair,
    pub(crate) device_key: PublicKey,
    queue: Mutex<Queue>,
    pub(crate) driver: Mutex<Driver>,
    status: StatusHandle,
    metrics: Arc<Metrics>,
    /// Signalled when reports are added, to wake an idle sender.
    wake: Notify,
    recent_challenges: Mutex<VecDeque<Vec<u8>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Run blocking work (queue files, driver calls) off the async threads.
pub(crate) async fn blocking<R: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> R + Send + 'static,
) -> Result<R, AgentError> {
    let s = Arc::clone(shared);
    match tokio::task::spawn_blocking(move || f(&s)).await {
        Ok(r) => Ok(r),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(AgentError::Task(e.to_string())),
    }
}

/// Milliseconds since the Unix epoch by the device clock.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    u64::from_le_bytes(b)
}

/// `base_ms` ± up to `pct` percent, uniformly.
pub fn jittered_ms(base_ms: u64, pct: u32) -> u64 {
    let spread = base_ms.saturating_mul(u64::from(pct)) / 100;
    if spread == 0 {
        return base_ms;
    }
    let offset = random_u64() % (2 * spread + 1);
    base_ms - spread + offset
}

/// Exponential backoff with jitter: each delay is drawn from [d/2, d] where d doubles
/// from the initial delay up to the maximum.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    current_ms: u64,
}

impl Backoff {
    pub fn new(initial_ms: u64, max_ms: u64) -> Self {
        let initial_ms = initial_ms.max(1);
        Backoff {
            initial_ms,
            max_ms: max_ms.max(initial_ms),
            current_ms: initial_ms,
        }
    }

    /// The next delay; the one after is up to twice as long.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current_ms;
        self.current_ms = d.saturating_mul(2).min(self.max_ms);
        let half = d / 2;
        Duration::from_millis(d - half + random_u64() % (half + 1))
    }

    /// Back to the initial delay after a success.
    pub fn reset(&mut self) {
        self.current_ms = self.initial_ms;
    }
}

/// The report kind's metric label.
pub fn body_label(body: &Body) -> &'static str {
    match body {
        Body::Heartbeat(_) => "heartbeat",
        Body::Resource(_) => "resource",
        Body::ChallengeResponse(_) => "challenge_response",
        Body::Beacon(_) => "beacon",
        Body::Witness(_) => "witness",
        Body::SensorReading(_) => "sensor_reading",
        Body::UsageReceipt(_) => "usage_receipt",
        Body::Replica(_) => "replica",
        Body::JobResult(_) => "job_result",
    }
}

/// Resident memory of this process in bytes (`VmRSS` in `/proc/self/status`), 0 when
/// unknown.
pub fn memory_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_vm_rss(&s))
        .unwrap_or(0)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    match parts.next()? {
        "kB" => value.checked_mul(1024),
        _ => None,
    }
}

/// One-minute load average × 100 from `/proc/loadavg`, 0 when unknown.
pub fn load_avg_x100() -> u32 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| parse_fixed_x100(s.split_whitespace().next()?))
        .unwrap_or(0)
}

/// `"1.52"` → 152, without floating point (extra decimals are truncated).
pub fn parse_fixed_x100(s: &str) -> Option<u32> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: u32 = int.parse().ok()?;
    let mut hundredths = 0u32;
    for (i, d) in frac.bytes().take(2).enumerate() {
        hundredths += u32::from(d - b'0') * if i == 0 { 10 } else { 1 };
    }
    int.checked_mul(100)?.checked_add(hundredths)
}

impl Shared {
    /// The driver's resource report, with the service endpoint and prices from
    /// `[service]`.
    fn resource_report(&self) -> cairn_proto::v1::ResourceReport {
        use cairn_proto::v1::resource_report::Resource;
        let mut report = lock(&self.driver).resource_report();
        if let Some(cfg) = &self.config.service {
            match &mut report.resource {
                Some(Resource::Storage(r)) => {
                    r.endpoint = cfg.public_url();
                    r.price_credits_per_gib_epoch = cfg.price_credits_per_gib_epoch;
                    r.retrieval_credits_per_gib = cfg.retrieval_credits_per_gib;
                }
                Some(Resource::Compute(r)) => {
                    r.endpoint = cfg.public_url();
                    r.price_credits_per_gfuel = cfg.price_credits_per_gfuel;
                }
                _ => {}
            }
        }
        report
    }

    fn set_queue_len(&self, len: usize) {
        self.metrics.queue_length.set(len as i64);
        self.status.update(|s| s.queue_len = len as u64);
    }

    fn set_error(&self, message: String) {
        self.status.update(|s| s.last_error = Some(message));
    }

    fn set_disconnected(&self) {
        self.metrics.connected.set(0);
        self.status.update(|s| {
            s.connected = false;
            s.session_expires_at_ms = None;
        });
    }

    fn count_dropped(&self, reason: &str, n: u64) {
        self.metrics.dropped(reason, n);
        self.status.update(|s| s.reports_dropped += n);
    }

    /// Whether this challenge id was seen before (and remember it).
    fn seen_challenge(&self, id: &[u8]) -> bool {
        let mut recent = lock(&self.recent_challenges);
        if recent.iter().any(|r| r == id) {
            return true;
        }
        if recent.len() == RECENT_CHALLENGES {
            recent.pop_front();
        }
        recent.push_back(id.to_vec());
        false
    }
}

/// Add a report to the queue (the priority lane when `urgent`), updating the metrics
/// and waking the sender. Failures are logged and recorded in the status.
pub(crate) async fn enqueue(shared: &Arc<Shared>, body: Body, urgent: bool) {
    let label = body_label(&body);
    let timestamp_ms = unix_ms();
    let result = blocking(shared, move |s| {
        let mut q = lock(&s.queue);
        let r = if urgent {
            q.push_front(&s.device_key, timestamp_ms, body)
        } else {
            q.push(&s.device_key, timestamp_ms, body)
        };
        (r, q.len())
    })
    .await;
    match result {
        Ok((Ok(pushed), len)) => {
            shared.metrics.enqueued(label);
            if pushed.evicted > 0 {
                tracing::warn!(
                    evicted = pushed.evicted,
                    "report queue full: dropped the oldest report"
                );
                shared.count_dropped("queue_full", pushed.evicted);
            }
            shared.set_queue_len(len);
            shared.wake.notify_one();
        }
        Ok((Err(QueueError::TooLarge { size, .. }), _)) => {
            tracing::error!(kind = label, size, "report too large to send; dropped");
            shared.count_dropped("too_large", 1);
        }
        Ok((Err(e), _)) => {
            tracing::error!(kind = label, error = %e, "could not queue report");
            shared.set_error(format!("queueing a {label} report: {e}"));
        }
        Err(e) => {
            tracing::error!(kind = label, error = %e, "could not queue report");
            shared.set_error(format!("queueing a {label} report: {e}"));
        }
    }
}

impl Agent {
    /// Run the agent until `shutdown` completes, then stop the tasks, flush the queue and
    /// return. Fails at start if the driver's kind differs from `config.kind`, the
    /// configuration is invalid, the queue cannot be opened or the admin endpoint cannot
    /// listen.
    pub async fn run(
        config: AgentConfig,
        device: Keypair,
        driver: Driver,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), AgentError> {
        config.validate()?;
        if driver.kind() != config.kind {
            return Err(AgentError::KindMismatch {
                driver: driver.kind(),
                config: config.kind,
            });
        }
        let endpoint = Endpoint::from_shared(config.ingest.clone())
            .map_err(|e| AgentError::Ingest {
                url: config.ingest.clone(),
                message: e.to_string(),
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20));

        let dir = config.data_dir.clone();
        let max = config.queue_max_reports;
        let queue = tokio::task::spawn_blocking(move || Queue::open(&dir, max))
            .await
            .map_err(|e| AgentError::Task(e.to_string()))??;

        let device_key = device.public();
        let metrics = Arc::new(Metrics::new());
        let status = StatusHandle::new(AgentStatus {
            device: device_key.to_did(),
            kind: config.kind.to_string(),
            network: config.network.to_string(),
            ingest: config.ingest.clone(),
            queue_len: queue.len() as u64,
            ..AgentStatus::default()
        });
        metrics.queue_length.set(queue.len() as i64);
        let admin =
            AdminServer::bind(config.admin_listen, status.clone(), Arc::clone(&metrics)).await?;
        tracing::info!(
            device = %device_key,
            kind = %config.kind,
            network = %config.network,
            ingest = %config.ingest,
            admin = %admin.local_addr(),
            queued = queue.len(),
            next_seq = queue.next_seq(),
            "agent starting"
        );

        // The service listener is bound first: with port 0 the advertised URL names the
        // port the system chose.
        let mut config = config;
        let service_listener = match &mut config.service {
            Some(cfg) => {
                let listener = tokio::net::TcpListener::bind(cfg.listen)
                    .await
                    .map_err(|e| {
                        AgentError::Service(format!("cannot listen on {}: {e}", cfg.listen))
                    })?;
                if cfg.url.is_none() {
                    let bound = listener
                        .local_addr()
                        .map_err(|e| AgentError::Service(e.to_string()))?;
                    cfg.url = Some(format!("http://{bound}"));
                }
                Some(listener)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            network: config.network.clone(),
            config,
            device,
            device_key,
            queue: Mutex::new(queue),
            driver: Mutex::new(driver),
            status,
            metrics,
            wake: Notify::new(),
            recent_challenges: Mutex::new(VecDeque::new()),
        });

        let service = match (shared.config.service.clone(), service_listener) {
            (Some(cfg), Some(listener)) => {
                tracing::info!(listen = %cfg.listen, url = %cfg.public_url(), "service endpoint");
                let app = crate::service::router(Arc::clone(&shared), cfg);
                Some(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(error = %e, "service endpoint failed");
                    }
                }))
            }
            _ => None,
        };
        // Announce what the driver already holds: a crash between storing an object and
        // reporting it must not leave the network unaware of the replica.
        let held = blocking(&shared, |s| match &mut *lock(&s.driver) {
            Driver::Storage(d) => d.held(),
            _ => Vec::new(),
        })
        .await?;
        for commitment in held {
            enqueue(&shared, Body::Replica(commitment), false).await;
        }

        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let mut admin_task = tokio::spawn(admin.serve(async move {
            let _ = admin_stopped.await;
        }));
        let mut producer_task = tokio::spawn(producer(Arc::clone(&shared)));
        let mut sender_task = tokio::spawn(sender(Arc::clone(&shared), endpoint));

        let outcome = tokio::select! {
            () = shutdown => Ok(()),
            r = &mut admin_task => Err(match r {
                Ok(Ok(())) => AgentError::Task("admin endpoint stopped".into()),
                Ok(Err(e)) => e.into(),
                Err(e) => AgentError::Task(format!("admin endpoint: {e}")),
            }),
            r = &mut producer_task => Err(AgentError::Task(format!("producer ended: {r:?}"))),
            r = &mut sender_task => Err(AgentError::Task(format!("sender ended: {r:?}"))),
        };

        tracing::info!("agent stopping");
        if let Some(service) = service {
            service.abort();
        }
        producer_task.abort();
        sender_task.abort();
        let _ = producer_task.await;
        let _ = sender_task.await;
        let _ = stop_admin.send(());
        if !admin_task.is_finished() {
            let _ = admin_task.await;
        }
        let flushed = blocking(&shared, |s| {
            let mut q = lock(&s.queue);
            q.flush().map(|()| q.len())
        })
        .await?;
        match flushed {
            Ok(len) => tracing::info!(queued = len, "queue flushed"),
            Err(e) => {
                tracing::error!(error = %e, "could not flush the queue");
                // Report the first failure: the one that stopped the agent, if any.
                return outcome.and(Err(e.into()));
            }
        }
        outcome
    }
}

async fn producer(shared: Arc<Shared>) {
    let cfg = &shared.config;
    let jitter = cfg.jitter_pct;
    let interval = |s: u64| Duration::from_millis(jittered_ms(s * 1000, jitter));
    let start = Instant::now();
    let mut next_resource = start;
    let mut next_heartbeat = start;
    let mut next_reading = start + interval(cfg.reading_interval_s);
    let radio = shared.config.kind == AgentKind::Coverage;
    let listen = Duration::from_millis(crate::driver::LISTEN_INTERVAL_MS);
    let mut next_listen = start + listen;
    loop {
        let mut next = next_resource.min(next_heartbeat).min(next_reading);
        if radio {
            next = next.min(next_listen);
        }
        sleep_until(next).await;
        let now = Instant::now();
        if now >= next_resource {
            next_resource = now + interval(cfg.resource_interval_s);
            match blocking(&shared, |s| s.resource_report()).await {
                Ok(r) => enqueue(&shared, Body::Resource(r), false).await,
                Err(e) => tracing::error!(error = %e, "resource report failed"),
            }
        }
        if now >= next_heartbeat {
            next_heartbeat = now + interval(cfg.heartbeat_interval_s);
            match heartbeat(&shared).await {
                Ok(hb) => enqueue(&shared, Body::Heartbeat(hb), false).await,
                Err(e) => tracing::error!(error = %e, "heartbeat failed"),
            }
        }
        if now >= next_reading {
            next_reading = now + interval(cfg.reading_interval_s);
            let now_ms = unix_ms();
            match blocking(&shared, move |s| lock(&s.driver).periodic(now_ms)).await {
                Ok(bodies) => {
                    for body in bodies {
                        enqueue(&shared, body, false).await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "driver periodic output failed"),
            }
        }
        if radio && now >= next_listen {
            next_listen = now + listen;
            let now_ms = unix_ms();
            match blocking(&shared, move |s| lock(&s.driver).listen(now_ms)).await {
                Ok(bodies) => {
                    for body in bodies {
                        enqueue(&shared, body, false).await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "driver listen failed"),
            }
        }
    }
}

async fn heartbeat(shared: &Arc<Shared>) -> Result<Heartbeat, AgentError> {
    let (summary, queued) = blocking(shared, |s| {
        let summary = lock(&s.driver).summary();
        (summary, lock(&s.queue).len())
    })
    .await?;
    Ok(Heartbeat {
        uptime_s: shared.status.started().elapsed().as_secs(),
        firmware: FIRMWARE.to_owned(),
        queued_reports: u32::try_from(queued).unwrap_or(u32::MAX),
        resources: Some(summary),
        memory_rss_bytes: memory_rss_bytes(),
        load_avg_x100: load_avg_x100(),
    })
}

/// An open session with ingest.
struct Session {
    id: Vec<u8>,
    key: Keypair,
    expires_at_ms: u64,
    renew_at: Instant,
}

/// How a session ended.
enum SessionEnd {
    /// Open a new session on the same connection (after this delay).
    Renew(Duration),
    /// Drop the connection and reconnect after this delay.
    Reconnect(Duration),
}

fn error_message(status: &Status) -> String {
    let message = status.message();
    let message: String = message.chars().take(300).collect();
    format!("{:?}: {message}", status.code())
}

async fn sender(shared: Arc<Shared>, endpoint: Endpoint) {
    let cfg = &shared.config;
    let mut backoff = Backoff::new(cfg.backoff_initial_ms, cfg.backoff_max_ms);
    let mut first = true;
    loop {
        if !first {
            shared.metrics.reconnects.inc();
        }
        first = false;
        let channel = match endpoint.connect().await {
            Ok(channel) => channel,
            Err(e) => {
                let delay = backoff.next_delay();
                let message = format!("cannot connect to ingest at {}: {e}", cfg.ingest);
                tracing::warn!(retry_in_ms = delay.as_millis() as u64, "{message}");
                shared.set_error(message);
                sleep(delay).await;
                continue;
            }
        };
        let client = IngestClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let delay = connection(&shared, client, &mut backoff).await;
        shared.set_disconnected();
        if !delay.is_zero() {
            tracing::info!(
                retry_in_ms = delay.as_millis() as u64,
                "reconnecting to ingest"
            );
        }
        sleep(delay).await;
    }
}

/// Sessions on one connection; returns the delay before reconnecting.
async fn connection(
    shared: &Arc<Shared>,
    mut client: IngestClient<Channel>,
    backoff: &mut Backoff,
) -> Duration {
    loop {
        let session = match handshake(shared, &mut client).await {
            Ok(session) => session,
            Err(status) => {
                let message = format!("opening a session: {}", error_message(&status));
                shared.set_error(message.clone());
                return match status.code() {
                    // Unknown device, denylisted device, wrong network: waiting longer
                    // will not help until an operator acts, so retry slowly.
                    Code::PermissionDenied | Code::NotFound | Code::FailedPrecondition => {
                        tracing::error!(
                            device = %shared.device_key,
                            "ingest refused the device ({message}); is it onboarded on network \
                             {} and not denylisted? Retrying in {} ms",
                            shared.network,
                            shared.config.backoff_max_ms,
                        );
                        Duration::from_millis(shared.config.backoff_max_ms)
                    }
                    _ => {
                        tracing::warn!("{message}");
                        backoff.next_delay()
                    }
                };
            }
        };
        backoff.reset();
        shared.metrics.sessions_opened.inc();
        shared.metrics.connected.set(1);
        shared.status.update(|s| {
            s.connected = true;
            s.session_expires_at_ms = Some(session.expires_at_ms);
        });
        tracing::info!(expires_at_ms = session.expires_at_ms, "session opened");

        // Aborted on drop too: when the agent stops, this task is aborted mid-loop, and the
        // listener's open stream must not outlive it.
        let listener = AbortOnDrop(tokio::spawn(challenge_listener(
            Arc::clone(shared),
            client.clone(),
            session.id.clone(),
        )));
        let end = send_loop(shared, &mut client, &session, backoff).await;
        drop(listener);
        match end {
            SessionEnd::Renew(delay) => {
                shared.set_disconnected();
                sleep(delay).await;
            }
            SessionEnd::Reconnect(delay) => return delay,
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn handshake(
    shared: &Arc<Shared>,
    client: &mut IngestClient<Channel>,
) -> Result<Session, Status> {
    // Two round trips: Hello and OpenSession.
    let opened = timeout(
        2 * RPC_TIMEOUT,
        open_session(
            client,
            &shared.network,
            &shared.device,
            shared.config.session_ms,
        ),
    )
    .await
    .map_err(|_| Status::deadline_exceeded("the handshake timed out"))??;
    let granted_ms = opened.expires_at_ms.saturating_sub(opened.started_at_ms);
    if granted_ms < 1000 {
        return Err(Status::failed_precondition(format!(
            "ingest granted a session ending at {} ms, {granted_ms} ms after its clock read {}",
            opened.expires_at_ms, opened.started_at_ms
        )));
    }
    let margin_ms = (granted_ms / 5).min(60_000);
    Ok(Session {
        id: opened.id,
        key: opened.key,
        expires_at_ms: opened.expires_at_ms,
        renew_at: Instant::now() + Duration::from_millis(granted_ms - margin_ms),
    })
}

/// Room for the request's own framing in a Submit message.
const SUBMIT_OVERHEAD: usize = 4096;
/// Per-report overhead: signature and field tags.
const REPORT_OVERHEAD: usize = 64 + 16;

async fn send_loop(
    shared: &Arc<Shared>,
    client: &mut IngestClient<Channel>,
    session: &Session,
    backoff: &mut Backoff,
) -> SessionEnd {
    let cfg = &shared.config;
    // Reports to send one at a time, after a batch was refused as malformed.
    let mut isolate = 0usize;
    let mut succeeded = false;
    loop {
        if Instant::now() >= session.renew_at {
            tracing::info!("renewing the session before it expires");
            return SessionEnd::Renew(Duration::ZERO);
        }
        let n = if isolate > 0 { 1 } else { cfg.batch_max };
        let batch = match blocking(shared, move |s| lock(&s.queue).peek_batch(n)).await {
            Ok(batch) => batch,
            Err(e) => return SessionEnd::Reconnect(fail(shared, backoff, e.to_string())),
        };
        if batch.is_empty() {
            tokio::select! {
                () = shared.wake.notified() => {}
                () = sleep_until(session.renew_at) => {}
            }
            continue;
        }

        let mut budget = MAX_MESSAGE_BYTES - SUBMIT_OVERHEAD;
        let mut seq_by_id: HashMap<[u8; 32], u64> = HashMap::new();
        let mut reports = Vec::with_capacity(batch.len());
        for (seq, bytes) in batch {
            let size = bytes.len() + REPORT_OVERHEAD;
            if !reports.is_empty() && size > budget {
                break;
            }
            budget = budget.saturating_sub(size);
            seq_by_id.insert(content_id(&bytes).0, seq);
            let signature = session
                .key
                .sign_raw(&report_signing_bytes(&shared.network, &bytes));
            reports.push(SignedReport {
                report: bytes,
                signature: signature.0.to_vec(),
            });
        }
        let count = reports.len();
        let seqs: Vec<u64> = seq_by_id.values().copied().collect();
        shared.metrics.reports_sent.inc_by(count as u64);
        shared.status.update(|s| s.reports_sent += count as u64);

        let request = SubmitRequest {
            session_id: session.id.clone(),
            reports,
        };
        let result = match timeout(RPC_TIMEOUT, client.submit(request)).await {
            Ok(r) => r,
            Err(_) => Err(Status::deadline_exceeded("Submit timed out")),
        };
        match result {
            Ok(response) => {
                let response = response.into_inner();
                let mut done = Vec::with_capacity(count);
                let mut known = |ids: &[Vec<u8>]| {
                    let mut n = 0u64;
                    for id in ids {
                        let seq = <[u8; 32]>::try_from(id.as_slice())
                            .ok()
                            .and_then(|id| seq_by_id.get(&id));
                        if let Some(&seq) = seq {
                            done.push(seq);
                            n += 1;
                        }
                    }
                    n
                };
                let accepted = known(&response.accepted);
                let duplicates = known(&response.duplicates);
                if (accepted + duplicates) < count as u64 {
                    tracing::warn!(
                        sent = count,
                        acknowledged = accepted + duplicates,
                        "ingest did not acknowledge every report; the rest stay queued"
                    );
                }
                acknowledge(shared, done, accepted, duplicates).await;
                backoff.reset();
                succeeded = true;
                isolate = isolate.saturating_sub(1);
            }
            Err(status) => match status.code() {
                Code::Unauthenticated => {
                    tracing::info!("ingest no longer knows the session; opening a new one");
                    let delay = if succeeded {
                        Duration::ZERO
                    } else {
                        backoff.next_delay()
                    };
                    return SessionEnd::Renew(delay);
                }
                Code::AlreadyExists => {
                    acknowledge(shared, seqs, 0, count as u64).await;
                    backoff.reset();
                    succeeded = true;
                    isolate = isolate.saturating_sub(1);
                }
                Code::ResourceExhausted => {
                    let delay = backoff.next_delay();
                    tracing::info!(
                        retry_in_ms = delay.as_millis() as u64,
                        "ingest is busy: {}",
                        status.message()
                    );
                    sleep(delay).await;
                }
                Code::PermissionDenied | Code::NotFound => {
                    let message = error_message(&status);
                    tracing::error!(
                        device = %shared.device_key,
                        queued = shared.status.snapshot().queue_len,
                        "ingest refused the device's reports ({message}); is it onboarded and \
                         not denylisted? Keeping the queue, retrying in {} ms",
                        cfg.backoff_max_ms
                    );
                    shared.set_error(format!("submitting: {message}"));
                    sleep(Duration::from_millis(cfg.backoff_max_ms)).await;
                }
                Code::InvalidArgument | Code::FailedPrecondition if count > 1 => {
                    tracing::warn!(
                        reports = count,
                        "ingest refused a batch ({}); resending one by one to find the bad report",
                        error_message(&status)
                    );
                    isolate = count;
                }
                code @ (Code::InvalidArgument | Code::FailedPrecondition) => {
                    let reason = if code == Code::InvalidArgument {
                        "invalid_argument"
                    } else {
                        "failed_precondition"
                    };
                    let message = error_message(&status);
                    tracing::warn!(seq = ?seqs, "ingest refused a report ({message}); dropping it");
                    shared.set_error(format!("report refused and dropped: {message}"));
                    shared.count_dropped(reason, 1);
                    drop_reports(shared, seqs).await;
                    isolate = isolate.saturating_sub(1);
                }
                _ => {
                    let delay = fail(
                        shared,
                        backoff,
                        format!("submitting: {}", error_message(&status)),
                    );
                    return SessionEnd::Reconnect(delay);
                }
            },
        }
    }
}

fn fail(shared: &Shared, backoff: &mut Backoff, message: String) -> Duration {
    tracing::warn!("{message}");
    shared.set_error(message);
    backoff.next_delay()
}

/// Remove reports ingest holds durably and count them.
async fn acknowledge(shared: &Arc<Shared>, seqs: Vec<u64>, accepted: u64, duplicates: u64) {
    shared.metrics.reports_acked.inc_by(accepted);
    shared.metrics.reports_duplicate.inc_by(duplicates);
    let now = unix_ms();
    shared.status.update(|s| {
        s.reports_acked += accepted;
        s.reports_duplicate += duplicates;
        s.last_ack_ms = Some(now);
    });
    drop_reports(shared, seqs).await;
}

async fn drop_reports(shared: &Arc<Shared>, seqs: Vec<u64>) {
    if seqs.is_empty() {
        return;
    }
    let result = blocking(shared, move |s| {
        let mut q = lock(&s.queue);
        let r = q.ack(&seqs);
        (r, q.len())
    })
    .await;
    match result {
        Ok((Ok(_), len)) => shared.set_queue_len(len),
        Ok((Err(e), len)) => {
            // The reports are gone from memory; after a crash they would be resent and
            // answered as duplicates.
            tracing::error!(error = %e, "could not record acknowledged reports");
            shared.set_error(e.to_string());
            shared.set_queue_len(len);
        }
        Err(e) => tracing::error!(error = %e, "could not record acknowledged reports"),
    }
}

/// Subscribe to the session's challenges and queue each answer in the priority lane.
/// Resubscribes after a broken stream; ends when ingest does not offer challenges or no
/// longer knows the session (the sender opens a new session, which starts a new listener).
async fn challenge_listener(
    shared: Arc<Shared>,
    mut client: IngestClient<Channel>,
    session_id: Vec<u8>,
) {
    let cfg = &shared.config;
    let mut backoff = Backoff::new(cfg.backoff_initial_ms, cfg.backoff_max_ms);
    loop {
        let request = ChallengeSubscription {
            session_id: session_id.clone(),
        };
        let mut stream = match client.challenges(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => match status.code() {
                Code::Unimplemented => {
                    tracing::info!("ingest does not offer challenges");
                    return;
                }
                Code::Unauthenticated | Code::PermissionDenied => return,
                _ => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        retry_in_ms = delay.as_millis() as u64,
                        "cannot subscribe to challenges: {}",
                        error_message(&status)
                    );
                    sleep(delay).await;
                    continue;
                }
            },
        };
        loop {
            match stream.message().await {
                Ok(Some(challenge)) => {
                    backoff.reset();
                    // Detached, so a session renewal does not lose an answer being computed.
                    tokio::spawn(answer_challenge(Arc::clone(&shared), challenge));
                }
                Ok(None) => break,
                Err(status) => {
                    if status.code() == Code::Unauthenticated {
                        return;
                    }
                    tracing::warn!("challenge stream broke: {}", error_message(&status));
                    break;
                }
            }
        }
        sleep(backoff.next_delay()).await;
    }
}

async fn answer_challenge(shared: Arc<Shared>, challenge: Challenge) {
    let received_ms = unix_ms();
    let id = hex_id(&challenge.challenge_id);
    if shared.seen_challenge(&challenge.challenge_id) {
        tracing::debug!(challenge = %id, "challenge delivered again; already answered");
        return;
    }
    tracing::info!(challenge = %id, deadline_ms = challenge.deadline_ms, "challenge received");
    let answer = blocking(&shared, move |s| {
        let device_key = s.device_key;
        lock(&s.driver).answer(&challenge, &device_key, received_ms)
    })
    .await;
    match answer {
        Ok(Ok(body)) => enqueue(&shared, body, true).await,
        Ok(Err(e)) => {
            tracing::warn!(challenge = %id, error = %e, "cannot answer challenge");
            shared.set_error(format!("challenge {id}: {e}"));
        }
        Err(e) => tracing::error!(challenge = %id, error = %e, "answering challenge failed"),
    }
}

fn hex_id(id: &[u8]) -> String {
    id.iter().take(32).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn fixed_point_load_average() {
        assert_eq!(parse_fixed_x100("0.52"), Some(52));
        assert_eq!(parse_fixed_x100("12.05"), Some(1205));
        assert_eq!(parse_fixed_x100("3"), Some(300));
        assert_eq!(parse_fixed_x100("3.1"), Some(310));
        assert_eq!(parse_fixed_x100("3.999"), Some(399));
        assert_eq!(parse_fixed_x100("-1.00"), None);
        assert_eq!(parse_fixed_x100("x"), None);
        assert_eq!(parse_fixed_x100(".5"), None);
    }

    #[test]
    fn vm_rss_in_bytes() {
        let status = "Name:\tcairn\nVmPeak:\t  9000 kB\nVmRSS:\t   1234 kB\nThreads: 4\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::new(100, 1000);
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            let d = b.next_delay().as_millis() as u64;
            ceilings.push(d);
        }
        // Each delay lies in [d/2, d] of its step: 100, 200, 400, 800, 1000, 1000.
        for (d, step) in ceilings.iter().zip([100u64, 200, 400, 800, 1000, 1000]) {
            assert!(
                (step / 2..=step).contains(d),
                "{d} not in [{}, {step}]",
                step / 2
            );
        }
        b.reset();
        assert!(b.next_delay().as_millis() <= 100);
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..200 {
            let j = jittered_ms(10_000, 10);
            assert!((9_000..=11_000).contains(&j), "{j}");
        }
        assert_eq!(jittered_ms(10_000, 0), 10_000);
        // Over many draws the jitter actually varies.
        let draws: HashSet<u64> = (0..50).map(|_| jittered_ms(10_000, 50)).collect();
        assert!(draws.len() > 1);
    }
}
