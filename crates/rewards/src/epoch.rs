//! One epoch's rewards: the emission split into pools, each pool paid from demand first
//! and capacity second, every base unit accounted for.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::{Epoch, KeyId, PublicKey, Tokens};
use cairn_ledger::params::{ParamId, Params, Pool};
use cairn_ledger::state::Usage;
use cairn_ledger::tx::DeviceKind;
use serde::Serialize;

use crate::capacity::{CapacitySource, PPM};
use crate::manifest::Payee;
use crate::split::{mul_div, pro_rata};

/// What the rewarder needs to know of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFacts {
    pub kind: DeviceKind,
    /// On a live denylist entry: its rewards are computed and held apart, not paid.
    pub withheld: bool,
}

/// A validator's record in the epoch, from the finalized chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct ValidatorActivity {
    pub validator: PublicKey,
    /// Finalized blocks it proposed in the epoch (its uptime as leader).
    pub blocks_proposed: u64,
    /// Attributable faults (conflicting votes) recorded for it in the epoch: any fault
    /// forfeits the epoch's share.
    pub faults: u64,
}

/// Everything one epoch's rewards are a pure function of.
#[derive(Debug)]
pub struct RewardInput<'a> {
    pub epoch: Epoch,
    pub emission: Tokens,
    pub params: &'a Params,
    pub devices: &'a BTreeMap<KeyId, DeviceFacts>,
    /// Credits burned for each device's service in the epoch, with their token value.
    pub usage: &'a [(KeyId, Usage)],
    /// One source per capacity pool (storage, compute; coverage and sensor later).
    pub capacity: &'a [&'a dyn CapacitySource],
    pub validators: &'a [ValidatorActivity],
    /// Reward, price and verifier oracle accounts share the oracles' pool equally.
    pub oracles: &'a [PublicKey],
}

/// How one pool was spent.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct PoolOutcome {
    pub pool: Pool,
    pub amount: Tokens,
    /// Paid for usage (demand first), capped at the value consumers burned.
    pub usage: Tokens,
    /// Paid for capacity (what usage left).
    pub capacity: Tokens,
    /// Computed for denylisted devices and held apart (part of `usage` + `capacity`).
    pub withheld: Tokens,
    /// Nobody eligible: carried to the treasury or burned, as `unallocated_burn` says.
    pub unallocated: Tokens,
    pub recipients: u64,
}

/// One epoch's rewards.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct EpochRewards {
    pub epoch: Epoch,
    pub emission: Tokens,
    pub pools: Vec<PoolOutcome>,
    /// This epoch's amount per recipient, withheld devices and carried unallocated
    /// rewards (to the treasury) included.
    pub payouts: BTreeMap<Payee, Tokens>,
    /// Of `payouts`, what denylisted devices earned.
    pub withheld: BTreeMap<KeyId, Tokens>,
    pub unallocated: Tokens,
    /// Of `unallocated`, what is burned rather than carried.
    pub unallocated_burned: Tokens,
}

/// Why an epoch cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewardError {
    #[error("amounts overflow while summing {0}")]
    Overflow(&'static str),
    #[error("the cumulative totals are inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// The pool a kind of device earns from.
pub fn pool_of(kind: DeviceKind) -> Pool {
    match kind {
        DeviceKind::Coverage => Pool::Coverage,
        DeviceKind::Storage => Pool::Storage,
        DeviceKind::Compute => Pool::Compute,
        DeviceKind::Sensor => Pool::Sensor,
    }
}

#[derive(Default)]
struct Acc {
    payouts: BTreeMap<Payee, u128>,
    withheld: BTreeMap<KeyId, u128>,
}

impl Acc {
    fn pay(&mut self, to: Payee, amount: u128) -> Result<(), RewardError> {
        if amount == 0 {
            return Ok(());
        }
        let slot = self.payouts.entry(to).or_default();
        *slot = slot
            .checked_add(amount)
            .ok_or(RewardError::Overflow("payouts"))?;
        Ok(())
    }
}

/// Compute an epoch's rewards. Pure: the same input, in any order, gives the same output.
pub fn compute(input: &RewardInput<'_>) -> Result<EpochRewards, RewardError> {
    let emission = input.emission.base_units();
    // The pools: shares of the emission by pro rata over the shares (exact).
    let shares: Vec<(Pool, u128)> = input.params.pool_shares().to_vec();
    let amounts = pro_rata(emission, &shares).unwrap_or_else(|| {
        // Every share zero cannot happen (the treasury takes the rest), but be total.
        shares.iter().map(|(p, _)| (*p, 0)).collect()
    });
    let cap_ppm = input.params.get(ParamId::UsageCapPpm).min(PPM);
    let mut acc = Acc::default();
    let mut pools = Vec::new();
    let mut unallocated: u128 = 0;
    for (pool, amount) in amounts {
        let mut out = PoolOutcome {
            pool,
            amount: Tokens::from_base_units(amount),
            usage: Tokens::ZERO,
            capacity: Tokens::ZERO,
            withheld: Tokens::ZERO,
            unallocated: Tokens::ZERO,
            recipients: 0,
        };
        let mut left = amount;
        match pool {
            Pool::Coverage | Pool::Storage | Pool::Compute | Pool::Sensor => {
                let (usage, capacity, withheld, recipients) =
                    device_pool(input, pool, amount, cap_ppm, &mut acc)?;
                out.usage = Tokens::from_base_units(usage);
                out.capacity = Tokens::from_base_units(capacity);
                out.withheld = Tokens::from_base_units(withheld);
                out.recipients = recipients;
                left -= usage + capacity;
            }
            Pool::Oracles => {
                let mut oracles = input.oracles.to_vec();
                oracles.sort();
                oracles.dedup();
                let weights: Vec<(PublicKey, u128)> = oracles.iter().map(|o| (*o, 1)).collect();
                if let Some(split) = pro_rata(amount, &weights) {
                    for (o, v) in split {
                        acc.pay(Payee::Account(o.id()), v)?;
                    }
                    out.recipients = oracles.len() as u64;
                    left = 0;
                }
            }
            Pool::Validators => {
                let mut weights: BTreeMap<PublicKey, u128> = BTreeMap::new();
                let mut faulty = std::collections::BTreeSet::new();
                for v in input.validators {
                    *weights.entry(v.validator).or_default() += u128::from(v.blocks_proposed);
                    if v.faults > 0 {
                        faulty.insert(v.validator);
                    }
                }
                let weights: Vec<(PublicKey, u128)> = weights
                    .into_iter()
                    .filter(|(k, w)| *w > 0 && !faulty.contains(k))
                    .collect();
                if let Some(split) = pro_rata(amount, &weights) {
                    for (k, v) in split {
                        acc.pay(Payee::Account(k.id()), v)?;
                    }
                    out.recipients = weights.len() as u64;
                    left = 0;
                }
            }
            Pool::Treasury => {
                acc.pay(Payee::Treasury, amount)?;
                out.recipients = 1;
                left = 0;
            }
        }
        out.unallocated = Tokens::from_base_units(left);
        unallocated += left;
        pools.push(out);
    }
    let burn = input.params.enabled(ParamId::UnallocatedBurn);
    let unallocated_burned = if burn { unallocated } else { 0 };
    if !burn {
        acc.pay(Payee::Treasury, unallocated)?;
    }
    Ok(EpochRewards {
        epoch: input.epoch,
        emission: input.emission,
        pools,
        payouts: acc
            .payouts
            .into_iter()
            .map(|(k, v)| (k, Tokens::from_base_units(v)))
            .collect(),
        withheld: acc
            .withheld
            .into_iter()
            .map(|(k, v)| (k, Tokens::from_base_units(v)))
            .collect(),
        unallocated: Tokens::from_base_units(unallocated),
        unallocated_burned: Tokens::from_base_units(unallocated_burned),
    })
}

/// A device pool: usage first (each provider at most `cap_ppm` of the value its
/// consumers burned), the rest by capacity units. Returns (usage paid, capacity paid,
/// withheld, recipients).
fn device_pool(
    input: &RewardInput<'_>,
    pool: Pool,
    amount: u128,
    cap_ppm: u128,
    acc: &mut Acc,
) -> Result<(u128, u128, u128, u64), RewardError> {
    let eligible = |d: &KeyId| {
        input
            .devices
            .get(d)
            .is_some_and(|f| pool_of(f.kind) == pool)
    };
    // Usage claims, capped; several rows for one device add up.
    let mut claims: BTreeMap<KeyId, u128> = BTreeMap::new();
    for (d, u) in input.usage.iter().filter(|(d, _)| eligible(d)) {
        let (capped, _) = mul_div(u.tokens.base_units(), cap_ppm, PPM);
        let slot = claims.entry(*d).or_default();
        *slot = slot
            .checked_add(capped)
            .ok_or(RewardError::Overflow("usage"))?;
    }
    claims.retain(|_, v| *v > 0);
    let claimed = claims
        .values()
        .try_fold(0u128, |a, v| a.checked_add(*v))
        .ok_or(RewardError::Overflow("usage"))?;
    let mut paid: BTreeMap<KeyId, u128> = BTreeMap::new();
    let usage_paid = if claimed <= amount {
        for (d, v) in &claims {
            paid.insert(*d, *v);
        }
        claimed
    } else {
        // Demand exceeds the pool: the pool is shared by usage (each still under its cap).
        let weights: Vec<(KeyId, u128)> = claims.iter().map(|(d, v)| (*d, *v)).collect();
        for (d, v) in pro_rata(amount, &weights).unwrap_or_default() {
            paid.insert(d, v);
        }
        amount
    };
    let rest = amount - usage_paid;
    let mut capacity_paid = 0;
    let mut units: BTreeMap<KeyId, u128> = BTreeMap::new();
    for source in input.capacity.iter().filter(|s| s.pool() == pool) {
        for (d, u) in source.units() {
            if u > 0 && eligible(&d) {
                let slot = units.entry(d).or_default();
                *slot = slot.saturating_add(u);
            }
        }
    }
    let weights: Vec<(KeyId, u128)> = units.into_iter().collect();
    if rest > 0
        && let Some(split) = pro_rata(rest, &weights)
    {
        for (d, v) in split {
            let slot = paid.entry(d).or_default();
            *slot += v;
        }
        capacity_paid = rest;
    }
    let mut withheld = 0;
    let mut recipients = 0;
    for (d, v) in paid {
        if v == 0 {
            continue;
        }
        recipients += 1;
        acc.pay(Payee::Device(d), v)?;
        if input.devices.get(&d).is_some_and(|f| f.withheld) {
            withheld += v;
            *acc.withheld.entry(d).or_default() += v;
        }
    }
    Ok((usage_paid, capacity_paid, withheld, recipients))
}
