//! From ledger states to rows. The ledger keeps its collections in persistent maps, so the
//! difference between the state last indexed and the finalized one is found by walking
//! both and skipping the subtrees they share (`OrdMap::diff`): a block that touched three
//! devices costs three device rows, whatever the network's size. With no previous state
//! (a new index, or a restart) every object is written once.

use std::collections::BTreeSet;

use cairn_core::{Credits, Hash, PublicKey, Tokens};
use cairn_ledger::State;
use cairn_ledger::state::{DenylistStatus, ProposalStatus};
use cairn_ledger::tx::{DenyTarget, ProposalKind, Recipient, VoteChoice};
use imbl::ordmap::DiffItem;

use crate::cell;
use crate::store::Val;

/// A finalized block as the index keeps it.
#[derive(Debug, Clone)]
pub struct BlockFacts {
    pub height: u64,
    pub digest: Hash,
    pub time_ms: u64,
    pub txs: Vec<TxFacts>,
}

/// One transaction of a finalized block.
#[derive(Debug, Clone)]
pub struct TxFacts {
    pub hash: Hash,
    pub sender: PublicKey,
    pub kind: &'static str,
    /// The fee as shown: `"0.001 tokens"` or `"10 credits"`.
    pub fee: String,
}

/// Rows to write for one step from a previous state to the next.
#[derive(Debug, Default)]
pub struct LedgerDelta {
    pub height: u64,
    pub devices: Vec<Vec<Val>>,
    pub removed_devices: Vec<String>,
    pub accounts: Vec<Vec<Val>>,
    pub proposals: Vec<Vec<Val>>,
    pub votes: Vec<Vec<Val>>,
    pub denylist: Vec<Vec<Val>>,
    pub usage: Vec<Vec<Val>>,
    /// (epoch, economics JSON)
    pub economics: Vec<(u64, String)>,
    /// (epoch, manifest hash, cumulative root, accepted height, signers JSON)
    pub manifests: Vec<(u64, String, String, u64, String)>,
    pub params: Option<Vec<Vec<Val>>>,
    /// The network's figures for the stats page (JSON).
    pub ledger_meta: String,
}

pub const DEVICE_COLUMNS: &[&str] = &[
    "did",
    "kind",
    "owner",
    "maker",
    "cell",
    "cell15",
    "onboarded_height",
    "onboarded_epoch",
    "bond",
    "location_moves",
    "claimed",
    "deny_id",
    "deny_reason",
    "deny_status",
];

pub const ACCOUNT_COLUMNS: &[&str] = &[
    "did", "tokens", "credits", "nonce", "locked", "vesting", "claimed",
];

pub const PROPOSAL_COLUMNS: &[&str] = &[
    "id",
    "proposer",
    "kind",
    "status",
    "start_height",
    "voting_end",
    "deposit",
    "tally",
    "detail",
];

pub const VOTE_COLUMNS: &[&str] = &["proposal", "voter", "choice", "weight"];

pub const DENYLIST_COLUMNS: &[&str] = &[
    "id",
    "targets",
    "reason",
    "status",
    "created_at",
    "appeal_until",
    "expires_at",
    "reporter",
    "appeal_proposal",
];

pub const USAGE_COLUMNS: &[&str] = &["epoch", "did", "kind", "credits", "tokens"];

pub const PARAM_COLUMNS: &[&str] = &["name", "value", "unit", "description"];

pub fn units(x: u128) -> String {
    x.to_string()
}

fn tokens(t: Tokens) -> Val {
    Val::Text(units(t.base_units()))
}

fn credits(c: Credits) -> Val {
    Val::Text(units(c.base_units()))
}

fn status_name(s: DenylistStatus) -> &'static str {
    match s {
        DenylistStatus::Active => "active",
        DenylistStatus::Appealed { .. } => "appealed",
        DenylistStatus::Upheld => "upheld",
        DenylistStatus::Overturned => "overturned",
    }
}

fn proposal_status(s: &ProposalStatus) -> &'static str {
    match s {
        ProposalStatus::Voting => "voting",
        ProposalStatus::Passed { .. } => "passed",
        ProposalStatus::Rejected => "rejected",
        ProposalStatus::Vetoed => "vetoed",
        ProposalStatus::NoQuorum => "no_quorum",
        ProposalStatus::Executed { .. } => "executed",
        ProposalStatus::Failed { .. } => "failed",
    }
}

fn proposal_kind(k: &ProposalKind) -> String {
    // The variant's snake_case name, as the ledger's JSON spells it.
    match serde_json::to_value(k) {
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned().unwrap_or_default(),
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn choice_name(c: VoteChoice) -> &'static str {
    match c {
        VoteChoice::Yes => "yes",
        VoteChoice::No => "no",
        VoteChoice::Abstain => "abstain",
        VoteChoice::Veto => "veto",
    }
}

fn device_row(state: &State, key: &PublicKey) -> Option<Vec<Val>> {
    let d = state.devices.get(key)?;
    let claimed = state
        .claimed
        .get(&Recipient::Device(*key))
        .copied()
        .unwrap_or(Tokens::ZERO);
    let deny = state
        .withholding_entry(key, state.height)
        .and_then(|id| state.denylist.get(&id).map(|r| (id, r)));
    let located = d
        .location
        .and_then(|l| h3o::CellIndex::try_from(l.as_u64()).ok());
    Some(vec![
        key.to_did().into(),
        d.kind.name().into(),
        d.owner.to_did().into(),
        d.maker.to_did().into(),
        located.map(|c| c.to_string()).into(),
        located.map(cell::stored).into(),
        d.onboarded_at.0.into(),
        d.onboarded_epoch.0.into(),
        tokens(d.bond),
        d.location_moves.into(),
        tokens(claimed),
        deny.map(|(id, _)| id).into(),
        deny.map(|(_, r)| r.entry.reason).into(),
        deny.map(|(_, r)| status_name(r.status)).into(),
    ])
}

fn account_row(state: &State, key: &PublicKey) -> Vec<Val> {
    let a = state.account(key);
    let locked = state.locks.get(key).map_or(Tokens::ZERO, |l| l.amount);
    let vesting = state.vesting.get(key).map_or(Tokens::ZERO, |v| v.held());
    let claimed = state
        .claimed
        .get(&Recipient::Account(*key))
        .copied()
        .unwrap_or(Tokens::ZERO);
    vec![
        key.to_did().into(),
        tokens(a.tokens),
        credits(a.credits),
        a.nonce.into(),
        tokens(locked),
        tokens(vesting),
        tokens(claimed),
    ]
}

/// The keys whose entries differ between `prev` and `next` (all of `next`'s without a
/// previous map).
fn changed<K: Ord + Clone, V: PartialEq + Clone>(
    prev: Option<&imbl::OrdMap<K, V>>,
    next: &imbl::OrdMap<K, V>,
    out: &mut BTreeSet<K>,
) {
    match prev {
        None => out.extend(next.keys().cloned()),
        Some(prev) => {
            for item in prev.diff(next) {
                match item {
                    DiffItem::Add(k, _) | DiffItem::Remove(k, _) => {
                        out.insert(k.clone());
                    }
                    DiffItem::Update { new: (k, _), .. } => {
                        out.insert(k.clone());
                    }
                }
            }
        }
    }
}

/// The rows that take the index from `prev` (what it last wrote, `None` for everything)
/// to `next`.
pub fn delta(prev: Option<&State>, next: &State) -> LedgerDelta {
    let mut out = LedgerDelta {
        height: next.height.0,
        ..LedgerDelta::default()
    };

    // Devices: their record, the denylist entries naming them, what was claimed for them.
    let mut devices = BTreeSet::new();
    changed(prev.map(|p| &p.devices), &next.devices, &mut devices);
    let mut entries = BTreeSet::new();
    changed(prev.map(|p| &p.denylist), &next.denylist, &mut entries);
    // Entries that lapsed since the previous state withhold no longer.
    let since = prev.map_or(0, |p| p.height.0);
    for (id, r) in next.denylist.iter() {
        if r.entry.expires_at.0 > since && r.entry.expires_at.0 <= next.height.0 {
            entries.insert(*id);
        }
    }
    for id in &entries {
        let targets = next
            .denylist
            .get(id)
            .or_else(|| prev.and_then(|p| p.denylist.get(id)))
            .map(|r| r.entry.target.devices())
            .unwrap_or_default();
        devices.extend(targets);
    }
    let mut recipients = BTreeSet::new();
    changed(prev.map(|p| &p.claimed), &next.claimed, &mut recipients);
    let mut accounts = BTreeSet::new();
    for r in &recipients {
        match r {
            Recipient::Device(k) => {
                devices.insert(*k);
            }
            Recipient::Account(k) => {
                accounts.insert(*k);
            }
            Recipient::Treasury => {}
        }
    }
    for key in &devices {
        match device_row(next, key) {
            Some(row) => out.devices.push(row),
            None => out.removed_devices.push(key.to_did()),
        }
    }

    changed(prev.map(|p| &p.accounts), &next.accounts, &mut accounts);
    changed(prev.map(|p| &p.locks), &next.locks, &mut accounts);
    changed(prev.map(|p| &p.vesting), &next.vesting, &mut accounts);
    out.accounts = accounts.iter().map(|k| account_row(next, k)).collect();

    let mut proposals = BTreeSet::new();
    changed(prev.map(|p| &p.proposals), &next.proposals, &mut proposals);
    for id in &proposals {
        if let Some(p) = next.proposals.get(id) {
            out.proposals.push(vec![
                (*id).into(),
                p.proposer.to_did().into(),
                proposal_kind(&p.kind).into(),
                proposal_status(&p.status).into(),
                p.start.0.into(),
                p.voting_end.0.into(),
                tokens(p.deposit),
                serde_json::to_string(&p.tally).unwrap_or_default().into(),
                serde_json::to_string(p).unwrap_or_default().into(),
            ]);
        }
    }
    let mut votes = BTreeSet::new();
    changed(prev.map(|p| &p.votes), &next.votes, &mut votes);
    for key in &votes {
        if let Some(v) = next.votes.get(key) {
            out.votes.push(vec![
                key.0.into(),
                key.1.to_did().into(),
                choice_name(v.choice).into(),
                units(v.weight).into(),
            ]);
        }
    }
    for id in &entries {
        if let Some(r) = next.denylist.get(id) {
            let targets: Vec<String> = match &r.entry.target {
                DenyTarget::Device(k) => vec![k.to_did()],
                DenyTarget::Pair(a, b) => vec![a.to_did(), b.to_did()],
            };
            let appeal = match r.status {
                DenylistStatus::Appealed { proposal } => Some(proposal),
                _ => r.history.iter().rev().find_map(|(_, s)| match s {
                    DenylistStatus::Appealed { proposal } => Some(*proposal),
                    _ => None,
                }),
            };
            let status = if r.withholds(next.height) || r.status == DenylistStatus::Overturned {
                status_name(r.status)
            } else {
                "expired"
            };
            out.denylist.push(vec![
                (*id).into(),
                serde_json::to_string(&targets).unwrap_or_default().into(),
                r.entry.reason.into(),
                status.into(),
                r.created_at.0.into(),
                r.appeal_until.0.into(),
                r.entry.expires_at.0.into(),
                r.reporter.to_did().into(),
                appeal.into(),
            ]);
        }
    }

    // Usage is removed from the ledger once its epoch's manifest is accepted: only
    // additions and changes are written, so the index keeps it.
    let mut usage = BTreeSet::new();
    changed(prev.map(|p| &p.usage), &next.usage, &mut usage);
    for key in &usage {
        if let Some(u) = next.usage.get(key) {
            let kind = next
                .devices
                .get(&key.1)
                .map_or("unknown", |d| d.kind.name());
            out.usage.push(vec![
                key.0.0.into(),
                key.1.to_did().into(),
                kind.into(),
                credits(u.credits),
                tokens(u.tokens),
            ]);
        }
    }
    let mut economics = BTreeSet::new();
    changed(prev.map(|p| &p.economics), &next.economics, &mut economics);
    for epoch in &economics {
        if let Some(e) = next.economics.get(epoch) {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                m.insert(
                    "demand_coverage_ppm".into(),
                    e.demand_coverage_ppm()
                        .map_or(serde_json::Value::Null, |p| p.to_string().into()),
                );
            }
            out.economics.push((epoch.0, v.to_string()));
        }
    }
    let mut manifests = BTreeSet::new();
    changed(prev.map(|p| &p.manifests), &next.manifests, &mut manifests);
    for epoch in &manifests {
        if let Some(m) = next.manifests.get(epoch) {
            let signers: Vec<String> = m.signers.iter().map(|k| k.to_did()).collect();
            out.manifests.push((
                epoch.0,
                m.hash.to_hex(),
                m.manifest.cumulative_root.to_hex(),
                m.accepted_at.0,
                serde_json::to_string(&signers).unwrap_or_default(),
            ));
        }
    }
    if prev.is_none_or(|p| p.params != next.params) {
        out.params = Some(
            next.params
                .iter()
                .map(|(id, value)| {
                    let spec = id.spec();
                    vec![
                        spec.name.into(),
                        units(value).into(),
                        spec.unit.into(),
                        spec.doc.into(),
                    ]
                })
                .collect(),
        );
    }
    out.ledger_meta = serde_json::json!({
        "network": next.network.to_string(),
        "height": next.height.0,
        "time_ms": next.time_ms,
        "genesis_time_ms": next.genesis_time_ms,
        "epoch_duration_ms": next.params.get_u64(cairn_ledger::params::ParamId::EpochDurationMs),
        "supply": {
            "genesis": next.supply.genesis,
            "minted": next.supply.minted,
            "burned": next.supply.burned,
            "escrow": next.supply.escrow,
            "treasury": next.supply.treasury,
            "credits_minted": next.supply.credits_minted,
            "credits_burned": next.supply.credits_burned,
        },
        "accounts": next.accounts.len(),
        "makers": next.makers.len(),
    })
    .to_string();
    out
}
