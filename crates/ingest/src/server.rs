//! The gRPC ingest service: nonce handshake, session keys, and durable report intake.
//!
//! Every request is checked from the cheapest test to the dearest: sizes and shapes, the
//! session, the device's standing, the rate limit, deduplication, and only then signature
//! verification (one batch per request) and the durable append. A request that fails any
//! check writes nothing and is answered with a status naming what was wrong.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_core::{NetworkId, PublicKey, Signature};
use cairn_proto::v1::ingest_server::{Ingest, IngestServer};
use cairn_proto::v1::{
    Challenge, ChallengeSubscription, HelloRequest, HelloResponse, OpenSessionRequest,
    OpenSessionResponse, SessionGrant, SubmitRequest, SubmitResponse,
};
use cairn_proto::{
    LogRecord, MAX_CHALLENGE_RESPONSE_BYTES, MAX_GRANT_BYTES, MAX_MESSAGE_BYTES, MAX_REPORT_BYTES,
    MAX_REPORTS_PER_SUBMIT, Report, content_id, grant_signing_bytes, key_field, report_kind,
    report_limit, report_signing_bytes, signature_field,
};
use futures::Stream;
use prost::Message;
use serde::Serialize;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::log::LogWriter;
use crate::registry::{DeviceRegistry, DeviceStatus};

/// Limits and lifetimes of the ingest service.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// How long a Hello nonce can be used.
    pub nonce_ttl: Duration,
    /// Longest session granted.
    pub max_session: Duration,
    /// Outstanding nonces before Hello answers "busy".
    pub max_pending_nonces: usize,
    /// Open sessions before OpenSession answers "busy".
    pub max_sessions: usize,
    /// Sustained reports per second per device.
    pub rate_per_s: u32,
    /// Reports a device may send at once above the sustained rate.
    pub burst: u32,
    /// Reports whose device time is older than this are refused (and the dedup window
    /// covers this span, so an old report cannot be replayed past it).
    pub max_report_age: Duration,
    /// Reports from further in the future than this are refused.
    pub max_clock_skew: Duration,
    /// How long a submission waits for the log writer before it is told to retry.
    pub append_timeout: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            nonce_ttl: Duration::from_secs(30),
            max_session: Duration::from_secs(24 * 3600),
            max_pending_nonces: 100_000,
            max_sessions: 1_000_000,
            rate_per_s: 20,
            burst: 2_000,
            max_report_age: Duration::from_secs(24 * 3600),
            max_clock_skew: Duration::from_secs(300),
            append_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of what the service did, for status lines and metrics.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub sessions_opened: AtomicU64,
    pub submits: AtomicU64,
    pub reports_accepted: AtomicU64,
    pub reports_duplicate: AtomicU64,
    pub requests_rejected: AtomicU64,
}

/// A point-in-time copy of [`IngestStats`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StatsSnapshot {
    pub sessions_opened: u64,
    pub sessions_open: u64,
    pub submits: u64,
    pub reports_accepted: u64,
    pub reports_duplicate: u64,
    pub requests_rejected: u64,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

struct Session {
    device: PublicKey,
    session_key: PublicKey,
    grant: Vec<u8>,
    grant_signature: Vec<u8>,
    expires_at_ms: u64,
}

struct PendingNonce {
    device: PublicKey,
    expires_at_ms: u64,
}

/// A device's token bucket, in thousandths of a report.
struct Bucket {
    milli_tokens: u64,
    at_ms: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Being appended by some request right now.
    InFlight,
    /// In the log, received at this time.
    Durable(u64),
}

const DEDUP_SHARDS: usize = 64;

/// Content ids seen within the replay window.
struct Dedup {
    shards: Vec<Mutex<HashMap<[u8; 32], Seen>>>,
}

impl Dedup {
    fn new() -> Self {
        Dedup {
            shards: (0..DEDUP_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }

    fn shard(&self, id: &[u8; 32]) -> &Mutex<HashMap<[u8; 32], Seen>> {
        &self.shards[id[0] as usize % DEDUP_SHARDS]
    }

    fn insert_durable(&self, id: [u8; 32], at_ms: u64) {
        self.shard(&id)
            .lock()
            .expect("lock")
            .insert(id, Seen::Durable(at_ms));
    }

    /// Claim `id` for writing; the previous state if it was already known.
    fn claim(&self, id: [u8; 32]) -> Option<Seen> {
        match self.shard(&id).lock().expect("lock").entry(id) {
            Entry::Occupied(e) => Some(*e.get()),
            Entry::Vacant(v) => {
                v.insert(Seen::InFlight);
                None
            }
        }
    }

    fn release(&self, ids: &[[u8; 32]]) {
        for id in ids {
            let mut shard = self.shard(id).lock().expect("lock");
            if shard.get(id) == Some(&Seen::InFlight) {
                shard.remove(id);
            }
        }
    }

    fn settle(&self, ids: &[[u8; 32]], at_ms: u64) {
        for id in ids {
            self.insert_durable(*id, at_ms);
        }
    }

    fn evict_before(&self, cutoff_ms: u64) {
        for shard in &self.shards {
            shard
                .lock()
                .expect("lock")
                .retain(|_, s| !matches!(s, Seen::Durable(t) if *t < cutoff_ms));
        }
    }
}

/// Channels to devices with an open challenge stream.
type ChallengeSenders = Mutex<HashMap<PublicKey, mpsc::Sender<Result<Challenge, Status>>>>;

struct Inner {
    network: NetworkId,
    registry: Arc<dyn DeviceRegistry>,
    writer: LogWriter,
    config: IngestConfig,
    nonces: Mutex<HashMap<[u8; 32], PendingNonce>>,
    sessions: RwLock<HashMap<[u8; 16], Arc<Session>>>,
    buckets: Mutex<HashMap<PublicKey, Bucket>>,
    dedup: Dedup,
    challenges: ChallengeSenders,
    stats: IngestStats,
    /// Devices whose reports were stored since the last [`IngestService::take_seen`], with
    /// the latest receive time (the explorer's "last seen").
    seen: Mutex<HashMap<PublicKey, u64>>,
}

/// The ingest service. Cheap to clone; every clone is the same service.
#[derive(Clone)]
pub struct IngestService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for IngestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestService")
            .field("network", &self.inner.network)
            .field("writer", &self.inner.writer.id())
            .finish_non_exhaustive()
    }
}

/// Why a challenge could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("device {0} has no open challenge stream on this ingest node")]
    NotConnected(String),
    #[error("device {0} has too many undelivered challenges")]
    Backlog(String),
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

impl IngestService {
    /// A service appending to `writer`. `recent` are content ids already in the log with
    /// their receive times (see [`crate::recent_content_ids`]), so replays across a restart
    /// are still caught.
    pub fn new(
        network: NetworkId,
        registry: Arc<dyn DeviceRegistry>,
        writer: LogWriter,
        config: IngestConfig,
        recent: impl IntoIterator<Item = ([u8; 32], u64)>,
    ) -> Self {
        let dedup = Dedup::new();
        for (id, at) in recent {
            dedup.insert_durable(id, at);
        }
        IngestService {
            inner: Arc::new(Inner {
                network,
                registry,
                writer,
                config,
                nonces: Mutex::new(HashMap::new()),
                sessions: RwLock::new(HashMap::new()),
                buckets: Mutex::new(HashMap::new()),
                dedup,
                challenges: Mutex::new(HashMap::new()),
                stats: IngestStats::default(),
                seen: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The tonic service with the protocol's message size limit applied.
    pub fn into_server(self) -> IngestServer<IngestService> {
        IngestServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// What the service has done so far.
    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.inner.stats;
        StatsSnapshot {
            sessions_opened: s.sessions_opened.load(Ordering::Relaxed),
            sessions_open: self.inner.sessions.read().expect("lock").len() as u64,
            submits: s.submits.load(Ordering::Relaxed),
            reports_accepted: s.reports_accepted.load(Ordering::Relaxed),
            reports_duplicate: s.reports_duplicate.load(Ordering::Relaxed),
            requests_rejected: s.requests_rejected.load(Ordering::Relaxed),
        }
    }

    /// The devices whose reports were stored since the previous call, each with its latest
    /// receive time (Unix ms), sorted by device; the set starts empty again.
    pub fn take_seen(&self) -> Vec<(PublicKey, u64)> {
        let mut seen: Vec<(PublicKey, u64)> =
            std::mem::take(&mut *self.inner.seen.lock().expect("lock"))
                .into_iter()
                .collect();
        seen.sort();
        seen
    }

    /// Send `challenge` to `device` over its open challenge stream.
    pub fn send_challenge(
        &self,
        device: &PublicKey,
        challenge: Challenge,
    ) -> Result<(), ChallengeError> {
        let mut map = self.inner.challenges.lock().expect("lock");
        let Some(tx) = map.get(device) else {
            return Err(ChallengeError::NotConnected(device.to_did()));
        };
        match tx.try_send(Ok(challenge)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(ChallengeError::Backlog(device.to_did()))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                map.remove(device);
                Err(ChallengeError::NotConnected(device.to_did()))
            }
        }
    }

    /// Append an issued challenge to the report log (durably, before it is sent), stamped
    /// with this node's receive time. Its content id is BLAKE3 of the encoded record body,
    /// as verifiers recompute it.
    pub async fn record_issued(
        &self,
        issued: cairn_proto::v1::IssuedChallenge,
    ) -> Result<(), crate::log::LogError> {
        let content_id = blake3::hash(&issued.encode_to_vec()).as_bytes().to_vec();
        let record = LogRecord {
            receive_time_ms: now_ms(),
            kind: cairn_proto::ReportKind::ChallengeIssued as i32,
            content_id,
            report: None,
            session_grant: Vec::new(),
            grant_signature: Vec::new(),
            issued: Some(issued),
        };
        self.inner.writer.append(vec![record]).await
    }

    /// Drop expired nonces, sessions, rate buckets and dedup entries past the replay
    /// window. Run it every few seconds ([`serve`] does).
    pub fn housekeeping(&self) {
        let now = now_ms();
        let inner = &self.inner;
        inner
            .nonces
            .lock()
            .expect("lock")
            .retain(|_, n| n.expires_at_ms > now);
        inner
            .sessions
            .write()
            .expect("lock")
            .retain(|_, s| s.expires_at_ms > now);
        inner
            .buckets
            .lock()
            .expect("lock")
            .retain(|_, b| now.saturating_sub(b.at_ms) < 600_000);
        let window = ms(inner.config.max_report_age) + ms(inner.config.max_clock_skew);
        inner.dedup.evict_before(now.saturating_sub(window));
    }

    fn reject(&self, status: Status) -> Status {
        self.inner
            .stats
            .requests_rejected
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(code = ?status.code(), message = status.message(), "ingest request refused");
        status
    }

    /// The device must be onboarded and not denylisted.
    fn admit(&self, device: &PublicKey) -> Result<(), Status> {
        match self.inner.registry.status(device) {
            DeviceStatus::Active { .. } => Ok(()),
            DeviceStatus::Unknown => Err(Status::not_found(format!(
                "device {} is not onboarded on network {}",
                device.to_did(),
                self.inner.network
            ))),
            DeviceStatus::Denylisted {
                entry,
                reason,
                expires_at,
            } => Err(Status::permission_denied(format!(
                "device {} is denylisted (entry {entry}, reason code {reason}, until height {expires_at}); appeal with `cairn device appeal`",
                device.to_did()
            ))),
        }
    }

    fn check_network(&self, network: &str) -> Result<(), Status> {
        if network == self.inner.network.as_str() {
            Ok(())
        } else {
            Err(Status::failed_precondition(format!(
                "this ingest serves network {:?}, not {network:?}",
                self.inner.network.as_str()
            )))
        }
    }

    fn hello(&self, req: HelloRequest) -> Result<HelloResponse, Status> {
        let device = key_field("device_key", &req.device_key)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.check_network(&req.network)?;
        self.admit(&device)?;
        let now = now_ms();
        let expires_at_ms = now + ms(self.inner.config.nonce_ttl);
        let nonce = random::<32>();
        let mut nonces = self.inner.nonces.lock().expect("lock");
        if nonces.len() >= self.inner.config.max_pending_nonces {
            nonces.retain(|_, n| n.expires_at_ms > now);
            if nonces.len() >= self.inner.config.max_pending_nonces {
                return Err(Status::resource_exhausted(
                    "too many handshakes in progress; retry shortly",
                ));
            }
        }
        nonces.insert(
            nonce,
            PendingNonce {
                device,
                expires_at_ms,
            },
        );
        Ok(HelloResponse {
            nonce: nonce.to_vec(),
            server_time_ms: now,
            nonce_expires_at_ms: expires_at_ms,
            max_session_ms: ms(self.inner.config.max_session),
        })
    }

    fn open_session(&self, req: OpenSessionRequest) -> Result<OpenSessionResponse, Status> {
        if req.grant.len() > MAX_GRANT_BYTES {
            return Err(Status::invalid_argument(format!(
                "session grant is {} bytes; the limit is {MAX_GRANT_BYTES}",
                req.grant.len()
            )));
        }
        let grant = SessionGrant::decode(req.grant.as_slice()).map_err(|e| {
            Status::invalid_argument(format!("grant is not a cairn.v1.SessionGrant: {e}"))
        })?;
        self.check_network(&grant.network)?;
        let device = key_field("grant.device_key", &grant.device_key)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let session_key = key_field("grant.session_key", &grant.session_key)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let signature = signature_field("device_signature", &req.device_signature)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let now = now_ms();
        if grant.expires_at_ms <= now {
            return Err(Status::invalid_argument(format!(
                "grant expires_at_ms {} is not in the future (server time {now})",
                grant.expires_at_ms
            )));
        }
        // Signature first, so a forged request cannot burn someone else's nonce.
        if !device.verify_raw(
            &grant_signing_bytes(&self.inner.network, &req.grant),
            &signature,
        ) {
            return Err(Status::unauthenticated(format!(
                "device_signature does not verify: the grant must be signed by {}",
                device.to_did()
            )));
        }
        let nonce: [u8; 32] = grant.nonce.as_slice().try_into().map_err(|_| {
            Status::invalid_argument(format!(
                "grant.nonce must be 32 bytes, got {}",
                grant.nonce.len()
            ))
        })?;
        {
            let mut nonces = self.inner.nonces.lock().expect("lock");
            match nonces.remove(&nonce) {
                Some(n) if n.device == device && n.expires_at_ms > now => {}
                Some(n) if n.device != device => {
                    return Err(Status::unauthenticated(
                        "nonce was issued to a different device",
                    ));
                }
                _ => {
                    return Err(Status::unauthenticated(
                        "nonce is unknown, already used or expired; call Hello again",
                    ));
                }
            }
        }
        self.admit(&device)?;
        let expires_at_ms = grant
            .expires_at_ms
            .min(now + ms(self.inner.config.max_session));
        let id = random::<16>();
        let mut sessions = self.inner.sessions.write().expect("lock");
        if sessions.len() >= self.inner.config.max_sessions {
            sessions.retain(|_, s| s.expires_at_ms > now);
            if sessions.len() >= self.inner.config.max_sessions {
                return Err(Status::resource_exhausted(
                    "too many open sessions; retry later",
                ));
            }
        }
        sessions.insert(
            id,
            Arc::new(Session {
                device,
                session_key,
                grant: req.grant,
                grant_signature: req.device_signature,
                expires_at_ms,
            }),
        );
        drop(sessions);
        self.inner
            .stats
            .sessions_opened
            .fetch_add(1, Ordering::Relaxed);
        Ok(OpenSessionResponse {
            session_id: id.to_vec(),
            expires_at_ms,
        })
    }

    fn session(&self, id: &[u8], now: u64) -> Result<Arc<Session>, Status> {
        let id: [u8; 16] = id.try_into().map_err(|_| {
            Status::unauthenticated(format!("session_id must be 16 bytes, got {}", id.len()))
        })?;
        let session = self
            .inner
            .sessions
            .read()
            .expect("lock")
            .get(&id)
            .cloned()
            .ok_or_else(|| {
                Status::unauthenticated("unknown session; open one with Hello and OpenSession")
            })?;
        if session.expires_at_ms <= now {
            self.inner.sessions.write().expect("lock").remove(&id);
            return Err(Status::unauthenticated(format!(
                "session expired at {} (server time {now}); open a new one",
                session.expires_at_ms
            )));
        }
        Ok(session)
    }

    /// Take `n` reports from the device's bucket, or say when to retry.
    fn take_tokens(&self, device: &PublicKey, n: u64, now: u64) -> Result<(), Status> {
        let rate = u64::from(self.inner.config.rate_per_s);
        let cap = u64::from(self.inner.config.burst) * 1000;
        let mut buckets = self.inner.buckets.lock().expect("lock");
        let b = buckets.entry(*device).or_insert(Bucket {
            milli_tokens: cap,
            at_ms: now,
        });
        let elapsed = now.saturating_sub(b.at_ms);
        b.milli_tokens = b
            .milli_tokens
            .saturating_add(elapsed.saturating_mul(rate))
            .min(cap);
        b.at_ms = now;
        let need = n * 1000;
        if b.milli_tokens >= need {
            b.milli_tokens -= need;
            Ok(())
        } else {
            let wait_ms = (need - b.milli_tokens).div_ceil(rate.max(1));
            Err(Status::resource_exhausted(format!(
                "device {} is over its rate limit ({rate} reports/s, burst {}); retry in {wait_ms} ms",
                device.to_did(),
                self.inner.config.burst
            )))
        }
    }

    async fn submit(&self, req: SubmitRequest) -> Result<SubmitResponse, Status> {
        self.inner.stats.submits.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let session = self.session(&req.session_id, now)?;
        if req.reports.is_empty() {
            return Err(Status::invalid_argument(
                "a submission needs at least one report",
            ));
        }
        if req.reports.len() > MAX_REPORTS_PER_SUBMIT {
            return Err(Status::invalid_argument(format!(
                "{} reports in one submission; the limit is {MAX_REPORTS_PER_SUBMIT}",
                req.reports.len()
            )));
        }
        self.admit(&session.device)?;
        let oldest = now.saturating_sub(ms(self.inner.config.max_report_age));
        let newest = now + ms(self.inner.config.max_clock_skew);
        let mut checked = Vec::with_capacity(req.reports.len());
        for (i, signed) in req.reports.iter().enumerate() {
            // The largest limit first (before decoding), the kind's own limit after.
            if signed.report.len() > MAX_CHALLENGE_RESPONSE_BYTES {
                return Err(Status::invalid_argument(format!(
                    "report {i} is {} bytes; the limit is {MAX_CHALLENGE_RESPONSE_BYTES} \
                     for challenge responses and {MAX_REPORT_BYTES} for other reports",
                    signed.report.len()
                )));
            }
            let signature = signature_field("signature", &signed.signature)
                .map_err(|e| Status::invalid_argument(format!("report {i}: {e}")))?;
            let report = Report::decode(signed.report.as_slice()).map_err(|e| {
                Status::invalid_argument(format!("report {i} is not a cairn.v1.Report: {e}"))
            })?;
            let limit = report_limit(report_kind(&report));
            if signed.report.len() > limit {
                return Err(Status::invalid_argument(format!(
                    "report {i} is {} bytes; the limit is {limit} for this kind of report",
                    signed.report.len()
                )));
            }
            if report.device_key != session.device.as_bytes() {
                return Err(Status::invalid_argument(format!(
                    "report {i} names another device than the session's ({})",
                    session.device.to_did()
                )));
            }
            if report.body.is_none() {
                return Err(Status::invalid_argument(format!("report {i} has no body")));
            }
            if report.timestamp_ms < oldest {
                return Err(Status::failed_precondition(format!(
                    "report {i} is too old: made at {} ms, the oldest accepted is {oldest} ms",
                    report.timestamp_ms
                )));
            }
            if report.timestamp_ms > newest {
                return Err(Status::failed_precondition(format!(
                    "report {i} is from the future: made at {} ms, server time {now} ms",
                    report.timestamp_ms
                )));
            }
            checked.push((content_id(&signed.report), report_kind(&report), signature));
        }
        self.take_tokens(&session.device, checked.len() as u64, now)?;
        verify(
            &self.inner.network,
            &session.session_key,
            &req.reports,
            &checked,
        )?;

        // Deduplicate: within the batch, against the log, and against appends in flight.
        let mut claimed: Vec<[u8; 32]> = Vec::new();
        let mut duplicates: Vec<Vec<u8>> = Vec::new();
        let mut records = Vec::new();
        for ((cid, kind, _), signed) in checked.iter().zip(req.reports) {
            let id = cid.0;
            if claimed.contains(&id) {
                duplicates.push(id.to_vec());
                continue;
            }
            match self.inner.dedup.claim(id) {
                None => {
                    claimed.push(id);
                    records.push(LogRecord {
                        receive_time_ms: now,
                        kind: *kind as i32,
                        content_id: id.to_vec(),
                        report: Some(signed),
                        session_grant: session.grant.clone(),
                        grant_signature: session.grant_signature.clone(),
                        issued: None,
                    });
                }
                Some(Seen::Durable(_)) => duplicates.push(id.to_vec()),
                Some(Seen::InFlight) => {
                    self.inner.dedup.release(&claimed);
                    return Err(Status::unavailable(format!(
                        "report {} is being written by another request; retry",
                        hex::encode(id)
                    )));
                }
            }
        }
        if records.is_empty() {
            self.inner
                .stats
                .reports_duplicate
                .fetch_add(duplicates.len() as u64, Ordering::Relaxed);
            return Err(Status::already_exists(format!(
                "all {} report(s) are already in the log (replayed or re-sent); nothing written",
                duplicates.len()
            )));
        }
        // The append runs in its own task so that it settles its claims even if this
        // request is dropped (client gone) or stops waiting (timeout).
        let inner = self.inner.clone();
        let settle = claimed.clone();
        let append = tokio::spawn(async move {
            let result = inner.writer.append(records).await;
            match &result {
                Ok(()) => inner.dedup.settle(&settle, now),
                Err(_) => inner.dedup.release(&settle),
            }
            result
        });
        match tokio::time::timeout(self.inner.config.append_timeout, append).await {
            Ok(Ok(Ok(()))) => {
                let s = &self.inner.stats;
                s.reports_accepted
                    .fetch_add(claimed.len() as u64, Ordering::Relaxed);
                s.reports_duplicate
                    .fetch_add(duplicates.len() as u64, Ordering::Relaxed);
                self.inner
                    .seen
                    .lock()
                    .expect("lock")
                    .insert(session.device, now);
                Ok(SubmitResponse {
                    accepted: claimed.iter().map(|c| c.to_vec()).collect(),
                    duplicates,
                    receive_time_ms: now,
                })
            }
            Ok(Ok(Err(e))) => Err(Status::unavailable(format!(
                "reports not stored, retry: {e}"
            ))),
            Ok(Err(e)) => Err(Status::internal(format!("report append task failed: {e}"))),
            Err(_) => Err(Status::unavailable(
                "the report log is slow; the reports may or may not be stored yet, retry",
            )),
        }
    }
}

/// Verify every report's signature under the session key: one batch, and on failure one
/// by one to name the first bad report.
fn verify(
    network: &NetworkId,
    key: &PublicKey,
    reports: &[cairn_proto::SignedReport],
    checked: &[(cairn_core::Hash, cairn_proto::ReportKind, Signature)],
) -> Result<(), Status> {
    let preimages: Vec<Vec<u8>> = reports
        .iter()
        .map(|r| report_signing_bytes(network, &r.report))
        .collect();
    let items: Vec<(&PublicKey, &[u8], &Signature)> = preimages
        .iter()
        .zip(checked)
        .map(|(m, (_, _, s))| (key, m.as_slice(), s))
        .collect();
    if cairn_core::keys::verify_batch(&items) {
        return Ok(());
    }
    for (i, (k, m, s)) in items.iter().enumerate() {
        if !k.verify_raw(m, s) {
            return Err(Status::invalid_argument(format!(
                "report {i}: signature does not verify under the session key"
            )));
        }
    }
    // The batch equation failed but each signature passes alone: refuse rather than guess.
    Err(Status::invalid_argument(
        "the batch's signatures do not verify together",
    ))
}

type ChallengeStream = Pin<Box<dyn Stream<Item = Result<Challenge, Status>> + Send>>;

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloResponse>, Status> {
        IngestService::hello(self, request.into_inner())
            .map(Response::new)
            .map_err(|s| self.reject(s))
    }

    async fn open_session(
        &self,
        request: Request<OpenSessionRequest>,
    ) -> Result<Response<OpenSessionResponse>, Status> {
        IngestService::open_session(self, request.into_inner())
            .map(Response::new)
            .map_err(|s| self.reject(s))
    }

    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        IngestService::submit(self, request.into_inner())
            .await
            .map(Response::new)
            .map_err(|s| self.reject(s))
    }

    type ChallengesStream = ChallengeStream;

    async fn challenges(
        &self,
        request: Request<ChallengeSubscription>,
    ) -> Result<Response<Self::ChallengesStream>, Status> {
        let session = self
            .session(&request.into_inner().session_id, now_ms())
            .map_err(|s| self.reject(s))?;
        let (tx, rx) = mpsc::channel(64);
        self.inner
            .challenges
            .lock()
            .expect("lock")
            .insert(session.device, tx);
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Serve `service` on `listener` until `shutdown` resolves, with housekeeping every few
/// seconds.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: IngestService,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let keeper = service.clone();
    // Aborted when this future ends or is dropped: it holds the service, and the log writer
    // seals only once every handle to the service is gone.
    let housekeeping = AbortOnDrop(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            keeper.housekeeping();
        }
    }));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let result = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_nodelay(true)
        .add_service(service.into_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    drop(housekeeping);
    result
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Bind `addr` (clear error if taken) for [`serve`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen for ingest on {addr}: {e}"))
    })
}
