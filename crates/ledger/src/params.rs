//! The parameter registry: every tunable number, its bounds and who may change it.
//!
//! Parameters are `u128` integers (amounts in base units, durations in blocks or
//! milliseconds, ratios in basis points, switches as 0/1). Governance changes them with a
//! `ParamChange` proposal, checked against each parameter's min, max and largest step;
//! an `EmergencyCurtail` may only lower a value.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::Hash;
use cairn_core::codec::encode;
use imbl::OrdMap;
use serde::{Deserialize, Serialize};

/// Bounds and default of one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub unit: &'static str,
    pub default: u128,
    pub min: u128,
    pub max: u128,
    /// The largest change one proposal may make.
    pub max_step: u128,
    /// Economic parameters need a supermajority to change.
    pub economic: bool,
    pub doc: &'static str,
}

const TOKEN: u128 = 100_000_000;
const BLOCKS_PER_DAY: u128 = 14_400; // at the default 6 s block time

macro_rules! params {
    ($( $variant:ident = $tag:literal : $name:literal, $unit:literal, default $default:expr,
        min $min:expr, max $max:expr, step $step:expr, economic $econ:literal, $doc:literal; )*) => {
        /// Every parameter Cairn's ledger knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
        #[borsh(use_discriminant = true)]
        #[repr(u16)]
        pub enum ParamId { $( $variant = $tag, )* }

        impl ParamId {
            pub const ALL: &'static [ParamId] = &[ $( ParamId::$variant, )* ];

            pub fn spec(self) -> ParamSpec {
                match self {
                    $( ParamId::$variant => ParamSpec {
                        name: $name, unit: $unit, default: $default, min: $min, max: $max,
                        max_step: $step, economic: $econ, doc: $doc,
                    }, )*
                }
            }
        }
    };
}

params! {
    TxFeeTokens = 1: "tx_fee_tokens", "token base units", default TOKEN / 10_000,
        min 0, max 100 * TOKEN, step 10 * TOKEN, economic true,
        "Smallest fee a transaction paying in tokens must offer (burned).";
    TxFeeCredits = 2: "tx_fee_credits", "credits", default 10,
        min 0, max 1_000_000, step 100_000, economic true,
        "Smallest fee a transaction paying in credits must offer (burned).";
    FeeInTokens = 3: "fee_in_tokens", "0/1", default 1, min 0, max 1, step 1, economic true,
        "Whether fees may be paid in tokens.";
    FeeInCredits = 4: "fee_in_credits", "0/1", default 1, min 0, max 1, step 1, economic true,
        "Whether fees may be paid in credits.";
    OnboardingFeeCredits = 5: "onboarding_fee_credits", "credits", default 4_000_000,
        min 0, max 1_000_000_000, step 100_000_000, economic true,
        "Credits burned to onboard a device (4,000,000 credits = 40 USD at the peg).";
    LocationFeeCredits = 6: "location_fee_credits", "credits", default 1_000_000,
        min 0, max 1_000_000_000, step 100_000_000, economic true,
        "Credits burned for each location assertion (10 USD at the peg).";
    LocationResolution = 7: "location_resolution", "H3 resolution", default 12,
        min 5, max 15, step 10, economic false,
        "H3 resolution a device asserts its location at (PROOFS.md: store at 12).";
    UnbondingDelayBlocks = 8: "unbonding_delay_blocks", "blocks", default 7 * BLOCKS_PER_DAY,
        min 1, max 365 * BLOCKS_PER_DAY, step 30 * BLOCKS_PER_DAY, economic true,
        "Blocks an unbonded amount waits before it can be withdrawn, so a cheater cannot leave before being caught.";
    MaxUnbondingEntries = 9: "max_unbonding_entries", "entries", default 16,
        min 1, max 256, step 64, economic false,
        "Pending unbonding entries one device may have.";
    PriceStalenessMs = 10: "price_staleness_ms", "milliseconds", default 600_000,
        min 10_000, max 86_400_000, step 3_600_000, economic true,
        "A price submission older than this is ignored; with too few fresh ones credit minting halts.";
    PriceMinSources = 11: "price_min_sources", "oracles", default 1,
        min 1, max 64, step 8, economic true,
        "Fresh price submissions needed before credits can be minted (the lower median is used).";
    CreditMintingEnabled = 12: "credit_minting_enabled", "0/1", default 1, min 0, max 1, step 1, economic false,
        "Switch for minting credits (an emergency curtailment may set it to 0).";
    ClaimsEnabled = 13: "claims_enabled", "0/1", default 1, min 0, max 1, step 1, economic false,
        "Switch for reward claims.";
    OnboardingEnabled = 14: "onboarding_enabled", "0/1", default 1, min 0, max 1, step 1, economic false,
        "Switch for device onboarding.";
    RewardOracleThreshold = 15: "reward_oracle_threshold", "signatures", default 1,
        min 1, max 64, step 8, economic false,
        "Distinct reward-oracle signatures a reward manifest needs.";
    VerifierOracleThreshold = 16: "verifier_oracle_threshold", "signatures", default 1,
        min 1, max 64, step 8, economic false,
        "Distinct verifier-oracle signatures a denylist entry needs.";
    EmissionPerEpoch = 17: "emission_per_epoch", "token base units", default 100_000 * TOKEN,
        min 0, max 100_000_000 * TOKEN, step 10_000_000 * TOKEN, economic true,
        "Tokens minted for the first epochs' rewards; halves every emission_halving_epochs.";
    EmissionHalvingEpochs = 18: "emission_halving_epochs", "epochs", default 730,
        min 1, max 1_000_000, step 100_000, economic true,
        "Epochs between halvings of the per-epoch emission.";
    ReceiptMaxTtlBlocks = 19: "receipt_max_ttl_blocks", "blocks", default BLOCKS_PER_DAY,
        min 1, max 30 * BLOCKS_PER_DAY, step 7 * BLOCKS_PER_DAY, economic false,
        "How far ahead a usage receipt may expire; spent receipts are remembered until they expire.";
    ProposalDeposit = 20: "proposal_deposit", "token base units", default 100 * TOKEN,
        min 0, max 1_000_000 * TOKEN, step 100_000 * TOKEN, economic true,
        "Smallest deposit a proposal (or an appeal) must lock.";
    VotingPeriodBlocks = 21: "voting_period_blocks", "blocks", default BLOCKS_PER_DAY,
        min 1, max 60 * BLOCKS_PER_DAY, step 14 * BLOCKS_PER_DAY, economic false,
        "How long a proposal is open for votes.";
    QuorumBps = 22: "quorum_bps", "basis points", default 3_340, min 1, max 10_000, step 2_000, economic false,
        "Share of the voting power snapshot that must vote.";
    PassThresholdBps = 23: "pass_threshold_bps", "basis points", default 5_001,
        min 5_001, max 10_000, step 2_000, economic false,
        "Yes share of non-abstaining votes needed to pass.";
    SupermajorityBps = 24: "supermajority_bps", "basis points", default 6_667,
        min 5_001, max 10_000, step 2_000, economic false,
        "Yes share needed for economic changes (economic parameters, treasury spends).";
    VetoThresholdBps = 25: "veto_threshold_bps", "basis points", default 3_340,
        min 1, max 10_000, step 2_000, economic false,
        "Veto share of all votes that rejects a proposal and burns its deposit.";
    TimelockBlocks = 26: "timelock_blocks", "blocks", default BLOCKS_PER_DAY / 2,
        min 0, max 30 * BLOCKS_PER_DAY, step 7 * BLOCKS_PER_DAY, economic false,
        "Blocks between a proposal passing and its execution.";
    CurtailThresholdBps = 27: "curtail_threshold_bps", "basis points", default 3_340,
        min 1, max 10_000, step 2_000, economic false,
        "Yes share an emergency curtailment needs (lower: it can only pause or reduce); it has no timelock.";
    MaxLockBlocks = 28: "max_lock_blocks", "blocks", default 4 * 365 * BLOCKS_PER_DAY,
        min 1, max 8 * 365 * BLOCKS_PER_DAY, step 365 * BLOCKS_PER_DAY, economic false,
        "Longest token lock; a lock this long votes with full weight, shorter ones pro rata.";
    AppealWindowBlocks = 29: "appeal_window_blocks", "blocks", default 7 * BLOCKS_PER_DAY,
        min 1, max 90 * BLOCKS_PER_DAY, step 30 * BLOCKS_PER_DAY, economic false,
        "How long after a denylist entry its device's owner may appeal.";
    EpochDurationMs = 30: "epoch_duration_ms", "milliseconds", default 3_600_000,
        min 10_000, max 7 * 86_400_000, step 86_400_000, economic false,
        "Length of a verification epoch; challenges are scheduled and verdicts issued per epoch.";
    StorageChallengeChunks = 31: "storage_challenge_chunks", "chunks", default 16,
        min 1, max 128, step 32, economic false,
        "Chunks c one storage challenge asks for; losing a fraction f of chunks escapes one challenge with probability (1-f)^c.";
    StorageChallengesPerEpoch = 32: "storage_challenges_per_epoch", "challenges", default 4,
        min 0, max 1_000, step 100, economic false,
        "Storage challenges each provider receives per epoch, at unpredictable times.";
    StorageDeadlineMs = 33: "storage_deadline_ms", "milliseconds", default 5_000,
        min 100, max 600_000, step 60_000, economic false,
        "Time from issuing a storage challenge to the latest accepted answer, measured by the challenger.";
    ComputeChallengesPerEpoch = 34: "compute_challenges_per_epoch", "challenges", default 2,
        min 0, max 1_000, step 100, economic false,
        "Benchmark challenges each compute provider receives per epoch.";
    ComputeChallengeN = 35: "compute_challenge_n", "matrix dimension", default 128,
        min 8, max 224, step 64, economic false,
        "Dimension n of the benchmark matrices (the product must fit one challenge response).";
    ComputeClass1OpsPerUs = 36: "compute_class1_ops_per_us", "multiply-adds per microsecond", default 50,
        min 1, max 1_000_000, step 1_000, economic false,
        "Throughput class 1 claims; class k claims 2^(k-1) times this.";
    ComputeSlackBps = 37: "compute_slack_bps", "basis points", default 40_000,
        min 10_000, max 1_000_000, step 100_000, economic false,
        "A benchmark answer may take this share of the class's expected time (plus the network allowance).";
    ComputeTooFastBps = 38: "compute_too_fast_bps", "basis points", default 2_500,
        min 0, max 10_000, step 5_000, economic false,
        "An answer faster than this share of the class's expected time is implausible for the claimed class.";
    NetworkAllowanceMs = 39: "network_allowance_ms", "milliseconds", default 500,
        min 0, max 60_000, step 10_000, economic false,
        "Round-trip allowance added to every challenge deadline.";
    FreivaldsRounds = 40: "freivalds_rounds", "rounds", default 2, min 1, max 16, step 8, economic false,
        "Independent Freivalds checks per benchmark answer; a wrong product survives each with probability at most 1/modulus.";
    ChallengeRetries = 41: "challenge_retries", "retries", default 3, min 0, max 10, step 5, economic false,
        "Times an unanswered challenge is re-issued before the timeout counts as a failure.";
    ReputationDecayPpm = 42: "reputation_decay_ppm", "parts per million", default 999_000,
        min 900_000, max 1_000_000, step 50_000, economic false,
        "Decay lambda of the Beta reputation: alpha <- lambda*alpha + pass, beta <- lambda*beta + fail.";
    ReputationFloorPpm = 43: "reputation_floor_ppm", "parts per million", default 960_000,
        min 0, max 1_000_000, step 100_000, economic false,
        "A device whose reputation falls below this (after probation) is disqualified.";
    ProbationAudits = 44: "probation_audits", "challenges", default 10, min 0, max 10_000, step 1_000, economic false,
        "Judged challenges before a new device leaves probation; a device on probation is never disqualified, only paid less.";
    ComputeReexecPpm = 45: "compute_reexec_ppm", "parts per million", default 100_000,
        min 0, max 1_000_000, step 500_000, economic false,
        "Probability p that a consumer job is re-executed on a second provider to check it.";
    ComputeCanaryPpm = 46: "compute_canary_ppm", "parts per million", default 50_000,
        min 0, max 1_000_000, step 500_000, economic false,
        "Share of jobs a provider receives that are canaries with a known answer.";
    StorageReplicas = 47: "storage_replicas", "providers", default 3, min 1, max 16, step 4, economic false,
        "Providers each stored object is placed on.";
    PoolCoveragePpm = 48: "pool_coverage_ppm", "parts per million", default 300_000,
        min 0, max 1_000_000, step 100_000, economic true,
        "Share of each epoch's emission for wireless coverage providers.";
    PoolStoragePpm = 49: "pool_storage_ppm", "parts per million", default 150_000,
        min 0, max 1_000_000, step 100_000, economic true,
        "Share of each epoch's emission for storage providers.";
    PoolComputePpm = 50: "pool_compute_ppm", "parts per million", default 150_000,
        min 0, max 1_000_000, step 100_000, economic true,
        "Share of each epoch's emission for compute providers.";
    PoolSensorPpm = 51: "pool_sensor_ppm", "parts per million", default 100_000,
        min 0, max 1_000_000, step 100_000, economic true,
        "Share of each epoch's emission for sensor stations.";
    PoolOraclesPpm = 52: "pool_oracles_ppm", "parts per million", default 20_000,
        min 0, max 1_000_000, step 100_000, economic true,
        "Share of each epoch's emission for the reward, price and verifier oracles.";
    PoolValidatorsPpm = 53: "pool_validators_ppm", "parts per million", default 80_000,
        min 0, max 1_000_000, step 100_000, economic true,
        "Share of each epoch's emission for validators, by blocks proposed; the treasury gets what the pool shares leave.";
    UsageCapPpm = 54: "usage_cap_ppm", "parts per million", default 1_000_000,
        min 0, max 1_000_000, step 250_000, economic true,
        "A provider's usage reward is at most this share of the token value its consumers burned (never above 1:1, so paying yourself cannot profit).";
    UnallocatedBurn = 55: "unallocated_burn", "0/1", default 0, min 0, max 1, step 1, economic true,
        "Where a pool's unallocated rewards go: 0 to the treasury, 1 burned.";
    VestingPpm = 56: "vesting_ppm", "parts per million", default 500_000,
        min 0, max 1_000_000, step 250_000, economic true,
        "Share of each reward claim that vests linearly over vesting_blocks instead of paying at once.";
    VestingBlocks = 57: "vesting_blocks", "blocks", default 90 * BLOCKS_PER_DAY,
        min 1, max 4 * 365 * BLOCKS_PER_DAY, step 90 * BLOCKS_PER_DAY, economic true,
        "Blocks over which the vesting share of a claim unlocks (a later claim re-starts the period for what is still locked).";
    MintBreakerWindowBlocks = 58: "mint_breaker_window_blocks", "blocks", default BLOCKS_PER_DAY,
        min 1, max 30 * BLOCKS_PER_DAY, step 7 * BLOCKS_PER_DAY, economic false,
        "Window of the minting circuit breaker.";
    MintBreakerEpochs = 59: "mint_breaker_epochs", "epochs of emission", default 1_500,
        min 1, max 1_000_000, step 10_000, economic false,
        "Most rewards minted in one window, in multiples of the current epoch's emission; a manifest beyond it waits and the breaker trips.";
    TreasuryBreakerPpm = 60: "treasury_breaker_ppm", "parts per million", default 200_000,
        min 0, max 1_000_000, step 100_000, economic false,
        "Most of the treasury that may leave it within one mint_breaker_window_blocks; a spend beyond it fails and the breaker trips.";
    FaultFeePpm = 61: "fault_fee_ppm", "parts per million", default 1_000_000,
        min 0, max 10_000_000, step 1_000_000, economic true,
        "Fault fee for an epoch with failed challenges: this share of the device's expected epoch reward (what it would have earned passing every challenge, or its pool's mean payout) times the share of its challenges it failed, taken from its bond.";
    FraudPenaltyFixed = 62: "fraud_penalty_fixed", "token base units", default 100 * TOKEN,
        min 0, max 1_000_000 * TOKEN, step 1_000 * TOKEN, economic true,
        "Fixed part of the fraud penalty taken from a device's bond once a denylist entry against it is final.";
    FraudLookbackEpochs = 63: "fraud_lookback_epochs", "epochs", default 168,
        min 0, max 10_000, step 1_000, economic true,
        "The fraud penalty adds this many epochs of the device's current rewards (its epoch payout, withheld included) to the fixed part: the gains of the window, clawed back.";
    FraudBountyPpm = 64: "fraud_bounty_ppm", "parts per million", default 100_000,
        min 0, max 1_000_000, step 250_000, economic true,
        "Share of a fraud penalty paid to the account that put the denylist entry on the ledger; the rest goes to the treasury.";
    ClaimBondEpochs = 65: "claim_bond_epochs", "epochs", default 0,
        min 0, max 10_000, step 1_000, economic true,
        "A device's rewards can be claimed only while its bond covers this many epochs of its average reward (its cumulative total over the epochs since it was onboarded, rounded up); 0: no bond needed.";
}

/// The pools each epoch's emission is split into.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Pool {
    Coverage = 0,
    Storage = 1,
    Compute = 2,
    Sensor = 3,
    Oracles = 4,
    Validators = 5,
    Treasury = 6,
}

impl Pool {
    pub const ALL: [Pool; 7] = [
        Pool::Coverage,
        Pool::Storage,
        Pool::Compute,
        Pool::Sensor,
        Pool::Oracles,
        Pool::Validators,
        Pool::Treasury,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pool::Coverage => "coverage",
            Pool::Storage => "storage",
            Pool::Compute => "compute",
            Pool::Sensor => "sensor",
            Pool::Oracles => "oracles",
            Pool::Validators => "validators",
            Pool::Treasury => "treasury",
        }
    }

    /// The parameter holding this pool's share (the treasury takes the rest).
    pub fn share_param(self) -> Option<ParamId> {
        match self {
            Pool::Coverage => Some(ParamId::PoolCoveragePpm),
            Pool::Storage => Some(ParamId::PoolStoragePpm),
            Pool::Compute => Some(ParamId::PoolComputePpm),
            Pool::Sensor => Some(ParamId::PoolSensorPpm),
            Pool::Oracles => Some(ParamId::PoolOraclesPpm),
            Pool::Validators => Some(ParamId::PoolValidatorsPpm),
            Pool::Treasury => None,
        }
    }
}

impl ParamId {
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

impl fmt::Display for ParamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a string names no parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown parameter {0:?}; see `cairn params` for the list")]
pub struct UnknownParam(pub String);

impl FromStr for ParamId {
    type Err = UnknownParam;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ParamId::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownParam(s.chars().take(64).collect()))
    }
}

impl Serialize for ParamId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ParamId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Why a parameter value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter {param} = {value} is outside its bounds [{min}, {max}]")]
    OutOfBounds {
        param: &'static str,
        value: u128,
        min: u128,
        max: u128,
    },
    #[error(
        "parameter {param}: a change from {from} to {to} exceeds the largest step of {max_step}"
    )]
    StepTooLarge {
        param: &'static str,
        from: u128,
        to: u128,
        max_step: u128,
    },
    #[error("the pool shares add up to {sum} parts per million, more than 1,000,000")]
    PoolSharesExceed { sum: u128 },
}

/// The current value of every parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    values: OrdMap<ParamId, u128>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            values: ParamId::ALL
                .iter()
                .map(|p| (*p, p.spec().default))
                .collect(),
        }
    }
}

impl Params {
    pub fn get(&self, id: ParamId) -> u128 {
        self.values
            .get(&id)
            .copied()
            .unwrap_or_else(|| id.spec().default)
    }

    /// `get` for parameters used as block counts or milliseconds (bounded well below u64).
    pub fn get_u64(&self, id: ParamId) -> u64 {
        u64::try_from(self.get(id)).unwrap_or(u64::MAX)
    }

    pub fn enabled(&self, id: ParamId) -> bool {
        self.get(id) != 0
    }

    /// Check `value` against the bounds only (genesis).
    pub fn check_bounds(id: ParamId, value: u128) -> Result<(), ParamError> {
        let spec = id.spec();
        if value < spec.min || value > spec.max {
            return Err(ParamError::OutOfBounds {
                param: spec.name,
                value,
                min: spec.min,
                max: spec.max,
            });
        }
        Ok(())
    }

    /// Check a governance change: within bounds and within one step of the current value.
    pub fn check_change(&self, id: ParamId, value: u128) -> Result<(), ParamError> {
        Self::check_bounds(id, value)?;
        let spec = id.spec();
        let from = self.get(id);
        if from.abs_diff(value) > spec.max_step {
            return Err(ParamError::StepTooLarge {
                param: spec.name,
                from,
                to: value,
                max_step: spec.max_step,
            });
        }
        Ok(())
    }

    /// These parameters with `id` set to `value`, checked against its bounds (for
    /// genesis files, simulations and tests; governance goes through `check_change`).
    pub fn with(mut self, id: ParamId, value: u128) -> Result<Self, ParamError> {
        Self::check_bounds(id, value)?;
        self.set(id, value);
        Ok(self)
    }

    /// Rules across parameters: the pool shares add up to at most one million parts per
    /// million (the treasury takes what they leave).
    pub fn check_consistency(&self) -> Result<(), ParamError> {
        let sum: u128 = Pool::ALL
            .iter()
            .filter_map(|p| p.share_param())
            .map(|id| self.get(id))
            .sum();
        if sum > 1_000_000 {
            return Err(ParamError::PoolSharesExceed { sum });
        }
        Ok(())
    }

    /// Each pool's share in parts per million, the treasury's being the rest; the shares
    /// add up to exactly one million.
    pub fn pool_shares(&self) -> [(Pool, u128); 7] {
        let mut rest: u128 = 1_000_000;
        Pool::ALL.map(|p| match p.share_param() {
            Some(id) => {
                let share = self.get(id).min(rest);
                rest -= share;
                (p, share)
            }
            None => (p, rest),
        })
    }

    /// Set without checks; callers check first.
    pub(crate) fn set(&mut self, id: ParamId, value: u128) {
        self.values.insert(id, value);
    }

    pub fn iter(&self) -> impl Iterator<Item = (ParamId, u128)> + '_ {
        self.values.iter().map(|(k, v)| (*k, *v))
    }

    /// The parameter hash committed in reward manifests and settlement: BLAKE3 of the
    /// canonical encoding of every (parameter tag, value) pair in tag order.
    pub fn hash(&self) -> Hash {
        let pairs: Vec<(ParamId, u128)> = self.iter().collect();
        Hash::of(&encode(&("cairn.params.v1", pairs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_within_bounds_and_names_unique() {
        let mut names = std::collections::BTreeSet::new();
        for id in ParamId::ALL {
            let s = id.spec();
            assert!(s.min <= s.default && s.default <= s.max, "{}", s.name);
            assert!(names.insert(s.name), "duplicate name {}", s.name);
            assert_eq!(s.name.parse::<ParamId>().unwrap(), *id);
        }
    }

    #[test]
    fn change_rules() {
        let p = Params::default();
        assert!(p.check_change(ParamId::QuorumBps, 4_000).is_ok());
        let err = p
            .check_change(ParamId::QuorumBps, 10_001)
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside its bounds [1, 10000]"), "{err}");
        let err = p
            .check_change(ParamId::QuorumBps, 9_000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exceeds the largest step of 2000"), "{err}");
        let mut q = p.clone();
        q.set(ParamId::QuorumBps, 4_000);
        assert_ne!(p.hash(), q.hash());
    }
}
