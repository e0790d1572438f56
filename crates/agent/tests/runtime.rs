//! The runtime without an ingest server: it queues its start-up reports durably, records
//! why it cannot send them, and shuts down cleanly. (Sessions and submission are tested
//! against the real ingest server elsewhere.)

use std::net::SocketAddr;
use std::time::Duration;

use cairn_agent::queue::FIRST_SEQ;
use cairn_agent::{Agent, AgentConfig, AgentError, AgentKind, Driver, Queue};
use cairn_core::Keypair;
use cairn_proto::Report;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::resource_report::Resource;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::Thermo;

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn status(addr: SocketAddr) -> Option<serde_json::Value> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(
        format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    let body = &out[out.find("\r\n\r\n")?..];
    serde_json::from_str(&body[body.find('{')?..=body.rfind('}')?]).ok()
}

fn config(dir: &std::path::Path, admin: SocketAddr) -> AgentConfig {
    // Nothing listens on port 1: every connection attempt is refused at once.
    let text = format!(
        "network = \"cairn-test\"\nkind = \"sensor\"\ningest = \"http://127.0.0.1:1\"\n\
         admin_listen = \"{admin}\"\nbackoff_initial_ms = 10\nbackoff_max_ms = 50\n"
    );
    AgentConfig::from_toml_str(&text, dir).unwrap()
}

#[tokio::test]
async fn queues_start_up_reports_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let admin = free_port();
    let config = config(dir.path(), admin);
    let data_dir = config.data_dir.clone();
    let device = Keypair::from_seed(&[8; 32]);
    let device_key = device.public();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(Agent::run(
        config,
        device,
        Driver::Sensor(Box::new(Thermo)),
        async move {
            let _ = stopped.await;
        },
    ));

    // Wait (bounded, to fail rather than hang) until the agent reports both start-up
    // reports queued and the failed connection.
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(s) = status(admin).await
                && s["queue_len"].as_u64() >= Some(2)
                && s["last_error"].is_string()
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("agent status never showed the queued reports");
    assert_eq!(seen["connected"], false);
    assert_eq!(seen["kind"], "sensor");
    assert_eq!(seen["device"], device_key.to_did());
    let error = seen["last_error"].as_str().unwrap();
    assert!(error.contains("cannot connect to ingest"), "{error}");

    stop.send(()).unwrap();
    agent.await.unwrap().unwrap();

    // The queue is released and holds the resource report then the heartbeat.
    let queue = Queue::open(&data_dir, 100).unwrap();
    let reports: Vec<Report> = queue
        .peek_batch(10)
        .iter()
        .map(|(_, b)| Report::decode(b.as_slice()).unwrap())
        .collect();
    assert!(reports.len() >= 2);
    assert_eq!(reports[0].seq, FIRST_SEQ);
    assert_eq!(reports[1].seq, FIRST_SEQ + 1);
    assert!(
        reports
            .iter()
            .all(|r| r.device_key == device_key.as_bytes().to_vec())
    );
    assert!(matches!(
        &reports[0].body,
        Some(Body::Resource(r)) if matches!(&r.resource, Some(Resource::Sensor(s)) if s.model == "test-th")
    ));
    let Some(Body::Heartbeat(hb)) = &reports[1].body else {
        panic!("expected a heartbeat, got {:?}", reports[1].body)
    };
    assert_eq!(hb.firmware, cairn_agent::runtime::FIRMWARE);
    assert!(hb.firmware.starts_with("cairn-agent/"));
    assert_eq!(
        hb.resources.as_ref().map(|s| (s.kind, s.headline)),
        Some((cairn_proto::v1::DeviceKind::Sensor as i32, 60))
    );
}

#[tokio::test]
async fn driver_of_the_wrong_kind_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), free_port());
    config.kind = AgentKind::Storage;
    let err = Agent::run(
        config,
        Keypair::from_seed(&[8; 32]),
        Driver::Sensor(Box::new(Thermo)),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::KindMismatch {
                driver: AgentKind::Sensor,
                config: AgentKind::Storage
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn non_loopback_admin_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), free_port());
    config.admin_listen = "0.0.0.0:0".parse().unwrap();
    let err = Agent::run(
        config,
        Keypair::from_seed(&[8; 32]),
        Driver::Sensor(Box::new(Thermo)),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}
