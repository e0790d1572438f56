//! Sensor data quality under attack: honest weather stations (some with faulty sensors)
//! and every sensor cheat class in one seeded region, judged day after day by the real
//! per-station rules ([`cairn_verify::sensor`]), the cross-station checks
//! ([`cairn_verify::sensor_cross`]) and the identity detectors
//! ([`cairn_verify::identity`]).
//!
//! The weather is [`crate::world::WeatherWorld`]; what a station *reports* comes from its
//! class. An epoch is a day of readings every five minutes. At the day's close the
//! verifier judges every reading, scores each station's day, and runs the cross-station
//! checks; a flagged station's rewards are withheld from that day on. Rewards are the
//! daily quality score, with at most `cell_capacity` stations paid per H3 cell (ranked by
//! quality, then seniority).
//!
//! The cheats (PROOFS §5):
//! - **cloner**: reports another station's feed as its own, asserting a site near it;
//! - **replayer**: reports another station's feed 5–60 minutes late;
//! - **indoor**: a real station indoors (warm, damped, a little light from a window);
//! - **fabricator**: a series computed from a smooth climatological curve;
//! - **Sybil fleet**: one real station reporting under 4–8 keys of one owner, one maker
//!   batch, onboarded together, asserting sites kilometres apart, each key with its own
//!   offset and a little added noise.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::{Hash, KeyId, Keypair, Location, PublicKey};
use cairn_verify::identity::maker_flag_rates;
use cairn_verify::radio::Point;
use cairn_verify::sensor::{
    CellEntry, Quantity, Sample, SensorRules, cell_capacity, check_samples, daily_quality_ppm,
};
use cairn_verify::sensor_cross::{CrossParams, StationSeries, judge_stations};

use crate::quality::{QualityResult, Recorded};
use crate::world::{Place, Reading, Station, WeatherWorld, city_place, city_seed, normal, unit};

/// Who a simulated station really is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SensorClass {
    Honest,
    Cloner,
    Replayer,
    Indoor,
    Fabricator,
    Sybil,
}

impl SensorClass {
    pub fn label(self) -> &'static str {
        match self {
            SensorClass::Honest => "honest station",
            SensorClass::Cloner => "cloner",
            SensorClass::Replayer => "replayer (5-60 min late)",
            SensorClass::Indoor => "indoor station",
            SensorClass::Fabricator => "fabricated smooth series",
            SensorClass::Sybil => "Sybil fleet (one station, many keys)",
        }
    }
}

/// The region and its population.
#[derive(Debug, Clone)]
pub struct SensorSimConfig {
    pub seed: u64,
    pub honest: usize,
    /// Honest stations whose temperature sensor sticks at some point (millionths).
    pub faulty_ppm: u64,
    pub cloners: usize,
    pub replayers: usize,
    pub indoor: usize,
    pub fabricators: usize,
    /// Sybil fleets and keys per fleet.
    pub fleets: usize,
    pub fleet_size: usize,
    /// Days.
    pub epochs: u64,
    /// Which city of a larger network this is ([`crate::world::city_centre`]): its own
    /// place and seed. City 0 is the region itself.
    pub city: u64,
}

impl Default for SensorSimConfig {
    fn default() -> Self {
        SensorSimConfig {
            seed: 1,
            honest: 300,
            faulty_ppm: 50_000,
            cloners: 12,
            replayers: 12,
            indoor: 12,
            fabricators: 12,
            fleets: 3,
            fleet_size: 6,
            epochs: 3,
            city: 0,
        }
    }
}

impl SensorSimConfig {
    /// Stations in the region (keys, for Sybil fleets), every class together.
    pub fn devices(&self) -> usize {
        self.honest
            + self.cloners
            + self.replayers
            + self.indoor
            + self.fabricators
            + self.fleets * self.fleet_size
    }
}

/// Where a station's readings come from.
#[derive(Debug, Clone)]
enum Source {
    /// A real station measuring where it is (honest, or honest with a faulty sensor).
    Own(Station),
    /// Another station's readings, `lag` slots late, with a temperature offset.
    Copy {
        victim: usize,
        lag: u64,
        offset_c100: i64,
    },
    /// A real station indoors.
    Indoor(Station),
    /// A smooth curve: climatology plus a bias, no noise.
    Smooth { bias_c: f64 },
    /// One real station under many keys: its readings, this key's offset and noise.
    Fleet {
        station: Station,
        key_index: u64,
        offset_c100: i64,
    },
}

struct Device {
    key: KeyId,
    class: SensorClass,
    source: Source,
    /// The asserted site and elevation.
    asserted: Point,
    altitude_m: i64,
    cell: Location,
    owner: PublicKey,
    maker: PublicKey,
    onboarded: u64,
}

/// 2026-06-15 00:00 UTC, ms.
const DAY0_MS: u64 = 20_619 * 86_400_000;
const SLOT_MS: u64 = 300_000;
const SLOTS: usize = 288;

fn key_of(seed: u64, id: u64) -> KeyId {
    KeyId(
        *Hash::of(&[b"sensor".as_slice(), &seed.to_le_bytes(), &id.to_le_bytes()].concat())
            .as_bytes(),
    )
}

fn party(seed: u64, label: &str, n: u64) -> PublicKey {
    let h = Hash::of(&[label.as_bytes(), &seed.to_le_bytes(), &n.to_le_bytes()].concat());
    Keypair::from_seed(h.as_bytes()).public()
}

/// `km` kilometres from `(lat, lng)` on a seeded bearing.
fn near(seed: u64, id: u64, (lat, lng): (f64, f64), km: f64) -> (f64, f64) {
    let bearing = 2.0 * std::f64::consts::PI * unit(seed, "sensor-bearing", &[id]);
    (
        lat + km / 111.195 * bearing.cos(),
        lng + km / (111.195 * lat.to_radians().cos()) * bearing.sin(),
    )
}

fn build(c: &SensorSimConfig) -> Vec<Device> {
    let s = city_seed(c.seed, c.city);
    let region_place = |seed, label, id| city_place(c.city, seed, label, id);
    let mut out: Vec<Device> = Vec::new();
    let altitude = |id: u64| 50.0 + 300.0 * unit(s, "altitude", &[id]);
    let push = |out: &mut Vec<Device>,
                class,
                source,
                (lat, lng): (f64, f64),
                alt: f64,
                owner: PublicKey,
                maker: PublicKey,
                onboarded: u64| {
        let id = out.len() as u64;
        let cell = Location::from_degrees(lat, lng, 8).expect("valid point");
        out.push(Device {
            key: key_of(s, id),
            class,
            source,
            asserted: Point {
                lat_udeg: (lat * 1e6).round() as i64,
                lng_udeg: (lng * 1e6).round() as i64,
            },
            altitude_m: alt.round() as i64,
            cell,
            owner,
            maker,
            onboarded,
        });
    };
    let makers: Vec<PublicKey> = (0..5).map(|m| party(s, "maker", m)).collect();
    // Honest stations: most owners run one, a few companies run up to ten (one maker,
    // onboarded together: a real fleet the identity detector must leave alone).
    let mut owner_n = 0u64;
    let mut left_in_company = 0u64;
    let mut company_time = 0u64;
    let mut company_maker = 0usize;
    for i in 0..c.honest as u64 {
        let (owner, maker, onboarded) = if left_in_company > 0 {
            left_in_company -= 1;
            (
                party(s, "owner", owner_n),
                makers[company_maker],
                company_time + i % 7,
            )
        } else {
            owner_n += 1;
            if unit(s, "company", &[i]) < 0.05 {
                left_in_company = 3 + (7.0 * unit(s, "company-size", &[i])) as u64;
                company_time = (10_000.0 * unit(s, "onboard", &[i])) as u64;
                company_maker = (i % 5) as usize;
            }
            (
                party(s, "owner", owner_n),
                makers[(unit(s, "maker", &[i]) * 5.0) as usize % 5],
                (10_000.0 * unit(s, "onboard", &[i])) as u64,
            )
        };
        let p = region_place(s, "station", i);
        let alt = altitude(i);
        let mut station = Station::honest(
            s,
            i,
            Place {
                lat: p.0,
                lng: p.1,
                altitude_m: alt,
            },
        );
        if unit(s, "faulty", &[i]) * 1e6 < c.faulty_ppm as f64 {
            // Sticks some time during the run.
            let day = (unit(s, "stuck-day", &[i]) * c.epochs as f64) as u64;
            let at = (unit(s, "stuck-at", &[i]) * 86_400_000.0) as u64;
            station.stuck_from_ms = Some(DAY0_MS + day * 86_400_000 + at);
        }
        push(
            &mut out,
            SensorClass::Honest,
            Source::Own(station),
            p,
            alt,
            owner,
            maker,
            onboarded,
        );
    }
    let honest = c.honest.max(1) as u64;
    let victim_site = |v: usize| -> (f64, f64) { region_place(s, "station", v as u64) };
    // Dishonest stations join after the honest ones (height 10,000 on).
    let late = |i: u64| 10_000 + (5_000.0 * unit(s, "late", &[i])) as u64;
    for i in 0..c.cloners as u64 {
        let victim = (unit(s, "clone-victim", &[i]) * honest as f64) as usize;
        let at = near(
            s,
            100_000 + i,
            victim_site(victim),
            0.5 + 4.5 * unit(s, "clone-km", &[i]),
        );
        let offset_c100 = (30.0 * normal(s, "clone-offset", &[i])).round() as i64;
        push(
            &mut out,
            SensorClass::Cloner,
            Source::Copy {
                victim,
                lag: 0,
                offset_c100,
            },
            at,
            altitude(victim as u64),
            party(s, "cloner", i),
            makers[i as usize % 5],
            late(100_000 + i),
        );
    }
    for i in 0..c.replayers as u64 {
        let victim = (unit(s, "replay-victim", &[i]) * honest as f64) as usize;
        let at = near(
            s,
            200_000 + i,
            victim_site(victim),
            0.5 + 4.5 * unit(s, "replay-km", &[i]),
        );
        let lag = 1 + (unit(s, "replay-lag", &[i]) * 12.0) as u64;
        push(
            &mut out,
            SensorClass::Replayer,
            Source::Copy {
                victim,
                lag,
                offset_c100: 0,
            },
            at,
            altitude(victim as u64),
            party(s, "replayer", i),
            makers[i as usize % 5],
            late(200_000 + i),
        );
    }
    for i in 0..c.indoor as u64 {
        let p = region_place(s, "indoor", i);
        let alt = altitude(300_000 + i);
        let station = Station::honest(
            s,
            300_000 + i,
            Place {
                lat: p.0,
                lng: p.1,
                altitude_m: alt,
            },
        );
        push(
            &mut out,
            SensorClass::Indoor,
            Source::Indoor(station),
            p,
            alt,
            party(s, "indoor", i),
            makers[i as usize % 5],
            late(300_000 + i),
        );
    }
    for i in 0..c.fabricators as u64 {
        let p = region_place(s, "fabricator", i);
        push(
            &mut out,
            SensorClass::Fabricator,
            Source::Smooth {
                bias_c: normal(s, "fab-bias", &[i]),
            },
            p,
            altitude(400_000 + i),
            party(s, "fabricator", i),
            makers[i as usize % 5],
            late(400_000 + i),
        );
    }
    // Each fleet: one owner, one (rogue) maker batch, onboarded within a few blocks.
    let rogue = party(s, "rogue-maker", 0);
    for f in 0..c.fleets as u64 {
        let real = region_place(s, "fleet", f);
        let alt = altitude(500_000 + f);
        let station = Station::honest(
            s,
            500_000 + f,
            Place {
                lat: real.0,
                lng: real.1,
                altitude_m: alt,
            },
        );
        let owner = party(s, "fleet-owner", f);
        let t = late(500_000 + f);
        for j in 0..c.fleet_size as u64 {
            let at = near(
                s,
                600_000 + f * 100 + j,
                real,
                2.0 + 8.0 * unit(s, "fleet-km", &[f, j]),
            );
            push(
                &mut out,
                SensorClass::Sybil,
                Source::Fleet {
                    station: station.clone(),
                    key_index: j,
                    offset_c100: (50.0 * normal(s, "fleet-offset", &[f, j])).round() as i64,
                },
                at,
                alt,
                owner,
                rogue,
                t + j,
            );
        }
    }
    out
}

/// What an indoor station reports from what it would measure outside: a heated room
/// that follows the outside a little, damped humidity, and light through a window.
pub fn indoor_reading(seed: u64, station: u64, outdoor: Reading) -> Reading {
    let at_ms = outdoor.at_ms;
    let indoor_c = 21.0 + 0.15 * (outdoor.temperature_c100 as f64 / 100.0 - 15.0);
    Reading {
        temperature_c100: (indoor_c * 100.0).round() as i64
            + (10.0 * normal(seed, "indoor-noise", &[station, at_ms])).round() as i64,
        humidity_p100: 4_500 + (100.0 * normal(seed, "indoor-h", &[station, at_ms])).round() as i64,
        irradiance_w_m2: outdoor.irradiance_w_m2 * 3 / 100,
        ..outdoor
    }
}

/// A fabricated series: climatology at `place` (the mean diurnal cycle and the clear-sky
/// curve dimmed by the mean cloud) plus a bias, with no weather and no sensor in between.
pub fn smooth_reading(place: Place, bias_c: f64, at_ms: u64) -> Reading {
    let hours = at_ms as f64 / 3_600_000.0;
    let solar = (hours + place.lng / 15.0).rem_euclid(24.0);
    let diurnal = (2.0 * std::f64::consts::PI * (solar - 9.0) / 24.0).sin();
    let t = 15.0 + 5.0 * diurnal + bias_c - 0.0065 * place.altitude_m;
    let sun = crate::world::sun_elevation_sin(place.lat, place.lng, at_ms).max(0.0);
    Reading {
        at_ms,
        temperature_c100: (t * 100.0).round() as i64,
        humidity_p100: ((70.0 - 15.0 * diurnal) * 100.0).round() as i64,
        // The mean semidiurnal pressure tide, ±1 hPa.
        pressure_hpa100: (100_900.0 + 100.0 * (4.0 * std::f64::consts::PI * solar / 24.0).sin())
            .round() as i64,
        irradiance_w_m2: (650.0 * sun).round() as i64,
    }
}

/// One key of a Sybil fleet: the real station's reading with this key's temperature
/// offset and a little noise of its own.
pub fn fleet_reading(
    seed: u64,
    station: u64,
    key_index: u64,
    offset_c100: i64,
    r: Reading,
) -> Reading {
    Reading {
        temperature_c100: r.temperature_c100
            + offset_c100
            + (3.0 * normal(seed, "fleet-noise", &[station, key_index, r.at_ms])).round() as i64,
        ..r
    }
}

/// What device `i` reports at `at_ms` (`None`: nothing).
fn report(world: &WeatherWorld, devices: &[Device], i: usize, at_ms: u64) -> Option<Reading> {
    let s = world.seed;
    match &devices[i].source {
        Source::Own(station) => station.read(world, at_ms),
        Source::Copy {
            victim,
            lag,
            offset_c100,
        } => {
            let Source::Own(v) = &devices[*victim].source else {
                return None;
            };
            v.read(world, at_ms - lag * SLOT_MS).map(|r| Reading {
                at_ms,
                temperature_c100: r.temperature_c100 + offset_c100,
                ..r
            })
        }
        Source::Indoor(station) => station
            .read(world, at_ms)
            .map(|outdoor| indoor_reading(s, station.id, outdoor)),
        Source::Smooth { bias_c } => Some(smooth_reading(
            Place {
                lat: devices[i].asserted.lat_udeg as f64 / 1e6,
                lng: devices[i].asserted.lng_udeg as f64 / 1e6,
                altitude_m: devices[i].altitude_m as f64,
            },
            *bias_c,
            at_ms,
        )),
        Source::Fleet {
            station,
            key_index,
            offset_c100,
        } => station
            .read(world, at_ms)
            .map(|r| fleet_reading(s, station.id, *key_index, *offset_c100, r)),
    }
}

/// One station's day: its valid temperature (reduced to sea level by the standard lapse
/// rate from the asserted elevation) and irradiance per slot, and its quality score.
struct Day {
    temperature: Vec<Option<i64>>,
    irradiance: Vec<Option<i64>>,
    quality_ppm: u64,
}

fn judge_day(
    rules: &SensorRules,
    day_ms: u64,
    altitude_m: i64,
    readings: &[Option<Reading>],
) -> Day {
    let present: Vec<(usize, Reading)> = readings
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i, r)))
        .collect();
    // Which slots each quantity is valid in.
    let mut valid: BTreeMap<Quantity, Vec<bool>> = BTreeMap::new();
    for (q, get) in [
        (
            Quantity::Temperature,
            (|r: &Reading| r.temperature_c100) as fn(&Reading) -> i64,
        ),
        (Quantity::Humidity, |r: &Reading| r.humidity_p100),
        (Quantity::Pressure, |r: &Reading| r.pressure_hpa100),
        (Quantity::Irradiance, |r: &Reading| r.irradiance_w_m2),
    ] {
        let samples: Vec<Sample> = present
            .iter()
            .map(|(_, r)| Sample {
                at_ms: r.at_ms,
                value: get(r),
            })
            .collect();
        let mut ok = vec![false; SLOTS];
        for (sample, why) in check_samples(&rules.quantities[&q], &samples) {
            ok[((sample.at_ms - day_ms) / SLOT_MS) as usize] = why.is_none();
        }
        valid.insert(q, ok);
    }
    let mut temperature = vec![None; SLOTS];
    let mut irradiance = vec![None; SLOTS];
    let mut valid_at = Vec::new();
    for (i, r) in &present {
        if valid[&Quantity::Temperature][*i] {
            // 6.5 K per km: °C × 100 per metre × 0.65.
            temperature[*i] = Some(r.temperature_c100 + altitude_m * 65 / 100);
        }
        if valid[&Quantity::Irradiance][*i] {
            irradiance[*i] = Some(r.irradiance_w_m2);
        }
        // The day's quality counts readings valid in every quantity.
        if valid.values().all(|ok| ok[*i]) {
            valid_at.push(r.at_ms);
        }
    }
    Day {
        temperature,
        irradiance,
        quality_ppm: daily_quality_ppm(rules, day_ms, &valid_at),
    }
}

/// Run the simulation with the verifier's cross-station thresholds `t`.
pub fn run(c: &SensorSimConfig, t: &CrossParams) -> SensorSimResult {
    let (recorded, makers) = run_city(c, t);
    SensorSimResult {
        quality: recorded.tally().result(),
        makers,
    }
}

/// Run the simulation of one city: every station's class, when it was caught and what
/// it earned day by day, and the makers' flag rates.
pub fn run_city(c: &SensorSimConfig, t: &CrossParams) -> (Recorded, Vec<MakerLine>) {
    let seed = city_seed(c.seed, c.city);
    let world = WeatherWorld::new(seed);
    let rules = SensorRules::default();
    let devices = build(c);
    let n = devices.len();
    let mut recorded = Recorded::new(
        devices
            .iter()
            .map(|d| {
                (
                    d.key,
                    d.class.label().to_string(),
                    d.class == SensorClass::Honest,
                )
            })
            .collect(),
    );
    let index: BTreeMap<KeyId, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.key, i))
        .collect();
    for epoch in 1..=c.epochs {
        let day_ms = DAY0_MS + (epoch - 1) * 86_400_000;
        let days: Vec<Day> = (0..n)
            .map(|i| {
                let readings: Vec<Option<Reading>> = (0..SLOTS as u64)
                    .map(|k| report(&world, &devices, i, day_ms + k * SLOT_MS))
                    .collect();
                judge_day(&rules, day_ms, devices[i].altitude_m, &readings)
            })
            .collect();
        // The verifier's cross-station checks over the day; stations denylisted before
        // today are nobody's neighbour.
        let series: Vec<StationSeries<'_>> = devices
            .iter()
            .zip(&days)
            .enumerate()
            .map(|(i, (d, day))| StationSeries {
                device: d.key,
                site: d.asserted,
                owner: d.owner,
                maker: d.maker,
                onboarded: cairn_core::Height(d.onboarded),
                temperature: &day.temperature,
                irradiance: &day.irradiance,
                excluded: recorded.flagged_before(i, epoch),
            })
            .collect();
        for (k, reasons) in judge_stations(&series, day_ms, t) {
            if let Some(first) = reasons.first() {
                recorded.flag(index[&k], epoch, *first);
            }
        }
        // Rewards: the day's quality, at most `cell_capacity` stations per cell, ranked
        // by quality then seniority; denylisted stations hold no place (their rewards
        // are withheld).
        let entries: Vec<CellEntry> = devices
            .iter()
            .enumerate()
            .filter(|(i, _)| !recorded.is_flagged(*i))
            .map(|(i, d)| CellEntry {
                device: d.key,
                cell: d.cell,
                quality_ppm: days[i].quality_ppm,
                onboarded: cairn_core::Height(d.onboarded),
            })
            .collect();
        let paid: BTreeMap<usize, u128> = cell_capacity(&entries, rules.cell_capacity)
            .into_iter()
            .map(|k| (index[&k], u128::from(days[index[&k]].quality_ppm)))
            .collect();
        recorded.pay_epoch(paid);
    }
    let flagged: BTreeSet<KeyId> = devices
        .iter()
        .enumerate()
        .filter(|(i, _)| recorded.is_flagged(*i))
        .map(|(_, d)| d.key)
        .collect();
    // A maker whose devices are flagged far beyond the network's rate.
    let makers: Vec<(KeyId, PublicKey)> = devices.iter().map(|d| (d.key, d.maker)).collect();
    let rogue = party(seed, "rogue-maker", 0);
    let makers = maker_flag_rates(&makers, &flagged, 10)
        .into_iter()
        .map(|(maker, (devices, flagged, z_milli))| MakerLine {
            rogue: maker == rogue,
            devices,
            flagged,
            z_milli,
        })
        .collect();
    (recorded, makers)
}

/// One maker's flag rate against the network's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakerLine {
    /// The simulation's rogue batch (the Sybil fleets' maker).
    pub rogue: bool,
    pub devices: u64,
    pub flagged: u64,
    /// Binomial standard deviations above the network's rate, × 1000.
    pub z_milli: i64,
}

/// The sensor simulation's outcome: the quality table and the makers' flag rates.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSimResult {
    pub quality: QualityResult,
    pub makers: Vec<MakerLine>,
}

/// The result as a table.
pub fn table(r: &SensorSimResult) -> String {
    let mut out = crate::quality::table(&r.quality);
    out.push_str("makers (devices, flagged, z):");
    let mut makers = r.makers.clone();
    makers.sort_by_key(|m| std::cmp::Reverse(m.z_milli));
    for m in makers {
        out.push_str(&format!(
            "  {}{}/{} z={}.{}",
            if m.rogue { "rogue batch " } else { "" },
            m.flagged,
            m.devices,
            m.z_milli / 1_000,
            (m.z_milli % 1_000).abs() / 100,
        ));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full default region — 300 honest stations (5% with a sensor that sticks) and
    /// every cheat class over three days: the published targets hold.
    #[test]
    fn three_hundred_stations_meet_the_targets() {
        let c = SensorSimConfig::default();
        let r = run(&c, &CrossParams::default());
        println!("{}", table(&r));
        let q = &r.quality;
        assert_eq!(q.lines.len(), 6);
        if let Err(e) = q.meets_targets() {
            panic!("{e}\n{}", table(&r));
        }
        // The Sybil fleets' maker batch stands out from every honest maker.
        let rogue = r.makers.iter().find(|m| m.rogue).expect("the rogue batch");
        assert!(
            r.makers
                .iter()
                .filter(|m| !m.rogue)
                .all(|m| m.z_milli * 2 < rogue.z_milli),
            "{}",
            table(&r)
        );
    }

    /// The same seed replays exactly (a small region keeps it quick).
    #[test]
    fn the_same_seed_replays() {
        let c = SensorSimConfig {
            honest: 60,
            cloners: 2,
            replayers: 2,
            indoor: 2,
            fabricators: 2,
            fleets: 1,
            fleet_size: 4,
            epochs: 2,
            ..SensorSimConfig::default()
        };
        let r = run(&c, &CrossParams::default());
        assert_eq!(r.quality.lines.iter().map(|l| l.devices).sum::<usize>(), 72);
        assert_eq!(r, run(&c, &CrossParams::default()));
        assert_ne!(
            r,
            run(&SensorSimConfig { seed: 2, ..c }, &CrossParams::default())
        );
    }
}
