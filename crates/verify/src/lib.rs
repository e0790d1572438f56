//! Cairn's verifiers: pay only for work that really happened.
//!
//! - [`sensor`]: per-station sensor checks (range, stuck, jumps) and the daily quality score;
//! - [`sensor_cross`]: neighbourhood outliers and correlation, clones, replays, indoor stations;
//! - [`storage`]: content commitments, replicas encoded per device, chunk proofs;
//! - [`compute`]: benchmark products checked by Freivalds' algorithm, class timing;
//! - [`challenge`]: seeds from finalized blocks, secret schedules, challenge construction;
//! - [`coverage`]: the beacon and witness rules of proof of coverage, one reason code each;
//! - [`coverage_graph`]: reward units, and the epoch-wide checks single links cannot see;
//! - [`density`]: H3 density scaling, so a farm at one site earns about what one device would;
//! - [`identity`]: impossible travel, closed fleets of one owner, makers flagged out of proportion;
//! - [`radio`]: integer free-space path loss, logarithms and distances between H3 cells;
//! - [`spatial`]: which asserted sites lie near which, without comparing every pair;
//! - [`reputation`]: the decaying Beta score with probation and disqualification;
//! - [`verdict`]: verdicts, reason codes, the per-epoch batch;
//! - [`epoch`]: the pure epoch verifier over report-log records and chain state.
//!
//! Everything here is deterministic: no clock, no randomness, no floats, ordered maps.
#![deny(clippy::float_arithmetic)]

pub mod challenge;
pub mod compute;
pub mod coverage;
pub mod coverage_graph;
pub mod density;
pub mod epoch;
pub mod identity;
pub mod jobs;
pub mod locate;
pub mod radio;
pub mod reputation;
pub mod sensor;
pub mod sensor_cross;
pub mod spatial;
pub mod storage;
pub mod verdict;
pub mod window;

pub use epoch::{ChainView, EpochInput, EpochOutput, Registry, Site, VerifierParams, run_epoch};
pub use reputation::{Reputation, Status};
pub use verdict::{Capacity, Outcome, ReasonCode, Standing, Verdict, VerdictBatch, WorkKind};
pub use window::Carried;

/// `f` over `items` on every core, in order: each item's result depends on that item
/// alone, so the output is the same on any machine (the epoch-wide checks fit thousands of
/// devices independently).
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(16);
    if threads < 2 || items.len() < 32 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Keys numbered as they are first seen, through a hash map that is only looked up and
/// never iterated: an epoch window holds a million observations of a few thousand
/// devices, and grouping them by sorting small integers is far cheaper than ordered maps
/// of 32-byte keys.
#[derive(Debug, Default)]
pub(crate) struct Numbering {
    seen: std::collections::HashMap<cairn_core::KeyId, u32>,
    keys: Vec<cairn_core::KeyId>,
}

impl Numbering {
    /// `k`'s number (the next one, the first time it is seen).
    pub(crate) fn number(&mut self, k: cairn_core::KeyId) -> u32 {
        let keys = &mut self.keys;
        *self.seen.entry(k).or_insert_with(|| {
            keys.push(k);
            (keys.len() - 1) as u32
        })
    }

    /// The key numbered `n`.
    pub(crate) fn key(&self, n: u32) -> cairn_core::KeyId {
        self.keys[n as usize]
    }

    /// The keys in order, and each number's rank among them (ranks order as keys do).
    pub(crate) fn ranked(self) -> (Vec<cairn_core::KeyId>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.keys.len() as u32).collect();
        order.sort_unstable_by_key(|i| self.keys[*i as usize]);
        let mut rank = vec![0u32; self.keys.len()];
        for (r, i) in order.iter().enumerate() {
            rank[*i as usize] = r as u32;
        }
        (order.iter().map(|i| self.keys[*i as usize]).collect(), rank)
    }
}

/// A key id for tests: `i` in its first four bytes.
#[cfg(test)]
pub(crate) fn test_key(i: u32) -> cairn_core::KeyId {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&i.to_be_bytes());
    cairn_core::KeyId(b)
}
