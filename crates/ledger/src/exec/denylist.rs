//! Denylist entries by verifier oracles, and appeals by owners.

use cairn_core::Tokens;

use super::{Exec, check_oracle_signatures};
use crate::error::TxError;
use crate::events::Event;
use crate::params::ParamId;
use crate::state::{DenylistRecord, DenylistStatus};
use crate::tx::{DenyTarget, DenylistEntry, OracleSignature, ProposalKind};

impl Exec<'_> {
    pub(super) fn add_denylist_entry(
        &mut self,
        entry: &DenylistEntry,
        signatures: &[OracleSignature],
    ) -> Result<(), TxError> {
        let threshold = self.state.params.get(ParamId::VerifierOracleThreshold);
        check_oracle_signatures(
            self.state,
            "verifier",
            &self.state.authorities.verifier_oracles,
            threshold,
            entry,
            signatures,
        )?;
        if let DenyTarget::Pair(a, b) = &entry.target
            && a >= b
        {
            return Err(TxError::BadDenylistEntry(
                "a pair must name two different devices in ascending key order",
            ));
        }
        for device in entry.target.devices() {
            if !self.state.devices.contains_key(&device) {
                return Err(TxError::UnknownDevice(device.to_did()));
            }
        }
        let height = self.ctx.height;
        if entry.expires_at <= height {
            return Err(TxError::BadDenylistEntry(
                "it expires at or before the current height",
            ));
        }
        let window = self.state.params.get_u64(ParamId::AppealWindowBlocks);
        let id = self.state.next_denylist_id;
        self.state.next_denylist_id = id.checked_add(1).ok_or(TxError::Overflow("denylist id"))?;
        self.state.denylist.insert(
            id,
            DenylistRecord {
                entry: entry.clone(),
                created_at: height,
                appeal_until: height
                    .checked_add(window)
                    .ok_or(TxError::Overflow("appeal window"))?,
                status: DenylistStatus::Active,
                reporter: self.sender,
                penalized: Vec::new(),
                history: Vec::new(),
            },
        );
        for device in entry.target.devices() {
            self.state.denylist_by_device.insert((device, id));
        }
        self.events.push(Event::Denylisted {
            entry: id,
            target: entry.target,
            reason: entry.reason,
        });
        Ok(())
    }

    pub(super) fn appeal(&mut self, entry_id: u64, deposit: Tokens) -> Result<(), TxError> {
        let mut record = self
            .state
            .denylist
            .get(&entry_id)
            .cloned()
            .ok_or(TxError::UnknownDenylistEntry(entry_id))?;
        let status = match record.status {
            DenylistStatus::Active => None,
            DenylistStatus::Appealed { .. } => Some("already appealed"),
            DenylistStatus::Upheld => Some("upheld"),
            DenylistStatus::Overturned => Some("overturned"),
        };
        if let Some(status) = status {
            return Err(TxError::NotAppealable {
                entry: entry_id,
                status,
            });
        }
        if self.ctx.height >= record.appeal_until {
            return Err(TxError::AppealWindowClosed {
                entry: entry_id,
                until: record.appeal_until,
            });
        }
        let owns_one = record.entry.target.devices().iter().any(|d| {
            self.state
                .devices
                .get(d)
                .is_some_and(|d| d.owner == self.sender)
        });
        if !owns_one {
            return Err(TxError::NotAffectedOwner);
        }
        let proposal = self.propose(
            ProposalKind::DisputeRuling {
                entry: entry_id,
                overturn: true,
            },
            deposit,
        )?;
        record.set_status(DenylistStatus::Appealed { proposal }, self.ctx.height);
        self.state.denylist.insert(entry_id, record);
        self.events.push(Event::AppealOpened {
            entry: entry_id,
            proposal,
        });
        Ok(())
    }
}
