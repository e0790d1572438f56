//! A binary Merkle tree over BLAKE3 with inclusion proofs.
//!
//! Shape and domain separation follow RFC 6962 (Certificate Transparency), with BLAKE3 in
//! place of SHA-256: a leaf hashes as `H(0x00 ‖ data)`, an inner node as `H(0x01 ‖ left ‖
//! right)`, so a leaf can never be passed off as a node. An odd node at the end of a level
//! is promoted unchanged rather than paired with a copy of itself, which avoids the
//! duplicate-leaf ambiguity of Bitcoin's tree (two different leaf lists with one root).
//! The empty tree's root is `H("")`.
//!
//! Used for reward manifests (one leaf per recipient) and storage commitments (one leaf
//! per chunk).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::hash::Hash;

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;
/// A proof deeper than this cannot belong to a tree of at most 2^64 leaves.
const MAX_PROOF_LEN: usize = 64;

/// The hash of a leaf's data.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash::of_parts(&[&[LEAF_PREFIX], data])
}

/// The hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[&[NODE_PREFIX], left.as_bytes(), right.as_bytes()])
}

/// A Merkle tree kept whole in memory (every level), so proofs are cheap.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; the last level holds the root alone.
    levels: Vec<Vec<Hash>>,
}

/// Proof that a leaf is at `index` in a tree of `leaf_count` leaves.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MerkleProof {
    pub index: u64,
    pub leaf_count: u64,
    /// Sibling hashes from the leaf level upwards; promoted levels contribute none.
    pub siblings: Vec<Hash>,
}

impl MerkleTree {
    /// Build from leaf data (each item is hashed as a leaf).
    pub fn from_leaves<T: AsRef<[u8]>>(leaves: &[T]) -> Self {
        Self::from_leaf_hashes(leaves.iter().map(|l| leaf_hash(l.as_ref())).collect())
    }

    /// Build from already computed leaf hashes.
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().expect("checked above");
            let above = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => node_hash(l, r),
                    [single] => *single,
                    _ => unreachable!("chunks(2) yields one or two"),
                })
                .collect();
            levels.push(above);
        }
        MerkleTree { levels }
    }

    pub fn leaf_count(&self) -> u64 {
        self.levels[0].len() as u64
    }

    pub fn root(&self) -> Hash {
        match self.levels.last().and_then(|l| l.first()) {
            Some(root) => *root,
            None => Hash::of(b""),
        }
    }

    /// The inclusion proof for the leaf at `index`, or `None` past the end.
    pub fn proof(&self, index: u64) -> Option<MerkleProof> {
        if index >= self.leaf_count() {
            return None;
        }
        let mut siblings = Vec::new();
        let mut i = index as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                siblings.push(level[sibling]);
            }
            i /= 2;
        }
        Some(MerkleProof {
            index,
            leaf_count: self.leaf_count(),
            siblings,
        })
    }
}

impl MerkleProof {
    /// The root this proof yields for a leaf whose hash is `leaf`, or `None` if the proof
    /// is malformed (index out of range, wrong number of siblings).
    pub fn root_for(&self, leaf: Hash) -> Option<Hash> {
        if self.index >= self.leaf_count || self.siblings.len() > MAX_PROOF_LEN {
            return None;
        }
        let mut acc = leaf;
        let (mut i, mut width) = (self.index, self.leaf_count);
        let mut siblings = self.siblings.iter();
        while width > 1 {
            if i % 2 == 1 {
                acc = node_hash(siblings.next()?, &acc);
            } else if i + 1 < width {
                acc = node_hash(&acc, siblings.next()?);
            } // else: the last node of an odd level is promoted as is.
            i /= 2;
            width = width.div_ceil(2);
        }
        siblings.next().is_none().then_some(acc)
    }

    /// Whether `data` is the leaf at `self.index` of the tree with `root`.
    pub fn verify(&self, root: &Hash, data: &[u8]) -> bool {
        self.root_for(leaf_hash(data)).as_ref() == Some(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shape_matches_rfc6962() {
        // RFC 6962 §2.1: MTH(D[n]) = H(1 ‖ MTH(D[0:k]) ‖ MTH(D[k:n])), k the largest power
        // of two below n. Check the level-by-level build agrees for every n up to 40.
        fn mth(d: &[Vec<u8>]) -> Hash {
            match d.len() {
                0 => Hash::of(b""),
                1 => leaf_hash(&d[0]),
                n => {
                    let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
                    node_hash(&mth(&d[..k]), &mth(&d[k..]))
                }
            }
        }
        for n in 0..40u8 {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| vec![i]).collect();
            assert_eq!(
                MerkleTree::from_leaves(&leaves).root(),
                mth(&leaves),
                "n={n}"
            );
        }
    }

    #[test]
    fn domain_separation() {
        // A node's preimage presented as a leaf must not give the same hash.
        let t = MerkleTree::from_leaves(&[b"a", b"b"]);
        let (l, r) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut fake = Vec::new();
        fake.extend_from_slice(l.as_bytes());
        fake.extend_from_slice(r.as_bytes());
        assert_ne!(MerkleTree::from_leaves(&[fake]).root(), t.root());
        // [a, b, c] and [a, b, c, c] differ (no duplicate-last-leaf ambiguity).
        assert_ne!(
            MerkleTree::from_leaves(&[b"a", b"b", b"c"]).root(),
            MerkleTree::from_leaves(&[b"a", b"b", b"c", b"c"]).root()
        );
    }

    proptest! {
        #[test]
        fn every_proof_verifies_and_only_for_its_leaf(n in 1usize..70, pick in any::<usize>()) {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| (i as u32).to_le_bytes().to_vec()).collect();
            let tree = MerkleTree::from_leaves(&leaves);
            let i = pick % n;
            let proof = tree.proof(i as u64).unwrap();
            prop_assert!(proof.verify(&tree.root(), &leaves[i]));
            prop_assert!(!proof.verify(&tree.root(), b"other"));
            if n > 1 {
                let j = (i + 1) % n;
                prop_assert!(!proof.verify(&tree.root(), &leaves[j]));
                let mut moved = proof.clone();
                moved.index = j as u64;
                prop_assert!(!moved.verify(&tree.root(), &leaves[i]));
            }
            // The leaf count is not authenticated by the root (commit it beside the root
            // where it matters), but a count that excludes the index is refused.
            let mut short = proof.clone();
            short.leaf_count = short.index;
            prop_assert!(!short.verify(&tree.root(), &leaves[i]));
            let mut extra = proof;
            extra.siblings.push(Hash::ZERO);
            prop_assert!(!extra.verify(&tree.root(), &leaves[i]));
        }
    }
}
