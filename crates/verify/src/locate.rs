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

/// 500·log10(x) (millidecades of √x), for x ≥ 1: a squared distance to the millidecades
/// of the distance. Twelve fractional bits of log2 are plenty for a thousandth of a decade
/// and keep the mantissa's square within 64 bits, so the fit's inner loop stays cheap.
fn half_millidecades(x: u64) -> i64 {
    const FRAC: u32 = 12;
    let x = x.max(1);
    let int = 63 - i64::from(x.leading_zeros());
    // The mantissa in [1, 2) as Q1.31.
    let mut m: u64 = if int >= 31 {
        x >> (int - 31)
    } else {
        x << (31 - int)
    };
    let mut frac: i64 = 0;
    for bit in (0..FRAC).rev() {
        m = (m * m) >> 31;
        if m >= 2 << 31 {
            m >>= 1;
            frac |= 1 << bit;
        }
    }
    let log2_q12 = (int << FRAC) | frac;
    // × 500·log10(2), log10(2) = 315,653 / 2^20, rounded to the nearest.
    (log2_q12 * 500 * 315_653 + (1 << 31)) >> 32
}

/// The capped residual sum of squares of the best log-distance fit from `c`.
fn cost(c: Xy, obs: &[(Xy, i64)], silent: &[Xy], p: &LocateParams) -> i128 {
    let l_of = |(x, y): &Xy| {
        let (dx, dy) = (i128::from(x - c.0), i128::from(y - c.1));
        // No closer than 30 m.
        let d2 = u64::try_from((dx * dx + dy * dy).max(900)).unwrap_or(u64::MAX);
        i128::from(half_millidecades(d2))
    };
    // (1000·log10(d), gain) per witness.
    let pts: Vec<(i128, i128)> = obs
        .iter()
        .map(|(xy, g)| (l_of(xy), i128::from(*g)))
        .collect();
    let (b, a, n) = fit(&pts, p);
    let cap = i128::from(p.residual_cap_db10);
    let heard: i128 = pts
        .iter()
        .map(|(l, g)| {
            let r = (1_000 * n * g - a - n * b * l) / (1_000 * n);
            r.min(cap).max(-cap).pow(2)
        })
        .sum();
    // A receiver that listened and never heard the beacon says its gain was under the
    // floor: the fit pays for every one it predicts should have heard.
    let floor = i128::from(p.silent_floor_db10);
    let unheard: i128 = silent
        .iter()
        .map(|xy| {
            let predicted = (a + n * b * l_of(xy)) / (1_000 * n);
            (predicted - floor).clamp(0, cap).pow(2)
        })
        .sum();
    heard + unheard
}

/// Least squares of gain on 1000·log10(d): the slope × 1000 (dB × 10 per millidecade,
/// −100 × the exponent, clamped to the exponent bounds), the intercept term `a` such
/// that a residual × 1000n is `1000n·g − a − n·b·l`, and n.
fn fit(pts: &[(i128, i128)], p: &LocateParams) -> (i128, i128, i128) {
    let n = pts.len() as i128;
    let (mut sl, mut sg, mut sll, mut slg) = (0i128, 0i128, 0i128, 0i128);
    for (l, g) in pts {
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
        .map(|h| (to_local(&asserted, &h.at), i64::from(h.gain_db10)))
        .collect();
    let silent: Vec<Xy> = silent.iter().map(|at| to_local(&asserted, at)).collect();
    let at_asserted = cost((0, 0), &obs, &silent, p);
    // A coarse grid over the witnesses' sites (a beaconer lies among those that hear
    // it), then a shrinking pattern around the best point found. Starting from the
    // loudest witnesses alone is not enough: one ducted link or a witness lying about its
    // own site can be the loudest.
    let mut best = ((0, 0), at_asserted);
    let consider = |xy: Xy, best: &mut (Xy, i128)| {
        let c = cost(xy, &obs, &silent, p);
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

/// Every device's fix from observations `(beaconer, witness, gain dB × 10)` in both
/// directions — the gain of a link is the median of its observations — and the
/// receivers that were listening (every other listening receiver with no link to a
/// device counts as silent for it).
pub fn locate_all(
    observations: &[(KeyId, KeyId, i32)],
    listening: &BTreeSet<KeyId>,
    locations: &BTreeMap<KeyId, Point>,
    p: &LocateParams,
) -> BTreeMap<KeyId, Fix> {
    // A link is reciprocal (the same path loss both ways), so what a device reported
    // hearing from its neighbours locates it as well as what they heard from it: both
    // directions count, which doubles what the fit has to go on.
    let mut by: BTreeMap<KeyId, BTreeMap<KeyId, Vec<i32>>> = BTreeMap::new();
    for (b, w, g) in observations {
        by.entry(*b).or_default().entry(*w).or_default().push(*g);
        by.entry(*w).or_default().entry(*b).or_default().push(*g);
    }
    by.into_iter()
        .filter_map(|(b, witnesses)| {
            let asserted = *locations.get(&b)?;
            let silent: Vec<Point> = listening
                .iter()
                .filter(|r| **r != b && !witnesses.contains_key(r))
                .filter_map(|r| locations.get(r).copied())
                .collect();
            let heard: Vec<Heard> = witnesses
                .into_iter()
                .filter_map(|(w, mut gains)| {
                    gains.sort_unstable();
                    Some(Heard {
                        at: *locations.get(&w)?,
                        gain_db10: gains[(gains.len() - 1) / 2],
                    })
                })
                .collect();
            locate(asserted, &heard, &silent, p).map(|f| (b, f))
        })
        .collect()
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
}
