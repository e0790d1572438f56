//! Recording a validator fault proven by two conflicting signed votes.

use cairn_core::Hash;
use cairn_core::codec::encode;

use super::Exec;
use crate::error::TxError;
use crate::events::Event;
use crate::faults::FaultEvidence;
use crate::state::ValidatorFault;

impl Exec<'_> {
    pub(super) fn report_validator_fault(&mut self, e: &FaultEvidence) -> Result<(), TxError> {
        if !self
            .state
            .authorities
            .validators
            .iter()
            .any(|(k, _)| *k == e.validator)
        {
            return Err(TxError::BadFaultEvidence("the signer is not a validator"));
        }
        e.verify(&self.state.network)
            .map_err(TxError::BadFaultEvidence)?;
        let key = (e.validator, e.epoch, e.view);
        if self.state.validator_faults.contains_key(&key) {
            return Err(TxError::FaultReported {
                validator: e.validator.to_did(),
                epoch: e.epoch,
                view: e.view,
            });
        }
        let epoch = self.state.epoch_at(self.ctx.time_ms);
        let kind = e.kind();
        self.state.validator_faults.insert(
            key,
            ValidatorFault {
                kind,
                epoch,
                height: self.ctx.height,
                reporter: self.sender,
                evidence: Hash::of(&encode(e)),
            },
        );
        self.events.push(Event::ValidatorFaulted {
            validator: e.validator,
            kind,
            consensus_epoch: e.epoch,
            view: e.view,
            epoch,
            reporter: self.sender,
        });
        Ok(())
    }
}
