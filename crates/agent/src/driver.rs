//! The boundary between the agent and the hardware: one trait per resource kind.
//!
//! A driver describes what the device offers and does the device-specific work
//! (storage proofs, compute, radio, sampling). The agent owns everything else: keys,
//! sessions, the queue, scheduling. Real hardware and the simulator (`cairn-sim`)
//! implement the same traits.

use std::fmt;

use cairn_core::PublicKey;
use cairn_proto::v1::challenge::Task;
use cairn_proto::v1::challenge_response::Answer;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::resource_report::Resource;
use cairn_proto::v1::{
    BeaconChallenge, BeaconReport, Challenge, ChallengeResponse, ComputeChallenge, ComputeResource,
    ComputeResult, RadioResource, ReplicaCommitment, ResourceReport, ResourceSummary,
    SensorReading, SensorResource, StorageChallenge, StorageProof, StorageResource, WitnessReport,
};

use crate::config::AgentKind;

/// Why a driver could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The challenge is for another kind of device.
    #[error("a {kind} device cannot answer a {task} challenge")]
    WrongKind { kind: AgentKind, task: &'static str },
    /// The challenge carries no task.
    #[error("challenge has no task")]
    NoTask,
    /// The request is malformed or asks for something the device does not offer.
    #[error("challenge refused: {0}")]
    Refused(String),
    /// The hardware failed.
    #[error("device failure: {0}")]
    Failed(String),
}

/// A storage device: capacity, proofs that it holds replicas, and the objects themselves.
pub trait StorageDriver: Send + fmt::Debug {
    fn resource(&mut self) -> StorageResource;
    fn prove(&mut self, challenge: &StorageChallenge) -> Result<StorageProof, DriverError>;
    /// Keep `data` as a replica encoded for this device (see `cairn_verify::storage`) and
    /// return the commitment to register. Durable before it returns.
    fn store(&mut self, data: &[u8]) -> Result<ReplicaCommitment, DriverError> {
        let _ = data;
        Err(DriverError::Refused(
            "this storage driver takes no uploads".into(),
        ))
    }
    /// The object's bytes, decoded from the replica (what is on disk, unchecked: the
    /// reader verifies against the content id).
    fn read(&mut self, object: &[u8; 32]) -> Result<Vec<u8>, DriverError> {
        let _ = object;
        Err(DriverError::Refused(
            "this storage driver serves no reads".into(),
        ))
    }
    /// Commitments for every replica held, announced when the agent starts so the
    /// network's registry catches up after a crash between storing and reporting.
    fn held(&mut self) -> Vec<ReplicaCommitment> {
        Vec::new()
    }
}

/// A compute device: answers matrix-multiplication challenges.
pub trait ComputeDriver: Send + fmt::Debug {
    fn resource(&mut self) -> ComputeResource;
    /// Multiply the two matrices derived from `seed` (see `cairn_proto::compute`).
    fn compute(
        &mut self,
        seed: &[u8],
        challenge: &ComputeChallenge,
    ) -> Result<ComputeResult, DriverError>;
    /// `A·B mod modulus` for a consumer's row-major n×n matrices (a matrix-product job,
    /// which the consumer checks with Freivalds' algorithm). The default runs on the CPU.
    fn multiply(
        &mut self,
        a: &[u64],
        b: &[u64],
        n: u32,
        modulus: u64,
    ) -> Result<Vec<u64>, DriverError> {
        cairn_proto::compute::multiply_mod(a, b, n, modulus)
            .map_err(|e| DriverError::Refused(e.to_string()))
    }
}

/// A coverage radio: transmits beacons and reports the beacons it heard.
pub trait RadioDriver: Send + fmt::Debug {
    fn resource(&mut self) -> RadioResource;
    /// Transmit `payload` as the challenge asks and describe the transmission.
    fn transmit(
        &mut self,
        payload: &[u8],
        challenge: &BeaconChallenge,
        now_ms: u64,
    ) -> Result<BeaconReport, DriverError>;
    /// Beacons received since the last call.
    fn heard(&mut self, now_ms: u64) -> Vec<WitnessReport>;
}

/// An environmental sensor station.
pub trait SensorDriver: Send + fmt::Debug {
    fn resource(&mut self) -> SensorResource;
    fn sample(&mut self, now_ms: u64) -> Result<SensorReading, DriverError>;
}

/// How often the agent asks a radio for the beacons it heard, ms.
pub const LISTEN_INTERVAL_MS: u64 = 200;

/// The device's driver, by kind.
#[derive(Debug)]
pub enum Driver {
    Storage(Box<dyn StorageDriver>),
    Compute(Box<dyn ComputeDriver>),
    Radio(Box<dyn RadioDriver>),
    Sensor(Box<dyn SensorDriver>),
}

// The beacon payload is the verifier's derivation, so agent and verifier cannot drift.
pub use cairn_verify::coverage::{BEACON_CONTEXT, beacon_payload};

fn task_name(task: &Task) -> &'static str {
    match task {
        Task::Storage(_) => "storage",
        Task::Compute(_) => "compute",
        Task::Beacon(_) => "beacon",
    }
}

impl Driver {
    pub fn kind(&self) -> AgentKind {
        match self {
            Driver::Storage(_) => AgentKind::Storage,
            Driver::Compute(_) => AgentKind::Compute,
            Driver::Radio(_) => AgentKind::Coverage,
            Driver::Sensor(_) => AgentKind::Sensor,
        }
    }

    /// The full resource report, sent at start and periodically.
    pub fn resource_report(&mut self) -> ResourceReport {
        let resource = match self {
            Driver::Storage(d) => Resource::Storage(d.resource()),
            Driver::Compute(d) => Resource::Compute(d.resource()),
            Driver::Radio(d) => Resource::Radio(d.resource()),
            Driver::Sensor(d) => Resource::Sensor(d.resource()),
        };
        ResourceReport {
            resource: Some(resource),
        }
    }

    /// The heartbeat's one-line summary: storage free bytes, compute benchmark class,
    /// coverage band centre in Hz, sensor readings per hour.
    pub fn summary(&mut self) -> ResourceSummary {
        let headline = match self {
            Driver::Storage(d) => d.resource().free_bytes,
            Driver::Compute(d) => u64::from(d.resource().class),
            Driver::Radio(d) => d.resource().frequency_hz,
            Driver::Sensor(d) => u64::from(d.resource().readings_per_hour),
        };
        ResourceSummary {
            kind: self.kind().to_proto() as i32,
            headline,
        }
    }

    /// Scheduled output: a sensor reading. A sensor that fails to sample is logged and
    /// produces nothing this time.
    pub fn periodic(&mut self, now_ms: u64) -> Vec<Body> {
        match self {
            Driver::Sensor(d) => match d.sample(now_ms) {
                Ok(reading) => vec![Body::SensorReading(reading)],
                Err(e) => {
                    tracing::debug!(error = %e, "sensor sample failed");
                    Vec::new()
                }
            },
            Driver::Radio(_) | Driver::Storage(_) | Driver::Compute(_) => Vec::new(),
        }
    }

    /// Witness reports for the beacons a radio heard since the last call. The agent asks
    /// every [`LISTEN_INTERVAL_MS`]: the verifier takes a witness only if it reaches ingest
    /// within 1.5 s of the first one, so a radio forwards what it hears at once.
    pub fn listen(&mut self, now_ms: u64) -> Vec<Body> {
        match self {
            Driver::Radio(d) => d.heard(now_ms).into_iter().map(Body::Witness).collect(),
            Driver::Sensor(_) | Driver::Storage(_) | Driver::Compute(_) => Vec::new(),
        }
    }

    /// Answer a challenge: a `ChallengeResponse` for storage and compute, a
    /// `BeaconReport` for a beacon challenge (payload from [`beacon_payload`] with 8
    /// fresh random bytes). `now_ms` is when the challenge was received.
    pub fn answer(
        &mut self,
        challenge: &Challenge,
        device_key: &PublicKey,
        now_ms: u64,
    ) -> Result<Body, DriverError> {
        let task = challenge.task.as_ref().ok_or(DriverError::NoTask)?;
        let respond = |answer| {
            Body::ChallengeResponse(ChallengeResponse {
                challenge_id: challenge.challenge_id.clone(),
                received_at_ms: now_ms,
                answer: Some(answer),
            })
        };
        let kind = self.kind();
        match (self, task) {
            (Driver::Storage(d), Task::Storage(c)) => Ok(respond(Answer::Storage(d.prove(c)?))),
            (Driver::Compute(d), Task::Compute(c)) => {
                Ok(respond(Answer::Compute(d.compute(&challenge.seed, c)?)))
            }
            (Driver::Radio(d), Task::Beacon(c)) => {
                let entropy: &[u8; 32] = c.entropy.as_slice().try_into().map_err(|_| {
                    DriverError::Refused(format!(
                        "beacon entropy must be 32 bytes, got {}",
                        c.entropy.len()
                    ))
                })?;
                let mut nonce = [0u8; 8];
                getrandom::fill(&mut nonce)
                    .map_err(|e| DriverError::Failed(format!("random source: {e}")))?;
                let payload = beacon_payload(entropy, device_key, &nonce);
                let mut report = d.transmit(&payload, c, now_ms)?;
                report.challenge_id = challenge.challenge_id.clone();
                report.nonce = nonce.to_vec();
                Ok(Body::Beacon(report))
            }
            (_, task) => Err(DriverError::WrongKind {
                kind,
                task: task_name(task),
            }),
        }
    }
}
