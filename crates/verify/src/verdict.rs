//! Verdicts, their reason codes, and the per-epoch verdict batch the rewarder and the
//! explorer read.
//!
//! Everything here is Borsh-encoded canonically, so two verifiers that agree produce the
//! same bytes and the same batch hash.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::{Canonical, Epoch, Hash, Height, KeyId};
use serde::Serialize;

use crate::reputation::Reputation;

/// The kind of work a verdict is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum WorkKind {
    Storage = 0,
    Compute = 1,
    Coverage = 2,
    Sensor = 3,
}

/// What a verdict judged.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Subject {
    /// One scheduled challenge (all its attempts).
    Challenge = 0,
    /// One consumer job (re-executed or a canary).
    Job = 1,
    /// The device's work over the whole epoch (a sensor's readings).
    Epoch = 2,
}

impl WorkKind {
    /// The kind as its JSON spells it.
    pub fn name(self) -> &'static str {
        match self {
            WorkKind::Storage => "storage",
            WorkKind::Compute => "compute",
            WorkKind::Coverage => "coverage",
            WorkKind::Sensor => "sensor",
        }
    }
}

impl Subject {
    /// The subject as its JSON spells it.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Challenge => "challenge",
            Subject::Job => "job",
            Subject::Epoch => "epoch",
        }
    }
}

macro_rules! reasons {
    ($( $variant:ident = $code:literal, $name:literal, $text:literal; )*) => {
        /// Why a verdict is not valid. The numbers are stable: they are stored and shown.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u16)]
        pub enum ReasonCode { $( $variant = $code, )* }

        impl ReasonCode {
            pub const ALL: &'static [ReasonCode] = &[ $( ReasonCode::$variant, )* ];

            /// The stable snake_case name.
            pub fn name(self) -> &'static str {
                match self { $( ReasonCode::$variant => $name, )* }
            }

            /// What it means, in plain words for the device's operator.
            pub fn explain(self) -> &'static str {
                match self { $( ReasonCode::$variant => $text, )* }
            }

            pub fn code(self) -> u16 {
                self as u16
            }

            pub fn from_code(code: u16) -> Option<ReasonCode> {
                match code { $( $code => Some(ReasonCode::$variant), )* _ => None }
            }
        }
    };
}

reasons! {
    Timeout = 1, "timeout",
        "No answer reached the network before the deadline, on the first try or any retry.";
    Late = 2, "late",
        "An answer arrived, but after the deadline (on every try).";
    WrongAnswerKind = 3, "wrong_answer_kind",
        "The answer was not the kind the challenge asked for.";
    MalformedAnswer = 4, "malformed_answer",
        "The answer could not be read: missing fields or values of the wrong size.";
    BadSignature = 5, "bad_signature",
        "The answer's signature or the session behind it does not verify strictly.";
    UnknownReplica = 100, "unknown_replica",
        "The device was challenged for an object it has not registered a replica of.";
    MissingChunks = 101, "missing_chunks",
        "The answer left out chunks the challenge asked for (or answered others).";
    WrongChunkSize = 102, "wrong_chunk_size",
        "A chunk had the wrong number of bytes.";
    ReplicaMismatch = 103, "replica_mismatch",
        "A chunk does not hash to the replica root the device registered: the data is lost or altered.";
    NotThisDevicesReplica = 104, "not_this_devices_replica",
        "A chunk matches the registered root but does not decode with this device's key to the stored object: the replica was not encoded for this device (for example a copy shared between identities).";
    WrongProduct = 200, "wrong_product",
        "The benchmark answer is not the product of the challenge's matrices (Freivalds' check failed).";
    MalformedProduct = 201, "malformed_product",
        "The benchmark answer has the wrong number of elements or unreduced values.";
    TooFast = 202, "too_fast",
        "The benchmark was answered faster than the claimed hardware class can compute it: the class or the answer is not genuine.";
    TooSlow = 203, "too_slow",
        "The benchmark was answered after the claimed class's deadline: the hardware is slower than claimed, or the work was sent elsewhere.";
    JobMismatch = 300, "job_mismatch",
        "A consumer job's result differs from an independent re-execution.";
    CanaryFailed = 301, "canary_failed",
        "A canary job with a known answer was answered wrongly.";
    JobFailed = 302, "job_failed",
        "The provider could not run a job another provider ran.";
    StaleEntropy = 400, "stale_entropy",
        "The beacon was built from entropy older than the window allows (or from the future): it could have been prepared in advance.";
    BeaconPayloadMismatch = 401, "beacon_payload_mismatch",
        "The beacon's payload is not the one derived from the entropy, the device's key and its random bytes.";
    WrongTransmitPower = 402, "wrong_transmit_power",
        "The beacon was not sent at one of the transmit powers the network picks from.";
    BeaconTooSoon = 403, "beacon_too_soon",
        "The device already beaconed in this window; one beacon per window counts.";
    NoReciprocity = 404, "no_reciprocity",
        "The device did not both beacon and witness recently: a radio that only listens, or only talks, proves nothing about coverage.";
    UnknownWitness = 410, "unknown_witness",
        "The witness is not an onboarded coverage device.";
    NoAssertedLocation = 411, "no_asserted_location",
        "The witness has no asserted location on the ledger, so its distance cannot be checked.";
    SelfWitness = 412, "self_witness",
        "A device cannot witness its own beacon.";
    DenylistedWitness = 413, "denylisted_witness",
        "The witness is on a live denylist entry.";
    DenylistedPair = 414, "denylisted_pair",
        "This beaconer and witness are denylisted as a pair (caught witnessing only each other).";
    WitnessLate = 415, "witness_late",
        "The witness report arrived too long after the beacon (or after the first witness), or before it: the beacon may have been relayed over the internet.";
    WitnessPayloadMismatch = 416, "witness_payload_mismatch",
        "The payload the witness reports is not the beacon's.";
    FrequencyMismatch = 417, "frequency_mismatch",
        "The witness heard the beacon on a frequency too far from the one it was sent on.";
    RegionMismatch = 418, "region_mismatch",
        "The witness uses another region's frequency plan than the beaconer.";
    WitnessTooClose = 419, "witness_too_close",
        "The witness's asserted location is too close to the beaconer's to prove coverage (the same site).";
    WitnessTooFar = 420, "witness_too_far",
        "The witness's asserted location is farther from the beaconer's than any plausible radio link.";
    RssiAboveFreeSpace = 421, "rssi_above_free_space",
        "The witness reports a stronger signal than free space allows over the asserted distance: the asserted locations or the signal are not real.";
    DuplicateWitness = 422, "duplicate_witness",
        "The device already witnessed this beacon; only its first report counts.";
    OverWitnessCap = 423, "over_witness_cap",
        "A valid witness, but the beacon already had the most witnesses that are rewarded.";
    ImpossibleCoordinates = 424, "impossible_coordinates",
        "The report carries a location that is not a place on Earth (latitude beyond ±90°, longitude beyond ±180°) or not a valid cell.";
    MalformedWitness = 425, "malformed_witness",
        "The witness report could not be read: a key or payload of the wrong size, or a signal strength, noise ratio or frequency no radio reports.";
    FutureWitness = 426, "future_witness",
        "The witness says it heard the beacon after its report reached the network (beyond the clock skew allowed).";
    RssiNearFreeSpace = 430, "rssi_near_free_space",
        "Link after link, the device hears its peers within a few dB of the free-space bound: real terrain loses far more, an attenuated box of radios does not.";
    AsymmetricLinks = 431, "asymmetric_links",
        "The device reports hearing its peers louder than they hear it, partner after partner: radio links are reciprocal, so its RSSI is inflated.";
    RelayedLinks = 432, "relayed_links",
        "The device's reports on some links do not follow the transmit power the network picked, or arrive late link after link: the beacons were relayed over the internet, not heard.";
    SiteContradicted = 433, "site_contradicted",
        "Most witness reports the device took part in break the distance or free-space rules for its asserted site.";
    LocatedElsewhere = 434, "located_elsewhere",
        "The witnesses that hear the device agree it is kilometres from its asserted site (multilateration explains their signals far better there).";
    ClosedClique = 435, "closed_clique",
        "A small group of devices that only witness each other, with no link to the rest of the network.";
    SilentNeighbours = 436, "silent_neighbours",
        "Active devices near the asserted site never hear the device, while others do: it is not where it says.";
    OutOfRange = 500, "out_of_range",
        "A reading outside the physical range of its quantity for this sensor model.";
    StuckValue = 501, "stuck_value",
        "The value stayed exactly the same for longer than real weather allows: the sensor is stuck.";
    ImpossibleJump = 502, "impossible_jump",
        "The value changed faster between two readings than the weather can (a spike).";
    MalformedReading = 503, "malformed_reading",
        "The reading is not a measurement: an unknown quantity, a sentinel or not-a-number encoding, or a magnitude no sensor produces.";
    FutureReading = 504, "future_reading",
        "The reading is timestamped after the report was received (beyond the clock skew allowed).";
    NeighbourOutlier = 510, "neighbour_outlier",
        "Much of the day the station's values lie far outside what its neighbours measure (robust z-score against the neighbourhood).";
    UncorrelatedWithNeighbours = 511, "uncorrelated_with_neighbours",
        "The station's series does not move with its neighbourhood's: weather moves together across a few kilometres.";
    ClonedSeries = 512, "cloned_series",
        "The station's reading-to-reading changes match another station's at the same moments: one sensor reported under two identities.";
    ReplayedSeries = 513, "replayed_series",
        "The station's reading-to-reading changes repeat another station's some minutes later: its data is replayed.";
    Indoor = 514, "indoor",
        "The station sees far less sunlight than the clear-sky curve and its neighbours: it is indoors or covered.";
    TooSmooth = 515, "too_smooth",
        "The series has none of a real sensor's reading-to-reading noise: it is computed, not measured.";
    ImpossibleTravel = 600, "impossible_travel",
        "The same key reported from places too far apart for the time between: the key is used by more than one device.";
    ClosedFleet = 601, "closed_fleet",
        "One owner's devices from one maker batch, onboarded together, that interact (or share data) only among themselves: one installation posing as many.";
}

/// Encoded as its stable `u16` code (Borsh enum tags are a single byte).
impl BorshSerialize for ReasonCode {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        BorshSerialize::serialize(&self.code(), writer)
    }
}

impl BorshDeserialize for ReasonCode {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let code = u16::deserialize_reader(reader)?;
        ReasonCode::from_code(code).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unknown reason code {code}"),
            )
        })
    }
}

impl serde::Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ReasonCode {
    /// Whether the reason is evidence that the work or a claim is fake (fraud), rather
    /// than a fault honest hardware also shows now and then (a timeout, a late or
    /// out-of-range reading, a witness too far away). The explorer counts the first kind
    /// as cheaters caught and marks the device failing.
    pub fn is_fraud(self) -> bool {
        use ReasonCode::*;
        matches!(
            self,
            ReplicaMismatch
                | NotThisDevicesReplica
                | WrongProduct
                | TooFast
                | JobMismatch
                | CanaryFailed
                | StaleEntropy
                | BeaconPayloadMismatch
                | WitnessPayloadMismatch
                | RssiAboveFreeSpace
                | RssiNearFreeSpace
                | AsymmetricLinks
                | RelayedLinks
                | SiteContradicted
                | LocatedElsewhere
                | ClosedClique
                | SilentNeighbours
                | ClonedSeries
                | ReplayedSeries
                | Indoor
                | TooSmooth
                | ImpossibleTravel
                | ClosedFleet
        )
    }
}

/// Valid, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Valid,
    Invalid(ReasonCode),
}

/// A measured value backing a verdict (`response_ms`, `chunks_failed`, ...).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Measure {
    pub name: String,
    pub value: i64,
}

/// One judgement of one device's work.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Verdict {
    pub device: KeyId,
    pub epoch: Epoch,
    pub kind: WorkKind,
    pub subject: Subject,
    /// The challenge slot's first challenge id, or the job id.
    pub subject_id: Hash,
    pub outcome: Outcome,
    /// Content ids of the log records involved (issued challenges, answers).
    pub evidence: Vec<Hash>,
    pub measured: Vec<Measure>,
    /// Graded rules: the share that passed, in millionths.
    pub score_ppm: Option<u32>,
    /// Plain-words detail of the first fault (e.g. which chunk failed how).
    pub detail: String,
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        self.outcome == Outcome::Valid
    }

    pub fn measure(&self, name: &str) -> Option<i64> {
        self.measured
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }
}

/// A device's standing for one kind of work at the end of an epoch.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Standing {
    pub device: KeyId,
    pub kind: WorkKind,
    pub reputation: Reputation,
}

/// The capacity a device registered, as of an epoch's end: for storage the bytes of the
/// replicas it holds, for compute its claimed class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Capacity {
    pub device: KeyId,
    pub kind: WorkKind,
    pub amount: u64,
}

/// Everything one verifier run concluded about one epoch.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct VerdictBatch {
    pub version: u16,
    pub epoch: Epoch,
    /// The finalized height whose state (devices, parameters) the run used.
    pub state_height: Height,
    /// That block's digest: the entropy of the run's draws (which jobs were re-executed).
    pub entropy: Hash,
    /// The ledger's parameter hash at that height.
    pub params_hash: Hash,
    /// Merkle root over the content ids of the log records consumed, sorted: anyone
    /// holding the log can check they verified the same inputs.
    pub inputs_root: Hash,
    pub inputs: u64,
    /// Sorted by (device, kind, subject, subject id).
    pub verdicts: Vec<Verdict>,
    /// Sorted by (device, kind): the reputation after this epoch (the next run's start).
    pub standings: Vec<Standing>,
    /// Sorted by (device, kind): what each onboarded device offered at the epoch's end
    /// (bytes held, compute class), so the rewarder needs nothing but this batch and the
    /// chain to weigh capacity.
    pub capacity: Vec<Capacity>,
}

impl Canonical for VerdictBatch {
    const NAME: &'static str = "verdict batch";
    const MAX_ENCODED_LEN: usize = 1 << 30;
}

/// The version written into new batches.
pub const BATCH_VERSION: u16 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_unique_and_explained() {
        let mut codes = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for r in ReasonCode::ALL {
            assert!(codes.insert(r.code()));
            assert!(names.insert(r.name()));
            assert!(r.explain().ends_with('.'));
            assert_eq!(ReasonCode::from_code(r.code()), Some(*r));
            let bytes = cairn_core::codec::encode(r);
            assert_eq!(bytes, r.code().to_le_bytes());
            assert_eq!(borsh::from_slice::<ReasonCode>(&bytes).unwrap(), *r);
        }
    }
}
