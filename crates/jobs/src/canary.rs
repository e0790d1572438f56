//! Canary jobs: jobs whose answer a verifier computes natively, without running any Wasm.
//!
//! The module is fixed and public, so a provider can recognise a canary; what it cannot do is
//! answer one without doing the work, because each canary's input comes from a fresh seed.
//! Canaries check that a provider's engine runs jobs honestly and correctly, and measure its
//! throughput; they do not hide among real jobs.

use crate::spec::JobSpec;

/// The canary module, in text form; see the comment at its top for the exact function.
pub const CANARY_WAT: &str = include_str!("../modules/canary.wat");
/// Size of a canary's input, derived from its seed.
pub const CANARY_INPUT_BYTES: usize = 4096;
/// Passes over the input the canary makes.
pub const CANARY_ROUNDS: u64 = 64;
/// Fuel given to a canary job: several times what it needs.
pub const CANARY_FUEL: u64 = 20_000_000;
/// Memory limit of a canary job: the module's single 64 KiB page.
pub const CANARY_MEMORY_LIMIT_BYTES: u64 = 64 << 10;

const CANARY_INPUT_CONTEXT: &str = "cairn.job.canary.v1 input";
const INITIAL_STATE: [u64; 4] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
];
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// The canary input for `seed`: [`CANARY_INPUT_BYTES`] bytes of BLAKE3 XOF output
/// (`derive_key` context `"cairn.job.canary.v1 input"`, keyed material = the seed).
#[must_use]
pub fn canary_input(seed: &[u8; 32]) -> Vec<u8> {
    let mut input = vec![0; CANARY_INPUT_BYTES];
    blake3::Hasher::new_derive_key(CANARY_INPUT_CONTEXT)
        .update(seed)
        .finalize_xof()
        .fill(&mut input);
    input
}

/// What the canary module outputs for `input`, computed natively (32 bytes).
///
/// Reads `input` as little-endian `u64` words (ignoring a trailing partial word) and mixes
/// them into four lanes, [`CANARY_ROUNDS`] times over; returns the lanes, little-endian.
#[must_use]
pub fn canary_output(input: &[u8]) -> [u8; 32] {
    let mut state = INITIAL_STATE;
    for round in 0..CANARY_ROUNDS {
        for (i, word) in input.chunks_exact(8).enumerate() {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(word);
            let lane = i % 4;
            let x = state[lane] ^ u64::from_le_bytes(bytes) ^ round;
            state[lane] = x
                .rotate_left(23)
                .wrapping_mul(MULTIPLIER)
                .wrapping_add(state[(i + 1) % 4]);
        }
    }
    let mut out = [0; 32];
    for (chunk, lane) in out.chunks_exact_mut(8).zip(state) {
        chunk.copy_from_slice(&lane.to_le_bytes());
    }
    out
}

/// A canary job for `seed`, and the `output_hash` a correct provider must report for it.
///
/// The spec runs [`CANARY_WAT`] on [`canary_input`]`(seed)` with [`CANARY_FUEL`] and
/// [`CANARY_MEMORY_LIMIT_BYTES`]; the hash is BLAKE3 of [`canary_output`] of that input.
#[must_use]
pub fn canary_job(seed: [u8; 32]) -> (JobSpec, [u8; 32]) {
    let input = canary_input(&seed);
    let expected = *blake3::hash(&canary_output(&input)).as_bytes();
    let spec = JobSpec {
        module: CANARY_WAT.as_bytes().to_vec(),
        input,
        fuel: CANARY_FUEL,
        memory_limit_bytes: CANARY_MEMORY_LIMIT_BYTES,
    };
    (spec, expected)
}
