//! The Cairn device agent: the software on (or beside) a device that turns what the
//! hardware does into signed reports for the network.
//!
//! - [`config`]: the TOML configuration with `CAIRN_AGENT_*` environment overrides.
//! - [`queue`]: the bounded, persistent queue of reports waiting for ingest.
//! - [`driver`]: the hardware boundary, one trait per resource kind.
//! - [`runtime`]: [`Agent::run`]: sessions with ingest, scheduling, challenges.
//! - [`admin`]: the loopback-only `/status` and `/metrics` endpoint.
//! - [`service`]: the public endpoint consumers store objects on and run jobs through.
//! - [`disk`]: the storage driver that keeps replicas in a real directory.
//!
//! The agent signs with two keys: the long-lived **device key** only authorises
//! short-lived **session keys** (one per session with ingest), and session keys sign the
//! reports. Reports are queued unsigned and signed when sent, so a report re-sent in a
//! later session keeps its content id.

pub mod admin;
pub mod config;
pub mod disk;
pub mod driver;
pub mod metrics;
pub mod queue;
pub mod runtime;
pub mod service;
pub mod status;

pub use admin::{AdminError, AdminServer};
pub use config::{AgentConfig, AgentKind, ConfigError, ServiceConfig};
pub use driver::{
    ComputeDriver, Driver, DriverError, RadioDriver, SensorDriver, StorageDriver, beacon_payload,
};
pub use metrics::Metrics;
pub use queue::{Pushed, Queue, QueueError};
pub use runtime::{Agent, AgentError};
pub use status::{AgentStatus, StatusHandle};
