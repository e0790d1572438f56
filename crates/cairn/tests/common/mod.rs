//! Helpers shared by the process-level tests: real `cairn` processes on loopback.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use cairn_core::codec::Canonical;
use cairn_core::envelope::{Signed, sign_detached};
use cairn_core::keyfile::read_key_file;
use cairn_core::{Keypair, NetworkId, Tokens};
use cairn_ledger::tx::{DeviceConsent, DeviceKind, Fee, MakerAttestation, Transaction, TxKind};
use cairn_ledger::{ParamId, SignedTx};
use serde_json::{Value, json};

/// A port range per test process, so parallel test binaries do not collide. Every port
/// stays below 32768, where Linux's ephemeral range starts: a port the kernel gave an
/// outgoing connection (or a node's `127.0.0.1:0` listener) cannot then be bound, and a
/// process that cannot bind its listener makes the test time out with nothing to show.
pub fn base_port(offset: u16) -> u16 {
    20_000 + (std::process::id() % 600) as u16 * 20 + offset
}

/// Tests that load both cores (four validators; ingest under load) take turns, so neither
/// starves the other on a 2-core CI machine.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A spawned `cairn` process and its log file; killed on drop. When a test fails, the
/// tail of every process's log is printed, so a failure on CI says what the processes saw.
pub struct Proc(pub Child, pub std::path::PathBuf);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!(
                "---- last lines of {} ----\n{}",
                self.1.display(),
                tail.join("\n")
            );
        }
    }
}

pub fn spawn(args: &[&str], log: &Path) -> Proc {
    let file = std::fs::File::create(log).unwrap();
    Proc(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(args)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("cairn starts"),
        log.to_path_buf(),
    )
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn get(rpc: &str, path: &str) -> Option<Value> {
    let mut r = agent().get(&format!("{rpc}{path}")).call().ok()?;
    r.body_mut().read_json().ok()
}

pub fn get_text(rpc: &str, path: &str) -> Option<String> {
    let mut r = agent().get(&format!("{rpc}{path}")).call().ok()?;
    r.body_mut().read_to_string().ok()
}

pub fn post(rpc: &str, path: &str, body: &Value) -> Option<(u16, Value)> {
    let mut r = agent().post(&format!("{rpc}{path}")).send_json(body).ok()?;
    let status = r.status().as_u16();
    Some((status, r.body_mut().read_json().ok()?))
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        sleep(Duration::from_millis(100));
    }
}

pub fn height(rpc: &str) -> Option<u64> {
    get(rpc, "/v1/status")?["height"].as_u64()
}

pub fn submit(rpc: &str, tx: &SignedTx) -> Option<String> {
    let (status, body) = post(
        rpc,
        "/v1/transactions",
        &json!({ "encoded": hex::encode(tx.encode()) }),
    )?;
    (status == 202).then(|| body["hash"].as_str().unwrap().to_owned())
}

/// (height, index) if the node reports the transaction finalized.
pub fn finalized(rpc: &str, hash: &str) -> Option<(u64, u64)> {
    let v = get(rpc, &format!("/v1/transactions/{hash}"))?;
    (v["status"] == "finalized")
        .then(|| (v["height"].as_u64().unwrap(), v["index"].as_u64().unwrap()))
}

/// `cairn node --dev` in `data` with its RPC on `port` and ingest on `port + 1`: the
/// arguments, the RPC URL and the ingest address.
pub fn dev_node_args(data: &Path, port: u16) -> (Vec<String>, String, String) {
    let rpc_addr = format!("127.0.0.1:{port}");
    let ingest_addr = format!("127.0.0.1:{}", port + 1);
    let args = [
        "node",
        "--dev",
        "--data-dir",
        data.to_str().unwrap(),
        "--rpc",
        &rpc_addr,
        "--ingest",
        &ingest_addr,
    ]
    .map(String::from)
    .to_vec();
    (args, format!("http://{rpc_addr}"), ingest_addr)
}

/// Start a dev node with its data in `data` and `--param` overrides (`name=value`), and
/// wait for its first block: the node (killed when dropped), its RPC URL and ingest
/// address.
pub fn start_dev_node(data: &Path, port: u16, params: &[&str]) -> (Proc, String, String) {
    let (mut args, rpc, ingest) = dev_node_args(data, port);
    for p in params {
        args.push("--param".into());
        args.push((*p).into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = spawn(&args, &data.with_extension("log"));
    wait_until("the node's first block", Duration::from_secs(60), || {
        height(&rpc).is_some_and(|h| h >= 1)
    });
    (node, rpc, ingest)
}

/// Onboard `devices` on a dev chain in `data`, owned by its dev account (which buys the
/// credits for the fees first); waits until every transaction is finalized.
pub fn onboard(rpc: &str, data: &Path, network: &NetworkId, devices: &[(Keypair, DeviceKind)]) {
    let dev = read_key_file(&data.join("dev-account.key")).unwrap();
    let maker = read_key_file(&data.join("dev-maker.key")).unwrap();
    wait_until("a fresh price", Duration::from_secs(60), || {
        get(rpc, "/v1/status").is_some_and(|s| s["usd_per_token_e8"].is_string())
    });
    let nonce = get(rpc, &format!("/v1/accounts/{}", dev.public().to_did())).unwrap()["nonce"]
        .as_u64()
        .unwrap();
    let tx = |nonce: u64, kind: TxKind| -> SignedTx {
        Signed::sign(
            &dev,
            network,
            Transaction {
                network: network.clone(),
                nonce,
                fee: Fee::Tokens(Tokens::from_base_units(ParamId::TxFeeTokens.spec().default)),
                kind,
            },
        )
    };
    // 40 tokens buy one onboarding fee at 1 USD per token.
    let mint = tx(
        nonce,
        TxKind::MintCredits {
            amount: Tokens::whole(41 * devices.len() as u128).unwrap(),
        },
    );
    let mut hashes = vec![submit(rpc, &mint).expect("mint accepted")];
    for (i, (d, kind)) in devices.iter().enumerate() {
        let onboard = tx(
            nonce + 1 + i as u64,
            TxKind::OnboardDevice {
                device: d.public(),
                kind: *kind,
                maker: maker.public(),
                maker_signature: sign_detached(
                    &maker,
                    network,
                    &MakerAttestation {
                        device: d.public(),
                        kind: *kind,
                    },
                ),
                device_signature: sign_detached(
                    d,
                    network,
                    &DeviceConsent {
                        owner: dev.public(),
                    },
                ),
            },
        );
        hashes.push(submit(rpc, &onboard).expect("onboarding accepted"));
    }
    for h in &hashes {
        wait_until("onboarding finalized", Duration::from_secs(60), || {
            finalized(rpc, h).is_some()
        });
    }
}
