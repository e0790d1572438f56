//! Transaction kinds that carry payloads signed by others or read from files; what can
//! be checked offline (signatures, JSON shape) is checked before signing.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cairn_core::envelope::{Signed, verify_detached};
use cairn_core::{Epoch, PublicKey, Signature};
use cairn_ledger::TxKind;
use cairn_ledger::tx::{DeviceConsent, MakerAttestation, RewardClaim, UsageReceipt};
use clap::Args;
use serde::Deserialize;

use crate::args::{DeviceKindArg, read_json};
use crate::tx::{Build, BuildCtx};

#[derive(Debug, Args)]
pub struct OnboardArgs {
    /// The device's did:key.
    #[arg(long, value_name = "DID")]
    device: PublicKey,
    /// What the device does (must match the maker's attestation).
    #[arg(long, value_enum)]
    kind: DeviceKindArg,
    /// The approved maker's did:key.
    #[arg(long, value_name = "DID")]
    maker: PublicKey,
    /// From `cairn maker attest` (128 hex digits).
    #[arg(long, value_name = "HEX")]
    maker_signature: Signature,
    /// From `cairn device consent --owner <your did>` (128 hex digits).
    #[arg(long, value_name = "HEX")]
    device_signature: Signature,
}

impl Build for OnboardArgs {
    fn build(self, ctx: &BuildCtx<'_>) -> Result<TxKind> {
        let attestation = MakerAttestation {
            device: self.device,
            kind: self.kind.into(),
        };
        verify_detached(
            &self.maker,
            ctx.network,
            &attestation,
            &self.maker_signature,
        )
        .context(
            "--maker-signature is not --maker's attestation of this --device and --kind \
             on this --network (see `cairn maker attest`)",
        )?;
        let consent = DeviceConsent { owner: ctx.sender };
        verify_detached(&self.device, ctx.network, &consent, &self.device_signature).with_context(
            || {
                format!(
                    "--device-signature is not the device's consent to owner {} (the --key \
                     sender); see `cairn device consent --owner`",
                    ctx.sender
                )
            },
        )?;
        Ok(TxKind::OnboardDevice {
            device: self.device,
            kind: self.kind.into(),
            maker: self.maker,
            maker_signature: self.maker_signature,
            device_signature: self.device_signature,
        })
    }
}

#[derive(Debug, Args)]
pub struct PayArgs {
    /// The signed receipt JSON written by `cairn usage receipt`.
    #[arg(long, value_name = "FILE")]
    receipt: PathBuf,
}

impl Build for PayArgs {
    fn build(self, ctx: &BuildCtx<'_>) -> Result<TxKind> {
        let receipt: Signed<UsageReceipt> =
            read_json("--receipt", &self.receipt, "a signed usage receipt")?;
        receipt.verify(ctx.network).with_context(|| {
            format!(
                "--receipt {} is not validly signed for network {}",
                self.receipt.display(),
                ctx.network
            )
        })?;
        Ok(TxKind::PayForService { receipt })
    }
}

/// The `--claim` file: leaves and proofs a reward oracle publishes for recipients
/// (`GET /v1/rewards/proofs`).
#[derive(Debug, Deserialize)]
struct ClaimFile {
    epoch: Epoch,
    claims: Vec<RewardClaim>,
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// JSON {"epoch": N, "claims": [{"leaf": {...}, "proof": {...}}, ...]} from the
    /// node's `/v1/rewards/proofs` (`cairn rewards claim` does all of this for you).
    #[arg(long, value_name = "FILE")]
    claim: PathBuf,
}

impl Build for ClaimArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        let c: ClaimFile = read_json("--claim", &self.claim, "a reward claim")?;
        Ok(TxKind::ClaimRewards {
            epoch: c.epoch,
            claims: c.claims,
        })
    }
}

#[derive(Debug, Args)]
pub struct ReportFaultArgs {
    /// The fault evidence as JSON: a `faults[].evidence` object of `GET /v1/validators`
    /// (two conflicting votes signed by one validator).
    #[arg(long, value_name = "FILE")]
    evidence: PathBuf,
}

impl Build for ReportFaultArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        Ok(TxKind::ReportValidatorFault {
            evidence: read_json("--evidence", &self.evidence, "fault evidence")?,
        })
    }
}

#[derive(Debug, Args)]
pub struct RawArgs {
    /// A transaction kind as JSON, e.g. {"submit_manifest": {"manifest": …, "signatures": […]}}.
    #[arg(long, value_name = "FILE")]
    kind: PathBuf,
}

impl Build for RawArgs {
    fn build(self, _: &BuildCtx<'_>) -> Result<TxKind> {
        read_json("--kind", &self.kind, "a transaction kind")
    }
}
