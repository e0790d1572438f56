//! `cairn econ simulate`: an economic scenario run before launch. It projects emission,
//! burns, demand coverage, supply and provider income epoch by epoch over a horizon, for
//! a demand, price and provider growth the network designer assumes, and prints a table
//! (or JSON) and writes every epoch to a CSV file.
//!
//! # Model
//!
//! Everything is exact integer arithmetic: token amounts in base units (10⁻⁸ token), USD
//! in units of 10⁻⁸ USD (`_usd_e8`), ratios in parts per million. Divisions floor. The
//! chain's own code supplies what the network would do: [`emission_for_epoch`] for the
//! emission, [`emission_cap`] for its sum, [`Params::pool_shares`] and the rewarder's
//! [`pro_rata`] for the pools.
//!
//! Epoch `e` (from 1) starts at `t = (e − 1) × epoch duration`. For it:
//!
//! - **Growth curves.** Price, demand and providers compound once per period (price per
//!   year, demand and providers per month of 365/12 days): `v[k+1] = ⌊v[k] × (10⁴ + g) /
//!   10⁴⌋` for `g` basis points. Between two period starts the value is interpolated
//!   linearly (flooring), so the curve is smooth epoch to epoch and hits each compounded
//!   value exactly. Every curve is evaluated at `t`. The price never falls below 10⁻⁸ USD
//!   (burns divide by it) and each curve stops at a ceiling (10¹² USD for the price,
//!   10¹² USD a day of demand, 10¹² providers) so no amount can overflow `u128`.
//!   Providers are tracked in 10⁻⁸ units so a slow growth of a small count is not lost to
//!   rounding; income is shared over whole providers (at least one).
//! - **Demand** that epoch: `demand per day × epoch duration / 1 day`, in USD. Consumers
//!   buy credits for it, burning `tokens burned = demand / price`.
//! - **Emission** `emission_for_epoch(params, e)`, split into the seven pools by their
//!   shares with the reward engine's own rule ([`pro_rata`]: floors, then the leftover
//!   base units by largest remainder). The **provider pool** is the coverage, storage,
//!   compute and sensor pools together: the model treats them as one market, where the
//!   rewarder caps usage pool by pool.
//! - **Usage rewards** `min(provider pool, tokens burned × usage_cap_ppm / 10⁶)`: usage is
//!   paid first and never more than 1:1 against what was burned; **capacity rewards** are
//!   the rest of the provider pool.
//! - **Provider income** per provider and epoch, USD: `provider pool × price / providers`.
//! - **Net emission** `emission − tokens burned` (signed), and **supply added** its sum
//!   so far: the change in circulating supply from emission and burns alone (genesis
//!   allocations, fees and other burns are outside the model).
//! - **Demand coverage** `burned USD × 10⁶ / emitted USD` ppm, each side valued at the
//!   epoch's price and floored to 10⁻⁸ USD, as the ledger's
//!   `EpochEconomics::demand_coverage_ppm` defines it. Undefined when the emission is
//!   worth nothing (after the last halving).
//!
//! The summary reports the first epoch whose coverage reaches 100% (or that burns while
//! emitting nothing), and the emission cap from [`emission_cap`].

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use cairn_core::{AmountError, Epoch, Tokens};
use cairn_ledger::exec::{emission_cap, emission_for_epoch};
use cairn_ledger::params::{ParamId, Params, Pool};
use cairn_rewards::split::pro_rata;
use clap::Args;
use serde::Serialize;

/// Base units per token, and 10⁻⁸ USD units per USD (both have 8 decimals).
const E8: u128 = Tokens::ONE.base_units();
const E8_U64: u64 = 100_000_000;
const _: () = assert!(E8 == E8_U64 as u128);
const PPM: u128 = 1_000_000;
const BPS: i64 = 10_000;
const BPS_DIVISOR: u128 = 10_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 86_400_000;
const YEAR_MS: u64 = 365 * DAY_MS;
const MONTH_MS: u64 = YEAR_MS / 12;
/// Rows are kept in memory and written out; a million is a century of hourly epochs.
pub const MAX_EPOCHS: u64 = 1_000_000;
/// Growth beyond ×101 per period is a typo, not a scenario.
const MAX_GROWTH_BPS: i64 = 1_000_000;
const MAX_PRICE_USD_E8: u128 = 1_000_000_000_000 * E8;
const MAX_DEMAND_USD_E8_PER_DAY: u128 = 1_000_000_000_000 * E8;
const MAX_PROVIDERS: u128 = 1_000_000_000_000;

/// Project emission, burns, demand coverage, supply and provider income epoch by epoch
/// for an assumed demand, price and provider growth; print a table and write a CSV.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Horizon in years of 365 days.
    #[arg(long, default_value_t = 5)]
    years: u64,
    /// Horizon in epochs; overrides --years.
    #[arg(long, value_name = "N")]
    epochs: Option<u64>,
    /// Epoch length in hours [default: the epoch_duration_ms parameter, 1 h]; overrides
    /// --param epoch_duration_ms.
    #[arg(long, value_name = "HOURS")]
    epoch_hours: Option<u64>,
    /// A ledger parameter, NAME=VALUE as `cairn params` lists them (repeatable), checked
    /// against its bounds; e.g. emission_per_epoch=5000000000000.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param_arg)]
    params: Vec<(ParamId, u128)>,
    /// Token price at the start, in USD (up to 8 decimals).
    #[arg(long, value_name = "USD", default_value = "1.00", value_parser = parse_usd_e8)]
    price_usd: u128,
    /// Price growth per year in basis points, compounded yearly (-500 = -5%/year).
    #[arg(
        long,
        value_name = "BPS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    price_growth_bps_per_year: i64,
    /// Demand at the start, in USD of credits bought per day (up to 8 decimals).
    #[arg(long, value_name = "USD", default_value = "1000", value_parser = parse_usd_e8)]
    demand_usd_per_day: u128,
    /// Demand growth per month in basis points, compounded monthly (1000 = +10%/month).
    #[arg(
        long,
        value_name = "BPS",
        default_value_t = 1_000,
        allow_negative_numbers = true
    )]
    demand_growth_bps_per_month: i64,
    /// Providers sharing the provider pools at the start.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    providers: u64,
    /// Provider growth per month in basis points, compounded monthly.
    #[arg(
        long,
        value_name = "BPS",
        default_value_t = 300,
        allow_negative_numbers = true
    )]
    provider_growth_bps_per_month: i64,
    /// CSV file for every epoch (replaced if it exists).
    #[arg(long, value_name = "PATH", default_value = "econ.csv")]
    csv: PathBuf,
    /// Table rows to print: epochs evenly spaced from the first to the last.
    #[arg(long, value_name = "N", default_value_t = 20)]
    rows: usize,
    /// Print JSON (the same sample of epochs, amounts as exact decimal strings) instead
    /// of the table.
    #[arg(long)]
    json: bool,
}

/// What the network designer assumes, in integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Epochs projected, from epoch 1.
    pub epochs: u64,
    pub epoch_ms: u64,
    pub price_usd_e8: u128,
    pub price_growth_bps_per_year: i64,
    pub demand_usd_e8_per_day: u128,
    pub demand_growth_bps_per_month: i64,
    pub providers: u64,
    pub provider_growth_bps_per_month: i64,
}

impl Scenario {
    /// Refuse inputs the model cannot represent, naming the flag.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=MAX_EPOCHS).contains(&self.epochs),
            "the horizon is {} epochs; it must be 1 to {MAX_EPOCHS} (see --years, --epochs)",
            self.epochs
        );
        ensure!(self.epoch_ms > 0, "the epoch duration must be above zero");
        ensure!(
            self.price_usd_e8 > 0,
            "--price-usd must be above zero: burns divide by the price"
        );
        ensure!(
            self.price_usd_e8 <= MAX_PRICE_USD_E8,
            "--price-usd must be at most {}",
            fixed(MAX_PRICE_USD_E8, 0, false)
        );
        ensure!(
            self.demand_usd_e8_per_day <= MAX_DEMAND_USD_E8_PER_DAY,
            "--demand-usd-per-day must be at most {}",
            fixed(MAX_DEMAND_USD_E8_PER_DAY, 0, false)
        );
        ensure!(
            self.providers > 0 && u128::from(self.providers) <= MAX_PROVIDERS,
            "--providers must be 1 to {MAX_PROVIDERS}"
        );
        for (flag, bps) in [
            (
                "--price-growth-bps-per-year",
                self.price_growth_bps_per_year,
            ),
            (
                "--demand-growth-bps-per-month",
                self.demand_growth_bps_per_month,
            ),
            (
                "--provider-growth-bps-per-month",
                self.provider_growth_bps_per_month,
            ),
        ] {
            ensure!(
                (-BPS..=MAX_GROWTH_BPS).contains(&bps),
                "{flag} is {bps}; it must be -10000 (-100%) to {MAX_GROWTH_BPS}"
            );
        }
        Ok(())
    }
}

/// One projected epoch. Token amounts in base units, USD in 10⁻⁸ USD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochRow {
    pub epoch: u64,
    /// The day (from 1) the epoch starts in.
    pub day: u64,
    pub emission: u128,
    pub burned: u128,
    /// `emission − burned`.
    pub net_emission: i128,
    /// Net emission summed over epochs 1 to this one.
    pub supply_added: i128,
    pub emitted_total: u128,
    pub burned_total: u128,
    /// Credits bought this epoch, USD.
    pub demand_usd_e8: u128,
    /// The tokens burned and the emission valued at the price.
    pub burned_usd_e8: u128,
    pub emitted_usd_e8: u128,
    pub price_usd_e8: u128,
    /// Whole providers sharing the provider pool (at least one).
    pub providers: u128,
    pub provider_pool: u128,
    pub usage_rewards: u128,
    pub capacity_rewards: u128,
    /// Burned value over emitted value, ppm; `None` when the emission is worth nothing.
    pub coverage_ppm: Option<u128>,
    /// Usage rewards over the provider pool, ppm (0 for an empty pool).
    pub usage_share_ppm: u128,
    /// Provider pool in USD per provider.
    pub provider_income_usd_e8: u128,
}

/// A value compounded once per period and interpolated linearly within it. Evaluated at
/// non-decreasing times, so it keeps only the period it is in.
struct Curve {
    period_ms: u128,
    factor: u128,
    min: u128,
    max: u128,
    period: u128,
    at_start: u128,
    at_end: u128,
}

impl Curve {
    fn new(start: u128, growth_bps: i64, period_ms: u64, min: u128, max: u128) -> Self {
        let g = growth_bps.clamp(-BPS, MAX_GROWTH_BPS);
        let factor = u128::try_from(BPS + g).unwrap_or(0);
        let mut curve = Curve {
            period_ms: u128::from(period_ms.max(1)),
            factor,
            min,
            max,
            period: 0,
            at_start: start.clamp(min, max),
            at_end: 0,
        };
        curve.at_end = curve.grow(curve.at_start);
        curve
    }

    fn grow(&self, v: u128) -> u128 {
        // v ≤ 10²⁰ and the factor ≤ 1.01 × 10⁶, far from overflow; saturating keeps it total.
        (v.saturating_mul(self.factor) / BPS_DIVISOR).clamp(self.min, self.max)
    }

    fn at(&mut self, t_ms: u128) -> u128 {
        let period = t_ms / self.period_ms;
        while self.period < period {
            self.period += 1;
            self.at_start = self.at_end;
            self.at_end = self.grow(self.at_start);
        }
        let into = t_ms % self.period_ms;
        if self.at_end >= self.at_start {
            self.at_start + (self.at_end - self.at_start) * into / self.period_ms
        } else {
            self.at_start - (self.at_start - self.at_end) * into / self.period_ms
        }
    }
}

/// The coverage, storage, compute and sensor pools' part of `emission`, split by the
/// reward engine's own rule.
fn provider_pool(emission: u128, shares: &[(Pool, u128)]) -> u128 {
    pro_rata(emission, shares).map_or(0, |split| {
        split
            .iter()
            .filter(|(pool, _)| is_provider_pool(*pool))
            .map(|(_, amount)| *amount)
            .sum()
    })
}

fn is_provider_pool(pool: Pool) -> bool {
    matches!(
        pool,
        Pool::Coverage | Pool::Storage | Pool::Compute | Pool::Sensor
    )
}

/// `a − b` as a signed amount (amounts here stay far below 2¹²⁷).
fn diff(a: u128, b: u128) -> i128 {
    let magnitude = i128::try_from(a.abs_diff(b)).unwrap_or(i128::MAX);
    if a >= b { magnitude } else { -magnitude }
}

/// Project `scenario` under `params`, one row per epoch. Pure and deterministic. Callers
/// validate the scenario first ([`Scenario::validate`]); out-of-range inputs are clamped
/// here (at most [`MAX_EPOCHS`] rows) so this never panics.
pub fn project(params: &Params, scenario: &Scenario) -> Vec<EpochRow> {
    let epochs = scenario.epochs.min(MAX_EPOCHS);
    let epoch_ms = u128::from(scenario.epoch_ms.max(1));
    let shares = params.pool_shares();
    let cap_ppm = params.get(ParamId::UsageCapPpm).min(PPM);
    let mut price = Curve::new(
        scenario.price_usd_e8,
        scenario.price_growth_bps_per_year,
        YEAR_MS,
        1,
        MAX_PRICE_USD_E8,
    );
    let mut demand = Curve::new(
        scenario.demand_usd_e8_per_day,
        scenario.demand_growth_bps_per_month,
        MONTH_MS,
        0,
        MAX_DEMAND_USD_E8_PER_DAY,
    );
    let mut providers = Curve::new(
        u128::from(scenario.providers).saturating_mul(E8),
        scenario.provider_growth_bps_per_month,
        MONTH_MS,
        E8,
        MAX_PROVIDERS * E8,
    );
    let mut emitted_total: u128 = 0;
    let mut burned_total: u128 = 0;
    let mut split_for = (0u128, 0u128);
    let mut rows = Vec::with_capacity(usize::try_from(epochs).unwrap_or(0));
    for epoch in 1..=epochs {
        let start_ms = u128::from(epoch - 1) * epoch_ms;
        let price = price.at(start_ms);
        let demand = demand.at(start_ms) * epoch_ms / u128::from(DAY_MS);
        let providers = (providers.at(start_ms) / E8).max(1);
        let emission = emission_for_epoch(params, Epoch(epoch)).base_units();
        // demand ≤ 7 × 10²⁰ (a week of the ceiling), × 10⁸ stays below 2¹²⁸.
        let burned = demand * E8 / price;
        // The emission changes only at halvings; the split is the same between them.
        if emission != split_for.0 {
            split_for = (emission, provider_pool(emission, &shares));
        }
        let provider_pool = split_for.1;
        // burned × price ≈ demand × 10⁸ and emission × price ≤ 10³⁶: both fit.
        let burned_usd = burned * price / E8;
        let emitted_usd = emission * price / E8;
        let usage_rewards = provider_pool.min(burned * cap_ppm / PPM);
        emitted_total = emitted_total.saturating_add(emission);
        burned_total = burned_total.saturating_add(burned);
        rows.push(EpochRow {
            epoch,
            day: u64::try_from(start_ms / u128::from(DAY_MS) + 1).unwrap_or(u64::MAX),
            emission,
            burned,
            net_emission: diff(emission, burned),
            supply_added: diff(emitted_total, burned_total),
            emitted_total,
            burned_total,
            demand_usd_e8: demand,
            burned_usd_e8: burned_usd,
            emitted_usd_e8: emitted_usd,
            price_usd_e8: price,
            providers,
            provider_pool,
            usage_rewards,
            capacity_rewards: provider_pool - usage_rewards,
            coverage_ppm: (emitted_usd > 0).then(|| burned_usd * PPM / emitted_usd),
            usage_share_ppm: (usage_rewards * PPM)
                .checked_div(provider_pool)
                .unwrap_or(0),
            // The pool is at most 10¹⁶ base units (the emission's bound), the price at
            // most 10²⁰: the product fits.
            provider_income_usd_e8: provider_pool * price / E8 / providers,
        });
    }
    rows
}

/// The horizon's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub emitted: u128,
    pub burned: u128,
    pub supply_added: i128,
    /// The first epoch (and its day) whose burned value reaches its emitted value, or
    /// that burns while emitting nothing.
    pub full_coverage: Option<(u64, u64)>,
    /// Every epoch's emission summed (`None`: beyond `u128`).
    pub emission_cap: Option<u128>,
    /// The first epoch with zero emission.
    pub emission_ends: u64,
}

pub fn summarize(params: &Params, rows: &[EpochRow]) -> Summary {
    let last = rows.last();
    Summary {
        emitted: last.map_or(0, |r| r.emitted_total),
        burned: last.map_or(0, |r| r.burned_total),
        supply_added: last.map_or(0, |r| r.supply_added),
        full_coverage: rows
            .iter()
            .find(|r| match r.coverage_ppm {
                Some(ppm) => ppm >= PPM,
                None => r.burned_usd_e8 > 0,
            })
            .map(|r| (r.epoch, r.day)),
        emission_cap: emission_cap(params).map(Tokens::base_units),
        emission_ends: emission_ends(params),
    }
}

/// The first epoch `emission_for_epoch` gives zero: the initial emission shifted right
/// by its bit length is zero, and epoch `e` has been halved `(e − 1) / halving` times.
fn emission_ends(params: &Params) -> u64 {
    let initial = params.get(ParamId::EmissionPerEpoch);
    let halving = u128::from(params.get_u64(ParamId::EmissionHalvingEpochs).max(1));
    let bits = u128::from(u128::BITS - initial.leading_zeros());
    u64::try_from(bits * halving + 1).unwrap_or(u64::MAX)
}

/// `NAME=VALUE` for `--param`; bounds are checked when it is applied.
fn parse_param_arg(s: &str) -> Result<(ParamId, u128), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE such as emission_per_epoch=0, got {s:?}"))?;
    let id: ParamId = name.trim().parse().map_err(|e| format!("{e}"))?;
    let value = value.trim().parse::<u128>().map_err(|_| {
        format!(
            "{name}: {value:?} is not a whole number in the parameter's unit (see `cairn params`)"
        )
    })?;
    Ok((id, value))
}

/// A non-negative decimal USD amount ("1.25") in 10⁻⁸ USD, without floating point.
pub fn parse_usd_e8(s: &str) -> Result<u128, String> {
    // USD here has the token's 8 decimals, so the token parser is exactly the rule.
    s.trim()
        .parse::<Tokens>()
        .map(Tokens::base_units)
        .map_err(|e| match e {
            AmountError::TooPrecise { .. } => {
                format!("invalid USD amount {s:?}: at most 8 decimal places")
            }
            AmountError::Overflow { .. } => format!("USD amount {s:?} is too large"),
            AmountError::Syntax { .. } => format!(
                "invalid USD amount {s:?}: expected a non-negative decimal number such as \"1.25\""
            ),
        })
}

/// The parameters and scenario `args` describe, checked.
fn setup(args: &SimulateArgs) -> Result<(Params, Scenario)> {
    let mut params = Params::default();
    for (id, value) in &args.params {
        params = params
            .with(*id, *value)
            .with_context(|| format!("--param {id}={value}"))?;
    }
    if let Some(hours) = args.epoch_hours {
        let ms = u128::from(hours) * u128::from(HOUR_MS);
        params = params
            .with(ParamId::EpochDurationMs, ms)
            .with_context(|| format!("--epoch-hours {hours}"))?;
    }
    params
        .check_consistency()
        .context("the parameters set with --param are inconsistent")?;
    let epoch_ms = params.get_u64(ParamId::EpochDurationMs);
    let epochs = match args.epochs {
        Some(n) => n,
        None => {
            let n = u128::from(args.years) * u128::from(YEAR_MS) / u128::from(epoch_ms.max(1));
            u64::try_from(n).unwrap_or(u64::MAX)
        }
    };
    let scenario = Scenario {
        epochs,
        epoch_ms,
        price_usd_e8: args.price_usd,
        price_growth_bps_per_year: args.price_growth_bps_per_year,
        demand_usd_e8_per_day: args.demand_usd_per_day,
        demand_growth_bps_per_month: args.demand_growth_bps_per_month,
        providers: args.providers,
        provider_growth_bps_per_month: args.provider_growth_bps_per_month,
    };
    scenario.validate()?;
    Ok((params, scenario))
}

/// Run `cairn econ simulate`: project, write the CSV, print the table or JSON.
pub fn simulate(args: SimulateArgs) -> Result<()> {
    let (params, scenario) = setup(&args)?;
    let rows = project(&params, &scenario);
    let summary = summarize(&params, &rows);
    let shown = args.csv.display();
    let file = File::create(&args.csv).with_context(|| format!("creating --csv {shown}"))?;
    let mut out = BufWriter::new(file);
    write_csv(&mut out, &rows)
        .and_then(|()| out.flush())
        .with_context(|| format!("writing --csv {shown}"))?;
    let shown_rows: Vec<&EpochRow> = sample(rows.len(), args.rows)
        .into_iter()
        .map(|i| &rows[i])
        .collect();
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&json_report(
            &params,
            &scenario,
            &summary,
            &shown_rows,
            &args.csv,
        ))
        .context("encoding the output as JSON")?;
        text.push('\n');
        text
    } else {
        let mut text = header(&params, &scenario);
        text.push('\n');
        if !shown_rows.is_empty() {
            text.push_str(&table(&shown_rows));
            text.push('\n');
        }
        text.push_str(&footer(&summary, &scenario, &args.csv, rows.len()));
        text
    };
    print_stdout(&text)
}

/// Indices of `n` rows evenly spaced over `len`, the first and the last included.
fn sample(len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    if n == 0 {
        return Vec::new();
    }
    if n == 1 {
        return vec![len - 1];
    }
    let mut out: Vec<usize> = (0..n).map(|i| i * (len - 1) / (n - 1)).collect();
    out.dedup();
    out
}

/// A closed pipe (`cairn econ simulate | head`) is not an error.
fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

// ---- Formatting, from integers only. ----
//
// The CSV formats about thirty numbers per epoch; 128-bit division is most of that cost,
// so these append to one buffer and divide in 64 bits whenever the value fits.

/// `v / d` and `v % d`.
fn div_rem(v: u128, d: u64) -> (u128, u64) {
    match u64::try_from(v) {
        Ok(v) => (u128::from(v / d), v % d),
        Err(_) => (
            v / u128::from(d),
            u64::try_from(v % u128::from(d)).unwrap_or(0),
        ),
    }
}

fn push_uint(s: &mut String, v: u128) {
    let Ok(mut v) = u64::try_from(v) else {
        // Writing to a String cannot fail.
        let _ = write!(s, "{v}");
        return;
    };
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

fn push_int(s: &mut String, v: i128) {
    if v < 0 {
        s.push('-');
    }
    push_uint(s, v.unsigned_abs());
}

/// `n`, with thousands separators when `group`.
fn push_grouped(s: &mut String, n: u128, group: bool) {
    if !group {
        return push_uint(s, n);
    }
    let mut digits = String::new();
    push_uint(&mut digits, n);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            s.push(',');
        }
        s.push(c);
    }
}

pub(crate) fn grouped(n: u128) -> String {
    let mut s = String::new();
    push_grouped(&mut s, n, true);
    s
}

/// A value in 10⁻⁸ units with `min_places` to `max_places` decimals (at most 8):
/// truncated to `max_places`, then trailing zeros dropped down to `min_places`.
fn push_decimal(s: &mut String, value: u128, min_places: usize, max_places: usize, group: bool) {
    let (int, mut frac) = div_rem(value, E8_U64);
    push_grouped(s, int, group);
    let mut digits = [b'0'; 8];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    let max_places = max_places.min(8);
    let mut end = max_places;
    while end > min_places.min(max_places) && digits[end - 1] == b'0' {
        end -= 1;
    }
    if end > 0 {
        s.push('.');
        s.push_str(std::str::from_utf8(&digits[..end]).unwrap_or_default());
    }
}

/// A value in 10⁻⁸ units with `places` decimals (at most 8), truncated.
pub(crate) fn fixed(value: u128, places: usize, group: bool) -> String {
    let mut s = String::new();
    push_decimal(&mut s, value, places, places, group);
    s
}

/// A value in 10⁻⁸ units, exact, with at least `min_places` decimals.
fn exact(value: u128, min_places: usize, group: bool) -> String {
    let mut s = String::new();
    push_decimal(&mut s, value, min_places, 8, group);
    s
}

/// Parts per million as a percentage with two decimals, truncated.
fn push_percent(s: &mut String, ppm: u128, group: bool) {
    let (int, rem) = div_rem(ppm, 10_000);
    push_grouped(s, int, group);
    let _ = write!(s, ".{:02}", rem / 100);
}

fn percent(ppm: u128, group: bool) -> String {
    let mut s = String::new();
    push_percent(&mut s, ppm, group);
    s
}

/// A signed amount: `-` for negatives, and `+` for positives when `plus`.
fn signed(value: i128, plus: bool, format: impl Fn(u128) -> String) -> String {
    let sign = match value.signum() {
        -1 => "-",
        1 if plus => "+",
        _ => "",
    };
    format!("{sign}{}", format(value.unsigned_abs()))
}

/// Basis points as a signed percentage with two decimals.
fn bps_percent(bps: i64) -> String {
    let sign = if bps < 0 { "-" } else { "+" };
    let b = bps.unsigned_abs();
    format!("{sign}{}.{:02}%", b / 100, b % 100)
}

fn tokens(value: u128) -> String {
    fixed(value, 2, true)
}

/// Exact, grouped, at least two decimals: for USD, and for token totals where the last
/// base unit matters.
fn usd(value: u128) -> String {
    exact(value, 2, true)
}

/// A duration in days with one decimal, truncated.
fn days(ms: u128) -> String {
    let tenths = ms * 10 / u128::from(DAY_MS);
    format!("{}.{}", grouped(tenths / 10), tenths % 10)
}

fn epoch_length(ms: u64) -> String {
    if ms.is_multiple_of(HOUR_MS) {
        format!("{} h", ms / HOUR_MS)
    } else if ms.is_multiple_of(1_000) {
        format!("{} s", ms / 1_000)
    } else {
        format!("{ms} ms")
    }
}

fn header(params: &Params, scenario: &Scenario) -> String {
    let mut s = String::new();
    let epoch_ms = u128::from(scenario.epoch_ms);
    let horizon_ms = u128::from(scenario.epochs) * epoch_ms;
    let halving = params.get(ParamId::EmissionHalvingEpochs);
    let shares = params.pool_shares();
    let provider_ppm: u128 = shares
        .iter()
        .filter(|(p, _)| is_provider_pool(*p))
        .map(|(_, s)| *s)
        .sum();
    let pools: Vec<String> = shares
        .iter()
        .map(|(p, ppm)| format!("{} {}%", p.name(), percent(*ppm, false)))
        .collect();
    let changed: Vec<String> = ParamId::ALL
        .iter()
        .filter(|id| params.get(**id) != id.spec().default)
        .map(|id| format!("{id}={}", params.get(*id)))
        .collect();
    let cap = emission_cap(params).map_or_else(
        || "beyond u128".to_owned(),
        |t| format!("{} tokens", usd(t.base_units())),
    );
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "econ simulate: {} epochs of {}, {} days",
        grouped(u128::from(scenario.epochs)),
        epoch_length(scenario.epoch_ms),
        days(horizon_ms)
    );
    let _ = writeln!(
        s,
        "  emission   {} tokens/epoch, halving every {} epochs ({} days); cap {cap}",
        usd(params.get(ParamId::EmissionPerEpoch)),
        grouped(halving),
        days(halving * epoch_ms)
    );
    let _ = writeln!(
        s,
        "  pools      {} (providers {}%)",
        pools.join(", "),
        percent(provider_ppm, false)
    );
    let _ = writeln!(
        s,
        "  usage cap  {}% of the value burned",
        percent(params.get(ParamId::UsageCapPpm).min(PPM), false)
    );
    let _ = writeln!(
        s,
        "  price      {} USD, {}/year",
        usd(scenario.price_usd_e8),
        bps_percent(scenario.price_growth_bps_per_year)
    );
    let _ = writeln!(
        s,
        "  demand     {} USD/day, {}/month",
        usd(scenario.demand_usd_e8_per_day),
        bps_percent(scenario.demand_growth_bps_per_month)
    );
    let _ = writeln!(
        s,
        "  providers  {}, {}/month",
        grouped(u128::from(scenario.providers)),
        bps_percent(scenario.provider_growth_bps_per_month)
    );
    let _ = writeln!(
        s,
        "  params     {}",
        if changed.is_empty() {
            "defaults".to_owned()
        } else {
            changed.join(", ")
        }
    );
    s
}

const TABLE_HEADER: [&str; 11] = [
    "EPOCH",
    "DAY",
    "EMISSION",
    "BURNED",
    "NET EMISSION",
    "SUPPLY ADDED",
    "COVERAGE %",
    "USAGE %",
    "PROVIDERS",
    "INCOME USD",
    "PRICE USD",
];

/// Numbers right-aligned under their headings, two spaces apart.
fn table(rows: &[&EpochRow]) -> String {
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            [
                grouped(u128::from(r.epoch)),
                grouped(u128::from(r.day)),
                tokens(r.emission),
                tokens(r.burned),
                signed(r.net_emission, true, tokens),
                signed(r.supply_added, false, tokens),
                r.coverage_ppm
                    .map_or_else(|| "-".to_owned(), |ppm| percent(ppm, true)),
                percent(r.usage_share_ppm, false),
                grouped(r.providers),
                usd(r.provider_income_usd_e8),
                usd(r.price_usd_e8),
            ]
        })
        .collect();
    let mut widths = TABLE_HEADER.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let header = TABLE_HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&cells) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:>w$}"))
            .collect();
        s.push_str(&line.join("  "));
        s.push('\n');
    }
    s
}

fn footer(summary: &Summary, scenario: &Scenario, csv: &std::path::Path, rows: usize) -> String {
    let mut s = String::new();
    let cap_share = match summary.emission_cap {
        Some(cap) if cap > 0 => format!(
            " ({}% of the cap)",
            percent(summary.emitted * PPM / cap, false)
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "total emitted        {} tokens{cap_share}",
        usd(summary.emitted)
    );
    let _ = writeln!(s, "total burned         {} tokens", usd(summary.burned));
    let _ = writeln!(
        s,
        "supply added         {} tokens",
        signed(summary.supply_added, true, usd)
    );
    let ends_day = u128::from(summary.emission_ends - 1) * u128::from(scenario.epoch_ms)
        / u128::from(DAY_MS)
        + 1;
    let _ = writeln!(
        s,
        "emission cap         {} (emission is zero from epoch {}, day {})",
        summary.emission_cap.map_or_else(
            || "beyond u128".to_owned(),
            |cap| format!("{} tokens", usd(cap))
        ),
        grouped(u128::from(summary.emission_ends)),
        grouped(ends_day)
    );
    let _ = writeln!(
        s,
        "100% demand coverage {}",
        summary.full_coverage.map_or_else(
            || "not within the horizon".to_owned(),
            |(epoch, day)| format!(
                "first at epoch {}, day {}",
                grouped(u128::from(epoch)),
                grouped(u128::from(day))
            )
        )
    );
    let _ = writeln!(
        s,
        "csv                  {} ({} rows, one per epoch)",
        csv.display(),
        grouped(rows as u128)
    );
    s
}

const CSV_HEADER: &str = "epoch,day,emission_base,burned_base,net_emission_base,\
supply_added_base,emitted_total_base,burned_total_base,demand_usd_e8,burned_usd_e8,\
emitted_usd_e8,price_usd_e8,providers,\
provider_pool_base,usage_rewards_base,capacity_rewards_base,coverage_ppm,usage_share_ppm,\
provider_income_usd_e8,emission,burned,net_emission,supply_added,demand_usd,price_usd,\
coverage_pct,usage_share_pct,provider_income_usd";

/// Every row: raw integers first, then the same amounts as exact decimals.
fn write_csv(out: &mut impl Write, rows: &[EpochRow]) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    let mut line = String::with_capacity(512);
    let exact_signed = |line: &mut String, v: i128| {
        if v < 0 {
            line.push('-');
        }
        push_decimal(line, v.unsigned_abs(), 0, 8, false);
    };
    for r in rows {
        line.clear();
        push_uint(&mut line, u128::from(r.epoch));
        line.push(',');
        push_uint(&mut line, u128::from(r.day));
        for v in [r.emission, r.burned] {
            line.push(',');
            push_uint(&mut line, v);
        }
        for v in [r.net_emission, r.supply_added] {
            line.push(',');
            push_int(&mut line, v);
        }
        for v in [
            r.emitted_total,
            r.burned_total,
            r.demand_usd_e8,
            r.burned_usd_e8,
            r.emitted_usd_e8,
            r.price_usd_e8,
            r.providers,
            r.provider_pool,
            r.usage_rewards,
            r.capacity_rewards,
        ] {
            line.push(',');
            push_uint(&mut line, v);
        }
        line.push(',');
        if let Some(ppm) = r.coverage_ppm {
            push_uint(&mut line, ppm);
        }
        for v in [r.usage_share_ppm, r.provider_income_usd_e8] {
            line.push(',');
            push_uint(&mut line, v);
        }
        for v in [r.emission, r.burned] {
            line.push(',');
            push_decimal(&mut line, v, 0, 8, false);
        }
        for v in [r.net_emission, r.supply_added] {
            line.push(',');
            exact_signed(&mut line, v);
        }
        for v in [r.demand_usd_e8, r.price_usd_e8] {
            line.push(',');
            push_decimal(&mut line, v, 0, 8, false);
        }
        line.push(',');
        if let Some(ppm) = r.coverage_ppm {
            push_percent(&mut line, ppm, false);
        }
        line.push(',');
        push_percent(&mut line, r.usage_share_ppm, false);
        line.push(',');
        push_decimal(&mut line, r.provider_income_usd_e8, 0, 8, false);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

// ---- JSON: integers beyond 2⁵³ and amounts travel as strings. ----

#[derive(Debug, Serialize)]
struct JsonReport {
    scenario: JsonScenario,
    params: Vec<JsonParam>,
    pool_shares_ppm: Vec<JsonParam>,
    summary: JsonSummary,
    csv: String,
    rows: Vec<JsonRow>,
}

#[derive(Debug, Serialize)]
struct JsonScenario {
    epochs: u64,
    epoch_ms: u64,
    price_usd: String,
    price_growth_bps_per_year: i64,
    demand_usd_per_day: String,
    demand_growth_bps_per_month: i64,
    providers: u64,
    provider_growth_bps_per_month: i64,
}

#[derive(Debug, Serialize)]
struct JsonParam {
    name: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
struct JsonSummary {
    emitted: Tokens,
    burned: Tokens,
    supply_added: String,
    full_coverage_epoch: Option<u64>,
    full_coverage_day: Option<u64>,
    emission_cap: Option<Tokens>,
    emission_ends_epoch: u64,
}

#[derive(Debug, Serialize)]
struct JsonRow {
    epoch: u64,
    day: u64,
    emission: Tokens,
    burned: Tokens,
    net_emission: String,
    supply_added: String,
    demand_usd: String,
    burned_usd: String,
    emitted_usd: String,
    price_usd: String,
    providers: String,
    provider_pool: Tokens,
    usage_rewards: Tokens,
    capacity_rewards: Tokens,
    coverage_ppm: Option<String>,
    coverage_pct: Option<String>,
    usage_share_ppm: String,
    provider_income_usd: String,
}

fn json_report(
    params: &Params,
    scenario: &Scenario,
    summary: &Summary,
    rows: &[&EpochRow],
    csv: &std::path::Path,
) -> JsonReport {
    let plain = |v: u128| exact(v, 0, false);
    let tok = Tokens::from_base_units;
    // The parameters the model reads, and any other the run changed.
    let read = [
        ParamId::EmissionPerEpoch,
        ParamId::EmissionHalvingEpochs,
        ParamId::EpochDurationMs,
        ParamId::UsageCapPpm,
    ];
    let params_out = ParamId::ALL
        .iter()
        .filter(|id| read.contains(id) || params.get(**id) != id.spec().default)
        .map(|id| JsonParam {
            name: id.name(),
            value: params.get(*id).to_string(),
        })
        .collect();
    JsonReport {
        scenario: JsonScenario {
            epochs: scenario.epochs,
            epoch_ms: scenario.epoch_ms,
            price_usd: plain(scenario.price_usd_e8),
            price_growth_bps_per_year: scenario.price_growth_bps_per_year,
            demand_usd_per_day: plain(scenario.demand_usd_e8_per_day),
            demand_growth_bps_per_month: scenario.demand_growth_bps_per_month,
            providers: scenario.providers,
            provider_growth_bps_per_month: scenario.provider_growth_bps_per_month,
        },
        params: params_out,
        pool_shares_ppm: params
            .pool_shares()
            .iter()
            .map(|(p, ppm)| JsonParam {
                name: p.name(),
                value: ppm.to_string(),
            })
            .collect(),
        summary: JsonSummary {
            emitted: tok(summary.emitted),
            burned: tok(summary.burned),
            supply_added: signed(summary.supply_added, false, plain),
            full_coverage_epoch: summary.full_coverage.map(|(e, _)| e),
            full_coverage_day: summary.full_coverage.map(|(_, d)| d),
            emission_cap: summary.emission_cap.map(tok),
            emission_ends_epoch: summary.emission_ends,
        },
        csv: csv.display().to_string(),
        rows: rows
            .iter()
            .map(|r| JsonRow {
                epoch: r.epoch,
                day: r.day,
                emission: tok(r.emission),
                burned: tok(r.burned),
                net_emission: signed(r.net_emission, false, plain),
                supply_added: signed(r.supply_added, false, plain),
                demand_usd: plain(r.demand_usd_e8),
                burned_usd: plain(r.burned_usd_e8),
                emitted_usd: plain(r.emitted_usd_e8),
                price_usd: plain(r.price_usd_e8),
                providers: r.providers.to_string(),
                provider_pool: tok(r.provider_pool),
                usage_rewards: tok(r.usage_rewards),
                capacity_rewards: tok(r.capacity_rewards),
                coverage_ppm: r.coverage_ppm.map(|p| p.to_string()),
                coverage_pct: r.coverage_ppm.map(|p| percent(p, false)),
                usage_share_ppm: r.usage_share_ppm.to_string(),
                provider_income_usd: plain(r.provider_income_usd_e8),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn args(extra: &[&str]) -> SimulateArgs {
        let argv = std::iter::once("simulate").chain(extra.iter().copied());
        Cli::try_parse_from(argv).expect("valid arguments").args
    }

    fn default_scenario() -> (Params, Scenario) {
        setup(&args(&[])).expect("the defaults are valid")
    }

    #[test]
    fn defaults_are_five_years_of_hourly_epochs() {
        let (params, scenario) = default_scenario();
        assert_eq!(params, Params::default());
        assert_eq!(
            scenario,
            Scenario {
                epochs: 5 * 365 * 24,
                epoch_ms: 3_600_000,
                price_usd_e8: E8,
                price_growth_bps_per_year: 0,
                demand_usd_e8_per_day: 1_000 * E8,
                demand_growth_bps_per_month: 1_000,
                providers: 1_000,
                provider_growth_bps_per_month: 300,
            }
        );
        let (_, s) = setup(&args(&["--epochs", "7", "--epoch-hours", "24"])).unwrap();
        assert_eq!((s.epochs, s.epoch_ms), (7, 86_400_000));
        let (_, s) = setup(&args(&["--demand-growth-bps-per-month", "-250"])).unwrap();
        assert_eq!(s.demand_growth_bps_per_month, -250);
    }

    #[test]
    fn emission_over_a_long_enough_horizon_equals_the_cap() {
        for params in [
            Params::default(),
            Params::default()
                .with(ParamId::EmissionHalvingEpochs, 3)
                .unwrap()
                .with(ParamId::EmissionPerEpoch, 123_456_789_012_345)
                .unwrap(),
        ] {
            let ends = emission_ends(&params);
            assert!(emission_for_epoch(&params, Epoch(ends)).is_zero());
            assert!(!emission_for_epoch(&params, Epoch(ends - 1)).is_zero());
            let (_, mut scenario) = default_scenario();
            scenario.epochs = ends + 5;
            let rows = project(&params, &scenario);
            let summary = summarize(&params, &rows);
            let cap = emission_cap(&params).unwrap().base_units();
            assert_eq!(summary.emitted, cap);
            assert_eq!(rows.iter().map(|r| r.emission).sum::<u128>(), cap);
            assert_eq!(rows.last().unwrap().coverage_ppm, None);
        }
    }

    #[test]
    fn provider_pools_are_their_share_of_the_emission() {
        let shares = Params::default().pool_shares();
        // 70% to the four device pools.
        assert_eq!(
            provider_pool(10_000_000_000_000, &shares),
            7_000_000_000_000
        );
        for emission in [0, 1, 7, 999_999, 123_456_789_012_345] {
            let pool = provider_pool(emission, &shares);
            assert!(
                pool <= emission && emission * 7 / 10 <= pool + 4,
                "{emission}"
            );
        }
    }

    #[test]
    fn demand_coverage_rises_with_demand_growth() {
        let (params, scenario) = default_scenario();
        let rows = project(&params, &scenario);
        assert_eq!(rows.len(), 43_800);
        // No emission is infinite coverage: above any number.
        let coverage = |r: &EpochRow| r.coverage_ppm.unwrap_or(u128::MAX);
        for pair in rows.windows(2) {
            assert!(pair[1].burned >= pair[0].burned, "epoch {}", pair[1].epoch);
            assert!(
                coverage(&pair[1]) >= coverage(&pair[0]),
                "epoch {}",
                pair[1].epoch
            );
        }
        assert!(coverage(&rows[0]) < PPM);
        let summary = summarize(&params, &rows);
        let (epoch, _) = summary.full_coverage.expect("reached within five years");
        assert!(coverage(&rows[epoch as usize - 1]) >= PPM);
        assert!(coverage(&rows[epoch as usize - 2]) < PPM);
        // A month in, demand has compounded once: 1,100 USD a day, 1/24 of it an hour.
        let month_epoch = (MONTH_MS / HOUR_MS) as usize + 1;
        assert_eq!(rows[month_epoch - 1].demand_usd_e8, 1_100 * E8 / 24);
    }

    #[test]
    fn usage_rewards_never_exceed_the_capped_burn() {
        let (params, mut scenario) = setup(&args(&[
            "--param",
            "usage_cap_ppm=750000",
            "--demand-usd-per-day",
            "500000",
            "--demand-growth-bps-per-month",
            "2000",
            "--price-usd",
            "0.25",
        ]))
        .unwrap();
        scenario.epochs = 3_000;
        let rows = project(&params, &scenario);
        let (mut capped_by_burn, mut capped_by_pool) = (false, false);
        for r in &rows {
            let cap = r.burned * 750_000 / PPM;
            assert!(r.usage_rewards <= cap, "epoch {}", r.epoch);
            assert!(r.usage_rewards <= r.provider_pool, "epoch {}", r.epoch);
            assert_eq!(r.usage_rewards + r.capacity_rewards, r.provider_pool);
            capped_by_burn |= r.usage_rewards == cap && cap < r.provider_pool;
            capped_by_pool |= r.usage_rewards == r.provider_pool && cap > r.provider_pool;
        }
        assert!(capped_by_burn && capped_by_pool);
    }

    #[test]
    fn decimals_parse_without_floats() {
        assert_eq!(parse_usd_e8("1.00"), Ok(100_000_000));
        assert_eq!(parse_usd_e8("0.5"), Ok(50_000_000));
        assert_eq!(parse_usd_e8("12.34567"), Ok(1_234_567_000));
        assert_eq!(parse_usd_e8("1000"), Ok(100_000_000_000));
        for bad in ["abc", "-1", "", "1e3", "1.000000001"] {
            assert!(parse_usd_e8(bad).is_err(), "{bad}");
        }
        assert!(parse_usd_e8("-1").unwrap_err().contains("non-negative"));
    }

    #[test]
    fn bad_inputs_are_refused_with_the_flag_named() {
        let err = |argv: &[&str]| format!("{:#}", setup(&args(argv)).unwrap_err());
        let e = err(&["--price-usd", "0"]);
        assert!(e.contains("--price-usd must be above zero"), "{e}");
        let e = err(&["--param", "pool_coverage_ppm=900000"]);
        assert!(e.contains("more than 1,000,000"), "{e}");
        let e = err(&["--param", "usage_cap_ppm=2000000"]);
        assert!(e.contains("--param usage_cap_ppm=2000000"), "{e}");
        let e = err(&["--years", "0"]);
        assert!(e.contains("must be 1 to"), "{e}");
        let e = err(&["--demand-growth-bps-per-month=-20000"]);
        assert!(e.contains("--demand-growth-bps-per-month"), "{e}");
        assert!(parse_param_arg("no_such_param=1").is_err());
        assert!(parse_param_arg("emission_per_epoch").is_err());
        assert!(parse_param_arg("emission_per_epoch=1.5").is_err());
    }

    #[test]
    fn output_is_formatted_from_integers() {
        assert_eq!(tokens(123_456_789_012_345), "1,234,567.89");
        assert_eq!(signed(-150_000_000, true, tokens), "-1.50");
        assert_eq!(signed(150_000_000, true, tokens), "+1.50");
        assert_eq!(usd(E8), "1.00");
        assert_eq!(usd(4_794), "0.00004794");
        assert_eq!(percent(1_000_000, false), "100.00");
        assert_eq!(percent(417, false), "0.04");
        assert_eq!(bps_percent(-250), "-2.50%");
        // The fast formatter agrees with the ledger's own amounts, past 64 bits too.
        for v in [
            0,
            1,
            10,
            E8,
            12_345_678_901,
            u128::from(u64::MAX) + 7,
            u128::MAX,
        ] {
            assert_eq!(exact(v, 0, false), Tokens::from_base_units(v).to_string());
        }
        assert_eq!(
            percent(u128::from(u64::MAX) * 10_000 + 4_200, false),
            format!("{}.42", u64::MAX)
        );
        assert_eq!(sample(43_800, 20).len(), 20);
        assert_eq!(sample(43_800, 20)[0], 0);
        assert_eq!(sample(43_800, 20)[19], 43_799);
        assert_eq!(sample(5, 20), vec![0, 1, 2, 3, 4]);
        assert_eq!(sample(5, 1), vec![4]);
        assert_eq!(sample(1, 20), vec![0]);
        assert_eq!(sample(0, 20), Vec::<usize>::new());
    }

    #[test]
    fn csv_has_a_row_per_epoch() {
        let (params, mut scenario) = default_scenario();
        scenario.epochs = 50;
        let rows = project(&params, &scenario);
        let mut out = Vec::new();
        write_csv(&mut out, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 51);
        let columns = CSV_HEADER.split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == columns));
        assert!(lines[1].starts_with("1,1,10000000000000,"), "{}", lines[1]);
        let last: Vec<&str> = lines[50].split(',').collect();
        let r = &rows[49];
        let col = |name: &str| {
            let i = CSV_HEADER.split(',').position(|h| h == name).unwrap();
            last[i]
        };
        assert_eq!(col("emission_base"), r.emission.to_string());
        assert_eq!(
            col("emission"),
            Tokens::from_base_units(r.emission).to_string()
        );
        assert_eq!(col("burned"), Tokens::from_base_units(r.burned).to_string());
        assert_eq!(col("coverage_ppm"), r.coverage_ppm.unwrap().to_string());
        assert_eq!(
            col("provider_income_usd"),
            exact(r.provider_income_usd_e8, 0, false)
        );
    }
}
