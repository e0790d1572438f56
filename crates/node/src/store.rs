//! Durable finalized state: an append-only log of applied blocks plus periodic snapshots.
//!
//! State after height H = (latest snapshot at S ≤ H) + (blocks S+1..=H from the log).
//! Applying a finalized block appends its record and fsyncs *before* the block is
//! acknowledged to consensus, so "state and applied height" become durable in one step:
//! the record either is entirely on disk (height H applied) or is a torn tail that the next
//! open cuts off (height H not applied, and consensus delivers it again because it was never
//! acknowledged).
//!
//! Record format (`blocks.log`): `len: u32 LE | blake3(payload): 32 bytes | payload`, where
//! the payload is the block's canonical encoding. Snapshots (`snapshots/state-<height>.bin`)
//! hold `blake3(image) | image` and are written to a temporary file, fsynced and renamed,
//! so a crash leaves either the old or the new snapshot, never half of one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use cairn_core::codec::Canonical;
use cairn_core::{Hash, Height};
use cairn_ledger::State;

use crate::block::{Block, MAX_BLOCK_BYTES};

/// Snapshots kept on disk; older ones are deleted after a newer one is durable.
const KEEP_SNAPSHOTS: usize = 2;
const RECORD_HEADER: usize = 4 + 32;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("block log expects height {expected}, got {got}")]
    OutOfOrder { expected: u64, got: u64 },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where one block's record sits in the log.
#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u64,
    len: u32,
}

/// The append-only log of finalized blocks, indexed by height in memory.
#[derive(Debug)]
pub struct BlockLog {
    path: PathBuf,
    file: File,
    end: u64,
    /// Height → record position, for every block in the log.
    slots: BTreeMap<u64, Slot>,
}

impl BlockLog {
    /// Open (or create) the log, verify every record, and cut off a torn or corrupt tail.
    pub fn open(path: &Path) -> Result<BlockLog, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
        file.read_to_end(&mut bytes).map_err(io_err(path))?;
        let mut slots = BTreeMap::new();
        let mut pos = 0usize;
        let mut expected: Option<u64> = None;
        while let Some(header) = bytes.get(pos..pos + RECORD_HEADER) {
            let body_len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
            let Some(body) = bytes.get(pos + RECORD_HEADER..pos + RECORD_HEADER + body_len) else {
                break;
            };
            if body_len > MAX_BLOCK_BYTES || Hash::of(body).as_bytes()[..] != header[4..] {
                break;
            }
            let Ok(block) = Block::decode(body) else {
                break;
            };
            if expected.is_some_and(|h| h != block.height.0) {
                return Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    reason: format!(
                        "record at offset {pos} has height {}, expected {}",
                        block.height.0,
                        expected.unwrap_or_default()
                    ),
                });
            }
            expected = Some(block.height.0 + 1);
            slots.insert(
                block.height.0,
                Slot {
                    offset: pos as u64,
                    len: body_len as u32,
                },
            );
            pos += RECORD_HEADER + body_len;
        }
        if (pos as u64) < len {
            tracing::warn!(
                path = %path.display(),
                kept = pos,
                dropped = len - pos as u64,
                "block log ends in an incomplete record (unclean stop); cutting it off"
            );
            file.set_len(pos as u64).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
        }
        Ok(BlockLog {
            path: path.to_owned(),
            file,
            end: pos as u64,
            slots,
        })
    }

    pub fn last_height(&self) -> Option<Height> {
        self.slots.keys().next_back().map(|h| Height(*h))
    }

    /// Append a block and make it durable. Heights must be consecutive.
    pub fn append(&mut self, block: &Block) -> Result<(), StoreError> {
        if let Some(last) = self.last_height()
            && block.height.0 != last.0 + 1
        {
            return Err(StoreError::OutOfOrder {
                expected: last.0 + 1,
                got: block.height.0,
            });
        }
        let body = block.encode();
        let mut record = Vec::with_capacity(RECORD_HEADER + body.len());
        record.extend_from_slice(&(body.len() as u32).to_le_bytes());
        record.extend_from_slice(Hash::of(&body).as_bytes());
        record.extend_from_slice(&body);
        self.file.write_all(&record).map_err(io_err(&self.path))?;
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.slots.insert(
            block.height.0,
            Slot {
                offset: self.end,
                len: body.len() as u32,
            },
        );
        self.end += record.len() as u64;
        Ok(())
    }

    /// Read the block at `height`, if the log holds it.
    pub fn get(&self, height: Height) -> Result<Option<Block>, StoreError> {
        let Some(slot) = self.slots.get(&height.0) else {
            return Ok(None);
        };
        let mut body = vec![0u8; slot.len as usize];
        read_exact_at(&self.file, &mut body, slot.offset + RECORD_HEADER as u64)
            .map_err(io_err(&self.path))?;
        Block::decode(&body)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("block {}: {e}", height.0),
            })
    }

    /// Every block from `from` (inclusive) to the end, in height order.
    pub fn iter_from(&self, from: Height) -> impl Iterator<Item = Result<Block, StoreError>> + '_ {
        self.slots.range(from.0..).map(|(h, _)| {
            self.get(Height(*h))
                .map(|b| b.expect("indexed height exists"))
        })
    }
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

/// State snapshots in a directory, newest wins.
#[derive(Debug)]
pub struct Snapshots {
    dir: PathBuf,
}

impl Snapshots {
    pub fn open(dir: &Path) -> Result<Snapshots, StoreError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        Ok(Snapshots {
            dir: dir.to_owned(),
        })
    }

    fn path_for(&self, height: Height) -> PathBuf {
        self.dir.join(format!("state-{:020}.bin", height.0))
    }

    fn heights(&self) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(h) = name
                .strip_prefix("state-")
                .and_then(|s| s.strip_suffix(".bin"))
                .and_then(|s| s.parse::<u64>().ok())
            {
                out.push(h);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The newest snapshot that reads back intact (a damaged newest one falls back to the
    /// one before it).
    pub fn latest(&self) -> Result<Option<State>, StoreError> {
        for height in self.heights()?.into_iter().rev() {
            let path = self.path_for(Height(height));
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            let intact = bytes.len() >= 32 && Hash::of(&bytes[32..]).as_bytes()[..] == bytes[..32];
            match intact.then(|| State::from_snapshot(&bytes[32..])) {
                Some(Ok(state)) if state.height.0 == height => return Ok(Some(state)),
                other => {
                    let why = match other {
                        Some(Err(e)) => e.to_string(),
                        _ => "checksum mismatch".to_owned(),
                    };
                    tracing::warn!(path = %path.display(), %why, "skipping unreadable snapshot");
                }
            }
        }
        Ok(None)
    }

    /// Write a snapshot durably (temp file, fsync, rename, fsync dir), then prune old ones.
    pub fn write(&self, state: &State) -> Result<(), StoreError> {
        let image = state.to_snapshot();
        let path = self.path_for(state.height);
        let tmp = path.with_extension("tmp");
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(Hash::of(&image).as_bytes())
                .map_err(io_err(&tmp))?;
            f.write_all(&image).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        let heights = self.heights()?;
        if heights.len() > KEEP_SNAPSHOTS {
            for h in &heights[..heights.len() - KEEP_SNAPSHOTS] {
                let old = self.path_for(Height(*h));
                fs::remove_file(&old).map_err(io_err(&old))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::ConsensusMeta;
    use cairn_core::Keypair;

    fn block(height: u64, parent: Hash) -> Block {
        Block {
            parent,
            height: Height(height),
            consensus: ConsensusMeta {
                epoch: 0,
                view: height,
                parent_view: height.saturating_sub(1),
                leader: Keypair::from_seed(&[7; 32]).public(),
            },
            time_ms: 1_000 + height,
            txs: vec![],
            state_root: Hash::of(&height.to_le_bytes()),
        }
    }

    #[test]
    fn log_survives_reopen_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blocks.log");
        let mut log = BlockLog::open(&path).unwrap();
        let mut parent = Hash::ZERO;
        for h in 1..=5 {
            let b = block(h, parent);
            parent = b.digest();
            log.append(&b).unwrap();
        }
        assert!(matches!(
            log.append(&block(7, parent)),
            Err(StoreError::OutOfOrder {
                expected: 6,
                got: 7
            })
        ));
        drop(log);
        // A crash in the middle of writing record 6: only part of it reached the disk.
        let full = fs::read(&path).unwrap();
        let mut torn = full.clone();
        let six = block(6, parent).encode();
        torn.extend_from_slice(&(six.len() as u32).to_le_bytes());
        torn.extend_from_slice(Hash::of(&six).as_bytes());
        torn.extend_from_slice(&six[..six.len() / 2]);
        fs::write(&path, &torn).unwrap();
        let log = BlockLog::open(&path).unwrap();
        assert_eq!(log.last_height(), Some(Height(5)));
        assert_eq!(fs::read(&path).unwrap(), full, "the torn tail is cut off");
        assert_eq!(log.get(Height(3)).unwrap().unwrap(), {
            let mut p = Hash::ZERO;
            let mut b = block(1, p);
            for h in 1..=3 {
                b = block(h, p);
                p = b.digest();
            }
            b
        });
        let heights: Vec<u64> = log
            .iter_from(Height(2))
            .map(|b| b.unwrap().height.0)
            .collect();
        assert_eq!(heights, vec![2, 3, 4, 5]);
    }

    #[test]
    fn a_flipped_byte_ends_the_log_at_the_last_good_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blocks.log");
        let mut log = BlockLog::open(&path).unwrap();
        let mut parent = Hash::ZERO;
        let mut offsets = vec![];
        for h in 1..=3 {
            offsets.push(fs::metadata(&path).unwrap().len());
            let b = block(h, parent);
            parent = b.digest();
            log.append(&b).unwrap();
        }
        drop(log);
        let mut bytes = fs::read(&path).unwrap();
        let at = offsets[2] as usize + RECORD_HEADER + 3;
        bytes[at] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let log = BlockLog::open(&path).unwrap();
        assert_eq!(log.last_height(), Some(Height(2)));
    }
}
