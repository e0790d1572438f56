//! Genesis: the initial allocations, authorities, makers and parameters.

use cairn_core::{Height, NetworkId, PublicKey, Tokens};
use imbl::OrdMap;
use serde::{Deserialize, Serialize};

use crate::params::{ParamError, ParamId, Params};
use crate::state::{Account, Authorities, Maker, State, Supply};
use crate::tx::ParamValue;

/// The content of a genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub network: NetworkId,
    /// Unix milliseconds; block 1's time must not be earlier.
    pub time_ms: u64,
    pub allocations: Vec<Allocation>,
    pub treasury: Tokens,
    pub validators: Vec<GenesisValidator>,
    pub price_oracles: Vec<PublicKey>,
    pub reward_oracles: Vec<PublicKey>,
    pub verifier_oracles: Vec<PublicKey>,
    pub makers: Vec<GenesisMaker>,
    /// Parameters that differ from the defaults.
    #[serde(default)]
    pub params: Vec<ParamValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub account: PublicKey,
    pub tokens: Tokens,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    pub key: PublicKey,
    pub power: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisMaker {
    pub key: PublicKey,
    pub name: String,
}

/// Why a genesis is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis allocates to {0} more than once")]
    DuplicateAllocation(String),
    #[error("genesis lists {what} {key} more than once")]
    Duplicate { what: &'static str, key: String },
    #[error("genesis needs at least one validator with power > 0")]
    NoValidators,
    #[error("genesis token total overflows 128 bits")]
    Overflow,
    #[error("genesis sets parameter {0} twice")]
    DuplicateParam(&'static str),
    #[error("genesis: {0}")]
    Param(#[from] ParamError),
    #[error("genesis: {role} threshold {threshold} exceeds the {count} {role} oracle(s) listed")]
    Threshold {
        role: &'static str,
        threshold: u128,
        count: usize,
    },
    #[error("genesis: maker name must be 1 to 64 characters")]
    MakerName,
}

fn unique(what: &'static str, keys: &[PublicKey]) -> Result<Vec<PublicKey>, GenesisError> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    for w in sorted.windows(2) {
        if w[0] == w[1] {
            return Err(GenesisError::Duplicate {
                what,
                key: w[0].to_did(),
            });
        }
    }
    Ok(sorted)
}

impl Genesis {
    /// Build the state at height 0.
    pub fn into_state(&self) -> Result<State, GenesisError> {
        let mut params = Params::default();
        let mut seen = std::collections::BTreeSet::new();
        for pv in &self.params {
            if !seen.insert(pv.param) {
                return Err(GenesisError::DuplicateParam(pv.param.name()));
            }
            Params::check_bounds(pv.param, pv.value)?;
            params.set(pv.param, pv.value);
        }
        params.check_consistency()?;

        let mut accounts = OrdMap::new();
        let mut total = self.treasury;
        for a in &self.allocations {
            if accounts.contains_key(&a.account) {
                return Err(GenesisError::DuplicateAllocation(a.account.to_did()));
            }
            total = total.checked_add(a.tokens).ok_or(GenesisError::Overflow)?;
            accounts.insert(
                a.account,
                Account {
                    tokens: a.tokens,
                    ..Account::default()
                },
            );
        }

        let validator_keys: Vec<PublicKey> = self.validators.iter().map(|v| v.key).collect();
        unique("validator", &validator_keys)?;
        if !self.validators.iter().any(|v| v.power > 0) {
            return Err(GenesisError::NoValidators);
        }
        let mut validators: Vec<(PublicKey, u64)> =
            self.validators.iter().map(|v| (v.key, v.power)).collect();
        validators.sort();

        let authorities = Authorities {
            validators,
            price_oracles: unique("price oracle", &self.price_oracles)?,
            reward_oracles: unique("reward oracle", &self.reward_oracles)?,
            verifier_oracles: unique("verifier oracle", &self.verifier_oracles)?,
        };
        for (role, param, count) in [
            (
                "reward",
                ParamId::RewardOracleThreshold,
                authorities.reward_oracles.len(),
            ),
            (
                "verifier",
                ParamId::VerifierOracleThreshold,
                authorities.verifier_oracles.len(),
            ),
            (
                "price",
                ParamId::PriceMinSources,
                authorities.price_oracles.len(),
            ),
        ] {
            let threshold = params.get(param);
            if count > 0 && threshold > count as u128 {
                return Err(GenesisError::Threshold {
                    role,
                    threshold,
                    count,
                });
            }
        }

        let mut makers = OrdMap::new();
        for m in &self.makers {
            if m.name.is_empty() || m.name.chars().count() > 64 {
                return Err(GenesisError::MakerName);
            }
            if makers.contains_key(&m.key) {
                return Err(GenesisError::Duplicate {
                    what: "maker",
                    key: m.key.to_did(),
                });
            }
            makers.insert(
                m.key,
                Maker {
                    name: m.name.clone(),
                    approved_at: Height(0),
                    revoked_at: None,
                    devices_onboarded: 0,
                },
            );
        }

        Ok(State {
            network: self.network.clone(),
            height: Height(0),
            genesis_time_ms: self.time_ms,
            time_ms: self.time_ms,
            breakers: Default::default(),
            params,
            authorities,
            supply: Supply {
                genesis: total,
                treasury: self.treasury,
                ..Supply::default()
            },
            accounts,
            makers,
            devices: OrdMap::new(),
            locks: OrdMap::new(),
            prices: OrdMap::new(),
            manifests: OrdMap::new(),
            manifest_votes: OrdMap::new(),
            claimed: OrdMap::new(),
            usage: OrdMap::new(),
            economics: OrdMap::new(),
            vesting: OrdMap::new(),
            treasury_outflow: OrdMap::new(),
            spent_receipts: OrdMap::new(),
            denylist: OrdMap::new(),
            denylist_by_device: Default::default(),
            proposals: OrdMap::new(),
            votes: OrdMap::new(),
            validator_faults: OrdMap::new(),
            epoch_closes: OrdMap::new(),
            next_denylist_id: 1,
            next_proposal_id: 1,
        })
    }
}
