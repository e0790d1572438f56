//! Simulated drivers: determinism, physical ranges, real compute, configuration.

use cairn_agent::StorageDriver;
use cairn_agent::{AgentKind, Driver, DriverError};
use cairn_core::{Hash, Keypair, PublicKey};
use cairn_proto::compute::derive_matrices;
use cairn_proto::v1::challenge::Task;
use cairn_proto::v1::challenge_response::Answer;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::resource_report::Resource;
use cairn_proto::v1::*;
use std::sync::Arc;

use cairn_sim::{SimStorage, SimWorld, driver_from_config};
use cairn_verify::storage::{ReplicaRecord, check_chunk};

fn key(n: u8) -> PublicKey {
    Keypair::from_seed(&[n; 32]).public()
}

fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap()
}

fn sim(kind: AgentKind, text: &str, device: u8, seed: u64) -> Driver {
    in_world(kind, text, device, &SimWorld::new(seed))
}

fn in_world(kind: AgentKind, text: &str, device: u8, world: &Arc<SimWorld>) -> Driver {
    driver_from_config(kind, &table(text), &key(device), world).unwrap()
}

/// The readings at `times`, skipping the station's gaps.
fn readings(driver: &mut Driver, times: impl IntoIterator<Item = u64>) -> Vec<SensorReading> {
    times
        .into_iter()
        .filter_map(|t| match driver.periodic(t).pop() {
            Some(Body::SensorReading(r)) => Some(r),
            None => None,
            other => panic!("expected a reading, got {other:?}"),
        })
        .collect()
}

fn value(r: &SensorReading, q: Quantity) -> i64 {
    r.measurements
        .iter()
        .find(|m| m.quantity == q as i32)
        .unwrap_or_else(|| panic!("{q:?} missing"))
        .value
}

const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MINUTE: u64 = 60_000;

#[test]
fn sensor_is_deterministic_per_seed_and_device() {
    let times: Vec<u64> = (0..50).map(|i| T0 + i * 17 * MINUTE).collect();
    let a = readings(&mut sim(AgentKind::Sensor, "", 1, 42), times.clone());
    let b = readings(&mut sim(AgentKind::Sensor, "", 1, 42), times.clone());
    assert_eq!(a, b);
    // The same timestamp gives the same reading whatever was sampled before.
    let mut d = sim(AgentKind::Sensor, "", 1, 42);
    readings(&mut d, [T0 + 5, T0 + 999_999]);
    assert_eq!(readings(&mut d, [times[7]]), vec![a[7].clone()]);

    assert_ne!(
        a,
        readings(&mut sim(AgentKind::Sensor, "", 1, 43), times.clone())
    );
    assert_ne!(a, readings(&mut sim(AgentKind::Sensor, "", 2, 42), times));
}

#[test]
fn sensor_values_are_physical_and_smooth() {
    for device in 0..20u8 {
        let mut d = sim(AgentKind::Sensor, "", device, 7);
        // Three days, every ten minutes, with a few gaps.
        let times: Vec<u64> = (0..3 * 144).map(|i| T0 + i * 10 * MINUTE).collect();
        let rs = readings(&mut d, times.clone());
        assert!(rs.len() > times.len() * 95 / 100, "{} readings", rs.len());
        for r in &rs {
            assert_eq!(r.measurements.len(), 4);
            let t = value(r, Quantity::TemperatureCX100);
            let h = value(r, Quantity::HumidityPctX100);
            let p = value(r, Quantity::PressureHpaX100);
            let i = value(r, Quantity::IrradianceWM2);
            assert!((-4000..=6000).contains(&t), "temperature {t}");
            assert!((0..=10_000).contains(&h), "humidity {h}");
            assert!((87_000..=108_500).contains(&p), "pressure {p}");
            assert!((0..=1_200).contains(&i), "irradiance {i}");
        }
        // Apart from the odd spike (a +25 °C fault, about one reading in 2,000), the
        // temperature moves less than 1 °C and the pressure less than 1 hPa between
        // consecutive readings.
        let mut jumps = 0;
        for pair in rs.windows(2) {
            let dt = (value(&pair[1], Quantity::TemperatureCX100)
                - value(&pair[0], Quantity::TemperatureCX100))
            .abs();
            jumps += usize::from(dt >= 100);
            let dp = (value(&pair[1], Quantity::PressureHpaX100)
                - value(&pair[0], Quantity::PressureHpaX100))
            .abs();
            assert!(dp < 100, "pressure jumped {dp} (x100 hPa) in ten minutes");
        }
        assert!(jumps <= 4, "{jumps} temperature jumps");
        // There is a daily cycle: the day's range is more than the noise, and the sun
        // shines by day only.
        let day: Vec<i64> = rs[..130]
            .iter()
            .map(|r| value(r, Quantity::TemperatureCX100))
            .collect();
        let range = day.iter().max().unwrap() - day.iter().min().unwrap();
        assert!(range > 400, "diurnal range only {range}");
        let light: Vec<i64> = rs[..130]
            .iter()
            .map(|r| value(r, Quantity::IrradianceWM2))
            .collect();
        assert!(light.contains(&0) && light.iter().any(|i| *i > 100));
    }
}

#[test]
fn sensor_resource_from_config() {
    let mut d = sim(
        AgentKind::Sensor,
        "model = \"acme-ws2\"\nreadings_per_hour = 12\nheight_above_ground_cm = 150",
        1,
        1,
    );
    let Some(Resource::Sensor(r)) = d.resource_report().resource else {
        panic!("expected a sensor resource")
    };
    assert_eq!(r.model, "acme-ws2");
    assert_eq!(r.readings_per_hour, 12);
    assert_eq!(r.height_above_ground_cm, 150);
    assert_eq!(r.quantities.len(), 4);
    assert_eq!(d.summary().headline, 12);

    let Some(Resource::Sensor(r)) = sim(AgentKind::Sensor, "", 1, 1).resource_report().resource
    else {
        panic!()
    };
    assert_eq!(
        (r.model.as_str(), r.readings_per_hour),
        ("cairn-sim-th1", 60)
    );
}

fn naive(a: &[u64], b: &[u64], n: usize, m: u64) -> Vec<u64> {
    let mut c = vec![0; n * n];
    for i in 0..n {
        for j in 0..n {
            let mut s: u128 = 0;
            for k in 0..n {
                let p = u128::from(a[i * n + k]) * u128::from(b[k * n + j]);
                s = (s + p % u128::from(m)) % u128::from(m);
            }
            c[i * n + j] = s as u64;
        }
    }
    c
}

fn compute_challenge(seed: &[u8], n: u32, modulus: u64) -> Challenge {
    Challenge {
        challenge_id: vec![1; 32],
        issued_at_ms: 0,
        deadline_ms: 0,
        seed: seed.to_vec(),
        task: Some(Task::Compute(ComputeChallenge { n, modulus })),
    }
}

fn product(d: &mut Driver, c: &Challenge) -> Result<Vec<u64>, DriverError> {
    match d.answer(c, &key(1), 5)? {
        Body::ChallengeResponse(ChallengeResponse {
            answer: Some(Answer::Compute(r)),
            challenge_id,
            received_at_ms: 5,
        }) if challenge_id == c.challenge_id => Ok(r.product),
        other => panic!("unexpected answer {other:?}"),
    }
}

#[test]
fn compute_really_multiplies() {
    let mut d = sim(AgentKind::Compute, "class = 2\ncpu_cores = 16", 1, 1);
    for (n, m) in [
        (1u32, 2u64),
        (3, 101),
        (6, 65_521),
        (5, 18_446_744_073_709_551_557),
    ] {
        let seed = [n as u8; 32];
        let mats = derive_matrices(&seed, n, m).unwrap();
        let got = product(&mut d, &compute_challenge(&seed, n, m)).unwrap();
        assert_eq!(got, naive(&mats.a, &mats.b, n as usize, m), "n={n} m={m}");
        assert!(got.iter().all(|&x| x < m));
    }
    // Same challenge, same answer; another seed, another answer.
    let c = compute_challenge(b"abc", 4, 97);
    assert_eq!(product(&mut d, &c).unwrap(), product(&mut d, &c).unwrap());
    assert_ne!(
        product(&mut d, &c).unwrap(),
        product(&mut d, &compute_challenge(b"abd", 4, 97)).unwrap()
    );
    let Some(Resource::Compute(r)) = d.resource_report().resource else {
        panic!()
    };
    assert_eq!((r.class, r.cpu_cores), (2, 16));
}

#[test]
fn compute_refuses_oversized_or_degenerate_challenges() {
    let mut d = sim(AgentKind::Compute, "", 1, 1);
    for c in [
        compute_challenge(b"s", 513, 97),
        compute_challenge(b"s", 0, 97),
        compute_challenge(b"s", 4, 1),
    ] {
        assert!(matches!(product(&mut d, &c), Err(DriverError::Refused(_))));
    }
    let err = product(&mut d, &compute_challenge(b"s", 513, 97)).unwrap_err();
    assert!(err.to_string().contains("512"), "{err}");
}

#[test]
fn radio_defaults_and_beacons() {
    let mut d = sim(AgentKind::Coverage, "", 1, 1);
    let Some(Resource::Radio(r)) = d.resource_report().resource else {
        panic!()
    };
    assert_eq!(r.frequency_hz, 915_000_000);
    assert_eq!(r.max_tx_power_dbm_x10, 270);
    assert_eq!(r.region, "US915");
    assert_eq!(d.summary().headline, 915_000_000);
    assert!(d.listen(T0).is_empty(), "alone in its world: nothing heard");

    let beacon = |power| Challenge {
        challenge_id: vec![2; 32],
        issued_at_ms: 0,
        deadline_ms: 0,
        seed: vec![],
        task: Some(Task::Beacon(BeaconChallenge {
            entropy: vec![9; 32],
            tx_power_dbm_x10: power,
        })),
    };
    match d.answer(&beacon(200), &key(1), T0).unwrap() {
        Body::Beacon(b) => {
            assert_eq!(b.frequency_hz, 915_000_000);
            assert_eq!(b.tx_power_dbm_x10, 200);
            assert_eq!(b.transmitted_at_ms, T0);
            assert_eq!(b.entropy, vec![9; 32]);
        }
        other => panic!("expected a beacon, got {other:?}"),
    }
    assert!(matches!(
        d.answer(&beacon(271), &key(1), T0),
        Err(DriverError::Refused(_))
    ));

    let eu = sim(
        AgentKind::Coverage,
        "frequency_hz = 868100000\nregion = \"EU868\"\nmax_tx_power_dbm_x10 = 140",
        1,
        1,
    );
    let Driver::Radio(mut r) = eu else { panic!() };
    let res = r.resource();
    assert_eq!(
        (
            res.frequency_hz,
            res.region.as_str(),
            res.max_tx_power_dbm_x10
        ),
        (868_100_000, "EU868", 140)
    );
}

#[test]
fn storage_without_replicas_cannot_prove() {
    let mut d = sim(AgentKind::Storage, "capacity_bytes = 5000", 1, 1);
    let Some(Resource::Storage(r)) = d.resource_report().resource else {
        panic!()
    };
    assert_eq!(
        (r.capacity_bytes, r.free_bytes, r.replicas),
        (5000, 5000, 0)
    );
    let c = Challenge {
        challenge_id: vec![3; 32],
        issued_at_ms: 0,
        deadline_ms: 0,
        seed: vec![],
        task: Some(Task::Storage(StorageChallenge {
            object_id: vec![0; 32],
            chunk_indices: vec![0],
        })),
    };
    let err = d.answer(&c, &key(1), 1).unwrap_err();
    assert!(err.to_string().contains("no replicas held"), "{err}");
}

#[test]
fn storage_proves_held_chunks() {
    let device = key(1);
    let mut s = SimStorage::new(device, 5_000);
    let data: Vec<u8> = (0..3_000u32).map(|i| (i % 251) as u8).collect();
    let commitment = s.hold(&data).unwrap();
    assert!(s.hold(&[0; 2_500]).is_err(), "does not fit");
    let r = s.resource();
    assert_eq!((r.free_bytes, r.replicas), (2_000, 1));

    let record = ReplicaRecord {
        object: cairn_verify::storage::content_id(&data),
        size: 3_000,
        replica_root: Hash(commitment.replica_root.as_slice().try_into().unwrap()),
    };
    assert_eq!(commitment.object_id, record.object.0);
    let proof = s
        .prove(&StorageChallenge {
            object_id: record.object.0.to_vec(),
            chunk_indices: vec![0, 2, 1],
        })
        .unwrap();
    assert_eq!(proof.chunks.len(), 3);
    for (cp, want) in proof.chunks.iter().zip([0, 2, 1]) {
        check_chunk(&device, &record, want, cp).unwrap();
        // Stored encoded for this device, not as the plain bytes.
        assert_ne!(cp.chunk, data[want as usize * 1024..][..cp.chunk.len()]);
    }
    let object = record.object.0;
    for bad in [
        StorageChallenge {
            object_id: vec![9; 32],
            chunk_indices: vec![0],
        },
        StorageChallenge {
            object_id: object.to_vec(),
            chunk_indices: vec![3],
        },
        StorageChallenge {
            object_id: object[..31].to_vec(),
            chunk_indices: vec![0],
        },
    ] {
        assert!(matches!(s.prove(&bad), Err(DriverError::Refused(_))));
    }
}

#[test]
fn unknown_driver_keys_are_refused_clearly() {
    let world = SimWorld::new(1);
    let err = driver_from_config(
        AgentKind::Storage,
        &table("capacty_bytes = 10"),
        &key(1),
        &world,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("capacty_bytes"), "{message}");
    assert!(message.contains("storage"), "{message}");
    assert!(message.contains("[driver]"), "{message}");

    // A key valid for another kind is still unknown here.
    assert!(
        driver_from_config(
            AgentKind::Compute,
            &table("region = \"US915\""),
            &key(1),
            &world
        )
        .is_err()
    );
    // Wrong types and bad values are refused too.
    for (kind, text) in [
        (AgentKind::Compute, "class = \"big\""),
        (AgentKind::Compute, "class = 0"),
        (AgentKind::Storage, "capacity_bytes = 0"),
        (AgentKind::Sensor, "readings_per_hour = 0"),
        (AgentKind::Coverage, "region = \"\""),
        (AgentKind::Coverage, "max_tx_power_dbm_x10 = 1000"),
        (AgentKind::Coverage, "lat = 48.0"),
        (AgentKind::Coverage, "lat = 91.0\nlng = 2.0"),
        (AgentKind::Coverage, "cheat = \"farm\""),
        (AgentKind::Coverage, "cheat = \"jam\""),
        (AgentKind::Sensor, "cheat = \"clone\""),
        (
            AgentKind::Sensor,
            "cheat = \"clone\"\nsource = \"did:cairn:nope\"",
        ),
        (AgentKind::Sensor, "cheat = \"replay\"\nlag_s = 0"),
        (AgentKind::Sensor, "altitude_m = 20000.0"),
    ] {
        assert!(
            driver_from_config(kind, &table(text), &key(1), &world).is_err(),
            "{kind}: {text}"
        );
    }
}

#[test]
fn every_kind_builds_with_defaults() {
    for kind in AgentKind::ALL {
        let d = driver_from_config(kind, &toml::Table::new(), &key(1), &SimWorld::new(1)).unwrap();
        assert_eq!(d.kind(), kind);
    }
}

fn beacon_challenge(power: i32) -> Challenge {
    Challenge {
        challenge_id: vec![2; 32],
        issued_at_ms: 0,
        deadline_ms: 0,
        seed: vec![],
        task: Some(Task::Beacon(BeaconChallenge {
            entropy: vec![9; 32],
            tx_power_dbm_x10: power,
        })),
    }
}

fn witnesses(d: &mut Driver, now: u64) -> Vec<WitnessReport> {
    d.listen(now)
        .into_iter()
        .map(|b| match b {
            Body::Witness(w) => w,
            other => panic!("expected a witness report, got {other:?}"),
        })
        .collect()
}

#[test]
fn radios_hear_each_other_through_the_shared_air() {
    let world = SimWorld::new(11);
    // About 1.1 km apart, and one 150 km away.
    let mut a = in_world(AgentKind::Coverage, "lat = 48.0\nlng = 2.0", 1, &world);
    let mut b = in_world(AgentKind::Coverage, "lat = 48.01\nlng = 2.0", 2, &world);
    let mut far = in_world(AgentKind::Coverage, "lat = 49.35\nlng = 2.0", 3, &world);
    let Body::Beacon(beacon) = a.answer(&beacon_challenge(200), &key(1), T0).unwrap() else {
        panic!()
    };
    // Nothing before the airtime has passed; then the report, once.
    assert!(witnesses(&mut b, T0 + 299).is_empty());
    let heard = witnesses(&mut b, T0 + 60_000);
    assert_eq!(heard.len(), 1);
    assert!(witnesses(&mut b, T0 + 120_000).is_empty());
    let w = &heard[0];
    assert_eq!(w.beaconer_key, key(1).as_bytes().to_vec());
    assert_eq!(w.payload, beacon.payload);
    assert_eq!(w.frequency_hz, 915_000_000);
    assert_eq!(w.received_at_ms, T0 + 300);
    // Physics: never above the free-space bound for the true distance (1,112 m), and
    // above the receiver's sensitivity.
    let bound = cairn_verify::radio::max_rssi_dbm10(200, 60, 1_112, 915_000_000);
    assert!(w.rssi_dbm_x10 <= bound && w.rssi_dbm_x10 >= -1370, "{w:?}");
    assert!(witnesses(&mut far, T0 + 60_000).is_empty(), "150 km away");
    assert!(witnesses(&mut a, T0 + 60_000).is_empty(), "no self-witness");
    // Another band hears nothing.
    let mut eu = in_world(
        AgentKind::Coverage,
        "lat = 48.01\nlng = 2.001\nfrequency_hz = 868100000\nmax_tx_power_dbm_x10 = 140",
        4,
        &world,
    );
    a.answer(&beacon_challenge(200), &key(1), T0 + 1_000)
        .unwrap();
    assert!(witnesses(&mut eu, T0 + 60_000).is_empty());
    assert_eq!(witnesses(&mut b, T0 + 60_000).len(), 1);
    // A newer driver for radio 2 replaces the old one on the air; dropping the old one
    // leaves the new one there.
    assert_eq!(world.radios(), 4);
    let newer = in_world(AgentKind::Coverage, "lat = 48.01\nlng = 2.0", 2, &world);
    drop(b);
    assert_eq!(world.radios(), 4);
    drop(newer);
    assert_eq!(world.radios(), 3);
}

#[test]
fn radio_cheats_report_what_their_class_reports() {
    // The same two radios in two worlds of one seed: honest, then inflating.
    let rssi = |cheat: &str| {
        let world = SimWorld::new(12);
        let mut a = in_world(AgentKind::Coverage, "lat = 48.0\nlng = 2.0", 1, &world);
        let mut b = in_world(
            AgentKind::Coverage,
            &format!("lat = 48.02\nlng = 2.0\ncheat = \"{cheat}\""),
            2,
            &world,
        );
        // A fixed payload (the agent draws a fresh nonce), so both worlds fade alike.
        let Driver::Radio(r) = &mut a else { panic!() };
        let Some(Task::Beacon(c)) = beacon_challenge(270).task else {
            panic!()
        };
        r.transmit(&[5; 32], &c, T0).unwrap();
        witnesses(&mut b, T0 + 60_000)[0].rssi_dbm_x10
    };
    assert_eq!(rssi("inflate_gain"), rssi("none") + 100);

    // A farm: two radios in one box asserting sites 3 km apart report each other just
    // under the free-space bound for 3 km, and keep quiet about an honest neighbour.
    let world = SimWorld::new(13);
    let box_at = "lat = 48.0\nlng = 2.0\ncheat = \"farm\"\ngroup = \"f\"";
    let mut f1 = in_world(
        AgentKind::Coverage,
        &format!("{box_at}\nasserted_lat = 48.0\nasserted_lng = 2.0"),
        1,
        &world,
    );
    let mut f2 = in_world(
        AgentKind::Coverage,
        &format!("{box_at}\nasserted_lat = 48.027\nasserted_lng = 2.0"),
        2,
        &world,
    );
    let mut honest = in_world(AgentKind::Coverage, "lat = 48.001\nlng = 2.0", 3, &world);
    f1.answer(&beacon_challenge(270), &key(1), T0).unwrap();
    let heard = witnesses(&mut f2, T0 + 60_000);
    let asserted_m = cairn_sim::live::cell_point(48.0, 2.0)
        .unwrap()
        .distance_m(&cairn_sim::live::cell_point(48.027, 2.0).unwrap());
    let bound = cairn_verify::radio::max_rssi_dbm10(270, 60, asserted_m, 915_000_000);
    assert_eq!(heard.len(), 1);
    assert!(
        (bound - 30..=bound - 10).contains(&heard[0].rssi_dbm_x10),
        "{} against {bound}",
        heard[0].rssi_dbm_x10
    );
    // The honest radio next to the box hears the farm's beacon loud.
    assert_eq!(witnesses(&mut honest, T0 + 60_000).len(), 1);
    honest
        .answer(&beacon_challenge(270), &key(3), T0 + 1_000)
        .unwrap();
    assert!(witnesses(&mut f1, T0 + 60_000).is_empty());
}

#[test]
fn station_cheats_report_what_their_class_reports() {
    let world = SimWorld::new(21);
    let mut honest = in_world(AgentKind::Sensor, "lat = 48.0\nlng = 2.0", 1, &world);
    let source = key(1).to_did();
    let mut clone = in_world(
        AgentKind::Sensor,
        &format!("cheat = \"clone\"\nsource = \"{source}\""),
        2,
        &world,
    );
    let mut replay = in_world(
        AgentKind::Sensor,
        &format!("cheat = \"replay\"\nsource = \"{source}\"\nlag_s = 600"),
        3,
        &world,
    );
    let mut indoor = in_world(
        AgentKind::Sensor,
        "lat = 48.0\nlng = 2.0\ncheat = \"indoor\"",
        4,
        &world,
    );
    let noon = T0 + 12 * 60 * MINUTE;
    for t in (0..48).map(|i| noon + i * 5 * MINUTE) {
        let Some(Body::SensorReading(h)) = honest.periodic(t).pop() else {
            continue; // a gap
        };
        let Some(Body::SensorReading(c)) = clone.periodic(t).pop() else {
            panic!("the clone has the source's gaps only")
        };
        assert_eq!(c, h, "a clone reports the source's reading");
        if let Some(Body::SensorReading(old)) = honest.periodic(t - 10 * MINUTE).pop() {
            let Some(Body::SensorReading(r)) = replay.periodic(t).pop() else {
                panic!()
            };
            assert_eq!(r.sampled_at_ms, t);
            assert_eq!(r.measurements, old.measurements, "ten minutes late");
        }
    }
    // Indoors at noon: a few percent of the outdoor light, room temperature.
    let Some(Body::SensorReading(r)) = indoor.periodic(noon).pop() else {
        panic!()
    };
    assert!(value(&r, Quantity::IrradianceWM2) < 40, "{r:?}");
    assert!((1_800..=2_500).contains(&value(&r, Quantity::TemperatureCX100)));
    // A copier of a station outside this world fails to sample, clearly.
    let lonely = SimWorld::new(21);
    let mut orphan = in_world(
        AgentKind::Sensor,
        &format!("cheat = \"clone\"\nsource = \"{source}\""),
        2,
        &lonely,
    );
    assert!(orphan.periodic(noon).is_empty());
}

#[test]
fn a_losing_disk_fails_proofs_for_the_chunks_it_lost() {
    let device = key(3);
    let data: Vec<u8> = (0..200 * 1024u32).map(|i| (i % 253) as u8).collect();
    let record_of = |s: &mut SimStorage| {
        let c = s.hold(&data).unwrap();
        ReplicaRecord {
            object: cairn_verify::storage::content_id(&data),
            size: data.len() as u64,
            replica_root: Hash(c.replica_root.as_slice().try_into().unwrap()),
        }
    };
    let all: Vec<u64> = (0..200).collect();
    let failed = |ppm: u32| {
        let mut s = SimStorage::new(device, 1 << 30).losing(ppm);
        let record = record_of(&mut s);
        let proof = s
            .prove(&StorageChallenge {
                object_id: record.object.0.to_vec(),
                chunk_indices: all.clone(),
            })
            .unwrap();
        proof
            .chunks
            .iter()
            .zip(&all)
            .filter(|(cp, i)| check_chunk(&device, &record, **i, cp).is_err())
            .count()
    };
    // The commitment is to the whole replica; what was lost fails its proof.
    assert_eq!(failed(0), 0);
    let some = failed(100_000);
    assert!(
        (8..=35).contains(&some),
        "10% of 200 chunks lost, {some} failed"
    );
    assert_eq!(failed(1_000_000), 200);
    // Settings are checked.
    let world = cairn_sim::SimWorld::new(1);
    let table: toml::Table = toml::from_str("lose_ppm = 2000000").unwrap();
    assert!(
        cairn_sim::drivers::driver_from_config(AgentKind::Storage, &table, &device, &world)
            .is_err()
    );
}
