//! One epoch's computed rewards as the rewarder writes them (`rewards/epoch-N.borsh`) and
//! the indexer reads them.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::Canonical;
use cairn_ledger::tx::RewardManifest;

use crate::{Assessed, Cumulative, EpochRewards, Settled};

/// One epoch's computed rewards as written to disk.
#[derive(Debug, Clone, BorshSerialize, BorshDeserialize)]
pub struct RewardsRecord {
    pub rewards: EpochRewards,
    pub manifest: RewardManifest,
    pub cumulative: Cumulative,
    /// The penalties the manifest assesses, in the order of its penalty tree.
    pub penalties: Vec<Assessed>,
    /// Held rewards released to their devices or forfeited to the treasury this epoch.
    pub settled: Settled,
}

impl Canonical for RewardsRecord {
    const NAME: &'static str = "rewards record";
    const MAX_ENCODED_LEN: usize = 1 << 30;
}
