//! The rewarder: verdicts and usage become an epoch's rewards, exact to the base unit.
//!
//! - [`epoch::compute`] splits the epoch's emission into pools by the governance-set
//!   shares; each device pool pays **usage first** (credits consumers burned for the
//!   provider's service, valued in tokens when they settled, each provider capped at
//!   `usage_cap_ppm` of that value so paying yourself cannot profit), then **capacity**
//!   by units from a [`capacity::CapacitySource`] per kind; oracles share theirs
//!   equally, validators by blocks proposed (a fault forfeits the epoch), the treasury
//!   takes its share. Whatever nobody was eligible for is **unallocated**: carried to
//!   the treasury or burned. Rewards of denylisted devices are **withheld**: computed,
//!   kept in their leaves, and not claimable while the entry lives.
//! - [`split::pro_rata`] is the one splitting rule: integer floors, remainder by largest
//!   remainder, ties by key. Σ payouts + unallocated == emission, always.
//! - [`manifest`] keeps every recipient's cumulative total, the Merkle tree the ledger's
//!   claims are proven against, and the manifest each reward oracle signs.
//! - [`penalties`] assesses fault fees and fraud penalties by formula; the manifest
//!   commits to them and the ledger takes them from bonds.
//!
//! Everything here is pure: no clock, no I/O, no hash maps, no floats.

pub mod capacity;
pub mod epoch;
pub mod manifest;
pub mod penalties;
pub mod record;
pub mod split;
pub mod work;

pub use capacity::{
    CapacitySource, ComputeCapacity, CoverageCapacity, SensorCapacity, StorageCapacity,
};
pub use epoch::{
    DeviceFacts, EpochRewards, PoolOutcome, RewardError, RewardInput, ValidatorActivity, compute,
};
pub use manifest::{
    Cumulative, Held, HeldOutcome, ManifestTree, Payee, Settled, build_manifest, inputs_commitment,
};
pub use penalties::{Assessed, FinalEntry, PenaltyTree, assess};
pub use record::RewardsRecord;
pub use work::{DeviceWork, WorkSummary};
