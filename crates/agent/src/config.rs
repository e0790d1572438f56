//! The agent's configuration: a TOML file, then `CAIRN_AGENT_<FIELD>` environment
//! overrides, then validation.
//!
//! Relative paths written in the file (`device_key`, `data_dir`) are resolved against the
//! directory that holds the file, so a configuration directory can be moved as a whole.
//! Relative paths given in environment variables are resolved against the process's
//! current directory, as a shell user expects.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cairn_core::{KeyUri, NetworkId};
use cairn_proto::v1::DeviceKind;
use serde::{Deserialize, Serialize};

/// Prefix of every environment override: `CAIRN_AGENT_` + the field name in upper case.
pub const ENV_PREFIX: &str = "CAIRN_AGENT_";

/// Longest interval accepted for the schedules (one week), so the arithmetic on them
/// cannot overflow and a typo does not silence a device for years.
pub const MAX_INTERVAL_S: u64 = 7 * 24 * 3600;

/// What kind of work the device does; selects the driver trait and the reports it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    /// A radio that sends beacons and witnesses others' (`RadioDriver`).
    Coverage,
    /// Disk space holding replicas (`StorageDriver`).
    Storage,
    /// CPU or accelerator time answering compute challenges (`ComputeDriver`).
    Compute,
    /// An environmental sensor station (`SensorDriver`).
    Sensor,
}

impl AgentKind {
    pub const ALL: [AgentKind; 4] = [
        AgentKind::Coverage,
        AgentKind::Storage,
        AgentKind::Compute,
        AgentKind::Sensor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Coverage => "coverage",
            AgentKind::Storage => "storage",
            AgentKind::Compute => "compute",
            AgentKind::Sensor => "sensor",
        }
    }

    /// The wire protocol's device kind.
    pub fn to_proto(self) -> DeviceKind {
        match self {
            AgentKind::Coverage => DeviceKind::Coverage,
            AgentKind::Storage => DeviceKind::Storage,
            AgentKind::Compute => DeviceKind::Compute,
            AgentKind::Sensor => DeviceKind::Sensor,
        }
    }
}

impl fmt::Display for AgentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a device kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device kind {0:?}: use coverage, storage, compute or sensor")]
pub struct AgentKindError(String);

impl FromStr for AgentKind {
    type Err = AgentKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| AgentKindError(s.chars().take(32).collect()))
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read agent config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("agent config {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("agent config field `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// The device agent's configuration. Every field but `network` and `kind` has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Network id the device belongs to, e.g. `cairn-devnet` (1 to 32 characters of
    /// `a-z`, `0-9`, `-`). Part of every signature's domain.
    pub network: NetworkId,
    /// The device's private key: a key URI (`file:///absolute/path`) or a path, relative
    /// to the config file's directory. Default `device.key`.
    #[serde(default = "defaults::device_key", with = "key_uri_serde")]
    pub device_key: KeyUri,
    /// What the device does: `coverage`, `storage`, `compute` or `sensor`.
    pub kind: AgentKind,
    /// Ingest's gRPC endpoint (`http://`; TLS is not built in yet). Default
    /// `http://127.0.0.1:7481`.
    #[serde(default = "defaults::ingest")]
    pub ingest: String,
    /// A node's HTTP RPC, for chain state the agent may read. Default
    /// `http://127.0.0.1:7480`.
    #[serde(default = "defaults::node_rpc")]
    pub node_rpc: String,
    /// Directory for the agent's durable state (the report queue), relative to the config
    /// file's directory. Default `agent-data`.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// Seconds between heartbeats. Default 30.
    #[serde(default = "defaults::heartbeat_interval_s")]
    pub heartbeat_interval_s: u64,
    /// Seconds between resource reports (one is also sent at start). Default 600.
    #[serde(default = "defaults::resource_interval_s")]
    pub resource_interval_s: u64,
    /// Seconds between sensor readings. Default 60. (A radio forwards the beacons it
    /// hears at once, whatever this says.)
    #[serde(default = "defaults::reading_interval_s")]
    pub reading_interval_s: u64,
    /// Random jitter applied to every interval, in percent either way (0 to 50), so a
    /// fleet does not report in lockstep. Default 10.
    #[serde(default = "defaults::jitter_pct")]
    pub jitter_pct: u32,
    /// Most reports kept in the local queue; when full, the oldest is dropped (and
    /// counted). Default 10000.
    #[serde(default = "defaults::queue_max_reports")]
    pub queue_max_reports: usize,
    /// Most reports per Submit call (1 to 512). Default 64.
    #[serde(default = "defaults::batch_max")]
    pub batch_max: usize,
    /// Requested session length in milliseconds (the server may grant less); the agent
    /// opens a new session before it ends. At least 10000. Default 3600000 (one hour).
    #[serde(default = "defaults::session_ms")]
    pub session_ms: u64,
    /// First reconnect delay in milliseconds; it doubles per failure up to
    /// `backoff_max_ms`, with jitter, and resets after a success. Default 500.
    #[serde(default = "defaults::backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// Longest reconnect delay in milliseconds; also the wait after the network refuses
    /// the device (PERMISSION_DENIED). Default 60000.
    #[serde(default = "defaults::backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Address of the admin HTTP endpoint (`/status`, `/metrics`). Loopback addresses
    /// only. Default `127.0.0.1:7490`.
    #[serde(default = "defaults::admin_listen")]
    pub admin_listen: SocketAddr,
    /// The public service endpoint consumers use: storage uploads and retrievals, compute
    /// jobs. Absent: the device serves no consumers (it still answers challenges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceConfig>,
    /// Driver-specific settings, passed to the driver as they are (for simulated devices
    /// see `cairn_sim::driver_from_config`).
    #[serde(default)]
    pub driver: toml::Table,
}

/// `[service]`: what a storage or compute device offers consumers, and at what price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address to listen on, e.g. `0.0.0.0:7491`.
    pub listen: SocketAddr,
    /// The URL consumers reach it at, advertised in resource reports. Default
    /// `http://<listen>`.
    #[serde(default)]
    pub url: Option<String>,
    /// Storage: credits asked per GiB stored per epoch. Default 1000.
    #[serde(default = "defaults::price_per_gib_epoch")]
    pub price_credits_per_gib_epoch: u64,
    /// Storage: credits asked per GiB retrieved. Default 100.
    #[serde(default = "defaults::retrieval_per_gib")]
    pub retrieval_credits_per_gib: u64,
    /// Storage: largest object accepted, bytes. Default 1 GiB.
    #[serde(default = "defaults::max_object_bytes")]
    pub max_object_bytes: u64,
    /// Compute: credits asked per 10^9 units of fuel a job may burn. Default 100.
    #[serde(default = "defaults::price_per_gfuel")]
    pub price_credits_per_gfuel: u64,
    /// Compute: jobs run at once; more wait in line (their queue time is recorded).
    /// Default 1.
    #[serde(default = "defaults::job_slots")]
    pub job_slots: usize,
}

impl ServiceConfig {
    /// The advertised URL.
    pub fn public_url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

mod defaults {
    use super::*;

    pub fn device_key() -> KeyUri {
        KeyUri::File(PathBuf::from("device.key"))
    }
    pub fn ingest() -> String {
        "http://127.0.0.1:7481".into()
    }
    pub fn node_rpc() -> String {
        "http://127.0.0.1:7480".into()
    }
    pub fn data_dir() -> PathBuf {
        PathBuf::from("agent-data")
    }
    pub fn heartbeat_interval_s() -> u64 {
        30
    }
    pub fn resource_interval_s() -> u64 {
        600
    }
    pub fn reading_interval_s() -> u64 {
        60
    }
    pub fn jitter_pct() -> u32 {
        10
    }
    pub fn queue_max_reports() -> usize {
        10_000
    }
    pub fn batch_max() -> usize {
        64
    }
    pub fn session_ms() -> u64 {
        3_600_000
    }
    pub fn backoff_initial_ms() -> u64 {
        500
    }
    pub fn backoff_max_ms() -> u64 {
        60_000
    }
    pub fn admin_listen() -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7490)
    }
    pub fn price_per_gib_epoch() -> u64 {
        1_000
    }
    pub fn retrieval_per_gib() -> u64 {
        100
    }
    pub fn max_object_bytes() -> u64 {
        1 << 30
    }
    pub fn price_per_gfuel() -> u64 {
        100
    }
    pub fn job_slots() -> usize {
        1
    }
}

mod key_uri_serde {
    use cairn_core::KeyUri;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(uri: &KeyUri, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(uri)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyUri, D::Error> {
        let s = String::deserialize(d)?;
        KeyUri::parse(&s).map_err(serde::de::Error::custom)
    }
}

const EXAMPLE_TOML: &str = r#"# Cairn device agent configuration.
#
# Relative paths are resolved against this file's directory. Any field can be overridden
# by an environment variable CAIRN_AGENT_<FIELD>, e.g. CAIRN_AGENT_INGEST or
# CAIRN_AGENT_HEARTBEAT_INTERVAL_S.

# Network id the device belongs to (1-32 characters of a-z, 0-9 and '-'). Required.
network = "cairn-devnet"
# What the device does: coverage, storage, compute or sensor. Required.
kind = "sensor"
# The device's private key: a key URI (file:///absolute/path) or a path.
device_key = "device.key"
# Ingest's gRPC endpoint.
ingest = "http://127.0.0.1:7481"
# A node's HTTP RPC.
node_rpc = "http://127.0.0.1:7480"
# Durable agent state (the report queue).
data_dir = "agent-data"

# Schedules, in seconds; each interval gets +/- jitter_pct percent of random jitter.
heartbeat_interval_s = 30
resource_interval_s = 600
# Sensor readings (a radio forwards the beacons it hears at once).
reading_interval_s = 60
jitter_pct = 10

# Local queue: when full, the oldest report is dropped.
queue_max_reports = 10000
# Reports per Submit call (1-512).
batch_max = 64
# Requested session length in milliseconds; renewed before it ends.
session_ms = 3600000
# Reconnect backoff: starts at backoff_initial_ms, doubles up to backoff_max_ms.
backoff_initial_ms = 500
backoff_max_ms = 60000

# Admin endpoint (GET /status, GET /metrics); loopback addresses only.
admin_listen = "127.0.0.1:7490"

# Storage and compute devices: the public endpoint consumers upload to, read from and
# submit jobs to, and its prices (advertised in resource reports).
# [service]
# listen = "0.0.0.0:7491"
# url = "http://203.0.113.7:7491"
# price_credits_per_gib_epoch = 1000
# retrieval_credits_per_gib = 100
# max_object_bytes = 1073741824
# price_credits_per_gfuel = 100
# job_slots = 1

# Driver-specific settings. A storage device keeps replicas on a real disk with
#   storage:  backend = "disk", dir = "objects", capacity_bytes
# For simulated devices (cairn-sim):
#   storage:  capacity_bytes
#   compute:  class, cpu_cores, memory_bytes
#   coverage: frequency_hz, max_tx_power_dbm_x10, antenna_gain_dbi_x10, region
#   sensor:   model, readings_per_hour, height_above_ground_cm
[driver]
readings_per_hour = 60
"#;

/// Where a field's value came from, to name the right thing in an error.
#[derive(Debug, Default)]
struct Overridden(Vec<&'static str>);

impl AgentConfig {
    /// A commented example configuration with every field at its default (for a sensor
    /// on `cairn-devnet`).
    pub fn example_toml() -> &'static str {
        EXAMPLE_TOML
    }

    /// Load a config file, resolve its relative paths, apply `CAIRN_AGENT_*` environment
    /// overrides and validate.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, |name| std::env::var_os(name))
    }

    /// [`AgentConfig::load`] with the environment supplied by `env` (tests use a map).
    pub fn load_with_env(
        path: &Path,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let absolute = std::path::absolute(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let base = absolute.parent().unwrap_or(Path::new("/"));
        let mut config = Self::parse(&text, &shown)?;
        config.resolve_relative(base);
        let overridden = config.apply_env(&env)?;
        config.validate().map_err(|e| match e {
            ConfigError::Invalid { field, message } if overridden.0.contains(&field) => {
                ConfigError::Env {
                    var: env_var(field),
                    message,
                }
            }
            other => other,
        })?;
        Ok(config)
    }

    /// Parse TOML text (no environment), resolving relative paths against `base_dir`,
    /// and validate.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        let mut config = Self::parse(text, "<string>")?;
        config.resolve_relative(base_dir);
        config.validate()?;
        Ok(config)
    }

    fn parse(text: &str, shown: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| ConfigError::Parse {
            path: shown.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    fn resolve_relative(&mut self, base: &Path) {
        let KeyUri::File(key) = &self.device_key;
        if key.is_relative() {
            self.device_key = KeyUri::File(base.join(key));
        }
        if self.data_dir.is_relative() {
            self.data_dir = base.join(&self.data_dir);
        }
    }

    fn apply_env(
        &mut self,
        env: &impl Fn(&str) -> Option<OsString>,
    ) -> Result<Overridden, ConfigError> {
        let mut seen = Overridden::default();
        let mut get = |field: &'static str| -> Result<Option<String>, ConfigError> {
            let var = env_var(field);
            match env(&var) {
                None => Ok(None),
                Some(raw) => {
                    seen.0.push(field);
                    raw.into_string().map(Some).map_err(|_| ConfigError::Env {
                        var,
                        message: "value is not valid UTF-8".into(),
                    })
                }
            }
        };

        if let Some(v) = get("network")? {
            self.network = parse_env("network", &v, NetworkId::new)?;
        }
        if let Some(v) = get("device_key")? {
            let KeyUri::File(p) = parse_env("device_key", &v, KeyUri::parse)?;
            self.device_key = KeyUri::File(absolute_env("device_key", &p)?);
        }
        if let Some(v) = get("kind")? {
            self.kind = parse_env("kind", &v, AgentKind::from_str)?;
        }
        if let Some(v) = get("ingest")? {
            self.ingest = v;
        }
        if let Some(v) = get("node_rpc")? {
            self.node_rpc = v;
        }
        if let Some(v) = get("data_dir")? {
            if v.is_empty() {
                return Err(ConfigError::Env {
                    var: env_var("data_dir"),
                    message: "empty path".into(),
                });
            }
            self.data_dir = absolute_env("data_dir", Path::new(&v))?;
        }
        macro_rules! number {
            ($($field:ident),*) => {$(
                if let Some(v) = get(stringify!($field))? {
                    self.$field = parse_env(stringify!($field), &v, |s| s.trim().parse())?;
                }
            )*};
        }
        number!(
            heartbeat_interval_s,
            resource_interval_s,
            reading_interval_s,
            jitter_pct,
            queue_max_reports,
            batch_max,
            session_ms,
            backoff_initial_ms,
            backoff_max_ms
        );
        if let Some(v) = get("admin_listen")? {
            self.admin_listen = parse_env("admin_listen", &v, |s| s.trim().parse::<SocketAddr>())?;
        }
        Ok(seen)
    }

    /// Check every field's range. [`AgentConfig::load`] calls this; call it again after
    /// changing a loaded config by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(field: &'static str, message: String) -> ConfigError {
            ConfigError::Invalid { field, message }
        }
        for (field, value) in [
            ("heartbeat_interval_s", self.heartbeat_interval_s),
            ("resource_interval_s", self.resource_interval_s),
            ("reading_interval_s", self.reading_interval_s),
        ] {
            if value == 0 || value > MAX_INTERVAL_S {
                return Err(invalid(
                    field,
                    format!("must be 1 to {MAX_INTERVAL_S} seconds, got {value}"),
                ));
            }
        }
        if self.jitter_pct > 50 {
            return Err(invalid(
                "jitter_pct",
                format!("must be 0 to 50 percent, got {}", self.jitter_pct),
            ));
        }
        if self.queue_max_reports == 0 {
            return Err(invalid("queue_max_reports", "must be at least 1".into()));
        }
        if !(1..=cairn_proto::MAX_REPORTS_PER_SUBMIT).contains(&self.batch_max) {
            return Err(invalid(
                "batch_max",
                format!(
                    "must be 1 to {}, got {}",
                    cairn_proto::MAX_REPORTS_PER_SUBMIT,
                    self.batch_max
                ),
            ));
        }
        if !(10_000..=30 * 24 * 3_600_000).contains(&self.session_ms) {
            return Err(invalid(
                "session_ms",
                format!(
                    "must be 10000 (10 s) to 2592000000 (30 days), got {}",
                    self.session_ms
                ),
            ));
        }
        if self.backoff_initial_ms == 0 || self.backoff_initial_ms > 3_600_000 {
            return Err(invalid(
                "backoff_initial_ms",
                format!("must be 1 to 3600000, got {}", self.backoff_initial_ms),
            ));
        }
        if self.backoff_max_ms < self.backoff_initial_ms || self.backoff_max_ms > 3_600_000 {
            return Err(invalid(
                "backoff_max_ms",
                format!(
                    "must be backoff_initial_ms ({}) to 3600000, got {}",
                    self.backoff_initial_ms, self.backoff_max_ms
                ),
            ));
        }
        check_url("ingest", &self.ingest)?;
        if self.ingest.starts_with("https:") {
            return Err(invalid(
                "ingest",
                format!(
                    "{:?}: this agent is built without TLS; use http:// (for a remote \
                     ingest, through a local TLS-terminating proxy or tunnel)",
                    self.ingest
                ),
            ));
        }
        check_url("node_rpc", &self.node_rpc)?;
        check_loopback(&self.admin_listen).map_err(|message| invalid("admin_listen", message))?;
        if let Some(service) = &self.service {
            if !matches!(self.kind, AgentKind::Storage | AgentKind::Compute) {
                return Err(invalid(
                    "service",
                    format!(
                        "a {} device serves no consumers; remove [service]",
                        self.kind
                    ),
                ));
            }
            let url = service.public_url();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 256 {
                return Err(invalid(
                    "service",
                    format!("url must be http:// or https:// and at most 256 bytes, got {url:?}"),
                ));
            }
            if service.job_slots == 0 || service.job_slots > 256 {
                return Err(invalid(
                    "service",
                    format!("job_slots must be 1 to 256, got {}", service.job_slots),
                ));
            }
            if service.max_object_bytes == 0 {
                return Err(invalid(
                    "service",
                    "max_object_bytes must be at least 1".into(),
                ));
            }
        }
        Ok(())
    }
}

/// `CAIRN_AGENT_` + the field in upper case.
pub fn env_var(field: &str) -> String {
    format!("{ENV_PREFIX}{}", field.to_ascii_uppercase())
}

fn parse_env<T, E: fmt::Display>(
    field: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ConfigError> {
    parse(value).map_err(|e| ConfigError::Env {
        var: env_var(field),
        message: format!("cannot use {value:?}: {e}"),
    })
}

fn absolute_env(field: &'static str, path: &Path) -> Result<PathBuf, ConfigError> {
    std::path::absolute(path).map_err(|e| ConfigError::Env {
        var: env_var(field),
        message: format!("cannot resolve {}: {e}", path.display()),
    })
}

fn check_url(field: &'static str, url: &str) -> Result<(), ConfigError> {
    let problem = match url.parse::<tonic::codegen::http::Uri>() {
        Err(e) => Some(e.to_string()),
        Ok(uri) => match (uri.scheme_str(), uri.authority()) {
            (Some("http" | "https"), Some(_)) => None,
            (Some("http" | "https"), None) => Some("no host".to_owned()),
            _ => Some("the scheme must be http:// or https://".to_owned()),
        },
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(ConfigError::Invalid {
            field,
            message: format!("{url:?} is not a usable URL: {why}"),
        }),
    }
}

/// The admin endpoint serves operational data without authentication, so it may only
/// listen on a loopback address (`127.0.0.0/8` or `::1`).
pub fn check_loopback(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{addr} is not a loopback address; the admin endpoint has no authentication \
             and may only listen on 127.0.0.1 or [::1] (reach it remotely through an SSH \
             tunnel or a reverse proxy)"
        ))
    }
}
