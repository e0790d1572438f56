//! A compact sparse Merkle tree over 256-bit keys: the state root and its proofs.
//!
//! Every state object is a leaf at the path given by its 256-bit key (BLAKE3 of a
//! domain tag and the object's id). The tree is "compact": an empty subtree hashes to
//! [`Hash::ZERO`], a subtree holding exactly one leaf *is* that leaf's hash, and any other
//! subtree hashes as `H(0x01 ‖ left ‖ right)`. Leaves hash as `H(0x00 ‖ key ‖ value_hash)`,
//! so a leaf can never be taken for an inner node, and the key is bound into the leaf so a
//! leaf cannot be moved to another path. The root depends only on the set of (key, value)
//! pairs, never on insertion order.
//!
//! A proof lists the sibling hashes from the root down to the point where the key's
//! subtree holds at most one leaf. It proves inclusion (that leaf is the key's) or
//! exclusion (the subtree is empty, or holds a different key with the same prefix).

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::Hash;
use serde::{Deserialize, Serialize};

const LEAF: u8 = 0x00;
const NODE: u8 = 0x01;

pub fn leaf_hash(key: &Hash, value_hash: &Hash) -> Hash {
    Hash::of_parts(&[&[LEAF], key.as_bytes(), value_hash.as_bytes()])
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[&[NODE], left.as_bytes(), right.as_bytes()])
}

fn bit(key: &Hash, depth: usize) -> bool {
    (key.0[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

/// Root of the tree holding `leaves`, which must be sorted by key with no duplicates.
pub fn root(leaves: &[(Hash, Hash)]) -> Hash {
    debug_assert!(
        leaves.windows(2).all(|w| w[0].0 < w[1].0),
        "leaves must be sorted and unique"
    );
    subtree_root(leaves, 0)
}

fn subtree_root(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
    match leaves {
        [] => Hash::ZERO,
        [(k, v)] => leaf_hash(k, v),
        _ => {
            // Sorted keys sharing the first `depth` bits split where bit `depth` turns to 1.
            let split = leaves.partition_point(|(k, _)| !bit(k, depth));
            node_hash(
                &subtree_root(&leaves[..split], depth + 1),
                &subtree_root(&leaves[split..], depth + 1),
            )
        }
    }
}

/// Proof of a key's value, or of its absence.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SmtProof {
    /// Sibling hashes from the root downwards.
    pub siblings: Vec<Hash>,
    /// For an absent key whose path ends at another leaf: that leaf's key and value hash.
    pub other_leaf: Option<(Hash, Hash)>,
}

/// Build the proof for `key` over sorted, unique `leaves`.
pub fn prove(leaves: &[(Hash, Hash)], key: &Hash) -> SmtProof {
    let mut siblings = Vec::new();
    let mut slice = leaves;
    let mut depth = 0;
    while slice.len() > 1 {
        let split = slice.partition_point(|(k, _)| !bit(k, depth));
        let (left, right) = slice.split_at(split);
        if bit(key, depth) {
            siblings.push(subtree_root(left, depth + 1));
            slice = right;
        } else {
            siblings.push(subtree_root(right, depth + 1));
            slice = left;
        }
        depth += 1;
    }
    let other_leaf = match slice {
        [(k, v)] if k != key => Some((*k, *v)),
        _ => None,
    };
    SmtProof {
        siblings,
        other_leaf,
    }
}

impl SmtProof {
    /// Check that under `root`, `key` maps to a value hashing to `value_hash`
    /// (`Some`), or is absent (`None`).
    pub fn verify(&self, root: &Hash, key: &Hash, value_hash: Option<&Hash>) -> bool {
        if self.siblings.len() > 256 {
            return false;
        }
        let depth = self.siblings.len();
        let bottom = match (value_hash, &self.other_leaf) {
            (Some(v), None) => leaf_hash(key, v),
            (Some(_), Some(_)) => return false,
            (None, None) => Hash::ZERO,
            (None, Some((other, v))) => {
                // The other leaf must sit on the same path, and be another key.
                if other == key || (0..depth).any(|d| bit(other, d) != bit(key, d)) {
                    return false;
                }
                leaf_hash(other, v)
            }
        };
        let mut acc = bottom;
        for d in (0..depth).rev() {
            let sibling = &self.siblings[d];
            acc = if bit(key, d) {
                node_hash(sibling, &acc)
            } else {
                node_hash(&acc, sibling)
            };
        }
        acc == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(keys: &[u32]) -> Vec<(Hash, Hash)> {
        let mut v: Vec<(Hash, Hash)> = keys
            .iter()
            .map(|k| {
                (
                    Hash::of(&k.to_le_bytes()),
                    Hash::of(&[k.to_le_bytes(), [1; 4]].concat()),
                )
            })
            .collect();
        v.sort();
        v.dedup_by(|a, b| a.0 == b.0);
        v
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(root(&[]), Hash::ZERO);
        let l = leaves(&[1]);
        assert_eq!(root(&l), leaf_hash(&l[0].0, &l[0].1));
    }

    proptest! {
        #[test]
        fn proofs_verify_inclusion_and_exclusion(
            keys in proptest::collection::vec(any::<u32>(), 0..60),
            probe in any::<u32>(),
        ) {
            let l = leaves(&keys);
            let r = root(&l);
            for (k, v) in &l {
                let p = prove(&l, k);
                prop_assert!(p.verify(&r, k, Some(v)));
                prop_assert!(!p.verify(&r, k, Some(&Hash::of(b"wrong"))));
                prop_assert!(!p.verify(&r, k, None), "a present key cannot be proven absent");
            }
            let probe_key = Hash::of(&probe.to_le_bytes());
            if !l.iter().any(|(k, _)| *k == probe_key) {
                let p = prove(&l, &probe_key);
                prop_assert!(p.verify(&r, &probe_key, None));
                prop_assert!(!p.verify(&r, &probe_key, Some(&Hash::ZERO)));
            }
        }

        #[test]
        fn root_changes_with_any_value(keys in proptest::collection::vec(any::<u32>(), 1..40), pick in any::<usize>()) {
            let mut l = leaves(&keys);
            let before = root(&l);
            let i = pick % l.len();
            l[i].1 = Hash::of(b"changed");
            prop_assert_ne!(before, root(&l));
        }
    }
}
