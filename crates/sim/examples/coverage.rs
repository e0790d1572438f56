//! The coverage verification table for the full default region (486 devices, 6 epochs;
//! about a minute and a half in release): `cargo run -p cairn-sim --release --example
//! coverage [SEED]`. The figures in docs/VERIFICATION.md come from this run (seed 1).

use cairn_sim::coverage_sim::{CoverageSimConfig, run};
use cairn_sim::quality::table;
use cairn_verify::coverage_graph::DetectParams;

fn main() {
    let seed = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("the seed is a number"))
        .unwrap_or(1);
    let config = CoverageSimConfig {
        seed,
        ..CoverageSimConfig::default()
    };
    print!("{}", table(&run(&config, &DetectParams::default())));
}
