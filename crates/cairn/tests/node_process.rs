//! Process-level tests: real `cairn node` processes on loopback, killed with SIGKILL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use cairn_core::codec::Canonical;
use cairn_core::envelope::Signed;
use cairn_core::keyfile::read_key_file;
use cairn_core::{Keypair, NetworkId, PublicKey, Tokens};
use cairn_ledger::tx::{Fee, Transaction, TxKind};
use cairn_ledger::{ParamId, SignedTx};
use serde_json::{Value, json};

/// A port range per test process, so parallel test binaries do not collide.
fn base_port(offset: u16) -> u16 {
    20_000 + (std::process::id() % 2_000) as u16 * 10 + offset
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("cairn starts"),
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(rpc: &str, path: &str) -> Option<Value> {
    let mut r = agent().get(&format!("{rpc}{path}")).call().ok()?;
    r.body_mut().read_json().ok()
}

fn post(rpc: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
    let mut r = agent().post(&format!("{rpc}{path}")).send_json(body).ok()?;
    let status = r.status().as_u16();
    Some((status, r.body_mut().read_json().ok()?))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        sleep(Duration::from_millis(100));
    }
}

fn height(rpc: &str) -> Option<u64> {
    get(rpc, "/v1/status")?["height"].as_u64()
}

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

fn submit(rpc: &str, tx: &SignedTx) -> Option<String> {
    let (status, body) = post(
        rpc,
        "/v1/transactions",
        &json!({ "encoded": hex::encode(tx.encode()) }),
    )?;
    (status == 202).then(|| body["hash"].as_str().unwrap().to_owned())
}

/// (height, index) if the node reports the transaction finalized.
fn finalized(rpc: &str, hash: &str) -> Option<(u64, u64)> {
    let v = get(rpc, &format!("/v1/transactions/{hash}"))?;
    (v["status"] == "finalized")
        .then(|| (v["height"].as_u64().unwrap(), v["index"].as_u64().unwrap()))
}

#[test]
fn sigkill_loses_no_finalized_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dev");
    let port = base_port(0);
    let rpc_addr = format!("127.0.0.1:{port}");
    let rpc = format!("http://{rpc_addr}");
    let args = [
        "node",
        "--dev",
        "--data-dir",
        data.to_str().unwrap(),
        "--rpc",
        &rpc_addr,
    ];
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
    drop(procs);
}
