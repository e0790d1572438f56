//! H3 cells as the index stores them: every located device keeps its cell's centre child
//! at resolution 15 as a signed 64-bit integer (`cell15`). An H3 cell index has the
//! resolution in bits 52–55 and one 3-bit digit per resolution below the base cell, unused
//! digits all ones, so
//!
//! - the parent at resolution `r` of any finer cell is `(index & !RES_BITS) | r << 52 |
//!   ones(15 − r)`: one AND and one OR, which SQLite and PostgreSQL both evaluate, so the
//!   map groups devices by any resolution in the database;
//! - the resolution-15 cells inside a cell form one contiguous range of indexes, so "the
//!   devices in this cell" is an index range scan at every resolution.
//!
//! Both facts are checked against h3o in the tests.

use h3o::{CellIndex, LatLng, Resolution};

const RES_SHIFT: u32 = 52;
const RES_BITS: u64 = 0xF << RES_SHIFT;
/// The resolution devices are stored at.
pub const STORED_RES: u8 = 15;
/// The coarsest and finest resolution the map aggregates at.
pub const MAP_RES: std::ops::RangeInclusive<u8> = 0..=12;

fn digit_ones(res: u8) -> u64 {
    let free = 3 * (15 - u32::from(res));
    if free == 0 { 0 } else { (1u64 << free) - 1 }
}

/// The values that turn a resolution-15 index into its parent at `res`:
/// `parent = (index & and) | or`.
pub fn parent_masks(res: u8) -> (i64, i64) {
    debug_assert!(res <= 15);
    let and = !(RES_BITS | digit_ones(res));
    let or = (u64::from(res) << RES_SHIFT) | digit_ones(res);
    // H3 indexes never set bit 63, so both fit in i64 without changing bits that matter.
    (and as i64, or as i64)
}

/// The first and last resolution-15 index inside `cell` (inclusive).
pub fn descendant_range(cell: CellIndex) -> (i64, i64) {
    let raw = u64::from(cell);
    let res = u8::from(cell.resolution());
    let below = digit_ones(res);
    let base = (raw & !RES_BITS & !below) | (u64::from(STORED_RES) << RES_SHIFT);
    // Digits below `res` run from all zeros to all sixes (7 is "unused").
    let mut sixes = 0u64;
    for d in (res + 1)..=15 {
        sixes |= 6 << (3 * (15 - u32::from(d)));
    }
    (base as i64, (base | sixes) as i64)
}

/// A device's stored position: its cell's centre child at resolution 15.
pub fn stored(cell: CellIndex) -> i64 {
    let child = cell
        .center_child(Resolution::Fifteen)
        .expect("every cell has a resolution-15 centre child");
    u64::from(child) as i64
}

/// Parse a cell from its hex form (as the API takes it).
pub fn parse(text: &str) -> Result<CellIndex, String> {
    if text.len() > 16 {
        return Err(format!(
            "`{}…` is not an H3 cell: at most 16 hex digits",
            &text[..16]
        ));
    }
    text.parse::<CellIndex>()
        .map_err(|e| format!("`{text}` is not an H3 cell: {e}"))
}

/// A stored index back to a cell.
pub fn from_stored(index: i64) -> Option<CellIndex> {
    CellIndex::try_from(index as u64).ok()
}

/// Centre as `[lat, lng]` in degrees, rounded to the microdegree (for display only).
pub fn center(cell: CellIndex) -> [f64; 2] {
    let ll = LatLng::from(cell);
    [round6(ll.lat()), round6(ll.lng())]
}

/// Boundary vertices as `[lat, lng]` pairs (for display only).
pub fn boundary(cell: CellIndex) -> Vec<[f64; 2]> {
    cell.boundary()
        .iter()
        .map(|v| [round6(v.lat()), round6(v.lng())])
        .collect()
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_cells() -> Vec<CellIndex> {
        let points = [
            (48.0, 2.0),
            (48.01, 2.03),
            (-33.86, 151.2),
            (64.1, -21.9),
            (0.0, 0.0),
            (89.9, 10.0),
            (-89.9, -170.0),
            // Near a pentagon (base cell 4's centre region).
            (64.7, 10.5),
        ];
        let mut out = Vec::new();
        for (lat, lng) in points {
            for res in [0u8, 3, 5, 8, 12, 15] {
                let res = Resolution::try_from(res).unwrap();
                out.push(LatLng::new(lat, lng).unwrap().to_cell(res));
            }
        }
        out.extend(CellIndex::base_cells().filter(|c| c.is_pentagon()).take(3));
        out
    }

    #[test]
    fn the_parent_masks_agree_with_h3o_at_every_resolution() {
        for cell in sample_cells() {
            let leaf = stored(cell);
            let leaf_cell = from_stored(leaf).unwrap();
            for res in 0..=15u8 {
                let (and, or) = parent_masks(res);
                let ours = (leaf & and) | or;
                let theirs = leaf_cell
                    .parent(Resolution::try_from(res).unwrap())
                    .unwrap();
                assert_eq!(ours as u64, u64::from(theirs), "{cell} at res {res}");
            }
        }
    }

    #[test]
    fn descendants_lie_in_the_range_and_neighbours_do_not() {
        for cell in sample_cells() {
            let (lo, hi) = descendant_range(cell);
            assert!(lo <= hi);
            assert!((lo..=hi).contains(&stored(cell)), "{cell}");
            if u8::from(cell.resolution()) <= 13 {
                for child in
                    cell.children(Resolution::try_from(u8::from(cell.resolution()) + 2).unwrap())
                {
                    assert!((lo..=hi).contains(&stored(child)), "{child} of {cell}");
                }
            }
            for n in cell.grid_disk::<Vec<_>>(1) {
                if n != cell {
                    assert!(!(lo..=hi).contains(&stored(n)), "neighbour {n} of {cell}");
                }
            }
        }
    }

    #[test]
    fn bad_cells_are_refused_with_a_reason() {
        assert!(parse("zzz").unwrap_err().contains("not an H3 cell"));
        assert!(
            parse("8f2830828052d25aaaaa")
                .unwrap_err()
                .contains("16 hex")
        );
        assert!(parse("88283082a3fffff").is_ok());
    }
}
