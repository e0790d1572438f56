//! What the rewarder needs of a verifier's batch, read in one pass.
//!
//! A batch for a million devices holds millions of verdicts with their evidence (some
//! 600 MiB encoded). Capacity rewards need only, per device and kind of work: the
//! challenges judged and passed, whether a consumer job was judged wrong, the
//! reputation score and the capacity offered. [`WorkSummary::read`] streams the batch
//! and keeps exactly that (about 60 bytes a device), hashing the bytes on the way for
//! the manifest's inputs commitment.

use std::io::Read;

use borsh::BorshDeserialize;
use cairn_core::{Epoch, Hash, Height, KeyId};
use cairn_verify::verdict::{BATCH_VERSION, Capacity, Standing, Subject, Verdict};
use cairn_verify::{Status, VerdictBatch, WorkKind};

use crate::capacity::PPM;

/// One device's work of one kind in the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceWork {
    pub device: KeyId,
    pub kind: WorkKind,
    /// Challenge slots judged, and of them passed.
    pub judged: u32,
    pub passed: u32,
    /// A consumer job of the device was judged wrong.
    pub bad_job: bool,
    /// Reputation in ppm (1.0 when never audited); `None` when disqualified.
    pub score_ppm: Option<u32>,
    /// Bytes held (storage) or the claimed class (compute).
    pub capacity: u64,
}

/// A batch reduced to [`DeviceWork`] per (device, kind) that registered capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkSummary {
    pub epoch: Epoch,
    /// BLAKE3 of the batch's canonical bytes.
    pub batch_hash: Hash,
    pub verdicts: u64,
    /// Sorted by (device, kind).
    pub work: Vec<DeviceWork>,
}

/// Why a batch could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("verdict batch: {0}")]
    Io(#[from] std::io::Error),
    #[error("verdict batch: version {0} is not the supported {BATCH_VERSION}")]
    Version(u16),
    #[error("verdict batch: larger than {0} bytes")]
    TooLarge(u64),
    #[error("verdict batch: bytes after the end of the batch")]
    Trailing,
}

#[derive(Default)]
struct Builder {
    /// (device, kind) → (judged, passed, bad job), in the order seen.
    tallies: Vec<(KeyId, WorkKind, u32, u32, bool)>,
    scores: Vec<(KeyId, WorkKind, Option<u32>)>,
    capacity: Vec<(KeyId, WorkKind, u64)>,
    verdicts: u64,
}

impl Builder {
    fn verdict(&mut self, v: &Verdict) {
        self.verdicts += 1;
        let same = self
            .tallies
            .last()
            .is_some_and(|t| t.0 == v.device && t.1 == v.kind);
        if !same {
            self.tallies.push((v.device, v.kind, 0, 0, false));
        }
        let t = self.tallies.last_mut().expect("pushed");
        match v.subject {
            Subject::Challenge | Subject::Epoch => {
                t.2 = t.2.saturating_add(1);
                t.3 = t.3.saturating_add(u32::from(v.is_valid()));
            }
            Subject::Job => t.4 |= !v.is_valid(),
        }
    }

    fn standing(&mut self, s: &Standing) {
        let r = &s.reputation;
        let score = (r.status != Status::Disqualified).then(|| r.score_ppm().min(1_000_000) as u32);
        self.scores.push((s.device, s.kind, score));
    }

    fn capacity(&mut self, c: &Capacity) {
        self.capacity.push((c.device, c.kind, c.amount));
    }

    fn finish(mut self, epoch: Epoch, batch_hash: Hash) -> WorkSummary {
        // The verifier writes every list sorted; anything else is sorted here (stably)
        // and its repeats merged, so the summary never depends on the order.
        if !self.tallies.is_sorted_by_key(|t| (t.0, t.1)) {
            self.tallies.sort_by_key(|t| (t.0, t.1));
        }
        self.tallies.dedup_by(|b, a| {
            let same = (a.0, a.1) == (b.0, b.1);
            if same {
                a.2 = a.2.saturating_add(b.2);
                a.3 = a.3.saturating_add(b.3);
                a.4 |= b.4;
            }
            same
        });
        if !self.scores.is_sorted_by_key(|s| (s.0, s.1)) {
            self.scores.sort_by_key(|s| (s.0, s.1));
        }
        if !self.capacity.is_sorted_by_key(|c| (c.0, c.1)) {
            self.capacity.sort_by_key(|c| (c.0, c.1));
        }
        // The first capacity record of a (device, kind) counts, as does its first standing.
        self.capacity.dedup_by_key(|c| (c.0, c.1));
        self.scores.dedup_by_key(|s| (s.0, s.1));
        let (mut ti, mut si) = (0, 0);
        let mut work = Vec::with_capacity(self.capacity.len());
        for (device, kind, capacity) in self.capacity {
            let key = (device, kind);
            while ti < self.tallies.len() && (self.tallies[ti].0, self.tallies[ti].1) < key {
                ti += 1;
            }
            while si < self.scores.len() && (self.scores[si].0, self.scores[si].1) < key {
                si += 1;
            }
            let (judged, passed, bad_job) = match self.tallies.get(ti) {
                Some(t) if (t.0, t.1) == key => (t.2, t.3, t.4),
                _ => (0, 0, false),
            };
            let score_ppm = match self.scores.get(si) {
                Some(s) if (s.0, s.1) == key => s.2,
                _ => Some(PPM as u32),
            };
            work.push(DeviceWork {
                device,
                kind,
                judged,
                passed,
                bad_job,
                score_ppm,
                capacity,
            });
        }
        WorkSummary {
            epoch,
            batch_hash,
            verdicts: self.verdicts,
            work,
        }
    }
}

/// Hashes and counts what passes through, refusing more than `limit` bytes.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(format!(
                "larger than {} bytes",
                self.limit
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl WorkSummary {
    /// The summary of a batch in memory.
    pub fn of(batch: &VerdictBatch) -> WorkSummary {
        let mut b = Builder::default();
        batch.verdicts.iter().for_each(|v| b.verdict(v));
        batch.standings.iter().for_each(|s| b.standing(s));
        batch.capacity.iter().for_each(|c| b.capacity(c));
        b.finish(batch.epoch, Hash::of(&cairn_core::codec::encode(batch)))
    }

    /// Stream a batch's canonical encoding (at most `limit` bytes), keeping only the
    /// summary. Gives the same summary and hash as decoding it whole and calling
    /// [`WorkSummary::of`].
    pub fn read(reader: impl Read, limit: u64) -> Result<WorkSummary, SummaryError> {
        // Hash below the buffer, so BLAKE3 sees megabyte reads rather than Borsh's
        // field-sized ones.
        let mut r = std::io::BufReader::with_capacity(
            1 << 20,
            Hashing {
                inner: reader,
                hasher: blake3::Hasher::new(),
                read: 0,
                limit,
            },
        );
        let over = |e: std::io::Error, r: &std::io::BufReader<Hashing<_>>| {
            if r.get_ref().read > limit {
                SummaryError::TooLarge(limit)
            } else {
                SummaryError::Io(e)
            }
        };
        let mut b = Builder::default();
        let epoch = (|| -> std::io::Result<Epoch> {
            let version = u16::deserialize_reader(&mut r)?;
            if version != BATCH_VERSION {
                return Err(std::io::Error::other(SummaryError::Version(version)));
            }
            let epoch = Epoch::deserialize_reader(&mut r)?;
            Height::deserialize_reader(&mut r)?;
            for _ in 0..3 {
                Hash::deserialize_reader(&mut r)?;
            }
            u64::deserialize_reader(&mut r)?;
            for _ in 0..u32::deserialize_reader(&mut r)? {
                b.verdict(&Verdict::deserialize_reader(&mut r)?);
            }
            for _ in 0..u32::deserialize_reader(&mut r)? {
                b.standing(&Standing::deserialize_reader(&mut r)?);
            }
            for _ in 0..u32::deserialize_reader(&mut r)? {
                b.capacity(&Capacity::deserialize_reader(&mut r)?);
            }
            Ok(epoch)
        })()
        .map_err(|e| match e.downcast::<SummaryError>() {
            Ok(s) => s,
            Err(e) => over(e, &r),
        })?;
        let mut byte = [0u8; 1];
        if r.read(&mut byte).map_err(|e| over(e, &r))? != 0 {
            return Err(SummaryError::Trailing);
        }
        Ok(b.finish(epoch, Hash(*r.get_ref().hasher.finalize().as_bytes())))
    }

    /// Nothing judged in `epoch` (no verifier runs beside this rewarder): the summary
    /// of an empty batch.
    pub fn empty(epoch: Epoch) -> WorkSummary {
        WorkSummary::of(&VerdictBatch {
            version: BATCH_VERSION,
            epoch,
            state_height: Height(0),
            entropy: Hash::ZERO,
            params_hash: Hash::ZERO,
            inputs_root: Hash::ZERO,
            inputs: 0,
            verdicts: Vec::new(),
            standings: Vec::new(),
            capacity: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::Keypair;
    use cairn_verify::Reputation;
    use cairn_verify::verdict::{Outcome, ReasonCode};

    use super::*;

    fn batch() -> VerdictBatch {
        let mut b = VerdictBatch {
            version: BATCH_VERSION,
            epoch: Epoch(3),
            state_height: Height(9),
            entropy: Hash::of(b"e"),
            params_hash: Hash::of(b"p"),
            inputs_root: Hash::of(b"i"),
            inputs: 4,
            verdicts: vec![],
            standings: vec![],
            capacity: vec![],
        };
        let keys: Vec<KeyId> = (0..4u8)
            .map(|i| Keypair::from_seed(&[i; 32]).public().id())
            .collect();
        for (i, k) in keys.iter().enumerate() {
            for j in 0..3u8 {
                b.verdicts.push(Verdict {
                    device: *k,
                    epoch: Epoch(3),
                    kind: WorkKind::Storage,
                    subject: if j == 2 && i == 1 {
                        Subject::Job
                    } else {
                        Subject::Challenge
                    },
                    subject_id: Hash::of(&[i as u8, j]),
                    outcome: if (i + j as usize).is_multiple_of(3) {
                        Outcome::Invalid(ReasonCode::Timeout)
                    } else {
                        Outcome::Valid
                    },
                    evidence: vec![Hash::of(b"x")],
                    measured: vec![],
                    score_ppm: None,
                    detail: String::new(),
                });
            }
            if i != 2 {
                b.standings.push(Standing {
                    device: *k,
                    kind: WorkKind::Storage,
                    reputation: Reputation {
                        alpha: 3_000_000,
                        beta: 1_000_000,
                        audits: 4,
                        status: if i == 3 {
                            Status::Disqualified
                        } else {
                            Status::Good
                        },
                        disqualified_in: None,
                    },
                });
            }
            b.capacity.push(Capacity {
                device: *k,
                kind: WorkKind::Storage,
                amount: 1_000 * (i as u64 + 1),
            });
        }
        b.verdicts
            .sort_by_key(|v| (v.device, v.kind, v.subject, v.subject_id));
        b.standings.sort_by_key(|s| (s.device, s.kind));
        b.capacity.sort_by_key(|c| (c.device, c.kind));
        b
    }

    /// Streaming gives what decoding whole gives, hash included; the fields land where
    /// the batch's own encoding puts them.
    #[test]
    fn streamed_equals_whole() {
        let b = batch();
        let bytes = cairn_core::codec::encode(&b);
        let streamed = WorkSummary::read(&bytes[..], 1 << 20).unwrap();
        let whole = WorkSummary::of(&b);
        assert_eq!(streamed, whole);
        assert_eq!(streamed.batch_hash, Hash::of(&bytes));
        assert_eq!(streamed.verdicts, 12);
        assert_eq!(streamed.work.len(), 4);
        for (w, v) in streamed.work.iter().zip(b.verdicts.chunks(3)) {
            let challenges: Vec<_> = v
                .iter()
                .filter(|v| v.subject == Subject::Challenge)
                .collect();
            assert_eq!(w.judged as usize, challenges.len());
            assert_eq!(
                w.passed as usize,
                challenges.iter().filter(|v| v.is_valid()).count()
            );
            assert_eq!(
                w.bad_job,
                v.iter().any(|v| v.subject == Subject::Job && !v.is_valid())
            );
        }
        // No standing: never audited, full score; disqualified: none.
        let scores: Vec<Option<u32>> = streamed.work.iter().map(|w| w.score_ppm).collect();
        assert_eq!(scores.iter().filter(|s| s.is_none()).count(), 1);
        assert_eq!(scores.iter().filter(|s| **s == Some(1_000_000)).count(), 1);
        assert_eq!(scores.iter().filter(|s| **s == Some(750_000)).count(), 2);

        // The order of the lists does not matter.
        let mut shuffled = b.clone();
        shuffled.verdicts.reverse();
        shuffled.standings.reverse();
        shuffled.capacity.reverse();
        let again = WorkSummary::of(&shuffled);
        assert_eq!(again.work, whole.work);
    }

    #[test]
    fn bad_batches_are_refused() {
        let bytes = cairn_core::codec::encode(&batch());
        assert!(matches!(
            WorkSummary::read(&bytes[..], 100),
            Err(SummaryError::TooLarge(100))
        ));
        assert!(matches!(
            WorkSummary::read(&bytes[..bytes.len() - 1], 1 << 20),
            Err(SummaryError::Io(_))
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            WorkSummary::read(&long[..], 1 << 20),
            Err(SummaryError::Trailing)
        ));
        let mut old = bytes;
        old[0] = 1;
        assert!(matches!(
            WorkSummary::read(&old[..], 1 << 20),
            Err(SummaryError::Version(1))
        ));
    }
}
