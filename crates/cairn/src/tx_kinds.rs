//! `cairn tx <kind>`: one subcommand per transaction kind, and its flags.

use anyhow::Result;
use cairn_core::{Height, Location, PublicKey, Tokens};
use cairn_ledger::TxKind;
use clap::{Args, Subcommand};

use crate::args::{VoteArg, parse_usd_e8};
use crate::propose::ProposeArgs;
use crate::tx::{Build, BuildCtx, Tx};
use crate::tx_payloads::{ClaimArgs, OnboardArgs, PayArgs, RawArgs, ReportFaultArgs};

#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per run; boxing would only obscure the clap derive"
)]
#[derive(Debug, Subcommand)]
pub enum TxKindCmd {
    /// Send tokens to another account.
    Transfer(Tx<TransferArgs>),
    /// Onboard a device as its owner (burns onboarding_fee_credits credits).
    Onboard(Tx<OnboardArgs>),
    /// Assert where an owned device is (burns location_fee_credits credits).
    AssertLocation(Tx<AssertLocationArgs>),
    /// Bond tokens to an owned device (slashable).
    Bond(Tx<DeviceAmountArgs>),
    /// Start unbonding tokens from an owned device (withdrawable after unbonding_delay_blocks).
    Unbond(Tx<DeviceAmountArgs>),
    /// Withdraw a device's matured unbonding entries.
    WithdrawUnbonded(Tx<DeviceArgs>),
    /// Submit the token price, as a price oracle.
    SubmitPrice(Tx<SubmitPriceArgs>),
    /// Burn tokens for credits at the oracle price.
    MintCredits(Tx<MintCreditsArgs>),
    /// Settle a consumer's usage receipt (from `cairn usage receipt`).
    Pay(Tx<PayArgs>),
    /// Claim rewards with a Merkle proof against an accepted reward manifest.
    Claim(Tx<ClaimArgs>),
    /// Appeal a denylist entry against your device (opens a dispute-ruling proposal).
    Appeal(Tx<AppealArgs>),
    /// Lock tokens for voting power until a height (extends an existing lock).
    Lock(Tx<LockArgs>),
    /// Withdraw an expired lock.
    Unlock(Tx<UnlockArgs>),
    /// Open a governance proposal.
    Propose(Tx<ProposeArgs>),
    /// Vote on a proposal with your locked tokens.
    Vote(Tx<VoteArgs>),
    /// Tally a proposal whose voting closed, or execute one whose timelock ran out.
    Execute(Tx<ExecuteArgs>),
    /// Prove that a validator signed two conflicting consensus votes; its share of the
    /// epoch's validator pool is forfeit (validators report what they see on their own).
    ReportFault(Tx<ReportFaultArgs>),
    /// Any transaction kind given as JSON (for oracle-cosigned kinds such as
    /// submit_manifest and add_denylist_entry).
    Raw(Tx<RawArgs>),
}

impl TxKindCmd {
    pub fn run(self) -> Result<()> {
        match self {
            TxKindCmd::Transfer(t) => t.run(),
            TxKindCmd::Onboard(t) => t.run(),
            TxKindCmd::AssertLocation(t) => t.run(),
            TxKindCmd::Bond(t) => t.run_with(|a, _| Ok(a.bond())),
            TxKindCmd::Unbond(t) => t.run_with(|a, _| Ok(a.unbond())),
            TxKindCmd::WithdrawUnbonded(t) => t.run(),
            TxKindCmd::SubmitPrice(t) => t.run(),
            TxKindCmd::MintCredits(t) => t.run(),
            TxKindCmd::Pay(t) => t.run(),
            TxKindCmd::Claim(t) => t.run(),
            TxKindCmd::Appeal(t) => t.run(),
            TxKindCmd::Lock(t) => t.run(),
            TxKindCmd::Unlock(t) => t.run(),
            TxKindCmd::Propose(t) => t.run(),
            TxKindCmd::Vote(t) => t.run(),
            TxKindCmd::Execute(t) => t.run(),
            TxKindCmd::ReportFault(t) => t.run(),
            TxKindCmd::Raw(t) => t.run(),
        }
    }
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The recipient's did:key.
    #[arg(long, value_name = "DID")]
    to: PublicKey,
    /// Tokens to send (decimal, up to 8 places).
    #[arg(long, value_name = "TOKENS")]
    amount: Tokens,
}

impl Build for TransferArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::Transfer {
            to: self.to,
            amount: self.amount,
        })
    }
}

#[derive(Debug, Args)]
pub struct AssertLocationArgs {
    /// The device's did:key.
    #[arg(long, value_name = "DID")]
    device: PublicKey,
    /// H3 cell in hex, at the resolution of the parameter location_resolution.
    #[arg(long, value_name = "H3HEX")]
    location: Location,
}

impl Build for AssertLocationArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::AssertLocation {
            device: self.device,
            location: self.location,
        })
    }
}

#[derive(Debug, Args)]
pub struct DeviceAmountArgs {
    /// The device's did:key.
    #[arg(long, value_name = "DID")]
    device: PublicKey,
    /// Tokens (decimal, up to 8 places).
    #[arg(long, value_name = "TOKENS")]
    amount: Tokens,
}

impl DeviceAmountArgs {
    fn bond(self) -> TxKind {
        TxKind::Bond {
            device: self.device,
            amount: self.amount,
        }
    }
    fn unbond(self) -> TxKind {
        TxKind::Unbond {
            device: self.device,
            amount: self.amount,
        }
    }
}

#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The device's did:key.
    #[arg(long, value_name = "DID")]
    device: PublicKey,
}

impl Build for DeviceArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::WithdrawUnbonded {
            device: self.device,
        })
    }
}

#[derive(Debug, Args)]
pub struct SubmitPriceArgs {
    /// USD per whole token, up to 8 decimal places (e.g. 1.25).
    #[arg(long, value_name = "DECIMAL", value_parser = parse_usd_e8)]
    usd_per_token: u128,
    /// When the price was observed, Unix milliseconds.
    #[arg(long, value_name = "MS")]
    observed_at_ms: u64,
}

impl Build for SubmitPriceArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::SubmitPrice {
            usd_per_token_e8: self.usd_per_token,
            observed_at_ms: self.observed_at_ms,
        })
    }
}

#[derive(Debug, Args)]
pub struct MintCreditsArgs {
    /// Tokens to burn (decimal, up to 8 places).
    #[arg(long, value_name = "TOKENS")]
    amount: Tokens,
}

impl Build for MintCreditsArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::MintCredits {
            amount: self.amount,
        })
    }
}

#[derive(Debug, Args)]
pub struct AppealArgs {
    /// The denylist entry id.
    #[arg(long, value_name = "ID")]
    entry: u64,
    /// Tokens locked as the proposal deposit (at least proposal_deposit).
    #[arg(long, value_name = "TOKENS")]
    deposit: Tokens,
}

impl Build for AppealArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::Appeal {
            entry: self.entry,
            deposit: self.deposit,
        })
    }
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// Tokens to lock (decimal, up to 8 places).
    #[arg(long, value_name = "TOKENS")]
    amount: Tokens,
    /// Block height the lock ends at (at most max_lock_blocks ahead).
    #[arg(long, value_name = "HEIGHT")]
    unlock_at: u64,
}

impl Build for LockArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::LockTokens {
            amount: self.amount,
            unlock_at: Height(self.unlock_at),
        })
    }
}

#[derive(Debug, Args)]
pub struct UnlockArgs {}

impl Build for UnlockArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::Unlock)
    }
}

#[derive(Debug, Args)]
pub struct VoteArgs {
    /// The proposal id.
    #[arg(long, value_name = "ID")]
    proposal: u64,
    /// Your vote.
    #[arg(long, value_enum)]
    choice: VoteArg,
}

impl Build for VoteArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::Vote {
            proposal: self.proposal,
            choice: self.choice.into(),
        })
    }
}

#[derive(Debug, Args)]
pub struct ExecuteArgs {
    /// The proposal id.
    #[arg(long, value_name = "ID")]
    proposal: u64,
}

impl Build for ExecuteArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::ExecuteProposal {
            proposal: self.proposal,
        })
    }
}
