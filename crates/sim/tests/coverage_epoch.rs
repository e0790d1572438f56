//! Coverage through the real epoch verifier: issued beacon challenges, signed beacon and
//! witness reports from simulated radios (RSSI from the world model), one verdict per
//! radio with its units, refusals by reason and capacity. Bad reports — a beacon at the
//! wrong power, malformed and future witness reports, witnesses of a beacon nobody sent, a
//! tampered challenge — get reason codes, never a crash; two runs over the same records
//! (in any order) give the same bytes.

use std::collections::BTreeMap;

use cairn_core::{Hash, Height, Keypair, Location, NetworkId, PublicKey, codec::encode};
use cairn_ledger::Params;
use cairn_ledger::tx::DeviceKind;
use cairn_proto::v1::challenge::Task;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::{BeaconReport, Challenge, IssuedChallenge, LogRecord, WitnessReport};
use cairn_sim::proofs::{Behaviour, NETWORK, SimDevice, issued_record};
use cairn_sim::world::RadioWorld;
use cairn_verify::challenge::{self, SeedInput};
use cairn_verify::coverage::{CoverageParams, beacon_payload};
use cairn_verify::verdict::{Outcome, ReasonCode, Subject, WorkKind};
use cairn_verify::{ChainView, EpochInput, EpochOutput, Registry, Site, VerifierParams, run_epoch};

const T0: u64 = 1_780_000_000_000;
const EPOCH_MS: u64 = 3_600_000;
const FREQ: u64 = 915_000_000;

struct Net {
    network: NetworkId,
    chain: ChainView,
    records: Vec<LogRecord>,
    radios: Vec<PublicKey>,
}

fn empty_chain() -> ChainView {
    ChainView {
        height: Height(10),
        entropy: Hash::of(b"block"),
        params: Params::default(),
        devices: BTreeMap::new(),
        sites: BTreeMap::new(),
        denylisted: Default::default(),
    }
}

/// The challenger's beacon challenge for `device` in epoch 1, issued at `at`: its seed
/// and the challenge.
fn beacon_challenge(block: &Hash, device: &PublicKey, at: u64) -> ([u8; 32], Challenge) {
    let vp = VerifierParams::from_ledger(&Params::default());
    let seed = challenge::seed(SeedInput {
        block_hash: block,
        device,
        epoch: 1,
        slot: 0,
        attempt: 0,
    });
    let powers = CoverageParams::default().tx_powers_dbm10;
    let c = challenge::beacon_challenge(seed, &powers, at, at + vp.beacon_deadline());
    (seed, c)
}

/// The log record of an issued challenge.
fn issued(block: &Hash, device: &PublicKey, c: &Challenge, at: u64) -> LogRecord {
    issued_record(
        IssuedChallenge {
            device_key: device.as_bytes().to_vec(),
            epoch: 1,
            attempt: 0,
            block_hash: block.0.to_vec(),
            block_height: 9,
            challenge: Some(c.clone()),
            slot: 0,
        },
        at,
    )
}

fn witness(beaconer: &PublicKey, payload: &[u8], rssi: i32, at: u64) -> Body {
    Body::Witness(WitnessReport {
        beaconer_key: beaconer.as_bytes().to_vec(),
        payload: payload.to_vec(),
        rssi_dbm_x10: rssi,
        snr_db_x10: 50,
        frequency_hz: FREQ,
        received_at_ms: at,
    })
}

/// Nine radios on a 3 × 3 grid 1.5 km apart, each challenged once; radio 8 beacons at
/// the wrong power; radio 1 also sends bad witness reports; a tenth radio's challenge was
/// tampered with by the challenger.
fn network() -> Net {
    let network = NetworkId::new(NETWORK).unwrap();
    let world = RadioWorld::new(3);
    let powers = CoverageParams::default().tx_powers_dbm10;
    let block = Hash([4; 32]);
    let maker = Keypair::from_seed(&[200; 32]).public();
    let mut chain = empty_chain();
    let mut devices: Vec<SimDevice> = (0..10u8)
        .map(|i| SimDevice::new([i + 1; 32], Behaviour::HonestStorage, &network))
        .collect();
    let sites: Vec<(f64, f64)> = (0..10)
        .map(|i| {
            (
                48.0 + 0.0135 * f64::from(i % 3),
                2.0 + 0.02 * f64::from(i / 3),
            )
        })
        .collect();
    for (i, d) in devices.iter().enumerate() {
        chain.devices.insert(d.device(), DeviceKind::Coverage);
        chain.sites.insert(
            d.device(),
            Site {
                owner: Keypair::from_seed(&[100 + i as u8; 32]).public(),
                maker,
                onboarded_at: Height(i as u64),
                location: Some(Location::from_degrees(sites[i].0, sites[i].1, 12).unwrap()),
            },
        );
    }
    let mut records = Vec::new();
    // (beaconer index, payload, tx power, transmitted at).
    let mut beacons: Vec<(usize, Vec<u8>, i32, u64)> = Vec::new();
    for (i, dev) in devices.iter_mut().enumerate() {
        let device = dev.device();
        let at = T0 + 60_000 * (i as u64 + 1);
        let (seed, mut c) = beacon_challenge(&block, &device, at);
        if i == 9 {
            // The challenger tampered: a power the seed did not draw.
            if let Some(Task::Beacon(b)) = &mut c.task {
                b.tx_power_dbm_x10 += 30;
            }
        }
        records.push(issued(&block, &device, &c, at));
        if i == 9 {
            continue;
        }
        let nonce = [i as u8; 8];
        let payload = beacon_payload(&seed, &device, &nonce).to_vec();
        let drawn = challenge::beacon_power(&seed, &powers);
        // Radio 8 transmits louder than it was told to.
        let tx = if i == 8 { drawn + 30 } else { drawn };
        records.push(dev.record(
            &network,
            Body::Beacon(BeaconReport {
                entropy: seed.to_vec(),
                payload: payload.clone(),
                tx_power_dbm_x10: tx,
                frequency_hz: FREQ,
                transmitted_at_ms: at + 100,
                challenge_id: c.challenge_id.clone(),
                nonce: nonce.to_vec(),
            }),
            at + 200,
        ));
        beacons.push((i, payload, tx, at));
    }
    // Everyone who hears a beacon reports it, with RSSI from the world model.
    for (b, payload, tx, at) in &beacons {
        let beaconer = devices[*b].device();
        for w in 0..9usize {
            if w == *b {
                continue;
            }
            let (la, lo) = sites[*b];
            let (lb, lob) = sites[w];
            let dy = (lb - la) * 111_195.0;
            let dx = (lob - lo) * 111_195.0 * la.to_radians().cos();
            let d = (dx * dx + dy * dy).sqrt();
            let Some(dbm) = world.received_dbm(
                *b as u64,
                w as u64,
                *at,
                d,
                FREQ as f64,
                f64::from(*tx) / 10.0,
                6.0,
            ) else {
                continue;
            };
            let rssi = (dbm * 10.0).round() as i32;
            let heard = at + 100;
            let body = witness(&beaconer, payload, rssi, heard);
            records.push(devices[w].record(&network, body, at + 300 + 20 * w as u64));
        }
    }
    // Radio 1's bad witness reports.
    let beaconer0 = devices[0].device();
    let at = T0 + 30 * 60_000;
    for body in [
        witness(&beaconer0, &[7; 31], -900, at), // a payload of 31 bytes
        witness(&beaconer0, &[7; 32], -900, at + 120_000), // heard two minutes from now
        witness(&beaconer0, &[7; 32], -900, at), // a beacon nobody sent
    ] {
        records.push(devices[1].record(&network, body, at));
    }
    // A storage device's witness report: not a radio, ignored.
    let mut disk = SimDevice::new([77; 32], Behaviour::HonestStorage, &network);
    chain.devices.insert(disk.device(), DeviceKind::Storage);
    records.push(disk.record(&network, witness(&beaconer0, &[7; 32], -900, at), at));
    Net {
        network,
        chain,
        records,
        radios: devices.iter().map(SimDevice::device).collect(),
    }
}

fn run(net: &Net, records: Vec<LogRecord>) -> EpochOutput {
    run_epoch(EpochInput {
        network: &net.network,
        epoch: 1,
        epoch_end_ms: T0 + EPOCH_MS,
        chain: &net.chain,
        registry: Registry::default(),
        prior: &[],
        carried: Default::default(),
        records,
        jobs: &BTreeMap::new(),
    })
}

#[test]
fn beacons_and_witnesses_become_verdicts_units_and_capacity() {
    let net = network();
    let out = run(&net, net.records.clone());
    assert_eq!(out.challenger_faults, 1, "the tampered beacon challenge");
    let by: BTreeMap<_, _> = out.batch.verdicts.iter().map(|v| (v.device, v)).collect();
    assert_eq!(
        by.len(),
        9,
        "one verdict per radio that worked; none for the disk"
    );
    for v in by.values() {
        assert_eq!((v.kind, v.subject), (WorkKind::Coverage, Subject::Epoch));
    }
    let capacity: BTreeMap<_, _> = out
        .batch
        .capacity
        .iter()
        .filter(|c| c.kind == WorkKind::Coverage)
        .map(|c| (c.device, c.amount))
        .collect();
    // Radios 0–7: their beacon counted, they witnessed others, they earned units.
    for (i, radio) in net.radios.iter().take(8).enumerate() {
        let v = by[&radio.id()];
        assert_eq!(v.outcome, Outcome::Valid, "radio {i}: {}", v.detail);
        assert_eq!(
            v.measure("beacons_valid"),
            Some(1),
            "radio {i}: {}",
            v.detail
        );
        assert!(v.measure("witnesses_valid").unwrap() >= 1, "{}", v.detail);
        assert!(v.measure("units_ppm").unwrap() > 0);
        assert_eq!(
            capacity[&radio.id()],
            v.measure("units_ppm").unwrap() as u64
        );
    }
    // Radio 8: its beacon broke the drawn power; it still earned as a witness.
    let v = by[&net.radios[8].id()];
    assert_eq!(v.measure("beacons_valid"), Some(0), "{}", v.detail);
    assert_eq!(v.measure("wrong_transmit_power"), Some(1));
    assert!(v.measure("witnesses_valid").unwrap() >= 1);
    // Radio 1's bad reports, each under its reason, as evidence.
    let v = by[&net.radios[1].id()];
    assert_eq!(v.measure("malformed_witness"), Some(1), "{}", v.detail);
    assert_eq!(v.measure("future_witness"), Some(1));
    assert_eq!(v.measure("witness_payload_mismatch"), Some(1));
    assert_eq!(v.evidence.len(), 3);
    // The tampered challenge's radio has no verdict and no capacity.
    assert!(!by.contains_key(&net.radios[9].id()));
    assert_eq!(capacity.get(&net.radios[9].id()).copied().unwrap_or(0), 0);
    // Determinism: the records in reverse order give the same bytes.
    let mut reversed = net.records.clone();
    reversed.reverse();
    assert_eq!(encode(&out.batch), encode(&run(&net, reversed).batch));
    // A radio that beacons but never witnesses proves nothing (reciprocity).
    let silent = net.radios[2];
    let records: Vec<LogRecord> = net
        .records
        .iter()
        .filter(|r| {
            let from_silent = r.report.as_ref().is_some_and(|s| {
                <cairn_proto::Report as prost::Message>::decode(s.report.as_slice()).is_ok_and(
                    |rep| {
                        rep.device_key == silent.as_bytes()
                            && matches!(rep.body, Some(Body::Witness(_)))
                    },
                )
            });
            !from_silent
        })
        .cloned()
        .collect();
    let v = run(&net, records)
        .batch
        .verdicts
        .into_iter()
        .find(|v| v.device == silent.id())
        .unwrap();
    assert_eq!(
        v.outcome,
        Outcome::Invalid(ReasonCode::NoReciprocity),
        "{}",
        v.detail
    );
}

/// Radios as the agent runs them: simulated drivers sharing one world's air. Each answers
/// its beacon challenge through `Driver::answer` (which transmits), every radio is asked
/// what it heard every 200 ms as the agent does, and the signed reports go through the
/// epoch verifier. Honest radios 1.5 km apart hear each other and all earn.
#[test]
fn radios_on_the_shared_air_earn_through_the_verifier() {
    use cairn_agent::{AgentKind, Driver};
    use cairn_sim::{SimWorld, driver_from_config};

    let network = NetworkId::new(NETWORK).unwrap();
    let world = SimWorld::new(5);
    let block = Hash([6; 32]);
    let maker = Keypair::from_seed(&[201; 32]).public();
    let mut chain = empty_chain();
    let mut devices: Vec<SimDevice> = (0..9u8)
        .map(|i| SimDevice::new([i + 40; 32], Behaviour::HonestStorage, &network))
        .collect();
    let mut radios: Vec<Driver> = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        let (lat, lng) = (48.0 + 0.0135 * (i % 3) as f64, 2.0 + 0.02 * (i / 3) as f64);
        let text = format!("lat = {lat}\nlng = {lng}");
        let table: toml::Table = toml::from_str(&text).unwrap();
        radios.push(driver_from_config(AgentKind::Coverage, &table, &d.device(), &world).unwrap());
        chain.devices.insert(d.device(), DeviceKind::Coverage);
        chain.sites.insert(
            d.device(),
            Site {
                owner: Keypair::from_seed(&[150 + i as u8; 32]).public(),
                maker,
                onboarded_at: Height(1),
                location: Some(Location::from_degrees(lat, lng, 12).unwrap()),
            },
        );
    }
    assert_eq!(world.radios(), 9);
    let mut records = Vec::new();
    for i in 0..devices.len() {
        let device = devices[i].device();
        let at = T0 + 60_000 * (i as u64 + 1);
        let (_, c) = beacon_challenge(&block, &device, at);
        records.push(issued(&block, &device, &c, at));
        let body = radios[i].answer(&c, &device, at + 50).unwrap();
        assert!(matches!(body, Body::Beacon(_)));
        records.push(devices[i].record(&network, body, at + 100));
        // The agents ask their radios every 200 ms; a report reaches ingest 50 ms later.
        for step in 1..=25u64 {
            let now = at + 50 + 200 * step;
            for (w, radio) in radios.iter_mut().enumerate() {
                for body in radio.listen(now) {
                    records.push(devices[w].record(&network, body, now + 50));
                }
            }
        }
    }
    // The node reads only the kinds the verifier judges: every record here is one.
    let read: Vec<LogRecord> = records
        .iter()
        .filter(|r| {
            cairn_verify::epoch::JUDGED_KINDS
                .iter()
                .any(|k| *k as i32 == r.kind)
        })
        .cloned()
        .collect();
    assert_eq!(read.len(), records.len());
    let out = run_epoch(EpochInput {
        network: &network,
        epoch: 1,
        epoch_end_ms: T0 + EPOCH_MS,
        chain: &chain,
        registry: Registry::default(),
        prior: &[],
        carried: Default::default(),
        records: read,
        jobs: &BTreeMap::new(),
    });
    let by: BTreeMap<_, _> = out.batch.verdicts.iter().map(|v| (v.device, v)).collect();
    assert_eq!(by.len(), 9);
    let mut witnessed = 0;
    for (i, d) in devices.iter().enumerate() {
        let v = by[&d.device().id()];
        assert_eq!(v.outcome, Outcome::Valid, "radio {i}: {}", v.detail);
        assert_eq!(
            v.measure("beacons_valid"),
            Some(1),
            "radio {i}: {}",
            v.detail
        );
        assert!(
            v.measure("units_ppm").unwrap() > 0,
            "radio {i}: {}",
            v.detail
        );
        witnessed += v.measure("witnesses_valid").unwrap();
    }
    // Most pairs within a few kilometres hear each other.
    assert!(witnessed >= 9 * 4, "{witnessed} witnesses paid");
    drop(radios);
    assert_eq!(world.radios(), 0, "a dropped driver leaves the air");
}
