//! Exact pro-rata splits: integer floors, then the remainder one base unit at a time by
//! largest remainder, ties to the smallest key. Nothing is created or lost.

pub use cairn_core::amount::mul_div;

/// Split `total` over `weights` in proportion: each gets `floor(total × w / Σw)`, and the
/// units the floors leave go one each to the largest remainders (ties: smallest key).
/// The amounts add up to `total` exactly and come back in the input's order; the order
/// of the input changes no amount. `None` when every weight is zero (nothing to split
/// over: the caller records the total as unallocated). Weights whose sum would not fit
/// 128 bits are all shifted right together first (the same for every input order).
pub fn pro_rata<K: Ord + Copy>(total: u128, weights: &[(K, u128)]) -> Option<Vec<(K, u128)>> {
    let mut shift = 0u32;
    let sum = loop {
        let s = weights
            .iter()
            .try_fold(0u128, |acc, (_, w)| acc.checked_add(w >> shift));
        match s {
            Some(s) => break s,
            None => shift += 1,
        }
    };
    if sum == 0 {
        return None;
    }
    let mut out: Vec<(K, u128)> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(u128, K, usize)> = Vec::new();
    let mut given: u128 = 0;
    for (i, (k, w)) in weights.iter().enumerate() {
        let (q, r) = mul_div(total, w >> shift, sum);
        given += q;
        out.push((*k, q));
        if r > 0 {
            rems.push((r, *k, i));
        }
    }
    let mut left = total - given;
    // Fewer units are left than weights with a remainder (Σ r / Σw < count).
    rems.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, i) in rems {
        if left == 0 {
            break;
        }
        out[i].1 += 1;
        left -= 1;
    }
    debug_assert_eq!(left, 0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mul_div_matches_small_cases_and_handles_256_bit_products() {
        assert_eq!(mul_div(10, 3, 4), (7, 2));
        let big = u128::MAX;
        // (2^128 − 1)² / (2^128 − 1) = 2^128 − 1.
        assert_eq!(mul_div(big, big, big), (big, 0));
        assert_eq!(mul_div(big, 3, 6), (big / 2, 3));
        let (q, r) = mul_div(1 << 100, 1 << 100, 1 << 90);
        assert_eq!((q, r), (1 << 110, 0));
    }

    #[test]
    fn largest_remainder_with_ties_to_the_smallest_key() {
        // 10 over three equal weights: 3 each and one left for the smallest key.
        let s = pro_rata(10, &[(3u8, 1), (1u8, 1), (2u8, 1)]).unwrap();
        assert_eq!(s, vec![(3, 3), (1, 4), (2, 3)]);
        // 7 over 1:2 → 2.33 and 4.67: the larger remainder gets the unit.
        assert_eq!(
            pro_rata(7, &[(0u8, 1), (1u8, 2)]).unwrap(),
            vec![(0, 2), (1, 5)]
        );
        assert_eq!(pro_rata(7, &[(0u8, 0)]), None);
        assert_eq!(pro_rata(0, &[(0u8, 5)]).unwrap(), vec![(0, 0)]);
    }

    proptest! {
        #[test]
        fn exact_and_order_independent(
            total in any::<u128>(),
            weights in proptest::collection::vec(any::<u128>(), 1..40),
            rotate in any::<usize>(),
        ) {
            let keyed: Vec<(usize, u128)> = weights.iter().copied().enumerate().collect();
            let Some(split) = pro_rata(total, &keyed) else {
                prop_assert!(weights.iter().all(|w| *w == 0));
                return Ok(());
            };
            let sum = split.iter().try_fold(0u128, |a, (_, v)| a.checked_add(*v));
            prop_assert_eq!(sum, Some(total));
            let mut rotated = keyed.clone();
            let n = rotated.len();
            rotated.rotate_left(rotate % n);
            let mut again = pro_rata(total, &rotated).unwrap();
            again.sort();
            let mut split_sorted = split.clone();
            split_sorted.sort();
            prop_assert_eq!(again, split_sorted);
        }

        #[test]
        fn no_share_is_off_by_more_than_one_unit(
            total in 0u128..1_000_000_000_000,
            weights in proptest::collection::vec(0u128..1_000_000, 1..40),
        ) {
            let keyed: Vec<(usize, u128)> = weights.iter().copied().enumerate().collect();
            let sum: u128 = weights.iter().sum();
            if let Some(split) = pro_rata(total, &keyed) {
                for ((_, w), (_, got)) in keyed.iter().zip(&split) {
                    let exact_floor = total * w / sum;
                    prop_assert!(*got == exact_floor || *got == exact_floor + 1);
                }
            }
        }
    }
}
