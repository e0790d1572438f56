//! The index's REST routes (`/v1/index/…`), mounted on the node's RPC. Errors have the
//! node's shape, `{"error": {"code", "message"}}`: 400 for a malformed id, cell, filter
//! or page size, 404 for what is not there, 500 when the database fails.

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::Index;
use crate::query::{QueryError, limit};

/// The OpenAPI description of these routes, merged into the node's `/openapi.json`.
pub const OPENAPI_FRAGMENT: &str = include_str!("openapi.json");

/// The routes, with the index as their state.
pub fn routes(index: Index) -> Router {
    Router::new()
        .route("/v1/index/stats", get(stats))
        .route("/v1/index/map", get(map))
        .route("/v1/index/cells/{cell}", get(cell))
        .route("/v1/index/devices", get(devices))
        .route("/v1/index/devices/{did}", get(device))
        .route("/v1/index/accounts/{did}", get(account))
        .route("/v1/index/epochs", get(epochs))
        .route("/v1/index/epochs/{epoch}", get(epoch))
        .route("/v1/index/governance", get(governance))
        .route("/v1/index/denylist", get(denylist))
        .route("/v1/index/usage", get(usage))
        .with_state(index)
}

struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            axum::Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadRequest(code, m) => ApiError(StatusCode::BAD_REQUEST, code, m),
            QueryError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, "not_found", m),
            QueryError::Index(e) => {
                tracing::error!(error = %e, "index query failed");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("the index failed to answer: {e}"),
                )
            }
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_path",
            format!("invalid path parameter: {}", r.body_text()),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("invalid query string: {}", r.body_text()),
        )
    }
}

type Reply = Result<Response, ApiError>;

fn ok(value: serde_json::Value) -> Reply {
    Ok(axum::Json(value).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapQuery {
    res: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<u64>,
    after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevicesQuery {
    kind: Option<String>,
    status: Option<String>,
    owner: Option<String>,
    limit: Option<u64>,
    after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochsQuery {
    limit: Option<u64>,
    before: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdPageQuery {
    limit: Option<u64>,
    after: Option<u64>,
}

async fn stats(State(index): State<Index>) -> Reply {
    ok(index.stats().await?)
}

async fn map(State(index): State<Index>, q: Result<Query<MapQuery>, QueryRejection>) -> Reply {
    let Query(q) = q?;
    ok(index.map(q.res.unwrap_or(8)).await?)
}

async fn cell(
    State(index): State<Index>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Reply {
    let (Path(c), Query(q)) = (p?, q?);
    let n = limit(q.limit, 50)?;
    ok(index.cell(&c, n, q.after.as_deref()).await?)
}

async fn devices(
    State(index): State<Index>,
    q: Result<Query<DevicesQuery>, QueryRejection>,
) -> Reply {
    let Query(q) = q?;
    let n = limit(q.limit, 50)?;
    ok(index
        .devices(
            q.kind.as_deref(),
            q.status.as_deref(),
            q.owner.as_deref(),
            n,
            q.after.as_deref(),
        )
        .await?)
}

async fn device(State(index): State<Index>, p: Result<Path<String>, PathRejection>) -> Reply {
    let Path(d) = p?;
    ok(index.device(&d).await?)
}

async fn account(State(index): State<Index>, p: Result<Path<String>, PathRejection>) -> Reply {
    let Path(d) = p?;
    ok(index.account(&d).await?)
}

async fn epochs(
    State(index): State<Index>,
    q: Result<Query<EpochsQuery>, QueryRejection>,
) -> Reply {
    let Query(q) = q?;
    let n = limit(q.limit, 50)?;
    ok(index.epochs(n, q.before).await?)
}

async fn epoch(State(index): State<Index>, p: Result<Path<u64>, PathRejection>) -> Reply {
    let Path(e) = p?;
    ok(index.epoch(e).await?)
}

async fn governance(State(index): State<Index>) -> Reply {
    ok(index.governance().await?)
}

async fn denylist(
    State(index): State<Index>,
    q: Result<Query<IdPageQuery>, QueryRejection>,
) -> Reply {
    let Query(q) = q?;
    let n = limit(q.limit, 50)?;
    ok(index.denylist(n, q.after).await?)
}

async fn usage(State(index): State<Index>) -> Reply {
    ok(index.usage().await?)
}
