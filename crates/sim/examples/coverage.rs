//! The coverage verification table for the full default region (486 devices, 6 epochs;
//! about two minutes in release): `cargo run -p cairn-sim --release --example coverage`.
//! The figures in docs/VERIFICATION.md come from this run.

use cairn_sim::coverage_sim::{CoverageSimConfig, Thresholds, run, table};

fn main() {
    print!(
        "{}",
        table(&run(&CoverageSimConfig::default(), &Thresholds::default()))
    );
}
