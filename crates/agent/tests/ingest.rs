//! The agent against the real ingest service: it onboards nothing itself (the registry says
//! the device is active), handshakes, delivers its reports, keeps them queued while ingest is
//! down, reconnects with backoff when ingest is back, and the log ends up with every report
//! exactly once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cairn_agent::{Agent, AgentConfig, Driver};
use cairn_core::{Keypair, NetworkId, PublicKey};
use cairn_ingest::log::read_all;
use cairn_ingest::{
    DeviceStatus, IngestConfig, IngestService, LogStore, LogWriter, ReadFilter, WriterConfig,
};
use cairn_ledger::tx::DeviceKind;
use cairn_proto::Report;
use prost::Message;

mod common;
use common::Thermo;

/// An ingest server on `addr` over `store`; dropping the sender stops it.
async fn ingest(
    addr: SocketAddr,
    store: &LogStore,
    device: PublicKey,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (writer, task) = LogWriter::open(store.clone(), "agent-test", WriterConfig::default())
        .await
        .unwrap();
    let recent = cairn_ingest::recent_content_ids(store, 3_600_000)
        .await
        .unwrap();
    let registry = move |d: &PublicKey| {
        if *d == device {
            DeviceStatus::Active {
                kind: DeviceKind::Sensor,
            }
        } else {
            DeviceStatus::Unknown
        }
    };
    let service = IngestService::new(
        NetworkId::new("cairn-test").unwrap(),
        Arc::new(registry),
        writer,
        IngestConfig::default(),
        recent,
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        cairn_ingest::server::serve(listener, service, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        task.join().await.unwrap();
    });
    (stop, handle)
}

async fn seqs_in_log(store: &LogStore) -> Vec<u64> {
    read_all(store, ReadFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| {
            Report::decode(e.record.report.as_ref().unwrap().report.as_slice())
                .unwrap()
                .seq
        })
        .collect()
}

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_survive_an_ingest_outage_and_arrive_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::local(dir.path().join("log")).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let device = Keypair::generate();
    let config = AgentConfig::from_toml_str(
        &format!(
            "network = \"cairn-test\"\nkind = \"sensor\"\ningest = \"http://{addr}\"\n\
             admin_listen = \"{admin}\"\nheartbeat_interval_s = 1\nreading_interval_s = 1\n\
             jitter_pct = 0\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\n"
        ),
        dir.path(),
    )
    .unwrap();

    let (stop, server) = ingest(addr, &store, device.public()).await;
    let agent = tokio::spawn(Agent::run(
        config,
        Keypair::from_seed(&device.seed()),
        Driver::Sensor(Box::new(Thermo)),
        std::future::pending(),
    ));
    wait_for("the first reports", async || {
        seqs_in_log(&store).await.len() >= 3
    })
    .await;

    // Ingest goes away; the agent keeps producing into its queue.
    stop.send(()).unwrap();
    server.await.unwrap();
    let during_outage = seqs_in_log(&store).await.len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(seqs_in_log(&store).await.len(), during_outage);

    // Back: the agent reconnects on its own and delivers what it queued.
    let (stop, server) = ingest(addr, &store, device.public()).await;
    wait_for("the queued reports", async || {
        seqs_in_log(&store).await.len() >= during_outage + 4
    })
    .await;
    agent.abort();
    stop.send(()).unwrap();
    server.await.unwrap();

    let seqs = seqs_in_log(&store).await;
    let unique: HashSet<u64> = seqs.iter().copied().collect();
    assert_eq!(
        unique.len(),
        seqs.len(),
        "a report is in the log twice: {seqs:?}"
    );
    // Nothing the agent produced is missing below the highest seq stored.
    let max = *seqs.iter().max().unwrap();
    let mut sorted = seqs.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (1..=max).collect::<Vec<_>>(),
        "a gap in the device's reports"
    );
}
