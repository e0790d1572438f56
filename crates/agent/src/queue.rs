//! The agent's bounded, persistent queue of reports waiting for ingest.
//!
//! The queue holds encoded [`Report`] bytes (with `seq` and `timestamp_ms` already set),
//! never signed reports: reports are signed when sent, with whatever session key is
//! current, so a report re-sent in a later session keeps its content id and ingest
//! deduplicates it.
//!
//! # Durability
//!
//! The whole queue, with the next `seq` and the drop counter, is one snapshot file
//! (`queue.bin` in the data directory), rewritten on every change: written to
//! `queue.bin.tmp`, fsynced, renamed over `queue.bin`, and the directory fsynced. A crash
//! at any point (including `kill -9` or power loss) leaves either the old or the new
//! snapshot, never a mix. A `push` whose snapshot cannot be written is undone in memory
//! and reported as an error, so a `seq` is never handed out without being durable.
//! An `ack` whose write fails stays applied in memory (at worst the acknowledged reports
//! come back after a crash, and ingest answers them as duplicates).
//!
//! The snapshot ends with a BLAKE3 checksum of everything before it. A snapshot that
//! fails the checksum or does not parse is **refused** with [`QueueError::Corrupt`]
//! rather than silently replaced: starting empty would lose the reports in it and
//! restart `seq`. To recover, move the file aside (the error says where it is).
//!
//! A lock file (`queue.lock`) held with an advisory lock stops a second agent from
//! using the same data directory.
//!
//! # Format (`queue.bin`, version 1)
//!
//! ```text
//! magic     8 bytes  "CAIRNQ\0\x01"
//! next_seq  u64 LE
//! dropped   u64 LE   reports dropped because the queue was full, ever
//! urgent    u32 LE   count of priority entries (challenge answers), sent first
//! normal    u32 LE   count of ordinary entries
//! entries   (urgent then normal) each: seq u64 LE, length u32 LE, report bytes
//! checksum  32 bytes BLAKE3 of all the bytes above
//! ```

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_core::PublicKey;
use cairn_proto::v1::report::Body;
use cairn_proto::{MAX_CHALLENGE_RESPONSE_BYTES, Report, report_kind, report_limit};
use prost::Message;

const MAGIC: &[u8; 8] = b"CAIRNQ\0\x01";
const HEADER_LEN: usize = 8 + 8 + 8 + 4 + 4;
const CHECKSUM_LEN: usize = 32;
/// Name of the snapshot file inside the data directory.
pub const QUEUE_FILE: &str = "queue.bin";
const TMP_FILE: &str = "queue.bin.tmp";
const LOCK_FILE: &str = "queue.lock";
/// The first `seq` a brand-new queue hands out.
pub const FIRST_SEQ: u64 = 1;

/// Why the queue cannot be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("report queue {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "report queue file {path} is corrupt ({reason}); refusing to start with it. Move it \
         aside to start with an empty queue (the reports in it are lost and seq restarts at 1)"
    )]
    Corrupt { path: String, reason: String },
    #[error(
        "report queue in {path} is in use by another process (is another agent running \
         with the same data_dir?)"
    )]
    Locked { path: String },
    #[error("report of {size} bytes is larger than the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("queue capacity must be at least 1")]
    ZeroCapacity,
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    seq: u64,
    bytes: Vec<u8>,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The `seq` given to the new report.
    pub seq: u64,
    /// How many of the oldest reports were dropped to make room (0 or 1).
    pub evicted: u64,
}

/// A bounded persistent FIFO of encoded reports, with a priority lane sent first.
pub struct Queue {
    dir: PathBuf,
    max: usize,
    urgent: VecDeque<Entry>,
    normal: VecDeque<Entry>,
    next_seq: u64,
    dropped: u64,
    lock: File,
}

impl Drop for Queue {
    /// Release the lock explicitly rather than by closing the file: a process forked
    /// elsewhere in this program (to run a command) shares the open file description
    /// until it execs, and closing our descriptor alone would leave the lock held for
    /// that moment, refusing an immediate reopen.
    fn drop(&mut self) {
        let _ = self.lock.unlock();
    }
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("dir", &self.dir)
            .field("max", &self.max)
            .field("urgent", &self.urgent.len())
            .field("normal", &self.normal.len())
            .field("next_seq", &self.next_seq)
            .field("dropped", &self.dropped)
            .finish()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Queue {
    /// Open (or create) the queue in `dir`, holding at most `max` reports. If the stored
    /// queue holds more than `max` (the limit was lowered), the oldest are dropped.
    pub fn open(dir: &Path, max: usize) -> Result<Queue, QueueError> {
        if max == 0 {
            return Err(QueueError::ZeroCapacity);
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(QueueError::Locked {
                    path: dir.display().to_string(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }

        let mut queue = Queue {
            dir: dir.to_owned(),
            max,
            urgent: VecDeque::new(),
            normal: VecDeque::new(),
            next_seq: FIRST_SEQ,
            dropped: 0,
            lock,
        };
        let path = queue.file_path();
        match fs::read(&path) {
            Ok(bytes) => queue.load(&bytes).map_err(|reason| QueueError::Corrupt {
                path: path.display().to_string(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        let mut trimmed = false;
        while queue.len() > max {
            queue.evict_oldest();
            trimmed = true;
        }
        if trimmed {
            queue.persist()?;
        }
        Ok(queue)
    }

    /// Path of the snapshot file.
    pub fn file_path(&self) -> PathBuf {
        self.dir.join(QUEUE_FILE)
    }

    /// Reports waiting.
    pub fn len(&self) -> usize {
        self.urgent.len() + self.normal.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Reports dropped because the queue was full, over the queue's whole life.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The `seq` the next pushed report will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Append a report with the next `seq`; the oldest report is dropped when full.
    pub fn push(
        &mut self,
        device_key: &PublicKey,
        timestamp_ms: u64,
        body: Body,
    ) -> Result<Pushed, QueueError> {
        self.insert(device_key, timestamp_ms, body, false)
    }

    /// Add a report with the next `seq` to the priority lane (challenge answers): it is
    /// sent before every ordinary report, after earlier priority reports.
    pub fn push_front(
        &mut self,
        device_key: &PublicKey,
        timestamp_ms: u64,
        body: Body,
    ) -> Result<Pushed, QueueError> {
        self.insert(device_key, timestamp_ms, body, true)
    }

    fn insert(
        &mut self,
        device_key: &PublicKey,
        timestamp_ms: u64,
        body: Body,
        urgent: bool,
    ) -> Result<Pushed, QueueError> {
        let seq = self.next_seq;
        let report = Report {
            device_key: device_key.as_bytes().to_vec(),
            seq,
            timestamp_ms,
            body: Some(body),
        };
        let kind = report_kind(&report);
        let bytes = report.encode_to_vec();
        if bytes.len() > report_limit(kind) {
            return Err(QueueError::TooLarge {
                size: bytes.len(),
                limit: report_limit(kind),
            });
        }
        let mut evicted = Vec::new();
        while self.len() >= self.max {
            evicted.extend(self.evict_oldest());
        }
        let entry = Entry { seq, bytes };
        if urgent {
            self.urgent.push_back(entry);
        } else {
            self.normal.push_back(entry);
        }
        self.next_seq += 1;
        if let Err(e) = self.persist() {
            // Undo, so memory matches the file and the seq is not used twice.
            self.next_seq -= 1;
            if urgent {
                self.urgent.pop_back();
            } else {
                self.normal.pop_back();
            }
            for (was_urgent, entry) in evicted.into_iter().rev() {
                self.dropped -= 1;
                if was_urgent {
                    self.urgent.push_front(entry);
                } else {
                    self.normal.push_front(entry);
                }
            }
            return Err(e);
        }
        Ok(Pushed {
            seq,
            evicted: evicted.len() as u64,
        })
    }

    /// Drop the report with the lowest `seq`; returns it with its lane.
    fn evict_oldest(&mut self) -> Option<(bool, Entry)> {
        let from_urgent = match (self.urgent.front(), self.normal.front()) {
            (Some(u), Some(n)) => u.seq < n.seq,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let entry = if from_urgent {
            self.urgent.pop_front()
        } else {
            self.normal.pop_front()
        }?;
        self.dropped += 1;
        Some((from_urgent, entry))
    }

    /// Up to `n` reports from the head (priority lane first) as `(seq, encoded report)`,
    /// without removing them.
    pub fn peek_batch(&self, n: usize) -> Vec<(u64, Vec<u8>)> {
        self.urgent
            .iter()
            .chain(&self.normal)
            .take(n)
            .map(|e| (e.seq, e.bytes.clone()))
            .collect()
    }

    /// Remove the reports with these `seq`s (acknowledged, or rejected for good) and
    /// return how many were present. Unknown `seq`s are ignored.
    pub fn ack(&mut self, seqs: &[u64]) -> Result<usize, QueueError> {
        let gone: BTreeSet<u64> = seqs.iter().copied().collect();
        let before = self.len();
        self.urgent.retain(|e| !gone.contains(&e.seq));
        self.normal.retain(|e| !gone.contains(&e.seq));
        let removed = before - self.len();
        if removed > 0 {
            self.persist()?;
        }
        Ok(removed)
    }

    /// Write the snapshot now (every change already does; this is for shutdown).
    pub fn flush(&mut self) -> Result<(), QueueError> {
        self.persist()
    }

    fn encode(&self) -> Vec<u8> {
        let entries = self.urgent.iter().chain(&self.normal);
        let size: usize =
            HEADER_LEN + CHECKSUM_LEN + entries.clone().map(|e| 12 + e.bytes.len()).sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.next_seq.to_le_bytes());
        out.extend_from_slice(&self.dropped.to_le_bytes());
        out.extend_from_slice(&(self.urgent.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.normal.len() as u32).to_le_bytes());
        for e in entries {
            out.extend_from_slice(&e.seq.to_le_bytes());
            out.extend_from_slice(&(e.bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&e.bytes);
        }
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        out
    }

    fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(format!("{} bytes is too short", bytes.len()));
        }
        let (content, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if blake3::hash(content).as_bytes() != checksum {
            return Err("checksum mismatch".into());
        }
        if &content[..8] != MAGIC {
            return Err("unknown format (bad magic)".into());
        }
        let mut r = Reader(&content[8..]);
        let next_seq = r.u64()?;
        let dropped = r.u64()?;
        let urgent = r.u32()? as usize;
        let normal = r.u32()? as usize;
        let mut lanes = [VecDeque::new(), VecDeque::new()];
        let mut last_seq = [0u64; 2];
        for (lane, count) in [(0, urgent), (1, normal)] {
            for _ in 0..count {
                let seq = r.u64()?;
                let len = r.u32()? as usize;
                if len > MAX_CHALLENGE_RESPONSE_BYTES {
                    return Err(format!("entry of {len} bytes exceeds the report limit"));
                }
                if seq >= next_seq || seq <= last_seq[lane] {
                    return Err(format!("entry seq {seq} out of order"));
                }
                last_seq[lane] = seq;
                let bytes = r.take(len)?.to_vec();
                lanes[lane].push_back(Entry { seq, bytes });
            }
        }
        if !r.0.is_empty() {
            return Err(format!("{} trailing bytes", r.0.len()));
        }
        let [u, n] = lanes;
        self.urgent = u;
        self.normal = n;
        self.next_seq = next_seq;
        self.dropped = dropped;
        Ok(())
    }

    fn persist(&self) -> Result<(), QueueError> {
        let tmp = self.dir.join(TMP_FILE);
        let path = self.file_path();
        let bytes = self.encode();
        let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(&bytes).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}
