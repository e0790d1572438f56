//! The node's HTTP + JSON API over a [`Node`].
//!
//! [`router`] builds the routes; [`serve`] and [`serve_with_shutdown`] run them on a
//! listener. The API is described by an OpenAPI 3.1 document served at `/openapi.json`
//! (the file `openapi.json` beside this module, embedded at build time).
//!
//! Conventions:
//! - Every answer is JSON. Token and credit amounts and every other `u128` are decimal
//!   strings (a JSON number would lose precision in most clients); hashes are hex; keys are
//!   `did:key` strings.
//! - Reads come from the finalized state and say which `height` they are from.
//! - An error is `{"error": {"code": "snake_case", "message": "…"}}`: bad input is a 4xx
//!   whose message says what was wrong, never a 5xx; a 500 means the node itself failed.
//! - Transactions are submitted as the canonical encoding (`{"encoded": "<hex>"}`, what
//!   `cairn tx … --out FILE` writes — the whole file may be posted as is) or as the JSON
//!   form (`{"tx": …}`).
//! - `GET /v1/stream/blocks` is a Server-Sent Events feed of finalized blocks with no gaps:
//!   a subscriber that falls behind the in-memory feed gets a `lagged` event and the
//!   blocks it missed from the block log, and a client that reconnects with
//!   `Last-Event-ID` (or `?from=HEIGHT`) resumes where it left off.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State as Shared};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_core::codec::{Canonical, encode};
use cairn_core::{Hash, Height, PublicKey};
use cairn_ledger::smt::SmtProof;
use cairn_ledger::state::{Account, Device, Proposal, VoteRecord};
use cairn_ledger::tx::{Fee, VoteChoice};
use cairn_ledger::{ParamId, SignedTx};
use futures::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::block::{Block, ConsensusMeta, tx_hash};
use crate::mempool::AdmitError;
use crate::node::{FinalizedBlock, Node, TxStatus, ValidatorRecord};

/// Largest request body accepted (a transaction's hex encoding is at most ~128 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Interval of the keep-alive comments on the block stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The OpenAPI 3.1 description of this API, served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// What every handler shares.
#[derive(Clone)]
struct Api {
    node: Arc<Node>,
    /// The served OpenAPI document: [`OPENAPI_JSON`] plus the extra routes' paths.
    openapi: Arc<str>,
    genesis_digest: Hash,
    /// Becomes `true` when the server shuts down; long-lived streams end then.
    shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The API's routes over `node`. Streams opened through this router never end on their
/// own; [`serve_with_shutdown`] ends them when it shuts down.
pub fn router(node: Arc<Node>) -> Router {
    // The sender is dropped: the stream treats a closed channel as "never shuts down".
    let (_never, shutdown) = watch::channel(false);
    build(node, shutdown)
}

/// Serve the API on `listener` until the listener fails.
pub async fn serve(node: Arc<Node>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_with_shutdown(node, listener, std::future::pending()).await
}

/// Serve the API plus `extra` routes (services the node runs beside the chain, such as
/// the verifiers') on `listener` until the listener fails. `extra` shares the API's
/// fallback, error shape and body limit.
///
/// `extra_doc` is an OpenAPI fragment (`paths`, `tags`, `components.schemas`) describing
/// them; it is merged into the served `/openapi.json`.
pub async fn serve_with_routes(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    extra: Router,
    extra_doc: String,
) -> std::io::Result<()> {
    let (_never, shutdown) = watch::channel(false);
    let doc = merge_openapi(OPENAPI_JSON, &extra_doc)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    axum::serve(listener, assemble(node, shutdown, extra, doc.into())).await
}

/// The base document with a fragment's paths, tags and schemas added.
pub fn merge_openapi(base: &str, fragment: &str) -> Result<String, String> {
    let mut doc: serde_json::Value =
        serde_json::from_str(base).map_err(|e| format!("openapi.json: {e}"))?;
    let extra: serde_json::Value =
        serde_json::from_str(fragment).map_err(|e| format!("OpenAPI fragment: {e}"))?;
    if let Some(paths) = extra["paths"].as_object() {
        for (k, v) in paths {
            doc["paths"][k] = v.clone();
        }
    }
    if let (Some(tags), Some(base_tags)) = (extra["tags"].as_array(), doc["tags"].as_array_mut()) {
        base_tags.extend(tags.iter().cloned());
    }
    if let Some(schemas) = extra["components"]["schemas"].as_object() {
        for (k, v) in schemas {
            doc["components"]["schemas"][k] = v.clone();
        }
    }
    serde_json::to_string(&doc).map_err(|e| e.to_string())
}

/// Serve the API on `listener` until `shutdown` completes; then stop accepting, end the
/// open block streams, and return once in-flight requests have finished.
pub async fn serve_with_shutdown(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let app = build(node, stopped);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await
}

fn build(node: Arc<Node>, shutdown: watch::Receiver<bool>) -> Router {
    assemble(node, shutdown, Router::new(), OPENAPI_JSON.into())
}

fn assemble(
    node: Arc<Node>,
    shutdown: watch::Receiver<bool>,
    extra: Router,
    doc: Arc<str>,
) -> Router {
    let api = Api {
        openapi: doc,
        genesis_digest: node.genesis_block().digest(),
        node,
        shutdown,
    };
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/status", get(status))
        .route("/v1/params", get(params))
        .route("/v1/transactions", post(submit))
        .route("/v1/transactions/{hash}", get(transaction))
        .route("/v1/accounts/{did}", get(account))
        .route("/v1/devices/{did}", get(device))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/proposals", get(proposals))
        .route("/v1/proposals/{id}", get(proposal))
        .route("/v1/denylist", get(denylist))
        .route("/v1/denylist/{id}", get(denylist_entry))
        .route("/v1/validators", get(validators))
        .route("/v1/stream/blocks", get(stream_blocks))
        .with_state(api)
        .merge(extra)
        // Must follow the routes: it applies to those already added.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

// ---------------------------------------------------------------------------------------
// Errors

/// An error answer: `{"error": {"code", "message"}}` with its HTTP status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The node itself failed (storage, a task): logged, and a 500.
    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "rpc request failed inside the node");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the node failed to answer: {error}"),
        )
    }

    fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(
            "bad_path",
            format!("invalid path parameter: {}", rejection.body_text()),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(
            "bad_query",
            format!("invalid query string: {}", rejection.body_text()),
        )
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than the limit of {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::bad_request(
                "bad_body",
                format!("could not read the request body: {}", rejection.body_text()),
            )
        }
    }
}

/// An admission refusal: 409 for a duplicate, 429 when the sender or the pool is at its
/// limit (retry later), 400 for everything else (the transaction itself is wrong).
fn admit_error(error: &AdmitError) -> ApiError {
    let code = error.code();
    let status = match code {
        "duplicate" => StatusCode::CONFLICT,
        "pool_full" | "account_full" => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, code, error.to_string())
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::bad_request(
                "invalid_body",
                format!("the request body has the wrong shape: {e}; expected {expected}"),
            ),
            Category::Io | Category::Syntax | Category::Eof => ApiError::bad_request(
                "bad_json",
                format!("the request body is not valid JSON: {e}; expected {expected}"),
            ),
        }
    })
}

fn parse_key(did: &str, what: &'static str) -> Result<PublicKey, ApiError> {
    PublicKey::from_did(did)
        .map_err(|e| ApiError::bad_request("bad_key", format!("invalid {what} key: {e}")))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {method} {}; the API is described at /openapi.json",
        clip(uri.path(), 200)
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on {}; the Allow header lists the methods that are",
            clip(uri.path(), 200)
        ),
    )
}

/// At most `max` characters of user input, for messages.
fn clip(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------
// Documents

async fn openapi(Shared(api): Shared<Api>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        api.openapi.to_string(),
    )
        .into_response()
}

#[derive(Serialize)]
struct StatusBody<'a> {
    network: &'a str,
    height: u64,
    digest: Hash,
    time_ms: u64,
    consensus_tip: u64,
    mempool: usize,
    halted: Option<String>,
    genesis_digest: Hash,
    /// The price credits are minted at, as of the last block's time: the lower median of
    /// fresh oracle submissions (10^-8 USD per whole token, a decimal string); null when
    /// too few are fresh and minting is halted.
    usd_per_token_e8: Option<String>,
}

async fn status(Shared(api): Shared<Api>) -> Response {
    let (state, digest) = api.node.finalized();
    axum::Json(StatusBody {
        network: api.node.network().as_str(),
        height: state.height.0,
        digest,
        time_ms: state.time_ms,
        consensus_tip: api.node.consensus_tip(),
        mempool: api.node.mempool_len(),
        halted: api.node.halted(),
        genesis_digest: api.genesis_digest,
        usd_per_token_e8: cairn_ledger::price_at_tip(&state)
            .ok()
            .map(|p| p.to_string()),
    })
    .into_response()
}

#[derive(Serialize)]
struct ParamsBody {
    height: u64,
    /// The parameter hash committed in reward manifests.
    hash: Hash,
    params: Vec<ParamBody>,
}

#[derive(Serialize)]
struct ParamBody {
    name: &'static str,
    value: String,
    default: String,
    min: String,
    max: String,
    max_step: String,
    unit: &'static str,
    economic: bool,
    doc: &'static str,
}

async fn params(Shared(api): Shared<Api>) -> Response {
    let state = api.node.state();
    let params = ParamId::ALL
        .iter()
        .map(|id| {
            let spec = id.spec();
            ParamBody {
                name: spec.name,
                value: state.params.get(*id).to_string(),
                default: spec.default.to_string(),
                min: spec.min.to_string(),
                max: spec.max.to_string(),
                max_step: spec.max_step.to_string(),
                unit: spec.unit,
                economic: spec.economic,
                doc: spec.doc,
            }
        })
        .collect();
    axum::Json(ParamsBody {
        height: state.height.0,
        hash: state.params.hash(),
        params,
    })
    .into_response()
}

// ---------------------------------------------------------------------------------------
// Transactions

const SUBMIT_SHAPE: &str =
    r#"{"encoded": "<hex of the canonical transaction>"} or {"tx": <the transaction as JSON>}"#;

/// `POST /v1/transactions`: the canonical hex, the JSON form, or both (with the hash), as
/// `cairn tx … --out FILE` writes them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    #[serde(default)]
    encoded: Option<String>,
    #[serde(default)]
    tx: Option<serde_json::Value>,
    #[serde(default)]
    hash: Option<String>,
}

#[derive(Serialize)]
struct Accepted {
    hash: Hash,
    status: &'static str,
}

fn decode_submission(body: SubmitBody) -> Result<SignedTx, ApiError> {
    let from_hex = match &body.encoded {
        Some(text) => {
            let text = text.trim();
            let text = text.strip_prefix("0x").unwrap_or(text);
            let bytes = hex::decode(text).map_err(|e| {
                ApiError::bad_request("bad_encoding", format!("encoded: not valid hex: {e}"))
            })?;
            let tx = SignedTx::decode(&bytes)
                .map_err(|e| ApiError::bad_request("bad_encoding", format!("encoded: {e}")))?;
            Some(tx)
        }
        None => None,
    };
    let from_json = match body.tx {
        Some(value) => Some(serde_json::from_value::<SignedTx>(value).map_err(|e| {
            ApiError::bad_request(
                "bad_encoding",
                format!("tx: not a valid signed transaction: {e}"),
            )
        })?),
        None => None,
    };
    let tx = match (from_hex, from_json) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(
                "mismatch",
                "encoded and tx describe different transactions; send one of them",
            ));
        }
        (Some(tx), _) | (None, Some(tx)) => tx,
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("the request body names no transaction; expected {SUBMIT_SHAPE}"),
            ));
        }
    };
    if let Some(claimed) = body.hash {
        let actual = tx_hash(&tx);
        if claimed.trim() != actual.to_hex() {
            return Err(ApiError::bad_request(
                "mismatch",
                format!(
                    "hash {} does not match the transaction, whose hash is {actual}",
                    clip(&claimed, 80)
                ),
            ));
        }
    }
    Ok(tx)
}

async fn submit(Shared(api): Shared<Api>, body: Result<Bytes, BytesRejection>) -> Response {
    match submit_inner(&api, body) {
        Ok((hash, accepted)) => (
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/v1/transactions/{hash}"))],
            axum::Json(accepted),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn submit_inner(
    api: &Api,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Hash, Accepted), ApiError> {
    let body: SubmitBody = parse_json(&body?, SUBMIT_SHAPE)?;
    let tx = decode_submission(body)?;
    if let Some(reason) = api.node.halted() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "node_halted",
            format!("this node has stopped processing blocks and admits no transactions: {reason}"),
        ));
    }
    let hash = tx_hash(&tx);
    if let TxStatus::Finalized { height, index } = api.node.tx_status(&hash) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate",
            format!("transaction {hash} is already finalized (block {height}, index {index})"),
        ));
    }
    let hash = api.node.submit(tx).map_err(|e| admit_error(&e))?;
    Ok((
        hash,
        Accepted {
            hash,
            status: "pending",
        },
    ))
}

#[derive(Serialize)]
struct TxBody {
    hash: Hash,
    #[serde(flatten)]
    status: TxStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    tx: Option<SignedTx>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoded: Option<String>,
}

#[derive(Serialize)]
struct UnknownTxBody<'a> {
    error: ErrorDetail<'a>,
    hash: Hash,
    status: &'static str,
}

async fn transaction(
    Shared(api): Shared<Api>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(text) = path?;
    let hash: Hash = text.parse().map_err(|_| {
        ApiError::bad_request(
            "bad_hash",
            format!(
                "{:?} is not a transaction hash: expected 64 hex digits",
                clip(&text, 80)
            ),
        )
    })?;
    let status = api.node.tx_status(&hash);
    if status == TxStatus::Unknown {
        let message = format!(
            "transaction {hash} is not known to this node: not pending, not finalized and not \
             recently rejected"
        );
        let body = UnknownTxBody {
            error: ErrorDetail {
                code: "not_found",
                message: &message,
            },
            hash,
            status: "unknown",
        };
        return Ok((StatusCode::NOT_FOUND, axum::Json(body)).into_response());
    }
    let tx = match status {
        TxStatus::Finalized { .. } => api
            .node
            .transaction(&hash)
            .map_err(ApiError::internal)?
            .map(|(_, _, tx)| tx),
        _ => None,
    };
    Ok(axum::Json(TxBody {
        hash,
        status,
        encoded: tx.as_ref().map(|t| hex::encode(t.encode())),
        tx,
    })
    .into_response())
}

// ---------------------------------------------------------------------------------------
// State

#[derive(Deserialize)]
struct ProofQuery {
    #[serde(default)]
    proof: bool,
}

/// A sparse-Merkle proof of a record (or its absence) against a state root.
#[derive(Serialize)]
struct ProofBody {
    /// The state root the proof is against: the `state_root` of the block at `height`.
    root: Hash,
    /// BLAKE3 of the record's canonical encoding; `null` proves absence.
    value_hash: Option<Hash>,
    #[serde(flatten)]
    proof: SmtProof,
}

#[derive(Serialize)]
struct AccountBody {
    account: PublicKey,
    height: u64,
    /// Whether the account has a record (an absent account has zero balances and nonce).
    exists: bool,
    #[serde(flatten)]
    record: Account,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof: Option<ProofBody>,
}

async fn account(
    Shared(api): Shared<Api>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(did) = path?;
    let Query(query) = query?;
    let key = parse_key(&did, "account")?;
    let state = api.node.state();
    let height = state.height.0;
    let body = if query.proof {
        tokio::task::spawn_blocking(move || {
            let (record, proof) = state.prove_account(&key);
            let root = state.root();
            AccountBody {
                account: key,
                height,
                exists: record.is_some(),
                proof: Some(ProofBody {
                    root,
                    value_hash: record.as_ref().map(|r| Hash::of(&encode(r))),
                    proof,
                }),
                record: record.unwrap_or_default(),
            }
        })
        .await
        .map_err(ApiError::internal)?
    } else {
        let record = state.accounts.get(&key).cloned();
        AccountBody {
            account: key,
            height,
            exists: record.is_some(),
            record: record.unwrap_or_default(),
            proof: None,
        }
    };
    Ok(axum::Json(body).into_response())
}

#[derive(Serialize)]
struct DeviceBody {
    device: PublicKey,
    height: u64,
    #[serde(flatten)]
    record: Device,
    #[serde(skip_serializing_if = "Option::is_none")]
    proof: Option<ProofBody>,
}

#[derive(Serialize)]
struct AbsentDeviceBody<'a> {
    error: ErrorDetail<'a>,
    device: PublicKey,
    height: u64,
    proof: ProofBody,
}

async fn device(
    Shared(api): Shared<Api>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(did) = path?;
    let Query(query) = query?;
    let key = parse_key(&did, "device")?;
    let state = api.node.state();
    let height = state.height.0;
    let absent = || format!("no device {key} is onboarded (at height {height})");
    if !query.proof {
        let record = state
            .devices
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(absent()))?;
        return Ok(axum::Json(DeviceBody {
            device: key,
            height,
            record,
            proof: None,
        })
        .into_response());
    }
    let (record, proof) = tokio::task::spawn_blocking(move || {
        let (record, proof) = state.prove_device(&key);
        let root = state.root();
        (
            record.clone(),
            ProofBody {
                root,
                value_hash: record.as_ref().map(|r| Hash::of(&encode(r))),
                proof,
            },
        )
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(match record {
        Some(record) => axum::Json(DeviceBody {
            device: key,
            height,
            record,
            proof: Some(proof),
        })
        .into_response(),
        // The 404 still carries the exclusion proof.
        None => {
            let message = absent();
            let body = AbsentDeviceBody {
                error: ErrorDetail {
                    code: "not_found",
                    message: &message,
                },
                device: key,
                height,
                proof,
            };
            (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
        }
    })
}

// ---------------------------------------------------------------------------------------
// Blocks

#[derive(Deserialize)]
struct BlockQuery {
    #[serde(default)]
    full: bool,
}

#[derive(Serialize)]
struct BlockBody<'a> {
    height: u64,
    digest: Hash,
    parent: Hash,
    time_ms: u64,
    consensus: &'a ConsensusMeta,
    state_root: Hash,
    tx_count: usize,
    txs: Vec<TxSummary<'a>>,
}

#[derive(Serialize)]
struct TxSummary<'a> {
    hash: Hash,
    sender: PublicKey,
    nonce: u64,
    kind: &'static str,
    fee: Fee,
    #[serde(skip_serializing_if = "Option::is_none")]
    tx: Option<&'a SignedTx>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoded: Option<String>,
}

fn block_body(block: &Block, digest: Hash, full: bool) -> BlockBody<'_> {
    BlockBody {
        height: block.height.0,
        digest,
        parent: block.parent,
        time_ms: block.time_ms,
        consensus: &block.consensus,
        state_root: block.state_root,
        tx_count: block.txs.len(),
        txs: block
            .txs
            .iter()
            .map(|tx| TxSummary {
                hash: tx_hash(tx),
                sender: tx.signer,
                nonce: tx.message.nonce,
                kind: tx.message.kind.name(),
                fee: tx.message.fee,
                tx: full.then_some(tx),
                encoded: full.then(|| hex::encode(tx.encode())),
            })
            .collect(),
    }
}

async fn block(
    Shared(api): Shared<Api>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<BlockQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(which) = path?;
    let Query(query) = query?;
    let (tip, tip_digest) = api.node.tip();
    let height = if which == "latest" {
        tip
    } else {
        Height(which.parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                "bad_height",
                format!(
                    "{:?} is not a block height: expected a non-negative integer or \"latest\"",
                    clip(&which, 80)
                ),
            )
        })?)
    };
    let found = api.node.block(height).map_err(ApiError::internal)?;
    let Some(block) = found.filter(|b| b.height <= tip) else {
        return Err(ApiError::not_found(format!(
            "no finalized block at height {}; the latest is {}",
            height.0, tip.0
        )));
    };
    let digest = if block.height == tip {
        tip_digest
    } else {
        block.digest()
    };
    Ok(axum::Json(block_body(&block, digest, query.full)).into_response())
}

// ---------------------------------------------------------------------------------------
// Governance and validators

#[derive(Serialize)]
struct ProposalsBody<'a> {
    height: u64,
    proposals: Vec<ProposalBody<'a>>,
}

#[derive(Serialize)]
struct ProposalBody<'a> {
    id: u64,
    #[serde(flatten)]
    proposal: &'a Proposal,
    #[serde(skip_serializing_if = "Option::is_none")]
    votes: Option<Vec<VoteBody>>,
}

#[derive(Serialize)]
struct VoteBody {
    voter: PublicKey,
    choice: VoteChoice,
    #[serde(with = "cairn_core::amount::u128_string")]
    weight: u128,
}

#[derive(Serialize)]
struct ProposalDetailBody<'a> {
    height: u64,
    #[serde(flatten)]
    proposal: ProposalBody<'a>,
}

async fn proposals(Shared(api): Shared<Api>) -> Response {
    let state = api.node.state();
    let proposals = state
        .proposals
        .iter()
        .map(|(id, proposal)| ProposalBody {
            id: *id,
            proposal,
            votes: None,
        })
        .collect();
    axum::Json(ProposalsBody {
        height: state.height.0,
        proposals,
    })
    .into_response()
}

/// A numeric id from the path, or a `code` error naming `what` was expected.
fn path_id(Path(text): Path<String>, code: &'static str, what: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            code,
            format!(
                "{:?} is not {what}: expected a non-negative integer",
                clip(&text, 80)
            ),
        )
    })
}

#[derive(Serialize)]
struct DenylistBody {
    height: u64,
    entries: Vec<DenylistEntryBody>,
}

#[derive(Serialize)]
struct DenylistEntryBody {
    id: u64,
    #[serde(flatten)]
    record: cairn_ledger::state::DenylistRecord,
    /// The entry withholds its devices' rewards now.
    withholding: bool,
    /// The finding stands for good (upheld, or its appeal window closed unappealed).
    #[serde(rename = "final")]
    is_final: bool,
}

fn denylist_body(
    state: &cairn_ledger::State,
    id: u64,
    r: &cairn_ledger::state::DenylistRecord,
) -> DenylistEntryBody {
    DenylistEntryBody {
        id,
        record: r.clone(),
        withholding: r.withholds(state.height),
        is_final: r.is_final(state.height),
    }
}

#[derive(Deserialize)]
struct DenylistQuery {
    device: Option<String>,
}

async fn denylist(
    Shared(api): Shared<Api>,
    query: Result<Query<DenylistQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let device = match q.device {
        None => None,
        Some(text) => Some(PublicKey::from_did(&text).map_err(|e| {
            ApiError::bad_request("bad_key", format!("device {:?}: {e}", clip(&text, 80)))
        })?),
    };
    let state = api.node.state();
    let entries = match device {
        Some(d) => state
            .denylist_by_device
            .range((d, 0)..=(d, u64::MAX))
            .filter_map(|(_, id)| {
                state
                    .denylist
                    .get(id)
                    .map(|r| denylist_body(&state, *id, r))
            })
            .collect(),
        None => state
            .denylist
            .iter()
            .map(|(id, r)| denylist_body(&state, *id, r))
            .collect(),
    };
    Ok(axum::Json(DenylistBody {
        height: state.height.0,
        entries,
    })
    .into_response())
}

async fn denylist_entry(
    Shared(api): Shared<Api>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(path?, "bad_entry_id", "a denylist entry id")?;
    let state = api.node.state();
    let Some(r) = state.denylist.get(&id) else {
        return Err(ApiError::not_found(format!(
            "no denylist entry {id} (at height {}; the next id is {})",
            state.height.0, state.next_denylist_id
        )));
    };
    Ok(axum::Json(serde_json::json!({
        "height": state.height.0,
        "entry": denylist_body(&state, id, r),
    }))
    .into_response())
}

async fn proposal(
    Shared(api): Shared<Api>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(path?, "bad_proposal_id", "a proposal id")?;
    let state = api.node.state();
    let Some(proposal) = state.proposals.get(&id) else {
        return Err(ApiError::not_found(format!(
            "no proposal {id} (at height {}; the next id is {})",
            state.height.0, state.next_proposal_id
        )));
    };
    let votes = state
        .votes
        .iter()
        .filter(|((p, _), _)| *p == id)
        .map(|((_, voter), VoteRecord { choice, weight })| VoteBody {
            voter: *voter,
            choice: *choice,
            weight: *weight,
        })
        .collect();
    Ok(axum::Json(ProposalDetailBody {
        height: state.height.0,
        proposal: ProposalBody {
            id,
            proposal,
            votes: Some(votes),
        },
    })
    .into_response())
}

#[derive(Serialize)]
struct ValidatorsBody {
    height: u64,
    validators: Vec<ValidatorBody>,
}

#[derive(Serialize)]
struct ValidatorBody {
    validator: PublicKey,
    /// Voting power in the current validator set (0 if no longer in it).
    power: u64,
    /// Whether the key is in the current validator set.
    active: bool,
    #[serde(flatten)]
    record: ValidatorRecord,
    ledger_faults: Vec<LedgerFault>,
}

#[derive(Serialize)]
struct LedgerFault {
    consensus_epoch: u64,
    view: u64,
    #[serde(flatten)]
    fault: cairn_ledger::state::ValidatorFault,
}

fn ledger_faults(state: &cairn_ledger::State, key: &PublicKey) -> Vec<LedgerFault> {
    state
        .validator_faults
        .range((*key, 0, 0)..=(*key, u64::MAX, u64::MAX))
        .map(|((_, epoch, view), f)| LedgerFault {
            consensus_epoch: *epoch,
            view: *view,
            fault: f.clone(),
        })
        .collect()
}

async fn validators(Shared(api): Shared<Api>) -> Response {
    let state = api.node.state();
    let mut records = api.node.validators();
    let mut out: Vec<ValidatorBody> = state
        .authorities
        .validators
        .iter()
        .map(|(key, power)| ValidatorBody {
            validator: *key,
            power: *power,
            active: true,
            record: records.remove(key).unwrap_or_default(),
            ledger_faults: ledger_faults(&state, key),
        })
        .collect();
    // Keys consensus reported that are not in the set (e.g. faults of a former validator).
    out.extend(records.into_iter().map(|(key, record)| ValidatorBody {
        validator: key,
        power: 0,
        active: false,
        ledger_faults: ledger_faults(&state, &key),
        record,
    }));
    axum::Json(ValidatorsBody {
        height: state.height.0,
        validators: out,
    })
    .into_response()
}

// ---------------------------------------------------------------------------------------
// The block stream

#[derive(Deserialize)]
struct StreamQuery {
    #[serde(default)]
    full: bool,
    /// Start with the block at this height (replayed from the block log).
    #[serde(default)]
    from: Option<u64>,
}

async fn stream_blocks(
    Shared(api): Shared<Api>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let resume = match headers.get("last-event-id") {
        Some(value) => {
            let id = value
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "bad_last_event_id",
                        "Last-Event-ID must be the height of the last block received",
                    )
                })?;
            Some(id.saturating_add(1))
        }
        None => None,
    };
    // Subscribe before reading the tip: every block after the tip is then in the feed.
    let rx = api.node.subscribe();
    let (tip, _) = api.node.tip();
    let next = resume.or(query.from).unwrap_or(tip.0.saturating_add(1));
    let feed = Feed {
        replaying: next <= tip.0,
        node: api.node,
        rx,
        next,
        full: query.full,
        shutdown: api.shutdown,
        done: false,
    };
    let stream = feed.into_stream();
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Tell buffering proxies (nginx) to pass events through as they come.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One subscriber's position in the chain: blocks come from the live feed, or from the
/// block log while catching up (after `from`, a reconnect, or falling behind the feed).
struct Feed {
    node: Arc<Node>,
    rx: broadcast::Receiver<Arc<FinalizedBlock>>,
    /// The height of the next block to send.
    next: u64,
    replaying: bool,
    full: bool,
    shutdown: watch::Receiver<bool>,
    done: bool,
}

#[derive(Serialize)]
struct LaggedBody {
    /// Blocks the in-memory feed dropped for this subscriber.
    skipped: u64,
    /// The height the stream continues from (read back from the block log).
    resume_from: u64,
}

impl Feed {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
        futures::stream::unfold(self, |mut feed| async move {
            let event = feed.next_event().await?;
            Some((Ok(event), feed))
        })
    }

    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.done || *self.shutdown.borrow() {
                return None;
            }
            if self.replaying {
                let (tip, _) = self.node.tip();
                if self.next <= tip.0 {
                    return Some(match self.node.block(Height(self.next)) {
                        Ok(Some(block)) => {
                            self.next = self.next.saturating_add(1);
                            let digest = block.digest();
                            block_event(&block, digest, self.full)
                        }
                        Ok(None) => {
                            self.done = true;
                            let message = format!("block {} is missing from the log", self.next);
                            error_event(&ApiError::internal(message))
                        }
                        Err(e) => {
                            self.done = true;
                            error_event(&ApiError::internal(e))
                        }
                    });
                }
                // Caught up: the feed (subscribed before the tip was read) has the rest.
                self.replaying = false;
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                () = shut_down(&mut self.shutdown) => return None,
            };
            match received {
                Ok(finalized) => {
                    let height = finalized.block.height.0;
                    if height < self.next {
                        continue;
                    }
                    if height > self.next {
                        // Something was missed: read it back from the log.
                        self.replaying = true;
                        continue;
                    }
                    self.next = height.saturating_add(1);
                    return Some(block_event(&finalized.block, finalized.digest, self.full));
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    // Start a fresh subscription before catching up from the log.
                    self.rx = self.node.subscribe();
                    self.replaying = true;
                    return Some(json_event(
                        "lagged",
                        None,
                        &LaggedBody {
                            skipped,
                            resume_from: self.next,
                        },
                    ));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Completes when the server shuts down; never if it has no shutdown signal.
async fn shut_down(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn block_event(block: &Block, digest: Hash, full: bool) -> Event {
    json_event(
        "block",
        Some(block.height.0),
        &block_body(block, digest, full),
    )
}

fn error_event(error: &ApiError) -> Event {
    json_event("stream_error", None, &error.body())
}

fn json_event(name: &'static str, id: Option<u64>, data: &impl Serialize) -> Event {
    let mut event = Event::default().event(name);
    if let Some(id) = id {
        event = event.id(id.to_string());
    }
    match serde_json::to_string(data) {
        Ok(json) => event.data(json),
        Err(error) => {
            tracing::error!(%error, event = name, "stream event did not serialize");
            event.data(r#"{"error":{"code":"internal","message":"the event did not serialize"}}"#)
        }
    }
}
