//! The report log: an append-only sequence of segments per writer in an object store.
//!
//! Layout under the store's root, one directory per writer (an ingest node):
//!
//! ```text
//! reports/<writer>/seg-<seq:016>-<first_ms:013>-<last_ms:013>-<count:010>.pb   sealed segment
//! reports/<writer>/open-<seq:016>/part-<n:010>.pb                              parts of the open segment
//! ```
//!
//! Every object is a run of length-delimited (varint-prefixed) `cairn.v1.LogRecord`s.
//! Object stores have no append, so the writer group-commits: each commit is one immutable
//! *part*, and a report is acknowledged only after the PUT of its part returned (fsynced on
//! a local directory). A segment is rolled by size or age: its parts are concatenated into
//! one sealed object whose name carries its receive-time range and record count, then the
//! parts are deleted. A crash between those steps is repaired when the writer next opens.
//!
//! Readers address a record by `(writer, segment, index)`. Sealing keeps the order of
//! records, so a position taken while a segment was open stays valid after it is sealed.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use cairn_proto::{LogRecord, ReportKind};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::store::LogStore;

/// Largest single record accepted when decoding: the largest report (a challenge
/// response) plus room for the grant, signatures and an issued challenge.
const MAX_RECORD_BYTES: usize = cairn_proto::MAX_CHALLENGE_RESPONSE_BYTES + 64 * 1024;

/// Why the log could not be written or read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    #[error("report log store: {0}")]
    Store(String),
    #[error("report log object {object} is corrupt: {message}")]
    Corrupt { object: String, message: String },
    #[error("report log writer has stopped: {0}")]
    Stopped(String),
    #[error("invalid writer id {0:?}: use 1 to 64 of [a-z0-9-]")]
    WriterId(String),
}

fn store_err(e: object_store::Error) -> LogError {
    LogError::Store(e.to_string())
}

/// Metadata of a sealed segment, parsed from its object name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SealedMeta {
    seq: u64,
    first_ms: u64,
    last_ms: u64,
    count: u64,
}

fn sealed_name(m: &SealedMeta) -> String {
    format!(
        "seg-{:016}-{:013}-{:013}-{:010}.pb",
        m.seq, m.first_ms, m.last_ms, m.count
    )
}

fn parse_sealed(name: &str) -> Option<SealedMeta> {
    let rest = name.strip_prefix("seg-")?.strip_suffix(".pb")?;
    let mut it = rest.split('-').map(|p| p.parse::<u64>().ok());
    let m = SealedMeta {
        seq: it.next()??,
        first_ms: it.next()??,
        last_ms: it.next()??,
        count: it.next()??,
    };
    it.next().is_none().then_some(m)
}

fn open_dir_name(seq: u64) -> String {
    format!("open-{seq:016}")
}

fn parse_open_dir(name: &str) -> Option<u64> {
    name.strip_prefix("open-")?.parse().ok()
}

fn part_name(n: u64) -> String {
    format!("part-{n:010}.pb")
}

fn parse_part(name: &str) -> Option<u64> {
    name.strip_prefix("part-")?
        .strip_suffix(".pb")?
        .parse()
        .ok()
}

fn valid_writer_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Decode every record of one object.
pub fn decode_records(object: &str, mut bytes: &[u8]) -> Result<Vec<LogRecord>, LogError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let corrupt = |message: String| LogError::Corrupt {
            object: object.to_string(),
            message,
        };
        let len = prost::encoding::decode_varint(&mut bytes)
            .map_err(|e| corrupt(format!("record {}: {e}", out.len())))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_RECORD_BYTES || len > bytes.len() {
            return Err(corrupt(format!(
                "record {} claims {len} bytes, {} remain",
                out.len(),
                bytes.len()
            )));
        }
        let (record, rest) = bytes.split_at(len);
        out.push(
            LogRecord::decode(record).map_err(|e| corrupt(format!("record {}: {e}", out.len())))?,
        );
        bytes = rest;
    }
    Ok(out)
}

/// One writer's directory listing.
#[derive(Debug, Default)]
struct Listing {
    sealed: BTreeMap<u64, SealedMeta>,
    open: BTreeMap<u64, Path>,
}

async fn list_writer(store: &dyn ObjectStore, dir: &Path) -> Result<Listing, LogError> {
    let listed = store
        .list_with_delimiter(Some(dir))
        .await
        .map_err(store_err)?;
    let mut out = Listing::default();
    for object in listed.objects {
        if let Some(meta) = object.location.filename().and_then(parse_sealed) {
            out.sealed.insert(meta.seq, meta);
        }
    }
    for prefix in listed.common_prefixes {
        if let Some(seq) = prefix.filename().and_then(parse_open_dir) {
            out.open.insert(seq, prefix);
        }
    }
    Ok(out)
}

/// The parts of an open segment, in order.
async fn list_parts(store: &dyn ObjectStore, dir: &Path) -> Result<Vec<(u64, Path)>, LogError> {
    let objects: Vec<_> = store
        .list(Some(dir))
        .try_collect()
        .await
        .map_err(store_err)?;
    let mut parts: Vec<(u64, Path)> = objects
        .into_iter()
        .filter_map(|o| {
            let n = o.location.filename().and_then(parse_part)?;
            Some((n, o.location))
        })
        .collect();
    parts.sort_by_key(|(n, _)| *n);
    Ok(parts)
}

async fn get_bytes(store: &dyn ObjectStore, path: &Path) -> Result<Bytes, object_store::Error> {
    store.get(path).await?.bytes().await
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Seal the open segment once it holds this many bytes.
    pub max_segment_bytes: usize,
    /// Seal the open segment once it is this old.
    pub max_segment_age: Duration,
    /// Most records in one group commit (one part object).
    pub max_commit_records: usize,
    /// Appends waiting for the writer; further callers wait for room (backpressure).
    pub queue_depth: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_segment_bytes: 64 * 1024 * 1024,
            max_segment_age: Duration::from_secs(60),
            max_commit_records: 8192,
            queue_depth: 4096,
        }
    }
}

struct Append {
    records: Vec<LogRecord>,
    done: oneshot::Sender<Result<(), LogError>>,
}

/// Appends records durably; cloneable handle to one writer task.
#[derive(Debug, Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Append>,
    writer: String,
}

/// The writer task and a way to stop it cleanly.
#[derive(Debug)]
pub struct WriterTask {
    handle: JoinHandle<Result<(), LogError>>,
}

impl WriterTask {
    /// Stop the writer at once without sealing, as a crash would (tests and benchmarks).
    pub fn abort(self) {
        self.handle.abort();
    }

    /// Wait until every handle is dropped and the open segment is sealed.
    pub async fn join(self) -> Result<(), LogError> {
        self.handle
            .await
            .map_err(|e| LogError::Stopped(e.to_string()))?
    }
}

impl LogWriter {
    /// Open writer `writer` on `store`: seal what a previous run left open, then start a
    /// new segment after the last one. Returns the handle and the task (join it after
    /// dropping every handle to seal the last segment).
    pub async fn open(
        store: LogStore,
        writer: &str,
        config: WriterConfig,
    ) -> Result<(LogWriter, WriterTask), LogError> {
        if !valid_writer_id(writer) {
            return Err(LogError::WriterId(writer.to_string()));
        }
        let dir = store.root.clone().join(writer);
        let listing = list_writer(store.store.as_ref(), &dir).await?;
        for (&seq, open_dir) in &listing.open {
            recover_open(
                &store,
                &dir,
                seq,
                open_dir,
                listing.sealed.contains_key(&seq),
            )
            .await?;
        }
        let next_seq = listing
            .sealed
            .keys()
            .chain(listing.open.keys())
            .max()
            .map_or(0, |s| s + 1);
        let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
        let task = Task {
            store,
            dir,
            config,
            next_seq,
            open: None,
        };
        let handle = tokio::spawn(task.run(rx));
        Ok((
            LogWriter {
                tx,
                writer: writer.to_string(),
            },
            WriterTask { handle },
        ))
    }

    /// This writer's id.
    pub fn id(&self) -> &str {
        &self.writer
    }

    /// Append `records`; resolves once they are durable (or with the reason they are not,
    /// in which case none of them counts as written). Waits while the writer is busy.
    pub async fn append(&self, records: Vec<LogRecord>) -> Result<(), LogError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Append { records, done })
            .await
            .map_err(|_| LogError::Stopped("closed".into()))?;
        wait.await
            .map_err(|_| LogError::Stopped("dropped an append".into()))?
    }
}

/// Finish a segment a previous run left open: concatenate its parts into the sealed object
/// unless that already exists, then delete the parts.
async fn recover_open(
    store: &LogStore,
    dir: &Path,
    seq: u64,
    open_dir: &Path,
    already_sealed: bool,
) -> Result<(), LogError> {
    let parts = list_parts(store.store.as_ref(), open_dir).await?;
    if !already_sealed && !parts.is_empty() {
        let mut buf = Vec::new();
        let mut meta = SealedMeta {
            seq,
            first_ms: u64::MAX,
            last_ms: 0,
            count: 0,
        };
        for (_, path) in &parts {
            let bytes = get_bytes(store.store.as_ref(), path)
                .await
                .map_err(store_err)?;
            for r in decode_records(path.as_ref(), &bytes)? {
                meta.first_ms = meta.first_ms.min(r.receive_time_ms);
                meta.last_ms = meta.last_ms.max(r.receive_time_ms);
                meta.count += 1;
            }
            buf.extend_from_slice(&bytes);
        }
        tracing::info!(
            segment = seq,
            parts = parts.len(),
            records = meta.count,
            "sealing a segment left open"
        );
        store
            .store
            .put(&dir.clone().join(sealed_name(&meta)), PutPayload::from(buf))
            .await
            .map_err(store_err)?;
    }
    for (_, path) in parts {
        delete_if_present(store.store.as_ref(), &path).await?;
    }
    Ok(())
}

async fn delete_if_present(store: &dyn ObjectStore, path: &Path) -> Result<(), LogError> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(store_err(e)),
    }
}

struct OpenSegment {
    seq: u64,
    parts: u64,
    buf: Vec<u8>,
    first_ms: u64,
    last_ms: u64,
    count: u64,
    opened_at: Instant,
}

struct Task {
    store: LogStore,
    dir: Path,
    config: WriterConfig,
    next_seq: u64,
    open: Option<OpenSegment>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Append>) -> Result<(), LogError> {
        loop {
            let deadline = self
                .open
                .as_ref()
                .map(|o| o.opened_at + self.config.max_segment_age);
            let first = tokio::select! {
                next = rx.recv() => next,
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.seal().await?;
                    continue;
                }
            };
            let Some(first) = first else {
                // Every handle is gone: seal what is open and stop.
                return self.seal().await;
            };
            let mut batch = vec![first];
            let mut records = batch[0].records.len();
            while records < self.config.max_commit_records {
                match rx.try_recv() {
                    Ok(next) => {
                        records += next.records.len();
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
            let result = self.commit(&batch).await;
            for append in batch {
                let _ = append.done.send(result.clone());
            }
            match result {
                Ok(()) => {}
                // A part whose fate is unknown could not be removed: writing on could store
                // twice what callers will retry. Stop; the next start repairs the segment.
                Err(e @ LogError::Stopped(_)) => return Err(e),
                Err(e) => tracing::error!(error = %e, "report log commit failed"),
            }
            let full = self
                .open
                .as_ref()
                .is_some_and(|o| o.buf.len() >= self.config.max_segment_bytes);
            if full {
                self.seal().await?;
            }
        }
    }

    /// Write one part holding every record of `batch`.
    async fn commit(&mut self, batch: &[Append]) -> Result<(), LogError> {
        let mut part = Vec::new();
        let mut first_ms = u64::MAX;
        let mut last_ms = 0;
        let mut count = 0u64;
        for append in batch {
            for r in &append.records {
                r.encode_length_delimited(&mut part)
                    .expect("a Vec grows as needed");
                first_ms = first_ms.min(r.receive_time_ms);
                last_ms = last_ms.max(r.receive_time_ms);
                count += 1;
            }
        }
        if count == 0 {
            return Ok(());
        }
        let open = self.open.get_or_insert_with(|| {
            let seq = self.next_seq;
            self.next_seq += 1;
            OpenSegment {
                seq,
                parts: 0,
                buf: Vec::new(),
                first_ms: u64::MAX,
                last_ms: 0,
                count: 0,
                opened_at: Instant::now(),
            }
        });
        let path = self
            .dir
            .clone()
            .join(open_dir_name(open.seq))
            .join(part_name(open.parts));
        if let Err(e) = self
            .store
            .store
            .put(&path, PutPayload::from(part.clone()))
            .await
        {
            // The PUT may or may not have landed; make sure it did not, or stop writing.
            if let Err(del) = delete_if_present(self.store.store.as_ref(), &path).await {
                return Err(LogError::Stopped(format!(
                    "commit failed ({e}) and its part could not be removed ({del})"
                )));
            }
            // Removed: the part number is free again, so readers see no gap.
            return Err(store_err(e));
        }
        open.parts += 1;
        open.buf.extend_from_slice(&part);
        open.first_ms = open.first_ms.min(first_ms);
        open.last_ms = open.last_ms.max(last_ms);
        open.count += count;
        Ok(())
    }

    /// Seal the open segment: one object with every record, then drop the parts.
    async fn seal(&mut self) -> Result<(), LogError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let meta = SealedMeta {
            seq: open.seq,
            first_ms: open.first_ms,
            last_ms: open.last_ms,
            count: open.count,
        };
        self.store
            .store
            .put(
                &self.dir.clone().join(sealed_name(&meta)),
                PutPayload::from(open.buf),
            )
            .await
            .map_err(store_err)?;
        let open_dir = self.dir.clone().join(open_dir_name(open.seq));
        for n in 0..open.parts {
            delete_if_present(
                self.store.store.as_ref(),
                &open_dir.clone().join(part_name(n)),
            )
            .await?;
        }
        tracing::debug!(
            segment = meta.seq,
            records = meta.count,
            "sealed a report log segment"
        );
        Ok(())
    }
}

/// Where a reader stands in one writer's stream: the next record to read is number
/// `record` of segment `segment`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    pub segment: u64,
    pub record: u64,
}

/// Where a reader stands in every writer's stream. Save it and resume from it later.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub writers: BTreeMap<String, Position>,
}

impl Cursor {
    /// Load a cursor saved with [`save`](Self::save); a missing file is the start.
    pub fn load(path: &std::path::Path) -> std::io::Result<Cursor> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursor::default()),
            Err(e) => Err(e),
        }
    }

    /// Save atomically and durably (temporary file, fsync, rename, directory fsync).
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(self).expect("a cursor serialises"))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            })?
            .sync_all()?;
        }
        Ok(())
    }
}

/// Which records a reader returns. Records outside the filter are passed over (the cursor
/// still moves past them).
#[derive(Debug, Clone, Default)]
pub struct ReadFilter {
    /// Earliest receive time, inclusive (Unix ms).
    pub from_ms: Option<u64>,
    /// Latest receive time, exclusive (Unix ms).
    pub to_ms: Option<u64>,
    /// Report kinds wanted; empty means all.
    pub kinds: Vec<ReportKind>,
}

impl ReadFilter {
    fn wants(&self, r: &LogRecord) -> bool {
        self.from_ms.is_none_or(|f| r.receive_time_ms >= f)
            && self.to_ms.is_none_or(|t| r.receive_time_ms < t)
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| *k as i32 == r.kind))
    }

    fn overlaps(&self, m: &SealedMeta) -> bool {
        self.from_ms.is_none_or(|f| m.last_ms >= f) && self.to_ms.is_none_or(|t| m.first_ms < t)
    }
}

/// A record and where it is.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub writer: String,
    pub position: Position,
    pub record: LogRecord,
}

/// Records of one segment held by the reader.
struct Loaded {
    writer: String,
    seq: u64,
    records: Vec<LogRecord>,
    /// For an open segment, how many parts `records` covers; `None` once sealed.
    parts_read: Option<usize>,
}

/// Reads the log in order from a cursor, filtered; call [`next_batch`](Self::next_batch)
/// until it returns nothing, save [`cursor`](Self::cursor), and resume from it later.
pub struct LogReader {
    store: LogStore,
    cursor: Cursor,
    filter: ReadFilter,
    loaded: Option<Loaded>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("store", &self.store)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl LogReader {
    pub fn new(store: LogStore, cursor: Cursor, filter: ReadFilter) -> Self {
        LogReader {
            store,
            cursor,
            filter,
            loaded: None,
        }
    }

    /// Where the reader stands: everything before it has been returned or passed over.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Up to `max` next records that pass the filter; empty when the reader has caught up.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<LogEntry>, LogError> {
        let mut out = Vec::new();
        let writers = self.writers().await?;
        for writer in writers {
            while out.len() < max {
                if !self.step(&writer, max - out.len(), &mut out).await? {
                    break;
                }
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Every writer in the store, in name order.
    async fn writers(&self) -> Result<Vec<String>, LogError> {
        let listed = self
            .store
            .store
            .list_with_delimiter(Some(&self.store.root))
            .await
            .map_err(store_err)?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .filter(|n| valid_writer_id(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Read on in `writer`'s stream; `false` when it has nothing more right now.
    async fn step(
        &mut self,
        writer: &str,
        max: usize,
        out: &mut Vec<LogEntry>,
    ) -> Result<bool, LogError> {
        let pos = self.cursor.writers.get(writer).copied().unwrap_or_default();
        // Serve from what is loaded if it is this writer's current segment.
        if let Some(loaded) = &self.loaded
            && loaded.writer == writer
            && loaded.seq == pos.segment
            && (pos.record as usize) < loaded.records.len()
        {
            let start = pos.record as usize;
            let end = loaded.records.len().min(start + max.max(1) * 4);
            let mut taken = 0;
            let mut next = pos;
            for (i, r) in loaded.records[start..end].iter().enumerate() {
                next.record = (start + i + 1) as u64;
                if self.filter.wants(r) {
                    out.push(LogEntry {
                        writer: writer.to_string(),
                        position: Position {
                            segment: pos.segment,
                            record: (start + i) as u64,
                        },
                        record: r.clone(),
                    });
                    taken += 1;
                    if taken == max {
                        break;
                    }
                }
            }
            self.cursor.writers.insert(writer.to_string(), next);
            return Ok(true);
        }
        // Otherwise find the segment at or after the position.
        let dir = self.store.root.clone().join(writer);
        let listing = list_writer(self.store.store.as_ref(), &dir).await?;
        let sealed = listing.sealed.range(pos.segment..).next().map(|(_, m)| *m);
        let open = listing
            .open
            .range(pos.segment..)
            .next()
            .map(|(s, p)| (*s, p.clone()));
        let target = match (sealed, open) {
            (Some(m), Some((o, _))) if m.seq <= o => Some((m.seq, true)),
            (_, Some((o, _))) => Some((o, false)),
            (Some(m), None) => Some((m.seq, true)),
            (None, None) => None,
        };
        let Some((seq, is_sealed)) = target else {
            return Ok(false);
        };
        let start = if seq == pos.segment { pos.record } else { 0 };
        if is_sealed {
            let meta = listing.sealed[&seq];
            if start >= meta.count || !self.filter.overlaps(&meta) {
                // Finished (or nothing wanted here): move to the next segment.
                self.advance_past(writer, seq);
                return Ok(true);
            }
            let path = dir.clone().join(sealed_name(&meta));
            let bytes = get_bytes(self.store.store.as_ref(), &path)
                .await
                .map_err(store_err)?;
            let records = decode_records(path.as_ref(), &bytes)?;
            if records.len() as u64 != meta.count {
                return Err(LogError::Corrupt {
                    object: path.to_string(),
                    message: format!(
                        "holds {} records, its name says {}",
                        records.len(),
                        meta.count
                    ),
                });
            }
            self.loaded = Some(Loaded {
                writer: writer.to_string(),
                seq,
                records,
                parts_read: None,
            });
            self.cursor.writers.insert(
                writer.to_string(),
                Position {
                    segment: seq,
                    record: start,
                },
            );
            return Ok(true);
        }
        // An open segment: read parts beyond those already loaded.
        let open_dir = dir.clone().join(open_dir_name(seq));
        let parts = list_parts(self.store.store.as_ref(), &open_dir).await?;
        let (mut records, mut parts_read) = match self.loaded.take() {
            Some(l) if l.writer == writer && l.seq == seq && l.parts_read.is_some() => {
                (l.records, l.parts_read.unwrap_or(0))
            }
            _ => (Vec::new(), 0),
        };
        for (n, path) in parts.iter().skip(parts_read) {
            if *n != parts_read as u64 {
                break; // a gap: that part's PUT is still in flight
            }
            match get_bytes(self.store.store.as_ref(), path).await {
                Ok(bytes) => {
                    records.extend(decode_records(path.as_ref(), &bytes)?);
                    parts_read += 1;
                }
                // Sealed and removed under us: the sealed object has the same records.
                Err(object_store::Error::NotFound { .. }) => {
                    self.loaded = None;
                    return Ok(true);
                }
                Err(e) => return Err(store_err(e)),
            }
        }
        self.cursor.writers.insert(
            writer.to_string(),
            Position {
                segment: seq,
                record: start,
            },
        );
        let has_more = (start as usize) < records.len();
        self.loaded = Some(Loaded {
            writer: writer.to_string(),
            seq,
            records,
            parts_read: Some(parts_read),
        });
        // Nothing new in the open segment means this writer's stream is read to its end.
        Ok(has_more)
    }

    fn advance_past(&mut self, writer: &str, seq: u64) {
        self.cursor.writers.insert(
            writer.to_string(),
            Position {
                segment: seq + 1,
                record: 0,
            },
        );
    }
}

/// Read every record of the log that passes `filter` (tests, tools, small logs).
pub async fn read_all(store: &LogStore, filter: ReadFilter) -> Result<Vec<LogEntry>, LogError> {
    let mut reader = LogReader::new(store.clone(), Cursor::default(), filter);
    let mut out = Vec::new();
    loop {
        let batch = reader.next_batch(4096).await?;
        if batch.is_empty() {
            return Ok(out);
        }
        out.extend(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_in_order() {
        let m = SealedMeta {
            seq: 42,
            first_ms: 1_700_000_000_000,
            last_ms: 1_700_000_060_000,
            count: 17,
        };
        assert_eq!(parse_sealed(&sealed_name(&m)), Some(m));
        assert_eq!(parse_open_dir(&open_dir_name(7)), Some(7));
        assert_eq!(parse_part(&part_name(9)), Some(9));
        assert!(part_name(9) < part_name(10));
        assert!(parse_sealed("seg-1-2-3.pb").is_none());
        assert!(parse_sealed("seg-1-2-3-4-5.pb").is_none());
    }

    #[test]
    fn corrupt_objects_are_named() {
        let err = decode_records("x", &[0xff, 0xff, 0xff]).unwrap_err();
        assert!(err.to_string().contains("x"), "{err}");
        let err = decode_records("y", &[10, 1, 2]).unwrap_err();
        assert!(err.to_string().contains("claims 10 bytes"), "{err}");
    }
}
