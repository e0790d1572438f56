//! Governance: typed proposals, lock-weighted votes, tally, timelock, execution.

use std::collections::BTreeSet;

use cairn_core::amount::widening_mul;
use cairn_core::{Height, Tokens};

use super::accounts::voting_power;
use super::{Exec, add_tokens, credit_tokens, debit_tokens};
use crate::error::TxError;
use crate::events::Event;
use crate::params::{ParamId, Params};
use crate::state::{DenylistStatus, Maker, Proposal, ProposalStatus, State, Tally, VoteRecord};
use crate::tx::{MAX_NAME_LEN, ProposalKind, VoteChoice};

const MAX_PARAM_CHANGES: usize = 16;
const BPS: u128 = 10_000;

/// Check a proposal against the current state; the same check runs again at execution.
fn validate(state: &State, kind: &ProposalKind, height: Height) -> Result<(), TxError> {
    let bad = |s: String| Err(TxError::BadProposal(s));
    match kind {
        ProposalKind::ParamChange { changes } => {
            if changes.is_empty() || changes.len() > MAX_PARAM_CHANGES {
                return bad(format!(
                    "a parameter change lists 1 to {MAX_PARAM_CHANGES} parameters"
                ));
            }
            let mut seen = BTreeSet::new();
            let mut after = state.params.clone();
            for c in changes {
                if !seen.insert(c.param) {
                    return bad(format!("parameter {} appears twice", c.param));
                }
                state.params.check_change(c.param, c.value)?;
                after.set(c.param, c.value);
            }
            after.check_consistency()?;
        }
        ProposalKind::TreasurySpend { amount, .. } => {
            if amount.is_zero() {
                return Err(TxError::ZeroAmount("treasury spend"));
            }
        }
        ProposalKind::MakerApproval { maker, name } => {
            if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
                return bad(format!("a maker name is 1 to {MAX_NAME_LEN} characters"));
            }
            if state
                .makers
                .get(maker)
                .is_some_and(|m| m.revoked_at.is_none())
            {
                return Err(TxError::MakerExists(maker.to_did()));
            }
        }
        ProposalKind::MakerRevocation { maker } => match state.makers.get(maker) {
            None => return Err(TxError::UnknownMaker(maker.to_did())),
            Some(Maker {
                revoked_at: Some(at),
                ..
            }) => {
                return Err(TxError::MakerRevoked {
                    maker: maker.to_did(),
                    at: *at,
                });
            }
            Some(_) => {}
        },
        ProposalKind::DisputeRuling { entry, .. } => match state.denylist.get(entry) {
            None => return Err(TxError::UnknownDenylistEntry(*entry)),
            Some(r) if r.status == DenylistStatus::Overturned => {
                return bad(format!("denylist entry {entry} is already overturned"));
            }
            Some(_) => {}
        },
        ProposalKind::SoftwareUpgrade {
            version,
            height: at,
        } => {
            if version.is_empty() || version.chars().count() > MAX_NAME_LEN {
                return bad(format!("a version is 1 to {MAX_NAME_LEN} characters"));
            }
            if *at <= height {
                return bad(format!("upgrade height {at} is not in the future"));
            }
        }
        ProposalKind::EmergencyCurtail { param, value } => {
            let current = state.params.get(*param);
            if *value >= current {
                return bad(format!(
                    "an emergency curtailment may only lower a parameter: {param} is {current}, proposed {value}"
                ));
            }
            Params::check_bounds(*param, *value)?;
        }
    }
    Ok(())
}

/// The pass threshold, in basis points of decisive votes, for a kind of proposal.
fn threshold_bps(params: &Params, kind: &ProposalKind) -> u128 {
    let economic = match kind {
        ProposalKind::ParamChange { changes } => changes.iter().any(|c| c.param.spec().economic),
        ProposalKind::TreasurySpend { .. } => true,
        _ => false,
    };
    match kind {
        ProposalKind::EmergencyCurtail { .. } => params.get(ParamId::CurtailThresholdBps),
        _ if economic => params.get(ParamId::SupermajorityBps),
        _ => params.get(ParamId::PassThresholdBps),
    }
}

/// `a × BPS ≥ bps × b` without overflow (both sides in 256 bits).
fn at_least_bps(a: u128, bps: u128, b: u128) -> bool {
    widening_mul(a, BPS) >= widening_mul(bps, b)
}

impl Exec<'_> {
    /// Open a proposal (also used by appeals); returns its id.
    pub(super) fn propose(&mut self, kind: ProposalKind, deposit: Tokens) -> Result<u64, TxError> {
        let height = self.ctx.height;
        validate(self.state, &kind, height)?;
        let minimum = Tokens::from_base_units(self.state.params.get(ParamId::ProposalDeposit));
        if deposit < minimum {
            return Err(TxError::DepositTooLow {
                offered: deposit,
                minimum,
            });
        }
        debit_tokens(self.state, &self.sender, deposit)?;
        let max_lock = self.state.params.get_u64(ParamId::MaxLockBlocks);
        let power_snapshot = self
            .state
            .locks
            .values()
            .map(|l| voting_power(l, height, max_lock))
            .fold(0u128, u128::saturating_add);
        let period = self.state.params.get_u64(ParamId::VotingPeriodBlocks);
        let voting_end = height
            .checked_add(period)
            .ok_or(TxError::Overflow("voting end"))?;
        let id = self.state.next_proposal_id;
        self.state.next_proposal_id = id.checked_add(1).ok_or(TxError::Overflow("proposal id"))?;
        self.state.proposals.insert(
            id,
            Proposal {
                proposer: self.sender,
                kind,
                deposit,
                start: height,
                voting_end,
                power_snapshot,
                tally: Tally::default(),
                status: ProposalStatus::Voting,
            },
        );
        self.events.push(Event::ProposalCreated {
            proposal: id,
            voting_end,
        });
        Ok(id)
    }

    fn proposal(&self, id: u64) -> Result<Proposal, TxError> {
        self.state
            .proposals
            .get(&id)
            .cloned()
            .ok_or(TxError::UnknownProposal(id))
    }

    pub(super) fn vote(&mut self, id: u64, choice: VoteChoice) -> Result<(), TxError> {
        let mut p = self.proposal(id)?;
        let height = self.ctx.height;
        if p.status != ProposalStatus::Voting || height >= p.voting_end {
            return Err(TxError::VotingClosed {
                proposal: id,
                ended_at: p.voting_end,
                height,
            });
        }
        let max_lock = self.state.params.get_u64(ParamId::MaxLockBlocks);
        let weight = self
            .state
            .locks
            .get(&self.sender)
            .map_or(0, |l| voting_power(l, p.start, max_lock));
        if weight == 0 {
            return Err(TxError::NoVotingPower(id));
        }
        if let Some(prev) = self.state.votes.get(&(id, self.sender)) {
            let slot = p.tally.slot(prev.choice);
            *slot = slot.saturating_sub(prev.weight);
        }
        let slot = p.tally.slot(choice);
        *slot = slot.checked_add(weight).ok_or(TxError::Overflow("tally"))?;
        self.state.proposals.insert(id, p);
        self.state
            .votes
            .insert((id, self.sender), VoteRecord { choice, weight });
        self.events.push(Event::Voted {
            proposal: id,
            voter: self.sender,
            choice,
            weight,
        });
        Ok(())
    }

    pub(super) fn execute_proposal(&mut self, id: u64) -> Result<(), TxError> {
        let mut p = self.proposal(id)?;
        let height = self.ctx.height;
        let tallied_now = p.status == ProposalStatus::Voting;
        if tallied_now {
            if height < p.voting_end {
                return Err(TxError::ProposalNotReady {
                    proposal: id,
                    why: format!("voting is open until height {}", p.voting_end),
                });
            }
            p.status = self.tally(id, &p)?;
            self.events.push(Event::ProposalTallied {
                proposal: id,
                status: p.status.clone(),
            });
        } else if !matches!(p.status, ProposalStatus::Passed { .. }) {
            return Err(TxError::ProposalNotReady {
                proposal: id,
                why: format!("it is already settled ({:?})", p.status),
            });
        }
        if let ProposalStatus::Passed { executable_at } = p.status {
            if height >= executable_at {
                p.status = match self.carry_out(&p.kind) {
                    Ok(()) => ProposalStatus::Executed { at: height },
                    Err(e) => ProposalStatus::Failed {
                        reason: e.to_string(),
                    },
                };
                self.events.push(Event::ProposalExecuted {
                    proposal: id,
                    status: p.status.clone(),
                });
            } else if !tallied_now {
                return Err(TxError::ProposalNotReady {
                    proposal: id,
                    why: format!("timelocked until height {executable_at}"),
                });
            }
        }
        self.state.proposals.insert(id, p);
        Ok(())
    }

    /// Decide a proposal whose voting closed, and settle its deposit.
    fn tally(&mut self, id: u64, p: &Proposal) -> Result<ProposalStatus, TxError> {
        let params = &self.state.params;
        let t = &p.tally;
        let total = t.total();
        let status = if p.power_snapshot == 0
            || !at_least_bps(total, params.get(ParamId::QuorumBps), p.power_snapshot)
        {
            ProposalStatus::NoQuorum
        } else if t.veto > 0 && at_least_bps(t.veto, params.get(ParamId::VetoThresholdBps), total) {
            ProposalStatus::Vetoed
        } else {
            let decisive = t.yes.saturating_add(t.no).saturating_add(t.veto);
            if t.yes > 0 && at_least_bps(t.yes, threshold_bps(params, &p.kind), decisive) {
                let timelock = match p.kind {
                    ProposalKind::EmergencyCurtail { .. } => 0,
                    _ => params.get_u64(ParamId::TimelockBlocks),
                };
                ProposalStatus::Passed {
                    executable_at: p
                        .voting_end
                        .checked_add(timelock)
                        .ok_or(TxError::Overflow("timelock"))?,
                }
            } else {
                ProposalStatus::Rejected
            }
        };
        // An appeal voted down (the finding upheld) forfeits its deposit to the treasury:
        // appealing a sound finding costs something.
        let appealed = match p.kind {
            ProposalKind::DisputeRuling { entry, .. } => self
                .state
                .denylist
                .get(&entry)
                .filter(|r| r.status == (DenylistStatus::Appealed { proposal: id }))
                .map(|_| entry),
            _ => None,
        };
        // The deposit, held by the proposal while it was open, comes back unless the
        // proposal was vetoed as abuse, in which case it is burned.
        if status == ProposalStatus::Vetoed {
            self.state.supply.burned =
                add_tokens(self.state.supply.burned, p.deposit, "burned supply")?;
        } else if let (Some(entry), ProposalStatus::Rejected) = (appealed, &status) {
            self.state.supply.treasury =
                add_tokens(self.state.supply.treasury, p.deposit, "treasury")?;
            self.events.push(Event::AppealForfeited {
                entry,
                appellant: p.proposer,
                deposit: p.deposit,
            });
        } else {
            credit_tokens(self.state, &p.proposer, p.deposit)?;
        }
        // A failed appeal upholds the entry it was about.
        if let ProposalKind::DisputeRuling { entry, .. } = p.kind
            && !matches!(status, ProposalStatus::Passed { .. })
            && let Some(mut r) = self.state.denylist.get(&entry).cloned()
            && r.status == (DenylistStatus::Appealed { proposal: id })
        {
            r.set_status(DenylistStatus::Upheld, self.ctx.height);
            self.state.denylist.insert(entry, r);
        }
        Ok(status)
    }

    /// The treasury breaker: at most `treasury_breaker_ppm` of the treasury (as it stands
    /// plus what already left in the window) may leave within `mint_breaker_window_blocks`.
    /// A spend beyond it fails (the proposal is marked failed) and the breaker trips.
    fn treasury_breaker(&mut self, amount: Tokens) -> Result<(), TxError> {
        let window = self.state.params.get_u64(ParamId::MintBreakerWindowBlocks);
        let since = Height(self.ctx.height.0.saturating_sub(window));
        let old: Vec<Height> = self
            .state
            .treasury_outflow
            .keys()
            .take_while(|h| **h <= since)
            .copied()
            .collect();
        for h in old {
            self.state.treasury_outflow.remove(&h);
        }
        let spent: u128 = self
            .state
            .treasury_outflow
            .values()
            .map(|t| t.base_units())
            .fold(0, u128::saturating_add);
        let base = self
            .state
            .supply
            .treasury
            .base_units()
            .saturating_add(spent);
        let ppm = self.state.params.get(ParamId::TreasuryBreakerPpm);
        let limit = (base / 1_000_000).saturating_mul(ppm)
            + (base % 1_000_000).saturating_mul(ppm) / 1_000_000;
        let allowed = Tokens::from_base_units(limit.saturating_sub(spent));
        if amount > allowed {
            self.state.breakers.treasury_tripped_at = Some(self.ctx.height);
            self.events.push(Event::CircuitBreakerTripped {
                breaker: "treasury".into(),
                wanted: amount,
                allowed,
            });
            return Err(TxError::CircuitBreaker {
                breaker: "treasury",
                wanted: amount,
                allowed,
            });
        }
        let slot = self
            .state
            .treasury_outflow
            .entry(self.ctx.height)
            .or_default();
        *slot = add_tokens(*slot, amount, "treasury outflow")?;
        Ok(())
    }

    /// Carry out a passed proposal. Errors here mark the proposal failed; they do not
    /// reject the transaction that triggered execution.
    fn carry_out(&mut self, kind: &ProposalKind) -> Result<(), TxError> {
        // State may have moved since submission (another change landed, the treasury
        // was spent): check again. An upgrade signal stays valid once its height passed.
        if !matches!(kind, ProposalKind::SoftwareUpgrade { .. }) {
            validate(self.state, kind, self.ctx.height)?;
        }
        match kind {
            ProposalKind::ParamChange { changes } => {
                for c in changes {
                    self.state.params.set(c.param, c.value);
                }
            }
            ProposalKind::TreasurySpend { to, amount } => {
                self.treasury_breaker(*amount)?;
                let treasury = self.state.supply.treasury;
                self.state.supply.treasury =
                    treasury
                        .checked_sub(*amount)
                        .ok_or(TxError::InsufficientTokens {
                            needed: *amount,
                            available: treasury,
                        })?;
                credit_tokens(self.state, to, *amount)?;
            }
            ProposalKind::MakerApproval { maker, name } => {
                let devices_onboarded = self
                    .state
                    .makers
                    .get(maker)
                    .map_or(0, |m| m.devices_onboarded);
                self.state.makers.insert(
                    *maker,
                    Maker {
                        name: name.clone(),
                        approved_at: self.ctx.height,
                        revoked_at: None,
                        devices_onboarded,
                    },
                );
            }
            ProposalKind::MakerRevocation { maker } => {
                if let Some(mut m) = self.state.makers.get(maker).cloned() {
                    m.revoked_at = Some(self.ctx.height);
                    self.state.makers.insert(*maker, m);
                }
            }
            ProposalKind::DisputeRuling { entry, overturn } => {
                if let Some(mut r) = self.state.denylist.get(entry).cloned() {
                    let status = if *overturn {
                        DenylistStatus::Overturned
                    } else {
                        DenylistStatus::Upheld
                    };
                    r.set_status(status, self.ctx.height);
                    self.state.denylist.insert(*entry, r);
                }
            }
            ProposalKind::SoftwareUpgrade { .. } => {}
            ProposalKind::EmergencyCurtail { param, value } => {
                self.state.params.set(*param, *value)
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bps_comparison_is_exact_at_the_edge() {
        assert!(at_least_bps(5_001, 5_001, 10_000));
        assert!(!at_least_bps(5_000, 5_001, 10_000));
        assert!(at_least_bps(u128::MAX, 10_000, u128::MAX));
        assert!(!at_least_bps(u128::MAX - 1, 10_000, u128::MAX));
        assert_eq!(widening_mul(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
    }
}
