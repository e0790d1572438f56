//! Process-level tests: real `cairn node` processes on loopback, killed with SIGKILL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use cairn_core::envelope::Signed;
use cairn_core::keyfile::read_key_file;
use cairn_core::{Keypair, NetworkId, PublicKey, Tokens};
use cairn_ledger::tx::{Fee, Transaction, TxKind};
use cairn_ledger::{ParamId, SignedTx};
use prost::Message;
use serde_json::Value;

mod common;
use common::*;

fn transfer(network: &NetworkId, from: &Keypair, to: &PublicKey, nonce: u64) -> SignedTx {
    Signed::sign(
        from,
        network,
        Transaction {
            network: network.clone(),
            nonce,
            fee: Fee::Tokens(Tokens::from_base_units(ParamId::TxFeeTokens.spec().default)),
            kind: TxKind::Transfer {
                to: *to,
                amount: Tokens::from_base_units(1 + nonce as u128),
            },
        },
    )
}

#[test]
fn sigkill_loses_no_finalized_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dev");
    let (owned, rpc, _) = dev_node_args(&data, base_port(0));
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let node = spawn(&args, &dir.path().join("node1.log"));
    wait_until("the dev node's RPC", Duration::from_secs(60), || {
        height(&rpc).is_some()
    });
    let network = NetworkId::new("cairn-devnet").unwrap();
    let dev = read_key_file(&data.join("dev-account.key")).unwrap();
    let to = Keypair::from_seed(&[9; 32]).public();

    // A stream of transfers; remember what the node reported finalized.
    let mut reported: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut pending = Vec::new();
    for nonce in 0..60u64 {
        if let Some(h) = submit(&rpc, &transfer(&network, &dev, &to, nonce)) {
            pending.push(h);
        }
        sleep(Duration::from_millis(20));
        pending.retain(|h| match finalized(&rpc, h) {
            Some(at) => {
                reported.insert(h.clone(), at);
                false
            }
            None => true,
        });
    }
    wait_until("some finalized transfers", Duration::from_secs(60), || {
        pending.retain(|h| match finalized(&rpc, h) {
            Some(at) => {
                reported.insert(h.clone(), at);
                false
            }
            None => true,
        });
        reported.len() >= 20
    });
    let tip = height(&rpc).unwrap();
    let root_at_tip = get(&rpc, &format!("/v1/blocks/{tip}")).unwrap()["state_root"].clone();
    // Kill -9 while it is still busy.
    for nonce in 60..70u64 {
        let _ = submit(&rpc, &transfer(&network, &dev, &to, nonce));
    }
    drop(node);

    let _node = spawn(&args, &dir.path().join("node2.log"));
    wait_until("the restarted node's RPC", Duration::from_secs(60), || {
        height(&rpc).is_some()
    });
    for (hash, at) in &reported {
        assert_eq!(
            finalized(&rpc, hash),
            Some(*at),
            "finalized transaction {hash} survived the kill"
        );
    }
    assert_eq!(
        get(&rpc, &format!("/v1/blocks/{tip}")).unwrap()["state_root"],
        root_at_tip,
        "the same state root at height {tip}"
    );
    // And the chain goes on from there.
    wait_until(
        "new blocks after the restart",
        Duration::from_secs(60),
        || height(&rpc).is_some_and(|h| h > tip + 1),
    );
}

#[test]
fn four_processes_form_a_network_and_survive_one_kill() {
    let _turn = heavy();
    let dir = tempfile::tempdir().unwrap();
    let net_dir = dir.path().join("testnet");
    let base = base_port(2);
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "testnet",
            "init",
            "--validators",
            "4",
            "--dir",
            net_dir.to_str().unwrap(),
            "--base-port",
            &base.to_string(),
            // Short reward epochs: every validator's oracle computes and signs within the
            // test (validator 0 verifies; the others read its verdict batches over HTTP).
            "--param",
            "epoch_duration_ms=10000",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let configs: Vec<PathBuf> = (0..4)
        .map(|i| net_dir.join(format!("v{i}/node.toml")))
        .collect();
    let rpcs: Vec<String> = (0..4)
        .map(|i| format!("http://127.0.0.1:{}", base + 2 * i + 1))
        .collect();
    let mut procs: Vec<Option<Proc>> = configs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Some(spawn(
                &["node", "--config", c.to_str().unwrap()],
                &dir.path().join(format!("v{i}.log")),
            ))
        })
        .collect();
    wait_until(
        "all four to finalize blocks",
        Duration::from_secs(120),
        || rpcs.iter().all(|r| height(r).is_some_and(|h| h >= 2)),
    );
    let network = NetworkId::new("cairn-testnet").unwrap();
    let funded = read_key_file(&net_dir.join("funded.key")).unwrap();
    let to = Keypair::from_seed(&[7; 32]).public();

    // Sent to validator 0, finalized on all four.
    let first = submit(&rpcs[0], &transfer(&network, &funded, &to, 0)).expect("admitted");
    wait_until(
        "the transfer on every validator",
        Duration::from_secs(60),
        || rpcs.iter().all(|r| finalized(r, &first).is_some()),
    );
    let at: Vec<_> = rpcs.iter().map(|r| finalized(r, &first)).collect();
    assert!(
        at.windows(2).all(|w| w[0] == w[1]),
        "same height and index everywhere: {at:?}"
    );

    // Validator 3 is killed; the other three go on, and a transfer sent to validator 1
    // reaches whichever of them leads.
    procs[3].take();
    let second = submit(&rpcs[1], &transfer(&network, &funded, &to, 1)).expect("admitted");
    wait_until(
        "the second transfer on the three live validators",
        Duration::from_secs(90),
        || rpcs[..3].iter().all(|r| finalized(r, &second).is_some()),
    );
    let h = rpcs[..3].iter().map(|r| height(r).unwrap()).min().unwrap();
    let digests: Vec<Value> = rpcs[..3]
        .iter()
        .map(|r| get(r, &format!("/v1/blocks/{h}")).unwrap()["digest"].clone())
        .collect();
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "the live validators agree at height {h}"
    );

    // Rewards: each validator's reward oracle computed the epoch in its own process and
    // signed it with its own key; the ledger accepted the manifest at 3 of 4 signatures,
    // and every live node computed the same manifest.
    let oracles: Vec<String> = (0..4)
        .map(|i| {
            read_key_file(&net_dir.join(format!("v{i}/reward-oracle.key")))
                .unwrap()
                .public()
                .to_did()
        })
        .collect();
    let mut accepted = Value::Null;
    wait_until(
        "a reward manifest accepted by three oracles",
        Duration::from_secs(120),
        || {
            accepted = get(&rpcs[1], "/v1/rewards").unwrap_or_default()["latest_accepted"].clone();
            accepted["signers"].as_array().is_some_and(|s| s.len() >= 3)
        },
    );
    let signers: Vec<String> = accepted["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert!(signers.iter().all(|s| oracles.contains(s)), "{signers:?}");
    let epoch = accepted["epoch"].as_u64().unwrap();
    for rpc in &rpcs[..3] {
        let detail = get(rpc, &format!("/v1/rewards/epochs/{epoch}")).unwrap();
        assert_eq!(
            detail["manifest_hash"], accepted["hash"],
            "{rpc} computed the accepted manifest: {detail}"
        );
        assert_eq!(detail["accepted"], true);
    }
    drop(procs);
}

/// Devices onboarded through the dev node's ledger: credits minted at the devnet price,
/// then one onboarding per device, attested by the dev maker.
fn onboard_devices(rpc: &str, data: &Path, network: &NetworkId, n: usize) -> Vec<Keypair> {
    let devices: Vec<(Keypair, cairn_ledger::tx::DeviceKind)> = (0..n)
        .map(|i| {
            (
                Keypair::from_seed(&[i as u8 + 100; 32]),
                cairn_ledger::tx::DeviceKind::Sensor,
            )
        })
        .collect();
    onboard(rpc, data, network, &devices);
    devices.into_iter().map(|(k, _)| k).collect()
}

#[test]
fn sigkilled_ingest_keeps_every_acknowledged_report_and_readers_resume_exactly() {
    let _turn = heavy();
    use cairn_ingest::{Cursor, LogReader, LogStore, ReadFilter};
    use cairn_proto::v1::ingest_client::IngestClient;
    use cairn_proto::v1::{Heartbeat, SubmitRequest, report::Body};
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dev");
    let (owned, rpc, ingest_addr) = dev_node_args(&data, base_port(12));
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let mut node = spawn(&args, &dir.path().join("node1.log"));
    wait_until("the dev node's RPC", Duration::from_secs(60), || {
        height(&rpc).is_some()
    });
    let network = NetworkId::new("cairn-devnet").unwrap();
    let devices = onboard_devices(&rpc, &data, &network, 24);
    let store = LogStore::local(data.join("chain").join("reports")).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Every content id a device saw acknowledged (accepted or already durable).
    let acked: Arc<Mutex<HashSet<Vec<u8>>>> = Arc::default();
    let loads: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let device = Keypair::from_seed(&d.seed());
            let network = network.clone();
            let acked = Arc::clone(&acked);
            let url = format!("http://{ingest_addr}");
            runtime.spawn(async move {
                let mut client = IngestClient::connect(url).await.unwrap();
                let an_hour = 3_600_000;
                let session =
                    cairn_proto::client::open_session(&mut client, &network, &device, an_hour)
                        .await
                        .unwrap();
                let mut seq = 0u64;
                loop {
                    let reports = (0..8)
                        .map(|_| {
                            seq += 1;
                            cairn_proto::sign_report(
                                &session.key,
                                &network,
                                &cairn_proto::Report {
                                    device_key: device.public().as_bytes().to_vec(),
                                    seq,
                                    timestamp_ms: cairn_agent::runtime::unix_ms(),
                                    body: Some(Body::Heartbeat(Heartbeat {
                                        uptime_s: seq,
                                        firmware: format!("load-{i}"),
                                        ..Heartbeat::default()
                                    })),
                                },
                            )
                        })
                        .collect();
                    let request = SubmitRequest {
                        session_id: session.id.clone(),
                        reports,
                    };
                    match client.submit(request).await {
                        Ok(r) => {
                            let r = r.into_inner();
                            let mut set = acked.lock().unwrap();
                            set.extend(r.accepted);
                            set.extend(r.duplicates);
                        }
                        // The node is gone: what was acknowledged is all that counts.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();

    // Under load, a reader consumes part of the log and saves its cursor.
    let cursor_file = dir.path().join("cursor.json");
    let mut before: Vec<(String, u64, u64)> = Vec::new();
    wait_until("reports in the log", Duration::from_secs(30), || {
        acked.lock().unwrap().len() > 2_000
    });
    runtime.block_on(async {
        let mut reader = LogReader::new(store.clone(), Cursor::default(), ReadFilter::default());
        for entry in reader.next_batch(1_500).await.unwrap() {
            before.push((entry.writer, entry.position.segment, entry.position.record));
        }
        reader.cursor().save(&cursor_file).unwrap();
    });
    sleep(Duration::from_millis(300));
    node.0.kill().unwrap(); // SIGKILL
    node.0.wait().unwrap();
    for l in loads {
        runtime.block_on(l).unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 2_000, "too little load: {}", acked.len());

    // Restart: ingest repairs the log on open, then listens.
    let node = spawn(&args, &dir.path().join("node2.log"));
    wait_until(
        "the restarted node's ingest",
        Duration::from_secs(60),
        || std::net::TcpStream::connect(&ingest_addr).is_ok(),
    );
    let all = runtime
        .block_on(cairn_ingest::log::read_all(&store, ReadFilter::default()))
        .unwrap();
    let mut in_log = HashSet::new();
    for e in &all {
        assert!(
            in_log.insert(e.record.content_id.clone()),
            "content id {} is in the log twice",
            hex::encode(&e.record.content_id)
        );
    }
    let missing = acked.iter().filter(|c| !in_log.contains(*c)).count();
    assert_eq!(
        missing, 0,
        "{missing} acknowledged reports are not in the log"
    );
    assert!(in_log.len() >= acked.len());
    eprintln!(
        "acknowledged {}, in the log {} (the rest were durable but unacknowledged at the kill)",
        acked.len(),
        in_log.len()
    );

    // The reader resumes from its saved cursor: before + after is the log, exactly.
    let mut after = Vec::new();
    runtime.block_on(async {
        let cursor = Cursor::load(&cursor_file).unwrap();
        let mut reader = LogReader::new(store.clone(), cursor, ReadFilter::default());
        loop {
            let batch = reader.next_batch(1_000).await.unwrap();
            if batch.is_empty() {
                break;
            }
            after.extend(
                batch
                    .into_iter()
                    .map(|e| (e.writer, e.position.segment, e.position.record)),
            );
        }
    });
    let whole: Vec<(String, u64, u64)> = all
        .iter()
        .map(|e| (e.writer.clone(), e.position.segment, e.position.record))
        .collect();
    before.extend(after);
    assert_eq!(
        before, whole,
        "the resumed reader skipped or repeated records"
    );

    // The restarted ingest still knows what it stored: a re-sent report is a duplicate.
    runtime.block_on(async {
        let mut client = IngestClient::connect(format!("http://{ingest_addr}"))
            .await
            .unwrap();
        let device = &devices[0];
        let session = cairn_proto::client::open_session(&mut client, &network, device, 60_000)
            .await
            .unwrap();
        let first = all
            .iter()
            .find(|e| {
                let r = e.record.report.as_ref().unwrap();
                cairn_proto::Report::decode(r.report.as_slice())
                    .unwrap()
                    .device_key
                    == device.public().as_bytes()
            })
            .expect("device 0 reported");
        let report =
            cairn_proto::Report::decode(first.record.report.as_ref().unwrap().report.as_slice())
                .unwrap();
        let status = client
            .submit(SubmitRequest {
                session_id: session.id,
                reports: vec![cairn_proto::sign_report(&session.key, &network, &report)],
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    });
    drop(node);
}
