//! The driver boundary: dispatch by kind, summaries, challenge answers.

use cairn_agent::driver::BEACON_CONTEXT;
use cairn_agent::{
    AgentKind, ComputeDriver, Driver, DriverError, RadioDriver, SensorDriver, StorageDriver,
    beacon_payload,
};
use cairn_core::{Keypair, PublicKey};
use cairn_proto::v1::challenge::Task;
use cairn_proto::v1::challenge_response::Answer;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::resource_report::Resource;
use cairn_proto::v1::*;

#[derive(Debug)]
struct Disk;
impl StorageDriver for Disk {
    fn resource(&mut self) -> StorageResource {
        StorageResource {
            capacity_bytes: 1000,
            free_bytes: 400,
            replicas: 2,
            ..StorageResource::default()
        }
    }
    fn prove(&mut self, c: &StorageChallenge) -> Result<StorageProof, DriverError> {
        Ok(StorageProof {
            chunks: c
                .chunk_indices
                .iter()
                .map(|&index| ChunkProof {
                    index,
                    chunk: vec![index as u8],
                    path: vec![],
                    content_path: vec![],
                })
                .collect(),
        })
    }
}

#[derive(Debug)]
struct Cpu;
impl ComputeDriver for Cpu {
    fn resource(&mut self) -> ComputeResource {
        ComputeResource {
            class: 3,
            cpu_cores: 8,
            ..ComputeResource::default()
        }
    }
    fn compute(&mut self, seed: &[u8], c: &ComputeChallenge) -> Result<ComputeResult, DriverError> {
        Ok(ComputeResult {
            product: vec![seed.len() as u64, u64::from(c.n)],
            compute_us: 1,
        })
    }
}

#[derive(Debug)]
struct Radio;
impl RadioDriver for Radio {
    fn resource(&mut self) -> RadioResource {
        RadioResource {
            frequency_hz: 868_100_000,
            ..RadioResource::default()
        }
    }
    fn transmit(
        &mut self,
        payload: &[u8],
        c: &BeaconChallenge,
        now_ms: u64,
    ) -> Result<BeaconReport, DriverError> {
        Ok(BeaconReport {
            entropy: c.entropy.clone(),
            payload: payload.to_vec(),
            tx_power_dbm_x10: c.tx_power_dbm_x10,
            frequency_hz: 868_100_000,
            transmitted_at_ms: now_ms,
            ..Default::default()
        })
    }
    fn heard(&mut self, now_ms: u64) -> Vec<WitnessReport> {
        vec![WitnessReport {
            received_at_ms: now_ms,
            ..WitnessReport::default()
        }]
    }
}

#[derive(Debug)]
struct Thermo {
    fail: bool,
}
impl SensorDriver for Thermo {
    fn resource(&mut self) -> SensorResource {
        SensorResource {
            readings_per_hour: 12,
            ..SensorResource::default()
        }
    }
    fn sample(&mut self, now_ms: u64) -> Result<SensorReading, DriverError> {
        if self.fail {
            return Err(DriverError::Failed("probe unplugged".into()));
        }
        Ok(SensorReading {
            sampled_at_ms: now_ms,
            measurements: vec![],
        })
    }
}

fn device() -> PublicKey {
    Keypair::from_seed(&[3; 32]).public()
}

fn challenge(task: Task) -> Challenge {
    Challenge {
        challenge_id: vec![7; 32],
        issued_at_ms: 1,
        deadline_ms: 2,
        seed: vec![1; 32],
        task: Some(task),
    }
}

#[test]
fn kinds_and_summaries() {
    let mut drivers = [
        (
            Driver::Storage(Box::new(Disk)),
            AgentKind::Storage,
            DeviceKind::Storage,
            400,
        ),
        (
            Driver::Compute(Box::new(Cpu)),
            AgentKind::Compute,
            DeviceKind::Compute,
            3,
        ),
        (
            Driver::Radio(Box::new(Radio)),
            AgentKind::Coverage,
            DeviceKind::Coverage,
            868_100_000,
        ),
        (
            Driver::Sensor(Box::new(Thermo { fail: false })),
            AgentKind::Sensor,
            DeviceKind::Sensor,
            12,
        ),
    ];
    for (driver, kind, proto, headline) in &mut drivers {
        assert_eq!(driver.kind(), *kind);
        let summary = driver.summary();
        assert_eq!(summary.kind, *proto as i32);
        assert_eq!(summary.headline, *headline);
    }
    assert!(matches!(
        drivers[0].0.resource_report().resource,
        Some(Resource::Storage(StorageResource {
            capacity_bytes: 1000,
            ..
        }))
    ));
    assert!(matches!(
        drivers[2].0.resource_report().resource,
        Some(Resource::Radio(_))
    ));
}

#[test]
fn periodic_output_by_kind() {
    let mut sensor = Driver::Sensor(Box::new(Thermo { fail: false }));
    assert!(matches!(
        sensor.periodic(42).as_slice(),
        [Body::SensorReading(SensorReading {
            sampled_at_ms: 42,
            ..
        })]
    ));
    let mut broken = Driver::Sensor(Box::new(Thermo { fail: true }));
    assert!(broken.periodic(42).is_empty());
    // A radio's witness reports come from `listen` (every 200 ms), not the reading
    // schedule; only a radio has any.
    let mut radio = Driver::Radio(Box::new(Radio));
    assert!(radio.periodic(5).is_empty());
    assert!(matches!(radio.listen(5).as_slice(), [Body::Witness(_)]));
    assert!(sensor.listen(5).is_empty());
    assert!(Driver::Compute(Box::new(Cpu)).periodic(5).is_empty());
    assert!(Driver::Storage(Box::new(Disk)).periodic(5).is_empty());
    assert!(Driver::Compute(Box::new(Cpu)).listen(5).is_empty());
}

#[test]
fn challenge_responses_echo_the_id_and_receive_time() {
    let mut compute = Driver::Compute(Box::new(Cpu));
    let body = compute
        .answer(
            &challenge(Task::Compute(ComputeChallenge { n: 4, modulus: 7 })),
            &device(),
            99,
        )
        .unwrap();
    let Body::ChallengeResponse(r) = body else {
        panic!("expected a challenge response")
    };
    assert_eq!(r.challenge_id, vec![7; 32]);
    assert_eq!(r.received_at_ms, 99);
    // The driver got the challenge's seed and parameters.
    assert!(
        matches!(r.answer, Some(Answer::Compute(ComputeResult { ref product, .. })) if product == &vec![32, 4])
    );

    let mut storage = Driver::Storage(Box::new(Disk));
    let body = storage
        .answer(
            &challenge(Task::Storage(StorageChallenge {
                object_id: vec![0; 32],
                chunk_indices: vec![5, 9],
            })),
            &device(),
            1,
        )
        .unwrap();
    let Body::ChallengeResponse(ChallengeResponse {
        answer: Some(Answer::Storage(proof)),
        ..
    }) = body
    else {
        panic!("expected a storage proof")
    };
    assert_eq!(proof.chunks.len(), 2);
}

#[test]
fn wrong_kind_and_empty_challenges_are_refused() {
    let mut compute = Driver::Compute(Box::new(Cpu));
    let err = compute
        .answer(
            &challenge(Task::Beacon(BeaconChallenge::default())),
            &device(),
            1,
        )
        .unwrap_err();
    assert_eq!(
        err,
        DriverError::WrongKind {
            kind: AgentKind::Compute,
            task: "beacon"
        }
    );
    assert!(
        err.to_string()
            .contains("compute device cannot answer a beacon")
    );
    let mut empty = challenge(Task::Compute(ComputeChallenge::default()));
    empty.task = None;
    assert_eq!(
        compute.answer(&empty, &device(), 1).unwrap_err(),
        DriverError::NoTask
    );
}

#[test]
fn beacon_payload_follows_the_documented_formula() {
    let entropy = [5u8; 32];
    let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
    let mut h = blake3::Hasher::new();
    h.update(b"cairn.beacon.v1");
    h.update(&entropy);
    h.update(device().as_bytes());
    h.update(&nonce);
    assert_eq!(BEACON_CONTEXT, b"cairn.beacon.v1");
    assert_eq!(
        beacon_payload(&entropy, &device(), &nonce),
        *h.finalize().as_bytes()
    );
    // The device key is bound in.
    let other = Keypair::from_seed(&[4; 32]).public();
    assert_ne!(
        beacon_payload(&entropy, &device(), &nonce),
        beacon_payload(&entropy, &other, &nonce)
    );
}

#[test]
fn beacon_answers_carry_a_fresh_payload() {
    let mut radio = Driver::Radio(Box::new(Radio));
    let c = challenge(Task::Beacon(BeaconChallenge {
        entropy: vec![5; 32],
        tx_power_dbm_x10: 140,
    }));
    let answer = |radio: &mut Driver| match radio.answer(&c, &device(), 77).unwrap() {
        Body::Beacon(b) => b,
        other => panic!("expected a beacon, got {other:?}"),
    };
    let first = answer(&mut radio);
    assert_eq!(first.entropy, vec![5; 32]);
    assert_eq!(first.tx_power_dbm_x10, 140);
    assert_eq!(first.transmitted_at_ms, 77);
    assert_eq!(first.payload.len(), 32);
    // The report echoes the challenge and carries the nonce, so the payload derives.
    assert_eq!(first.challenge_id, vec![7; 32]);
    let nonce: [u8; 8] = first.nonce.as_slice().try_into().expect("8 bytes");
    assert_eq!(
        first.payload,
        beacon_payload(&[5; 32], &device(), &nonce).to_vec()
    );
    // 8 random bytes per beacon: two answers to the same challenge differ.
    assert_ne!(first.payload, answer(&mut radio).payload);

    let short = challenge(Task::Beacon(BeaconChallenge {
        entropy: vec![5; 31],
        tx_power_dbm_x10: 0,
    }));
    assert!(matches!(
        radio.answer(&short, &device(), 1),
        Err(DriverError::Refused(_))
    ));
}
