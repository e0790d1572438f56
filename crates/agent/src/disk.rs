//! A storage driver on a real directory: each object's replica, encoded for this device,
//! lives in its own folder beside the leaf hashes of its two Merkle trees.
//!
//! ```text
//! <dir>/<object id hex>/replica   the encoded chunks, concatenated (object size bytes)
//! <dir>/<object id hex>/tree      "CAIRNRT1" ‖ size u64 LE ‖ replica root ‖ object id
//!                                 ‖ n replica leaf hashes ‖ n content leaf hashes
//! ```
//!
//! An object is written into a temporary folder, fsynced, and renamed into place, so a
//! crash leaves either the whole replica or none (temporary folders are removed at start).
//! Proofs read what is on disk and nothing else: a chunk that was deleted, zeroed or cut
//! short is answered as it is, and the verifier's verdict says which chunk failed. A
//! folder whose tree file is damaged is skipped at start with an error in the log.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use cairn_core::merkle::leaf_hash;
use cairn_core::{Hash, MerkleTree, PublicKey};
use cairn_proto::v1::{ReplicaCommitment, StorageChallenge, StorageProof, StorageResource};
use cairn_verify::storage::{
    CHUNK_SIZE, Replica, apply_keystream, chunk_count, chunk_len, chunk_proof, replica_key,
};

use crate::driver::{DriverError, StorageDriver};

const TREE_MAGIC: &[u8; 8] = b"CAIRNRT1";
const TREE_HEADER: usize = 8 + 8 + 32 + 32;

#[derive(Debug, Clone, Copy)]
struct Held {
    size: u64,
    replica_root: Hash,
}

/// Replicas on a directory, up to `capacity` bytes.
#[derive(Debug)]
pub struct DiskStorage {
    device: PublicKey,
    dir: PathBuf,
    capacity: u64,
    objects: BTreeMap<Hash, Held>,
}

fn failed(what: &str, path: &Path, e: std::io::Error) -> DriverError {
    DriverError::Failed(format!("{what} {}: {e}", path.display()))
}

impl DiskStorage {
    /// Open (creating) `dir`, load every intact replica and drop unfinished writes.
    pub fn open(device: PublicKey, dir: &Path, capacity: u64) -> Result<Self, DriverError> {
        fs::create_dir_all(dir).map_err(|e| failed("creating", dir, e))?;
        let mut objects = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(|e| failed("listing", dir, e))? {
            let entry = entry.map_err(|e| failed("listing", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".tmp-") {
                let _ = fs::remove_dir_all(&path);
                continue;
            }
            let Ok(id) = <[u8; 32]>::try_from(hex::decode(&name).unwrap_or_default().as_slice())
            else {
                continue;
            };
            match read_header(&path.join("tree")) {
                Ok((size, replica_root, object)) if object == Hash(id) => {
                    objects.insert(object, Held { size, replica_root });
                }
                Ok(_) => tracing::error!(
                    object = %name,
                    "replica skipped: its tree file names another object"
                ),
                Err(e) => tracing::error!(object = %name, error = %e, "replica skipped"),
            }
        }
        tracing::info!(dir = %dir.display(), replicas = objects.len(), "disk storage opened");
        Ok(DiskStorage {
            device,
            dir: dir.to_path_buf(),
            capacity,
            objects,
        })
    }

    fn used(&self) -> u64 {
        self.objects.values().map(|h| h.size).sum()
    }

    fn folder(&self, object: &Hash) -> PathBuf {
        self.dir.join(object.to_hex())
    }

    /// The two trees, rebuilt from the stored leaf hashes.
    fn trees(&self, object: &Hash, size: u64) -> Result<(MerkleTree, MerkleTree), DriverError> {
        let path = self.folder(object).join("tree");
        let bytes = fs::read(&path).map_err(|e| failed("reading", &path, e))?;
        let n = chunk_count(size).unwrap_or(0) as usize;
        if bytes.len() != TREE_HEADER + 64 * n {
            return Err(DriverError::Failed(format!(
                "{} is {} bytes, expected {} for {n} chunks: the tree file is damaged",
                path.display(),
                bytes.len(),
                TREE_HEADER + 64 * n
            )));
        }
        let leaves = |from: usize| -> Vec<Hash> {
            bytes[from..from + 32 * n]
                .chunks_exact(32)
                .map(|c| Hash(c.try_into().expect("32 bytes")))
                .collect()
        };
        Ok((
            MerkleTree::from_leaf_hashes(leaves(TREE_HEADER)),
            MerkleTree::from_leaf_hashes(leaves(TREE_HEADER + 32 * n)),
        ))
    }
}

fn read_header(path: &Path) -> Result<(u64, Hash, Hash), String> {
    let mut f = File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let mut header = [0u8; TREE_HEADER];
    f.read_exact(&mut header)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    if &header[..8] != TREE_MAGIC {
        return Err(format!("{} is not a replica tree file", path.display()));
    }
    let size = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    let root = Hash(header[16..48].try_into().expect("32 bytes"));
    let object = Hash(header[48..80].try_into().expect("32 bytes"));
    if chunk_count(size).is_none() {
        return Err(format!(
            "{} names an impossible size {size}",
            path.display()
        ));
    }
    Ok((size, root, object))
}

fn write_synced(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    for p in parts {
        f.write_all(p)?;
    }
    f.sync_all()
}

fn commitment(object: &Hash, held: &Held) -> ReplicaCommitment {
    ReplicaCommitment {
        object_id: object.0.to_vec(),
        size_bytes: held.size,
        replica_root: held.replica_root.0.to_vec(),
        released: false,
    }
}

impl StorageDriver for DiskStorage {
    fn resource(&mut self) -> StorageResource {
        StorageResource {
            capacity_bytes: self.capacity,
            free_bytes: self.capacity.saturating_sub(self.used()),
            replicas: self.objects.len() as u64,
            ..StorageResource::default()
        }
    }

    fn prove(&mut self, challenge: &StorageChallenge) -> Result<StorageProof, DriverError> {
        let id = <[u8; 32]>::try_from(challenge.object_id.as_slice())
            .map(Hash)
            .map_err(|_| {
                DriverError::Refused(format!(
                    "object id must be 32 bytes, got {}",
                    challenge.object_id.len()
                ))
            })?;
        let held = *self
            .objects
            .get(&id)
            .ok_or_else(|| DriverError::Refused(format!("object {id} is not held")))?;
        let count = chunk_count(held.size).unwrap_or(0);
        let (replica_tree, content_tree) = self.trees(&id, held.size)?;
        let path = self.folder(&id).join("replica");
        let mut file = File::open(&path).map_err(|e| failed("opening", &path, e))?;
        let mut chunks = Vec::with_capacity(challenge.chunk_indices.len());
        for &index in &challenge.chunk_indices {
            if index >= count {
                return Err(DriverError::Refused(format!(
                    "chunk {index} is past the end of the object ({count} chunks)"
                )));
            }
            let want = chunk_len(held.size, index);
            let mut chunk = vec![0u8; want];
            file.seek(SeekFrom::Start(index * CHUNK_SIZE as u64))
                .map_err(|e| failed("seeking in", &path, e))?;
            // A short read is answered as it is: the disk lost those bytes.
            let mut got = 0;
            while got < want {
                match file.read(&mut chunk[got..]) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(failed("reading", &path, e)),
                }
            }
            if got < want {
                tracing::error!(
                    object = %id,
                    chunk = index,
                    "replica file is truncated: answering with the {got} bytes on disk"
                );
                chunk.truncate(got);
            }
            let (Some(r), Some(c)) = (replica_tree.proof(index), content_tree.proof(index)) else {
                return Err(DriverError::Failed(format!(
                    "no path for chunk {index} of {id}"
                )));
            };
            chunks.push(chunk_proof(index, chunk, &r, &c));
        }
        Ok(StorageProof { chunks })
    }

    fn store(&mut self, data: &[u8]) -> Result<ReplicaCommitment, DriverError> {
        let replica = Replica::build(&self.device, data)
            .ok_or_else(|| DriverError::Refused("an object must be 1 byte to 1 TiB".into()))?;
        if let Some(held) = self.objects.get(&replica.object) {
            return Ok(commitment(&replica.object, held));
        }
        let free = self.capacity.saturating_sub(self.used());
        if replica.size > free {
            return Err(DriverError::Refused(format!(
                "an object of {} bytes does not fit in the {free} bytes free",
                replica.size
            )));
        }
        let folder = self.folder(&replica.object);
        let tmp = self.dir.join(format!(".tmp-{}", replica.object.to_hex()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir(&tmp).map_err(|e| failed("creating", &tmp, e))?;
        let encoded: Vec<u8> = replica.encoded.concat();
        write_synced(&tmp.join("replica"), &[&encoded]).map_err(|e| failed("writing", &tmp, e))?;
        let mut tree = Vec::with_capacity(TREE_HEADER + 64 * replica.encoded.len());
        tree.extend_from_slice(TREE_MAGIC);
        tree.extend_from_slice(&replica.size.to_le_bytes());
        tree.extend_from_slice(replica.replica_root().as_bytes());
        tree.extend_from_slice(replica.object.as_bytes());
        for chunk in &replica.encoded {
            tree.extend_from_slice(leaf_hash(chunk).as_bytes());
        }
        for chunk in data.chunks(CHUNK_SIZE) {
            tree.extend_from_slice(leaf_hash(chunk).as_bytes());
        }
        write_synced(&tmp.join("tree"), &[&tree]).map_err(|e| failed("writing", &tmp, e))?;
        File::open(&tmp)
            .and_then(|d| d.sync_all())
            .map_err(|e| failed("syncing", &tmp, e))?;
        fs::rename(&tmp, &folder).map_err(|e| failed("renaming", &tmp, e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| failed("syncing", &self.dir, e))?;
        let held = Held {
            size: replica.size,
            replica_root: replica.replica_root(),
        };
        self.objects.insert(replica.object, held);
        tracing::info!(object = %replica.object, size = replica.size, "replica stored");
        Ok(commitment(&replica.object, &held))
    }

    fn read(&mut self, object: &[u8; 32]) -> Result<Vec<u8>, DriverError> {
        let id = Hash(*object);
        let held = *self
            .objects
            .get(&id)
            .ok_or_else(|| DriverError::Refused(format!("object {id} is not held")))?;
        let path = self.folder(&id).join("replica");
        let mut data = fs::read(&path).map_err(|e| failed("reading", &path, e))?;
        if data.len() as u64 != held.size {
            tracing::error!(object = %id, on_disk = data.len(), size = held.size, "replica file has the wrong length");
        }
        let key = replica_key(&self.device, &id);
        for (i, chunk) in data.chunks_mut(CHUNK_SIZE).enumerate() {
            apply_keystream(&key, i as u64, chunk);
        }
        Ok(data)
    }

    fn held(&mut self) -> Vec<ReplicaCommitment> {
        self.objects
            .iter()
            .map(|(id, h)| commitment(id, h))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::Keypair;
    use cairn_verify::storage::{ReplicaRecord, check_chunk, content_id};

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 1024) as u8).collect()
    }

    fn challenge(object: &Hash, indices: Vec<u64>) -> StorageChallenge {
        StorageChallenge {
            object_id: object.0.to_vec(),
            chunk_indices: indices,
        }
    }

    #[test]
    fn stores_proves_reads_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let device = Keypair::generate().public();
        let bytes = data(10 * 1024 + 300);
        let object = content_id(&bytes);
        let mut disk = DiskStorage::open(device, dir.path(), 1 << 20).unwrap();
        let c = disk.store(&bytes).unwrap();
        let record = ReplicaRecord {
            object,
            size: bytes.len() as u64,
            replica_root: Hash(c.replica_root.clone().try_into().unwrap()),
        };
        let mut disk = DiskStorage::open(device, dir.path(), 1 << 20).unwrap();
        assert_eq!(disk.held(), vec![c]);
        assert_eq!(disk.read(&object.0).unwrap(), bytes);
        let proof = disk.prove(&challenge(&object, vec![0, 3, 10])).unwrap();
        for p in &proof.chunks {
            check_chunk(&device, &record, p.index, p).unwrap();
        }
        assert_eq!(disk.resource().free_bytes, (1 << 20) - bytes.len() as u64);
        // Too big for what is left.
        assert!(matches!(
            disk.store(&data(1 << 20)),
            Err(DriverError::Refused(_))
        ));
    }

    #[test]
    fn zeroed_and_truncated_chunks_fail_verification_not_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let device = Keypair::generate().public();
        let bytes = data(8 * 1024);
        let object = content_id(&bytes);
        let mut disk = DiskStorage::open(device, dir.path(), 1 << 20).unwrap();
        let c = disk.store(&bytes).unwrap();
        let record = ReplicaRecord {
            object,
            size: bytes.len() as u64,
            replica_root: Hash(c.replica_root.try_into().unwrap()),
        };
        let file = dir.path().join(object.to_hex()).join("replica");
        let mut raw = fs::read(&file).unwrap();
        raw[2 * 1024..3 * 1024].fill(0);
        raw.truncate(6 * 1024 + 10);
        fs::write(&file, &raw).unwrap();
        let proof = disk.prove(&challenge(&object, vec![1, 2, 6, 7])).unwrap();
        let verdicts: Vec<bool> = proof
            .chunks
            .iter()
            .map(|p| check_chunk(&device, &record, p.index, p).is_ok())
            .collect();
        assert_eq!(verdicts, vec![true, false, false, false]);
        // A damaged tree file: the object is skipped at start, with an error in the log.
        fs::write(
            dir.path().join(object.to_hex()).join("tree"),
            b"CAIRNRT1 short",
        )
        .unwrap();
        let disk = DiskStorage::open(device, dir.path(), 1 << 20).unwrap();
        assert!(disk.objects.is_empty());
    }
}
