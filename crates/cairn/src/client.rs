//! Talking to a node's RPC: `cairn account show`, `cairn block show`, and submitting
//! transactions (`cairn tx … --commit`).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use cairn_core::PublicKey;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::output;

/// Where the node's RPC is.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// The node's RPC address.
    #[arg(
        long,
        env = "CAIRN_RPC",
        value_name = "URL",
        default_value = "http://127.0.0.1:7480"
    )]
    pub rpc: String,
    /// Print the node's JSON answer instead of a summary.
    #[arg(long)]
    pub json: bool,
}

fn agent() -> ureq::Agent {
    http(Duration::from_secs(30))
}

/// An HTTP client that hands back error statuses as answers, with an overall `timeout`.
pub fn http(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Turn a response into its JSON body, or an error carrying the node's message.
fn answer(
    url: &str,
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, Value)> {
    let mut response = response.with_context(|| format!("cannot reach the node at {url}"))?;
    let status = response.status().as_u16();
    let body: Value = response
        .body_mut()
        .read_json()
        .with_context(|| format!("{url} answered {status} without JSON"))?;
    Ok((status, body))
}

pub fn error_text(body: &Value) -> String {
    let e = &body["error"];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(code), Some(message)) => format!("{message} ({code})"),
        _ => body.to_string(),
    }
}

pub fn get(rpc: &str, path: &str) -> Result<(u16, Value)> {
    let url = format!("{}{path}", rpc.trim_end_matches('/'));
    answer(&url, agent().get(&url).call())
}

pub fn post(rpc: &str, path: &str, body: &Value) -> Result<(u16, Value)> {
    let url = format!("{}{path}", rpc.trim_end_matches('/'));
    answer(&url, agent().post(&url).send_json(body))
}

fn ok(rpc: &str, path: &str) -> Result<Value> {
    let (status, body) = get(rpc, path)?;
    if !(200..300).contains(&status) {
        bail!("{}", error_text(&body));
    }
    Ok(body)
}

/// `cairn account …`
#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Show an account's balances and nonce at the latest finalized height.
    Show {
        /// The account (did:key:…).
        account: PublicKey,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

impl AccountCmd {
    pub fn run(self) -> Result<()> {
        let AccountCmd::Show { account, rpc } = self;
        let body = ok(&rpc.rpc, &format!("/v1/accounts/{}", account.to_did()))?;
        if rpc.json {
            return output::print_json(&body);
        }
        output::print_stdout(&format!(
            "account  {}\ntokens   {}\ncredits  {}\nnonce    {}\nas of    height {}\n",
            account.to_did(),
            body["tokens"].as_str().unwrap_or("?"),
            body["credits"].as_str().unwrap_or("?"),
            body["nonce"],
            body["height"],
        ))
    }
}

/// `cairn block …`
#[derive(Debug, Subcommand)]
pub enum BlockCmd {
    /// Show a finalized block by height (or `latest`).
    Show {
        /// A height, or `latest`.
        #[arg(default_value = "latest")]
        height: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

impl BlockCmd {
    pub fn run(self) -> Result<()> {
        let BlockCmd::Show { height, rpc } = self;
        if height != "latest" && height.parse::<u64>().is_err() {
            bail!("block height {height:?} is neither a number nor `latest`");
        }
        let body = ok(&rpc.rpc, &format!("/v1/blocks/{height}"))?;
        if rpc.json {
            return output::print_json(&body);
        }
        let mut text = format!(
            "height      {}\ndigest      {}\nparent      {}\ntime_ms     {}\nstate_root  {}\nproposer    {}\ntxs         {}\n",
            body["height"],
            body["digest"].as_str().unwrap_or("?"),
            body["parent"].as_str().unwrap_or("?"),
            body["time_ms"],
            body["state_root"].as_str().unwrap_or("?"),
            body["consensus"]["leader"].as_str().unwrap_or("?"),
            body["txs"].as_array().map_or(0, Vec::len),
        );
        for tx in body["txs"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "  {}  {}  from {} nonce {}\n",
                tx["hash"].as_str().unwrap_or("?"),
                tx["kind"].as_str().unwrap_or("?"),
                tx["sender"].as_str().unwrap_or("?"),
                tx["nonce"],
            ));
        }
        output::print_stdout(&text)
    }
}

/// Submit an encoded transaction and wait until it is finalized or rejected.
pub fn commit(rpc: &str, encoded_hex: &str, wait: Duration) -> Result<Value> {
    let (status, body) = post(
        rpc,
        "/v1/transactions",
        &serde_json::json!({ "encoded": encoded_hex }),
    )?;
    if !(200..300).contains(&status) {
        bail!("the node refused the transaction: {}", error_text(&body));
    }
    let hash = body["hash"]
        .as_str()
        .ok_or_else(|| anyhow!("the node's answer has no hash: {body}"))?
        .to_owned();
    let start = Instant::now();
    loop {
        let (_, status) = get(rpc, &format!("/v1/transactions/{hash}"))?;
        match status["status"].as_str() {
            Some("finalized") => return Ok(status),
            Some("rejected") => bail!(
                "transaction {hash} was rejected: {}",
                status["reason"].as_str().unwrap_or("no reason given")
            ),
            _ if start.elapsed() > wait => {
                bail!(
                    "transaction {hash} is still not finalized after {wait:?}; check `/v1/transactions/{hash}` later"
                )
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
