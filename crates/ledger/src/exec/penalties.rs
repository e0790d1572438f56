//! Penalties a reward manifest assesses, taken from devices' bonds.
//!
//! The reward oracles compute each penalty by formula (a fault fee for an epoch with
//! failed challenges, a fraud penalty once a denylist entry is final) into a Merkle tree
//! whose root the accepted manifest carries, under the same threshold of signatures as
//! the rewards. Anyone applies them with proofs, like claims; the ledger checks the
//! proof, that each applies once, and for fraud that the entry names the device and is
//! final, then takes what the bond (and the amounts still unbonding, which is why
//! unbonding waits) holds of it.

use cairn_core::amount::mul_div;
use cairn_core::{Epoch, Tokens};

use super::{Exec, add_tokens, credit_tokens};
use crate::error::TxError;
use crate::events::Event;
use crate::params::ParamId;
use crate::tx::{PenaltyKind, PenaltyProof, RewardManifest};

impl Exec<'_> {
    pub(super) fn apply_penalties(
        &mut self,
        epoch: Epoch,
        penalties: &[PenaltyProof],
    ) -> Result<(), TxError> {
        super::rewards::check_batch(
            penalties,
            "penalties in one transaction",
            |p| (p.penalty.device, p.penalty.kind),
            TxError::BadPenaltyList,
        )?;
        let record = self
            .state
            .manifests
            .get(&epoch)
            .cloned()
            .ok_or(TxError::UnknownManifest(epoch))?;
        for p in penalties {
            self.apply_penalty(&record.manifest, p)?;
        }
        Ok(())
    }

    fn apply_penalty(&mut self, m: &RewardManifest, pp: &PenaltyProof) -> Result<(), TxError> {
        let p = &pp.penalty;
        if p.epoch != m.epoch
            || pp.proof.leaf_count != m.penalty_count
            || !pp.proof.verify(&m.penalties_root, &p.leaf_bytes())
        {
            return Err(TxError::BadPenaltyProof(m.epoch));
        }
        let mut device = self
            .state
            .devices
            .get(&p.device)
            .cloned()
            .ok_or_else(|| TxError::UnknownDevice(p.device.to_did()))?;
        let (reporter, bounty_ppm) = match p.kind {
            PenaltyKind::FaultFee => {
                if device.fees_through >= p.epoch {
                    return Err(TxError::PenaltyApplied(
                        "the device's fault fee for this epoch or a later one",
                    ));
                }
                device.fees_through = p.epoch;
                (None, 0)
            }
            PenaltyKind::Fraud { entry } => {
                let mut r = self
                    .state
                    .denylist
                    .get(&entry)
                    .cloned()
                    .ok_or(TxError::UnknownDenylistEntry(entry))?;
                if !r.entry.target.devices().contains(&p.device) {
                    return Err(TxError::BadDenylistEntry(
                        "the penalized device is not named by the entry",
                    ));
                }
                if !r.is_final(self.ctx.height) {
                    return Err(TxError::PenaltyNotFinal { entry });
                }
                if r.penalized.contains(&p.device) {
                    return Err(TxError::PenaltyApplied(
                        "this entry's fraud penalty for the device",
                    ));
                }
                r.penalized.push(p.device);
                r.penalized.sort();
                let reporter = r.reporter;
                self.state.denylist.insert(entry, r);
                (
                    Some(reporter),
                    self.state
                        .params
                        .get(ParamId::FraudBountyPpm)
                        .min(1_000_000),
                )
            }
        };
        // The bond first, then what is still unbonding, the latest release first.
        let mut left = p.amount;
        let from_bond = left.min(device.bond);
        device.bond = device.bond.checked_sub(from_bond).unwrap_or(Tokens::ZERO);
        left = left.checked_sub(from_bond).unwrap_or(Tokens::ZERO);
        for u in device.unbonding.iter_mut().rev() {
            let take = left.min(u.amount);
            u.amount = u.amount.checked_sub(take).unwrap_or(Tokens::ZERO);
            left = left.checked_sub(take).unwrap_or(Tokens::ZERO);
        }
        device.unbonding.retain(|u| !u.amount.is_zero());
        let taken = p.amount.checked_sub(left).unwrap_or(Tokens::ZERO);
        let bounty = Tokens::from_base_units(mul_div(taken.base_units(), bounty_ppm, 1_000_000).0);
        if let Some(reporter) = &reporter
            && !bounty.is_zero()
        {
            credit_tokens(self.state, reporter, bounty)?;
        }
        let to_treasury = taken.checked_sub(bounty).unwrap_or(Tokens::ZERO);
        self.state.supply.treasury =
            add_tokens(self.state.supply.treasury, to_treasury, "treasury")?;
        self.state.devices.insert(p.device, device);
        self.events.push(Event::Penalized {
            device: p.device,
            epoch: p.epoch,
            kind: p.kind,
            assessed: p.amount,
            taken,
            bounty,
            reporter,
        });
        Ok(())
    }
}
