//! Argument types and parsers shared by several commands.
//!
//! Parsers return messages that name the input and say what was expected; clap prefixes
//! them with the flag (`invalid value 'x' for '--to <DID>': …`).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use cairn_core::{AmountError, Tokens};
use cairn_ledger::ParamId;
use cairn_ledger::params::Params;
use cairn_ledger::tx::{DeviceKind, ParamValue, ServiceKind, VoteChoice};
use clap::ValueEnum;
use serde::de::DeserializeOwned;

/// The kinds of work a device does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceKindArg {
    /// Wireless coverage (hotspots, small cells).
    Coverage,
    /// Storage of data.
    Storage,
    /// Compute jobs.
    Compute,
    /// Sensor readings.
    Sensor,
}

impl From<DeviceKindArg> for DeviceKind {
    fn from(k: DeviceKindArg) -> Self {
        match k {
            DeviceKindArg::Coverage => DeviceKind::Coverage,
            DeviceKindArg::Storage => DeviceKind::Storage,
            DeviceKindArg::Compute => DeviceKind::Compute,
            DeviceKindArg::Sensor => DeviceKind::Sensor,
        }
    }
}

/// The services consumers pay for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceArg {
    /// Wireless coverage.
    Coverage,
    /// Storage of data.
    Storage,
    /// Compute jobs.
    Compute,
    /// Sensor data.
    #[value(name = "sensor_data", alias = "sensor-data")]
    SensorData,
}

impl From<ServiceArg> for ServiceKind {
    fn from(s: ServiceArg) -> Self {
        match s {
            ServiceArg::Coverage => ServiceKind::Coverage,
            ServiceArg::Storage => ServiceKind::Storage,
            ServiceArg::Compute => ServiceKind::Compute,
            ServiceArg::SensorData => ServiceKind::SensorData,
        }
    }
}

/// A vote on a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VoteArg {
    /// For the proposal.
    Yes,
    /// Against the proposal.
    No,
    /// Counts towards quorum only.
    Abstain,
    /// Against, and the proposal is abuse: enough vetoes burn its deposit.
    Veto,
}

impl From<VoteArg> for VoteChoice {
    fn from(v: VoteArg) -> Self {
        match v {
            VoteArg::Yes => VoteChoice::Yes,
            VoteArg::No => VoteChoice::No,
            VoteArg::Abstain => VoteChoice::Abstain,
            VoteArg::Veto => VoteChoice::Veto,
        }
    }
}

/// A USD price with up to 8 decimal places, as an integer of 10^-8 USD.
pub fn parse_usd_e8(s: &str) -> Result<u128, String> {
    s.parse::<Tokens>()
        .map(Tokens::base_units)
        .map_err(|e| match e {
            AmountError::TooPrecise { .. } => {
                format!("USD price {s:?} has more than 8 decimal places")
            }
            AmountError::Overflow { .. } => format!("USD price {s:?} is too large"),
            AmountError::Syntax { .. } => {
                format!("invalid USD price {s:?}: expected a decimal number such as \"1.25\"")
            }
        })
}

/// Check a parameter value against its registry bounds.
pub fn checked_param(param: ParamId, value: u128) -> Result<ParamValue, String> {
    Params::check_bounds(param, value).map_err(|e| e.to_string())?;
    Ok(ParamValue { param, value })
}

/// A parameter value, parsed and checked against the registry bounds.
pub fn parse_param_u128(s: &str) -> Result<u128, String> {
    s.trim().parse::<u128>().map_err(|_| {
        format!(
            "invalid parameter value {s:?}: expected a non-negative integer in the \
             parameter's unit (see `cairn params`)"
        )
    })
}

/// `NAME=VALUE`, e.g. `quorum_bps=4000`, checked against the parameter's bounds.
pub fn parse_param_set(s: &str) -> Result<ParamValue, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE such as quorum_bps=4000, got {s:?}"))?;
    let param: ParamId = name.trim().parse().map_err(|e| format!("{e}"))?;
    checked_param(param, parse_param_u128(value)?)
}

/// Read and parse a JSON file given as `flag`, naming both in every error.
pub fn read_json<T: DeserializeOwned>(flag: &str, path: &Path, what: &str) -> Result<T> {
    let shown = path.display();
    let text = fs::read_to_string(path).with_context(|| format!("reading {flag} {shown}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {flag} {shown} as {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_name_the_problem() {
        assert_eq!(parse_usd_e8("1.25").unwrap(), 125_000_000);
        assert!(
            parse_usd_e8("1.000000001")
                .unwrap_err()
                .contains("8 decimal places")
        );
        assert!(parse_usd_e8("abc").unwrap_err().contains("USD price"));
        let pv = parse_param_set("quorum_bps=4000").unwrap();
        assert_eq!((pv.param, pv.value), (ParamId::QuorumBps, 4000));
        assert!(
            parse_param_set("quorum_bps")
                .unwrap_err()
                .contains("NAME=VALUE")
        );
        assert!(
            parse_param_set("nope=1")
                .unwrap_err()
                .contains("cairn params")
        );
        assert!(
            parse_param_set("quorum_bps=-1")
                .unwrap_err()
                .contains("integer")
        );
        assert!(
            parse_param_set("quorum_bps=10001")
                .unwrap_err()
                .contains("bounds")
        );
    }
}
