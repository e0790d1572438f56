//! A node's finalized view of the chain, shared by the consensus adapter and the RPC.
//!
//! [`Node`] owns the finalized state, the durable block log, the mempool, the transaction
//! index and the feed of finalized blocks. The consensus adapter calls
//! [`Node::apply_finalized`] for each finalized block in height order (at least once) and
//! acknowledges the block only after it returns; the RPC reads state and submits
//! transactions. All locks are held briefly and never across an await.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use cairn_core::{Hash, Height, NetworkId, PublicKey};
use cairn_ledger::exec::SigCheck;
use cairn_ledger::{Receipt, SignedTx, State, TxError};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::block::{self, Block, InvalidBlock, tx_hash};
use crate::mempool::{AdmitError, Mempool, MempoolConfig};
use crate::store::{BlockLog, Snapshots, StoreError};

/// Rejection reasons remembered for status queries.
const REJECTED_REMEMBERED: usize = 100_000;
/// Finalized blocks buffered for slow subscribers before they skip ahead.
const FEED_CAPACITY: usize = 1024;

/// Settings for [`Node::open`].
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub data_dir: PathBuf,
    pub mempool: MempoolConfig,
    /// Write a state snapshot every this many blocks (0: never).
    pub snapshot_every: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("stored data belongs to network {found}, this node runs {expected}")]
    WrongNetwork { expected: String, found: String },
    #[error(
        "finalized block {height} does not re-execute: {reason}; this node's ledger disagrees with the network"
    )]
    Diverged {
        height: u64,
        reason: Box<InvalidBlock>,
    },
    #[error("finalized block {got} arrived but the node has only applied {applied}")]
    Gap { applied: u64, got: u64 },
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    Pending,
    Finalized { height: u64, index: u32 },
    Rejected { code: String, reason: String },
    Unknown,
}

/// A finalized block as the feed and the RPC present it.
#[derive(Debug, Clone)]
pub struct FinalizedBlock {
    pub digest: Hash,
    pub block: Block,
    pub receipts: Vec<Receipt>,
}

/// What consensus reported about one validator: the feed for uptime rewards and slashing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorRecord {
    pub notarize_votes: u64,
    pub finalize_votes: u64,
    pub nullify_votes: u64,
    /// The highest view in which the validator was seen voting.
    pub last_view: u64,
    pub faults: Vec<FaultRecord>,
}

/// Attributable misbehaviour: two conflicting signed votes by the same validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub validator: PublicKey,
    /// `conflicting_notarize`, `conflicting_finalize` or `nullify_finalize`.
    pub kind: String,
    pub epoch: u64,
    pub view: u64,
    /// Both signed votes, as the ledger proves them (`report_validator_fault`).
    pub evidence: cairn_ledger::faults::FaultEvidence,
}

/// A vote seen from a validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteKind {
    Notarize,
    Finalize,
    Nullify,
}

#[derive(Debug)]
struct Finalized {
    state: State,
    digest: Hash,
    /// tx hash → (height, index in block).
    tx_index: BTreeMap<Hash, (u64, u32)>,
}

#[derive(Debug, Default)]
struct Rejections {
    by_hash: BTreeMap<Hash, (String, String)>,
    order: VecDeque<Hash>,
}

type Gossip = Box<dyn Fn(&SignedTx) + Send + Sync>;

/// The shared node: see the module docs.
pub struct Node {
    network: NetworkId,
    genesis: Block,
    snapshot_every: u64,
    finalized: RwLock<Finalized>,
    log: Mutex<BlockLog>,
    snapshots: Arc<Snapshots>,
    mempool: Mutex<Mempool>,
    rejected: Mutex<Rejections>,
    feed: broadcast::Sender<Arc<FinalizedBlock>>,
    gossip: RwLock<Option<Gossip>>,
    consensus_tip: AtomicU64,
    validators: Mutex<BTreeMap<PublicKey, ValidatorRecord>>,
    faults_path: PathBuf,
    halted: Mutex<Option<String>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("network", &self.network)
            .field("height", &self.height())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Open the node's data directory: latest snapshot (or genesis), then replay the block
    /// log after it, checking every block's state root.
    pub fn open(genesis_state: State, options: NodeOptions) -> Result<Arc<Node>, NodeError> {
        let data_dir = options.data_dir.clone();
        fs::create_dir_all(&data_dir).map_err(|source| NodeError::Io {
            path: data_dir.clone(),
            source,
        })?;
        let genesis = Block::genesis(&genesis_state);
        let genesis_digest = genesis.digest();
        let log = BlockLog::open(&data_dir.join("blocks.log"))?;
        let snapshots = Snapshots::open(&data_dir.join("snapshots"))?;
        let mut state = match snapshots.latest()? {
            Some(s) if log.last_height().is_some_and(|h| h >= s.height) || s.height.0 == 0 => s,
            // A snapshot beyond the log cannot happen (snapshots follow the log); ignore it.
            _ => genesis_state.clone(),
        };
        if state.network != genesis_state.network {
            return Err(NodeError::WrongNetwork {
                expected: genesis_state.network.to_string(),
                found: state.network.to_string(),
            });
        }
        let mut digest = if state.height.0 == 0 {
            genesis_digest
        } else {
            log.get(state.height)?
                .map(|b| b.digest())
                .unwrap_or(genesis_digest)
        };
        let mut tx_index = BTreeMap::new();
        for b in log.iter_from(Height(1)) {
            let b = b?;
            for (i, tx) in b.txs.iter().enumerate() {
                tx_index.insert(tx_hash(tx), (b.height.0, i as u32));
            }
            if b.height <= state.height {
                continue;
            }
            // Blocks in our own log were finalized by consensus and checksummed on disk;
            // their signatures were verified before they were applied the first time.
            let (next, _) = block::execute(&state, &digest, &b, |_| SigCheck::AlreadyVerified)
                .map_err(|reason| NodeError::Diverged {
                    height: b.height.0,
                    reason: Box::new(reason),
                })?;
            state = next;
            digest = b.digest();
        }
        let faults_path = data_dir.join("faults.jsonl");
        let mut validators: BTreeMap<PublicKey, ValidatorRecord> = BTreeMap::new();
        if let Ok(text) = fs::read_to_string(&faults_path) {
            for line in text.lines() {
                if let Ok(fault) = serde_json::from_str::<FaultRecord>(line) {
                    validators
                        .entry(fault.validator)
                        .or_default()
                        .faults
                        .push(fault);
                }
            }
        }
        tracing::info!(
            height = state.height.0,
            root = %state.root(),
            "node state loaded"
        );
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Ok(Arc::new(Node {
            network: genesis_state.network.clone(),
            genesis,
            snapshot_every: options.snapshot_every,
            finalized: RwLock::new(Finalized {
                state,
                digest,
                tx_index,
            }),
            log: Mutex::new(log),
            snapshots: Arc::new(snapshots),
            mempool: Mutex::new(Mempool::new(options.mempool)),
            rejected: Mutex::new(Rejections::default()),
            feed,
            gossip: RwLock::new(None),
            consensus_tip: AtomicU64::new(0),
            validators: Mutex::new(validators),
            faults_path,
            halted: Mutex::new(None),
        }))
    }

    pub fn network(&self) -> &NetworkId {
        &self.network
    }

    pub fn genesis_block(&self) -> &Block {
        &self.genesis
    }

    /// The finalized state (an O(1) copy).
    pub fn state(&self) -> State {
        self.finalized.read().expect("lock").state.clone()
    }

    /// The finalized state and its block digest, read together.
    pub fn finalized(&self) -> (State, Hash) {
        let f = self.finalized.read().expect("lock");
        (f.state.clone(), f.digest)
    }

    /// Stop treating this node as healthy: block processing could not continue.
    pub fn halt(&self, reason: String) {
        *self.halted.lock().expect("lock") = Some(reason);
    }

    /// Why block processing stopped, if it did.
    pub fn halted(&self) -> Option<String> {
        self.halted.lock().expect("lock").clone()
    }

    /// Height and digest of the last applied finalized block.
    pub fn tip(&self) -> (Height, Hash) {
        let f = self.finalized.read().expect("lock");
        (f.state.height, f.digest)
    }

    pub fn height(&self) -> Height {
        self.finalized.read().expect("lock").state.height
    }

    /// The highest height consensus has reported finalized (may run ahead of the applied
    /// height while blocks are fetched and applied).
    pub fn consensus_tip(&self) -> u64 {
        self.consensus_tip
            .load(Ordering::Relaxed)
            .max(self.height().0)
    }

    pub fn set_consensus_tip(&self, height: u64) {
        self.consensus_tip.fetch_max(height, Ordering::Relaxed);
    }

    /// A finalized block by height (0 is genesis).
    pub fn block(&self, height: Height) -> Result<Option<Block>, NodeError> {
        if height.0 == 0 {
            return Ok(Some(self.genesis.clone()));
        }
        Ok(self.log.lock().expect("lock").get(height)?)
    }

    /// A finalized transaction with its height and position.
    pub fn transaction(&self, hash: &Hash) -> Result<Option<(u64, u32, SignedTx)>, NodeError> {
        let Some((height, index)) = self
            .finalized
            .read()
            .expect("lock")
            .tx_index
            .get(hash)
            .copied()
        else {
            return Ok(None);
        };
        let block = self.block(Height(height))?;
        Ok(block.and_then(|b| {
            b.txs
                .get(index as usize)
                .cloned()
                .map(|tx| (height, index, tx))
        }))
    }

    pub fn tx_status(&self, hash: &Hash) -> TxStatus {
        if let Some((height, index)) = self
            .finalized
            .read()
            .expect("lock")
            .tx_index
            .get(hash)
            .copied()
        {
            return TxStatus::Finalized { height, index };
        }
        if self.mempool.lock().expect("lock").contains(hash) {
            return TxStatus::Pending;
        }
        if let Some((code, reason)) = self.rejected.lock().expect("lock").by_hash.get(hash) {
            return TxStatus::Rejected {
                code: code.clone(),
                reason: reason.clone(),
            };
        }
        TxStatus::Unknown
    }

    /// A transaction from `signer` with `nonce`, paying the finalized state's minimum token
    /// fee: how the node's own services (oracles, reporters, the simulated fleet) sign.
    pub fn sign_tx(
        &self,
        signer: &dyn cairn_core::keys::Signer,
        nonce: u64,
        kind: cairn_ledger::TxKind,
    ) -> SignedTx {
        let fee = self
            .finalized
            .read()
            .expect("lock")
            .state
            .params
            .get(cairn_ledger::ParamId::TxFeeTokens);
        cairn_core::Signed::sign(
            signer,
            &self.network,
            cairn_ledger::Transaction {
                network: self.network.clone(),
                nonce,
                fee: cairn_ledger::tx::Fee::Tokens(cairn_core::Tokens::from_base_units(fee)),
                kind,
            },
        )
    }

    /// Admit a transaction submitted to this node and pass it on to the other validators.
    pub fn submit(&self, tx: SignedTx) -> Result<Hash, AdmitError> {
        let hash = self.admit(tx.clone())?;
        if let Some(gossip) = self.gossip.read().expect("lock").as_ref() {
            gossip(&tx);
        }
        Ok(hash)
    }

    /// Admit a transaction another validator gossiped (not passed on again: validators are
    /// fully connected, so one hop reaches every leader).
    pub fn receive_gossip(&self, tx: SignedTx) -> Result<Hash, AdmitError> {
        self.admit(tx)
    }

    fn admit(&self, tx: SignedTx) -> Result<Hash, AdmitError> {
        let state = self.state();
        self.mempool.lock().expect("lock").insert(tx, &state)
    }

    /// Install the function that sends a transaction to the other validators.
    pub fn set_gossip(&self, gossip: impl Fn(&SignedTx) + Send + Sync + 'static) {
        *self.gossip.write().expect("lock") = Some(Box::new(gossip));
    }

    pub fn mempool_len(&self) -> usize {
        self.mempool.lock().expect("lock").len()
    }

    /// Candidate transactions for a block on top of `parent_state`, in priority order.
    pub fn candidates(
        &self,
        parent_state: &State,
        max_txs: usize,
        max_bytes: usize,
    ) -> Vec<SignedTx> {
        self.mempool
            .lock()
            .expect("lock")
            .select(parent_state, max_txs, max_bytes)
    }

    /// Which signatures this node has already verified: everything in its mempool was
    /// verified on admission, and a transaction's hash covers its signature.
    pub fn sig_check(&self) -> impl Fn(&SignedTx) -> SigCheck + '_ {
        move |tx| {
            if self.mempool.lock().expect("lock").contains(&tx_hash(tx)) {
                SigCheck::AlreadyVerified
            } else {
                SigCheck::Verify
            }
        }
    }

    /// Remember why a proposer left transactions out, and drop them from the pool.
    pub fn note_rejected(&self, rejected: &[(SignedTx, TxError)]) {
        if rejected.is_empty() {
            return;
        }
        let hashes: Vec<Hash> = rejected.iter().map(|(tx, _)| tx_hash(tx)).collect();
        {
            let state = self.state();
            self.mempool
                .lock()
                .expect("lock")
                .remove_finalized(&hashes, &state);
        }
        let mut r = self.rejected.lock().expect("lock");
        for ((_, error), hash) in rejected.iter().zip(hashes) {
            r.by_hash
                .insert(hash, (error.code().to_owned(), error.to_string()));
            r.order.push_back(hash);
        }
        while r.order.len() > REJECTED_REMEMBERED {
            if let Some(old) = r.order.pop_front() {
                r.by_hash.remove(&old);
            }
        }
    }

    /// Apply a finalized block. Idempotent by height: a block at or below the applied
    /// height is ignored (`Ok(false)`). `post_state` may carry the state the adapter already
    /// computed when it built or verified this very block; it must be exactly that.
    ///
    /// Returns after the block is durable; only then may the caller acknowledge it.
    pub fn apply_finalized(
        &self,
        block: &Block,
        post_state: Option<State>,
    ) -> Result<bool, NodeError> {
        let (applied, parent_digest, parent_state) = {
            let f = self.finalized.read().expect("lock");
            (f.state.height, f.digest, f.state.clone())
        };
        if block.height <= applied {
            return Ok(false);
        }
        if block.height.0 != applied.0 + 1 {
            return Err(NodeError::Gap {
                applied: applied.0,
                got: block.height.0,
            });
        }
        let (state, receipts) = match post_state {
            // The caller's post-state came from executing exactly this block (it is kept by
            // the block's digest, which commits to the parent and the root), so the root
            // need not be recomputed.
            Some(s) if s.height == block.height && block.parent == parent_digest => (s, Vec::new()),
            _ => block::execute(&parent_state, &parent_digest, block, self.sig_check()).map_err(
                |reason| NodeError::Diverged {
                    height: block.height.0,
                    reason: Box::new(reason),
                },
            )?,
        };
        self.log.lock().expect("lock").append(block)?;
        let digest = block.digest();
        let hashes: Vec<Hash> = block.txs.iter().map(tx_hash).collect();
        {
            let mut f = self.finalized.write().expect("lock");
            f.state = state.clone();
            f.digest = digest;
            for (i, h) in hashes.iter().enumerate() {
                f.tx_index.insert(*h, (block.height.0, i as u32));
            }
        }
        self.mempool
            .lock()
            .expect("lock")
            .remove_finalized(&hashes, &state);
        self.set_consensus_tip(block.height.0);
        if self.snapshot_every > 0 && block.height.0.is_multiple_of(self.snapshot_every) {
            let snapshots = Arc::clone(&self.snapshots);
            let snap = state.clone();
            std::thread::spawn(move || {
                if let Err(e) = snapshots.write(&snap) {
                    tracing::warn!(error = %e, "state snapshot failed; the block log still has everything");
                }
            });
        }
        let _ = self.feed.send(Arc::new(FinalizedBlock {
            digest,
            block: block.clone(),
            receipts,
        }));
        Ok(true)
    }

    /// Finalized blocks as they are applied.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FinalizedBlock>> {
        self.feed.subscribe()
    }

    /// Count a vote seen from a validator.
    pub fn record_vote(&self, validator: PublicKey, kind: VoteKind, view: u64) {
        let mut v = self.validators.lock().expect("lock");
        let r = v.entry(validator).or_default();
        match kind {
            VoteKind::Notarize => r.notarize_votes += 1,
            VoteKind::Finalize => r.finalize_votes += 1,
            VoteKind::Nullify => r.nullify_votes += 1,
        }
        r.last_view = r.last_view.max(view);
    }

    /// Record fault evidence durably (appended to `faults.jsonl` and fsynced).
    pub fn record_fault(&self, fault: FaultRecord) {
        let mut v = self.validators.lock().expect("lock");
        let r = v.entry(fault.validator).or_default();
        if r.faults.iter().any(|f| f.evidence == fault.evidence) {
            return;
        }
        tracing::warn!(validator = %fault.validator, kind = %fault.kind, view = fault.view, "validator fault recorded");
        let line = serde_json::to_string(&fault).expect("fault serializes");
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.faults_path)
            .and_then(|mut f| {
                f.write_all(line.as_bytes())?;
                f.write_all(b"\n")?;
                f.sync_data()
            });
        if let Err(e) = written {
            tracing::error!(error = %e, path = %self.faults_path.display(), "could not persist fault evidence");
        }
        r.faults.push(fault);
    }

    /// Evidence this node holds for consensus rounds the finalized ledger has no fault for
    /// yet: one per (validator, epoch, view), in that order.
    pub fn unreported_faults(&self) -> Vec<cairn_ledger::faults::FaultEvidence> {
        let state = self.state();
        let mut out: BTreeMap<(PublicKey, u64, u64), cairn_ledger::faults::FaultEvidence> =
            BTreeMap::new();
        for record in self.validators.lock().expect("lock").values() {
            for f in &record.faults {
                let key = (f.evidence.validator, f.evidence.epoch, f.evidence.view);
                if !state.validator_faults.contains_key(&key) {
                    out.entry(key).or_insert_with(|| f.evidence.clone());
                }
            }
        }
        out.into_values().collect()
    }

    /// Per-validator votes and faults.
    pub fn validators(&self) -> BTreeMap<PublicKey, ValidatorRecord> {
        self.validators.lock().expect("lock").clone()
    }
}
