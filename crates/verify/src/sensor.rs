//! Sensor data quality, per station: the checks each reading must pass, and the daily score.
//!
//! Every quantity has rules for its sensor model (PROOFS §5): a physical range, how long a
//! value may stay exactly the same (a stuck sensor), and how fast it may change (a spike
//! no weather makes). A reading breaking one is invalid with that rule's reason; the
//! station's daily quality is the mean over the day's hours of the share of the expected
//! readings that arrived valid. Values are the protocol's fixed-point integers
//! (°C × 100, % × 100, hPa × 100, W/m²).

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::{Height, KeyId, Location};

use crate::verdict::ReasonCode;

/// The quantities a weather station measures (the protocol's `Quantity` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quantity {
    Temperature = 1,
    Humidity = 2,
    Pressure = 3,
    Irradiance = 4,
}

impl Quantity {
    /// The protocol's quantity number, if it is one this verifier judges.
    pub fn from_proto(n: i32) -> Option<Quantity> {
        match n {
            1 => Some(Quantity::Temperature),
            2 => Some(Quantity::Humidity),
            3 => Some(Quantity::Pressure),
            4 => Some(Quantity::Irradiance),
            _ => None,
        }
    }
}

/// How far ahead of its receipt a reading's sample time may be (device clocks drift).
pub const MAX_READING_SKEW_MS: u64 = 60_000;

/// The largest magnitude any quantity's fixed-point value may have before it is not a
/// measurement at all (10¹²: beyond any range, far from the integer limits that
/// sentinel encodings use).
pub const MAX_MAGNITUDE: i64 = 1_000_000_000_000;

/// Quantity numbers the protocol defines (1–7); the verifier judges 1–4 and passes the
/// others by.
const PROTOCOL_QUANTITIES: std::ops::RangeInclusive<i32> = 1..=7;

/// Admit one reading as reported: its samples of the judged quantities, or why the whole
/// reading is not a measurement — an unknown or repeated quantity, no measurements, a
/// sentinel or absurd magnitude ([`ReasonCode::MalformedReading`]), or a sample time
/// after the report was received beyond `max_skew_ms` ([`ReasonCode::FutureReading`]).
pub fn admit_reading(
    sampled_at_ms: u64,
    received_ms: u64,
    measurements: &[(i32, i64)],
    max_skew_ms: u64,
) -> Result<Vec<(Quantity, Sample)>, ReasonCode> {
    if sampled_at_ms > received_ms.saturating_add(max_skew_ms) {
        return Err(ReasonCode::FutureReading);
    }
    if measurements.is_empty() {
        return Err(ReasonCode::MalformedReading);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (q, value) in measurements {
        if !PROTOCOL_QUANTITIES.contains(q)
            || !seen.insert(*q)
            || value.unsigned_abs() > MAX_MAGNITUDE as u64
        {
            return Err(ReasonCode::MalformedReading);
        }
        if let Some(quantity) = Quantity::from_proto(*q) {
            out.push((
                quantity,
                Sample {
                    at_ms: sampled_at_ms,
                    value: *value,
                },
            ));
        }
    }
    Ok(out)
}

/// The rules for one quantity of one sensor model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantityRules {
    pub min: i64,
    pub max: i64,
    /// Longest a value may stay exactly unchanged (0: any time; irradiance is 0 all night).
    pub max_constant_ms: u64,
    /// Largest change per minute between consecutive readings.
    pub max_change_per_min: i64,
}

/// A sensor model's rules and reporting rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorRules {
    pub quantities: BTreeMap<Quantity, QuantityRules>,
    /// Readings expected per hour (an hour with fewer valid ones scores less).
    pub readings_per_hour: u32,
    /// Stations paid per H3 cell (at the cell's resolution).
    pub cell_capacity: usize,
}

impl Default for SensorRules {
    /// A general outdoor station: −40…60 °C, 10…99 % humidity, 300…1100 hPa, 0…1500 W/m²;
    /// temperature stuck for 240 min, humidity 360, pressure 120 is a fault; temperature
    /// may change 3 °C a minute, pressure 0.8 hPa, humidity 10 %.
    fn default() -> Self {
        let r = |min, max, constant_min: u64, change| QuantityRules {
            min,
            max,
            max_constant_ms: constant_min * 60_000,
            max_change_per_min: change,
        };
        SensorRules {
            quantities: BTreeMap::from([
                (Quantity::Temperature, r(-4_000, 6_000, 240, 300)),
                (Quantity::Humidity, r(1_000, 9_900, 360, 1_000)),
                (Quantity::Pressure, r(30_000, 110_000, 120, 80)),
                (Quantity::Irradiance, r(0, 1_500, 0, 1_000)),
            ]),
            readings_per_hour: 12,
            cell_capacity: 2,
        }
    }
}

/// One reading of one quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at_ms: u64,
    pub value: i64,
}

/// Judge a quantity's samples (any order; one per timestamp counts): each one valid or
/// the first rule it breaks, in time order.
pub fn check_samples(
    rules: &QuantityRules,
    samples: &[Sample],
) -> Vec<(Sample, Option<ReasonCode>)> {
    let mut sorted: Vec<Sample> = samples.to_vec();
    sorted.sort_by_key(|s| (s.at_ms, s.value));
    sorted.dedup_by_key(|s| s.at_ms);
    let mut out: Vec<(Sample, Option<ReasonCode>)> = Vec::with_capacity(sorted.len());
    // Where the current run of identical values started.
    let mut run_start: Option<Sample> = None;
    let mut previous: Option<Sample> = None;
    for s in sorted {
        let mut reason = None;
        if s.value < rules.min || s.value > rules.max {
            reason = Some(ReasonCode::OutOfRange);
        }
        if let Some(p) = previous
            && reason.is_none()
        {
            // |Δvalue| × 60,000 ≤ max per minute × Δt (ms), in integers.
            let dt = i128::from(s.at_ms - p.at_ms);
            let dv = i128::from(s.value.abs_diff(p.value));
            if dv * 60_000 > i128::from(rules.max_change_per_min) * dt {
                reason = Some(ReasonCode::ImpossibleJump);
            }
        }
        // A spike or an impossible value is not a reading: it neither becomes the
        // baseline the next one is compared with nor interrupts a stuck run.
        if reason.is_none() {
            previous = Some(s);
            match run_start {
                Some(r) if r.value == s.value => {
                    if rules.max_constant_ms > 0 && s.at_ms - r.at_ms > rules.max_constant_ms {
                        reason = Some(ReasonCode::StuckValue);
                    }
                }
                _ => run_start = Some(s),
            }
        }
        out.push((s, reason));
    }
    out
}

/// The day's quality in millionths: [`quality_ppm`] over the 24 hours from
/// `day_start_ms`.
pub fn daily_quality_ppm(rules: &SensorRules, day_start_ms: u64, valid_at: &[u64]) -> u64 {
    quality_ppm(rules, day_start_ms, day_start_ms + 86_400_000, valid_at)
}

/// The quality of a window in millionths: over each hour from `start_ms` (the last one
/// may be shorter, and so may the only one of a short epoch), the share of the expected
/// readings that arrived valid (an hour with more valid readings than expected counts as
/// full), weighted by the hour's length. `valid_at` lists the times of the valid
/// readings.
pub fn quality_ppm(rules: &SensorRules, start_ms: u64, end_ms: u64, valid_at: &[u64]) -> u64 {
    const HOUR: u64 = 3_600_000;
    if end_ms <= start_ms {
        return 0;
    }
    let buckets = (end_ms - start_ms).div_ceil(HOUR);
    let mut counts = vec![0u64; buckets as usize];
    for t in valid_at {
        if *t >= start_ms && *t < end_ms {
            counts[((*t - start_ms) / HOUR) as usize] += 1;
        }
    }
    let per_hour = u64::from(rules.readings_per_hour.max(1));
    let mut weighted: u128 = 0;
    for (i, n) in counts.iter().enumerate() {
        let from = start_ms + i as u64 * HOUR;
        let len = (end_ms - from).min(HOUR);
        let expected = (per_hour * len).div_ceil(HOUR).max(1);
        weighted += u128::from((*n).min(expected) * 1_000_000 / expected) * u128::from(len);
    }
    (weighted / u128::from(end_ms - start_ms)) as u64
}

/// One station competing for its cell's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellEntry {
    pub device: KeyId,
    pub cell: Location,
    pub quality_ppm: u64,
    /// When it was onboarded: the senior station wins a tie.
    pub onboarded: Height,
}

/// Which stations are paid when each H3 cell pays at most `capacity` of them: per cell,
/// by quality (highest first), then seniority (earliest onboarded), then key. Stations
/// with no quality that day earn nothing and hold no place.
pub fn cell_capacity(entries: &[CellEntry], capacity: usize) -> BTreeSet<KeyId> {
    let mut by_cell: BTreeMap<Location, Vec<&CellEntry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.quality_ppm > 0) {
        by_cell.entry(e.cell).or_default().push(e);
    }
    by_cell
        .into_values()
        .flat_map(|mut ranked| {
            ranked.sort_by_key(|e| (std::cmp::Reverse(e.quality_ppm), e.onboarded, e.device));
            ranked.into_iter().take(capacity).map(|e| e.device)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn reasons(rules: &QuantityRules, series: &[(u64, i64)]) -> Vec<Option<ReasonCode>> {
        let samples: Vec<Sample> = series
            .iter()
            .map(|(m, v)| Sample {
                at_ms: m * MIN,
                value: *v,
            })
            .collect();
        check_samples(rules, &samples)
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    #[test]
    fn range_limits_just_inside_and_outside() {
        let r = SensorRules::default().quantities[&Quantity::Temperature];
        // Far apart in time so no jump rule applies.
        let got = reasons(
            &r,
            &[(0, -4_000), (100, 6_000), (200, 6_001), (300, -4_001)],
        );
        assert_eq!(
            got,
            vec![
                None,
                None,
                Some(ReasonCode::OutOfRange),
                Some(ReasonCode::OutOfRange)
            ]
        );
        let p = SensorRules::default().quantities[&Quantity::Pressure];
        assert_eq!(
            reasons(&p, &[(0, 30_000), (1_000, 29_999), (2_000, 110_001)]),
            vec![
                None,
                Some(ReasonCode::OutOfRange),
                Some(ReasonCode::OutOfRange)
            ]
        );
    }

    #[test]
    fn stuck_for_too_long() {
        let r = SensorRules::default().quantities[&Quantity::Pressure];
        // The same pressure for exactly 120 minutes is fine; at 125 it is stuck.
        let got = reasons(
            &r,
            &[(0, 101_300), (60, 101_300), (120, 101_300), (125, 101_300)],
        );
        assert_eq!(got, vec![None, None, None, Some(ReasonCode::StuckValue)]);
        // A change restarts the count.
        let got = reasons(&r, &[(0, 101_300), (100, 101_301), (200, 101_301)]);
        assert_eq!(got, vec![None, None, None]);
        // A spike inside a stuck run is rejected and does not restart the count.
        let got = reasons(
            &r,
            &[
                (0, 101_300),
                (60, 101_300),
                (61, 105_000),
                (62, 101_300),
                (125, 101_300),
            ],
        );
        assert_eq!(
            got,
            vec![
                None,
                None,
                Some(ReasonCode::ImpossibleJump),
                None,
                Some(ReasonCode::StuckValue)
            ]
        );
        // Irradiance may sit at 0 all night.
        let i = SensorRules::default().quantities[&Quantity::Irradiance];
        assert_eq!(reasons(&i, &[(0, 0), (600, 0)]), vec![None, None]);
    }

    #[test]
    fn jumps_faster_than_physics() {
        let r = SensorRules::default().quantities[&Quantity::Temperature];
        // 3 °C a minute is the limit: 15 °C over 5 minutes passes, 15.01 °C does not.
        assert_eq!(reasons(&r, &[(0, 1_000), (5, 2_500)]), vec![None, None]);
        assert_eq!(
            reasons(&r, &[(0, 1_000), (5, 2_501)]),
            vec![None, Some(ReasonCode::ImpossibleJump)]
        );
        // A spike and back: the spike is invalid, the return is judged against the
        // reading before the spike (and passes).
        assert_eq!(
            reasons(&r, &[(0, 1_000), (1, 4_000), (2, 1_010)]),
            vec![None, Some(ReasonCode::ImpossibleJump), None]
        );
        // Pressure: 0.8 hPa a minute.
        let p = SensorRules::default().quantities[&Quantity::Pressure];
        assert_eq!(
            reasons(&p, &[(0, 101_300), (10, 102_100), (11, 102_181)]),
            vec![None, None, Some(ReasonCode::ImpossibleJump)]
        );
    }

    #[test]
    fn each_cell_pays_its_best_then_most_senior_stations() {
        let a = Location::from_degrees(48.0, 2.0, 8).unwrap();
        let b = Location::from_degrees(48.2, 2.2, 8).unwrap();
        let e = |k: u32, cell, q, h| CellEntry {
            device: crate::test_key(k),
            cell,
            quality_ppm: q,
            onboarded: Height(h),
        };
        let entries = [
            e(1, a, 900_000, 50),
            e(2, a, 950_000, 90),
            e(3, a, 900_000, 10), // ties with 1 on quality, senior
            e(4, a, 990_000, 5),
            e(5, b, 100_000, 70),
            e(6, b, 0, 1), // no data today: no place
        ];
        let paid = cell_capacity(&entries, 2);
        let keys = |ks: &[u32]| {
            ks.iter()
                .map(|k| crate::test_key(*k))
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(paid, keys(&[4, 2, 5]));
        // With three places, the senior of the tied pair gets the third.
        assert_eq!(cell_capacity(&entries, 3), keys(&[4, 2, 3, 5]));
        assert!(cell_capacity(&entries, 0).is_empty());
    }

    #[test]
    fn readings_are_admitted_or_refused_whole() {
        let t = 1_000_000;
        // Temperature and humidity judged, wind (5) passed by.
        let ok = admit_reading(t, t, &[(1, 2_150), (2, 6_000), (5, 320)], 60_000).unwrap();
        assert_eq!(
            ok,
            vec![
                (
                    Quantity::Temperature,
                    Sample {
                        at_ms: t,
                        value: 2_150
                    }
                ),
                (
                    Quantity::Humidity,
                    Sample {
                        at_ms: t,
                        value: 6_000
                    }
                )
            ]
        );
        // Clock skew: 60 s ahead is allowed, 60.001 s is the future.
        assert!(admit_reading(t + 60_000, t, &[(1, 0)], 60_000).is_ok());
        assert_eq!(
            admit_reading(t + 60_001, t, &[(1, 0)], 60_000),
            Err(ReasonCode::FutureReading)
        );
        // Magnitude: 10¹² is the last value that is a number; sentinels are not.
        assert!(admit_reading(t, t, &[(3, MAX_MAGNITUDE)], 0).is_ok());
        for bad in [
            vec![(3, MAX_MAGNITUDE + 1)],
            vec![(1, i64::MIN)],
            vec![(1, i64::MAX)],
            vec![(0, 100)],           // unspecified quantity
            vec![(8, 100)],           // not a quantity
            vec![(1, 100), (1, 101)], // twice
            vec![],
        ] {
            assert_eq!(
                admit_reading(t, t, &bad, 0),
                Err(ReasonCode::MalformedReading),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_short_window_scores_its_share_of_the_expected_readings() {
        let rules = SensorRules::default(); // 12 an hour
        // A one-minute epoch expects one reading (12 × 1/60, rounded up).
        assert_eq!(quality_ppm(&rules, 0, 60_000, &[30_000]), 1_000_000);
        assert_eq!(quality_ppm(&rules, 0, 60_000, &[]), 0);
        // Ninety minutes: a full hour (12 expected, 6 valid: half) and half an hour (6
        // expected, 6 valid: full), weighted 2:1 → 2/3.
        let first: Vec<u64> = (0..6).map(|i| i * 600_000).collect();
        let second: Vec<u64> = (0..6).map(|i| 3_600_000 + i * 300_000).collect();
        let all: Vec<u64> = first.iter().chain(&second).copied().collect();
        assert_eq!(quality_ppm(&rules, 0, 5_400_000, &all), 666_666);
        // Readings outside the window do not count.
        assert_eq!(quality_ppm(&rules, 0, 60_000, &[60_000]), 0);
    }

    #[test]
    fn daily_quality_is_the_mean_of_hourly_shares() {
        let rules = SensorRules::default(); // 12 an hour
        let day = 1_000 * 86_400_000;
        // Every 5 minutes all day: full marks.
        let all: Vec<u64> = (0..288).map(|i| day + i * 5 * MIN).collect();
        assert_eq!(daily_quality_ppm(&rules, day, &all), 1_000_000);
        // Only the first 12 hours: half.
        let half: Vec<u64> = (0..144).map(|i| day + i * 5 * MIN).collect();
        assert_eq!(daily_quality_ppm(&rules, day, &half), 500_000);
        // Six an hour all day (half the rate): half; extra readings do not make up for
        // missing hours.
        let sparse: Vec<u64> = (0..144).map(|i| day + i * 10 * MIN).collect();
        assert_eq!(daily_quality_ppm(&rules, day, &sparse), 500_000);
        let doubled: Vec<u64> = (0..288).map(|i| day + i * 150_000).collect();
        assert_eq!(daily_quality_ppm(&rules, day, &doubled), 500_000);
    }
}
