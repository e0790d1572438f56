//! The HTTP + JSON API end to end: a real `Node` on a temporary directory, requests through
//! the axum router (and, for serving and shutdown, over a real TCP connection), finality
//! simulated with `Node::apply_finalized`. Every answer is checked against the OpenAPI
//! document's schema, and every error code against the codes it documents.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_core::codec::Canonical;
use cairn_core::envelope::Signed;
use cairn_core::{Hash, Height, Keypair, NetworkId, PublicKey, Tokens};
use cairn_ledger::genesis::{Allocation, GenesisValidator};
use cairn_ledger::smt::SmtProof;
use cairn_ledger::state::{Account, verify_account, verify_device};
use cairn_ledger::tx::{Fee, ParamValue, ProposalKind, VoteChoice};
use cairn_ledger::{Genesis, ParamId, SigCheck, SignedTx, State, Transaction, TxKind};
use cairn_node::block::{Block, ConsensusMeta, propose};
use cairn_node::mempool::MempoolConfig;
use cairn_node::node::{Node, NodeOptions};
use cairn_node::rpc;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

const GENESIS_MS: u64 = 1_700_000_000_000;
const BLOCK_MS: u64 = 6_000;

fn key(name: &str) -> Keypair {
    Keypair::from_seed(Hash::of(name.as_bytes()).as_bytes())
}

fn pk(name: &str) -> PublicKey {
    key(name).public()
}

fn network() -> NetworkId {
    NetworkId::new("cairn-rpc-test").unwrap()
}

fn tokens(s: &str) -> Tokens {
    s.parse().unwrap()
}

fn genesis() -> State {
    Genesis {
        network: network(),
        time_ms: GENESIS_MS,
        allocations: vec![
            Allocation {
                account: pk("alice"),
                tokens: tokens("1000000"),
            },
            Allocation {
                account: pk("bob"),
                tokens: tokens("1000"),
            },
        ],
        treasury: tokens("10000"),
        validators: vec![GenesisValidator {
            key: pk("validator"),
            power: 1,
        }],
        price_oracles: vec![pk("price-1")],
        reward_oracles: vec![pk("reward-1")],
        verifier_oracles: vec![pk("verifier-1")],
        makers: vec![],
        params: vec![
            ParamValue {
                param: ParamId::VotingPeriodBlocks,
                value: 10,
            },
            ParamValue {
                param: ParamId::MaxLockBlocks,
                value: 100,
            },
        ],
    }
    .into_state()
    .unwrap()
}

fn min_fee() -> Fee {
    Fee::Tokens(Tokens::from_base_units(ParamId::TxFeeTokens.spec().default))
}

fn signed_on(net: &NetworkId, who: &Keypair, nonce: u64, kind: TxKind) -> SignedTx {
    let body = Transaction {
        network: net.clone(),
        nonce,
        fee: min_fee(),
        kind,
    };
    Signed::sign(who, net, body)
}

fn signed(who: &Keypair, nonce: u64, kind: TxKind) -> SignedTx {
    signed_on(&network(), who, nonce, kind)
}

fn transfer(from: &str, nonce: u64, to: &str, amount: &str) -> SignedTx {
    signed(
        &key(from),
        nonce,
        TxKind::Transfer {
            to: pk(to),
            amount: tokens(amount),
        },
    )
}

/// What `cairn tx … --out FILE` writes.
fn cli_file(tx: &SignedTx) -> Value {
    json!({
        "hash": tx.hash().to_hex(),
        "encoded": hex::encode(tx.encode()),
        "tx": tx,
    })
}

struct Harness {
    node: Arc<Node>,
    app: Router,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(
        genesis(),
        NodeOptions {
            data_dir: dir.path().to_path_buf(),
            mempool: MempoolConfig::default(),
            snapshot_every: 0,
        },
    )
    .unwrap();
    let app = rpc::router(Arc::clone(&node));
    Harness {
        node,
        app,
        _dir: dir,
    }
}

/// Finalize the next block from the node's pool (what a leader would propose), as the
/// consensus adapter would: every candidate must apply.
fn finalize(node: &Node) -> Block {
    let (state, digest) = node.finalized();
    let height = state.height.0 + 1;
    let txs = node.candidates(&state, 1_000, 1 << 20);
    let proposal = propose(
        &state,
        digest,
        ConsensusMeta {
            epoch: 0,
            view: height,
            parent_view: height - 1,
            leader: pk("validator"),
        },
        GENESIS_MS + height * BLOCK_MS,
        txs,
        |_| SigCheck::Verify,
    )
    .unwrap();
    assert!(proposal.rejected.is_empty(), "{:?}", proposal.rejected);
    assert!(node.apply_finalized(&proposal.block, None).unwrap());
    proposal.block
}

// ---------------------------------------------------------------------------------------
// Requests

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "answer ({}) is not JSON: {e}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<Vec<u8>>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, Body::from))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// GET `uri`, expect 200, check the answer against the document's `schema`.
async fn get_ok(app: &Router, uri: &str, schema: &str) -> Value {
    let answer = call(app, "GET", uri, None).await;
    let value = answer.json();
    assert_eq!(answer.status, StatusCode::OK, "GET {uri}: {value}");
    conforms(&value, schema);
    value
}

async fn post_json(app: &Router, uri: &str, body: &Value) -> Answer {
    call(app, "POST", uri, Some(serde_json::to_vec(body).unwrap())).await
}

/// The answer is an error of this status and code in the documented shape, with a
/// message, and the code is one the document lists.
fn assert_error(answer: &Answer, status: StatusCode, code: &str) -> Value {
    let value = answer.json();
    assert_eq!(answer.status, status, "{value}");
    conforms(&value, "Error");
    assert_eq!(value["error"]["code"], code, "{value}");
    let message = value["error"]["message"].as_str().unwrap();
    assert!(message.len() > 10, "message says too little: {value}");
    assert!(
        doc()["components"]["schemas"]["ErrorCode"]["x-codes"]
            .get(code)
            .is_some(),
        "error code {code} is not documented in openapi.json"
    );
    value
}

// ---------------------------------------------------------------------------------------
// The OpenAPI document as a (small) JSON Schema checker

fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(rpc::OPENAPI_JSON).expect("openapi.json parses"))
}

fn resolve<'a>(pointer: &str) -> &'a Value {
    let path = pointer
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("only local references: {pointer}"));
    doc()
        .pointer(path)
        .unwrap_or_else(|| panic!("dangling reference {pointer}"))
}

/// `value` is an instance of `components.schemas[schema]`.
fn conforms(value: &Value, schema: &str) {
    let s = &doc()["components"]["schemas"][schema];
    assert!(!s.is_null(), "no schema {schema}");
    if let Err(e) = check(s, value, "$") {
        panic!("answer does not match schema {schema}: {e}\n{value:#}");
    }
}

fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return check(resolve(r), value, at);
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Err(format!("{at}: expected {c}, got {value}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let fits = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => return Err(format!("{at}: unsupported type {other}")),
        };
        if !fits {
            return Err(format!("{at}: expected {t}, got {value}"));
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check(s, value, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let errors: Vec<String> = options
                .iter()
                .filter_map(|s| check(s, value, at).err())
                .collect();
            if errors.len() == options.len() {
                return Err(format!("{at}: matches none of {key}: {errors:?}"));
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                return Err(format!("{at}: missing required property {name}"));
            }
        }
        for (name, v) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(s) => check(s, v, &format!("{at}.{name}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: undocumented property {name}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn transfer_is_admitted_finalized_and_visible() {
    let h = harness();
    let tx = transfer("alice", 0, "bob", "10");
    let hash = tx.hash().to_hex();

    // Submit exactly what the CLI writes.
    let answer = post_json(&h.app, "/v1/transactions", &cli_file(&tx)).await;
    let value = answer.json();
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{value}");
    conforms(&value, "SubmitAccepted");
    assert_eq!(value, json!({"hash": hash, "status": "pending"}));
    assert_eq!(
        answer.headers[header::LOCATION],
        format!("/v1/transactions/{hash}").as_str()
    );

    let pending = get_ok(&h.app, &format!("/v1/transactions/{hash}"), "TxStatus").await;
    assert_eq!(pending["status"], "pending");
    let status = get_ok(&h.app, "/v1/status", "Status").await;
    assert_eq!(status["mempool"], 1);
    assert_eq!(status["height"], 0);

    // Submitting it again while pending: a duplicate.
    let again = post_json(
        &h.app,
        "/v1/transactions",
        &json!({"encoded": hex::encode(tx.encode())}),
    )
    .await;
    assert_error(&again, StatusCode::CONFLICT, "duplicate");

    let block = finalize(&h.node);
    assert_eq!(block.txs.len(), 1);

    let done = get_ok(&h.app, &format!("/v1/transactions/{hash}"), "TxStatus").await;
    assert_eq!(done["status"], "finalized", "{done}");
    assert_eq!(done["height"], 1);
    assert_eq!(done["index"], 0);
    assert_eq!(done["tx"], serde_json::to_value(&tx).unwrap());
    assert_eq!(done["encoded"], hex::encode(tx.encode()));

    // Balances and nonce moved, and the answer says which height it is from.
    let fee = match min_fee() {
        Fee::Tokens(t) => t,
        Fee::Credits(_) => unreachable!(),
    };
    let alice_left = tokens("999990").checked_sub(fee).unwrap();
    let alice = get_ok(&h.app, &format!("/v1/accounts/{}", pk("alice")), "Account").await;
    assert_eq!(alice["account"], pk("alice").to_did());
    assert_eq!(alice["tokens"], json!(alice_left.to_string()));
    assert_eq!(alice["credits"], "0");
    assert_eq!(alice["nonce"], 1);
    assert_eq!(alice["height"], 1);
    assert_eq!(alice["exists"], true);
    assert!(alice.get("proof").is_none());
    let bob = get_ok(&h.app, &format!("/v1/accounts/{}", pk("bob")), "Account").await;
    assert_eq!(bob["tokens"], "1010");
    assert_eq!(bob["nonce"], 0);
    let nobody = get_ok(&h.app, &format!("/v1/accounts/{}", pk("nobody")), "Account").await;
    assert_eq!(nobody["exists"], false);
    assert_eq!(nobody["tokens"], "0");

    // Replaying the finalized transaction: a duplicate, not a second transfer.
    let replay = post_json(&h.app, "/v1/transactions", &cli_file(&tx)).await;
    let value = assert_error(&replay, StatusCode::CONFLICT, "duplicate");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("finalized")
    );
    // A different transaction reusing the spent nonce: the pool names the nonce.
    let stale = transfer("alice", 0, "bob", "11");
    let answer = post_json(&h.app, "/v1/transactions", &cli_file(&stale)).await;
    let value = assert_error(&answer, StatusCode::BAD_REQUEST, "nonce_too_low");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("next nonce is 1")
    );
    let bob = get_ok(&h.app, &format!("/v1/accounts/{}", pk("bob")), "Account").await;
    assert_eq!(bob["tokens"], "1010", "nothing moved twice");

    // The block as the API shows it.
    let shown = get_ok(&h.app, "/v1/blocks/1", "Block").await;
    assert_eq!(shown["height"], 1);
    assert_eq!(shown["digest"], block.digest().to_hex());
    assert_eq!(shown["parent"], h.node.genesis_block().digest().to_hex());
    assert_eq!(shown["state_root"], block.state_root.to_hex());
    assert_eq!(shown["time_ms"], GENESIS_MS + BLOCK_MS);
    assert_eq!(shown["consensus"]["leader"], pk("validator").to_did());
    assert_eq!(shown["tx_count"], 1);
    assert_eq!(
        shown["txs"][0],
        json!({
            "hash": hash,
            "sender": pk("alice").to_did(),
            "nonce": 0,
            "kind": "transfer",
            "fee": {"tokens": fee.to_string()},
        })
    );
    assert_eq!(get_ok(&h.app, "/v1/blocks/latest", "Block").await, shown);
    let full = get_ok(&h.app, "/v1/blocks/latest?full=true", "Block").await;
    assert_eq!(full["txs"][0]["tx"], serde_json::to_value(&tx).unwrap());
    assert_eq!(full["txs"][0]["encoded"], hex::encode(tx.encode()));
    let genesis = get_ok(&h.app, "/v1/blocks/0", "Block").await;
    let status = get_ok(&h.app, "/v1/status", "Status").await;
    assert_eq!(genesis["digest"], status["genesis_digest"]);
    assert_eq!(status["digest"], block.digest().to_hex());
    assert_eq!(status["height"], 1);
    assert_eq!(status["consensus_tip"], 1);
    assert_eq!(status["mempool"], 0);
    assert_eq!(status["network"], "cairn-rpc-test");
    assert_eq!(status["halted"], Value::Null);

    let missing = call(&h.app, "GET", "/v1/blocks/2", None).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
    for bad in ["abc", "-1", "1.5", "18446744073709551616"] {
        let answer = call(&h.app, "GET", &format!("/v1/blocks/{bad}"), None).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "bad_height");
    }
}

#[tokio::test]
async fn json_form_and_cross_checks() {
    let h = harness();
    let tx = transfer("alice", 0, "bob", "1");
    let answer = post_json(&h.app, "/v1/transactions", &json!({"tx": tx})).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.json());
    assert_eq!(answer.json()["hash"], tx.hash().to_hex());

    // Parts that disagree are refused before admission.
    let other = transfer("bob", 0, "alice", "1");
    let mut body = cli_file(&other);
    body["hash"] = json!(tx.hash().to_hex());
    let answer = post_json(&h.app, "/v1/transactions", &body).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "mismatch");
    let mut body = cli_file(&other);
    body["tx"] = serde_json::to_value(&tx).unwrap();
    let answer = post_json(&h.app, "/v1/transactions", &body).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "mismatch");
    assert_eq!(h.node.mempool_len(), 1, "nothing more was admitted");

    // A JSON transaction with a field of the wrong type.
    let mut broken = serde_json::to_value(&other).unwrap();
    broken["message"]["nonce"] = json!("zero");
    let answer = post_json(&h.app, "/v1/transactions", &json!({"tx": broken})).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_encoding");

    // Another network's transaction: the pool's code.
    let foreign = signed_on(
        &NetworkId::new("elsewhere").unwrap(),
        &key("bob"),
        0,
        TxKind::Transfer {
            to: pk("alice"),
            amount: tokens("1"),
        },
    );
    let answer = post_json(&h.app, "/v1/transactions", &cli_file(&foreign)).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "wrong_network");
}

#[tokio::test]
async fn bad_signature_is_refused_and_not_remembered() {
    let h = harness();
    let tx = transfer("alice", 0, "bob", "10");
    let mut bytes = tx.encode();
    // The signature is the last 64 bytes of the encoding; flip a bit of its R half.
    let at = bytes.len() - 64;
    bytes[at] ^= 0x01;
    let forged = SignedTx::decode(&bytes).expect("still a well-formed encoding");
    let answer = post_json(
        &h.app,
        "/v1/transactions",
        &json!({"encoded": hex::encode(&bytes)}),
    )
    .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_signature");
    assert_eq!(h.node.mempool_len(), 0);

    let answer = call(
        &h.app,
        "GET",
        &format!("/v1/transactions/{}", forged.hash()),
        None,
    )
    .await;
    let value = assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    conforms(&value, "UnknownTx");
    assert_eq!(value["status"], "unknown");
    assert_eq!(value["hash"], forged.hash().to_hex());

    // The untouched transaction is still admissible.
    let answer = post_json(&h.app, "/v1/transactions", &cli_file(&tx)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn malformed_requests_get_json_errors_and_the_node_keeps_serving() {
    let h = harness();
    let app = &h.app;
    let tx = transfer("alice", 0, "bob", "10");
    let post = |body: Vec<u8>| call(app, "POST", "/v1/transactions", Some(body));

    // Not JSON at all.
    for garbage in [
        vec![0xff, 0xfe, 0x00, 0x13, 0x37],
        b"hello".to_vec(),
        b"{\"encoded\": ".to_vec(),
        Vec::new(),
    ] {
        assert_error(&post(garbage).await, StatusCode::BAD_REQUEST, "bad_json");
    }
    // JSON of the wrong shape.
    for wrong in [
        json!({}),
        json!([1, 2, 3]),
        json!("encoded"),
        json!({"encoded": 5}),
        json!({"encode": "00"}),
        json!({"encoded": null}),
    ] {
        let answer = post(serde_json::to_vec(&wrong).unwrap()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "invalid_body");
    }
    // Bytes that are not one canonical transaction.
    let good = tx.encode();
    let mut trailing = good.clone();
    trailing.push(0);
    let mut truncated = good.clone();
    truncated.pop();
    for bad in [
        "zz".to_string(),
        "abc".to_string(),
        String::new(),
        "00".to_string(),
        hex::encode(&trailing),
        hex::encode(&truncated),
    ] {
        let answer = post(serde_json::to_vec(&json!({"encoded": bad})).unwrap()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "bad_encoding");
    }
    // Over the body limit, even though it would be valid JSON.
    let huge = format!(r#"{{"encoded": "{}"}}"#, "00".repeat(512 * 1024));
    assert!(huge.len() > 1024 * 1024);
    let answer = post(huge.into_bytes()).await;
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    assert_eq!(h.node.mempool_len(), 0);

    // Routes and methods.
    for uri in ["/", "/v1", "/v1/nothing", "/v2/status", "/v1/accounts"] {
        let answer = call(app, "GET", uri, None).await;
        assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    }
    let answer = call(app, "DELETE", "/v1/status", None).await;
    assert_error(
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert!(
        answer.headers[header::ALLOW]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    let answer = call(app, "GET", "/v1/transactions", None).await;
    assert_error(
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert!(
        answer.headers[header::ALLOW]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    // Bad path parameters and queries.
    for uri in ["/v1/transactions/xyz", "/v1/transactions/00"] {
        assert_error(
            &call(app, "GET", uri, None).await,
            StatusCode::BAD_REQUEST,
            "bad_hash",
        );
    }
    for uri in [
        "/v1/accounts/alice",
        "/v1/accounts/did:key:zzzz",
        "/v1/devices/did:web:example.com",
    ] {
        assert_error(
            &call(app, "GET", uri, None).await,
            StatusCode::BAD_REQUEST,
            "bad_key",
        );
    }
    let uri = format!("/v1/accounts/{}?proof=maybe", pk("alice"));
    assert_error(
        &call(app, "GET", &uri, None).await,
        StatusCode::BAD_REQUEST,
        "bad_query",
    );
    let answer = call(app, "GET", "/v1/blocks/1?full=yes", None).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_query");
    let answer = call(app, "GET", "/v1/proposals/first", None).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_proposal_id");

    // After all of that the node still answers, and still admits good transactions.
    get_ok(app, "/v1/status", "Status").await;
    let answer = post_json(app, "/v1/transactions", &cli_file(&tx)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);

    // A halted node says so, and admits nothing.
    h.node.halt("block 7 did not re-execute".into());
    let status = get_ok(app, "/v1/status", "Status").await;
    assert_eq!(status["halted"], "block 7 did not re-execute");
    let next = transfer("alice", 1, "bob", "10");
    let answer = post_json(app, "/v1/transactions", &cli_file(&next)).await;
    assert_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "node_halted");
}

#[tokio::test]
async fn account_and_device_proofs_verify_against_the_block_root() {
    let h = harness();
    h.node.submit(transfer("alice", 0, "bob", "10")).unwrap();
    let block = finalize(&h.node);

    for (name, exists) in [("alice", true), ("nobody", false)] {
        let value = get_ok(
            &h.app,
            &format!("/v1/accounts/{}?proof=true", pk(name)),
            "Account",
        )
        .await;
        assert_eq!(value["exists"], exists);
        let proof = &value["proof"];
        assert_eq!(proof["root"], block.state_root.to_hex());
        let root: Hash = serde_json::from_value(proof["root"].clone()).unwrap();
        let smt: SmtProof = serde_json::from_value(proof.clone()).unwrap();
        let record: Option<Account> =
            exists.then(|| serde_json::from_value(value.clone()).unwrap());
        assert!(verify_account(&root, &pk(name), record.as_ref(), &smt));
        // The proof does not verify a different balance.
        let mut forged = record.clone().unwrap_or_default();
        forged.nonce += 1;
        assert!(!verify_account(&root, &pk(name), Some(&forged), &smt));
        assert_eq!(proof["value_hash"].is_null(), !exists);
    }

    // No device: a 404, and with proof=true a 404 that proves the absence.
    let answer = call(&h.app, "GET", &format!("/v1/devices/{}", pk("radio")), None).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    let answer = call(
        &h.app,
        "GET",
        &format!("/v1/devices/{}?proof=true", pk("radio")),
        None,
    )
    .await;
    let value = assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    conforms(&value, "AbsentDevice");
    let smt: SmtProof = serde_json::from_value(value["proof"].clone()).unwrap();
    assert!(verify_device(&block.state_root, &pk("radio"), None, &smt));
}

#[tokio::test]
async fn params_governance_and_validators() {
    let h = harness();
    let params = get_ok(&h.app, "/v1/params", "Params").await;
    let list = params["params"].as_array().unwrap();
    assert_eq!(list.len(), ParamId::ALL.len());
    let state = h.node.state();
    assert_eq!(params["hash"], state.params.hash().to_hex());
    for (id, shown) in ParamId::ALL.iter().zip(list) {
        let spec = id.spec();
        assert_eq!(shown["name"], spec.name);
        assert_eq!(shown["value"], state.params.get(*id).to_string());
        assert_eq!(shown["max"], spec.max.to_string());
        assert_eq!(shown["doc"], spec.doc);
        assert_eq!(shown["unit"], spec.unit);
    }
    let voting = list
        .iter()
        .find(|p| p["name"] == "voting_period_blocks")
        .unwrap();
    assert_eq!(
        voting["value"], "10",
        "the genesis override, not the default"
    );

    let empty = get_ok(&h.app, "/v1/proposals", "Proposals").await;
    assert_eq!(empty["proposals"], json!([]));
    let answer = call(&h.app, "GET", "/v1/proposals/1", None).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "not_found");

    // Lock, propose, vote (proposal ids start at 1): one block each.
    let alice = key("alice");
    let steps = [
        TxKind::LockTokens {
            amount: tokens("500000"),
            unlock_at: Height(95),
        },
        TxKind::Propose {
            kind: ProposalKind::ParamChange {
                changes: vec![ParamValue {
                    param: ParamId::VotingPeriodBlocks,
                    value: 20,
                }],
            },
            deposit: tokens("100"),
        },
        TxKind::Vote {
            proposal: 1,
            choice: VoteChoice::Yes,
        },
    ];
    for (nonce, kind) in steps.into_iter().enumerate() {
        let answer = post_json(
            &h.app,
            "/v1/transactions",
            &cli_file(&signed(&alice, nonce as u64, kind)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.json());
        finalize(&h.node);
    }
    let list = get_ok(&h.app, "/v1/proposals", "Proposals").await;
    assert_eq!(list["height"], 3);
    let first = &list["proposals"][0];
    assert_eq!(first["id"], 1);
    assert_eq!(first["proposer"], pk("alice").to_did());
    assert_eq!(first["status"], "voting");
    assert_eq!(first["deposit"], "100");
    assert!(first.get("votes").is_none());
    let yes = first["tally"]["yes"].as_str().unwrap();
    assert!(yes.parse::<u128>().unwrap() > 0, "the vote counts: {first}");
    assert_eq!(first["tally"]["no"], "0");

    let one = get_ok(&h.app, "/v1/proposals/1", "ProposalDetail").await;
    assert_eq!(one["height"], 3);
    assert_eq!(one["tally"], first["tally"]);
    assert_eq!(
        one["votes"],
        json!([{"voter": pk("alice").to_did(), "choice": "yes", "weight": yes}])
    );

    // The denylist: empty here, with its errors.
    let denylist = get_ok(&h.app, "/v1/denylist", "Denylist").await;
    assert_eq!(denylist["entries"], json!([]));
    let answer = call(&h.app, "GET", "/v1/denylist/1", None).await;
    assert_error(&answer, StatusCode::NOT_FOUND, "not_found");
    let answer = call(&h.app, "GET", "/v1/denylist/one", None).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_entry_id");
    let answer = call(&h.app, "GET", "/v1/denylist?device=did:key:nope", None).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_key");

    // Validators: the set, plus what consensus reported.
    h.node
        .record_vote(pk("validator"), cairn_node::node::VoteKind::Notarize, 4);
    h.node
        .record_vote(pk("validator"), cairn_node::node::VoteKind::Finalize, 4);
    h.node
        .record_vote(pk("stranger"), cairn_node::node::VoteKind::Nullify, 2);
    let validators = get_ok(&h.app, "/v1/validators", "Validators").await;
    assert_eq!(
        validators["validators"],
        json!([
            {
                "validator": pk("validator").to_did(), "power": 1, "active": true,
                "notarize_votes": 1, "finalize_votes": 1, "nullify_votes": 0,
                "last_view": 4, "faults": [], "ledger_faults": [],
            },
            {
                "validator": pk("stranger").to_did(), "power": 0, "active": false,
                "notarize_votes": 0, "finalize_votes": 0, "nullify_votes": 1,
                "last_view": 2, "faults": [], "ledger_faults": [],
            },
        ])
    );

    // Fault evidence consensus handed over is listed, waits to be reported, and once
    // proven on the ledger (here by alice) shows as a ledger fault.
    use cairn_core::keys::Signer as _;
    use cairn_ledger::faults::{FaultEvidence, FaultVotes, VoteProposal, VoteType};
    let validator = key("validator");
    let vote = |block: &[u8]| {
        let p = VoteProposal {
            parent_view: 8,
            payload: Hash::of(block),
        };
        let bytes = cairn_ledger::faults::vote_signing_bytes(
            &network(),
            VoteType::Finalize,
            0,
            9,
            Some(&p),
        );
        (p, validator.sign_raw(&bytes))
    };
    let ((first, first_signature), (second, second_signature)) = (vote(b"a"), vote(b"b"));
    let evidence = FaultEvidence {
        validator: validator.public(),
        epoch: 0,
        view: 9,
        votes: FaultVotes::ConflictingFinalize {
            first,
            first_signature,
            second,
            second_signature,
        },
    };
    h.node.record_fault(cairn_node::node::FaultRecord {
        validator: validator.public(),
        kind: "conflicting_finalize".into(),
        epoch: 0,
        view: 9,
        evidence: evidence.clone(),
    });
    assert_eq!(h.node.unreported_faults(), vec![evidence.clone()]);
    let listed = get_ok(&h.app, "/v1/validators", "Validators").await;
    assert_eq!(
        listed["validators"][0]["faults"][0]["evidence"],
        serde_json::to_value(&evidence).unwrap()
    );
    let kind = TxKind::ReportValidatorFault { evidence };
    let answer = post_json(
        &h.app,
        "/v1/transactions",
        &cli_file(&signed(&alice, 3, kind)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.json());
    finalize(&h.node);
    assert!(h.node.unreported_faults().is_empty());
    let listed = get_ok(&h.app, "/v1/validators", "Validators").await;
    let proven = &listed["validators"][0]["ledger_faults"];
    assert_eq!(proven.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(proven[0]["kind"], "conflicting_finalize");
    assert_eq!(
        (
            proven[0]["consensus_epoch"].clone(),
            proven[0]["view"].clone()
        ),
        (json!(0), json!(9))
    );
    assert_eq!(proven[0]["reporter"], pk("alice").to_did());
}

/// Reads Server-Sent Events from a response body.
struct Events<S> {
    body: S,
    buffer: String,
}

#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
}

impl<S> Events<S>
where
    S: futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin,
{
    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut out = Sse {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        out.event = v.into();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        out.id = Some(v.into());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        out.data.push_str(v);
                        any = true;
                    }
                }
                if any {
                    return out;
                }
                continue; // a keep-alive comment
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("an event within 10 s")
                .expect("the stream is still open")
                .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

async fn open_stream(
    app: &Router,
    uri: &str,
    last_event_id: Option<&str>,
) -> Events<impl futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin> {
    let mut request = Request::builder().uri(uri);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    Events {
        body: response.into_body().into_data_stream(),
        buffer: String::new(),
    }
}

#[tokio::test]
async fn block_stream_sends_each_finalized_block() {
    let h = harness();
    let mut live = open_stream(&h.app, "/v1/stream/blocks", None).await;
    h.node.submit(transfer("alice", 0, "bob", "10")).unwrap();
    let first = finalize(&h.node);
    let second = finalize(&h.node);

    let event = live.next().await;
    assert_eq!(event.event, "block");
    assert_eq!(event.id.as_deref(), Some("1"));
    let data: Value = serde_json::from_str(&event.data).unwrap();
    conforms(&data, "Block");
    assert_eq!(data["digest"], first.digest().to_hex());
    // The same JSON as GET /v1/blocks/1.
    assert_eq!(data, get_ok(&h.app, "/v1/blocks/1", "Block").await);
    let event = live.next().await;
    assert_eq!(event.id.as_deref(), Some("2"));
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["digest"], second.digest().to_hex());

    // Resuming: from a height (replayed from the log, then live), or after the last id.
    let mut resumed = open_stream(&h.app, "/v1/stream/blocks?from=0&full=true", None).await;
    let third = finalize(&h.node);
    for expected in [
        h.node.genesis_block().clone(),
        first.clone(),
        second,
        third.clone(),
    ] {
        let event = resumed.next().await;
        assert_eq!(event.event, "block");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["height"], expected.height.0);
        assert_eq!(data["digest"], expected.digest().to_hex());
    }
    let mut after = open_stream(&h.app, "/v1/stream/blocks", Some("2")).await;
    let event = after.next().await;
    assert_eq!(event.id.as_deref(), Some("3"));
    let full = open_stream(&h.app, "/v1/stream/blocks?from=1&full=true", None)
        .await
        .next()
        .await;
    let data: Value = serde_json::from_str(&full.data).unwrap();
    assert_eq!(
        data["txs"][0]["encoded"],
        hex::encode(first.txs[0].encode())
    );

    let answer = call(&h.app, "GET", "/v1/stream/blocks?from=soon", None).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_query");
}

#[tokio::test]
async fn lagging_subscriber_is_told_and_misses_nothing() {
    let h = harness();
    let mut slow = open_stream(&h.app, "/v1/stream/blocks", None).await;
    // More blocks than the node's feed buffers (1024) while the subscriber reads nothing.
    let total = 1_100u64;
    for _ in 0..total {
        finalize(&h.node);
    }
    let event = slow.next().await;
    assert_eq!(event.event, "lagged", "{event:?}");
    let lagged: Value = serde_json::from_str(&event.data).unwrap();
    conforms(&lagged, "LaggedEvent");
    assert_eq!(lagged["resume_from"], 1);
    assert!(lagged["skipped"].as_u64().unwrap() >= total - 1024);
    for height in 1..=total {
        let event = slow.next().await;
        assert_eq!(event.event, "block");
        assert_eq!(event.id, Some(height.to_string()), "no gaps, no repeats");
    }
    // And it is live again afterwards.
    let next = finalize(&h.node);
    let event = slow.next().await;
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["digest"], next.digest().to_hex());
}

async fn raw_request(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn serves_over_tcp_and_shuts_down_with_a_stream_open() {
    let h = harness();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rpc::serve_with_shutdown(
        Arc::clone(&h.node),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));

    let (status, body) = raw_request(
        addr,
        "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let value: Value = serde_json::from_str(&body).unwrap();
    conforms(&value, "Status");

    let tx = transfer("alice", 0, "bob", "10");
    let payload = serde_json::to_string(&cli_file(&tx)).unwrap();
    let (status, body) = raw_request(
        addr,
        &format!(
            "POST /v1/transactions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
            payload.len()
        ),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    let (status, body) = raw_request(
        addr,
        "GET /openapi.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let served: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(&served, doc());

    // A block stream over the socket.
    let mut sse = tokio::net::TcpStream::connect(addr).await.unwrap();
    sse.write_all(
        b"GET /v1/stream/blocks HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n",
    )
    .await
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    // Wait for the headers, so the subscription exists before the block is applied.
    while !seen.contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), sse.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.to_ascii_lowercase()
            .contains("content-type: text/event-stream")
    );
    let block = finalize(&h.node);
    while !(seen.contains("event: block") && seen.contains(&block.digest().to_hex())) {
        let n = tokio::time::timeout(Duration::from_secs(10), sse.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream closed early: {seen}");
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }

    // Shutting down ends the open stream and the server returns.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops with a stream open")
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sse.read_to_end(&mut rest))
        .await
        .expect("the stream's connection closes")
        .unwrap();
}

/// Every route the API has, with sample parameters.
const ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/openapi.json", "/openapi.json"),
    ("get", "/v1/status", "/v1/status"),
    ("get", "/v1/params", "/v1/params"),
    ("post", "/v1/transactions", "/v1/transactions"),
    ("get", "/v1/transactions/{hash}", "/v1/transactions/00"),
    ("get", "/v1/accounts/{did}", "/v1/accounts/x"),
    ("get", "/v1/devices/{did}", "/v1/devices/x"),
    ("get", "/v1/blocks/{height}", "/v1/blocks/0"),
    ("get", "/v1/proposals", "/v1/proposals"),
    ("get", "/v1/proposals/{id}", "/v1/proposals/0"),
    ("get", "/v1/validators", "/v1/validators"),
    ("get", "/v1/denylist", "/v1/denylist?device=x"),
    ("get", "/v1/denylist/{id}", "/v1/denylist/x"),
    ("get", "/v1/stream/blocks", "/v1/stream/blocks?from=x"),
];

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let h = harness();
    let served = call(&h.app, "GET", "/openapi.json", None).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.headers[header::CONTENT_TYPE], "application/json");
    let doc = served.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));

    // The document's paths and methods are exactly the router's.
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    for (method, _, sample) in ROUTES {
        let answer = call(&h.app, &method.to_uppercase(), sample, Some(b"{}".to_vec())).await;
        if answer.status == StatusCode::NOT_FOUND {
            let value = answer.json();
            assert!(
                !value["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("no route"),
                "{method} {sample} is documented but not routed"
            );
        }
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {sample}"
        );
    }

    // Every reference resolves, and every operation documents its answers.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "$ref" {
                        out.push(v.as_str().unwrap().to_string());
                    } else {
                        refs(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50);
    for r in &all {
        resolve(r);
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}"
            );
            if path != "/openapi.json" {
                assert!(responses.contains_key("500"), "{method} {path}");
            }
            assert!(operation["operationId"].is_string(), "{method} {path}");
        }
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["x-codes"]
        .as_object()
        .unwrap();
    for code in [
        "duplicate",
        "wrong_network",
        "bad_signature",
        "nonce_too_low",
        "nonce_too_far_ahead",
        "fee_too_low",
        "fee_asset_disabled",
        "too_large",
        "account_full",
        "pool_full",
        "replacement_underpriced",
    ] {
        assert!(
            codes.contains_key(code),
            "admission code {code} undocumented"
        );
    }
}
