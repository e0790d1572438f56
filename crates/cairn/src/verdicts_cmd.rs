//! `cairn verdicts`: what the verifier concluded, in plain words.

use anyhow::{Result, bail};
use clap::Args;
use serde_json::Value;

use crate::client::{self, RpcArgs};

#[derive(Debug, Args)]
pub struct VerdictsCmd {
    #[command(flatten)]
    rpc: RpcArgs,
    /// The epoch (default: the latest verified).
    #[arg(long)]
    epoch: Option<u64>,
    /// Only this device (did:key:…).
    #[arg(long, value_name = "DID")]
    device: Option<String>,
    /// Only invalid verdicts.
    #[arg(long)]
    invalid: bool,
}

impl VerdictsCmd {
    pub fn run(self) -> Result<()> {
        let rpc = self.rpc.rpc.trim_end_matches('/');
        let epoch = match self.epoch {
            Some(e) => e,
            None => {
                let (_, summary) = client::get(rpc, "/v1/verdicts")?;
                match summary["latest"]["epoch"].as_u64() {
                    Some(e) => e,
                    None => bail!(
                        "no epoch has been verified yet (epoch {} is running; each is verified {} ms after it ends)",
                        summary["current_epoch"],
                        summary["settle_ms"]
                    ),
                }
            }
        };
        let mut path = format!("/v1/verdicts/{epoch}?invalid={}", self.invalid);
        if let Some(d) = &self.device {
            path.push_str(&format!("&device={d}"));
        }
        let (code, batch) = client::get(rpc, &path)?;
        if code != 200 {
            bail!(
                "{}",
                batch["error"]["message"]
                    .as_str()
                    .unwrap_or("no such epoch")
            );
        }
        if self.rpc.json {
            println!("{}", serde_json::to_string_pretty(&batch)?);
            return Ok(());
        }
        let verdicts = batch["verdicts"].as_array().cloned().unwrap_or_default();
        println!(
            "epoch {epoch}: {} verdicts (state height {}, {} inputs, inputs root {})",
            verdicts.len(),
            batch["state_height"],
            batch["inputs"],
            batch["inputs_root"].as_str().unwrap_or("?")
        );
        let mut explained = std::collections::BTreeMap::new();
        for v in &verdicts {
            println!("{}", line(v));
            if let (Some(name), Some(why)) = (reason(v), v["explanation"].as_str()) {
                explained.insert(name, why.to_owned());
            }
        }
        for (name, why) in explained {
            println!("  {name}: {why}");
        }
        Ok(())
    }
}

fn reason(v: &Value) -> Option<String> {
    v["outcome"]["invalid"].as_str().map(str::to_owned)
}

fn line(v: &Value) -> String {
    let outcome = match reason(v) {
        Some(r) => format!("INVALID {r} ({})", v["reason_code"]),
        None => "valid".to_owned(),
    };
    let measured: Vec<String> = v["measured"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| format!("{}={}", x["name"].as_str().unwrap_or("?"), x["value"]))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "  {}  {:<8} {:<28} {}  evidence {}  {}",
        v["device"].as_str().unwrap_or("?"),
        v["kind"].as_str().unwrap_or("?"),
        outcome,
        measured.join(" "),
        v["evidence"].as_array().map_or(0, Vec::len),
        v["detail"].as_str().unwrap_or("")
    )
}
