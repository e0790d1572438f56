//! Proof of coverage: the rules a beacon and each of its witnesses must pass.
//!
//! A challenged device transmits a beacon built from recent entropy (a finalized block
//! hash), its key and a few random bytes, at a transmit power the verifier chose at random
//! from a small set; devices that hear it report the payload, the received power (RSSI),
//! the frequency and when they heard it. Each rule below has its own reason code so an
//! operator sees exactly why a witness did not count; the physical one is the free-space
//! bound ([`crate::radio`]): nothing can be heard louder than free space allows over the
//! asserted distance, so a relay that invents RSSI, or a farm that asserts dispersed cells,
//! breaks it or sits suspiciously close to it.
//!
//! Everything is integer maths over the reports and the chain's facts, so every verifier
//! reaches the same verdicts.

use cairn_core::{Hash, KeyId};

use crate::radio::{Point, max_rssi_dbm10};
use crate::verdict::ReasonCode;

/// Domain prefix of the beacon payload hash.
pub const BEACON_CONTEXT: &[u8] = b"cairn.beacon.v1";

/// The beacon payload: `BLAKE3("cairn.beacon.v1" ‖ entropy ‖ device_key ‖ nonce)`, with
/// the 32-byte entropy from the challenge, the 32-byte device key and 8 random bytes
/// chosen by the device (carried in the report), so a payload cannot be predicted before
/// the challenge nor replayed by another device, and the verifier derives it again.
pub fn beacon_payload(
    entropy: &[u8; 32],
    device_key: &cairn_core::PublicKey,
    nonce: &[u8; 8],
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(BEACON_CONTEXT);
    h.update(entropy);
    h.update(device_key.as_bytes());
    h.update(nonce);
    *h.finalize().as_bytes()
}

/// The coverage rules' parameters (from the ledger's registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageParams {
    /// A beacon is valid only if its entropy is at most this old when it is reported.
    pub entropy_window_ms: u64,
    /// At most one beacon per device per bucket of this length.
    pub beacon_bucket_ms: u64,
    /// A witness must be reported within this long after the beacon report…
    pub max_witness_lag_ms: u64,
    /// …and within this long after the first witness of the same beacon.
    pub max_lag_after_first_ms: u64,
    /// Largest difference between the beacon's and the witness's frequency.
    pub max_frequency_offset_hz: u64,
    /// Witnesses nearer than this are too close to prove coverage (one site).
    pub min_distance_m: u64,
    /// Witnesses farther than this are beyond any plausible link.
    pub max_distance_m: u64,
    /// Both antennas' gains allowed in the free-space bound, dBi × 10.
    pub antenna_gains_dbi10: i32,
    /// Tolerance on the free-space bound for measurement error, dB × 10.
    pub rssi_margin_db10: i32,
    /// Transmit powers a beacon may be sent at (the verifier picks one per beacon).
    pub tx_powers_dbm10: Vec<i32>,
    /// Witnesses of one beacon rewarded at most (the first valid ones).
    pub witness_cap: usize,
}

impl Default for CoverageParams {
    fn default() -> Self {
        CoverageParams {
            entropy_window_ms: 10 * 60_000,
            beacon_bucket_ms: 6 * 3_600_000,
            max_witness_lag_ms: 4_000,
            max_lag_after_first_ms: 1_500,
            max_frequency_offset_hz: 100_000,
            min_distance_m: 300,
            max_distance_m: 100_000,
            antenna_gains_dbi10: 60,
            rssi_margin_db10: 0,
            tx_powers_dbm10: vec![270, 240, 210],
            witness_cap: 14,
        }
    }
}

/// A beacon as the verifier sees it: the report and what the chain says of its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    pub beaconer: KeyId,
    /// The beaconer's asserted location (its H3 cell's centre).
    pub location: Point,
    /// The frequency plan's region (e.g. 1 = US915, 2 = EU868).
    pub region: u8,
    pub frequency_hz: u64,
    /// The transmit power the verifier picked for this beacon.
    pub tx_power_dbm10: i32,
    /// The payload the verifier derives from (entropy, key, the device's random bytes).
    pub payload: Hash,
    /// When the entropy was published (the block time of its block).
    pub entropy_ms: u64,
    /// When the beacon report reached ingest.
    pub reported_ms: u64,
}

/// A witness report with the facts the chain holds about its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub witness: KeyId,
    pub location: Option<Point>,
    pub region: u8,
    pub payload: Hash,
    pub rssi_dbm10: i32,
    pub frequency_hz: u64,
    /// When the witness report reached ingest.
    pub reported_ms: u64,
    /// Onboarded as a coverage device.
    pub known: bool,
    /// On a live denylist entry, alone or paired with the beaconer.
    pub denylisted: bool,
    pub pair_denylisted: bool,
    /// It sent a beacon itself recently (reciprocity: a device that only listens proves
    /// nothing about its own radio).
    pub beaconed_recently: bool,
}

/// A witness report as it arrived (the fields of the protocol's `WitnessReport`).
#[derive(Debug, Clone, Copy)]
pub struct WitnessReportFields<'a> {
    pub beaconer_key: &'a [u8],
    pub payload: &'a [u8],
    pub rssi_dbm10: i32,
    pub snr_db10: i32,
    pub frequency_hz: u64,
    /// When the witness says it heard the beacon (its clock).
    pub received_at_ms: u64,
}

/// What an admitted witness report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmittedWitness {
    pub beaconer: KeyId,
    pub payload: Hash,
    pub rssi_dbm10: i32,
    pub frequency_hz: u64,
}

/// RSSI a receiver can report, dBm × 10: from well under any radio's noise floor to more
/// than a transmitter next to the antenna delivers.
pub const RSSI_RANGE_DBM10: std::ops::RangeInclusive<i32> = -1_800..=300;
/// Signal-to-noise ratios a receiver can report, dB × 10.
pub const SNR_RANGE_DB10: std::ops::RangeInclusive<i32> = -400..=400;
/// Frequencies a radio can report, Hz (up to 100 GHz).
pub const FREQUENCY_RANGE_HZ: std::ops::RangeInclusive<u64> = 1..=100_000_000_000;

/// Admit a witness report received at `reported_ms`: the beaconer's key and the payload
/// must be 32 bytes (and the key a valid one), RSSI, SNR and frequency within what radios
/// report ([`ReasonCode::MalformedWitness`]), and the time heard no later than the report's
/// arrival plus `max_skew_ms` ([`ReasonCode::FutureWitness`]).
pub fn admit_witness(
    f: &WitnessReportFields<'_>,
    reported_ms: u64,
    max_skew_ms: u64,
) -> Result<AdmittedWitness, ReasonCode> {
    let key = <[u8; 32]>::try_from(f.beaconer_key)
        .ok()
        .and_then(|k| cairn_core::PublicKey::from_bytes(&k).ok())
        .ok_or(ReasonCode::MalformedWitness)?;
    let payload = <[u8; 32]>::try_from(f.payload).map_err(|_| ReasonCode::MalformedWitness)?;
    if !RSSI_RANGE_DBM10.contains(&f.rssi_dbm10)
        || !SNR_RANGE_DB10.contains(&f.snr_db10)
        || !FREQUENCY_RANGE_HZ.contains(&f.frequency_hz)
    {
        return Err(ReasonCode::MalformedWitness);
    }
    if f.received_at_ms > reported_ms.saturating_add(max_skew_ms) {
        return Err(ReasonCode::FutureWitness);
    }
    Ok(AdmittedWitness {
        beaconer: key.id(),
        payload: Hash(payload),
        rssi_dbm10: f.rssi_dbm10,
        frequency_hz: f.frequency_hz,
    })
}

/// The beacon's own checks: entropy fresh, payload as derived, power one the verifier
/// chose, one per bucket (`previous_ms`: the device's previous valid beacon, if any).
pub fn check_beacon(
    p: &CoverageParams,
    b: &Beacon,
    derived_payload: &Hash,
    previous_ms: Option<u64>,
    witnessed_recently: bool,
) -> Result<(), ReasonCode> {
    if b.reported_ms < b.entropy_ms || b.reported_ms - b.entropy_ms > p.entropy_window_ms {
        return Err(ReasonCode::StaleEntropy);
    }
    if b.payload != *derived_payload {
        return Err(ReasonCode::BeaconPayloadMismatch);
    }
    if !p.tx_powers_dbm10.contains(&b.tx_power_dbm10) {
        return Err(ReasonCode::WrongTransmitPower);
    }
    let bucket = |t: u64| t / p.beacon_bucket_ms.max(1);
    if previous_ms.is_some_and(|t| bucket(t) == bucket(b.reported_ms)) {
        return Err(ReasonCode::BeaconTooSoon);
    }
    if !witnessed_recently {
        return Err(ReasonCode::NoReciprocity);
    }
    Ok(())
}

/// One witness of `b`: every rule in order, the first broken one as the reason.
/// `first_ms` is when the first witness of this beacon was reported.
pub fn check_witness(
    p: &CoverageParams,
    b: &Beacon,
    first_ms: u64,
    w: &Witness,
) -> Result<(), ReasonCode> {
    if !w.known {
        return Err(ReasonCode::UnknownWitness);
    }
    let Some(at) = w.location else {
        return Err(ReasonCode::NoAssertedLocation);
    };
    if w.witness == b.beaconer {
        return Err(ReasonCode::SelfWitness);
    }
    if w.denylisted {
        return Err(ReasonCode::DenylistedWitness);
    }
    if w.pair_denylisted {
        return Err(ReasonCode::DenylistedPair);
    }
    if w.reported_ms < b.reported_ms
        || w.reported_ms - b.reported_ms > p.max_witness_lag_ms
        || w.reported_ms.saturating_sub(first_ms) > p.max_lag_after_first_ms
    {
        return Err(ReasonCode::WitnessLate);
    }
    if w.payload != b.payload {
        return Err(ReasonCode::WitnessPayloadMismatch);
    }
    if w.frequency_hz.abs_diff(b.frequency_hz) > p.max_frequency_offset_hz {
        return Err(ReasonCode::FrequencyMismatch);
    }
    if w.region != b.region {
        return Err(ReasonCode::RegionMismatch);
    }
    let d = b.location.distance_m(&at);
    if d < p.min_distance_m {
        return Err(ReasonCode::WitnessTooClose);
    }
    if d > p.max_distance_m {
        return Err(ReasonCode::WitnessTooFar);
    }
    let bound = max_rssi_dbm10(b.tx_power_dbm10, p.antenna_gains_dbi10, d, b.frequency_hz);
    if w.rssi_dbm10 > bound + p.rssi_margin_db10 {
        return Err(ReasonCode::RssiAboveFreeSpace);
    }
    if !w.beaconed_recently {
        return Err(ReasonCode::NoReciprocity);
    }
    Ok(())
}

/// The verdict on each witness of one beacon, in report order (ties by key): the first
/// `witness_cap` valid ones count, later valid ones are `OverWitnessCap` (not a fault of
/// theirs, but unpaid).
pub fn judge_witnesses(
    p: &CoverageParams,
    b: &Beacon,
    witnesses: &[Witness],
) -> Vec<(KeyId, Result<(), ReasonCode>)> {
    let mut order: Vec<&Witness> = witnesses.iter().collect();
    order.sort_by_key(|w| (w.reported_ms, w.witness));
    let first_ms = order.first().map_or(b.reported_ms, |w| w.reported_ms);
    let mut counted = 0usize;
    let mut seen = std::collections::BTreeSet::new();
    order
        .into_iter()
        .map(|w| {
            // A device witnesses a beacon once; a second report is a duplicate.
            let verdict = if !seen.insert(w.witness) {
                Err(ReasonCode::DuplicateWitness)
            } else {
                check_witness(p, b, first_ms, w).and_then(|()| {
                    if counted < p.witness_cap {
                        counted += 1;
                        Ok(())
                    } else {
                        Err(ReasonCode::OverWitnessCap)
                    }
                })
            };
            (w.witness, verdict)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = 915_000_000;

    fn key(i: u8) -> KeyId {
        KeyId([i; 32])
    }

    /// A point `metres` north of the origin (one microdegree of latitude is 0.111195 m).
    fn north(metres: u64) -> Point {
        Point {
            lat_udeg: (metres * 1_000_000_000 / 111_195_080) as i64,
            lng_udeg: 0,
        }
    }

    fn beacon() -> Beacon {
        Beacon {
            beaconer: key(1),
            location: Point {
                lat_udeg: 0,
                lng_udeg: 0,
            },
            region: 1,
            frequency_hz: F,
            tx_power_dbm10: 270,
            payload: Hash::of(b"beacon"),
            entropy_ms: 1_000_000,
            reported_ms: 1_060_000,
        }
    }

    fn witness(metres: u64, rssi_dbm10: i32, lag_ms: u64) -> Witness {
        Witness {
            witness: key(2),
            location: Some(north(metres)),
            region: 1,
            payload: Hash::of(b"beacon"),
            rssi_dbm10,
            frequency_hz: F,
            reported_ms: 1_060_000 + lag_ms,
            known: true,
            denylisted: false,
            pair_denylisted: false,
            beaconed_recently: true,
        }
    }

    #[test]
    fn free_space_bound_just_inside_and_just_outside() {
        let p = CoverageParams::default();
        let b = beacon();
        // 27 dBm + 6 dBi − FSPL(1 km, 915 MHz) = 27 + 6 − 91.7 = −58.7 dBm.
        let d = b.location.distance_m(&north(1_000));
        assert_eq!(d, 1_000);
        assert_eq!(
            check_witness(&p, &b, b.reported_ms, &witness(1_000, -587, 100)),
            Ok(())
        );
        assert_eq!(
            check_witness(&p, &b, b.reported_ms, &witness(1_000, -586, 100)),
            Err(ReasonCode::RssiAboveFreeSpace)
        );
        // At 10 km the bound is 20 dB lower: −78.7 dBm.
        assert_eq!(
            check_witness(&p, &b, b.reported_ms, &witness(10_000, -787, 100)),
            Ok(())
        );
        assert_eq!(
            check_witness(&p, &b, b.reported_ms, &witness(10_000, -786, 100)),
            Err(ReasonCode::RssiAboveFreeSpace)
        );
        // A beacon sent 6 dB lower lowers the bound by 6 dB.
        let quiet = Beacon {
            tx_power_dbm10: 210,
            ..beacon()
        };
        assert_eq!(
            check_witness(&p, &quiet, quiet.reported_ms, &witness(1_000, -587, 100)),
            Err(ReasonCode::RssiAboveFreeSpace)
        );
        assert_eq!(
            check_witness(&p, &quiet, quiet.reported_ms, &witness(1_000, -647, 100)),
            Ok(())
        );
    }

    #[test]
    fn distance_lag_frequency_and_identity_rules_at_their_boundaries() {
        let p = CoverageParams::default();
        let b = beacon();
        let ok = |w: &Witness| check_witness(&p, &b, b.reported_ms, w);
        // Distance: 300 m is enough, 299 m is not; 100 km is the farthest.
        assert_eq!(ok(&witness(300, -900, 0)), Ok(()));
        assert_eq!(ok(&witness(299, -900, 0)), Err(ReasonCode::WitnessTooClose));
        assert_eq!(ok(&witness(100_000, -1_200, 0)), Ok(()));
        assert_eq!(
            ok(&witness(100_001, -1_200, 0)),
            Err(ReasonCode::WitnessTooFar)
        );
        // Lag: 4,000 ms after the beacon (the first witness came 3 s in), and 1,500 ms after
        // the first witness.
        let first = b.reported_ms + 3_000;
        assert_eq!(
            check_witness(&p, &b, first, &witness(2_000, -900, 4_000)),
            Ok(())
        );
        assert_eq!(
            check_witness(&p, &b, first, &witness(2_000, -900, 4_001)),
            Err(ReasonCode::WitnessLate)
        );
        let early = witness(2_000, -900, 0);
        let mut w = witness(2_000, -900, 1_500);
        assert_eq!(check_witness(&p, &b, early.reported_ms, &w), Ok(()));
        w.reported_ms += 1;
        assert_eq!(
            check_witness(&p, &b, early.reported_ms, &w),
            Err(ReasonCode::WitnessLate)
        );
        // Heard before the beacon was reported: not a witness of it.
        let mut w = witness(2_000, -900, 0);
        w.reported_ms -= 1;
        assert_eq!(ok(&w), Err(ReasonCode::WitnessLate));
        // Frequency within 100 kHz.
        let mut w = witness(2_000, -900, 0);
        w.frequency_hz = F + 100_000;
        assert_eq!(ok(&w), Ok(()));
        w.frequency_hz = F - 100_001;
        assert_eq!(ok(&w), Err(ReasonCode::FrequencyMismatch));
        // The rest, one at a time.
        type Edit = fn(&mut Witness);
        let cases: [(Edit, ReasonCode); 8] = [
            (|w| w.known = false, ReasonCode::UnknownWitness),
            (|w| w.location = None, ReasonCode::NoAssertedLocation),
            (|w| w.witness = KeyId([1; 32]), ReasonCode::SelfWitness),
            (|w| w.denylisted = true, ReasonCode::DenylistedWitness),
            (|w| w.pair_denylisted = true, ReasonCode::DenylistedPair),
            (
                |w| w.payload = Hash::of(b"other"),
                ReasonCode::WitnessPayloadMismatch,
            ),
            (|w| w.region = 2, ReasonCode::RegionMismatch),
            (|w| w.beaconed_recently = false, ReasonCode::NoReciprocity),
        ];
        for (edit, reason) in cases {
            let mut w = witness(2_000, -900, 0);
            edit(&mut w);
            assert_eq!(ok(&w), Err(reason));
        }
    }

    #[test]
    fn beacon_rules_at_their_boundaries() {
        let p = CoverageParams::default();
        // Reported in the second 6-hour bucket.
        let b = Beacon {
            entropy_ms: 30_000_000,
            reported_ms: 30_060_000,
            ..beacon()
        };
        let payload = b.payload;
        assert_eq!(check_beacon(&p, &b, &payload, None, true), Ok(()));
        // Entropy at most 10 minutes old.
        let stale = Beacon {
            reported_ms: b.entropy_ms + 600_001,
            ..b.clone()
        };
        assert_eq!(
            check_beacon(&p, &stale, &payload, None, true),
            Err(ReasonCode::StaleEntropy)
        );
        let edge = Beacon {
            reported_ms: b.entropy_ms + 600_000,
            ..b.clone()
        };
        assert_eq!(check_beacon(&p, &edge, &payload, None, true), Ok(()));
        assert_eq!(
            check_beacon(&p, &b, &Hash::of(b"x"), None, true),
            Err(ReasonCode::BeaconPayloadMismatch)
        );
        let loud = Beacon {
            tx_power_dbm10: 300,
            ..b.clone()
        };
        assert_eq!(
            check_beacon(&p, &loud, &payload, None, true),
            Err(ReasonCode::WrongTransmitPower)
        );
        // One per 6-hour bucket: the previous one in the same bucket refuses this one.
        let bucket_start = b.reported_ms / p.beacon_bucket_ms * p.beacon_bucket_ms;
        assert_eq!(
            check_beacon(&p, &b, &payload, Some(bucket_start), true),
            Err(ReasonCode::BeaconTooSoon)
        );
        assert_eq!(
            check_beacon(&p, &b, &payload, Some(bucket_start - 1), true),
            Ok(())
        );
        assert_eq!(
            check_beacon(&p, &b, &payload, None, false),
            Err(ReasonCode::NoReciprocity)
        );
    }

    #[test]
    fn witness_reports_are_admitted_or_refused_with_a_reason() {
        let beaconer = cairn_core::Keypair::from_seed(&[5; 32]).public();
        let key = beaconer.as_bytes().to_vec();
        let payload = [9u8; 32];
        let good = WitnessReportFields {
            beaconer_key: &key,
            payload: &payload,
            rssi_dbm10: -1_100,
            snr_db10: 55,
            frequency_hz: 915_000_000,
            received_at_ms: 1_000,
        };
        assert_eq!(
            admit_witness(&good, 1_000, 60_000),
            Ok(AdmittedWitness {
                beaconer: beaconer.id(),
                payload: Hash(payload),
                rssi_dbm10: -1_100,
                frequency_hz: 915_000_000
            })
        );
        // The range edges are readings; one past them is not.
        for (rssi, snr, f, ok) in [
            (-1_800, 0, 915_000_000, true),
            (300, 0, 915_000_000, true),
            (-1_801, 0, 915_000_000, false),
            (301, 0, 915_000_000, false),
            (i32::MIN, 0, 915_000_000, false),
            (-1_100, 400, 915_000_000, true),
            (-1_100, 401, 915_000_000, false),
            (-1_100, -401, 915_000_000, false),
            (-1_100, 0, 0, false),
            (-1_100, 0, 100_000_000_000, true),
            (-1_100, 0, 100_000_000_001, false),
        ] {
            let f = WitnessReportFields {
                rssi_dbm10: rssi,
                snr_db10: snr,
                frequency_hz: f,
                ..good
            };
            assert_eq!(
                admit_witness(&f, 1_000, 60_000).is_ok(),
                ok,
                "{rssi} {snr} {}",
                f.frequency_hz
            );
        }
        let short = [9u8; 31];
        // The identity point: a valid encoding, but a weak key no device can hold.
        let mut bad_key = [0u8; 32];
        bad_key[0] = 1;
        for f in [
            WitnessReportFields {
                payload: &short,
                ..good
            },
            WitnessReportFields {
                beaconer_key: &key[..31],
                ..good
            },
            WitnessReportFields {
                beaconer_key: &bad_key,
                ..good
            },
        ] {
            assert_eq!(
                admit_witness(&f, 1_000, 60_000),
                Err(ReasonCode::MalformedWitness)
            );
        }
        // Heard 60 s after its report arrived is clock skew; 60.001 s is the future.
        let later = |t| WitnessReportFields {
            received_at_ms: t,
            ..good
        };
        assert!(admit_witness(&later(61_000), 1_000, 60_000).is_ok());
        assert_eq!(
            admit_witness(&later(61_001), 1_000, 60_000),
            Err(ReasonCode::FutureWitness)
        );
    }

    #[test]
    fn the_first_valid_witnesses_up_to_the_cap_count() {
        let p = CoverageParams {
            witness_cap: 2,
            ..CoverageParams::default()
        };
        let b = beacon();
        let mut ws: Vec<Witness> = (0..4u8)
            .map(|i| Witness {
                witness: key(10 + i),
                ..witness(2_000, -900, 100 * u64::from(i))
            })
            .collect();
        ws[1].payload = Hash::of(b"relayed");
        ws.push(Witness {
            witness: key(10),
            ..witness(2_000, -900, 400)
        });
        // Given in any order, judged in report order.
        ws.reverse();
        let verdicts = judge_witnesses(&p, &b, &ws);
        assert_eq!(
            verdicts,
            vec![
                (key(10), Ok(())),
                (key(11), Err(ReasonCode::WitnessPayloadMismatch)),
                (key(12), Ok(())),
                (key(13), Err(ReasonCode::OverWitnessCap)),
                (key(10), Err(ReasonCode::DuplicateWitness)),
            ]
        );
    }
}
