//! The compute challenge's arithmetic, which the device and every verifier must reproduce
//! bit for bit: deriving the two input matrices from the challenge seed, and multiplying
//! them modulo the challenge's modulus.
//!
//! # Matrix derivation (`cairn.compute.matrix.v1`)
//!
//! For a challenge with seed `seed`, dimension `n` and modulus `m`:
//!
//! 1. Start a BLAKE3 hasher in key-derivation mode with the context string
//!    `"cairn.compute.matrix.v1"` (`blake3::Hasher::new_derive_key`).
//! 2. Feed, in order: the seed's length as a `u64` little-endian, the seed bytes, `n` as a
//!    `u32` little-endian, `m` as a `u64` little-endian.
//! 3. Read the extendable output (XOF) from offset 0 as consecutive 16-byte little-endian
//!    `u128` words. Word `k` reduced modulo `m` (`word % m`) is element `k`.
//! 4. The first `n·n` elements are matrix `A`, the next `n·n` are matrix `B`, both
//!    row-major: element `(i, j)` of `A` is element `i·n + j`, of `B` is `n·n + i·n + j`.
//!
//! Reducing a 128-bit word keeps the bias of each element below `2⁻⁶⁴`.
//!
//! The answer is `C = A·B mod m`, row-major, each element in `0..m`
//! (`ComputeResult.product`). The sum is computed exactly (here with `u128`
//! intermediates), so any correct implementation gives the same result.
//!
//! `n` must be in `1..=`[`MAX_N`] and `m` at least 2. Whether `m` is prime is the
//! challenger's business; the arithmetic does not depend on it.

use std::fmt;

/// BLAKE3 key-derivation context for the matrices.
pub const MATRIX_CONTEXT: &str = "cairn.compute.matrix.v1";

/// Largest matrix dimension a compute challenge may ask for (two 512×512 matrices of
/// `u64` are 4 MiB; the product is 2 MiB, more than one submit of it would carry
/// comfortably, so larger challenges need another answer format).
pub const MAX_N: u32 = 512;

/// Why a compute challenge cannot be computed as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComputeError {
    #[error("matrix dimension {n} is out of range: must be 1 to {MAX_N}")]
    Dimension { n: u32 },
    #[error("modulus {modulus} is too small: must be at least 2")]
    Modulus { modulus: u64 },
    #[error("matrix {which} has {got} elements, expected {expected} for n = {n}")]
    Shape {
        which: &'static str,
        n: u32,
        expected: usize,
        got: usize,
    },
}

/// Two square matrices, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct Matrices {
    pub n: u32,
    pub a: Vec<u64>,
    pub b: Vec<u64>,
}

impl fmt::Debug for Matrices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The elements themselves are too many to print usefully.
        write!(f, "Matrices({n}x{n})", n = self.n)
    }
}

fn check_params(n: u32, modulus: u64) -> Result<usize, ComputeError> {
    if n == 0 || n > MAX_N {
        return Err(ComputeError::Dimension { n });
    }
    if modulus < 2 {
        return Err(ComputeError::Modulus { modulus });
    }
    let n = n as usize;
    Ok(n * n)
}

/// Derive the challenge matrices `A` and `B` from the seed, as the module documentation
/// specifies.
pub fn derive_matrices(seed: &[u8], n: u32, modulus: u64) -> Result<Matrices, ComputeError> {
    let count = check_params(n, modulus)?;
    let mut hasher = blake3::Hasher::new_derive_key(MATRIX_CONTEXT);
    hasher.update(&(seed.len() as u64).to_le_bytes());
    hasher.update(seed);
    hasher.update(&n.to_le_bytes());
    hasher.update(&modulus.to_le_bytes());
    let mut xof = hasher.finalize_xof();

    let mut next = {
        // Read the stream in blocks of 64 words to keep the number of XOF calls small.
        let mut buf = [0u8; 16 * 64];
        let mut pos = buf.len();
        move || {
            if pos == buf.len() {
                xof.fill(&mut buf);
                pos = 0;
            }
            let word = u128::from_le_bytes(buf[pos..pos + 16].try_into().expect("16 bytes"));
            pos += 16;
            reduce(word, modulus)
        }
    };
    let a: Vec<u64> = (0..count).map(|_| next()).collect();
    let b: Vec<u64> = (0..count).map(|_| next()).collect();
    Ok(Matrices { n, a, b })
}

/// `A·B mod modulus` for row-major `n×n` matrices, exactly (elements of the inputs need
/// not be reduced). The result is row-major with every element in `0..modulus`.
pub fn multiply_mod(a: &[u64], b: &[u64], n: u32, modulus: u64) -> Result<Vec<u64>, ComputeError> {
    let count = check_params(n, modulus)?;
    for (which, m) in [("A", a), ("B", b)] {
        if m.len() != count {
            return Err(ComputeError::Shape {
                which,
                n,
                expected: count,
                got: m.len(),
            });
        }
    }
    let n = n as usize;
    // Columns of B as rows, so the inner loop walks both operands sequentially.
    let mut bt = vec![0u64; count];
    for i in 0..n {
        for j in 0..n {
            bt[j * n + i] = b[i * n + j];
        }
    }
    let mut product = vec![0u64; count];
    for i in 0..n {
        let row = &a[i * n..(i + 1) * n];
        for j in 0..n {
            let col = &bt[j * n..(j + 1) * n];
            let mut acc: u128 = 0;
            for (&x, &y) in row.iter().zip(col) {
                let p = u128::from(x) * u128::from(y);
                // Reduce only when the running sum would overflow: after reduction
                // `acc < m ≤ 2⁶⁴` and `p < 2¹²⁸ − 2⁶⁵`, so the sum fits.
                acc = match acc.checked_add(p) {
                    Some(sum) => sum,
                    None => u128::from(reduce(acc, modulus)) + p,
                };
            }
            product[i * n + j] = reduce(acc, modulus);
        }
    }
    Ok(product)
}

/// The Mersenne prime 2⁶¹ − 1, the modulus compute challenges use.
pub const MERSENNE_61: u64 = (1 << 61) - 1;

/// `x mod m`. For [`MERSENNE_61`] without a division: 2⁶¹ ≡ 1, so the residue is the
/// sum of `x`'s 61-bit limbs, folded once more and reduced by one subtraction — the same
/// value as `x % m`, several times faster than a 128-bit division, which dominated both
/// the device's and the verifier's time.
pub fn reduce(x: u128, m: u64) -> u64 {
    if m == MERSENNE_61 {
        let mask = u128::from(MERSENNE_61);
        // Below 2⁶² + 2⁶: two limbs and the top six bits.
        let r = (x & mask) + ((x >> 61) & mask) + (x >> 122);
        // Below 2⁶¹ + 2.
        let r = ((r & mask) + (r >> 61)) as u64;
        if r >= MERSENNE_61 { r - MERSENNE_61 } else { r }
    } else {
        // `x % m < m ≤ u64::MAX`, so the narrowing is exact.
        (x % u128::from(m)) as u64
    }
}

/// The correct answer to a compute challenge: [`derive_matrices`] then [`multiply_mod`].
pub fn expected_product(seed: &[u8], n: u32, modulus: u64) -> Result<Vec<u64>, ComputeError> {
    let Matrices { a, b, .. } = derive_matrices(seed, n, modulus)?;
    multiply_mod(&a, &b, n, modulus)
}

// Tests live in `crates/sim/tests/compute.rs`, beside the simulated device that uses this.
