//! The compute challenge arithmetic in `cairn_proto::compute`.

use cairn_proto::compute::*;

fn naive(a: &[u64], b: &[u64], n: usize, m: u64) -> Vec<u64> {
    let mut c = vec![0u64; n * n];
    for i in 0..n {
        for j in 0..n {
            let mut s = 0u128;
            for k in 0..n {
                s = (s + u128::from(a[i * n + k]) * u128::from(b[k * n + j])) % u128::from(m);
            }
            c[i * n + j] = s as u64;
        }
    }
    c
}

#[test]
fn two_by_two_by_hand() {
    // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]; mod 7 = [5 1; 1 1].
    let c = multiply_mod(&[1, 2, 3, 4], &[5, 6, 7, 8], 2, 7).unwrap();
    assert_eq!(c, vec![5, 1, 1, 1]);
    let c = multiply_mod(&[1, 2, 3, 4], &[5, 6, 7, 8], 2, 1000).unwrap();
    assert_eq!(c, vec![19, 22, 43, 50]);
}

#[test]
fn huge_modulus_does_not_overflow() {
    // Elements near 2^64 force the overflow path of the accumulator.
    let m = u64::MAX - 58; // the largest 64-bit prime
    let n = 8usize;
    let a: Vec<u64> = (0..n * n).map(|i| m - 1 - i as u64).collect();
    let b: Vec<u64> = (0..n * n).map(|i| m - 7 - 3 * i as u64).collect();
    let c = multiply_mod(&a, &b, n as u32, m).unwrap();
    assert_eq!(c, naive(&a, &b, n, m));
}

#[test]
fn derivation_is_deterministic_and_depends_on_every_input() {
    let base = derive_matrices(b"seed", 4, 65_521).unwrap();
    assert_eq!(base, derive_matrices(b"seed", 4, 65_521).unwrap());
    assert!(base.a.iter().chain(&base.b).all(|&x| x < 65_521));
    assert_ne!(base.a, base.b);
    assert_ne!(base.a, derive_matrices(b"seeD", 4, 65_521).unwrap().a);
    assert_ne!(base.a, derive_matrices(b"seed", 4, 65_519).unwrap().a);
    // A different n changes the stream, not just its length.
    let n3 = derive_matrices(b"seed", 3, 65_521).unwrap();
    assert_ne!(&base.a[..9], &n3.a[..]);
}

#[test]
fn derivation_matches_the_documented_recipe() {
    let seed = [7u8; 32];
    let (n, m) = (3u32, 1_000_003u64);
    let mut h = blake3::Hasher::new_derive_key("cairn.compute.matrix.v1");
    h.update(&32u64.to_le_bytes());
    h.update(&seed);
    h.update(&n.to_le_bytes());
    h.update(&m.to_le_bytes());
    let mut stream = vec![0u8; 16 * 18];
    h.finalize_xof().fill(&mut stream);
    let words: Vec<u64> = stream
        .chunks(16)
        .map(|w| (u128::from_le_bytes(w.try_into().unwrap()) % u128::from(m)) as u64)
        .collect();
    let got = derive_matrices(&seed, n, m).unwrap();
    assert_eq!(got.a, words[..9]);
    assert_eq!(got.b, words[9..]);
}

#[test]
fn expected_product_matches_naive() {
    let mats = derive_matrices(b"x", 5, 97).unwrap();
    assert_eq!(
        expected_product(b"x", 5, 97).unwrap(),
        naive(&mats.a, &mats.b, 5, 97)
    );
}

#[test]
fn refuses_bad_parameters() {
    assert_eq!(
        derive_matrices(b"s", MAX_N + 1, 7),
        Err(ComputeError::Dimension { n: MAX_N + 1 })
    );
    assert_eq!(
        derive_matrices(b"s", 0, 7),
        Err(ComputeError::Dimension { n: 0 })
    );
    assert_eq!(
        multiply_mod(&[1], &[1], 1, 1),
        Err(ComputeError::Modulus { modulus: 1 })
    );
    assert!(matches!(
        multiply_mod(&[1, 2, 3], &[1, 2, 3, 4], 2, 7),
        Err(ComputeError::Shape { which: "A", .. })
    ));
}

/// The division-free reduction for 2⁶¹ − 1 agrees with `%` everywhere, the edges
/// included; other moduli go through `%` itself.
#[test]
fn mersenne_reduction_is_the_remainder() {
    let m = MERSENNE_61;
    let edges = [
        0u128,
        1,
        u128::from(m) - 1,
        u128::from(m),
        u128::from(m) + 1,
        2 * u128::from(m),
        1 << 61,
        (1 << 122) - 1,
        1 << 122,
        u128::from(m) * u128::from(m),
        u128::MAX,
        u128::MAX - 1,
    ];
    let mut z: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834;
    let spread = (0..20_000).map(|_| {
        // xorshift over 128 bits: values of every size.
        z ^= z << 23;
        z ^= z >> 17;
        z ^= z << 5;
        z >> (z % 128)
    });
    for x in edges.into_iter().chain(spread) {
        assert_eq!(u128::from(reduce(x, m)), x % u128::from(m), "{x}");
        assert_eq!(u128::from(reduce(x, 1_000_003)), x % 1_000_003, "{x}");
    }
}
