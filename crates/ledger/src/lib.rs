//! Cairn's ledger: a pure, deterministic state machine.
//!
//! [`apply`] takes the state, the block's context and a signed transaction and returns a
//! [`Receipt`] or a typed [`TxError`]; [`apply_block`] applies a block's transactions and
//! returns the new state root. There is no I/O, no clock (time comes from the block), no
//! floating point, and no unordered iteration: the same genesis and blocks always give the
//! same state root on every machine. The root is a sparse Merkle tree over every state
//! object ([`smt`]), so any account or device can be proven against it.
//!
//! Block production, storage and networking live elsewhere; this crate names no engine.
#![deny(clippy::float_arithmetic)]

pub mod error;
pub mod events;
pub mod exec;
pub mod faults;
pub mod genesis;
pub mod invariants;
pub mod params;
pub mod smt;
pub mod snapshot;
pub mod state;
pub mod tx;

pub use error::TxError;
pub use events::Event;
pub use exec::{
    BlockContext, BlockError, BlockOutcome, BuiltBlock, Receipt, SigCheck, apply, apply_block,
    apply_block_with, apply_with, build_block, credits_for, effective_price, emission_cap,
    emission_for_epoch, price_at_tip, tokens_for,
};
pub use genesis::Genesis;
pub use invariants::check_invariants;
pub use params::{ParamId, Params};
pub use state::State;
pub use tx::{SignedTx, Transaction, TxKind};
