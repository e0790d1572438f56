//! Why a job did not produce an output.

use std::fmt;

/// A capped quantity of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cap {
    /// `JobSpec::module` length, in bytes.
    ModuleBytes,
    /// `JobSpec::input` length, in bytes.
    InputBytes,
    /// The output length returned by `run`, in bytes.
    OutputBytes,
    /// `JobSpec::fuel`.
    Fuel,
    /// `JobSpec::memory_limit_bytes`.
    MemoryLimitBytes,
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ModuleBytes => "module size (bytes)",
            Self::InputBytes => "input size (bytes)",
            Self::OutputBytes => "output size (bytes)",
            Self::Fuel => "fuel",
            Self::MemoryLimitBytes => "memory limit (bytes)",
        })
    }
}

/// Why [`run_job`](crate::run_job) produced no output. Like the output itself, the error a job
/// ends with is deterministic (except [`JobError::Internal`], which is a bug).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// A spec field, or the output, is larger than its cap.
    #[error("{what} is {actual}, over the cap of {max}")]
    CapExceeded {
        /// Which quantity.
        what: Cap,
        /// Its value.
        actual: u64,
        /// Its cap.
        max: u64,
    },
    /// The module is not valid WebAssembly (binary or text), uses a disabled feature, or could
    /// not be instantiated.
    #[error("invalid module: {message}")]
    InvalidModule {
        /// The engine's description.
        message: String,
    },
    /// The module imports something other than `cairn.abort: (func (param i32))`.
    #[error(
        "forbidden import `{module}.{name}` ({found}): a job may import only `cairn.abort` as (func (param i32))"
    )]
    ForbiddenImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// What it imports, e.g. `(func (param i32) (result i64))`.
        found: String,
    },
    /// A required export is missing.
    #[error("missing export `{name}`: the job ABI requires `{name}` to be exported as {expected}")]
    MissingExport {
        /// `memory`, `alloc` or `run`.
        name: &'static str,
        /// What the ABI expects.
        expected: &'static str,
    },
    /// A required export has the wrong kind or signature.
    #[error("export `{name}` has the wrong type: the job ABI requires {expected}, found {found}")]
    WrongExportType {
        /// `memory`, `alloc` or `run`.
        name: &'static str,
        /// What the ABI expects.
        expected: &'static str,
        /// What the module exports under that name.
        found: String,
    },
    /// The job used up its fuel.
    #[error("out of fuel: the job used all {fuel} units of fuel it was given")]
    OutOfFuel {
        /// The fuel the job was given (`JobSpec::fuel`).
        fuel: u64,
    },
    /// The job's memory would have grown past `JobSpec::memory_limit_bytes`.
    #[error(
        "memory limit exceeded: the job asked for {requested} bytes of memory, over its limit of {limit}"
    )]
    MemoryLimitExceeded {
        /// The memory size, in bytes, the job asked for.
        requested: u64,
        /// `JobSpec::memory_limit_bytes`.
        limit: u64,
    },
    /// A table would have grown past [`MAX_TABLE_ELEMENTS`](crate::MAX_TABLE_ELEMENTS).
    #[error(
        "table limit exceeded: the job asked for a table of {requested} elements, over the limit of {limit}"
    )]
    TableLimitExceeded {
        /// The table size the job asked for.
        requested: u64,
        /// The cap.
        limit: u64,
    },
    /// The job called `cairn.abort(code)`.
    #[error("the job aborted with code {code}")]
    Aborted {
        /// The code it passed.
        code: i32,
    },
    /// The job trapped: `unreachable`, an out-of-bounds access, division by zero, stack
    /// overflow, …
    #[error("the job trapped: {message}")]
    Trap {
        /// The engine's description of the trap.
        message: String,
    },
    /// `alloc` returned a pointer where the input does not fit in memory.
    #[error(
        "input out of bounds: `alloc` returned {ptr:#x} for {len} input bytes, past the end of the {memory_size}-byte memory"
    )]
    InputOutOfBounds {
        /// What `alloc` returned.
        ptr: u32,
        /// The input length.
        len: u32,
        /// The memory size at that point, in bytes.
        memory_size: u64,
    },
    /// `run` returned an output range that does not lie inside memory.
    #[error(
        "output out of bounds: `run` returned {len} bytes at {ptr:#x}, past the end of the {memory_size}-byte memory"
    )]
    OutputOutOfBounds {
        /// The output pointer `run` returned.
        ptr: u32,
        /// The output length `run` returned.
        len: u32,
        /// The memory size after `run`, in bytes.
        memory_size: u64,
    },
    /// The engine failed in a way the job cannot cause (a bug in this crate or in wasmi).
    #[error("internal error running the job: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}
