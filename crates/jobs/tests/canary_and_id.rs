//! Canary jobs agree with their native computation; job ids cover every field.

use cairn_jobs::{
    CANARY_FUEL, CANARY_INPUT_BYTES, CANARY_WAT, JOB_ID_CONTEXT, JobSpec, canary_input, canary_job,
    canary_output, job_id, run_job,
};

#[test]
fn canary_matches_native_computation() {
    for seed in [
        [0u8; 32],
        [1; 32],
        *blake3::hash(b"another seed").as_bytes(),
    ] {
        let (spec, expected_hash) = canary_job(seed);
        assert_eq!(spec.input, canary_input(&seed));
        assert_eq!(spec.input.len(), CANARY_INPUT_BYTES);
        let outcome = run_job(&spec).unwrap();
        assert_eq!(outcome.output, canary_output(&spec.input));
        assert_eq!(outcome.output_hash, expected_hash);
        // The budget leaves room, but the canary does real work.
        assert!(outcome.fuel_used < CANARY_FUEL / 2, "{}", outcome.fuel_used);
        assert!(outcome.fuel_used > 500_000, "{}", outcome.fuel_used);
    }
}

#[test]
fn canary_module_matches_native_on_odd_inputs() {
    // Lengths that are not multiples of 8 or of 32 exercise the lane wrap-around and the
    // ignored tail.
    for len in [0usize, 1, 7, 8, 9, 24, 40, 1001] {
        let input: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        let spec = JobSpec {
            module: CANARY_WAT.as_bytes().to_vec(),
            input: input.clone(),
            fuel: CANARY_FUEL,
            memory_limit_bytes: 65536,
        };
        assert_eq!(
            run_job(&spec).unwrap().output,
            canary_output(&input),
            "len {len}"
        );
    }
}

#[test]
fn canary_depends_on_its_seed() {
    let (a, hash_a) = canary_job([1; 32]);
    let (b, hash_b) = canary_job([2; 32]);
    assert_ne!(a.input, b.input);
    assert_ne!(hash_a, hash_b);
    assert_ne!(job_id(&a), job_id(&b));
    // Deterministic in the seed.
    assert_eq!(canary_job([1; 32]), (a, hash_a));
}

#[test]
fn native_canary_is_sensitive_to_every_word() {
    let input = canary_input(&[9; 32]);
    let base = canary_output(&input);
    for at in [0, 8, 1000, CANARY_INPUT_BYTES - 8] {
        let mut changed = input.clone();
        changed[at] ^= 1;
        assert_ne!(canary_output(&changed), base, "byte {at}");
    }
}

fn example() -> JobSpec {
    JobSpec {
        module: b"(module)".to_vec(),
        input: b"input".to_vec(),
        fuel: 1234,
        memory_limit_bytes: 65536,
    }
}

#[test]
fn job_id_is_the_documented_hash() {
    let spec = example();
    let mut material = Vec::new();
    material.extend_from_slice(blake3::hash(&spec.module).as_bytes());
    material.extend_from_slice(blake3::hash(&spec.input).as_bytes());
    material.extend_from_slice(&1234u64.to_le_bytes());
    material.extend_from_slice(&65536u64.to_le_bytes());
    assert_eq!(JOB_ID_CONTEXT, "cairn.job.v1");
    assert_eq!(job_id(&spec), blake3::derive_key("cairn.job.v1", &material));
}

#[test]
fn job_id_covers_every_field() {
    let base = job_id(&example());
    assert_eq!(job_id(&example()), base);
    let variants = [
        JobSpec {
            module: b"(module )".to_vec(),
            ..example()
        },
        JobSpec {
            input: b"inpuT".to_vec(),
            ..example()
        },
        JobSpec {
            fuel: 1235,
            ..example()
        },
        JobSpec {
            memory_limit_bytes: 65537,
            ..example()
        },
        // Moving bytes between module and input must not collide.
        JobSpec {
            module: b"(module)i".to_vec(),
            input: b"nput".to_vec(),
            ..example()
        },
    ];
    for variant in variants {
        assert_ne!(job_id(&variant), base, "{variant:?}");
    }
}

#[test]
fn debug_output_summarises_bytes() {
    let spec = JobSpec {
        input: vec![0; 100_000],
        ..example()
    };
    let shown = format!("{spec:?}");
    assert!(shown.contains("100000 bytes"), "{shown}");
    assert!(shown.len() < 300, "{shown}");
}
