//! Deterministic, sandboxed execution of Cairn compute jobs.
//!
//! A consumer submits a job as a WebAssembly module plus an input; a provider runs it with
//! [`run_job`] and reports the [`JobOutcome`]. Execution is deterministic: two providers running
//! the same [`JobSpec`] (same [`job_id`]) get the same `output` and `output_hash` bit for bit, the
//! same `fuel_used`, or the same [`JobError`]. A verifier that does not want to trust a provider
//! can slip in a [`canary_job`], whose answer it computes natively without running any Wasm.
//!
//! # The job ABI (version 1)
//!
//! The module is a WebAssembly binary (`.wasm`) or its text form (`.wat`). It must export:
//!
//! | export   | type                                   |
//! |----------|----------------------------------------|
//! | `memory` | a memory (32-bit, the only one)        |
//! | `alloc`  | `(func (param $len i32) (result i32))` |
//! | `run`    | `(func (param $ptr i32) (param $len i32) (result i64))` |
//!
//! and may import nothing but `cairn.abort: (func (param $code i32))`, which stops the job at once
//! with [`JobError::Aborted`]. There is no WASI, no clock, no randomness, no I/O.
//!
//! The host then, all under one fuel budget:
//!
//! 1. instantiates the module (running its `start` function, if any);
//! 2. calls `alloc(input_len)`; the result `ptr` (read as `u32`) must satisfy
//!    `ptr + input_len <= memory size`, else [`JobError::InputOutOfBounds`];
//! 3. copies the input bytes to `memory[ptr .. ptr + input_len]`;
//! 4. calls `run(ptr, input_len)` and reads the result `r` (as `u64`) as
//!    `out_ptr = r >> 32`, `out_len = r & 0xffff_ffff`;
//! 5. takes `memory[out_ptr .. out_ptr + out_len]` as the output: `out_len` must not exceed
//!    [`MAX_OUTPUT_BYTES`] and the range must lie inside the memory, else
//!    [`JobError::CapExceeded`] / [`JobError::OutputOutOfBounds`].
//!
//! `alloc` is called even when the input is empty. Lengths and pointers are unsigned; the `i32`
//! in the signatures is only Wasm's name for 32 bits. [`SUM_WAT`] is a complete example.
//!
//! # Limits
//!
//! Every [`JobSpec`] field is capped ([`MAX_MODULE_BYTES`], [`MAX_INPUT_BYTES`], [`MAX_FUEL`],
//! [`MAX_MEMORY_LIMIT_BYTES`]); a spec over a cap is refused with [`JobError::CapExceeded`] before
//! any parsing. At run time:
//!
//! - **Fuel**: every executed instruction costs fuel (wasmi's default schedule for the pinned
//!   version; bulk memory operations and `memory.grow` cost in proportion to their size). When
//!   `fuel` runs out the job stops with [`JobError::OutOfFuel`]. Instantiation, `alloc` and `run`
//!   share the one budget; [`JobOutcome::fuel_used`] is what they spent together.
//! - **Memory**: the linear memory may never be larger than `memory_limit_bytes`, counting its
//!   initial size; a `memory.grow` past it traps with [`JobError::MemoryLimitExceeded`] (rather
//!   than returning -1, so the job cannot behave differently on hosts with different limits).
//!   Tables are capped at [`MAX_TABLE_ELEMENTS`] elements each ([`JobError::TableLimitExceeded`]).
//!   Only one memory is allowed (multi-memory is off).
//! - **Stack**: calls may nest at most [`MAX_CALL_DEPTH`] deep; deeper recursion is a
//!   [`JobError::Trap`], not a crash of the host. wasmi keeps Wasm's stack on the heap, and is
//!   built with `portable-dispatch` (a plain dispatch loop), so the host's native stack stays
//!   flat however long a job runs and whatever profile the host is built with; wasmi's default
//!   tail-call dispatch overflows the native stack in debug-assertion builds.
//!
//! The engine's own bookkeeping (compiled code, its value stack) is not counted in
//! `memory_limit_bytes`; it is bounded by the module size cap and the stack limits.
//!
//! # Determinism
//!
//! Wasm is deterministic except for a few documented corners, all closed here:
//!
//! - **NaN bit patterns** are the only non-determinism in Wasm's scalar floating point. wasmi is
//!   built with its `deterministic` feature (the Wasm 3.0 deterministic profile), which
//!   canonicalises every NaN an arithmetic float instruction produces, so float jobs are allowed
//!   and give the same bits on every host.
//! - **SIMD** (and relaxed SIMD) is not compiled in, so modules using it fail validation.
//! - **Resource exhaustion** is decided by the spec's limits, never by the host: memory growth
//!   past the limit traps instead of failing softly, and the call depth is fixed.
//! - **Imports** are limited to `cairn.abort`, which is itself deterministic.
//!
//! `fuel_used` depends on wasmi's fuel schedule, so the workspace pins wasmi to one exact version:
//! upgrading it is a protocol change.
//!
//! # Why wasmi
//!
//! wasmi is a pure-Rust interpreter: no JIT, no generated machine code, no platform-specific
//! behaviour, so a job runs the same on every provider's hardware. It has fuel metering, resource
//! limiters and the deterministic profile built in, and it builds quickly. An interpreter is slower
//! than a JIT, which is the right trade for jobs whose results are compared across providers.
//!
//! # Example
//!
//! ```
//! use cairn_jobs::{JobSpec, SUM_WAT, run_job};
//!
//! let input: Vec<u8> = [1u32, 2, 39].iter().flat_map(|v| v.to_le_bytes()).collect();
//! let spec = JobSpec {
//!     module: SUM_WAT.as_bytes().to_vec(),
//!     input,
//!     fuel: 1_000_000,
//!     memory_limit_bytes: 1 << 20,
//! };
//! let outcome = run_job(&spec)?;
//! assert_eq!(outcome.output, 42u64.to_le_bytes());
//! assert_eq!(outcome.output_hash, *blake3::hash(&outcome.output).as_bytes());
//! # Ok::<(), cairn_jobs::JobError>(())
//! ```

mod canary;
mod error;
mod exec;
mod spec;

pub use canary::{
    CANARY_FUEL, CANARY_INPUT_BYTES, CANARY_MEMORY_LIMIT_BYTES, CANARY_ROUNDS, CANARY_WAT,
    canary_input, canary_job, canary_output,
};
pub use error::{Cap, JobError};
pub use exec::{JobOutcome, run_job};
pub use spec::{
    JOB_ID_CONTEXT, JobSpec, MAX_CALL_DEPTH, MAX_FUEL, MAX_INPUT_BYTES, MAX_MEMORY_LIMIT_BYTES,
    MAX_MODULE_BYTES, MAX_OUTPUT_BYTES, MAX_TABLE_ELEMENTS, job_id,
};

/// The example job: sums its input, read as little-endian `u32`s, into a little-endian `u64`
/// (8 output bytes). An input whose length is not a multiple of 4 makes it call
/// `cairn.abort(1)`. See the crate docs for a run.
pub const SUM_WAT: &str = include_str!("../modules/sum.wat");
