//! Which asserted sites lie near which, without comparing every pair.
//!
//! The epoch-wide checks ask "who is within 15 km of this station", "which receivers near
//! this radio never heard it" for every device. Comparing every pair grows with the
//! square of the network (100,000 devices: 5·10⁹ distances an epoch); a grid of square
//! cells in microdegrees answers each question from the few cells around the point.
//! Answers are exact (every candidate is measured with [`Point::distance_m`]) and sorted,
//! so they are the same as the all-pairs loop's.

use std::collections::BTreeMap;

use crate::radio::{Point, cos_q30};

/// Microdegrees of latitude per kilometre, rounded up (1° = 111,194.9 m on the sphere
/// [`Point::distance_m`] measures on), so a box never falls short.
const UDEG_PER_KM: i64 = 8_994;
/// Microdegrees around the globe.
const TURN: i64 = 360_000_000;

/// Points on a grid of cells `cell` microdegrees on a side (latitude and longitude).
#[derive(Debug, Clone)]
pub struct Grid {
    points: Vec<Point>,
    cell: i64,
    cells: BTreeMap<(i64, i64), Vec<usize>>,
}

/// Microdegrees of latitude covering `m` metres, rounded up.
fn udeg_of_m(m: u64) -> i64 {
    // At most a few turns of the globe matter; beyond that every cell is near.
    let m = i64::try_from(m.min(100_000_000)).unwrap_or(0);
    m * UDEG_PER_KM / 1_000 + 1
}

/// Microdegrees of longitude covering `m` metres at every latitude up to `lat_udeg` from
/// the equator (a whole turn near the poles).
fn lng_udeg_of_m(m: u64, lat_udeg: i64) -> i64 {
    let cos = cos_q30(lat_udeg.unsigned_abs().min(90_000_000) as i64);
    // Beyond about 89.9° every longitude is near.
    if cos < (1 << 30) / 1_000 {
        return TURN;
    }
    (i128::from(udeg_of_m(m)) * (1 << 30) / i128::from(cos) + 1).min(i128::from(TURN)) as i64
}

impl Grid {
    /// A grid over `points` (indices into it are what queries return) for questions of
    /// about `range_m` metres.
    pub fn new(points: Vec<Point>, range_m: u64) -> Grid {
        let cell = udeg_of_m(range_m.max(1_000)).min(TURN);
        let mut cells: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
        for (i, p) in points.iter().enumerate() {
            cells.entry(Self::key(cell, p)).or_default().push(i);
        }
        Grid {
            points,
            cell,
            cells,
        }
    }

    fn key(cell: i64, p: &Point) -> (i64, i64) {
        (
            p.lat_udeg.div_euclid(cell),
            p.lng_udeg.rem_euclid(TURN).div_euclid(cell),
        )
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// The points whose cells meet the box from `south`…`north` latitude and `west`
    /// eastwards over `width` microdegrees of longitude (wrapping at the antimeridian),
    /// sorted. A superset of the points in the box: callers measure what they need.
    fn in_box(&self, south: i64, north: i64, west: i64, width: i64) -> Vec<usize> {
        let around = TURN.div_euclid(self.cell) + 1;
        // One more than the width needs: the last cell before the antimeridian is narrower.
        let lng_cells = (width.div_euclid(self.cell) + 3).min(around);
        let first = west.rem_euclid(TURN).div_euclid(self.cell);
        let mut out = Vec::new();
        for lat in south.div_euclid(self.cell)..=north.div_euclid(self.cell) {
            for k in 0..lng_cells {
                let lng = (first + k).rem_euclid(around);
                if let Some(ids) = self.cells.get(&(lat, lng)) {
                    out.extend_from_slice(ids);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The points within `range_m` of `at` (by [`Point::distance_m`]), sorted.
    pub fn within(&self, at: &Point, range_m: u64) -> Vec<usize> {
        self.near_box(at, at, range_m)
            .into_iter()
            .filter(|i| at.distance_m(&self.points[*i]) <= range_m)
            .collect()
    }

    /// The points within about `margin_m` of the box spanned by `a` and `b` (its corners,
    /// the shorter way round in longitude), sorted; a superset, never missing one.
    pub fn near_box(&self, a: &Point, b: &Point, margin_m: u64) -> Vec<usize> {
        let dlat = udeg_of_m(margin_m);
        let south = a.lat_udeg.min(b.lat_udeg) - dlat;
        let north = a.lat_udeg.max(b.lat_udeg) + dlat;
        let widest = south.abs().max(north.abs());
        let dlng = lng_udeg_of_m(margin_m, widest);
        // The box's own span in longitude, the short way round.
        let span = (b.lng_udeg - a.lng_udeg).rem_euclid(TURN);
        let (west, span) = if span <= TURN / 2 {
            (a.lng_udeg, span)
        } else {
            (b.lng_udeg, TURN - span)
        };
        self.in_box(south, north, west - dlng, span + 2 * dlng)
    }

    /// Every pair `(a, b)`, `a < b`, within `range_m` of each other, sorted.
    pub fn pairs_within(&self, range_m: u64) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (a, p) in self.points.iter().enumerate() {
            out.extend(
                self.near_box(p, p, range_m)
                    .into_iter()
                    .filter(|b| *b > a && p.distance_m(&self.points[*b]) <= range_m)
                    .map(|b| (a, b)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic scatter of points, some in clusters, some near the antimeridian
    /// and the poles.
    fn scatter() -> Vec<Point> {
        let mut z: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            z
        };
        let mut out = Vec::new();
        for i in 0..600 {
            let (lat0, lng0, spread) = match i % 4 {
                0 => (48_000_000, 2_000_000, 400_000),
                1 => (-33_000_000, 179_900_000, 400_000),
                2 => (89_800_000, 0, 400_000),
                _ => (0, 0, 60_000_000),
            };
            let lat = (lat0 + (next() % (2 * spread as u64)) as i64 - spread)
                .clamp(-90_000_000, 90_000_000);
            let mut lng = lng0 + (next() % (2 * spread as u64)) as i64 - spread;
            if lng > 180_000_000 {
                lng -= 360_000_000;
            }
            out.push(Point {
                lat_udeg: lat,
                lng_udeg: lng,
            });
        }
        out
    }

    #[test]
    fn the_grid_finds_what_every_pair_finds() {
        let points = scatter();
        for range in [3_000u64, 15_000, 60_000] {
            let grid = Grid::new(points.clone(), range);
            let mut all = Vec::new();
            for a in 0..points.len() {
                for b in a + 1..points.len() {
                    if points[a].distance_m(&points[b]) <= range {
                        all.push((a, b));
                    }
                }
            }
            assert!(all.len() > 100, "the scatter has close pairs at {range} m");
            assert_eq!(grid.pairs_within(range), all, "range {range}");
            // A query at a larger range than the grid was built for is still exact.
            let at = points[5];
            let slow: Vec<usize> = (0..points.len())
                .filter(|i| at.distance_m(&points[*i]) <= 3 * range)
                .collect();
            assert_eq!(grid.within(&at, 3 * range), slow);
        }
    }

    #[test]
    fn a_box_across_the_antimeridian_is_taken_the_short_way() {
        let east = Point {
            lat_udeg: 0,
            lng_udeg: 179_990_000,
        };
        let west = Point {
            lat_udeg: 0,
            lng_udeg: -179_990_000,
        };
        let far = Point {
            lat_udeg: 0,
            lng_udeg: 0,
        };
        let grid = Grid::new(vec![east, west, far], 10_000);
        assert_eq!(grid.near_box(&east, &west, 1_000), vec![0, 1]);
        assert_eq!(grid.within(&east, 5_000), vec![0, 1]);
    }
}
