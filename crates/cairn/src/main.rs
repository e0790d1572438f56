//! `cairn`: the command-line front end of a Cairn network.
//!
//! Everything here works offline: keys are files, parameters come from the ledger crate,
//! and transactions are built, signed and written as JSON for submission elsewhere.

mod args;
mod keys;
mod output;
mod params;
mod payloads;
mod propose;
mod tx;
mod tx_kinds;
mod tx_payloads;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cairn, a DePIN engine: keys, parameters and signed transactions.
///
/// A Cairn network pays physical devices (coverage, storage, compute, sensors) in tokens
/// for verified work; consumers pay for service in credits, which are minted by burning
/// tokens. This command works offline: it creates and inspects Ed25519 key files, lists
/// the ledger's parameters, signs the payloads makers, devices and consumers hand to an
/// owner, and builds signed transactions as JSON. Running a network (`cairn devnet`,
/// `cairn node`) arrives with the chain.
#[derive(Debug, Parser)]
#[command(name = "cairn", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per run; boxing would only obscure the clap derive"
)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Create and inspect Ed25519 key files (mode 0600, addressed by URI).
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// List the ledger's parameters: defaults, bounds, largest step per proposal.
    Params(params::ParamsCmd),
    /// Sign as a device maker.
    #[command(subcommand)]
    Maker(payloads::MakerCmd),
    /// Sign as a device.
    #[command(subcommand)]
    Device(payloads::DeviceCmd),
    /// Sign as a consumer of a device's service.
    #[command(subcommand)]
    Usage(payloads::UsageCmd),
    /// Build and sign a transaction; prints (or writes) its hash, bytes and JSON.
    #[command(subcommand)]
    Tx(tx_kinds::TxKindCmd),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keys(cmd) => cmd.run(),
        Command::Params(cmd) => cmd.run(),
        Command::Maker(cmd) => cmd.run(),
        Command::Device(cmd) => cmd.run(),
        Command::Usage(cmd) => cmd.run(),
        Command::Tx(cmd) => cmd.run(),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole chain on one line: "what we were doing: why it failed".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
