//! The simulated physical world: radio propagation and the weather. Seeded and
//! deterministic — the same seed, place and time always give the same value — so a whole
//! simulation replays bit for bit. Floating point is fine here: this is the physics the
//! real verifiers are tested against, not a verdict.
//!
//! **Radio** (PROOFS §3): log-distance path loss `PL(d) = FSPL(1 m) + 10·n·log10(d)` with an
//! exponent n per link drawn from 2.7–3.5, log-normal shadowing (σ per link, 6–8 dB, plus
//! a little per transmission), an occasional duct that carries a transmission close to
//! free space, a receiver sensitivity near −137 dBm, and backhaul latency that is
//! log-normal with a tail of a few seconds.
//!
//! **Weather** (PROOFS §5): a smooth truth field — a diurnal temperature cycle peaking mid
//! afternoon local solar time, fronts sweeping across the region every few days, the
//! altitude lapse rate (6.5 K/km), humidity falling as the air warms, pressure with the
//! fronts and the height, and clear-sky irradiance from the sun's elevation dimmed by
//! cloud. Stations measure it with their own bias, noise and quantisation, and realistic
//! faults: stuck values, spikes, gaps.

use std::f64::consts::PI;

/// Speed of light, m/s.
const C: f64 = 299_792_458.0;

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from a seed and labelled inputs (stateless, so any sample can be
/// drawn in any order and always comes out the same). A simulation draws millions of
/// these, so it is a SplitMix64 chain rather than a cryptographic hash.
pub fn unit(seed: u64, label: &str, inputs: &[u64]) -> f64 {
    let mut z = mix(seed);
    for b in label.bytes() {
        z = mix(z ^ u64::from(b));
    }
    for i in inputs {
        z = mix(z ^ *i);
    }
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal deviate (Box–Muller) from the same stateless source.
pub fn normal(seed: u64, label: &str, inputs: &[u64]) -> f64 {
    let u1 = unit(seed, label, inputs).max(1e-300);
    let mut more = inputs.to_vec();
    more.push(u64::MAX);
    let u2 = unit(seed, label, &more);
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Where the simulated region is centred, degrees.
pub const REGION_LAT: f64 = 48.0;
pub const REGION_LNG: f64 = 2.0;
/// Half the side of the square region, degrees of latitude (about 20 km).
pub const HALF_SIDE: f64 = 0.18;

/// A seeded point in the region, uniform over the square.
pub fn region_place(seed: u64, label: &str, id: u64) -> (f64, f64) {
    let lat = REGION_LAT + HALF_SIDE * (2.0 * unit(seed, label, &[id, 0]) - 1.0);
    let lng = REGION_LNG
        + HALF_SIDE / REGION_LAT.to_radians().cos() * (2.0 * unit(seed, label, &[id, 1]) - 1.0);
    (lat, lng)
}

/// Cities of a larger network: the region repeated on a grid, 2° of latitude (15 rows
/// from 34° to 62° N, alternating about 48°) by 4° of longitude apart — at least 200 km
/// between neighbouring cities' edges, beyond any radio's horizon here and beyond the 100
/// km a witness may be from a beacon, so each city is simulated and judged on its own.
/// City 0 is the region itself.
pub fn city_centre(city: u64) -> (f64, f64) {
    const ROWS: u64 = 15;
    let row = (city % ROWS) as f64;
    let col = (city / ROWS) as f64;
    // 0, +2, −2, +4, −4, … degrees of latitude.
    let step = ((row + 1.0) / 2.0).floor() * if row as u64 % 2 == 1 { 1.0 } else { -1.0 };
    let lng = (REGION_LNG + 4.0 * col + 180.0).rem_euclid(360.0) - 180.0;
    (REGION_LAT + 2.0 * step, lng)
}

/// A city's own seed: city 0 keeps the network's, so a one-city run is the region's.
pub fn city_seed(seed: u64, city: u64) -> u64 {
    if city == 0 {
        seed
    } else {
        mix(seed ^ mix(city))
    }
}

/// [`region_place`] moved to a city's centre.
pub fn city_place(city: u64, seed: u64, label: &str, id: u64) -> (f64, f64) {
    let (lat, lng) = region_place(seed, label, id);
    if city == 0 {
        return (lat, lng);
    }
    let (clat, clng) = city_centre(city);
    let scale = REGION_LAT.to_radians().cos() / clat.to_radians().cos();
    (lat - REGION_LAT + clat, (lng - REGION_LNG) * scale + clng)
}

/// Great-circle distance between two (lat, lng) points in degrees, metres.
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

/// Free-space path loss in dB.
pub fn fspl_db(distance_m: f64, frequency_hz: f64) -> f64 {
    20.0 * (4.0 * PI * distance_m.max(1.0) * frequency_hz / C).log10()
}

/// The radio environment.
#[derive(Debug, Clone)]
pub struct RadioWorld {
    pub seed: u64,
    pub exponent_min: f64,
    pub exponent_max: f64,
    pub shadowing_sigma_min_db: f64,
    pub shadowing_sigma_max_db: f64,
    /// Per-transmission fading on top of the link's fixed shadowing, dB (σ).
    pub fading_sigma_db: f64,
    /// Chance a transmission rides a duct (then the loss is free space plus 0–3 dB).
    pub duct_probability: f64,
    pub sensitivity_dbm: f64,
    /// Backhaul latency: median and log-normal σ.
    pub latency_median_ms: f64,
    pub latency_sigma: f64,
}

impl RadioWorld {
    pub fn new(seed: u64) -> RadioWorld {
        RadioWorld {
            seed,
            exponent_min: 2.7,
            exponent_max: 3.5,
            shadowing_sigma_min_db: 6.0,
            shadowing_sigma_max_db: 8.0,
            fading_sigma_db: 1.0,
            duct_probability: 0.002,
            sensitivity_dbm: -137.0,
            latency_median_ms: 120.0,
            latency_sigma: 0.9,
        }
    }

    /// The path-loss exponent of a device's surroundings (open country low, built-up
    /// high).
    fn environment(&self, device: u64) -> f64 {
        self.exponent_min
            + (self.exponent_max - self.exponent_min) * unit(self.seed, "exponent", &[device])
    }

    /// A link's fixed character (the same both ways): its path-loss exponent (the mean of
    /// both ends' surroundings) and its shadowing in dB.
    fn link(&self, a: u64, b: u64) -> (f64, f64) {
        let (lo, hi) = (a.min(b), a.max(b));
        let n = (self.environment(lo) + self.environment(hi)) / 2.0;
        let sigma = self.shadowing_sigma_min_db
            + (self.shadowing_sigma_max_db - self.shadowing_sigma_min_db)
                * unit(self.seed, "sigma", &[lo, hi]);
        (n, sigma * normal(self.seed, "shadowing", &[lo, hi]))
    }

    /// What receiver `rx` hears of transmission `tx_id` from `tx` over `distance_m`, in
    /// dBm (`None`: below its sensitivity). Antenna gains in dBi.
    #[allow(clippy::too_many_arguments)]
    pub fn received_dbm(
        &self,
        tx: u64,
        rx: u64,
        tx_id: u64,
        distance_m: f64,
        frequency_hz: f64,
        tx_power_dbm: f64,
        gains_dbi: f64,
    ) -> Option<f64> {
        let d = distance_m.max(1.0);
        let fspl = fspl_db(d, frequency_hz);
        let loss = if unit(self.seed, "duct", &[tx, rx, tx_id]) < self.duct_probability {
            fspl + 3.0 * unit(self.seed, "duct-loss", &[tx, rx, tx_id])
        } else {
            let (n, shadowing) = self.link(tx, rx);
            let fading = self.fading_sigma_db * normal(self.seed, "fading", &[tx, rx, tx_id]);
            // Never better than free space: physics does not amplify.
            (fspl_db(1.0, frequency_hz) + 10.0 * n * d.log10() + shadowing + fading).max(fspl)
        };
        let rssi = tx_power_dbm + gains_dbi - loss;
        (rssi >= self.sensitivity_dbm).then_some(rssi)
    }

    /// Backhaul latency for one report, ms: log-normal, so mostly a fraction of a second
    /// with a tail to a few seconds.
    pub fn latency_ms(&self, device: u64, report: u64) -> u64 {
        let z = normal(self.seed, "latency", &[device, report]);
        (self.latency_median_ms * (self.latency_sigma * z).exp()).round() as u64
    }
}

/// A point for the weather: degrees and metres above sea level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub lat: f64,
    pub lng: f64,
    pub altitude_m: f64,
}

/// The true weather at a place and time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weather {
    pub temperature_c: f64,
    pub humidity_pct: f64,
    pub pressure_hpa: f64,
    pub irradiance_w_m2: f64,
}

/// Sine of the sun's elevation at a place and Unix time (ms).
pub fn sun_elevation_sin(lat: f64, lng: f64, unix_ms: u64) -> f64 {
    let days = unix_ms as f64 / 86_400_000.0;
    let day_of_year = days.rem_euclid(365.242);
    let decl = (-23.44f64).to_radians() * (2.0 * PI * (day_of_year + 10.0) / 365.0).cos();
    let utc_hours = (unix_ms % 86_400_000) as f64 / 3_600_000.0;
    let hour_angle = (15.0 * (utc_hours - 12.0) + lng).to_radians();
    let lat = lat.to_radians();
    lat.sin() * decl.sin() + lat.cos() * decl.cos() * hour_angle.cos()
}

/// The weather field of a region.
#[derive(Debug, Clone)]
pub struct WeatherWorld {
    pub seed: u64,
    /// Sea-level mean temperature at the region's latitude, °C.
    pub mean_temperature_c: f64,
    /// Half the day's temperature swing, °C.
    pub diurnal_amplitude_c: f64,
    /// Fronts: period (days), temperature (°C) and pressure (hPa) amplitudes, and the
    /// wavelength (km) of the pattern sweeping across the region.
    pub front_period_days: f64,
    pub front_temperature_c: f64,
    pub front_pressure_hpa: f64,
    pub front_wavelength_km: f64,
}

impl WeatherWorld {
    pub fn new(seed: u64) -> WeatherWorld {
        WeatherWorld {
            seed,
            mean_temperature_c: 15.0,
            diurnal_amplitude_c: 5.0,
            front_period_days: 4.0,
            front_temperature_c: 4.0,
            front_pressure_hpa: 12.0,
            front_wavelength_km: 1_500.0,
        }
    }

    /// The truth at `p` and Unix time `unix_ms`: smooth in space and time.
    pub fn truth(&self, p: &Place, unix_ms: u64) -> Weather {
        let hours = unix_ms as f64 / 3_600_000.0;
        // Local solar time: the diurnal cycle peaks at 15:00.
        let solar_hour = (hours + p.lng / 15.0).rem_euclid(24.0);
        let diurnal = (2.0 * PI * (solar_hour - 9.0) / 24.0).sin();
        // Fronts travel west to east: a phase in space (km along the east axis) and time.
        let phase0 = 2.0 * PI * unit(self.seed, "front-phase", &[]);
        let km_east = p.lng * 111.32 * p.lat.to_radians().cos();
        let front = (2.0
            * PI
            * (hours / (24.0 * self.front_period_days) - km_east / self.front_wavelength_km)
            + phase0)
            .sin();
        let temperature = self.mean_temperature_c
            + self.diurnal_amplitude_c * diurnal
            + self.front_temperature_c * front
            - 0.0065 * p.altitude_m;
        // Humidity falls as the day warms and rises ahead of a front.
        let humidity = (70.0 - 15.0 * diurnal + 10.0 * front).clamp(15.0, 98.0);
        // Pressure: lower with height (about 12 hPa per 100 m) and in a front's trough.
        let pressure = 1013.25 * (1.0 - 2.25577e-5 * p.altitude_m).powf(5.25588)
            + self.front_pressure_hpa * (-front);
        // Clear sky dimmed by cloud, more cloud in a front.
        let sun = sun_elevation_sin(p.lat, p.lng, unix_ms).max(0.0);
        let cloud = (0.35 + 0.3 * front).clamp(0.0, 0.9);
        let irradiance = 1_000.0 * sun * (1.0 - cloud);
        Weather {
            temperature_c: temperature,
            humidity_pct: humidity,
            pressure_hpa: pressure,
            irradiance_w_m2: irradiance,
        }
    }
}

/// How one station measures: its own bias and noise, quantised like the protocol.
#[derive(Debug, Clone)]
pub struct Station {
    pub id: u64,
    pub place: Place,
    pub temperature_bias_c: f64,
    pub noise_temperature_c: f64,
    pub noise_humidity_pct: f64,
    pub noise_pressure_hpa: f64,
    /// Chance per reading of a spike, and of a missing reading.
    pub spike_probability: f64,
    pub gap_probability: f64,
    /// From this time on the temperature sensor is stuck at its last value (the other
    /// sensors keep measuring).
    pub stuck_from_ms: Option<u64>,
}

/// A reading as a station reports it (protocol fixed point), or nothing (a gap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub at_ms: u64,
    pub temperature_c100: i64,
    pub humidity_p100: i64,
    pub pressure_hpa100: i64,
    pub irradiance_w_m2: i64,
}

impl Station {
    /// An ordinary honest station at `place` with small, seeded calibration errors.
    pub fn honest(seed: u64, id: u64, place: Place) -> Station {
        Station {
            id,
            place,
            temperature_bias_c: 0.3 * normal(seed, "bias", &[id]),
            noise_temperature_c: 0.1,
            noise_humidity_pct: 1.0,
            noise_pressure_hpa: 0.1,
            spike_probability: 0.0005,
            gap_probability: 0.01,
            stuck_from_ms: None,
        }
    }

    /// What the station reports at `unix_ms` (`None`: a gap).
    pub fn read(&self, world: &WeatherWorld, unix_ms: u64) -> Option<Reading> {
        let s = world.seed;
        if unit(s, "gap", &[self.id, unix_ms]) < self.gap_probability {
            return None;
        }
        // A stuck temperature sensor repeats what it last measured; the others go on.
        let measure_at = match self.stuck_from_ms {
            Some(t) if unix_ms >= t => t,
            _ => unix_ms,
        };
        let truth = world.truth(&self.place, unix_ms);
        let mut temperature = world.truth(&self.place, measure_at).temperature_c
            + self.temperature_bias_c
            + self.noise_temperature_c * normal(s, "t-noise", &[self.id, measure_at]);
        if unit(s, "spike", &[self.id, unix_ms]) < self.spike_probability {
            temperature += 25.0;
        }
        let humidity = truth.humidity_pct
            + self.noise_humidity_pct * normal(s, "h-noise", &[self.id, unix_ms]);
        let pressure = truth.pressure_hpa
            + self.noise_pressure_hpa * normal(s, "p-noise", &[self.id, unix_ms]);
        let irradiance =
            truth.irradiance_w_m2 * (1.0 + 0.03 * normal(s, "i-noise", &[self.id, unix_ms]));
        Some(Reading {
            at_ms: unix_ms,
            temperature_c100: (temperature * 100.0).round() as i64,
            humidity_p100: (humidity.clamp(0.0, 100.0) * 100.0).round() as i64,
            pressure_hpa100: (pressure * 100.0).round() as i64,
            irradiance_w_m2: irradiance.max(0.0).round() as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_matches_the_worked_figures() {
        assert!((fspl_db(1_000.0, 915e6) - 91.676).abs() < 0.001);
        assert!((fspl_db(10_000.0, 915e6) - 111.676).abs() < 0.001);
    }

    #[test]
    fn radio_is_deterministic_below_free_space_and_reaches_a_few_kilometres() {
        let w = RadioWorld::new(7);
        let at = |d: f64, tx_id| w.received_dbm(1, 2, tx_id, d, 915e6, 27.0, 6.0);
        assert_eq!(at(2_000.0, 5), at(2_000.0, 5));
        // Never above the free-space bound.
        for tx_id in 0..2_000 {
            if let Some(r) = at(3_000.0, tx_id) {
                assert!(r <= 27.0 + 6.0 - fspl_db(3_000.0, 915e6) + 1e-9);
            }
        }
        // Over many links: nearly all heard at 1 km, far fewer at 60 km (the steeper
        // exponents and the shadowing cut them off).
        let heard = |d: f64| {
            (0..400u64)
                .filter(|l| {
                    w.received_dbm(10 + l, 1_000 + l, 0, d, 915e6, 27.0, 6.0)
                        .is_some()
                })
                .count()
        };
        assert!(heard(1_000.0) > 390, "{}", heard(1_000.0));
        assert!(
            heard(60_000.0) < heard(10_000.0) / 2,
            "{} {}",
            heard(60_000.0),
            heard(10_000.0)
        );
        // Latency: mostly well under a second, occasionally seconds.
        let lat: Vec<u64> = (0..10_000).map(|i| w.latency_ms(1, i)).collect();
        let over_1s = lat.iter().filter(|l| **l > 1_000).count();
        assert!(over_1s > 0 && over_1s < 300, "{over_1s}");
    }

    #[test]
    fn weather_is_smooth_diurnal_and_follows_height() {
        let w = WeatherWorld::new(3);
        let p = Place {
            lat: 48.0,
            lng: 0.0,
            altitude_m: 0.0,
        };
        let day = 170 * 86_400_000;
        let afternoon = w.truth(&p, day + 15 * 3_600_000);
        let dawn = w.truth(&p, day + 4 * 3_600_000);
        assert!(afternoon.temperature_c > dawn.temperature_c + 5.0);
        assert!(afternoon.irradiance_w_m2 > 300.0 && dawn.irradiance_w_m2 < 50.0);
        // 1,000 m up: 6.5 °C colder, about 110 hPa lower.
        let high = w.truth(
            &Place {
                altitude_m: 1_000.0,
                ..p
            },
            day + 15 * 3_600_000,
        );
        assert!((afternoon.temperature_c - high.temperature_c - 6.5).abs() < 1e-9);
        assert!((afternoon.pressure_hpa - high.pressure_hpa - 113.9).abs() < 1.0);
        // Five minutes apart the truth barely moves.
        let next = w.truth(&p, day + 15 * 3_600_000 + 300_000);
        assert!((next.temperature_c - afternoon.temperature_c).abs() < 0.2);
    }

    #[test]
    fn stations_measure_with_noise_gaps_and_faults() {
        let w = WeatherWorld::new(3);
        let p = Place {
            lat: 48.0,
            lng: 2.0,
            altitude_m: 100.0,
        };
        let s = Station::honest(3, 1, p);
        let day = 170 * 86_400_000;
        let readings: Vec<Option<Reading>> =
            (0..288).map(|i| s.read(&w, day + i * 300_000)).collect();
        let gaps = readings.iter().filter(|r| r.is_none()).count();
        assert!(gaps < 15, "{gaps}");
        assert_eq!(
            readings,
            (0..288)
                .map(|i| s.read(&w, day + i * 300_000))
                .collect::<Vec<_>>()
        );
        let stuck = Station {
            stuck_from_ms: Some(day),
            gap_probability: 0.0,
            ..s.clone()
        };
        let a = stuck.read(&w, day + 3_600_000).unwrap();
        let b = stuck.read(&w, day + 7_200_000).unwrap();
        assert_eq!(a.temperature_c100, b.temperature_c100);
    }
}
