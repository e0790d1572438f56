//! `cairn sim`: a headless, seeded simulation of a whole network at scale — every kind of
//! device, every cheat class, the real verifiers and the real rewarder — printing the
//! verification quality table and the economics of every epoch, and writing the same as
//! JSON. The model is `cairn_sim::network`'s; this is its front end: arguments, a
//! progress bar on standard error, the tables on standard output.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use cairn_sim::network::{self, NetworkConfig, NetworkResult, PRICE_USD_E8};
use cairn_sim::quality::{pct, ppm};
use clap::Args;

use crate::econ::{fixed, grouped};
use crate::output::{print_stdout, table, write_new_file};

/// The most devices one run takes (100,000 peaked under 1 GiB, most of it the cities and
/// shards in flight; the merged outcome keeps a few hundred bytes a device and epoch).
const MAX_DEVICES: usize = 2_000_000;
/// The most epochs one run takes.
const MAX_EPOCHS: u64 = 1_000;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Devices of all four kinds together (35% radios, 30% weather stations, 20% storage
    /// and 15% compute providers; about 15% of each cheat).
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// Epochs to run (a day of readings and four beacon rounds each).
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    /// Seed: the same seed prints the same tables, on any machine.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the outcome as JSON to this file (which must not exist yet).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Worker threads [default: one per core]; the outcome does not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Run the simulation and print its tables.
pub fn run(a: SimArgs) -> Result<()> {
    ensure!(
        (1..=MAX_DEVICES).contains(&a.devices),
        "--devices {} is out of range: 1 to {MAX_DEVICES}",
        a.devices
    );
    ensure!(
        (1..=MAX_EPOCHS).contains(&a.epochs),
        "--epochs {} is out of range: 1 to {MAX_EPOCHS}",
        a.epochs
    );
    ensure!(a.threads != Some(0), "--threads must be at least 1");
    if let Some(path) = &a.json {
        ensure!(
            !path.exists(),
            "--json {} already exists; refusing to overwrite it",
            path.display()
        );
    }
    let config = NetworkConfig {
        seed: a.seed,
        devices: a.devices,
        epochs: a.epochs,
        threads: a.threads.unwrap_or(0),
    };
    let parts = network::plan(&config).len();
    let bar = Progress::new(a.devices, parts);
    eprintln!(
        "cairn sim: {} devices in {parts} cities and shards, {} epochs, seed {}",
        grouped(a.devices as u128),
        a.epochs,
        a.seed
    );
    let result = network::run(&config, &|parts_done, devices_done| {
        bar.update(parts_done, devices_done)
    });
    bar.finish();
    print_stdout(&report(&result))?;
    if let Some(path) = &a.json {
        write_new_file(path, crate::output::to_json(&result)?.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The progress bar: redrawn in place on a terminal, a line every tenth otherwise.
#[derive(Debug)]
struct Progress {
    devices: usize,
    parts: usize,
    start: Instant,
    terminal: bool,
    /// Tenths reported so far (for a log).
    shown: Mutex<usize>,
}

impl Progress {
    fn new(devices: usize, parts: usize) -> Progress {
        Progress {
            devices,
            parts,
            start: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            shown: Mutex::new(0),
        }
    }

    fn update(&self, parts_done: usize, devices_done: usize) {
        let elapsed = self.start.elapsed();
        let share = devices_done as f64 / self.devices.max(1) as f64;
        let left = if share > 0.0 {
            Duration::from_secs_f64(elapsed.as_secs_f64() * (1.0 - share) / share)
        } else {
            Duration::ZERO
        };
        let line = format!(
            "{} {:>3}%  {}/{} devices  {}/{} parts  {} elapsed, about {} left",
            bar(share, 30),
            (share * 100.0) as u32,
            grouped(devices_done as u128),
            grouped(self.devices as u128),
            parts_done,
            self.parts,
            clock(elapsed),
            clock(left),
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
        } else {
            let mut shown = self.shown.lock().expect("not poisoned");
            let tenth = (share * 10.0) as usize;
            if tenth > *shown || parts_done == self.parts {
                *shown = tenth;
                let _ = writeln!(err, "{line}");
            }
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
        eprintln!("done in {}", clock(self.start.elapsed()));
    }
}

/// `[#####.....]` for a share in 0..=1.
fn bar(share: f64, width: usize) -> String {
    let filled = ((share.clamp(0.0, 1.0) * width as f64) as usize).min(width);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

/// `1h02m03s`, `2m03s` or `3s`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// Whole tokens with thousands separators and two decimals.
fn tokens(t: cairn_core::Tokens) -> String {
    fixed(t.base_units(), 2, true)
}

/// The tables: devices by kind, the verification quality per class, the economics per
/// epoch.
fn report(r: &NetworkResult) -> String {
    let mut out = String::new();
    let dishonest: usize = r.kinds.iter().map(|k| k.2).sum();
    out.push_str(&format!(
        "network: {} devices, {} dishonest ({}), seed {}, {} epochs\n",
        grouped(r.devices() as u128),
        grouped(dishonest as u128),
        pct(ppm(dishonest as u128, r.devices() as u128)),
        r.seed,
        r.epochs
    ));
    let kinds: Vec<Vec<String>> = r
        .kinds
        .iter()
        .map(|(kind, n, d)| vec![kind.clone(), grouped(*n as u128), grouped(*d as u128)])
        .collect();
    out.push_str(&table(&["kind", "devices", "dishonest"], &kinds));
    out.push_str("\nverification quality by class (caught: flagged by a check; epochs: mean epochs to detection; rewards: share of all rewards paid)\n");
    out.push_str(&cairn_sim::quality::table(&r.quality));
    out.push_str(&format!(
        "\neconomics by epoch (tokens; consumers buy credits at {} USD a token, paid to devices for usage first)\n",
        fixed(PRICE_USD_E8, 2, false)
    ));
    let rows: Vec<Vec<String>> = r
        .economics
        .iter()
        .map(|e| {
            vec![
                e.epoch.to_string(),
                tokens(e.emission),
                tokens(e.burned),
                pct(e.demand_coverage_ppm),
                tokens(e.usage),
                tokens(e.capacity),
                tokens(e.withheld),
                tokens(e.others),
                tokens(e.unallocated),
                tokens(e.paid_devices),
                tokens(e.paid_dishonest),
                pct(ppm(
                    e.paid_dishonest.base_units(),
                    e.paid_devices.base_units(),
                )),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "epoch",
            "emission",
            "burned",
            "demand cover",
            "usage",
            "capacity",
            "withheld",
            "validators etc",
            "unallocated",
            "paid devices",
            "to dishonest",
            "dishonest",
        ],
        &rows,
    ));
    out
}
