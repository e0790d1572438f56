//! `cairn tx propose`: governance proposals.

use anyhow::{Result, anyhow, bail};
use cairn_core::{Height, PublicKey, Tokens};
use cairn_ledger::tx::{ParamValue, ProposalKind};
use cairn_ledger::{ParamId, TxKind};
use clap::{ArgGroup, Args, Subcommand};

use crate::args::{checked_param, parse_param_set, parse_param_u128};
use crate::tx::{Build, BuildCtx};

#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// Tokens locked as the deposit (at least the parameter proposal_deposit); returned
    /// unless the proposal is vetoed.
    #[arg(long, value_name = "TOKENS")]
    deposit: Tokens,
    #[command(subcommand)]
    proposal: ProposalCmd,
}

/// What the proposal would do.
#[derive(Debug, Subcommand)]
pub enum ProposalCmd {
    /// Change parameters, each within its bounds and largest step (see `cairn params`).
    ParamChange {
        /// NAME=VALUE, VALUE an integer in the parameter's unit; repeat for several.
        #[arg(long = "set", value_name = "NAME=VALUE", required = true,
              value_parser = parse_param_set)]
        set: Vec<ParamValue>,
    },
    /// Pay tokens from the treasury.
    TreasurySpend {
        /// The recipient's did:key.
        #[arg(long, value_name = "DID")]
        to: PublicKey,
        /// Tokens to pay (decimal, up to 8 places).
        #[arg(long, value_name = "TOKENS")]
        amount: Tokens,
    },
    /// Approve a device maker, whose attestations then onboard devices.
    MakerApproval {
        /// The maker's did:key.
        #[arg(long, value_name = "DID")]
        maker: PublicKey,
        /// The maker's name (1 to 64 characters).
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Revoke a maker: its attestations are no longer accepted.
    MakerRevocation {
        /// The maker's did:key.
        #[arg(long, value_name = "DID")]
        maker: PublicKey,
    },
    /// Rule on an appealed denylist entry.
    #[command(group(ArgGroup::new("ruling").required(true).args(["overturn", "uphold"])))]
    DisputeRuling {
        /// The denylist entry id.
        #[arg(long, value_name = "ID")]
        entry: u64,
        /// Overturn the entry: the device's rewards are no longer withheld.
        #[arg(long)]
        overturn: bool,
        /// Uphold the entry.
        #[arg(long)]
        uphold: bool,
    },
    /// Signal that validators should run VERSION from HEIGHT.
    SoftwareUpgrade {
        /// The software version, e.g. 0.2.0.
        #[arg(long, value_name = "VERSION")]
        version: String,
        /// The block height to switch at.
        #[arg(long, value_name = "HEIGHT")]
        height: u64,
    },
    /// Lower a parameter at once (pause or reduce): lower threshold, no timelock.
    EmergencyCurtail {
        /// The parameter's name (see `cairn params`).
        #[arg(long, value_name = "NAME")]
        param: ParamId,
        /// Its new, lower value, an integer in the parameter's unit.
        #[arg(long, value_name = "VALUE", value_parser = parse_param_u128)]
        value: u128,
    },
}

impl ProposalCmd {
    fn into_kind(self) -> Result<ProposalKind> {
        Ok(match self {
            ProposalCmd::ParamChange { set } => {
                let mut seen = std::collections::BTreeSet::new();
                for pv in &set {
                    if !seen.insert(pv.param) {
                        bail!("--set names parameter {} more than once", pv.param);
                    }
                }
                ProposalKind::ParamChange { changes: set }
            }
            ProposalCmd::TreasurySpend { to, amount } => ProposalKind::TreasurySpend { to, amount },
            ProposalCmd::MakerApproval { maker, name } => {
                let len = name.chars().count();
                if !(1..=cairn_ledger::tx::MAX_NAME_LEN).contains(&len) {
                    bail!("--name must be 1 to 64 characters, got {len}");
                }
                ProposalKind::MakerApproval { maker, name }
            }
            ProposalCmd::MakerRevocation { maker } => ProposalKind::MakerRevocation { maker },
            ProposalCmd::DisputeRuling {
                entry, overturn, ..
            } => ProposalKind::DisputeRuling { entry, overturn },
            ProposalCmd::SoftwareUpgrade { version, height } => ProposalKind::SoftwareUpgrade {
                version,
                height: Height(height),
            },
            ProposalCmd::EmergencyCurtail { param, value } => {
                let ParamValue { param, value } = checked_param(param, value)
                    .map_err(|e| anyhow!("--param {param} --value {value}: {e}"))?;
                ProposalKind::EmergencyCurtail { param, value }
            }
        })
    }
}

impl Build for ProposeArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::Propose {
            kind: self.proposal.into_kind()?,
            deposit: self.deposit,
        })
    }
}
