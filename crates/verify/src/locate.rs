//! Where a radio really is, from whom it hears, who hears it, and how loud.
//!
//! A location spoofer keeps its real radio and asserts a site elsewhere. Within radio
//! range of its real site it is heard, and the single-link rules pass: real links sit so
//! far under the free-space bound that a few kilometres more of asserted distance hides
//! nothing. But its links agree on where the signal comes from: signal falls with
//! distance from the *real* site. Multilateration fits the log-distance model
//! `gain = A − 10·n·log10(d)` from every candidate site to the links' gains (both
//! directions: a link is reciprocal), counts the receivers that listened and never heard
//! it as censored observations (a candidate site is charged for each one it says should
//! have heard), and asks whether the asserted site explains the data nearly as well as
//! the best site does — an F-test between the two fits. An honest device's best site is
//! its own, up to the scatter of shadowing; a spoofer's best site is kilometres away and
//! explains the data far better.
//!
//! Integer arithmetic throughout: sites in metres on a local plane around the asserted
//! site, distances in millidecades (1000·log10 of metres), gains in dB × 10.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::KeyId;

use crate::radio::{EARTH_RADIUS_MM, NRAD_PER_UDEG_E9, Point, cos_q30};
use crate::spatial::Grid;

/// How the localisation is fitted and judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocateParams {
    /// Fewer witnesses than this: no fix.
    pub min_witnesses: usize,
    /// At most this many witnesses are used (the strongest, when there are more): the
    /// fit needs the weak, far ones too, or the gains span too little to carry distance.
    pub max_witnesses: usize,
    /// A residual counts at most this much (dB × 10): a witness that lies about its own
    /// site or its RSSI should not steer the fit.
    pub residual_cap_db10: i64,
    /// The weakest path gain a receiver can hear at the loudest beacon power (its
    /// sensitivity less that power, dB × 10): a silent receiver's gain was below it.
    pub silent_floor_db10: i32,
    /// Path-loss exponent bounds for the fit, × 10.
    pub min_exponent_x10: i64,
    pub max_exponent_x10: i64,
    /// A listening receiver farther than this from every site the fit considers says
    /// nothing by its silence (at a path-loss exponent of 3 a beacon fades under the
    /// floor within about 40 km), metres.
    pub silent_range_m: u64,
}

impl Default for LocateParams {
    fn default() -> Self {
        LocateParams {
            // Fewer links than this and a fit through the shadowing finds sites kilometres
            // off for honest radios (8 links around a radio gave F = 14 at 6 km).
            min_witnesses: 12,
            max_witnesses: 400,
            residual_cap_db10: 300,
            // −137 dBm sensitivity, 27 dBm beacons.
            silent_floor_db10: -1_640,
            min_exponent_x10: 20,
            max_exponent_x10: 50,
            silent_range_m: 50_000,
        }
    }
}

/// One link of the device being located: the other end's asserted site and the path gain
/// (RSSI less transmit power, dB × 10; the median over its observations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    pub at: Point,
    pub gain_db10: i32,
}

/// The outcome of fitting one beaconer's site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fix {
    /// The site that explains the witnesses best.
    pub best: Point,
    /// Its distance from the asserted site, metres.
    pub offset_m: u64,
    /// How much better the best site explains the gains than the asserted one: the F
    /// statistic of the two fits × 100 (0 when the asserted site is the best).
    pub score_x100: u64,
    /// Witnesses the fit used.
    pub witnesses: usize,
}

/// Cells per side of the coarse search grid over the witnesses' sites.
const GRID: i64 = 16;

/// A site on the local plane, metres east and north of the origin.
type Xy = (i64, i64);

/// `p` on the plane tangent at `origin` (equirectangular; fine over tens of km).
fn to_local(origin: &Point, p: &Point) -> Xy {
    let cos = i128::from(cos_q30(origin.lat_udeg));
    let mut dlng = i128::from(p.lng_udeg - origin.lng_udeg);
    if dlng > 180_000_000 {
        dlng -= 360_000_000;
    } else if dlng < -180_000_000 {
        dlng += 360_000_000;
    }
    let dlat = i128::from(p.lat_udeg - origin.lat_udeg);
    let m = |udeg: i128| {
        udeg * NRAD_PER_UDEG_E9 / 1_000_000_000 * EARTH_RADIUS_MM as i128 / 1_000_000_000_000
    };
    (((m(dlng) * cos) >> 30) as i64, m(dlat) as i64)
}

/// The inverse of [`to_local`].
fn from_local(origin: &Point, (x, y): Xy) -> Point {
    let cos = i128::from(cos_q30(origin.lat_udeg)).max(1);
    let udeg = |m: i128| {
        m * 1_000_000_000_000 / EARTH_RADIUS_MM as i128 * 1_000_000_000 / NRAD_PER_UDEG_E9
    };
    Point {
        lat_udeg: origin.lat_udeg + udeg(i128::from(y)) as i64,
        lng_udeg: origin.lng_udeg + (udeg(i128::from(x) << 30) / cos) as i64,
    }
}

/// Fractional bits of log2 in [`LOG2_TABLE`], and the table's index bits.
const LOG_FRAC: u32 = 24;
const LOG_INDEX: u32 = 10;

/// log2(1 + i/1024) for i in 0..=1024, Q0.24: computed at build time by repeated
/// squaring of the mantissa (integers only), so the hot loop below is a look-up and a
/// linear interpolation.
static LOG2_TABLE: [u32; (1 << LOG_INDEX) + 1] = log2_table();

const fn log2_table() -> [u32; (1 << LOG_INDEX) + 1] {
    let mut table = [0u32; (1 << LOG_INDEX) + 1];
    let mut i = 0;
    while i < (1 << LOG_INDEX) {
        // 1 + i/1024 as Q1.31.
        let mut m: u64 = ((1 << LOG_INDEX) + i as u64) << (31 - LOG_INDEX);
        let mut frac: u32 = 0;
        let mut bit = LOG_FRAC;
        while bit > 0 {
            bit -= 1;
            m = (m * m) >> 31;
            if m >= 2 << 31 {
                m >>= 1;
                frac |= 1 << bit;
            }
        }
        table[i] = frac;
        i += 1;
    }
    table[1 << LOG_INDEX] = 1 << LOG_FRAC;
    table
}

/// 500·log10(x) (millidecades of √x), for x ≥ 1: a squared distance to the millidecades
/// of the distance. The fit evaluates it for every witness at every candidate site, so it
/// is a table look-up: the top ten bits of the mantissa pick a segment of log2, the next
/// sixteen interpolate along it (within 2·10⁻⁷ of log2, far under a millidecade).
fn half_millidecades(x: u64) -> i64 {
    let x = x.max(1);
    let int = 63 - i64::from(x.leading_zeros());
    // The bits under the leading one, left-aligned.
    let below = (x << (63 - int)) << 1;
    let index = (below >> (64 - LOG_INDEX)) as usize;
    let along = ((below >> (64 - LOG_INDEX - 16)) & 0xFFFF) as i64;
    let (lo, hi) = (
        i64::from(LOG2_TABLE[index]),
        i64::from(LOG2_TABLE[index + 1]),
    );
    let log2 = (int << LOG_FRAC) + lo + (((hi - lo) * along) >> 16);
    // × 500·log10(2), log10(2) = 315,653 / 2^20, rounded to the nearest.
    (log2 * 500 * 315_653 + (1 << (LOG_FRAC + 19))) >> (LOG_FRAC + 20)
}

/// 500·log10 of the squared distance from `c` to `xy` (no closer than 30 m).
fn log_distance(c: Xy, xy: &Xy) -> i64 {
    let (dx, dy) = (xy.0 - c.0, xy.1 - c.1);
    half_millidecades(
        dx.unsigned_abs()
            .pow(2)
            .saturating_add(dy.unsigned_abs().pow(2))
            .max(900),
    )
}

/// The capped residual sum of squares of the best log-distance fit from `c`, in units of
/// (dB × 10 × 1000·n)²: every residual is kept over its common denominator 1000·n (n the
/// witnesses, the same at every candidate site), so the loop over witnesses and silent
/// receivers has no division and the fit's F statistic, a ratio of these sums, is
/// unchanged. `ls` is scratch space for the witnesses' log distances.
fn cost(c: Xy, obs: &[(Xy, i64)], silent: &[Xy], p: &LocateParams, ls: &mut Vec<i64>) -> i128 {
    ls.clear();
    ls.extend(obs.iter().map(|(xy, _)| log_distance(c, xy)));
    let (b, a, n) = fit(ls, obs, p);
    // Every term fits in 64 bits: gains are clamped to ±1,000 dB, log distances stay under
    // 10,000 millidecades, at most `max_witnesses` (400) witnesses, |b| ≤ 500.
    let (b, a, n) = (b as i64, a as i64, n as i64);
    let den = 1_000 * n;
    let cap = p.residual_cap_db10 * den;
    let heard: i128 = ls
        .iter()
        .zip(obs)
        .map(|(l, (_, g))| {
            let r = den * g - a - n * b * l;
            i128::from(r.min(cap).max(-cap)).pow(2)
        })
        .sum();
    // A receiver that listened and never heard the beacon says its gain was under the
    // floor: the fit pays for every one it predicts should have heard.
    let floor = i64::from(p.silent_floor_db10) * den;
    let unheard: i128 = silent
        .iter()
        .map(|xy| {
            let over = a + n * b * log_distance(c, xy) - floor;
            i128::from(over.clamp(0, cap)).pow(2)
        })
        .sum();
    heard + unheard
}

/// Least squares of gain on 1000·log10(d): the slope × 1000 (dB × 10 per millidecade,
/// −100 × the exponent, clamped to the exponent bounds), the intercept term `a` such
/// that a residual × 1000n is `1000n·g − a − n·b·l`, and n.
fn fit(ls: &[i64], obs: &[(Xy, i64)], p: &LocateParams) -> (i128, i128, i128) {
    let n = ls.len() as i128;
    let (mut sl, mut sg, mut sll, mut slg) = (0i128, 0i128, 0i128, 0i128);
    for (l, (_, g)) in ls.iter().zip(obs) {
        let (l, g) = (i128::from(*l), i128::from(*g));
        sl += l;
        sg += g;
        sll += l * l;
        slg += l * g;
    }
    let sxx = n * sll - sl * sl;
    let sxy = n * slg - sl * sg;
    let b = if sxx > 0 { sxy * 1_000 / sxx } else { 0 }.clamp(
        -i128::from(p.max_exponent_x10) * 10,
        -i128::from(p.min_exponent_x10) * 10,
    );
    (b, 1_000 * sg - b * sl, n.max(1))
}

/// Fit the site of a device asserted at `asserted` from its links (`heard`) and the
/// receivers that listened but never heard it (`silent`).
pub fn locate(asserted: Point, heard: &[Heard], silent: &[Point], p: &LocateParams) -> Option<Fix> {
    if heard.len() < p.min_witnesses.max(4) {
        return None;
    }
    // The strongest witnesses, ties broken by site so the order is canonical.
    let mut sorted: Vec<&Heard> = heard.iter().collect();
    sorted.sort_by_key(|h| (std::cmp::Reverse(h.gain_db10), h.at));
    sorted.truncate(p.max_witnesses.max(p.min_witnesses));
    let obs: Vec<(Xy, i64)> = sorted
        .iter()
        .map(|h| {
            (
                to_local(&asserted, &h.at),
                i64::from(h.gain_db10).clamp(-10_000, 10_000),
            )
        })
        .collect();
    let silent: Vec<Xy> = silent.iter().map(|at| to_local(&asserted, at)).collect();
    let mut ls = Vec::with_capacity(obs.len());
    let at_asserted = cost((0, 0), &obs, &silent, p, &mut ls);
    // A coarse grid over the witnesses' sites (a beaconer lies among those that hear
    // it), then a shrinking pattern around the best point found. Starting from the
    // loudest witnesses alone is not enough: one ducted link or a witness lying about its
    // own site can be the loudest.
    let mut best = ((0, 0), at_asserted);
    let mut consider = |xy: Xy, best: &mut (Xy, i128)| {
        let c = cost(xy, &obs, &silent, p, &mut ls);
        if c < best.1 {
            *best = (xy, c);
        }
    };
    let (min_x, max_x, min_y, max_y) = obs.iter().fold(
        (i64::MAX, i64::MIN, i64::MAX, i64::MIN),
        |(a, b, c, d), ((x, y), _)| (a.min(*x), b.max(*x), c.min(*y), d.max(*y)),
    );
    let step = ((max_x - min_x).max(max_y - min_y) / GRID).max(1_500);
    let mut y = min_y;
    while y <= max_y {
        let mut x = min_x;
        while x <= max_x {
            consider((x, y), &mut best);
            x += step;
        }
        y += step;
    }
    for refine in [step / 2, 700, 250, 100] {
        let centre = best.0;
        for dx in -3..=3i64 {
            for dy in -3..=3i64 {
                consider((centre.0 + dx * refine, centre.1 + dy * refine), &mut best);
            }
        }
    }
    let m = obs.len() as i128;
    // F = ((RSS_asserted − RSS_best) / 2) / (RSS_best / (m − 3)): two more parameters
    // (the site) in the better fit, three in each.
    let gain = at_asserted - best.1;
    let score = if gain <= 0 {
        0
    } else {
        (gain * (m - 3) * 100 / (2 * best.1.max(1))) as u64
    };
    let site = from_local(&asserted, best.0);
    Some(Fix {
        best: site,
        offset_m: asserted.distance_m(&site),
        score_x100: score,
        witnesses: obs.len(),
    })
}

/// An epoch's links, ready to fit any device with or without some of its partners.
///
/// A link is reciprocal (the same path loss both ways), so what a device reported
/// hearing from its neighbours locates it as well as what they heard from it: both
/// directions count, which doubles what the fit has to go on. The gain of a link is the
/// median of its observations. Every listening receiver with no link to a device, within
/// [`LocateParams::silent_range_m`] of the box its fit searches, counts as silent for it.
#[derive(Debug)]
pub struct Locator<'a> {
    links: BTreeMap<KeyId, BTreeMap<KeyId, i32>>,
    /// Listening receivers with a known site, and a grid over their sites.
    listening: Vec<KeyId>,
    grid: Grid,
    locations: &'a BTreeMap<KeyId, Point>,
    p: &'a LocateParams,
}

impl<'a> Locator<'a> {
    /// From observations `(beaconer, witness, gain dB × 10)`, the receivers that were
    /// listening, and the asserted sites.
    pub fn new(
        observations: &[(KeyId, KeyId, i32)],
        listening: &BTreeSet<KeyId>,
        locations: &'a BTreeMap<KeyId, Point>,
        p: &'a LocateParams,
    ) -> Locator<'a> {
        let mut numbers = crate::Numbering::default();
        let mut both: Vec<(u32, u32, i32)> = Vec::with_capacity(2 * observations.len());
        for (b, w, g) in observations {
            if b == w {
                continue;
            }
            let (b, w) = (numbers.number(*b), numbers.number(*w));
            both.push((b, w, *g));
            both.push((w, b, *g));
        }
        both.sort_unstable();
        let mut links: BTreeMap<KeyId, BTreeMap<KeyId, i32>> = BTreeMap::new();
        for device in both.chunk_by(|x, y| x.0 == y.0) {
            // The gains of each partner are sorted: the median is the middle one.
            let medians: BTreeMap<KeyId, i32> = device
                .chunk_by(|x, y| x.1 == y.1)
                .map(|gains| (numbers.key(gains[0].1), gains[(gains.len() - 1) / 2].2))
                .collect();
            links.insert(numbers.key(device[0].0), medians);
        }
        let listening: Vec<KeyId> = listening
            .iter()
            .filter(|k| locations.contains_key(k))
            .copied()
            .collect();
        let grid = Grid::new(
            listening.iter().map(|k| locations[k]).collect(),
            p.silent_range_m,
        );
        Locator {
            links,
            listening,
            grid,
            locations,
            p,
        }
    }

    /// The devices with links and an asserted site.
    pub fn devices(&self) -> Vec<KeyId> {
        self.links
            .keys()
            .filter(|k| self.locations.contains_key(k))
            .copied()
            .collect()
    }

    /// The devices `device` has a link with.
    pub fn partners(&self, device: &KeyId) -> impl Iterator<Item = &KeyId> {
        self.links.get(device).into_iter().flat_map(|m| m.keys())
    }

    /// `device`'s fix, leaving out the links and the silence of the devices in
    /// `excluded` (never `device`'s own).
    pub fn fix(&self, device: &KeyId, excluded: &BTreeSet<KeyId>) -> Option<Fix> {
        let asserted = *self.locations.get(device)?;
        let partners = self.links.get(device)?;
        let heard: Vec<Heard> = partners
            .iter()
            .filter(|(w, _)| !excluded.contains(w))
            .filter_map(|(w, g)| {
                Some(Heard {
                    at: *self.locations.get(w)?,
                    gain_db10: *g,
                })
            })
            .collect();
        if heard.len() < self.p.min_witnesses.max(4) {
            return None;
        }
        // The box the fit searches: the witnesses' sites and the asserted one.
        let (mut south, mut north) = (asserted, asserted);
        for h in &heard {
            south.lat_udeg = south.lat_udeg.min(h.at.lat_udeg);
            south.lng_udeg = south.lng_udeg.min(h.at.lng_udeg);
            north.lat_udeg = north.lat_udeg.max(h.at.lat_udeg);
            north.lng_udeg = north.lng_udeg.max(h.at.lng_udeg);
        }
        let silent: Vec<Point> = self
            .grid
            .near_box(&south, &north, self.p.silent_range_m)
            .into_iter()
            .map(|i| (self.listening[i], self.grid.points()[i]))
            .filter(|(r, _)| r != device && !partners.contains_key(r) && !excluded.contains(r))
            .map(|(_, at)| at)
            .collect();
        locate(asserted, &heard, &silent, self.p)
    }
}

/// The devices the fits place elsewhere (`elsewhere` says whether a fix does), judged so
/// that liars do not take their neighbours down with them.
///
/// A fit places each partner at its *asserted* site. A spoofer heard loudly "from" a site
/// kilometres away pulls every honest neighbour's fit towards that site, and a farm's
/// radios — one box, sites asserted all around it — pull every radio near the box
/// towards it: an honest radio can cross the threshold, even further than some of the
/// liars. So a device placed elsewhere is fitted again without its partners that are
/// placed elsewhere too, or `suspect` (a weaker test: a liar a kilometre or two off drags
/// as well) with a score at least its own, and flagged only if it is still elsewhere on
/// the word of the others: a liar is, because its honest witnesses still hear it where it
/// really is (the neighbours it drags are weaker suspects than itself and keep their say);
/// a dragged neighbour is not, because what dragged it is gone. The flagged devices' links
/// and silence are then left out and the rest judged again, until a round flags nobody.
/// Devices in `distrusted` (already caught lying this epoch by other checks) are neither
/// fitted nor inform anyone else's fit. Returns the flagged devices with their fits.
pub fn located_elsewhere(
    locator: &Locator<'_>,
    distrusted: &BTreeSet<KeyId>,
    elsewhere: impl Fn(&Fix) -> bool + Sync,
    suspect: impl Fn(&Fix) -> bool + Sync,
) -> BTreeMap<KeyId, Fix> {
    let mut excluded = distrusted.clone();
    let mut judged: Vec<KeyId> = locator
        .devices()
        .into_iter()
        .filter(|d| !distrusted.contains(d))
        .collect();
    let mut flagged: BTreeMap<KeyId, Fix> = BTreeMap::new();
    loop {
        let fits: Vec<(KeyId, Fix)> = judged
            .iter()
            .zip(crate::par_map(&judged, |d| locator.fix(d, &excluded)))
            .filter_map(|(d, f)| Some((*d, f?)))
            .collect();
        // Devices placed elsewhere, and suspects with their scores (both sorted by key).
        let suspects: Vec<(KeyId, u64)> = fits
            .iter()
            .filter(|(_, f)| suspect(f) || elsewhere(f))
            .map(|(d, f)| (*d, f.score_x100))
            .collect();
        let candidates: Vec<(KeyId, u64)> = fits
            .iter()
            .filter(|(_, f)| elsewhere(f))
            .map(|(d, f)| (*d, f.score_x100))
            .collect();
        let is_in = |set: &[(KeyId, u64)], q: &KeyId| {
            set.binary_search_by_key(q, |(k, _)| *k)
                .ok()
                .map(|i| set[i].1)
        };
        let round: Vec<(KeyId, Fix)> = candidates
            .iter()
            .zip(crate::par_map(&candidates, |(d, score)| {
                // Left out: partners placed elsewhere, and suspects at least as sure as
                // this device (a liar's own pull makes its honest neighbours suspects,
                // weaker ones than itself; they keep their say).
                let mut without = excluded.clone();
                without.extend(locator.partners(d).filter(|q| {
                    is_in(&candidates, q).is_some()
                        || is_in(&suspects, q).is_some_and(|s| s >= *score)
                }));
                locator.fix(d, &without).filter(&elsewhere)
            }))
            .filter_map(|((d, _), f)| Some((*d, f?)))
            .collect();
        if round.is_empty() {
            return flagged;
        }
        for (d, f) in round {
            excluded.insert(d);
            flagged.insert(d, f);
        }
        // Only devices that were placed elsewhere can change their minds.
        judged = candidates
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| !flagged.contains_key(d))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radio::model_rssi_dbm10;

    fn site(lat_udeg: i64, lng_udeg: i64) -> Point {
        Point { lat_udeg, lng_udeg }
    }

    /// Witnesses on a ring of sites around `truth`, each hearing exactly the model (with
    /// exponent 3.0) plus a fixed pattern of shadowing.
    fn ring(truth: Point) -> Vec<Heard> {
        let shadow = [30, -40, 0, 55, -20, 10, -60, 25, 45, -15, 5, -35];
        (0..12)
            .map(|i: i64| {
                let r = 1_000 + 700 * (i % 4);
                let at = from_local(
                    &truth,
                    (
                        r * cos_any(i * 30_000_000) / (1 << 30),
                        r * sin_any(i * 30_000_000) / (1 << 30),
                    ),
                );
                let d = truth.distance_m(&at);
                Heard {
                    at,
                    gain_db10: model_rssi_dbm10(0, 60, d, 915_000_000, 30) + shadow[i as usize],
                }
            })
            .collect()
    }

    fn cos_any(a: i64) -> i64 {
        crate::radio::cos_any_q30(a)
    }
    fn sin_any(a: i64) -> i64 {
        crate::radio::sin_any_q30(a)
    }

    #[test]
    fn millidecades_of_distance() {
        // 1000·log10(d) from d²: 1 km → 3000, 10 km → 4000, 30 m → 1477 (1477.1).
        assert_eq!(half_millidecades(1_000 * 1_000), 3_000);
        assert_eq!(half_millidecades(10_000 * 10_000), 4_000);
        assert_eq!(half_millidecades(900), 1_477);
        assert_eq!(half_millidecades(1), 0);
        // Against the precise logarithm across the range, within a millidecade.
        for d in [31u64, 250, 777, 4_321, 55_555, 99_999, 2_000_000] {
            let precise = (i128::from(crate::radio::log10_q32(u128::from(d))) * 1_000) >> 32;
            let fast = i128::from(half_millidecades(d * d));
            assert!((precise - fast).abs() <= 1, "{d}: {precise} {fast}");
        }
    }

    #[test]
    fn the_local_plane_round_trips() {
        let o = site(48_000_000, 2_000_000);
        let p = site(48_090_000, 2_134_000);
        let xy = to_local(&o, &p);
        // 0.09° of latitude = 10,008 m; 0.134° of longitude at 48° = 9,970 m.
        assert_eq!(xy.1, 10_007);
        assert!((9_965..=9_975).contains(&xy.0), "{xy:?}");
        let back = from_local(&o, xy);
        assert!(back.distance_m(&p) <= 1, "{back:?}");
    }

    #[test]
    fn an_honest_site_explains_its_witnesses() {
        let truth = site(48_000_000, 2_000_000);
        let fix = locate(truth, &ring(truth), &[], &LocateParams::default()).expect("fix");
        assert!(fix.offset_m < 600, "{fix:?}");
        assert!(fix.score_x100 < 100, "{fix:?}");
        assert_eq!(fix.witnesses, 12);
    }

    #[test]
    fn a_site_five_km_off_is_found_out() {
        let truth = site(48_000_000, 2_000_000);
        let heard = ring(truth);
        let claimed = from_local(&truth, (5_000, 0));
        let fix = locate(claimed, &heard, &[], &LocateParams::default()).expect("fix");
        assert!(fix.best.distance_m(&truth) < 600, "{fix:?}");
        assert!((4_400..=5_600).contains(&fix.offset_m), "{fix:?}");
        // Twelve witnesses: F ≈ 19, where the honest site scores under 1.
        assert!(fix.score_x100 > 1_500, "{fix:?}");
    }

    /// Sixty witnesses 1–25 km around `truth` in every direction, hearing the model with
    /// exponent 3.1 plus pseudo-random shadowing of σ ≈ 6 dB; one of them on a duct
    /// (+30 dB).
    fn crowd(truth: Point) -> Vec<Heard> {
        let mut z: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            z = z
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (z >> 33) as i64
        };
        (0..60)
            .map(|i| {
                let r = 1_000 + next() % 24_000;
                let angle = next() % 360_000_000;
                let at = from_local(
                    &truth,
                    (
                        r * cos_any(angle) / (1 << 30),
                        r * sin_any(angle) / (1 << 30),
                    ),
                );
                // Sum of four uniforms in ±30: σ ≈ 35 (dB × 10) each... about 6 dB in all.
                let shadow: i64 = (0..4).map(|_| next() % 61 - 30).sum::<i64>() * 17 / 10;
                let duct = if i == 7 { 300 } else { 0 };
                Heard {
                    at,
                    gain_db10: model_rssi_dbm10(0, 60, truth.distance_m(&at), 915_000_000, 31)
                        + shadow as i32
                        + duct,
                }
            })
            .collect()
    }

    #[test]
    fn a_crowd_of_witnesses_places_a_far_spoofer() {
        let truth = site(48_000_000, 2_000_000);
        let heard = crowd(truth);
        let p = LocateParams::default();
        // Honest: the asserted site explains the gains about as well as any (F < 2).
        let honest = locate(truth, &heard, &[], &p).expect("fix");
        assert!(honest.score_x100 < 200, "{honest:?}");
        // 97 km off: the fit finds the real site within a couple of km and the asserted
        // one explains the gains far worse (F > 20).
        let claimed = from_local(&truth, (-60_000, 76_000));
        let far = locate(claimed, &heard, &[], &p).expect("fix");
        assert!(far.best.distance_m(&truth) < 2_000, "{far:?}");
        assert!(far.score_x100 > 2_000, "{far:?}");
        // Three km off, the gains alone say little; receivers listening around the
        // asserted site that never heard it say more.
        let near = from_local(&truth, (3_000, 0));
        let alone = locate(near, &heard, &[], &p).expect("fix");
        let around: Vec<Point> = (0..8)
            .map(|i| {
                from_local(
                    &near,
                    (
                        800 * cos_any(i * 45_000_000) / (1 << 30),
                        800 * sin_any(i * 45_000_000) / (1 << 30),
                    ),
                )
            })
            .collect();
        let with_silence = locate(near, &heard, &around, &p).expect("fix");
        assert!(
            with_silence.score_x100 > 2 * alone.score_x100 + 500,
            "{alone:?} {with_silence:?}"
        );
        // The honest site with the same silent receivers far away (60 km) is unchanged.
        let far_silence: Vec<Point> = around
            .iter()
            .map(|q| {
                from_local(
                    &truth,
                    (to_local(&truth, q).0 + 60_000, to_local(&truth, q).1),
                )
            })
            .collect();
        assert_eq!(locate(truth, &heard, &far_silence, &p), Some(honest));
    }

    #[test]
    fn too_few_witnesses_give_no_fix() {
        let truth = site(48_000_000, 2_000_000);
        let heard = ring(truth);
        assert!(locate(truth, &heard[..5], &[], &LocateParams::default()).is_none());
    }

    /// A spoofer heard loudly "from" a site 12 km away drags its honest neighbours' fits
    /// towards that site. Flagging every device over a threshold takes the worst-dragged
    /// honest neighbour down with it; peeling flags the spoofer alone, then refits the
    /// neighbour without it.
    #[test]
    fn peeling_leaves_a_liars_neighbours_standing() {
        let origin = site(48_000_000, 2_000_000);
        let key = crate::test_key;
        // Honest radios on a 5 × 5 grid, 3 km apart; the spoofer really sits among them
        // and asserts a site 12 km east.
        let mut truth: Vec<(KeyId, Point)> = (0..25u32)
            .map(|i| {
                let (x, y) = (i64::from(i % 5) * 3_000, i64::from(i / 5) * 3_000);
                (key(i), from_local(&origin, (x, y)))
            })
            .collect();
        let spoofer = key(99);
        truth.push((spoofer, from_local(&origin, (4_500, 4_500))));
        let mut locations: BTreeMap<KeyId, Point> = truth.iter().copied().collect();
        locations.insert(spoofer, from_local(&origin, (16_500, 4_500)));
        // Every pair hears the other at the model's gain over the true distance, with a
        // fixed pattern of shadowing.
        let mut observations = Vec::new();
        for (i, (a, pa)) in truth.iter().enumerate() {
            for (j, (b, pb)) in truth.iter().enumerate() {
                if i != j {
                    let shadow = [20, -35, 5, 40, -15, -5, 30, -25][(i * 7 + j * 3) % 8];
                    let gain = model_rssi_dbm10(0, 60, pa.distance_m(pb), 915_000_000, 30);
                    observations.push((*a, *b, gain + shadow));
                }
            }
        }
        let listening: BTreeSet<KeyId> = truth.iter().map(|(k, _)| *k).collect();
        let p = LocateParams::default();
        let locator = Locator::new(&observations, &listening, &locations, &p);
        let all: BTreeMap<KeyId, Fix> = locator
            .devices()
            .into_iter()
            .filter_map(|d| Some((d, locator.fix(&d, &BTreeSet::new())?)))
            .collect();
        assert_eq!(all.len(), 26);
        let without = BTreeSet::from([spoofer]);
        // The honest radio the spoofer drags most.
        let (dragged, before, after) = truth[..25]
            .iter()
            .map(|(k, _)| {
                let after = locator.fix(k, &without).expect("24 links").score_x100;
                (*k, all[k].score_x100, after)
            })
            .max_by_key(|(k, before, after)| (before.saturating_sub(*after), *k))
            .expect("25 radios");
        assert!(before > after, "{before} {after}");
        let threshold = (before + after) / 2 + 1;
        assert!(
            all[&spoofer].score_x100 > 4 * threshold,
            "{:?}",
            all[&spoofer]
        );
        let elsewhere = |f: &Fix| f.score_x100 >= threshold;
        let naive: BTreeSet<KeyId> = all
            .iter()
            .filter(|(_, f)| elsewhere(f))
            .map(|(k, _)| *k)
            .collect();
        assert!(naive.contains(&dragged) && naive.contains(&spoofer));
        let peeled = located_elsewhere(&locator, &BTreeSet::new(), elsewhere, |_| false);
        assert_eq!(peeled.keys().copied().collect::<Vec<_>>(), vec![spoofer]);
        // Leaving out every partner with a score at all (a broad `suspect`) still leaves
        // the spoofer enough honest witnesses to be placed where it really is.
        let broad = located_elsewhere(&locator, &BTreeSet::new(), elsewhere, |f| f.score_x100 > 0);
        assert_eq!(broad.keys().copied().collect::<Vec<_>>(), vec![spoofer]);
        // A device already caught lying by another check informs nobody's fit and is
        // not fitted itself.
        let distrusted = located_elsewhere(&locator, &without, elsewhere, |_| false);
        assert!(distrusted.is_empty(), "{distrusted:?}");
    }
}
