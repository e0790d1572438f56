//! `cairn agent run`: the agent with the driver its config names.
//!
//! Only simulated drivers exist today (`cairn-sim`); a real radio or sensor driver
//! implements the same per-kind trait from `cairn-agent` and is chosen here.

use std::path::Path;

use anyhow::{Context, Result};
use cairn_agent::{Agent, AgentConfig};

pub fn run(config_path: &Path) -> Result<()> {
    let config = AgentConfig::load(config_path)
        .with_context(|| format!("loading agent config {}", config_path.display()))?;
    let device = crate::agent_cmd::device_key(&config)?;
    // The simulator's seed is the device key, so a device's simulated physics is its own
    // and the same across restarts.
    let seed = u64::from_le_bytes(device.public().as_bytes()[..8].try_into().expect("8 bytes"));
    let driver =
        cairn_sim::drivers::driver_from_config(config.kind, &config.driver, &device.public(), seed)
            .context("the [driver] table")?;
    eprintln!(
        "cairn agent: {} device {} on {}, ingest {}, admin http://{}",
        config.kind,
        device.public().to_did(),
        config.network,
        config.ingest,
        config.admin_listen
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(Agent::run(config, device, driver, async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("cairn agent: shutting down");
    }))?;
    Ok(())
}
