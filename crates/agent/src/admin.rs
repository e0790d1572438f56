//! The admin HTTP endpoint: `GET /status` (JSON) and `GET /metrics` (OpenMetrics text).
//!
//! It has no authentication, so it only ever listens on a loopback address; reach it
//! from elsewhere through an SSH tunnel or a reverse proxy that adds authentication.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Json};
use axum::routing::get;

use crate::config::check_loopback;
use crate::metrics::Metrics;
use crate::status::StatusHandle;

/// Content type of the metrics exposition.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the admin endpoint cannot run.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin endpoint: {0}")]
    NotLoopback(String),
    #[error("admin endpoint cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("admin endpoint failed: {0}")]
    Serve(#[source] std::io::Error),
}

#[derive(Debug, Clone)]
struct AdminState {
    status: StatusHandle,
    metrics: Arc<Metrics>,
}

/// A bound admin endpoint, ready to serve.
#[derive(Debug)]
pub struct AdminServer {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl AdminServer {
    /// Bind `addr`, refusing any address that is not loopback.
    pub async fn bind(
        addr: SocketAddr,
        status: StatusHandle,
        metrics: Arc<Metrics>,
    ) -> Result<AdminServer, AdminError> {
        check_loopback(&addr).map_err(AdminError::NotLoopback)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        let router = Router::new()
            .route("/status", get(status_handler))
            .route("/metrics", get(metrics_handler))
            .with_state(AdminState { status, metrics });
        Ok(AdminServer { listener, router })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serve until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AdminError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(AdminError::Serve)
    }
}

async fn status_handler(State(state): State<AdminState>) -> impl IntoResponse {
    Json(state.status.snapshot())
}

async fn metrics_handler(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
}
