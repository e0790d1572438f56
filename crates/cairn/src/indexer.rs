//! The node's indexer (`[index]`, on by default): feeds `cairn_index` from what this node
//! already made durable — finalized blocks and the ledger state they produced, the
//! verifier's batches (`verdicts/epoch-N.borsh`) and the rewarder's records
//! (`rewards/epoch-N.borsh`) — plus ingest's live figures, and mounts the index's routes
//! (`/v1/index/…`) on the RPC. Each source has a cursor stored with the rows it covers,
//! so a restart resumes where the index stopped; `--fresh` starts a new one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use cairn_core::Height;
use cairn_index::{BlockFacts, Index, LiveFacts, TxFacts};
use cairn_ledger::State;
use cairn_ledger::tx::Fee;
use cairn_node::block::tx_hash;
use cairn_node::node::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::node_cmd::now_ms;

/// `[index]` in the node config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexToml {
    /// Keep the read model and serve `/v1/index/…` (the explorer's API).
    pub enabled: bool,
    /// `sqlite://PATH` (relative paths are inside data_dir) or
    /// `postgres://USER:PASSWORD@HOST/DB`. Default: `sqlite://index.db` in data_dir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Verdicts kept per device, in epochs (counts per epoch are kept for good).
    pub keep_verdict_epochs: u64,
}

impl Default for IndexToml {
    fn default() -> Self {
        IndexToml {
            enabled: true,
            url: None,
            keep_verdict_epochs: 1_440,
        }
    }
}

impl IndexToml {
    /// The database URL, with a relative SQLite path placed in `data_dir`.
    pub fn url(&self, data_dir: &Path) -> String {
        match &self.url {
            None => format!("sqlite://{}", data_dir.join("index.db").display()),
            Some(u) => match u.strip_prefix("sqlite://") {
                Some(p) if !p.starts_with('/') => {
                    format!("sqlite://{}", data_dir.join(p).display())
                }
                _ => u.clone(),
            },
        }
    }
}

/// Where the indexer reads.
pub struct Sources {
    pub node: Arc<Node>,
    pub verdicts: PathBuf,
    pub rewards: PathBuf,
    pub ingest: Option<cairn_ingest::IngestService>,
    /// Print one line per rewarded epoch (the devnet's live summary).
    pub summary: bool,
    /// The devnet's simulated consumers' measurements.
    pub consumers: Option<crate::consumers::SharedStats>,
}

/// Open the index and start feeding it; returns the task, the routes and the index.
pub async fn start(
    config: &IndexToml,
    data_dir: &Path,
    sources: Sources,
) -> Result<(tokio::task::JoinHandle<()>, Router, Index)> {
    let url = config.url(data_dir);
    let index = Index::open(&url)
        .await
        .with_context(|| format!("opening the index at {}", cairn_index::store::redact(&url)))?;
    // A new chain (a devnet started with --fresh) empties an index left by the old one.
    let chain = sources.node.genesis_block().digest().to_hex();
    if index.bind_chain(&chain).await? {
        eprintln!("cairn node: the index belonged to another chain; rebuilding it");
    }
    let routes = cairn_index::api::routes(index.clone());
    let keep = config.keep_verdict_epochs;
    let handle = index.clone();
    let task = tokio::spawn(async move {
        let mut feeder = Feeder {
            index,
            sources,
            keep,
            prev: None,
            last_live: None,
            last_scan: None,
        };
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = feeder.step().await {
                tracing::warn!(error = %format!("{e:#}"), "indexer: will retry");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    });
    Ok((task, routes, handle))
}

struct Feeder {
    index: Index,
    sources: Sources,
    keep: u64,
    /// The ledger state last written (none after a start: the first step writes all).
    prev: Option<State>,
    /// (when, reports accepted then)
    last_live: Option<(Instant, u64)>,
    /// When the verdict and rewards folders were last listed for an epoch past a gap.
    last_scan: Option<Instant>,
}

/// How often the folders are listed in case an epoch's file is missing (the verifier and
/// the rewarder write epochs in order, so the next file is normally the one to look for).
const GAP_SCAN: Duration = Duration::from_secs(30);

/// Blocks written per transaction while catching up.
const BLOCKS_PER_STEP: u64 = 2_000;

impl Feeder {
    async fn step(&mut self) -> Result<()> {
        let cursors = self.index.cursors().await?;
        let scan = self.last_scan.is_none_or(|t| t.elapsed() >= GAP_SCAN);
        if scan {
            self.last_scan = Some(Instant::now());
        }
        self.ledger(cursors.height).await?;
        self.verdicts(cursors.verdict_epoch, scan).await?;
        self.rewards(cursors.rewards_epoch, scan).await?;
        self.live().await?;
        Ok(())
    }

    async fn ledger(&mut self, indexed: u64) -> Result<()> {
        let (state, _) = self.sources.node.finalized();
        if self.prev.is_some() && state.height.0 <= indexed {
            return Ok(());
        }
        let mut from = indexed + 1;
        let mut wrote_objects = false;
        while from <= state.height.0 {
            let to = (from + BLOCKS_PER_STEP - 1).min(state.height.0);
            let mut blocks = Vec::new();
            for h in from..=to {
                let Some(block) = self.sources.node.block(Height(h))? else {
                    continue;
                };
                blocks.push(BlockFacts {
                    height: h,
                    digest: block.digest(),
                    time_ms: block.time_ms,
                    txs: block
                        .txs
                        .iter()
                        .map(|tx| TxFacts {
                            hash: tx_hash(tx),
                            sender: tx.signer,
                            kind: tx.message.kind.name(),
                            fee: match tx.message.fee {
                                Fee::Tokens(t) => format!("{t} tokens"),
                                Fee::Credits(c) => format!("{c} credits"),
                            },
                        })
                        .collect(),
                });
            }
            if to < state.height.0 {
                // Catching up: blocks first, the objects with the last chunk.
                let mut delta = cairn_index::LedgerDelta {
                    height: to,
                    ..Default::default()
                };
                delta.ledger_meta = self.index.db.meta("ledger").await?.unwrap_or_default();
                self.index.apply_ledger(&blocks, &delta).await?;
            } else {
                let delta = cairn_index::delta(self.prev.as_ref(), &state);
                self.index.apply_ledger(&blocks, &delta).await?;
                wrote_objects = true;
            }
            from = to + 1;
        }
        if self.prev.is_none() && !wrote_objects {
            // Nothing new, but this process has not written the objects yet.
            let delta = cairn_index::delta(None, &state);
            self.index.apply_ledger(&[], &delta).await?;
        }
        self.prev = Some(state);
        Ok(())
    }

    async fn verdicts(&mut self, mut epoch: u64, scan: bool) -> Result<()> {
        loop {
            let dir = &self.sources.verdicts;
            let Some(next) = next_epoch(epoch, scan, |e| crate::services::batch_path(dir, e), dir)?
            else {
                return Ok(());
            };
            let dir = self.sources.verdicts.clone();
            let batch =
                tokio::task::spawn_blocking(move || crate::services::read_batch(&dir, next))
                    .await??;
            let Some(batch) = batch else {
                return Ok(());
            };
            self.index.apply_verdicts(&batch, self.keep).await?;
            epoch = next;
        }
    }

    async fn rewards(&mut self, mut epoch: u64, scan: bool) -> Result<()> {
        loop {
            let dir = &self.sources.rewards;
            let path = |e| crate::rewarder::record_path(dir, cairn_core::Epoch(e));
            let Some(next) = next_epoch(epoch, scan, path, dir)? else {
                return Ok(());
            };
            let dir = self.sources.rewards.clone();
            let record = tokio::task::spawn_blocking(move || {
                crate::rewarder::read_record(&dir, cairn_core::Epoch(next))
            })
            .await??;
            let Some(record) = record else {
                return Ok(());
            };
            self.index.apply_rewards(&record).await?;
            if self.sources.summary {
                match self.summary_line(next).await {
                    Ok(line) => eprintln!("{line}"),
                    Err(e) => tracing::warn!(error = %e, "epoch summary"),
                }
            }
            epoch = next;
        }
    }

    async fn live(&mut self) -> Result<()> {
        let Some(ingest) = &self.sources.ingest else {
            return Ok(());
        };
        let now = Instant::now();
        let stats = ingest.stats();
        let rate = match self.last_live {
            Some((at, _)) if now.duration_since(at) < Duration::from_secs(5) => return Ok(()),
            Some((at, before)) => {
                let ms = now.duration_since(at).as_millis().max(1) as u64;
                stats.reports_accepted.saturating_sub(before) * 1_000_000 / ms
            }
            None => 0,
        };
        self.last_live = Some((now, stats.reports_accepted));
        let seen = ingest
            .take_seen()
            .into_iter()
            .map(|(k, t)| (k.to_did(), t))
            .collect();
        self.index
            .apply_live(&LiveFacts {
                now_ms: now_ms(),
                sessions_open: stats.sessions_open,
                reports_per_s_milli: rate,
                last_seen: seen,
                consumers: self
                    .sources
                    .consumers
                    .as_ref()
                    .map_or(Value::Null, |c| c.lock().expect("lock").summary()),
            })
            .await?;
        Ok(())
    }

    /// The devnet's line for a rewarded epoch.
    async fn summary_line(&self, epoch: u64) -> Result<String> {
        let e = self
            .index
            .epoch(epoch)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let stats = self
            .index
            .stats()
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut reasons: Vec<String> = Vec::new();
        let mut caught = 0u64;
        for r in e["reasons"].as_array().into_iter().flatten() {
            if r["fraud"] == true {
                caught += r["devices"].as_u64().unwrap_or(0);
            }
            reasons.push(format!(
                "{} {}",
                r["reason"].as_str().unwrap_or("?"),
                r["verdicts"]
            ));
        }
        let reasons = if reasons.is_empty() {
            "none".to_owned()
        } else {
            reasons.into_iter().take(6).collect::<Vec<_>>().join(", ")
        };
        let online = stats["live"]["sessions_open"].as_u64().unwrap_or(0);
        let rate = stats["live"]["reports_per_s"].as_f64().unwrap_or(0.0);
        let coverage = e["economics"]["demand_coverage_ppm"]
            .as_u64()
            .map_or("n/a".to_owned(), |p| {
                format!("{}.{}%", p / 10_000, (p % 10_000) / 1_000)
            });
        let text = |v: &Value| v.as_str().unwrap_or("0").to_owned();
        Ok(format!(
            "epoch {epoch}: height {}  online {online}  reports {rate:.1}/s  verdicts {} valid / {} invalid ({reasons})  paid {} to {} recipients, withheld {}  demand coverage {coverage}  cheaters caught {caught}",
            stats["height"],
            e["verdicts_valid"],
            e["verdicts_invalid"],
            text(&e["paid"]),
            e["recipients"],
            text(&e["withheld"]),
        ))
    }
}

/// The epoch after `after` if its file is there; otherwise, when `scan`, the lowest later
/// epoch with a file in `dir` (past a gap).
fn next_epoch(
    after: u64,
    scan: bool,
    path: impl Fn(u64) -> PathBuf,
    dir: &Path,
) -> Result<Option<u64>> {
    if path(after + 1).exists() {
        return Ok(Some(after + 1));
    }
    if scan {
        next_file(dir, after)
    } else {
        Ok(None)
    }
}

/// The lowest epoch above `after` with a file `epoch-NNNNNNNN.borsh` in `dir`.
fn next_file(dir: &Path, after: u64) -> Result<Option<u64>> {
    if !dir.exists() {
        return Ok(None);
    }
    let mut best: Option<u64> = None;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix("epoch-"))
            .and_then(|n| n.strip_suffix(".borsh"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if n > after && best.is_none_or(|b| n < b) {
            best = Some(n);
        }
    }
    Ok(best)
}
