//! Conservation invariants, checked after every block in debug builds and in tests.

use cairn_core::{Credits, Tokens};

use crate::state::{ProposalStatus, State};

/// A broken invariant: always a bug in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    #[error("token supply: held {held} != genesis + minted - burned = {expected}")]
    Supply { held: String, expected: String },
    #[error("credits: held {held} != minted - burned = {expected}")]
    Credits { held: String, expected: String },
    #[error("reward escrow {escrow} != unclaimed {unclaimed}")]
    Escrow { escrow: Tokens, unclaimed: String },
    #[error("overflow while summing {0}")]
    Overflow(&'static str),
}

fn sum_tokens(
    mut it: impl Iterator<Item = Tokens>,
    what: &'static str,
) -> Result<u128, InvariantViolation> {
    it.try_fold(0u128, |acc, t| acc.checked_add(t.base_units()))
        .ok_or(InvariantViolation::Overflow(what))
}

/// Check: total supply = genesis + minted − burned, where supply is every place tokens can
/// be (balances, bonds, unbonding, locks, vesting rewards, open proposals' deposits,
/// escrow, treasury); credits held = minted − burned; escrow equals the rewards minted
/// and neither claimed nor burned as unallocated (so escrow ≥ unclaimed). Negative balances cannot exist: every amount is unsigned and
/// all arithmetic is checked.
pub fn check_invariants(state: &State) -> Result<(), InvariantViolation> {
    let accounts = sum_tokens(state.accounts.values().map(|a| a.tokens), "balances")?;
    let bonds = sum_tokens(
        state
            .devices
            .values()
            .flat_map(|d| std::iter::once(d.bond).chain(d.unbonding.iter().map(|u| u.amount))),
        "bonds",
    )?;
    let locks = sum_tokens(state.locks.values().map(|l| l.amount), "locks")?;
    let vesting = sum_tokens(state.vesting.values().map(|v| v.held()), "vesting")?;
    let deposits = sum_tokens(
        state
            .proposals
            .values()
            .filter(|p| p.status == ProposalStatus::Voting)
            .map(|p| p.deposit),
        "deposits",
    )?;
    let s = &state.supply;
    let held = [
        accounts,
        bonds,
        locks,
        vesting,
        deposits,
        s.escrow.base_units(),
        s.treasury.base_units(),
    ]
    .into_iter()
    .try_fold(0u128, u128::checked_add)
    .ok_or(InvariantViolation::Overflow("supply"))?;
    let expected = s
        .genesis
        .base_units()
        .checked_add(s.minted.base_units())
        .and_then(|v| v.checked_sub(s.burned.base_units()));
    if expected != Some(held) {
        return Err(InvariantViolation::Supply {
            held: Tokens::from_base_units(held).to_string(),
            expected: format!("{expected:?}"),
        });
    }

    let credits = state
        .accounts
        .values()
        .try_fold(0u128, |acc, a| acc.checked_add(a.credits.base_units()))
        .ok_or(InvariantViolation::Overflow("credits"))?;
    let expected = s
        .credits_minted
        .base_units()
        .checked_sub(s.credits_burned.base_units());
    if expected != Some(credits) {
        return Err(InvariantViolation::Credits {
            held: Credits::from_base_units(credits).to_string(),
            expected: format!("{expected:?}"),
        });
    }

    let issued = state
        .manifests
        .values()
        .next_back()
        .map_or(0, |m| m.manifest.cumulative_total.base_units());
    let claimed = sum_tokens(state.claimed.values().copied(), "claims")?;
    // Unallocated rewards burned at acceptance never reach a leaf or the escrow.
    let unclaimed = issued
        .checked_sub(claimed)
        .and_then(|u| u.checked_sub(s.rewards_burned.base_units()));
    if unclaimed != Some(s.escrow.base_units()) {
        return Err(InvariantViolation::Escrow {
            escrow: s.escrow,
            unclaimed: format!("{unclaimed:?}"),
        });
    }
    Ok(())
}
