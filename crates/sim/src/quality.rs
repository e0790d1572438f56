//! The verification quality table every simulation prints: per cheat class, how many
//! devices, how many caught and how soon, how precise the detectors that caught them were,
//! the honest false positives, and the share of the rewards that went to dishonest
//! devices.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::KeyId;
use cairn_verify::ReasonCode;
use serde::Serialize;

/// One class's line of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassLine {
    pub label: String,
    pub honest: bool,
    pub devices: usize,
    pub caught: usize,
    pub caught_within_3: usize,
    /// Mean epochs from the start to detection, over the caught (× 100).
    pub mean_epochs_to_detection_x100: u64,
    /// Of the flags raised by the reasons that caught this class: the share that were this
    /// class (millionths). For honest devices, 0.
    pub precision_ppm: u64,
    /// Share of all rewards paid over the run.
    pub reward_share_ppm: u64,
}

/// A simulation's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityResult {
    pub lines: Vec<ClassLine>,
    /// Over all flags: the share that were dishonest devices.
    pub precision_ppm: u64,
    pub honest_false_positive_ppm: u64,
    /// The share of the rewards paid to dishonest devices over the run, and in the last
    /// epoch.
    pub dishonest_reward_share_ppm: u64,
    pub dishonest_reward_share_last_ppm: u64,
    /// Why devices were flagged: reason label (honest or dishonest) → count.
    pub flags_by_reason: BTreeMap<String, usize>,
}

impl QualityResult {
    /// Whether the published targets hold: honest false positives under 1%, every
    /// dishonest class caught at least 90% within three epochs, dishonest devices under
    /// 5% of the rewards. The error says which failed.
    pub fn meets_targets(&self) -> Result<(), String> {
        if self.honest_false_positive_ppm >= 10_000 {
            return Err(format!(
                "honest false positives {} ppm",
                self.honest_false_positive_ppm
            ));
        }
        for l in self.lines.iter().filter(|l| !l.honest) {
            if l.caught_within_3 * 10 < l.devices * 9 {
                return Err(format!(
                    "{}: {} of {} within 3 epochs",
                    l.label, l.caught_within_3, l.devices
                ));
            }
        }
        if self.dishonest_reward_share_ppm >= 50_000 {
            return Err(format!(
                "dishonest share of rewards {} ppm",
                self.dishonest_reward_share_ppm
            ));
        }
        Ok(())
    }

    /// The line of the class labelled `label`.
    pub fn line(&self, label: &str) -> Option<&ClassLine> {
        self.lines.iter().find(|l| l.label == label)
    }
}

/// What a simulation recorded: per device its class (label, honest?), the epoch it was
/// first flagged and why, and what it was paid.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    classes: Vec<(String, bool)>,
    flagged: BTreeMap<usize, (u64, ReasonCode)>,
    paid: Vec<u128>,
    last_paid: Vec<u128>,
}

impl Tally {
    /// A tally over devices with these classes (index = device).
    pub fn new(classes: Vec<(String, bool)>) -> Tally {
        let n = classes.len();
        Tally {
            classes,
            flagged: BTreeMap::new(),
            paid: vec![0; n],
            last_paid: vec![0; n],
        }
    }

    /// Flag device `i` in `epoch` (the first flag stands).
    pub fn flag(&mut self, i: usize, epoch: u64, why: ReasonCode) {
        self.flagged.entry(i).or_insert((epoch, why));
    }

    /// Record one epoch's payouts (index = device).
    pub fn pay_epoch(&mut self, paid: &BTreeMap<usize, u128>) {
        self.last_paid = vec![0; self.classes.len()];
        for (i, v) in paid {
            self.paid[*i] += v;
            self.last_paid[*i] += v;
        }
    }

    pub fn result(&self) -> QualityResult {
        let total: u128 = self.paid.iter().sum();
        let last_total: u128 = self.last_paid.iter().sum();
        let labels: Vec<(&str, bool)> = {
            let mut seen = BTreeSet::new();
            self.classes
                .iter()
                .filter(|c| seen.insert(c.0.as_str()))
                .map(|c| (c.0.as_str(), c.1))
                .collect()
        };
        let honest_flag_reasons: Vec<ReasonCode> = self
            .flagged
            .iter()
            .filter(|(i, _)| self.classes[**i].1)
            .map(|(_, (_, why))| *why)
            .collect();
        let mut lines = Vec::new();
        for (label, honest) in labels {
            let members: Vec<usize> = (0..self.classes.len())
                .filter(|i| self.classes[*i].0 == label)
                .collect();
            let caught: Vec<(u64, ReasonCode)> = members
                .iter()
                .filter_map(|i| self.flagged.get(i).copied())
                .collect();
            let reasons: BTreeSet<ReasonCode> = caught.iter().map(|(_, r)| *r).collect();
            let false_alarms = honest_flag_reasons
                .iter()
                .filter(|r| reasons.contains(r))
                .count();
            let paid: u128 = members.iter().map(|i| self.paid[*i]).sum();
            lines.push(ClassLine {
                label: label.to_string(),
                honest,
                devices: members.len(),
                caught: caught.len(),
                caught_within_3: caught.iter().filter(|(e, _)| *e <= 3).count(),
                mean_epochs_to_detection_x100: (caught.iter().map(|(e, _)| e * 100).sum::<u64>())
                    .checked_div(caught.len() as u64)
                    .unwrap_or(0),
                precision_ppm: if honest {
                    0
                } else {
                    ppm(caught.len() as u128, (caught.len() + false_alarms) as u128)
                },
                reward_share_ppm: ppm(paid, total),
            });
        }
        let dishonest_flags = self.flagged.keys().filter(|i| !self.classes[**i].1).count();
        let honest = self.classes.iter().filter(|c| c.1).count();
        let mut flags_by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for (i, (_, why)) in &self.flagged {
            let who = if self.classes[*i].1 {
                "honest"
            } else {
                "dishonest"
            };
            *flags_by_reason
                .entry(format!("{} ({who})", why.name()))
                .or_default() += 1;
        }
        let dishonest = |paid: &[u128]| -> u128 {
            paid.iter()
                .zip(&self.classes)
                .filter(|(_, c)| !c.1)
                .map(|(p, _)| *p)
                .sum()
        };
        QualityResult {
            lines,
            precision_ppm: ppm(dishonest_flags as u128, self.flagged.len() as u128),
            honest_false_positive_ppm: ppm(
                (self.flagged.len() - dishonest_flags) as u128,
                honest as u128,
            ),
            dishonest_reward_share_ppm: ppm(dishonest(&self.paid), total),
            dishonest_reward_share_last_ppm: ppm(dishonest(&self.last_paid), last_total),
            flags_by_reason,
        }
    }
}

/// What a simulation of one place recorded, epoch by epoch: every device's class, the
/// first time a check flagged it, and the reward units the verifier gave it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Per device (its index): key, class label, honest.
    pub devices: Vec<(KeyId, String, bool)>,
    /// First flag per device: (epoch, reason).
    pub flagged: BTreeMap<usize, (u64, ReasonCode)>,
    /// Per epoch (the first is epoch 1): reward units by device, devices flagged by the
    /// end of the epoch left out (their rewards are withheld).
    pub units: Vec<BTreeMap<usize, u128>>,
}

impl Recorded {
    pub fn new(devices: Vec<(KeyId, String, bool)>) -> Recorded {
        Recorded {
            devices,
            ..Recorded::default()
        }
    }

    /// Flag device `i` in `epoch` (the first flag stands).
    pub fn flag(&mut self, i: usize, epoch: u64, why: ReasonCode) {
        self.flagged.entry(i).or_insert((epoch, why));
    }

    pub fn is_flagged(&self, i: usize) -> bool {
        self.flagged.contains_key(&i)
    }

    /// Whether device `i` was flagged in an epoch before `epoch`.
    pub fn flagged_before(&self, i: usize, epoch: u64) -> bool {
        self.flagged.get(&i).is_some_and(|(e, _)| *e < epoch)
    }

    /// Close an epoch with what each device earned (flagged devices are left out).
    pub fn pay_epoch(&mut self, units: BTreeMap<usize, u128>) {
        let paid = units
            .into_iter()
            .filter(|(i, u)| *u > 0 && !self.is_flagged(*i))
            .collect();
        self.units.push(paid);
    }

    /// The tally of the whole run, paying units as they were earned.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::new(
            self.devices
                .iter()
                .map(|(_, label, honest)| (label.clone(), *honest))
                .collect(),
        );
        for (i, (epoch, why)) in &self.flagged {
            t.flag(*i, *epoch, *why);
        }
        for units in &self.units {
            t.pay_epoch(units);
        }
        t
    }
}

/// `part / whole` in millionths (0 for an empty whole).
pub fn ppm(part: u128, whole: u128) -> u64 {
    (part * 1_000_000).checked_div(whole).unwrap_or(0) as u64
}

/// Millionths as a percentage with one decimal.
pub fn pct(ppm: u64) -> String {
    format!("{}.{}%", ppm / 10_000, ppm % 10_000 / 1_000)
}

/// The result as a table.
pub fn table(r: &QualityResult) -> String {
    let w = r
        .lines
        .iter()
        .map(|l| l.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(34);
    let mut out = format!(
        "{:<w$} {:>7} {:>7} {:>9} {:>7} {:>9} {:>10} {:>8}\n",
        "class", "devices", "caught", "precision", "recall", "within 3", "epochs", "rewards"
    );
    for l in &r.lines {
        let recall = ppm(l.caught as u128, l.devices as u128);
        let (precision, recall) = if l.honest {
            ("-".to_string(), format!("FP {}", pct(recall)))
        } else {
            (pct(l.precision_ppm), pct(recall))
        };
        out.push_str(&format!(
            "{:<w$} {:>7} {:>7} {:>9} {:>7} {:>9} {:>7}.{:02} {:>8}\n",
            l.label,
            l.devices,
            l.caught,
            precision,
            recall,
            l.caught_within_3,
            l.mean_epochs_to_detection_x100 / 100,
            l.mean_epochs_to_detection_x100 % 100,
            pct(l.reward_share_ppm),
        ));
    }
    out.push_str(&format!(
        "precision {}  honest false positives {}  dishonest share of rewards {} (last epoch {})\n",
        pct(r.precision_ppm),
        pct(r.honest_false_positive_ppm),
        pct(r.dishonest_reward_share_ppm),
        pct(r.dishonest_reward_share_last_ppm),
    ));
    out.push_str("flags by reason:");
    for (why, n) in &r.flags_by_reason {
        out.push_str(&format!("  {why}: {n}"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_counts_classes_precision_and_shares() {
        let mut t = Tally::new(
            [
                ("honest", true),
                ("honest", true),
                ("honest", true),
                ("honest", true),
                ("cloner", false),
                ("cloner", false),
            ]
            .into_iter()
            .map(|(l, h)| (l.to_string(), h))
            .collect(),
        );
        t.flag(4, 1, ReasonCode::ClonedSeries);
        t.flag(4, 2, ReasonCode::Indoor); // the first flag stands
        t.flag(0, 2, ReasonCode::ClonedSeries);
        t.pay_epoch(&BTreeMap::from([(0, 10), (1, 10), (5, 20)]));
        t.pay_epoch(&BTreeMap::from([(1, 30), (5, 10)]));
        let r = t.result();
        let honest = r.line("honest").unwrap();
        assert_eq!((honest.devices, honest.caught), (4, 1));
        let cloner = r.line("cloner").unwrap();
        assert_eq!((cloner.caught, cloner.caught_within_3), (1, 1));
        assert_eq!(cloner.mean_epochs_to_detection_x100, 100);
        // One honest device was flagged for the same reason: precision 1/2.
        assert_eq!(cloner.precision_ppm, 500_000);
        assert_eq!(r.precision_ppm, 500_000);
        assert_eq!(r.honest_false_positive_ppm, 250_000);
        // Paid 80 in all, 30 to the cloner; 40 in the last epoch, 10 to the cloner.
        assert_eq!(r.dishonest_reward_share_ppm, 375_000);
        assert_eq!(r.dishonest_reward_share_last_ppm, 250_000);
        assert_eq!(r.flags_by_reason["cloned_series (dishonest)"], 1);
        assert!(table(&r).contains("FP 25.0%"));
        assert_eq!(
            r.meets_targets(),
            Err("honest false positives 250000 ppm".to_string())
        );
    }
}
