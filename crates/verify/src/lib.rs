//! Cairn's verifiers: pay only for work that really happened.
//!
//! - [`storage`]: content commitments, replicas encoded per device, chunk proofs;
//! - [`compute`]: benchmark products checked by Freivalds' algorithm, class timing;
//! - [`challenge`]: seeds from finalized blocks, secret schedules, challenge construction;
//! - [`reputation`]: the decaying Beta score with probation and disqualification;
//! - [`verdict`]: verdicts, reason codes, the per-epoch batch;
//! - [`epoch`]: the pure epoch verifier over report-log records and chain state.
//!
//! Everything here is deterministic: no clock, no randomness, no floats, ordered maps.

pub mod challenge;
pub mod compute;
pub mod epoch;
pub mod jobs;
pub mod reputation;
pub mod storage;
pub mod verdict;

pub use epoch::{ChainView, EpochInput, EpochOutput, Registry, VerifierParams, run_epoch};
pub use reputation::{Reputation, Status};
pub use verdict::{Capacity, Outcome, ReasonCode, Standing, Verdict, VerdictBatch, WorkKind};
