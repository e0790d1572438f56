//! The price feed, burning tokens for credits, and paying for service.

use cairn_core::codec::encode;
use cairn_core::envelope::Signed;
use cairn_core::{Credits, Hash, Tokens};

use super::{BlockContext, Exec, add_tokens, burn_credits, burn_tokens};
use crate::error::TxError;
use crate::events::Event;
use crate::params::ParamId;
use crate::state::{PriceSubmission, State};
use crate::tx::UsageReceipt;

/// How far ahead of the block time an oracle's observation may be (clock skew).
const MAX_PRICE_FUTURE_SKEW_MS: u64 = 30_000;

/// credits = (units / 10^8 tokens) × (price_e8 / 10^8 USD per token) × 10^5 credits per
/// USD = units × price_e8 / 10^11.
const CREDIT_DIVISOR: u128 = 100_000_000_000;

/// The price used for minting: the lower median of fresh submissions (rounding against
/// the minter), or an error when fewer than `price_min_sources` are fresh.
pub fn effective_price(state: &State, ctx: &BlockContext) -> Result<u128, TxError> {
    let staleness = state.params.get_u64(ParamId::PriceStalenessMs);
    let mut fresh: Vec<u128> = state
        .prices
        .values()
        .filter(|p| ctx.time_ms.saturating_sub(p.observed_at_ms) <= staleness)
        .map(|p| p.usd_per_token_e8)
        .collect();
    let needed = state.params.get(ParamId::PriceMinSources);
    if fresh.is_empty() || (fresh.len() as u128) < needed {
        return Err(TxError::StalePrice {
            fresh: fresh.len(),
            needed,
        });
    }
    fresh.sort_unstable();
    Ok(fresh[(fresh.len() - 1) / 2])
}

/// The minting price as of `state`'s last block (what a client can quote before it submits).
pub fn price_at_tip(state: &State) -> Result<u128, TxError> {
    effective_price(
        state,
        &BlockContext {
            height: state.height,
            time_ms: state.time_ms,
        },
    )
}

/// Credits bought by burning `tokens` at `usd_per_token_e8`, rounded down.
pub fn credits_for(tokens: Tokens, usd_per_token_e8: u128) -> Option<Credits> {
    // Split to avoid overflow: (q·D + r)·p / D = q·p + r·p / D, with r·p < D·p.
    let units = tokens.base_units();
    let (q, r) = (units / CREDIT_DIVISOR, units % CREDIT_DIVISOR);
    let whole = q.checked_mul(usd_per_token_e8)?;
    let part = r.checked_mul(usd_per_token_e8)? / CREDIT_DIVISOR;
    whole.checked_add(part).map(Credits::from_base_units)
}

/// 10⁻⁸ USD in one credit (1 credit = 0.00001 USD).
pub const USD_E8_PER_CREDIT: u128 = 1_000;

/// What `credits` are worth in tokens at `usd_per_token_e8`, rounded down (the value a
/// usage reward is capped at: rounding against the provider).
pub fn tokens_worth(credits: Credits, usd_per_token_e8: u128) -> Option<Tokens> {
    if usd_per_token_e8 == 0 {
        return None;
    }
    let units = credits.base_units().checked_mul(CREDIT_DIVISOR)? / usd_per_token_e8;
    Some(Tokens::from_base_units(units))
}

/// The fewest tokens that buy at least `credits` at `usd_per_token_e8` (the inverse of
/// [`credits_for`], rounded up); `None` for a zero price or on overflow.
pub fn tokens_for(credits: Credits, usd_per_token_e8: u128) -> Option<Tokens> {
    if usd_per_token_e8 == 0 {
        return None;
    }
    let units = credits
        .base_units()
        .checked_mul(CREDIT_DIVISOR)?
        .div_ceil(usd_per_token_e8);
    Some(Tokens::from_base_units(units))
}

impl Exec<'_> {
    pub(super) fn submit_price(
        &mut self,
        usd_per_token_e8: u128,
        observed_at_ms: u64,
    ) -> Result<(), TxError> {
        if self
            .state
            .authorities
            .price_oracles
            .binary_search(&self.sender)
            .is_err()
        {
            return Err(TxError::NotOracle {
                role: "price",
                key: self.sender.to_did(),
            });
        }
        if usd_per_token_e8 == 0 {
            return Err(TxError::ZeroPrice);
        }
        let staleness = self.state.params.get_u64(ParamId::PriceStalenessMs);
        let oldest_ms = self.ctx.time_ms.saturating_sub(staleness);
        let newest_ms = self.ctx.time_ms.saturating_add(MAX_PRICE_FUTURE_SKEW_MS);
        if observed_at_ms < oldest_ms || observed_at_ms > newest_ms {
            return Err(TxError::PriceOutOfWindow {
                observed_at_ms,
                oldest_ms,
                newest_ms,
            });
        }
        if let Some(prev) = self.state.prices.get(&self.sender)
            && observed_at_ms <= prev.observed_at_ms
        {
            return Err(TxError::PriceNotNewer {
                latest_ms: prev.observed_at_ms,
            });
        }
        self.state.prices.insert(
            self.sender,
            PriceSubmission {
                usd_per_token_e8,
                observed_at_ms,
            },
        );
        self.events.push(Event::PriceSubmitted {
            oracle: self.sender,
            usd_per_token_e8,
            observed_at_ms,
        });
        Ok(())
    }

    pub(super) fn mint_credits(&mut self, amount: Tokens) -> Result<(), TxError> {
        self.require_enabled(ParamId::CreditMintingEnabled, "credit minting")?;
        if amount.is_zero() {
            return Err(TxError::ZeroAmount("token amount"));
        }
        let price = effective_price(self.state, self.ctx)?;
        let credits = credits_for(amount, price).ok_or(TxError::Overflow("credits"))?;
        if credits.is_zero() {
            return Err(TxError::CreditsTooSmall { tokens: amount });
        }
        burn_tokens(self.state, &self.sender, amount)?;
        let account = super::account_mut(self.state, &self.sender);
        account.credits = account
            .credits
            .checked_add(credits)
            .ok_or(TxError::Overflow("credit balance"))?;
        self.state.supply.credits_minted = self
            .state
            .supply
            .credits_minted
            .checked_add(credits)
            .ok_or(TxError::Overflow("credits minted"))?;
        let epoch = self.state.epoch_at(self.ctx.time_ms);
        let mut figures = self
            .state
            .economics
            .get(&epoch)
            .cloned()
            .unwrap_or_default();
        figures.tokens_burned_for_credits = add_tokens(
            figures.tokens_burned_for_credits,
            amount,
            "burned for credits",
        )?;
        figures.credits_minted = figures
            .credits_minted
            .checked_add(credits)
            .ok_or(TxError::Overflow("credits minted"))?;
        figures.burned_usd_e8 = figures
            .burned_usd_e8
            .checked_add(
                credits
                    .base_units()
                    .checked_mul(USD_E8_PER_CREDIT)
                    .ok_or(TxError::Overflow("USD burned"))?,
            )
            .ok_or(TxError::Overflow("USD burned"))?;
        self.state.economics.insert(epoch, figures);
        self.events.push(Event::CreditsMinted {
            account: self.sender,
            tokens_burned: amount,
            credits,
            usd_per_token_e8: price,
        });
        Ok(())
    }

    pub(super) fn pay_for_service(
        &mut self,
        receipt: &Signed<UsageReceipt>,
    ) -> Result<(), TxError> {
        receipt.verify(&self.state.network)?;
        let r = &receipt.message;
        let consumer = receipt.signer;
        if !self.state.devices.contains_key(&r.device) {
            return Err(TxError::UnknownDevice(r.device.to_did()));
        }
        if r.amount.is_zero() {
            return Err(TxError::ZeroAmount("receipt amount"));
        }
        let height = self.ctx.height;
        if r.expires_at < height {
            return Err(TxError::ReceiptExpired {
                expires_at: r.expires_at,
                height,
            });
        }
        let ttl = self.state.params.get_u64(ParamId::ReceiptMaxTtlBlocks);
        let limit = height
            .checked_add(ttl)
            .unwrap_or(cairn_core::Height(u64::MAX));
        if r.expires_at > limit {
            return Err(TxError::ReceiptTooLong {
                expires_at: r.expires_at,
                limit,
            });
        }
        // The receipt's identity is its signer and content; with strict signatures
        // the signature adds nothing and is left out.
        let id = Hash::of(&encode(&("cairn.usage.receipt-id.v1", consumer, r)));
        if self.state.spent_receipts.contains_key(&id) {
            return Err(TxError::ReceiptSpent);
        }
        burn_credits(self.state, &consumer, r.amount)?;
        // Usage counts in the epoch of this block's time (never one whose manifest is
        // already accepted), valued in tokens at this block's price: what a provider's
        // usage reward is capped at.
        let epoch = self
            .state
            .epoch_at(self.ctx.time_ms)
            .max(self.state.open_epoch());
        let value = effective_price(self.state, self.ctx)
            .ok()
            .and_then(|price| tokens_worth(r.amount, price))
            .unwrap_or(Tokens::ZERO);
        let slot = self.state.usage.entry((epoch, r.device)).or_default();
        slot.credits = slot
            .credits
            .checked_add(r.amount)
            .ok_or(TxError::Overflow("usage total"))?;
        slot.tokens = add_tokens(slot.tokens, value, "usage value")?;
        let figures = self.state.economics.entry(epoch).or_default();
        figures.usage_credits = figures
            .usage_credits
            .checked_add(r.amount)
            .ok_or(TxError::Overflow("usage total"))?;
        self.state.spent_receipts.insert(id, r.expires_at);
        self.events.push(Event::UsagePaid {
            consumer,
            device: r.device,
            service: r.service,
            credits: r.amount,
            epoch,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_for_buys_at_least_the_credits_and_no_more_than_needed() {
        for price in [1u128, 7, 100_000_000, 123_456_789, 3_000_000_000] {
            for want in [1u128, 999, 4_000_000, 123_456_789_012] {
                let want = Credits::from_base_units(want);
                let tokens = tokens_for(want, price).unwrap();
                assert!(
                    credits_for(tokens, price).unwrap() >= want,
                    "{price} {want}"
                );
                let less = Tokens::from_base_units(tokens.base_units() - 1);
                assert!(credits_for(less, price).unwrap() < want, "{price} {want}");
            }
        }
        assert_eq!(tokens_for(Credits::from_base_units(1), 0), None);
    }

    #[test]
    fn credit_conversion_is_exact_and_floors() {
        // 1 token at 1.00 USD = 100,000 credits.
        assert_eq!(
            credits_for(Tokens::ONE, 100_000_000),
            Some(Credits::from_base_units(100_000))
        );
        // 0.5 token at 2.5 USD = 1.25 USD = 125,000 credits.
        assert_eq!(
            credits_for(Tokens::from_base_units(50_000_000), 250_000_000),
            Some(Credits::from_base_units(125_000))
        );
        // One base unit at 1 USD is 10^-3 credit: floors to 0.
        assert_eq!(
            credits_for(Tokens::from_base_units(1), 100_000_000),
            Some(Credits::ZERO)
        );
        // Huge values do not overflow silently.
        assert_eq!(credits_for(Tokens::MAX, u128::MAX), None);
        assert!(credits_for(Tokens::MAX, 100_000_000).is_some());
    }
}
