//! Sensor data quality across stations: what no single station's series can show.
//!
//! Series are aligned to common slots (e.g. five minutes), `None` where a station sent
//! nothing valid. Integer arithmetic throughout (values in the protocol's fixed point):
//!
//! - **Robust z-score against the neighbourhood.** Per slot, the neighbours' median and
//!   median absolute deviation (MAD); a value more than `z` robust deviations away is an
//!   outlier. Honest microclimates exist, so the result is a share of slots, graded.
//! - **Correlation with the neighbourhood**: Pearson's r of the station against its
//!   neighbours' median series; weather moves together across a few kilometres.
//! - **Clones and replays**: the first differences of a series are mostly the sensor's
//!   own noise, independent between two honest stations even side by side. Two
//!   "different" stations whose differences correlate near 1 at lag 0 are one sensor
//!   (a clone); near 1 at another lag, one replays the other.
//! - **Indoor stations**: irradiance far below the clear-sky curve for the place and time
//!   (solar elevation from latitude, longitude and date) while the neighbours see the sun.

use std::collections::BTreeMap;

use cairn_core::{Height, KeyId, PublicKey};

use crate::identity::{Enrolment, closed_fleets};
use crate::radio::{Point, cos_any_q30, sin_any_q30};
use crate::spatial::Grid;
use crate::verdict::ReasonCode;

/// The median of the present values (the lower middle one for an even count).
pub fn median(values: &[i64]) -> Option<i64> {
    median_of(values.to_vec())
}

/// [`median`] of values it may reorder: a selection, not a sort (every slot of every
/// station takes two).
fn median_of(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    let middle = (v.len() - 1) / 2;
    Some(*v.select_nth_unstable(middle).1)
}

/// Per slot, the median of the neighbours' values (`None` where fewer than `min_present`
/// neighbours reported).
pub fn neighbourhood_median(neighbours: &[&[Option<i64>]], min_present: usize) -> Vec<Option<i64>> {
    let slots = neighbours.iter().map(|s| s.len()).max().unwrap_or(0);
    (0..slots)
        .map(|i| {
            let present: Vec<i64> = neighbours
                .iter()
                .filter_map(|s| s.get(i).copied().flatten())
                .collect();
            (present.len() >= min_present.max(1))
                .then(|| median_of(present))
                .flatten()
        })
        .collect()
}

/// The share (millionths) of the station's slots that are outliers against its
/// neighbours: |x − median| > z_milli/1000 × 1.4826 × MAD (MAD at least `mad_floor`, so
/// a perfectly calm neighbourhood does not make every small difference an outlier).
/// Slots with fewer than three neighbours are not judged. Returns (share, slots judged).
pub fn outlier_share_ppm(
    station: &[Option<i64>],
    neighbours: &[&[Option<i64>]],
    z_milli: i64,
    mad_floor: i64,
) -> (u64, usize) {
    let mut judged = 0usize;
    let mut outliers = 0u64;
    for (i, x) in station.iter().enumerate() {
        let Some(x) = x else { continue };
        let present: Vec<i64> = neighbours
            .iter()
            .filter_map(|s| s.get(i).copied().flatten())
            .collect();
        if present.len() < 3 {
            continue;
        }
        let m = median(&present).expect("three or more values");
        let deviations: Vec<i64> = present.iter().map(|v| (v - m).abs()).collect();
        let mad = median_of(deviations)
            .expect("three or more values")
            .max(mad_floor);
        judged += 1;
        // |x − m| × 10,000,000 > z_milli × 14,826 × MAD (1.4826 scales MAD to σ).
        if i128::from((x - m).abs()) * 10_000_000 > i128::from(z_milli) * 14_826 * i128::from(mad) {
            outliers += 1;
        }
    }
    let share = if judged == 0 {
        0
    } else {
        outliers * 1_000_000 / judged as u64
    };
    (share, judged)
}

/// Pearson's r (millionths) over the slots where both series have a value; `None` with
/// fewer than `min_pairs` pairs or a constant series.
pub fn correlation_ppm(x: &[Option<i64>], y: &[Option<i64>], min_pairs: usize) -> Option<i64> {
    correlation_of(
        x.iter().zip(y).filter_map(|(a, b)| Some(((*a)?, (*b)?))),
        min_pairs,
    )
}

/// Pearson's r (millionths) of `pairs`, in one pass of exact integer sums. The centred
/// sums the definition uses follow from the raw ones — Σ(x·n − Σx)² = n·(n·Σx² − (Σx)²),
/// and likewise for the cross term — so nothing is rounded before the last division.
fn correlation_of(pairs: impl Iterator<Item = (i64, i64)>, min_pairs: usize) -> Option<i64> {
    let [mut n, mut sx, mut sy, mut sxx, mut syy, mut sxy] = [0i128; 6];
    for (x, y) in pairs {
        let (x, y) = (i128::from(x), i128::from(y));
        n += 1;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
    }
    if n < min_pairs.max(2) as i128 {
        return None;
    }
    let (cxx, cyy, cxy) = (
        n * (n * sxx - sx * sx),
        n * (n * syy - sy * sy),
        n * (n * sxy - sx * sy),
    );
    if cxx == 0 || cyy == 0 {
        return None;
    }
    // r = cxy / sqrt(cxx × cyy); the product can exceed 128 bits, so take roots apart.
    let denominator = (cxx as u128).isqrt() * (cyy as u128).isqrt();
    if denominator == 0 {
        return None;
    }
    Some((cxy * 1_000_000 / denominator as i128).clamp(-1_000_000, 1_000_000) as i64)
}

/// First differences (`None` where either slot is missing).
fn differences(s: &[Option<i64>]) -> Vec<Option<i64>> {
    s.windows(2).map(|w| Some(w[1]? - w[0]?)).collect()
}

/// The correlation of the differences `dx` with `dy` `lag` slots earlier.
fn lagged_correlation(
    dx: &[Option<i64>],
    dy: &[Option<i64>],
    lag: usize,
    min_pairs: usize,
) -> Option<i64> {
    if lag >= dx.len() {
        return None;
    }
    correlation_of(
        dx[lag..]
            .iter()
            .zip(dy)
            .filter_map(|(a, b)| Some(((*a)?, (*b)?))),
        min_pairs,
    )
}

/// The correlation (millionths) of `x`'s first differences with `y`'s `lag` slots
/// earlier: near 1,000,000 at lag 0 for a clone, at another lag for a replay.
pub fn difference_correlation_ppm(
    x: &[Option<i64>],
    y: &[Option<i64>],
    lag: usize,
    min_pairs: usize,
) -> Option<i64> {
    lagged_correlation(&differences(x), &differences(y), lag, min_pairs)
}

/// How `x` relates to `y`: the lag (0..=max_lag) at which their differences correlate
/// most, and that correlation. A clone shows ~1 at lag 0, a replay ~1 at its lag.
pub fn best_lag(
    x: &[Option<i64>],
    y: &[Option<i64>],
    max_lag: usize,
    min_pairs: usize,
) -> Option<(usize, i64)> {
    best_lag_of_differences(&differences(x), &differences(y), max_lag, min_pairs)
}

/// [`best_lag`] of series already differenced.
fn best_lag_of_differences(
    dx: &[Option<i64>],
    dy: &[Option<i64>],
    max_lag: usize,
    min_pairs: usize,
) -> Option<(usize, i64)> {
    (0..=max_lag)
        .filter_map(|lag| lagged_correlation(dx, dy, lag, min_pairs).map(|r| (lag, r)))
        .max_by_key(|(lag, r)| (*r, std::cmp::Reverse(*lag)))
}

/// The median absolute second difference of a series (over slots where three in a row
/// are present and not all equal), and how many there were. A real sensor's readings
/// carry its noise from one to the next, so this sits near its noise level; a series
/// computed from a smooth curve has next to none. Three equal readings are left out: a
/// stuck stretch is a fault for the constancy rule, not a sign of computed data.
pub fn roughness(series: &[Option<i64>]) -> Option<(i64, usize)> {
    let d2: Vec<i64> = series
        .windows(3)
        .filter_map(|w| {
            let (a, b, c) = (w[0]?, w[1]?, w[2]?);
            (a != b || b != c).then_some((c - 2 * b + a).abs())
        })
        .collect();
    let n = d2.len();
    median(&d2).map(|m| (m, n))
}

/// Global horizontal irradiance under a clear sky (W/m²) at `at` and Unix time `unix_ms`:
/// about 1,000 W/m² times the sine of the sun's elevation, from the solar declination
/// (by day of year) and hour angle (by longitude and UTC time). Zero at night.
pub fn clear_sky_ghi(at: &Point, unix_ms: u64) -> i64 {
    const DAY_MS: u64 = 86_400_000;
    // Days into the (tropical, 365.242-day) year since 1 January 1970.
    let days = (unix_ms / DAY_MS) as i64;
    let day_of_year = days * 1_000 % 365_242 / 1_000;
    // Declination: −23.44° × cos(360° × (day + 10) / 365).
    let decl = (-23_440_000 * cos_any_q30((day_of_year + 10) * 360_000_000 / 365)) >> 30;
    // Hour angle: 15° per hour from local solar noon (UTC + longitude / 15°).
    let ms_of_day = (unix_ms % DAY_MS) as i64;
    let hour_angle = ms_of_day * 360_000_000 / DAY_MS as i64 - 180_000_000 + at.lng_udeg;
    let sin_lat = i128::from(sin_any_q30(at.lat_udeg));
    let cos_lat = i128::from(cos_any_q30(at.lat_udeg));
    let sin_decl = i128::from(sin_any_q30(decl));
    let cos_decl = i128::from(cos_any_q30(decl));
    let cos_h = i128::from(cos_any_q30(hour_angle));
    // sin(elevation) in Q2.30.
    let sin_elev = ((sin_lat * sin_decl) >> 30) + ((((cos_lat * cos_decl) >> 30) * cos_h) >> 30);
    ((1_000 * sin_elev.max(0)) >> 30) as i64
}

/// Over a day's slots: the station's irradiance as a share (millionths) of the clear-sky
/// total, and the neighbours' median share. Indoors: far below, while neighbours are not.
pub fn daylight_shares(
    station: &[Option<i64>],
    neighbours_median: &[Option<i64>],
    clear_sky: &[i64],
) -> (u64, u64) {
    let share = |s: &[Option<i64>]| {
        let (got, clear) = s
            .iter()
            .zip(clear_sky)
            .filter_map(|(v, c)| Some(((*v)?.max(0), (*c).max(0))))
            .fold((0i64, 0i64), |(a, b), (v, c)| (a + v, b + c));
        if clear == 0 {
            0
        } else {
            (got as u64) * 1_000_000 / clear as u64
        }
    };
    (share(station), share(neighbours_median))
}

/// Thresholds of the cross-station checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossParams {
    /// Slot length the series are aligned to, ms.
    pub slot_ms: u64,
    /// Neighbours: stations asserted within this range; at least `min_neighbours`.
    pub neighbour_range_m: u64,
    pub min_neighbours: usize,
    /// Outliers: robust z (× 1000) and MAD floor (°C × 100); flagged when at least
    /// `max_outlier_ppm` of at least `min_slots` judged slots are outliers.
    pub outlier_z_milli: i64,
    pub mad_floor_c100: i64,
    pub max_outlier_ppm: u64,
    /// No rule judges fewer slots than this.
    pub min_slots: usize,
    /// Flag a station whose correlation with its neighbourhood median is below this.
    pub min_neighbour_correlation_ppm: i64,
    /// Clones and replays: stations asserted within `pair_range_m` whose reading-to-
    /// reading changes correlate at least `clone_ppm` at some lag up to `max_lag_slots`.
    pub pair_range_m: u64,
    pub clone_ppm: i64,
    pub max_lag_slots: usize,
    /// Indoor: daylight share below this fraction (millionths) of the neighbours' share,
    /// when the neighbours saw at least `min_daylight_ppm` of the clear sky.
    pub indoor_ratio_ppm: u64,
    pub min_daylight_ppm: u64,
    /// Too smooth: median |second difference| of temperature below this (°C × 100).
    pub min_roughness_c100: i64,
    /// Fleets: one owner and maker, onboarded within `fleet_window` blocks, at least
    /// `min_fleet` devices, whose data-sharing pairs stay inside at least
    /// `fleet_inside_ppm`.
    pub fleet_window: u64,
    pub min_fleet: usize,
    pub fleet_inside_ppm: u64,
}

impl Default for CrossParams {
    fn default() -> Self {
        CrossParams {
            slot_ms: 300_000,
            neighbour_range_m: 15_000,
            min_neighbours: 4,
            outlier_z_milli: 4_000,
            mad_floor_c100: 30,
            max_outlier_ppm: 300_000,
            min_slots: 96,
            min_neighbour_correlation_ppm: 500_000,
            pair_range_m: 10_000,
            clone_ppm: 800_000,
            max_lag_slots: 12,
            indoor_ratio_ppm: 300_000,
            min_daylight_ppm: 100_000,
            min_roughness_c100: 2,
            fleet_window: 50,
            min_fleet: 4,
            fleet_inside_ppm: 800_000,
        }
    }
}

/// One station's series over the judged window, as the cross-station checks see them.
#[derive(Debug, Clone)]
pub struct StationSeries<'a> {
    pub device: KeyId,
    /// The asserted site.
    pub site: Point,
    pub owner: PublicKey,
    pub maker: PublicKey,
    pub onboarded: Height,
    /// Valid temperatures per slot (°C × 100; reduced to sea level where the elevation is
    /// known) and valid irradiance (W/m²).
    pub temperature: &'a [Option<i64>],
    pub irradiance: &'a [Option<i64>],
    /// Already denylisted: still judged, but nobody's neighbour.
    pub excluded: bool,
}

/// Judge stations against each other over one window starting at `start_ms`: per
/// station, the reasons it is flagged, in the order the checks run (clones and replays,
/// closed fleets, too smooth, neighbour outliers, uncorrelated, indoor). A station not
/// in the map passed every check it had the data for.
pub fn judge_stations(
    stations: &[StationSeries<'_>],
    start_ms: u64,
    p: &CrossParams,
) -> BTreeMap<KeyId, Vec<ReasonCode>> {
    let n = stations.len();
    let mut out: BTreeMap<KeyId, Vec<ReasonCode>> = BTreeMap::new();
    let mut flag = |k: KeyId, why: ReasonCode| {
        let reasons = out.entry(k).or_default();
        if !reasons.contains(&why) {
            reasons.push(why);
        }
    };
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let grid = Grid::new(
        stations.iter().map(|s| s.site).collect(),
        p.neighbour_range_m.max(p.pair_range_m),
    );
    for (a, b) in grid.pairs_within(p.neighbour_range_m.max(p.pair_range_m)) {
        let d = stations[a].site.distance_m(&stations[b].site);
        if d <= p.neighbour_range_m {
            neighbours[a].push(b);
            neighbours[b].push(a);
        }
        if d <= p.pair_range_m {
            pairs.push((a, b));
        }
    }
    // Clones and replays: whose changes repeat whose, and when.
    let mut sharing: Vec<(KeyId, KeyId)> = Vec::new();
    let changes: Vec<Vec<Option<i64>>> = stations
        .iter()
        .map(|s| differences(s.temperature))
        .collect();
    for &(a, b) in &pairs {
        let (sa, sb) = (&stations[a], &stations[b]);
        for (x, y, later) in [(a, b, sa.device), (b, a, sb.device)] {
            let Some((lag, r)) =
                best_lag_of_differences(&changes[x], &changes[y], p.max_lag_slots, p.min_slots)
            else {
                continue;
            };
            if r < p.clone_ppm {
                continue;
            }
            if lag == 0 {
                // One sensor under two keys: the junior key is the copy.
                let junior = if (sa.onboarded, sa.device) > (sb.onboarded, sb.device) {
                    sa.device
                } else {
                    sb.device
                };
                flag(junior, ReasonCode::ClonedSeries);
                sharing.push((sa.device, sb.device));
                break;
            }
            flag(later, ReasonCode::ReplayedSeries);
        }
    }
    let enrolments: Vec<Enrolment> = stations
        .iter()
        .map(|s| Enrolment {
            device: s.device,
            owner: s.owner,
            maker: s.maker,
            onboarded_at: s.onboarded,
        })
        .collect();
    for fleet in closed_fleets(
        &enrolments,
        &sharing,
        p.fleet_window,
        p.min_fleet,
        p.fleet_inside_ppm,
    ) {
        for k in fleet.devices {
            flag(k, ReasonCode::ClosedFleet);
        }
    }
    let slots = stations
        .iter()
        .map(|s| s.temperature.len())
        .max()
        .unwrap_or(0) as u64;
    for (i, st) in stations.iter().enumerate() {
        if let Some((m, judged)) = roughness(st.temperature)
            && judged >= p.min_slots
            && m < p.min_roughness_c100
        {
            flag(st.device, ReasonCode::TooSmooth);
        }
        let nb: Vec<&StationSeries<'_>> = neighbours[i]
            .iter()
            .map(|j| &stations[*j])
            .filter(|s| !s.excluded)
            .collect();
        if nb.len() < p.min_neighbours {
            continue;
        }
        let nb_t: Vec<&[Option<i64>]> = nb.iter().map(|s| s.temperature).collect();
        let (share, judged) =
            outlier_share_ppm(st.temperature, &nb_t, p.outlier_z_milli, p.mad_floor_c100);
        if judged >= p.min_slots && share >= p.max_outlier_ppm {
            flag(st.device, ReasonCode::NeighbourOutlier);
        }
        let median_t = neighbourhood_median(&nb_t, 3);
        if let Some(r) = correlation_ppm(st.temperature, &median_t, p.min_slots)
            && r < p.min_neighbour_correlation_ppm
        {
            flag(st.device, ReasonCode::UncorrelatedWithNeighbours);
        }
        let nb_i: Vec<&[Option<i64>]> = nb.iter().map(|s| s.irradiance).collect();
        let median_i = neighbourhood_median(&nb_i, 3);
        let clear: Vec<i64> = (0..slots)
            .map(|k| clear_sky_ghi(&st.site, start_ms + k * p.slot_ms))
            .collect();
        let (own, theirs) = daylight_shares(st.irradiance, &median_i, &clear);
        let present = st.irradiance.iter().filter(|v| v.is_some()).count();
        if present >= p.min_slots
            && theirs >= p.min_daylight_ppm
            && u128::from(own) * 1_000_000 < u128::from(p.indoor_ratio_ppm) * u128::from(theirs)
        {
            flag(st.device, ReasonCode::Indoor);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [−amp, amp] from a seed and slot.
    fn noise(seed: u64, i: usize, amp: i64) -> i64 {
        let h = blake3::hash(&[seed.to_le_bytes(), (i as u64).to_le_bytes()].concat());
        let v = u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap());
        (v % (2 * amp as u64 + 1)) as i64 - amp
    }

    /// A day of temperatures every 5 minutes (°C × 100): a shared diurnal curve plus a
    /// weather drift, station bias and its own sensor noise.
    fn temperature(seed: u64, bias: i64) -> Vec<Option<i64>> {
        (0..288)
            .map(|i| {
                let hour = i as i64 * 5 / 60;
                let diurnal = 1_500 + 500 * (12 - (hour - 14).abs()) / 12;
                Some(diurnal + bias + noise(seed, i, 15))
            })
            .collect()
    }

    #[test]
    fn outliers_against_the_neighbourhood() {
        let nb: Vec<Vec<Option<i64>>> = (1..=5).map(|s| temperature(s, 0)).collect();
        let refs: Vec<&[Option<i64>]> = nb.iter().map(|v| v.as_slice()).collect();
        let honest = temperature(9, 10);
        let (share, judged) = outlier_share_ppm(&honest, &refs, 3_500, 20);
        assert_eq!(judged, 288);
        assert!(
            share < 20_000,
            "an honest station is rarely an outlier: {share}"
        );
        // 5 °C too warm all day (a sensor in the sun, or a made-up series).
        let wrong = temperature(9, 500);
        let (share, _) = outlier_share_ppm(&wrong, &refs, 3_500, 20);
        assert_eq!(share, 1_000_000);
    }

    #[test]
    fn clones_and_replays_are_told_from_honest_neighbours() {
        let a = temperature(1, 0);
        let b = temperature(2, 0);
        // Honest neighbours: their differences are mostly independent noise.
        let (_, r) = best_lag(&a, &b, 6, 100).unwrap();
        assert!(r < 500_000, "{r}");
        // A clone: the same sensor's series under another key, with an offset.
        let clone: Vec<Option<i64>> = a.iter().map(|v| v.map(|x| x + 37)).collect();
        assert_eq!(best_lag(&clone, &a, 6, 100), Some((0, 1_000_000)));
        // A replay three slots (15 minutes) late.
        let replay: Vec<Option<i64>> = (0..a.len())
            .map(|i| if i >= 3 { a[i - 3] } else { None })
            .collect();
        assert_eq!(best_lag(&replay, &a, 6, 100), Some((3, 1_000_000)));
        // Correlation with the neighbourhood: high for honest stations.
        let r = correlation_ppm(&a, &b, 100).unwrap();
        assert!(r > 900_000, "{r}");
    }

    #[test]
    fn clear_sky_and_indoor_shares() {
        // Equator, equinox-ish (day 80 of 1970 is 21 March), solar noon at 0° longitude.
        let equator = Point {
            lat_udeg: 0,
            lng_udeg: 0,
        };
        let noon = 80 * 86_400_000 + 12 * 3_600_000;
        let ghi = clear_sky_ghi(&equator, noon);
        assert!((990..=1_000).contains(&ghi), "{ghi}");
        assert_eq!(
            clear_sky_ghi(&equator, noon + 12 * 3_600_000),
            0,
            "midnight"
        );
        // At 60° N the noon sun is about 30° up at the equinox (29.5°: the formula's
        // declination on day 80 is −0.5°): 1,000 × sin 29.5° = 492 W/m².
        let north = Point {
            lat_udeg: 60_000_000,
            lng_udeg: 0,
        };
        let g = clear_sky_ghi(&north, noon);
        assert_eq!(g, 492);
        // 90° E: solar noon is six hours earlier in UTC.
        let east = Point {
            lat_udeg: 0,
            lng_udeg: 90_000_000,
        };
        assert!(clear_sky_ghi(&east, noon - 6 * 3_600_000) >= 990);
        // Indoors: a tenth of the clear sky while the neighbours see 80%.
        let clear: Vec<i64> = (0..24)
            .map(|h| clear_sky_ghi(&equator, 80 * 86_400_000 + h * 3_600_000))
            .collect();
        let inside: Vec<Option<i64>> = clear.iter().map(|c| Some(c / 10)).collect();
        let outside: Vec<Option<i64>> = clear.iter().map(|c| Some(c * 8 / 10)).collect();
        let (mine, theirs) = daylight_shares(&inside, &outside, &clear);
        assert!((95_000..=100_000).contains(&mine), "{mine}");
        assert!((795_000..=800_000).contains(&theirs), "{theirs}");
    }

    #[test]
    fn a_computed_curve_is_too_smooth_and_a_measured_one_is_not() {
        // Worked: a straight line has second differences of 0; alternating ±10 noise
        // around it has |Δ²| = 40 at every slot.
        let line: Vec<Option<i64>> = (0..10).map(|i| Some(100 + 7 * i)).collect();
        assert_eq!(roughness(&line), Some((0, 8)));
        let noisy: Vec<Option<i64>> = (0..10)
            .map(|i| Some(100 + 7 * i + if i % 2 == 0 { 10 } else { -10 }))
            .collect();
        assert_eq!(roughness(&noisy), Some((40, 8)));
        // Gaps break the triples that span them.
        let gappy = vec![Some(1), Some(2), None, Some(4), Some(5), Some(9)];
        assert_eq!(roughness(&gappy), Some((3, 1)));
        assert_eq!(roughness(&[Some(1), Some(2)]), None);
        // A stuck stretch is not counted: only the triples where something changed.
        let stuck = vec![Some(5), Some(9), Some(9), Some(9), Some(9), Some(2)];
        assert_eq!(roughness(&stuck), Some((4, 2)));
        // A day of the test temperatures (sensor noise ±15) is rough; a smooth computed
        // curve (a parabola, quantised) is not: its Δ² is 0 or 1 unit.
        let measured = temperature(1, 0);
        let (m, _) = roughness(&measured).expect("a day");
        assert!(m >= 10, "{m}");
        let computed: Vec<Option<i64>> = (0..288i64).map(|i| Some(1_500 + i * i / 50)).collect();
        let (m, n) = roughness(&computed).expect("a day");
        assert!(m <= 1 && n > 250, "{m} over {n}");
    }

    #[test]
    fn neighbourhood_median_needs_enough_neighbours() {
        let a = [Some(1), Some(5), None];
        let b = [Some(3), None, None];
        let c = [Some(2), Some(7), Some(1)];
        let m = neighbourhood_median(&[&a, &b, &c], 2);
        assert_eq!(m, vec![Some(2), Some(5), None]);
    }
}
