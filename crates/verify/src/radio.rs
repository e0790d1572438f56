//! Integer radio and distance maths for proof of coverage: no floats in a verdict.
//!
//! - Powers are in tenths of a decibel (dBm × 10, dB × 10), distances in metres,
//!   frequencies in hertz.
//! - Logarithms are fixed point (Q32.32): an integer log2 by repeated squaring, scaled by
//!   log10(2). Every step is an integer operation, so every machine gets the same bits.
//! - Free-space path loss: FSPL(d, f) = 20·log10(4π·d·f / c), c = 299,792,458 m/s
//!   (at 915 MHz: 91.7 dB at 1 km, 111.7 dB at 10 km). Received power can never exceed
//!   transmit power plus antenna gains minus this loss: the physical bound a relayed or
//!   invented witness breaks.
//! - Positions are an H3 cell's centre in microdegrees. That centre is the only floating
//!   point step (h3o computes it), rounded once to 1e-6° (0.11 m) where it enters; from there
//!   distances use an equirectangular projection with an integer cosine, within 0.1% of the
//!   great-circle distance below 1,000 km.

use cairn_core::Location;

use crate::verdict::ReasonCode;

/// Fractional bits of the fixed-point logarithms.
const FRAC: u32 = 32;
/// log10(2) in Q0.64.
const LOG10_2_Q64: i128 = 5_553_023_288_523_357_132;
/// 20·log10(4π / c) in Q32.32 (−147.5522 dB).
const FSPL_CONST_Q32: i128 = -633_731_945_514;

/// log2(x) in Q32.32, for x ≥ 1 (exact to the last fractional bit kept).
pub fn log2_q32(x: u128) -> i64 {
    assert!(x > 0, "log2 of zero");
    let int = 127 - i64::from(x.leading_zeros());
    // A power of two has a mantissa of exactly 1: every fractional bit is 0.
    if x.is_power_of_two() {
        return int << FRAC;
    }
    // The mantissa in [1, 2) as Q2.62; squaring it doubles the exponent, and each time it
    // reaches 2 one more fractional bit of the logarithm is 1.
    // Below 2^63 it fits a u64, so each square is one 64 × 64 → 128-bit multiply.
    let mut m: u64 = if int >= 62 {
        (x >> (int - 62)) as u64
    } else {
        (x << (62 - int)) as u64
    };
    let mut frac: i64 = 0;
    for bit in (0..FRAC).rev() {
        m = ((u128::from(m) * u128::from(m)) >> 62) as u64;
        if m >= 2u64 << 62 {
            m >>= 1;
            frac |= 1 << bit;
        }
    }
    (int << FRAC) | frac
}

/// log10(x) in Q32.32, for x ≥ 1.
pub fn log10_q32(x: u128) -> i64 {
    ((i128::from(log2_q32(x)) * LOG10_2_Q64) >> 64) as i64
}

/// Round a Q32.32 value in decibels to tenths of a decibel (half away from zero).
fn to_db10(q: i128) -> i32 {
    let scaled = q * 10;
    let half = 1i128 << (FRAC - 1);
    let r = if scaled >= 0 {
        (scaled + half) >> FRAC
    } else {
        -((-scaled + half) >> FRAC)
    };
    r as i32
}

/// Free-space path loss over `distance_m` metres at `frequency_hz`, in tenths of a dB.
/// Distances under a metre count as one metre.
pub fn fspl_db10(distance_m: u64, frequency_hz: u64) -> i32 {
    let d = u128::from(distance_m.max(1));
    let q = 20 * (i128::from(log10_q32(d)) + i128::from(log10_frequency(frequency_hz)))
        + FSPL_CONST_Q32;
    to_db10(q)
}

/// [`log10_q32`] of a frequency, remembered per thread for the last one asked: an epoch
/// computes it for every witness of every beacon, nearly always on one band.
fn log10_frequency(frequency_hz: u64) -> i64 {
    thread_local! {
        static LAST: std::cell::Cell<(u64, i64)> = const { std::cell::Cell::new((1, 0)) };
    }
    let f = frequency_hz.max(1);
    LAST.with(|last| {
        let (hz, log) = last.get();
        if hz == f {
            return log;
        }
        let log = log10_q32(u128::from(f));
        last.set((f, log));
        log
    })
}

/// The most a receiver can hear, in dBm × 10: transmit power plus both antenna gains minus
/// the free-space loss over the distance.
pub fn max_rssi_dbm10(
    tx_power_dbm10: i32,
    gains_dbi10: i32,
    distance_m: u64,
    frequency_hz: u64,
) -> i32 {
    tx_power_dbm10 + gains_dbi10 - fspl_db10(distance_m, frequency_hz)
}

/// What a receiver typically hears under the log-distance model with path-loss exponent
/// `exponent_x10` / 10 (free space below a metre), dBm × 10: the yardstick the residual
/// check compares witnesses with.
pub fn model_rssi_dbm10(
    tx_power_dbm10: i32,
    gains_dbi10: i32,
    distance_m: u64,
    frequency_hz: u64,
    exponent_x10: i32,
) -> i32 {
    let d = u128::from(distance_m.max(1));
    // FSPL(1 m) + 10·n·log10(d), in Q32 then tenths of a dB.
    let q = i128::from(fspl_db10(1, frequency_hz)) * (1i128 << FRAC) / 10
        + i128::from(exponent_x10) * i128::from(log10_q32(d));
    tx_power_dbm10 + gains_dbi10 - to_db10(q)
}

/// A point on Earth in microdegrees.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
)]
pub struct Point {
    pub lat_udeg: i64,
    pub lng_udeg: i64,
}

impl Point {
    /// A point from microdegrees, refused ([`ReasonCode::ImpossibleCoordinates`]) beyond
    /// ±90° of latitude or ±180° of longitude.
    pub fn from_udeg(lat_udeg: i64, lng_udeg: i64) -> Result<Point, ReasonCode> {
        if lat_udeg.unsigned_abs() > 90_000_000 || lng_udeg.unsigned_abs() > 180_000_000 {
            return Err(ReasonCode::ImpossibleCoordinates);
        }
        Ok(Point { lat_udeg, lng_udeg })
    }

    /// The centre of an H3 cell, rounded to the microdegree.
    pub fn of(cell: Location) -> Point {
        let (lat_udeg, lng_udeg) = cell.center_udeg();
        Point { lat_udeg, lng_udeg }
    }

    /// Distance to `other` in metres (equirectangular, integer maths).
    pub fn distance_m(&self, other: &Point) -> u64 {
        let dlat = i128::from(other.lat_udeg - self.lat_udeg);
        let mut dlng = i128::from(other.lng_udeg - self.lng_udeg);
        // The short way round the antimeridian.
        if dlng > 180_000_000 {
            dlng -= 360_000_000;
        } else if dlng < -180_000_000 {
            dlng += 360_000_000;
        }
        let mean_lat = (self.lat_udeg + other.lat_udeg) / 2;
        let cos = i128::from(cos_q30(mean_lat));
        // Nanoradians: 17.4532925199 nrad per microdegree.
        let y = dlat * NRAD_PER_UDEG_E9 / 1_000_000_000;
        let x = (dlng * NRAD_PER_UDEG_E9 / 1_000_000_000 * cos) >> 30;
        let nrad = ((x * x + y * y) as u128).isqrt();
        // Rounded to the nearest metre.
        ((nrad * EARTH_RADIUS_MM + 500_000_000_000) / 1_000_000_000_000) as u64
    }
}

/// Nanoradians per microdegree, × 10⁹.
pub(crate) const NRAD_PER_UDEG_E9: i128 = 17_453_292_520;
/// The Earth's mean radius in millimetres.
pub(crate) const EARTH_RADIUS_MM: u128 = 6_371_008_800;

/// cos(angle) in Q2.30 for any angle in microdegrees (reduced to ±90°).
pub fn cos_any_q30(angle_udeg: i64) -> i64 {
    let a = angle_udeg.rem_euclid(360_000_000); // [0, 360°)
    let a = if a > 180_000_000 { a - 360_000_000 } else { a }; // (−180°, 180°]
    if a.abs() <= 90_000_000 {
        cos_q30(a)
    } else {
        -cos_q30(180_000_000 - a.abs())
    }
}

/// sin(angle) in Q2.30 for any angle in microdegrees.
pub fn sin_any_q30(angle_udeg: i64) -> i64 {
    cos_any_q30(90_000_000 - angle_udeg)
}

/// cos(angle) in Q2.30 for an angle in microdegrees within ±90°: a Taylor series in
/// fixed point, accurate to about 1e-9 there.
pub fn cos_q30(angle_udeg: i64) -> i64 {
    const ONE: i128 = 1 << 40;
    // The angle in radians, Q40.
    let a = i128::from(angle_udeg.clamp(-90_000_000, 90_000_000));
    let x = a * NRAD_PER_UDEG_E9 / 1_000_000_000 * ONE / 1_000_000_000;
    let x2 = (x * x) >> 40;
    // 1 − x²/2! + x⁴/4! − … − x¹⁴/14!: Horner's scheme from the highest term.
    let mut sum = ONE;
    for k in (1..=7i128).rev() {
        sum = ONE - ((x2 * sum) >> 40) / ((2 * k - 1) * (2 * k));
    }
    (sum >> 10) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logarithms_match_exact_values() {
        assert_eq!(log2_q32(1), 0);
        assert_eq!(log2_q32(1 << 20), 20 << 32);
        // log10(1000) = 3 to within a few units of 2^-32.
        let l = log10_q32(1000);
        assert!((l - (3 << 32)).abs() < 4, "{l}");
        // log10(915e6) = 8.961421094066… = 38,489,010,525 / 2^32 (within 1e-8: 43 units).
        let l = log10_q32(915_000_000);
        assert!((l - 38_489_010_525).abs() < 43, "{l}");
    }

    #[test]
    fn free_space_loss_table() {
        // (metres, hertz, tenths of a dB) from 20·log10(4π·d·f/c), worked by hand.
        for (d, f, want) in [
            (1_000, 915_000_000, 917),    // 91.676 dB
            (10_000, 915_000_000, 1117),  // 111.676 dB
            (100_000, 915_000_000, 1317), // 131.676 dB
            (300, 868_000_000, 808),      // 80.761 dB
            (1, 915_000_000, 317),        // 31.676 dB
            (2_000, 2_400_000_000, 1061), // 106.073 dB
        ] {
            assert_eq!(fspl_db10(d, f), want, "{d} m at {f} Hz");
        }
        // The log-distance model: exponent 2 is free space; 3.0 loses 30 dB more at 1 km.
        assert_eq!(model_rssi_dbm10(270, 60, 1_000, 915_000_000, 20), -587);
        assert_eq!(model_rssi_dbm10(270, 60, 1_000, 915_000_000, 30), -887);
        // Doubling the distance adds 6.02 dB.
        assert_eq!(
            fspl_db10(2_000, 915_000_000) - fspl_db10(1_000, 915_000_000),
            60
        );
        // 27 dBm with 6 dBi of antenna gains at 1 km: at most 27 + 6 − 91.7 = −58.7 dBm.
        assert_eq!(max_rssi_dbm10(270, 60, 1_000, 915_000_000), -587);
    }

    #[test]
    fn impossible_coordinates_are_refused() {
        assert!(Point::from_udeg(90_000_000, 180_000_000).is_ok());
        assert!(Point::from_udeg(-90_000_000, -180_000_000).is_ok());
        for (lat, lng) in [
            (90_000_001, 0),
            (-90_000_001, 0),
            (0, 180_000_001),
            (0, -180_000_001),
            (i64::MIN, 0),
            (0, i64::MAX),
        ] {
            assert_eq!(
                Point::from_udeg(lat, lng),
                Err(ReasonCode::ImpossibleCoordinates),
                "{lat} {lng}"
            );
        }
    }

    #[test]
    fn cosine_and_distances() {
        assert_eq!(cos_q30(0), 1 << 30);
        // cos 60° = 1/2 = 2^29 in Q2.30, within 1e-8 (11 units).
        let c60 = cos_q30(60_000_000);
        assert!((c60 - (1 << 29)).abs() < 11, "{c60}");
        let c90 = cos_q30(90_000_000);
        assert!(c90.abs() < 4, "{c90}");
        // One degree of latitude: 111,195 m on a sphere of the mean radius.
        let a = Point {
            lat_udeg: 0,
            lng_udeg: 0,
        };
        let b = Point {
            lat_udeg: 1_000_000,
            lng_udeg: 0,
        };
        assert_eq!(a.distance_m(&b), 111_195);
        // One degree of longitude at 60°: half that.
        let p = Point {
            lat_udeg: 60_000_000,
            lng_udeg: 10_000_000,
        };
        let q = Point {
            lat_udeg: 60_000_000,
            lng_udeg: 11_000_000,
        };
        let d = p.distance_m(&q);
        assert!((55_595..=55_600).contains(&d), "{d}");
        // Across the antimeridian the short way.
        let e = Point {
            lat_udeg: 0,
            lng_udeg: 179_950_000,
        };
        let w = Point {
            lat_udeg: 0,
            lng_udeg: -179_950_000,
        };
        assert_eq!(e.distance_m(&w), 11_120); // 0.1° at the equator: 11,119.5 m
    }
}
