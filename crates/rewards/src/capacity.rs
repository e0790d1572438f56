//! Capacity rewards: one interface every kind of work plugs into.
//!
//! A [`CapacitySource`] turns one epoch's verdicts into reward units per device for its
//! pool: fixed-point integers, never floats. Storage and compute read the verifier's
//! batch as a [`WorkSummary`], and so do sensor stations (quality in a paid cell ×
//! reputation) and coverage radios (beacon and witness units × H3 density scale ×
//! reputation).

use cairn_core::KeyId;
use cairn_ledger::params::Pool;
use cairn_verify::WorkKind;

use crate::work::WorkSummary;

/// One part per million: scores and multipliers are fixed-point integers on this scale.
pub const PPM: u128 = 1_000_000;

/// Reward units per device for one pool in one epoch.
pub trait CapacitySource: std::fmt::Debug {
    fn pool(&self) -> Pool;
    /// `(device, units)` for every device that earned capacity units; zero or absent
    /// means nothing. The order does not matter.
    fn units(&self) -> Vec<(KeyId, u128)>;
}

/// Storage held × reputation: `bytes × score_ppm × passed / judged` over the epoch's
/// storage challenges. A device never challenged in the epoch proved nothing and earns
/// nothing; a disqualified device earns nothing.
#[derive(Debug)]
pub struct StorageCapacity<'a>(pub &'a WorkSummary);

impl CapacitySource for StorageCapacity<'_> {
    fn pool(&self) -> Pool {
        Pool::Storage
    }

    fn units(&self) -> Vec<(KeyId, u128)> {
        scored_units(self.0, WorkKind::Storage)
    }
}

/// Compute availability × verified benchmarks: the claimed class's throughput
/// (`2^(class−1)`, in ppm) × reputation × the share of benchmark challenges passed. Any
/// consumer job judged wrong in the epoch forfeits the epoch's compute units.
#[derive(Debug)]
pub struct ComputeCapacity<'a>(pub &'a WorkSummary);

impl CapacitySource for ComputeCapacity<'_> {
    fn pool(&self) -> Pool {
        Pool::Compute
    }

    fn units(&self) -> Vec<(KeyId, u128)> {
        self.0
            .work
            .iter()
            .filter(|w| w.kind == WorkKind::Compute && w.judged > 0 && !w.bad_job)
            .filter_map(|w| {
                let score = u128::from(w.score_ppm?);
                let class = w.capacity.clamp(1, 64);
                let throughput = 1u128 << (class - 1).min(63);
                Some((
                    w.device,
                    throughput * score * u128::from(w.passed) / u128::from(w.judged),
                ))
            })
            .collect()
    }
}

/// The epoch's capacity as the verifier measured it (already zero for a device flagged,
/// or beyond its cell's capacity) × reputation × the share of its epoch verdicts that
/// were valid.
fn scored_units(summary: &WorkSummary, kind: WorkKind) -> Vec<(KeyId, u128)> {
    summary
        .work
        .iter()
        .filter(|w| w.kind == kind && w.judged > 0)
        .filter_map(|w| {
            let score = u128::from(w.score_ppm?);
            Some((
                w.device,
                u128::from(w.capacity) * score * u128::from(w.passed) / u128::from(w.judged),
            ))
        })
        .collect()
}

/// Sensor data: the epoch's quality score in a paid cell × reputation.
#[derive(Debug)]
pub struct SensorCapacity<'a>(pub &'a WorkSummary);

impl CapacitySource for SensorCapacity<'_> {
    fn pool(&self) -> Pool {
        Pool::Sensor
    }

    fn units(&self) -> Vec<(KeyId, u128)> {
        scored_units(self.0, WorkKind::Sensor)
    }
}

/// Coverage: the epoch's beacon and witness units × H3 density scale × reputation.
#[derive(Debug)]
pub struct CoverageCapacity<'a>(pub &'a WorkSummary);

impl CapacitySource for CoverageCapacity<'_> {
    fn pool(&self) -> Pool {
        Pool::Coverage
    }

    fn units(&self) -> Vec<(KeyId, u128)> {
        scored_units(self.0, WorkKind::Coverage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{Epoch, Hash, Height, Keypair};
    use cairn_verify::reputation::Reputation;
    use cairn_verify::verdict::{
        BATCH_VERSION, Capacity, Outcome, ReasonCode, Standing, Subject, Verdict, VerdictBatch,
    };

    #[test]
    fn sensor_units_are_the_paid_quality_times_reputation() {
        let key = |i: u8| Keypair::from_seed(&[i; 32]).public().id();
        let verdict = |k, outcome| Verdict {
            device: k,
            epoch: Epoch(1),
            kind: WorkKind::Sensor,
            subject: Subject::Epoch,
            subject_id: Hash::ZERO,
            outcome,
            evidence: vec![],
            measured: vec![],
            score_ppm: Some(900_000),
            detail: String::new(),
        };
        // 1: valid and paid; 2: flagged (the verifier gave it no capacity); 3: valid but
        // past its cell's capacity; 4: valid, paid, half its audits failed before.
        let (a, b, c, d) = (key(1), key(2), key(3), key(4));
        let mut verdicts = vec![
            verdict(a, Outcome::Valid),
            verdict(b, Outcome::Invalid(ReasonCode::ClonedSeries)),
            verdict(c, Outcome::Valid),
            verdict(d, Outcome::Valid),
        ];
        verdicts.sort_by_key(|v| v.device);
        let half = Reputation {
            alpha: 5,
            beta: 5,
            ..Reputation::default()
        };
        let mut standings: Vec<Standing> = [a, b, c, d]
            .iter()
            .map(|k| Standing {
                device: *k,
                kind: WorkKind::Sensor,
                reputation: if *k == d { half } else { Reputation::default() },
            })
            .collect();
        standings.sort_by_key(|s| s.device);
        let mut capacity: Vec<Capacity> = [(a, 900_000), (b, 0), (c, 0), (d, 800_000)]
            .iter()
            .map(|(k, amount)| Capacity {
                device: *k,
                kind: WorkKind::Sensor,
                amount: *amount,
            })
            .collect();
        capacity.sort_by_key(|c| c.device);
        let batch = VerdictBatch {
            version: BATCH_VERSION,
            epoch: Epoch(1),
            state_height: Height(1),
            entropy: Hash::ZERO,
            params_hash: Hash::ZERO,
            inputs_root: Hash::ZERO,
            inputs: 0,
            verdicts,
            standings,
            capacity,
        };
        let summary = WorkSummary::of(&batch);
        let mut units = SensorCapacity(&summary).units();
        units.sort();
        let mut want = vec![
            (a, 900_000 * 1_000_000),
            (b, 0),
            (c, 0),
            (d, 800_000 * 500_000),
        ];
        want.sort();
        assert_eq!(units, want);
        // Storage, compute and coverage see none of it.
        assert!(CoverageCapacity(&summary).units().is_empty());
        assert!(StorageCapacity(&summary).units().is_empty());
        assert!(ComputeCapacity(&summary).units().is_empty());
    }
}
