//! Proof of coverage under attack: honest radios and every cheat class in one seeded
//! region, judged by the real coverage rules and detectors, epoch after epoch.
//!
//! The physics comes from [`crate::world::RadioWorld`]; what a device *reports* comes from
//! its class. Each epoch every device beacons once at a transmit power the network picks
//! at random; whoever hears it (or claims to) reports a witness. Every witness goes through
//! [`cairn_verify::coverage`]'s rules; the epoch's valid links go through
//! [`cairn_verify::coverage_graph`]'s detectors; a device a detector flags is denylisted
//! from the next epoch on (its rewards withheld). Rewards are reward units × density scale,
//! so the table can report the share of the epoch's coverage rewards dishonest devices
//! received.
//!
//! The cheats (PROOFS §3):
//! - **spoofer**: a real radio asserting a site 2–100 km from where it is;
//! - **farm**: 5–50 radios in one box asserting sites scattered over kilometres, reporting
//!   each other attenuated to sit just under the free-space bound;
//! - **relay ring**: devices far apart forwarding each other's beacons over the internet
//!   and inventing RSSI (they cannot know the transmit power);
//! - **gain inflator**: a real radio at its real site reporting 10 dB more than it hears.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::{Hash, KeyId, Location};
use cairn_verify::ReasonCode;
use cairn_verify::coverage::{Beacon, CoverageParams, Witness, judge_witnesses};
use cairn_verify::coverage_graph::{DetectInput, DetectParams, Link, beacon_units, detect};
use cairn_verify::density::{DensityParams, density_scales};
use cairn_verify::radio::{Point, max_rssi_dbm10, model_rssi_dbm10};

use crate::quality::QualityResult;
use crate::quality::Recorded;
use crate::world::{RadioWorld, city_place, city_seed, haversine_m, normal, unit};

/// Who a simulated coverage device really is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CoverageClass {
    Honest,
    Spoofer,
    Farm,
    RelayRing,
    GainInflator,
}

impl CoverageClass {
    pub fn label(self) -> &'static str {
        match self {
            CoverageClass::Honest => "honest",
            CoverageClass::Spoofer => "location spoofer (2-100 km)",
            CoverageClass::Farm => "farm (radios in one box)",
            CoverageClass::RelayRing => "relay ring (invented RSSI)",
            CoverageClass::GainInflator => "antenna-gain inflator (+10 dB)",
        }
    }
}

/// The region and its population.
#[derive(Debug, Clone)]
pub struct CoverageSimConfig {
    pub seed: u64,
    pub honest: usize,
    pub spoofers: usize,
    /// Farms and radios per farm.
    pub farms: usize,
    pub farm_size: usize,
    /// Relay rings and devices per ring.
    pub rings: usize,
    pub ring_size: usize,
    pub inflators: usize,
    pub epochs: u64,
    /// Beacons per device per epoch (one per beacon window).
    pub beacons_per_epoch: u64,
    /// Which city of a larger network this is ([`crate::world::city_centre`]): its own
    /// place and seed. City 0 is the region itself.
    pub city: u64,
}

impl Default for CoverageSimConfig {
    fn default() -> Self {
        CoverageSimConfig {
            seed: 1,
            honest: 400,
            spoofers: 20,
            farms: 3,
            farm_size: 12,
            rings: 3,
            ring_size: 5,
            inflators: 15,
            epochs: 6,
            beacons_per_epoch: 4,
            city: 0,
        }
    }
}

impl CoverageSimConfig {
    /// Radios in the region, every class together.
    pub fn devices(&self) -> usize {
        self.honest
            + self.spoofers
            + self.farms * self.farm_size
            + self.rings * self.ring_size
            + self.inflators
    }
}

struct Device {
    key: KeyId,
    id: u64,
    class: CoverageClass,
    /// Where the radio really is (degrees).
    lat: f64,
    lng: f64,
    /// The group (farm or ring) it belongs to.
    group: Option<usize>,
    asserted: Point,
    cell: Location,
}

const FREQ: u64 = 915_000_000;
const GAINS_DBI10: i32 = 60;

fn key_of(seed: u64, id: u64) -> KeyId {
    KeyId(*Hash::of(&[seed.to_le_bytes(), id.to_le_bytes()].concat()).as_bytes())
}

/// Move a point `km` kilometres on a random bearing.
fn offset(seed: u64, id: u64, (lat, lng): (f64, f64), km: f64) -> (f64, f64) {
    let bearing = 2.0 * std::f64::consts::PI * unit(seed, "bearing", &[id]);
    let dlat = km / 111.195 * bearing.cos();
    let dlng = km / (111.195 * lat.to_radians().cos()) * bearing.sin();
    (lat + dlat, lng + dlng)
}

/// What a farm radio reports on hearing a box-mate's beacon: 1–3 dB under the free-space
/// bound for the asserted distance (`bound_dbm10`), through a fixed attenuator per pair
/// of radios (so it still follows the transmit power).
pub fn farm_rssi_dbm10(seed: u64, bound_dbm10: i32, a: u64, b: u64) -> i32 {
    bound_dbm10 - 10 - (20.0 * unit(seed, "attenuator", &[a.min(b), a.max(b)])) as i32
}

/// What a relay ring member invents for a beacon forwarded over the internet: a plausible
/// RSSI for the asserted distance at full power (it cannot know the drawn power), with
/// ±6 dB of noise.
pub fn relay_rssi_dbm10(
    seed: u64,
    asserted_distance_m: u64,
    frequency_hz: u64,
    beacon: u64,
    witness: u64,
) -> i32 {
    let typical = model_rssi_dbm10(270, GAINS_DBI10, asserted_distance_m, frequency_hz, 31);
    typical + (60.0 * normal(seed, "relay-rssi", &[beacon, witness])) as i32
}

/// The extra delay of forwarding a beacon over the internet, ms.
pub fn relay_lag_ms(seed: u64, beacon: u64, witness: u64) -> u64 {
    300 + (700.0 * unit(seed, "relay-lag", &[beacon, witness])) as u64
}

/// How much a gain inflator adds to what it hears, dB × 10.
pub const INFLATION_DB10: i32 = 100;

fn build(c: &CoverageSimConfig) -> Vec<Device> {
    let s = city_seed(c.seed, c.city);
    let region_place = |seed, label, id| city_place(c.city, seed, label, id);
    let mut out = Vec::new();
    let mut next = 0u64;
    let mut push = |class, (lat, lng): (f64, f64), asserted: (f64, f64), group| {
        let id = next;
        next += 1;
        let cell = Location::from_degrees(asserted.0, asserted.1, 12).expect("valid point");
        let (lat_udeg, lng_udeg) = cell.center_udeg();
        out.push(Device {
            key: key_of(s, id),
            id,
            class,
            lat,
            lng,
            group,
            asserted: Point { lat_udeg, lng_udeg },
            cell,
        });
    };
    for i in 0..c.honest as u64 {
        let p = region_place(s, "honest", i);
        push(CoverageClass::Honest, p, p, None);
    }
    for i in 0..c.spoofers as u64 {
        let p = region_place(s, "spoofer", i);
        let km = 2.0 + 98.0 * unit(s, "spoof-km", &[i]);
        push(CoverageClass::Spoofer, p, offset(s, 1_000 + i, p, km), None);
    }
    for f in 0..c.farms {
        let p = region_place(s, "farm", f as u64);
        for j in 0..c.farm_size as u64 {
            // Asserted sites 1-8 km from the box, scattered.
            let km = 1.0 + 7.0 * unit(s, "farm-km", &[f as u64, j]);
            let asserted = offset(s, 10_000 + f as u64 * 100 + j, p, km);
            push(CoverageClass::Farm, p, asserted, Some(f));
        }
    }
    for r in 0..c.rings {
        for j in 0..c.ring_size as u64 {
            // Real, honest sites far from each other; the relays make them "hear" each
            // other.
            let p = region_place(s, "ring", (r * 100) as u64 + j);
            push(CoverageClass::RelayRing, p, p, Some(c.farms + r));
        }
    }
    for i in 0..c.inflators as u64 {
        let p = region_place(s, "inflator", i);
        push(CoverageClass::GainInflator, p, p, None);
    }
    out
}

/// Run the simulation with the verifier's detector thresholds `t`: the quality table.
pub fn run(c: &CoverageSimConfig, t: &DetectParams) -> QualityResult {
    run_city(c, t).tally().result()
}

/// Run the simulation of one city with the verifier's detector thresholds `t`: every
/// device's class, when it was caught, and what it earned epoch by epoch.
pub fn run_city(c: &CoverageSimConfig, t: &DetectParams) -> Recorded {
    let s = city_seed(c.seed, c.city);
    let world = RadioWorld::new(s);
    let params = CoverageParams::default();
    let devices = build(c);
    let by_key: BTreeMap<KeyId, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.key, i))
        .collect();
    let locations: BTreeMap<KeyId, Point> = devices.iter().map(|d| (d.key, d.asserted)).collect();
    let density = density_scales(
        &DensityParams::default(),
        &devices.iter().map(|d| (d.key, d.cell)).collect::<Vec<_>>(),
    );
    let mut recorded = Recorded::new(
        devices
            .iter()
            .map(|d| {
                (
                    d.key,
                    d.class.label().to_string(),
                    d.class == CoverageClass::Honest,
                )
            })
            .collect(),
    );
    let mut window: Vec<Vec<Link>> = Vec::new();
    let mut heard_window: Vec<Vec<(KeyId, KeyId, i32)>> = Vec::new();
    for epoch in 1..=c.epochs {
        let mut links: Vec<Link> = Vec::new();
        // Every report of a beacon heard (whatever the rules said of it), for
        // localisation: the witnesses that break the free-space bound for the asserted
        // site are the ones that know best where the beaconer is.
        let mut heard: Vec<(KeyId, KeyId, i32)> = Vec::new();
        let mut units: BTreeMap<KeyId, u128> = BTreeMap::new();
        // Witness reports each device took part in, and how many broke the distance or
        // free-space rules.
        let mut reports: BTreeMap<KeyId, (u64, u64)> = BTreeMap::new();
        for (bi, b) in devices
            .iter()
            .enumerate()
            .flat_map(|(i, d)| (0..c.beacons_per_epoch).map(move |n| (i * 16 + n as usize, d)))
        {
            let beacon_id = epoch * 1_000_000 + bi as u64;
            let powers = &params.tx_powers_dbm10;
            let tx = powers
                [(unit(s, "power", &[beacon_id]) * powers.len() as f64) as usize % powers.len()];
            let reported_ms = 1_000_000 + epoch * 3_600_000;
            let beacon = Beacon {
                beaconer: b.key,
                location: b.asserted,
                region: 1,
                frequency_hz: FREQ,
                tx_power_dbm10: tx,
                payload: Hash::of(&beacon_id.to_le_bytes()),
                entropy_ms: reported_ms - 60_000,
                reported_ms,
            };
            let mut witnesses = Vec::new();
            for w in &devices {
                if w.id == b.id {
                    continue;
                }
                let same_group = b.group.is_some() && b.group == w.group;
                let asserted_d = b.asserted.distance_m(&w.asserted);
                let bound = max_rssi_dbm10(tx, GAINS_DBI10, asserted_d, FREQ);
                let rssi: Option<i32> = match (w.class, same_group) {
                    // A farm's radios hear each other at arm's length and attenuate the
                    // reports to sit 1-3 dB under the bound for the asserted distance
                    // (a fixed attenuator: it still follows the transmit power).
                    (CoverageClass::Farm, true) => Some(farm_rssi_dbm10(s, bound, b.id, w.id)),
                    // Relays invent a plausible RSSI without knowing the power.
                    (CoverageClass::RelayRing, true) => {
                        Some(relay_rssi_dbm10(s, asserted_d, FREQ, beacon_id, w.id))
                    }
                    // Everyone else reports what the radio really hears.
                    _ => {
                        let d = haversine_m((b.lat, b.lng), (w.lat, w.lng));
                        world
                            .received_dbm(
                                b.id,
                                w.id,
                                beacon_id,
                                d,
                                FREQ as f64,
                                f64::from(tx) / 10.0,
                                f64::from(GAINS_DBI10) / 10.0,
                            )
                            .map(|dbm| {
                                let r = (dbm * 10.0).round() as i32;
                                if w.class == CoverageClass::GainInflator {
                                    r + INFLATION_DB10
                                } else {
                                    r
                                }
                            })
                    }
                };
                let Some(rssi) = rssi else { continue };
                // Farm radios do not report what they hear from outside the box (their
                // asserted sites would give them away at once).
                if w.class == CoverageClass::Farm && !same_group {
                    continue;
                }
                let lag = world.latency_ms(w.id, beacon_id)
                    + if w.class == CoverageClass::RelayRing && same_group {
                        relay_lag_ms(s, beacon_id, w.id)
                    } else {
                        0
                    };
                witnesses.push(Witness {
                    witness: w.key,
                    location: Some(w.asserted),
                    region: 1,
                    payload: beacon.payload,
                    rssi_dbm10: rssi,
                    frequency_hz: FREQ,
                    reported_ms: reported_ms + lag,
                    known: true,
                    denylisted: recorded.is_flagged(by_key[&w.key]),
                    pair_denylisted: false,
                    beaconed_recently: true,
                });
            }
            let verdicts = judge_witnesses(&params, &beacon, &witnesses);
            heard.extend(
                witnesses
                    .iter()
                    .filter(|w| !w.denylisted)
                    .map(|w| (b.key, w.witness, w.rssi_dbm10 - tx)),
            );
            let first_ms = witnesses
                .iter()
                .map(|w| w.reported_ms)
                .min()
                .unwrap_or(reported_ms);
            for (wk, v) in &verdicts {
                let broke = matches!(
                    v,
                    Err(ReasonCode::RssiAboveFreeSpace | ReasonCode::WitnessTooFar)
                );
                for k in [b.key, *wk] {
                    let r = reports.entry(k).or_default();
                    r.0 += 1;
                    r.1 += u64::from(broke);
                }
            }
            let mut valid = 0u64;
            for ((wk, v), w) in verdicts.iter().zip({
                let mut sorted: Vec<&Witness> = witnesses.iter().collect();
                sorted.sort_by_key(|w| (w.reported_ms, w.witness));
                sorted
            }) {
                if v.is_ok() {
                    valid += 1;
                }
                // Detectors look at every witness that passed the rules, paid or past
                // the cap: all of them heard the beacon.
                if v.is_ok() || *v == Err(ReasonCode::OverWitnessCap) {
                    let d = b.asserted.distance_m(locations.get(wk).expect("known"));
                    links.push(Link {
                        beaconer: b.key,
                        witness: *wk,
                        tx_power_dbm10: tx,
                        rssi_dbm10: w.rssi_dbm10,
                        bound_dbm10: max_rssi_dbm10(tx, GAINS_DBI10, d, FREQ),
                        expected_dbm10: model_rssi_dbm10(tx, GAINS_DBI10, d, FREQ, 31),
                        lag_ms: w.reported_ms - first_ms,
                    });
                }
            }
            let (bu, wu) = beacon_units(valid);
            let scale = u128::from(density.get(&b.key).copied().unwrap_or(1_000_000));
            *units.entry(b.key).or_default() += u128::from(bu) * scale;
            for (wk, v) in &verdicts {
                if v.is_ok() {
                    *units.entry(*wk).or_default() += u128::from(wu) * scale;
                }
            }
        }
        // Detectors over the last three epochs' valid links.
        window.push(links);
        if window.len() > 3 {
            window.remove(0);
        }
        let recent: Vec<Link> = window.iter().flatten().copied().collect();
        heard_window.push(heard);
        if heard_window.len() > 3 {
            heard_window.remove(0);
        }
        let recent_heard: Vec<(KeyId, KeyId, i32)> =
            heard_window.iter().flatten().copied().collect();
        let beaconers: BTreeSet<KeyId> = devices.iter().map(|d| d.key).collect();
        let input = DetectInput {
            links: &recent,
            heard: &recent_heard,
            reports: &reports,
            beaconers: &beaconers,
            locations: &locations,
        };
        for (k, reasons) in detect(&input, t) {
            if let Some(first) = reasons.first() {
                recorded.flag(by_key[&k], epoch, *first);
            }
        }
        // Rewards: the epoch's units, less those of devices denylisted by now (the
        // verifier judges the epoch before the rewarder computes it; the denylisted
        // devices' rewards are withheld).
        recorded.pay_epoch(units.iter().map(|(k, u)| (by_key[k], *u)).collect());
    }
    recorded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::table;

    /// Several hundred devices and every cheat class (the full region with more of each:
    /// `--example coverage`): the published targets hold — honest false positives
    /// under 1%, every class caught at least 90% within three epochs, dishonest devices
    /// under 5% of the rewards.
    #[test]
    fn several_hundred_radios_meet_the_targets() {
        let c = CoverageSimConfig {
            honest: 300,
            spoofers: 20,
            farms: 2,
            farm_size: 10,
            rings: 3,
            ring_size: 5,
            inflators: 12,
            epochs: 4,
            ..CoverageSimConfig::default()
        };
        let r = run(&c, &DetectParams::default());
        println!("{}", table(&r));
        assert_eq!(r.lines.len(), 5);
        assert_eq!(r.lines.iter().map(|l| l.devices).sum::<usize>(), 367);
        if let Err(e) = r.meets_targets() {
            panic!("{e}\n{}", table(&r));
        }
    }

    /// The same seed replays exactly (a small region keeps it quick).
    #[test]
    fn the_same_seed_replays() {
        let c = CoverageSimConfig {
            honest: 60,
            spoofers: 3,
            farms: 1,
            farm_size: 5,
            rings: 1,
            ring_size: 3,
            inflators: 3,
            epochs: 2,
            ..CoverageSimConfig::default()
        };
        let r = run(&c, &DetectParams::default());
        assert_eq!(r.lines.iter().map(|l| l.devices).sum::<usize>(), 74);
        assert_eq!(r, run(&c, &DetectParams::default()));
        assert_ne!(
            r,
            run(
                &CoverageSimConfig { seed: 2, ..c },
                &DetectParams::default()
            )
        );
    }
}
