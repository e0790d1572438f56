//! Cumulative reward manifests: every recipient's lifetime total as a Merkle leaf, so one
//! claim covers every past epoch and a replayed claim pays nothing.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::encode;
use cairn_core::{Hash, KeyId, MerkleProof, MerkleTree, Tokens};
use cairn_ledger::tx::{Recipient, RewardLeaf, RewardManifest};
use serde::Serialize;

use crate::epoch::{EpochRewards, RewardError};
use crate::penalties::PenaltyTree;

/// A [`Recipient`] named by its key's bytes: the rewarder keeps millions of them, and
/// a decoded [`cairn_core::PublicKey`] costs a point decompression and 192 bytes each.
/// Same variants, order and Borsh encoding as [`Recipient`], so a leaf built from either
/// hashes the same.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Payee {
    Device(KeyId),
    Account(KeyId),
    Treasury,
}

impl From<&Recipient> for Payee {
    fn from(r: &Recipient) -> Payee {
        match r {
            Recipient::Device(k) => Payee::Device(k.id()),
            Recipient::Account(k) => Payee::Account(k.id()),
            Recipient::Treasury => Payee::Treasury,
        }
    }
}

impl Payee {
    /// The recipient with its key checked (a point decompression each).
    pub fn to_recipient(&self) -> Result<Recipient, cairn_core::KeyParseError> {
        Ok(match self {
            Payee::Device(k) => Recipient::Device(k.to_public()?),
            Payee::Account(k) => Recipient::Account(k.to_public()?),
            Payee::Treasury => Recipient::Treasury,
        })
    }
}

/// The bytes of `payee`'s leaf: exactly [`RewardLeaf::leaf_bytes`] of the same
/// recipient and total.
pub fn leaf_bytes(payee: &Payee, cumulative: Tokens) -> Vec<u8> {
    encode(&("cairn.rewards.leaf.v1", payee, cumulative))
}

/// Every recipient's lifetime total, sorted by recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Cumulative {
    pub totals: BTreeMap<Payee, Tokens>,
    /// Of the devices' totals, what they earned while a denylist entry withheld their
    /// rewards, by the entry that held it: released when the entry is overturned or
    /// lapses, forfeited to the treasury once it is final ([`Cumulative::settle`]).
    pub held: BTreeMap<KeyId, Held>,
}

/// Rewards a device earned while a denylist entry withheld them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Held {
    pub entry: u64,
    pub amount: Tokens,
}

/// What becomes of a device's held rewards at an epoch's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldOutcome {
    /// Still undecided: keep holding.
    Keep,
    /// The entry is gone but another one withholds the device now: held under it.
    Rekey(u64),
    /// Overturned or lapsed without standing: the device may claim them.
    Release,
    /// The finding stands for good: moved from the device's total to the treasury's.
    Forfeit,
}

/// What [`Cumulative::settle`] did, by device.
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Settled {
    pub released: BTreeMap<KeyId, Tokens>,
    pub forfeited: BTreeMap<KeyId, Tokens>,
}

impl Cumulative {
    /// Hold this epoch's `withheld` amounts, each under the entry withholding its device
    /// (`entry_of`); a device already held keeps its entry.
    pub fn hold(
        &mut self,
        withheld: &BTreeMap<KeyId, Tokens>,
        entry_of: impl Fn(&KeyId) -> u64,
    ) -> Result<(), RewardError> {
        for (device, amount) in withheld {
            if amount.is_zero() {
                continue;
            }
            let h = self.held.entry(*device).or_insert(Held {
                entry: entry_of(device),
                amount: Tokens::ZERO,
            });
            h.amount = h
                .amount
                .checked_add(*amount)
                .ok_or(RewardError::Overflow("held rewards"))?;
        }
        Ok(())
    }

    /// Decide every held amount: release it, forfeit it to the treasury (the device's
    /// total shrinks by it, the treasury's grows: the sum is unchanged), or keep holding.
    pub fn settle(
        &mut self,
        decide: impl Fn(&KeyId, &Held) -> HeldOutcome,
    ) -> Result<Settled, RewardError> {
        let mut out = Settled::default();
        let held = std::mem::take(&mut self.held);
        for (device, h) in held {
            match decide(&device, &h) {
                HeldOutcome::Keep => {
                    self.held.insert(device, h);
                }
                HeldOutcome::Rekey(entry) => {
                    self.held.insert(device, Held { entry, ..h });
                }
                HeldOutcome::Release => {
                    out.released.insert(device, h.amount);
                }
                HeldOutcome::Forfeit => {
                    let total = self.totals.get_mut(&Payee::Device(device)).ok_or(
                        RewardError::Inconsistent("held rewards of a device with no total"),
                    )?;
                    *total = total
                        .checked_sub(h.amount)
                        .ok_or(RewardError::Inconsistent(
                            "held rewards above the device's total",
                        ))?;
                    let treasury = self.totals.entry(Payee::Treasury).or_insert(Tokens::ZERO);
                    *treasury = treasury
                        .checked_add(h.amount)
                        .ok_or(RewardError::Overflow("treasury total"))?;
                    out.forfeited.insert(device, h.amount);
                }
            }
        }
        Ok(out)
    }

    /// These totals plus one epoch's payouts.
    pub fn add(&self, epoch: &EpochRewards) -> Result<Cumulative, RewardError> {
        let mut totals = self.totals.clone();
        for (r, v) in &epoch.payouts {
            let slot = totals.entry(*r).or_insert(Tokens::ZERO);
            *slot = slot
                .checked_add(*v)
                .ok_or(RewardError::Overflow("cumulative rewards"))?;
        }
        Ok(Cumulative {
            totals,
            held: self.held.clone(),
        })
    }

    /// A recipient's lifetime total.
    pub fn get(&self, recipient: &Recipient) -> Option<Tokens> {
        self.totals.get(&Payee::from(recipient)).copied()
    }
}

/// The Merkle tree over a [`Cumulative`]'s leaves, with an index for proofs.
#[derive(Debug)]
pub struct ManifestTree {
    leaves: Vec<(Payee, Tokens)>,
    tree: MerkleTree,
}

impl ManifestTree {
    pub fn build(cumulative: &Cumulative) -> ManifestTree {
        let leaves: Vec<(Payee, Tokens)> =
            cumulative.totals.iter().map(|(p, t)| (*p, *t)).collect();
        let hashes = leaves
            .iter()
            .map(|(p, t)| cairn_core::merkle::leaf_hash(&leaf_bytes(p, *t)))
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
        let payee = Payee::from(recipient);
        let i = self.leaves.binary_search_by(|(p, _)| p.cmp(&payee)).ok()?;
        let leaf = RewardLeaf {
            recipient: *recipient,
            cumulative: self.leaves[i].1,
        };
        Some((leaf, self.tree.proof(i as u64)?))
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

/// The manifest for `rewards` over the new cumulative totals, assessing the penalties
/// in `penalties`.
pub fn build_manifest(
    rewards: &EpochRewards,
    tree: &ManifestTree,
    penalties: &PenaltyTree,
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
        penalties_root: penalties.root(),
        penalty_count: penalties.len(),
    })
}

#[cfg(test)]
mod tests {
    use cairn_core::Keypair;

    use super::*;

    /// A leaf the rewarder builds from key bytes must be the leaf a claim proves with
    /// the decoded key, and sort the same, or claims would not verify.
    #[test]
    fn payee_leaves_are_recipient_leaves() {
        let mut recipients: Vec<Recipient> = (0..20u8)
            .flat_map(|i| {
                let k = Keypair::from_seed(&[i; 32]).public();
                [Recipient::Device(k), Recipient::Account(k)]
            })
            .chain([Recipient::Treasury])
            .collect();
        let mut payees: Vec<Payee> = recipients.iter().map(Payee::from).collect();
        recipients.sort();
        payees.sort();
        for (i, (r, p)) in recipients.iter().zip(&payees).enumerate() {
            assert_eq!(Payee::from(r), *p);
            let t = Tokens::from_base_units(1_000 + i as u128);
            let leaf = RewardLeaf {
                recipient: *r,
                cumulative: t,
            };
            assert_eq!(leaf.leaf_bytes(), leaf_bytes(p, t));
        }
        let cumulative = Cumulative {
            totals: payees
                .iter()
                .map(|p| (*p, Tokens::from_base_units(7)))
                .collect(),
            held: BTreeMap::new(),
        };
        let tree = ManifestTree::build(&cumulative);
        for r in &recipients {
            let (leaf, proof) = tree.proof(r).expect("in the tree");
            assert_eq!(leaf.recipient, *r);
            assert!(proof.verify(&tree.root(), &leaf.leaf_bytes()));
        }
    }
}
