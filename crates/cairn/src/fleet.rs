//! The devnet's simulated fleet: a few devices of every kind, onboarded through the real
//! ledger (maker attestation, owner signature, fee burned) and run as real agents with
//! simulated drivers, reporting over gRPC to the node's ingest like any device.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_agent::{Agent, AgentConfig, AgentKind};
use cairn_core::envelope::sign_detached;
use cairn_core::{Credits, KeyUri};
use cairn_ledger::tx::{DeviceConsent, MakerAttestation};
use cairn_ledger::{ParamId, TxKind};
use cairn_node::node::Node;

use crate::agent_cmd::ledger_kind;

/// Which devices the devnet runs and where their keys and queues live.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub dir: PathBuf,
    pub devices: usize,
    pub ingest: std::net::SocketAddr,
    pub owner_key: PathBuf,
    pub maker_key: PathBuf,
}

const KINDS: [AgentKind; 4] = [
    AgentKind::Sensor,
    AgentKind::Compute,
    AgentKind::Storage,
    AgentKind::Coverage,
];

/// Onboard what is missing, then run every device's agent until `stop` turns true; each
/// agent then shuts down cleanly (closing its connections and flushing its queue).
pub async fn run(node: Arc<Node>, spec: FleetSpec, stop: tokio::sync::watch::Receiver<bool>) {
    if let Err(e) = run_inner(node, spec, stop).await {
        eprintln!("cairn devnet: simulated fleet stopped: {e:#}");
    }
}

async fn run_inner(
    node: Arc<Node>,
    spec: FleetSpec,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let owner = KeyUri::File(spec.owner_key.clone()).load_keypair()?;
    let maker = KeyUri::File(spec.maker_key.clone()).load_keypair()?;
    let network = node.network().clone();
    let mut devices = Vec::new();
    for i in 0..spec.devices {
        let dir = spec.dir.join(format!("device-{i}"));
        std::fs::create_dir_all(&dir)?;
        let key = KeyUri::File(dir.join("device.key"));
        if !dir.join("device.key").exists() {
            key.generate()?;
        }
        devices.push((dir, key.load_keypair()?, KINDS[i % KINDS.len()]));
    }

    // Onboard the devices the ledger does not know yet.
    let missing: Vec<usize> = (0..devices.len())
        .filter(|&i| !node.state().devices.contains_key(&devices[i].1.public()))
        .collect();
    if !missing.is_empty() {
        // Credits need a fresh price: wait (up to a minute) for the price feed.
        let mut price = cairn_ledger::price_at_tip(&node.state());
        for _ in 0..600 {
            if price.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            price = cairn_ledger::price_at_tip(&node.state());
        }
        let price = price.map_err(|e| anyhow::anyhow!("no token price for credits: {e}"))?;
        let state = node.state();
        let fee = state.params.get(ParamId::OnboardingFeeCredits);
        let need = (fee * missing.len() as u128)
            .saturating_sub(state.account(&owner.public()).credits.base_units());
        let mut nonce = state.account(&owner.public()).nonce;
        if need > 0 {
            let amount = cairn_ledger::tokens_for(Credits::from_base_units(need), price)
                .ok_or_else(|| anyhow::anyhow!("cannot price {need} credits at {price}"))?;
            node.submit(node.sign_tx(&owner, nonce, TxKind::MintCredits { amount }))
                .map_err(|e| anyhow::anyhow!("minting credits for the fleet: {e}"))?;
            nonce += 1;
        }
        for &i in &missing {
            let (_, device, kind) = &devices[i];
            let kind = ledger_kind(*kind);
            let tx = TxKind::OnboardDevice {
                device: device.public(),
                kind,
                maker: maker.public(),
                maker_signature: sign_detached(
                    &maker,
                    &network,
                    &MakerAttestation {
                        device: device.public(),
                        kind,
                    },
                ),
                device_signature: sign_detached(
                    device,
                    &network,
                    &DeviceConsent {
                        owner: owner.public(),
                    },
                ),
            };
            node.submit(node.sign_tx(&owner, nonce, tx))
                .map_err(|e| anyhow::anyhow!("onboarding a fleet device: {e}"))?;
            nonce += 1;
        }
        let mut waited = 0;
        while missing
            .iter()
            .any(|&i| !node.state().devices.contains_key(&devices[i].1.public()))
        {
            if waited > 600 {
                bail!("the fleet's onboarding transactions were not finalized within a minute");
            }
            waited += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "cairn devnet: onboarded {} simulated devices (maker attestation, owner signature, {} credits burned each)",
            missing.len(),
            fee
        );
    }

    // A JoinSet also aborts every agent if the fleet task itself is aborted.
    let mut running = tokio::task::JoinSet::new();
    for (i, (dir, device, kind)) in devices.into_iter().enumerate() {
        // Storage and compute devices serve consumers (`cairn storage`, `cairn compute`)
        // on a port of their own.
        let service = if matches!(kind, AgentKind::Storage | AgentKind::Compute) {
            "[service]\nlisten = \"127.0.0.1:0\"\n"
        } else {
            ""
        };
        let text = format!(
            "network = {:?}\nkind = {:?}\ningest = \"http://{}\"\ndata_dir = \"queue\"\n\
             heartbeat_interval_s = 10\nreading_interval_s = 30\nadmin_listen = \"127.0.0.1:0\"\n\
             {service}",
            network.as_str(),
            kind.as_str(),
            spec.ingest,
        );
        let config = AgentConfig::from_toml_str(&text, &dir)
            .with_context(|| format!("fleet device {i}'s config"))?;
        let seed = u64::from_le_bytes(device.public().as_bytes()[..8].try_into().expect("8 bytes"));
        let driver =
            cairn_sim::drivers::driver_from_config(kind, &config.driver, &device.public(), seed)?;
        let mut stop = stop.clone();
        running.spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = Agent::run(config, device, driver, shutdown).await {
                eprintln!("cairn devnet: fleet device {i} stopped: {e}");
            }
        });
    }
    while running.join_next().await.is_some() {}
    Ok(())
}
