//! Simulated device drivers, one per resource kind, implementing the agent's driver
//! traits. The physics is simulated; the agent that runs them, and the verifiers that
//! check their reports, are the real ones.
//!
//! Every driver is deterministic given the simulation seed and the device key: its
//! per-device parameters (a sensor's climate, say) are derived from
//! `BLAKE3-derive-key("cairn.sim.driver.v1", seed ‖ device key ‖ purpose)`, and outputs
//! that vary over time depend only on those parameters and the timestamp. (Wall-clock
//! measurements such as `ComputeResult.compute_us` are the exception.)
//!
//! # `[driver]` settings
//!
//! | kind | key | default |
//! |---|---|---|
//! | storage | `capacity_bytes` | 107374182400 (100 GiB) |
//! | storage | `lose_ppm` | 0 (adversary or failing disk: this share of every stored replica's chunks, per million, is lost after the replica is committed) |
//! | compute | `class` | 1 |
//! | compute | `cpu_cores` | 4 |
//! | compute | `memory_bytes` | 8589934592 (8 GiB) |
//! | compute | `wrong_product_ppm` | 0 (adversary: wrong products this often, per million) |
//! | coverage | `frequency_hz` | 915000000 |
//! | coverage | `bandwidth_hz` | 125000 |
//! | coverage | `max_tx_power_dbm_x10` | 270 (27 dBm) |
//! | coverage | `antenna_gain_dbi_x10` | 30 (3 dBi) |
//! | coverage | `sensitivity_dbm_x10` | -1370 (-137 dBm) |
//! | coverage | `region` | `"US915"` |
//! | coverage | `lat`, `lng` | where the radio really is (degrees); default: a place in the region drawn from the world seed and the key |
//! | coverage | `asserted_lat`, `asserted_lng` | the site it claims, which a cheat's invented reports fit; default: where it is |
//! | coverage | `cheat` | `"none"`; adversaries: `"inflate_gain"` (reports 10 dB more), `"farm"` (one of a box of radios, `group`), `"relay"` (one of a ring forwarding beacons over the internet, `group`) |
//! | coverage | `group` | the farm or ring a cheat belongs to |
//! | sensor | `model` | `"cairn-sim-th1"` |
//! | sensor | `readings_per_hour` | 60 |
//! | sensor | `height_above_ground_cm` | 200 |
//! | sensor | `lat`, `lng`, `altitude_m` | where the station really is; default: a place in the region, 50–350 m up |
//! | sensor | `cheat` | `"none"`; adversaries: `"clone"` (reports `source`'s readings), `"replay"` (the same, `lag_s` late), `"sybil"` (`source`'s readings under another key, with `offset_c100` and a little noise), `"indoor"`, `"smooth"` (a fabricated climatological series) |
//! | sensor | `source` | the copied station's key (`did:cairn:…`), which must run in the same world |
//! | sensor | `lag_s` | 600 (a replayer's delay) |
//! | sensor | `offset_c100` | 0 (a copier's temperature offset, °C × 100) |
//!
//! Radios and stations live in a shared [`SimWorld`]: radios hear each other through its
//! air and stations measure its weather (see [`crate::live`]). Unknown keys are refused, so
//! a typo does not silently fall back to a default.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_agent::{
    AgentKind, ComputeDriver, Driver, DriverError, RadioDriver, SensorDriver, StorageDriver,
};
use cairn_core::PublicKey;
use cairn_proto::compute::{MAX_N, expected_product};
use cairn_proto::v1::{
    BeaconChallenge, BeaconReport, ComputeChallenge, ComputeResource, ComputeResult, Measurement,
    Quantity, RadioResource, ReplicaCommitment, SensorReading, SensorResource, StorageChallenge,
    StorageProof, StorageResource, WitnessReport,
};
use cairn_verify::storage::Replica;
use serde::Deserialize;

use crate::live::{RadioCheat, SensorSource, SimWorld, Tuned, cell_point, default_place, sim_id};
use crate::sensor_sim::{fleet_reading, indoor_reading, smooth_reading};
use crate::world::{Place, Station, unit};

/// Key-derivation context for per-device simulation parameters.
pub const SIM_CONTEXT: &str = "cairn.sim.driver.v1";

/// Why a simulated driver cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("[driver] settings for a simulated {kind} device: {message}")]
    Config { kind: AgentKind, message: String },
    #[error("simulated storage: {0}")]
    Storage(String),
}

/// 32 bytes derived from the seed, the device key and a purpose label.
pub fn derive_bytes(seed: u64, device_key: &PublicKey, purpose: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(SIM_CONTEXT);
    h.update(&seed.to_le_bytes());
    h.update(device_key.as_bytes());
    h.update(purpose.as_bytes());
    *h.finalize().as_bytes()
}

/// A small deterministic generator (SplitMix64) for simulated randomness.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: [u8; 32]) -> Self {
        SimRng(u64::from_le_bytes(seed[..8].try_into().expect("8 bytes")))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn parse_params<T: for<'de> Deserialize<'de>>(
    kind: AgentKind,
    table: &toml::Table,
) -> Result<T, SimError> {
    toml::Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| SimError::Config {
            kind,
            message: e.to_string().trim_end().to_owned(),
        })
}

fn bad(kind: AgentKind, message: impl Into<String>) -> SimError {
    SimError::Config {
        kind,
        message: message.into(),
    }
}

/// Build the simulated driver for `kind` from the config's `[driver]` table (keys in the
/// module documentation), deterministic given the world's seed and `device_key`. Radios
/// go on `world`'s air and stations measure its weather.
pub fn driver_from_config(
    kind: AgentKind,
    table: &toml::Table,
    device_key: &PublicKey,
    world: &Arc<SimWorld>,
) -> Result<Driver, SimError> {
    let seed = world.seed;
    Ok(match kind {
        AgentKind::Storage => {
            let p: StorageParams = parse_params(kind, table)?;
            if p.capacity_bytes == 0 {
                return Err(bad(kind, "capacity_bytes must be at least 1"));
            }
            if p.lose_ppm > 1_000_000 {
                return Err(bad(kind, "lose_ppm must be 0 to 1000000"));
            }
            Driver::Storage(Box::new(
                SimStorage::new(*device_key, p.capacity_bytes).losing(p.lose_ppm),
            ))
        }
        AgentKind::Compute => {
            let p: ComputeParams = parse_params(kind, table)?;
            if p.class == 0 {
                return Err(bad(kind, "class must be at least 1"));
            }
            if p.cpu_cores == 0 {
                return Err(bad(kind, "cpu_cores must be at least 1"));
            }
            if p.wrong_product_ppm > 1_000_000 {
                return Err(bad(kind, "wrong_product_ppm must be 0 to 1000000"));
            }
            Driver::Compute(Box::new(SimCompute {
                class: p.class,
                cpu_cores: p.cpu_cores,
                memory_bytes: p.memory_bytes,
                wrong_product_ppm: p.wrong_product_ppm,
                rng: SimRng::new(derive_bytes(seed, device_key, "compute")),
            }))
        }
        AgentKind::Coverage => {
            let p: RadioParams = parse_params(kind, table)?;
            Driver::Radio(Box::new(SimRadio::new(p, device_key, world)?))
        }
        AgentKind::Sensor => {
            let p: SensorParams = parse_params(kind, table)?;
            Driver::Sensor(Box::new(SimSensor::new(p, device_key, world)?))
        }
    })
}

/// A place from optional `lat`/`lng` settings: both or neither.
fn place_of(
    kind: AgentKind,
    lat: Option<f64>,
    lng: Option<f64>,
    prefix: &str,
) -> Result<Option<(f64, f64)>, SimError> {
    match (lat, lng) {
        (None, None) => Ok(None),
        (Some(lat), Some(lng)) if lat.abs() <= 90.0 && lng.abs() <= 180.0 => Ok(Some((lat, lng))),
        (Some(lat), Some(lng)) => Err(bad(
            kind,
            format!("{prefix}lat must be within ±90 and {prefix}lng within ±180, got {lat}, {lng}"),
        )),
        _ => Err(bad(
            kind,
            format!("give both {prefix}lat and {prefix}lng, or neither"),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageParams {
    #[serde(default = "default_capacity")]
    capacity_bytes: u64,
    #[serde(default)]
    lose_ppm: u32,
}

fn default_capacity() -> u64 {
    100 << 30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComputeParams {
    #[serde(default = "one")]
    class: u32,
    #[serde(default = "four")]
    cpu_cores: u32,
    #[serde(default = "default_memory")]
    memory_bytes: u64,
    /// Adversary switch: answer benchmarks with a wrong product this often (ppm).
    #[serde(default)]
    wrong_product_ppm: u32,
}

fn one() -> u32 {
    1
}
fn four() -> u32 {
    4
}
fn default_memory() -> u64 {
    8 << 30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RadioParams {
    #[serde(default = "default_frequency")]
    frequency_hz: u64,
    #[serde(default = "default_bandwidth")]
    bandwidth_hz: u64,
    #[serde(default = "default_tx_power")]
    max_tx_power_dbm_x10: i32,
    #[serde(default = "default_gain")]
    antenna_gain_dbi_x10: i32,
    #[serde(default = "default_sensitivity")]
    sensitivity_dbm_x10: i32,
    #[serde(default = "default_region")]
    region: String,
    lat: Option<f64>,
    lng: Option<f64>,
    asserted_lat: Option<f64>,
    asserted_lng: Option<f64>,
    #[serde(default = "none")]
    cheat: String,
    group: Option<String>,
}

fn none() -> String {
    "none".into()
}

fn default_frequency() -> u64 {
    915_000_000
}
fn default_bandwidth() -> u64 {
    125_000
}
fn default_tx_power() -> i32 {
    270
}
fn default_gain() -> i32 {
    30
}
fn default_sensitivity() -> i32 {
    -1370
}
fn default_region() -> String {
    "US915".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SensorParams {
    #[serde(default = "default_model")]
    model: String,
    #[serde(default = "default_readings")]
    readings_per_hour: u32,
    #[serde(default = "default_height")]
    height_above_ground_cm: u32,
    lat: Option<f64>,
    lng: Option<f64>,
    altitude_m: Option<f64>,
    #[serde(default = "none")]
    cheat: String,
    source: Option<String>,
    #[serde(default = "default_lag")]
    lag_s: u64,
    #[serde(default)]
    offset_c100: i64,
}

fn default_lag() -> u64 {
    600
}

fn default_model() -> String {
    "cairn-sim-th1".into()
}
fn default_readings() -> u32 {
    60
}
fn default_height() -> u32 {
    200
}

// ---------------------------------------------------------------------------------------
// Storage

/// A simulated disk: a capacity and the replicas it holds, each encoded for this
/// device (`cairn_verify::storage`), in memory. The real directory-backed driver and the
/// simulated one answer challenges with the same proofs.
#[derive(Debug, Clone)]
pub struct SimStorage {
    device: PublicKey,
    capacity_bytes: u64,
    objects: BTreeMap<[u8; 32], Replica>,
    lose_ppm: u32,
}

impl SimStorage {
    pub fn new(device: PublicKey, capacity_bytes: u64) -> Self {
        SimStorage {
            device,
            capacity_bytes,
            objects: BTreeMap::new(),
            lose_ppm: 0,
        }
    }

    /// Lose `ppm` per million of each replica's chunks right after committing to it (a
    /// failing disk, or a provider that keeps less than it was paid for): the lost chunks
    /// read as zeros, drawn from the object and the chunk index.
    pub fn losing(mut self, ppm: u32) -> Self {
        self.lose_ppm = ppm;
        self
    }

    /// Bytes used by held replicas.
    pub fn used_bytes(&self) -> u64 {
        self.objects.values().map(|r| r.size).sum()
    }

    /// Encode `data` for this device and hold it; the commitment to report. Refused when
    /// it is empty or does not fit.
    pub fn hold(&mut self, data: &[u8]) -> Result<ReplicaCommitment, SimError> {
        let replica = Replica::build(&self.device, data)
            .ok_or_else(|| SimError::Storage("a replica needs 1 byte to 1 TiB of data".into()))?;
        let previous = self.objects.get(&replica.object.0).map_or(0, |r| r.size);
        let free = self.capacity_bytes - (self.used_bytes() - previous);
        if replica.size > free {
            return Err(SimError::Storage(format!(
                "replica of {} bytes does not fit in {free} free bytes",
                replica.size
            )));
        }
        let commitment = ReplicaCommitment {
            object_id: replica.object.0.to_vec(),
            size_bytes: replica.size,
            replica_root: replica.replica_root().0.to_vec(),
            released: false,
        };
        let mut replica = replica;
        if self.lose_ppm > 0 {
            for (i, chunk) in replica.encoded.iter_mut().enumerate() {
                let draw = blake3::Hasher::new_derive_key("cairn.sim.storage.lose.v1")
                    .update(&replica.object.0)
                    .update(&(i as u64).to_le_bytes())
                    .finalize();
                let x = u32::from_le_bytes(draw.as_bytes()[..4].try_into().expect("4 bytes"));
                if x % 1_000_000 < self.lose_ppm {
                    chunk.fill(0);
                }
            }
        }
        self.objects.insert(replica.object.0, replica);
        Ok(commitment)
    }

    /// Stop holding a replica; whether it was held.
    pub fn release(&mut self, object_id: &[u8; 32]) -> bool {
        self.objects.remove(object_id).is_some()
    }
}

impl StorageDriver for SimStorage {
    fn resource(&mut self) -> StorageResource {
        StorageResource {
            capacity_bytes: self.capacity_bytes,
            free_bytes: self.capacity_bytes.saturating_sub(self.used_bytes()),
            replicas: self.objects.len() as u64,
            ..StorageResource::default()
        }
    }

    fn store(&mut self, data: &[u8]) -> Result<ReplicaCommitment, DriverError> {
        self.hold(data)
            .map_err(|e| DriverError::Refused(e.to_string()))
    }

    fn read(&mut self, object: &[u8; 32]) -> Result<Vec<u8>, DriverError> {
        let replica = self.objects.get(object).ok_or_else(|| {
            DriverError::Refused(format!("object {} is not held", hex_short(object)))
        })?;
        let key = cairn_verify::storage::replica_key(&self.device, &replica.object);
        let mut out = Vec::with_capacity(replica.size as usize);
        for (i, chunk) in replica.encoded.iter().enumerate() {
            let mut chunk = chunk.clone();
            cairn_verify::storage::apply_keystream(&key, i as u64, &mut chunk);
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    fn held(&mut self) -> Vec<ReplicaCommitment> {
        self.objects
            .values()
            .map(|r| ReplicaCommitment {
                object_id: r.object.0.to_vec(),
                size_bytes: r.size,
                replica_root: r.replica_root().0.to_vec(),
                released: false,
            })
            .collect()
    }

    fn prove(&mut self, challenge: &StorageChallenge) -> Result<StorageProof, DriverError> {
        if self.objects.is_empty() {
            return Err(DriverError::Refused("no replicas held".into()));
        }
        let id: [u8; 32] = challenge.object_id.as_slice().try_into().map_err(|_| {
            DriverError::Refused(format!(
                "object id must be 32 bytes, got {}",
                challenge.object_id.len()
            ))
        })?;
        let replica = self.objects.get(&id).ok_or_else(|| {
            DriverError::Refused(format!("object {} is not held", hex_short(&id)))
        })?;
        let chunks = challenge
            .chunk_indices
            .iter()
            .map(|&index| {
                replica.prove(index).ok_or_else(|| {
                    DriverError::Refused(format!(
                        "chunk {index} is past the end of the object ({} chunks)",
                        replica.encoded.len()
                    ))
                })
            })
            .collect::<Result<_, DriverError>>()?;
        Ok(StorageProof { chunks })
    }
}

fn hex_short(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// Compute

/// A simulated compute node. It claims a benchmark class and really does the work:
/// `compute` multiplies the challenge matrices (see `cairn_proto::compute`).
#[derive(Debug, Clone)]
pub struct SimCompute {
    pub class: u32,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    /// Adversary switch: how often (ppm) to return a wrong product instead of computing.
    pub wrong_product_ppm: u32,
    pub rng: SimRng,
}

impl ComputeDriver for SimCompute {
    fn resource(&mut self) -> ComputeResource {
        ComputeResource {
            class: self.class,
            cpu_cores: self.cpu_cores,
            memory_bytes: self.memory_bytes,
            accelerator: String::new(),
            accelerator_memory_bytes: 0,
            ..ComputeResource::default()
        }
    }

    fn compute(
        &mut self,
        seed: &[u8],
        challenge: &ComputeChallenge,
    ) -> Result<ComputeResult, DriverError> {
        if challenge.n > MAX_N {
            return Err(DriverError::Refused(format!(
                "matrix dimension {} is larger than the supported {MAX_N}",
                challenge.n
            )));
        }
        let started = Instant::now();
        let mut product = expected_product(seed, challenge.n, challenge.modulus)
            .map_err(|e| DriverError::Refused(e.to_string()))?;
        self.maybe_cheat(&mut product, challenge.modulus);
        // Simulated hardware of the claimed class: a machine faster than that class
        // (this one, most likely) waits out the class's expected time, as the real
        // device would take it.
        let spec = |id: cairn_ledger::ParamId| u64::try_from(id.spec().default).unwrap_or(1);
        let class_time = cairn_verify::compute::timing(
            challenge.n,
            self.class,
            spec(cairn_ledger::ParamId::ComputeClass1OpsPerUs),
            spec(cairn_ledger::ParamId::ComputeSlackBps),
            spec(cairn_ledger::ParamId::ComputeTooFastBps),
            0,
        );
        let floor = Duration::from_millis(class_time.expected_ms);
        if let Some(rest) = floor.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        Ok(ComputeResult {
            product,
            compute_us: started.elapsed().as_micros() as u64,
        })
    }

    fn multiply(
        &mut self,
        a: &[u64],
        b: &[u64],
        n: u32,
        modulus: u64,
    ) -> Result<Vec<u64>, DriverError> {
        let mut product = cairn_proto::compute::multiply_mod(a, b, n, modulus)
            .map_err(|e| DriverError::Refused(e.to_string()))?;
        self.maybe_cheat(&mut product, modulus);
        Ok(product)
    }
}

impl SimCompute {
    /// The lazy cheat, `wrong_product_ppm` of the time: a plausible-looking product, one
    /// element off.
    fn maybe_cheat(&mut self, product: &mut [u64], modulus: u64) {
        if self.rng.next_u64() % 1_000_000 < u64::from(self.wrong_product_ppm)
            && let Some(x) = product.first_mut()
        {
            *x = (*x + 1) % modulus;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Radio

/// A simulated coverage radio (915 MHz band by default) on the shared world's air.
///
/// `transmit` puts the beacon on the air, where every other radio in range hears it (or,
/// for a cheat, claims to); `heard` returns the witness reports this radio has ready.
/// Dropping the driver takes the radio off the air.
#[derive(Debug)]
pub struct SimRadio {
    key: PublicKey,
    token: u64,
    world: Arc<SimWorld>,
    resource: RadioResource,
}

impl SimRadio {
    fn new(p: RadioParams, key: &PublicKey, world: &Arc<SimWorld>) -> Result<SimRadio, SimError> {
        let kind = AgentKind::Coverage;
        if p.frequency_hz == 0 || p.bandwidth_hz == 0 {
            return Err(bad(kind, "frequency_hz and bandwidth_hz must be positive"));
        }
        if !(-300..=400).contains(&p.max_tx_power_dbm_x10) {
            return Err(bad(
                kind,
                format!(
                    "max_tx_power_dbm_x10 must be -300 to 400 (-30 to 40 dBm), got {}",
                    p.max_tx_power_dbm_x10
                ),
            ));
        }
        if p.region.is_empty() || p.region.len() > 16 {
            return Err(bad(kind, "region must be 1 to 16 bytes, e.g. \"US915\""));
        }
        let (lat, lng) =
            place_of(kind, p.lat, p.lng, "")?.unwrap_or_else(|| default_place(world.seed, key));
        let (alat, alng) =
            place_of(kind, p.asserted_lat, p.asserted_lng, "asserted_")?.unwrap_or((lat, lng));
        let asserted =
            cell_point(alat, alng).ok_or_else(|| bad(kind, "the asserted site is not a place"))?;
        let group = || {
            p.group
                .clone()
                .filter(|g| !g.is_empty())
                .ok_or_else(|| bad(kind, format!("cheat = {:?} needs a group", p.cheat)))
        };
        let cheat = match p.cheat.as_str() {
            "none" => RadioCheat::None,
            "inflate_gain" => RadioCheat::InflateGain,
            "farm" => RadioCheat::Farm { group: group()? },
            "relay" => RadioCheat::Relay { group: group()? },
            other => {
                return Err(bad(
                    kind,
                    format!("cheat must be none, inflate_gain, farm or relay, got {other:?}"),
                ));
            }
        };
        let token = world.tune(
            *key,
            Tuned {
                lat,
                lng,
                asserted,
                frequency_hz: p.frequency_hz,
                bandwidth_hz: p.bandwidth_hz,
                antenna_gain_dbi10: p.antenna_gain_dbi_x10,
                sensitivity_dbm10: p.sensitivity_dbm_x10,
                cheat,
            },
        );
        Ok(SimRadio {
            key: *key,
            token,
            world: world.clone(),
            resource: RadioResource {
                frequency_hz: p.frequency_hz,
                bandwidth_hz: p.bandwidth_hz,
                max_tx_power_dbm_x10: p.max_tx_power_dbm_x10,
                antenna_gain_dbi_x10: p.antenna_gain_dbi_x10,
                sensitivity_dbm_x10: p.sensitivity_dbm_x10,
                region: p.region,
            },
        })
    }
}

impl Drop for SimRadio {
    fn drop(&mut self) {
        self.world.untune(&self.key, self.token);
    }
}

impl RadioDriver for SimRadio {
    fn resource(&mut self) -> RadioResource {
        self.resource.clone()
    }

    fn transmit(
        &mut self,
        payload: &[u8],
        challenge: &BeaconChallenge,
        now_ms: u64,
    ) -> Result<BeaconReport, DriverError> {
        if challenge.tx_power_dbm_x10 > self.resource.max_tx_power_dbm_x10 {
            return Err(DriverError::Refused(format!(
                "requested transmit power {} dBm×10 exceeds the radio's maximum {}",
                challenge.tx_power_dbm_x10, self.resource.max_tx_power_dbm_x10
            )));
        }
        self.world
            .transmit(&self.key, payload, challenge.tx_power_dbm_x10, now_ms);
        Ok(BeaconReport {
            entropy: challenge.entropy.clone(),
            payload: payload.to_vec(),
            tx_power_dbm_x10: challenge.tx_power_dbm_x10,
            frequency_hz: self.resource.frequency_hz,
            transmitted_at_ms: now_ms,
            // The agent adds the challenge id and the nonce it built the payload with.
            ..Default::default()
        })
    }

    fn heard(&mut self, now_ms: u64) -> Vec<WitnessReport> {
        self.world.heard(&self.key, now_ms)
    }
}

// ---------------------------------------------------------------------------------------
// Sensor

/// A simulated weather station measuring the shared world's weather field
/// ([`crate::world::WeatherWorld`]: diurnal cycle, fronts, lapse rate, clear-sky
/// irradiance) with its own bias, noise, spikes and gaps ([`Station`]), quantised to the
/// protocol's fixed-point units. A cheat reports what its class in
/// [`crate::sensor_sim`] reports. The same timestamp always gives the same reading.
#[derive(Debug, Clone)]
pub struct SimSensor {
    model: String,
    readings_per_hour: u32,
    height_above_ground_cm: u32,
    station: Station,
    source: SensorSource,
    world: Arc<SimWorld>,
}

impl SimSensor {
    fn new(p: SensorParams, key: &PublicKey, world: &Arc<SimWorld>) -> Result<SimSensor, SimError> {
        let kind = AgentKind::Sensor;
        if p.model.is_empty() || p.model.len() > 64 {
            return Err(bad(kind, "model must be 1 to 64 bytes"));
        }
        if !(1..=3600).contains(&p.readings_per_hour) {
            return Err(bad(
                kind,
                format!(
                    "readings_per_hour must be 1 to 3600, got {}",
                    p.readings_per_hour
                ),
            ));
        }
        let seed = world.seed;
        let id = sim_id(key);
        let (lat, lng) =
            place_of(kind, p.lat, p.lng, "")?.unwrap_or_else(|| default_place(seed, key));
        let altitude_m = match p.altitude_m {
            Some(a) if (-500.0..=9_000.0).contains(&a) => a,
            Some(a) => {
                return Err(bad(
                    kind,
                    format!("altitude_m must be -500 to 9000, got {a}"),
                ));
            }
            None => 50.0 + 300.0 * unit(seed, "altitude", &[id]),
        };
        let source_key = || -> Result<PublicKey, SimError> {
            let did = p
                .source
                .as_deref()
                .ok_or_else(|| bad(kind, format!("cheat = {:?} needs a source", p.cheat)))?;
            PublicKey::from_did(did).map_err(|e| bad(kind, format!("source: {e}")))
        };
        let source = match p.cheat.as_str() {
            "none" => SensorSource::Own,
            "clone" => SensorSource::Copy {
                source: Box::new(source_key()?),
                lag_ms: 0,
                offset_c100: p.offset_c100,
                fleet_key: None,
            },
            "replay" if p.lag_s == 0 => {
                return Err(bad(kind, "a replay needs lag_s of at least 1"));
            }
            "replay" => SensorSource::Copy {
                source: Box::new(source_key()?),
                lag_ms: p.lag_s * 1_000,
                offset_c100: p.offset_c100,
                fleet_key: None,
            },
            "sybil" => SensorSource::Copy {
                source: Box::new(source_key()?),
                lag_ms: 0,
                offset_c100: p.offset_c100,
                fleet_key: Some(id),
            },
            "indoor" => SensorSource::Indoor,
            "smooth" => SensorSource::Smooth {
                bias_c: 2.0 * unit(seed, "smooth-bias", &[id]) - 1.0,
            },
            other => {
                return Err(bad(
                    kind,
                    format!(
                        "cheat must be none, clone, replay, sybil, indoor or smooth, got {other:?}"
                    ),
                ));
            }
        };
        let station = Station::honest(
            seed,
            id,
            Place {
                lat,
                lng,
                altitude_m,
            },
        );
        world.place_station(*key, station.clone());
        Ok(SimSensor {
            model: p.model,
            readings_per_hour: p.readings_per_hour,
            height_above_ground_cm: p.height_above_ground_cm,
            station,
            source,
            world: world.clone(),
        })
    }
}

impl SensorDriver for SimSensor {
    fn resource(&mut self) -> SensorResource {
        SensorResource {
            model: self.model.clone(),
            quantities: vec![
                Quantity::TemperatureCX100 as i32,
                Quantity::HumidityPctX100 as i32,
                Quantity::PressureHpaX100 as i32,
                Quantity::IrradianceWM2 as i32,
            ],
            readings_per_hour: self.readings_per_hour,
            height_above_ground_cm: self.height_above_ground_cm,
        }
    }

    fn sample(&mut self, now_ms: u64) -> Result<SensorReading, DriverError> {
        let w = &self.world.weather;
        let seed = self.world.seed;
        let reading = match &self.source {
            SensorSource::Own => self.station.read(w, now_ms),
            SensorSource::Indoor => self
                .station
                .read(w, now_ms)
                .map(|outdoor| indoor_reading(seed, self.station.id, outdoor)),
            SensorSource::Smooth { bias_c } => {
                Some(smooth_reading(self.station.place, *bias_c, now_ms))
            }
            SensorSource::Copy {
                source,
                lag_ms,
                offset_c100,
                fleet_key,
            } => {
                let victim = self.world.station(source).ok_or_else(|| {
                    DriverError::Failed(format!(
                        "the copied station {} is not in this simulated world",
                        source.to_did()
                    ))
                })?;
                victim
                    .read(w, now_ms.saturating_sub(*lag_ms))
                    .map(|r| crate::world::Reading { at_ms: now_ms, ..r })
                    .map(|r| match fleet_key {
                        Some(k) => fleet_reading(seed, victim.id, *k, *offset_c100, r),
                        None => crate::world::Reading {
                            temperature_c100: r.temperature_c100 + offset_c100,
                            ..r
                        },
                    })
            }
        };
        // A gap: the sensor did not answer this time.
        let r = reading.ok_or_else(|| DriverError::Failed("no reading (a gap)".into()))?;
        let m = |quantity: Quantity, value: i64| Measurement {
            quantity: quantity as i32,
            value,
        };
        Ok(SensorReading {
            sampled_at_ms: now_ms,
            measurements: vec![
                m(Quantity::TemperatureCX100, r.temperature_c100),
                m(Quantity::HumidityPctX100, r.humidity_p100),
                m(Quantity::PressureHpaX100, r.pressure_hpa100),
                m(Quantity::IrradianceWM2, r.irradiance_w_m2),
            ],
        })
    }
}
