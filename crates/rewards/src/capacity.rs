//! Capacity rewards: one interface every kind of work plugs into.
//!
//! A [`CapacitySource`] turns one epoch's verdicts into reward units per device for its
//! pool: fixed-point integers, never floats. Storage and compute read the verifier's
//! batch; coverage (beacon and witness units × H3 density scale) and sensor data
//! (quality × location score) implement the same trait when their verifiers exist.

use std::collections::BTreeMap;

use cairn_core::PublicKey;
use cairn_ledger::params::Pool;
use cairn_verify::verdict::Subject;
use cairn_verify::{Status, VerdictBatch, WorkKind};

/// One part per million: scores and multipliers are fixed-point integers on this scale.
pub const PPM: u128 = 1_000_000;

/// Reward units per device for one pool in one epoch.
pub trait CapacitySource: std::fmt::Debug {
    fn pool(&self) -> Pool;
    /// `(device, units)` for every device that earned capacity units; zero or absent
    /// means nothing. The order does not matter.
    fn units(&self) -> Vec<(PublicKey, u128)>;
}

/// Challenge verdicts of one kind per device: (valid, total), and whether any consumer
/// job of the device was judged invalid.
fn tally(batch: &VerdictBatch, kind: WorkKind) -> BTreeMap<PublicKey, (u128, u128, bool)> {
    let mut out: BTreeMap<PublicKey, (u128, u128, bool)> = BTreeMap::new();
    for v in batch.verdicts.iter().filter(|v| v.kind == kind) {
        let t = out.entry(v.device).or_default();
        match v.subject {
            Subject::Challenge => {
                t.1 += 1;
                t.0 += u128::from(v.is_valid());
            }
            Subject::Job => t.2 |= !v.is_valid(),
        }
    }
    out
}

/// The standing's score in ppm, or `None` for a disqualified device.
fn score(batch: &VerdictBatch, device: &PublicKey, kind: WorkKind) -> Option<u128> {
    match batch
        .standings
        .binary_search_by(|s| (s.device, s.kind).cmp(&(*device, kind)))
    {
        Ok(i) => {
            let r = &batch.standings[i].reputation;
            (r.status != Status::Disqualified).then(|| u128::from(r.score_ppm()))
        }
        Err(_) => Some(PPM),
    }
}

/// Storage held × reputation: `bytes × score_ppm × passed / judged` over the epoch's
/// storage challenges. A device never challenged in the epoch proved nothing and earns
/// nothing; a disqualified device earns nothing.
#[derive(Debug)]
pub struct StorageCapacity<'a>(pub &'a VerdictBatch);

impl CapacitySource for StorageCapacity<'_> {
    fn pool(&self) -> Pool {
        Pool::Storage
    }

    fn units(&self) -> Vec<(PublicKey, u128)> {
        let tallies = tally(self.0, WorkKind::Storage);
        self.0
            .capacity
            .iter()
            .filter(|c| c.kind == WorkKind::Storage)
            .filter_map(|c| {
                let (passed, judged, _) = tallies.get(&c.device)?;
                let score = score(self.0, &c.device, WorkKind::Storage)?;
                if *judged == 0 {
                    return None;
                }
                let units = u128::from(c.amount) * score * passed / judged;
                Some((c.device, units))
            })
            .collect()
    }
}

/// Compute availability × verified benchmarks: the claimed class's throughput
/// (`2^(class−1)`, in ppm) × reputation × the share of benchmark challenges passed. Any
/// consumer job judged wrong in the epoch forfeits the epoch's compute units.
#[derive(Debug)]
pub struct ComputeCapacity<'a>(pub &'a VerdictBatch);

impl CapacitySource for ComputeCapacity<'_> {
    fn pool(&self) -> Pool {
        Pool::Compute
    }

    fn units(&self) -> Vec<(PublicKey, u128)> {
        let tallies = tally(self.0, WorkKind::Compute);
        self.0
            .capacity
            .iter()
            .filter(|c| c.kind == WorkKind::Compute)
            .filter_map(|c| {
                let (passed, judged, bad_job) = tallies.get(&c.device)?;
                let score = score(self.0, &c.device, WorkKind::Compute)?;
                if *judged == 0 || *bad_job {
                    return None;
                }
                let class = c.amount.clamp(1, 64);
                let throughput = 1u128 << (class - 1).min(63);
                Some((c.device, throughput * score * passed / judged))
            })
            .collect()
    }
}
