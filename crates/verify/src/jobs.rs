//! Consumer jobs: re-executing a sample of what providers reported, and canaries.
//!
//! Providers report every job they ran (`JobResult`: job id, output hash, fuel). Jobs whose
//! spec the network holds (consumers register them with the node before sending; the
//! challenger registers its canaries) are checked by running them again here: WebAssembly
//! under `cairn-jobs` is deterministic, so the output hash and the fuel must match bit for
//! bit. A canary is always checked; any other job with probability `compute_reexec_ppm`,
//! drawn from the verification entropy (a block hash finalized after the epoch ended), so
//! a provider cannot know while running a job whether it will be checked.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::{Hash, PublicKey};
use cairn_jobs::JobSpec;
use cairn_proto::v1::JobResult;

use crate::verdict::{Outcome, ReasonCode};

/// Domain of the re-execution draw.
pub const REEXEC_CONTEXT: &str = "cairn.reexec.v1";

/// A job the network holds, as the node's job store keeps it (content-addressed by job id).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredJob {
    pub module: Vec<u8>,
    pub input: Vec<u8>,
    pub fuel: u64,
    pub memory_limit_bytes: u64,
    /// Sent by the challenger with a known answer; always checked.
    pub canary: bool,
}

impl StoredJob {
    pub fn spec(&self) -> JobSpec {
        JobSpec {
            module: self.module.clone(),
            input: self.input.clone(),
            fuel: self.fuel,
            memory_limit_bytes: self.memory_limit_bytes,
        }
    }

    pub fn job_id(&self) -> Hash {
        Hash(cairn_jobs::job_id(&self.spec()))
    }
}

/// Whether `device`'s result for `job` is re-executed, at `ppm` parts per million.
pub fn sampled(entropy: &Hash, job: &Hash, device: &PublicKey, ppm: u64) -> bool {
    let mut h = blake3::Hasher::new_derive_key(REEXEC_CONTEXT);
    h.update(entropy.as_bytes());
    h.update(job.as_bytes());
    h.update(device.as_bytes());
    let word = u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"));
    word % 1_000_000 < ppm
}

/// What re-execution concluded about one reported result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobJudgement {
    pub outcome: Outcome,
    pub detail: String,
    /// Fuel the re-execution burned (0 when it failed).
    pub fuel_expected: u64,
}

/// Re-execute `job` and compare with the provider's `result`.
pub fn judge(job: &StoredJob, result: &JobResult) -> JobJudgement {
    let mismatch = if job.canary {
        ReasonCode::CanaryFailed
    } else {
        ReasonCode::JobMismatch
    };
    match cairn_jobs::run_job(&job.spec()) {
        Ok(truth) => {
            if !result.error.is_empty() {
                return JobJudgement {
                    outcome: Outcome::Invalid(ReasonCode::JobFailed),
                    detail: format!(
                        "reported the job as failed ({}), but it runs to completion",
                        result.error
                    ),
                    fuel_expected: truth.fuel_used,
                };
            }
            if result.output_hash != truth.output_hash {
                return JobJudgement {
                    outcome: Outcome::Invalid(mismatch),
                    detail: format!(
                        "output hash {} differs from re-execution's {}",
                        hex(&result.output_hash),
                        hex(&truth.output_hash)
                    ),
                    fuel_expected: truth.fuel_used,
                };
            }
            if result.fuel_used != truth.fuel_used {
                return JobJudgement {
                    outcome: Outcome::Invalid(mismatch),
                    detail: format!(
                        "reported {} fuel, re-execution burned {}",
                        result.fuel_used, truth.fuel_used
                    ),
                    fuel_expected: truth.fuel_used,
                };
            }
            JobJudgement {
                outcome: Outcome::Valid,
                detail: String::new(),
                fuel_expected: truth.fuel_used,
            }
        }
        // The job fails deterministically: so must the provider's run.
        Err(e) if !result.error.is_empty() => JobJudgement {
            outcome: Outcome::Valid,
            detail: format!("the job fails: {e}"),
            fuel_expected: 0,
        },
        Err(e) => JobJudgement {
            outcome: Outcome::Invalid(mismatch),
            detail: format!("reported an output, but the job fails: {e}"),
            fuel_expected: 0,
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + "…"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_job(canary: bool) -> StoredJob {
        StoredJob {
            module: cairn_jobs::SUM_WAT.as_bytes().to_vec(),
            input: [1u32, 2, 3].iter().flat_map(|n| n.to_le_bytes()).collect(),
            fuel: 1_000_000,
            memory_limit_bytes: 1 << 20,
            canary,
        }
    }

    fn honest(job: &StoredJob) -> JobResult {
        let o = cairn_jobs::run_job(&job.spec()).unwrap();
        JobResult {
            job_id: job.job_id().0.to_vec(),
            output_hash: o.output_hash.to_vec(),
            fuel_used: o.fuel_used,
            ..JobResult::default()
        }
    }

    #[test]
    fn honest_results_pass_and_each_lie_is_named() {
        let job = sum_job(false);
        let good = honest(&job);
        assert_eq!(judge(&job, &good).outcome, Outcome::Valid);
        let mut wrong = good.clone();
        wrong.output_hash[0] ^= 1;
        assert_eq!(
            judge(&job, &wrong).outcome,
            Outcome::Invalid(ReasonCode::JobMismatch)
        );
        assert_eq!(
            judge(&sum_job(true), &wrong).outcome,
            Outcome::Invalid(ReasonCode::CanaryFailed)
        );
        let mut cheap = good.clone();
        cheap.fuel_used -= 1;
        assert_eq!(
            judge(&job, &cheap).outcome,
            Outcome::Invalid(ReasonCode::JobMismatch)
        );
        let claimed_failure = JobResult {
            error: "out of fuel".into(),
            ..good
        };
        assert_eq!(
            judge(&job, &claimed_failure).outcome,
            Outcome::Invalid(ReasonCode::JobFailed)
        );
    }

    #[test]
    fn a_job_that_fails_must_be_reported_failed() {
        let mut job = sum_job(false);
        job.input.push(7); // not a multiple of 4: the module aborts
        let failed = JobResult {
            error: "aborted".into(),
            ..JobResult::default()
        };
        assert_eq!(judge(&job, &failed).outcome, Outcome::Valid);
        let invented = JobResult {
            output_hash: vec![0; 32],
            ..JobResult::default()
        };
        assert_eq!(
            judge(&job, &invented).outcome,
            Outcome::Invalid(ReasonCode::JobMismatch)
        );
    }

    #[test]
    fn the_sample_rate_follows_the_parameter() {
        let device = cairn_core::Keypair::from_seed(&[3; 32]).public();
        let entropy = Hash::of(b"block");
        let hits = (0..10_000u32)
            .filter(|i| sampled(&entropy, &Hash::of(&i.to_le_bytes()), &device, 100_000))
            .count();
        // 10% of 10,000: 1,000 ± 4σ (σ = 30).
        assert!((880..=1_120).contains(&hits), "{hits}");
        assert!(!sampled(&entropy, &Hash::of(b"x"), &device, 0));
        assert!(sampled(&entropy, &Hash::of(b"x"), &device, 1_000_000));
    }
}
