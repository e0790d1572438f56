//! Density scaling over the H3 hierarchy: many devices in one place earn little more than
//! one device there.
//!
//! At each resolution of a ladder (fine to coarse), every cell's device count is clipped to
//! a limit that grows only with how many of its neighbouring cells are themselves occupied:
//! `limit = min(max, target × max(1, occupied neighbours − threshold + 1))`, where a cell is
//! occupied when it holds at least `threshold` devices. A cell's count at one resolution is
//! the sum of its children's clipped counts at the finer one. A device's scale is the
//! product, down the hierarchy, of its cells' clipped ÷ unclipped counts — so a farm of
//! fifty radios in one building shares roughly what one radio there would earn, while
//! devices spread over a town each keep their full share. All integer arithmetic: the
//! scale is in parts per million, each step rounded down.

use std::collections::BTreeMap;

use cairn_core::{KeyId, Location};

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DensityLevel {
    pub resolution: u8,
    /// Devices a cell may count per occupied neighbour (and with none).
    pub target: u64,
    /// Devices a cell may count at most.
    pub max: u64,
    /// A cell is occupied when it holds at least this many devices.
    pub threshold: u64,
}

/// The ladder, fine to coarse (resolution-12 assertions are first grouped at the finest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DensityParams {
    pub levels: Vec<DensityLevel>,
}

impl Default for DensityParams {
    /// The ladder Helium settled on after its own farms (HIP 17), resolutions 10 to 4.
    fn default() -> Self {
        let l = |resolution, threshold, target, max| DensityLevel {
            resolution,
            target,
            max,
            threshold,
        };
        DensityParams {
            levels: vec![
                l(10, 2, 1, 1),
                l(9, 2, 1, 2),
                l(8, 2, 1, 4),
                l(7, 2, 5, 20),
                l(6, 1, 25, 100),
                l(5, 1, 100, 400),
                l(4, 1, 250, 800),
            ],
        }
    }
}

/// Parts per million.
pub const PPM: u64 = 1_000_000;

/// Each device's density scale in parts per million (1,000,000: unscaled). Devices whose
/// cell has no parent at a level's resolution are left at the previous scale.
pub fn density_scales(p: &DensityParams, devices: &[(KeyId, Location)]) -> BTreeMap<KeyId, u64> {
    let mut scale: BTreeMap<KeyId, u64> = devices.iter().map(|(k, _)| (*k, PPM)).collect();
    // What each cell of the previous (finer) level passes up: its clipped count.
    let mut below: BTreeMap<Location, u64> = BTreeMap::new();
    let mut previous_res: Option<u8> = None;
    for level in &p.levels {
        // Unclipped counts at this level: devices at the first level, else the sum of the
        // finer cells' clipped counts.
        let mut counts: BTreeMap<Location, u64> = BTreeMap::new();
        match previous_res {
            None => {
                for (_, at) in devices {
                    if let Some(cell) = at.parent(level.resolution) {
                        *counts.entry(cell).or_default() += 1;
                    }
                }
            }
            Some(_) => {
                for (cell, clipped) in &below {
                    if let Some(parent) = cell.parent(level.resolution) {
                        *counts.entry(parent).or_default() += clipped;
                    }
                }
            }
        }
        let occupied = |cell: &Location| counts.get(cell).is_some_and(|n| *n >= level.threshold);
        let clipped: BTreeMap<Location, u64> = counts
            .iter()
            .map(|(cell, n)| {
                let around = cell.neighbours().iter().filter(|c| occupied(c)).count() as u64;
                let factor = (around + 1).saturating_sub(level.threshold).max(1);
                let limit = level.target.saturating_mul(factor).min(level.max);
                (*cell, (*n).min(limit))
            })
            .collect();
        for (k, at) in devices {
            if let Some(cell) = at.parent(level.resolution)
                && let (Some(n), Some(c)) = (counts.get(&cell), clipped.get(&cell))
                && *n > 0
                && let Some(s) = scale.get_mut(k)
            {
                *s = *s * c / n;
            }
        }
        below = clipped;
        previous_res = Some(level.resolution);
    }
    scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_key as key;

    /// A resolution-12 site: the centre child of `cell`.
    fn site(cell: &str) -> Location {
        cell.parse::<Location>().unwrap().center_child(12).unwrap()
    }

    #[test]
    fn a_lone_device_keeps_its_share_and_a_farm_shares_one() {
        let p = DensityParams::default();
        let lone = (key(0), site("8a2a1072b59ffff"));
        let s = density_scales(&p, &[lone]);
        assert_eq!(s[&key(0)], PPM);
        // Fifty radios in one resolution-10 cell: that cell counts one, so each gets 1/50.
        let farm: Vec<(KeyId, Location)> =
            (0..50).map(|i| (key(i), site("8a2a1072b59ffff"))).collect();
        let s = density_scales(&p, &farm);
        assert!(s.values().all(|v| *v == PPM / 50), "{s:?}");
        let total: u64 = s.values().sum();
        assert_eq!(total, PPM, "the farm earns what one device there would");
    }

    #[test]
    fn a_dense_cluster_is_clipped_at_every_level_it_overflows() {
        let p = DensityParams::default();
        // Two devices in each of seven resolution-10 cells that share one resolution-9
        // parent (a centre cell and the ring around it).
        let parent = "8a2a1072b59ffff"
            .parse::<Location>()
            .unwrap()
            .parent(9)
            .unwrap();
        let centre = parent.center_child(10).unwrap();
        let mut cells = vec![centre];
        cells.extend(centre.neighbours());
        assert!(cells.iter().all(|c| c.parent(9) == Some(parent)));
        let devices: Vec<(KeyId, Location)> = cells
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                let at = c.center_child(12).unwrap();
                [(key(2 * i as u32), at), (key(2 * i as u32 + 1), at)]
            })
            .collect();
        let s = density_scales(&p, &devices);
        // Resolution 10: each cell holds 2 against a limit of min(1, …) = 1: × 1/2.
        // Resolution 9: the parent sums 7 clipped counts against min(2, 1 × max(1, 0 − 1))
        // = 1 (no occupied neighbours): × 1/7. Coarser limits (≥ 1) do not bind.
        assert!(s.values().all(|v| *v == PPM / 2 / 7), "{s:?}");
        // A lone device elsewhere is untouched, and the order of the input is irrelevant.
        let mut more = devices.clone();
        more.push((key(999), site("8a1fb46622dffff")));
        more.reverse();
        let s2 = density_scales(&p, &more);
        assert_eq!(s2[&key(999)], PPM);
        assert!(devices.iter().all(|(k, _)| s2[k] == s[k]));
    }
}
