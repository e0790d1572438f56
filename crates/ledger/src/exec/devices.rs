//! Device onboarding, location assertions and bonds.

use cairn_core::envelope::verify_detached;
use cairn_core::{Credits, Location, PublicKey, Signature, Tokens};

use super::{Exec, add_tokens, burn_credits, credit_tokens, debit_tokens};
use crate::error::TxError;
use crate::events::Event;
use crate::params::ParamId;
use crate::state::{Device, Unbonding};
use crate::tx::{DeviceConsent, DeviceKind, MakerAttestation};

impl Exec<'_> {
    /// The device, if the sender owns it.
    fn owned_device(&self, device: &PublicKey) -> Result<Device, TxError> {
        let d = self
            .state
            .devices
            .get(device)
            .cloned()
            .ok_or_else(|| TxError::UnknownDevice(device.to_did()))?;
        if d.owner != self.sender {
            return Err(TxError::NotDeviceOwner {
                device: device.to_did(),
                owner: d.owner.to_did(),
            });
        }
        Ok(d)
    }

    pub(super) fn onboard(
        &mut self,
        device: &PublicKey,
        kind: DeviceKind,
        maker: &PublicKey,
        maker_signature: &Signature,
        device_signature: &Signature,
    ) -> Result<(), TxError> {
        self.require_enabled(ParamId::OnboardingEnabled, "device onboarding")?;
        if self.state.devices.contains_key(device) {
            return Err(TxError::DeviceExists(device.to_did()));
        }
        let mut maker_record = self
            .state
            .makers
            .get(maker)
            .cloned()
            .ok_or_else(|| TxError::UnknownMaker(maker.to_did()))?;
        if let Some(at) = maker_record.revoked_at {
            return Err(TxError::MakerRevoked {
                maker: maker.to_did(),
                at,
            });
        }
        let network = &self.state.network;
        let attestation = MakerAttestation {
            device: *device,
            kind,
        };
        verify_detached(maker, network, &attestation, maker_signature)?;
        let consent = DeviceConsent { owner: self.sender };
        verify_detached(device, network, &consent, device_signature)?;

        let fee = Credits::from_base_units(self.state.params.get(ParamId::OnboardingFeeCredits));
        burn_credits(self.state, &self.sender, fee)?;
        maker_record.devices_onboarded = maker_record.devices_onboarded.saturating_add(1);
        self.state.makers.insert(*maker, maker_record);
        self.state.devices.insert(
            *device,
            Device {
                owner: self.sender,
                maker: *maker,
                kind,
                onboarded_at: self.ctx.height,
                onboarded_epoch: self.state.epoch_at(self.ctx.time_ms),
                location: None,
                location_since: None,
                location_moves: 0,
                bond: Tokens::ZERO,
                unbonding: Vec::new(),
                fees_through: cairn_core::Epoch(0),
            },
        );
        self.events.push(Event::DeviceOnboarded {
            device: *device,
            owner: self.sender,
            maker: *maker,
            kind,
            fee,
        });
        Ok(())
    }

    pub(super) fn assert_location(
        &mut self,
        device: &PublicKey,
        location: Location,
    ) -> Result<(), TxError> {
        let mut d = self.owned_device(device)?;
        let want = self.state.params.get(ParamId::LocationResolution);
        if u128::from(location.resolution()) != want {
            return Err(TxError::WrongResolution {
                location: location.to_string(),
                got: location.resolution(),
                want: u8::try_from(want).unwrap_or(u8::MAX),
            });
        }
        if d.location == Some(location) {
            return Err(TxError::SameLocation(location.to_string()));
        }
        let fee = Credits::from_base_units(self.state.params.get(ParamId::LocationFeeCredits));
        burn_credits(self.state, &self.sender, fee)?;
        if d.location.is_some() {
            d.location_moves = d.location_moves.saturating_add(1);
        }
        d.location = Some(location);
        d.location_since = Some(self.ctx.height);
        self.events.push(Event::LocationAsserted {
            device: *device,
            location,
            moves: d.location_moves,
            fee,
        });
        self.state.devices.insert(*device, d);
        Ok(())
    }

    pub(super) fn bond(&mut self, device: &PublicKey, amount: Tokens) -> Result<(), TxError> {
        let mut d = self.owned_device(device)?;
        if amount.is_zero() {
            return Err(TxError::ZeroAmount("bond amount"));
        }
        debit_tokens(self.state, &self.sender, amount)?;
        d.bond = add_tokens(d.bond, amount, "bond")?;
        self.state.devices.insert(*device, d);
        self.events.push(Event::Bonded {
            device: *device,
            amount,
        });
        Ok(())
    }

    pub(super) fn unbond(&mut self, device: &PublicKey, amount: Tokens) -> Result<(), TxError> {
        let mut d = self.owned_device(device)?;
        if amount.is_zero() {
            return Err(TxError::ZeroAmount("unbond amount"));
        }
        d.bond = d
            .bond
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBond {
                requested: amount,
                bonded: d.bond,
            })?;
        let max = self.state.params.get(ParamId::MaxUnbondingEntries) as usize;
        if d.unbonding.len() >= max {
            return Err(TxError::TooMany {
                what: "pending unbonding entries",
                max,
            });
        }
        let delay = self.state.params.get_u64(ParamId::UnbondingDelayBlocks);
        let release_at = self
            .ctx
            .height
            .checked_add(delay)
            .ok_or(TxError::Overflow("release height"))?;
        d.unbonding.push(Unbonding { amount, release_at });
        self.state.devices.insert(*device, d);
        self.events.push(Event::UnbondStarted {
            device: *device,
            amount,
            release_at,
        });
        Ok(())
    }

    pub(super) fn withdraw_unbonded(&mut self, device: &PublicKey) -> Result<(), TxError> {
        let mut d = self.owned_device(device)?;
        let height = self.ctx.height;
        let (matured, pending): (Vec<Unbonding>, Vec<Unbonding>) = d
            .unbonding
            .into_iter()
            .partition(|u| u.release_at <= height);
        if matured.is_empty() {
            return Err(TxError::NothingUnbonded {
                next: pending.iter().map(|u| u.release_at).min(),
            });
        }
        let mut total = Tokens::ZERO;
        for u in &matured {
            total = add_tokens(total, u.amount, "unbonded total")?;
        }
        d.unbonding = pending;
        self.state.devices.insert(*device, d);
        credit_tokens(self.state, &self.sender, total)?;
        self.events.push(Event::UnbondWithdrawn {
            device: *device,
            amount: total,
        });
        Ok(())
    }
}
