//! The devnet's simulated consumers: an account that buys what the network sells, through
//! the same client code as `cairn storage put`, `cairn compute submit` and a receipt for
//! sensor data, over the node's RPC and the providers' service endpoints. Each round it
//! stores an object on storage providers, runs a WebAssembly job on a compute provider
//! (re-executed on a second one now and then) and pays a few stations for their readings;
//! every payment is a consumer-signed receipt settled on the ledger, so the rewarder pays
//! providers from this demand first and the explorer shows the burn. What the consumer
//! measured (job latency and queue time, bytes stored) is shared with the indexer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cairn_core::{Credits, KeyUri};
use cairn_ledger::tx::{DeviceKind, ServiceKind};
use cairn_node::node::Node;
use serde::Serialize;

/// What the consumers did and measured since the devnet started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsumerStats {
    pub rounds: u64,
    pub objects_stored: u64,
    pub bytes_stored: u64,
    pub store_failures: u64,
    pub jobs_run: u64,
    pub job_failures: u64,
    /// The latest jobs' latency (submit to checked answer) and provider queue time, ms.
    pub job_latency_ms: Vec<u64>,
    pub job_queue_ms: Vec<u64>,
    pub sensor_purchases: u64,
    pub last_error: Option<String>,
}

impl ConsumerStats {
    /// The figures the explorer shows (percentiles over the latest 200 jobs).
    pub fn summary(&self) -> serde_json::Value {
        let pct = |v: &[u64], q: usize| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v.get((v.len() * q / 100).min(v.len().saturating_sub(1)))
                .copied()
        };
        serde_json::json!({
            "rounds": self.rounds,
            "objects_stored": self.objects_stored,
            "bytes_stored": self.bytes_stored,
            "store_failures": self.store_failures,
            "jobs_run": self.jobs_run,
            "job_failures": self.job_failures,
            "job_latency_ms_p50": pct(&self.job_latency_ms, 50),
            "job_latency_ms_p99": pct(&self.job_latency_ms, 99),
            "job_queue_ms_p50": pct(&self.job_queue_ms, 50),
            "job_queue_ms_p99": pct(&self.job_queue_ms, 99),
            "sensor_purchases": self.sensor_purchases,
            "last_error": self.last_error,
        })
    }

    fn record_job(&mut self, latency_ms: u64, queue_ms: u64) {
        self.jobs_run += 1;
        for (v, x) in [
            (&mut self.job_latency_ms, latency_ms),
            (&mut self.job_queue_ms, queue_ms),
        ] {
            v.push(x);
            if v.len() > 200 {
                v.remove(0);
            }
        }
    }
}

pub type SharedStats = Arc<Mutex<ConsumerStats>>;

/// How the consumers run.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub key: PathBuf,
    pub rpc: String,
    pub every: Duration,
}

/// Run consumer rounds until the process ends (the caller aborts the thread's task).
pub fn run(node: Arc<Node>, spec: ConsumerSpec, stats: SharedStats) {
    let signer = match KeyUri::File(spec.key.clone()).load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cairn devnet: simulated consumers stopped: {e:#}");
            return;
        }
    };
    let mut round = 0u64;
    loop {
        std::thread::sleep(spec.every);
        round += 1;
        if let Err(e) = one_round(&node, &spec, signer.as_ref(), round, &stats) {
            let mut s = stats.lock().expect("lock");
            s.last_error = Some(format!("{e:#}"));
            tracing::debug!(error = %format!("{e:#}"), "simulated consumer round");
        }
        stats.lock().expect("lock").rounds = round;
    }
}

fn one_round(
    node: &Arc<Node>,
    spec: &ConsumerSpec,
    signer: &dyn cairn_core::keys::Signer,
    round: u64,
    stats: &SharedStats,
) -> Result<()> {
    let rpc = spec.rpc.as_str();
    let (network, expires_at) = crate::storage_cmd::network_and_expiry(rpc)?;
    if round % 50 == 1 {
        // Credits in bulk now and then (500 tokens' worth at a dollar a token), so the
        // rounds between rarely stop to mint.
        crate::agent_cmd::ensure_credits(
            rpc,
            signer,
            &network,
            Credits::from_base_units(50_000_000),
            true,
            "the simulated consumers' purchases",
        )?;
    }
    // Storage: 16 to 256 KiB of fresh bytes, kept for 10 epochs.
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let size =
        16 * 1024 + (u32::from_le_bytes(seed[..4].try_into().expect("4")) as usize % (240 * 1024));
    let mut data = vec![0u8; size];
    blake3::Hasher::new_derive_key("cairn devnet consumer object")
        .update(&seed)
        .finalize_xof()
        .fill(&mut data);
    match crate::storage_cmd::put_bytes(rpc, signer, &data, None, 10, true, false) {
        Ok(stored) => {
            let mut s = stats.lock().expect("lock");
            s.objects_stored += 1;
            s.bytes_stored += (size * stored.providers.len()) as u64;
        }
        Err(e) => {
            let mut s = stats.lock().expect("lock");
            s.store_failures += 1;
            s.last_error = Some(format!("storing: {e:#}"));
        }
    }

    // Compute: a job whose answer the consumer knows; every fourth re-executed.
    let (job, expected) = cairn_jobs::canary_job(seed);
    let started = Instant::now();
    match crate::compute_cmd::run_job(rpc, signer, &job, round.is_multiple_of(4), true, false) {
        Ok(done) => {
            let mut s = stats.lock().expect("lock");
            if *blake3::hash(&done.output).as_bytes() == expected {
                s.record_job(started.elapsed().as_millis() as u64, done.reply.queue_ms);
            } else {
                s.job_failures += 1;
                s.last_error = Some("a job's output was wrong".into());
            }
        }
        Err(e) => {
            let mut s = stats.lock().expect("lock");
            s.job_failures += 1;
            s.last_error = Some(format!("computing: {e:#}"));
        }
    }

    // Sensor data: a receipt to three stations for their latest readings.
    let state = node.state();
    let stations: Vec<_> = state
        .devices
        .iter()
        .filter(|(_, d)| d.kind == DeviceKind::Sensor)
        .map(|(k, _)| *k)
        .collect();
    if !stations.is_empty() {
        let price = Credits::from_base_units(200);
        crate::agent_cmd::ensure_credits(
            rpc,
            signer,
            &network,
            Credits::from_base_units(price.base_units() * 3),
            true,
            "sensor data",
        )?;
        let mut receipts = Vec::new();
        for i in 0..3u64 {
            let station = stations[((round * 3 + i) as usize) % stations.len()];
            receipts.push(crate::storage_cmd::receipt(
                signer,
                &network,
                expires_at,
                station,
                ServiceKind::SensorData,
                price,
            )?);
        }
        let n = receipts.len() as u64;
        crate::storage_cmd::settle(rpc, signer, &network, receipts, false)
            .context("paying stations for their readings")?;
        stats.lock().expect("lock").sensor_purchases += n;
    }
    Ok(())
}
