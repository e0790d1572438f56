//! The transaction decoder on hostile input: it never panics, refuses oversized input
//! before decoding, and accepts only canonical bytes (so one transaction has one hash).

mod common;

use cairn_core::codec::{Canonical, DecodeError};
use cairn_ledger::{SignedTx, TxKind};
use common::*;
use proptest::prelude::*;

fn sample() -> Vec<u8> {
    let w = World::new();
    w.tx(
        &key("alice"),
        TxKind::Transfer {
            to: pk("bob"),
            amount: tokens("1.5"),
        },
    )
    .encode()
}

#[test]
fn oversized_input_is_refused_up_front() {
    let big = vec![0u8; SignedTx::MAX_ENCODED_LEN + 1];
    let err = SignedTx::decode(&big).unwrap_err();
    assert!(matches!(err, DecodeError::TooLarge { .. }));
    assert!(
        err.to_string()
            .contains("transaction: input of 65633 bytes exceeds the limit"),
        "{err}"
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(tx) = SignedTx::decode(&bytes) {
            prop_assert_eq!(tx.encode(), bytes);
        }
    }

    #[test]
    fn mutated_transactions_decode_canonically_or_not_at_all(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let original = sample();
        let mut bytes = original.clone();
        for (i, x) in flips {
            let n = bytes.len();
            bytes[i % n] ^= x;
        }
        if let Ok(tx) = SignedTx::decode(&bytes) {
            prop_assert_eq!(tx.encode(), bytes.clone());
        }
        let truncated = &original[..cut % original.len()];
        prop_assert!(SignedTx::decode(truncated).is_err());
    }
}
