//! The job specification, its caps and its id.

use crate::error::{Cap, JobError};
use std::fmt;

/// Largest accepted module, binary or text: 4 MiB.
pub const MAX_MODULE_BYTES: usize = 4 << 20;
/// Largest accepted input: 1 MiB.
pub const MAX_INPUT_BYTES: usize = 1 << 20;
/// Largest accepted output: 1 MiB.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Largest accepted `memory_limit_bytes`: 256 MiB.
pub const MAX_MEMORY_LIMIT_BYTES: u64 = 256 << 20;
/// Largest accepted `fuel`: 2^36 (about 6.9 × 10^10), roughly one unit per executed instruction.
pub const MAX_FUEL: u64 = 1 << 36;
/// Most elements any one table may hold.
pub const MAX_TABLE_ELEMENTS: u64 = 1 << 16;
/// Deepest nesting of Wasm calls; deeper recursion traps.
pub const MAX_CALL_DEPTH: usize = 1_000;
/// The BLAKE3 `derive_key` context of [`job_id`].
pub const JOB_ID_CONTEXT: &str = "cairn.job.v1";

/// One compute job: what to run, on what, and with how much.
///
/// Every field is capped (see the crate docs); [`JobSpec::check_caps`] says whether it fits.
#[derive(Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The WebAssembly module, binary (`\0asm…`) or text (`.wat`), following the job ABI.
    pub module: Vec<u8>,
    /// The input bytes handed to the module's `run`.
    pub input: Vec<u8>,
    /// Fuel budget for instantiation, `alloc` and `run` together.
    pub fuel: u64,
    /// Most bytes the module's linear memory may ever span.
    pub memory_limit_bytes: u64,
}

impl JobSpec {
    /// Checks every field against its cap; [`run_job`](crate::run_job) does this first.
    ///
    /// # Errors
    ///
    /// [`JobError::CapExceeded`] naming the first field over its cap.
    pub fn check_caps(&self) -> Result<(), JobError> {
        let checks = [
            (
                Cap::ModuleBytes,
                len_u64(self.module.len()),
                len_u64(MAX_MODULE_BYTES),
            ),
            (
                Cap::InputBytes,
                len_u64(self.input.len()),
                len_u64(MAX_INPUT_BYTES),
            ),
            (Cap::Fuel, self.fuel, MAX_FUEL),
            (
                Cap::MemoryLimitBytes,
                self.memory_limit_bytes,
                MAX_MEMORY_LIMIT_BYTES,
            ),
        ];
        for (what, actual, max) in checks {
            if actual > max {
                return Err(JobError::CapExceeded { what, actual, max });
            }
        }
        Ok(())
    }
}

/// Shows sizes and hashes rather than megabytes of bytes.
impl fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSpec")
            .field("module", &BytesSummary(&self.module))
            .field("input", &BytesSummary(&self.input))
            .field("fuel", &self.fuel)
            .field("memory_limit_bytes", &self.memory_limit_bytes)
            .finish()
    }
}

struct BytesSummary<'a>(&'a [u8]);

impl fmt::Debug for BytesSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hash = blake3::hash(self.0).to_hex();
        write!(f, "<{} bytes, blake3 {}…>", self.0.len(), &hash[..16])
    }
}

/// The job's identity: BLAKE3 in `derive_key` mode with context [`JOB_ID_CONTEXT`] over
///
/// ```text
/// blake3(module) ‖ blake3(input) ‖ fuel as u64 LE ‖ memory_limit_bytes as u64 LE   (80 bytes)
/// ```
///
/// Two providers given specs with the same id run the same job and must report the same
/// `output_hash`. The module bytes are hashed as submitted, so a `.wat` text and its `.wasm`
/// binary are different jobs.
#[must_use]
pub fn job_id(spec: &JobSpec) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(JOB_ID_CONTEXT);
    hasher.update(blake3::hash(&spec.module).as_bytes());
    hasher.update(blake3::hash(&spec.input).as_bytes());
    hasher.update(&spec.fuel.to_le_bytes());
    hasher.update(&spec.memory_limit_bytes.to_le_bytes());
    *hasher.finalize().as_bytes()
}

/// A length as `u64`; `usize` is at most 64 bits on every supported target.
pub(crate) fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}
