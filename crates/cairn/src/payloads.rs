//! Payloads signed by someone other than a transaction's sender: a maker's attestation,
//! a device's consent to its owner, a consumer's usage receipt.

use std::path::PathBuf;

use anyhow::Result;
use cairn_core::envelope::{Signed, sign_detached};
use cairn_core::{Credits, Height, KeyUri, NetworkId, PublicKey, Signature};
use cairn_ledger::tx::{DeviceConsent, MakerAttestation, UsageReceipt};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::args::{DeviceKindArg, ServiceArg};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum MakerCmd {
    /// Attest that you built the device holding DEVICE's key; prints the signature that
    /// `cairn tx onboard --maker-signature` takes, or with --request, writes the
    /// attestation file that `cairn agent onboard --attestation` takes.
    Attest(AttestArgs),
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The maker's key: file:///absolute/path or a plain path.
    #[arg(long, value_name = "URI")]
    key: KeyUri,
    /// Network id the signature is valid on.
    #[arg(
        long,
        env = "CAIRN_NETWORK",
        value_name = "ID",
        required_unless_present = "request"
    )]
    network: Option<NetworkId>,
    /// The device's did:key.
    #[arg(long, value_name = "DID", required_unless_present = "request")]
    device: Option<PublicKey>,
    /// What the device does.
    #[arg(long, value_enum, required_unless_present = "request")]
    kind: Option<DeviceKindArg>,
    /// A device's onboarding request (from `cairn agent request`) instead of
    /// --network/--device/--kind; writes an attestation file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["network", "device", "kind"])]
    request: Option<PathBuf>,
    /// With --request: write the attestation here (created; never overwritten) instead of
    /// stdout.
    #[arg(long, value_name = "FILE", requires = "request")]
    out: Option<PathBuf>,
    /// Print {"signature": …} instead of the bare hex.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// Consent, as the device, to be owned by OWNER; prints the signature that
    /// `cairn tx onboard --device-signature` takes.
    Consent(ConsentArgs),
    /// As the owner of a denied device, appeal its denylist entry with a deposit: opens a
    /// governance dispute ruling; the device's rewards stay withheld until it is decided.
    Appeal(crate::rewards_cmd::AppealArgs),
}

#[derive(Debug, Args)]
pub struct ConsentArgs {
    /// The device's key: file:///absolute/path or a plain path.
    #[arg(long, value_name = "URI")]
    key: KeyUri,
    /// Network id the signature is valid on.
    #[arg(long, env = "CAIRN_NETWORK", value_name = "ID")]
    network: NetworkId,
    /// The did:key of the owner who will send the onboarding transaction.
    #[arg(long, value_name = "DID")]
    owner: PublicKey,
    /// Print {"signature": …} instead of the bare hex.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsageCmd {
    /// Sign a usage receipt: a promise to pay DEVICE AMOUNT credits, settled by anyone
    /// with `cairn tx pay --receipt FILE` (the credits are burned from your account).
    Receipt(ReceiptArgs),
}

#[derive(Debug, Args)]
pub struct ReceiptArgs {
    /// The consumer's key (the account whose credits pay): file:///absolute/path or a plain path.
    #[arg(long, value_name = "URI")]
    key: KeyUri,
    /// Network id the receipt is valid on.
    #[arg(long, env = "CAIRN_NETWORK", value_name = "ID")]
    network: NetworkId,
    /// The did:key of the device that served you.
    #[arg(long, value_name = "DID")]
    device: PublicKey,
    /// The service paid for.
    #[arg(long, value_enum)]
    service: ServiceArg,
    /// Credits to pay (whole credits; 1 credit = 0.00001 USD).
    #[arg(long, value_name = "CREDITS")]
    amount: Credits,
    /// A number that tells otherwise identical receipts apart.
    #[arg(long, value_name = "N")]
    serial: u64,
    /// Last block height at which the receipt can be settled (at most
    /// receipt_max_ttl_blocks ahead of the settling block).
    #[arg(long, value_name = "HEIGHT")]
    expires_at: u64,
    /// Write the receipt JSON to FILE (created; never overwritten) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct SignatureOut {
    signature: String,
}

fn print_signature(signature: &Signature, json: bool) -> Result<()> {
    let hex = hex::encode(signature.0);
    if json {
        output::print_json(&SignatureOut { signature: hex })
    } else {
        output::print_stdout(&format!("{hex}\n"))
    }
}

impl MakerCmd {
    pub fn run(self) -> Result<()> {
        let MakerCmd::Attest(a) = self;
        let signer = a.key.load()?;
        if let Some(path) = &a.request {
            let request: crate::agent_cmd::OnboardingRequest =
                crate::args::read_json("--request", path, "an onboarding request")?;
            let attestation = MakerAttestation {
                device: request.device,
                kind: request.kind,
            };
            let file = crate::agent_cmd::AttestationFile {
                signature: sign_detached(signer.as_ref(), &request.network, &attestation),
                network: request.network,
                device: request.device,
                kind: request.kind,
                maker: signer.public_key(),
            };
            return output::write_json(&file, a.out.as_deref());
        }
        let (Some(network), Some(device), Some(kind)) = (a.network, a.device, a.kind) else {
            anyhow::bail!("--network, --device and --kind are required without --request");
        };
        let attestation = MakerAttestation {
            device,
            kind: kind.into(),
        };
        let signature = sign_detached(signer.as_ref(), &network, &attestation);
        print_signature(&signature, a.json)
    }
}

impl DeviceCmd {
    pub fn run(self) -> Result<()> {
        let a = match self {
            DeviceCmd::Consent(a) => a,
            DeviceCmd::Appeal(a) => return crate::rewards_cmd::appeal(a),
        };
        let signer = a.key.load()?;
        let consent = DeviceConsent { owner: a.owner };
        let signature = sign_detached(signer.as_ref(), &a.network, &consent);
        print_signature(&signature, a.json)
    }
}

impl UsageCmd {
    pub fn run(self) -> Result<()> {
        let UsageCmd::Receipt(a) = self;
        anyhow::ensure!(!a.amount.is_zero(), "--amount must be at least 1 credit");
        let signer = a.key.load()?;
        let receipt = UsageReceipt {
            device: a.device,
            service: a.service.into(),
            amount: a.amount,
            serial: a.serial,
            expires_at: Height(a.expires_at),
        };
        let signed = Signed::sign(signer.as_ref(), &a.network, receipt);
        output::write_json(&signed, a.out.as_deref())
    }
}
