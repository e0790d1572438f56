//! `cairn`: the command-line front end of a Cairn network.
//!
//! Everything here works offline: keys are files, parameters come from the ledger crate,
//! and transactions are built, signed and written as JSON for submission elsewhere.

mod agent_cmd;
mod agent_run;
mod args;
mod bench;
mod bench_api;
mod bench_ingest;
mod bench_rewards;
mod bench_storage;
mod client;
mod compute_cmd;
mod consumers;
mod econ;
mod explorer;
mod fault_reporter;
mod fleet;
mod indexer;
mod ingest_cmd;
mod keys;
mod node_cmd;
mod node_metrics;
mod output;
mod params;
mod payloads;
mod propose;
mod rewarder;
mod rewards_cmd;
mod services;
mod sim_cmd;
mod storage_cmd;
mod tx;
mod tx_kinds;
mod tx_payloads;
mod verdicts_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Cairn, a DePIN engine: keys, parameters and signed transactions.
///
/// A Cairn network pays physical devices (coverage, storage, compute, sensors) in tokens
/// for verified work; consumers pay for service in credits, which are minted by burning
/// tokens. This command works offline: it creates and inspects Ed25519 key files, lists
/// the ledger's parameters, signs the payloads makers, devices and consumers hand to an
/// owner, and builds signed transactions as JSON. `cairn devnet` runs a whole network on
/// this machine; `cairn node` runs a validator.
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
    /// Build and sign a transaction; prints (or writes) its hash, bytes and JSON, or with
    /// --commit submits it and waits for finality.
    #[command(subcommand)]
    Tx(tx_kinds::TxKindCmd),
    /// Run a whole Cairn network on this machine (one validator, dev account funded).
    Devnet(node_cmd::DevnetCmd),
    /// Simulate a network at scale, headless and seeded: every kind of device and cheat
    /// class through the real verifiers and rewarder; prints the verification quality
    /// table and the economics per epoch.
    Sim(sim_cmd::SimArgs),
    /// Run a validator node.
    Node(node_cmd::NodeCmd),
    /// Create configs for several validators on this machine.
    #[command(subcommand)]
    Testnet(TestnetCmd),
    /// Query accounts on a node.
    #[command(subcommand)]
    Account(client::AccountCmd),
    /// Query finalized blocks on a node.
    #[command(subcommand)]
    Block(client::BlockCmd),
    /// Run a device: set it up, get it onboarded, connect and report.
    #[command(subcommand)]
    Agent(agent_cmd::AgentCmd),
    /// Read the device report log.
    #[command(subcommand)]
    Reports(ingest_cmd::ReportsCmd),
    /// Benchmarks that print our figure, the machine's ceiling and the ratio.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Store files on the network's storage providers and get them back, verified.
    #[command(subcommand)]
    Storage(storage_cmd::StorageCmd),
    /// Run jobs on the network's compute providers.
    #[command(subcommand)]
    Compute(ComputeCmd),
    /// Show the verifier's verdicts for an epoch: valid, or why not.
    Verdicts(verdicts_cmd::VerdictsCmd),
    /// Claim rewards for every device an owner has, inspect epochs, release vesting.
    #[command(subcommand)]
    Rewards(rewards_cmd::RewardsCmd),
    /// Buy credits (burns tokens at the oracle price).
    #[command(subcommand)]
    Credits(rewards_cmd::CreditsCmd),
    /// Economic scenarios before launch: supply, burns, demand coverage, provider income.
    #[command(subcommand)]
    Econ(EconCmd),
}

#[derive(Debug, Subcommand)]
enum EconCmd {
    /// Project supply, burns, demand coverage and provider income over a horizon.
    Simulate(econ::SimulateArgs),
}

#[derive(Debug, Subcommand)]
enum ComputeCmd {
    /// Run a WebAssembly job on a provider; prints the output, checked and signed.
    Submit(compute_cmd::SubmitArgs),
    /// Multiply two matrices on a provider; the product is checked here by Freivalds'
    /// algorithm in O(n²).
    Matmul(compute_cmd::MatmulArgs),
}

#[derive(Debug, Subcommand)]
enum TestnetCmd {
    /// Write keys, a shared genesis and one config per validator (loopback addresses).
    Init(node_cmd::TestnetInitCmd),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keys(cmd) => cmd.run(),
        Command::Params(cmd) => cmd.run(),
        Command::Maker(cmd) => cmd.run(),
        Command::Device(cmd) => cmd.run(),
        Command::Usage(cmd) => cmd.run(),
        Command::Tx(cmd) => cmd.run(),
        Command::Devnet(cmd) => cmd.run(),
        Command::Sim(a) => sim_cmd::run(a),
        Command::Node(cmd) => cmd.run(),
        Command::Testnet(TestnetCmd::Init(cmd)) => cmd.run(),
        Command::Account(cmd) => cmd.run(),
        Command::Block(cmd) => cmd.run(),
        Command::Bench(cmd) => cmd.run(),
        Command::Reports(cmd) => cmd.run(),
        Command::Agent(cmd) => cmd.run(),
        Command::Storage(cmd) => cmd.run(),
        Command::Compute(ComputeCmd::Submit(a)) => compute_cmd::submit(a),
        Command::Compute(ComputeCmd::Matmul(a)) => compute_cmd::matmul(a),
        Command::Verdicts(cmd) => cmd.run(),
        Command::Rewards(cmd) => cmd.run(),
        Command::Credits(cmd) => cmd.run(),
        Command::Econ(EconCmd::Simulate(a)) => econ::simulate(a),
    }
}

fn main() -> ExitCode {
    // Logs go to stderr; RUST_LOG overrides the default (warnings, plus Cairn's own info).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,cairn_node=info,cairn_chain=info")
            }),
        )
        .init();
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
