//! `cairn params`: the ledger's parameter registry.

use anyhow::Result;
use cairn_ledger::ParamId;
use clap::Args;
use serde::Serialize;

use crate::output;

#[derive(Debug, Args)]
pub struct ParamsCmd {
    /// Print a JSON array instead of a table (integers as strings: they exceed 2^53).
    #[arg(long)]
    json: bool,
}

/// One parameter as printed. Values are `u128` and shown as decimal strings.
#[derive(Debug, Serialize)]
struct ParamRow {
    name: &'static str,
    default: String,
    min: String,
    max: String,
    max_step: String,
    unit: &'static str,
    economic: bool,
    doc: &'static str,
}

fn rows() -> Vec<ParamRow> {
    ParamId::ALL
        .iter()
        .map(|id| {
            let s = id.spec();
            ParamRow {
                name: s.name,
                default: s.default.to_string(),
                min: s.min.to_string(),
                max: s.max.to_string(),
                max_step: s.max_step.to_string(),
                unit: s.unit,
                economic: s.economic,
                doc: s.doc,
            }
        })
        .collect()
}

impl ParamsCmd {
    pub fn run(self) -> Result<()> {
        let rows = rows();
        if self.json {
            return output::print_json(&rows);
        }
        let cells: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| {
                vec![
                    r.name.to_owned(),
                    r.default,
                    r.min,
                    r.max,
                    r.max_step,
                    r.unit.to_owned(),
                    if r.economic { "yes" } else { "no" }.to_owned(),
                    r.doc.to_owned(),
                ]
            })
            .collect();
        let header = [
            "name", "default", "min", "max", "max_step", "unit", "economic", "doc",
        ];
        output::print_stdout(&output::table(&header, &cells))
    }
}
