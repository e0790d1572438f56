//! Proof of compute: benchmark products checked by Freivalds' algorithm, and response
//! times checked against the device's claimed class.
//!
//! The challenge's matrices `A`, `B` come from its seed (`cairn_proto::compute`); the
//! provider returns `C = A·B mod p`. Checking `A(Br) = Cr` for a random vector `r` costs
//! O(n²) instead of the O(n³) product; a wrong `C` passes one round with probability at
//! most `1/p` (p = 2^61 − 1). `r` is derived from the seed **and a hash of the answer**,
//! so a prover cannot shape a wrong answer around a vector it knows in advance.

use cairn_proto::compute::{ComputeError, MAX_N, derive_matrices, reduce};

/// The field every benchmark uses: the Mersenne prime 2^61 − 1.
pub const MODULUS: u64 = cairn_proto::compute::MERSENNE_61;
/// Key-derivation context of Freivalds' vectors.
pub const FREIVALDS_CONTEXT: &str = "cairn.freivalds.v1";
/// Highest class a device may claim (class k claims 2^(k−1) times class 1's throughput).
pub const MAX_CLASS: u32 = 16;

/// Why a benchmark answer fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductFault {
    #[error("the product has {got} elements, expected {expected} for n = {n}")]
    Shape { n: u32, expected: usize, got: usize },
    #[error("element {index} is {value}, not reduced modulo {modulus}")]
    Unreduced {
        index: usize,
        value: u64,
        modulus: u64,
    },
    #[error("the product is wrong: Freivalds round {round} found A(Br) != Cr")]
    Wrong { round: u32 },
    #[error("the challenge itself is invalid: {0}")]
    Challenge(#[from] ComputeError),
}

/// A random vector for one Freivalds round, derived from the seed and the answer.
fn vector(seed: &[u8], answer_hash: &[u8; 32], round: u32, n: usize, modulus: u64) -> Vec<u64> {
    let mut h = blake3::Hasher::new_derive_key(FREIVALDS_CONTEXT);
    h.update(&(seed.len() as u64).to_le_bytes());
    h.update(seed);
    h.update(answer_hash);
    h.update(&round.to_le_bytes());
    let mut xof = h.finalize_xof();
    (0..n)
        .map(|_| {
            let mut word = [0u8; 16];
            xof.fill(&mut word);
            (u128::from_le_bytes(word) % u128::from(modulus)) as u64
        })
        .collect()
}

/// `M·v mod m` for a row-major n×n matrix.
fn mat_vec(m: &[u64], v: &[u64], modulus: u64) -> Vec<u64> {
    let n = v.len();
    m.chunks(n)
        .map(|row| {
            let mut acc: u128 = 0;
            for (a, b) in row.iter().zip(v) {
                let p = u128::from(*a) * u128::from(*b);
                // Reduce only when the sum would overflow: after a reduction `acc < 2⁶⁴`
                // and `p < 2¹²⁸ − 2⁶⁵`, so it fits.
                acc = match acc.checked_add(p) {
                    Some(sum) => sum,
                    None => u128::from(reduce(acc, modulus)) + p,
                };
            }
            reduce(acc, modulus)
        })
        .collect()
}

/// BLAKE3 over the product's elements (little-endian), binding Freivalds' vectors to it.
fn answer_hash(product: &[u64]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for x in product {
        h.update(&x.to_le_bytes());
    }
    *h.finalize().as_bytes()
}

/// Check `product` as the answer to the benchmark with `seed`, `n` and `modulus`, with
/// `rounds` independent Freivalds rounds.
pub fn check_product(
    seed: &[u8],
    n: u32,
    modulus: u64,
    product: &[u64],
    rounds: u32,
) -> Result<(), ProductFault> {
    if n == 0 || n > MAX_N {
        return Err(ComputeError::Dimension { n }.into());
    }
    let size = (n as usize) * (n as usize);
    if product.len() != size {
        return Err(ProductFault::Shape {
            n,
            expected: size,
            got: product.len(),
        });
    }
    if let Some((index, value)) = product.iter().enumerate().find(|(_, v)| **v >= modulus) {
        return Err(ProductFault::Unreduced {
            index,
            value: *value,
            modulus,
        });
    }
    let m = derive_matrices(seed, n, modulus)?;
    freivalds(&m.a, &m.b, product, n as usize, modulus, rounds, seed)
}

/// Check `product == A·B mod modulus` for explicit row-major n×n matrices (a consumer's
/// matrix-product job) with `rounds` Freivalds rounds. `secret` seeds the vectors together
/// with a hash of the answer; a consumer uses bytes the provider never sees.
pub fn check_multiplication(
    a: &[u64],
    b: &[u64],
    n: u32,
    modulus: u64,
    product: &[u64],
    rounds: u32,
    secret: &[u8],
) -> Result<(), ProductFault> {
    if n == 0 || n > MAX_N || modulus < 2 {
        return Err(ComputeError::Dimension { n }.into());
    }
    let size = (n as usize) * (n as usize);
    for (got, _) in [(a.len(), "A"), (b.len(), "B"), (product.len(), "C")] {
        if got != size {
            return Err(ProductFault::Shape {
                n,
                expected: size,
                got,
            });
        }
    }
    if let Some((index, value)) = product.iter().enumerate().find(|(_, v)| **v >= modulus) {
        return Err(ProductFault::Unreduced {
            index,
            value: *value,
            modulus,
        });
    }
    freivalds(a, b, product, n as usize, modulus, rounds, secret)
}

fn freivalds(
    a: &[u64],
    b: &[u64],
    product: &[u64],
    n: usize,
    modulus: u64,
    rounds: u32,
    seed: &[u8],
) -> Result<(), ProductFault> {
    let digest = answer_hash(product);
    for round in 0..rounds {
        let r = vector(seed, &digest, round, n, modulus);
        let abr = mat_vec(a, &mat_vec(b, &r, modulus), modulus);
        if abr != mat_vec(product, &r, modulus) {
            return Err(ProductFault::Wrong { round });
        }
    }
    Ok(())
}

/// Timing rules for a benchmark of dimension `n` by a device claiming `class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The class's expected compute time in milliseconds (n³ / claimed throughput).
    pub expected_ms: u64,
    /// Answers faster than this are implausible for the class.
    pub too_fast_ms: u64,
    /// Answers later than this (after issue, at the challenger) fail.
    pub deadline_ms: u64,
}

/// The timing of a class-`class` benchmark: class k claims `class1_ops_per_us · 2^(k−1)`
/// multiply-adds per microsecond; the deadline is the expected time times
/// `slack_bps / 10 000` plus the network allowance; the too-fast bound is the expected
/// time times `too_fast_bps / 10 000`. Classes outside 1..=[`MAX_CLASS`] are clamped.
pub fn timing(
    n: u32,
    class: u32,
    class1_ops_per_us: u64,
    slack_bps: u64,
    too_fast_bps: u64,
    network_allowance_ms: u64,
) -> Timing {
    let class = class.clamp(1, MAX_CLASS);
    let ops = u128::from(n).pow(3);
    let per_us = u128::from(class1_ops_per_us.max(1)) << (class - 1);
    let expected_us = ops / per_us;
    let expected_ms = (expected_us / 1000) as u64;
    let scaled = |bps: u64| ((expected_us * u128::from(bps)) / 10_000_000) as u64;
    Timing {
        expected_ms,
        too_fast_ms: scaled(too_fast_bps),
        deadline_ms: scaled(slack_bps).saturating_add(network_allowance_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::compute::expected_product;

    #[test]
    fn right_products_pass_and_wrong_ones_fail() {
        let seed = [7u8; 32];
        let c = expected_product(&seed, 24, MODULUS).unwrap();
        check_product(&seed, 24, MODULUS, &c, 2).unwrap();
        // One element off by one.
        let mut wrong = c.clone();
        wrong[100] = (wrong[100] + 1) % MODULUS;
        assert_eq!(
            check_product(&seed, 24, MODULUS, &wrong, 2),
            Err(ProductFault::Wrong { round: 0 })
        );
        // Another seed's product.
        let other = expected_product(&[8u8; 32], 24, MODULUS).unwrap();
        assert!(check_product(&seed, 24, MODULUS, &other, 1).is_err());
        assert!(matches!(
            check_product(&seed, 24, MODULUS, &c[1..], 1),
            Err(ProductFault::Shape { got: 575, .. })
        ));
        let mut unreduced = c;
        unreduced[3] = MODULUS;
        assert!(matches!(
            check_product(&seed, 24, MODULUS, &unreduced, 1),
            Err(ProductFault::Unreduced { index: 3, .. })
        ));
        assert!(matches!(
            check_product(&seed, 0, MODULUS, &[], 1),
            Err(ProductFault::Challenge(_))
        ));
    }

    #[test]
    fn explicit_products_are_checked_too() {
        let n = 24u32;
        let m = cairn_proto::compute::derive_matrices(&[3; 32], n, MODULUS).unwrap();
        let good = cairn_proto::compute::multiply_mod(&m.a, &m.b, n, MODULUS).unwrap();
        let check = |c: &[u64]| check_multiplication(&m.a, &m.b, n, MODULUS, c, 2, b"secret");
        assert_eq!(check(&good), Ok(()));
        let mut off = good.clone();
        off[n as usize * 7 + 3] = (off[n as usize * 7 + 3] + 1) % MODULUS;
        assert_eq!(check(&off), Err(ProductFault::Wrong { round: 0 }));
        assert!(matches!(check(&good[1..]), Err(ProductFault::Shape { .. })));
        let mut unreduced = good;
        unreduced[0] = MODULUS;
        assert!(matches!(
            check(&unreduced),
            Err(ProductFault::Unreduced { .. })
        ));
    }

    #[test]
    fn class_timing() {
        // n = 128: 2,097,152 multiply-adds; class 1 at 50 per µs = 41,943 µs.
        let t = timing(128, 1, 50, 40_000, 2_500, 500);
        assert_eq!(t.expected_ms, 41);
        assert_eq!(t.too_fast_ms, 10);
        assert_eq!(t.deadline_ms, 167 + 500);
        let t4 = timing(128, 4, 50, 40_000, 2_500, 500);
        assert_eq!(t4.expected_ms, 5);
        assert!(t4.deadline_ms < t.deadline_ms);
        assert_eq!(
            timing(128, 99, 50, 40_000, 2_500, 0),
            timing(128, 16, 50, 40_000, 2_500, 0)
        );
    }
}
