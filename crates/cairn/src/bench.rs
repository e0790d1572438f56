//! `cairn bench ledger`: finalized signed transfers per second on a one-validator chain,
//! next to this machine's raw Ed25519 verification rate measured in the same run.
//!
//! The chain path is the whole validator: mempool admission (one signature check per
//! transaction), block building, consensus (simplex + marshal with durable journals),
//! re-execution, the state root, the fsynced block log. Transactions are handed to the
//! node in-process, so HTTP is not part of the figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use cairn_chain::application::BuildConfig;
use cairn_chain::engine::EngineConfig;
use cairn_chain::net::{ValidatorNet, run_validator};
use cairn_core::envelope::Signed;
use cairn_core::{Keypair, NetworkId, Tokens};
use cairn_ledger::genesis::{Allocation, GenesisValidator};
use cairn_ledger::tx::{Fee, Transaction, TxKind};
use cairn_ledger::{Genesis, ParamId, SignedTx};
use cairn_node::mempool::MempoolConfig;
use cairn_node::node::{Node, NodeOptions};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Finalized transfers per second vs. raw signature verification.
    Ledger(LedgerBench),
    /// Acknowledged device reports per second through ingest vs. raw batch verification.
    Ingest(crate::bench_ingest::IngestBench),
    /// Provider encode + commit throughput and verifier proof checks vs. raw BLAKE3.
    Storage(crate::bench_storage::StorageBench),
    /// One epoch's rewards and manifest for a large fleet, with peak memory, vs. raw BLAKE3.
    Rewards(crate::bench_rewards::RewardsBench),
    /// Explorer API latency (p50/p99) with a large network indexed, vs. HTTP and row floors.
    Api(crate::bench_api::ApiBench),
}

impl BenchCmd {
    pub fn run(self) -> Result<()> {
        match self {
            BenchCmd::Ledger(b) => b.run(),
            BenchCmd::Ingest(b) => b.run(),
            BenchCmd::Storage(b) => b.run(),
            BenchCmd::Rewards(b) => b.run(),
            BenchCmd::Api(b) => b.run(),
        }
    }
}

#[derive(Debug, Args)]
pub struct LedgerBench {
    /// Number of sending accounts.
    #[arg(long, default_value_t = 2_000)]
    accounts: usize,
    /// Transfers per account (at most the mempool's nonce window, 64).
    #[arg(long, default_value_t = 20)]
    per_account: u64,
}

fn transfer(network: &NetworkId, from: &Keypair, to: &Keypair, nonce: u64) -> SignedTx {
    Signed::sign(
        from,
        network,
        Transaction {
            network: network.clone(),
            nonce,
            fee: Fee::Tokens(Tokens::from_base_units(ParamId::TxFeeTokens.spec().default)),
            kind: TxKind::Transfer {
                to: to.public(),
                amount: Tokens::from_base_units(1),
            },
        },
    )
}

impl LedgerBench {
    fn run(self) -> Result<()> {
        let per_account = self.per_account.min(64);
        let network = NetworkId::new("cairn-bench").expect("valid id");
        let validator = Keypair::generate();
        let accounts: Vec<Keypair> = (0..self.accounts)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
                Keypair::from_seed(&seed)
            })
            .collect();
        eprintln!(
            "signing {} transfers from {} accounts…",
            self.accounts as u64 * per_account,
            self.accounts
        );
        let mut txs = Vec::new();
        for nonce in 0..per_account {
            for (i, a) in accounts.iter().enumerate() {
                txs.push(transfer(
                    &network,
                    a,
                    &accounts[(i + 1) % accounts.len()],
                    nonce,
                ));
            }
        }

        // The ceiling: one core verifying the same signatures, nothing else.
        let sample = &txs[..txs.len().min(20_000)];
        let start = Instant::now();
        for tx in sample {
            tx.verify(&network).expect("valid signature");
        }
        let raw_rate = sample.len() as f64 / start.elapsed().as_secs_f64();

        let genesis = Genesis {
            network: network.clone(),
            time_ms: 0,
            allocations: accounts
                .iter()
                .map(|a| Allocation {
                    account: a.public(),
                    tokens: Tokens::whole(1_000).expect("fits"),
                })
                .collect(),
            treasury: Tokens::ZERO,
            validators: vec![GenesisValidator {
                key: validator.public(),
                power: 1,
            }],
            price_oracles: vec![],
            reward_oracles: vec![],
            verifier_oracles: vec![],
            makers: vec![],
            params: vec![],
        }
        .into_state()?;
        let dir = tempfile::tempdir()?;
        let node = Node::open(
            genesis,
            NodeOptions {
                data_dir: dir.path().join("ledger"),
                mempool: MempoolConfig {
                    max_txs: txs.len() + 1,
                    ..MempoolConfig::default()
                },
                snapshot_every: 0,
            },
        )?;
        let mut engine = EngineConfig::local(&network, "bench");
        engine.build = BuildConfig {
            empty_block_interval: Duration::from_millis(50),
            ..BuildConfig::default()
        };
        let net = ValidatorNet {
            storage_dir: dir.path().join("engine"),
            listen: "127.0.0.1:0".parse()?,
            committee: vec![(validator.public(), "127.0.0.1:0".parse()?)],
            engine,
            threads: 2,
        };
        let total = txs.len();
        let result = Arc::new(std::sync::Mutex::new(None));
        let out = Arc::clone(&result);
        run_validator(node, &validator, net, move |node: Arc<Node>| async move {
            let start_height = node.height().0;
            let mut feed = node.subscribe();
            let start = Instant::now();
            // Hand transactions over in chunks, as a busy RPC would.
            let feeder = {
                let node = Arc::clone(&node);
                tokio::task::spawn_blocking(move || {
                    for tx in txs {
                        if let Err(e) = node.submit(tx) {
                            eprintln!("bench: admission failed: {e}");
                        }
                    }
                })
            };
            let mut finalized = 0usize;
            while finalized < total {
                match tokio::time::timeout(Duration::from_secs(60), feed.recv()).await {
                    Ok(Ok(b)) => finalized += b.block.txs.len(),
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                    _ => break,
                }
            }
            let elapsed = start.elapsed();
            let _ = feeder.await;
            *out.lock().expect("lock") = Some((finalized, elapsed, node.height().0 - start_height));
        })?;
        let Some((finalized, elapsed, blocks)) = *result.lock().expect("lock") else {
            anyhow::bail!("the benchmark did not finish");
        };
        let chain_rate = finalized as f64 / elapsed.as_secs_f64();
        println!("raw Ed25519 verification (1 core): {raw_rate:>10.0} signatures/s");
        println!(
            "one-validator chain:               {chain_rate:>10.0} finalized transfers/s  ({finalized} txs in {blocks} blocks, {:.2} s)",
            elapsed.as_secs_f64()
        );
        println!(
            "ratio chain / raw:                 {:>10.2}",
            chain_rate / raw_rate
        );
        Ok(())
    }
}
