//! A seeded simulation of storage and compute providers, honest and dishonest, against
//! the real challenge construction and the real epoch verifier.
//!
//! What is simulated: the devices' behaviour and the time their answers take (network
//! round trips, disk and compute time, a partner fetch). What is real: replicas encoded
//! per device, Merkle proofs, benchmark products, signed reports and session grants, the
//! log records ingest would write, challenge seeds and deadlines from the ledger's
//! parameters, and [`cairn_verify::run_epoch`] judging them. The same seed replays the
//! same run bit for bit.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use cairn_core::{Hash, Height, KeyId, Keypair, NetworkId, PublicKey};
use cairn_ledger::Params;
use cairn_ledger::tx::DeviceKind;
use cairn_proto::compute::expected_product;
use cairn_proto::v1::challenge::Task;
use cairn_proto::v1::challenge_response::Answer;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::resource_report::Resource;
use cairn_proto::v1::{
    Challenge, ChallengeResponse, ComputeResource, ComputeResult, IssuedChallenge, LogRecord,
    ReplicaCommitment, Report, ReportKind, ResourceReport, SessionGrant, SignedReport,
    StorageProof,
};
use cairn_proto::{content_id, grant_signing_bytes, report_kind, sign_report};
use cairn_verify::challenge::{self, SeedInput};
use cairn_verify::epoch::issued_content_id;
use cairn_verify::storage::{CHUNK_SIZE, Replica, ReplicaRecord};
use cairn_verify::{
    ChainView, EpochInput, Outcome, ReasonCode, Registry, Standing, Status, VerdictBatch,
    VerifierParams, WorkKind, run_epoch,
};
use prost::Message;

use crate::drivers::SimRng;

/// How a simulated provider behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Behaviour {
    /// Keeps its replicas and answers on time.
    HonestStorage,
    /// Honest, but each attempt goes unanswered with this probability (ppm): a flaky disk
    /// or link. Must never be disqualified.
    FlakyStorage { miss_ppm: u32 },
    /// Deleted this fraction (ppm) of each replica's chunks and answers those with junk.
    DeleteStorage { fraction_ppm: u32 },
    /// Stores nothing; fetches each answer from a partner over the internet.
    OutsourceStorage,
    /// One of `k` identities sharing a single copy (encoded for the group's first).
    SharedCopy { k: u32 },
    /// Claims and has `class`.
    HonestCompute { class: u32 },
    /// Claims class `claimed` but computes at class `actual`.
    SpoofClass { claimed: u32, actual: u32 },
    /// Returns a random product with probability `q_ppm`.
    LazyCompute { q_ppm: u32 },
    /// Claims class 4 and sends each benchmark to a remote class-4 machine over the
    /// internet.
    OutsourceCompute,
}

impl Behaviour {
    pub fn label(&self) -> String {
        match self {
            Behaviour::HonestStorage => "storage: honest".into(),
            Behaviour::FlakyStorage { miss_ppm } => {
                format!("storage: honest, flaky ({}% missed)", miss_ppm / 10_000)
            }
            Behaviour::DeleteStorage { fraction_ppm } => {
                format!("storage: deletes {}%", pct(*fraction_ppm))
            }
            Behaviour::OutsourceStorage => "storage: outsources to a partner".into(),
            Behaviour::SharedCopy { k } => format!("storage: {k} identities, one copy"),
            Behaviour::HonestCompute { class } => format!("compute: honest class {class}"),
            Behaviour::SpoofClass { claimed, actual } => {
                format!("compute: claims class {claimed}, is {actual}")
            }
            Behaviour::LazyCompute { q_ppm } => {
                format!("compute: wrong {}% of the time", pct(*q_ppm))
            }
            Behaviour::OutsourceCompute => "compute: class 4 outsourced remotely".into(),
        }
    }

    pub fn honest(&self) -> bool {
        matches!(
            self,
            Behaviour::HonestStorage
                | Behaviour::FlakyStorage { .. }
                | Behaviour::HonestCompute { .. }
        )
    }

    /// The compute class the device claims.
    fn claimed_class(&self) -> u32 {
        match *self {
            Behaviour::HonestCompute { class } => class,
            Behaviour::SpoofClass { claimed, .. } => claimed,
            Behaviour::OutsourceCompute => 4,
            _ => 1,
        }
    }

    /// Identities one population entry of this behaviour makes: `k` for a group sharing
    /// one copy, else one.
    pub fn identities(&self) -> u32 {
        match self {
            Behaviour::SharedCopy { k } => *k,
            _ => 1,
        }
    }

    /// Whether the device is a storage provider (else compute).
    pub fn storage(&self) -> bool {
        matches!(
            self,
            Behaviour::HonestStorage
                | Behaviour::FlakyStorage { .. }
                | Behaviour::DeleteStorage { .. }
                | Behaviour::OutsourceStorage
                | Behaviour::SharedCopy { .. }
        )
    }
}

fn pct(ppm: u32) -> String {
    if ppm.is_multiple_of(10_000) {
        format!("{}", ppm / 10_000)
    } else {
        format!("{}.{:02}", ppm / 10_000, (ppm % 10_000) / 100)
    }
}

/// A simulation's set-up.
#[derive(Debug, Clone)]
pub struct ProofSimConfig {
    pub seed: u64,
    pub epochs: u64,
    /// Device classes and how many of each (a `SharedCopy { k }` entry of count g makes g
    /// groups of k identities).
    pub population: Vec<(Behaviour, u32)>,
    /// Objects each storage provider holds, and their size in chunks.
    pub objects_per_provider: u32,
    pub chunks_per_object: u32,
    pub params: Params,
}

/// One class's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassResult {
    pub behaviour: Behaviour,
    pub devices: u64,
    /// Devices with at least one invalid verdict other than a timeout, or disqualified.
    pub caught: u64,
    pub disqualified: u64,
    /// Sum over caught devices of the epoch of their first catch.
    pub catch_epoch_sum: u64,
    pub latest_catch_epoch: u64,
    /// Challenges judged, and how many were invalid (any reason).
    pub challenges: u64,
    pub invalid: u64,
    pub timeouts: u64,
    /// Reasons seen, with counts.
    pub reasons: BTreeMap<&'static str, u64>,
}

impl ClassResult {
    pub fn detection_rate(&self) -> f64 {
        if self.challenges == 0 {
            0.0
        } else {
            self.invalid as f64 / self.challenges as f64
        }
    }

    pub fn mean_epochs_to_detection(&self) -> f64 {
        if self.caught == 0 {
            0.0
        } else {
            self.catch_epoch_sum as f64 / self.caught as f64
        }
    }
}

/// A whole run's results.
#[derive(Debug, Clone)]
pub struct ProofSimResult {
    pub classes: Vec<ClassResult>,
    /// Every epoch's verdict batch.
    pub verdicts: Vec<VerdictBatch>,
    /// Every device and how it behaved, in the order they were created.
    pub devices: Vec<(KeyId, Behaviour)>,
    /// For lazy compute devices: (device, epoch of the first wrong answer, epoch first caught).
    pub lazy_first_wrong: Vec<(PublicKey, Option<u64>, Option<u64>)>,
    pub challenger_faults: u64,
    pub params: VerifierParams,
}

/// A simulated device's identity and session: it signs reports as the agent would and
/// wraps them in the log records ingest would write.
#[derive(Debug)]
pub struct SimDevice {
    key: Keypair,
    behaviour: Behaviour,
    session: Keypair,
    grant: Vec<u8>,
    grant_signature: Vec<u8>,
    seq: u64,
    replicas: Vec<Replica>,
    /// SharedCopy: the group's first identity's replicas (what this one actually holds).
    held: Vec<Replica>,
    /// DeleteStorage: deleted chunk indices per object.
    deleted: Vec<BTreeSet<u64>>,
    first_wrong_epoch: Option<u64>,
}

/// The network id simulated devices sign for.
pub const NETWORK: &str = "cairn-sim";

/// The log record of an issued challenge, as the challenger writes it.
pub fn issued_record(issued: IssuedChallenge, at_ms: u64) -> LogRecord {
    LogRecord {
        receive_time_ms: at_ms,
        kind: ReportKind::ChallengeIssued as i32,
        content_id: issued_content_id(&issued).0.to_vec(),
        report: None,
        session_grant: Vec::new(),
        grant_signature: Vec::new(),
        issued: Some(issued),
    }
}

impl SimDevice {
    pub fn new(seed: [u8; 32], behaviour: Behaviour, network: &NetworkId) -> SimDevice {
        let key = Keypair::from_seed(&seed);
        let session = Keypair::from_seed(blake3::hash(&seed).as_bytes());
        let grant = SessionGrant {
            network: network.as_str().into(),
            device_key: key.public().as_bytes().to_vec(),
            session_key: session.public().as_bytes().to_vec(),
            nonce: vec![0; 32],
            expires_at_ms: u64::MAX,
        }
        .encode_to_vec();
        let grant_signature =
            cairn_core::keys::Signer::sign_raw(&key, &grant_signing_bytes(network, &grant))
                .0
                .to_vec();
        SimDevice {
            key,
            behaviour,
            session,
            grant,
            grant_signature,
            seq: 0,
            replicas: Vec::new(),
            held: Vec::new(),
            deleted: Vec::new(),
            first_wrong_epoch: None,
        }
    }

    pub fn device(&self) -> PublicKey {
        self.key.public()
    }

    /// A log record of `body`, signed as the agent would, received at `at_ms`.
    pub fn record(&mut self, network: &NetworkId, body: Body, at_ms: u64) -> LogRecord {
        self.seq += 1;
        let report = Report {
            device_key: self.device().as_bytes().to_vec(),
            seq: self.seq,
            timestamp_ms: at_ms,
            body: Some(body),
        };
        let kind = report_kind(&report);
        let signed: SignedReport = sign_report(&self.session, network, &report);
        LogRecord {
            receive_time_ms: at_ms,
            kind: kind as i32,
            content_id: content_id(&signed.report).0.to_vec(),
            report: Some(signed),
            session_grant: self.grant.clone(),
            grant_signature: self.grant_signature.clone(),
            issued: None,
        }
    }
}

/// Milliseconds: a simulated round trip between a device and the challenger.
fn rtt(rng: &mut SimRng) -> u64 {
    // 20–120 ms, with a 2% tail up to 1.5 s.
    if rng.next_u64().is_multiple_of(50) {
        200 + rng.next_u64() % 1_300
    } else {
        20 + rng.next_u64() % 100
    }
}

/// Run the simulation.
pub fn run(config: &ProofSimConfig) -> ProofSimResult {
    let network = NetworkId::new(NETWORK).expect("valid network id");
    let params = VerifierParams::from_ledger(&config.params);
    let master = blake3::derive_key("cairn.sim.proofs.v1", &config.seed.to_le_bytes());
    let mut rng = SimRng::new(master);
    let mut devices: Vec<SimDevice> = Vec::new();
    let mut index = 0u64;
    let derive = |purpose: u64| {
        let mut h = blake3::Hasher::new_keyed(&master);
        h.update(&purpose.to_le_bytes());
        *h.finalize().as_bytes()
    };
    let object_bytes = config.chunks_per_object as usize * CHUNK_SIZE;
    let make_object = |seed: [u8; 32]| {
        let mut out = vec![0u8; object_bytes];
        let mut h = blake3::Hasher::new_keyed(&seed);
        h.update(b"object");
        h.finalize_xof().fill(&mut out);
        out
    };
    for (behaviour, count) in &config.population {
        let group = behaviour.identities();
        for _ in 0..*count {
            let objects: Vec<Vec<u8>> = if behaviour.storage() {
                (0..config.objects_per_provider)
                    .map(|o| {
                        index += 1;
                        make_object(derive(1_000_000 + index * 64 + u64::from(o)))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut first_copy: Vec<Replica> = Vec::new();
            for member in 0..group {
                index += 1;
                let mut d = SimDevice::new(derive(index), *behaviour, &network);
                let device = d.device();
                d.replicas = objects
                    .iter()
                    .map(|o| Replica::build(&device, o).expect("non-empty object"))
                    .collect();
                if member == 0 {
                    first_copy = d.replicas.clone();
                }
                d.held = first_copy.clone();
                if let Behaviour::DeleteStorage { fraction_ppm } = behaviour {
                    let n = u64::from(config.chunks_per_object);
                    let lost = (n * u64::from(*fraction_ppm)).div_ceil(1_000_000);
                    d.deleted = d
                        .replicas
                        .iter()
                        .map(|_| {
                            let mut set = BTreeSet::new();
                            while (set.len() as u64) < lost {
                                set.insert(rng.next_u64() % n);
                            }
                            set
                        })
                        .collect();
                }
                devices.push(d);
            }
        }
    }

    let chain = ChainView {
        height: Height(1),
        entropy: cairn_core::Hash::of(b"simulated block"),
        params: config.params.clone(),
        devices: devices
            .iter()
            .map(|d| {
                let kind = if d.behaviour.storage() {
                    DeviceKind::Storage
                } else {
                    DeviceKind::Compute
                };
                (d.device(), kind)
            })
            .collect(),
        sites: BTreeMap::new(),
        denylisted: Default::default(),
    };
    let behaviour_of: BTreeMap<KeyId, Behaviour> = devices
        .iter()
        .map(|d| (d.device().id(), d.behaviour))
        .collect();

    let epoch_ms = params.epoch_ms;
    let secret = derive(u64::MAX);
    let mut registry = Registry::default();
    let mut carried = cairn_verify::Carried::default();
    let mut standings: Vec<Standing> = Vec::new();
    let mut verdicts = Vec::new();
    let mut first_catch: BTreeMap<KeyId, u64> = BTreeMap::new();
    let mut classes: BTreeMap<Behaviour, ClassResult> = BTreeMap::new();
    let mut challenger_faults = 0;
    let mut carry: Vec<LogRecord> = Vec::new();

    for epoch in 1..=config.epochs {
        let start = epoch * epoch_ms;
        let end = start + epoch_ms;
        let block_hash = Hash(derive(2_000_000 + epoch));
        let mut records = std::mem::take(&mut carry);
        let disqualified: BTreeSet<(KeyId, WorkKind)> = standings
            .iter()
            .filter(|s| s.reputation.status == Status::Disqualified)
            .map(|s| (s.device, s.kind))
            .collect();
        for d in devices.iter_mut() {
            let device = d.device();
            if epoch == 1 {
                // Registration at the start: replicas, or the claimed compute class.
                if d.behaviour.storage() {
                    for r in d.replicas.clone() {
                        let body = Body::Replica(ReplicaCommitment {
                            object_id: r.object.0.to_vec(),
                            size_bytes: r.size,
                            replica_root: r.replica_root().0.to_vec(),
                            released: false,
                        });
                        records.push(d.record(&network, body, start));
                    }
                } else {
                    let class = d.behaviour.claimed_class();
                    let body = Body::Resource(ResourceReport {
                        resource: Some(Resource::Compute(ComputeResource {
                            class,
                            cpu_cores: 4,
                            memory_bytes: 8 << 30,
                            ..ComputeResource::default()
                        })),
                    });
                    records.push(d.record(&network, body, start));
                }
            }
            let kind = if d.behaviour.storage() {
                WorkKind::Storage
            } else {
                WorkKind::Compute
            };
            if disqualified.contains(&(device.id(), kind)) {
                continue;
            }
            let (count, deadline) = if d.behaviour.storage() {
                (params.storage_per_epoch, params.storage_deadline())
            } else {
                let class = d.behaviour.claimed_class();
                (
                    params.compute_per_epoch,
                    params.compute_timing(class).deadline_ms,
                )
            };
            let offsets =
                challenge::schedule(&secret, &device, epoch, count, epoch_ms, params.settle_ms());
            // The challenger picks from the registry's view: sorted by object id.
            let mut replicas: Vec<ReplicaRecord> = d
                .replicas
                .iter()
                .map(|r| ReplicaRecord {
                    object: r.object,
                    size: r.size,
                    replica_root: r.replica_root(),
                })
                .collect();
            replicas.sort_by_key(|r| r.object);
            for (slot, offset) in offsets.iter().enumerate() {
                let mut at = start + offset + 1;
                for attempt in 0..=params.retries {
                    let seed = challenge::seed(SeedInput {
                        block_hash: &block_hash,
                        device: &device,
                        epoch,
                        slot: slot as u32,
                        attempt,
                    });
                    let challenge = if d.behaviour.storage() {
                        let replica = challenge::pick_replica(&seed, &replicas)
                            .expect("providers hold objects");
                        challenge::storage_challenge(
                            seed,
                            replica,
                            params.storage_chunks,
                            at,
                            at + deadline,
                        )
                    } else {
                        challenge::compute_challenge(seed, params.compute_n, at, at + deadline)
                    };
                    let issued = IssuedChallenge {
                        device_key: device.as_bytes().to_vec(),
                        epoch,
                        attempt,
                        block_hash: block_hash.0.to_vec(),
                        block_height: epoch,
                        challenge: Some(challenge.clone()),
                        slot: slot as u32,
                    };
                    records.push(issued_record(issued, at));
                    let answer = answer(d, &challenge, &params, epoch, &mut rng);
                    let answered_in_time = match answer {
                        Some((latency, body)) => {
                            let received = at + latency;
                            let r = d.record(
                                &network,
                                Body::ChallengeResponse(ChallengeResponse {
                                    challenge_id: challenge.challenge_id.clone(),
                                    received_at_ms: at,
                                    answer: Some(body),
                                }),
                                received,
                            );
                            // Records after the run's window wait for the next run.
                            if received < end + params.settle_ms() {
                                records.push(r);
                            }
                            received <= at + deadline
                        }
                        None => false,
                    };
                    if answered_in_time {
                        break;
                    }
                    at += deadline + 1;
                }
            }
        }
        let output = run_epoch(EpochInput {
            network: &network,
            epoch,
            epoch_end_ms: end,
            chain: &chain,
            registry: registry.clone(),
            prior: &standings,
            carried: carried.clone(),
            records,
            jobs: &BTreeMap::new(),
        });
        registry = output.registry;
        carried = output.carried;
        challenger_faults += output.challenger_faults;
        standings = output.batch.standings.clone();
        for v in &output.batch.verdicts {
            let b = behaviour_of[&v.device];
            let class = classes.entry(b).or_insert_with(|| empty(b));
            class.challenges += 1;
            if let Outcome::Invalid(reason) = v.outcome {
                class.invalid += 1;
                *class.reasons.entry(reason.name()).or_default() += 1;
                if reason == ReasonCode::Timeout {
                    class.timeouts += 1;
                } else {
                    first_catch.entry(v.device).or_insert(epoch);
                }
            }
        }
        for s in &standings {
            if s.reputation.status == Status::Disqualified {
                first_catch.entry(s.device).or_insert(epoch);
            }
        }
        verdicts.push(output.batch);
    }

    for d in &devices {
        let class = classes
            .entry(d.behaviour)
            .or_insert_with(|| empty(d.behaviour));
        class.devices += 1;
        if let Some(e) = first_catch.get(&d.device().id()) {
            class.caught += 1;
            class.catch_epoch_sum += e;
            class.latest_catch_epoch = class.latest_catch_epoch.max(*e);
        }
        if standings
            .iter()
            .any(|s| s.device == d.device() && s.reputation.status == Status::Disqualified)
        {
            class.disqualified += 1;
        }
    }
    let lazy_first_wrong = devices
        .iter()
        .filter(|d| matches!(d.behaviour, Behaviour::LazyCompute { .. }))
        .map(|d| {
            (
                d.device(),
                d.first_wrong_epoch,
                first_catch.get(&d.device().id()).copied(),
            )
        })
        .collect();
    let mut classes: Vec<ClassResult> = classes.into_values().collect();
    classes.sort_by_key(|c| (!c.behaviour.honest(), c.behaviour));
    ProofSimResult {
        classes,
        verdicts,
        devices: devices
            .iter()
            .map(|d| (d.device().id(), d.behaviour))
            .collect(),
        lazy_first_wrong,
        challenger_faults,
        params,
    }
}

fn empty(behaviour: Behaviour) -> ClassResult {
    ClassResult {
        behaviour,
        devices: 0,
        caught: 0,
        disqualified: 0,
        catch_epoch_sum: 0,
        latest_catch_epoch: 0,
        challenges: 0,
        invalid: 0,
        timeouts: 0,
        reasons: BTreeMap::new(),
    }
}

/// The device's answer and how long it took to reach the challenger, or `None` if it
/// never answers this attempt.
fn answer(
    d: &mut SimDevice,
    challenge: &Challenge,
    params: &VerifierParams,
    epoch: u64,
    rng: &mut SimRng,
) -> Option<(u64, Answer)> {
    let net = rtt(rng);
    match (&challenge.task, d.behaviour) {
        (Some(Task::Storage(task)), behaviour) => {
            let replica_index = d
                .replicas
                .iter()
                .position(|r| r.object.0.as_slice() == task.object_id.as_slice())?;
            // Local disk: about 2 ms per random chunk read.
            let disk = 2 * task.chunk_indices.len() as u64;
            let (source, extra) = match behaviour {
                Behaviour::FlakyStorage { miss_ppm } => {
                    if rng.next_u64() % 1_000_000 < u64::from(miss_ppm) {
                        return None;
                    }
                    (&d.replicas[replica_index], 0)
                }
                // A partner elsewhere re-derives the replica and ships the chunks back:
                // a second round trip over the internet plus its disk and encoding.
                Behaviour::OutsourceStorage => {
                    (&d.replicas[replica_index], 1_500 + rng.next_u64() % 3_000)
                }
                Behaviour::SharedCopy { .. } => (&d.held[replica_index], 0),
                _ => (&d.replicas[replica_index], 0),
            };
            let chunks = task
                .chunk_indices
                .iter()
                .map(|i| {
                    let mut proof = source.prove(*i).expect("index in range");
                    if d.deleted
                        .get(replica_index)
                        .is_some_and(|lost| lost.contains(i))
                    {
                        // The chunk is gone: send junk of the right size.
                        for b in proof.chunk.iter_mut() {
                            *b = rng.next_u64() as u8;
                        }
                    }
                    proof
                })
                .collect();
            Some((net + disk + extra, Answer::Storage(StorageProof { chunks })))
        }
        (Some(Task::Compute(task)), behaviour) => {
            let n3 = u64::from(task.n).pow(3);
            // ±20% jitter around the class's throughput.
            let jitter = 80 + rng.next_u64() % 41;
            let work = |class: u32| {
                let per_us = params.class1_ops_per_us << (class.clamp(1, 16) - 1);
                n3 * jitter / 100 / per_us / 1000
            };
            let honest = || {
                expected_product(&challenge.seed, task.n, task.modulus).expect("valid challenge")
            };
            let (ms, product) = match behaviour {
                Behaviour::HonestCompute { class } => (work(class), honest()),
                Behaviour::SpoofClass { actual, .. } => (work(actual), honest()),
                Behaviour::LazyCompute { q_ppm } => {
                    if rng.next_u64() % 1_000_000 < u64::from(q_ppm) {
                        d.first_wrong_epoch.get_or_insert(epoch);
                        let junk = (0..task.n * task.n)
                            .map(|_| rng.next_u64() % task.modulus)
                            .collect();
                        (1, junk)
                    } else {
                        (work(1), honest())
                    }
                }
                Behaviour::OutsourceCompute => (work(4) + 500 + rng.next_u64() % 2_000, honest()),
                _ => return None,
            };
            Some((
                net + ms,
                Answer::Compute(ComputeResult {
                    product,
                    compute_us: ms * 1000,
                }),
            ))
        }
        _ => None,
    }
}

/// The per-class table the simulation prints.
pub fn table(result: &ProofSimResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40} {:>7} {:>7} {:>6} {:>9} {:>10} {:>9}  reasons",
        "class", "devices", "caught", "DQ", "epochs", "challenges", "detected"
    );
    for c in &result.classes {
        let reasons: Vec<String> = c.reasons.iter().map(|(r, n)| format!("{r}×{n}")).collect();
        let _ = writeln!(
            out,
            "{:<40} {:>7} {:>7} {:>6} {:>9.2} {:>10} {:>8.1}%  {}",
            c.behaviour.label(),
            c.devices,
            c.caught,
            c.disqualified,
            c.mean_epochs_to_detection(),
            c.challenges,
            100.0 * c.detection_rate(),
            reasons.join(" ")
        );
    }
    let honest: Vec<&ClassResult> = result
        .classes
        .iter()
        .filter(|c| c.behaviour.honest())
        .collect();
    let devices: u64 = honest.iter().map(|c| c.devices).sum();
    let flagged: u64 = honest.iter().map(|c| c.caught).sum();
    let _ = writeln!(
        out,
        "honest false positives: {flagged} of {devices} devices ({:.2}%)",
        if devices == 0 {
            0.0
        } else {
            100.0 * flagged as f64 / devices as f64
        }
    );
    out
}
