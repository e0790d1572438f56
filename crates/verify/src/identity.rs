//! Identity detectors: one key in two places at once, fleets that only vouch for
//! themselves, makers whose devices are caught out of proportion.
//!
//! - **Impossible travel**: two sightings of one key (any report that places it: a
//!   position fix, a beacon heard by witnesses around a spot) farther apart than anything
//!   can travel in the time between.
//! - **Closed fleets (Sybil clusters)**: devices sharing an owner and a maker onboarded
//!   within a short window, whose interactions (witnessing) stay inside the group: one
//!   operator posing as many.
//! - **Makers flagged out of proportion**: a maker whose devices are flagged far more
//!   often than the network's rate (a binomial z-score), which points at a leaked maker
//!   key or a batch built to cheat.
//!
//! Integer arithmetic; every detector returns what it measured, so thresholds can be
//! swept.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::{Height, KeyId, PublicKey};

use crate::radio::Point;

/// A key seen somewhere at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    pub device: KeyId,
    pub at_ms: u64,
    pub point: Point,
}

/// Per device, the fastest speed (metres per second × 1000) implied by consecutive
/// sightings, with the pair's times, among devices faster than `max_mm_per_s`.
pub fn impossible_travel(
    sightings: &[Sighting],
    max_mm_per_s: u64,
) -> BTreeMap<KeyId, (u64, u64, u64)> {
    let mut by: BTreeMap<KeyId, Vec<&Sighting>> = BTreeMap::new();
    for s in sightings {
        by.entry(s.device).or_default().push(s);
    }
    let mut out = BTreeMap::new();
    for (device, mut seen) in by {
        seen.sort_by_key(|s| (s.at_ms, s.point));
        let mut worst: Option<(u64, u64, u64)> = None;
        for w in seen.windows(2) {
            let metres = w[0].point.distance_m(&w[1].point);
            // Sightings at the same instant in different places are as fast as it gets.
            let ms = (w[1].at_ms - w[0].at_ms).max(1);
            let speed = metres.saturating_mul(1_000_000) / ms;
            if speed > max_mm_per_s && worst.is_none_or(|(s, _, _)| speed > s) {
                worst = Some((speed, w[0].at_ms, w[1].at_ms));
            }
        }
        if let Some(w) = worst {
            out.insert(device, w);
        }
    }
    out
}

/// What the ledger says of a device, for the cluster detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolment {
    pub device: KeyId,
    pub owner: PublicKey,
    pub maker: PublicKey,
    pub onboarded_at: Height,
}

/// A suspected closed fleet: its devices and the share (millionths) of their
/// interactions that stayed inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub devices: Vec<KeyId>,
    pub inside_ppm: u64,
}

/// Groups of at least `min_size` devices with one owner and one maker, onboarded within
/// `window` blocks of the group's first, whose interactions (`pairs`: who witnessed whom)
/// stay inside the group at least `min_inside_ppm` of the time. Groups with no
/// interaction at all are not judged here.
pub fn closed_fleets(
    enrolments: &[Enrolment],
    pairs: &[(KeyId, KeyId)],
    window: u64,
    min_size: usize,
    min_inside_ppm: u64,
) -> Vec<Fleet> {
    // Candidate groups: (owner, maker), split wherever onboarding gaps exceed the window.
    let mut by: BTreeMap<(PublicKey, PublicKey), Vec<&Enrolment>> = BTreeMap::new();
    for e in enrolments {
        by.entry((e.owner, e.maker)).or_default().push(e);
    }
    let mut groups: Vec<BTreeSet<KeyId>> = Vec::new();
    for (_, mut es) in by {
        es.sort_by_key(|e| (e.onboarded_at, e.device));
        let mut current: Vec<&Enrolment> = Vec::new();
        for e in es {
            if current
                .first()
                .is_some_and(|f| e.onboarded_at.0 - f.onboarded_at.0 > window)
            {
                groups.push(current.iter().map(|e| e.device).collect());
                current.clear();
            }
            current.push(e);
        }
        groups.push(current.iter().map(|e| e.device).collect());
    }
    groups
        .into_iter()
        .filter(|g| g.len() >= min_size)
        .filter_map(|g| {
            let touching: Vec<&(KeyId, KeyId)> = pairs
                .iter()
                .filter(|(a, b)| g.contains(a) || g.contains(b))
                .collect();
            if touching.is_empty() {
                return None;
            }
            let inside = touching
                .iter()
                .filter(|(a, b)| g.contains(a) && g.contains(b))
                .count() as u64;
            let inside_ppm = inside * 1_000_000 / touching.len() as u64;
            (inside_ppm >= min_inside_ppm).then(|| Fleet {
                devices: g.into_iter().collect(),
                inside_ppm,
            })
        })
        .collect()
}

/// Per maker with at least `min_devices` devices: (devices, flagged, z × 1000) where z is
/// how many binomial standard deviations its flagged count lies above the network's
/// rate. A large z is a maker worth a governance look (revocation flags every device it
/// attested).
pub fn maker_flag_rates(
    devices: &[(KeyId, PublicKey)],
    flagged: &BTreeSet<KeyId>,
    min_devices: u64,
) -> BTreeMap<PublicKey, (u64, u64, i64)> {
    let total = devices.len() as u64;
    let total_flagged = devices.iter().filter(|(k, _)| flagged.contains(k)).count() as u64;
    let mut by: BTreeMap<PublicKey, (u64, u64)> = BTreeMap::new();
    for (k, maker) in devices {
        let e = by.entry(*maker).or_default();
        e.0 += 1;
        if flagged.contains(k) {
            e.1 += 1;
        }
    }
    by.into_iter()
        .filter(|(_, (n, _))| *n >= min_devices)
        .map(|(maker, (n, f))| {
            // z = (f − n·p) / sqrt(n·p·(1 − p)) with p = F/T, all scaled by T:
            // z = (f·T − n·F) / sqrt(n·F·(T − F)).
            let num = i128::from(f) * i128::from(total) - i128::from(n) * i128::from(total_flagged);
            let var = u128::from(n) * u128::from(total_flagged) * u128::from(total - total_flagged);
            let z_milli = if var == 0 {
                if num > 0 { i64::MAX } else { 0 }
            } else {
                (num * 1_000 / var.isqrt() as i128) as i64
            };
            (maker, (n, f, z_milli))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_key as key;
    use cairn_core::Keypair;

    fn pk(i: u8) -> PublicKey {
        Keypair::from_seed(&[i; 32]).public()
    }

    #[test]
    fn travel_faster_than_a_plane_is_flagged() {
        let here = Point {
            lat_udeg: 0,
            lng_udeg: 0,
        };
        // One degree of latitude: 111,195 m.
        let there = Point {
            lat_udeg: 1_000_000,
            lng_udeg: 0,
        };
        let s = |d, t, p| Sighting {
            device: key(d),
            at_ms: t,
            point: p,
        };
        // Device 1: 111 km in an hour (30.9 m/s, a car on a motorway). Device 2: in 5
        // minutes (370 m/s, faster than an airliner). Limit: 300 m/s.
        let sightings = [
            s(1, 0, here),
            s(1, 3_600_000, there),
            s(2, 0, here),
            s(2, 300_000, there),
            s(2, 400_000, there),
        ];
        let flagged = impossible_travel(&sightings, 300_000);
        assert_eq!(flagged.len(), 1);
        assert_eq!(flagged[&key(2)], (370_650, 0, 300_000));
    }

    #[test]
    fn closed_fleets_are_found_and_open_ones_are_not() {
        let e = |d, owner, at| Enrolment {
            device: key(d),
            owner: pk(owner),
            maker: pk(50),
            onboarded_at: Height(at),
        };
        // Owner 1 onboards 0..6 within 10 blocks: they witness only each other.
        // Owner 2 onboards 10..16 together too, but they witness the wider network.
        let mut enrolments: Vec<Enrolment> = (0..6).map(|d| e(d, 1, 100 + d as u64)).collect();
        enrolments.extend((10..16).map(|d| e(d, 2, 100 + d as u64)));
        let mut pairs = Vec::new();
        for a in 0..6u32 {
            pairs.push((key(a), key((a + 1) % 6)));
        }
        for a in 10..16u32 {
            pairs.push((key(a), key(100 + a)));
            pairs.push((key(100 + a), key(a)));
            pairs.push((key(a), key(a + 1)));
        }
        let fleets = closed_fleets(&enrolments, &pairs, 50, 5, 900_000);
        assert_eq!(
            fleets,
            vec![Fleet {
                devices: (0..6).map(key).collect(),
                inside_ppm: 1_000_000
            }]
        );
        // Onboarded months apart, the same owner's devices are not one batch.
        let spread: Vec<Enrolment> = (0..6).map(|d| e(d, 1, 1_000 * d as u64)).collect();
        assert!(closed_fleets(&spread, &pairs, 50, 5, 900_000).is_empty());
    }

    #[test]
    fn a_maker_flagged_out_of_proportion_stands_out() {
        // 1,000 devices of maker A with 2% flagged; 100 of maker B with 40% flagged.
        let mut devices = Vec::new();
        let mut flagged = BTreeSet::new();
        for i in 0..1_000u32 {
            devices.push((key(i), pk(1)));
            if i % 50 == 0 {
                flagged.insert(key(i));
            }
        }
        for i in 0..100u32 {
            devices.push((key(10_000 + i), pk(2)));
            if i % 5 < 2 {
                flagged.insert(key(10_000 + i));
            }
        }
        let rates = maker_flag_rates(&devices, &flagged, 20);
        let (n, f, z) = rates[&pk(2)];
        assert_eq!((n, f), (100, 40));
        // p = 60/1100; expected 5.45 of 100; σ = sqrt(100 × 0.0545 × 0.9455) = 2.27: z ≈ 15.2.
        assert!((15_000..15_400).contains(&z), "{z}");
        assert!(rates[&pk(1)].2 < 0);
    }
}
