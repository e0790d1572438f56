//! Running one job under wasmi.

use crate::error::{Cap, JobError};
use crate::spec::{JobSpec, MAX_CALL_DEPTH, MAX_OUTPUT_BYTES, MAX_TABLE_ELEMENTS, len_u64};
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use wasmi::{
    Caller, CompilationMode, Config, Engine, ExternType, FuncType, Linker, Module, ResourceLimiter,
    Store, TrapCode, ValType,
};
// wasmi does not re-export the error type its `ResourceLimiter` trait names.
use wasmi_core::LimiterError;

/// What a job produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// The output bytes (`memory[out_ptr .. out_ptr + out_len]` after `run`).
    pub output: Vec<u8>,
    /// Fuel spent by instantiation, `alloc` and `run` together.
    pub fuel_used: u64,
    /// BLAKE3 of `output`: what providers and verifiers compare.
    pub output_hash: [u8; 32],
}

/// Runs a job under the job ABI described in the crate docs.
///
/// Caps are checked first, then the module is parsed, validated and checked for forbidden
/// imports and the required exports, all before any of its code runs. The same spec always
/// gives the same result, `Ok` or `Err`, on every host. Never panics: a panic inside the engine
/// (a bug) is caught and returned as [`JobError::Internal`].
///
/// # Errors
///
/// Every way a job can fail is a [`JobError`] variant; see there.
pub fn run_job(spec: &JobSpec) -> Result<JobOutcome, JobError> {
    spec.check_caps()?;
    panic::catch_unwind(AssertUnwindSafe(|| execute(spec))).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "engine panicked".to_owned());
        Err(JobError::Internal { message })
    })
}

const MEMORY_EXPECTED: &str = "a memory";
const ALLOC_EXPECTED: &str = "(func (param i32) (result i32))";
const RUN_EXPECTED: &str = "(func (param i32 i32) (result i64))";

/// What the module's instance may touch: the limiter, and the code `cairn.abort` was called with.
#[derive(Debug)]
struct HostState {
    limiter: Limiter,
    abort_code: Option<i32>,
}

/// Enforces the memory limit and the table cap, remembering what it refused so that the
/// resulting trap can be reported precisely.
#[derive(Debug)]
struct Limiter {
    memory_limit: u64,
    refused: Option<Refused>,
}

#[derive(Debug, Clone, Copy)]
enum Refused {
    Memory { requested: u64 },
    Table { requested: u64 },
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        let desired = len_u64(desired);
        if desired > self.memory_limit {
            self.refused = Some(Refused::Memory { requested: desired });
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        let desired = len_u64(desired);
        if desired > MAX_TABLE_ELEMENTS {
            self.refused = Some(Refused::Table { requested: desired });
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        10
    }

    fn memories(&self) -> usize {
        1
    }
}

fn engine() -> Engine {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        // Validate and translate everything up front: the module is fully checked before any
        // of it runs, and fuel never depends on when code happens to be translated.
        .compilation_mode(CompilationMode::Eager)
        .wasm_multi_memory(false)
        .set_max_recursion_depth(MAX_CALL_DEPTH);
    Engine::new(&config)
}

fn execute(spec: &JobSpec) -> Result<JobOutcome, JobError> {
    let engine = engine();
    let module = Module::new(&engine, &spec.module).map_err(|e| JobError::InvalidModule {
        message: e.to_string(),
    })?;
    check_imports(&module)?;
    check_exports(&module)?;

    let state = HostState {
        limiter: Limiter {
            memory_limit: spec.memory_limit_bytes,
            refused: None,
        },
        abort_code: None,
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_fuel(spec.fuel).map_err(internal)?;

    let mut linker = Linker::<HostState>::new(&engine);
    linker
        .func_wrap(
            "cairn",
            "abort",
            |mut caller: Caller<'_, HostState>, code: i32| -> Result<(), wasmi::Error> {
                caller.data_mut().abort_code = Some(code);
                Err(wasmi::Error::new(format!("cairn.abort({code})")))
            },
        )
        .map_err(internal)?;

    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| classify(store.data(), spec.fuel, &e, true))?;
    let memory = instance
        .get_memory(&store, "memory")
        .ok_or_else(|| internal("`memory` export vanished"))?;
    let alloc = instance
        .get_typed_func::<i32, i32>(&store, "alloc")
        .map_err(internal)?;
    let run = instance
        .get_typed_func::<(i32, i32), i64>(&store, "run")
        .map_err(internal)?;

    // The input cap (1 MiB) keeps this in range.
    let input_len = u32::try_from(spec.input.len()).map_err(internal)?;
    let ptr = alloc
        .call(&mut store, wasm_i32(input_len))
        .map_err(|e| classify(store.data(), spec.fuel, &e, false))?;
    let ptr = wasm_u32(ptr);
    let memory_size = len_u64(memory.data_size(&store));
    let Some(input_range) = range_in(ptr, input_len, memory_size) else {
        return Err(JobError::InputOutOfBounds {
            ptr,
            len: input_len,
            memory_size,
        });
    };
    memory.data_mut(&mut store)[input_range].copy_from_slice(&spec.input);

    let packed = run
        .call(&mut store, (wasm_i32(ptr), wasm_i32(input_len)))
        .map_err(|e| classify(store.data(), spec.fuel, &e, false))?;
    let packed = u64::from_le_bytes(packed.to_le_bytes());
    let out_ptr = u32::try_from(packed >> 32).map_err(internal)?;
    let out_len = u32::try_from(packed & 0xffff_ffff).map_err(internal)?;
    if u64::from(out_len) > len_u64(MAX_OUTPUT_BYTES) {
        return Err(JobError::CapExceeded {
            what: Cap::OutputBytes,
            actual: out_len.into(),
            max: len_u64(MAX_OUTPUT_BYTES),
        });
    }
    let memory_size = len_u64(memory.data_size(&store));
    let Some(output_range) = range_in(out_ptr, out_len, memory_size) else {
        return Err(JobError::OutputOutOfBounds {
            ptr: out_ptr,
            len: out_len,
            memory_size,
        });
    };
    let output = memory.data(&store)[output_range].to_vec();

    let fuel_left = store.get_fuel().map_err(internal)?;
    let fuel_used = spec.fuel.checked_sub(fuel_left).ok_or_else(|| {
        internal(format!(
            "fuel left ({fuel_left}) exceeds fuel given ({})",
            spec.fuel
        ))
    })?;
    let output_hash = *blake3::hash(&output).as_bytes();
    Ok(JobOutcome {
        output,
        fuel_used,
        output_hash,
    })
}

/// `ptr .. ptr + len` as a slice range, if it lies within `memory_size` bytes.
fn range_in(ptr: u32, len: u32, memory_size: u64) -> Option<std::ops::Range<usize>> {
    let end = u64::from(ptr) + u64::from(len);
    if end > memory_size {
        return None;
    }
    Some(usize::try_from(ptr).ok()?..usize::try_from(end).ok()?)
}

/// The same 32 bits as Wasm's `i32`.
fn wasm_i32(value: u32) -> i32 {
    i32::from_le_bytes(value.to_le_bytes())
}

/// A Wasm `i32` read as unsigned, as the ABI's pointers and lengths are.
fn wasm_u32(value: i32) -> u32 {
    u32::from_le_bytes(value.to_le_bytes())
}

/// Turns an engine error from instantiation or a call into the job's error.
fn classify(state: &HostState, fuel: u64, error: &wasmi::Error, instantiating: bool) -> JobError {
    // What the host itself refused or was asked for is the precise cause of the trap.
    match state.limiter.refused {
        Some(Refused::Memory { requested }) => {
            return JobError::MemoryLimitExceeded {
                requested,
                limit: state.limiter.memory_limit,
            };
        }
        Some(Refused::Table { requested }) => {
            return JobError::TableLimitExceeded {
                requested,
                limit: MAX_TABLE_ELEMENTS,
            };
        }
        None => {}
    }
    if let Some(code) = state.abort_code {
        return JobError::Aborted { code };
    }
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => JobError::OutOfFuel { fuel },
        Some(_) => JobError::Trap {
            message: error.to_string(),
        },
        // Not a trap: during instantiation, a module the engine will not set up.
        None if instantiating => JobError::InvalidModule {
            message: format!("instantiation failed: {error}"),
        },
        None => JobError::Trap {
            message: error.to_string(),
        },
    }
}

fn internal(error: impl ToString) -> JobError {
    JobError::Internal {
        message: error.to_string(),
    }
}

/// Only `cairn.abort: (func (param i32))` may be imported.
fn check_imports(module: &Module) -> Result<(), JobError> {
    for import in module.imports() {
        let allowed = import.module() == "cairn"
            && import.name() == "abort"
            && matches!(import.ty(), ExternType::Func(f)
                if f.params() == [ValType::I32] && f.results().is_empty());
        if !allowed {
            return Err(JobError::ForbiddenImport {
                module: import.module().to_owned(),
                name: import.name().to_owned(),
                found: describe(import.ty()),
            });
        }
    }
    Ok(())
}

/// An export's name, its expected type in words, and the test of its type.
type ExportCheck = (&'static str, &'static str, fn(&ExternType) -> bool);

/// The ABI's three exports, with their exact types.
fn check_exports(module: &Module) -> Result<(), JobError> {
    let exports: [ExportCheck; 3] = [
        ("memory", MEMORY_EXPECTED, |ty| {
            matches!(ty, ExternType::Memory(_))
        }),
        ("alloc", ALLOC_EXPECTED, |ty| {
            is_func(ty, &[ValType::I32], &[ValType::I32])
        }),
        ("run", RUN_EXPECTED, |ty| {
            is_func(ty, &[ValType::I32, ValType::I32], &[ValType::I64])
        }),
    ];
    for (name, expected, fits) in exports {
        let Some(ty) = module.get_export(name) else {
            return Err(JobError::MissingExport { name, expected });
        };
        if !fits(&ty) {
            return Err(JobError::WrongExportType {
                name,
                expected,
                found: describe(&ty),
            });
        }
    }
    Ok(())
}

fn is_func(ty: &ExternType, params: &[ValType], results: &[ValType]) -> bool {
    matches!(ty, ExternType::Func(f) if f.params() == params && f.results() == results)
}

/// An extern type in WAT-like words, for error messages.
fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Global(_) => "a global".to_owned(),
        ExternType::Table(_) => "a table".to_owned(),
        ExternType::Memory(_) => "a memory".to_owned(),
        ExternType::Func(f) => describe_func(f),
    }
}

fn describe_func(f: &FuncType) -> String {
    let mut out = String::from("(func");
    for (keyword, types) in [("param", f.params()), ("result", f.results())] {
        if types.is_empty() {
            continue;
        }
        let _ = write!(out, " ({keyword}");
        for ty in types {
            let name = match ty {
                ValType::I32 => "i32",
                ValType::I64 => "i64",
                ValType::F32 => "f32",
                ValType::F64 => "f64",
                ValType::V128 => "v128",
                ValType::FuncRef => "funcref",
                ValType::ExternRef => "externref",
            };
            let _ = write!(out, " {name}");
        }
        out.push(')');
    }
    out.push(')');
    out
}
