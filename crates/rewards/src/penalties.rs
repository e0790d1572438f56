//! Penalties by formula, assessed with each epoch's rewards and committed in its
//! manifest; the ledger takes them from bonds when anyone applies them with a proof.
//!
//! The expected epoch reward of a device is what it would have earned had it passed
//! every challenge: its payout this epoch (withheld amounts included) × judged ÷ passed,
//! or, when it earned nothing or passed nothing, the mean payout of its pool's
//! recipients. Then:
//!
//! - **fault fee** (each device with a failed challenge): `fault_fee_ppm` × expected ×
//!   failed ÷ judged;
//! - **fraud penalty** (each device on a denylist entry that is final and not yet
//!   penalized for it): `fraud_penalty_fixed` + `fraud_lookback_epochs` × what the
//!   device earned this epoch (withheld included): the gains of the window, clawed back;
//!   a device that earned nothing pays the fixed part.
//!
//! Integers only; the same inputs give the same penalties and root.

use std::collections::BTreeMap;

use cairn_core::amount::mul_div;
use cairn_core::codec::encode;
use cairn_core::{Epoch, Hash, KeyId, MerkleProof, MerkleTree, Tokens};
use cairn_ledger::params::{ParamId, Params, Pool};
use cairn_ledger::tx::PenaltyKind;
use cairn_verify::WorkKind;

use crate::capacity::PPM;
use crate::epoch::EpochRewards;
use crate::manifest::Payee;
use crate::work::WorkSummary;

/// One assessed penalty (the ledger's `Penalty` with the device as key bytes).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
    serde::Serialize,
)]
pub struct Assessed {
    pub device: KeyId,
    pub kind: PenaltyKind,
    pub amount: Tokens,
}

impl Assessed {
    /// Exactly the ledger's `Penalty::leaf_bytes` for the same penalty in `epoch`.
    pub fn leaf_bytes(&self, epoch: Epoch) -> Vec<u8> {
        encode(&(
            "cairn.rewards.penalty.v1",
            epoch,
            self.device,
            self.kind,
            self.amount,
        ))
    }
}

/// A device on a final denylist entry that has not paid its fraud penalty for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FinalEntry {
    pub entry: u64,
    pub device: KeyId,
}

fn pool_of(kind: WorkKind) -> Pool {
    match kind {
        WorkKind::Storage => Pool::Storage,
        WorkKind::Compute => Pool::Compute,
        WorkKind::Coverage => Pool::Coverage,
        WorkKind::Sensor => Pool::Sensor,
    }
}

/// The epoch's penalties, sorted by (device, kind).
pub fn assess(
    params: &Params,
    rewards: &EpochRewards,
    work: &WorkSummary,
    final_entries: &[FinalEntry],
) -> Vec<Assessed> {
    let mean: BTreeMap<Pool, u128> = rewards
        .pools
        .iter()
        .map(|p| {
            let paid = p.usage.base_units().saturating_add(p.capacity.base_units());
            (
                p.pool,
                paid.checked_div(u128::from(p.recipients)).unwrap_or(0),
            )
        })
        .collect();
    let paid = |d: &KeyId| {
        rewards
            .payouts
            .get(&Payee::Device(*d))
            .map_or(0, |t| t.base_units())
    };
    // The expected reward of one (device, kind) had it passed everything.
    let expected = |device: &KeyId, kind: WorkKind, judged: u32, passed: u32| -> u128 {
        let p = paid(device);
        if p > 0 && passed > 0 {
            mul_div(p, u128::from(judged), u128::from(passed)).0
        } else {
            mean.get(&pool_of(kind)).copied().unwrap_or(0)
        }
    };
    let fee_ppm = params.get(ParamId::FaultFeePpm);
    let mut out: Vec<Assessed> = Vec::new();
    for w in &work.work {
        if w.judged == 0 || w.passed >= w.judged {
            continue;
        }
        let e = expected(&w.device, w.kind, w.judged, w.passed);
        let failed = u128::from(w.judged - w.passed);
        let share = mul_div(e, failed, u128::from(w.judged)).0;
        let fee = mul_div(share, fee_ppm, PPM).0;
        if fee > 0 {
            out.push(Assessed {
                device: w.device,
                kind: PenaltyKind::FaultFee,
                amount: Tokens::from_base_units(fee),
            });
        }
    }
    // A device of several kinds pays one fault fee: the largest.
    out.sort_by(|a, b| a.device.cmp(&b.device).then(b.amount.cmp(&a.amount)));
    out.dedup_by_key(|a| a.device);
    let fixed = params.get(ParamId::FraudPenaltyFixed);
    let lookback = params.get(ParamId::FraudLookbackEpochs);
    let mut entries = final_entries.to_vec();
    entries.sort();
    entries.dedup();
    for f in entries {
        let e = paid(&f.device);
        let amount = fixed.saturating_add(lookback.saturating_mul(e));
        if amount > 0 {
            out.push(Assessed {
                device: f.device,
                kind: PenaltyKind::Fraud { entry: f.entry },
                amount: Tokens::from_base_units(amount),
            });
        }
    }
    out.sort_by_key(|a| (a.device, a.kind));
    out
}

/// The Merkle tree over an epoch's penalties, in their order.
#[derive(Debug)]
pub struct PenaltyTree {
    tree: MerkleTree,
    count: u64,
}

impl PenaltyTree {
    pub fn build(epoch: Epoch, penalties: &[Assessed]) -> PenaltyTree {
        let leaves: Vec<Vec<u8>> = penalties.iter().map(|p| p.leaf_bytes(epoch)).collect();
        PenaltyTree {
            tree: MerkleTree::from_leaves(&leaves),
            count: penalties.len() as u64,
        }
    }

    /// The root a manifest carries: [`Hash::ZERO`] when there are no penalties.
    pub fn root(&self) -> Hash {
        if self.count == 0 {
            Hash::ZERO
        } else {
            self.tree.root()
        }
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn proof(&self, index: u64) -> Option<MerkleProof> {
        self.tree.proof(index)
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::Keypair;
    use cairn_ledger::tx::Penalty;

    use super::*;
    use crate::epoch::PoolOutcome;
    use crate::work::DeviceWork;

    fn work(device: KeyId, kind: WorkKind, judged: u32, passed: u32) -> DeviceWork {
        DeviceWork {
            device,
            kind,
            judged,
            passed,
            bad_job: false,
            score_ppm: Some(1_000_000),
            capacity: 1,
        }
    }

    #[test]
    fn leaves_are_the_ledger_leaves() {
        let k = Keypair::from_seed(&[3; 32]).public();
        for kind in [PenaltyKind::FaultFee, PenaltyKind::Fraud { entry: 9 }] {
            let ledger = Penalty {
                epoch: Epoch(4),
                device: k,
                kind,
                amount: Tokens::from_base_units(123),
            };
            let ours = Assessed {
                device: k.id(),
                kind,
                amount: Tokens::from_base_units(123),
            };
            assert_eq!(ours.leaf_bytes(Epoch(4)), ledger.leaf_bytes());
        }
    }

    /// The formulas, by table.
    #[test]
    fn fees_and_fraud_by_formula() {
        let ids: Vec<KeyId> = (0..4u8)
            .map(|i| Keypair::from_seed(&[i; 32]).public().id())
            .collect();
        let params = Params::default()
            .with(ParamId::FaultFeePpm, 500_000)
            .unwrap()
            .with(ParamId::FraudPenaltyFixed, 1_000)
            .unwrap()
            .with(ParamId::FraudLookbackEpochs, 10)
            .unwrap();
        let rewards = EpochRewards {
            epoch: Epoch(2),
            emission: Tokens::from_base_units(10_000),
            pools: vec![PoolOutcome {
                pool: Pool::Storage,
                amount: Tokens::from_base_units(900),
                usage: Tokens::from_base_units(0),
                capacity: Tokens::from_base_units(900),
                withheld: Tokens::ZERO,
                unallocated: Tokens::ZERO,
                recipients: 3,
            }],
            payouts: [(Payee::Device(ids[0]), 300), (Payee::Device(ids[1]), 600)]
                .into_iter()
                .map(|(p, v)| (p, Tokens::from_base_units(v)))
                .collect(),
            withheld: BTreeMap::new(),
            unallocated: Tokens::ZERO,
            unallocated_burned: Tokens::ZERO,
        };
        let summary = WorkSummary {
            epoch: Epoch(2),
            batch_hash: Hash::ZERO,
            verdicts: 0,
            work: vec![
                // Paid 300 for 3 of 4: expected 400; fee ½ × 400 × ¼ = 50.
                work(ids[0], WorkKind::Storage, 4, 3),
                // Passed everything: no fee.
                work(ids[1], WorkKind::Storage, 4, 4),
                // Passed nothing: expected is the pool mean 300; fee ½ × 300 × 1 = 150.
                work(ids[2], WorkKind::Storage, 2, 0),
                // Never judged: no fee.
                work(ids[3], WorkKind::Storage, 0, 0),
            ],
        };
        let fraud = [FinalEntry {
            entry: 5,
            device: ids[1],
        }];
        let got = assess(&params, &rewards, &summary, &fraud);
        let mut want = vec![
            Assessed {
                device: ids[0],
                kind: PenaltyKind::FaultFee,
                amount: Tokens::from_base_units(50),
            },
            Assessed {
                device: ids[2],
                kind: PenaltyKind::FaultFee,
                amount: Tokens::from_base_units(150),
            },
            // 1,000 + 10 × 600 (passed everything: expected = paid).
            Assessed {
                device: ids[1],
                kind: PenaltyKind::Fraud { entry: 5 },
                amount: Tokens::from_base_units(7_000),
            },
        ];
        want.sort_by_key(|a| (a.device, a.kind));
        assert_eq!(got, want);
        // Order of the inputs does not matter.
        let mut reversed = summary.clone();
        reversed.work.reverse();
        assert_eq!(assess(&params, &rewards, &reversed, &fraud), want);
        let tree = PenaltyTree::build(Epoch(2), &got);
        assert_eq!(tree.len(), 3);
        for (i, p) in got.iter().enumerate() {
            let proof = tree.proof(i as u64).unwrap();
            assert!(proof.verify(&tree.root(), &p.leaf_bytes(Epoch(2))));
        }
        assert_eq!(PenaltyTree::build(Epoch(2), &[]).root(), Hash::ZERO);
    }
}
