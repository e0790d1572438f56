//! The node's Prometheus metrics: `GET /metrics` (OpenMetrics text) on the RPC listener,
//! read from the finalized ledger state at each scrape, so they survive restarts and need
//! no bookkeeping: chain height and epoch, supply, the latest settled epoch's
//! sustainability figures, and the circuit breakers (tripped now, and when last).
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
        "description": "OpenMetrics text: cairn_ledger_height, cairn_ledger_open_epoch, cairn_supply_tokens{part}, cairn_credits{flow}, the latest epoch's cairn_economics_* figures (emitted, burned for credits, demand coverage in ppm), cairn_circuit_breaker_tripped{breaker} (1 while the last trip is inside the breaker window) and cairn_circuit_breaker_tripped_at_height{breaker}, cairn_denylist_entries. Amounts in base units.",
        "responses": {
          "200": { "description": "The metrics.", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } }
        }
      }
    }
  }
}"#;

pub fn routes(node: Arc<Node>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(node)
}

async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let text = render(&node.state());
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

/// The metrics text for `state`.
pub fn render(state: &LedgerState) -> String {
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
    let mut out = String::new();
    encode(&mut out, &r).expect("writing to a String cannot fail");
    out
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
}
