//! Cumulative reward manifests: every recipient's lifetime total as a Merkle leaf, so one
//! claim covers every past epoch and a replayed claim pays nothing.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::encode;
use cairn_core::{Hash, MerkleProof, MerkleTree, Tokens};
use cairn_ledger::tx::{Recipient, RewardLeaf, RewardManifest};

use crate::epoch::{EpochRewards, RewardError};

/// Every recipient's lifetime total, sorted by recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Cumulative {
    pub totals: BTreeMap<Recipient, Tokens>,
}

impl Cumulative {
    /// These totals plus one epoch's payouts.
    pub fn add(&self, epoch: &EpochRewards) -> Result<Cumulative, RewardError> {
        let mut totals = self.totals.clone();
        for (r, v) in &epoch.payouts {
            let slot = totals.entry(*r).or_insert(Tokens::ZERO);
            *slot = slot
                .checked_add(*v)
                .ok_or(RewardError::Overflow("cumulative rewards"))?;
        }
        Ok(Cumulative { totals })
    }

    pub fn leaves(&self) -> Vec<RewardLeaf> {
        self.totals
            .iter()
            .map(|(recipient, cumulative)| RewardLeaf {
                recipient: *recipient,
                cumulative: *cumulative,
            })
            .collect()
    }
}

/// The Merkle tree over a [`Cumulative`]'s leaves, with an index for proofs.
#[derive(Debug)]
pub struct ManifestTree {
    leaves: Vec<RewardLeaf>,
    tree: MerkleTree,
}

impl ManifestTree {
    pub fn build(cumulative: &Cumulative) -> ManifestTree {
        let leaves = cumulative.leaves();
        let hashes = leaves
            .iter()
            .map(|l| cairn_core::merkle::leaf_hash(&l.leaf_bytes()))
            .collect();
        ManifestTree {
            tree: MerkleTree::from_leaf_hashes(hashes),
            leaves,
        }
    }

    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// A recipient's leaf and its proof (leaves are sorted by recipient).
    pub fn proof(&self, recipient: &Recipient) -> Option<(RewardLeaf, MerkleProof)> {
        let i = self
            .leaves
            .binary_search_by(|l| l.recipient.cmp(recipient))
            .ok()?;
        Some((self.leaves[i], self.tree.proof(i as u64)?))
    }
}

/// A commitment to what an epoch's rewards were computed from: the Merkle root over the
/// named parts' hashes (the verdict batches, which commit to the report-log records they
/// consumed; the usage, device and validator records read from the chain), so anyone
/// holding the logs and the chain can recompute and audit the manifest.
pub fn inputs_commitment(parts: &[(&str, Hash)]) -> Hash {
    let leaves: Vec<Vec<u8>> = parts
        .iter()
        .map(|(name, h)| encode(&("cairn.rewards.input.v1", *name, h)))
        .collect();
    MerkleTree::from_leaves(&leaves).root()
}

/// The manifest for `rewards` over the new cumulative totals.
pub fn build_manifest(
    rewards: &EpochRewards,
    tree: &ManifestTree,
    previous: Option<(&Hash, Tokens)>,
    params_hash: Hash,
    inputs: Hash,
) -> Result<RewardManifest, RewardError> {
    let prior = previous.map_or(Tokens::ZERO, |(_, t)| t);
    Ok(RewardManifest {
        epoch: rewards.epoch,
        cumulative_root: tree.root(),
        recipient_count: tree.len(),
        epoch_total: rewards.emission,
        cumulative_total: prior
            .checked_add(rewards.emission)
            .ok_or(RewardError::Overflow("cumulative total"))?,
        previous: previous.map_or(Hash::ZERO, |(h, _)| *h),
        unallocated_burned: rewards.unallocated_burned,
        params_hash,
        inputs,
    })
}
