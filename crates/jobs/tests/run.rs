//! Running jobs: correct results, determinism, and every way a job can fail.

use cairn_jobs::{
    Cap, JobError, JobSpec, MAX_FUEL, MAX_INPUT_BYTES, MAX_MEMORY_LIMIT_BYTES, MAX_MODULE_BYTES,
    MAX_OUTPUT_BYTES, MAX_TABLE_ELEMENTS, SUM_WAT, run_job,
};
use std::time::{Duration, Instant};

const FUEL: u64 = 1_000_000;
const MIB: u64 = 1 << 20;

fn spec(module: impl AsRef<[u8]>, input: &[u8]) -> JobSpec {
    JobSpec {
        module: module.as_ref().to_vec(),
        input: input.to_vec(),
        fuel: FUEL,
        memory_limit_bytes: MIB,
    }
}

fn le_u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A job around `run_body` (the body of `run`, returning the packed i64), with one page of
/// memory and `alloc` returning 1024.
fn job_wat(run_body: &str) -> String {
    format!(
        r#"(module
             (memory (export "memory") 1)
             (func (export "alloc") (param i32) (result i32) (i32.const 1024))
             (func (export "run") (param $ptr i32) (param $len i32) (result i64) {run_body}))"#
    )
}

/// An echo job as a hand-assembled binary: `alloc` returns 0, `run` returns `(0 << 32) | len`,
/// so the output is the input.
const ECHO_WASM: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    // type section: [i32] -> [i32]; [i32 i32] -> [i64]
    0x01, 0x0c, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7e,
    // function section: func 0 has type 0, func 1 has type 1
    0x03, 0x03, 0x02, 0x00, 0x01, //
    // memory section: one memory, min 1 page
    0x05, 0x03, 0x01, 0x00, 0x01, //
    // export section: "memory" memory 0, "alloc" func 0, "run" func 1
    0x07, 0x18, 0x03, //
    0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, //
    0x05, b'a', b'l', b'l', b'o', b'c', 0x00, 0x00, //
    0x03, b'r', b'u', b'n', 0x00, 0x01, //
    // code section: `i32.const 0`; `local.get 1 i64.extend_i32_u`
    0x0a, 0x0c, 0x02, //
    0x04, 0x00, 0x41, 0x00, 0x0b, //
    0x05, 0x00, 0x20, 0x01, 0xad, 0x0b,
];

#[test]
fn sum_job_returns_the_sum() {
    let values = [1, 2, 3, u32::MAX, u32::MAX, 7];
    let expected: u64 = values.iter().map(|&v| u64::from(v)).sum();
    let outcome = run_job(&spec(SUM_WAT, &le_u32s(&values))).unwrap();
    assert_eq!(outcome.output, expected.to_le_bytes());
    assert_eq!(
        outcome.output_hash,
        *blake3::hash(&outcome.output).as_bytes()
    );
    assert!(outcome.fuel_used > 0 && outcome.fuel_used < FUEL);
}

#[test]
fn sum_job_of_nothing_is_zero() {
    let outcome = run_job(&spec(SUM_WAT, &[])).unwrap();
    assert_eq!(outcome.output, 0u64.to_le_bytes());
}

#[test]
fn sum_job_grows_memory_for_the_largest_input() {
    // 1 MiB of input does not fit the module's one page: its `alloc` grows memory to fit.
    let values: Vec<u32> = (0..(MAX_INPUT_BYTES / 4) as u32).collect();
    let expected: u64 = values.iter().map(|&v| u64::from(v)).sum();
    let mut job = spec(SUM_WAT, &le_u32s(&values));
    job.fuel = 10_000_000;
    job.memory_limit_bytes = 2 * MIB;
    let outcome = run_job(&job).unwrap();
    assert_eq!(outcome.output, expected.to_le_bytes());

    // With only 1 MiB of memory allowed, the same growth hits the limit.
    job.memory_limit_bytes = MIB;
    assert!(matches!(
        run_job(&job),
        Err(JobError::MemoryLimitExceeded { limit, requested }) if limit == MIB && requested > MIB
    ));
}

#[test]
fn binary_modules_run_too() {
    let input = b"hello, cairn";
    let outcome = run_job(&spec(ECHO_WASM, input)).unwrap();
    assert_eq!(outcome.output, input);
}

#[test]
fn same_job_twice_gives_identical_outcomes() {
    let job = spec(SUM_WAT, &le_u32s(&(0..1000).collect::<Vec<_>>()));
    let first = run_job(&job).unwrap();
    let second = run_job(&job).unwrap();
    assert_eq!(first, second);

    // fuel_used reflects the work done: more input, more fuel.
    let bigger = run_job(&spec(SUM_WAT, &le_u32s(&(0..2000).collect::<Vec<_>>()))).unwrap();
    assert!(bigger.fuel_used > first.fuel_used);
}

/// `fuel_used` is part of what providers agree on: a change to the fuel schedule (a wasmi
/// upgrade) must show up here and be treated as a protocol change.
#[test]
fn fuel_schedule_is_pinned() {
    let outcome = run_job(&spec(SUM_WAT, &le_u32s(&[1, 2, 3, 4]))).unwrap();
    assert_eq!(outcome.fuel_used, PINNED_SUM_FUEL);
}
const PINNED_SUM_FUEL: u64 = 112;

#[test]
fn aborting_job_reports_its_code() {
    // Five bytes is not a whole number of u32s.
    assert_eq!(
        run_job(&spec(SUM_WAT, &[1, 2, 3, 4, 5])),
        Err(JobError::Aborted { code: 1 })
    );
}

#[test]
fn fuel_runs_out_in_an_infinite_loop() {
    let module = job_wat("(loop $forever (br $forever)) (unreachable)");
    let mut job = spec(module, &[]);
    job.fuel = 50_000_000;
    let start = Instant::now();
    assert_eq!(run_job(&job), Err(JobError::OutOfFuel { fuel: 50_000_000 }));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn fuel_runs_out_in_a_start_function() {
    let module = r#"(module
        (memory (export "memory") 1)
        (func $spin (loop $forever (br $forever)))
        (start $spin)
        (func (export "alloc") (param i32) (result i32) (i32.const 0))
        (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#;
    assert_eq!(
        run_job(&spec(module, &[])),
        Err(JobError::OutOfFuel { fuel: FUEL })
    );
}

#[test]
fn unbounded_memory_growth_hits_the_limit() {
    let module =
        job_wat("(loop $more (drop (memory.grow (i32.const 1))) (br $more)) (unreachable)");
    let mut job = spec(module, &[]);
    job.memory_limit_bytes = 4 * MIB;
    assert_eq!(
        run_job(&job),
        Err(JobError::MemoryLimitExceeded {
            requested: 4 * MIB + 65536,
            limit: 4 * MIB
        })
    );
}

#[test]
fn memory_up_to_the_limit_is_fine() {
    // Grow from 1 to exactly 4 pages, then report memory.size as the output.
    let module = job_wat(
        "(drop (memory.grow (i32.const 3)))
         (i32.store (i32.const 0) (memory.size))
         (i64.const 4)",
    );
    let mut job = spec(module, &[]);
    job.memory_limit_bytes = 4 * 65536;
    assert_eq!(run_job(&job).unwrap().output, 4u32.to_le_bytes());
    job.memory_limit_bytes = 4 * 65536 - 1;
    assert!(matches!(
        run_job(&job),
        Err(JobError::MemoryLimitExceeded { .. })
    ));
}

#[test]
fn initial_memory_counts_against_the_limit() {
    let module = r#"(module
        (memory (export "memory") 32)
        (func (export "alloc") (param i32) (result i32) (i32.const 0))
        (func (export "run") (param i32 i32) (result i64) (i64.const 0)))"#;
    let mut job = spec(module, &[]);
    job.memory_limit_bytes = 2 * MIB;
    assert!(run_job(&job).is_ok());
    job.memory_limit_bytes = MIB;
    assert_eq!(
        run_job(&job),
        Err(JobError::MemoryLimitExceeded {
            requested: 2 * MIB,
            limit: MIB
        })
    );
}

#[test]
fn table_growth_is_capped() {
    let module = job_wat("(drop (table.grow $t (ref.null func) (i32.const 100000))) (i64.const 0)")
        .replace("(memory", "(table $t 0 funcref) (memory");
    assert_eq!(
        run_job(&spec(module, &[])),
        Err(JobError::TableLimitExceeded {
            requested: 100_000,
            limit: MAX_TABLE_ELEMENTS
        })
    );
}

#[test]
fn deep_recursion_traps_instead_of_crashing() {
    let module = job_wat("(call $down) (i64.const 0)")
        .replace("(memory", "(func $down (call $down)) (memory");
    let mut job = spec(module, &[]);
    job.fuel = 100_000_000;
    assert!(matches!(run_job(&job), Err(JobError::Trap { .. })));
}

#[test]
fn traps_carry_their_message() {
    let Err(JobError::Trap { message }) = run_job(&spec(job_wat("(unreachable)"), &[])) else {
        panic!("expected a trap");
    };
    assert!(message.contains("unreachable"), "{message}");

    let divide = job_wat("(drop (i32.div_u (i32.const 1) (local.get $len))) (i64.const 0)");
    let Err(JobError::Trap { message }) = run_job(&spec(divide, &[])) else {
        panic!("expected a trap");
    };
    assert!(message.contains("divi"), "{message}");
}

#[test]
fn float_nans_are_canonical() {
    // 0/0 and sqrt(-1) computed from the input (so not constant-folded); on x86 hardware both
    // give a negative NaN (0xffc00000 / 0xfff8…) unless the engine canonicalises it.
    let module = job_wat(
        "(i32.store (i32.const 0)
            (i32.reinterpret_f32 (f32.div (f32.load (local.get $ptr)) (f32.load (local.get $ptr)))))
         (i64.store (i32.const 8)
            (i64.reinterpret_f64 (f64.sqrt (f64.neg (f64.promote_f32 (f32.load offset=4 (local.get $ptr)))))))
         (i64.const 16)",
    );
    let mut input = 0f32.to_le_bytes().to_vec();
    input.extend_from_slice(&1f32.to_le_bytes());
    let output = run_job(&spec(module, &input)).unwrap().output;
    assert_eq!(output[..4], 0x7fc0_0000u32.to_le_bytes());
    assert_eq!(output[8..], 0x7ff8_0000_0000_0000u64.to_le_bytes());
}

#[test]
fn simd_is_refused() {
    let module = job_wat("(drop (v128.const i64x2 0 0)) (i64.const 0)");
    assert!(matches!(
        run_job(&spec(module, &[])),
        Err(JobError::InvalidModule { .. })
    ));
}

#[test]
fn foreign_imports_are_refused() {
    for (import, module, name) in [
        (
            r#"(import "env" "clock" (func (result i64)))"#,
            "env",
            "clock",
        ),
        (
            r#"(import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))"#,
            "wasi_snapshot_preview1",
            "random_get",
        ),
        // The allowed name with the wrong type is refused too.
        (
            r#"(import "cairn" "abort" (func (param i64)))"#,
            "cairn",
            "abort",
        ),
        (r#"(import "cairn" "abort" (global i32))"#, "cairn", "abort"),
    ] {
        let wat = job_wat("(i64.const 0)").replacen("(module", &format!("(module {import}"), 1);
        let err = run_job(&spec(wat, &[])).unwrap_err();
        assert!(
            matches!(&err, JobError::ForbiddenImport { module: m, name: n, .. } if m == module && n == name),
            "{import}: {err}"
        );
        assert!(err.to_string().contains("only `cairn.abort`"), "{err}");
    }
}

#[test]
fn missing_exports_are_refused_by_name() {
    let no_run = r#"(module
        (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) (i32.const 0)))"#;
    let err = run_job(&spec(no_run, &[])).unwrap_err();
    assert!(
        matches!(err, JobError::MissingExport { name: "run", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("missing export `run`"), "{err}");

    let no_memory =
        job_wat("(i64.const 0)").replace(r#"(memory (export "memory") 1)"#, "(memory 1)");
    assert!(matches!(
        run_job(&spec(no_memory, &[])),
        Err(JobError::MissingExport { name: "memory", .. })
    ));

    let no_alloc = job_wat("(i64.const 0)").replace(r#"(export "alloc")"#, "");
    assert!(matches!(
        run_job(&spec(no_alloc, &[])),
        Err(JobError::MissingExport { name: "alloc", .. })
    ));
}

#[test]
fn ill_typed_exports_are_refused() {
    let run_returns_i32 = r#"(module
        (memory (export "memory") 1)
        (func (export "alloc") (param i32) (result i32) (i32.const 0))
        (func (export "run") (param i32 i32) (result i32) (i32.const 0)))"#;
    let err = run_job(&spec(run_returns_i32, &[])).unwrap_err();
    assert_eq!(
        err,
        JobError::WrongExportType {
            name: "run",
            expected: "(func (param i32 i32) (result i64))",
            found: "(func (param i32 i32) (result i32))".to_owned(),
        }
    );

    let memory_is_a_global = job_wat("(i64.const 0)").replace(
        r#"(memory (export "memory") 1)"#,
        r#"(memory 1) (global (export "memory") i32 (i32.const 0))"#,
    );
    assert!(matches!(
        run_job(&spec(memory_is_a_global, &[])),
        Err(JobError::WrongExportType { name: "memory", .. })
    ));
}

#[test]
fn garbage_is_an_invalid_module() {
    for garbage in [
        &b"\0asm"[..],
        b"\0asm\x01\0\0\0\xff\xff",
        b"not wasm at all",
        b"(module (func (result i32)))", // valid text, fails validation
        &[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3],
    ] {
        let result = run_job(&spec(garbage, &[]));
        assert!(
            matches!(result, Err(JobError::InvalidModule { .. })),
            "{garbage:?}: {result:?}"
        );
    }
}

#[test]
fn output_out_of_range_is_an_error() {
    // 16 bytes at 0xffff0000, in a one-page memory.
    let module = job_wat("(i64.const 0xffff000000000010)");
    assert_eq!(
        run_job(&spec(module, &[])),
        Err(JobError::OutputOutOfBounds {
            ptr: 0xffff_0000,
            len: 16,
            memory_size: 65536
        })
    );
    // Ends one byte past the memory.
    let module = job_wat("(i64.const 0x0000ffff00000002)");
    assert!(matches!(
        run_job(&spec(module, &[])),
        Err(JobError::OutputOutOfBounds { .. })
    ));
    // Ends exactly at the end of memory: fine.
    let module = job_wat("(i64.const 0x0000ffff00000001)");
    assert_eq!(run_job(&spec(module, &[])).unwrap().output, [0]);
}

#[test]
fn oversized_output_is_refused() {
    let module = job_wat(&format!("(i64.const {})", MAX_OUTPUT_BYTES + 1));
    assert_eq!(
        run_job(&spec(module, &[])),
        Err(JobError::CapExceeded {
            what: Cap::OutputBytes,
            actual: MAX_OUTPUT_BYTES as u64 + 1,
            max: MAX_OUTPUT_BYTES as u64
        })
    );
}

#[test]
fn input_pointer_out_of_range_is_an_error() {
    let module = job_wat("(i64.const 0)").replace("(i32.const 1024)", "(i32.const 65530)");
    assert_eq!(run_job(&spec(&module, &[0; 6])).unwrap().output, b"");
    assert_eq!(
        run_job(&spec(&module, &[0; 7])),
        Err(JobError::InputOutOfBounds {
            ptr: 65530,
            len: 7,
            memory_size: 65536
        })
    );
}

#[test]
fn caps_are_checked_before_anything_else() {
    // Garbage module, so any error other than CapExceeded means the caps came second.
    let garbage = b"garbage".to_vec();
    let cases = [
        (
            JobSpec {
                input: vec![0; MAX_INPUT_BYTES + 1],
                ..spec(&garbage, &[])
            },
            Cap::InputBytes,
            MAX_INPUT_BYTES as u64,
        ),
        (
            JobSpec {
                module: vec![0; MAX_MODULE_BYTES + 1],
                ..spec(&garbage, &[])
            },
            Cap::ModuleBytes,
            MAX_MODULE_BYTES as u64,
        ),
        (
            JobSpec {
                fuel: MAX_FUEL + 1,
                ..spec(&garbage, &[])
            },
            Cap::Fuel,
            MAX_FUEL,
        ),
        (
            JobSpec {
                memory_limit_bytes: MAX_MEMORY_LIMIT_BYTES + 1,
                ..spec(&garbage, &[])
            },
            Cap::MemoryLimitBytes,
            MAX_MEMORY_LIMIT_BYTES,
        ),
    ];
    for (job, cap, max) in cases {
        let err = run_job(&job).unwrap_err();
        assert_eq!(
            err,
            JobError::CapExceeded {
                what: cap,
                actual: max + 1,
                max
            }
        );
        assert!(err.to_string().contains("over the cap"), "{err}");
    }

    // At the caps exactly, a good job runs.
    let at_caps = JobSpec {
        module: ECHO_WASM.to_vec(),
        input: vec![7; 1000],
        fuel: MAX_FUEL,
        memory_limit_bytes: MAX_MEMORY_LIMIT_BYTES,
    };
    assert_eq!(run_job(&at_caps).unwrap().output, vec![7; 1000]);
}

/// Mutated and random modules must come back as errors (or outcomes), never as panics or
/// internal errors.
#[test]
fn mutated_modules_never_panic() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..2000 {
        let mut module = ECHO_WASM.to_vec();
        for _ in 0..=(next() % 4) {
            let at = (next() as usize) % module.len();
            module[at] = next() as u8;
        }
        let result = run_job(&spec(&module, b"abc"));
        assert!(
            !matches!(result, Err(JobError::Internal { .. })),
            "{module:?}: {result:?}"
        );
    }
    for len in 0..200 {
        let module: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Almost always invalid; an empty or blank text is a valid module without exports.
        let result = run_job(&spec(&module, &[]));
        assert!(
            matches!(
                result,
                Err(JobError::InvalidModule { .. } | JobError::MissingExport { .. })
            ),
            "{module:?}: {result:?}"
        );
    }
}

/// The interpreter must not grow the host's native stack with the number of instructions it
/// executes (wasmi's tail-call dispatch does in some build profiles; `portable-dispatch` is
/// what prevents it). A stack overflow would abort the whole host process.
#[test]
fn long_runs_use_a_flat_native_stack() {
    let module = job_wat(
        "(local $i i32)
         (loop $again
           (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $again (i32.lt_u (local.get $i) (i32.const 2000000))))
         (i32.store (i32.const 0) (local.get $i))
         (i64.const 4)",
    );
    let mut job = spec(module, &[]);
    job.fuel = 100_000_000;
    let outcome = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || run_job(&job))
        .unwrap()
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(outcome.output, 2_000_000u32.to_le_bytes());
}
