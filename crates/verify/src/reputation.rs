//! Per-device reputation per kind of work: a decaying Beta score, in fixed point.
//!
//! Every audited item (a storage chunk, a benchmark product) is one observation:
//! `α ← λα + [pass]`, `β ← λβ + [fail]`, `score = α / (α + β)`. With λ = 0.999 the
//! score remembers about the last thousand observations. A provider that lost 10% of
//! its chunks settles near 0.90 and falls below the 0.96 floor; one that lost 2% settles
//! near 0.98 and does not; an honest device's brief outage costs a few observations
//! (and is retried before it counts at all). A new device is on **probation** until
//! `probation_audits` of its challenges have been judged: it cannot be disqualified yet, only paid
//! less (the rewarder reads the status). Disqualification is kept: a disqualified device
//! is no longer challenged for that kind and earns nothing for it.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;

/// 1.0 in the fixed point of α, β and scores (parts per million).
pub const ONE: u64 = 1_000_000;

/// Where a device stands for one kind of work.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Status {
    Probation = 0,
    Good = 1,
    Disqualified = 2,
}

/// A decaying Beta reputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Reputation {
    /// α in millionths.
    pub alpha: u64,
    /// β in millionths.
    pub beta: u64,
    /// Challenges judged (each records one or more observations).
    pub audits: u64,
    pub status: Status,
    /// The epoch the device was disqualified in, if it was.
    pub disqualified_in: Option<u64>,
}

impl Default for Reputation {
    fn default() -> Self {
        Reputation {
            alpha: 0,
            beta: 0,
            audits: 0,
            status: Status::Probation,
            disqualified_in: None,
        }
    }
}

/// The parameters of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// λ in millionths.
    pub decay_ppm: u64,
    /// The disqualification floor in millionths.
    pub floor_ppm: u64,
    pub probation_audits: u64,
}

impl Reputation {
    /// The score in millionths; a device never audited scores 1.0.
    pub fn score_ppm(&self) -> u64 {
        let total = u128::from(self.alpha) + u128::from(self.beta);
        if total == 0 {
            return ONE;
        }
        (u128::from(self.alpha) * u128::from(ONE) / total) as u64
    }

    /// Record one judged challenge: `passes` and then `fails` observations, one decay
    /// step each, and update the status at `epoch`.
    pub fn observe(&mut self, model: &Model, passes: u64, fails: u64, epoch: u64) {
        if self.status == Status::Disqualified {
            return;
        }
        let decay = |x: u64| (u128::from(x) * u128::from(model.decay_ppm) / u128::from(ONE)) as u64;
        for fail in std::iter::repeat_n(false, passes as usize)
            .chain(std::iter::repeat_n(true, fails as usize))
        {
            self.alpha = decay(self.alpha);
            self.beta = decay(self.beta);
            if fail {
                self.beta += ONE;
            } else {
                self.alpha += ONE;
            }
        }
        self.audits = self.audits.saturating_add(1);
        self.status = if self.audits < model.probation_audits {
            Status::Probation
        } else if self.score_ppm() < model.floor_ppm {
            self.disqualified_in = Some(epoch);
            Status::Disqualified
        } else {
            Status::Good
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: Model = Model {
        decay_ppm: 999_000,
        floor_ppm: 960_000,
        probation_audits: 10,
    };

    /// Feed a steady failure rate (fails per 1000) in a fixed interleaving, 16 chunks a
    /// challenge (the default `storage_challenge_chunks`).
    fn run(fail_per_mille: u64, observations: u64) -> Reputation {
        let mut r = Reputation::default();
        for challenge in 0..observations / 16 {
            let fails = (challenge * 16..(challenge + 1) * 16)
                .filter(|i| (i * fail_per_mille) % 1000 < fail_per_mille)
                .count() as u64;
            r.observe(&MODEL, 16 - fails, fails, challenge / 4);
        }
        r
    }

    #[test]
    fn ten_percent_loss_is_disqualified_two_percent_is_not() {
        assert_eq!(run(100, 3_000).status, Status::Disqualified);
        let two = run(20, 20_000);
        assert_eq!(two.status, Status::Good, "{two:?}");
        assert!(
            (975_000..985_000).contains(&two.score_ppm()),
            "{}",
            two.score_ppm()
        );
    }

    #[test]
    fn probation_then_good_and_an_outage_is_survived() {
        let mut r = Reputation::default();
        r.observe(&MODEL, 0, 50, 1);
        assert_eq!(
            r.status,
            Status::Probation,
            "no disqualification on probation"
        );
        let mut r = run(0, 2_000);
        assert_eq!(r.status, Status::Good);
        // A timeout after retries counts one challenge's 16 chunks as failed.
        r.observe(&MODEL, 0, 16, 40);
        assert_eq!(r.status, Status::Good, "{}", r.score_ppm());
        assert_eq!(r.audits, 2_000 / 16 + 1);
    }

    #[test]
    fn disqualification_is_kept() {
        let mut r = run(500, 1_000);
        assert_eq!(r.status, Status::Disqualified);
        let at = r.disqualified_in;
        r.observe(&MODEL, 10_000, 0, 99);
        assert_eq!(r.status, Status::Disqualified);
        assert_eq!(r.disqualified_in, at);
    }
}
