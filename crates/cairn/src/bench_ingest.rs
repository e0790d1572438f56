//! `cairn bench ingest`: acknowledged reports per second through a real ingest server over
//! loopback, with N concurrent device sessions, next to this machine's raw Ed25519 batch
//! verification rate measured in the same run.
//!
//! The ingest path is everything a report goes through: HTTP/2 + gRPC decoding, session
//! lookup, size and shape checks, report decoding, the rate limit, batch signature
//! verification, deduplication, the group-committed append to the report log (fsynced on a
//! local directory) and the acknowledgement. Reports are signed before the clock starts,
//! as devices sign their own; the load generator shares this machine's cores with the
//! server, which the ratio does not hide.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::node_cmd::now_ms;
use anyhow::{Context, Result};
use cairn_core::{Keypair, NetworkId, PublicKey, Signature};
use cairn_ingest::{DeviceStatus, IngestConfig, IngestService, LogStore, LogWriter, WriterConfig};
use cairn_ledger::tx::DeviceKind;
use cairn_proto::client::open_session;
use cairn_proto::v1::ingest_client::IngestClient;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::{Measurement, Quantity, SensorReading, SubmitRequest};
use cairn_proto::{Report, SignedReport, report_signing_bytes, sign_report};
use clap::Args;

#[derive(Debug, Args)]
pub struct IngestBench {
    /// Concurrent device sessions, each on its own connection.
    #[arg(long, default_value_t = 1_000)]
    devices: usize,
    /// Reports each device sends.
    #[arg(long, default_value_t = 96)]
    reports: usize,
    /// Reports per submission (the agent's batch_max).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Report log store (default: a fresh temporary directory, fsynced).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Worker threads for the server and the load (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn reading(device: &Keypair, seq: u64, t: u64) -> Report {
    Report {
        device_key: device.public().as_bytes().to_vec(),
        seq,
        timestamp_ms: t,
        body: Some(Body::SensorReading(SensorReading {
            sampled_at_ms: t,
            measurements: vec![
                Measurement {
                    quantity: Quantity::TemperatureCX100 as i32,
                    value: 1_500 + (seq % 300) as i64,
                },
                Measurement {
                    quantity: Quantity::HumidityPctX100 as i32,
                    value: 6_000,
                },
                Measurement {
                    quantity: Quantity::PressureHpaX100 as i32,
                    value: 101_325,
                },
            ],
        })),
    }
}

/// Raw batch verification of `n` signatures in batches of `batch`, on `threads` threads.
fn ceiling(n: usize, batch: usize, threads: usize) -> f64 {
    let network = NetworkId::new("cairn-bench").expect("valid id");
    let keys: Vec<Keypair> = (0..64).map(|_| Keypair::generate()).collect();
    let items: Vec<(PublicKey, Vec<u8>, Signature)> = (0..n)
        .map(|i| {
            let k = &keys[i % keys.len()];
            let msg = report_signing_bytes(&network, &(i as u64).to_le_bytes().repeat(12));
            let sig = cairn_core::keys::Signer::sign_raw(k, &msg);
            (k.public(), msg, sig)
        })
        .collect();
    let items = Arc::new(items);
    let start = Instant::now();
    let per = n.div_ceil(threads);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let items = Arc::clone(&items);
            std::thread::spawn(move || {
                let mine = &items[(t * per).min(items.len())..((t + 1) * per).min(items.len())];
                for chunk in mine.chunks(batch) {
                    let refs: Vec<(&PublicKey, &[u8], &Signature)> =
                        chunk.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect();
                    assert!(cairn_core::keys::verify_batch(&refs));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("verifier thread");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

impl IngestBench {
    pub fn run(self) -> Result<()> {
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let batch = self.batch.clamp(1, cairn_proto::MAX_REPORTS_PER_SUBMIT);
        let total = self.devices * self.reports;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?;
        let temp = tempfile::tempdir()?;
        let store = match &self.store {
            Some(url) => LogStore::from_url(url, &std::env::current_dir()?)?,
            None => LogStore::local(temp.path().join("log"))?,
        };
        eprintln!(
            "ingest bench: {} devices × {} reports in batches of {batch}, store {store}, {threads} threads",
            self.devices, self.reports
        );
        let ours = runtime.block_on(self.ingest(store, batch))?;
        let raw = ceiling(total, batch, threads);
        println!("reports acknowledged (durable)   {total}");
        println!("ingest, end to end                {ours:>10.0} reports/s");
        println!("raw Ed25519 batch verify ({batch:>3})  {raw:>10.0} signatures/s");
        println!("ratio                             {:>10.2}", ours / raw);
        Ok(())
    }

    async fn ingest(&self, store: LogStore, batch: usize) -> Result<f64> {
        let network = NetworkId::new("cairn-bench").expect("valid id");
        let devices: Vec<Keypair> = (0..self.devices).map(|_| Keypair::generate()).collect();
        let registry: HashMap<PublicKey, DeviceStatus> = devices
            .iter()
            .map(|d| {
                (
                    d.public(),
                    DeviceStatus::Active {
                        kind: DeviceKind::Sensor,
                    },
                )
            })
            .collect();
        let (writer, task) =
            LogWriter::open(store.clone(), "bench", WriterConfig::default()).await?;
        let config = IngestConfig {
            max_sessions: self.devices * 2,
            burst: u32::try_from(self.reports).unwrap_or(u32::MAX).max(1),
            ..IngestConfig::default()
        };
        let service = IngestService::new(
            network.clone(),
            Arc::new(move |d: &PublicKey| {
                registry.get(d).cloned().unwrap_or(DeviceStatus::Unknown)
            }),
            writer,
            config,
            [],
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(cairn_ingest::server::serve(
            listener,
            service.clone(),
            async {
                let _ = stopped.await;
            },
        ));

        // Connect, handshake and sign everything before the clock starts.
        eprintln!(
            "opening {} sessions and signing {} reports…",
            self.devices,
            self.devices * self.reports
        );
        let mut prepared = Vec::with_capacity(self.devices);
        let t0 = now_ms();
        for chunk in devices.chunks(100) {
            let mut opening = Vec::new();
            for device in chunk {
                let device = Keypair::from_seed(&device.seed());
                let network = network.clone();
                let reports = self.reports;
                opening.push(tokio::spawn(async move {
                    let mut client = IngestClient::connect(format!("http://{addr}")).await?;
                    let session = open_session(&mut client, &network, &device, 3_600_000).await?;
                    let signed: Vec<SignedReport> = (0..reports as u64)
                        .map(|i| sign_report(&session.key, &network, &reading(&device, i, t0 + i)))
                        .collect();
                    anyhow::Ok((client, session.id, signed))
                }));
            }
            for o in opening {
                prepared.push(o.await??);
            }
        }

        let start = Instant::now();
        let mut senders = Vec::with_capacity(prepared.len());
        for (mut client, session_id, signed) in prepared {
            senders.push(tokio::spawn(async move {
                let mut acked = 0usize;
                for chunk in signed.chunks(batch) {
                    let response = client
                        .submit(SubmitRequest {
                            session_id: session_id.clone(),
                            reports: chunk.to_vec(),
                        })
                        .await?
                        .into_inner();
                    acked += response.accepted.len();
                }
                anyhow::Ok(acked)
            }));
        }
        let mut acked = 0;
        for s in senders {
            acked += s.await?.context("a device's submission failed")?;
        }
        let elapsed = start.elapsed();
        let _ = stop.send(());
        let _ = server.await;
        drop(service);
        task.join().await?;
        anyhow::ensure!(
            acked == self.devices * self.reports,
            "only {acked} of {} reports were acknowledged",
            self.devices * self.reports
        );
        let log = cairn_ingest::log::read_all(&store, cairn_ingest::ReadFilter::default()).await?;
        anyhow::ensure!(
            log.len() == acked,
            "the log holds {} records, {acked} were acknowledged",
            log.len()
        );
        Ok(acked as f64 / elapsed.max(Duration::from_micros(1)).as_secs_f64())
    }
}
