//! The epoch verifier: a pure function of (log records, chain state, parameters, the
//! previous epoch's standings) to a [`VerdictBatch`].
//!
//! Determinism: records are put in one canonical order (receive time, then content id)
//! and deduplicated by content id before anything reads them; every map is ordered; no
//! clock or randomness is read. Two runs over the same records give the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::{Epoch, Hash, Height, KeyId, Location, MerkleTree, NetworkId, PublicKey};
use cairn_ledger::tx::DeviceKind;
use cairn_ledger::{ParamId, Params};
use cairn_proto::v1::challenge::Task;
use cairn_proto::v1::challenge_response::Answer;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::resource_report::Resource;
use cairn_proto::v1::{
    BeaconReport, ChallengeResponse, IssuedChallenge, JobResult, LogRecord, Report, ReportKind,
    SessionGrant,
};
use cairn_proto::{grant_signing_bytes, key_field, report_signing_bytes, signature_field};
use prost::Message;

use crate::challenge::{self, SeedInput};
use crate::compute::{self, MODULUS, ProductFault};
use crate::coverage::{
    AdmittedWitness, Beacon, CoverageParams, Witness, WitnessReportFields, admit_witness,
    beacon_payload, check_beacon, judge_witnesses,
};
use crate::coverage_graph::{DetectInput, DetectParams, Link, beacon_units, detect};
use crate::density::{DensityParams, density_scales};
use crate::jobs::{self, StoredJob};
use crate::radio::{Point, max_rssi_dbm10, model_rssi_dbm10};
use crate::reputation::{Model, Reputation};
use crate::sensor::{
    CellEntry, MAX_READING_SKEW_MS, Quantity, Sample, SensorRules, admit_reading, cell_capacity,
    check_samples, quality_ppm,
};
use crate::sensor_cross::{CrossParams, StationSeries, judge_stations};
use crate::storage::{ChunkFault, ReplicaRecord, challenge_indices, check_chunk, chunk_count};
use crate::verdict::{
    BATCH_VERSION, Capacity, Measure, Outcome, ReasonCode, Standing, Subject, Verdict,
    VerdictBatch, WorkKind,
};
use crate::window::{Carried, CoverageEvidence, SlotValues};

/// The verifier's parameters, read from the ledger's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierParams {
    pub epoch_ms: u64,
    pub storage_chunks: u32,
    pub storage_per_epoch: u32,
    pub storage_deadline_ms: u64,
    pub compute_per_epoch: u32,
    pub compute_n: u32,
    pub class1_ops_per_us: u64,
    pub compute_slack_bps: u64,
    pub compute_too_fast_bps: u64,
    pub network_allowance_ms: u64,
    pub freivalds_rounds: u32,
    pub retries: u32,
    pub model: Model,
    /// Share of consumer jobs re-executed, parts per million.
    pub reexec_ppm: u64,
}

fn small(p: &Params, id: ParamId) -> u32 {
    u32::try_from(p.get(id)).unwrap_or(u32::MAX)
}

impl VerifierParams {
    pub fn from_ledger(p: &Params) -> Self {
        VerifierParams {
            epoch_ms: p.get_u64(ParamId::EpochDurationMs),
            storage_chunks: small(p, ParamId::StorageChallengeChunks),
            storage_per_epoch: small(p, ParamId::StorageChallengesPerEpoch),
            storage_deadline_ms: p.get_u64(ParamId::StorageDeadlineMs),
            compute_per_epoch: small(p, ParamId::ComputeChallengesPerEpoch),
            compute_n: small(p, ParamId::ComputeChallengeN),
            class1_ops_per_us: p.get_u64(ParamId::ComputeClass1OpsPerUs),
            compute_slack_bps: p.get_u64(ParamId::ComputeSlackBps),
            compute_too_fast_bps: p.get_u64(ParamId::ComputeTooFastBps),
            network_allowance_ms: p.get_u64(ParamId::NetworkAllowanceMs),
            freivalds_rounds: small(p, ParamId::FreivaldsRounds),
            retries: small(p, ParamId::ChallengeRetries),
            reexec_ppm: p.get_u64(ParamId::ComputeReexecPpm),
            model: Model {
                decay_ppm: p.get_u64(ParamId::ReputationDecayPpm),
                floor_ppm: p.get_u64(ParamId::ReputationFloorPpm),
                probation_audits: p.get_u64(ParamId::ProbationAudits),
            },
        }
    }

    /// The deadline (ms after issue) of a storage challenge.
    pub fn storage_deadline(&self) -> u64 {
        self.storage_deadline_ms + self.network_allowance_ms
    }

    /// The deadline (ms after issue) of a beacon challenge: transmitted and reported
    /// within the network allowance plus the longest a witness may lag behind it.
    pub fn beacon_deadline(&self) -> u64 {
        self.network_allowance_ms + crate::coverage::CoverageParams::default().max_witness_lag_ms
    }

    /// The timing of a benchmark for a device claiming `class`.
    pub fn compute_timing(&self, class: u32) -> compute::Timing {
        compute::timing(
            self.compute_n,
            class,
            self.class1_ops_per_us,
            self.compute_slack_bps,
            self.compute_too_fast_bps,
            self.network_allowance_ms,
        )
    }

    /// The longest any attempt may stay open: what a run waits after an epoch's end
    /// before its records are complete (every retry of a challenge issued at the end).
    pub fn settle_ms(&self) -> u64 {
        let longest = self
            .storage_deadline()
            .max(self.compute_timing(1).deadline_ms);
        longest.saturating_mul(u64::from(self.retries) + 1)
    }
}

/// What the verifier needs of the chain: devices and parameters at one finalized height.
#[derive(Debug, Clone)]
pub struct ChainView {
    pub height: Height,
    /// The digest of the block at `height`, finalized after the epoch ended: the
    /// entropy of draws the providers must not predict (which jobs are re-executed).
    pub entropy: Hash,
    pub params: Params,
    pub devices: BTreeMap<PublicKey, DeviceKind>,
    /// What the cross-device checks need of each device: where it asserts it is, who
    /// owns and made it, and since when.
    pub sites: BTreeMap<PublicKey, Site>,
    /// Devices a denylist entry withholds from at `height`: not counted as witnesses or
    /// as neighbours in the cross-device checks.
    pub denylisted: BTreeSet<PublicKey>,
}

/// One device's facts on the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    pub owner: PublicKey,
    pub maker: PublicKey,
    pub onboarded_at: Height,
    pub location: Option<Location>,
}

/// The replicas and compute classes devices have registered, from their reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct Registry {
    replicas: BTreeMap<PublicKey, BTreeMap<Hash, ReplicaRecord>>,
    classes: BTreeMap<PublicKey, u32>,
    /// Each radio's frequency plan, as a [`region_code`].
    regions: BTreeMap<PublicKey, u8>,
}

/// The code of a frequency plan named in a radio's resource report (`"US915"`,
/// `"EU868"`, …); 0 for a name the verifier does not know.
pub fn region_code(name: &str) -> u8 {
    const PLANS: [&str; 10] = [
        "US915", "EU868", "AU915", "AS923", "IN865", "KR920", "CN470", "EU433", "RU864", "CN779",
    ];
    PLANS
        .iter()
        .position(|p| p.eq_ignore_ascii_case(name))
        .map_or(0, |i| i as u8 + 1)
}

impl Registry {
    /// A device's replicas, sorted by object id.
    pub fn replicas_of(&self, device: &PublicKey) -> Vec<ReplicaRecord> {
        self.replicas
            .get(device)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    /// The devices holding a replica of `object`, with their replica roots.
    pub fn holders(&self, object: &Hash) -> Vec<(PublicKey, ReplicaRecord)> {
        self.replicas
            .iter()
            .filter_map(|(d, held)| held.get(object).map(|r| (*d, *r)))
            .collect()
    }

    /// Every device with at least one replica, and how many it holds.
    pub fn replica_counts(&self) -> impl Iterator<Item = (&PublicKey, usize)> {
        self.replicas.iter().map(|(d, held)| (d, held.len()))
    }

    /// The frequency plan a radio last reported ([`region_code`]; 0 when it never said).
    pub fn region_of(&self, device: &PublicKey) -> u8 {
        self.regions.get(device).copied().unwrap_or(0)
    }

    /// The compute class a device last claimed (1 when it never said).
    pub fn class_of(&self, device: &PublicKey) -> u32 {
        self.classes.get(device).copied().unwrap_or(1)
    }

    /// Apply an authenticated report; whether it changed the registry.
    pub fn apply(&mut self, device: &PublicKey, report: &Report) -> bool {
        match &report.body {
            Some(Body::Replica(r)) => {
                let (Ok(object), Ok(root)) = (
                    <[u8; 32]>::try_from(r.object_id.as_slice()),
                    <[u8; 32]>::try_from(r.replica_root.as_slice()),
                ) else {
                    return false;
                };
                let held = self.replicas.entry(*device).or_default();
                if r.released {
                    held.remove(&Hash(object)).is_some()
                } else if chunk_count(r.size_bytes).is_some() {
                    held.insert(
                        Hash(object),
                        ReplicaRecord {
                            object: Hash(object),
                            size: r.size_bytes,
                            replica_root: Hash(root),
                        },
                    );
                    true
                } else {
                    false
                }
            }
            Some(Body::Resource(r)) => match &r.resource {
                Some(Resource::Radio(r)) => {
                    self.regions.insert(*device, region_code(&r.region));
                    true
                }
                Some(Resource::Compute(c)) => {
                    self.classes
                        .insert(*device, c.class.clamp(1, compute::MAX_CLASS));
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// Why a log record's report is not authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("record has no report")]
    NoReport,
    #[error("session grant: {0}")]
    Grant(String),
    #[error("report: {0}")]
    Report(String),
}

/// Check a record strictly: the device signed the session grant for this network, the
/// session key signed the report, the report names the grant's device, and the record was
/// received while the grant was valid. Ingest checked the same with batch verification,
/// which is not the strict check; verdicts rest on this one.
pub fn authenticate(
    network: &NetworkId,
    record: &LogRecord,
) -> Result<(PublicKey, Report), AuthError> {
    let signed = record.report.as_ref().ok_or(AuthError::NoReport)?;
    let grant = SessionGrant::decode(record.session_grant.as_slice())
        .map_err(|e| AuthError::Grant(e.to_string()))?;
    if grant.network != network.as_str() {
        return Err(AuthError::Grant(format!("for network {:?}", grant.network)));
    }
    let device =
        key_field("device_key", &grant.device_key).map_err(|e| AuthError::Grant(e.to_string()))?;
    let session = key_field("session_key", &grant.session_key)
        .map_err(|e| AuthError::Grant(e.to_string()))?;
    let grant_sig = signature_field("grant_signature", &record.grant_signature)
        .map_err(|e| AuthError::Grant(e.to_string()))?;
    if !device.verify_raw(
        &grant_signing_bytes(network, &record.session_grant),
        &grant_sig,
    ) {
        return Err(AuthError::Grant("device signature does not verify".into()));
    }
    if record.receive_time_ms > grant.expires_at_ms {
        return Err(AuthError::Grant(
            "received after the session expired".into(),
        ));
    }
    let sig = signature_field("signature", &signed.signature)
        .map_err(|e| AuthError::Report(e.to_string()))?;
    if !session.verify_raw(&report_signing_bytes(network, &signed.report), &sig) {
        return Err(AuthError::Report(
            "session signature does not verify".into(),
        ));
    }
    let report =
        Report::decode(signed.report.as_slice()).map_err(|e| AuthError::Report(e.to_string()))?;
    if report.device_key != device.as_bytes() {
        return Err(AuthError::Report(
            "names another device than its session".into(),
        ));
    }
    Ok((device, report))
}

/// The content id of an issued-challenge record: BLAKE3 of the encoded `IssuedChallenge`.
pub fn issued_content_id(issued: &IssuedChallenge) -> Hash {
    Hash::of(&issued.encode_to_vec())
}

/// Everything one run reads.
#[derive(Debug, Clone)]
pub struct EpochInput<'a> {
    pub network: &'a NetworkId,
    pub epoch: u64,
    /// Registry updates received at or after this time belong to the next epoch's run.
    pub epoch_end_ms: u64,
    pub chain: &'a ChainView,
    /// The registry at the epoch's start (the previous run's output).
    pub registry: Registry,
    /// The previous batch's standings.
    pub prior: &'a [Standing],
    /// The windows the previous run carried (the previous run's output).
    pub carried: Carried,
    /// The log records received from the epoch's start until its end plus
    /// [`VerifierParams::settle_ms`], in any order.
    pub records: Vec<LogRecord>,
    /// The jobs the network holds, by job id (at least those the records' job results
    /// name); content-addressed, so the same for every run.
    pub jobs: &'a BTreeMap<Hash, StoredJob>,
}

/// The report kinds `run_epoch` judges: a node reads these from its report log for each
/// epoch (heartbeats and usage receipts are not the verifier's).
pub const JUDGED_KINDS: [ReportKind; 8] = [
    ReportKind::Replica,
    ReportKind::Resource,
    ReportKind::ChallengeIssued,
    ReportKind::ChallengeResponse,
    ReportKind::JobResult,
    ReportKind::Beacon,
    ReportKind::Witness,
    ReportKind::SensorReading,
];

/// A run's result.
#[derive(Debug, Clone)]
pub struct EpochOutput {
    pub batch: VerdictBatch,
    /// The registry at the epoch's end (the next run's input).
    pub registry: Registry,
    /// The windows at the epoch's end (the next run's input).
    pub carried: Carried,
    /// Issued challenges that did not match their seed (a challenger bug or tampering):
    /// they judge nobody.
    pub challenger_faults: u64,
}

struct Attempt {
    issued: IssuedChallenge,
    cid: Hash,
    challenge: cairn_proto::v1::Challenge,
    /// Storage: the replica the seed picked from the registry at issue time.
    replica: Option<ReplicaRecord>,
    class: u32,
}

struct Response {
    device: PublicKey,
    receive_time_ms: u64,
    cid: Hash,
    response: ChallengeResponse,
}

/// Run the verifier over one epoch.
pub fn run_epoch(input: EpochInput<'_>) -> EpochOutput {
    let params = VerifierParams::from_ledger(&input.chain.params);
    let mut records = input.records;
    records.sort_by(|a, b| {
        (a.receive_time_ms, &a.content_id).cmp(&(b.receive_time_ms, &b.content_id))
    });
    records.dedup_by(|a, b| a.content_id == b.content_id);

    let mut registry = input.registry;
    let mut inputs: BTreeSet<Hash> = BTreeSet::new();
    let mut slots: BTreeMap<(PublicKey, u32), Vec<Attempt>> = BTreeMap::new();
    let mut responses: BTreeMap<Vec<u8>, Vec<Response>> = BTreeMap::new();
    let mut job_results: BTreeMap<(PublicKey, Hash), (Hash, JobResult)> = BTreeMap::new();
    let mut readings: BTreeMap<PublicKey, Vec<(Hash, Admitted)>> = BTreeMap::new();
    let mut coverage = CoverageRecords::default();

    for record in &records {
        let kind = ReportKind::try_from(record.kind).unwrap_or(ReportKind::Unspecified);
        match kind {
            ReportKind::Replica | ReportKind::Resource => {
                if record.receive_time_ms >= input.epoch_end_ms {
                    continue;
                }
                if let Ok((device, report)) = authenticate(input.network, record)
                    && registry.apply(&device, &report)
                {
                    inputs.insert(record_cid(record));
                }
            }
            ReportKind::ChallengeIssued => {
                let Some(issued) = record.issued.clone() else {
                    continue;
                };
                if issued.epoch != input.epoch {
                    continue;
                }
                let (Ok(device), Some(challenge)) = (
                    key_field("device_key", &issued.device_key),
                    issued.challenge.clone(),
                ) else {
                    continue;
                };
                // The replica the challenge's seed picks from what the device had
                // registered when it was issued; the audit checks the challenge names it.
                let replica = match (
                    &challenge.task,
                    <[u8; 32]>::try_from(challenge.seed.as_slice()),
                ) {
                    (Some(Task::Storage(_)), Ok(seed)) => {
                        challenge::pick_replica(&seed, &registry.replicas_of(&device)).copied()
                    }
                    _ => None,
                };
                let cid = issued_content_id(&issued);
                slots
                    .entry((device, issued.slot))
                    .or_default()
                    .push(Attempt {
                        class: registry.class_of(&device),
                        issued,
                        cid,
                        challenge,
                        replica,
                    });
            }
            ReportKind::JobResult => {
                if record.receive_time_ms >= input.epoch_end_ms {
                    continue;
                }
                let Ok((device, report)) = authenticate(input.network, record) else {
                    continue;
                };
                if let Some(Body::JobResult(result)) = report.body
                    && let Ok(job) = <[u8; 32]>::try_from(result.job_id.as_slice())
                {
                    job_results
                        .entry((device, Hash(job)))
                        .or_insert((record_cid(record), result));
                }
            }
            ReportKind::Beacon | ReportKind::Witness => {
                let Some((device, report)) = from_kind(
                    input.network,
                    input.epoch_end_ms,
                    input.chain,
                    record,
                    DeviceKind::Coverage,
                ) else {
                    continue;
                };
                let cid = record_cid(record);
                match report.body {
                    Some(Body::Beacon(b)) => coverage
                        .beacons
                        .entry(b.challenge_id.clone())
                        .or_default()
                        .push((device, record.receive_time_ms, cid, b)),
                    Some(Body::Witness(w)) => {
                        let fields = WitnessReportFields {
                            beaconer_key: &w.beaconer_key,
                            payload: &w.payload,
                            rssi_dbm10: w.rssi_dbm_x10,
                            snr_db10: w.snr_db_x10,
                            frequency_hz: w.frequency_hz,
                            received_at_ms: w.received_at_ms,
                        };
                        coverage.witnesses.push((
                            device,
                            record.receive_time_ms,
                            cid,
                            admit_witness(&fields, record.receive_time_ms, MAX_WITNESS_SKEW_MS),
                        ));
                    }
                    _ => {}
                }
            }
            ReportKind::SensorReading => {
                let Some((device, report)) = from_kind(
                    input.network,
                    input.epoch_end_ms,
                    input.chain,
                    record,
                    DeviceKind::Sensor,
                ) else {
                    continue;
                };
                if let Some(Body::SensorReading(r)) = report.body {
                    let measurements: Vec<(i32, i64)> = r
                        .measurements
                        .iter()
                        .map(|m| (m.quantity, m.value))
                        .collect();
                    readings.entry(device).or_default().push((
                        record_cid(record),
                        admit_reading(
                            r.sampled_at_ms,
                            record.receive_time_ms,
                            &measurements,
                            MAX_READING_SKEW_MS,
                        ),
                    ));
                }
            }
            ReportKind::ChallengeResponse => {
                let Ok((device, report)) = authenticate(input.network, record) else {
                    continue;
                };
                if let Some(Body::ChallengeResponse(response)) = report.body {
                    responses
                        .entry(response.challenge_id.clone())
                        .or_default()
                        .push(Response {
                            device,
                            receive_time_ms: record.receive_time_ms,
                            cid: record_cid(record),
                            response,
                        });
                }
            }
            _ => {}
        }
    }

    let mut reputations: BTreeMap<(KeyId, WorkKind), Reputation> = input
        .prior
        .iter()
        .map(|s| ((s.device, s.kind), s.reputation))
        .collect();
    let mut verdicts = Vec::new();
    let mut challenger_faults = 0;
    for ((device, _slot), mut attempts) in slots {
        if !input.chain.devices.contains_key(&device) {
            continue;
        }
        // Beacons are answered by beacon reports and judged with their witnesses, not
        // as challenge answers; one attempt each.
        if matches!(attempts[0].challenge.task, Some(Task::Beacon(_))) {
            attempts.sort_by_key(|a| a.issued.attempt);
            let first = attempts.swap_remove(0);
            if audit(&params, &device, input.epoch, &first) {
                inputs.insert(first.cid);
                coverage.issued.push((device, first.challenge));
            } else {
                challenger_faults += 1;
            }
            continue;
        }
        attempts.sort_by_key(|a| a.issued.attempt);
        attempts.truncate(params.retries as usize + 1);
        if attempts
            .iter()
            .any(|a| !audit(&params, &device, input.epoch, a))
        {
            challenger_faults += 1;
            continue;
        }
        let judged = judge(&params, &device, input.epoch, &attempts, &responses);
        for a in &attempts {
            inputs.insert(a.cid);
        }
        for e in &judged.verdict.evidence {
            inputs.insert(*e);
        }
        let reputation = reputations
            .entry((device.id(), judged.verdict.kind))
            .or_default();
        reputation.observe(&params.model, judged.passes, judged.fails, input.epoch);
        verdicts.push(judged.verdict);
    }
    for ((device, job), (cid, result)) in job_results {
        let Some(stored) = input.jobs.get(&job) else {
            continue;
        };
        if !input.chain.devices.contains_key(&device)
            || !(stored.canary
                || jobs::sampled(&input.chain.entropy, &job, &device, params.reexec_ppm))
        {
            continue;
        }
        let judged = jobs::judge(stored, &result);
        let pass = u64::from(judged.outcome == Outcome::Valid);
        inputs.insert(cid);
        reputations
            .entry((device.id(), WorkKind::Compute))
            .or_default()
            .observe(&params.model, pass, 1 - pass, input.epoch);
        verdicts.push(Verdict {
            device: device.into(),
            epoch: Epoch(input.epoch),
            kind: WorkKind::Compute,
            subject: Subject::Job,
            subject_id: job,
            outcome: judged.outcome,
            evidence: vec![cid],
            measured: vec![
                measure("fuel_used", result.fuel_used),
                measure("fuel_expected", judged.fuel_expected),
                measure("queue_ms", result.queue_ms),
                measure("run_ms", result.run_ms),
                measure("canary", u64::from(stored.canary)),
            ],
            score_ppm: Some(if pass == 1 { 1_000_000 } else { 0 }),
            detail: judged.detail,
        });
    }
    let start_ms = input.epoch_end_ms.saturating_sub(params.epoch_ms);
    let mut carried = input.carried;
    let (sensor_verdicts, sensor_capacity) = judge_sensors(
        input.epoch,
        start_ms,
        input.epoch_end_ms,
        input.chain,
        &mut carried,
        &readings,
    );
    for list in readings.values() {
        inputs.extend(list.iter().map(|(cid, _)| *cid));
    }
    inputs.extend(
        coverage
            .beacons
            .values()
            .flatten()
            .map(|(_, _, cid, _)| *cid),
    );
    inputs.extend(coverage.witnesses.iter().map(|(_, _, cid, _)| *cid));
    let (coverage_verdicts, coverage_capacity) =
        judge_coverage(input.epoch, input.chain, &registry, &mut carried, coverage);
    // An epoch verdict is one audit for the reputation of its kind.
    for v in sensor_verdicts.into_iter().chain(coverage_verdicts) {
        reputations.entry((v.device, v.kind)).or_default().observe(
            &params.model,
            u64::from(v.is_valid()),
            u64::from(!v.is_valid()),
            input.epoch,
        );
        verdicts.push(v);
    }
    verdicts.sort_by(|a, b| {
        (a.device, a.kind, a.subject, a.subject_id).cmp(&(
            b.device,
            b.kind,
            b.subject,
            b.subject_id,
        ))
    });
    let standings = reputations
        .into_iter()
        .map(|((device, kind), reputation)| Standing {
            device,
            kind,
            reputation,
        })
        .collect();
    let capacity = input
        .chain
        .devices
        .iter()
        .map(|(device, kind)| {
            let (kind, amount) = match kind {
                DeviceKind::Storage => (
                    WorkKind::Storage,
                    registry
                        .replicas_of(device)
                        .iter()
                        .fold(0u64, |t, r| t.saturating_add(r.size)),
                ),
                DeviceKind::Compute => (WorkKind::Compute, u64::from(registry.class_of(device))),
                DeviceKind::Sensor => (
                    WorkKind::Sensor,
                    sensor_capacity.get(&device.id()).copied().unwrap_or(0),
                ),
                DeviceKind::Coverage => (
                    WorkKind::Coverage,
                    coverage_capacity.get(&device.id()).copied().unwrap_or(0),
                ),
            };
            Capacity {
                device: device.id(),
                kind,
                amount,
            }
        })
        .collect();
    let leaves: Vec<Hash> = inputs.iter().copied().collect();
    let inputs_root = MerkleTree::from_leaf_hashes(leaves).root();
    EpochOutput {
        batch: VerdictBatch {
            version: BATCH_VERSION,
            epoch: Epoch(input.epoch),
            state_height: input.chain.height,
            entropy: input.chain.entropy,
            params_hash: input.chain.params.hash(),
            inputs_root,
            inputs: inputs.len() as u64,
            verdicts,
            standings,
            capacity,
        },
        registry,
        carried,
        challenger_faults,
    }
}

/// How far after its report reached ingest a witness may say it heard a beacon (clock
/// skew).
pub const MAX_WITNESS_SKEW_MS: u64 = 60_000;

/// A report as received: (device, receive time, content id, what it said).
type Received<T> = (PublicKey, u64, Hash, T);

/// The epoch's coverage reports.
#[derive(Default)]
struct CoverageRecords {
    /// Audited beacon challenges: (device, challenge).
    issued: Vec<(PublicKey, cairn_proto::v1::Challenge)>,
    /// Beacon reports by the challenge id they answer: (device, received, cid, report).
    beacons: BTreeMap<Vec<u8>, Vec<Received<BeaconReport>>>,
    /// Witness reports: (witness, received, cid, admitted or why not).
    witnesses: Vec<Received<Result<AdmittedWitness, ReasonCode>>>,
}

/// One device's epoch of coverage work.
#[derive(Default)]
struct CoverageWork {
    issued: u64,
    beacons: u64,
    beacons_valid: u64,
    witness_reports: u64,
    witnesses_valid: u64,
    /// Reward units × density scale, millionths.
    units: u128,
    refused: BTreeMap<ReasonCode, u64>,
    evidence: Vec<Hash>,
}

impl CoverageWork {
    fn refuse(&mut self, why: ReasonCode, cid: Hash) {
        *self.refused.entry(why).or_default() += 1;
        if self.evidence.len() < 16 && !self.evidence.contains(&cid) {
            self.evidence.push(cid);
        }
    }
}

/// The coverage devices' epoch: every issued beacon against its report (payload derived
/// from the challenge's entropy, the device key and the report's nonce; the power the
/// challenge drew), each beacon's witnesses through every witness rule, reward units ×
/// H3 density scale, and the epoch-wide detectors (including multilateration) over the
/// epoch's links. One verdict per coverage device that was challenged or reported, and
/// the units of the valid, unflagged ones as capacity.
fn judge_coverage(
    epoch: u64,
    chain: &ChainView,
    registry: &Registry,
    carried: &mut Carried,
    records: CoverageRecords,
) -> (Vec<Verdict>, BTreeMap<KeyId, u64>) {
    let cp = CoverageParams::default();
    let coverage_devices: BTreeSet<PublicKey> = chain
        .devices
        .iter()
        .filter(|(_, k)| **k == DeviceKind::Coverage)
        .map(|(d, _)| *d)
        .collect();
    let cells: Vec<(KeyId, Location)> = coverage_devices
        .iter()
        .filter_map(|d| Some((d.id(), chain.sites.get(d)?.location?)))
        .collect();
    let locations: BTreeMap<KeyId, Point> =
        cells.iter().map(|(k, c)| (*k, Point::of(*c))).collect();
    let density = density_scales(&DensityParams::default(), &cells);
    let mut work: BTreeMap<PublicKey, CoverageWork> = BTreeMap::new();
    let beaconed: BTreeSet<PublicKey> = records
        .beacons
        .values()
        .flatten()
        .map(|(d, _, _, _)| *d)
        .collect();
    let witnessed: BTreeSet<PublicKey> = records
        .witnesses
        .iter()
        .filter(|(_, _, _, w)| w.is_ok())
        .map(|(d, _, _, _)| *d)
        .collect();
    // Admitted witness reports by (beaconer, payload); refusals counted at once.
    let mut heard_by: BTreeMap<(KeyId, Hash), Vec<Received<AdmittedWitness>>> = BTreeMap::new();
    for (device, at, cid, admitted) in &records.witnesses {
        let w = work.entry(*device).or_default();
        w.witness_reports += 1;
        match admitted {
            Ok(a) => heard_by
                .entry((a.beaconer, a.payload))
                .or_default()
                .push((*device, *at, *cid, *a)),
            Err(why) => w.refuse(*why, *cid),
        }
    }
    let mut links: Vec<Link> = Vec::new();
    let mut heard: Vec<(KeyId, KeyId, i32)> = Vec::new();
    let mut reports: BTreeMap<KeyId, (u64, u64)> = BTreeMap::new();
    let mut beaconers: BTreeSet<KeyId> = BTreeSet::new();
    let mut matched: BTreeSet<(KeyId, Hash)> = BTreeSet::new();
    let mut issued = records.issued;
    issued.sort_by(|a, b| (a.0, &a.1.challenge_id).cmp(&(b.0, &b.1.challenge_id)));
    for (device, challenge) in &issued {
        let Some(Task::Beacon(task)) = &challenge.task else {
            continue;
        };
        let w = work.entry(*device).or_default();
        w.issued += 1;
        let mut answers: Vec<&Received<BeaconReport>> = records
            .beacons
            .get(&challenge.challenge_id)
            .map(|v| v.iter().filter(|(d, _, _, _)| d == device).collect())
            .unwrap_or_default();
        answers.sort_by_key(|(_, at, cid, _)| (*at, *cid));
        let Some((_, reported_ms, cid, report)) = answers.first().copied() else {
            continue;
        };
        w.beacons += 1;
        // A second report for one challenge: one beacon per challenge counts.
        for (_, _, extra, _) in answers.iter().skip(1) {
            w.refuse(ReasonCode::BeaconTooSoon, *extra);
        }
        let Some(location) = locations.get(&device.id()).copied() else {
            w.refuse(ReasonCode::NoAssertedLocation, *cid);
            continue;
        };
        if report.tx_power_dbm_x10 != task.tx_power_dbm_x10 {
            w.refuse(ReasonCode::WrongTransmitPower, *cid);
            continue;
        }
        let (Ok(entropy), Ok(nonce), Ok(payload)) = (
            <[u8; 32]>::try_from(task.entropy.as_slice()),
            <[u8; 8]>::try_from(report.nonce.as_slice()),
            <[u8; 32]>::try_from(report.payload.as_slice()),
        ) else {
            w.refuse(ReasonCode::BeaconPayloadMismatch, *cid);
            continue;
        };
        let beacon = Beacon {
            beaconer: device.id(),
            location,
            region: registry.region_of(device),
            frequency_hz: report.frequency_hz,
            tx_power_dbm10: task.tx_power_dbm_x10,
            payload: Hash(payload),
            entropy_ms: challenge.issued_at_ms,
            reported_ms: *reported_ms,
        };
        let derived = Hash(beacon_payload(&entropy, device, &nonce));
        if let Err(why) = check_beacon(&cp, &beacon, &derived, None, witnessed.contains(device)) {
            w.refuse(why, *cid);
            continue;
        }
        w.beacons_valid += 1;
        beaconers.insert(device.id());
        matched.insert((device.id(), beacon.payload));
        let hearers: &[Received<AdmittedWitness>] = heard_by
            .get(&(device.id(), beacon.payload))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let witnesses: Vec<Witness> = hearers
            .iter()
            .map(|(wd, at, _, a)| Witness {
                witness: wd.id(),
                location: locations.get(&wd.id()).copied(),
                region: registry.region_of(wd),
                payload: a.payload,
                rssi_dbm10: a.rssi_dbm10,
                frequency_hz: a.frequency_hz,
                reported_ms: *at,
                known: coverage_devices.contains(wd),
                denylisted: chain.denylisted.contains(wd),
                pair_denylisted: false,
                beaconed_recently: beaconed.contains(wd),
            })
            .collect();
        // A denylisted radio's word does not place its neighbours.
        heard.extend(witnesses.iter().filter(|x| !x.denylisted).map(|x| {
            (
                beacon.beaconer,
                x.witness,
                x.rssi_dbm10 - beacon.tx_power_dbm10,
            )
        }));
        let verdicts = judge_witnesses(&cp, &beacon, &witnesses);
        let first_ms = witnesses
            .iter()
            .map(|x| x.reported_ms)
            .min()
            .unwrap_or(beacon.reported_ms);
        let mut valid = 0u64;
        let mut paid: Vec<KeyId> = Vec::new();
        for (wk, verdict) in &verdicts {
            let broke = matches!(
                verdict,
                Err(ReasonCode::RssiAboveFreeSpace | ReasonCode::WitnessTooFar)
            );
            for k in [beacon.beaconer, *wk] {
                let r = reports.entry(k).or_default();
                r.0 += 1;
                r.1 += u64::from(broke);
            }
            let Some((wd, _, wcid, _)) = hearers.iter().find(|(d, _, _, _)| d.id() == *wk) else {
                continue;
            };
            let x = witnesses
                .iter()
                .find(|x| x.witness == *wk)
                .expect("every verdict is of a witness");
            match verdict {
                Ok(()) => {
                    valid += 1;
                    paid.push(*wk);
                }
                Err(ReasonCode::OverWitnessCap) => {}
                Err(why) => {
                    work.entry(*wd).or_default().refuse(*why, *wcid);
                    continue;
                }
            }
            let d = location.distance_m(x.location.as_ref().expect("valid witnesses have sites"));
            links.push(Link {
                beaconer: beacon.beaconer,
                witness: *wk,
                tx_power_dbm10: beacon.tx_power_dbm10,
                rssi_dbm10: x.rssi_dbm10,
                bound_dbm10: max_rssi_dbm10(
                    beacon.tx_power_dbm10,
                    cp.antenna_gains_dbi10,
                    d,
                    beacon.frequency_hz,
                ),
                expected_dbm10: model_rssi_dbm10(
                    beacon.tx_power_dbm10,
                    cp.antenna_gains_dbi10,
                    d,
                    beacon.frequency_hz,
                    31,
                ),
                lag_ms: x.reported_ms - first_ms,
            });
        }
        let (bu, wu) = beacon_units(valid);
        let scale = u128::from(density.get(&beacon.beaconer).copied().unwrap_or(0));
        work.entry(*device).or_default().units += u128::from(bu) * scale / 1_000_000;
        for k in paid {
            if let Some((wd, _, _, _)) = hearers.iter().find(|(d, _, _, _)| d.id() == k) {
                let ww = work.entry(*wd).or_default();
                ww.witnesses_valid += 1;
                ww.units += u128::from(wu) * scale / 1_000_000;
            }
        }
    }
    // Witness reports of no beacon reported this epoch.
    for ((beaconer, payload), hearers) in &heard_by {
        if beaconed.iter().any(|d| d.id() == *beaconer) {
            let answered_payload = records.beacons.values().flatten().any(|(d, _, _, b)| {
                d.id() == *beaconer && b.payload.as_slice() == payload.as_bytes()
            });
            if answered_payload {
                continue;
            }
        }
        for (wd, _, cid, _) in hearers {
            work.entry(*wd)
                .or_default()
                .refuse(ReasonCode::WitnessPayloadMismatch, *cid);
        }
    }
    // The detectors read the window's evidence, this epoch's included.
    let window = carried.push_coverage(CoverageEvidence {
        links,
        heard,
        reports,
        beaconers,
        sites: locations,
    });
    let flagged = detect(
        &DetectInput {
            links: &window.links,
            heard: &window.heard,
            reports: &window.reports,
            beaconers: &window.beaconers,
            locations: &window.sites,
        },
        &DetectParams::default(),
    );
    let mut capacity = BTreeMap::new();
    let verdicts = work
        .into_iter()
        .filter(|(d, _)| coverage_devices.contains(d))
        .map(|(device, w)| {
            let key = device.id();
            let units = u64::try_from(w.units).unwrap_or(u64::MAX);
            let mut measured = vec![
                measure("beacons_issued", w.issued),
                measure("beacons", w.beacons),
                measure("beacons_valid", w.beacons_valid),
                measure("witness_reports", w.witness_reports),
                measure("witnesses_valid", w.witnesses_valid),
                measure("units_ppm", units),
            ];
            measured.extend(w.refused.iter().map(|(why, n)| measure(why.name(), *n)));
            let summary = format!(
                "{} of {} beacons valid, {} of {} witness reports paid, {}.{:06} units",
                w.beacons_valid,
                w.issued,
                w.witnesses_valid,
                w.witness_reports,
                units / 1_000_000,
                units % 1_000_000
            );
            let missed = w.issued > w.beacons && units == 0;
            let verdict = epoch_verdict(
                EpochWork {
                    device: key,
                    epoch,
                    kind: WorkKind::Coverage,
                    flags: flagged.get(&key).map(Vec::as_slice),
                    refused: &w.refused,
                    earned: units > 0,
                    nothing: missed.then_some(ReasonCode::Timeout),
                    score_ppm: None,
                    measured,
                    evidence: w.evidence,
                },
                summary,
            );
            if verdict.is_valid() {
                capacity.insert(key, units);
            }
            verdict
        })
        .collect();
    (verdicts, capacity)
}

/// What an epoch verdict (sensor or coverage) is made of.
struct EpochWork<'a> {
    device: KeyId,
    epoch: u64,
    kind: WorkKind,
    /// Reasons an epoch-wide check flagged the device, in order.
    flags: Option<&'a [ReasonCode]>,
    /// What of its reports was refused, by reason.
    refused: &'a BTreeMap<ReasonCode, u64>,
    /// Whether anything it did counted.
    earned: bool,
    /// The reason when it earned nothing and nothing was refused (e.g. no beacon).
    nothing: Option<ReasonCode>,
    score_ppm: Option<u32>,
    measured: Vec<Measure>,
    evidence: Vec<Hash>,
}

/// An epoch verdict: invalid with the first flag when a check flagged the device; invalid
/// with the commonest refusal when nothing it did counted; else valid. The detail lists
/// the counts and every refusal.
fn epoch_verdict(w: EpochWork<'_>, summary: String) -> Verdict {
    let commonest = w
        .refused
        .iter()
        .max_by_key(|(why, n)| (**n, std::cmp::Reverse(**why)))
        .map(|(why, _)| *why);
    let outcome = match (w.flags.and_then(|f| f.first()), w.earned) {
        (Some(why), _) => Outcome::Invalid(*why),
        (None, true) => Outcome::Valid,
        (None, false) => match commonest.or(w.nothing) {
            Some(why) => Outcome::Invalid(why),
            None => Outcome::Valid,
        },
    };
    let mut detail = summary;
    for (why, n) in w.refused {
        detail.push_str(&format!("; {n} {why}"));
    }
    if let Some(f) = w.flags {
        detail.push_str("; flagged: ");
        detail.push_str(&f.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "));
    }
    Verdict {
        device: w.device,
        epoch: Epoch(w.epoch),
        kind: w.kind,
        subject: Subject::Epoch,
        subject_id: Hash::ZERO,
        outcome,
        evidence: w.evidence,
        measured: w.measured,
        score_ppm: w.score_ppm,
        detail,
    }
}

/// A sensor reading as admitted: its samples, or why it is not a measurement.
type Admitted = Result<Vec<(Quantity, Sample)>, ReasonCode>;

/// The sensor stations' epoch: each station's readings against its model's rules, its
/// quality, the cross-station checks (when the epoch is long enough to judge a series),
/// and which stations each H3 cell pays. One verdict per station that reported, and the
/// capacity (quality) of the paid ones.
fn judge_sensors(
    epoch: u64,
    start_ms: u64,
    end_ms: u64,
    chain: &ChainView,
    carried: &mut Carried,
    readings: &BTreeMap<PublicKey, Vec<(Hash, Admitted)>>,
) -> (Vec<Verdict>, BTreeMap<KeyId, u64>) {
    let rules = SensorRules::default();
    let cross = CrossParams::default();
    struct Station {
        device: PublicKey,
        readings: u64,
        valid: u64,
        refused: BTreeMap<ReasonCode, u64>,
        evidence: Vec<Hash>,
        quality: u64,
    }
    let mut stations: Vec<Station> = Vec::new();
    for (device, list) in readings {
        let mut refused: BTreeMap<ReasonCode, u64> = BTreeMap::new();
        let mut evidence = Vec::new();
        let mut by_quantity: BTreeMap<Quantity, Vec<Sample>> = BTreeMap::new();
        for (cid, admitted) in list {
            match admitted {
                Ok(samples) => {
                    for (q, s) in samples {
                        by_quantity.entry(*q).or_default().push(*s);
                    }
                }
                Err(why) => {
                    *refused.entry(*why).or_default() += 1;
                    // The first refusals are the evidence; the inputs root covers all.
                    if evidence.len() < 16 {
                        evidence.push(*cid);
                    }
                }
            }
        }
        // A sample time is valid when every quantity sampled then passed its rules.
        let mut at: BTreeMap<u64, bool> = BTreeMap::new();
        for (q, samples) in &by_quantity {
            let Some(r) = rules.quantities.get(q) else {
                continue;
            };
            for (s, why) in check_samples(r, samples) {
                let ok = why.is_none();
                *at.entry(s.at_ms).or_insert(true) &= ok;
                if let Some(why) = why {
                    *refused.entry(why).or_default() += 1;
                }
                // Valid values of this epoch go into the carried window, by absolute
                // slot, for the cross-station checks.
                if ok && (start_ms..end_ms).contains(&s.at_ms) {
                    let values = match q {
                        Quantity::Temperature => SlotValues {
                            temperature: Some(s.value),
                            irradiance: None,
                        },
                        Quantity::Irradiance => SlotValues {
                            temperature: None,
                            irradiance: Some(s.value),
                        },
                        _ => continue,
                    };
                    carried.put_slot(device.id(), s.at_ms / cross.slot_ms, values);
                }
            }
        }
        let valid_at: Vec<u64> = at.iter().filter(|(_, ok)| **ok).map(|(t, _)| *t).collect();
        stations.push(Station {
            device: *device,
            readings: list.len() as u64,
            valid: valid_at.len() as u64,
            refused,
            evidence,
            quality: quality_ppm(&rules, start_ms, end_ms, &valid_at),
        });
    }
    // Across stations with an asserted site, over the carried window (a trailing day):
    // stations silent this epoch still count as neighbours; denylisted ones do not.
    let (first_slot, window) = carried.sensor_window(end_ms.div_ceil(cross.slot_ms));
    let sites: BTreeMap<KeyId, (PublicKey, &Site)> = chain
        .sites
        .iter()
        .map(|(k, site)| (k.id(), (*k, site)))
        .collect();
    struct Column<'s> {
        key: KeyId,
        device: PublicKey,
        site: &'s Site,
        temperature: Vec<Option<i64>>,
        irradiance: Vec<Option<i64>>,
    }
    let columns: Vec<Column<'_>> = window
        .into_iter()
        .filter_map(|(key, values)| {
            let (device, site) = sites.get(&key).copied()?;
            Some(Column {
                key,
                device,
                site,
                temperature: values.iter().map(|v| v.temperature).collect(),
                irradiance: values.iter().map(|v| v.irradiance).collect(),
            })
        })
        .collect();
    let series: Vec<StationSeries<'_>> = columns
        .iter()
        .filter_map(|c| {
            Some(StationSeries {
                device: c.key,
                site: Point::of(c.site.location?),
                owner: c.site.owner,
                maker: c.site.maker,
                onboarded: c.site.onboarded_at,
                temperature: &c.temperature,
                irradiance: &c.irradiance,
                excluded: chain.denylisted.contains(&c.device),
            })
        })
        .collect();
    let span = columns.first().map_or(0, |c| c.temperature.len());
    let flagged = if span >= cross.min_slots {
        judge_stations(&series, first_slot * cross.slot_ms, &cross)
    } else {
        BTreeMap::new()
    };
    let entries: Vec<CellEntry> = stations
        .iter()
        .filter(|st| !flagged.contains_key(&st.device.id()))
        .filter_map(|st| {
            let site = chain.sites.get(&st.device)?;
            Some(CellEntry {
                device: st.device.id(),
                cell: site.location?,
                quality_ppm: st.quality,
                onboarded: site.onboarded_at,
            })
        })
        .collect();
    let paid = cell_capacity(&entries, rules.cell_capacity);
    let mut capacity = BTreeMap::new();
    let verdicts = stations
        .into_iter()
        .map(|st| {
            let key = st.device.id();
            let in_cell = paid.contains(&key);
            let mut measured = vec![
                measure("readings", st.readings),
                measure("valid", st.valid),
                measure("quality_ppm", st.quality),
                measure("paid_in_cell", u64::from(in_cell)),
            ];
            measured.extend(st.refused.iter().map(|(why, n)| measure(why.name(), *n)));
            let summary = format!(
                "{} readings, {} valid, quality {}.{:02}%",
                st.readings,
                st.valid,
                st.quality / 10_000,
                st.quality % 10_000 / 100
            );
            let verdict = epoch_verdict(
                EpochWork {
                    device: key,
                    epoch,
                    kind: WorkKind::Sensor,
                    flags: flagged.get(&key).map(Vec::as_slice),
                    refused: &st.refused,
                    earned: st.quality > 0,
                    nothing: Some(ReasonCode::MalformedReading),
                    score_ppm: Some(u32::try_from(st.quality).unwrap_or(u32::MAX)),
                    measured,
                    evidence: st.evidence,
                },
                summary,
            );
            if verdict.is_valid() && in_cell {
                capacity.insert(key, st.quality);
            }
            verdict
        })
        .collect();
    (verdicts, capacity)
}

/// A report received before the epoch's end, authentic, from a device onboarded as
/// `kind`; anything else is not this epoch's work of that kind.
fn from_kind(
    network: &NetworkId,
    epoch_end_ms: u64,
    chain: &ChainView,
    record: &LogRecord,
    kind: DeviceKind,
) -> Option<(PublicKey, Report)> {
    if record.receive_time_ms >= epoch_end_ms {
        return None;
    }
    let (device, report) = authenticate(network, record).ok()?;
    (chain.devices.get(&device) == Some(&kind)).then_some((device, report))
}

fn record_cid(record: &LogRecord) -> Hash {
    <[u8; 32]>::try_from(record.content_id.as_slice())
        .map(Hash)
        .unwrap_or(Hash::ZERO)
}

/// Whether an issued challenge is exactly what its seed inputs and the rules give.
fn audit(params: &VerifierParams, device: &PublicKey, epoch: u64, a: &Attempt) -> bool {
    let Ok(block_hash) = <[u8; 32]>::try_from(a.issued.block_hash.as_slice()) else {
        return false;
    };
    let seed = challenge::seed(SeedInput {
        block_hash: &Hash(block_hash),
        device,
        epoch,
        slot: a.issued.slot,
        attempt: a.issued.attempt,
    });
    let c = &a.challenge;
    if c.seed != seed || c.challenge_id != challenge::challenge_id(&seed).0 {
        return false;
    }
    match &c.task {
        Some(Task::Storage(s)) => {
            let Some(replica) = a.replica else {
                return false;
            };
            s.object_id == replica.object.0
                && s.chunk_indices
                    == challenge_indices(
                        &seed,
                        chunk_count(replica.size).unwrap_or(0),
                        params.storage_chunks,
                    )
                && c.deadline_ms == c.issued_at_ms + params.storage_deadline()
        }
        Some(Task::Compute(k)) => {
            k.n == params.compute_n
                && k.modulus == MODULUS
                && c.deadline_ms == c.issued_at_ms + params.compute_timing(a.class).deadline_ms
        }
        Some(Task::Beacon(b)) => {
            b.entropy == c.seed
                && b.tx_power_dbm_x10
                    == challenge::beacon_power(
                        &seed,
                        &crate::coverage::CoverageParams::default().tx_powers_dbm10,
                    )
                && c.deadline_ms == c.issued_at_ms + params.beacon_deadline()
        }
        None => false,
    }
}

struct Judged {
    verdict: Verdict,
    passes: u64,
    fails: u64,
}

fn judge(
    params: &VerifierParams,
    device: &PublicKey,
    epoch: u64,
    attempts: &[Attempt],
    responses: &BTreeMap<Vec<u8>, Vec<Response>>,
) -> Judged {
    let first = &attempts[0];
    let storage = matches!(first.challenge.task, Some(Task::Storage(_)));
    let (kind, items) = if storage {
        (WorkKind::Storage, u64::from(params.storage_chunks))
    } else {
        (WorkKind::Compute, 1)
    };
    let mut evidence: Vec<Hash> = Vec::new();
    let mut late = None;
    for (tries, a) in attempts.iter().enumerate() {
        evidence.push(a.cid);
        let Some(r) = responses
            .get(&a.challenge.challenge_id)
            .and_then(|rs| rs.iter().find(|r| r.device == *device))
        else {
            continue;
        };
        evidence.push(r.cid);
        let response_ms = r.receive_time_ms.saturating_sub(a.challenge.issued_at_ms);
        if r.receive_time_ms > a.challenge.deadline_ms {
            late = Some(response_ms);
            continue;
        }
        let mut measured = vec![
            measure("response_ms", response_ms),
            measure("attempt", tries as u64),
        ];
        let (outcome, passes, detail, score) = if storage {
            judge_storage(params, device, a, &r.response, &mut measured)
        } else {
            judge_compute(params, a, &r.response, response_ms, &mut measured)
        };
        return Judged {
            verdict: Verdict {
                device: device.id(),
                epoch: Epoch(epoch),
                kind,
                subject: Subject::Challenge,
                subject_id: challenge::challenge_id(&seed_of(first)),
                outcome,
                evidence,
                measured,
                score_ppm: score,
                detail,
            },
            passes,
            fails: items - passes,
        };
    }
    let (reason, detail) = match late {
        Some(ms) if !storage => (
            ReasonCode::TooSlow,
            format!(
                "answered {ms} ms after issue on the last try; the class's deadline is {} ms",
                first.challenge.deadline_ms - first.challenge.issued_at_ms
            ),
        ),
        Some(ms) => (
            ReasonCode::Late,
            format!(
                "answered {ms} ms after issue on the last try; the deadline is {} ms",
                first.challenge.deadline_ms - first.challenge.issued_at_ms
            ),
        ),
        None => (
            ReasonCode::Timeout,
            format!("no answer to {} tries", attempts.len()),
        ),
    };
    Judged {
        verdict: Verdict {
            device: device.id(),
            epoch: Epoch(epoch),
            kind,
            subject: Subject::Challenge,
            subject_id: challenge::challenge_id(&seed_of(first)),
            outcome: Outcome::Invalid(reason),
            evidence,
            measured: vec![measure("attempts", attempts.len() as u64)],
            score_ppm: Some(0),
            detail,
        },
        passes: 0,
        fails: items,
    }
}

fn seed_of(a: &Attempt) -> [u8; 32] {
    <[u8; 32]>::try_from(a.challenge.seed.as_slice()).unwrap_or([0; 32])
}

fn measure(name: &str, value: u64) -> Measure {
    Measure {
        name: name.into(),
        value: i64::try_from(value).unwrap_or(i64::MAX),
    }
}

/// An answer that earns nothing, with its reason.
fn failed(reason: ReasonCode, detail: impl Into<String>) -> (Outcome, u64, String, Option<u32>) {
    (Outcome::Invalid(reason), 0, detail.into(), Some(0))
}

fn judge_storage(
    params: &VerifierParams,
    device: &PublicKey,
    a: &Attempt,
    response: &ChallengeResponse,
    measured: &mut Vec<Measure>,
) -> (Outcome, u64, String, Option<u32>) {
    let c = u64::from(params.storage_chunks);
    let (Some(Task::Storage(task)), Some(replica)) = (&a.challenge.task, a.replica) else {
        return failed(ReasonCode::UnknownReplica, "no replica registered");
    };
    let Some(Answer::Storage(proof)) = &response.answer else {
        return failed(
            ReasonCode::WrongAnswerKind,
            "a storage challenge needs a storage proof",
        );
    };
    let mut passes = 0u64;
    let mut first: Option<(ReasonCode, String)> = None;
    // Position k answers the k-th index asked; chunks beyond those asked prove nothing
    // and are ignored.
    for (k, index) in task.chunk_indices.iter().enumerate() {
        let fault = match proof.chunks.get(k) {
            None => Some((
                ReasonCode::MissingChunks,
                format!("chunk {index} (position {k}) was not in the answer"),
            )),
            Some(p) => check_chunk(device, &replica, *index, p).err().map(|f| {
                let reason = match f {
                    ChunkFault::WrongIndex { .. } => ReasonCode::MissingChunks,
                    ChunkFault::WrongSize { .. } => ReasonCode::WrongChunkSize,
                    ChunkFault::MalformedPath { .. } => ReasonCode::MalformedAnswer,
                    ChunkFault::ReplicaPath { .. } => ReasonCode::ReplicaMismatch,
                    ChunkFault::ContentPath { .. } => ReasonCode::NotThisDevicesReplica,
                };
                (reason, f.to_string())
            }),
        };
        match fault {
            None => passes += 1,
            Some(f) => {
                first.get_or_insert(f);
            }
        }
    }
    measured.push(measure("chunks_asked", c));
    measured.push(measure("chunks_failed", c - passes));
    let score = Some((passes * 1_000_000 / c.max(1)) as u32);
    match first {
        None => (Outcome::Valid, passes, String::new(), score),
        Some((reason, detail)) => (Outcome::Invalid(reason), passes, detail, score),
    }
}

fn judge_compute(
    params: &VerifierParams,
    a: &Attempt,
    response: &ChallengeResponse,
    response_ms: u64,
    measured: &mut Vec<Measure>,
) -> (Outcome, u64, String, Option<u32>) {
    let Some(Task::Compute(task)) = &a.challenge.task else {
        return failed(
            ReasonCode::WrongAnswerKind,
            "a benchmark challenge got another task",
        );
    };
    let Some(Answer::Compute(result)) = &response.answer else {
        return failed(
            ReasonCode::WrongAnswerKind,
            "a benchmark challenge needs a product",
        );
    };
    let timing = params.compute_timing(a.class);
    measured.push(measure("class", u64::from(a.class)));
    measured.push(measure("expected_ms", timing.expected_ms));
    measured.push(measure("too_fast_ms", timing.too_fast_ms));
    match compute::check_product(
        &a.challenge.seed,
        task.n,
        task.modulus,
        &result.product,
        params.freivalds_rounds,
    ) {
        Err(ProductFault::Wrong { round }) => (
            Outcome::Invalid(ReasonCode::WrongProduct),
            0,
            format!(
                "Freivalds round {round} of {} failed",
                params.freivalds_rounds
            ),
            Some(0),
        ),
        Err(e) => (
            Outcome::Invalid(ReasonCode::MalformedProduct),
            0,
            e.to_string(),
            Some(0),
        ),
        Ok(()) if response_ms < timing.too_fast_ms => (
            Outcome::Invalid(ReasonCode::TooFast),
            0,
            format!(
                "answered in {response_ms} ms; class {} needs at least {} ms for n = {}",
                a.class, timing.too_fast_ms, task.n
            ),
            Some(0),
        ),
        Ok(()) => (Outcome::Valid, 1, String::new(), Some(1_000_000)),
    }
}
