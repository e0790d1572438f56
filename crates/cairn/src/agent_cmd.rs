//! `cairn agent`: set up a device, get it onboarded, and run it.
//!
//! Onboarding takes three parties: the device (its key signs consent to its owner), the
//! maker (signs an attestation over the device key, `cairn maker attest --request`), and
//! the owner (signs and pays for the onboarding transaction). Each step's output is a small
//! JSON file the next step reads.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use cairn_agent::config::{AgentConfig, AgentKind};
use cairn_core::envelope::{Signed, sign_detached};
use cairn_core::{Credits, KeyUri, NetworkId, PublicKey, Signature, Tokens};
use cairn_ledger::tx::{DeviceConsent, DeviceKind, Fee};
use cairn_ledger::{ParamId, Transaction, TxKind};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use crate::client;

/// What a maker is asked to sign: the device key and what it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardingRequest {
    pub network: NetworkId,
    pub device: PublicKey,
    pub kind: DeviceKind,
}

/// A maker's attestation over a device key, as `cairn maker attest --request` writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationFile {
    pub network: NetworkId,
    pub device: PublicKey,
    pub kind: DeviceKind,
    pub maker: PublicKey,
    pub signature: Signature,
}

pub fn ledger_kind(kind: AgentKind) -> DeviceKind {
    match kind {
        AgentKind::Coverage => DeviceKind::Coverage,
        AgentKind::Storage => DeviceKind::Storage,
        AgentKind::Compute => DeviceKind::Compute,
        AgentKind::Sensor => DeviceKind::Sensor,
    }
}

#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Create an agent directory: agent.toml and a new device key (mode 0600).
    Init(InitArgs),
    /// Print what the device's maker must sign (JSON for `cairn maker attest --request`).
    Request(ConfigArg),
    /// Onboard the device: the device consents, the owner signs and pays the onboarding
    /// transaction with the maker's attestation, and the command waits for finality.
    Onboard(OnboardArgs),
    /// Run the agent: connect to ingest, handshake, report on schedule, answer challenges.
    Run(ConfigArg),
    /// Print the example configuration with every field documented.
    ExampleConfig,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The agent's TOML config.
    #[arg(
        long,
        env = "CAIRN_AGENT_CONFIG",
        value_name = "FILE",
        default_value = ".cairn/agent/agent.toml"
    )]
    config: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create the agent in.
    #[arg(long, value_name = "DIR", default_value = ".cairn/agent")]
    dir: PathBuf,
    /// What the device does.
    #[arg(long, default_value = "sensor")]
    kind: AgentKind,
    /// Network id to join.
    #[arg(long, env = "CAIRN_NETWORK", default_value = "cairn-devnet")]
    network: NetworkId,
    /// Ingest address (gRPC).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:7481")]
    ingest: String,
    /// Node RPC address.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:7480")]
    rpc: String,
    /// Local admin/status endpoint (loopback only).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7490")]
    admin: std::net::SocketAddr,
    /// Seconds between heartbeats.
    #[arg(long, value_name = "S", default_value_t = 30)]
    heartbeat_s: u64,
}

#[derive(Debug, Args)]
pub struct OnboardArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The maker's attestation (from `cairn maker attest --request … --out FILE`).
    #[arg(long, value_name = "FILE")]
    attestation: PathBuf,
    /// The owner's key, which signs and pays: file:///absolute/path or a plain path.
    #[arg(long, value_name = "URI")]
    owner_key: KeyUri,
    /// If the owner has too few credits for the onboarding fee, burn just enough tokens
    /// for them first (at the ledger's oracle price).
    #[arg(long)]
    buy_credits: bool,
    /// Node RPC address (default: the config's node_rpc).
    #[arg(long, env = "CAIRN_RPC", value_name = "URL")]
    rpc: Option<String>,
}

fn load_config(path: &Path) -> Result<AgentConfig> {
    AgentConfig::load(path).with_context(|| format!("loading agent config {}", path.display()))
}

/// The device key, created (0600) on first use.
pub(crate) fn device_key(config: &AgentConfig) -> Result<cairn_core::Keypair> {
    let KeyUri::File(path) = &config.device_key;
    if !path.exists() {
        let key = config.device_key.generate()?;
        eprintln!(
            "cairn agent: created device key {} ({})",
            key.to_did(),
            path.display()
        );
    }
    Ok(config.device_key.load_keypair()?)
}

impl AgentCmd {
    pub fn run(self) -> Result<()> {
        match self {
            AgentCmd::Init(a) => init(a),
            AgentCmd::Request(a) => {
                let config = load_config(&a.config)?;
                let device = device_key(&config)?;
                let request = OnboardingRequest {
                    network: config.network.clone(),
                    device: device.public(),
                    kind: ledger_kind(config.kind),
                };
                crate::output::print_json(&request)
            }
            AgentCmd::Onboard(a) => onboard(a),
            AgentCmd::Run(a) => crate::agent_run::run(&a.config),
            AgentCmd::ExampleConfig => {
                print!("{}", AgentConfig::example_toml());
                Ok(())
            }
        }
    }
}

fn init(a: InitArgs) -> Result<()> {
    let config_path = a.dir.join("agent.toml");
    if config_path.exists() {
        bail!(
            "{} already exists; refusing to overwrite an agent",
            config_path.display()
        );
    }
    fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let text = format!(
        "# Cairn agent config; every field is documented by `cairn agent example-config`\n\
         # and in docs/AGENT.md. CAIRN_AGENT_<FIELD> environment variables override fields.\n\
         network = {network:?}\n\
         kind = {kind:?}\n\
         device_key = \"device.key\"\n\
         ingest = {ingest:?}\n\
         node_rpc = {rpc:?}\n\
         data_dir = \"agent-data\"\n\
         heartbeat_interval_s = {hb}\n\
         admin_listen = \"{admin}\"\n\
         \n\
         # The simulated driver's settings (see `cairn agent example-config`).\n\
         [driver]\n",
        network = a.network.as_str(),
        kind = a.kind.as_str(),
        ingest = a.ingest,
        rpc = a.rpc,
        hb = a.heartbeat_s,
        admin = a.admin,
    );
    let config = AgentConfig::from_toml_str(&text, &a.dir.canonicalize()?)
        .context("the generated config does not load")?;
    fs::write(&config_path, text)?;
    let device = device_key(&config)?;
    println!("{}", config_path.display());
    eprintln!(
        "cairn agent: {} device {} on {}; next: `cairn agent request --config {}`",
        a.kind,
        device.public().to_did(),
        a.network,
        config_path.display()
    );
    Ok(())
}

/// Ask the node for a parameter's current value.
pub(crate) fn param(rpc: &str, name: &str) -> Result<u128> {
    let (_, params) = client::get(rpc, "/v1/params")?;
    params["params"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["value"].as_str())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("the node did not report parameter {name}"))
}

/// Make sure `signer` holds `need` credits: when short, burn tokens for the difference at
/// the ledger's price if `buy`, else explain what to do.
pub(crate) fn ensure_credits(
    rpc: &str,
    signer: &dyn cairn_core::keys::Signer,
    network: &NetworkId,
    need: Credits,
    buy: bool,
    what: &str,
) -> Result<()> {
    let did = signer.public_key().to_did();
    let (_, account) = client::get(rpc, &format!("/v1/accounts/{did}"))?;
    let have: Credits = account["credits"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(Credits::ZERO);
    if have >= need {
        return Ok(());
    }
    let short = need.base_units() - have.base_units();
    if !buy {
        bail!(
            "{did} has {have} credits; {what} needs {need}. Buy credits first, or pass --buy-credits"
        );
    }
    let (_, status) = client::get(rpc, "/v1/status")?;
    let price: u128 = status["usd_per_token_e8"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| {
            anyhow!("the ledger has no fresh token price, so credits cannot be minted now")
        })?;
    let tokens = cairn_ledger::tokens_for(Credits::from_base_units(short), price)
        .ok_or_else(|| anyhow!("cannot price {short} credits at {price}"))?;
    eprintln!("cairn: burning {tokens} tokens for {short} credits");
    send(rpc, signer, network, TxKind::MintCredits { amount: tokens })?;
    Ok(())
}

/// Sign `kind` as `signer` with its next nonce and the minimum token fee; submit and wait.
pub(crate) fn send(
    rpc: &str,
    signer: &dyn cairn_core::keys::Signer,
    network: &NetworkId,
    kind: TxKind,
) -> Result<serde_json::Value> {
    let sender = signer.public_key().to_did();
    let (_, account) = client::get(rpc, &format!("/v1/accounts/{sender}"))?;
    let nonce = account["nonce"]
        .as_u64()
        .ok_or_else(|| anyhow!("the node did not report a nonce for {sender}: {account}"))?;
    let fee = Tokens::from_base_units(param(rpc, ParamId::TxFeeTokens.spec().name)?);
    let tx = Transaction {
        network: network.clone(),
        nonce,
        fee: Fee::Tokens(fee),
        kind,
    };
    let signed = Signed::sign(signer, network, tx);
    use cairn_core::codec::Canonical;
    client::commit(rpc, &hex::encode(signed.encode()), Duration::from_secs(60))
}

fn onboard(a: OnboardArgs) -> Result<()> {
    let config = load_config(&a.config.config)?;
    let rpc = a.rpc.unwrap_or_else(|| config.node_rpc.clone());
    let device = device_key(&config)?;
    let attestation: AttestationFile =
        crate::args::read_json("--attestation", &a.attestation, "a maker attestation")?;
    if attestation.device != device.public() {
        bail!(
            "the attestation is for device {}, but this agent's key is {}",
            attestation.device.to_did(),
            device.public().to_did()
        );
    }
    if attestation.network != config.network {
        bail!(
            "the attestation is for network {}, the agent is on {}",
            attestation.network,
            config.network
        );
    }
    let kind = ledger_kind(config.kind);
    if attestation.kind != kind {
        bail!(
            "the attestation says {:?}, the agent config says {}",
            attestation.kind,
            config.kind
        );
    }
    let owner = a.owner_key.load()?;
    let network = config.network.clone();

    // Credits for the onboarding fee.
    let fee = Credits::from_base_units(param(&rpc, ParamId::OnboardingFeeCredits.spec().name)?);
    let owner_did = owner.public_key().to_did();
    ensure_credits(
        &rpc,
        owner.as_ref(),
        &network,
        fee,
        a.buy_credits,
        "onboarding",
    )?;

    let consent = sign_detached(
        &device,
        &network,
        &DeviceConsent {
            owner: owner.public_key(),
        },
    );
    let status = send(
        &rpc,
        owner.as_ref(),
        &network,
        TxKind::OnboardDevice {
            device: device.public(),
            kind,
            maker: attestation.maker,
            maker_signature: attestation.signature,
            device_signature: consent,
        },
    )?;
    eprintln!(
        "cairn agent: device {} onboarded at height {}, owner {owner_did}, {fee} credits burned",
        device.public().to_did(),
        status["height"].as_u64().unwrap_or(0),
    );
    crate::output::print_json(&status)
}
