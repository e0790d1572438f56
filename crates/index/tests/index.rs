//! The index against a real database: SQLite always, PostgreSQL when
//! `CAIRN_TEST_POSTGRES` names one (CI starts a server and sets it; under `CI=true` the
//! PostgreSQL test fails without it rather than pass unseen). Both run the same scenario:
//! a synthetic network's ledger state, verdict batch and rewards record go in through
//! the writes a node makes, and every answer the explorer reads comes out.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cairn_core::{Height, Tokens};
use cairn_index::synth::{self, PAYOUT};
use cairn_index::{BlockFacts, Index, delta};
use cairn_ledger::state::{DenylistRecord, DenylistStatus};
use cairn_ledger::tx::{DenyTarget, DenylistEntry};
use cairn_verify::ReasonCode;
use serde_json::Value;
use tower::ServiceExt;

const DEVICES: usize = 60;

async fn fresh(url: &str) -> Index {
    let db = cairn_index::Db::connect(url).await.expect("connect");
    db.reset().await.expect("reset");
    Index::open(url).await.expect("open")
}

async fn get(index: &Index, uri: &str) -> (StatusCode, Value) {
    let response = cairn_index::api::routes(index.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{uri}: not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

async fn ok(index: &Index, uri: &str) -> Value {
    let (status, v) = get(index, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {v}");
    v
}

async fn scenario(url: &str) {
    let net = synth::network(DEVICES, 7);
    let index = fresh(url).await;
    let block = BlockFacts {
        height: net.state.height.0,
        digest: cairn_core::Hash::of(b"block"),
        time_ms: net.state.time_ms,
        txs: vec![],
    };
    index
        .apply_ledger(&[block], &delta(None, &net.state))
        .await
        .unwrap();
    index.apply_verdicts(&net.batch, 100).await.unwrap();
    index.apply_rewards(&net.record).await.unwrap();

    // Overview: every device, by kind; the cheaters' reasons in the fraud table.
    let stats = ok(&index, "/v1/index/stats").await;
    assert_eq!(stats["devices"]["total"], DEVICES);
    assert_eq!(stats["network"], "cairn-synthetic");
    let coverage = &stats["devices"]["by_kind"]["coverage"];
    let cheating_radios = net
        .cheaters
        .iter()
        .filter(|k| net.state.devices[*k].kind == cairn_ledger::tx::DeviceKind::Coverage)
        .count();
    assert_eq!(coverage["failing"], cheating_radios);
    assert_eq!(coverage["active"], DEVICES / 4 - cheating_radios);
    let fraud = stats["fraud"].as_array().unwrap();
    let located = fraud
        .iter()
        .find(|f| f["reason"] == "located_elsewhere")
        .expect("the spoofers are in the fraud table");
    assert_eq!(located["devices"], cheating_radios);
    assert_eq!(located["code"], ReasonCode::LocatedElsewhere.code());
    let total_fraud: u64 = fraud.iter().map(|f| f["devices"].as_u64().unwrap()).sum();
    assert_eq!(total_fraud as usize, net.cheaters.len());
    let epoch = &stats["epochs"][0];
    assert_eq!(epoch["epoch"], 1);
    assert_eq!(epoch["paid_devices"], DEVICES - net.cheaters.len());
    assert_eq!(epoch["invalid"], net.cheaters.len());

    // An honest device: active, paid, every check passing.
    let honest = net
        .devices
        .iter()
        .find(|d| !net.cheaters.contains(d))
        .unwrap();
    let d = ok(&index, &format!("/v1/index/devices/{}", honest.to_did())).await;
    assert_eq!(d["status"], "active");
    assert_eq!(d["earned"], PAYOUT.to_string());
    assert_eq!(d["epochs"][0]["earned"], PAYOUT.to_string());
    for c in d["eligibility"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
    }
    assert!(
        d["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["valid"] == true)
    );

    // A cheater: failing, unpaid, its reason code and its explanation in plain words.
    let cheat = *net
        .cheaters
        .iter()
        .find(|k| net.state.devices[*k].kind == cairn_ledger::tx::DeviceKind::Coverage)
        .unwrap();
    let d = ok(&index, &format!("/v1/index/devices/{}", cheat.to_did())).await;
    assert_eq!(d["status"], "failing");
    assert_eq!(d["earned"], Tokens::ZERO.to_string());
    assert_eq!(d["last_reason"], "located_elsewhere");
    let invalid = d["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["valid"] == false)
        .expect("an invalid verdict");
    assert_eq!(invalid["reason"], "located_elsewhere");
    assert_eq!(
        invalid["explanation"],
        ReasonCode::LocatedElsewhere.explain()
    );
    let failed: Vec<&str> = d["eligibility"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["passed_last_epoch"]);

    // Cells: the device's res-8 cell holds it, a neighbouring cell does not; the map at
    // res 8 counts every device once.
    let cell = net.state.devices[&cheat].location.unwrap();
    let parent = format!("{:x}", cell.parent(8).unwrap().as_u64());
    let c = ok(&index, &format!("/v1/index/cells/{parent}")).await;
    assert!(
        c["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["did"] == cheat.to_did()),
        "{c}"
    );
    let neighbour = cell
        .parent(8)
        .unwrap()
        .neighbours()
        .into_iter()
        .find(|n| n.as_u64() != cell.parent(8).unwrap().as_u64())
        .unwrap();
    let n = ok(&index, &format!("/v1/index/cells/{:x}", neighbour.as_u64())).await;
    assert!(
        !n["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["did"] == cheat.to_did())
    );
    let map = ok(&index, "/v1/index/map?res=8").await;
    let mapped: u64 = map["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["devices"].as_u64().unwrap())
        .sum();
    assert_eq!(mapped as usize, DEVICES);
    let coarse = ok(&index, "/v1/index/map?res=2").await;
    let coarse_cells = coarse["cells"].as_array().unwrap();
    let coarse_total: u64 = coarse_cells
        .iter()
        .map(|c| c["devices"].as_u64().unwrap())
        .sum();
    assert_eq!(coarse_total as usize, DEVICES);
    assert!(coarse_cells.len() < map["cells"].as_array().unwrap().len());
    assert_eq!(coarse_cells.len(), synth::cells_at(&net, 2).len());
    assert_eq!(
        synth::cells_at(&net, 8).len(),
        map["cells"].as_array().unwrap().len()
    );

    // Pages: a walk with limit 7 sees every device once, in order.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let uri = if after.is_empty() {
            "/v1/index/devices?limit=7".to_owned()
        } else {
            format!("/v1/index/devices?limit=7&after={after}")
        };
        let page = ok(&index, &uri).await;
        for d in page["devices"].as_array().unwrap() {
            seen.push(d["did"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(n) => after = n.to_owned(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), DEVICES);
    let failing = ok(&index, "/v1/index/devices?status=failing&kind=coverage").await;
    assert_eq!(
        failing["devices"].as_array().unwrap().len(),
        cheating_radios
    );

    // The owner's account: its devices and what it can claim.
    let owner = net.owners[0];
    let a = ok(&index, &format!("/v1/index/accounts/{}", owner.to_did())).await;
    let owned = net
        .state
        .devices
        .values()
        .filter(|d| d.owner == owner)
        .count();
    assert_eq!(a["device_count"], owned);
    let paid = net
        .devices
        .iter()
        .filter(|k| net.state.devices[*k].owner == owner && !net.cheaters.contains(k))
        .count();
    assert_eq!(
        a["rewards"]["claimable"],
        Tokens::from_base_units(PAYOUT.base_units() * paid as u128).to_string()
    );

    // The epoch: its pool and top earners.
    let e = ok(&index, "/v1/index/epochs/1").await;
    assert_eq!(e["recipients"], DEVICES - net.cheaters.len());
    assert_eq!(e["pools"][0]["pool"], "coverage");
    assert_eq!(e["top_earners"][0]["amount"], PAYOUT.to_string());
    assert!(
        e["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["reason"] == "located_elsewhere")
    );
    let list = ok(&index, "/v1/index/epochs").await;
    assert_eq!(list["epochs"][0]["epoch"], 1);
    let g = ok(&index, "/v1/index/governance").await;
    assert!(
        g["params"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "epoch_duration_ms")
    );

    // A later state that denylists one device: only that device's row changes, and it
    // shows as denylisted with the entry's reason.
    let mut next = net.state.clone();
    next.height = Height(11);
    let target = net.devices[1];
    next.denylist.insert(
        0,
        DenylistRecord {
            entry: DenylistEntry {
                target: DenyTarget::Device(target),
                reason: ReasonCode::ReplicaMismatch.code(),
                evidence: cairn_core::Hash::ZERO,
                classifier_version: 1,
                expires_at: Height(1_000),
            },
            created_at: Height(11),
            appeal_until: Height(100),
            status: DenylistStatus::Active,
            reporter: net.owners[0],
            penalized: vec![],
            history: vec![],
        },
    );
    next.denylist_by_device.insert((target, 0));
    next.next_denylist_id = 1;
    let step = delta(Some(&net.state), &next);
    assert_eq!(
        step.devices.len(),
        1,
        "only the denylisted device is rewritten"
    );
    assert_eq!(step.accounts.len(), 0);
    assert_eq!(step.denylist.len(), 1);
    index.apply_ledger(&[], &step).await.unwrap();
    let d = ok(&index, &format!("/v1/index/devices/{}", target.to_did())).await;
    assert_eq!(d["status"], "denylisted");
    assert_eq!(d["denylist"]["reason"], "replica_mismatch");
    // The rest keep the status their verdicts gave them.
    let other = ok(&index, &format!("/v1/index/devices/{}", honest.to_did())).await;
    assert_eq!(other["status"], "active");
    let cheat_after = ok(&index, &format!("/v1/index/devices/{}", cheat.to_did())).await;
    assert_eq!(cheat_after["status"], "failing");
    let dl = ok(&index, "/v1/index/denylist").await;
    assert_eq!(dl["entries"][0]["targets"][0], target.to_did());

    // Reopened, the index remembers how far it read.
    let again = Index::open(url).await.unwrap();
    let cursors = again.cursors().await.unwrap();
    assert_eq!(
        (cursors.height, cursors.verdict_epoch, cursors.rewards_epoch),
        (11, 1, 1)
    );

    bad_requests(&index, &net.devices[0].to_did()).await;
}

async fn bad_requests(index: &Index, known: &str) {
    let unknown = cairn_core::Keypair::from_seed(&[9; 32]).public().to_did();
    for (uri, status, code) in [
        ("/v1/index/devices/not-a-did", 400, "bad_did"),
        ("/v1/index/cells/zzzz", 400, "bad_cell"),
        ("/v1/index/cells/8f2830828052d25aaaaa", 400, "bad_cell"),
        ("/v1/index/devices?limit=100000", 400, "bad_limit"),
        ("/v1/index/devices?limit=0", 400, "bad_limit"),
        ("/v1/index/devices?limit=abc", 400, "bad_query"),
        ("/v1/index/devices?kind=toaster", 400, "bad_kind"),
        ("/v1/index/devices?status=sleepy", 400, "bad_status"),
        ("/v1/index/devices?colour=red", 400, "bad_query"),
        ("/v1/index/map?res=300", 400, "bad_query"),
        ("/v1/index/map?res=99", 400, "bad_resolution"),
        ("/v1/index/map?res=14", 400, "bad_resolution"),
        ("/v1/index/epochs/abc", 400, "bad_path"),
        ("/v1/index/epochs/999", 404, "not_found"),
        ("/v1/index/accounts/did:key:z6Mkxyz", 400, "bad_did"),
    ] {
        let (s, v) = get(index, uri).await;
        assert_eq!(s.as_u16(), status, "{uri}: {v}");
        assert_eq!(v["error"]["code"], code, "{uri}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let (s, v) = get(index, &format!("/v1/index/devices/{unknown}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, _) = get(index, &format!("/v1/index/devices/{known}")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_answers_what_the_explorer_asks() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("index.db").display());
    scenario(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_answers_the_same() {
    let Ok(url) = std::env::var("CAIRN_TEST_POSTGRES") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the PostgreSQL index test: .ci/run starts a server and sets CAIRN_TEST_POSTGRES"
        );
        eprintln!("CAIRN_TEST_POSTGRES is not set: skipping the PostgreSQL index test");
        return;
    };
    scenario(&url).await;
}
