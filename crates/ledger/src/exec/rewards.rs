//! Reward manifests (minting the epoch's emission into escrow) and claims.

use cairn_core::codec::Canonical;
use cairn_core::{Epoch, Hash, Height, MerkleProof, PublicKey, Tokens};

use super::{Exec, add_tokens, credit_tokens, oracle_signers};
use crate::error::TxError;
use crate::events::Event;
use crate::params::{ParamId, Params};
use crate::state::{ManifestRecord, ManifestVotes, Vesting};
use crate::tx::{
    MAX_CLAIMS_PER_TX, OracleSignature, Recipient, RewardClaim, RewardLeaf, RewardManifest,
};

/// The emission of `epoch` (≥ 1): `emission_per_epoch`, halved every
/// `emission_halving_epochs`, by integer shifts, so it reaches exactly zero.
pub fn emission_for_epoch(params: &Params, epoch: Epoch) -> Tokens {
    let initial = params.get(ParamId::EmissionPerEpoch);
    let halving = params.get_u64(ParamId::EmissionHalvingEpochs).max(1);
    let halvings = epoch.0.saturating_sub(1) / halving;
    if epoch.0 == 0 || halvings >= 128 {
        return Tokens::ZERO;
    }
    Tokens::from_base_units(initial >> halvings)
}

/// The sum of every epoch's emission under `params`: the supply cap of emissions.
pub fn emission_cap(params: &Params) -> Option<Tokens> {
    let initial = params.get(ParamId::EmissionPerEpoch);
    let halving = params.get(ParamId::EmissionHalvingEpochs).max(1);
    let mut total: u128 = 0;
    for k in 0..128 {
        total = total.checked_add((initial >> k).checked_mul(halving)?)?;
    }
    Some(Tokens::from_base_units(total))
}

impl Exec<'_> {
    /// Record reward oracles' signatures on a manifest; once distinct signers reach
    /// `reward_oracle_threshold` (in one transaction or over several, each oracle
    /// submitting its own), accept it: mint exactly the epoch's emission into escrow.
    pub(super) fn submit_manifest(
        &mut self,
        manifest: &RewardManifest,
        signatures: &[OracleSignature],
    ) -> Result<(), TxError> {
        let signers = oracle_signers(
            self.state,
            "reward",
            &self.state.authorities.reward_oracles,
            manifest,
            signatures,
        )?;
        let expected = self.state.open_epoch();
        if manifest.epoch != expected {
            return Err(TxError::WrongEpoch {
                expected,
                got: manifest.epoch,
            });
        }
        let last = self.state.manifests.values().next_back().cloned();
        let previous = last.as_ref().map_or(Hash::ZERO, |r| r.hash);
        if manifest.previous != previous {
            return Err(TxError::WrongPreviousManifest);
        }
        if manifest.params_hash != self.state.params.hash() {
            return Err(TxError::WrongParamsHash);
        }
        let emission = emission_for_epoch(&self.state.params, manifest.epoch);
        if manifest.epoch_total != emission {
            return Err(TxError::WrongEmission {
                epoch: manifest.epoch,
                expected: emission,
                got: manifest.epoch_total,
            });
        }
        let prior = last.map_or(Tokens::ZERO, |r| r.manifest.cumulative_total);
        let cumulative = add_tokens(prior, emission, "cumulative rewards")?;
        if manifest.cumulative_total != cumulative {
            return Err(TxError::WrongCumulativeTotal {
                expected: cumulative,
                got: manifest.cumulative_total,
            });
        }
        if manifest.unallocated_burned > emission {
            return Err(TxError::BurnExceedsTotal {
                burned: manifest.unallocated_burned,
                total: emission,
            });
        }
        // Usage and verdicts of an epoch are final only once it is over.
        let ends_at_ms = self.state.epoch_end_ms(manifest.epoch);
        if self.ctx.time_ms < ends_at_ms {
            return Err(TxError::EpochNotOver {
                epoch: manifest.epoch,
                ends_at_ms,
            });
        }

        let hash = manifest.hash();
        let key = (manifest.epoch, hash);
        let mut votes = self
            .state
            .manifest_votes
            .get(&key)
            .cloned()
            .unwrap_or_else(|| ManifestVotes {
                manifest: manifest.clone(),
                signers: Vec::new(),
            });
        let before = votes.signers.len();
        for s in signers {
            if let Err(at) = votes.signers.binary_search(&s) {
                votes.signers.insert(at, s);
            }
        }
        let threshold = self.state.params.get(ParamId::RewardOracleThreshold);
        let complete = votes.signers.len() as u128 >= threshold;
        if votes.signers.len() == before && !complete {
            return Err(TxError::AlreadySigned);
        }
        if !complete {
            self.events.push(Event::ManifestSigned {
                epoch: manifest.epoch,
                hash,
                signers: votes.signers.len() as u64,
                threshold: u64::try_from(threshold).unwrap_or(u64::MAX),
            });
            self.state.manifest_votes.insert(key, votes);
            return Ok(());
        }
        // The minting breaker: at most `mint_breaker_epochs` × this emission minted in
        // the window. A manifest beyond it keeps its signatures and waits; any signer
        // may submit again once the window allows it.
        let allowed = self.mint_allowance(emission);
        if emission > allowed {
            self.state.breakers.mint_tripped_at = Some(self.ctx.height);
            self.events.push(Event::CircuitBreakerTripped {
                breaker: "mint".into(),
                wanted: emission,
                allowed,
            });
            self.state.manifest_votes.insert(key, votes);
            return Ok(());
        }

        let supply = &mut self.state.supply;
        supply.minted = add_tokens(supply.minted, emission, "minted supply")?;
        supply.escrow = add_tokens(supply.escrow, emission, "reward escrow")?;
        let burned = manifest.unallocated_burned;
        supply.escrow = supply
            .escrow
            .checked_sub(burned)
            .ok_or(TxError::EscrowShort {
                escrow: supply.escrow,
                needed: burned,
            })?;
        supply.burned = add_tokens(supply.burned, burned, "burned supply")?;
        supply.rewards_burned = add_tokens(supply.rewards_burned, burned, "rewards burned")?;
        // The epoch's usage is settled into this manifest, and votes on this epoch or
        // older ones are moot; keep state bounded.
        let settled: Vec<_> = self
            .state
            .usage
            .keys()
            .take_while(|(e, _)| *e <= manifest.epoch)
            .cloned()
            .collect();
        for k in settled {
            self.state.usage.remove(&k);
        }
        // Closes of epochs before this one are no longer asked for (the next epoch's
        // oracles look at its close and this one's).
        let closed: Vec<Height> = self
            .state
            .epoch_closes
            .iter()
            .take_while(|(_, e)| **e < manifest.epoch)
            .map(|(h, _)| *h)
            .collect();
        for h in closed {
            self.state.epoch_closes.remove(&h);
        }
        let moot: Vec<_> = self
            .state
            .manifest_votes
            .keys()
            .take_while(|(e, _)| *e <= manifest.epoch)
            .cloned()
            .collect();
        for k in moot {
            self.state.manifest_votes.remove(&k);
        }
        let price = super::credits::effective_price(self.state, self.ctx).ok();
        let figures = self.state.economics.entry(manifest.epoch).or_default();
        figures.emitted = emission;
        figures.emitted_usd_e8 = price
            .and_then(|p| emission.base_units().checked_mul(p))
            .map_or(0, |v| v / Tokens::ONE.base_units());
        figures.unallocated_burned = burned;
        self.state.manifests.insert(
            manifest.epoch,
            ManifestRecord {
                manifest: manifest.clone(),
                hash,
                accepted_at: self.ctx.height,
                signers: votes.signers,
            },
        );
        self.events.push(Event::ManifestAccepted {
            epoch: manifest.epoch,
            hash,
            minted: emission,
        });
        Ok(())
    }

    /// What the minting breaker still allows in its window.
    fn mint_allowance(&self, emission: Tokens) -> Tokens {
        let params = &self.state.params;
        let window = params.get_u64(ParamId::MintBreakerWindowBlocks);
        let since = self.ctx.height.0.saturating_sub(window);
        let mut minted: u128 = 0;
        for r in self.state.manifests.values().rev() {
            if r.accepted_at.0 <= since {
                break;
            }
            minted = minted.saturating_add(r.manifest.epoch_total.base_units());
        }
        let limit = emission
            .base_units()
            .saturating_mul(params.get(ParamId::MintBreakerEpochs));
        Tokens::from_base_units(limit.saturating_sub(minted))
    }

    /// Claim for several recipients against one manifest; all or nothing.
    pub(super) fn claim_many(
        &mut self,
        epoch: Epoch,
        claims: &[RewardClaim],
    ) -> Result<(), TxError> {
        check_batch(
            claims,
            "claims in one transaction",
            |c| c.leaf.recipient,
            TxError::BadClaimList,
        )?;
        for c in claims {
            self.claim(epoch, &c.leaf, &c.proof)?;
        }
        Ok(())
    }

    fn claim(
        &mut self,
        epoch: Epoch,
        leaf: &RewardLeaf,
        proof: &MerkleProof,
    ) -> Result<(), TxError> {
        self.require_enabled(ParamId::ClaimsEnabled, "reward claims")?;
        let record = self
            .state
            .manifests
            .get(&epoch)
            .cloned()
            .ok_or(TxError::UnknownManifest(epoch))?;
        let m = &record.manifest;
        if proof.leaf_count != m.recipient_count
            || !proof.verify(&m.cumulative_root, &leaf.leaf_bytes())
        {
            return Err(TxError::BadClaimProof(epoch));
        }
        if let Recipient::Device(device) = &leaf.recipient {
            if let Some(entry) = self.state.withholding_entry(device, self.ctx.height) {
                return Err(TxError::RewardsWithheld { entry });
            }
            let d = self
                .state
                .devices
                .get(device)
                .ok_or_else(|| TxError::UnknownDevice(device.to_did()))?;
            let required = self.state.claim_bond_required(d, leaf.cumulative, m.epoch);
            if d.bond < required {
                return Err(TxError::BondTooLow {
                    device: device.to_did(),
                    bond: d.bond,
                    required,
                });
            }
        }
        let claimed = self
            .state
            .claimed
            .get(&leaf.recipient)
            .copied()
            .unwrap_or_default();
        let payout = leaf
            .cumulative
            .checked_sub(claimed)
            .filter(|p| !p.is_zero())
            .ok_or(TxError::NothingToClaim {
                cumulative: leaf.cumulative,
                claimed,
            })?;
        let escrow = self.state.supply.escrow;
        self.state.supply.escrow = escrow.checked_sub(payout).ok_or(TxError::EscrowShort {
            escrow,
            needed: payout,
        })?;
        self.state.claimed.insert(leaf.recipient, leaf.cumulative);
        let account = match leaf.recipient {
            Recipient::Device(device) => Some(
                self.state
                    .devices
                    .get(&device)
                    .map(|d| d.owner)
                    .ok_or_else(|| TxError::UnknownDevice(device.to_did()))?,
            ),
            Recipient::Account(account) => Some(account),
            Recipient::Treasury => None,
        };
        let mut vesting = Tokens::ZERO;
        match account {
            Some(account) => {
                // The vesting share rounds up: the remainder never favours the claimer.
                let ppm = self.state.params.get(ParamId::VestingPpm);
                let units = payout.base_units();
                let vest =
                    (units / 1_000_000) * ppm + ((units % 1_000_000) * ppm).div_ceil(1_000_000);
                vesting = Tokens::from_base_units(vest.min(units));
                let liquid = payout.checked_sub(vesting).unwrap_or(Tokens::ZERO);
                credit_tokens(self.state, &account, liquid)?;
                if !vesting.is_zero() {
                    self.add_vesting(account, vesting)?;
                }
            }
            None => {
                self.state.supply.treasury =
                    add_tokens(self.state.supply.treasury, payout, "treasury")?;
            }
        }
        self.events.push(Event::RewardsClaimed {
            recipient: leaf.recipient,
            amount: payout.checked_sub(vesting).unwrap_or(Tokens::ZERO),
            vesting,
            cumulative: leaf.cumulative,
        });
        Ok(())
    }

    /// Add `amount` to `account`'s vesting rewards: what already unlocked is paid out, and
    /// what is still locked vests again with the new amount over a fresh period (one
    /// schedule per account keeps the state bounded; the cost is a later unlock for the
    /// older part).
    fn add_vesting(&mut self, account: PublicKey, amount: Tokens) -> Result<(), TxError> {
        let height = self.ctx.height;
        let mut locked = Tokens::ZERO;
        if let Some(v) = self.state.vesting.get(&account).copied() {
            let release = v.releasable(height);
            if !release.is_zero() {
                credit_tokens(self.state, &account, release)?;
                self.events.push(Event::VestedReleased {
                    account,
                    amount: release,
                });
            }
            locked = v
                .total
                .checked_sub(v.unlocked(height))
                .unwrap_or(Tokens::ZERO);
        }
        let blocks = self.state.params.get_u64(ParamId::VestingBlocks);
        self.state.vesting.insert(
            account,
            Vesting {
                total: add_tokens(locked, amount, "vesting")?,
                released: Tokens::ZERO,
                start: height,
                end: height.checked_add(blocks).unwrap_or(Height(u64::MAX)),
            },
        );
        Ok(())
    }

    /// Pay the sender's unlocked vesting rewards.
    pub(super) fn release_vested(&mut self) -> Result<(), TxError> {
        let height = self.ctx.height;
        let Some(mut v) = self.state.vesting.get(&self.sender).copied() else {
            return Err(TxError::NothingVested);
        };
        let release = v.releasable(height);
        if release.is_zero() {
            return Err(TxError::NothingVested);
        }
        v.released = add_tokens(v.released, release, "vesting released")?;
        if v.released == v.total {
            self.state.vesting.remove(&self.sender);
        } else {
            self.state.vesting.insert(self.sender, v);
        }
        credit_tokens(self.state, &self.sender, release)?;
        self.events.push(Event::VestedReleased {
            account: self.sender,
            amount: release,
        });
        Ok(())
    }
}

/// A bulk transaction's list: 1 to [`MAX_CLAIMS_PER_TX`] items with distinct keys; an
/// empty list or a repeated key is `bad`.
pub(super) fn check_batch<T, K: Ord>(
    items: &[T],
    what: &'static str,
    key: impl Fn(&T) -> K,
    bad: TxError,
) -> Result<(), TxError> {
    if items.len() > MAX_CLAIMS_PER_TX {
        return Err(TxError::TooMany {
            what,
            max: MAX_CLAIMS_PER_TX,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    if items.is_empty() || !items.iter().all(|i| seen.insert(key(i))) {
        return Err(bad);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::ParamValue;

    fn params(initial: u128, halving: u128) -> Params {
        let mut p = Params::default();
        for ParamValue { param, value } in [
            ParamValue {
                param: ParamId::EmissionPerEpoch,
                value: initial,
            },
            ParamValue {
                param: ParamId::EmissionHalvingEpochs,
                value: halving,
            },
        ] {
            p.set(param, value);
        }
        p
    }

    #[test]
    fn emissions_sum_to_the_cap_exactly() {
        for (initial, halving) in [
            (1_000u128, 3u128),
            (999_999_999, 7),
            (1, 1),
            (100_000 * 100_000_000, 730),
        ] {
            let p = params(initial, halving);
            let mut sum: u128 = 0;
            let mut epoch = 1u64;
            loop {
                let e = emission_for_epoch(&p, Epoch(epoch)).base_units();
                if e == 0 {
                    break;
                }
                sum += e;
                epoch += 1;
            }
            assert_eq!(
                Tokens::from_base_units(sum),
                emission_cap(&p).unwrap(),
                "{initial}/{halving}"
            );
        }
        assert_eq!(
            emission_for_epoch(&params(1_000, 3), Epoch(0)),
            Tokens::ZERO
        );
        assert_eq!(
            emission_for_epoch(&params(1_000, 3), Epoch(4)).base_units(),
            500
        );
    }
}
