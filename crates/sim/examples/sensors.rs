//! The sensor verification table for the full default region (300 honest stations and
//! every cheat class over 3 days): `cargo run -p cairn-sim --release --example sensors
//! [SEED]`. The figures in docs/VERIFICATION.md come from this run (seed 1).

use cairn_sim::sensor_sim::{SensorSimConfig, run, table};
use cairn_verify::sensor_cross::CrossParams;

fn main() {
    let seed = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("the seed is a number"))
        .unwrap_or(1);
    let config = SensorSimConfig {
        seed,
        ..SensorSimConfig::default()
    };
    print!("{}", table(&run(&config, &CrossParams::default())));
}
