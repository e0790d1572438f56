//! Reward manifests (minting the epoch's emission into escrow) and claims.

use cairn_core::codec::Canonical;
use cairn_core::{Epoch, Hash, MerkleProof, Tokens};

use super::{Exec, add_tokens, check_oracle_signatures, credit_tokens};
use crate::error::TxError;
use crate::events::Event;
use crate::params::{ParamId, Params};
use crate::state::ManifestRecord;
use crate::tx::{OracleSignature, Recipient, RewardLeaf, RewardManifest};

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
    pub(super) fn submit_manifest(
        &mut self,
        manifest: &RewardManifest,
        signatures: &[OracleSignature],
    ) -> Result<(), TxError> {
        let threshold = self.state.params.get(ParamId::RewardOracleThreshold);
        check_oracle_signatures(
            self.state,
            "reward",
            &self.state.authorities.reward_oracles,
            threshold,
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
        let supply = &mut self.state.supply;
        supply.minted = add_tokens(supply.minted, emission, "minted supply")?;
        supply.escrow = add_tokens(supply.escrow, emission, "reward escrow")?;
        // The epoch's usage is settled into this manifest; keep state bounded.
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
        let hash = manifest.hash();
        self.state.manifests.insert(
            manifest.epoch,
            ManifestRecord {
                manifest: manifest.clone(),
                hash,
                accepted_at: self.ctx.height,
            },
        );
        self.events.push(Event::ManifestAccepted {
            epoch: manifest.epoch,
            hash,
            minted: emission,
        });
        Ok(())
    }

    pub(super) fn claim(
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
            let height = self.ctx.height;
            let withholding = self
                .state
                .denylist_by_device
                .range((*device, 0)..=(*device, u64::MAX))
                .map(|(_, id)| *id)
                .find(|id| {
                    self.state
                        .denylist
                        .get(id)
                        .is_some_and(|r| r.withholds(height))
                });
            if let Some(entry) = withholding {
                return Err(TxError::RewardsWithheld { entry });
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
        match leaf.recipient {
            Recipient::Device(device) => {
                let owner = self
                    .state
                    .devices
                    .get(&device)
                    .map(|d| d.owner)
                    .ok_or_else(|| TxError::UnknownDevice(device.to_did()))?;
                credit_tokens(self.state, &owner, payout)?;
            }
            Recipient::Account(account) => credit_tokens(self.state, &account, payout)?,
            Recipient::Treasury => {
                self.state.supply.treasury =
                    add_tokens(self.state.supply.treasury, payout, "treasury")?;
            }
        }
        self.events.push(Event::RewardsClaimed {
            recipient: leaf.recipient,
            amount: payout,
            cumulative: leaf.cumulative,
        });
        Ok(())
    }
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
