//! Challenge seeds, schedules and construction, shared by the challenger (which issues)
//! and the verifier (which re-derives every seed to audit what was issued).
//!
//! A challenge's **content** is seeded from the latest finalized block hash, the device
//! key, the epoch, the slot and the attempt, so neither the device nor the challenger can
//! choose it. Its **time** within the epoch comes from the challenger's own secret, so a
//! device cannot compute when it will be asked (it would otherwise fetch outsourced data
//! just in time).

use cairn_core::{Hash, PublicKey};
use cairn_proto::v1::challenge::Task;
use cairn_proto::v1::{BeaconChallenge, Challenge, ComputeChallenge, StorageChallenge};

use crate::compute::MODULUS;
use crate::storage::{ReplicaRecord, challenge_indices, chunk_count};

/// Key-derivation context of challenge seeds.
pub const SEED_CONTEXT: &str = "cairn.challenge.seed.v1";
/// Key-derivation context of challenge times.
pub const SCHEDULE_CONTEXT: &str = "cairn.challenge.schedule.v1";

/// Identifies one challenge for seed derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedInput<'a> {
    pub block_hash: &'a Hash,
    pub device: &'a PublicKey,
    pub epoch: u64,
    pub slot: u32,
    pub attempt: u32,
}

/// The 32-byte seed of a challenge.
pub fn seed(input: SeedInput<'_>) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(SEED_CONTEXT);
    h.update(input.block_hash.as_bytes());
    h.update(input.device.as_bytes());
    h.update(&input.epoch.to_le_bytes());
    h.update(&input.slot.to_le_bytes());
    h.update(&input.attempt.to_le_bytes());
    *h.finalize().as_bytes()
}

/// A challenge's id: BLAKE3 of its seed.
pub fn challenge_id(seed: &[u8; 32]) -> Hash {
    Hash::of(seed)
}

/// Offsets (ms from the epoch's start, sorted) of a device's `count` challenges in an
/// epoch of `epoch_ms`, from the challenger's secret. Offsets keep clear of the epoch's
/// last `tail_ms` so retries finish inside the epoch's verification window.
pub fn schedule(
    secret: &[u8; 32],
    device: &PublicKey,
    epoch: u64,
    count: u32,
    epoch_ms: u64,
    tail_ms: u64,
) -> Vec<u64> {
    let span = epoch_ms.saturating_sub(tail_ms).max(1);
    let mut h = blake3::Hasher::new_keyed(secret);
    h.update(SCHEDULE_CONTEXT.as_bytes());
    h.update(device.as_bytes());
    h.update(&epoch.to_le_bytes());
    let mut xof = h.finalize_xof();
    let mut out: Vec<u64> = (0..count)
        .map(|_| {
            let mut word = [0u8; 8];
            xof.fill(&mut word);
            u64::from_le_bytes(word) % span
        })
        .collect();
    out.sort_unstable();
    out
}

/// Which of the device's replicas (sorted by object id) a storage challenge asks about.
pub fn pick_replica<'a>(
    seed: &[u8; 32],
    replicas: &'a [ReplicaRecord],
) -> Option<&'a ReplicaRecord> {
    if replicas.is_empty() {
        return None;
    }
    let word = u64::from_le_bytes(seed[24..32].try_into().expect("8 bytes"));
    replicas.get((word % replicas.len() as u64) as usize)
}

/// A storage challenge on `replica`: `c` chunk indices from the seed.
pub fn storage_challenge(
    seed: [u8; 32],
    replica: &ReplicaRecord,
    c: u32,
    issued_at_ms: u64,
    deadline_ms: u64,
) -> Challenge {
    let count = chunk_count(replica.size).unwrap_or(0);
    Challenge {
        challenge_id: challenge_id(&seed).0.to_vec(),
        issued_at_ms,
        deadline_ms,
        seed: seed.to_vec(),
        task: Some(Task::Storage(StorageChallenge {
            object_id: replica.object.0.to_vec(),
            chunk_indices: challenge_indices(&seed, count, c),
        })),
    }
}

/// A benchmark challenge of dimension `n` over the standard field.
pub fn compute_challenge(seed: [u8; 32], n: u32, issued_at_ms: u64, deadline_ms: u64) -> Challenge {
    Challenge {
        challenge_id: challenge_id(&seed).0.to_vec(),
        issued_at_ms,
        deadline_ms,
        seed: seed.to_vec(),
        task: Some(Task::Compute(ComputeChallenge {
            n,
            modulus: MODULUS,
        })),
    }
}

/// The transmit power a beacon challenge asks for: one of `powers`, drawn from the seed
/// (so a device cannot know in advance how loud its beacon will be, and a relay cannot
/// know how loud to claim it was heard).
pub fn beacon_power(seed: &[u8; 32], powers: &[i32]) -> i32 {
    let word = u64::from_le_bytes(seed[16..24].try_into().expect("8 bytes"));
    powers
        .get((word % powers.len().max(1) as u64) as usize)
        .copied()
        .unwrap_or(0)
}

/// A beacon challenge: the seed is the entropy the payload is built from, the power is
/// drawn from it.
pub fn beacon_challenge(
    seed: [u8; 32],
    powers: &[i32],
    issued_at_ms: u64,
    deadline_ms: u64,
) -> Challenge {
    Challenge {
        challenge_id: challenge_id(&seed).0.to_vec(),
        issued_at_ms,
        deadline_ms,
        seed: seed.to_vec(),
        task: Some(Task::Beacon(BeaconChallenge {
            entropy: seed.to_vec(),
            tx_power_dbm_x10: beacon_power(&seed, powers),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::Keypair;

    #[test]
    fn seeds_depend_on_every_input() {
        let d = Keypair::generate().public();
        let e = Keypair::generate().public();
        let b = Hash([1; 32]);
        let c = Hash([2; 32]);
        let base = SeedInput {
            block_hash: &b,
            device: &d,
            epoch: 3,
            slot: 0,
            attempt: 0,
        };
        let s = seed(base);
        assert_eq!(s, seed(base));
        for other in [
            SeedInput {
                block_hash: &c,
                ..base
            },
            SeedInput { device: &e, ..base },
            SeedInput { epoch: 4, ..base },
            SeedInput { slot: 1, ..base },
            SeedInput { attempt: 1, ..base },
        ] {
            assert_ne!(seed(other), s);
        }
    }

    #[test]
    fn beacon_powers_are_drawn_from_the_seed() {
        let powers = [270, 240, 210];
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..64u8 {
            let c = beacon_challenge([i; 32], &powers, 5, 9);
            let Some(Task::Beacon(b)) = c.task else {
                panic!("a beacon task")
            };
            assert_eq!(b.entropy, vec![i; 32]);
            assert_eq!(b.tx_power_dbm_x10, beacon_power(&[i; 32], &powers));
            assert!(powers.contains(&b.tx_power_dbm_x10));
            seen.insert(b.tx_power_dbm_x10);
        }
        // Every power gets drawn.
        assert_eq!(seen.len(), 3);
        assert_eq!(beacon_power(&[1; 32], &[]), 0);
    }

    #[test]
    fn schedules_are_secret_dependent_and_in_range() {
        let d = Keypair::generate().public();
        let a = schedule(&[1; 32], &d, 5, 8, 60_000, 10_000);
        assert_eq!(a.len(), 8);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.iter().all(|t| *t < 50_000));
        assert_ne!(a, schedule(&[2; 32], &d, 5, 8, 60_000, 10_000));
        assert_ne!(a, schedule(&[1; 32], &d, 6, 8, 60_000, 10_000));
    }
}
