//! The world that running agents' simulated drivers share: the air every simulated radio
//! transmits into and listens on, and the weather field every simulated station measures.
//!
//! One [`SimWorld`] serves every agent in a process (the devnet's whole fleet). A radio
//! that transmits a beacon puts it on the air; each other radio on the same band hears it
//! as [`RadioWorld`] decides from where the two really are (path loss, shadowing, fading,
//! ducting, sensitivity), and reports it after the backhaul's latency, through its own
//! agent, like a real radio would. A cheating radio (a driver option) reports what its
//! cheat makes it report, with the same formulas as [`crate::coverage_sim`]; a cheating
//! station reports what [`crate::sensor_sim`]'s classes report. The verifiers that judge
//! the reports are the real ones, over the real ingest.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use cairn_core::{Location, PublicKey};
use cairn_proto::v1::WitnessReport;
use cairn_verify::radio::{Point, max_rssi_dbm10};

use crate::coverage_sim::{INFLATION_DB10, farm_rssi_dbm10, relay_lag_ms, relay_rssi_dbm10};
use crate::world::{RadioWorld, Station, WeatherWorld, haversine_m, region_place};

pub use crate::world::{HALF_SIDE, REGION_LAT, REGION_LNG};

/// The time a LoRa-class beacon takes on the air plus demodulation, ms: no witness can
/// report a beacon sooner.
pub const AIRTIME_MS: u64 = 300;
/// Beacons a radio keeps heard but not yet reported; older ones are dropped (a radio whose
/// agent is not running forgets what it heard).
const INBOX_MAX: usize = 1_024;

/// A radio's cheat, as the simulator's adversary classes (PROOFS §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadioCheat {
    /// Reports what it hears.
    None,
    /// Reports 10 dB more than it hears.
    InflateGain,
    /// One of several radios in one box (`group`): hears its box-mates and reports them
    /// attenuated to sit just under the free-space bound for their asserted distance;
    /// reports nothing from outside the box.
    Farm { group: String },
    /// One of a ring (`group`) that forwards each other's beacons over the internet and
    /// reports them with an invented RSSI; hears the real air as well.
    Relay { group: String },
}

impl RadioCheat {
    fn group(&self) -> Option<&str> {
        match self {
            RadioCheat::Farm { group } | RadioCheat::Relay { group } => Some(group),
            RadioCheat::None | RadioCheat::InflateGain => None,
        }
    }
}

/// A radio on the air.
#[derive(Debug, Clone)]
pub struct Tuned {
    /// Where it really is, degrees.
    pub lat: f64,
    pub lng: f64,
    /// The site it claims (a cheat uses it to invent believable reports).
    pub asserted: Point,
    pub frequency_hz: u64,
    pub bandwidth_hz: u64,
    pub antenna_gain_dbi10: i32,
    pub sensitivity_dbm10: i32,
    pub cheat: RadioCheat,
}

#[derive(Debug)]
struct OnAir {
    id: u64,
    /// Which driver put it there (a newer driver for the same key replaces it).
    token: u64,
    tuned: Tuned,
    /// Heard beacons and when the report is ready to leave (after airtime and backhaul).
    inbox: Vec<(u64, WitnessReport)>,
}

/// A station's source of readings.
#[derive(Debug, Clone)]
pub enum SensorSource {
    /// Measures the weather where it is (with its own bias, noise and faults).
    Own,
    /// Reports another station's readings `lag_ms` late (0: a clone), with a temperature
    /// offset; with `fleet_key` set, also this key's own small noise (a Sybil fleet: one
    /// real station behind many keys).
    Copy {
        source: Box<PublicKey>,
        lag_ms: u64,
        offset_c100: i64,
        fleet_key: Option<u64>,
    },
    /// A real station indoors.
    Indoor,
    /// A smooth series computed from climatology plus a bias.
    Smooth { bias_c: f64 },
}

/// The shared world: seeded physics, the air, and the stations measuring the weather.
#[derive(Debug)]
pub struct SimWorld {
    pub seed: u64,
    pub radio: RadioWorld,
    pub weather: WeatherWorld,
    air: Mutex<BTreeMap<PublicKey, OnAir>>,
    tokens: std::sync::atomic::AtomicU64,
    stations: Mutex<BTreeMap<PublicKey, Station>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking driver thread leaves the data consistent (every update is one insert
    // or one push), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The simulator's 64-bit id of a device: the first 8 bytes of its key.
pub fn sim_id(key: &PublicKey) -> u64 {
    u64::from_le_bytes(key.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// A place in the default region derived from the seed and the key (for a device whose
/// driver names no place).
pub fn default_place(seed: u64, key: &PublicKey) -> (f64, f64) {
    region_place(seed, "live-place", sim_id(key))
}

/// The verifier's view of a place: the centre of its resolution-12 H3 cell.
pub fn cell_point(lat: f64, lng: f64) -> Option<Point> {
    Location::from_degrees(lat, lng, 12).map(Point::of)
}

impl SimWorld {
    pub fn new(seed: u64) -> Arc<SimWorld> {
        Arc::new(SimWorld {
            seed,
            radio: RadioWorld::new(seed),
            weather: WeatherWorld::new(seed),
            air: Mutex::new(BTreeMap::new()),
            tokens: std::sync::atomic::AtomicU64::new(1),
            stations: Mutex::new(BTreeMap::new()),
        })
    }

    /// Put a radio on the air (replacing its earlier self, if any); the token takes it
    /// off again.
    pub fn tune(&self, key: PublicKey, tuned: Tuned) -> u64 {
        let token = self
            .tokens
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&self.air).insert(
            key,
            OnAir {
                id: sim_id(&key),
                token,
                tuned,
                inbox: Vec::new(),
            },
        );
        token
    }

    /// Take the radio `tune` returned `token` for off the air (not a newer one with the
    /// same key); what it heard and did not report is lost.
    pub fn untune(&self, key: &PublicKey, token: u64) {
        let mut air = lock(&self.air);
        if air.get(key).is_some_and(|r| r.token == token) {
            air.remove(key);
        }
    }

    /// Radios on the air.
    pub fn radios(&self) -> usize {
        lock(&self.air).len()
    }

    /// `from` transmits `payload` at `tx_power_dbm10` at `now_ms`: every other radio on the
    /// band that hears it (or claims to) gets a witness report ready after airtime and
    /// backhaul latency. Returns how many radios will report it.
    pub fn transmit(
        &self,
        from: &PublicKey,
        payload: &[u8],
        tx_power_dbm10: i32,
        now_ms: u64,
    ) -> usize {
        let mut air = lock(&self.air);
        let Some(tx) = air.get(from) else {
            return 0;
        };
        let (tx_id, t) = (tx.id, tx.tuned.clone());
        let beacon = payload
            .get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let s = self.seed;
        let mut reported = 0;
        for (key, rx) in air.iter_mut() {
            if key == from
                || rx.tuned.frequency_hz.abs_diff(t.frequency_hz)
                    > rx.tuned.bandwidth_hz.max(t.bandwidth_hz) / 2
            {
                continue;
            }
            let r = &rx.tuned;
            let same_group = t.cheat.group().is_some() && t.cheat.group() == r.cheat.group();
            let asserted_m = t.asserted.distance_m(&r.asserted);
            let gains = t.antenna_gain_dbi10 + r.antenna_gain_dbi10;
            let rssi_dbm10 = match (&r.cheat, same_group) {
                (RadioCheat::Farm { .. }, true) => {
                    let bound = max_rssi_dbm10(tx_power_dbm10, gains, asserted_m, t.frequency_hz);
                    Some(farm_rssi_dbm10(s, bound, tx_id, rx.id))
                }
                (RadioCheat::Relay { .. }, true) => Some(relay_rssi_dbm10(
                    s,
                    asserted_m,
                    t.frequency_hz,
                    beacon,
                    rx.id,
                )),
                // A farm keeps quiet about the world outside its box: its asserted sites
                // would give it away at once.
                (RadioCheat::Farm { .. }, false) => None,
                _ => {
                    let d = haversine_m((t.lat, t.lng), (r.lat, r.lng));
                    self.radio
                        .received_dbm(
                            tx_id,
                            rx.id,
                            beacon,
                            d,
                            t.frequency_hz as f64,
                            f64::from(tx_power_dbm10) / 10.0,
                            f64::from(gains) / 10.0,
                        )
                        .map(|dbm| (dbm * 10.0).round() as i32)
                        .filter(|rssi| *rssi >= r.sensitivity_dbm10)
                        .map(|rssi| {
                            if r.cheat == RadioCheat::InflateGain {
                                rssi + INFLATION_DB10
                            } else {
                                rssi
                            }
                        })
                }
            };
            let Some(rssi_dbm10) = rssi_dbm10 else {
                continue;
            };
            let mut ready = now_ms + AIRTIME_MS + self.radio.latency_ms(rx.id, beacon);
            if matches!(r.cheat, RadioCheat::Relay { .. }) && same_group {
                ready += relay_lag_ms(s, beacon, rx.id);
            }
            if rx.inbox.len() >= INBOX_MAX {
                rx.inbox.remove(0);
            }
            rx.inbox.push((
                ready,
                WitnessReport {
                    beaconer_key: from.as_bytes().to_vec(),
                    payload: payload.to_vec(),
                    rssi_dbm_x10: rssi_dbm10,
                    // Against a noise floor of −117 dBm in a 125 kHz channel, as a LoRa
                    // receiver reports it: from −20 dB (its demodulation floor) up to
                    // about +12 dB, where it saturates.
                    snr_db_x10: (rssi_dbm10 + 1_170).clamp(-200, 120),
                    frequency_hz: t.frequency_hz,
                    received_at_ms: now_ms + AIRTIME_MS,
                },
            ));
            reported += 1;
        }
        reported
    }

    /// The witness reports `key`'s radio has ready by `now_ms`, oldest first.
    pub fn heard(&self, key: &PublicKey, now_ms: u64) -> Vec<WitnessReport> {
        let mut air = lock(&self.air);
        let Some(rx) = air.get_mut(key) else {
            return Vec::new();
        };
        rx.inbox.sort_by_key(|(ready, _)| *ready);
        let n = rx.inbox.partition_point(|(ready, _)| *ready <= now_ms);
        rx.inbox.drain(..n).map(|(_, w)| w).collect()
    }

    /// Register the station `key` measures with (others may copy its readings).
    pub fn place_station(&self, key: PublicKey, station: Station) {
        lock(&self.stations).insert(key, station);
    }

    /// The station `key` measures with, if it is in this world.
    pub fn station(&self, key: &PublicKey) -> Option<Station> {
        lock(&self.stations).get(key).cloned()
    }
}
