//! `cairn agent run`: the agent with the driver its config names.
//!
//! `[driver] backend` picks the driver: `disk` (storage on a real directory, from
//! `cairn-agent`) or `sim` (the default: `cairn-sim`'s simulated hardware). A real radio or
//! sensor driver implements the same per-kind trait and is chosen here.

use std::path::Path;

use anyhow::{Context, Result, bail};
use cairn_agent::AgentKind;
use cairn_agent::disk::DiskStorage;
use cairn_agent::driver::Driver;
use cairn_agent::{Agent, AgentConfig};
use cairn_core::PublicKey;

pub fn run(config_path: &Path) -> Result<()> {
    let config = AgentConfig::load(config_path)
        .with_context(|| format!("loading agent config {}", config_path.display()))?;
    let device = crate::agent_cmd::device_key(&config)?;
    // A lone agent process has a simulated world of its own, seeded by its device key so
    // its physics is the same across restarts. (A radio alone in a world hears nobody: the
    // devnet runs its fleet in one world.)
    let seed = u64::from_le_bytes(device.public().as_bytes()[..8].try_into().expect("8 bytes"));
    let driver = driver(&config, &device.public(), &cairn_sim::SimWorld::new(seed))?;
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

/// The driver `[driver]` describes.
pub fn driver(
    config: &AgentConfig,
    device: &PublicKey,
    world: &std::sync::Arc<cairn_sim::SimWorld>,
) -> Result<Driver> {
    let mut table = config.driver.clone();
    let backend = match table.remove("backend") {
        None => "sim".to_owned(),
        Some(toml::Value::String(s)) => s,
        Some(other) => bail!("[driver] backend must be a string, got {other}"),
    };
    match (backend.as_str(), config.kind) {
        ("sim", kind) => cairn_sim::drivers::driver_from_config(kind, &table, device, world)
            .context("the [driver] table"),
        ("disk", AgentKind::Storage) => {
            let dir = match table.get("dir") {
                Some(toml::Value::String(d)) => config.data_dir.join(d),
                None => config.data_dir.join("objects"),
                Some(other) => bail!("[driver] dir must be a path, got {other}"),
            };
            let capacity = match table.get("capacity_bytes") {
                Some(toml::Value::Integer(n)) if *n > 0 => *n as u64,
                other => bail!(
                    "[driver] capacity_bytes must be a positive number of bytes, got {other:?}"
                ),
            };
            for key in table.keys() {
                if !matches!(key.as_str(), "dir" | "capacity_bytes") {
                    bail!("[driver] {key} is not a disk storage setting (dir, capacity_bytes)");
                }
            }
            Ok(Driver::Storage(Box::new(
                DiskStorage::open(*device, &dir, capacity)
                    .with_context(|| format!("opening disk storage in {}", dir.display()))?,
            )))
        }
        ("disk", kind) => bail!("backend = \"disk\" is for storage devices, this is {kind}"),
        (other, _) => bail!("[driver] backend {other:?} is unknown: use \"sim\" or \"disk\""),
    }
}
