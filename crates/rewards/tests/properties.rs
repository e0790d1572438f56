//! Property tests of the rewarder: exact conservation, order independence, identical
//! oracle runs, and claims against the real ledger paying each cumulative total once.

use std::collections::BTreeMap;

use cairn_core::envelope::sign_detached;
use cairn_core::{Epoch, Hash, Height, KeyId, Keypair, NetworkId, PublicKey, Tokens};
use cairn_ledger::genesis::{Allocation, GenesisValidator};
use cairn_ledger::params::ParamId;
use cairn_ledger::state::Usage;
use cairn_ledger::tx::{
    DeviceKind, Fee, OracleSignature, ParamValue, Recipient, RewardClaim, Transaction,
};
use cairn_ledger::{BlockContext, Genesis, Params, SignedTx, TxError, TxKind, apply_block};
use cairn_rewards::{
    CapacitySource, ComputeCapacity, Cumulative, DeviceFacts, EpochRewards, ManifestTree, Payee,
    PenaltyTree, RewardInput, StorageCapacity, ValidatorActivity, WorkSummary, build_manifest,
    compute,
};
use cairn_verify::verdict::{Capacity, Subject};
use cairn_verify::{Outcome, ReasonCode, Reputation, Standing, Verdict, VerdictBatch, WorkKind};
use proptest::prelude::*;

fn key(i: u64) -> Keypair {
    Keypair::from_seed(Hash::of(&i.to_le_bytes()).as_bytes())
}

#[derive(Debug, Clone)]
struct World {
    devices: BTreeMap<KeyId, DeviceFacts>,
    batch: VerdictBatch,
    usage: Vec<(KeyId, Usage)>,
    validators: Vec<ValidatorActivity>,
    oracles: Vec<PublicKey>,
    params: Params,
    emission: Tokens,
}

fn verdict(device: KeyId, kind: WorkKind, subject: Subject, id: u64, ok: bool) -> Verdict {
    Verdict {
        device,
        epoch: Epoch(1),
        kind,
        subject,
        subject_id: Hash::of(&id.to_le_bytes()),
        outcome: if ok {
            Outcome::Valid
        } else {
            Outcome::Invalid(ReasonCode::from_code(300).unwrap())
        },
        evidence: vec![],
        measured: vec![],
        score_ppm: None,
        detail: String::new(),
    }
}

prop_compose! {
    fn world()(
        devices in proptest::collection::vec(
            (0u8..4, any::<bool>(), 0u64..1u64 << 40, 0u64..5, 0u64..5, any::<bool>(), 0u64..6, 0u64..1_000_000),
            0..24),
        usage in proptest::collection::vec((0usize..24, 0u128..1u128 << 50), 0..12),
        validators in proptest::collection::vec((0u64..4, 0u64..50, 0u64..2), 0..5),
        oracles in 0u64..4,
        shares in proptest::collection::vec(0u128..300_000, 6),
        cap in 0u128..=1_000_000,
        burn in any::<bool>(),
        emission in 0u128..1u128 << 60,
    ) -> World {
        let mut facts = BTreeMap::new();
        let mut verdicts = Vec::new();
        let mut capacity = Vec::new();
        let mut standings = Vec::new();
        let mut keys = Vec::new();
        for (i, (kind, withheld, amount, passed, failed, bad_job, class, alpha)) in devices.into_iter().enumerate() {
            let d = key(i as u64).public().id();
            keys.push(d);
            let kind = [DeviceKind::Coverage, DeviceKind::Storage, DeviceKind::Compute, DeviceKind::Sensor][kind as usize];
            facts.insert(d, DeviceFacts { kind, withheld });
            let work = match kind {
                DeviceKind::Storage => WorkKind::Storage,
                DeviceKind::Compute => WorkKind::Compute,
                _ => continue,
            };
            let amount = if work == WorkKind::Compute { class + 1 } else { amount };
            capacity.push(Capacity { device: d, kind: work, amount });
            for j in 0..passed + failed {
                verdicts.push(verdict(d, work, Subject::Challenge, j, j < passed));
            }
            if bad_job && work == WorkKind::Compute {
                verdicts.push(verdict(d, work, Subject::Job, 99, false));
            }
            standings.push(Standing {
                device: d,
                kind: work,
                reputation: Reputation { alpha, beta: 1_000_000 - alpha, ..Reputation::default() },
            });
        }
        verdicts.sort_by_key(|v| (v.device, v.kind, v.subject, v.subject_id));
        standings.sort_by_key(|s| (s.device, s.kind));
        capacity.sort_by_key(|c| (c.device, c.kind));
        let usage = usage
            .into_iter()
            .filter(|(i, _)| *i < keys.len())
            .map(|(i, t)| (keys[i], Usage { credits: cairn_core::Credits::from_base_units(t / 1000), tokens: Tokens::from_base_units(t) }))
            .collect();
        let validators = validators
            .into_iter()
            .map(|(v, blocks, faults)| ValidatorActivity { validator: key(1000 + v).public(), blocks_proposed: blocks, faults })
            .collect();
        let mut params = Params::default();
        for (p, v) in [ParamId::PoolCoveragePpm, ParamId::PoolStoragePpm, ParamId::PoolComputePpm,
                       ParamId::PoolSensorPpm, ParamId::PoolOraclesPpm, ParamId::PoolValidatorsPpm].into_iter().zip(shares) {
            params = params.with(p, v).unwrap();
        }
        params = params.with(ParamId::UsageCapPpm, cap).unwrap();
        params = params.with(ParamId::UnallocatedBurn, u128::from(burn)).unwrap();
        World {
            devices: facts,
            batch: VerdictBatch {
                version: cairn_verify::verdict::BATCH_VERSION,
                epoch: Epoch(1),
                state_height: Height(1),
                entropy: Hash::ZERO,
                params_hash: Hash::ZERO,
                inputs_root: Hash::ZERO,
                inputs: 0,
                verdicts,
                standings,
                capacity,
            },
            usage,
            validators,
            oracles: (0..oracles).map(|o| key(2000 + o).public()).collect(),
            params,
            emission: Tokens::from_base_units(emission),
        }
    }
}

fn run(w: &World) -> EpochRewards {
    // The rewarder streams the batch from disk; in memory gives the same summary.
    let summary = WorkSummary::of(&w.batch);
    let streamed = WorkSummary::read(&cairn_core::codec::encode(&w.batch)[..], 1 << 30).unwrap();
    assert_eq!(streamed, summary);
    let storage = StorageCapacity(&summary);
    let compute_cap = ComputeCapacity(&summary);
    let sources: [&dyn CapacitySource; 2] = [&storage, &compute_cap];
    compute(&RewardInput {
        epoch: Epoch(1),
        emission: w.emission,
        params: &w.params,
        devices: &w.devices,
        usage: &w.usage,
        capacity: &sources,
        validators: &w.validators,
        oracles: &w.oracles,
    })
    .unwrap()
}

fn sum<'a>(it: impl Iterator<Item = &'a Tokens>) -> u128 {
    it.map(|t| t.base_units()).sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Σ payouts + unallocated + withheld == the pool, per pool and for the epoch.
    #[test]
    fn every_base_unit_is_accounted_for(w in world()) {
        let r = run(&w);
        let emission = w.emission.base_units();
        prop_assert_eq!(sum(r.pools.iter().map(|p| &p.amount)), emission);
        for p in &r.pools {
            use cairn_ledger::params::Pool;
            if matches!(p.pool, Pool::Coverage | Pool::Storage | Pool::Compute | Pool::Sensor) {
                // Device pools: usage, capacity and unallocated make up the pool.
                prop_assert_eq!(
                    p.usage.base_units() + p.capacity.base_units() + p.unallocated.base_units(),
                    p.amount.base_units(),
                    "pool {:?}", p.pool
                );
                prop_assert!(p.withheld <= p.usage.checked_add(p.capacity).unwrap());
            } else {
                // The others go whole to their recipients, or whole to unallocated.
                prop_assert!(p.usage.is_zero() && p.capacity.is_zero() && p.withheld.is_zero());
                prop_assert!(p.unallocated.is_zero() || p.unallocated == p.amount);
            }
        }
        let withheld = sum(r.withheld.values());
        let paid_out: u128 = r.payouts.iter()
            .filter(|(k, _)| !matches!(k, Payee::Device(d) if r.withheld.contains_key(d)))
            .map(|(_, v)| v.base_units()).sum();
        let carried = if r.unallocated_burned.is_zero() { r.unallocated.base_units() } else { 0 };
        // Payouts include the carried unallocated (a treasury leaf): count it once.
        prop_assert_eq!(paid_out - carried + r.unallocated.base_units() + withheld, emission);
        prop_assert_eq!(sum(r.payouts.values()) + r.unallocated_burned.base_units(), emission);
    }

    /// Usage is paid first and never above its cap; permuting every input list changes
    /// nothing, and two oracle runs give the same manifest root.
    #[test]
    fn order_independent_and_reproducible(w in world(), seed in any::<u64>()) {
        let r = run(&w);
        let cap = w.params.get(ParamId::UsageCapPpm);
        for (d, _) in &w.usage {
            let paid = r.payouts.get(&Payee::Device(*d)).copied().unwrap_or_default();
            let kind_pool = cairn_rewards::epoch::pool_of(w.devices[d].kind);
            let pool = r.pools.iter().find(|p| p.pool == kind_pool).unwrap();
            if pool.capacity.is_zero() {
                // Without capacity rewards in its pool, a provider earns only usage.
                let own: u128 = w.usage.iter().filter(|(x, _)| x == d).map(|(_, u)| u.tokens.base_units() * cap / 1_000_000).sum();
                prop_assert!(paid.base_units() <= own, "{} > {}", paid, own);
            }
        }
        let mut p = w.clone();
        let n = seed as usize;
        if !p.usage.is_empty() { let k = n % p.usage.len(); p.usage.rotate_left(k); p.usage.reverse(); }
        if !p.validators.is_empty() { let k = n % p.validators.len(); p.validators.rotate_left(k); }
        p.oracles.reverse();
        p.batch.capacity.reverse();
        let r2 = run(&p);
        prop_assert_eq!(&r, &r2);
        let a = ManifestTree::build(&Cumulative::default().add(&r).unwrap());
        let b = ManifestTree::build(&Cumulative::default().add(&r2).unwrap());
        prop_assert_eq!(a.root(), b.root());
    }
}

/// A consumer paying its own provider device cannot earn more in usage rewards than the
/// value it burned, however large the pool and however little else competes.
#[test]
fn wash_usage_cannot_profit() {
    let me = key(1).public().id();
    let honest = key(2).public().id();
    let mut devices = BTreeMap::new();
    devices.insert(
        me,
        DeviceFacts {
            kind: DeviceKind::Storage,
            withheld: false,
        },
    );
    devices.insert(
        honest,
        DeviceFacts {
            kind: DeviceKind::Storage,
            withheld: false,
        },
    );
    // The washer burned 5 tokens' worth of credits paying itself; the pool is 1,000.
    let burned = Tokens::whole(5).unwrap();
    let usage = vec![(
        me,
        Usage {
            credits: cairn_core::Credits::from_base_units(500_000),
            tokens: burned,
        },
    )];
    let batch = VerdictBatch {
        version: cairn_verify::verdict::BATCH_VERSION,
        epoch: Epoch(1),
        state_height: Height(1),
        entropy: Hash::ZERO,
        params_hash: Hash::ZERO,
        inputs_root: Hash::ZERO,
        inputs: 0,
        verdicts: vec![],
        standings: vec![],
        capacity: vec![],
    };
    let summary = WorkSummary::of(&batch);
    let storage = StorageCapacity(&summary);
    let sources: [&dyn CapacitySource; 1] = [&storage];
    for cap in [1_000_000u128, 500_000, 0] {
        let params = Params::default().with(ParamId::UsageCapPpm, cap).unwrap();
        let storage_pool = Tokens::whole(1_000).unwrap();
        let emission = Tokens::from_base_units(
            storage_pool.base_units() * 1_000_000 / params.get(ParamId::PoolStoragePpm),
        );
        let r = compute(&RewardInput {
            epoch: Epoch(1),
            emission,
            params: &params,
            devices: &devices,
            usage: &usage,
            capacity: &sources,
            validators: &[],
            oracles: &[],
        })
        .unwrap();
        let earned = r
            .payouts
            .get(&Payee::Device(me))
            .copied()
            .unwrap_or_default();
        assert!(
            earned <= burned,
            "cap {cap}: earned {earned} for {burned} burned"
        );
        assert_eq!(earned.base_units(), burned.base_units() * cap / 1_000_000);
        // What the cap left is not handed to the washer: with no capacity proven, it is
        // unallocated (carried to the treasury).
        let pool = r
            .pools
            .iter()
            .find(|p| p.pool == cairn_ledger::params::Pool::Storage)
            .unwrap();
        assert_eq!(pool.usage, earned);
        assert_eq!(pool.unallocated, pool.amount.checked_sub(earned).unwrap());
    }
}

// -------------------------------------------------------------------------------------
// Claims against the real ledger over several epochs.

const EPOCH_MS: u64 = 60_000;
const BLOCK_MS: u64 = 6_000;

fn network() -> NetworkId {
    NetworkId::new("cairn-test").unwrap()
}

struct Chain {
    state: cairn_ledger::State,
    height: u64,
}

impl Chain {
    fn new(oracles: &[Keypair]) -> Chain {
        let g = Genesis {
            network: network(),
            time_ms: 0,
            allocations: vec![Allocation {
                account: key(9).public(),
                tokens: Tokens::whole(1_000).unwrap(),
            }],
            treasury: Tokens::ZERO,
            validators: vec![GenesisValidator {
                key: key(8).public(),
                power: 1,
            }],
            price_oracles: vec![],
            reward_oracles: oracles.iter().map(|k| k.public()).collect(),
            verifier_oracles: vec![],
            makers: vec![],
            params: vec![
                ParamValue {
                    param: ParamId::RewardOracleThreshold,
                    value: 2,
                },
                ParamValue {
                    param: ParamId::EpochDurationMs,
                    value: u128::from(EPOCH_MS),
                },
                ParamValue {
                    param: ParamId::VestingPpm,
                    value: 0,
                },
                ParamValue {
                    param: ParamId::EmissionPerEpoch,
                    value: 1_000 * 100_000_000,
                },
                ParamValue {
                    param: ParamId::EmissionHalvingEpochs,
                    value: 3,
                },
            ],
        };
        Chain {
            state: g.into_state().unwrap(),
            height: 0,
        }
    }

    fn block(&mut self, txs: Vec<SignedTx>) -> Vec<Result<cairn_ledger::Receipt, TxError>> {
        self.height += 1;
        let ctx = BlockContext {
            height: Height(self.height),
            time_ms: self.height * BLOCK_MS,
        };
        let out = apply_block(&mut self.state, &ctx, &txs).unwrap();
        cairn_ledger::check_invariants(&self.state).unwrap();
        out.results
    }

    fn tx(&self, who: &Keypair, kind: TxKind) -> SignedTx {
        let body = Transaction {
            network: network(),
            nonce: self.state.account(&who.public()).nonce,
            fee: Fee::Tokens(Tokens::from_base_units(
                self.state.params.get(ParamId::TxFeeTokens),
            )),
            kind,
        };
        cairn_core::envelope::Signed::sign(who, &network(), body)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Epoch after epoch, two oracles compute the same manifest independently and the
    /// ledger accepts it; claims made at random times pay each recipient exactly its
    /// final cumulative total in all, and a replayed claim pays nothing.
    #[test]
    fn claims_pay_the_cumulative_total_once(
        epochs in proptest::collection::vec(
            (proptest::collection::vec(0u128..1u128 << 40, 3), proptest::collection::vec(any::<bool>(), 3)),
            1..5),
    ) {
        let oracles = [key(100), key(101)];
        let payer = key(9);
        let mut chain = Chain::new(&oracles);
        let owner_devices: Vec<Keypair> = (0..3).map(|i| key(200 + i)).collect();
        let mut cumulative = Cumulative::default();
        let mut previous: Option<(Hash, Tokens)> = None;
        let mut paid: BTreeMap<Recipient, u128> = BTreeMap::new();
        let mut devices = BTreeMap::new();
        for d in &owner_devices {
            devices.insert(d.public().id(), DeviceFacts { kind: DeviceKind::Storage, withheld: false });
            // Onboarded to the payer (onboarding itself is the ledger's own tests' job).
            chain.state.devices.insert(d.public(), cairn_ledger::state::Device {
                owner: payer.public(),
                maker: key(7).public(),
                kind: DeviceKind::Storage,
                onboarded_at: Height(0),
                onboarded_epoch: Epoch(1),
                location: None,
                location_since: None,
                location_moves: 0,
                bond: Tokens::ZERO,
                unbonding: vec![],
                fees_through: Epoch(0),
            });
        }
        for (e, (usage_values, claim_now)) in epochs.iter().enumerate() {
            let epoch = Epoch(e as u64 + 1);
            while chain.height * BLOCK_MS < chain.state.epoch_end_ms(epoch) {
                chain.block(vec![]);
            }
            let usage: Vec<(KeyId, Usage)> = owner_devices.iter().zip(usage_values)
                .map(|(d, t)| (d.public().id(), Usage { credits: cairn_core::Credits::ZERO, tokens: Tokens::from_base_units(*t) }))
                .collect();
            let emission = cairn_ledger::emission_for_epoch(&chain.state.params, epoch);
            // Each oracle runs the rewarder on its own.
            let mut signed = Vec::new();
            let mut manifests = Vec::new();
            for o in &oracles {
                let r = compute(&RewardInput {
                    epoch,
                    emission,
                    params: &chain.state.params,
                    devices: &devices,
                    usage: &usage,
                    capacity: &[],
                    validators: &[],
                    oracles: &[oracles[0].public(), oracles[1].public()],
                }).unwrap();
                let next = cumulative.add(&r).unwrap();
                let tree = ManifestTree::build(&next);
                let m = build_manifest(&r, &tree, &PenaltyTree::build(epoch, &[]), previous.as_ref().map(|(h, t)| (h, *t)),
                    chain.state.params.hash(), Hash::of(b"inputs")).unwrap();
                signed.push(OracleSignature { oracle: o.public(), signature: sign_detached(o, &network(), &m) });
                manifests.push((m, next, tree));
            }
            prop_assert_eq!(&manifests[0].0, &manifests[1].0);
            let (m, next, tree) = manifests.remove(0);
            // Each oracle submits its own signature; the second reaches the threshold.
            for s in signed {
                let tx = chain.tx(&payer, TxKind::SubmitManifest { manifest: m.clone(), signatures: vec![s] });
                prop_assert!(chain.block(vec![tx])[0].is_ok());
            }
            prop_assert_eq!(chain.state.manifests.len(), e + 1);
            previous = Some((chain.state.manifests[&epoch].hash, m.cumulative_total));
            cumulative = next;
            // Some devices claim now, for everything so far.
            let claims: Vec<RewardClaim> = owner_devices.iter().zip(claim_now)
                .filter(|(_, c)| **c)
                .filter_map(|(d, _)| tree.proof(&Recipient::Device(d.public())))
                .filter(|(leaf, _)| leaf.cumulative.base_units() > paid.get(&leaf.recipient).copied().unwrap_or(0))
                .map(|(leaf, proof)| RewardClaim { leaf, proof })
                .collect();
            if !claims.is_empty() {
                for c in &claims {
                    paid.insert(c.leaf.recipient, c.leaf.cumulative.base_units());
                }
                let tx = chain.tx(&payer, TxKind::ClaimRewards { epoch, claims: claims.clone() });
                prop_assert!(chain.block(vec![tx])[0].is_ok());
                // The same claims again pay nothing.
                let again = chain.tx(&payer, TxKind::ClaimRewards { epoch, claims });
                let out = chain.block(vec![again]);
                prop_assert!(matches!(out[0], Err(TxError::NothingToClaim { .. })), "{:?}", out[0]);
            }
        }
        // Everything claimed in the end: each recipient received its cumulative total.
        let last = Epoch(epochs.len() as u64);
        let tree = ManifestTree::build(&cumulative);
        for (p, total) in &cumulative.totals {
            let r = &p.to_recipient().unwrap();
            let (leaf, proof) = tree.proof(r).unwrap();
            let owed = total.base_units() - paid.get(r).copied().unwrap_or(0);
            let tx = chain.tx(&payer, TxKind::ClaimRewards { epoch: last, claims: vec![RewardClaim { leaf, proof }] });
            let out = chain.block(vec![tx]);
            if owed == 0 {
                prop_assert!(out[0].is_err());
            } else {
                prop_assert!(out[0].is_ok(), "{:?}", out[0]);
            }
            prop_assert_eq!(chain.state.claimed.get(r).copied().unwrap_or_default(), *total);
        }
        prop_assert_eq!(chain.state.supply.escrow.base_units(), 0);
    }
}
