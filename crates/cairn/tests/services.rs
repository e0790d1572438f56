//! The storage and compute services end to end, as separate processes on loopback: a dev
//! node (ingest, challenger, verifier), three storage agents on real directories, two
//! compute agents (one patched by the simulator flag to return wrong products) and the
//! consumer commands.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_core::keyfile::read_key_file;
use cairn_core::{KeyUri, Keypair, NetworkId, PublicKey};
use cairn_ledger::tx::DeviceKind;
use serde_json::Value;

mod common;
use common::*;

/// Run the cairn binary to completion: (success, stdout, stderr).
fn cairn(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .output()
        .expect("cairn runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct AgentDir {
    dir: PathBuf,
    key: PublicKey,
}

/// An agent directory with a fresh device key and its config.
fn agent_dir(root: &Path, name: &str, ingest: &str, rpc: &str, port: u16, body: &str) -> AgentDir {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let key = KeyUri::File(dir.join("device.key")).generate().unwrap();
    std::fs::write(
        dir.join("agent.toml"),
        format!(
            "network = \"cairn-devnet\"\n\
             ingest = \"http://{ingest}\"\n\
             node_rpc = \"{rpc}\"\n\
             admin_listen = \"127.0.0.1:{port}\"\n\
             heartbeat_interval_s = 5\n\
             resource_interval_s = 2\n\
             {body}"
        ),
    )
    .unwrap();
    AgentDir { dir, key }
}

/// Verdicts of `device` in `epoch`, if that epoch is verified.
fn verdicts(rpc: &str, epoch: u64, device: &PublicKey) -> Option<Vec<Value>> {
    let v = get(
        rpc,
        &format!("/v1/verdicts/{epoch}?device={}", device.to_did()),
    )?;
    v["verdicts"].as_array().cloned()
}

fn latest_verified(rpc: &str) -> u64 {
    get(rpc, "/v1/verdicts")
        .and_then(|v| v["latest"]["epoch"].as_u64())
        .unwrap_or(0)
}

fn current_epoch(rpc: &str) -> u64 {
    get(rpc, "/v1/verdicts").unwrap()["current_epoch"]
        .as_u64()
        .unwrap()
}

/// 50 MB of pseudo-random bytes.
fn payload() -> Vec<u8> {
    let mut out = vec![0u8; 50_000_000];
    blake3::Hasher::new()
        .update(b"cairn services test")
        .finalize_xof()
        .fill(&mut out);
    out
}

#[test]
fn storage_and_compute_services_end_to_end() {
    let _heavy = heavy();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("node");
    let port = base_port(0);
    // Ten-second epochs, answers judged two and a half seconds after issue, one retry:
    // verdicts arrive about 17 s after each epoch.
    let (_node, rpc, ingest) = start_dev_node(
        &data,
        port,
        &[
            "epoch_duration_ms=10000",
            "storage_deadline_ms=2000",
            "challenge_retries=1",
            "storage_challenges_per_epoch=4",
            "compute_challenges_per_epoch=2",
            // Every consumer job re-executed by the verifier; a canary every epoch.
            "compute_reexec_ppm=1000000",
            "compute_canary_ppm=1000000",
        ],
    );
    let network = NetworkId::new("cairn-devnet").unwrap();

    let mut agents = Vec::new();
    for i in 0..3u16 {
        agents.push(agent_dir(
            root.path(),
            &format!("storage{i}"),
            &ingest,
            &rpc,
            port + 2 + i,
            &format!(
                "kind = \"storage\"\n\
                 [service]\nlisten = \"127.0.0.1:{}\"\n\
                 [driver]\nbackend = \"disk\"\ncapacity_bytes = 200000000\n",
                port + 10 + i
            ),
        ));
    }
    for (i, wrong) in [0u32, 1_000_000].into_iter().enumerate() {
        let i = i as u16;
        agents.push(agent_dir(
            root.path(),
            &format!("compute{i}"),
            &ingest,
            &rpc,
            port + 5 + i,
            &format!(
                "kind = \"compute\"\n\
                 [service]\nlisten = \"127.0.0.1:{}\"\n\
                 [driver]\nclass = 1\ncpu_cores = 1\nmemory_bytes = 1000000000\nwrong_product_ppm = {wrong}\n",
                port + 15 + i
            ),
        ));
    }
    let devices: Vec<(Keypair, DeviceKind)> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let kind = if i < 3 {
                DeviceKind::Storage
            } else {
                DeviceKind::Compute
            };
            (read_key_file(&a.dir.join("device.key")).unwrap(), kind)
        })
        .collect();
    onboard(&rpc, &data, &network, &devices);
    let _agents: Vec<Proc> = agents
        .iter()
        .map(|a| {
            let config = a.dir.join("agent.toml");
            spawn(
                &["agent", "run", "--config", config.to_str().unwrap()],
                &a.dir.join("agent.log"),
            )
        })
        .collect();
    wait_until(
        "three storage and two compute providers",
        Duration::from_secs(60),
        || {
            let count = |path: &str| {
                get(&rpc, path)
                    .and_then(|v| v["providers"].as_array().cloned())
                    .map_or(0, |p| p.iter().filter(|p| p["endpoint"] != "").count())
            };
            count("/v1/storage/providers") == 3 && count("/v1/compute/providers") == 2
        },
    );

    // The node documents the services' routes, and serves every documented route.
    let doc = get(&rpc, "/openapi.json").unwrap();
    for path in [
        "/v1/storage/providers",
        "/v1/storage/objects/{id}",
        "/v1/compute/providers",
        "/v1/verdicts",
        "/v1/verdicts/{epoch}",
        "/v1/status",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} is not documented"
        );
        let sample = path
            .replace("{id}", &"00".repeat(32))
            .replace("{epoch}", "1");
        let answer = agent().get(&format!("{rpc}{sample}")).call().unwrap();
        assert_ne!(answer.status().as_u16(), 405, "{path}");
    }
    let bad = agent()
        .get(&format!("{rpc}/v1/storage/objects/zz"))
        .call()
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    // --- Storage: put 50 MB on three providers, get it back byte for byte.
    let file = root.path().join("payload.bin");
    let bytes = payload();
    std::fs::write(&file, &bytes).unwrap();
    let key = data.join("dev-account.key");
    let key = key.to_str().unwrap();
    let started = Instant::now();
    let (ok, stdout, stderr) = cairn(&[
        "storage",
        "put",
        file.to_str().unwrap(),
        "--rpc",
        &rpc,
        "--key",
        key,
        "--buy-credits",
    ]);
    assert!(ok, "put failed: {stderr}");
    eprintln!(
        "put 50 MB on three providers in {:?}:\n{stderr}",
        started.elapsed()
    );
    let put: Value = serde_json::from_str(&stdout).unwrap();
    let object = put["object"].as_str().unwrap().to_owned();
    let placed: Vec<PublicKey> = put["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| PublicKey::from_did(d.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(placed.len(), 3);
    assert_eq!(put["blake3"], blake3::hash(&bytes).to_hex().as_str());
    let out = root.path().join("got.bin");
    let (ok, _, stderr) = cairn(&[
        "storage",
        "get",
        &object,
        "--rpc",
        &rpc,
        "--key",
        key,
        "--buy-credits",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "get failed: {stderr}");
    assert!(
        std::fs::read(&out).unwrap() == bytes,
        "get returned other bytes"
    );
    assert!(
        stderr.contains(&format!("blake3 {}", blake3::hash(&bytes).to_hex())),
        "{stderr}"
    );

    // Every provider registered its replica.
    wait_until("three holders registered", Duration::from_secs(30), || {
        get(&rpc, &format!("/v1/storage/objects/{object}"))
            .and_then(|v| v["holders"].as_array().map(Vec::len))
            == Some(3)
    });

    // --- Delete 10% of one provider's replica chunks by hand (zero every tenth chunk).
    let victim = placed[0];
    let victim_dir = &agents.iter().find(|a| a.key == victim).unwrap().dir;
    let replica = victim_dir
        .join("agent-data/objects")
        .join(&object)
        .join("replica");
    let mut raw = std::fs::read(&replica).unwrap();
    for chunk in raw.chunks_mut(1024).skip(3).step_by(10) {
        chunk.fill(0);
    }
    std::fs::write(&replica, &raw).unwrap();
    // Judge only epochs that started after the damage.
    let first = current_epoch(&rpc) + 1;
    let mut caught = None;
    let mut judged_before = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut epoch = first;
    while caught.is_none() && epoch < first + 3 {
        assert!(
            Instant::now() < deadline,
            "epoch {epoch} was never verified"
        );
        if latest_verified(&rpc) < epoch {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        for v in verdicts(&rpc, epoch, &victim).unwrap() {
            if v["kind"] != "storage" {
                continue;
            }
            if v["outcome"] == "valid" {
                judged_before += 1;
            } else if caught.is_none() {
                caught = Some(v);
            }
        }
        epoch += 1;
    }
    let caught = caught.expect("the damaged replica failed no challenge in three epochs");
    eprintln!("caught after {judged_before} passed challenges: {caught}");
    assert_eq!(caught["outcome"]["invalid"], "replica_mismatch", "{caught}");
    assert_eq!(caught["reason_code"], 103);
    assert!(
        caught["evidence"].as_array().unwrap().len() >= 2,
        "{caught}"
    );
    let failed = caught["measured"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "chunks_failed")
        .and_then(|m| m["value"].as_i64())
        .unwrap();
    assert!(failed >= 1, "{caught}");
    // Within the configured number of challenges: one epoch's worth.
    assert!(
        judged_before < 4,
        "{judged_before} challenges passed before one failed"
    );
    // The honest providers were never faulted.
    for honest in &placed[1..] {
        for e in first..epoch {
            for v in verdicts(&rpc, e, honest).unwrap() {
                assert_eq!(v["outcome"], "valid", "honest provider faulted: {v}");
            }
        }
    }
    // The CLI says the same in plain words.
    let (ok, stdout, stderr) = cairn(&[
        "verdicts",
        "--rpc",
        &rpc,
        "--epoch",
        &caught["epoch"].to_string(),
        "--device",
        &victim.to_did(),
        "--invalid",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("INVALID replica_mismatch (103)"),
        "{stdout}"
    );

    // The consumer still gets the file, from the other replicas, even asking the damaged
    // provider first.
    std::fs::remove_file(&out).unwrap();
    let (ok, _, stderr) = cairn(&[
        "storage",
        "get",
        &object,
        "--rpc",
        &rpc,
        "--key",
        key,
        "--buy-credits",
        "--out",
        out.to_str().unwrap(),
        "--prefer",
        &victim.to_did(),
    ]);
    assert!(ok, "get after damage failed: {stderr}");
    assert!(
        stderr.contains("do not match"),
        "the damaged replica was not tried: {stderr}"
    );
    assert!(std::fs::read(&out).unwrap() == bytes);

    // --- Compute: the patched provider is caught by Freivalds on its first answer.
    let honest = agents[3].key;
    let liar = agents[4].key;
    let mut liar_first = None;
    let mut honest_verdicts = Vec::new();
    for e in 1..=latest_verified(&rpc) {
        for v in verdicts(&rpc, e, &liar).unwrap() {
            liar_first.get_or_insert(v);
        }
        honest_verdicts.extend(verdicts(&rpc, e, &honest).unwrap());
    }
    let liar_first = liar_first.expect("the patched compute provider was never challenged");
    assert_eq!(
        liar_first["outcome"]["invalid"], "wrong_product",
        "{liar_first}"
    );
    assert_eq!(liar_first["reason_code"], 200);
    assert!(!honest_verdicts.is_empty());
    for v in &honest_verdicts {
        assert_ne!(v["outcome"]["invalid"], "wrong_product", "{v}");
    }

    // Canaries reached both providers (jobs with known answers, sent like a consumer's)
    // and the honest one answered them right.
    let canaries: Vec<&Value> = honest_verdicts
        .iter()
        .filter(|v| v["subject"] == "job")
        .collect();
    assert!(
        !canaries.is_empty(),
        "no canary verdict for the honest provider"
    );
    for v in &canaries {
        assert_eq!(v["outcome"], "valid", "{v}");
        let measured = v["measured"].as_array().unwrap();
        assert!(
            measured
                .iter()
                .any(|m| m["name"] == "canary" && m["value"] == 1)
        );
    }

    // A consumer job runs and its result is verified by re-execution on the second
    // provider: the sum of 1..=1000 as little-endian u32s.
    let job = root.path().join("sum.wat");
    std::fs::write(&job, cairn_jobs::SUM_WAT).unwrap();
    let input = root.path().join("input.bin");
    let numbers: Vec<u8> = (1u32..=1000).flat_map(u32::to_le_bytes).collect();
    std::fs::write(&input, numbers).unwrap();
    let result = root.path().join("result.bin");
    let (ok, _, stderr) = cairn(&[
        "compute",
        "submit",
        job.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--rpc",
        &rpc,
        "--key",
        key,
        "--buy-credits",
        "--verify",
        "--out",
        result.to_str().unwrap(),
        "--fuel",
        "10000000",
    ]);
    assert!(ok, "job failed: {stderr}");
    assert_eq!(std::fs::read(&result).unwrap(), 500_500u64.to_le_bytes());
    assert!(stderr.contains("\"agree\": true"), "{stderr}");
    let job_id = stderr
        .split("\"job\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the job id is printed")
        .to_owned();
    // The providers reported the job with its queue and run times.
    wait_until(
        "job results in the directory",
        Duration::from_secs(30),
        || {
            get(&rpc, "/v1/compute/providers")
                .and_then(|v| v["providers"].as_array().cloned())
                .is_some_and(|ps| {
                    ps.iter()
                        .map(|p| p["jobs"].as_u64().unwrap_or(0))
                        .sum::<u64>()
                        >= 2
                })
        },
    );
    // The verifier re-executed the registered job and holds both providers to it.
    let from = current_epoch(&rpc).saturating_sub(1);
    let mut judged = Vec::new();
    wait_until("the job's verdicts", Duration::from_secs(90), || {
        judged.clear();
        for e in from..=latest_verified(&rpc) {
            for d in [honest, liar] {
                for v in verdicts(&rpc, e, &d).unwrap_or_default() {
                    if v["subject_id"] == job_id.as_str() {
                        judged.push(v);
                    }
                }
            }
        }
        judged.len() == 2
    });
    for v in &judged {
        assert_eq!(v["outcome"], "valid", "{v}");
    }

    // A matrix-product job is checked by the consumer with Freivalds: the patched provider
    // (asked first unless it is already disqualified) is named and not paid; the honest
    // one's product is accepted.
    let liar_status = get(&rpc, "/v1/compute/providers").unwrap()["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["device"] == liar.to_did().as_str())
        .map(|p| p["standing"]["status"].as_str().unwrap_or("").to_owned())
        .unwrap();
    let (ok, stdout, stderr) = cairn(&[
        "compute",
        "matmul",
        "--n",
        "48",
        "--random",
        "--rpc",
        &rpc,
        "--key",
        key,
        "--buy-credits",
        "--prefer",
        &liar.to_did(),
    ]);
    assert!(ok, "matmul failed: {stderr}");
    eprintln!("matmul (patched provider {liar_status}):\n{stderr}{stdout}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["provider"], honest.to_did().as_str(), "{stdout}");
    if liar_status != "disqualified" {
        assert!(
            stderr.contains(&format!("{} returned a wrong product", liar.to_did())),
            "{stderr}"
        );
    }
}
