//! The consumer service endpoint of a storage device on a real directory: paid uploads and
//! retrievals work; unpaid, underpaid, misdirected, replayed and mismatched requests are
//! refused with their own status and code, and the endpoint keeps serving.

use std::time::Duration;

use cairn_agent::disk::DiskStorage;
use cairn_agent::driver::Driver;
use cairn_agent::service::{EPOCHS_HEADER, RECEIPT_HEADER, storage_due};
use cairn_agent::{Agent, AgentConfig};
use cairn_core::codec::encode;
use cairn_core::{Credits, Height, Keypair, NetworkId, Signed};
use cairn_ledger::tx::{ServiceKind, UsageReceipt};
use cairn_verify::storage::content_id;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// (status, body) of a raw HTTP/1.1 request.
async fn call(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = std::str::from_utf8(&response[..split])
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // The service sets Content-Length on every answer, so the body is the rest as is.
    let body = response[split + 4..].to_vec();
    (status, body)
}

fn code(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let start = text.find("\"code\":\"").map(|i| i + 8).unwrap_or(0);
    text[start..].split('"').next().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_requests_are_served_and_bad_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let network = NetworkId::new("cairn-test").unwrap();
    let device = Keypair::from_seed(&[4; 32]);
    let consumer = Keypair::generate();
    let port = free_port();
    let text = format!(
        "network = \"cairn-test\"\nkind = \"storage\"\ningest = \"http://127.0.0.1:1\"\n\
         admin_listen = \"127.0.0.1:0\"\n[service]\nlisten = \"127.0.0.1:{port}\"\n\
         price_credits_per_gib_epoch = 1073741824\n"
    );
    let config = AgentConfig::from_toml_str(&text, dir.path()).unwrap();
    let disk = DiskStorage::open(device.public(), &dir.path().join("objects"), 1 << 20).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(Agent::run(
        config,
        Keypair::from_seed(&[4; 32]),
        Driver::Storage(Box::new(disk)),
        async move {
            let _ = stopped.await;
        },
    ));
    // Wait for the endpoint.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let data: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
    let id = content_id(&data).to_hex();
    // One credit per byte per epoch at this price.
    let due = storage_due(data.len() as u64, 1 << 30, 2);
    assert_eq!(due, Credits::from_base_units(10_000));
    let receipt = |to: &Keypair, amount: u128, serial: u64| {
        hex::encode(encode(&Signed::sign(
            &consumer,
            &network,
            UsageReceipt {
                device: to.public(),
                service: ServiceKind::Storage,
                amount: Credits::from_base_units(amount),
                serial,
                expires_at: Height(1_000),
            },
        )))
    };
    let path = format!("/v1/objects/{id}");
    let epochs = (EPOCHS_HEADER, "2".to_owned());

    let (status, body) = call(port, "PUT", &path, std::slice::from_ref(&epochs), &data).await;
    assert_eq!((status, code(&body)), (402, "receipt_required".into()));
    let under = receipt(&device, 9_999, 1);
    let (status, body) = call(
        port,
        "PUT",
        &path,
        &[epochs.clone(), (RECEIPT_HEADER, under)],
        &data,
    )
    .await;
    assert_eq!((status, code(&body)), (402, "underpaid".into()));
    let elsewhere = receipt(&Keypair::generate(), 10_000, 2);
    let (status, body) = call(
        port,
        "PUT",
        &path,
        &[epochs.clone(), (RECEIPT_HEADER, elsewhere)],
        &data,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "bad_receipt".into()));
    let (status, body) = call(
        port,
        "PUT",
        &path,
        &[epochs.clone(), (RECEIPT_HEADER, "zz".into())],
        &data,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "bad_receipt".into()));
    // Paid, but the body is not the object named.
    let mismatched = receipt(&device, 10_000, 3);
    let other = format!("/v1/objects/{}", "00".repeat(32));
    let (status, body) = call(
        port,
        "PUT",
        &other,
        &[epochs.clone(), (RECEIPT_HEADER, mismatched)],
        &data,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "content_mismatch".into()));

    let paid = receipt(&device, 10_000, 4);
    let (status, body) = call(
        port,
        "PUT",
        &path,
        &[epochs.clone(), (RECEIPT_HEADER, paid.clone())],
        &data,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // The same receipt cannot pay twice.
    let (status, body) = call(port, "PUT", &path, &[epochs, (RECEIPT_HEADER, paid)], &data).await;
    assert_eq!((status, code(&body)), (409, "receipt_reused".into()));
    // Retrievals are paid too (100 credits per GiB by default: 1 credit here).
    let (status, body) = call(port, "GET", &path, &[], b"").await;
    assert_eq!((status, code(&body)), (402, "receipt_required".into()));
    let (status, body) = call(
        port,
        "GET",
        &path,
        &[(RECEIPT_HEADER, receipt(&device, 1, 5))],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, data);
    let (status, body) = call(port, "GET", "/v1/objects/not-hex", &[], b"").await;
    assert_eq!((status, code(&body)), (400, "bad_object_id".into()));
    // Every accepted receipt is kept for the owner to settle.
    let kept = std::fs::read_dir(dir.path().join("agent-data/receipts"))
        .unwrap()
        .count();
    assert_eq!(kept, 2);

    let _ = stop.send(());
    agent.await.unwrap().unwrap();
}
