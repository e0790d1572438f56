//! Ingest inside `cairn node` (`[ingest]` in the node config), the devnet's fixed price
//! feed (`[price_feed]`), and `cairn reports tail`, which reads the report log decoded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::node_cmd::now_ms;
use anyhow::{Context, Result, bail};
use cairn_core::{KeyUri, PublicKey};
use cairn_ingest::{
    Cursor, IngestConfig, IngestService, LogReader, LogStore, ReadFilter, WriterConfig,
    ledger_status,
};
use cairn_ledger::TxKind;
use cairn_node::node::Node;
use cairn_proto::v1::report::Body;
use cairn_proto::{Report, ReportKind};
use clap::{Args, Subcommand, ValueEnum};
use prost::Message;
use serde::{Deserialize, Serialize};

/// `[ingest]`: the device ingest service this node runs (see docs/NODE.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestToml {
    /// Run ingest in this node.
    pub enabled: bool,
    /// gRPC listen address for devices.
    pub listen: SocketAddr,
    /// Report log store: a path (relative to data_dir), file:///abs/path, memory:// or
    /// s3://bucket/prefix (credentials from AWS_* variables).
    pub store: String,
    /// This node's writer id in the log (unique per ingest node sharing a store).
    pub writer_id: String,
    /// Seal a log segment at this size.
    pub max_segment_bytes: usize,
    /// Seal a log segment at this age.
    pub max_segment_age_ms: u64,
    /// Sustained reports per second per device.
    pub rate_per_s: u32,
    /// Reports a device may send at once above the sustained rate.
    pub burst: u32,
    /// Reports older than this (device time) are refused; also the replay window.
    pub max_report_age_ms: u64,
    /// Longest session granted to a device.
    pub max_session_ms: u64,
}

impl Default for IngestToml {
    fn default() -> Self {
        let c = IngestConfig::default();
        let w = WriterConfig::default();
        IngestToml {
            enabled: false,
            listen: "127.0.0.1:7481".parse().expect("address"),
            store: "reports".into(),
            writer_id: "ingest-0".into(),
            max_segment_bytes: w.max_segment_bytes,
            max_segment_age_ms: w.max_segment_age.as_millis() as u64,
            rate_per_s: c.rate_per_s,
            burst: c.burst,
            max_report_age_ms: c.max_report_age.as_millis() as u64,
            max_session_ms: c.max_session.as_millis() as u64,
        }
    }
}

impl IngestToml {
    /// Apply `CAIRN_INGEST_*` environment overrides.
    pub fn apply_env(&mut self) -> Result<()> {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        }
        if let Some(v) = var("CAIRN_INGEST_ENABLED") {
            self.enabled = v.parse().context("CAIRN_INGEST_ENABLED (true or false)")?;
        }
        if let Some(v) = var("CAIRN_INGEST_LISTEN") {
            self.listen = v.parse().context("CAIRN_INGEST_LISTEN")?;
        }
        if let Some(v) = var("CAIRN_INGEST_STORE") {
            self.store = v;
        }
        if let Some(v) = var("CAIRN_INGEST_WRITER_ID") {
            self.writer_id = v;
        }
        Ok(())
    }

    pub fn store(&self, data_dir: &Path) -> Result<LogStore> {
        Ok(LogStore::from_url(&self.store, data_dir)?)
    }

    fn configs(&self) -> (WriterConfig, IngestConfig) {
        let ms = Duration::from_millis;
        (
            WriterConfig {
                max_segment_bytes: self.max_segment_bytes,
                max_segment_age: ms(self.max_segment_age_ms),
                ..WriterConfig::default()
            },
            IngestConfig {
                rate_per_s: self.rate_per_s,
                burst: self.burst,
                max_report_age: ms(self.max_report_age_ms),
                max_session: ms(self.max_session_ms),
                ..IngestConfig::default()
            },
        )
    }
}

/// A running ingest service inside a node.
#[derive(Debug)]
pub struct RunningIngest {
    pub service: IngestService,
    server: tokio::task::JoinHandle<()>,
    writer: cairn_ingest::WriterTask,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl RunningIngest {
    /// Stop serving and seal the open log segment.
    ///
    /// Open challenge streams keep connections alive, so serving gets a few seconds to
    /// drain and is then cut off; every handle to the service must be dropped before this
    /// for the writer to seal, and a writer that does not finish in time leaves its segment
    /// open for the next start to repair.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
            let _ = server.await;
        }
        drop(self.service);
        match tokio::time::timeout(Duration::from_secs(10), self.writer.join()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cairn node: sealing the report log failed: {e}"),
            Err(_) => eprintln!(
                "cairn node: the report log writer did not finish; its open segment is repaired on the next start"
            ),
        }
    }
}

/// Start ingest for `node`: devices are admitted by the node's finalized ledger state.
pub async fn start_ingest(
    node: Arc<Node>,
    config: &IngestToml,
    data_dir: &Path,
) -> Result<RunningIngest> {
    let store = config.store(data_dir)?;
    let (writer_config, ingest_config) = config.configs();
    let registry_node = Arc::clone(&node);
    let registry = move |d: &PublicKey| ledger_status(&registry_node.state(), d);
    let (service, writer) = cairn_ingest::start(
        node.network().clone(),
        Arc::new(registry),
        store.clone(),
        &config.writer_id,
        writer_config,
        ingest_config,
    )
    .await
    .with_context(|| format!("opening the report log at {store}"))?;
    let listener = cairn_ingest::server::bind(config.listen).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = service.clone();
    let server = tokio::spawn(async move {
        if let Err(e) = cairn_ingest::server::serve(listener, serving, async {
            let _ = stopped.await;
        })
        .await
        {
            eprintln!("cairn node: ingest server failed: {e}");
        }
    });
    eprintln!(
        "cairn node: ingest on grpc://{} writing the report log to {store}",
        config.listen
    );
    Ok(RunningIngest {
        service,
        server,
        writer,
        stop,
    })
}

/// `[price_feed]`: submit a fixed token price as a price oracle on a schedule. The devnet
/// uses it so credits can be bought; a production network runs oracles fed by markets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFeedToml {
    /// The oracle's key (a genesis price oracle), relative to the config file or file:///.
    pub key: String,
    /// The price in 10^-8 USD per whole token (100000000 = 1 USD).
    pub usd_per_token_e8: u128,
    /// Seconds between submissions (keep it below price_staleness_ms).
    pub every_s: u64,
}

/// Submit the configured price now and then every `every_s` seconds.
pub async fn run_price_feed(node: Arc<Node>, feed: PriceFeedToml) {
    let signer = match KeyUri::parse(&feed.key).and_then(|k| k.load_keypair()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("cairn node: price feed disabled: {e}");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(feed.every_s.max(1)));
    loop {
        tick.tick().await;
        let nonce = node.state().account(&signer.public()).nonce;
        let kind = TxKind::SubmitPrice {
            usd_per_token_e8: feed.usd_per_token_e8,
            // A second in the past, so a block stamped by a clock a little behind ours
            // still accepts it.
            observed_at_ms: now_ms().saturating_sub(1_000),
        };
        if let Err(e) = node.submit(node.sign_tx(&signer, nonce, kind)) {
            tracing::warn!(error = %e, "price feed submission refused");
        }
    }
}

/// `cairn reports`: read the report log.
#[derive(Debug, Subcommand)]
pub enum ReportsCmd {
    /// Print report log records, decoded, oldest first; --follow keeps printing new ones.
    Tail(TailArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Heartbeat,
    Resource,
    ChallengeResponse,
    Beacon,
    Witness,
    SensorReading,
    UsageReceipt,
    Replica,
    ChallengeIssued,
    JobResult,
}

impl From<KindArg> for ReportKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Heartbeat => ReportKind::Heartbeat,
            KindArg::Resource => ReportKind::Resource,
            KindArg::ChallengeResponse => ReportKind::ChallengeResponse,
            KindArg::Beacon => ReportKind::Beacon,
            KindArg::Witness => ReportKind::Witness,
            KindArg::SensorReading => ReportKind::SensorReading,
            KindArg::UsageReceipt => ReportKind::UsageReceipt,
            KindArg::Replica => ReportKind::Replica,
            KindArg::ChallengeIssued => ReportKind::ChallengeIssued,
            KindArg::JobResult => ReportKind::JobResult,
        }
    }
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// The report log store: a directory, file:///abs/path or s3://bucket/prefix.
    #[arg(
        long,
        value_name = "URL",
        default_value = ".cairn/devnet/chain/reports"
    )]
    store: String,
    /// Only these kinds (repeatable).
    #[arg(long, value_enum)]
    kind: Vec<KindArg>,
    /// Only records received in the last this many seconds.
    #[arg(long, value_name = "S")]
    since_s: Option<u64>,
    /// Only the last N records (after the other filters).
    #[arg(long, short = 'n', value_name = "N")]
    last: Option<usize>,
    /// Keep printing new records as they arrive.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Resume from (and save progress to) this cursor file.
    #[arg(long, value_name = "FILE")]
    cursor: Option<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct RecordOut {
    writer: String,
    segment: u64,
    record: u64,
    receive_time_ms: u64,
    kind: String,
    content_id: String,
    device: String,
    seq: u64,
    timestamp_ms: u64,
    body: serde_json::Value,
}

fn describe(entry: &cairn_ingest::LogEntry) -> RecordOut {
    let r = &entry.record;
    let kind = ReportKind::try_from(r.kind)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("REPORT_KIND_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| format!("unknown({})", r.kind));
    let report = r
        .report
        .as_ref()
        .and_then(|s| Report::decode(s.report.as_slice()).ok());
    let (device, seq, timestamp_ms, body) = match report {
        Some(rep) => (
            cairn_proto::key_field("device_key", &rep.device_key)
                .map(|k| k.to_did())
                .unwrap_or_else(|_| hex::encode(&rep.device_key)),
            rep.seq,
            rep.timestamp_ms,
            body_json(rep.body.as_ref()),
        ),
        None => match &r.issued {
            Some(issued) => (
                cairn_proto::key_field("device_key", &issued.device_key)
                    .map(|k| k.to_did())
                    .unwrap_or_else(|_| hex::encode(&issued.device_key)),
                0,
                r.receive_time_ms,
                serde_json::json!({
                    "epoch": issued.epoch,
                    "attempt": issued.attempt,
                    "block_height": issued.block_height,
                    "challenge": format!("{:?}", issued.challenge.as_ref().and_then(|c| c.task.as_ref())),
                    "deadline_ms": issued.challenge.as_ref().map(|c| c.deadline_ms),
                }),
            ),
            None => (
                "?".into(),
                0,
                0,
                serde_json::json!({"error": "undecodable report"}),
            ),
        },
    };
    RecordOut {
        writer: entry.writer.clone(),
        segment: entry.position.segment,
        record: entry.position.record,
        receive_time_ms: r.receive_time_ms,
        kind,
        content_id: hex::encode(&r.content_id),
        device,
        seq,
        timestamp_ms,
        body,
    }
}

fn body_json(body: Option<&Body>) -> serde_json::Value {
    use serde_json::json;
    match body {
        None => json!(null),
        Some(Body::Heartbeat(h)) => json!({
            "uptime_s": h.uptime_s,
            "firmware": h.firmware,
            "queued_reports": h.queued_reports,
            "memory_rss_bytes": h.memory_rss_bytes,
            "load_avg_x100": h.load_avg_x100,
            "headline": h.resources.as_ref().map(|r| r.headline),
        }),
        Some(Body::Resource(r)) => json!({ "resource": format!("{:?}", r.resource) }),
        Some(Body::SensorReading(s)) => json!({
            "sampled_at_ms": s.sampled_at_ms,
            "measurements": s.measurements.iter().map(|m| {
                let q = cairn_proto::v1::Quantity::try_from(m.quantity)
                    .map(|q| q.as_str_name().trim_start_matches("QUANTITY_").to_lowercase())
                    .unwrap_or_else(|_| m.quantity.to_string());
                (q, m.value)
            }).collect::<std::collections::BTreeMap<_, _>>(),
        }),
        Some(other) => json!({ "debug": format!("{other:?}") }),
    }
}

fn print_record(out: &RecordOut, json: bool) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let line = if json {
        serde_json::to_string(out)?
    } else {
        format!(
            "{}  {:<14} {}  seq {:<6} {}  [{}/{}:{}]",
            out.receive_time_ms,
            out.kind,
            out.device,
            out.seq,
            out.body,
            out.writer,
            out.segment,
            out.record
        )
    };
    writeln!(stdout, "{line}").or_else(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0)
        } else {
            Err(e)
        }
    })?;
    Ok(())
}

impl ReportsCmd {
    pub fn run(self) -> Result<()> {
        let ReportsCmd::Tail(a) = self;
        let cwd = std::env::current_dir()?;
        if !a.store.contains("://") && !Path::new(&a.store).exists() {
            bail!(
                "no report log at {} (is ingest enabled, and is this the node's data directory?)",
                a.store
            );
        }
        let store = LogStore::from_url(&a.store, &cwd)?;
        let filter = ReadFilter {
            from_ms: a.since_s.map(|s| now_ms().saturating_sub(s * 1000)),
            to_ms: None,
            kinds: a.kind.iter().map(|k| (*k).into()).collect(),
        };
        let cursor = match &a.cursor {
            Some(path) => Cursor::load(path)?,
            None => Cursor::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut reader = LogReader::new(store, cursor, filter);
            let mut backlog = Vec::new();
            loop {
                let batch = reader.next_batch(1024).await?;
                if batch.is_empty() {
                    break;
                }
                backlog.extend(batch);
            }
            let skip = a.last.map_or(0, |n| backlog.len().saturating_sub(n));
            for entry in &backlog[skip..] {
                print_record(&describe(entry), a.json)?;
            }
            if let Some(path) = &a.cursor {
                reader.cursor().save(path)?;
            }
            if !a.follow {
                return Ok(());
            }
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let batch = reader.next_batch(1024).await?;
                for entry in &batch {
                    print_record(&describe(entry), a.json)?;
                }
                if let (Some(path), false) = (&a.cursor, batch.is_empty()) {
                    reader.cursor().save(path)?;
                }
            }
        })
    }
}
