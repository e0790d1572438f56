//! `cairn keys`: create and inspect key files.

use anyhow::Result;
use cairn_core::{KeyUri, PublicKey};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::output;

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create a new random Ed25519 key file (mode 0600; never overwrites) and print its did:key.
    Generate(KeyOpts),
    /// Load a key file and print its did:key (refused if group or others can read it).
    Show(KeyOpts),
}

#[derive(Debug, Args)]
pub struct KeyOpts {
    /// Where the key lives: file:///absolute/path or a plain path.
    #[arg(long, value_name = "URI")]
    key: KeyUri,
    /// Print {"did": …, "key_uri": …} instead of the bare did:key.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct KeyInfo {
    did: String,
    key_uri: String,
}

impl KeysCmd {
    pub fn run(self) -> Result<()> {
        // Key errors already name the file and say what to do ("run `chmod 600 …`"),
        // so they are shown unchanged.
        let (opts, public): (KeyOpts, PublicKey) = match self {
            KeysCmd::Generate(opts) => {
                let public = opts.key.generate()?;
                (opts, public)
            }
            KeysCmd::Show(opts) => {
                let public = opts.key.load()?.public_key();
                (opts, public)
            }
        };
        let info = KeyInfo {
            did: public.to_did(),
            key_uri: opts.key.to_string(),
        };
        if opts.json {
            output::print_json(&info)
        } else {
            output::print_stdout(&format!("{}\n", info.did))
        }
    }
}
