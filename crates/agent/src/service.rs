//! The device's public service endpoint (`[service]`): what consumers use.
//!
//! | route | kind | what |
//! |---|---|---|
//! | `GET /v1/info` | both | the device, its kind and prices |
//! | `PUT /v1/objects/{id}` | storage | store the body as a replica; `x-cairn-receipt` pays for `x-cairn-epochs` epochs |
//! | `GET /v1/objects/{id}` | storage | the object's bytes; `x-cairn-receipt` pays for the retrieval |
//! | `POST /v1/jobs` | compute | run a WebAssembly job (JSON [`JobRequest`]); the answer is signed by the device key |
//! | `POST /v1/matmul` | compute | multiply two matrices ([`matmul_body`]); the consumer checks the product with Freivalds' algorithm |
//!
//! Payment is a consumer-signed ledger `UsageReceipt` (hex of its Borsh bytes) naming this
//! device and at least the price due; the device keeps every receipt it accepted under
//! `<data_dir>/receipts/` so its owner can settle them (`pay_for_service`) if the consumer
//! has not. Every error is JSON `{"error": {"code", "message"}}`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::decode_limited;
use cairn_core::envelope::sign_detached;
use cairn_core::{Credits, Hash, NetworkId, PublicKey, Signature, Signed, SignedMessage};
use cairn_ledger::tx::{ServiceKind, UsageReceipt};
use cairn_proto::v1::JobResult;
use cairn_proto::v1::report::Body;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::config::ServiceConfig;
use crate::driver::Driver;
use crate::runtime::{Shared, blocking, enqueue, lock};

/// Header carrying the consumer's signed usage receipt (hex of its Borsh bytes).
pub const RECEIPT_HEADER: &str = "x-cairn-receipt";
/// Header naming how many epochs an upload pays for.
pub const EPOCHS_HEADER: &str = "x-cairn-epochs";
/// Largest receipt accepted, bytes.
const MAX_RECEIPT_BYTES: usize = 512;
/// Largest job request (JSON, hex-encoded module and input).
const MAX_JOB_REQUEST_BYTES: usize =
    2 * (cairn_jobs::MAX_MODULE_BYTES + cairn_jobs::MAX_INPUT_BYTES) + 4096;
const GIB: u128 = 1 << 30;
/// Key-derivation context of a matrix-product job's id.
pub const MATMUL_CONTEXT: &str = "cairn.matmul.v1";
/// Headers of a matrix-product answer.
pub const JOB_ID_HEADER: &str = "x-cairn-job-id";
pub const SIGNATURE_HEADER: &str = "x-cairn-signature";
pub const QUEUE_MS_HEADER: &str = "x-cairn-queue-ms";
pub const RUN_MS_HEADER: &str = "x-cairn-run-ms";

/// A matrix-product job's body: `u32le n ‖ u64le modulus ‖ A ‖ B`, each matrix n² `u64le`
/// elements, row-major.
pub fn matmul_body(n: u32, modulus: u64, a: &[u64], b: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + 16 * a.len());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&modulus.to_le_bytes());
    for x in a.iter().chain(b) {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Parse [`matmul_body`]: `(n, modulus, A, B)`.
pub fn parse_matmul(body: &[u8]) -> Result<(u32, u64, Vec<u64>, Vec<u64>), String> {
    if body.len() < 12 {
        return Err("a matrix-product job starts with n (u32) and the modulus (u64)".into());
    }
    let n = u32::from_le_bytes(body[..4].try_into().expect("4 bytes"));
    let modulus = u64::from_le_bytes(body[4..12].try_into().expect("8 bytes"));
    if n == 0 || n > cairn_proto::compute::MAX_N || modulus < 2 {
        return Err(format!(
            "n must be 1 to {} and the modulus at least 2, got n = {n}, modulus = {modulus}",
            cairn_proto::compute::MAX_N
        ));
    }
    let count = (n as usize) * (n as usize);
    if body.len() != 12 + 16 * count {
        return Err(format!(
            "two {n}×{n} matrices of u64 need {} bytes after the header, got {}",
            16 * count,
            body.len() - 12
        ));
    }
    let words: Vec<u64> = body[12..]
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
        .collect();
    let (a, b) = words.split_at(count);
    Ok((n, modulus, a.to_vec(), b.to_vec()))
}

/// The id of a matrix-product job.
pub fn matmul_id(body: &[u8]) -> Hash {
    Hash(blake3::derive_key(MATMUL_CONTEXT, body))
}

/// Credits due to store `size` bytes for `epochs` epochs at `per_gib_epoch`, rounded up.
pub fn storage_due(size: u64, per_gib_epoch: u64, epochs: u64) -> Credits {
    let units = u128::from(size) * u128::from(per_gib_epoch) * u128::from(epochs);
    Credits::from_base_units(units.div_ceil(GIB))
}

/// Credits due to retrieve `size` bytes at `per_gib`, rounded up.
pub fn retrieval_due(size: u64, per_gib: u64) -> Credits {
    Credits::from_base_units((u128::from(size) * u128::from(per_gib)).div_ceil(GIB))
}

/// Credits due for a job that may burn `fuel` at `per_gfuel`, rounded up.
pub fn job_due(fuel: u64, per_gfuel: u64) -> Credits {
    Credits::from_base_units((u128::from(fuel) * u128::from(per_gfuel)).div_ceil(1_000_000_000))
}

/// What a compute device signs about a job it ran: the job, the output's hash, the fuel
/// burned and who asked. Domain `cairn.job.result.v1` on the network.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct JobAttestation {
    pub job_id: Hash,
    pub output_hash: Hash,
    pub fuel_used: u64,
    pub consumer: PublicKey,
}

impl SignedMessage for JobAttestation {
    const MESSAGE_TYPE: &'static str = "cairn.job.result.v1";
}

/// `POST /v1/jobs` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    pub module_hex: String,
    pub input_hex: String,
    pub fuel: u64,
    pub memory_limit_bytes: u64,
    pub receipt_hex: String,
}

impl JobRequest {
    /// The request for `spec`, paid by `receipt`.
    pub fn new(spec: &cairn_jobs::JobSpec, receipt: &Signed<UsageReceipt>) -> Self {
        JobRequest {
            module_hex: hex::encode(&spec.module),
            input_hex: hex::encode(&spec.input),
            fuel: spec.fuel,
            memory_limit_bytes: spec.memory_limit_bytes,
            receipt_hex: hex::encode(cairn_core::codec::encode(receipt)),
        }
    }
}

/// `POST /v1/jobs` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobReply {
    pub job_id: Hash,
    pub output_hex: String,
    pub output_hash: Hash,
    pub fuel_used: u64,
    pub queue_ms: u64,
    pub run_ms: u64,
    pub provider: PublicKey,
    /// The device key's signature over the [`JobAttestation`].
    pub signature: Signature,
}

struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

#[derive(Clone)]
struct Svc {
    shared: Arc<Shared>,
    config: ServiceConfig,
    slots: Arc<Semaphore>,
}

/// The service's routes over the running agent.
pub(crate) fn router(shared: Arc<Shared>, config: ServiceConfig) -> Router {
    let slots = Arc::new(Semaphore::new(config.job_slots));
    let object_limit = usize::try_from(config.max_object_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let svc = Svc {
        shared,
        config,
        slots,
    };
    Router::new()
        .route("/v1/info", get(info))
        .route(
            "/v1/objects/{id}",
            get(get_object)
                .put(put_object)
                .layer(DefaultBodyLimit::max(object_limit)),
        )
        .route(
            "/v1/jobs",
            post(run_job).layer(DefaultBodyLimit::max(MAX_JOB_REQUEST_BYTES)),
        )
        .route(
            "/v1/matmul",
            post(run_matmul).layer(DefaultBodyLimit::max(
                12 + 16 * (cairn_proto::compute::MAX_N as usize).pow(2),
            )),
        )
        .fallback(|| async {
            err(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route; see GET /v1/info",
            )
        })
        .with_state(svc)
}

async fn info(State(s): State<Svc>) -> Response {
    axum::Json(json!({
        "device": s.shared.device_key,
        "kind": s.shared.config.kind.to_string(),
        "network": s.shared.network.to_string(),
        "price_credits_per_gib_epoch": s.config.price_credits_per_gib_epoch,
        "retrieval_credits_per_gib": s.config.retrieval_credits_per_gib,
        "price_credits_per_gfuel": s.config.price_credits_per_gfuel,
        "max_object_bytes": s.config.max_object_bytes,
    }))
    .into_response()
}

fn object_id(raw: &str) -> Result<[u8; 32], ApiError> {
    hex::decode(raw)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "bad_object_id",
                format!("object id must be 64 hex characters, got {raw:?}"),
            )
        })
}

/// Decode and check a receipt: signed on this network, for this device and service,
/// paying at least `due`.
fn check_receipt(
    network: &NetworkId,
    device: &PublicKey,
    raw: Option<&str>,
    service: ServiceKind,
    due: Credits,
    what: &str,
) -> Result<Signed<UsageReceipt>, ApiError> {
    let raw = raw.ok_or_else(|| {
        err(
            StatusCode::PAYMENT_REQUIRED,
            "receipt_required",
            format!("{what} costs {due} credits: send a signed usage receipt in {RECEIPT_HEADER}"),
        )
    })?;
    let bytes = hex::decode(raw.trim()).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            "bad_receipt",
            format!("receipt is not hex: {e}"),
        )
    })?;
    let receipt: Signed<UsageReceipt> = decode_limited(&bytes, MAX_RECEIPT_BYTES, "usage receipt")
        .map_err(|e| err(StatusCode::BAD_REQUEST, "bad_receipt", e.to_string()))?;
    receipt.verify(network).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            "bad_receipt",
            format!("receipt signature does not verify on {network}: {e}"),
        )
    })?;
    let r = &receipt.message;
    if r.device != *device {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "bad_receipt",
            format!("receipt pays {}, not this device", r.device.to_did()),
        ));
    }
    if r.service != service {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "bad_receipt",
            format!(
                "receipt is for {:?} service, this is {service:?}",
                r.service
            ),
        ));
    }
    if r.amount < due {
        return Err(err(
            StatusCode::PAYMENT_REQUIRED,
            "underpaid",
            format!("receipt pays {} credits; {what} costs {due}", r.amount),
        ));
    }
    Ok(receipt)
}

fn receipt_file(data_dir: &std::path::Path, receipt: &Signed<UsageReceipt>) -> std::path::PathBuf {
    let bytes = cairn_core::codec::encode(receipt);
    data_dir
        .join("receipts")
        .join(format!("{}.receipt", blake3::hash(&bytes).to_hex()))
}

/// Refuse a receipt this device already accepted: it settles once, so it pays once.
fn not_reused(shared: &Shared, receipt: &Signed<UsageReceipt>) -> Result<(), ApiError> {
    if receipt_file(&shared.config.data_dir, receipt).exists() {
        return Err(err(
            StatusCode::CONFLICT,
            "receipt_reused",
            "this receipt already paid for something here; sign a new one",
        ));
    }
    Ok(())
}

/// Keep an accepted receipt for the owner to settle.
async fn keep_receipt(shared: &Arc<Shared>, receipt: Signed<UsageReceipt>) -> Result<(), ApiError> {
    let result = blocking(shared, move |s| -> std::io::Result<()> {
        let path = receipt_file(&s.config.data_dir, &receipt);
        std::fs::create_dir_all(path.parent().expect("receipts/"))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, hex::encode(cairn_core::codec::encode(&receipt)))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_failed",
            format!("could not keep the receipt: {e}"),
        )),
        Err(e) => Err(err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Run `f` on the storage driver off the async threads; a device of another kind stores
/// nothing.
async fn with_storage<R: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut dyn crate::StorageDriver) -> Result<R, crate::DriverError> + Send + 'static,
) -> Result<Result<R, crate::DriverError>, ApiError> {
    blocking(shared, move |sh| match &mut *lock(&sh.driver) {
        Driver::Storage(d) => f(d.as_mut()),
        _ => Err(crate::DriverError::Refused(
            "this device stores nothing".into(),
        )),
    })
    .await
    .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

async fn put_object(
    State(s): State<Svc>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = object_id(&id)?;
    if body.is_empty() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "empty",
            "an object needs at least 1 byte",
        ));
    }
    let epochs: u64 = match header(&headers, EPOCHS_HEADER) {
        None => 1,
        Some(v) => v.trim().parse().ok().filter(|e| *e > 0).ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "bad_epochs",
                format!("{EPOCHS_HEADER} must be a positive whole number, got {v:?}"),
            )
        })?,
    };
    let due = storage_due(
        body.len() as u64,
        s.config.price_credits_per_gib_epoch,
        epochs,
    );
    let receipt = check_receipt(
        &s.shared.network,
        &s.shared.device_key,
        header(&headers, RECEIPT_HEADER),
        ServiceKind::Storage,
        due,
        &format!("storing {} bytes for {epochs} epochs", body.len()),
    )?;
    not_reused(&s.shared, &receipt)?;
    let size = body.len() as u64;
    let stored = with_storage(&s.shared, move |d| d.store(&body))
        .await?
        .map_err(|e| err(StatusCode::UNPROCESSABLE_ENTITY, "refused", e.to_string()))?;
    if stored.object_id != id {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "content_mismatch",
            format!(
                "the body's content id is {}, not {}",
                hex::encode(&stored.object_id),
                hex::encode(id)
            ),
        ));
    }
    keep_receipt(&s.shared, receipt).await?;
    let replica_root = hex::encode(&stored.replica_root);
    enqueue(&s.shared, Body::Replica(stored), true).await;
    Ok(axum::Json(json!({
        "object": hex::encode(id),
        "size": size,
        "replica_root": replica_root,
        "device": s.shared.device_key,
        "epochs": epochs,
    }))
    .into_response())
}

async fn get_object(
    State(s): State<Svc>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = object_id(&id)?;
    // Payment is checked before any byte is read.
    let size = with_storage(&s.shared, move |d| {
        let held = d.held().into_iter().find(|c| c.object_id == id);
        Ok(held.map(|c| c.size_bytes))
    })
    .await?
    .ok()
    .flatten()
    .ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            "not_held",
            format!("object {} is not held here", hex::encode(id)),
        )
    })?;
    let due = retrieval_due(size, s.config.retrieval_credits_per_gib);
    let receipt = check_receipt(
        &s.shared.network,
        &s.shared.device_key,
        header(&headers, RECEIPT_HEADER),
        ServiceKind::Storage,
        due,
        &format!("retrieving {size} bytes"),
    )?;
    not_reused(&s.shared, &receipt)?;
    let data = with_storage(&s.shared, move |d| d.read(&id))
        .await?
        .map_err(|e| match e {
            crate::DriverError::Refused(m) => err(StatusCode::NOT_FOUND, "not_held", m),
            other => err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "read_failed",
                other.to_string(),
            ),
        })?;
    keep_receipt(&s.shared, receipt).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        data,
    )
        .into_response())
}

fn unhex(field: &str, raw: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(raw).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{field} is not hex: {e}"),
        )
    })
}

async fn run_job(State(s): State<Svc>, body: Bytes) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    if !matches!(s.shared.config.kind, crate::AgentKind::Compute) {
        return Err(err(
            StatusCode::NOT_FOUND,
            "not_compute",
            "this device runs no jobs",
        ));
    }
    let req: JobRequest = serde_json::from_slice(&body)
        .map_err(|e| err(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    let spec = cairn_jobs::JobSpec {
        module: unhex("module_hex", &req.module_hex)?,
        input: unhex("input_hex", &req.input_hex)?,
        fuel: req.fuel,
        memory_limit_bytes: req.memory_limit_bytes,
    };
    spec.check_caps()
        .map_err(|e| err(StatusCode::BAD_REQUEST, "bad_job", e.to_string()))?;
    let due = job_due(spec.fuel, s.config.price_credits_per_gfuel);
    let receipt = check_receipt(
        &s.shared.network,
        &s.shared.device_key,
        Some(&req.receipt_hex),
        ServiceKind::Compute,
        due,
        &format!("a job with {} fuel", spec.fuel),
    )?;
    not_reused(&s.shared, &receipt)?;
    let consumer = receipt.signer;
    keep_receipt(&s.shared, receipt).await?;
    let job_id = Hash(cairn_jobs::job_id(&spec));
    let permit = Arc::clone(&s.slots)
        .acquire_owned()
        .await
        .map_err(|e| err(StatusCode::SERVICE_UNAVAILABLE, "stopping", e.to_string()))?;
    let queue_ms = arrived.elapsed().as_millis() as u64;
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        cairn_jobs::run_job(&spec)
    })
    .await
    .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let run_ms = started.elapsed().as_millis() as u64;
    let (result, reply) = match outcome {
        Ok(o) => {
            let attestation = JobAttestation {
                job_id,
                output_hash: Hash(o.output_hash),
                fuel_used: o.fuel_used,
                consumer,
            };
            let signature = sign_detached(&s.shared.device, &s.shared.network, &attestation);
            (
                JobResult {
                    job_id: job_id.0.to_vec(),
                    output_hash: o.output_hash.to_vec(),
                    fuel_used: o.fuel_used,
                    queue_ms,
                    run_ms,
                    consumer: consumer.as_bytes().to_vec(),
                    error: String::new(),
                },
                Ok(JobReply {
                    job_id,
                    output_hex: hex::encode(&o.output),
                    output_hash: Hash(o.output_hash),
                    fuel_used: o.fuel_used,
                    queue_ms,
                    run_ms,
                    provider: s.shared.device_key,
                    signature,
                }),
            )
        }
        Err(e) => {
            let mut message = e.to_string();
            message.truncate(256);
            (
                JobResult {
                    job_id: job_id.0.to_vec(),
                    queue_ms,
                    run_ms,
                    consumer: consumer.as_bytes().to_vec(),
                    error: message.clone(),
                    ..JobResult::default()
                },
                Err(err(StatusCode::UNPROCESSABLE_ENTITY, "job_failed", message)),
            )
        }
    };
    tracing::info!(job = %job_id, queue_ms, run_ms, ok = reply.is_ok(), "job ran");
    enqueue(&s.shared, Body::JobResult(result), false).await;
    reply.map(|r| axum::Json(r).into_response())
}

async fn run_matmul(
    State(s): State<Svc>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    if !matches!(s.shared.config.kind, crate::AgentKind::Compute) {
        return Err(err(
            StatusCode::NOT_FOUND,
            "not_compute",
            "this device runs no jobs",
        ));
    }
    let (n, modulus, a, b) =
        parse_matmul(&body).map_err(|m| err(StatusCode::BAD_REQUEST, "bad_job", m))?;
    let fuel = u64::from(n).pow(3);
    let receipt = check_receipt(
        &s.shared.network,
        &s.shared.device_key,
        header(&headers, RECEIPT_HEADER),
        ServiceKind::Compute,
        job_due(fuel, s.config.price_credits_per_gfuel),
        &format!("a {n}×{n} matrix product"),
    )?;
    not_reused(&s.shared, &receipt)?;
    let consumer = receipt.signer;
    keep_receipt(&s.shared, receipt).await?;
    let job_id = matmul_id(&body);
    let permit = Arc::clone(&s.slots)
        .acquire_owned()
        .await
        .map_err(|e| err(StatusCode::SERVICE_UNAVAILABLE, "stopping", e.to_string()))?;
    let queue_ms = arrived.elapsed().as_millis() as u64;
    let started = Instant::now();
    let product = blocking(&s.shared, move |sh| {
        let _permit = permit;
        match &mut *lock(&sh.driver) {
            Driver::Compute(d) => d.multiply(&a, &b, n, modulus),
            _ => Err(crate::DriverError::Refused(
                "this device runs no jobs".into(),
            )),
        }
    })
    .await
    .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "job_failed",
            e.to_string(),
        )
    })?;
    let run_ms = started.elapsed().as_millis() as u64;
    let output: Vec<u8> = product.iter().flat_map(|x| x.to_le_bytes()).collect();
    let output_hash = Hash(*blake3::hash(&output).as_bytes());
    let signature = sign_detached(
        &s.shared.device,
        &s.shared.network,
        &JobAttestation {
            job_id,
            output_hash,
            fuel_used: fuel,
            consumer,
        },
    );
    enqueue(
        &s.shared,
        Body::JobResult(JobResult {
            job_id: job_id.0.to_vec(),
            output_hash: output_hash.0.to_vec(),
            fuel_used: fuel,
            queue_ms,
            run_ms,
            consumer: consumer.as_bytes().to_vec(),
            error: String::new(),
        }),
        false,
    )
    .await;
    tracing::info!(job = %job_id, n, queue_ms, run_ms, "matrix product ran");
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/octet-stream".to_owned(),
            ),
            (JOB_ID_HEADER.parse().expect("header name"), job_id.to_hex()),
            (
                SIGNATURE_HEADER.parse().expect("header name"),
                hex::encode(signature.0),
            ),
            (
                QUEUE_MS_HEADER.parse().expect("header name"),
                queue_ms.to_string(),
            ),
            (
                RUN_MS_HEADER.parse().expect("header name"),
                run_ms.to_string(),
            ),
        ],
        output,
    )
        .into_response())
}
