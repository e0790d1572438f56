//! The admin endpoint: metrics and status over HTTP, loopback only.

use std::net::SocketAddr;
use std::sync::Arc;

use cairn_agent::{AdminError, AdminServer, AgentStatus, Metrics, StatusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 GET: returns (status code, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_owned())
}

async fn start(
    status: StatusHandle,
    metrics: Arc<Metrics>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let server = AdminServer::bind("127.0.0.1:0".parse().unwrap(), status, metrics)
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Whether the exposition has this exact line.
fn has_line(body: &str, line: &str) -> bool {
    body.lines().any(|l| l.trim_end() == line)
}

#[tokio::test]
async fn metrics_are_exposed() {
    let metrics = Arc::new(Metrics::new());
    metrics.enqueued("heartbeat");
    metrics.enqueued("heartbeat");
    metrics.enqueued("sensor_reading");
    metrics.reports_acked.inc_by(5);
    metrics.reports_duplicate.inc_by(2);
    metrics.dropped("queue_full", 1);
    metrics.dropped("invalid_argument", 3);
    metrics.sessions_opened.inc();
    metrics.reconnects.inc_by(4);
    metrics.queue_length.set(17);
    metrics.connected.set(1);
    let (addr, _stop) = start(StatusHandle::new(AgentStatus::default()), metrics).await;

    let (code, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    for line in [
        r#"cairn_agent_reports_enqueued_total{kind="heartbeat"} 2"#,
        r#"cairn_agent_reports_enqueued_total{kind="sensor_reading"} 1"#,
        "cairn_agent_reports_acked_total 5",
        "cairn_agent_reports_duplicate_total 2",
        r#"cairn_agent_reports_dropped_total{reason="queue_full"} 1"#,
        r#"cairn_agent_reports_dropped_total{reason="invalid_argument"} 3"#,
        "cairn_agent_sessions_opened_total 1",
        "cairn_agent_reconnects_total 4",
        "cairn_agent_queue_length 17",
        "cairn_agent_connected 1",
        "# TYPE cairn_agent_reports_acked counter",
        "# TYPE cairn_agent_queue_length gauge",
    ] {
        assert!(has_line(&body, line), "missing {line:?} in:\n{body}");
    }
}

#[tokio::test]
async fn status_is_json() {
    let status = StatusHandle::new(AgentStatus {
        device: "did:key:z6MkTest".into(),
        kind: "sensor".into(),
        ..AgentStatus::default()
    });
    status.update(|s| {
        s.connected = true;
        s.queue_len = 3;
        s.reports_acked = 9;
        s.last_error = Some("Unavailable: try later".into());
    });
    let (addr, _stop) = start(status, Arc::new(Metrics::new())).await;
    let (code, body) = get(addr, "/status").await;
    assert_eq!(code, 200);
    let json_start = body.find('{').unwrap();
    let json_end = body.rfind('}').unwrap();
    let v: serde_json::Value = serde_json::from_str(&body[json_start..=json_end]).unwrap();
    assert_eq!(v["device"], "did:key:z6MkTest");
    assert_eq!(v["kind"], "sensor");
    assert_eq!(v["connected"], true);
    assert_eq!(v["queue_len"], 3);
    assert_eq!(v["reports_acked"], 9);
    assert_eq!(v["last_error"], "Unavailable: try later");
    assert!(v["session_expires_at_ms"].is_null());

    let (code, _) = get(addr, "/nope").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn non_loopback_addresses_are_refused() {
    for addr in ["0.0.0.0:0", "[::]:0", "10.1.2.3:7490"] {
        let err = AdminServer::bind(
            addr.parse().unwrap(),
            StatusHandle::new(AgentStatus::default()),
            Arc::new(Metrics::new()),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, AdminError::NotLoopback(_)), "{addr}: {err:?}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
