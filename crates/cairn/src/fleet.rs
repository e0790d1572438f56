//! The devnet's simulated fleet: a few devices of every kind, onboarded through the real
//! ledger (maker attestation, owner signature, fee burned), their sites asserted on the
//! ledger, and run as real agents with simulated drivers, reporting over gRPC to the
//! node's ingest like any device. Radios and stations share one simulated world
//! (`cairn_sim::live`): radios hear each other through its air, stations measure its
//! weather. Some devices cheat, as the simulator's adversary classes do ([`plan`]), so the
//! verifiers have someone to catch.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_agent::{Agent, AgentConfig, AgentKind};
use cairn_core::envelope::sign_detached;
use cairn_core::{Credits, KeyUri, Location, PublicKey};
use cairn_ledger::tx::{DeviceConsent, MakerAttestation};
use cairn_ledger::{ParamId, TxKind};
use cairn_node::node::Node;

use crate::agent_cmd::ledger_kind;

/// Which devices the devnet runs and where their keys and queues live.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub dir: PathBuf,
    pub devices: usize,
    pub ingest: std::net::SocketAddr,
    pub owner_key: PathBuf,
    pub maker_key: PathBuf,
    /// The simulated consumers' account key (a devnet made before they existed has none).
    pub consumer_key: PathBuf,
}

const KINDS: [AgentKind; 4] = [
    AgentKind::Sensor,
    AgentKind::Compute,
    AgentKind::Storage,
    AgentKind::Coverage,
];

/// Onboard what is missing, then run every device's agent until `stop` turns true; each
/// agent then shuts down cleanly (closing its connections and flushing its queue).
pub async fn run(node: Arc<Node>, spec: FleetSpec, stop: tokio::sync::watch::Receiver<bool>) {
    if let Err(e) = run_inner(node, spec, stop).await {
        eprintln!("cairn devnet: simulated fleet stopped: {e:#}");
    }
}

async fn run_inner(
    node: Arc<Node>,
    spec: FleetSpec,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let owner = KeyUri::File(spec.owner_key.clone()).load_keypair()?;
    let maker = KeyUri::File(spec.maker_key.clone()).load_keypair()?;
    let network = node.network().clone();
    let mut devices = Vec::new();
    for i in 0..spec.devices {
        let dir = spec.dir.join(format!("device-{i}"));
        std::fs::create_dir_all(&dir)?;
        let key = KeyUri::File(dir.join("device.key"));
        if !dir.join("device.key").exists() {
            key.generate()?;
        }
        devices.push((dir, key.load_keypair()?, KINDS[i % KINDS.len()]));
    }

    // One world for the whole fleet, the same across restarts.
    let seed = u64::from_le_bytes(owner.public().as_bytes()[..8].try_into().expect("8 bytes"));
    let world = cairn_sim::SimWorld::new(seed);
    let keys: Vec<PublicKey> = devices.iter().map(|(_, k, _)| k.public()).collect();
    let plans: Vec<Planned> = (0..devices.len()).map(|i| plan(seed, i, &keys)).collect();

    // Onboard the devices the ledger does not know yet, and assert the sites it does not
    // have.
    let missing: Vec<usize> = (0..devices.len())
        .filter(|&i| !node.state().devices.contains_key(&devices[i].1.public()))
        .collect();
    let unsited = |i: &usize| {
        node.state()
            .devices
            .get(&keys[*i])
            .is_none_or(|d| d.location != Some(plans[*i].asserted))
    };
    let to_site: Vec<usize> = (0..devices.len()).filter(unsited).collect();
    if !missing.is_empty() || !to_site.is_empty() {
        // Credits need a fresh price: wait (up to a minute) for the price feed.
        let mut price = cairn_ledger::price_at_tip(&node.state());
        for _ in 0..600 {
            if price.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            price = cairn_ledger::price_at_tip(&node.state());
        }
        let price = price.map_err(|e| anyhow::anyhow!("no token price for credits: {e}"))?;
        let state = node.state();
        let fee = state.params.get(ParamId::OnboardingFeeCredits);
        let site_fee = state.params.get(ParamId::LocationFeeCredits);
        let need = (fee * missing.len() as u128 + site_fee * to_site.len() as u128)
            .saturating_sub(state.account(&owner.public()).credits.base_units());
        let mut txs: Vec<(TxKind, &str)> = Vec::new();
        if need > 0 {
            let amount = cairn_ledger::tokens_for(Credits::from_base_units(need), price)
                .ok_or_else(|| anyhow::anyhow!("cannot price {need} credits at {price}"))?;
            txs.push((
                TxKind::MintCredits { amount },
                "minting credits for the fleet",
            ));
        }
        for &i in &missing {
            let (_, device, kind) = &devices[i];
            let kind = ledger_kind(*kind);
            let tx = TxKind::OnboardDevice {
                device: device.public(),
                kind,
                maker: maker.public(),
                maker_signature: sign_detached(
                    &maker,
                    &network,
                    &MakerAttestation {
                        device: device.public(),
                        kind,
                    },
                ),
                device_signature: sign_detached(
                    device,
                    &network,
                    &DeviceConsent {
                        owner: owner.public(),
                    },
                ),
            };
            txs.push((tx, "onboarding a fleet device"));
        }
        for &i in &to_site {
            let tx = TxKind::AssertLocation {
                device: keys[i],
                location: plans[i].asserted,
            };
            txs.push((tx, "asserting a fleet device's site"));
        }
        // The mempool takes a sender's transactions at most 64 nonces ahead of the chain:
        // a large fleet waits for earlier ones to be finalized.
        let first = state.account(&owner.public()).nonce;
        for (nonce, (tx, what)) in (first..).zip(txs) {
            let mut waited = 0;
            while nonce >= node.state().account(&owner.public()).nonce + 48 {
                if waited > 600 {
                    bail!("{what}: earlier fleet transactions were not finalized within a minute");
                }
                waited += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            node.submit(node.sign_tx(&owner, nonce, tx))
                .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
        }
        let mut waited = 0;
        while missing
            .iter()
            .any(|&i| !node.state().devices.contains_key(&devices[i].1.public()))
            || to_site.iter().any(unsited)
        {
            if waited > 600 {
                bail!("the fleet's onboarding transactions were not finalized within a minute");
            }
            waited += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !missing.is_empty() {
            eprintln!(
                "cairn devnet: onboarded {} simulated devices (maker attestation, owner signature, {} credits burned each)",
                missing.len(),
                fee
            );
        }
        let cheats = plans.iter().filter(|p| p.class != "honest").count();
        eprintln!(
            "cairn devnet: {} sites asserted; {} of {} simulated devices cheat",
            to_site.len(),
            cheats,
            plans.len()
        );
    }

    // A JoinSet also aborts every agent if the fleet task itself is aborted.
    let mut running = tokio::task::JoinSet::new();
    for (i, (dir, device, kind)) in devices.into_iter().enumerate() {
        // Storage and compute devices serve consumers (`cairn storage`, `cairn compute`)
        // on a port of their own.
        let service = if matches!(kind, AgentKind::Storage | AgentKind::Compute) {
            "[service]\nlisten = \"127.0.0.1:0\"\n"
        } else {
            ""
        };
        let text = format!(
            "network = {:?}\nkind = {:?}\ningest = \"http://{}\"\ndata_dir = \"queue\"\n\
             heartbeat_interval_s = 10\nreading_interval_s = 30\nadmin_listen = \"127.0.0.1:0\"\n\
             {service}[driver]\n{}",
            network.as_str(),
            kind.as_str(),
            spec.ingest,
            plans[i].driver,
        );
        let config = AgentConfig::from_toml_str(&text, &dir)
            .with_context(|| format!("fleet device {i}'s config"))?;
        let driver = crate::agent_run::driver(&config, &device.public(), &world)?;
        let mut stop = stop.clone();
        running.spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = Agent::run(config, device, driver, shutdown).await {
                eprintln!("cairn devnet: fleet device {i} stopped: {e}");
            }
        });
    }
    while running.join_next().await.is_some() {}
    Ok(())
}

/// One fleet device: its simulated driver's `[driver]` settings, the site its owner
/// asserts, and its class (`honest` or the cheat).
#[derive(Debug, Clone)]
pub struct Planned {
    pub driver: String,
    pub asserted: Location,
    pub class: &'static str,
}

/// Where fleet devices are: radios within 3 km of the region's centre (so they hear each
/// other), everything else within 12 km.
const RADIO_RADIUS_KM: f64 = 3.0;
const OTHER_RADIUS_KM: f64 = 12.0;

/// `km` from `(lat, lng)` on a bearing, degrees.
fn offset((lat, lng): (f64, f64), km: f64, bearing: f64) -> (f64, f64) {
    (
        lat + km / 111.195 * bearing.cos(),
        lng + km / (111.195 * lat.to_radians().cos()) * bearing.sin(),
    )
}

/// A seeded point within `radius_km` of `centre`, spread evenly over the disc.
fn scatter(seed: u64, label: &str, id: u64, centre: (f64, f64), radius_km: f64) -> (f64, f64) {
    let u = |n| cairn_sim::world::unit(seed, label, &[id, n]);
    offset(
        centre,
        radius_km * u(0).sqrt(),
        2.0 * std::f64::consts::PI * u(1),
    )
}

fn cell((lat, lng): (f64, f64)) -> Location {
    Location::from_degrees(lat, lng, 12).expect("fleet sites are on the map")
}

/// Device `i` of the fleet (kinds in turn: sensor, compute, storage, coverage), from the
/// world's seed; `keys` are every fleet device's keys (a copier names its source). Within
/// each kind, every run of 20 devices has its cheats in fixed slots:
/// - coverage: slot 6 a location spoofer (asserts a site 5–30 km away), slot 12 a gain
///   inflator, slots 17–19 a farm (one box, sites asserted 1–5 km around it);
/// - sensor: slot 5 a cloner of slot 0 (asserting a site near it), slot 10 an indoor
///   station, slot 15 a fabricated smooth series, slot 19 a replayer of slot 1 (10
///   minutes late);
/// - compute: slot 7 returns wrong products;
/// - storage: slot 8 loses 10% of every replica's chunks, slot 16 loses all of them (both
///   simulated disks; honest providers use the real disk driver).
pub fn plan(seed: u64, i: usize, keys: &[PublicKey]) -> Planned {
    let kind = KINDS[i % KINDS.len()];
    let k = i / KINDS.len();
    let (cycle, slot) = (k / 20, k % 20);
    // The fleet index of the `slot`-th device of this kind in this cycle.
    let sibling = |slot: usize| (cycle * 20 + slot) * KINDS.len() + i % KINDS.len();
    let centre = (cairn_sim::live::REGION_LAT, cairn_sim::live::REGION_LNG);
    let id = i as u64;
    let at = |(lat, lng): (f64, f64)| format!("lat = {lat:.6}\nlng = {lng:.6}\n");
    match kind {
        AgentKind::Coverage => {
            let here = scatter(seed, "fleet-radio", id, centre, RADIO_RADIUS_KM);
            let bearing =
                2.0 * std::f64::consts::PI * cairn_sim::world::unit(seed, "fleet-bearing", &[id]);
            let far = |lo: f64, hi: f64| {
                let km = lo + (hi - lo) * cairn_sim::world::unit(seed, "fleet-far", &[id]);
                offset(here, km, bearing)
            };
            match slot {
                6 => Planned {
                    driver: at(here),
                    asserted: cell(far(5.0, 30.0)),
                    class: "spoofer",
                },
                12 => Planned {
                    driver: format!("{}cheat = \"inflate_gain\"\n", at(here)),
                    asserted: cell(here),
                    class: "gain_inflator",
                },
                17..=19 => {
                    let the_box =
                        scatter(seed, "fleet-farm", cycle as u64, centre, RADIO_RADIUS_KM);
                    let asserted = offset(
                        the_box,
                        1.0 + 4.0 * cairn_sim::world::unit(seed, "fleet-farm-km", &[id]),
                        bearing,
                    );
                    Planned {
                        driver: format!(
                            "{}asserted_lat = {:.6}\nasserted_lng = {:.6}\ncheat = \"farm\"\ngroup = \"farm-{cycle}\"\n",
                            at(the_box),
                            asserted.0,
                            asserted.1
                        ),
                        asserted: cell(asserted),
                        class: "farm",
                    }
                }
                _ => Planned {
                    driver: at(here),
                    asserted: cell(here),
                    class: "honest",
                },
            }
        }
        AgentKind::Sensor => {
            let here = scatter(seed, "fleet-sensor", id, centre, OTHER_RADIUS_KM);
            let copy = |of: usize, class: &'static str, extra: &str| {
                let source = keys.get(sibling(of)).copied();
                let near_source = scatter(
                    seed,
                    "fleet-sensor",
                    sibling(of) as u64,
                    centre,
                    OTHER_RADIUS_KM,
                );
                match source {
                    Some(source) => Planned {
                        driver: format!(
                            "{}cheat = \"{class}\"\nsource = \"{}\"\n{extra}",
                            at(here),
                            source.to_did()
                        ),
                        asserted: cell(offset(near_source, 0.5, 1.0)),
                        class,
                    },
                    None => Planned {
                        driver: at(here),
                        asserted: cell(here),
                        class: "honest",
                    },
                }
            };
            let cheat = |class: &'static str| Planned {
                driver: format!("{}cheat = \"{class}\"\n", at(here)),
                asserted: cell(here),
                class,
            };
            match slot {
                5 => copy(0, "clone", ""),
                10 => cheat("indoor"),
                15 => cheat("smooth"),
                19 => copy(1, "replay", "lag_s = 600\n"),
                _ => Planned {
                    driver: at(here),
                    asserted: cell(here),
                    class: "honest",
                },
            }
        }
        AgentKind::Compute | AgentKind::Storage => {
            let here = scatter(seed, "fleet-other", id, centre, OTHER_RADIUS_KM);
            let (driver, class) = match (kind, slot) {
                (AgentKind::Compute, 7) => ("wrong_product_ppm = 1000000\n", "wrong_products"),
                (AgentKind::Storage, 8) => ("lose_ppm = 100000\n", "lossy_storage"),
                (AgentKind::Storage, 16) => ("lose_ppm = 1000000\n", "discarded_storage"),
                // Honest storage keeps its replicas in files under its data directory
                // (the real disk driver), so they survive the devnet's restarts.
                (AgentKind::Storage, _) => (
                    "backend = \"disk\"\ncapacity_bytes = 1073741824\n",
                    "honest",
                ),
                _ => ("", "honest"),
            };
            Planned {
                driver: driver.into(),
                asserted: cell(here),
                class,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use cairn_core::Keypair;

    #[test]
    fn the_plan_places_every_device_and_its_cheats_build() {
        let keys: Vec<PublicKey> = (0..80u8)
            .map(|i| Keypair::from_seed(&[i; 32]).public())
            .collect();
        let plans: Vec<Planned> = (0..80).map(|i| plan(7, i, &keys)).collect();
        let again: Vec<String> = (0..80).map(|i| plan(7, i, &keys).driver).collect();
        assert_eq!(
            plans.iter().map(|p| p.driver.clone()).collect::<Vec<_>>(),
            again
        );
        let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &plans {
            *classes.entry(p.class).or_default() += 1;
        }
        assert_eq!(
            classes.into_iter().collect::<Vec<_>>(),
            vec![
                ("clone", 1),
                ("discarded_storage", 1),
                ("farm", 3),
                ("gain_inflator", 1),
                ("honest", 68),
                ("indoor", 1),
                ("lossy_storage", 1),
                ("replay", 1),
                ("smooth", 1),
                ("spoofer", 1),
                ("wrong_products", 1),
            ]
        );
        // Every driver builds in one world, in fleet order (a copier's source first).
        let world = cairn_sim::SimWorld::new(7);
        let dir = tempfile::tempdir().unwrap();
        let mut drivers = Vec::new();
        for (i, p) in plans.iter().enumerate() {
            let text = format!(
                "network = \"cairn-devnet\"\nkind = {:?}\ningest = \"http://127.0.0.1:1\"\n\
                 data_dir = \"device-{i}\"\nadmin_listen = \"127.0.0.1:0\"\n[driver]\n{}",
                KINDS[i % KINDS.len()].as_str(),
                p.driver
            );
            let config = AgentConfig::from_toml_str(&text, dir.path()).unwrap();
            drivers.push(
                crate::agent_run::driver(&config, &keys[i], &world)
                    .unwrap_or_else(|e| panic!("device {i}: {e:#}")),
            );
        }
        assert_eq!(world.radios(), 20);
        // The spoofer asserts a site 5–30 km from where its radio is; honest radios
        // assert their own cell, within 3 km of the centre.
        let point = |l: Location| cairn_verify::radio::Point::of(l);
        let centre = cairn_sim::live::cell_point(48.0, 2.0).unwrap();
        for (i, p) in plans.iter().enumerate() {
            if KINDS[i % KINDS.len()] != AgentKind::Coverage {
                continue;
            }
            let table: toml::Table = toml::from_str(&p.driver).unwrap();
            let real = cairn_sim::live::cell_point(
                table["lat"].as_float().unwrap(),
                table["lng"].as_float().unwrap(),
            )
            .unwrap();
            let off = real.distance_m(&point(p.asserted));
            match p.class {
                "spoofer" => assert!((5_000..=30_100).contains(&off), "{off}"),
                "honest" | "gain_inflator" => {
                    assert!(off < 20, "{off}");
                    assert!(centre.distance_m(&real) <= 3_050);
                }
                _ => {}
            }
        }
    }
}
