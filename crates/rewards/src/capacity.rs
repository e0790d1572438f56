//! Capacity rewards: one interface every kind of work plugs into.
//!
//! A [`CapacitySource`] turns one epoch's verdicts into reward units per device for its
//! pool: fixed-point integers, never floats. Storage and compute read the verifier's
//! batch as a [`WorkSummary`]; coverage (beacon and witness units × H3 density scale)
//! and sensor data (quality × location score) implement the same trait when their
//! verifiers exist.

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
        self.0
            .work
            .iter()
            .filter(|w| w.kind == WorkKind::Storage && w.judged > 0)
            .filter_map(|w| {
                let score = u128::from(w.score_ppm?);
                let units =
                    u128::from(w.capacity) * score * u128::from(w.passed) / u128::from(w.judged);
                Some((w.device, units))
            })
            .collect()
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
