//! The whole network at once, at scale: what `cairn sim` runs.
//!
//! A seeded network of the four kinds of device — coverage radios, weather stations,
//! storage and compute providers — about 15% of them cheating in every class the kind
//! simulations know, run for some epochs through the real verifiers and paid by the real
//! rewarder:
//!
//! - **Radios** live in cities of about 250 (the 40 km region of [`crate::coverage_sim`],
//!   with spoofers, farms, relay rings and gain inflators), **stations** in cities of about
//!   250 ([`crate::sensor_sim`]: cloners, replayers, indoor stations, fabricated series,
//!   Sybil fleets). Cities lie farther apart than any radio hears and than a witness may be
//!   from a beacon ([`crate::world::city_centre`]), so each is simulated and judged on its
//!   own, which is what lets the run use every core and keep memory flat: one city's window
//!   of links is a million.
//! - **Providers** are judged in shards of about 1,000 by [`cairn_verify::run_epoch`] over
//!   signed log records ([`crate::proofs`]); their reward units come from the rewarder's
//!   own [`StorageCapacity`] and [`ComputeCapacity`] over the verdict batches.
//! - **Economics.** Each epoch the emission ([`emission_for_epoch`]) is split by
//!   [`cairn_rewards::epoch::compute`]: demand first — simulated consumers buy credits
//!   (burning tokens at a fixed price) for service from devices not yet caught, a demand
//!   that starts at a tenth of the emission's value and grows a quarter an epoch up to
//!   twice its value — then
//!   capacity by the verifiers' units. A device caught cheating is denylisted: what it
//!   earns from that epoch on is held apart, never paid.
//!
//! The outcome is the verification quality table over every class (precision, recall,
//! epochs to detection, honest false positives, the share of the rewards dishonest
//! devices were paid) and the economics of every epoch. The same seed gives the same
//! outcome on any machine, whatever the number of threads: parts are independent and
//! merged in order.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_core::{Epoch, Hash, KeyId, PublicKey, Tokens};
use cairn_ledger::exec::{USD_E8_PER_CREDIT, emission_for_epoch, tokens_for};
use cairn_ledger::params::{ParamId, Params, Pool};
use cairn_ledger::state::Usage;
use cairn_ledger::tx::DeviceKind;
use cairn_rewards::capacity::{CapacitySource, ComputeCapacity, StorageCapacity};
use cairn_rewards::epoch::{DeviceFacts, RewardInput, ValidatorActivity, compute, pool_of};
use cairn_rewards::manifest::Payee;
use cairn_rewards::split::pro_rata;
use cairn_rewards::work::WorkSummary;
use cairn_verify::coverage_graph::DetectParams;
use cairn_verify::sensor_cross::CrossParams;
use cairn_verify::{Outcome, ReasonCode, Status};
use serde::Serialize;

use crate::coverage_sim::{self, CoverageSimConfig};
use crate::proofs::{self, Behaviour, ProofSimConfig};
use crate::quality::{QualityResult, Recorded, Tally, ppm};
use crate::sensor_sim::{self, SensorSimConfig};

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    pub seed: u64,
    /// Devices of every kind together.
    pub devices: usize,
    pub epochs: u64,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

/// Shares of the devices by kind, per mille: radios, stations, storage (compute takes
/// the rest).
const COVERAGE_PM: usize = 350;
const SENSOR_PM: usize = 300;
const STORAGE_PM: usize = 200;

/// Devices per city or shard. A city is the 40 km region of the kind simulations with
/// about half their devices: every radio there hears nearly every other, so a city's
/// work grows with the square of its radios, and a network of many sparser cities is
/// what one machine can judge for a hundred thousand devices.
const CITY_RADIOS: usize = 250;
const CITY_STATIONS: usize = 250;
const SHARD_PROVIDERS: usize = 1_000;

/// The token's price the consumers buy credits at, 10⁻⁸ USD (0.50 USD).
pub const PRICE_USD_E8: u128 = 50_000_000;

/// Demand for each kind's service, per mille of the whole.
const DEMAND_PM: [(DeviceKind, u128); 4] = [
    (DeviceKind::Coverage, 250),
    (DeviceKind::Storage, 350),
    (DeviceKind::Compute, 250),
    (DeviceKind::Sensor, 150),
];

/// A part of the network simulated on its own.
#[derive(Debug, Clone)]
pub enum Part {
    /// A city of radios.
    Coverage(CoverageSimConfig),
    /// A city of weather stations.
    Sensors(SensorSimConfig),
    /// A shard of storage and compute providers.
    Providers(ProofSimConfig),
}

impl Part {
    /// How many devices the part simulates.
    pub fn devices(&self) -> usize {
        match self {
            Part::Coverage(c) => c.devices(),
            Part::Sensors(c) => c.devices(),
            Part::Providers(c) => c
                .population
                .iter()
                .map(|(b, n)| *n as usize * b.identities() as usize)
                .sum(),
        }
    }

    fn run(&self) -> PartRun {
        match self {
            Part::Coverage(c) => PartRun {
                recorded: prefixed(
                    coverage_sim::run_city(c, &DetectParams::default()),
                    "coverage",
                ),
                kinds: vec![DeviceKind::Coverage; self.devices()],
            },
            Part::Sensors(c) => PartRun {
                recorded: prefixed(sensor_sim::run_city(c, &CrossParams::default()).0, "sensor"),
                kinds: vec![DeviceKind::Sensor; self.devices()],
            },
            Part::Providers(c) => providers(c),
        }
    }
}

/// `n` split into `parts` sizes differing by at most one.
fn split(n: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| n * (i + 1) / parts - n * i / parts)
        .collect()
}

/// `per_mille` of `n`, rounded.
fn share(n: usize, per_mille: usize) -> usize {
    (n * per_mille + 500) / 1_000
}

/// A city of `n` radios, 14–15% of them cheating: 4% location spoofers, 4% in farms of
/// ten, 3% in relay rings of five, 3% gain inflators.
pub fn coverage_city(seed: u64, city: u64, n: usize, epochs: u64) -> CoverageSimConfig {
    let (farm_size, ring_size) = (10, 5);
    let spoofers = share(n, 40);
    let farms = (share(n, 40) + farm_size / 2) / farm_size;
    let rings = (share(n, 30) + ring_size / 2) / ring_size;
    let inflators = share(n, 30);
    let dishonest = spoofers + farms * farm_size + rings * ring_size + inflators;
    CoverageSimConfig {
        seed,
        city,
        honest: n.saturating_sub(dishonest),
        spoofers,
        farms,
        farm_size,
        rings,
        ring_size,
        inflators,
        epochs,
        ..CoverageSimConfig::default()
    }
}

/// A city of `n` weather stations, about 15% of them cheating: 3% each of cloners,
/// replayers, indoor stations, fabricated series, and keys of Sybil fleets of six.
pub fn sensor_city(seed: u64, city: u64, n: usize, epochs: u64) -> SensorSimConfig {
    let fleet_size = 6;
    let cloners = share(n, 30);
    let replayers = share(n, 30);
    let indoor = share(n, 30);
    let fabricators = share(n, 30);
    let fleets = share(n, 30) / fleet_size;
    let dishonest = cloners + replayers + indoor + fabricators + fleets * fleet_size;
    SensorSimConfig {
        seed,
        city,
        honest: n.saturating_sub(dishonest),
        cloners,
        replayers,
        indoor,
        fabricators,
        fleets,
        fleet_size,
        epochs,
        ..SensorSimConfig::default()
    }
}

/// The ledger parameters providers are challenged under: the defaults, with a benchmark
/// whose work, not the network's round trips, decides the timing checks. At n = 64 and
/// one multiply-add per µs for class 1, a class 4 answer is due within 4 × 33 ms + 60 ms
/// (an honest one takes 26–39 ms plus a 20–120 ms round trip) while class 1 hardware
/// needs 210–315 ms: claiming a class above the hardware cannot pass. (At the defaults,
/// n = 128 at 50 per µs, every class finishes within the network allowance.) A day of
/// 25,000 simulated providers' honest products fits one machine.
pub fn provider_params() -> Params {
    [
        (ParamId::StorageDeadlineMs, 1_000),
        (ParamId::NetworkAllowanceMs, 60),
        (ParamId::ComputeChallengeN, 64),
        (ParamId::ComputeClass1OpsPerUs, 1),
    ]
    .into_iter()
    .fold(Params::default(), |p, (id, v)| {
        p.with(id, v).expect("within the parameters' bounds")
    })
}

/// A shard of `storage` and `compute` providers, about 15% of each cheating.
pub fn provider_shard(seed: u64, storage: usize, compute: usize, epochs: u64) -> ProofSimConfig {
    // Per mille of the storage providers, then of the compute providers; honest ones
    // (class 1 for compute) make up the rest.
    let storage_mix = [
        (Behaviour::FlakyStorage { miss_ppm: 100_000 }, 50),
        (
            Behaviour::DeleteStorage {
                fraction_ppm: 10_000,
            },
            30,
        ),
        (
            Behaviour::DeleteStorage {
                fraction_ppm: 100_000,
            },
            30,
        ),
        (
            Behaviour::DeleteStorage {
                fraction_ppm: 500_000,
            },
            20,
        ),
        (Behaviour::OutsourceStorage, 30),
        // Groups of three identities: 30 ‰ of the providers.
        (Behaviour::SharedCopy { k: 3 }, 10),
    ];
    let compute_mix = [
        (Behaviour::HonestCompute { class: 4 }, 450),
        (
            Behaviour::SpoofClass {
                claimed: 4,
                actual: 1,
            },
            50,
        ),
        (Behaviour::LazyCompute { q_ppm: 100_000 }, 50),
        (Behaviour::OutsourceCompute, 50),
    ];
    let mut population: Vec<(Behaviour, u32)> = Vec::new();
    let mut add = |mix: &[(Behaviour, usize)], n: usize, rest: Behaviour| {
        let mut used = 0;
        for (b, pm) in mix {
            let count = share(n, *pm);
            used += count * b.identities() as usize;
            population.push((*b, count as u32));
        }
        population.push((rest, n.saturating_sub(used) as u32));
    };
    add(&storage_mix, storage, Behaviour::HonestStorage);
    add(&compute_mix, compute, Behaviour::HonestCompute { class: 1 });
    population.retain(|(_, n)| *n > 0);
    ProofSimConfig {
        seed,
        epochs,
        population,
        objects_per_provider: 2,
        chunks_per_object: 64,
        params: provider_params(),
    }
}

/// The parts of a network of `c.devices` devices.
pub fn plan(c: &NetworkConfig) -> Vec<Part> {
    let n = c.devices;
    let radios = n * COVERAGE_PM / 1_000;
    let stations = n * SENSOR_PM / 1_000;
    let storage = n * STORAGE_PM / 1_000;
    let compute = n - radios - stations - storage;
    let mut parts = Vec::new();
    let cities = radios.div_ceil(CITY_RADIOS);
    for (i, size) in split(radios, cities).into_iter().enumerate() {
        parts.push(Part::Coverage(coverage_city(
            c.seed, i as u64, size, c.epochs,
        )));
    }
    let cities = stations.div_ceil(CITY_STATIONS);
    for (i, size) in split(stations, cities).into_iter().enumerate() {
        parts.push(Part::Sensors(sensor_city(c.seed, i as u64, size, c.epochs)));
    }
    let shards = (storage + compute).div_ceil(SHARD_PROVIDERS);
    for (i, (s, k)) in split(storage, shards)
        .into_iter()
        .zip(split(compute, shards))
        .enumerate()
    {
        // Each shard its own seed (its providers' keys come from it).
        let seed = u64::from_le_bytes(
            Hash::of(&[c.seed.to_le_bytes(), (i as u64).to_le_bytes()].concat()).as_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        );
        parts.push(Part::Providers(provider_shard(seed, s, k, c.epochs)));
    }
    parts.retain(|p| p.devices() > 0);
    parts
}

/// What one part recorded, and each device's kind.
#[derive(Debug)]
struct PartRun {
    recorded: Recorded,
    kinds: Vec<DeviceKind>,
}

/// The kind's name before every class label.
fn prefixed(mut r: Recorded, kind: &str) -> Recorded {
    for d in &mut r.devices {
        d.1 = format!("{kind}: {}", d.1);
    }
    r
}

/// A provider shard through the real epoch verifier; reward units from the rewarder's
/// capacity sources over each batch. A provider is caught at its first invalid verdict
/// other than a timeout (an honest device misses some), or when disqualified.
fn providers(c: &ProofSimConfig) -> PartRun {
    let result = proofs::run(c);
    let index: BTreeMap<KeyId, usize> = result
        .devices
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (*k, i))
        .collect();
    let mut recorded = Recorded::new(
        result
            .devices
            .iter()
            .map(|(k, b)| (*k, b.label(), b.honest()))
            .collect(),
    );
    let kinds = result
        .devices
        .iter()
        .map(|(_, b)| {
            if b.storage() {
                DeviceKind::Storage
            } else {
                DeviceKind::Compute
            }
        })
        .collect();
    for (e, batch) in result.verdicts.iter().enumerate() {
        let epoch = e as u64 + 1;
        for v in &batch.verdicts {
            if let Outcome::Invalid(why) = v.outcome
                && why != ReasonCode::Timeout
                && let Some(i) = index.get(&v.device)
            {
                recorded.flag(*i, epoch, why);
            }
        }
        for s in &batch.standings {
            if s.reputation.status == Status::Disqualified
                && let Some(i) = index.get(&s.device)
            {
                recorded.flag(*i, epoch, ReasonCode::Timeout);
            }
        }
        // Reputation already weighs a caught provider's units down: they are paid as
        // the rewarder would, not withheld.
        let summary = WorkSummary::of(batch);
        let units: BTreeMap<usize, u128> = StorageCapacity(&summary)
            .units()
            .into_iter()
            .chain(ComputeCapacity(&summary).units())
            .filter_map(|(k, u)| Some((*index.get(&k)?, u)))
            .filter(|(_, u)| *u > 0)
            .collect();
        recorded.units.push(units);
    }
    PartRun { recorded, kinds }
}

/// Run every part on `threads` workers, calling `done(parts finished, devices finished)`
/// as each finishes. Results come back in the parts' order.
fn run_parts(parts: &[Part], threads: usize, done: &(dyn Fn(usize, usize) + Sync)) -> Vec<PartRun> {
    let next = AtomicUsize::new(0);
    let finished = Mutex::new((0usize, 0usize));
    let slots: Vec<Mutex<Option<PartRun>>> = parts.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(part) = parts.get(i) else { break };
                    let run = part.run();
                    *slots[i].lock().expect("no worker panics holding it") = Some(run);
                    let mut f = finished.lock().expect("no worker panics holding it");
                    f.0 += 1;
                    f.1 += part.devices();
                    done(f.0, f.1);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .expect("no worker panicked")
                .expect("every part ran")
        })
        .collect()
}

/// One epoch's economics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EconLine {
    pub epoch: u64,
    pub emission: Tokens,
    /// What consumers spent (10⁻⁸ USD), and the tokens they burned for the credits.
    #[serde(with = "cairn_core::amount::u128_string")]
    pub demand_usd_e8: u128,
    pub burned: Tokens,
    /// The device pools: paid for usage, for capacity, and held apart for denylisted
    /// devices (part of both).
    pub usage: Tokens,
    pub capacity: Tokens,
    pub withheld: Tokens,
    /// Validators, oracles and the treasury.
    pub others: Tokens,
    /// Nobody eligible in a pool.
    pub unallocated: Tokens,
    /// Paid (not withheld) to devices, and of it to dishonest ones.
    pub paid_devices: Tokens,
    pub paid_dishonest: Tokens,
    pub devices_paid: u64,
    /// Burned value over emitted value (both at the price), ppm.
    pub demand_coverage_ppm: u64,
}

/// A whole network's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkResult {
    pub seed: u64,
    pub epochs: u64,
    /// Devices by kind: (kind, devices, dishonest).
    pub kinds: Vec<(String, usize, usize)>,
    pub parts: usize,
    pub quality: QualityResult,
    pub economics: Vec<EconLine>,
}

impl NetworkResult {
    pub fn devices(&self) -> usize {
        self.kinds.iter().map(|k| k.1).sum()
    }
}

/// A seeded weight from 1 to 99 with a heavy tail (1 + 99·u³, u uniform in [0, 1) on 16
/// bits): how much consumers use a device in an epoch. Integers, like everything that
/// decides who is paid.
fn demand_weight(seed: u64, device: usize, epoch: u64) -> u128 {
    let h = Hash::of(&[seed, device as u64, epoch].map(u64::to_le_bytes).concat());
    let u = u128::from(u16::from_le_bytes([h.as_bytes()[0], h.as_bytes()[1]]));
    1 + 99 * u * u * u / (1 << 48)
}
/// Run the whole network, calling `progress(parts done, devices done)` as parts finish.
pub fn run(c: &NetworkConfig, progress: &(dyn Fn(usize, usize) + Sync)) -> NetworkResult {
    let parts = plan(c);
    let threads = if c.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        c.threads
    };
    let runs = run_parts(&parts, threads, progress);
    // One index over the whole network, parts in order.
    let mut devices: Vec<(KeyId, String, bool)> = Vec::new();
    let mut kinds: Vec<DeviceKind> = Vec::new();
    let mut flagged: BTreeMap<usize, (u64, ReasonCode)> = BTreeMap::new();
    let mut units: Vec<Vec<(usize, u128)>> = vec![Vec::new(); c.epochs as usize];
    for run in &runs {
        let base = devices.len();
        devices.extend(run.recorded.devices.iter().cloned());
        kinds.extend(&run.kinds);
        for (i, f) in &run.recorded.flagged {
            flagged.insert(base + i, *f);
        }
        for (e, epoch) in run.recorded.units.iter().enumerate() {
            units[e].extend(epoch.iter().map(|(i, u)| (base + i, *u)));
        }
    }
    drop(runs);
    let mut tally = Tally::new(devices.iter().map(|d| (d.1.clone(), d.2)).collect());
    for (i, (epoch, why)) in &flagged {
        tally.flag(*i, *epoch, *why);
    }
    let index: BTreeMap<KeyId, usize> = devices.iter().enumerate().map(|(i, d)| (d.0, i)).collect();
    let params = Params::default();
    let validator = party(c.seed, "validator");
    let oracle = party(c.seed, "oracle");
    let mut economics = Vec::new();
    for epoch in 1..=c.epochs {
        let caught_by = |i: usize, e: u64| flagged.get(&i).is_some_and(|(f, _)| *f <= e);
        // Coverage and sensor cheats caught are denylisted; providers are weighed by
        // their reputation instead.
        let facts: BTreeMap<KeyId, DeviceFacts> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let kind = kinds[i];
                let denylisted = matches!(kind, DeviceKind::Coverage | DeviceKind::Sensor)
                    && caught_by(i, epoch);
                (
                    d.0,
                    DeviceFacts {
                        kind,
                        withheld: denylisted,
                    },
                )
            })
            .collect();
        let emission = emission_for_epoch(&params, Epoch(epoch));
        // Demand: a tenth of the emission's value, a quarter more each epoch, up to twice
        // its value.
        let emitted_usd_e8 = emission.base_units() * PRICE_USD_E8 / Tokens::ONE.base_units();
        let demand_usd_e8 = match economics.last() {
            None => emitted_usd_e8 / 10,
            Some(EconLine { demand_usd_e8, .. }) => (demand_usd_e8 * 5 / 4).min(2 * emitted_usd_e8),
        };
        let credits_total = demand_usd_e8 / USD_E8_PER_CREDIT;
        let mut usage: Vec<(KeyId, Usage)> = Vec::new();
        let mut burned: u128 = 0;
        for (kind, pm) in DEMAND_PM {
            // Consumers use devices not caught before this epoch.
            let weights: Vec<(usize, u128)> = (0..devices.len())
                .filter(|i| kinds[*i] == kind && !caught_by(*i, epoch - 1))
                .map(|i| (i, demand_weight(c.seed, i, epoch)))
                .collect();
            let credits = credits_total * pm / 1_000;
            for (i, cr) in pro_rata(credits, &weights).unwrap_or_default() {
                let credits = cairn_core::Credits::from_base_units(cr);
                let tokens = tokens_for(credits, PRICE_USD_E8).unwrap_or(Tokens::ZERO);
                burned += tokens.base_units();
                usage.push((devices[i].0, Usage { credits, tokens }));
            }
        }
        let sources: Vec<SimCapacity> = [
            DeviceKind::Coverage,
            DeviceKind::Storage,
            DeviceKind::Compute,
            DeviceKind::Sensor,
        ]
        .into_iter()
        .map(|kind| SimCapacity {
            pool: pool_of(kind),
            units: units[epoch as usize - 1]
                .iter()
                .filter(|(i, _)| kinds[*i] == kind)
                .map(|(i, u)| (devices[*i].0, *u))
                .collect(),
        })
        .collect();
        let capacity: Vec<&dyn CapacitySource> =
            sources.iter().map(|s| s as &dyn CapacitySource).collect();
        let rewards = compute(&RewardInput {
            epoch: Epoch(epoch),
            emission,
            params: &params,
            devices: &facts,
            usage: &usage,
            capacity: &capacity,
            validators: &[ValidatorActivity {
                validator,
                blocks_proposed: 1,
                faults: 0,
            }],
            oracles: &[oracle],
        })
        .expect("the simulated amounts are far from overflowing");
        let mut paid: BTreeMap<usize, u128> = BTreeMap::new();
        let (mut paid_devices, mut paid_dishonest) = (0u128, 0u128);
        for (payee, amount) in &rewards.payouts {
            if let Payee::Device(k) = payee
                && !rewards.withheld.contains_key(k)
            {
                let i = index[k];
                paid.insert(i, amount.base_units());
                paid_devices += amount.base_units();
                if !devices[i].2 {
                    paid_dishonest += amount.base_units();
                }
            }
        }
        tally.pay_epoch(&paid);
        let (mut usage_paid, mut capacity_paid, mut others) = (0u128, 0u128, 0u128);
        for p in &rewards.pools {
            if matches!(
                p.pool,
                Pool::Coverage | Pool::Storage | Pool::Compute | Pool::Sensor
            ) {
                usage_paid += p.usage.base_units();
                capacity_paid += p.capacity.base_units();
            } else {
                others += p.amount.base_units() - p.unallocated.base_units();
            }
        }
        let withheld: u128 = rewards.withheld.values().map(|t| t.base_units()).sum();
        // What was burned was bought at the same price the emission is valued at, so
        // coverage is the ratio of tokens.
        let demand_coverage_ppm = ppm(burned, emission.base_units());
        economics.push(EconLine {
            epoch,
            emission,
            demand_usd_e8,
            burned: Tokens::from_base_units(burned),
            usage: Tokens::from_base_units(usage_paid),
            capacity: Tokens::from_base_units(capacity_paid),
            withheld: Tokens::from_base_units(withheld),
            others: Tokens::from_base_units(others),
            unallocated: rewards.unallocated,
            paid_devices: Tokens::from_base_units(paid_devices),
            paid_dishonest: Tokens::from_base_units(paid_dishonest),
            devices_paid: paid.len() as u64,
            demand_coverage_ppm,
        });
    }
    let mut by_kind: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for (i, d) in devices.iter().enumerate() {
        let e = by_kind.entry(kinds[i].name()).or_default();
        e.0 += 1;
        e.1 += usize::from(!d.2);
    }
    NetworkResult {
        seed: c.seed,
        epochs: c.epochs,
        kinds: by_kind
            .into_iter()
            .map(|(k, (n, d))| (k.to_string(), n, d))
            .collect(),
        parts: parts.len(),
        quality: tally.result(),
        economics,
    }
}

/// A simulated party's key (a validator, an oracle).
fn party(seed: u64, label: &str) -> PublicKey {
    let h = Hash::of(&[label.as_bytes(), &seed.to_le_bytes()].concat());
    cairn_core::Keypair::from_seed(h.as_bytes()).public()
}

/// One pool's capacity units, as a verifier measured them.
#[derive(Debug)]
struct SimCapacity {
    pool: Pool,
    units: Vec<(KeyId, u128)>,
}

impl CapacitySource for SimCapacity {
    fn pool(&self) -> Pool {
        self.pool
    }

    fn units(&self) -> Vec<(KeyId, u128)> {
        self.units.clone()
    }
}
