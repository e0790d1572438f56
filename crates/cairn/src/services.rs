//! The verification services a node with ingest runs (`[verifier]`, on by default):
//!
//! - the **directory** follows the report log and keeps what devices registered (replicas,
//!   compute classes, service endpoints and prices, answered challenges, job results);
//! - the **challenger** issues storage and compute challenges at times drawn from its
//!   secret schedule, seeded from the latest finalized block, writes each into the report
//!   log before sending it, and re-issues an unanswered one after its deadline up to
//!   `challenge_retries` times;
//! - the **verifier** runs the pure `cairn_verify::run_epoch` over each epoch's records once
//!   every answer could have arrived (`settle_ms` after the epoch's end) and writes the
//!   batch to `<data_dir>/verdicts/epoch-NNNNNNNN.borsh`;
//! - the **job store** (`<data_dir>/jobs/`) keeps consumer jobs registered with the node
//!   (`POST /v1/compute/jobs`) and the challenger's canaries, content-addressed by job id,
//!   so the verifier can re-execute what providers report;
//! - **canaries**: with probability `compute_canary_ppm` per compute provider and epoch,
//!   the challenger sends a job with a known answer through the provider's service
//!   endpoint, paid by a receipt from a fresh key like any consumer's;
//! - routes on the node's RPC: providers, objects, jobs, verdicts (see `docs/NODE.md`).
//!
//! Epoch `e` (from 1) covers `[genesis time + (e−1)·D, genesis time + e·D)` with `D` the
//! `epoch_duration_ms` parameter. The directory and the challenger may read the wall clock
//! and the log as it arrives; only the verifier's output is consensus-grade, and it is a
//! pure function of the records and chain state it names.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::{Canonical, decode_limited, encode};
use cairn_core::{Hash, PublicKey};
use cairn_ingest::{
    Cursor, DeviceStatus, IngestService, LogReader, LogStore, ReadFilter, ledger_status,
};
use cairn_ledger::tx::DeviceKind;
use cairn_node::node::Node;
use cairn_proto::ReportKind;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::resource_report::Resource;
use cairn_proto::v1::{ComputeResource, IssuedChallenge, StorageResource};
use cairn_verify::challenge::{self, SeedInput};
use cairn_verify::epoch::authenticate;
use cairn_verify::jobs::StoredJob;
use cairn_verify::{
    ChainView, EpochInput, Registry, Site, Standing, VerdictBatch, VerifierParams, WorkKind,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::node_cmd::now_ms;

/// The OpenAPI description of the routes these services add to the node's RPC.
pub const OPENAPI_FRAGMENT: &str = include_str!("services_openapi.json");

/// `[verifier]` in the node config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierToml {
    /// Run the challenger and the verifier (needs `[ingest] enabled`). Run them on one
    /// node of a network: two challengers would both challenge every device.
    pub enabled: bool,
}

impl Default for VerifierToml {
    fn default() -> Self {
        VerifierToml { enabled: true }
    }
}

/// Epoch arithmetic from the genesis time.
#[derive(Debug, Clone, Copy)]
pub struct Epochs {
    pub origin_ms: u64,
}

impl Epochs {
    pub fn of(&self, t_ms: u64, epoch_ms: u64) -> u64 {
        t_ms.saturating_sub(self.origin_ms) / epoch_ms.max(1) + 1
    }
    pub fn start(&self, epoch: u64, epoch_ms: u64) -> u64 {
        self.origin_ms + epoch.saturating_sub(1) * epoch_ms
    }
}

/// What the directory keeps about one device.
#[derive(Debug, Clone, Default)]
struct DeviceInfo {
    storage: Option<StorageResource>,
    compute: Option<ComputeResource>,
    last_report_ms: u64,
    jobs: u64,
    jobs_failed: u64,
    queue_ms_total: u64,
    run_ms_total: u64,
}

/// What the network's devices registered, from the report log.
#[derive(Debug, Default)]
struct DirectoryState {
    registry: Registry,
    devices: BTreeMap<PublicKey, DeviceInfo>,
    /// Challenge ids answered, with the answer's receive time (pruned after an hour).
    answered: HashMap<Vec<u8>, u64>,
    /// The latest verifier run.
    latest: Option<Arc<VerdictBatch>>,
    /// Issued challenges by the challenger since start.
    issued: u64,
}

type Directory = Arc<RwLock<DirectoryState>>;

/// The running services.
pub struct Services {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Services {
    /// Stop every task and wait for them to drop what they hold (the ingest service).
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Start the directory, the challenger and the verifier; returns the RPC routes they add.
pub fn start(
    node: Arc<Node>,
    ingest: IngestService,
    store: LogStore,
    data_dir: &Path,
) -> Result<(Services, Router)> {
    let dir: Directory = Arc::default();
    let verdicts = data_dir.join("verdicts");
    fs::create_dir_all(&verdicts).with_context(|| format!("creating {}", verdicts.display()))?;
    let secret = challenger_secret(&data_dir.join("challenger.secret"))?;
    let jobs = data_dir.join("jobs");
    fs::create_dir_all(&jobs).with_context(|| format!("creating {}", jobs.display()))?;
    let epochs = Epochs {
        origin_ms: node.genesis_block().time_ms,
    };
    let state = VerifierState::load(&verdicts)?;
    if let Some(batch) = state.latest_batch(&verdicts)? {
        dir.write().expect("lock").latest = Some(Arc::new(batch));
    }
    let tasks = vec![
        tokio::spawn(follow(Arc::clone(&node), store.clone(), Arc::clone(&dir))),
        tokio::spawn(challenger(
            Arc::clone(&node),
            ingest,
            Arc::clone(&dir),
            secret,
            epochs,
            jobs.clone(),
        )),
        tokio::spawn(verifier(
            Arc::clone(&node),
            store,
            Arc::clone(&dir),
            verdicts.clone(),
            state,
            epochs,
            jobs.clone(),
        )),
    ];
    let api = Api {
        node,
        dir,
        verdicts,
        epochs,
        jobs,
    };
    Ok((Services { tasks }, routes(api)))
}

/// The challenger's schedule secret: 32 random bytes kept in a 0600 file.
fn challenger_secret(path: &Path) -> Result<[u8; 32]> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.exists() {
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "{} is readable by others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            );
        }
        let bytes = fs::read(path)?;
        return <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| anyhow::anyhow!("{} is not 32 bytes", path.display()));
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(&secret)?;
    f.sync_all()?;
    Ok(secret)
}

// ---------------------------------------------------------------------------------------
// Directory

async fn follow(node: Arc<Node>, store: LogStore, dir: Directory) {
    let network = node.network().clone();
    let filter = ReadFilter {
        kinds: vec![
            ReportKind::Replica,
            ReportKind::Resource,
            ReportKind::ChallengeResponse,
            ReportKind::JobResult,
        ],
        ..ReadFilter::default()
    };
    let mut reader = LogReader::new(store, Cursor::default(), filter);
    loop {
        let batch = match reader.next_batch(1024).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "directory: reading the report log");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        // Signatures are checked before the lock is taken: readers are not held up.
        let authentic: Vec<(u64, PublicKey, cairn_proto::Report)> = batch
            .iter()
            .filter_map(|e| {
                authenticate(&network, &e.record)
                    .ok()
                    .map(|(device, report)| (e.record.receive_time_ms, device, report))
            })
            .collect();
        let mut d = dir.write().expect("lock");
        for (receive_time_ms, device, report) in authentic {
            d.registry.apply(&device, &report);
            let info = d.devices.entry(device).or_default();
            info.last_report_ms = info.last_report_ms.max(receive_time_ms);
            match report.body {
                Some(Body::Resource(r)) => match r.resource {
                    Some(Resource::Storage(s)) => info.storage = Some(s),
                    Some(Resource::Compute(c)) => info.compute = Some(c),
                    _ => {}
                },
                Some(Body::JobResult(j)) => {
                    info.jobs += 1;
                    if !j.error.is_empty() {
                        info.jobs_failed += 1;
                    }
                    info.queue_ms_total += j.queue_ms;
                    info.run_ms_total += j.run_ms;
                }
                Some(Body::ChallengeResponse(r)) => {
                    d.answered.insert(r.challenge_id, receive_time_ms);
                }
                _ => {}
            }
        }
        let horizon = now_ms().saturating_sub(3_600_000);
        d.answered.retain(|_, at| *at >= horizon);
    }
}

// ---------------------------------------------------------------------------------------
// Challenger

#[derive(Debug, Clone)]
struct Planned {
    at_ms: u64,
    device: PublicKey,
    kind: DeviceKind,
    slot: u32,
}

#[derive(Debug, Clone)]
struct Outstanding {
    device: PublicKey,
    kind: DeviceKind,
    epoch: u64,
    slot: u32,
    attempt: u32,
    challenge_id: Vec<u8>,
    deadline_ms: u64,
}

async fn challenger(
    node: Arc<Node>,
    ingest: IngestService,
    dir: Directory,
    secret: [u8; 32],
    epochs: Epochs,
    jobs: PathBuf,
) {
    let mut planned_epoch = 0u64;
    let mut plan: Vec<Planned> = Vec::new();
    let mut canaries: Vec<(u64, PublicKey)> = Vec::new();
    let canary_secret = *blake3::keyed_hash(&secret, b"cairn.canary.v1").as_bytes();
    let mut outstanding: Vec<Outstanding> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let now = now_ms();
        let state = node.state();
        let params = VerifierParams::from_ledger(&state.params);
        let epoch = epochs.of(now, params.epoch_ms);
        if epoch != planned_epoch {
            let start = epochs.start(epoch, params.epoch_ms);
            plan.clear();
            for (device, record) in state.devices.iter() {
                let count = match record.kind {
                    DeviceKind::Storage => params.storage_per_epoch,
                    DeviceKind::Compute => params.compute_per_epoch,
                    // One beacon per radio per epoch.
                    DeviceKind::Coverage => 1,
                    _ => continue,
                };
                if !matches!(ledger_status(&state, device), DeviceStatus::Active { .. }) {
                    continue;
                }
                let offsets = challenge::schedule(
                    &secret,
                    device,
                    epoch,
                    count,
                    params.epoch_ms,
                    params.settle_ms(),
                );
                for (slot, off) in offsets.into_iter().enumerate() {
                    // Slots already past (a restart mid-epoch) are not issued late.
                    if start + off + 1_000 >= now {
                        plan.push(Planned {
                            at_ms: start + off,
                            device: *device,
                            kind: record.kind,
                            slot: slot as u32,
                        });
                    }
                }
            }
            plan.sort_by_key(|p| std::cmp::Reverse(p.at_ms));
            canaries.clear();
            let canary_ppm = state
                .params
                .get_u64(cairn_ledger::ParamId::ComputeCanaryPpm);
            for (device, record) in state.devices.iter() {
                if record.kind != DeviceKind::Compute {
                    continue;
                }
                let mut draw = blake3::Hasher::new_keyed(&canary_secret);
                draw.update(device.as_bytes());
                draw.update(&epoch.to_le_bytes());
                let word = u64::from_le_bytes(
                    draw.finalize().as_bytes()[..8].try_into().expect("8 bytes"),
                );
                if word % 1_000_000 >= canary_ppm {
                    continue;
                }
                let at = start
                    + challenge::schedule(
                        &canary_secret,
                        device,
                        epoch,
                        1,
                        params.epoch_ms,
                        params.settle_ms(),
                    )[0];
                if at + 1_000 >= now {
                    canaries.push((at, *device));
                }
            }
            tracing::info!(epoch, challenges = plan.len(), "challenger: epoch planned");
            planned_epoch = epoch;
        }
        // First attempts due now.
        while plan.last().is_some_and(|p| p.at_ms <= now) {
            let p = plan.pop().expect("checked");
            if let Some(o) = issue(
                &node, &ingest, &dir, &params, epoch, &p.device, p.kind, p.slot, 0,
            )
            .await
            {
                outstanding.push(o);
            }
        }
        // Canaries due now: sent in the background like a consumer's job.
        canaries.retain(|(at, device)| {
            if *at > now {
                return true;
            }
            let endpoint = dir
                .read()
                .expect("lock")
                .devices
                .get(device)
                .and_then(|i| i.compute.clone());
            if let Some(resource) = endpoint.filter(|r| !r.endpoint.is_empty()) {
                let (_, block_hash) = node.tip();
                // Keyed by the challenger's secret: a provider cannot precompute canary
                // inputs from public block hashes and recognise them.
                let public = challenge::seed(SeedInput {
                    block_hash: &block_hash,
                    device,
                    epoch,
                    slot: u32::MAX,
                    attempt: 0,
                });
                let seed = *blake3::keyed_hash(&canary_secret, &public).as_bytes();
                let network = node.network().clone();
                let (device, jobs) = (*device, jobs.clone());
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = send_canary(&network, &device, &resource, seed, &jobs) {
                        tracing::warn!(device = %device, error = %e, "challenger: canary not run");
                    }
                });
            }
            false
        });
        // Retries of unanswered attempts past their deadline.
        let mut retries = Vec::new();
        {
            let d = dir.read().expect("lock");
            outstanding.retain(|o| {
                // A beacon is not retried: one missed is simply not heard.
                if o.kind == DeviceKind::Coverage {
                    return false;
                }
                // Answered in time: done. A late answer is retried like a missing one.
                if d.answered
                    .get(&o.challenge_id)
                    .is_some_and(|at| *at <= o.deadline_ms)
                {
                    return false;
                }
                // The answer may still be on its way into the directory: wait a moment
                // past the deadline before calling it missing.
                if now < o.deadline_ms + 1_000 {
                    return true;
                }
                if o.attempt < params.retries {
                    retries.push(o.clone());
                }
                false
            });
        }
        for o in retries {
            if let Some(next) = issue(
                &node,
                &ingest,
                &dir,
                &params,
                o.epoch,
                &o.device,
                o.kind,
                o.slot,
                o.attempt + 1,
            )
            .await
            {
                outstanding.push(next);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn issue(
    node: &Node,
    ingest: &IngestService,
    dir: &Directory,
    params: &VerifierParams,
    epoch: u64,
    device: &PublicKey,
    kind: DeviceKind,
    slot: u32,
    attempt: u32,
) -> Option<Outstanding> {
    let (height, block_hash) = node.tip();
    let seed = challenge::seed(SeedInput {
        block_hash: &block_hash,
        device,
        epoch,
        slot,
        attempt,
    });
    let now = now_ms();
    let challenge = match kind {
        DeviceKind::Storage => {
            let replicas = dir.read().expect("lock").registry.replicas_of(device);
            // Nothing stored, nothing to prove.
            let replica = challenge::pick_replica(&seed, &replicas)?;
            challenge::storage_challenge(
                seed,
                replica,
                params.storage_chunks,
                now,
                now + params.storage_deadline(),
            )
        }
        DeviceKind::Compute => {
            let class = dir.read().expect("lock").registry.class_of(device);
            challenge::compute_challenge(
                seed,
                params.compute_n,
                now,
                now + params.compute_timing(class).deadline_ms,
            )
        }
        DeviceKind::Coverage => challenge::beacon_challenge(
            seed,
            &cairn_verify::coverage::CoverageParams::default().tx_powers_dbm10,
            now,
            now + params.beacon_deadline(),
        ),
        _ => return None,
    };
    let issued = IssuedChallenge {
        device_key: device.as_bytes().to_vec(),
        epoch,
        attempt,
        block_hash: block_hash.0.to_vec(),
        block_height: height.0,
        challenge: Some(challenge.clone()),
        slot,
    };
    if let Err(e) = ingest.record_issued(issued).await {
        tracing::error!(error = %e, "challenger: could not log a challenge; not sending it");
        return None;
    }
    dir.write().expect("lock").issued += 1;
    if let Err(e) = ingest.send_challenge(device, challenge.clone()) {
        // Recorded and undelivered: it times out and is retried like any unanswered one.
        tracing::debug!(error = %e, "challenger: not delivered");
    }
    Some(Outstanding {
        device: *device,
        kind,
        epoch,
        slot,
        attempt,
        challenge_id: challenge.challenge_id,
        deadline_ms: challenge.deadline_ms,
    })
}

/// Register a canary job in the job store and run it on `device`'s endpoint, paid by a
/// receipt from a fresh key (so nothing tells it from a consumer's job).
fn send_canary(
    network: &cairn_core::NetworkId,
    device: &PublicKey,
    resource: &ComputeResource,
    seed: [u8; 32],
    jobs: &Path,
) -> Result<()> {
    use cairn_agent::service::{JobRequest, job_due};
    use cairn_ledger::tx::ServiceKind;
    let (spec, _) = cairn_jobs::canary_job(seed);
    let stored = StoredJob {
        module: spec.module.clone(),
        input: spec.input.clone(),
        fuel: spec.fuel,
        memory_limit_bytes: spec.memory_limit_bytes,
        canary: true,
    };
    store_job(jobs, &stored)?;
    let receipt = crate::storage_cmd::receipt(
        &cairn_core::Keypair::generate(),
        network,
        cairn_core::Height(u64::MAX),
        *device,
        ServiceKind::Compute,
        job_due(spec.fuel, resource.price_credits_per_gfuel),
    )?;
    let request = JobRequest::new(&spec, &receipt);
    let http = crate::client::http(Duration::from_secs(60));
    let url = format!("{}/v1/jobs", resource.endpoint.trim_end_matches('/'));
    let answer = http.post(&url).send_json(&request)?;
    tracing::debug!(device = %device, status = answer.status().as_u16(), "challenger: canary sent");
    Ok(())
}

fn job_path(jobs: &Path, id: &Hash) -> PathBuf {
    jobs.join(format!("{}.borsh", id.to_hex()))
}

/// Keep a job in the store (content-addressed: writing it twice is harmless).
fn store_job(jobs: &Path, job: &StoredJob) -> Result<Hash> {
    let id = job.job_id();
    let path = job_path(jobs, &id);
    if !path.exists() {
        write_atomic(&path, &encode(job)).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(id)
}

/// The stored jobs among `ids`.
fn load_jobs(jobs: &Path, ids: impl IntoIterator<Item = Hash>) -> BTreeMap<Hash, StoredJob> {
    let mut out = BTreeMap::new();
    for id in ids {
        let path = job_path(jobs, &id);
        let Ok(bytes) = fs::read(&path) else { continue };
        match decode_limited::<StoredJob>(&bytes, MAX_STORED_JOB_BYTES, "stored job") {
            // Content-addressed: a file that does not hash to its name is not that job.
            Ok(job) if job.job_id() == id => {
                out.insert(id, job);
            }
            _ => tracing::error!(path = %path.display(), "job store: damaged entry ignored"),
        }
    }
    out
}

const MAX_STORED_JOB_BYTES: usize = cairn_jobs::MAX_MODULE_BYTES + cairn_jobs::MAX_INPUT_BYTES + 64;

// ---------------------------------------------------------------------------------------
// Verifier

/// What the verifier carries from one epoch to the next (`verifier-state-v2.borsh`).
#[derive(Debug, Clone, Default, BorshSerialize, BorshDeserialize)]
struct VerifierState {
    /// The next epoch to verify.
    next: u64,
    registry: Registry,
    standings: Vec<Standing>,
    /// The coverage and sensor windows (`cairn_verify::window`).
    carried: cairn_verify::Carried,
}

/// Versioned with its layout: a file of an older layout is refused, not misread.
const STATE_FILE: &str = "verifier-state-v2.borsh";
const OLD_STATE_FILES: [&str; 1] = ["verifier-state.borsh"];

impl VerifierState {
    fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(STATE_FILE);
        if !path.exists() {
            if let Some(old) = OLD_STATE_FILES.iter().find(|f| dir.join(f).exists()) {
                bail!(
                    "{} holds verifier state in an older layout ({old}); this version cannot \
                     carry it on: start the network over (`--fresh` for a devnet)",
                    dir.display()
                );
            }
            return Ok(VerifierState {
                next: 1,
                ..VerifierState::default()
            });
        }
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        decode_limited(&bytes, 1 << 30, "verifier state")
            .with_context(|| format!("decoding {}", path.display()))
    }

    fn latest_batch(&self, dir: &Path) -> Result<Option<VerdictBatch>> {
        if self.next <= 1 {
            return Ok(None);
        }
        read_batch(dir, self.next - 1)
    }
}

pub(crate) fn batch_path(dir: &Path, epoch: u64) -> PathBuf {
    dir.join(format!("epoch-{epoch:08}.borsh"))
}

/// Read an epoch's verdict batch from the verdict log.
pub fn read_batch(dir: &Path, epoch: u64) -> Result<Option<VerdictBatch>> {
    let path = batch_path(dir, epoch);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(
        VerdictBatch::decode(&bytes).with_context(|| format!("decoding {}", path.display()))?,
    ))
}

/// Write `bytes` to `path` atomically and durably.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

async fn verifier(
    node: Arc<Node>,
    store: LogStore,
    dir: Directory,
    out: PathBuf,
    mut state: VerifierState,
    epochs: Epochs,
    jobs: PathBuf,
) {
    let network = node.network().clone();
    loop {
        // The state and the digest of the same block: the digest is the run's entropy.
        let (tip, digest) = node.tip();
        let chain_state = node.state();
        if chain_state.height != tip {
            // A block landed between the two reads: read both again.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let params = VerifierParams::from_ledger(&chain_state.params);
        let start = epochs.start(state.next, params.epoch_ms);
        let end = start + params.epoch_ms;
        // The log's group commit and the directory's poll: a little past the settle time.
        let ready_at = end + params.settle_ms() + 2_000;
        let now = now_ms();
        if now < ready_at {
            tokio::time::sleep(Duration::from_millis((ready_at - now).min(1_000))).await;
            continue;
        }
        let filter = ReadFilter {
            from_ms: Some(start),
            to_ms: Some(end + params.settle_ms()),
            kinds: cairn_verify::epoch::JUDGED_KINDS.to_vec(),
        };
        let records = match cairn_ingest::log::read_all(&store, filter).await {
            Ok(r) => r.into_iter().map(|e| e.record).collect::<Vec<_>>(),
            Err(e) => {
                tracing::error!(error = %e, epoch = state.next, "verifier: reading the report log");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        // Only which jobs to load: `run_epoch` authenticates every report itself, and an
        // extra job loaded for a forged report is never read.
        let wanted: Vec<Hash> = records
            .iter()
            .filter(|r| r.kind == ReportKind::JobResult as i32)
            .filter_map(|r| r.report.as_ref())
            .filter_map(|signed| {
                <cairn_proto::Report as prost::Message>::decode(signed.report.as_slice()).ok()
            })
            .filter_map(|report| match report.body {
                Some(Body::JobResult(j)) => <[u8; 32]>::try_from(j.job_id.as_slice()).ok(),
                _ => None,
            })
            .map(Hash)
            .collect();
        let job_store = jobs.clone();
        let held = tokio::task::spawn_blocking(move || load_jobs(&job_store, wanted))
            .await
            .unwrap_or_default();
        let chain = ChainView {
            height: chain_state.height,
            entropy: digest,
            params: chain_state.params.clone(),
            devices: chain_state
                .devices
                .iter()
                .map(|(k, d)| (*k, d.kind))
                .collect(),
            sites: chain_state
                .devices
                .iter()
                .map(|(k, d)| {
                    (
                        *k,
                        Site {
                            owner: d.owner,
                            maker: d.maker,
                            onboarded_at: d.onboarded_at,
                            location: d.location,
                        },
                    )
                })
                .collect(),
            denylisted: chain_state
                .devices
                .keys()
                .filter(|k| {
                    chain_state
                        .withholding_entry(k, chain_state.height)
                        .is_some()
                })
                .copied()
                .collect(),
        };
        let epoch = state.next;
        let registry = state.registry.clone();
        let prior = state.standings.clone();
        let carried = state.carried.clone();
        let network = network.clone();
        let output = tokio::task::spawn_blocking(move || {
            cairn_verify::run_epoch(EpochInput {
                network: &network,
                epoch,
                epoch_end_ms: end,
                chain: &chain,
                registry,
                prior: &prior,
                carried,
                records,
                jobs: &held,
            })
        })
        .await;
        let output = match output {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, epoch, "verifier: the run failed");
                return;
            }
        };
        let batch = output.batch;
        let next = VerifierState {
            next: epoch + 1,
            registry: output.registry,
            standings: batch.standings.clone(),
            carried: output.carried,
        };
        let written = write_atomic(&batch_path(&out, epoch), &encode(&batch))
            .and_then(|()| write_atomic(&out.join(STATE_FILE), &encode(&next)));
        if let Err(e) = written {
            tracing::error!(error = %e, epoch, "verifier: writing the verdict log");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        let invalid = batch.verdicts.iter().filter(|v| !v.is_valid()).count();
        tracing::info!(
            epoch,
            verdicts = batch.verdicts.len(),
            invalid,
            challenger_faults = output.challenger_faults,
            "verifier: epoch verified"
        );
        if !batch.verdicts.is_empty() {
            eprintln!(
                "verifier: epoch {epoch}: {} verdicts, {invalid} invalid{}",
                batch.verdicts.len(),
                summary_of_reasons(&batch)
            );
        }
        dir.write().expect("lock").latest = Some(Arc::new(batch));
        state = next;
    }
}

fn summary_of_reasons(batch: &VerdictBatch) -> String {
    let mut by: BTreeMap<&'static str, usize> = BTreeMap::new();
    for v in &batch.verdicts {
        if let cairn_verify::Outcome::Invalid(r) = v.outcome {
            *by.entry(r.name()).or_default() += 1;
        }
    }
    if by.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = by.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!(" ({})", parts.join(", "))
}

// ---------------------------------------------------------------------------------------
// API

#[derive(Clone)]
struct Api {
    node: Arc<Node>,
    dir: Directory,
    verdicts: PathBuf,
    epochs: Epochs,
    jobs: PathBuf,
}

fn api_error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn routes(api: Api) -> Router {
    Router::new()
        .route("/v1/storage/providers", get(storage_providers))
        .route("/v1/storage/objects/{id}", get(storage_object))
        .route("/v1/compute/providers", get(compute_providers))
        .route(
            "/v1/compute/jobs",
            axum::routing::post(register_job).layer(axum::extract::DefaultBodyLimit::max(
                2 * MAX_STORED_JOB_BYTES + 4096,
            )),
        )
        .route("/v1/verdicts", get(verdicts_summary))
        .route("/v1/verdicts/{epoch}", get(verdicts_of_epoch))
        .route("/v1/verdicts/{epoch}/batch", get(verdict_batch_bytes))
        .with_state(api)
}

fn standing_json(batch: Option<&VerdictBatch>, device: &PublicKey, kind: WorkKind) -> Value {
    batch
        .and_then(|b| {
            b.standings
                .iter()
                .find(|s| s.device == *device && s.kind == kind)
        })
        .map(|s| {
            json!({
                "status": s.reputation.status,
                "score_ppm": s.reputation.score_ppm(),
                "audits": s.reputation.audits,
            })
        })
        .unwrap_or(json!({"status": "probation", "score_ppm": null, "audits": 0}))
}

async fn storage_providers(State(api): State<Api>) -> Response {
    let state = api.node.state();
    let d = api.dir.read().expect("lock");
    let latest = d.latest.as_deref();
    let mut out = Vec::new();
    for (device, info) in &d.devices {
        let Some(s) = &info.storage else { continue };
        let Some(record) = state.devices.get(device) else {
            continue;
        };
        let active = matches!(ledger_status(&state, device), DeviceStatus::Active { .. });
        let held: usize = d.registry.replicas_of(device).len();
        out.push(json!({
            "device": device.to_did(),
            "active": active,
            "endpoint": s.endpoint,
            "capacity_bytes": s.capacity_bytes,
            "free_bytes": s.free_bytes,
            "replicas": held,
            "price_credits_per_gib_epoch": s.price_credits_per_gib_epoch,
            "retrieval_credits_per_gib": s.retrieval_credits_per_gib,
            "location": record.location,
            "standing": standing_json(latest, device, WorkKind::Storage),
            "last_report_ms": info.last_report_ms,
        }));
    }
    axum::Json(json!({ "providers": out })).into_response()
}

async fn compute_providers(State(api): State<Api>) -> Response {
    let state = api.node.state();
    let d = api.dir.read().expect("lock");
    let latest = d.latest.as_deref();
    let mut out = Vec::new();
    for (device, info) in &d.devices {
        let Some(c) = &info.compute else { continue };
        let Some(record) = state.devices.get(device) else {
            continue;
        };
        let active = matches!(ledger_status(&state, device), DeviceStatus::Active { .. });
        let avg = |total: u64| (info.jobs > 0).then(|| total / info.jobs);
        out.push(json!({
            "device": device.to_did(),
            "active": active,
            "endpoint": c.endpoint,
            "class": c.class,
            "cpu_cores": c.cpu_cores,
            "memory_bytes": c.memory_bytes,
            "price_credits_per_gfuel": c.price_credits_per_gfuel,
            "location": record.location,
            "standing": standing_json(latest, device, WorkKind::Compute),
            "jobs": info.jobs,
            "jobs_failed": info.jobs_failed,
            "mean_queue_ms": avg(info.queue_ms_total),
            "mean_run_ms": avg(info.run_ms_total),
            "last_report_ms": info.last_report_ms,
        }));
    }
    axum::Json(json!({ "providers": out })).into_response()
}

async fn storage_object(State(api): State<Api>, UrlPath(id): UrlPath<String>) -> Response {
    let Some(object) = hex::decode(&id)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .map(Hash)
    else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "bad_encoding",
            format!("object id must be 64 hex characters, got {id:?}"),
        );
    };
    let d = api.dir.read().expect("lock");
    let holders: Vec<Value> = d
        .registry
        .holders(&object)
        .into_iter()
        .map(|(device, r)| {
            let endpoint = d
                .devices
                .get(&device)
                .and_then(|i| i.storage.as_ref())
                .map(|s| s.endpoint.clone())
                .unwrap_or_default();
            json!({
                "device": device.to_did(),
                "endpoint": endpoint,
                "size": r.size,
                "replica_root": r.replica_root,
                "standing": standing_json(d.latest.as_deref(), &device, WorkKind::Storage),
            })
        })
        .collect();
    if holders.is_empty() {
        return api_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no provider has registered a replica of {id}"),
        );
    }
    axum::Json(json!({ "object": object, "holders": holders })).into_response()
}

/// `POST /v1/compute/jobs` body: a job to hold for re-execution.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobBody {
    module_hex: String,
    input_hex: String,
    fuel: u64,
    memory_limit_bytes: u64,
}

async fn register_job(State(api): State<Api>, body: axum::body::Bytes) -> Response {
    let bad = |m: String| api_error(StatusCode::BAD_REQUEST, "bad_job", m);
    let job: JobBody = match serde_json::from_slice(&body) {
        Ok(j) => j,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, "bad_json", e.to_string()),
    };
    let (Ok(module), Ok(input)) = (hex::decode(&job.module_hex), hex::decode(&job.input_hex))
    else {
        return bad("module_hex and input_hex must be hex".into());
    };
    let stored = StoredJob {
        module,
        input,
        fuel: job.fuel,
        memory_limit_bytes: job.memory_limit_bytes,
        canary: false,
    };
    if let Err(e) = stored.spec().check_caps() {
        return bad(e.to_string());
    }
    let dir = api.jobs.clone();
    match tokio::task::spawn_blocking(move || store_job(&dir, &stored)).await {
        Ok(Ok(id)) => axum::Json(json!({ "job_id": id })).into_response(),
        Ok(Err(e)) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{e:#}"),
        ),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct VerdictQuery {
    device: Option<String>,
    #[serde(default)]
    invalid: bool,
}

async fn verdicts_summary(State(api): State<Api>) -> Response {
    let state = api.node.state();
    let params = VerifierParams::from_ledger(&state.params);
    let now = now_ms();
    let d = api.dir.read().expect("lock");
    let latest = d.latest.as_deref().map(|b| {
        let invalid = b.verdicts.iter().filter(|v| !v.is_valid()).count();
        json!({
            "epoch": b.epoch,
            "verdicts": b.verdicts.len(),
            "invalid": invalid,
            "inputs": b.inputs,
            "inputs_root": b.inputs_root,
            "state_height": b.state_height,
        })
    });
    axum::Json(json!({
        "current_epoch": api.epochs.of(now, params.epoch_ms),
        "epoch_duration_ms": params.epoch_ms,
        "current_epoch_started_ms": api.epochs.start(api.epochs.of(now, params.epoch_ms), params.epoch_ms),
        "settle_ms": params.settle_ms(),
        "challenges_issued": d.issued,
        "latest": latest,
    }))
    .into_response()
}

/// The epoch's verdict batch as the verifier wrote it (canonical bytes), streamed from
/// disk: what reward oracles on other machines read to compute the epoch.
async fn verdict_batch_bytes(State(api): State<Api>, UrlPath(epoch): UrlPath<String>) -> Response {
    let Ok(epoch) = epoch.parse::<u64>() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "bad_epoch",
            format!("epoch must be a whole number, got {epoch:?}"),
        );
    };
    let path = batch_path(&api.verdicts, epoch);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return api_error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("epoch {epoch} has not been verified yet"),
            );
        }
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    // Batches are written atomically (renamed into place), so the open file is whole.
    let body =
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 << 10));
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/octet-stream".to_owned(),
            ),
            (axum::http::header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response()
}

async fn verdicts_of_epoch(
    State(api): State<Api>,
    UrlPath(epoch): UrlPath<String>,
    Query(q): Query<VerdictQuery>,
) -> Response {
    let Ok(epoch) = epoch.parse::<u64>() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "bad_epoch",
            format!("epoch must be a whole number, got {epoch:?}"),
        );
    };
    let device = match q.device.as_deref().map(PublicKey::from_did) {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            return api_error(StatusCode::BAD_REQUEST, "bad_encoding", e.to_string());
        }
    };
    let dir = api.verdicts.clone();
    let batch = match tokio::task::spawn_blocking(move || read_batch(&dir, epoch)).await {
        Ok(Ok(Some(b))) => b,
        Ok(Ok(None)) => {
            return api_error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("epoch {epoch} has not been verified yet"),
            );
        }
        Ok(Err(e)) => {
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("{e:#}"),
            );
        }
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let verdicts: Vec<Value> = batch
        .verdicts
        .iter()
        .filter(|v| device.is_none_or(|d| v.device == d))
        .filter(|v| !q.invalid || !v.is_valid())
        .map(|v| {
            let mut j = serde_json::to_value(v).unwrap_or(Value::Null);
            if let cairn_verify::Outcome::Invalid(r) = v.outcome {
                j["reason_code"] = json!(r.code());
                j["explanation"] = json!(r.explain());
            }
            j
        })
        .collect();
    let standings: Vec<&Standing> = batch
        .standings
        .iter()
        .filter(|s| device.is_none_or(|d| s.device == d))
        .collect();
    axum::Json(json!({
        "epoch": batch.epoch,
        "state_height": batch.state_height,
        "params_hash": batch.params_hash,
        "inputs_root": batch.inputs_root,
        "inputs": batch.inputs,
        "verdicts": verdicts,
        "standings": standings,
    }))
    .into_response()
}
