//! Applying transactions and blocks.
//!
//! [`apply`] runs a transaction on a copy of the state (O(1) to make: the maps are
//! persistent) and keeps the copy only if every check passed, so a rejected transaction
//! leaves the state — and its root — exactly as it was. Handlers can therefore check and
//! write in whatever order reads best.

mod accounts;
mod credits;
pub use credits::{USD_E8_PER_CREDIT, credits_for, effective_price, price_at_tip, tokens_for};
mod denylist;
mod devices;
mod faults;
mod governance;
mod penalties;
mod rewards;

use std::collections::BTreeSet;

use cairn_core::codec::Canonical;
use cairn_core::envelope::{SignedMessage, verify_detached};
use cairn_core::{Credits, Hash, Height, PublicKey, Tokens};
use serde::{Deserialize, Serialize};

use crate::error::TxError;
use crate::events::Event;
use crate::invariants::check_invariants;
use crate::params::ParamId;
use crate::state::State;
use crate::tx::{Fee, OracleSignature, SignedTx, TxKind};

pub use rewards::{emission_cap, emission_for_epoch};

/// What the block being built or applied says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockContext {
    pub height: Height,
    /// Block time, Unix milliseconds, from the header (never the local clock).
    pub time_ms: u64,
}

/// The result of an applied transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub tx_hash: Hash,
    pub sender: PublicKey,
    pub kind: String,
    pub fee: Fee,
    pub events: Vec<Event>,
}

/// Whether [`apply`] checks the sender's signature itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigCheck {
    /// Verify each transaction's signature (the default).
    Verify,
    /// The caller has already verified every signature of these exact transactions (for
    /// example with one batch verification over a block); only the network binding of the
    /// envelope is still checked here.
    AlreadyVerified,
}

/// Apply one transaction at `ctx`. On error the state is untouched.
pub fn apply(state: &mut State, ctx: &BlockContext, tx: &SignedTx) -> Result<Receipt, TxError> {
    apply_with(state, ctx, tx, SigCheck::Verify)
}

/// [`apply`] with an explicit signature policy.
pub fn apply_with(
    state: &mut State,
    ctx: &BlockContext,
    tx: &SignedTx,
    sig: SigCheck,
) -> Result<Receipt, TxError> {
    let mut next = state.clone();
    let receipt = execute(&mut next, ctx, tx, sig)?;
    *state = next;
    Ok(receipt)
}

/// Why a block cannot be applied at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block height {got} does not follow the applied height {applied}")]
    HeightGap { applied: Height, got: Height },
    #[error("block time {got} ms is before the previous block's {previous} ms")]
    TimeWentBack { previous: u64, got: u64 },
}

/// The outcome of a block: each transaction's result and the state root after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    pub results: Vec<Result<Receipt, TxError>>,
    pub root: Hash,
}

/// Apply a block's transactions in order, then end-of-block housekeeping, and return
/// the new state root. Rejected transactions change nothing; the chain layer decides
/// whether a block carrying them is acceptable.
pub fn apply_block(
    state: &mut State,
    ctx: &BlockContext,
    txs: &[SignedTx],
) -> Result<BlockOutcome, BlockError> {
    apply_block_with(state, ctx, txs, |_| SigCheck::Verify)
}

/// [`apply_block`] with a signature policy per transaction (a node skips the signatures it
/// has already verified, e.g. when the transaction entered its mempool).
pub fn apply_block_with(
    state: &mut State,
    ctx: &BlockContext,
    txs: &[SignedTx],
    sig: impl Fn(&SignedTx) -> SigCheck,
) -> Result<BlockOutcome, BlockError> {
    check_block_context(state, ctx)?;
    let results = txs
        .iter()
        .map(|tx| apply_with(state, ctx, tx, sig(tx)))
        .collect();
    finish_block(state, ctx);
    Ok(BlockOutcome {
        results,
        root: state.root(),
    })
}

/// A block built from candidate transactions: those that applied, those that did not (with
/// why), and the resulting root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBlock {
    pub included: Vec<SignedTx>,
    pub receipts: Vec<Receipt>,
    pub rejected: Vec<(SignedTx, TxError)>,
    pub root: Hash,
}

/// Build a block: apply candidates in order, keep the ones that succeed, drop the rest.
/// Applying the `included` list with [`apply_block`] on the same starting state gives the
/// same root, with every transaction succeeding.
pub fn build_block(
    state: &mut State,
    ctx: &BlockContext,
    candidates: impl IntoIterator<Item = SignedTx>,
    sig: impl Fn(&SignedTx) -> SigCheck,
) -> Result<BuiltBlock, BlockError> {
    check_block_context(state, ctx)?;
    let mut included = Vec::new();
    let mut receipts = Vec::new();
    let mut rejected = Vec::new();
    for tx in candidates {
        match apply_with(state, ctx, &tx, sig(&tx)) {
            Ok(receipt) => {
                receipts.push(receipt);
                included.push(tx);
            }
            Err(e) => rejected.push((tx, e)),
        }
    }
    finish_block(state, ctx);
    Ok(BuiltBlock {
        included,
        receipts,
        rejected,
        root: state.root(),
    })
}

fn check_block_context(state: &State, ctx: &BlockContext) -> Result<(), BlockError> {
    if Some(ctx.height) != state.height.checked_add(1) {
        return Err(BlockError::HeightGap {
            applied: state.height,
            got: ctx.height,
        });
    }
    if ctx.time_ms < state.time_ms {
        return Err(BlockError::TimeWentBack {
            previous: state.time_ms,
            got: ctx.time_ms,
        });
    }
    Ok(())
}

fn finish_block(state: &mut State, ctx: &BlockContext) {
    end_block(state, ctx);
    if cfg!(debug_assertions)
        && let Err(violation) = check_invariants(state)
    {
        panic!(
            "ledger invariant violated at height {}: {violation}",
            ctx.height
        );
    }
}

/// Housekeeping that belongs to the block, not to a transaction.
fn end_block(state: &mut State, ctx: &BlockContext) {
    // Spent receipts are remembered only until they could no longer be settled anyway.
    let expired: Vec<Hash> = state
        .spent_receipts
        .iter()
        .filter(|(_, expires_at)| **expires_at < ctx.height)
        .map(|(h, _)| *h)
        .collect();
    for h in expired {
        state.spent_receipts.remove(&h);
    }
    // The first block past one or more epochs' ends closes them.
    let open = state.epoch_at(ctx.time_ms);
    if open > state.epoch_at(state.time_ms) {
        state
            .epoch_closes
            .insert(ctx.height, cairn_core::Epoch(open.0 - 1));
    }
    state.height = ctx.height;
    state.time_ms = ctx.time_ms;
}

fn execute(
    state: &mut State,
    ctx: &BlockContext,
    tx: &SignedTx,
    sig: SigCheck,
) -> Result<Receipt, TxError> {
    let body = &tx.message;
    if body.network != state.network {
        return Err(TxError::WrongNetwork {
            expected: state.network.to_string(),
            got: body.network.to_string(),
        });
    }
    if sig == SigCheck::Verify {
        tx.verify(&state.network)?;
    }
    let sender = tx.signer;
    let expected = state.account(&sender).nonce;
    if body.nonce != expected {
        return Err(TxError::WrongNonce {
            expected,
            got: body.nonce,
        });
    }
    charge_fee(state, &sender, body.fee)?;
    let account = account_mut(state, &sender);
    account.nonce = account
        .nonce
        .checked_add(1)
        .ok_or(TxError::Overflow("nonce"))?;

    let mut events = vec![Event::FeeBurned {
        payer: sender,
        fee: body.fee,
    }];
    let mut cx = Exec {
        state,
        ctx,
        sender,
        events: &mut events,
    };
    match &body.kind {
        TxKind::Transfer { to, amount } => cx.transfer(to, *amount)?,
        TxKind::OnboardDevice {
            device,
            kind,
            maker,
            maker_signature,
            device_signature,
        } => cx.onboard(device, *kind, maker, maker_signature, device_signature)?,
        TxKind::AssertLocation { device, location } => cx.assert_location(device, *location)?,
        TxKind::Bond { device, amount } => cx.bond(device, *amount)?,
        TxKind::Unbond { device, amount } => cx.unbond(device, *amount)?,
        TxKind::WithdrawUnbonded { device } => cx.withdraw_unbonded(device)?,
        TxKind::SubmitPrice {
            usd_per_token_e8,
            observed_at_ms,
        } => cx.submit_price(*usd_per_token_e8, *observed_at_ms)?,
        TxKind::MintCredits { amount } => cx.mint_credits(*amount)?,
        TxKind::PayForService { receipt } => cx.pay_for_service(receipt)?,
        TxKind::SubmitManifest {
            manifest,
            signatures,
        } => cx.submit_manifest(manifest, signatures)?,
        TxKind::ClaimRewards { epoch, claims } => cx.claim_many(*epoch, claims)?,
        TxKind::AddDenylistEntry { entry, signatures } => {
            cx.add_denylist_entry(entry, signatures)?
        }
        TxKind::Appeal { entry, deposit } => cx.appeal(*entry, *deposit)?,
        TxKind::LockTokens { amount, unlock_at } => cx.lock(*amount, *unlock_at)?,
        TxKind::Unlock => cx.unlock()?,
        TxKind::Propose { kind, deposit } => {
            cx.propose(kind.clone(), *deposit)?;
        }
        TxKind::Vote { proposal, choice } => cx.vote(*proposal, *choice)?,
        TxKind::ExecuteProposal { proposal } => cx.execute_proposal(*proposal)?,
        TxKind::ReleaseVested => cx.release_vested()?,
        TxKind::ApplyPenalties { epoch, penalties } => cx.apply_penalties(*epoch, penalties)?,
        TxKind::ReportValidatorFault { evidence } => cx.report_validator_fault(evidence)?,
    }
    Ok(Receipt {
        tx_hash: tx.hash(),
        sender,
        kind: body.kind.name().to_owned(),
        fee: body.fee,
        events,
    })
}

fn charge_fee(state: &mut State, sender: &PublicKey, fee: Fee) -> Result<(), TxError> {
    let params = &state.params;
    // (asset, switch, offered, minimum) with amounts shown in their own units.
    let (asset, switch, below, offered, minimum) = match fee {
        Fee::Tokens(amount) => {
            let minimum = Tokens::from_base_units(params.get(ParamId::TxFeeTokens));
            (
                "tokens",
                ParamId::FeeInTokens,
                amount < minimum,
                amount.to_string(),
                minimum.to_string(),
            )
        }
        Fee::Credits(amount) => {
            let minimum = Credits::from_base_units(params.get(ParamId::TxFeeCredits));
            (
                "credits",
                ParamId::FeeInCredits,
                amount < minimum,
                amount.to_string(),
                minimum.to_string(),
            )
        }
    };
    if !params.enabled(switch) {
        return Err(TxError::FeeAssetNotAccepted { asset });
    }
    if below {
        return Err(TxError::FeeTooLow {
            asset,
            offered,
            minimum,
        });
    }
    match fee {
        Fee::Tokens(amount) => burn_tokens(state, sender, amount),
        Fee::Credits(amount) => burn_credits(state, sender, amount),
    }
}

/// The account, created empty if it does not exist yet.
pub(crate) fn account_mut<'a>(
    state: &'a mut State,
    key: &PublicKey,
) -> &'a mut crate::state::Account {
    state.accounts.entry(*key).or_default()
}

pub(crate) fn debit_tokens(
    state: &mut State,
    key: &PublicKey,
    amount: Tokens,
) -> Result<(), TxError> {
    let account = account_mut(state, key);
    account.tokens = account
        .tokens
        .checked_sub(amount)
        .ok_or(TxError::InsufficientTokens {
            needed: amount,
            available: account.tokens,
        })?;
    Ok(())
}

pub(crate) fn credit_tokens(
    state: &mut State,
    key: &PublicKey,
    amount: Tokens,
) -> Result<(), TxError> {
    let account = account_mut(state, key);
    account.tokens = account
        .tokens
        .checked_add(amount)
        .ok_or(TxError::Overflow("account balance"))?;
    Ok(())
}

pub(crate) fn burn_tokens(
    state: &mut State,
    key: &PublicKey,
    amount: Tokens,
) -> Result<(), TxError> {
    debit_tokens(state, key, amount)?;
    state.supply.burned = state
        .supply
        .burned
        .checked_add(amount)
        .ok_or(TxError::Overflow("burned supply"))?;
    Ok(())
}

pub(crate) fn burn_credits(
    state: &mut State,
    key: &PublicKey,
    amount: Credits,
) -> Result<(), TxError> {
    let account = account_mut(state, key);
    account.credits = account
        .credits
        .checked_sub(amount)
        .ok_or(TxError::InsufficientCredits {
            needed: amount,
            available: account.credits,
        })?;
    state.supply.credits_burned = state
        .supply
        .credits_burned
        .checked_add(amount)
        .ok_or(TxError::Overflow("burned credits"))?;
    Ok(())
}

pub(crate) fn add_tokens(a: Tokens, b: Tokens, what: &'static str) -> Result<Tokens, TxError> {
    a.checked_add(b).ok_or(TxError::Overflow(what))
}

/// Most signatures any threshold payload may carry.
const MAX_ORACLE_SIGNATURES: usize = 64;

/// Check that at least `threshold` distinct oracles of `oracles` signed `message`.
/// A signature from a non-oracle, a repeated oracle or an invalid signature is an error
/// (not silently skipped), so a submitter learns exactly what was wrong.
pub(crate) fn check_oracle_signatures<T: SignedMessage>(
    state: &State,
    role: &'static str,
    oracles: &[PublicKey],
    threshold: u128,
    message: &T,
    signatures: &[OracleSignature],
) -> Result<(), TxError> {
    let seen = oracle_signers(state, role, oracles, message, signatures)?;
    if (seen.len() as u128) < threshold {
        return Err(TxError::TooFewSignatures {
            role,
            valid: seen.len(),
            required: threshold,
        });
    }
    Ok(())
}

/// The distinct oracles that signed `message`: every signature must be valid and by an
/// oracle of `role`, none twice, at least one.
pub(crate) fn oracle_signers<T: SignedMessage>(
    state: &State,
    role: &'static str,
    oracles: &[PublicKey],
    message: &T,
    signatures: &[OracleSignature],
) -> Result<Vec<PublicKey>, TxError> {
    if signatures.is_empty() {
        return Err(TxError::TooFewSignatures {
            role,
            valid: 0,
            required: 1,
        });
    }
    if signatures.len() > MAX_ORACLE_SIGNATURES {
        return Err(TxError::TooMany {
            what: "oracle signatures",
            max: MAX_ORACLE_SIGNATURES,
        });
    }
    let mut seen = BTreeSet::new();
    for s in signatures {
        if oracles.binary_search(&s.oracle).is_err() {
            return Err(TxError::NotOracle {
                role,
                key: s.oracle.to_did(),
            });
        }
        if !seen.insert(s.oracle) {
            return Err(TxError::DuplicateSignature {
                role,
                oracle: s.oracle.to_did(),
            });
        }
        verify_detached(&s.oracle, &state.network, message, &s.signature)?;
    }
    Ok(seen.into_iter().collect())
}

/// The execution context of one transaction.
pub(crate) struct Exec<'a> {
    pub state: &'a mut State,
    pub ctx: &'a BlockContext,
    pub sender: PublicKey,
    pub events: &'a mut Vec<Event>,
}

impl Exec<'_> {
    pub(crate) fn require_enabled(
        &self,
        param: ParamId,
        what: &'static str,
    ) -> Result<(), TxError> {
        if self.state.params.enabled(param) {
            Ok(())
        } else {
            Err(TxError::Paused {
                what,
                param: param.name(),
            })
        }
    }
}
