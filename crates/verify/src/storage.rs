//! Proof of storage: content commitments, replicas encoded for one device, and the check
//! of a challenge's chunk proofs.
//!
//! # Scheme (`cairn.replica.v1`)
//!
//! 1. An object is split into [`CHUNK_SIZE`]-byte chunks (the last may be shorter) and
//!    committed with a Merkle tree over the chunks (`cairn_core::merkle`, BLAKE3): the
//!    root is the object's **content id**.
//! 2. A provider stores a **replica encoded for itself**: chunk `i` XOR a ChaCha20
//!    keystream with key `BLAKE3-derive-key("cairn.replica.v1", device key ‖ content id)`
//!    and nonce `i` (little-endian, 12 bytes). It registers the Merkle root of the
//!    encoded chunks (the **replica root**) with a `ReplicaCommitment` report.
//! 3. A challenge names `c` chunk indices drawn from its seed ([`challenge_indices`]).
//!    The provider answers with each encoded chunk, its path to the replica root and the
//!    path of the decoded chunk to the content root.
//! 4. The verifier ([`check_chunk`]) checks the size, the replica path, decodes the chunk
//!    with the device's keystream and checks the content path. A chunk encoded for
//!    another device decodes to garbage, so k identities sharing one copy fail; a replica
//!    root over anything but the consumer's bytes fails the content path.

use cairn_core::merkle::leaf_hash;
use cairn_core::{Hash, MerkleProof, MerkleTree, PublicKey};
use cairn_proto::v1::ChunkProof;
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};

/// Bytes per chunk: the unit of commitment and of challenge.
pub const CHUNK_SIZE: usize = 1024;
/// Largest object accepted (1 TiB).
pub const MAX_OBJECT_BYTES: u64 = 1 << 40;
/// Longest Merkle path a chunk proof may carry (2^30 chunks = 1 TiB).
pub const MAX_PATH_LEN: usize = 30;
/// Key-derivation context of the replica keystream.
pub const REPLICA_CONTEXT: &str = "cairn.replica.v1";
/// Key-derivation context of challenge chunk indices.
pub const INDICES_CONTEXT: &str = "cairn.storage.indices.v1";

/// How many chunks an object of `size` bytes has (`None` for an empty or oversized one).
pub fn chunk_count(size: u64) -> Option<u64> {
    (size > 0 && size <= MAX_OBJECT_BYTES).then(|| size.div_ceil(CHUNK_SIZE as u64))
}

/// Length of chunk `index` of an object of `size` bytes.
pub fn chunk_len(size: u64, index: u64) -> usize {
    let start = index.saturating_mul(CHUNK_SIZE as u64);
    size.saturating_sub(start).min(CHUNK_SIZE as u64) as usize
}

/// The Merkle tree over an object's plaintext chunks; its root is the content id.
pub fn content_tree(data: &[u8]) -> MerkleTree {
    MerkleTree::from_leaves(&data.chunks(CHUNK_SIZE).collect::<Vec<_>>())
}

/// The object's content id.
pub fn content_id(data: &[u8]) -> Hash {
    content_tree(data).root()
}

/// The keystream key of `device`'s replica of `object`.
pub fn replica_key(device: &PublicKey, object: &Hash) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(REPLICA_CONTEXT);
    h.update(device.as_bytes());
    h.update(object.as_bytes());
    *h.finalize().as_bytes()
}

/// Encode (or decode: the operation is its own inverse) chunk `index` in place.
pub fn apply_keystream(key: &[u8; 32], index: u64, chunk: &mut [u8]) {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&index.to_le_bytes());
    let mut cipher = ChaCha20::new(key.into(), &nonce.into());
    cipher.apply_keystream(chunk);
}

/// A provider's replica of one object: the encoded chunks and both trees.
#[derive(Debug, Clone)]
pub struct Replica {
    pub object: Hash,
    pub size: u64,
    /// The encoded chunks, in order.
    pub encoded: Vec<Vec<u8>>,
    pub replica_tree: MerkleTree,
    pub content_tree: MerkleTree,
}

impl Replica {
    /// Encode `data` for `device`. `None` for an empty or oversized object.
    pub fn build(device: &PublicKey, data: &[u8]) -> Option<Replica> {
        chunk_count(data.len() as u64)?;
        let content_tree = content_tree(data);
        let object = content_tree.root();
        let key = replica_key(device, &object);
        let encoded: Vec<Vec<u8>> = data
            .chunks(CHUNK_SIZE)
            .enumerate()
            .map(|(i, chunk)| {
                let mut chunk = chunk.to_vec();
                apply_keystream(&key, i as u64, &mut chunk);
                chunk
            })
            .collect();
        let replica_tree = MerkleTree::from_leaves(&encoded);
        Some(Replica {
            object,
            size: data.len() as u64,
            encoded,
            replica_tree,
            content_tree,
        })
    }

    pub fn replica_root(&self) -> Hash {
        self.replica_tree.root()
    }

    /// The proof of chunk `index`, or `None` past the end.
    pub fn prove(&self, index: u64) -> Option<ChunkProof> {
        let chunk = self.encoded.get(usize::try_from(index).ok()?)?;
        let replica = self.replica_tree.proof(index)?;
        let content = self.content_tree.proof(index)?;
        Some(chunk_proof(index, chunk.clone(), &replica, &content))
    }
}

/// A chunk proof from an encoded chunk and its two Merkle proofs.
pub fn chunk_proof(
    index: u64,
    chunk: Vec<u8>,
    replica: &MerkleProof,
    content: &MerkleProof,
) -> ChunkProof {
    ChunkProof {
        index,
        chunk,
        path: replica.siblings.iter().map(|h| h.0.to_vec()).collect(),
        content_path: content.siblings.iter().map(|h| h.0.to_vec()).collect(),
    }
}

/// `c` chunk indices for a challenge with `seed` over `chunk_count` chunks, drawn
/// uniformly and independently (with replacement, so the detection probability of a
/// replica missing a fraction f of its chunks is exactly 1 − (1 − f)^c).
pub fn challenge_indices(seed: &[u8; 32], chunk_count: u64, c: u32) -> Vec<u64> {
    if chunk_count == 0 {
        return Vec::new();
    }
    let mut h = blake3::Hasher::new_derive_key(INDICES_CONTEXT);
    h.update(seed);
    h.update(&chunk_count.to_le_bytes());
    let mut xof = h.finalize_xof();
    (0..c)
        .map(|_| {
            // A 128-bit word reduced modulo the count: bias below 2^-88.
            let mut word = [0u8; 16];
            xof.fill(&mut word);
            (u128::from_le_bytes(word) % u128::from(chunk_count)) as u64
        })
        .collect()
}

/// What a registered replica commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct ReplicaRecord {
    pub object: Hash,
    pub size: u64,
    pub replica_root: Hash,
}

/// Why one chunk proof fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkFault {
    #[error("chunk {expected} was asked for, the proof is for chunk {got}")]
    WrongIndex { expected: u64, got: u64 },
    #[error("chunk {index} is {got} bytes, expected {expected}")]
    WrongSize {
        index: u64,
        expected: usize,
        got: usize,
    },
    #[error("chunk {index}: a path element is not 32 bytes or the path is too long")]
    MalformedPath { index: u64 },
    #[error("chunk {index} does not hash to the registered replica root")]
    ReplicaPath { index: u64 },
    #[error("chunk {index} decodes to bytes that are not the object's")]
    ContentPath { index: u64 },
}

fn path(index: u64, raw: &[Vec<u8>]) -> Result<Vec<Hash>, ChunkFault> {
    if raw.len() > MAX_PATH_LEN {
        return Err(ChunkFault::MalformedPath { index });
    }
    raw.iter()
        .map(|p| {
            <[u8; 32]>::try_from(p.as_slice())
                .map(Hash)
                .map_err(|_| ChunkFault::MalformedPath { index })
        })
        .collect()
}

/// Check one chunk proof for `device`'s replica against the challenge's index.
pub fn check_chunk(
    device: &PublicKey,
    record: &ReplicaRecord,
    expected_index: u64,
    proof: &ChunkProof,
) -> Result<(), ChunkFault> {
    let index = proof.index;
    if index != expected_index {
        return Err(ChunkFault::WrongIndex {
            expected: expected_index,
            got: index,
        });
    }
    let count = chunk_count(record.size).unwrap_or(0);
    let expected = chunk_len(record.size, index);
    if proof.chunk.len() != expected || index >= count {
        return Err(ChunkFault::WrongSize {
            index,
            expected,
            got: proof.chunk.len(),
        });
    }
    let replica = MerkleProof {
        index,
        leaf_count: count,
        siblings: path(index, &proof.path)?,
    };
    let content = MerkleProof {
        index,
        leaf_count: count,
        siblings: path(index, &proof.content_path)?,
    };
    if replica.root_for(leaf_hash(&proof.chunk)) != Some(record.replica_root) {
        return Err(ChunkFault::ReplicaPath { index });
    }
    let mut decoded = proof.chunk.clone();
    apply_keystream(&replica_key(device, &record.object), index, &mut decoded);
    if content.root_for(leaf_hash(&decoded)) != Some(record.object) {
        return Err(ChunkFault::ContentPath { index });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::Keypair;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 1024) as u8).collect()
    }

    #[test]
    fn replica_proofs_check_and_tampering_fails() {
        let device = Keypair::generate().public();
        let other = Keypair::generate().public();
        let bytes = data(10 * CHUNK_SIZE + 17);
        let r = Replica::build(&device, &bytes).unwrap();
        assert_eq!(r.encoded.len(), 11);
        assert_ne!(
            r.encoded[0],
            bytes[..CHUNK_SIZE],
            "encoding changes the bytes"
        );
        let record = ReplicaRecord {
            object: r.object,
            size: r.size,
            replica_root: r.replica_root(),
        };
        for i in 0..11 {
            check_chunk(&device, &record, i, &r.prove(i).unwrap()).unwrap();
        }
        let mut p = r.prove(3).unwrap();
        assert_eq!(
            check_chunk(&device, &record, 4, &p),
            Err(ChunkFault::WrongIndex {
                expected: 4,
                got: 3
            })
        );
        p.chunk[5] ^= 1;
        assert_eq!(
            check_chunk(&device, &record, 3, &p),
            Err(ChunkFault::ReplicaPath { index: 3 })
        );
        // The last chunk is short.
        let mut p = r.prove(10).unwrap();
        p.chunk.push(0);
        assert!(matches!(
            check_chunk(&device, &record, 10, &p),
            Err(ChunkFault::WrongSize {
                expected: 17,
                got: 18,
                ..
            })
        ));
        // Another device's replica, presented under this device's root: wrong root;
        // under its own root but claimed by this device: decodes to garbage.
        let theirs = Replica::build(&other, &bytes).unwrap();
        let their_record = ReplicaRecord {
            replica_root: theirs.replica_root(),
            ..record
        };
        assert_eq!(
            check_chunk(&device, &record, 2, &theirs.prove(2).unwrap()),
            Err(ChunkFault::ReplicaPath { index: 2 })
        );
        assert_eq!(
            check_chunk(&device, &their_record, 2, &theirs.prove(2).unwrap()),
            Err(ChunkFault::ContentPath { index: 2 })
        );
        let mut p = r.prove(1).unwrap();
        p.path[0].pop();
        assert_eq!(
            check_chunk(&device, &record, 1, &p),
            Err(ChunkFault::MalformedPath { index: 1 })
        );
    }

    #[test]
    fn indices_are_deterministic_uniform_and_in_range() {
        let a = challenge_indices(&[1; 32], 1000, 64);
        assert_eq!(a, challenge_indices(&[1; 32], 1000, 64));
        assert_ne!(a, challenge_indices(&[2; 32], 1000, 64));
        assert!(a.iter().all(|i| *i < 1000));
        let many = challenge_indices(&[3; 32], 10, 10_000);
        for bucket in 0..10 {
            let n = many.iter().filter(|i| **i == bucket).count();
            assert!((850..1150).contains(&n), "bucket {bucket}: {n}");
        }
        assert!(challenge_indices(&[1; 32], 0, 5).is_empty());
    }

    #[test]
    fn chunk_arithmetic() {
        assert_eq!(chunk_count(0), None);
        assert_eq!(chunk_count(1), Some(1));
        assert_eq!(chunk_count(1024), Some(1));
        assert_eq!(chunk_count(1025), Some(2));
        assert_eq!(chunk_count(MAX_OBJECT_BYTES + 1), None);
        assert_eq!(chunk_len(1025, 0), 1024);
        assert_eq!(chunk_len(1025, 1), 1);
        assert_eq!(chunk_len(1025, 2), 0);
    }
}
