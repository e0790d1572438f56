//! Transfers and vote-escrow locks.

use cairn_core::{Height, PublicKey, Tokens};

use super::{Exec, add_tokens, credit_tokens, debit_tokens};
use crate::error::TxError;
use crate::events::Event;
use crate::params::ParamId;
use crate::state::Lock;

impl Exec<'_> {
    pub(super) fn transfer(&mut self, to: &PublicKey, amount: Tokens) -> Result<(), TxError> {
        if amount.is_zero() {
            return Err(TxError::ZeroAmount("transfer amount"));
        }
        debit_tokens(self.state, &self.sender, amount)?;
        credit_tokens(self.state, to, amount)?;
        self.events.push(Event::Transfer {
            from: self.sender,
            to: *to,
            amount,
        });
        Ok(())
    }

    pub(super) fn lock(&mut self, amount: Tokens, unlock_at: Height) -> Result<(), TxError> {
        let height = self.ctx.height;
        let max = self.state.params.get_u64(ParamId::MaxLockBlocks);
        let limit = height.checked_add(max).unwrap_or(Height(u64::MAX));
        if unlock_at > limit {
            return Err(TxError::LockTooLong {
                requested: unlock_at,
                limit,
            });
        }
        if unlock_at <= height {
            return Err(TxError::LockShortened {
                requested: unlock_at,
                current: height,
            });
        }
        let existing = self.state.locks.get(&self.sender).cloned();
        if let Some(lock) = &existing
            && unlock_at < lock.unlock_at
        {
            return Err(TxError::LockShortened {
                requested: unlock_at,
                current: lock.unlock_at,
            });
        }
        if amount.is_zero() && existing.is_none() {
            return Err(TxError::ZeroAmount("lock amount"));
        }
        debit_tokens(self.state, &self.sender, amount)?;
        let total = add_tokens(existing.map_or(Tokens::ZERO, |l| l.amount), amount, "lock")?;
        self.state.locks.insert(
            self.sender,
            Lock {
                amount: total,
                unlock_at,
                since: height,
            },
        );
        self.events.push(Event::TokensLocked {
            account: self.sender,
            amount: total,
            unlock_at,
        });
        Ok(())
    }

    pub(super) fn unlock(&mut self) -> Result<(), TxError> {
        let lock = self
            .state
            .locks
            .get(&self.sender)
            .cloned()
            .ok_or(TxError::NoLock)?;
        if self.ctx.height < lock.unlock_at {
            return Err(TxError::StillLocked(lock.unlock_at));
        }
        self.state.locks.remove(&self.sender);
        credit_tokens(self.state, &self.sender, lock.amount)?;
        self.events.push(Event::TokensUnlocked {
            account: self.sender,
            amount: lock.amount,
        });
        Ok(())
    }
}

/// Voting power of `lock` on a proposal that started at `start`: the amount scaled by the
/// time still locked at `start`, relative to the longest lock. Zero for a lock changed
/// at or after `start` (a lock in the same block as the proposal cannot buy its votes).
pub(crate) fn voting_power(lock: &Lock, start: Height, max_lock_blocks: u64) -> u128 {
    if lock.since >= start || max_lock_blocks == 0 {
        return 0;
    }
    let remaining = u128::from(
        lock.unlock_at
            .0
            .saturating_sub(start.0)
            .min(max_lock_blocks),
    );
    let max = u128::from(max_lock_blocks);
    let amount = lock.amount.base_units();
    // amount × remaining / max without overflow: remaining ≤ max.
    (amount / max) * remaining + (amount % max) * remaining / max
}
