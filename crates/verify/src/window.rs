//! What the verifier carries from one epoch to the next for the checks that need more
//! evidence than one epoch holds: the coverage detectors read the links of the last
//! [`COVERAGE_EPOCHS`] epochs (a relayed link shows only over several beacons at drawn
//! powers, a fit of a site needs many), and the cross-station sensor checks read a
//! trailing day of five-minute slots (a clone or a replay shows only over hours). With
//! hour-long epochs this changes little; with a devnet's one-minute epochs it is what lets
//! those checks run at all.
//!
//! Pure data, ordered maps only: the same epochs in give the same window out.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::KeyId;

use crate::coverage_graph::Link;
use crate::radio::Point;

/// Epochs of coverage evidence the detectors read, the current one included.
pub const COVERAGE_EPOCHS: usize = 12;
/// Five-minute slots of sensor readings the cross-station checks read (a day).
pub const SENSOR_SLOTS: u64 = 288;

/// One epoch's coverage evidence, as the detectors read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct CoverageEvidence {
    /// Every witness that passed the rules.
    pub links: Vec<Link>,
    /// Every admitted report of a heard beacon: (beaconer, witness, gain dB × 10).
    pub heard: Vec<(KeyId, KeyId, i32)>,
    /// Witness reports each device took part in, and how many broke the distance or
    /// free-space rules.
    pub reports: BTreeMap<KeyId, (u64, u64)>,
    /// Devices that beaconed.
    pub beaconers: BTreeSet<KeyId>,
    /// The sites the evidence was judged against.
    pub sites: BTreeMap<KeyId, Point>,
}

/// A station's valid values in one slot.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize,
)]
pub struct SlotValues {
    pub temperature: Option<i64>,
    pub irradiance: Option<i64>,
}

/// The carried windows.
#[derive(Debug, Clone, Default, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct Carried {
    /// The last epochs' coverage evidence, oldest first.
    coverage: Vec<CoverageEvidence>,
    /// Per station, valid values by absolute slot (Unix time / slot length).
    sensor: BTreeMap<KeyId, BTreeMap<u64, SlotValues>>,
}

impl Carried {
    /// Add an epoch's coverage evidence and return the window's: every epoch's evidence
    /// merged, except what involves a device whose site has changed since (its old links
    /// would contradict its new site).
    pub fn push_coverage(&mut self, epoch: CoverageEvidence) -> CoverageEvidence {
        let current = epoch.sites.clone();
        self.coverage.push(epoch);
        if self.coverage.len() > COVERAGE_EPOCHS {
            self.coverage.remove(0);
        }
        let same = |then: &BTreeMap<KeyId, Point>, k: &KeyId| {
            then.get(k).is_some() && then.get(k) == current.get(k)
        };
        let mut out = CoverageEvidence {
            sites: current.clone(),
            ..CoverageEvidence::default()
        };
        for e in &self.coverage {
            out.links.extend(
                e.links
                    .iter()
                    .filter(|l| same(&e.sites, &l.beaconer) && same(&e.sites, &l.witness)),
            );
            out.heard.extend(
                e.heard
                    .iter()
                    .filter(|(b, w, _)| same(&e.sites, b) && same(&e.sites, w)),
            );
            for (k, (total, broke)) in &e.reports {
                if same(&e.sites, k) {
                    let r = out.reports.entry(*k).or_default();
                    r.0 += total;
                    r.1 += broke;
                }
            }
            out.beaconers
                .extend(e.beaconers.iter().filter(|k| same(&e.sites, k)));
        }
        out
    }

    /// Record a station's valid values in `slot`.
    pub fn put_slot(&mut self, station: KeyId, slot: u64, values: SlotValues) {
        let v = self
            .sensor
            .entry(station)
            .or_default()
            .entry(slot)
            .or_default();
        v.temperature = values.temperature.or(v.temperature);
        v.irradiance = values.irradiance.or(v.irradiance);
    }

    /// Forget slots before `end_slot − SENSOR_SLOTS`, then return the window: its first
    /// slot (the oldest held, at most a day back) and every station's values from it to
    /// `end_slot` (exclusive), by station.
    pub fn sensor_window(&mut self, end_slot: u64) -> (u64, Vec<(KeyId, Vec<SlotValues>)>) {
        let floor = end_slot.saturating_sub(SENSOR_SLOTS);
        self.sensor.retain(|_, slots| {
            slots.retain(|s, _| *s >= floor);
            !slots.is_empty()
        });
        let first = self
            .sensor
            .values()
            .filter_map(|slots| slots.keys().next().copied())
            .min()
            .unwrap_or(end_slot)
            .min(end_slot);
        let len = (end_slot - first) as usize;
        let stations = self
            .sensor
            .iter()
            .map(|(k, slots)| {
                let mut series = vec![SlotValues::default(); len];
                for (s, v) in slots.range(first..end_slot) {
                    series[(s - first) as usize] = *v;
                }
                (*k, series)
            })
            .collect();
        (first, stations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> KeyId {
        KeyId([n; 32])
    }

    fn link(b: u8, w: u8) -> Link {
        Link {
            beaconer: key(b),
            witness: key(w),
            tx_power_dbm10: 270,
            rssi_dbm10: -900,
            bound_dbm10: -600,
            expected_dbm10: -950,
            lag_ms: 0,
        }
    }

    fn evidence(links: Vec<Link>, sites: &[(u8, i64)]) -> CoverageEvidence {
        CoverageEvidence {
            heard: links
                .iter()
                .map(|l| (l.beaconer, l.witness, l.rssi_dbm10 - l.tx_power_dbm10))
                .collect(),
            reports: links.iter().map(|l| (l.beaconer, (1, 0))).collect(),
            beaconers: links.iter().map(|l| l.beaconer).collect(),
            links,
            sites: sites
                .iter()
                .map(|(k, lat)| {
                    (
                        key(*k),
                        Point {
                            lat_udeg: *lat,
                            lng_udeg: 0,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn coverage_window_keeps_the_last_epochs_and_drops_moved_devices() {
        let mut c = Carried::default();
        let sites = [(1, 0), (2, 1_000), (3, 2_000)];
        for _ in 0..COVERAGE_EPOCHS + 3 {
            c.push_coverage(evidence(vec![link(1, 2), link(3, 2)], &sites));
        }
        let w = c.push_coverage(evidence(vec![link(1, 2)], &sites));
        // The window holds COVERAGE_EPOCHS epochs: 11 full ones and the new one.
        assert_eq!(w.links.len(), 2 * (COVERAGE_EPOCHS - 1) + 1);
        assert_eq!(w.reports[&key(1)], (COVERAGE_EPOCHS as u64, 0));
        // Device 3 moves: its old links no longer count, the others' do.
        let moved = [(1, 0), (2, 1_000), (3, 9_000)];
        let w = c.push_coverage(evidence(vec![link(3, 2)], &moved));
        assert_eq!(
            w.links.iter().filter(|l| l.beaconer == key(3)).count(),
            1,
            "only the link judged at its new site"
        );
        assert_eq!(
            w.links.iter().filter(|l| l.beaconer == key(1)).count(),
            COVERAGE_EPOCHS - 1
        );
        assert!(!w.reports.contains_key(&key(2)));
    }

    #[test]
    fn sensor_window_is_a_trailing_day() {
        let mut c = Carried::default();
        let v = |t| SlotValues {
            temperature: Some(t),
            irradiance: None,
        };
        c.put_slot(key(1), 1_000, v(10));
        c.put_slot(key(1), 1_100, v(11));
        c.put_slot(key(2), 1_200, v(12));
        let (first, w) = c.sensor_window(1_201);
        assert_eq!(first, 1_000);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].1.len(), 201);
        assert_eq!(w[0].1[100], v(11));
        assert_eq!(w[1].1[200], v(12));
        // A day later the first slots are gone, and with them station 1.
        let (first, w) = c.sensor_window(1_200 + SENSOR_SLOTS);
        assert_eq!(first, 1_200);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].0, key(2));
        assert_eq!(w[0].1.len(), SENSOR_SLOTS as usize);
    }
}
