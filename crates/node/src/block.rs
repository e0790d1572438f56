//! The block: what consensus orders and every validator re-executes.
//!
//! A block names its parent by digest, carries its height, the consensus context it was
//! proposed in (so a validator that missed the proposal can still check it), the proposer's
//! timestamp, the transactions, and the state root after applying them. Its digest is
//! BLAKE3 of its canonical (Borsh) encoding, so the digest commits to every field.
//!
//! Validity (checked by [`execute`] and by the chain adapter):
//! - the height follows the parent's, the parent digest matches;
//! - the time is not before the parent's (and not too far ahead of the verifier's clock,
//!   which the adapter checks because the state machine never reads a clock);
//! - at most [`MAX_BLOCK_TXS`] transactions and [`MAX_BLOCK_BYTES`] bytes;
//! - **every** transaction applies: a proposer leaves failing transactions out, so a block
//!   cannot carry free spam;
//! - the post-state root equals the root the verifier computes.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::Canonical;
use cairn_core::{Hash, Height, PublicKey};
use cairn_ledger::exec::{BlockContext, BlockError, SigCheck};
use cairn_ledger::{Receipt, SignedTx, State, TxError};
use serde::{Deserialize, Serialize};

/// Most transactions in one block.
pub const MAX_BLOCK_TXS: usize = 20_000;
/// Largest encoded block.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;

/// The consensus round a block was proposed in: the engine's context, in Cairn's types.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ConsensusMeta {
    pub epoch: u64,
    pub view: u64,
    /// The view of the parent block (views skip where rounds were nullified).
    pub parent_view: u64,
    /// The validator that proposed the block.
    pub leader: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    pub parent: Hash,
    pub height: Height,
    pub consensus: ConsensusMeta,
    /// Proposer's time, Unix milliseconds.
    pub time_ms: u64,
    pub txs: Vec<SignedTx>,
    /// State root after applying this block.
    pub state_root: Hash,
}

impl Canonical for Block {
    const NAME: &'static str = "block";
    const MAX_ENCODED_LEN: usize = MAX_BLOCK_BYTES;
}

impl Block {
    /// The block every chain starts from: height 0, the genesis state's root and time.
    pub fn genesis(state: &State) -> Block {
        let leader = state
            .authorities
            .validators
            .first()
            .map(|(k, _)| *k)
            .expect("a genesis state has at least one validator");
        Block {
            parent: Hash::ZERO,
            height: Height(0),
            consensus: ConsensusMeta {
                epoch: 0,
                view: 0,
                parent_view: 0,
                leader,
            },
            time_ms: state.time_ms,
            txs: Vec::new(),
            state_root: state.root(),
        }
    }

    pub fn digest(&self) -> Hash {
        self.hash()
    }

    pub fn ledger_context(&self) -> BlockContext {
        BlockContext {
            height: self.height,
            time_ms: self.time_ms,
        }
    }
}

/// The id of a transaction: BLAKE3 of the canonical encoding of the signed transaction.
pub fn tx_hash(tx: &SignedTx) -> Hash {
    tx.hash()
}

/// Why a block is invalid on top of its parent. Permanent: the same block and parent
/// always give the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBlock {
    #[error("block names parent {got}, expected {expected}")]
    WrongParent { expected: Hash, got: Hash },
    #[error(transparent)]
    Context(#[from] BlockError),
    #[error("block carries {0} transactions, more than {MAX_BLOCK_TXS}")]
    TooManyTxs(usize),
    #[error("transaction {index} ({hash}) fails: {error}")]
    TxFails {
        index: usize,
        hash: Hash,
        error: TxError,
    },
    #[error("block claims state root {claimed}, execution gives {computed}")]
    WrongRoot { claimed: Hash, computed: Hash },
}

/// Re-execute `block` on `parent_state` (the state after its parent `parent_digest`) and
/// return the post-state and the receipts, or why the block is invalid. `sig` says which
/// transaction signatures are already known good.
pub fn execute(
    parent_state: &State,
    parent_digest: &Hash,
    block: &Block,
    sig: impl Fn(&SignedTx) -> SigCheck,
) -> Result<(State, Vec<Receipt>), InvalidBlock> {
    if block.parent != *parent_digest {
        return Err(InvalidBlock::WrongParent {
            expected: *parent_digest,
            got: block.parent,
        });
    }
    if block.txs.len() > MAX_BLOCK_TXS {
        return Err(InvalidBlock::TooManyTxs(block.txs.len()));
    }
    let mut state = parent_state.clone();
    let outcome =
        cairn_ledger::exec::apply_block_with(&mut state, &block.ledger_context(), &block.txs, sig)?;
    let mut receipts = Vec::with_capacity(outcome.results.len());
    for (index, result) in outcome.results.into_iter().enumerate() {
        match result {
            Ok(receipt) => receipts.push(receipt),
            Err(error) => {
                return Err(InvalidBlock::TxFails {
                    index,
                    hash: tx_hash(&block.txs[index]),
                    error,
                });
            }
        }
    }
    if outcome.root != block.state_root {
        return Err(InvalidBlock::WrongRoot {
            claimed: block.state_root,
            computed: outcome.root,
        });
    }
    Ok((state, receipts))
}

/// A block a proposer built, with the post-state and the candidates it had to leave out.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub block: Block,
    pub state: State,
    pub rejected: Vec<(SignedTx, TxError)>,
}

/// Build a block on `parent_state` from `candidates` (in priority order), keeping those
/// that apply, up to the block limits.
pub fn propose(
    parent_state: &State,
    parent_digest: Hash,
    consensus: ConsensusMeta,
    time_ms: u64,
    candidates: Vec<SignedTx>,
    sig: impl Fn(&SignedTx) -> SigCheck,
) -> Result<Proposal, BlockError> {
    let mut state = parent_state.clone();
    let height = Height(parent_state.height.0 + 1);
    let ctx = BlockContext { height, time_ms };
    let mut candidates = candidates;
    candidates.truncate(MAX_BLOCK_TXS);
    let built = cairn_ledger::exec::build_block(&mut state, &ctx, candidates, sig)?;
    Ok(Proposal {
        block: Block {
            parent: parent_digest,
            height,
            consensus,
            time_ms,
            txs: built.included,
            state_root: built.root,
        },
        state,
        rejected: built.rejected,
    })
}
