//! Bad answers to storage challenges become verdicts with reason codes, never a crash:
//! malformed paths, wrong chunk sizes, another device's replica, missing chunks, the
//! wrong kind of answer, late answers, forged signatures and garbage records; and lying
//! job results are caught by re-execution.

use std::collections::BTreeMap;

use cairn_core::{Hash, Height, NetworkId};
use cairn_ledger::Params;
use cairn_ledger::tx::DeviceKind;
use cairn_proto::v1::challenge::Task;
use cairn_proto::v1::challenge_response::Answer;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::{
    ChallengeResponse, ComputeResult, IssuedChallenge, LogRecord, ReplicaCommitment, StorageProof,
};
use cairn_sim::proofs::{Behaviour, NETWORK, SimDevice, issued_record};
use cairn_verify::challenge::{self, SeedInput};
use cairn_verify::storage::{Replica, ReplicaRecord};
use cairn_verify::{
    ChainView, EpochInput, Outcome, ReasonCode, Registry, VerifierParams, run_epoch,
};

const EPOCH: u64 = 1;
const T0: u64 = 1_000_000;

/// What a test does to the honest answer.
type Tamper = fn(&mut StorageProof, &Replica);

fn judge(tamper: Tamper, delay_ms: u64, forge: bool, product: bool) -> (Outcome, String) {
    let network = NetworkId::new(NETWORK).unwrap();
    let mut dev = SimDevice::new([1; 32], Behaviour::HonestStorage, &network);
    let mut other = SimDevice::new([2; 32], Behaviour::HonestStorage, &network);
    let device = dev.device();
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let replica = Replica::build(&device, &data).unwrap();
    let theirs = Replica::build(&other.device(), &data).unwrap();
    let params = Params::default();
    let vp = VerifierParams::from_ledger(&params);
    let mut records: Vec<LogRecord> = vec![dev.record(
        &network,
        Body::Replica(ReplicaCommitment {
            object_id: replica.object.0.to_vec(),
            size_bytes: replica.size,
            replica_root: replica.replica_root().0.to_vec(),
            released: false,
        }),
        T0,
    )];
    let block = Hash([9; 32]);
    let record = ReplicaRecord {
        object: replica.object,
        size: replica.size,
        replica_root: replica.replica_root(),
    };
    for attempt in 0..=vp.retries {
        let at = T0 + 10 + u64::from(attempt) * (vp.storage_deadline() + 1);
        let seed = challenge::seed(SeedInput {
            block_hash: &block,
            device: &device,
            epoch: EPOCH,
            slot: 0,
            attempt,
        });
        let c = challenge::storage_challenge(
            seed,
            &record,
            vp.storage_chunks,
            at,
            at + vp.storage_deadline(),
        );
        let Some(Task::Storage(task)) = &c.task else {
            unreachable!()
        };
        let mut proof = StorageProof {
            chunks: task
                .chunk_indices
                .iter()
                .map(|i| replica.prove(*i).unwrap())
                .collect(),
        };
        tamper(&mut proof, &theirs);
        records.push(issued_record(
            IssuedChallenge {
                device_key: device.as_bytes().to_vec(),
                epoch: EPOCH,
                attempt,
                block_hash: block.0.to_vec(),
                block_height: 1,
                challenge: Some(c.clone()),
                slot: 0,
            },
            at,
        ));
        let body = Body::ChallengeResponse(ChallengeResponse {
            challenge_id: c.challenge_id.clone(),
            received_at_ms: at,
            answer: Some(if product {
                Answer::Compute(ComputeResult {
                    product: vec![1, 2, 3],
                    compute_us: 5,
                })
            } else {
                Answer::Storage(proof)
            }),
        });
        let mut r = if forge {
            // Signed by another device's session, presented under this device's grant.
            let mut r = other.record(&network, body, at + delay_ms);
            let mine = dev.record(&network, Body::Heartbeat(Default::default()), at);
            r.session_grant = mine.session_grant;
            r.grant_signature = mine.grant_signature;
            r
        } else {
            dev.record(&network, body, at + delay_ms)
        };
        r.receive_time_ms = at + delay_ms;
        records.push(r);
        // Garbage beside it: undecodable report bytes and an empty record.
        let mut junk = dev.record(&network, Body::Heartbeat(Default::default()), at);
        junk.kind = cairn_proto::ReportKind::ChallengeResponse as i32;
        junk.report.as_mut().unwrap().report = vec![0xff; 40];
        junk.content_id = vec![attempt as u8; 32];
        records.push(junk);
        records.push(LogRecord {
            kind: cairn_proto::ReportKind::ChallengeResponse as i32,
            content_id: vec![200 + attempt as u8; 32],
            ..Default::default()
        });
    }
    let chain = ChainView {
        height: Height(1),
        entropy: cairn_core::Hash::of(b"simulated block"),
        params,
        devices: BTreeMap::from([(device, DeviceKind::Storage)]),
        sites: BTreeMap::new(),
        denylisted: Default::default(),
    };
    let out = run_epoch(EpochInput {
        network: &network,
        epoch: EPOCH,
        epoch_end_ms: T0 + 3_600_000,
        chain: &chain,
        registry: Registry::default(),
        prior: &[],
        carried: Default::default(),
        records,
        jobs: &BTreeMap::new(),
    });
    assert_eq!(out.challenger_faults, 0);
    assert_eq!(
        out.batch.verdicts.len(),
        1,
        "one verdict for the one challenge slot"
    );
    let v = &out.batch.verdicts[0];
    assert!(!v.evidence.is_empty());
    (v.outcome, v.detail.clone())
}

fn honest(_: &mut StorageProof, _: &Replica) {}

#[test]
fn each_bad_answer_has_its_reason() {
    assert_eq!(judge(honest, 50, false, false).0, Outcome::Valid);
    let cases: [(&str, Tamper, ReasonCode); 6] = [
        (
            "short path element",
            |p, _| {
                p.chunks[0].path[0].pop();
            },
            ReasonCode::MalformedAnswer,
        ),
        (
            "chunk one byte long",
            |p, _| {
                p.chunks[2].chunk.push(7);
            },
            ReasonCode::WrongChunkSize,
        ),
        (
            "flipped bit",
            |p, _| {
                p.chunks[1].chunk[0] ^= 1;
            },
            ReasonCode::ReplicaMismatch,
        ),
        (
            "another device's replica",
            |p, theirs| {
                for c in p.chunks.iter_mut() {
                    *c = theirs.prove(c.index).unwrap();
                }
            },
            ReasonCode::ReplicaMismatch,
        ),
        (
            "truncated answer",
            |p, _| {
                p.chunks.truncate(3);
            },
            ReasonCode::MissingChunks,
        ),
        (
            "empty answer",
            |p, _| {
                p.chunks.clear();
            },
            ReasonCode::MissingChunks,
        ),
    ];
    for (name, tamper, want) in cases {
        let (outcome, detail) = judge(tamper, 50, false, false);
        assert_eq!(outcome, Outcome::Invalid(want), "{name}: {detail}");
        assert!(!detail.is_empty(), "{name}");
    }
}

#[test]
fn late_forged_and_wrong_kind_answers() {
    let vp = VerifierParams::from_ledger(&Params::default());
    let (outcome, detail) = judge(honest, vp.storage_deadline() + 1, false, false);
    assert_eq!(outcome, Outcome::Invalid(ReasonCode::Late), "{detail}");
    assert!(detail.contains("deadline"), "{detail}");
    // A forged answer is no answer at all.
    assert_eq!(
        judge(honest, 50, true, false).0,
        Outcome::Invalid(ReasonCode::Timeout)
    );

    // A product where chunks were asked for.
    assert_eq!(
        judge(honest, 50, false, true).0,
        Outcome::Invalid(ReasonCode::WrongAnswerKind)
    );
}

/// Job results judged through a whole epoch run: the verifier re-executes what it holds
/// and names each lie; jobs it does not sample earn no verdict.
#[test]
fn job_results_are_reexecuted_and_lies_named() {
    use cairn_proto::v1::JobResult;
    use cairn_verify::jobs::StoredJob;
    let network = NetworkId::new(NETWORK).unwrap();
    let job = StoredJob {
        module: cairn_jobs::SUM_WAT.as_bytes().to_vec(),
        input: (1u32..=10).flat_map(u32::to_le_bytes).collect(),
        fuel: 1_000_000,
        memory_limit_bytes: 1 << 20,
        canary: false,
    };
    let truth = cairn_jobs::run_job(&job.spec()).unwrap();
    let canary = StoredJob {
        canary: true,
        input: (1u32..=11).flat_map(u32::to_le_bytes).collect(),
        ..job.clone()
    };
    let run = |reexec_ppm: u128, lie: bool, stored: &StoredJob| {
        let mut dev = SimDevice::new([7; 32], Behaviour::HonestCompute { class: 1 }, &network);
        let expected = cairn_jobs::run_job(&stored.spec()).unwrap();
        let mut hash = expected.output_hash.to_vec();
        if lie {
            hash[0] ^= 1;
        }
        let record = dev.record(
            &network,
            Body::JobResult(JobResult {
                job_id: stored.job_id().0.to_vec(),
                output_hash: hash,
                fuel_used: expected.fuel_used,
                run_ms: 3,
                ..JobResult::default()
            }),
            T0,
        );
        let params = Params::default()
            .with(cairn_ledger::ParamId::ComputeReexecPpm, reexec_ppm)
            .unwrap();
        let chain = ChainView {
            height: Height(1),
            entropy: Hash([5; 32]),
            params,
            devices: BTreeMap::from([(dev.device(), DeviceKind::Compute)]),
            sites: BTreeMap::new(),
            denylisted: Default::default(),
        };
        let jobs = BTreeMap::from([(stored.job_id(), stored.clone())]);
        run_epoch(EpochInput {
            network: &network,
            epoch: EPOCH,
            epoch_end_ms: T0 + 3_600_000,
            chain: &chain,
            registry: Registry::default(),
            prior: &[],
            carried: Default::default(),
            records: vec![record],
            jobs: &jobs,
        })
        .batch
        .verdicts
    };
    let honest = run(1_000_000, false, &job);
    assert_eq!(honest.len(), 1);
    assert_eq!(honest[0].outcome, Outcome::Valid);
    let lying = run(1_000_000, true, &job);
    assert_eq!(lying[0].outcome, Outcome::Invalid(ReasonCode::JobMismatch));
    assert_eq!(lying[0].evidence.len(), 1);
    assert_eq!(
        lying[0].measure("fuel_expected"),
        Some(truth.fuel_used as i64)
    );
    // Not sampled: no verdict, even for a lie. A canary is always checked.
    assert!(run(0, true, &job).is_empty());
    let caught = run(0, true, &canary);
    assert_eq!(
        caught[0].outcome,
        Outcome::Invalid(ReasonCode::CanaryFailed)
    );
}
