//! The rewarder service (`[rewarder]`, on by default): at each epoch's end it runs the
//! pure `cairn_rewards` computation over the epoch's verdict batch and the finalized
//! chain (usage, devices, denylist, blocks proposed), writes the result to
//! `<data_dir>/rewards/epoch-NNNNNNNN.borsh`, and for every reward-oracle key it holds
//! signs the manifest and submits that signature. Each oracle key's run computes the
//! manifest on its own from the same inputs; the ledger accepts the manifest once
//! `reward_oracle_threshold` distinct oracles signed the same one, and mints exactly
//! the epoch's emission.
//!
//! Routes on the node's RPC: `GET /v1/rewards` (epochs, pending signatures, breakers,
//! sustainability figures), `GET /v1/rewards/epochs/{epoch}` (pools, unallocated,
//! withheld, top earners, the manifest), `GET /v1/rewards/proofs?owner=DID` (leaves and
//! proofs for every recipient an owner can claim for).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_core::codec::{Canonical, decode_limited, encode};
use cairn_core::envelope::sign_detached;
use cairn_core::{Epoch, Hash, Height, KeyId, Keypair, PublicKey, Tokens};
use cairn_ledger::State as LedgerState;
use cairn_ledger::params::ParamId;
use cairn_ledger::state::Usage;
use cairn_ledger::tx::{
    MAX_CLAIMS_PER_TX, OracleSignature, Penalty, PenaltyKind, PenaltyProof, Recipient, TxKind,
};
use cairn_node::node::Node;
use cairn_rewards::{
    CapacitySource, ComputeCapacity, CoverageCapacity, Cumulative, DeviceFacts, FinalEntry,
    HeldOutcome, ManifestTree, Payee, PenaltyTree, RewardInput, SensorCapacity, StorageCapacity,
    ValidatorActivity, WorkSummary,
};
use cairn_verify::VerdictBatch;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `[rewarder]` in the node config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewarderToml {
    /// Compute each epoch's rewards and serve them (and their proofs) over RPC.
    pub enabled: bool,
    /// Reward-oracle key files (relative to the config's folder) this node signs
    /// manifests with; none: it computes and serves, and signs nothing.
    pub oracle_keys: Vec<PathBuf>,
    /// Where the verifier's batches come from when this node does not run the verifier:
    /// the RPC URL of the node that does (e.g. `http://10.0.0.5:7480`). Without it, and
    /// without a local verifier, epochs are computed with no device work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdicts_url: Option<String>,
}

/// Where the rewarder reads each epoch's verifier batch.
#[derive(Debug, Clone)]
pub enum VerdictSource {
    /// This node runs the verifier: its batches on disk.
    Local(PathBuf),
    /// Another node runs it: its batches over HTTP (`GET /v1/verdicts/{epoch}/batch`).
    Remote(String),
    /// No verifier: no device work (the capacity pools go unallocated).
    Nowhere,
}

impl VerdictSource {
    /// The epoch's work, or `None` while the verifier has not finished the epoch.
    fn read(&self, epoch: Epoch) -> Result<Option<WorkSummary>> {
        match self {
            VerdictSource::Local(dir) => read_work(dir, epoch),
            VerdictSource::Remote(url) => fetch_work(url, epoch),
            VerdictSource::Nowhere => Ok(Some(WorkSummary::empty(epoch))),
        }
    }
}

impl Default for RewarderToml {
    fn default() -> Self {
        RewarderToml {
            enabled: true,
            oracle_keys: Vec::new(),
            verdicts_url: None,
        }
    }
}

pub use cairn_rewards::RewardsRecord;

pub(crate) fn record_path(dir: &Path, epoch: Epoch) -> PathBuf {
    dir.join(format!("epoch-{:08}.borsh", epoch.0))
}

/// Read an epoch's rewards record.
pub fn read_record(dir: &Path, epoch: Epoch) -> Result<Option<RewardsRecord>> {
    let path = record_path(dir, epoch);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(
        decode_limited(&bytes, RewardsRecord::MAX_ENCODED_LEN, "rewards record")
            .with_context(|| format!("decoding {}", path.display()))?,
    ))
}

/// The OpenAPI description of the rewarder's routes.
pub const OPENAPI_FRAGMENT: &str = include_str!("rewarder_openapi.json");

/// Start the rewarder; returns its task and routes. Oracle key paths are resolved
/// against the config's folder when the config is loaded.
pub fn start(
    node: Arc<Node>,
    config: &RewarderToml,
    data_dir: &Path,
    verdicts: VerdictSource,
) -> Result<(tokio::task::JoinHandle<()>, Router)> {
    let dir = data_dir.join("rewards");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut keys = Vec::new();
    for path in &config.oracle_keys {
        keys.push(
            cairn_core::keyfile::read_key_file(path)
                .with_context(|| format!("[rewarder] oracle key {}", path.display()))?,
        );
    }
    let task = tokio::spawn(run(Arc::clone(&node), dir.clone(), verdicts, keys));
    Ok((
        task,
        routes(Api {
            node,
            dir,
            tree: Arc::default(),
        }),
    ))
}

/// The finalized blocks' proposers, by the epoch of the block time.
#[derive(Default, Clone)]
pub(crate) struct Proposers {
    scanned: u64,
    pub(crate) by_epoch: BTreeMap<u64, BTreeMap<PublicKey, u64>>,
}

impl Proposers {
    fn catch_up(&mut self, node: &Node, state: &LedgerState) {
        while self.scanned < state.height.0 {
            let h = self.scanned + 1;
            // A block the store no longer has (pruned below a snapshot) counts as
            // nobody's: validators' shares of such epochs are unallocated.
            if let Ok(Some(b)) = node.block(Height(h)) {
                let e = state.epoch_at(b.time_ms).0;
                *self
                    .by_epoch
                    .entry(e)
                    .or_default()
                    .entry(b.consensus.leader)
                    .or_default() += 1;
            }
            self.scanned = h;
        }
    }

    /// Drop the counts of epochs whose manifests are settled.
    fn forget_before(&mut self, epoch: Epoch) {
        self.by_epoch = self.by_epoch.split_off(&epoch.0);
    }
}

async fn run(node: Arc<Node>, dir: PathBuf, verdicts: VerdictSource, keys: Vec<Keypair>) {
    let keys = Arc::new(keys);
    let mut proposers = Proposers::default();
    // When to look for the verifier's batch again after it was not there yet.
    let mut retry_at: Option<Instant> = None;
    let mut submitted: BTreeMap<PublicKey, (Epoch, Instant)> = BTreeMap::new();
    let mut warned: Option<Epoch> = None;
    // The record being signed, kept while the ledger waits for signatures: re-reading
    // and decoding it twice a second would cost as much as the epoch's file is large.
    let mut current: Option<Arc<RewardsRecord>> = None;
    // Our latest record the ledger accepted, whose penalties are applied (every 10 s
    // until none is pending).
    let mut accepted: Option<Arc<RewardsRecord>> = None;
    let mut penalties_sent: Option<Instant> = None;
    let mut penalties_done: Option<Epoch> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let state = node.state();
        proposers.catch_up(&node, &state);
        if let Some(r) = &current
            && state
                .manifests
                .get(&r.manifest.epoch)
                .is_some_and(|m| m.hash == r.manifest.hash())
            && accepted
                .as_ref()
                .is_none_or(|a| a.manifest.epoch < r.manifest.epoch)
        {
            accepted = Some(Arc::clone(r));
            penalties_sent = None;
        }
        if let Some(r) = &accepted
            && !r.penalties.is_empty()
            && penalties_done != Some(r.manifest.epoch)
            && penalties_sent.is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            // Proofs for every pending penalty: tree work, off the async threads.
            let (n, s, r, k) = (
                Arc::clone(&node),
                state.clone(),
                Arc::clone(r),
                Arc::clone(&keys),
            );
            match tokio::task::spawn_blocking(move || apply_penalties(&n, &s, &r, &k)).await {
                Ok(None) => penalties_done = accepted.as_ref().map(|r| r.manifest.epoch),
                Ok(Some(0)) => {}
                Ok(Some(_)) => penalties_sent = Some(Instant::now()),
                Err(e) => tracing::error!(error = %e, "rewarder: applying penalties failed"),
            }
        }
        let epoch = state.open_epoch();
        if state.time_ms < state.epoch_end_ms(epoch) {
            continue;
        }
        let previous = epoch
            .0
            .checked_sub(1)
            .and_then(|p| state.manifests.get(&Epoch(p)))
            .map_or(Hash::ZERO, |r| r.hash);
        let cached = current
            .as_ref()
            .filter(|r| {
                r.manifest.epoch == epoch
                    && r.manifest.previous == previous
                    && r.manifest.params_hash == state.params.hash()
            })
            .cloned();
        let record = match cached {
            Some(r) => Ok(Some(r)),
            None if retry_at.is_some_and(|at| Instant::now() < at) => continue,
            None => {
                // Reading the batch (from disk or another node) and computing the epoch
                // take seconds for a large fleet: off the async threads.
                let (source, dir, s, p) = (
                    verdicts.clone(),
                    dir.clone(),
                    state.clone(),
                    proposers.clone(),
                );
                let task = tokio::task::spawn_blocking(move || -> Result<Option<RewardsRecord>> {
                    let Some(work) = source.read(epoch)? else {
                        return Ok(None);
                    };
                    prepare(&dir, &s, &p, epoch, &work).map(Some)
                });
                match task.await {
                    Ok(r) => r.map(|r| r.map(Arc::new)),
                    Err(e) => Err(anyhow::anyhow!("the rewarder's computation failed: {e}")),
                }
            }
        };
        let record = match record {
            Ok(Some(r)) => {
                retry_at = None;
                current = Some(Arc::clone(&r));
                proposers.forget_before(epoch);
                r
            }
            // The verifier has not finished the epoch yet.
            Ok(None) => {
                retry_at = Some(Instant::now() + Duration::from_secs(2));
                continue;
            }
            Err(e) => {
                if warned != Some(epoch) {
                    tracing::error!(error = %format!("{e:#}"), epoch = epoch.0, "rewarder");
                    eprintln!("rewarder: epoch {}: {e:#}", epoch.0);
                    warned = Some(epoch);
                }
                continue;
            }
        };
        let hash = record.manifest.hash();
        let signers = state
            .manifest_votes
            .get(&(epoch, hash))
            .map(|v| v.signers.clone())
            .unwrap_or_default();
        for key in keys.iter() {
            let me = key.public();
            if !state.authorities.reward_oracles.contains(&me) || signers.contains(&me) {
                continue;
            }
            // One submission per key and epoch every 10 s until it is recorded.
            if submitted
                .get(&me)
                .is_some_and(|(e, at)| *e == epoch && at.elapsed() < Duration::from_secs(10))
            {
                continue;
            }
            let kind = TxKind::SubmitManifest {
                manifest: record.manifest.clone(),
                signatures: vec![OracleSignature {
                    oracle: me,
                    signature: sign_detached(key, node.network(), &record.manifest),
                }],
            };
            match node.submit(node.sign_tx(key, state.account(&me).nonce, kind)) {
                Ok(_) => {
                    tracing::info!(epoch = epoch.0, oracle = %me, "rewarder: manifest signed and submitted")
                }
                Err(e) => {
                    tracing::warn!(error = %e, epoch = epoch.0, "rewarder: submission refused")
                }
            }
            submitted.insert(me, (epoch, Instant::now()));
        }
    }
}

/// Submit the accepted manifest's penalties the ledger has not applied yet, 64 to a
/// transaction, paid by the first of our reward-oracle keys: how many were sent, or
/// `None` when none is pending.
fn apply_penalties(
    node: &Node,
    state: &LedgerState,
    record: &RewardsRecord,
    keys: &[Keypair],
) -> Option<usize> {
    let epoch = record.manifest.epoch;
    let pending: Vec<(usize, Penalty)> = record
        .penalties
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let device = a.device.to_public().ok()?;
            let d = state.devices.get(&device)?;
            let applied = match a.kind {
                PenaltyKind::FaultFee => d.fees_through >= epoch,
                PenaltyKind::Fraud { entry } => state
                    .denylist
                    .get(&entry)
                    .is_none_or(|r| r.penalized.contains(&device)),
            };
            let penalty = Penalty {
                epoch,
                device,
                kind: a.kind,
                amount: a.amount,
            };
            (!applied).then_some((i, penalty))
        })
        .collect();
    if pending.is_empty() {
        return None;
    }
    let payer = keys
        .iter()
        .find(|k| state.authorities.reward_oracles.contains(&k.public()))?;
    let tree = PenaltyTree::build(epoch, &record.penalties);
    let pending: Vec<PenaltyProof> = pending
        .into_iter()
        .filter_map(|(i, penalty)| {
            Some(PenaltyProof {
                penalty,
                proof: tree.proof(i as u64)?,
            })
        })
        .collect();
    let me = payer.public();
    let nonce = state.account(&me).nonce;
    let mut sent = 0;
    for (i, chunk) in pending.chunks(MAX_CLAIMS_PER_TX).enumerate() {
        let kind = TxKind::ApplyPenalties {
            epoch,
            penalties: chunk.to_vec(),
        };
        match node.submit(node.sign_tx(payer, nonce + i as u64, kind)) {
            Ok(_) => sent += chunk.len(),
            Err(e) => {
                tracing::warn!(error = %e, epoch = epoch.0, "rewarder: penalties refused");
                break;
            }
        }
    }
    if sent > 0 {
        tracing::info!(epoch = epoch.0, sent, "rewarder: penalties submitted");
    }
    Some(sent)
}

/// The verifier's batch for `epoch` from the node at `base` (its RPC URL), streamed over
/// HTTP into what the rewarder needs; `None` while that node has not verified the epoch.
pub(crate) fn fetch_work(base: &str, epoch: Epoch) -> Result<Option<WorkSummary>> {
    let url = format!(
        "{}/v1/verdicts/{}/batch",
        base.trim_end_matches('/'),
        epoch.0
    );
    // A million devices' batch is about 600 MiB: minutes on a slow link.
    let mut response = crate::client::http(Duration::from_secs(1_800))
        .get(&url)
        .call()
        .with_context(|| format!("cannot reach the verifier node at {url}"))?;
    match response.status().as_u16() {
        200 => {}
        404 => {
            // The route answers 404 with `not_found` until the epoch is verified; a node
            // without the verifier has no such route at all.
            let body: Option<Value> = response.body_mut().read_json().ok();
            anyhow::ensure!(
                body.as_ref()
                    .is_some_and(|b| b["error"]["code"] == "not_found"),
                "{url} is not served: does that node run the verifier ([verifier] and [ingest] enabled)?"
            );
            return Ok(None);
        }
        status => {
            let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
            anyhow::bail!(
                "{url} answered {status}: {}",
                crate::client::error_text(&body)
            );
        }
    }
    let reader = response.into_body().into_reader();
    let work = WorkSummary::read(reader, VerdictBatch::MAX_ENCODED_LEN as u64)
        .with_context(|| format!("reading the batch from {url}"))?;
    anyhow::ensure!(
        work.epoch == epoch,
        "{url} served epoch {}, not {}",
        work.epoch.0,
        epoch.0
    );
    Ok(Some(work))
}

/// The verifier's batch for `epoch`, streamed from the verdict log into what the
/// rewarder needs; `None` while the verifier has not written it.
pub(crate) fn read_work(verdicts: &Path, epoch: Epoch) -> Result<Option<WorkSummary>> {
    let path = crate::services::batch_path(verdicts, epoch.0);
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let work = WorkSummary::read(file, VerdictBatch::MAX_ENCODED_LEN as u64)
        .with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        work.epoch == epoch,
        "{} holds epoch {}, not {}",
        path.display(),
        work.epoch.0,
        epoch.0
    );
    Ok(Some(work))
}

/// The epoch's record: computed now (and written), or read back when computed before
/// over the same chain.
fn prepare(
    dir: &Path,
    state: &LedgerState,
    proposers: &Proposers,
    epoch: Epoch,
    work: &WorkSummary,
) -> Result<RewardsRecord> {
    let (previous, prior) = match epoch.0.checked_sub(1).filter(|e| *e > 0) {
        None => (None, Cumulative::default()),
        Some(p) => {
            let accepted = state
                .manifests
                .get(&Epoch(p))
                .with_context(|| format!("epoch {p}'s manifest is not on the ledger"))?;
            let ours = read_record(dir, Epoch(p))?.with_context(|| {
                format!(
                    "no rewards record for epoch {p}: this node cannot extend the cumulative totals"
                )
            })?;
            anyhow::ensure!(
                ours.manifest.hash() == accepted.hash,
                "the ledger accepted a manifest for epoch {p} that differs from ours; \
                 this node's cumulative totals cannot extend it"
            );
            (
                Some((accepted.hash, accepted.manifest.cumulative_total)),
                ours.cumulative,
            )
        }
    };
    if let Some(r) = read_record(dir, epoch)?
        && r.manifest.previous == previous.map_or(Hash::ZERO, |(h, _)| h)
        && r.manifest.params_hash == state.params.hash()
    {
        return Ok(r);
    }
    let record = compute(state, proposers, epoch, work, previous, &prior)?;
    let path = record_path(dir, epoch);
    crate::services::write_atomic(&path, &encode(&record))
        .with_context(|| format!("writing {}", path.display()))?;
    let withheld: u128 = record
        .rewards
        .withheld
        .values()
        .map(|t| t.base_units())
        .sum();
    eprintln!(
        "rewarder: epoch {}: {} emitted to {} recipients, {} unallocated{}, {} withheld",
        epoch.0,
        record.rewards.emission,
        record.rewards.payouts.len(),
        record.rewards.unallocated,
        if record.rewards.unallocated_burned.is_zero() {
            " (to the treasury)"
        } else {
            " (burned)"
        },
        Tokens::from_base_units(withheld),
    );
    Ok(record)
}

/// The pure computation over one epoch's inputs, as every oracle runs it.
pub(crate) fn compute(
    state: &LedgerState,
    proposers: &Proposers,
    epoch: Epoch,
    work: &WorkSummary,
    previous: Option<(Hash, Tokens)>,
    prior: &Cumulative,
) -> Result<RewardsRecord> {
    // What depends on the height is read as it stood where the epoch closed (the end of
    // the first block past it), so every oracle computes the same, whenever it runs.
    let close = |e: u64| {
        state
            .epoch_close_height(Epoch(e))
            .with_context(|| format!("the ledger holds no close for epoch {e}"))
    };
    let as_of = close(epoch.0)?;
    let closed_before = close(epoch.0.saturating_sub(1))?;
    // Devices withheld at the close, by the entry withholding them.
    let mut withholding: BTreeMap<KeyId, u64> = BTreeMap::new();
    let devices: BTreeMap<KeyId, DeviceFacts> = state
        .devices
        .iter()
        .filter(|(_, d)| d.onboarded_at <= as_of)
        .map(|(k, d)| {
            let entry = state.withholding_entry(k, as_of);
            if let Some(e) = entry {
                withholding.insert(k.id(), e);
            }
            let withheld = entry.is_some();
            (
                k.id(),
                DeviceFacts {
                    kind: d.kind,
                    withheld,
                },
            )
        })
        .collect();
    let usage: Vec<(KeyId, Usage)> = state
        .usage
        .iter()
        .filter(|((e, _), _)| *e == epoch)
        .map(|((_, d), u)| (d.id(), *u))
        .collect();
    // Blocks proposed (from the finalized blocks) and faults proven on the ledger in the
    // epoch: a proven fault forfeits the validator's share.
    let mut activity: BTreeMap<PublicKey, (u64, u64)> = BTreeMap::new();
    if let Some(m) = proposers.by_epoch.get(&epoch.0) {
        for (k, n) in m {
            activity.entry(*k).or_default().0 += n;
        }
    }
    for ((validator, _, _), f) in state.validator_faults.iter() {
        if f.epoch == epoch {
            activity.entry(*validator).or_default().1 += 1;
        }
    }
    let validators: Vec<ValidatorActivity> = activity
        .into_iter()
        .map(|(validator, (blocks_proposed, faults))| ValidatorActivity {
            validator,
            blocks_proposed,
            faults,
        })
        .collect();
    let a = &state.authorities;
    let mut oracles: Vec<PublicKey> = a
        .reward_oracles
        .iter()
        .chain(&a.price_oracles)
        .chain(&a.verifier_oracles)
        .copied()
        .collect();
    oracles.sort();
    oracles.dedup();
    let storage = StorageCapacity(work);
    let compute_capacity = ComputeCapacity(work);
    let sensor = SensorCapacity(work);
    let coverage = CoverageCapacity(work);
    let sources: [&dyn CapacitySource; 4] = [&storage, &compute_capacity, &sensor, &coverage];
    let emission = cairn_ledger::emission_for_epoch(&state.params, epoch);
    let rewards = cairn_rewards::compute(&RewardInput {
        epoch,
        emission,
        params: &state.params,
        devices: &devices,
        usage: &usage,
        capacity: &sources,
        validators: &validators,
        oracles: &oracles,
    })?;
    // What withheld devices earned is held under its entry; held amounts are released
    // when their entry is overturned or lapses, and forfeited to the treasury once it
    // stands for good.
    let mut cumulative = prior.add(&rewards)?;
    cumulative.hold(&rewards.withheld, |d| {
        withholding.get(d).copied().unwrap_or(0)
    })?;
    let settled = cumulative.settle(|device, held| match state.denylist.get(&held.entry) {
        Some(r) if r.is_final(as_of) => HeldOutcome::Forfeit,
        Some(r) if r.withholds(as_of) => HeldOutcome::Keep,
        _ => match withholding.get(device) {
            Some(e) => HeldOutcome::Rekey(*e),
            None => HeldOutcome::Release,
        },
    })?;
    let tree = ManifestTree::build(&cumulative);
    // Fraud penalties for the devices of every entry that became final in this epoch:
    // each entry is assessed once, by the manifest of the epoch in which it came to
    // stand for good (the ledger applies each once in any case).
    let final_entries: Vec<FinalEntry> = state
        .denylist
        .iter()
        .filter(|(_, r)| r.is_final(as_of) && !r.is_final(closed_before))
        .flat_map(|(id, r)| {
            r.entry
                .target
                .devices()
                .into_iter()
                .filter(|d| state.devices.contains_key(d))
                .map(|d| FinalEntry {
                    entry: *id,
                    device: d.id(),
                })
        })
        .collect();
    let penalties = cairn_rewards::assess(&state.params, &rewards, work, &final_entries);
    let penalty_tree = PenaltyTree::build(epoch, &penalties);
    let facts: Vec<(KeyId, u8, bool)> = devices
        .iter()
        .map(|(k, f)| (*k, f.kind as u8, f.withheld))
        .collect();
    let inputs = cairn_rewards::inputs_commitment(&[
        ("verdicts", work.batch_hash),
        ("usage", Hash::of(&encode(&usage))),
        ("devices", Hash::of(&encode(&facts))),
        ("validators", Hash::of(&encode(&validators))),
        ("oracles", Hash::of(&encode(&oracles))),
        (
            "final_denylist_entries",
            Hash::of(&encode(
                &final_entries
                    .iter()
                    .map(|f| (f.entry, f.device))
                    .collect::<Vec<_>>(),
            )),
        ),
    ]);
    let manifest = cairn_rewards::build_manifest(
        &rewards,
        &tree,
        &penalty_tree,
        previous.as_ref().map(|(h, t)| (h, *t)),
        state.params.hash(),
        inputs,
    )?;
    Ok(RewardsRecord {
        rewards,
        manifest,
        cumulative,
        penalties,
        settled,
    })
}

// ---------------------------------------------------------------------------------------
// RPC

/// A manifest's hash with its tree.
type TreeCache = std::sync::Mutex<Option<(Hash, Arc<ManifestTree>)>>;

#[derive(Clone)]
struct Api {
    node: Arc<Node>,
    dir: PathBuf,
    /// The latest accepted manifest's tree, by manifest hash: built once, not per request.
    tree: Arc<TreeCache>,
}

fn routes(api: Api) -> Router {
    Router::new()
        .route("/v1/rewards", get(summary))
        .route("/v1/rewards/epochs/{epoch}", get(epoch_detail))
        .route("/v1/rewards/proofs", get(proofs))
        .with_state(api)
}

fn api_error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn recipient_json(r: &Payee) -> Value {
    match r {
        Payee::Device(d) => json!({ "device": d.to_did() }),
        Payee::Account(a) => json!({ "account": a.to_did() }),
        Payee::Treasury => json!("treasury"),
    }
}

fn figures_json(epoch: Epoch, f: &cairn_ledger::state::EpochEconomics) -> Value {
    let coverage = f.demand_coverage_ppm();
    json!({
        "epoch": epoch.0,
        "emitted": f.emitted.to_string(),
        "emitted_usd_e8": f.emitted_usd_e8.to_string(),
        "tokens_burned_for_credits": f.tokens_burned_for_credits.to_string(),
        "burned_usd_e8": f.burned_usd_e8.to_string(),
        "credits_minted": f.credits_minted.to_string(),
        "usage_credits": f.usage_credits.to_string(),
        "unallocated_burned": f.unallocated_burned.to_string(),
        "net_emission": net(f.emitted, f.tokens_burned_for_credits),
        "demand_coverage_ppm": coverage.map(|c| c.to_string()),
        "demand_coverage": coverage.map(|c| format!("{}.{:02}%", c / 10_000, (c % 10_000) / 100)),
    })
}

/// `emitted − burned` as a signed decimal string.
fn net(emitted: Tokens, burned: Tokens) -> String {
    match emitted.checked_sub(burned) {
        Some(v) => v.to_string(),
        None => format!("-{}", burned.checked_sub(emitted).unwrap_or(Tokens::ZERO)),
    }
}

async fn summary(State(api): State<Api>) -> Response {
    let state = api.node.state();
    let pending: Vec<Value> = state
        .manifest_votes
        .iter()
        .map(|((e, h), v)| {
            json!({
                "epoch": e.0,
                "hash": h.to_string(),
                "signers": v.signers.iter().map(|s| s.to_did()).collect::<Vec<_>>(),
                "threshold": state.params.get(ParamId::RewardOracleThreshold).to_string(),
            })
        })
        .collect();
    let economics: Vec<Value> = state
        .economics
        .iter()
        .rev()
        .take(100)
        .map(|(e, f)| figures_json(*e, f))
        .collect();
    let accepted = state.manifests.iter().next_back().map(|(e, r)| {
        json!({
            "epoch": e.0,
            "hash": r.hash.to_string(),
            "accepted_at": r.accepted_at.0,
            "cumulative_total": r.manifest.cumulative_total.to_string(),
            "recipients": r.manifest.recipient_count,
            "signers": r.signers.iter().map(|s| s.to_did()).collect::<Vec<_>>(),
            "manifest": r.manifest,
        })
    });
    axum::Json(json!({
        "open_epoch": state.open_epoch().0,
        "current_epoch": state.epoch_at(state.time_ms).0,
        "latest_accepted": accepted,
        "pending": pending,
        "escrow": state.supply.escrow.to_string(),
        "rewards_burned": state.supply.rewards_burned.to_string(),
        "breakers": state.breakers,
        "economics": economics,
    }))
    .into_response()
}

async fn epoch_detail(State(api): State<Api>, UrlPath(epoch): UrlPath<u64>) -> Response {
    let dir = api.dir.clone();
    let record = tokio::task::spawn_blocking(move || read_record(&dir, Epoch(epoch))).await;
    let record = match record {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => {
            return api_error(
                StatusCode::NOT_FOUND,
                "not_computed",
                format!("epoch {epoch}'s rewards are not computed on this node (yet)"),
            );
        }
        Ok(Err(e)) => {
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unreadable",
                format!("{e:#}"),
            );
        }
        Err(e) => {
            return api_error(StatusCode::INTERNAL_SERVER_ERROR, "task", e.to_string());
        }
    };
    let state = api.node.state();
    let accepted = state
        .manifests
        .get(&Epoch(epoch))
        .is_some_and(|r| r.hash == record.manifest.hash());
    let mut top: Vec<(&Payee, &Tokens)> = record.rewards.payouts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let r = &record.rewards;
    axum::Json(json!({
        "epoch": epoch,
        "accepted": accepted,
        "manifest": record.manifest,
        "manifest_hash": record.manifest.hash().to_string(),
        "emission": r.emission.to_string(),
        "unallocated": r.unallocated.to_string(),
        "unallocated_burned": r.unallocated_burned.to_string(),
        "withheld": r.withheld.iter().map(|(d, v)| json!({"device": d.to_did(), "amount": v.to_string()})).collect::<Vec<_>>(),
        "released": record.settled.released.iter().map(|(d, v)| json!({"device": d.to_did(), "amount": v.to_string()})).collect::<Vec<_>>(),
        "forfeited": record.settled.forfeited.iter().map(|(d, v)| json!({"device": d.to_did(), "amount": v.to_string()})).collect::<Vec<_>>(),
        "pools": r.pools.iter().map(|p| json!({
            "pool": p.pool.name(),
            "amount": p.amount.to_string(),
            "usage": p.usage.to_string(),
            "capacity": p.capacity.to_string(),
            "withheld": p.withheld.to_string(),
            "unallocated": p.unallocated.to_string(),
            "recipients": p.recipients,
        })).collect::<Vec<_>>(),
        "top_earners": top.iter().take(20).map(|(k, v)| json!({"recipient": recipient_json(k), "amount": v.to_string()})).collect::<Vec<_>>(),
        "recipients": r.payouts.len(),
        "penalties": record.penalties.iter().map(|p| json!({
            "device": p.device.to_did(),
            "kind": p.kind,
            "amount": p.amount.to_string(),
        })).collect::<Vec<_>>(),
        "economics": state.economics.get(&Epoch(epoch)).map(|f| figures_json(Epoch(epoch), f)),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ProofQuery {
    owner: String,
}

/// Leaves and proofs against the latest accepted manifest for every recipient `owner`
/// can claim for (its devices and its own account), with what each would pay.
async fn proofs(State(api): State<Api>, Query(q): Query<ProofQuery>) -> Response {
    let Ok(owner) = q.owner.parse::<PublicKey>() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "bad_owner",
            format!("owner {:?} is not a did:key", q.owner),
        );
    };
    let state = api.node.state();
    let Some((epoch, accepted)) = state
        .manifests
        .iter()
        .next_back()
        .map(|(e, r)| (*e, r.clone()))
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "no_manifest",
            "no reward manifest has been accepted yet".into(),
        );
    };
    let cached = api
        .tree
        .lock()
        .expect("lock")
        .as_ref()
        .filter(|(h, _)| *h == accepted.hash)
        .map(|(_, t)| Arc::clone(t));
    let tree = match cached {
        Some(t) => t,
        None => {
            let dir = api.dir.clone();
            let built = tokio::task::spawn_blocking(move || {
                read_record(&dir, epoch).map(|r| {
                    r.filter(|r| r.manifest.hash() == accepted.hash)
                        .map(|r| Arc::new(ManifestTree::build(&r.cumulative)))
                })
            })
            .await;
            match built {
                Ok(Ok(Some(t))) => {
                    *api.tree.lock().expect("lock") = Some((accepted.hash, Arc::clone(&t)));
                    t
                }
                _ => {
                    return api_error(
                        StatusCode::NOT_FOUND,
                        "not_computed",
                        format!(
                            "this node does not hold the tree of epoch {}'s accepted manifest; ask a reward oracle's node",
                            epoch.0
                        ),
                    );
                }
            }
        }
    };
    let mut wanted: Vec<Recipient> = state
        .devices
        .iter()
        .filter(|(_, d)| d.owner == owner)
        .map(|(k, _)| Recipient::Device(*k))
        .collect();
    wanted.push(Recipient::Account(owner));
    let height = state.height;
    let mut claims = Vec::new();
    let mut rows = Vec::new();
    for r in wanted {
        let Some((leaf, proof)) = tree.proof(&r) else {
            continue;
        };
        let claimed = state.claimed.get(&r).copied().unwrap_or_default();
        let claimable = leaf.cumulative.checked_sub(claimed).unwrap_or(Tokens::ZERO);
        let withheld = match r {
            Recipient::Device(d) => state.withholding_entry(&d, height).is_some(),
            _ => false,
        };
        // The bond a device must hold to claim (claim_bond_epochs of its average reward).
        let bond = match r {
            Recipient::Device(d) => state.devices.get(&d).map(|dev| {
                (
                    dev.bond,
                    state.claim_bond_required(dev, leaf.cumulative, epoch),
                )
            }),
            _ => None,
        };
        let bond_short = bond.is_some_and(|(held, required)| held < required);
        let mut row = json!({
            "recipient": recipient_json(&Payee::from(&r)),
            "cumulative": leaf.cumulative.to_string(),
            "claimed": claimed.to_string(),
            "claimable": claimable.to_string(),
            "withheld": withheld,
            "bond_short": bond_short,
        });
        if let Some((held, required)) = bond {
            row["bond"] = json!(held.to_string());
            row["bond_required"] = json!(required.to_string());
        }
        rows.push(row);
        if !claimable.is_zero() && !withheld && !bond_short {
            claims.push(json!({ "leaf": leaf, "proof": proof }));
        }
    }
    axum::Json(json!({
        "epoch": epoch.0,
        "vesting_ppm": state.params.get(ParamId::VestingPpm).to_string(),
        "recipients": rows,
        "claims": claims,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::Credits;
    use cairn_ledger::Genesis;
    use cairn_ledger::genesis::GenesisValidator;
    use cairn_ledger::state::{DenylistRecord, DenylistStatus, Device};
    use cairn_ledger::tx::{DenyTarget, DenylistEntry, DeviceKind};

    fn device(onboarded_at: u64) -> Device {
        Device {
            owner: Keypair::from_seed(&[9; 32]).public(),
            maker: Keypair::from_seed(&[9; 32]).public(),
            kind: DeviceKind::Storage,
            onboarded_at: Height(onboarded_at),
            onboarded_epoch: Epoch(1),
            location: None,
            location_since: None,
            location_moves: 0,
            bond: Tokens::ZERO,
            unbonding: Vec::new(),
            fees_through: Epoch(0),
        }
    }

    fn entry(device: PublicKey, created_at: u64) -> DenylistRecord {
        DenylistRecord {
            entry: DenylistEntry {
                target: DenyTarget::Device(device),
                reason: 7,
                evidence: Hash::of(b"evidence"),
                classifier_version: 1,
                expires_at: Height(1_000_000),
            },
            created_at: Height(created_at),
            appeal_until: Height(created_at + 10),
            status: DenylistStatus::Active,
            reporter: Keypair::from_seed(&[8; 32]).public(),
            penalized: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Devices a, b, c (d is not onboarded), each paid 1 token's worth of usage in epoch 2;
    /// epochs 1 and 2 closed at heights 100 and 200; a denied at 150 (its window closed at
    /// 160: final in epoch 2), b denied at 195 (window open when epoch 2 closed).
    fn world() -> (LedgerState, [PublicKey; 4]) {
        let validator = Keypair::from_seed(&[1; 32]).public();
        let mut state = Genesis {
            network: cairn_core::NetworkId::new("cairn-test").unwrap(),
            time_ms: 0,
            allocations: vec![],
            treasury: Tokens::ZERO,
            validators: vec![GenesisValidator {
                key: validator,
                power: 1,
            }],
            price_oracles: vec![],
            reward_oracles: vec![Keypair::from_seed(&[2; 32]).public()],
            verifier_oracles: vec![],
            makers: vec![],
            params: vec![],
        }
        .into_state()
        .unwrap();
        let [a, b, c, d] = [11u8, 12, 13, 14].map(|s| Keypair::from_seed(&[s; 32]).public());
        for k in [a, b, c] {
            state.devices.insert(k, device(5));
        }
        // Epoch 1 closed at height 100, epoch 2 at height 200.
        state.epoch_closes.insert(Height(100), Epoch(1));
        state.epoch_closes.insert(Height(200), Epoch(2));
        for k in [a, b, c] {
            state.usage.insert(
                (Epoch(2), k),
                Usage {
                    credits: Credits::from_base_units(1_000),
                    tokens: Tokens::whole(1).unwrap(),
                },
            );
        }
        // a: denied at 150 (window closed at 160: final in epoch 2); b: denied at 195,
        // appeal window still open when epoch 2 closed; c: clean.
        state.denylist.insert(1, entry(a, 150));
        state.denylist.insert(2, entry(b, 195));
        state.denylist_by_device.insert((a, 1));
        state.denylist_by_device.insert((b, 2));
        state.height = Height(201);
        (state, [a, b, c, d])
    }

    /// Two oracles computing the same epoch at different heights sign the same manifest:
    /// whatever happened after the epoch closed (an entry overturned, a new device, an
    /// appeal window closing, a penalty applied) does not change it.
    #[test]
    fn an_epoch_computed_later_gives_the_same_manifest() {
        let (state, [a, b, _, d]) = world();
        let proposers = Proposers::default();
        let work = WorkSummary::empty(Epoch(2));
        let previous = Some((Hash::of(b"epoch 1"), Tokens::whole(1).unwrap()));
        let early = compute(
            &state,
            &proposers,
            Epoch(2),
            &work,
            previous,
            &Cumulative::default(),
        )
        .unwrap();
        assert!(early.rewards.withheld.len() == 2, "a and b are withheld");
        assert_eq!(
            early.penalties.len(),
            1,
            "a's entry became final in epoch 2"
        );

        // Later: a's entry is overturned, b's window closes, d is onboarded, a's fraud
        // penalty was applied.
        let mut later = state.clone();
        let mut r = later.denylist[&1].clone();
        r.set_status(DenylistStatus::Overturned, Height(230));
        r.penalized.push(a);
        later.denylist.insert(1, r);
        later.devices.insert(d, device(220));
        later.height = Height(260);
        let late = compute(
            &later,
            &proposers,
            Epoch(2),
            &work,
            previous,
            &Cumulative::default(),
        )
        .unwrap();
        assert_eq!(late.manifest, early.manifest);
        assert_eq!(late.penalties, early.penalties);

        // Epoch 3 assesses nothing again for a (final already in epoch 2), and b's entry,
        // final by epoch 3's close, once.
        later.epoch_closes.insert(Height(300), Epoch(3));
        let mut r = later.denylist[&1].clone();
        r.status = DenylistStatus::Active;
        r.history.clear();
        later.denylist.insert(1, r);
        let third = compute(
            &later,
            &proposers,
            Epoch(3),
            &WorkSummary::empty(Epoch(3)),
            previous,
            &Cumulative::default(),
        )
        .unwrap();
        let fraud: Vec<PublicKey> = third
            .penalties
            .iter()
            .map(|p| p.device.to_public().unwrap())
            .collect();
        assert_eq!(fraud, vec![b]);
    }

    /// Withheld rewards are held, not paid and not lost: forfeited to the treasury once
    /// the finding is final, released to the device when it is overturned.
    #[test]
    fn withheld_rewards_are_forfeited_when_final_and_released_when_overturned() {
        let (mut state, [a, b, c, _]) = world();
        let proposers = Proposers::default();
        let previous = Some((Hash::of(b"epoch 1"), Tokens::whole(1).unwrap()));
        let two = compute(
            &state,
            &proposers,
            Epoch(2),
            &WorkSummary::empty(Epoch(2)),
            previous,
            &Cumulative::default(),
        )
        .unwrap();
        let (a, b, c) = (a.id(), b.id(), c.id());
        let paid =
            |r: &RewardsRecord, k: &KeyId| r.rewards.payouts.get(&Payee::Device(*k)).copied();
        let earned_a = paid(&two, &a).unwrap();
        let earned_b = paid(&two, &b).unwrap();
        assert!(!earned_a.is_zero() && earned_b == earned_a);
        // a's entry is final at the close: its epoch's rewards go to the treasury.
        assert_eq!(two.settled.forfeited, BTreeMap::from([(a, earned_a)]));
        assert_eq!(two.cumulative.totals[&Payee::Device(a)], Tokens::ZERO);
        // b's is still open: held, in its total, not claimable on the ledger meanwhile.
        assert_eq!(two.cumulative.held[&b].amount, earned_b);
        assert_eq!(two.cumulative.totals[&Payee::Device(b)], earned_b);
        let sum = |cum: &Cumulative| {
            cum.totals
                .values()
                .fold(Tokens::ZERO, |t, v| t.checked_add(*v).unwrap())
        };
        // Nothing lost: the leaves sum to the manifest's total (less the 1 token the
        // made-up epoch 1 stands for).
        let one = Tokens::whole(1).unwrap();
        assert_eq!(
            sum(&two.cumulative).checked_add(one),
            Some(two.manifest.cumulative_total)
        );

        // b's owner appealed and won (overturned at 250); epoch 3 closes at 300.
        let mut r = state.denylist[&2].clone();
        r.set_status(cairn_ledger::state::DenylistStatus::Overturned, Height(250));
        state.denylist.insert(2, r);
        state.epoch_closes.insert(Height(300), Epoch(3));
        state.height = Height(301);
        let three = compute(
            &state,
            &proposers,
            Epoch(3),
            &WorkSummary::empty(Epoch(3)),
            Some((two.manifest.hash(), two.manifest.cumulative_total)),
            &two.cumulative,
        )
        .unwrap();
        assert_eq!(three.settled.released, BTreeMap::from([(b, earned_b)]));
        assert!(three.cumulative.held.is_empty());
        assert_eq!(three.cumulative.totals[&Payee::Device(b)], earned_b);
        assert_eq!(
            three.cumulative.totals[&Payee::Device(c)],
            paid(&two, &c).unwrap()
        );
        assert_eq!(
            sum(&three.cumulative).checked_add(one),
            Some(three.manifest.cumulative_total)
        );
    }
}
