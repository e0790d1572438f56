//! Building, signing and writing a transaction; the flags every kind shares.

use std::path::PathBuf;

use anyhow::{Result, bail};
use cairn_core::codec::Canonical;
use cairn_core::envelope::Signed;
use cairn_core::{Credits, KeyUri, NetworkId, PublicKey, Tokens};
use cairn_ledger::tx::Fee;
use cairn_ledger::{ParamId, SignedTx, Transaction, TxKind};
use clap::Args;
use serde::Serialize;

use crate::output;

/// The flags every transaction kind takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Transaction options")]
pub struct Common {
    /// The sender's key, which signs the transaction: file:///absolute/path or a plain path.
    #[arg(long, value_name = "URI")]
    key: KeyUri,
    /// Network id the transaction is for (part of the signed bytes).
    #[arg(long, env = "CAIRN_NETWORK", value_name = "ID")]
    network: NetworkId,
    /// The sender's next nonce: 0 for a new account, then one more per applied transaction.
    /// With --commit it may be left out: the node is asked.
    #[arg(long, value_name = "N")]
    nonce: Option<u64>,
    /// Fee in tokens, burned when applied (at least the parameter tx_fee_tokens).
    #[arg(long, value_name = "DECIMAL", default_value_t = default_fee_tokens())]
    fee_tokens: Tokens,
    /// Pay the fee in credits instead (at least the parameter tx_fee_credits).
    #[arg(long, value_name = "N", conflicts_with = "fee_tokens")]
    fee_credits: Option<Credits>,
    /// Write the JSON to FILE (created; never overwritten) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Submit the transaction to the node and wait until it is finalized (without this,
    /// only print what would be sent).
    #[arg(long)]
    commit: bool,
    /// The node's RPC address, for --commit.
    #[arg(
        long,
        env = "CAIRN_RPC",
        value_name = "URL",
        default_value = "http://127.0.0.1:7480"
    )]
    rpc: String,
}

fn default_fee_tokens() -> Tokens {
    Tokens::from_base_units(ParamId::TxFeeTokens.spec().default)
}

/// A transaction kind's own flags, and the flags every kind shares.
#[derive(Debug, Args)]
pub struct Tx<A: Args> {
    #[command(flatten)]
    args: A,
    #[command(flatten)]
    common: Common,
}

/// What a kind's flags may check against before they become a [`TxKind`].
#[derive(Debug)]
pub struct BuildCtx<'a> {
    pub network: &'a NetworkId,
    pub sender: PublicKey,
}

/// Turn a kind's parsed flags into the ledger's [`TxKind`], checking what can be checked
/// offline (signatures the ledger will verify, files it cannot read).
pub trait Build {
    fn build(self, ctx: &BuildCtx<'_>) -> Result<TxKind>;
}

/// What `cairn tx` prints.
#[derive(Debug, Serialize)]
struct TxOutput<'a> {
    /// BLAKE3 of the canonical bytes: the transaction id.
    hash: String,
    /// The canonical Borsh bytes of the signed transaction, hex.
    encoded: String,
    tx: &'a SignedTx,
}

impl<A: Args + Build> Tx<A> {
    pub fn run(self) -> Result<()> {
        self.run_with(A::build)
    }
}

impl<A: Args> Tx<A> {
    /// Build the kind with `build`, sign as `--key`, and write the result.
    pub fn run_with(self, build: impl FnOnce(A, &BuildCtx<'_>) -> Result<TxKind>) -> Result<()> {
        let Common {
            key,
            network,
            nonce,
            fee_tokens,
            fee_credits,
            out,
            commit,
            rpc,
        } = self.common;
        let signer = key.load()?;
        let nonce = match (nonce, commit) {
            (Some(n), _) => n,
            (None, true) => {
                let sender = signer.public_key().to_did();
                let account = crate::client::get(&rpc, &format!("/v1/accounts/{sender}"))?.1;
                account["nonce"].as_u64().ok_or_else(|| {
                    anyhow::anyhow!("the node did not report a nonce for {sender}: {account}")
                })?
            }
            (None, false) => bail!("--nonce is required unless --commit asks the node for it"),
        };
        let ctx = BuildCtx {
            network: &network,
            sender: signer.public_key(),
        };
        let kind = build(self.args, &ctx)?;
        let fee = match fee_credits {
            Some(credits) => Fee::Credits(credits),
            None => Fee::Tokens(fee_tokens),
        };
        let tx = Transaction {
            network: network.clone(),
            nonce,
            fee,
            kind,
        };
        let signed = Signed::sign(signer.as_ref(), &network, tx);
        let encoded = signed.encode();
        let limit = <SignedTx as Canonical>::MAX_ENCODED_LEN;
        if encoded.len() > limit {
            bail!(
                "the signed transaction is {} bytes; the ledger accepts at most {limit}",
                encoded.len()
            );
        }
        let result = TxOutput {
            hash: signed.hash().to_hex(),
            encoded: hex::encode(&encoded),
            tx: &signed,
        };
        if commit {
            let status =
                crate::client::commit(&rpc, &result.encoded, std::time::Duration::from_secs(60))?;
            return output::write_json(&status, out.as_deref());
        }
        output::write_json(&result, out.as_deref())
    }
}
