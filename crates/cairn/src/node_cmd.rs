//! `cairn node`, `cairn devnet` and `cairn testnet`: running validators.
//!
//! A node is configured by a TOML file (every field documented in `docs/NODE.md`), each
//! field overridable by a `CAIRN_*` environment variable. `--dev` (and `cairn devnet`)
//! create a fresh one-validator chain in a data directory: keys, a genesis with a funded
//! dev account, and the config, then run it. `cairn testnet init` writes the same for N
//! validators on loopback, which form a BFT network when each is started with its config.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use cairn_chain::application::BuildConfig;
use cairn_chain::engine::EngineConfig;
use cairn_chain::net::{ValidatorNet, run_validator};
use cairn_core::{KeyUri, NetworkId, PublicKey, Tokens};
use cairn_ledger::Genesis;
use cairn_ledger::genesis::{Allocation, GenesisMaker, GenesisValidator};
use cairn_ledger::tx::ParamValue;
use cairn_node::mempool::MempoolConfig;
use cairn_node::node::{Node, NodeOptions};

use crate::ingest_cmd::{IngestToml, PriceFeedToml, start_ingest};
use clap::Args;
use serde::{Deserialize, Serialize};

/// A committee member: its validator key and peer-to-peer address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub key: PublicKey,
    pub address: SocketAddr,
}

/// Consensus timing, milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusToml {
    pub leader_timeout_ms: u64,
    pub certification_timeout_ms: u64,
    pub timeout_retry_ms: u64,
    pub skip_timeout_ms: u64,
    pub fetch_timeout_ms: u64,
    pub empty_block_interval_ms: u64,
    pub max_future_skew_ms: u64,
}

impl Default for ConsensusToml {
    fn default() -> Self {
        ConsensusToml {
            leader_timeout_ms: 2_000,
            certification_timeout_ms: 3_000,
            timeout_retry_ms: 500,
            skip_timeout_ms: 6_000,
            fetch_timeout_ms: 1_000,
            empty_block_interval_ms: 1_000,
            max_future_skew_ms: 2_000,
        }
    }
}

/// Mempool limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolToml {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_per_account: usize,
    pub max_nonce_gap: u64,
}

impl Default for MempoolToml {
    fn default() -> Self {
        let d = MempoolConfig::default();
        MempoolToml {
            max_txs: d.max_txs,
            max_bytes: d.max_bytes,
            max_per_account: d.max_per_account,
            max_nonce_gap: d.max_nonce_gap,
        }
    }
}

/// The node's configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Directory for the chain's data; relative paths are relative to the config file.
    pub data_dir: PathBuf,
    /// The genesis file (JSON).
    pub genesis: PathBuf,
    /// The validator's key: `file:///absolute/path` or a path.
    pub validator_key: String,
    /// Peer-to-peer listen address.
    pub p2p_listen: SocketAddr,
    /// RPC listen address (keep it on 127.0.0.1 unless a proxy fronts it).
    pub rpc_listen: SocketAddr,
    /// Every committee member (this validator included) and where to reach it.
    pub committee: Vec<Peer>,
    /// Write a state snapshot every this many blocks.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u64,
    #[serde(default)]
    pub consensus: ConsensusToml,
    #[serde(default)]
    pub mempool: MempoolToml,
    /// The device ingest service (off unless `enabled = true`).
    #[serde(default)]
    pub ingest: IngestToml,
    /// A fixed-price feed this node submits as a price oracle (devnets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_feed: Option<PriceFeedToml>,
    /// The challenger and verifier (run with ingest).
    #[serde(default)]
    pub verifier: crate::services::VerifierToml,
    /// The rewarder: each epoch's rewards, manifests signed with the oracle keys named.
    #[serde(default)]
    pub rewarder: crate::rewarder::RewarderToml,
    /// The index (the explorer's read model and API) and the explorer pages.
    #[serde(default)]
    pub index: crate::indexer::IndexToml,
}

fn default_snapshot_every() -> u64 {
    1_000
}

impl NodeConfig {
    /// Read a config file, apply `CAIRN_*` overrides, and resolve relative paths.
    pub fn load(path: &Path) -> Result<NodeConfig> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: NodeConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        config.apply_env()?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.data_dir = base.join(&config.data_dir);
        config.genesis = base.join(&config.genesis);
        if !config.validator_key.starts_with("file://") {
            config.validator_key = base.join(&config.validator_key).display().to_string();
        }
        if let Some(feed) = &mut config.price_feed
            && !feed.key.starts_with("file://")
        {
            feed.key = base.join(&feed.key).display().to_string();
        }
        for k in &mut config.rewarder.oracle_keys {
            *k = base.join(&*k);
        }
        Ok(config)
    }

    fn apply_env(&mut self) -> Result<()> {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        }
        if let Some(v) = var("CAIRN_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("CAIRN_GENESIS") {
            self.genesis = v.into();
        }
        if let Some(v) = var("CAIRN_VALIDATOR_KEY") {
            self.validator_key = v;
        }
        if let Some(v) = var("CAIRN_P2P_LISTEN") {
            self.p2p_listen = v.parse().context("CAIRN_P2P_LISTEN")?;
        }
        if let Some(v) = var("CAIRN_RPC_LISTEN") {
            self.rpc_listen = v.parse().context("CAIRN_RPC_LISTEN")?;
        }
        if let Some(v) = var("CAIRN_SNAPSHOT_EVERY") {
            self.snapshot_every = v.parse().context("CAIRN_SNAPSHOT_EVERY")?;
        }
        self.ingest.apply_env()
    }

    fn engine(&self, network: &NetworkId) -> EngineConfig {
        let c = &self.consensus;
        let ms = Duration::from_millis;
        EngineConfig {
            namespace: cairn_ledger::faults::consensus_namespace(network),
            partition: "cairn".to_owned(),
            leader_timeout: ms(c.leader_timeout_ms),
            certification_timeout: ms(c.certification_timeout_ms),
            timeout_retry: ms(c.timeout_retry_ms),
            skip_timeout: ms(c.skip_timeout_ms),
            fetch_timeout: ms(c.fetch_timeout_ms),
            build: BuildConfig {
                empty_block_interval: ms(c.empty_block_interval_ms),
                max_future_skew: ms(c.max_future_skew_ms),
                ..BuildConfig::default()
            },
        }
    }
}

/// `cairn node`: run a validator.
#[derive(Debug, Args)]
pub struct NodeCmd {
    /// The node's TOML config (see docs/NODE.md).
    #[arg(
        long,
        env = "CAIRN_CONFIG",
        value_name = "FILE",
        required_unless_present = "dev"
    )]
    config: Option<PathBuf>,
    /// Run a one-validator dev chain: create keys, a genesis with a funded dev account
    /// and a config in --data-dir on first use, then run it.
    #[arg(long)]
    dev: bool,
    /// Data directory for --dev.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".cairn/dev",
        requires = "dev"
    )]
    data_dir: PathBuf,
    /// With --dev: delete the data directory and start a new chain.
    #[arg(long, requires = "dev")]
    fresh: bool,
    /// With --dev: RPC address.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:7480",
        requires = "dev"
    )]
    rpc: SocketAddr,
    /// With --dev: ingest (device gRPC) address.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:7481",
        requires = "dev"
    )]
    ingest: SocketAddr,
    /// With --dev, for a new chain: a genesis parameter, NAME=VALUE (repeatable; names
    /// as `cairn params` lists them).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param, requires = "dev")]
    params: Vec<ParamValue>,
}

/// `NAME=VALUE` for a genesis parameter.
fn parse_param(s: &str) -> Result<ParamValue, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))?;
    let param: cairn_ledger::ParamId = name.trim().parse().map_err(|e| format!("{e}"))?;
    let value: u128 = value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: {value:?} is not a whole number"))?;
    cairn_ledger::Params::check_bounds(param, value).map_err(|e| e.to_string())?;
    Ok(ParamValue { param, value })
}

/// Parameters every dev chain starts with: one-minute verification epochs, so a devnet
/// shows challenges, verdicts and rewards within minutes.
fn dev_params(overrides: &[ParamValue]) -> Vec<ParamValue> {
    let mut params = vec![ParamValue {
        param: cairn_ledger::ParamId::EpochDurationMs,
        value: 60_000,
    }];
    for o in overrides {
        params.retain(|p| p.param != o.param);
        params.push(*o);
    }
    params
}

impl NodeCmd {
    pub fn run(self) -> Result<()> {
        let config_path = if self.dev {
            dev_setup(
                &self.data_dir,
                self.fresh,
                self.rpc,
                self.ingest,
                &self.params,
                "node --dev",
            )?
        } else {
            self.config.expect("clap requires --config without --dev")
        };
        run_node(&config_path, None, None)
    }
}

/// `cairn devnet`: the whole network on this machine.
#[derive(Debug, Args)]
pub struct DevnetCmd {
    /// Where the devnet keeps its chain, keys and config (survives restarts).
    #[arg(long, value_name = "DIR", default_value = ".cairn/devnet")]
    data_dir: PathBuf,
    /// Delete the data directory and start a new network.
    #[arg(long)]
    fresh: bool,
    /// RPC address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7480")]
    rpc: SocketAddr,
    /// Ingest (device gRPC) address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7481")]
    ingest: SocketAddr,
    /// Simulated devices to onboard and run (kinds in turn: sensor, compute, storage,
    /// coverage), owned by the dev fleet account; about one in seven cheats (see
    /// `fleet::plan`).
    #[arg(long, value_name = "N", default_value_t = 200)]
    devices: usize,
    /// For a new devnet: a genesis parameter, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<ParamValue>,
}

impl DevnetCmd {
    pub fn run(self) -> Result<()> {
        let config = dev_setup(
            &self.data_dir,
            self.fresh,
            self.rpc,
            self.ingest,
            &self.params,
            "devnet",
        )?;
        let dir = config
            .parent()
            .expect("the config is in the data directory")
            .to_path_buf();
        // The config decides where ingest listens (`--ingest` only applies to a new devnet).
        let ingest = NodeConfig::load(&config)?.ingest.listen;
        let fleet = (self.devices > 0).then(|| crate::fleet::FleetSpec {
            dir: dir.join("fleet"),
            devices: self.devices,
            ingest,
            owner_key: dir.join("dev-fleet.key"),
            maker_key: dir.join("dev-maker.key"),
            consumer_key: dir.join("dev-consumer.key"),
        });
        run_node(&config, Some(Duration::from_secs(5)), fleet)
    }
}

/// The wall clock in Unix milliseconds (genesis times, price observations, log filters).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The dev account's allocation.
const DEV_TOKENS: u128 = 1_000_000;
/// The devnet's fixed token price: 1 USD.
const DEV_PRICE_USD_E8: u128 = 100_000_000;

/// Create (once) a one-validator chain in `dir`; returns the config path.
fn dev_setup(
    dir: &Path,
    fresh: bool,
    rpc: SocketAddr,
    ingest: SocketAddr,
    params: &[ParamValue],
    what: &str,
) -> Result<PathBuf> {
    let config_path = dir.join("node.toml");
    if fresh && dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    if config_path.exists() {
        eprintln!("cairn {what}: resuming the chain in {}", dir.display());
        if !params.is_empty() {
            eprintln!(
                "cairn {what}: --param only applies to a new chain (use --fresh); governance changes a running one"
            );
        }
        return Ok(config_path);
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let validator = KeyUri::File(dir.join("validator.key")).generate()?;
    let dev = KeyUri::File(dir.join("dev-account.key")).generate()?;
    let maker = KeyUri::File(dir.join("dev-maker.key")).generate()?;
    let oracle = KeyUri::File(dir.join("dev-oracle.key")).generate()?;
    // Two reward oracles, both signing from this node: the threshold (1 by default,
    // `--param reward_oracle_threshold=2` for both) decides how many must agree.
    let reward_oracles = [
        KeyUri::File(dir.join("dev-reward-1.key")).generate()?,
        KeyUri::File(dir.join("dev-reward-2.key")).generate()?,
    ];
    let fleet = KeyUri::File(dir.join("dev-fleet.key")).generate()?;
    let consumer = KeyUri::File(dir.join("dev-consumer.key")).generate()?;
    let network = NetworkId::new("cairn-devnet").expect("valid id");
    let genesis = Genesis {
        network: network.clone(),
        time_ms: now_ms(),
        allocations: vec![
            Allocation {
                account: dev,
                tokens: Tokens::whole(DEV_TOKENS).expect("fits"),
            },
            // The price feed's fees.
            Allocation {
                account: oracle,
                tokens: Tokens::whole(10_000).expect("fits"),
            },
            // The devnet's simulated fleet owner: onboarding fees and bonds.
            Allocation {
                account: fleet,
                tokens: Tokens::whole(100_000).expect("fits"),
            },
            // The devnet's simulated consumers: credits for storage, compute, sensor data.
            Allocation {
                account: consumer,
                tokens: Tokens::whole(100_000).expect("fits"),
            },
            // The reward oracles' fees.
            Allocation {
                account: reward_oracles[0],
                tokens: Tokens::whole(10_000).expect("fits"),
            },
            Allocation {
                account: reward_oracles[1],
                tokens: Tokens::whole(10_000).expect("fits"),
            },
        ],
        treasury: Tokens::whole(10_000_000).expect("fits"),
        validators: vec![GenesisValidator {
            key: validator,
            power: 1,
        }],
        price_oracles: vec![oracle],
        reward_oracles: reward_oracles.to_vec(),
        verifier_oracles: vec![dev],
        makers: vec![GenesisMaker {
            key: maker,
            name: "Cairn dev maker".into(),
        }],
        params: dev_params(params),
    };
    fs::write(
        dir.join("genesis.json"),
        serde_json::to_string_pretty(&genesis)?,
    )?;
    let p2p: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let config = NodeConfig {
        data_dir: "chain".into(),
        genesis: "genesis.json".into(),
        validator_key: "validator.key".into(),
        p2p_listen: p2p,
        rpc_listen: rpc,
        committee: vec![Peer {
            key: validator,
            address: p2p,
        }],
        snapshot_every: default_snapshot_every(),
        consensus: ConsensusToml::default(),
        mempool: MempoolToml::default(),
        ingest: IngestToml {
            enabled: true,
            listen: ingest,
            ..IngestToml::default()
        },
        price_feed: Some(PriceFeedToml {
            key: "dev-oracle.key".into(),
            usd_per_token_e8: DEV_PRICE_USD_E8,
            every_s: 60,
        }),
        verifier: Default::default(),
        rewarder: crate::rewarder::RewarderToml {
            enabled: true,
            oracle_keys: vec!["dev-reward-1.key".into(), "dev-reward-2.key".into()],
            verdicts_url: None,
        },
        index: Default::default(),
    };
    fs::write(&config_path, toml::to_string_pretty(&config)?)?;
    eprintln!(
        "cairn {what}: created a new one-validator chain in {}",
        dir.display()
    );
    eprintln!("  network      {network}");
    eprintln!("  config       {}", dir.join("node.toml").display());
    eprintln!("  genesis      {}", dir.join("genesis.json").display());
    eprintln!(
        "  validator    {}  (key file validator.key)",
        validator.to_did()
    );
    eprintln!(
        "  dev account  {}  (key file {}, {DEV_TOKENS} tokens)",
        dev.to_did(),
        dir.join("dev-account.key").display()
    );
    eprintln!(
        "  dev maker    {}  (key file {})",
        maker.to_did(),
        dir.join("dev-maker.key").display()
    );
    eprintln!(
        "  price feed   {}  (key file dev-oracle.key, 1 USD per token)",
        oracle.to_did()
    );
    Ok(config_path)
}

/// Open the node described by `config_path` and run it until Ctrl-C.
fn run_node(
    config_path: &Path,
    summary_every: Option<Duration>,
    fleet: Option<crate::fleet::FleetSpec>,
) -> Result<()> {
    let config = NodeConfig::load(config_path)?;
    let genesis: Genesis = serde_json::from_str(
        &fs::read_to_string(&config.genesis)
            .with_context(|| format!("reading {}", config.genesis.display()))?,
    )
    .with_context(|| format!("parsing {}", config.genesis.display()))?;
    let genesis_state = genesis
        .into_state()
        .with_context(|| format!("{}", config.genesis.display()))?;
    let network = genesis_state.network.clone();
    let key = KeyUri::parse(&config.validator_key)?.load_keypair()?;
    let committee: Vec<(PublicKey, SocketAddr)> = config
        .committee
        .iter()
        .map(|p| (p.key, p.address))
        .collect();
    for (k, _) in &committee {
        if !genesis_state
            .authorities
            .validators
            .iter()
            .any(|(v, _)| v == k)
        {
            bail!("committee member {} is not a genesis validator", k.to_did());
        }
    }
    let node = Node::open(
        genesis_state,
        NodeOptions {
            data_dir: config.data_dir.join("ledger"),
            mempool: MempoolConfig {
                max_txs: config.mempool.max_txs,
                max_bytes: config.mempool.max_bytes,
                max_per_account: config.mempool.max_per_account,
                max_nonce_gap: config.mempool.max_nonce_gap,
            },
            snapshot_every: config.snapshot_every,
        },
    )?;
    let rpc_listen = config.rpc_listen;
    eprintln!(
        "cairn node: network {network}, validator {}, height {}, RPC http://{rpc_listen}",
        key.public().to_did(),
        node.height().0
    );
    let net = ValidatorNet {
        storage_dir: config.data_dir.join("engine"),
        listen: config.p2p_listen,
        committee,
        engine: config.engine(&network),
        threads: 2,
    };
    let failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let failed = Arc::clone(&failure);
    let ingest = config.ingest.clone();
    let price_feed = config.price_feed.clone();
    let verifier = config.verifier.clone();
    let rewarder = config.rewarder.clone();
    let index = config.index.clone();
    let data_dir = config.data_dir.clone();
    // The fault reporter signs with the validator key (a second copy: consensus holds one).
    let reporter_key = KeyUri::parse(&config.validator_key)?.load_keypair()?;
    run_validator(node, &key, net, move |node: Arc<Node>| async move {
        let listener = match tokio::net::TcpListener::bind(rpc_listen).await {
            Ok(l) => l,
            Err(e) => {
                *failed.lock().expect("lock") =
                    Some(format!("cannot listen for RPC on {rpc_listen}: {e}"));
                return;
            }
        };
        let ingest_config = ingest;
        let ingest = if ingest_config.enabled {
            match start_ingest(Arc::clone(&node), &ingest_config, &data_dir).await {
                Ok(i) => Some(i),
                Err(e) => {
                    *failed.lock().expect("lock") = Some(format!("{e:#}"));
                    return;
                }
            }
        } else {
            None
        };
        let services = match (&ingest, verifier.enabled) {
            (Some(i), true) => {
                let started = ingest_config.store(&data_dir).and_then(|store| {
                    crate::services::start(Arc::clone(&node), i.service.clone(), store, &data_dir)
                });
                match started {
                    Ok(s) => Some(s),
                    Err(e) => {
                        *failed.lock().expect("lock") = Some(format!("{e:#}"));
                        if let Some(i) = ingest {
                            i.stop().await;
                        }
                        return;
                    }
                }
            }
            _ => None,
        };
        let (services, mut extra) = match services {
            Some((s, routes)) => (Some(s), routes),
            None => (None, axum::Router::new()),
        };
        let mut doc = if services.is_some() {
            crate::services::OPENAPI_FRAGMENT.to_owned()
        } else {
            "{}".to_owned()
        };
        let rewarder = if rewarder.enabled {
            use crate::rewarder::VerdictSource;
            let verdicts = match (&services, &rewarder.verdicts_url) {
                (Some(_), _) => VerdictSource::Local(data_dir.join("verdicts")),
                (None, Some(url)) => VerdictSource::Remote(url.clone()),
                (None, None) => VerdictSource::Nowhere,
            };
            match crate::rewarder::start(Arc::clone(&node), &rewarder, &data_dir, verdicts) {
                Ok((task, routes)) => {
                    extra = extra.merge(routes);
                    doc = cairn_node::rpc::merge_openapi(&doc, crate::rewarder::OPENAPI_FRAGMENT)
                        .expect("the rewarder's OpenAPI fragment is valid JSON");
                    Some(task)
                }
                Err(e) => {
                    *failed.lock().expect("lock") = Some(format!("{e:#}"));
                    return;
                }
            }
        } else {
            None
        };
        let consumers = fleet.as_ref().filter(|f| f.consumer_key.exists()).map(|f| {
            (
                f.consumer_key.clone(),
                crate::consumers::SharedStats::default(),
            )
        });
        let mut index_handle = None;
        let indexer = if index.enabled {
            let sources = crate::indexer::Sources {
                node: Arc::clone(&node),
                verdicts: data_dir.join("verdicts"),
                rewards: data_dir.join("rewards"),
                ingest: ingest.as_ref().map(|i| i.service.clone()),
                summary: summary_every.is_some(),
                consumers: consumers.as_ref().map(|(_, s)| Arc::clone(s)),
            };
            match crate::indexer::start(&index, &data_dir, sources).await {
                Ok((task, routes, handle)) => {
                    index_handle = Some(handle);
                    extra = extra.merge(routes).merge(crate::explorer::routes());
                    doc = cairn_node::rpc::merge_openapi(&doc, cairn_index::api::OPENAPI_FRAGMENT)
                        .expect("the index's OpenAPI fragment is valid JSON");
                    eprintln!("cairn node: explorer at http://{rpc_listen}/");
                    Some(task)
                }
                Err(e) => {
                    *failed.lock().expect("lock") = Some(format!("{e:#}"));
                    if let Some(r) = rewarder {
                        r.abort();
                    }
                    if let Some(s) = services {
                        s.stop().await;
                    }
                    if let Some(i) = ingest {
                        i.stop().await;
                    }
                    return;
                }
            }
        } else {
            None
        };
        let extra = extra.merge(crate::node_metrics::routes(crate::node_metrics::Sources {
            node: Arc::clone(&node),
            index: index_handle,
            ingest: ingest.as_ref().map(|i| i.service.clone()),
        }));
        let doc = cairn_node::rpc::merge_openapi(&doc, crate::node_metrics::OPENAPI_FRAGMENT)
            .expect("the metrics OpenAPI fragment is valid JSON");
        let rpc = tokio::spawn(cairn_node::rpc::serve_with_routes(
            Arc::clone(&node),
            listener,
            extra,
            doc,
        ));
        let feed = price_feed
            .map(|f| tokio::spawn(crate::ingest_cmd::run_price_feed(Arc::clone(&node), f)));
        let fault_reporter = tokio::spawn(crate::fault_reporter::run(
            Arc::clone(&node),
            reporter_key,
            Duration::from_secs(5),
        ));
        let (stop_fleet, fleet_stopped) = tokio::sync::watch::channel(false);
        let fleet =
            fleet.map(|f| tokio::spawn(crate::fleet::run(Arc::clone(&node), f, fleet_stopped)));
        if let Some((key, stats)) = consumers {
            // Blocking client code (the CLI's), on a thread of its own; it ends with the
            // process.
            let spec = crate::consumers::ConsumerSpec {
                key,
                rpc: format!("http://{rpc_listen}"),
                every: Duration::from_secs(20),
            };
            let node = Arc::clone(&node);
            std::thread::spawn(move || crate::consumers::run(node, spec, stats));
        }
        let summary = summary_every.map(|every| {
            let stats = ingest.as_ref().map(|i| i.service.clone());
            tokio::spawn(summary(Arc::clone(&node), every, stats))
        });
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("cairn node: shutting down at height {}", node.height().0);
        if let Some(feed) = feed {
            feed.abort();
        }
        fault_reporter.abort();
        // The fleet's connections and the summary's stats hold the ingest service, which
        // must be gone before the log writer can seal: stop the agents cleanly first.
        let _ = stop_fleet.send(true);
        if let Some(mut fleet) = fleet
            && tokio::time::timeout(Duration::from_secs(5), &mut fleet)
                .await
                .is_err()
        {
            fleet.abort();
        }
        if let Some(summary) = summary {
            summary.abort();
            let _ = summary.await;
        }
        if let Some(rewarder) = rewarder {
            rewarder.abort();
        }
        if let Some(indexer) = indexer {
            indexer.abort();
            let _ = indexer.await;
        }
        // The challenger holds the ingest service too.
        if let Some(services) = services {
            services.stop().await;
        }
        if let Some(ingest) = ingest {
            ingest.stop().await;
        }
        rpc.abort();
    })?;
    if let Some(e) = failure.lock().expect("lock").take() {
        bail!(e);
    }
    Ok(())
}

/// The devnet's live line: height, transactions, mempool.
async fn summary(node: Arc<Node>, every: Duration, ingest: Option<cairn_ingest::IngestService>) {
    let mut feed = node.subscribe();
    let mut txs = 0usize;
    let mut blocks = 0usize;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            b = feed.recv() => match b {
                Ok(b) => { blocks += 1; txs += b.block.txs.len(); }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            },
            _ = tick.tick() => {
                let (height, digest) = node.tip();
                let reports = ingest.as_ref().map(|i| {
                    let s = i.stats();
                    format!(
                        "  devices {} sessions, reports {} stored ({} dup, {} refused)",
                        s.sessions_open, s.reports_accepted, s.reports_duplicate, s.requests_rejected
                    )
                }).unwrap_or_default();
                eprintln!(
                    "height {:>7}  block {}…  last {:>2}s: {blocks} blocks, {txs} txs  mempool {}{reports}{}",
                    height.0,
                    &digest.to_hex()[..12],
                    every.as_secs(),
                    node.mempool_len(),
                    node.halted().map(|h| format!("  HALTED: {h}")).unwrap_or_default(),
                );
                blocks = 0;
                txs = 0;
            }
        }
    }
}

/// `cairn testnet init`: configs for N validators on loopback.
#[derive(Debug, Args)]
pub struct TestnetInitCmd {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Directory to create (one subdirectory per validator).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// First port; validator i uses p2p port BASE+2i and RPC port BASE+2i+1; validator 0
    /// takes device reports on ingest port BASE+2N.
    #[arg(long, default_value_t = 7500)]
    base_port: u16,
    /// A genesis parameter, NAME=VALUE (repeatable; names as `cairn params` lists them).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<ParamValue>,
}

impl TestnetInitCmd {
    pub fn run(self) -> Result<()> {
        if self.validators == 0 {
            bail!("--validators must be at least 1");
        }
        if self.dir.exists() {
            bail!(
                "{} already exists; refusing to overwrite a testnet",
                self.dir.display()
            );
        }
        fs::create_dir_all(&self.dir)?;
        let dir = self.dir.canonicalize()?;
        let n = self.validators;
        let port = |k: usize| -> Result<u16> {
            u16::try_from(usize::from(self.base_port) + k).map_err(|_| {
                anyhow::anyhow!(
                    "--base-port {} leaves no room for {n} validators",
                    self.base_port
                )
            })
        };
        let mut members = Vec::new();
        for i in 0..n {
            let vdir = dir.join(format!("v{i}"));
            fs::create_dir_all(&vdir)?;
            let key = KeyUri::File(vdir.join("validator.key")).generate()?;
            // Each validator also runs a reward oracle with its own key: the manifest is
            // computed on every machine and accepted once a majority signed the same one.
            let oracle = KeyUri::File(vdir.join("reward-oracle.key")).generate()?;
            members.push((
                vdir,
                Peer {
                    key,
                    address: SocketAddr::from(([127, 0, 0, 1], port(2 * i)?)),
                },
                SocketAddr::from(([127, 0, 0, 1], port(2 * i + 1)?)),
                oracle,
            ));
        }
        let ingest_listen = SocketAddr::from(([127, 0, 0, 1], port(2 * n)?));
        let funded = KeyUri::File(dir.join("funded.key")).generate()?;
        // Validators pay the fees of reporting each other's faults, oracles those of
        // submitting their signatures.
        let fees = Tokens::whole(1_000).expect("fits");
        let mut allocations = vec![Allocation {
            account: funded,
            tokens: Tokens::whole(DEV_TOKENS).expect("fits"),
        }];
        for (_, peer, _, oracle) in &members {
            allocations.push(Allocation {
                account: peer.key,
                tokens: fees,
            });
            allocations.push(Allocation {
                account: *oracle,
                tokens: fees,
            });
        }
        let mut params = vec![ParamValue {
            param: cairn_ledger::ParamId::RewardOracleThreshold,
            value: (n / 2 + 1) as u128,
        }];
        for o in &self.params {
            params.retain(|p| p.param != o.param);
            params.push(*o);
        }
        let genesis = Genesis {
            network: NetworkId::new("cairn-testnet").expect("valid id"),
            time_ms: now_ms(),
            allocations,
            treasury: Tokens::whole(10_000_000).expect("fits"),
            validators: members
                .iter()
                .map(|(_, p, _, _)| GenesisValidator {
                    key: p.key,
                    power: 1,
                })
                .collect(),
            price_oracles: vec![funded],
            reward_oracles: members.iter().map(|(_, _, _, o)| *o).collect(),
            verifier_oracles: vec![funded],
            makers: vec![],
            params,
        };
        // Refuse a genesis the nodes would refuse (e.g. a parameter out of bounds).
        genesis.clone().into_state().context("genesis")?;
        let genesis_path = dir.join("genesis.json");
        fs::write(&genesis_path, serde_json::to_string_pretty(&genesis)?)?;
        let committee: Vec<Peer> = members.iter().map(|(_, p, _, _)| p.clone()).collect();
        let verifier_rpc = format!("http://{}", members[0].2);
        for (i, (vdir, peer, rpc, _)) in members.iter().enumerate() {
            // Validator 0 takes device reports and runs the challenger and verifier (one
            // per network); the others' reward oracles read its verdict batches.
            let ingest = IngestToml {
                enabled: i == 0,
                listen: ingest_listen,
                ..IngestToml::default()
            };
            let config = NodeConfig {
                data_dir: "data".into(),
                genesis: genesis_path.clone(),
                validator_key: "validator.key".into(),
                p2p_listen: peer.address,
                rpc_listen: *rpc,
                committee: committee.clone(),
                snapshot_every: default_snapshot_every(),
                consensus: ConsensusToml::default(),
                mempool: MempoolToml::default(),
                ingest,
                price_feed: None,
                verifier: Default::default(),
                rewarder: crate::rewarder::RewarderToml {
                    enabled: true,
                    oracle_keys: vec!["reward-oracle.key".into()],
                    verdicts_url: (i > 0).then(|| verifier_rpc.clone()),
                },
                index: Default::default(),
            };
            fs::write(vdir.join("node.toml"), toml::to_string_pretty(&config)?)?;
            println!(
                "{}  rpc http://{rpc}  config {}",
                peer.key.to_did(),
                vdir.join("node.toml").display()
            );
        }
        println!("funded account key: {}", dir.join("funded.key").display());
        println!(
            "device reports: ingest on validator 0 at {ingest_listen}; reward manifests need {} of {n} oracles",
            n / 2 + 1
        );
        Ok(())
    }
}
