//! Rewards end to end on a real chain: a dev node whose two reward oracles (threshold 2)
//! each compute the epoch's manifest and submit their own signature; the ledger accepts
//! it only with both, the owner claims with `cairn rewards claim`, and the balance moves
//! by exactly what the manifest says. Forged manifests are refused.

use std::process::Command;
use std::time::Duration;

use cairn_core::codec::Canonical;
use cairn_core::envelope::{Signed, sign_detached};
use cairn_core::keyfile::read_key_file;
use cairn_core::{Credits, Height, Keypair, NetworkId, Tokens};
use cairn_ledger::faults::{FaultEvidence, FaultVotes, VoteProposal, VoteType, vote_signing_bytes};
use cairn_ledger::tx::{
    DenyTarget, DenylistEntry, DeviceKind, Fee, OracleSignature, RewardClaim, RewardManifest,
    ServiceKind, Transaction, TxKind, UsageReceipt,
};
use cairn_ledger::{ParamId, SignedTx};
use serde_json::{Value, json};

mod common;
use common::*;

fn tx(rpc: &str, network: &NetworkId, who: &Keypair, kind: TxKind) -> SignedTx {
    let nonce = get(rpc, &format!("/v1/accounts/{}", who.public().to_did())).unwrap()["nonce"]
        .as_u64()
        .unwrap();
    Signed::sign(
        who,
        network,
        Transaction {
            network: network.clone(),
            nonce,
            fee: Fee::Tokens(Tokens::from_base_units(ParamId::TxFeeTokens.spec().default)),
            kind,
        },
    )
}

/// Submit and wait for finality; panics if refused.
fn commit(rpc: &str, t: &SignedTx) {
    let hash = submit(rpc, t).expect("transaction admitted");
    wait_until("finality", Duration::from_secs(60), || {
        finalized(rpc, &hash).is_some()
    });
}

/// Submit a transaction that must be refused (at admission, or by the ledger when the
/// block is built); its error code.
fn refused(rpc: &str, t: &SignedTx) -> String {
    let (status, body) = post(
        rpc,
        "/v1/transactions",
        &json!({ "encoded": hex::encode(t.encode()) }),
    )
    .unwrap();
    if status != 202 {
        return body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    let hash = body["hash"].as_str().unwrap().to_owned();
    let mut code = String::new();
    wait_until("the ledger's verdict", Duration::from_secs(30), || {
        let s = get(rpc, &format!("/v1/transactions/{hash}")).unwrap_or_default();
        assert_ne!(s["status"], "finalized", "expected a refusal, got {s}");
        code = s["code"].as_str().unwrap_or_default().to_owned();
        s["status"] == "rejected"
    });
    code
}

fn tokens(v: &Value) -> Tokens {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn two_oracles_sign_the_ledger_mints_and_the_owner_claims_exactly() {
    let _heavy = heavy();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("node");
    let (_node, rpc, _) = start_dev_node(
        &data,
        base_port(0),
        &[
            "epoch_duration_ms=10000",
            "reward_oracle_threshold=2",
            "vesting_ppm=0",
            "appeal_window_blocks=5",
            "fraud_penalty_fixed=200000000",
            // Devices with no agent time out on every challenge; fault fees (table-tested
            // in cairn-rewards, applied in the ledger's flows) would drain the bond first.
            "fault_fee_ppm=0",
            // Appeals decided within the test.
            "voting_period_blocks=8",
            "timelock_blocks=0",
        ],
    );
    let network = NetworkId::new("cairn-devnet").unwrap();
    let dev = read_key_file(&data.join("dev-account.key")).unwrap();
    let oracles = [
        read_key_file(&data.join("dev-reward-1.key")).unwrap(),
        read_key_file(&data.join("dev-reward-2.key")).unwrap(),
    ];
    let fleet = [
        (Keypair::generate(), DeviceKind::Storage),
        (Keypair::generate(), DeviceKind::Storage),
    ];
    onboard(&rpc, &data, &network, &fleet);
    let devices = [&fleet[0].0, &fleet[1].0];

    // The second device is bonded 3 tokens and caught: the verifier oracle (the dev
    // account on a dev chain) puts it on the denylist. Nobody appeals; once the window
    // closes, the next manifest assesses the fraud penalty (2 tokens fixed: it earned
    // nothing to look back on) and the rewarder applies it to the bond.
    commit(
        &rpc,
        &tx(
            &rpc,
            &network,
            &dev,
            TxKind::Bond {
                device: devices[1].public(),
                amount: Tokens::whole(3).unwrap(),
            },
        ),
    );
    let entry = DenylistEntry {
        target: DenyTarget::Device(devices[1].public()),
        reason: 7,
        evidence: cairn_core::Hash::of(b"one replica behind two identities"),
        classifier_version: 1,
        expires_at: Height(height(&rpc).unwrap() + 100_000),
    };
    commit(
        &rpc,
        &tx(
            &rpc,
            &network,
            &dev,
            TxKind::AddDenylistEntry {
                signatures: vec![OracleSignature {
                    oracle: dev.public(),
                    signature: sign_detached(&dev, &network, &entry),
                }],
                entry,
            },
        ),
    );

    // The owner pays its own first device 500,000 credits (5 USD: 5 tokens at the
    // devnet's 1 USD): wash usage, worth at most what it burned.
    commit(
        &rpc,
        &tx(
            &rpc,
            &network,
            &dev,
            TxKind::MintCredits {
                amount: Tokens::whole(10).unwrap(),
            },
        ),
    );
    let receipt = UsageReceipt {
        device: devices[0].public(),
        service: ServiceKind::Storage,
        amount: Credits::from_base_units(500_000),
        serial: 1,
        expires_at: Height(height(&rpc).unwrap() + 1_000),
    };
    commit(
        &rpc,
        &tx(
            &rpc,
            &network,
            &dev,
            TxKind::PayForService {
                receipt: Signed::sign(&dev, &network, receipt),
            },
        ),
    );

    // The validator is proven to have signed two conflicting finalize votes (anyone may
    // submit the evidence; here the owner does): its share of the validators' pool for the
    // epoch the proof lands in is forfeit.
    let validator = read_key_file(&data.join("validator.key")).unwrap();
    let vote = |block: &[u8]| {
        use cairn_core::keys::Signer as _;
        let p = VoteProposal {
            parent_view: 40,
            payload: cairn_core::Hash::of(block),
        };
        let bytes = vote_signing_bytes(&network, VoteType::Finalize, 0, 41, Some(&p));
        (p, validator.sign_raw(&bytes))
    };
    let ((first, first_signature), (second, second_signature)) = (vote(b"a"), vote(b"b"));
    let evidence = FaultEvidence {
        validator: validator.public(),
        epoch: 0,
        view: 41,
        votes: FaultVotes::ConflictingFinalize {
            first,
            first_signature,
            second,
            second_signature,
        },
    };
    commit(
        &rpc,
        &tx(
            &rpc,
            &network,
            &dev,
            TxKind::ReportValidatorFault { evidence },
        ),
    );
    let listed = get(&rpc, "/v1/validators").unwrap();
    let fault_epoch = listed["validators"][0]["ledger_faults"][0]["epoch"]
        .as_u64()
        .unwrap_or_else(|| panic!("the fault is on the ledger: {listed}"));

    // Wait for a manifest accepted after the payment's epoch ended: both oracles signed.
    let paid_epoch = get(&rpc, "/v1/rewards").unwrap()["current_epoch"]
        .as_u64()
        .unwrap();
    wait_until(
        "a manifest past the payment's epoch",
        Duration::from_secs(90),
        || {
            get(&rpc, "/v1/rewards").is_some_and(|r| {
                r["latest_accepted"]["epoch"]
                    .as_u64()
                    .is_some_and(|e| e >= paid_epoch)
            })
        },
    );
    let summary = get(&rpc, "/v1/rewards").unwrap();
    let accepted = &summary["latest_accepted"];
    let mut signers: Vec<String> = accepted["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    signers.sort();
    let mut want: Vec<String> = oracles.iter().map(|o| o.public().to_did()).collect();
    want.sort();
    assert_eq!(signers, want, "the manifest was accepted with both oracles");
    // The epoch's record: every base unit of the emission accounted for.
    let e = accepted["epoch"].as_u64().unwrap();
    let detail = get(&rpc, &format!("/v1/rewards/epochs/{e}")).unwrap();
    assert_eq!(detail["accepted"], true);
    let pools: Vec<&Value> = detail["pools"].as_array().unwrap().iter().collect();
    let total = pools.iter().fold(Tokens::ZERO, |t, p| {
        t.checked_add(tokens(&p["amount"])).unwrap()
    });
    assert_eq!(total, tokens(&detail["emission"]));

    // What the owner can claim: the washed device earned exactly the 5 tokens burned.
    let owner = dev.public().to_did();
    let proofs = get(&rpc, &format!("/v1/rewards/proofs?owner={owner}")).unwrap();
    let row = |p: &Value, did: &str| -> Value {
        p["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["recipient"]["device"] == did)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let washed = row(&proofs, &devices[0].public().to_did());
    assert_eq!(tokens(&washed["cumulative"]), Tokens::whole(5).unwrap());
    assert_eq!(
        row(&proofs, &devices[1].public().to_did()),
        Value::Null,
        "a device with no usage and no proven capacity earns nothing"
    );
    let first_claims: Vec<RewardClaim> = serde_json::from_value(proofs["claims"].clone()).unwrap();
    let first_epoch = proofs["epoch"].as_u64().unwrap();

    // `cairn rewards claim` pays it; the balance moves by the claimed totals less the fee.
    let balance = |did: &str| tokens(&get(&rpc, &format!("/v1/accounts/{did}")).unwrap()["tokens"]);
    let before = balance(&owner);
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "rewards",
            "claim",
            "--rpc",
            &rpc,
            "--key",
            data.join("dev-account.key").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("claimed for"), "{stdout}");
    let after = balance(&owner);
    let claimed_now = get(&rpc, &format!("/v1/rewards/proofs?owner={owner}")).unwrap();
    let claimed: Tokens = claimed_now["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .fold(Tokens::ZERO, |t, r| {
            t.checked_add(tokens(&r["claimed"])).unwrap()
        });
    let fee = Tokens::from_base_units(ParamId::TxFeeTokens.spec().default);
    assert_eq!(
        after,
        before
            .checked_add(claimed)
            .unwrap()
            .checked_sub(fee)
            .unwrap(),
        "balance {before} -> {after}, claimed {claimed}"
    );
    assert_eq!(
        tokens(&row(&claimed_now, &devices[0].public().to_did())["claimed"]),
        Tokens::whole(5).unwrap()
    );

    // The same claims again pay nothing.
    let replay = tx(
        &rpc,
        &network,
        &dev,
        TxKind::ClaimRewards {
            epoch: cairn_core::Epoch(first_epoch),
            claims: first_claims,
        },
    );
    assert_eq!(refused(&rpc, &replay), "nothing_to_claim");

    // The fraud penalty: assessed in a manifest, applied to the bond by the rewarder.
    let bond = |d: &Keypair| {
        tokens(&get(&rpc, &format!("/v1/devices/{}", d.public().to_did())).unwrap()["bond"])
    };
    wait_until("the fraud penalty applied", Duration::from_secs(90), || {
        bond(devices[1]) < Tokens::whole(3).unwrap()
    });
    assert_eq!(bond(devices[1]), Tokens::whole(1).unwrap());
    let latest = get(&rpc, "/v1/rewards").unwrap()["latest_accepted"]["epoch"]
        .as_u64()
        .unwrap();
    let assessed: Vec<Value> = (1..=latest)
        .filter_map(|e| get(&rpc, &format!("/v1/rewards/epochs/{e}")))
        .flat_map(|d| d["penalties"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["device"] == devices[1].public().to_did())
        .collect();
    assert_eq!(assessed.len(), 1, "assessed once: {assessed:?}");
    assert_eq!(assessed[0]["kind"]["fraud"]["entry"], 1);
    assert_eq!(tokens(&assessed[0]["amount"]), Tokens::whole(2).unwrap());

    // The validators' pool: unallocated in the epoch the fault was proven, paid to the
    // only validator (it proposed every block) in the next.
    wait_until("the fault's epoch settled", Duration::from_secs(60), || {
        get(&rpc, "/v1/rewards").is_some_and(|r| {
            r["latest_accepted"]["epoch"]
                .as_u64()
                .is_some_and(|e| e > fault_epoch)
        })
    });
    let validators_pool = |e: u64| -> Value {
        let detail = get(&rpc, &format!("/v1/rewards/epochs/{e}")).unwrap();
        detail["pools"]
            .as_array()
            .unwrap_or_else(|| panic!("epoch {e}: {detail}"))
            .iter()
            .find(|p| p["pool"] == "validators")
            .cloned()
            .unwrap_or_else(|| panic!("no validators pool in {detail}"))
    };
    let forfeit = validators_pool(fault_epoch);
    assert!(tokens(&forfeit["amount"]) > Tokens::ZERO, "{forfeit}");
    assert_eq!(forfeit["recipients"], 0, "{forfeit}");
    assert_eq!(forfeit["unallocated"], forfeit["amount"], "{forfeit}");
    let paid = validators_pool(fault_epoch + 1);
    assert_eq!(paid["recipients"], 1, "{paid}");
    assert_eq!(tokens(&paid["unallocated"]), Tokens::ZERO, "{paid}");

    // The node's Prometheus metrics: the breakers (not tripped), the supply, the figures.
    let metrics = get_text(&rpc, "/metrics").unwrap();
    for series in [
        "cairn_circuit_breaker_tripped{breaker=\"mint\"} 0",
        "cairn_circuit_breaker_tripped{breaker=\"treasury\"} 0",
        "cairn_supply_tokens{part=\"minted\"} ",
        "cairn_economics_demand_coverage_ppm ",
        "cairn_denylist_entries 1",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }

    // Forged manifests for the open epoch: a wrong total, a non-oracle's signature, none.
    // (Built on the latest accepted manifest; rebuilt if a new one lands meanwhile.)
    let forged_refusal = |sign: &dyn Fn(&RewardManifest) -> Vec<OracleSignature>| -> String {
        for _ in 0..5 {
            let summary = get(&rpc, "/v1/rewards").unwrap();
            let last: RewardManifest =
                serde_json::from_value(summary["latest_accepted"]["manifest"].clone()).unwrap();
            let mut forged = last.clone();
            forged.epoch = cairn_core::Epoch(last.epoch.0 + 1);
            forged.previous = last.hash();
            forged.epoch_total = Tokens::whole(1_000_000).unwrap();
            forged.cumulative_total = last
                .cumulative_total
                .checked_add(forged.epoch_total)
                .unwrap();
            let t = tx(
                &rpc,
                &network,
                &dev,
                TxKind::SubmitManifest {
                    signatures: sign(&forged),
                    manifest: forged,
                },
            );
            let code = refused(&rpc, &t);
            if code != "wrong_epoch" && code != "wrong_previous_manifest" {
                return code;
            }
        }
        panic!("manifests kept landing while forging one");
    };
    let net = &network;
    let signed_by = |k: &Keypair| {
        let k = Keypair::from_seed(&k.seed());
        let network = net;
        move |m: &RewardManifest| {
            vec![OracleSignature {
                oracle: k.public(),
                signature: sign_detached(&k, network, m),
            }]
        }
    };
    assert_eq!(forged_refusal(&signed_by(&oracles[0])), "wrong_emission");
    assert_eq!(forged_refusal(&signed_by(&dev)), "not_oracle");
    assert_eq!(
        forged_refusal(&|_: &RewardManifest| vec![]),
        "too_few_signatures"
    );

    // An appeal from the CLI: the first device is put on the denylist (its rewards are
    // withheld), its owner appeals with `cairn device appeal`, the vote overturns the
    // finding and the device's rewards are released.
    let h = height(&rpc).unwrap();
    commit(
        &rpc,
        &tx(
            &rpc,
            &network,
            &dev,
            TxKind::LockTokens {
                amount: Tokens::whole(1_000).unwrap(),
                unlock_at: Height(h + 10_000),
            },
        ),
    );
    let entry = DenylistEntry {
        target: DenyTarget::Device(devices[0].public()),
        reason: 421,
        evidence: cairn_core::Hash::of(b"a disputed finding"),
        classifier_version: 1,
        expires_at: Height(h + 100_000),
    };
    commit(
        &rpc,
        &tx(
            &rpc,
            &network,
            &dev,
            TxKind::AddDenylistEntry {
                signatures: vec![OracleSignature {
                    oracle: dev.public(),
                    signature: sign_detached(&dev, &network, &entry),
                }],
                entry,
            },
        ),
    );
    let device_did = devices[0].public().to_did();
    let listed = get(&rpc, &format!("/v1/denylist?device={device_did}")).unwrap();
    let entries = listed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{listed}");
    assert_eq!(entries[0]["withholding"], true);
    let id = entries[0]["id"].as_u64().unwrap();
    let withheld = |rpc: &str| {
        let p = get(rpc, &format!("/v1/rewards/proofs?owner={owner}")).unwrap();
        p["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["recipient"]["device"] == device_did.as_str())
            .map(|r| r["withheld"].clone())
    };
    assert_eq!(withheld(&rpc), Some(json!(true)));
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "device",
            "appeal",
            "--rpc",
            &rpc,
            "--key",
            data.join("dev-account.key").to_str().unwrap(),
            "--entry",
            &id.to_string(),
            "--deposit",
            "100",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("governance proposal"), "{stdout}");
    let one = get(&rpc, &format!("/v1/denylist/{id}")).unwrap();
    let proposal = one["entry"]["status"]["appealed"]["proposal"]
        .as_u64()
        .unwrap_or_else(|| panic!("appealed: {one}"));
    commit(
        &rpc,
        &tx(
            &rpc,
            &network,
            &dev,
            TxKind::Vote {
                proposal,
                choice: cairn_ledger::tx::VoteChoice::Yes,
            },
        ),
    );
    // Tally once voting closes, then carry it out (no timelock here).
    wait_until("the ruling", Duration::from_secs(60), || {
        let status = get(&rpc, &format!("/v1/denylist/{id}")).unwrap()["entry"]["status"].clone();
        if status == "overturned" {
            return true;
        }
        let t = tx(&rpc, &network, &dev, TxKind::ExecuteProposal { proposal });
        let _ = submit(&rpc, &t);
        std::thread::sleep(Duration::from_millis(500));
        false
    });
    let one = get(&rpc, &format!("/v1/denylist/{id}")).unwrap();
    assert_eq!(one["entry"]["withholding"], false, "{one}");
    assert_eq!(withheld(&rpc), Some(json!(false)), "released");
}
