//! The node's Prometheus metrics: `GET /metrics` (OpenMetrics text) on the RPC listener,
//! read from the finalized ledger state at each scrape, so they survive restarts and need
//! no bookkeeping: chain height and epoch, supply, the latest settled epoch's
//! sustainability figures, and the circuit breakers (tripped now, and when last); with
//! ingest and the index, the network's figures too (sessions, reports, devices by kind and
//! status, the latest epoch's verdicts by reason, rewards paid, cheaters caught).
//!
//! Amounts are in base units (tokens: 10^-8; credits: 10^-5 USD) as integers; a value
//! beyond `i64` reads as `i64::MAX`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_ledger::ParamId;
use cairn_ledger::State as LedgerState;
use cairn_node::node::Node;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

/// The OpenAPI description of `/metrics`.
pub const OPENAPI_FRAGMENT: &str = r#"{
  "tags": [{ "name": "metrics", "description": "Prometheus metrics of the node, from the finalized ledger state." }],
  "paths": {
    "/metrics": {
      "get": {
        "operationId": "metrics",
        "tags": ["metrics"],
        "summary": "Prometheus metrics",
        "description": "OpenMetrics text: cairn_ledger_height, cairn_ledger_open_epoch, cairn_supply_tokens{part}, cairn_credits{flow}, the latest epoch's cairn_economics_* figures (emitted, burned for credits, demand coverage in ppm), cairn_circuit_breaker_tripped{breaker} (1 while the last trip is inside the breaker window) and cairn_circuit_breaker_tripped_at_height{breaker}, cairn_denylist_entries; with ingest, cairn_ingest_sessions_open and cairn_ingest_reports_accepted; with the index, cairn_devices{kind,status}, cairn_verdict_epoch, cairn_epoch_verdicts{outcome}, cairn_epoch_invalid_verdicts{kind,reason}, cairn_rewards_epoch, cairn_rewards_paid_tokens and cairn_cheaters_caught{kind,reason}. Amounts in base units.",
        "responses": {
          "200": { "description": "The metrics.", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } }
        }
      }
    }
  }
}"#;

/// Where the network figures come from besides the ledger: the index (devices by kind and
/// status, the latest epochs' verdicts, rewards and cheaters caught) and ingest (sessions,
/// reports).
#[derive(Clone)]
pub struct Sources {
    pub node: Arc<Node>,
    pub index: Option<cairn_index::Index>,
    pub ingest: Option<cairn_ingest::IngestService>,
}

pub fn routes(sources: Sources) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(sources)
}

async fn metrics(State(sources): State<Sources>) -> Response {
    let mut registry = ledger_registry(&sources.node.state());
    let mut figures = NetworkFigures::default();
    if let Some(i) = &sources.ingest {
        let s = i.stats();
        figures.ingest = Some((s.sessions_open, s.reports_accepted));
    }
    if let Some(index) = &sources.index {
        match network_figures(index, &mut figures).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "metrics: reading the index"),
        }
    }
    add_network(&mut registry, &figures);
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn int(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn family(registry: &mut Registry, name: &str, help: &str, values: &[(Labels, i64)]) {
    let f: Family<Labels, Gauge> = Family::default();
    for (labels, v) in values {
        f.get_or_create(labels).set(*v);
    }
    registry.register(name, help, f);
}

/// The metrics text for `state` (the ledger's figures only).
#[cfg(test)]
fn render(state: &LedgerState) -> String {
    let r = ledger_registry(state);
    let mut out = String::new();
    encode(&mut out, &r).expect("writing to a String cannot fail");
    out
}

/// The figures read from the index and ingest at a scrape.
#[derive(Debug, Default)]
pub struct NetworkFigures {
    /// (sessions open, reports accepted since start)
    pub ingest: Option<(u64, u64)>,
    pub devices: Vec<(&'static str, &'static str, i64)>,
    pub verdict_epoch: Option<(i64, i64, i64)>,
    /// The latest verified epoch's invalid verdicts: (kind, reason, verdicts).
    pub invalid: Vec<(&'static str, &'static str, i64)>,
    /// The latest rewarded epoch and what it paid (base units).
    pub rewards: Option<(i64, i64)>,
    /// Devices with fraud verdicts in the indexed window, by reason.
    pub cheaters: Vec<(&'static str, &'static str, i64)>,
}

fn kind_label(k: &str) -> Option<&'static str> {
    cairn_index::query::KINDS.iter().copied().find(|x| *x == k)
}

fn reason_label(name: &str) -> Option<&'static str> {
    cairn_verify::ReasonCode::ALL
        .iter()
        .map(|r| r.name())
        .find(|n| *n == name)
}

async fn network_figures(index: &cairn_index::Index, f: &mut NetworkFigures) -> anyhow::Result<()> {
    let stats = index.stats().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for kind in cairn_index::query::KINDS {
        for status in cairn_index::query::STATUSES {
            let n = stats["devices"]["by_kind"][kind][status]
                .as_i64()
                .unwrap_or(0);
            f.devices.push((kind, status, n));
        }
    }
    for r in stats["fraud"].as_array().into_iter().flatten() {
        if let (Some(k), Some(n)) = (
            r["kind"].as_str().and_then(kind_label),
            r["reason"].as_str().and_then(reason_label),
        ) {
            f.cheaters.push((k, n, r["devices"].as_i64().unwrap_or(0)));
        }
    }
    let cursors = index.cursors().await?;
    if cursors.verdict_epoch > 0 {
        let e = index
            .epoch(cursors.verdict_epoch)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        f.verdict_epoch = Some((
            cursors.verdict_epoch as i64,
            e["verdicts_valid"].as_i64().unwrap_or(0),
            e["verdicts_invalid"].as_i64().unwrap_or(0),
        ));
        for r in e["reasons"].as_array().into_iter().flatten() {
            if let (Some(k), Some(n)) = (
                r["kind"].as_str().and_then(kind_label),
                r["reason"].as_str().and_then(reason_label),
            ) {
                f.invalid.push((k, n, r["verdicts"].as_i64().unwrap_or(0)));
            }
        }
    }
    if cursors.rewards_epoch > 0 {
        let e = index
            .epoch(cursors.rewards_epoch)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let paid: cairn_core::Tokens = e["paid"].as_str().unwrap_or("0").parse()?;
        f.rewards = Some((cursors.rewards_epoch as i64, int(paid.base_units())));
    }
    Ok(())
}

/// Add the network figures to `r`.
pub fn add_network(r: &mut Registry, f: &NetworkFigures) {
    if let Some((sessions, reports)) = f.ingest {
        gauge(
            r,
            "ingest_sessions_open",
            "Device sessions open on this node's ingest",
            int(u128::from(sessions)),
        );
        gauge(
            r,
            "ingest_reports_accepted",
            "Reports stored since this node started (rate() gives reports per second)",
            int(u128::from(reports)),
        );
    }
    if !f.devices.is_empty() {
        let values: Vec<(Labels, i64)> = f
            .devices
            .iter()
            .map(|(k, s, n)| (vec![("kind", *k), ("status", *s)], *n))
            .collect();
        family(
            r,
            "devices",
            "Onboarded devices by kind and status (active, failing, denylisted, offline, pending), from the index",
            &values,
        );
    }
    if let Some((epoch, valid, invalid)) = f.verdict_epoch {
        gauge(r, "verdict_epoch", "The latest verified epoch", epoch);
        family(
            r,
            "epoch_verdicts",
            "Verdicts of the latest verified epoch by outcome",
            &[
                (vec![("outcome", "valid")], valid),
                (vec![("outcome", "invalid")], invalid),
            ],
        );
        let values: Vec<(Labels, i64)> = f
            .invalid
            .iter()
            .map(|(k, reason, n)| (vec![("kind", *k), ("reason", *reason)], *n))
            .collect();
        family(
            r,
            "epoch_invalid_verdicts",
            "Invalid verdicts of the latest verified epoch by kind and reason code",
            &values,
        );
    }
    if let Some((epoch, paid)) = f.rewards {
        gauge(
            r,
            "rewards_epoch",
            "The latest epoch whose rewards were computed",
            epoch,
        );
        gauge(
            r,
            "rewards_paid_tokens",
            "Tokens that epoch paid (withheld included), base units",
            paid,
        );
    }
    let values: Vec<(Labels, i64)> = f
        .cheaters
        .iter()
        .map(|(k, reason, n)| (vec![("kind", *k), ("reason", *reason)], *n))
        .collect();
    family(
        r,
        "cheaters_caught",
        "Devices with fraud verdicts in the index's verdict window, by kind and reason",
        &values,
    );
}

/// The ledger's figures.
fn ledger_registry(state: &LedgerState) -> Registry {
    let mut r = Registry::with_prefix("cairn");
    gauge(
        &mut r,
        "ledger_height",
        "Height of the last finalized block",
        int(u128::from(state.height.0)),
    );
    gauge(
        &mut r,
        "ledger_open_epoch",
        "The epoch whose reward manifest the ledger waits for",
        int(u128::from(state.open_epoch().0)),
    );
    let s = &state.supply;
    let tokens = |t: cairn_core::Tokens| int(t.base_units());
    family(
        &mut r,
        "supply_tokens",
        "Token supply by part, in base units (10^-8 token)",
        &[
            (vec![("part", "genesis")], tokens(s.genesis)),
            (vec![("part", "minted")], tokens(s.minted)),
            (vec![("part", "burned")], tokens(s.burned)),
            (vec![("part", "reward_escrow")], tokens(s.escrow)),
            (vec![("part", "treasury")], tokens(s.treasury)),
            (vec![("part", "rewards_burned")], tokens(s.rewards_burned)),
        ],
    );
    family(
        &mut r,
        "credits",
        "Credits minted (by burning tokens) and burned (for services and fees), in base units",
        &[
            (vec![("flow", "minted")], int(s.credits_minted.base_units())),
            (vec![("flow", "burned")], int(s.credits_burned.base_units())),
        ],
    );
    if let Some((epoch, f)) = state.economics.iter().next_back() {
        gauge(
            &mut r,
            "economics_epoch",
            "The latest epoch with sustainability figures",
            int(u128::from(epoch.0)),
        );
        gauge(
            &mut r,
            "economics_emitted_tokens",
            "Tokens emitted in that epoch, base units",
            tokens(f.emitted),
        );
        gauge(
            &mut r,
            "economics_burned_for_credits_tokens",
            "Tokens burned for credits in that epoch, base units",
            tokens(f.tokens_burned_for_credits),
        );
        gauge(
            &mut r,
            "economics_demand_coverage_ppm",
            "Value burned for credits / value emitted in that epoch, parts per million (-1: no price)",
            f.demand_coverage_ppm().map_or(-1, int),
        );
    }
    // A breaker counts as tripped while its last trip is inside the breaker window.
    let window = state.params.get(ParamId::MintBreakerWindowBlocks);
    let now = u128::from(state.height.0);
    let b = &state.breakers;
    let tripped =
        |at: Option<cairn_core::Height>| at.is_some_and(|h| now < u128::from(h.0) + window);
    family(
        &mut r,
        "circuit_breaker_tripped",
        "1 while the breaker's last trip is within mint_breaker_window_blocks",
        &[
            (
                vec![("breaker", "mint")],
                i64::from(tripped(b.mint_tripped_at)),
            ),
            (
                vec![("breaker", "treasury")],
                i64::from(tripped(b.treasury_tripped_at)),
            ),
        ],
    );
    family(
        &mut r,
        "circuit_breaker_tripped_at_height",
        "Height of the breaker's last trip (0: never)",
        &[
            (
                vec![("breaker", "mint")],
                b.mint_tripped_at.map_or(0, |h| int(u128::from(h.0))),
            ),
            (
                vec![("breaker", "treasury")],
                b.treasury_tripped_at.map_or(0, |h| int(u128::from(h.0))),
            ),
        ],
    );
    gauge(
        &mut r,
        "denylist_entries",
        "Denylist entries on the ledger (any status)",
        int(state.denylist.len() as u128),
    );
    r
}

#[cfg(test)]
mod tests {
    use cairn_core::{Height, Keypair, NetworkId, Tokens};
    use cairn_ledger::Genesis;
    use cairn_ledger::genesis::GenesisValidator;

    use super::*;

    fn state() -> LedgerState {
        Genesis {
            network: NetworkId::new("cairn-metrics").unwrap(),
            time_ms: 0,
            allocations: vec![],
            treasury: Tokens::whole(7).unwrap(),
            validators: vec![GenesisValidator {
                key: Keypair::from_seed(&[1; 32]).public(),
                power: 1,
            }],
            price_oracles: vec![],
            reward_oracles: vec![],
            verifier_oracles: vec![],
            makers: vec![],
            params: vec![],
        }
        .into_state()
        .unwrap()
    }

    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map(str::to_owned)
    }

    #[test]
    fn breakers_and_supply_show() {
        let mut s = state();
        let text = render(&s);
        assert_eq!(
            value(&text, r#"cairn_circuit_breaker_tripped{breaker="mint"}"#).as_deref(),
            Some("0")
        );
        assert_eq!(
            value(&text, r#"cairn_supply_tokens{part="treasury"}"#).as_deref(),
            Some("700000000")
        );
        // A trip shows while inside the window, and its height stays afterwards.
        let window = s.params.get(ParamId::MintBreakerWindowBlocks) as u64;
        s.breakers.mint_tripped_at = Some(Height(10));
        s.height = Height(10 + window - 1);
        let text = render(&s);
        assert_eq!(
            value(&text, r#"cairn_circuit_breaker_tripped{breaker="mint"}"#).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(
                &text,
                r#"cairn_circuit_breaker_tripped{breaker="treasury"}"#
            )
            .as_deref(),
            Some("0")
        );
        s.height = Height(10 + window);
        let text = render(&s);
        assert_eq!(
            value(&text, r#"cairn_circuit_breaker_tripped{breaker="mint"}"#).as_deref(),
            Some("0")
        );
        assert_eq!(
            value(
                &text,
                r#"cairn_circuit_breaker_tripped_at_height{breaker="mint"}"#
            )
            .as_deref(),
            Some("10")
        );
    }

    #[tokio::test]
    async fn the_network_figures_come_from_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("index.db").display());
        let index = cairn_index::Index::open(&url).await.unwrap();
        let net = cairn_index::synth::network(40, 3);
        let block = cairn_index::BlockFacts {
            height: net.state.height.0,
            digest: cairn_core::Hash::ZERO,
            time_ms: net.state.time_ms,
            txs: vec![],
        };
        index
            .apply_ledger(&[block], &cairn_index::delta(None, &net.state))
            .await
            .unwrap();
        index.apply_verdicts(&net.batch, 10).await.unwrap();
        index.apply_rewards(&net.record).await.unwrap();
        let mut figures = NetworkFigures {
            ingest: Some((40, 1234)),
            ..NetworkFigures::default()
        };
        network_figures(&index, &mut figures).await.unwrap();
        let mut r = ledger_registry(&net.state);
        add_network(&mut r, &figures);
        let mut text = String::new();
        encode(&mut text, &r).unwrap();
        let radios = |c: bool| {
            net.devices
                .iter()
                .filter(|k| {
                    net.state.devices[*k].kind == cairn_ledger::tx::DeviceKind::Coverage
                        && net.cheaters.contains(k) == c
                })
                .count()
                .to_string()
        };
        assert_eq!(
            value(&text, r#"cairn_devices{kind="coverage",status="failing"}"#),
            Some(radios(true))
        );
        assert_eq!(
            value(&text, r#"cairn_devices{kind="coverage",status="active"}"#),
            Some(radios(false))
        );
        assert_eq!(
            value(
                &text,
                r#"cairn_cheaters_caught{kind="coverage",reason="located_elsewhere"}"#
            ),
            Some(radios(true))
        );
        assert_eq!(
            value(&text, r#"cairn_epoch_verdicts{outcome="invalid"}"#),
            Some(net.cheaters.len().to_string())
        );
        let paid = (40 - net.cheaters.len()) as u128 * cairn_index::synth::PAYOUT.base_units();
        assert_eq!(
            value(&text, "cairn_rewards_paid_tokens"),
            Some(paid.to_string())
        );
        assert_eq!(
            value(&text, "cairn_ingest_sessions_open"),
            Some("40".into())
        );
    }
}
