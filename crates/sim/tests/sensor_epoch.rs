//! Sensor readings through the real epoch verifier: signed reports from simulated
//! stations become one verdict per station with its quality, its refused readings by
//! reason, the cross-station flags, and the capacity the rewarder weighs. Bad readings —
//! sentinel and absurd values, unknown quantities, timestamps in the future, garbage
//! records — are refused with reason codes, never a crash; two runs over the same records
//! (in any order) give the same bytes.

use std::collections::BTreeMap;

use cairn_core::{Hash, Height, Keypair, Location, NetworkId, PublicKey, codec::encode};
use cairn_ledger::tx::DeviceKind;
use cairn_ledger::{ParamId, Params};
use cairn_proto::v1::report::Body;
use cairn_proto::v1::{LogRecord, Measurement, SensorReading};
use cairn_sim::proofs::{Behaviour, NETWORK, SimDevice};
use cairn_sim::world::{Place, Station, WeatherWorld};
use cairn_verify::verdict::{Outcome, ReasonCode, Subject, WorkKind};
use cairn_verify::{ChainView, EpochInput, EpochOutput, Registry, Site, run_epoch};

const DAY: u64 = 86_400_000;
/// 2026-06-15 00:00 UTC.
const T0: u64 = 20_619 * DAY;

fn reading(at_ms: u64, values: &[(i32, i64)]) -> Body {
    Body::SensorReading(SensorReading {
        sampled_at_ms: at_ms,
        measurements: values
            .iter()
            .map(|(quantity, value)| Measurement {
                quantity: *quantity,
                value: *value,
            })
            .collect(),
    })
}

struct Net {
    network: NetworkId,
    chain: ChainView,
    records: Vec<LogRecord>,
}

/// A day of readings every five minutes from `n` honest stations around 48° N 2° E,
/// plus station `n` copying station 0's feed, plus whatever `extra` adds.
fn day(n: u64, extra: impl FnOnce(&NetworkId, &mut Vec<LogRecord>, &mut ChainView)) -> Net {
    let network = NetworkId::new(NETWORK).unwrap();
    let world = WeatherWorld::new(7);
    let params = Params::default()
        .with(ParamId::EpochDurationMs, u128::from(DAY))
        .unwrap();
    let mut chain = ChainView {
        height: Height(10),
        entropy: Hash::of(b"block"),
        params,
        devices: BTreeMap::new(),
        sites: BTreeMap::new(),
        denylisted: Default::default(),
    };
    let maker = Keypair::from_seed(&[200; 32]).public();
    let mut records = Vec::new();
    let places: Vec<Place> = (0..n)
        .map(|i| Place {
            lat: 48.0 + 0.02 * (i % 5) as f64,
            lng: 2.0 + 0.03 * (i / 5) as f64,
            altitude_m: 0.0,
        })
        .collect();
    let register = |chain: &mut ChainView, device: PublicKey, i: u64, place: &Place| {
        chain.devices.insert(device, DeviceKind::Sensor);
        chain.sites.insert(
            device,
            Site {
                owner: Keypair::from_seed(&[100 + i as u8; 32]).public(),
                maker,
                onboarded_at: Height(i),
                location: Some(Location::from_degrees(place.lat, place.lng, 12).unwrap()),
            },
        );
    };
    for i in 0..=n {
        let mut dev = SimDevice::new([i as u8 + 1; 32], Behaviour::HonestStorage, &network);
        // The copy asserts a site 2 km from its source and joins later.
        let place = if i < n {
            places[i as usize]
        } else {
            Place {
                lat: places[0].lat + 0.018,
                ..places[0]
            }
        };
        register(&mut chain, dev.device(), i, &place);
        // The copy reads station 0's sensor.
        let (id, at) = if i < n { (i, place) } else { (0, places[0]) };
        let source = Station {
            gap_probability: 0.0,
            spike_probability: 0.0,
            ..Station::honest(7, id, at)
        };
        for k in 0..288 {
            let at = T0 + k * 300_000;
            if let Some(r) = source.read(&world, at) {
                let body = reading(
                    at,
                    &[
                        (1, r.temperature_c100),
                        (2, r.humidity_p100),
                        (3, r.pressure_hpa100),
                        (4, r.irradiance_w_m2),
                    ],
                );
                records.push(dev.record(&network, body, at + 2_000));
            }
        }
    }
    extra(&network, &mut records, &mut chain);
    Net {
        network,
        chain,
        records,
    }
}

fn run(net: &Net, records: Vec<LogRecord>) -> EpochOutput {
    run_epoch(EpochInput {
        network: &net.network,
        epoch: 1,
        epoch_end_ms: T0 + DAY,
        chain: &net.chain,
        registry: Registry::default(),
        prior: &[],
        carried: Default::default(),
        records,
        jobs: &BTreeMap::new(),
    })
}

#[test]
fn a_day_of_readings_is_judged_per_station_and_across_stations() {
    let mut bad: Option<PublicKey> = None;
    let net = day(12, |network, records, chain| {
        // A station sending every kind of bad reading, and one good one.
        let mut dev = SimDevice::new([99; 32], Behaviour::HonestStorage, network);
        chain.devices.insert(dev.device(), DeviceKind::Sensor);
        bad = Some(dev.device());
        let at = T0 + 3_600_000;
        for body in [
            reading(at, &[(1, i64::MIN)]),              // a NaN-like sentinel
            reading(at + 1, &[(3, 5_000_000_000_000)]), // absurd magnitude
            reading(at + 2, &[(9, 100)]),               // no such quantity
            reading(at + 3, &[(1, 1_500), (1, 1_600)]), // the same quantity twice
            reading(at + 4, &[]),                       // nothing measured
            reading(at + 3_600_000, &[(1, 1_500)]),     // an hour in the future
            reading(at + 5, &[(1, 9_000)]),             // 90 °C: out of range
            reading(at + 6, &[(1, 1_500)]),             // fine
        ] {
            records.push(dev.record(network, body, at + 10));
        }
        // Garbage: a record claiming to be a reading with undecodable bytes, and one
        // with no report at all.
        let mut junk = dev.record(network, reading(at, &[(1, 1)]), at);
        junk.report.as_mut().unwrap().report = vec![0xff; 40];
        junk.content_id = vec![7; 32];
        records.push(junk);
        records.push(LogRecord {
            kind: cairn_proto::ReportKind::SensorReading as i32,
            content_id: vec![8; 32],
            receive_time_ms: at,
            ..Default::default()
        });
    });
    let out = run(&net, net.records.clone());
    let by: BTreeMap<_, _> = out.batch.verdicts.iter().map(|v| (v.device, v)).collect();
    assert_eq!(by.len(), 14, "one verdict per station that reported");
    for v in by.values() {
        assert_eq!((v.kind, v.subject), (WorkKind::Sensor, Subject::Epoch));
    }
    // Honest stations: valid, nearly full quality.
    let honest: Vec<_> = net
        .chain
        .sites
        .iter()
        .filter(|(_, s)| s.onboarded_at.0 < 12)
        .collect();
    assert_eq!(honest.len(), 12);
    for (k, _) in &honest {
        let v = by[&k.id()];
        assert_eq!(v.outcome, Outcome::Valid, "{}", v.detail);
        assert!(v.score_ppm.unwrap() >= 990_000, "{}", v.detail);
    }
    // The copy: caught as a clone of station 0 (it is the junior key).
    let copy = net
        .chain
        .sites
        .iter()
        .find(|(_, s)| s.onboarded_at == Height(12))
        .unwrap()
        .0;
    let v = by[&copy.id()];
    assert_eq!(
        v.outcome,
        Outcome::Invalid(ReasonCode::ClonedSeries),
        "{}",
        v.detail
    );
    // The bad station: one valid reading, each refusal counted under its reason, the
    // refused records as evidence.
    let v = by[&bad.unwrap().id()];
    assert_eq!(v.measure("readings"), Some(8));
    assert_eq!(v.measure("valid"), Some(1));
    assert_eq!(v.measure("malformed_reading"), Some(5), "{}", v.detail);
    assert_eq!(v.measure("future_reading"), Some(1));
    assert_eq!(v.measure("out_of_range"), Some(1));
    assert_eq!(v.evidence.len(), 6);
    assert!(v.score_ppm.unwrap() < 10_000, "{}", v.detail);
    // Capacity: the honest stations' quality (each in its own cell), nothing for the
    // copy.
    let capacity: BTreeMap<_, _> = out
        .batch
        .capacity
        .iter()
        .filter(|c| c.kind == WorkKind::Sensor)
        .map(|c| (c.device, c.amount))
        .collect();
    assert_eq!(capacity[&copy.id()], 0);
    for (k, _) in &honest {
        assert!(capacity[&k.id()] >= 990_000);
    }
    // Determinism: the records in reverse order give the same bytes.
    let mut reversed = net.records.clone();
    reversed.reverse();
    assert_eq!(encode(&out.batch), encode(&run(&net, reversed).batch));
}

/// The same day in hour-long epochs: no epoch alone holds enough of a series to compare
/// stations, but the carried window does. Until it spans eight hours the cross-station
/// checks wait; from then on the copy is caught every epoch, and the honest stations
/// never are.
#[test]
fn short_epochs_judge_across_stations_over_the_carried_window() {
    let mut net = day(12, |_, _, _| {});
    const HOUR: u64 = 3_600_000;
    net.chain.params = net
        .chain
        .params
        .clone()
        .with(ParamId::EpochDurationMs, u128::from(HOUR))
        .unwrap();
    let copy = net
        .chain
        .sites
        .iter()
        .find(|(_, s)| s.onboarded_at == Height(12))
        .unwrap()
        .0
        .id();
    let mut carried = cairn_verify::Carried::default();
    let mut caught_from = None;
    for epoch in 1..=24u64 {
        let end = T0 + epoch * HOUR;
        let records: Vec<LogRecord> = net
            .records
            .iter()
            .filter(|r| (end - HOUR..end).contains(&r.receive_time_ms))
            .cloned()
            .collect();
        let out = run_epoch(EpochInput {
            network: &net.network,
            epoch,
            epoch_end_ms: end,
            chain: &net.chain,
            registry: Registry::default(),
            prior: &[],
            carried,
            records,
            jobs: &BTreeMap::new(),
        });
        carried = out.carried;
        for v in &out.batch.verdicts {
            if v.device == copy {
                if v.outcome == Outcome::Invalid(ReasonCode::ClonedSeries) {
                    caught_from.get_or_insert(epoch);
                } else {
                    assert!(caught_from.is_none(), "epoch {epoch}: {}", v.detail);
                }
            } else {
                assert_eq!(v.outcome, Outcome::Valid, "epoch {epoch}: {}", v.detail);
            }
        }
    }
    let from = caught_from.expect("the copy is caught");
    assert!((8..=10).contains(&from), "caught from epoch {from}");
}
