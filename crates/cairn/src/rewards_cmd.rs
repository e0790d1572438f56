//! `cairn rewards` (claim, show, release) and `cairn credits buy`.

use anyhow::{Result, anyhow, bail};
use cairn_core::{Epoch, KeyUri, Tokens};
use cairn_ledger::tx::{MAX_CLAIMS_PER_TX, RewardClaim, TxKind};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::agent_cmd::send;
use crate::client;
use crate::storage_cmd::network_and_expiry;

#[derive(Debug, Subcommand)]
pub enum RewardsCmd {
    /// Claim everything an owner's devices (and its own account) earned: one command for
    /// a whole fleet, in as few transactions as fit.
    Claim(ClaimArgs),
    /// Show an epoch's rewards: pools, top earners, unallocated and withheld.
    Show(ShowArgs),
    /// Move unlocked vesting rewards to the account's balance.
    Release(KeyArgs),
}

#[derive(Debug, Subcommand)]
pub enum CreditsCmd {
    /// Burn tokens for credits at the oracle price (refused while the price is stale).
    Buy(BuyArgs),
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[arg(
        long,
        env = "CAIRN_RPC",
        value_name = "URL",
        default_value = "http://127.0.0.1:7480"
    )]
    rpc: String,
    /// The owner's account key (pays the fees; rewards go to it).
    #[arg(long, value_name = "KEY")]
    key: KeyUri,
}

/// `cairn device appeal`: the owner of a denied device contests the finding.
#[derive(Debug, Args)]
pub struct AppealArgs {
    #[command(flatten)]
    common: KeyArgs,
    /// The denylist entry (see `GET /v1/denylist?device=DID`).
    #[arg(long, value_name = "ID")]
    entry: u64,
    /// Tokens locked as the appeal's deposit (at least the parameter proposal_deposit);
    /// returned if the appeal passes or finds no quorum, forfeited to the treasury if it is
    /// voted down.
    #[arg(long, value_name = "TOKENS")]
    deposit: Tokens,
}

/// Appeal, wait for finality, and say which proposal the appeal opened.
pub fn appeal(a: AppealArgs) -> Result<()> {
    let rpc = a.common.rpc.trim_end_matches('/');
    let signer = a.common.key.load()?;
    let (network, _) = network_and_expiry(rpc)?;
    let status = send(
        rpc,
        &*signer,
        &network,
        TxKind::Appeal {
            entry: a.entry,
            deposit: a.deposit,
        },
    )?;
    let (code, body) = client::get(rpc, &format!("/v1/denylist/{}", a.entry))?;
    if code != 200 {
        bail!("{}", client::error_text(&body));
    }
    let entry = &body["entry"];
    let proposal = &entry["status"]["appealed"]["proposal"];
    println!(
        "appealed denylist entry {} (block {}): governance proposal {proposal} decides it; the device's rewards stay withheld, not lost, until then",
        a.entry, status["height"]
    );
    println!(
        "  follow it at {rpc}/v1/proposals/{proposal}; holders of locked tokens vote with `cairn tx vote --proposal {proposal} --choice yes|no --commit`"
    );
    Ok(())
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    #[command(flatten)]
    common: KeyArgs,
    /// Only show what would be claimed.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    rpc: client::RpcArgs,
    /// The epoch (default: the latest accepted).
    #[arg(long)]
    epoch: Option<u64>,
}

#[derive(Debug, Args)]
pub struct BuyArgs {
    #[command(flatten)]
    common: KeyArgs,
    /// Tokens to burn, as a decimal (e.g. 12.5).
    #[arg(long)]
    tokens: Tokens,
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

impl RewardsCmd {
    pub fn run(self) -> Result<()> {
        match self {
            RewardsCmd::Claim(a) => claim(a),
            RewardsCmd::Show(a) => show(a),
            RewardsCmd::Release(a) => {
                let rpc = a.rpc.trim_end_matches('/');
                let signer = a.key.load()?;
                let (network, _) = network_and_expiry(rpc)?;
                let status = send(rpc, &*signer, &network, TxKind::ReleaseVested)?;
                println!(
                    "released unlocked vesting rewards (block {})",
                    status["height"]
                );
                Ok(())
            }
        }
    }
}

impl CreditsCmd {
    pub fn run(self) -> Result<()> {
        match self {
            CreditsCmd::Buy(a) => {
                let rpc = a.common.rpc.trim_end_matches('/');
                let signer = a.common.key.load()?;
                let (network, _) = network_and_expiry(rpc)?;
                let who = signer.public_key().to_did();
                let before = account(rpc, &who)?;
                let status = send(
                    rpc,
                    &*signer,
                    &network,
                    TxKind::MintCredits { amount: a.tokens },
                )?;
                let after = account(rpc, &who)?;
                println!(
                    "burned {} tokens for credits (block {}): credits {} -> {}",
                    a.tokens,
                    status["height"],
                    text(&before["credits"]),
                    text(&after["credits"])
                );
                Ok(())
            }
        }
    }
}

fn account(rpc: &str, did: &str) -> Result<Value> {
    let (_, a) = client::get(rpc, &format!("/v1/accounts/{did}"))?;
    Ok(a)
}

fn claim(a: ClaimArgs) -> Result<()> {
    let rpc = a.common.rpc.trim_end_matches('/');
    let signer = a.common.key.load()?;
    let owner = signer.public_key().to_did();
    let (status, body) = client::get(rpc, &format!("/v1/rewards/proofs?owner={owner}"))?;
    if status != 200 {
        bail!("{}", client::error_text(&body));
    }
    let epoch = Epoch(
        body["epoch"]
            .as_u64()
            .ok_or_else(|| anyhow!("the node's answer names no epoch: {body}"))?,
    );
    for r in body["recipients"].as_array().into_iter().flatten() {
        let who = r["recipient"]["device"]
            .as_str()
            .or(r["recipient"]["account"].as_str())
            .unwrap_or("?");
        let note = if r["withheld"] == true {
            "  (withheld: on the denylist)".to_owned()
        } else if r["bond_short"] == true {
            format!(
                "  (bond {} below the {} needed to claim: `cairn tx bond`)",
                text(&r["bond"]),
                text(&r["bond_required"])
            )
        } else {
            String::new()
        };
        println!(
            "{who}  cumulative {}  claimed {}  claimable {}{note}",
            text(&r["cumulative"]),
            text(&r["claimed"]),
            text(&r["claimable"]),
        );
    }
    let claims: Vec<RewardClaim> = serde_json::from_value(body["claims"].clone())
        .map_err(|e| anyhow!("the node's claims do not parse: {e}"))?;
    if claims.is_empty() {
        println!("nothing to claim against epoch {}'s manifest", epoch.0);
        return Ok(());
    }
    let total = claims
        .iter()
        .try_fold(Tokens::ZERO, |t, c| t.checked_add(c.leaf.cumulative));
    if a.dry_run {
        println!(
            "would claim for {} recipients against epoch {}'s manifest",
            claims.len(),
            epoch.0
        );
        return Ok(());
    }
    let (network, _) = network_and_expiry(rpc)?;
    let before = account(rpc, &owner)?;
    for chunk in claims.chunks(MAX_CLAIMS_PER_TX) {
        let status = send(
            rpc,
            &*signer,
            &network,
            TxKind::ClaimRewards {
                epoch,
                claims: chunk.to_vec(),
            },
        )?;
        eprintln!(
            "  claimed for {} recipients (block {})",
            chunk.len(),
            status["height"]
        );
    }
    let after = account(rpc, &owner)?;
    println!(
        "claimed for {} recipients against epoch {}'s manifest (their cumulative totals: {}); balance {} -> {}, the vesting share ({} ppm) unlocks over time: `cairn rewards release`",
        claims.len(),
        epoch.0,
        total.map_or_else(|| "?".into(), |t| t.to_string()),
        text(&before["tokens"]),
        text(&after["tokens"]),
        text(&body["vesting_ppm"]),
    );
    Ok(())
}

fn show(a: ShowArgs) -> Result<()> {
    let rpc = a.rpc.rpc.trim_end_matches('/');
    let epoch = match a.epoch {
        Some(e) => e,
        None => {
            let (_, s) = client::get(rpc, "/v1/rewards")?;
            match s["latest_accepted"]["epoch"].as_u64() {
                Some(e) => e,
                None => bail!(
                    "no manifest accepted yet (epoch {} is open)",
                    s["open_epoch"]
                ),
            }
        }
    };
    let (status, body) = client::get(rpc, &format!("/v1/rewards/epochs/{epoch}"))?;
    if status != 200 {
        bail!("{}", client::error_text(&body));
    }
    if a.rpc.json {
        return crate::output::print_stdout(&serde_json::to_string_pretty(&body)?);
    }
    println!(
        "epoch {epoch}: {} emitted to {} recipients ({}), unallocated {} (burned {})",
        text(&body["emission"]),
        body["recipients"],
        if body["accepted"] == true {
            "accepted"
        } else {
            "not accepted yet"
        },
        text(&body["unallocated"]),
        text(&body["unallocated_burned"]),
    );
    println!(
        "{:<11} {:>22} {:>22} {:>22} {:>22} {:>22}",
        "pool", "amount", "usage", "capacity", "withheld", "unallocated"
    );
    for p in body["pools"].as_array().into_iter().flatten() {
        println!(
            "{:<11} {:>22} {:>22} {:>22} {:>22} {:>22}",
            text(&p["pool"]),
            text(&p["amount"]),
            text(&p["usage"]),
            text(&p["capacity"]),
            text(&p["withheld"]),
            text(&p["unallocated"]),
        );
    }
    if let Some(f) = body["economics"].as_object() {
        println!(
            "burned for credits {} tokens, demand coverage {}, net emission {}",
            text(&f["tokens_burned_for_credits"]),
            f["demand_coverage"].as_str().unwrap_or("n/a"),
            text(&f["net_emission"]),
        );
    }
    println!("top earners:");
    for t in body["top_earners"]
        .as_array()
        .into_iter()
        .flatten()
        .take(10)
    {
        let r = &t["recipient"];
        let who = r["device"]
            .as_str()
            .or(r["account"].as_str())
            .map_or_else(|| text(r), str::to_owned);
        println!("  {:>22}  {who}", text(&t["amount"]));
    }
    Ok(())
}
