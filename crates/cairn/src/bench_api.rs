//! `cairn bench api`: the explorer API's latency with a large network indexed.
//!
//! A seeded synthetic network (`cairn_index::synth`: a real ledger state, a verdict batch
//! and a rewards record) is written into a fresh index through the same writes a node's
//! indexer makes; the index's routes are served over real HTTP on loopback; client threads
//! ask for random devices, cells and device lists. Two floors are measured in the same run
//! on the same server and client: an HTTP route that answers a constant (what the HTTP
//! stack and the client cost) and a primary-key read straight from the database (what one
//! indexed lookup costs). Client and server share this machine's cores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::routing::get;
use cairn_index::{BlockFacts, Index, synth};
use clap::Args;

#[derive(Debug, Args)]
pub struct ApiBench {
    /// Devices in the synthetic network.
    #[arg(long, default_value_t = 100_000)]
    devices: usize,
    /// Requests per endpoint.
    #[arg(long, default_value_t = 4_000)]
    requests: usize,
    /// Client threads (they share this machine's cores with the server).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// The index database: a SQLite file in a temporary folder unless a URL is given
    /// (`postgres://…` is emptied first).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Seed of the synthetic network and of the requests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Latency figures of one endpoint, microseconds.
struct Figures {
    p50: u64,
    p99: u64,
    max: u64,
    per_s: f64,
}

fn figures(mut micros: Vec<u64>, wall: Duration) -> Figures {
    micros.sort_unstable();
    let at = |q: usize| micros[(micros.len() * q / 100).min(micros.len() - 1)];
    Figures {
        p50: at(50),
        p99: at(99),
        max: *micros.last().unwrap_or(&0),
        per_s: micros.len() as f64 / wall.as_secs_f64().max(1e-9),
    }
}

/// Fire `paths` (cycled) from `threads` threads, each with its own connection pool;
/// every answer must be 200.
fn load(
    addr: SocketAddr,
    paths: Arc<Vec<String>>,
    requests: usize,
    threads: usize,
) -> Result<Figures> {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let paths = Arc::clone(&paths);
            std::thread::spawn(move || -> Result<Vec<u64>> {
                let agent = crate::client::http(Duration::from_secs(30));
                let mut out = Vec::new();
                let mut i = t;
                while i < requests {
                    let url = format!("http://{addr}{}", paths[i % paths.len()]);
                    let t0 = Instant::now();
                    let mut response = agent
                        .get(&url)
                        .call()
                        .with_context(|| format!("GET {url}"))?;
                    let body = response.body_mut().read_to_vec()?;
                    if response.status() != 200 {
                        bail!(
                            "GET {url}: {} {}",
                            response.status(),
                            String::from_utf8_lossy(&body)
                        );
                    }
                    out.push(t0.elapsed().as_micros() as u64);
                    i += threads;
                }
                Ok(out)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(requests);
    for h in handles {
        all.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))??,
        );
    }
    Ok(figures(all, started.elapsed()))
}

/// A small seeded generator for picking request targets.
fn pick(seed: u64, i: u64, n: usize) -> usize {
    let h = blake3::hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat());
    (u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")) % n as u64) as usize
}

impl ApiBench {
    pub fn run(self) -> Result<()> {
        if self.devices == 0 || self.requests == 0 || self.concurrency == 0 {
            bail!("--devices, --requests and --concurrency must be at least 1");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let dir = tempfile::tempdir()?;
        let url = self
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("index.db").display()));

        eprintln!("building a synthetic network of {} devices…", self.devices);
        let t = Instant::now();
        let net = synth::network(self.devices, self.seed);
        eprintln!("  built in {:.1} s", t.elapsed().as_secs_f64());

        let (index, load_s) = runtime.block_on(async {
            let db = cairn_index::Db::connect(&url).await?;
            db.reset().await?;
            let index = Index::open(&url).await?;
            let t = Instant::now();
            let block = BlockFacts {
                height: net.state.height.0,
                digest: cairn_core::Hash::of(b"bench"),
                time_ms: net.state.time_ms,
                txs: vec![],
            };
            let delta = cairn_index::delta(None, &net.state);
            let t_delta = t.elapsed().as_secs_f64();
            index.apply_ledger(&[block], &delta).await?;
            let t_ledger = t.elapsed().as_secs_f64();
            index.apply_verdicts(&net.batch, 100).await?;
            let t_verdicts = t.elapsed().as_secs_f64();
            index.apply_rewards(&net.record).await?;
            let t_rewards = t.elapsed().as_secs_f64();
            eprintln!(
                "  rows from the state {t_delta:.1} s, ledger rows written {:.1} s, verdicts {:.1} s, rewards {:.1} s",
                t_ledger - t_delta,
                t_verdicts - t_ledger,
                t_rewards - t_verdicts
            );
            anyhow::Ok((index, t_rewards))
        })?;
        eprintln!(
            "  indexed {} devices, {} verdicts and an epoch's rewards in {load_s:.1} s ({})",
            self.devices,
            net.batch.verdicts.len(),
            cairn_index::store::redact(&url)
        );

        // The floors: a constant answer over the same HTTP stack, and one primary-key read.
        let probe = index.clone();
        let app = cairn_index::api::routes(index.clone())
            .merge(Router::new().route("/bench/constant", get(|| async { "{}" })))
            .merge(Router::new().route(
                "/bench/row/{did}",
                get(
                    move |axum::extract::Path(did): axum::extract::Path<String>| {
                        let probe = probe.clone();
                        async move {
                            match probe.db.device_row_exists(&did).await {
                                Ok(true) => (axum::http::StatusCode::OK, "{}"),
                                _ => (axum::http::StatusCode::NOT_FOUND, "{}"),
                            }
                        }
                    },
                ),
            ));
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let n = self.requests;
        let dids: Vec<String> = (0..n as u64)
            .map(|i| net.devices[pick(self.seed, i, net.devices.len())].to_did())
            .collect();
        let cells = synth::cells_at(&net, 8);
        let cell_paths: Vec<String> = (0..n as u64)
            .map(|i| {
                format!(
                    "/v1/index/cells/{}",
                    cells[pick(self.seed ^ 1, i, cells.len())]
                )
            })
            .collect();
        let kinds = ["coverage", "storage", "compute", "sensor"];
        let list_paths: Vec<String> = (0..n as u64)
            .map(|i| {
                let d = &dids[pick(self.seed ^ 2, i, dids.len())];
                format!(
                    "/v1/index/devices?kind={}&limit=50&after={d}",
                    kinds[pick(self.seed ^ 3, i, kinds.len())]
                )
            })
            .collect();
        let runs: Vec<(&str, Vec<String>)> = vec![
            (
                "floor: constant over HTTP",
                vec!["/bench/constant".to_owned()],
            ),
            (
                "floor: one indexed row",
                dids.iter().map(|d| format!("/bench/row/{d}")).collect(),
            ),
            (
                "GET /v1/index/devices/{did}",
                dids.iter()
                    .map(|d| format!("/v1/index/devices/{d}"))
                    .collect(),
            ),
            ("GET /v1/index/cells/{res-8 cell}", cell_paths),
            ("GET /v1/index/devices?kind&after", list_paths),
        ];
        eprintln!(
            "measuring {n} requests per endpoint from {} client threads (client and server share this machine)…",
            self.concurrency
        );
        let mut results = Vec::new();
        for (name, paths) in runs {
            // A short warm-up so connections and caches are open before measuring.
            load(addr, Arc::new(paths.clone()), n.min(200), self.concurrency)?;
            let f = load(addr, Arc::new(paths), n, self.concurrency)?;
            results.push((name, f));
        }
        let floor = results[0].1.p50.max(1);
        println!(
            "cairn bench api: {} devices indexed ({})",
            self.devices,
            if url.starts_with("sqlite:") {
                "SQLite"
            } else {
                "PostgreSQL"
            }
        );
        println!(
            "{:<36} {:>9} {:>9} {:>9} {:>10} {:>12}",
            "endpoint", "p50 ms", "p99 ms", "max ms", "req/s", "p50 / floor"
        );
        for (name, f) in &results {
            println!(
                "{name:<36} {:>9.2} {:>9.2} {:>9.2} {:>10.0} {:>11.1}x",
                f.p50 as f64 / 1000.0,
                f.p99 as f64 / 1000.0,
                f.max as f64 / 1000.0,
                f.per_s,
                f.p50 as f64 / floor as f64
            );
        }
        let worst = results[2..].iter().map(|(_, f)| f.p99).max().unwrap_or(0);
        println!(
            "worst p99 of the index endpoints: {:.2} ms (target: under 20 ms)",
            worst as f64 / 1000.0
        );
        runtime.shutdown_timeout(Duration::from_secs(1));
        Ok(())
    }
}
