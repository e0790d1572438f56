//! The transaction pool of a validator node.
//!
//! Transactions wait here between admission (RPC, gossip) and inclusion in a block. The
//! pool checks what it can check without executing: the network, the size, the signature,
//! the nonce window and the fee. Balances are *not* checked — whether the sender can pay
//! is only known when the ledger executes the transaction in order.
//!
//! # Priority
//!
//! Fees come in two assets (tokens and credits) whose units cannot be compared directly, so
//! priority is unit-free: the fee's ratio to its asset's current minimum, in basis points
//! (`fee * 10_000 / max(minimum, 1)`). A fee exactly at the minimum has priority 10 000.
//! Integer maths only; no floats anywhere, so every node orders the same pool the same way.
//!
//! # Ordering and eviction
//!
//! A sender's transactions can only execute in nonce order, so:
//! - [`Mempool::select`] takes, per sender, only the run of consecutive nonces starting at
//!   the account's next nonce, and interleaves senders by the priority of each one's next
//!   executable transaction (a later nonce paying more cannot jump ahead of an earlier one).
//! - When the pool is full, only a sender's *highest-nonce* transaction may be evicted:
//!   evicting an earlier one would strand every later nonce of that sender behind a gap.
//!
//! Every collection is an ordered map or set, so nothing depends on hash-map iteration
//! order; insert and remove are O(log n).

#![deny(clippy::float_arithmetic)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use cairn_core::codec::{self, Canonical};
use cairn_core::{Credits, Hash, PublicKey, Tokens};
use cairn_ledger::params::{ParamId, Params};
use cairn_ledger::state::State;
use cairn_ledger::tx::{Fee, SignedTx};

/// Priority of a fee exactly at its asset's minimum (basis points).
const BPS: u128 = 10_000;

/// A replacement must offer at least `1 / REPLACEMENT_BUMP_DIVISOR` (10%) more priority
/// than the transaction it replaces: otherwise a sender could churn the pool (and gossip) for free by
/// re-signing the same nonce with a fee one base unit higher.
const REPLACEMENT_BUMP_DIVISOR: u128 = 10;

/// Limits of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most transactions held at once.
    pub max_txs: usize,
    /// Most bytes held at once: the sum of the pooled transactions' canonical encodings.
    pub max_bytes: usize,
    /// Most transactions of one sender, so one account cannot fill the pool.
    pub max_per_account: usize,
    /// Highest nonce accepted, counted from the sender's next nonce: transactions far in
    /// the future cannot execute soon and would only occupy space.
    pub max_nonce_gap: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 50_000,
            max_bytes: 64 * 1024 * 1024,
            max_per_account: 256,
            max_nonce_gap: 64,
        }
    }
}

/// Why a transaction was not admitted. Each variant has a stable code ([`AdmitError::code`])
/// for the RPC; the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("transaction {hash} is already in the pool")]
    Duplicate { hash: Hash },
    #[error("transaction is for network {got:?}, but this node runs {expected:?}")]
    WrongNetwork { expected: String, got: String },
    #[error("invalid signature: {0}")]
    BadSignature(String),
    #[error("nonce {got} is already used: the sender's next nonce is {expected}")]
    NonceTooLow { expected: u64, got: u64 },
    #[error(
        "nonce {got} is too far ahead: the sender's next nonce is {next} and the pool accepts \
         at most {max_gap} beyond it"
    )]
    NonceTooFarAhead { next: u64, got: u64, max_gap: u64 },
    #[error("fee of {offered} {asset} is below the minimum of {minimum} {asset}")]
    FeeTooLow {
        asset: &'static str,
        offered: String,
        minimum: String,
    },
    #[error("fees in {asset} are not accepted (switched off by a parameter)")]
    FeeAssetDisabled { asset: &'static str },
    #[error("transaction encodes to {len} bytes, over the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    #[error("the sender already has {limit} transactions in the pool, the most allowed")]
    AccountFull { limit: usize },
    #[error(
        "the pool is full and the transaction's fee priority is not above that of the lowest \
         evictable transaction"
    )]
    PoolFull,
    #[error(
        "replacement for nonce {nonce} is underpriced: its fee priority is {offered} basis \
         points of the minimum fee, a replacement needs at least {required} (10% above the \
         pooled transaction's {pooled})"
    )]
    ReplacementUnderpriced {
        nonce: u64,
        pooled: u128,
        offered: u128,
        required: u128,
    },
}

impl AdmitError {
    /// A stable snake_case code for clients; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            AdmitError::Duplicate { .. } => "duplicate",
            AdmitError::WrongNetwork { .. } => "wrong_network",
            AdmitError::BadSignature(_) => "bad_signature",
            AdmitError::NonceTooLow { .. } => "nonce_too_low",
            AdmitError::NonceTooFarAhead { .. } => "nonce_too_far_ahead",
            AdmitError::FeeTooLow { .. } => "fee_too_low",
            AdmitError::FeeAssetDisabled { .. } => "fee_asset_disabled",
            AdmitError::TooLarge { .. } => "too_large",
            AdmitError::AccountFull { .. } => "account_full",
            AdmitError::PoolFull => "pool_full",
            AdmitError::ReplacementUnderpriced { .. } => "replacement_underpriced",
        }
    }
}

/// A pooled transaction and what the pool remembers about it.
#[derive(Debug, Clone)]
struct Entry {
    tx: SignedTx,
    /// Length of its canonical encoding: what it costs in the pool and in a block.
    len: usize,
    /// Priority under the parameters in force when it was admitted (used for eviction;
    /// [`Mempool::select`] recomputes it under the block's parameters).
    priority: u128,
    /// Arrival order in this pool: the tie-break between equal priorities.
    seq: u64,
}

impl Entry {
    fn evictable(&self, hash: Hash) -> Evictable {
        Evictable {
            priority: self.priority,
            newest_first: Reverse(self.seq),
            hash,
        }
    }
}

/// Eviction order of senders' highest-nonce transactions: lowest priority first, and among
/// equal priorities the latest arrival first (the earlier one was admitted on equal terms
/// and keeps its place, matching `select`'s earlier-arrival-first tie-break).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Evictable {
    priority: u128,
    newest_first: Reverse<u64>,
    hash: Hash,
}

/// A sender's next executable transaction while a block is being selected. The derived
/// order makes `BinaryHeap` pop the highest priority, then the earliest arrival, then the
/// lowest hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    priority: u128,
    earliest_first: Reverse<u64>,
    lowest_hash_first: Reverse<Hash>,
    sender: PublicKey,
    nonce: u64,
}

/// The pool of pending transactions.
#[derive(Debug)]
pub struct Mempool {
    cfg: MempoolConfig,
    /// Every pooled transaction by its id (BLAKE3 of the canonical `SignedTx` encoding).
    by_hash: BTreeMap<Hash, Entry>,
    /// Each sender's pooled transactions by nonce.
    by_sender: BTreeMap<PublicKey, BTreeMap<u64, Hash>>,
    /// The highest-nonce transaction of each sender: the only eviction candidates.
    evictable: BTreeSet<Evictable>,
    /// Sum of the pooled transactions' encoded lengths.
    bytes: usize,
    next_seq: u64,
}

impl Mempool {
    pub fn new(cfg: MempoolConfig) -> Self {
        Mempool {
            cfg,
            by_hash: BTreeMap::new(),
            by_sender: BTreeMap::new(),
            evictable: BTreeSet::new(),
            bytes: 0,
            next_seq: 0,
        }
    }

    pub fn config(&self) -> &MempoolConfig {
        &self.cfg
    }

    /// Admit `tx` against `state` (the latest finalized state): network, size, signature,
    /// nonce window, fee, dedup, replacement and capacity. Returns the transaction id.
    ///
    /// Cheap checks run before the signature so that junk costs little; nothing changes
    /// unless every check passes.
    pub fn insert(&mut self, tx: SignedTx, state: &State) -> Result<Hash, AdmitError> {
        self.admit(tx, state, true)
    }

    /// [`Mempool::insert`] without verifying the signature, for transactions whose exact
    /// signature the caller has already checked (for example in one batch verification).
    /// A caller that skips that check lets unsigned transactions occupy the pool.
    pub fn insert_verified(&mut self, tx: SignedTx, state: &State) -> Result<Hash, AdmitError> {
        self.admit(tx, state, false)
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    pub fn get(&self, hash: &Hash) -> Option<&SignedTx> {
        self.by_hash.get(hash).map(|e| &e.tx)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Sum of the pooled transactions' canonical encoding lengths.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The transactions of the next block, in execution order.
    ///
    /// Per sender only the run of consecutive nonces from the account's next nonce in
    /// `state` (anything after a gap cannot execute yet). Across senders, by the priority of
    /// each sender's next transaction, highest first; ties go to the earlier arrival, then
    /// the lower hash. Priorities and fee checks use `state`'s parameters, so a sender whose
    /// next fee no longer meets the minimum (or whose asset was switched off) contributes
    /// nothing more. At most `max_txs` transactions whose encoded lengths sum to at most
    /// `max_bytes`; a transaction that does not fit ends its sender's run, and smaller ones
    /// of other senders may still fill the space.
    ///
    /// O(pool · log senders): a heap holds one candidate per sender.
    pub fn select(&self, state: &State, max_txs: usize, max_bytes: usize) -> Vec<SignedTx> {
        let mut heap: BinaryHeap<Candidate> = self
            .by_sender
            .iter()
            .filter_map(|(sender, txs)| {
                self.candidate(sender, txs, state.account(sender).nonce, &state.params)
            })
            .collect();
        let mut out = Vec::new();
        let mut used: usize = 0;
        while out.len() < max_txs
            && let Some(next) = heap.pop()
        {
            let Some(entry) = self.by_hash.get(&next.lowest_hash_first.0) else {
                continue;
            };
            let Some(total) = used.checked_add(entry.len).filter(|t| *t <= max_bytes) else {
                continue;
            };
            used = total;
            out.push(entry.tx.clone());
            if let Some(following) = next.nonce.checked_add(1)
                && let Some(txs) = self.by_sender.get(&next.sender)
                && let Some(c) = self.candidate(&next.sender, txs, following, &state.params)
            {
                heap.push(c);
            }
        }
        out
    }

    /// Forget what a finalized block settled: the `included` transactions, and every pooled
    /// transaction whose nonce is now below its sender's next nonce in `state` (the block
    /// used that nonce, perhaps with a different transaction that this pool never saw).
    ///
    /// Scans every sender (a hash alone does not say whose nonce moved): O(senders · log n).
    pub fn remove_finalized(&mut self, included: &[Hash], state: &State) {
        for hash in included {
            self.remove_entry(hash);
        }
        let stale: Vec<Hash> = self
            .by_sender
            .iter()
            .flat_map(|(sender, txs)| {
                let next = state.account(sender).nonce;
                txs.range(..next).map(|(_, hash)| *hash)
            })
            .collect();
        for hash in &stale {
            self.remove_entry(hash);
        }
    }

    fn admit(&mut self, tx: SignedTx, state: &State, verify: bool) -> Result<Hash, AdmitError> {
        let encoded = codec::encode(&tx);
        let len = encoded.len();
        let limit = SignedTx::MAX_ENCODED_LEN.min(self.cfg.max_bytes);
        if len > limit {
            return Err(AdmitError::TooLarge { len, limit });
        }
        // The transaction id used across Cairn (`Receipt::tx_hash` is `tx.hash()`, i.e.
        // `Canonical::hash` of the `SignedTx`): BLAKE3 of these same canonical bytes,
        // computed here from the encoding already made for the size check.
        let hash = Hash::of(&encoded);
        if self.by_hash.contains_key(&hash) {
            return Err(AdmitError::Duplicate { hash });
        }

        let body = &tx.message;
        if body.network != state.network {
            return Err(AdmitError::WrongNetwork {
                expected: state.network.to_string(),
                got: body.network.to_string(),
            });
        }
        let sender = tx.signer;
        let nonce = body.nonce;
        let next = state.account(&sender).nonce;
        if nonce < next {
            return Err(AdmitError::NonceTooLow {
                expected: next,
                got: nonce,
            });
        }
        if nonce > next.saturating_add(self.cfg.max_nonce_gap) {
            return Err(AdmitError::NonceTooFarAhead {
                next,
                got: nonce,
                max_gap: self.cfg.max_nonce_gap,
            });
        }
        let priority = checked_priority(body.fee, &state.params)?;

        let senders_txs = self.by_sender.get(&sender);
        let replaced = senders_txs.and_then(|txs| txs.get(&nonce)).copied();
        if let Some(old) = replaced.and_then(|h| self.by_hash.get(&h)) {
            // Both sides under the current parameters, so the bump is meaningful even if
            // the minimum changed since the pooled one arrived, and across assets.
            let pooled = priority_of(old.tx.message.fee, &state.params);
            // Rounded up, and at least 1, so a replacement always pays strictly more.
            let bump = pooled.div_ceil(REPLACEMENT_BUMP_DIVISOR).max(1);
            let required = pooled.saturating_add(bump);
            if priority < required {
                return Err(AdmitError::ReplacementUnderpriced {
                    nonce,
                    pooled,
                    offered: priority,
                    required,
                });
            }
        } else if senders_txs.map_or(0, BTreeMap::len) >= self.cfg.max_per_account {
            return Err(AdmitError::AccountFull {
                limit: self.cfg.max_per_account,
            });
        }

        if verify {
            tx.verify(&state.network)
                .map_err(|e| AdmitError::BadSignature(e.to_string()))?;
        }

        // Make room: take out the replaced transaction, then evict until the new one fits.
        // Everything taken out is kept so that a failure puts the pool back as it was.
        let mut removed: Vec<(Hash, Entry)> = Vec::new();
        if let Some(old) = replaced
            && let Some(entry) = self.remove_entry(&old)
        {
            removed.push((old, entry));
        }
        while self.by_hash.len() >= self.cfg.max_txs
            || self.bytes.saturating_add(len) > self.cfg.max_bytes
        {
            let Some(victim) = self.victim(&sender, nonce, priority) else {
                for (h, e) in removed {
                    self.add_entry(h, e);
                }
                return Err(AdmitError::PoolFull);
            };
            if let Some(entry) = self.remove_entry(&victim) {
                removed.push((victim, entry));
            }
        }

        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        self.add_entry(
            hash,
            Entry {
                tx,
                len,
                priority,
                seq,
            },
        );
        Ok(hash)
    }

    /// The transaction to evict to make room for `sender`'s `nonce` at `priority`: the
    /// lowest-priority highest-nonce transaction of any sender, only if strictly below
    /// `priority`, and never one that would leave a gap before the new transaction
    /// (the same sender's current highest nonce, below the new one).
    fn victim(&self, sender: &PublicKey, nonce: u64, priority: u128) -> Option<Hash> {
        let lowest = self.evictable.first()?;
        if lowest.priority >= priority {
            return None;
        }
        let entry = self.by_hash.get(&lowest.hash)?;
        if entry.tx.signer == *sender && entry.tx.message.nonce < nonce {
            return None;
        }
        Some(lowest.hash)
    }

    /// `sender`'s transaction with `nonce` as a selection candidate, if pooled and its fee
    /// is acceptable under `params`.
    fn candidate(
        &self,
        sender: &PublicKey,
        txs: &BTreeMap<u64, Hash>,
        nonce: u64,
        params: &Params,
    ) -> Option<Candidate> {
        let hash = txs.get(&nonce)?;
        let entry = self.by_hash.get(hash)?;
        let priority = checked_priority(entry.tx.message.fee, params).ok()?;
        Some(Candidate {
            priority,
            earliest_first: Reverse(entry.seq),
            lowest_hash_first: Reverse(*hash),
            sender: *sender,
            nonce,
        })
    }

    /// Add to every index. The caller has made sure the sender has no entry at this nonce.
    fn add_entry(&mut self, hash: Hash, entry: Entry) {
        let nonce = entry.tx.message.nonce;
        let txs = self.by_sender.entry(entry.tx.signer).or_default();
        let old_tail = txs.last_key_value().map(|(n, h)| (*n, *h));
        debug_assert!(!txs.contains_key(&nonce), "nonce already pooled");
        txs.insert(nonce, hash);
        match old_tail {
            Some((tail_nonce, _)) if tail_nonce > nonce => {}
            Some((_, tail_hash)) => {
                if let Some(tail) = self.by_hash.get(&tail_hash) {
                    self.evictable.remove(&tail.evictable(tail_hash));
                }
                self.evictable.insert(entry.evictable(hash));
            }
            None => {
                self.evictable.insert(entry.evictable(hash));
            }
        }
        self.bytes = self.bytes.saturating_add(entry.len);
        self.by_hash.insert(hash, entry);
    }

    /// Remove from every index; the sender's next-highest nonce becomes evictable if the
    /// removed one was its highest.
    fn remove_entry(&mut self, hash: &Hash) -> Option<Entry> {
        let entry = self.by_hash.remove(hash)?;
        self.bytes = self.bytes.saturating_sub(entry.len);
        let sender = entry.tx.signer;
        let nonce = entry.tx.message.nonce;
        if let Some(txs) = self.by_sender.get_mut(&sender) {
            let was_tail = txs.last_key_value().map(|(n, _)| *n) == Some(nonce);
            txs.remove(&nonce);
            if was_tail {
                self.evictable.remove(&entry.evictable(*hash));
                if let Some((_, new_tail)) = txs.last_key_value()
                    && let Some(tail) = self.by_hash.get(new_tail)
                {
                    self.evictable.insert(tail.evictable(*new_tail));
                }
            }
            if txs.is_empty() {
                self.by_sender.remove(&sender);
            }
        }
        Some(entry)
    }
}

/// The fee's asset name, the parameter that switches it on, the offered and minimum
/// amounts in base units — read exactly as the ledger's fee charge reads them.
fn fee_terms(fee: Fee, params: &Params) -> (&'static str, ParamId, u128, u128) {
    match fee {
        Fee::Tokens(amount) => (
            "tokens",
            ParamId::FeeInTokens,
            amount.base_units(),
            params.get(ParamId::TxFeeTokens),
        ),
        Fee::Credits(amount) => (
            "credits",
            ParamId::FeeInCredits,
            amount.base_units(),
            params.get(ParamId::TxFeeCredits),
        ),
    }
}

/// Unit-free priority: the fee's ratio to its asset's minimum, in basis points (saturating;
/// a fee near `u128::MAX / 10_000` base units is far beyond any supply).
fn priority_of(fee: Fee, params: &Params) -> u128 {
    let (_, _, offered, minimum) = fee_terms(fee, params);
    offered.saturating_mul(BPS) / minimum.max(1)
}

/// The ledger's fee rule (asset switched on, at least the minimum), then the priority.
fn checked_priority(fee: Fee, params: &Params) -> Result<u128, AdmitError> {
    let (asset, switch, offered, minimum) = fee_terms(fee, params);
    if !params.enabled(switch) {
        return Err(AdmitError::FeeAssetDisabled { asset });
    }
    if offered < minimum {
        // Shown in the asset's own units, as the ledger shows them.
        let (offered, minimum) = match fee {
            Fee::Tokens(_) => (
                Tokens::from_base_units(offered).to_string(),
                Tokens::from_base_units(minimum).to_string(),
            ),
            Fee::Credits(_) => (
                Credits::from_base_units(offered).to_string(),
                Credits::from_base_units(minimum).to_string(),
            ),
        };
        return Err(AdmitError::FeeTooLow {
            asset,
            offered,
            minimum,
        });
    }
    Ok(priority_of(fee, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{Epoch, Height, Keypair, NetworkId, Signature, Signed};
    use cairn_ledger::genesis::{Allocation, Genesis, GenesisValidator};
    use cairn_ledger::tx::{OracleSignature, ParamValue, RewardManifest, Transaction, TxKind};
    use cairn_ledger::{BlockContext, apply_block};
    use proptest::prelude::*;

    const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];

    fn key(name: &str) -> Keypair {
        Keypair::from_seed(Hash::of(name.as_bytes()).as_bytes())
    }

    fn pk(name: &str) -> PublicKey {
        key(name).public()
    }

    fn network() -> NetworkId {
        NetworkId::new("cairn-test").unwrap()
    }

    fn state_with(params: Vec<ParamValue>) -> State {
        Genesis {
            network: network(),
            time_ms: 1_700_000_000_000,
            allocations: NAMES
                .iter()
                .map(|n| Allocation {
                    account: pk(n),
                    tokens: Tokens::from_base_units(1_000 * 100_000_000),
                })
                .collect(),
            treasury: Tokens::ZERO,
            validators: vec![GenesisValidator {
                key: pk("validator"),
                power: 1,
            }],
            price_oracles: vec![],
            reward_oracles: vec![],
            verifier_oracles: vec![],
            makers: vec![],
            params,
        }
        .into_state()
        .unwrap()
    }

    fn state() -> State {
        state_with(vec![])
    }

    /// A token fee of `percent` of the minimum (priority `percent * 100`).
    fn tokens(state: &State, percent: u128) -> Fee {
        let min = state.params.get(ParamId::TxFeeTokens);
        Fee::Tokens(Tokens::from_base_units(min * percent / 100))
    }

    /// A credit fee of `percent` of the minimum.
    fn credits(state: &State, percent: u128) -> Fee {
        let min = state.params.get(ParamId::TxFeeCredits);
        Fee::Credits(Credits::from_base_units(min * percent / 100))
    }

    fn body(nonce: u64, fee: Fee) -> Transaction {
        Transaction {
            network: network(),
            nonce,
            fee,
            kind: TxKind::Transfer {
                to: pk("sink"),
                amount: Tokens::from_base_units(1),
            },
        }
    }

    fn tx(who: &str, nonce: u64, fee: Fee) -> SignedTx {
        Signed::sign(&key(who), &network(), body(nonce, fee))
    }

    /// A transaction whose size grows with `signatures` (96 bytes each).
    fn manifest_tx(who: &str, nonce: u64, fee: Fee, signatures: usize) -> SignedTx {
        let signature = OracleSignature {
            oracle: pk("reward-1"),
            signature: Signature([7; 64]),
        };
        let body = Transaction {
            network: network(),
            nonce,
            fee,
            kind: TxKind::SubmitManifest {
                manifest: RewardManifest {
                    epoch: Epoch(1),
                    cumulative_root: Hash::ZERO,
                    recipient_count: 0,
                    epoch_total: Tokens::ZERO,
                    cumulative_total: Tokens::ZERO,
                    previous: Hash::ZERO,
                    unallocated_burned: Tokens::ZERO,
                    params_hash: Hash::ZERO,
                    inputs: Hash::ZERO,
                    penalties_root: Hash::ZERO,
                    penalty_count: 0,
                },
                signatures: vec![signature; signatures],
            },
        };
        Signed::sign(&key(who), &network(), body)
    }

    /// Encoded length of a pooled test transfer (the same for every sender, nonce and fee).
    fn tx_len() -> usize {
        codec::encode(&tx("alice", 0, tokens(&state(), 100))).len()
    }

    /// Apply `txs` as the next block; every one must succeed.
    fn advance(state: &mut State, txs: Vec<SignedTx>) {
        let ctx = BlockContext {
            height: Height(state.height.0 + 1),
            time_ms: state.time_ms + 6_000,
        };
        let outcome = apply_block(state, &ctx, &txs).unwrap();
        for result in outcome.results {
            result.unwrap();
        }
    }

    fn hashes(txs: &[SignedTx]) -> Vec<Hash> {
        txs.iter().map(|t| t.hash()).collect()
    }

    /// Every index agrees with `by_hash`: sender maps, byte count, evictable tails.
    fn check_consistent(pool: &Mempool) {
        let bytes: usize = pool.by_hash.values().map(|e| e.len).sum();
        assert_eq!(pool.bytes(), bytes);
        let mut count = 0;
        let mut tails = BTreeSet::new();
        for (sender, txs) in &pool.by_sender {
            assert!(!txs.is_empty(), "empty sender map kept");
            for (nonce, hash) in txs {
                let e = &pool.by_hash[hash];
                assert_eq!(e.tx.signer, *sender);
                assert_eq!(e.tx.message.nonce, *nonce);
                assert_eq!(e.tx.hash(), *hash);
                assert_eq!(e.len, codec::encode(&e.tx).len());
                count += 1;
            }
            let (_, tail) = txs.last_key_value().unwrap();
            tails.insert(pool.by_hash[tail].evictable(*tail));
        }
        assert_eq!(count, pool.len());
        assert_eq!(tails, pool.evictable);
    }

    #[test]
    fn duplicate_is_refused() {
        let s = state();
        let mut pool = Mempool::new(MempoolConfig::default());
        let t = tx("alice", 0, tokens(&s, 100));
        let hash = pool.insert(t.clone(), &s).unwrap();
        assert_eq!(hash, t.hash(), "the pool's id is the ledger's tx hash");
        assert!(pool.contains(&hash));
        assert_eq!(pool.get(&hash), Some(&t));
        let err = pool.insert(t.clone(), &s).unwrap_err();
        assert_eq!(err, AdmitError::Duplicate { hash });
        assert_eq!(err.code(), "duplicate");
        assert_eq!(pool.insert_verified(t, &s).unwrap_err().code(), "duplicate");
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.bytes(), tx_len());
        check_consistent(&pool);
    }

    #[test]
    fn wrong_network_is_refused() {
        let s = state();
        let mut pool = Mempool::new(MempoolConfig::default());
        let other = NetworkId::new("other-net").unwrap();
        let mut b = body(0, tokens(&s, 100));
        b.network = other.clone();
        let t = Signed::sign(&key("alice"), &other, b);
        let err = pool.insert(t.clone(), &s).unwrap_err();
        assert_eq!(
            err,
            AdmitError::WrongNetwork {
                expected: "cairn-test".into(),
                got: "other-net".into()
            }
        );
        assert!(err.to_string().contains("other-net"), "{err}");
        // Skipping the signature check does not skip the network check.
        assert_eq!(
            pool.insert_verified(t, &s).unwrap_err().code(),
            "wrong_network"
        );
        assert!(pool.is_empty());
    }

    #[test]
    fn tampered_body_fails_signature() {
        let s = state();
        let mut pool = Mempool::new(MempoolConfig::default());
        let mut t = tx("alice", 0, tokens(&s, 100));
        t.message.fee = tokens(&s, 500);
        let err = pool.insert(t.clone(), &s).unwrap_err();
        assert!(matches!(err, AdmitError::BadSignature(_)), "{err:?}");
        assert_eq!(err.code(), "bad_signature");
        assert!(pool.is_empty());

        // Signed for another network but claiming this one: also a bad signature.
        let foreign = Signed::sign(
            &key("alice"),
            &NetworkId::new("other-net").unwrap(),
            body(0, tokens(&s, 100)),
        );
        assert_eq!(
            pool.insert(foreign, &s).unwrap_err().code(),
            "bad_signature"
        );

        // The caller vouches for the signature: the pool takes its word.
        pool.insert_verified(t, &s).unwrap();
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn nonce_window() {
        let mut s = state();
        let used = vec![
            tx("alice", 0, tokens(&s, 100)),
            tx("alice", 1, tokens(&s, 100)),
        ];
        advance(&mut s, used);
        assert_eq!(s.account(&pk("alice")).nonce, 2);
        let mut pool = Mempool::new(MempoolConfig::default());
        let err = pool
            .insert(tx("alice", 1, tokens(&s, 100)), &s)
            .unwrap_err();
        assert_eq!(
            err,
            AdmitError::NonceTooLow {
                expected: 2,
                got: 1
            }
        );
        assert_eq!(err.code(), "nonce_too_low");
        let err = pool
            .insert(tx("alice", 2 + 65, tokens(&s, 100)), &s)
            .unwrap_err();
        assert_eq!(
            err,
            AdmitError::NonceTooFarAhead {
                next: 2,
                got: 67,
                max_gap: 64
            }
        );
        assert_eq!(err.code(), "nonce_too_far_ahead");
        pool.insert(tx("alice", 2 + 64, tokens(&s, 100)), &s)
            .unwrap();
        pool.insert(tx("alice", 2, tokens(&s, 100)), &s).unwrap();
        // A fresh account starts at 0.
        pool.insert(tx("bob", 0, tokens(&s, 100)), &s).unwrap();
        assert_eq!(pool.len(), 3);
        check_consistent(&pool);
    }

    #[test]
    fn fee_minimum_and_disabled_asset() {
        let s = state();
        let mut pool = Mempool::new(MempoolConfig::default());
        let min = s.params.get(ParamId::TxFeeTokens);
        let low = tx("alice", 0, Fee::Tokens(Tokens::from_base_units(min - 1)));
        let err = pool.insert(low, &s).unwrap_err();
        assert_eq!(
            err,
            AdmitError::FeeTooLow {
                asset: "tokens",
                offered: Tokens::from_base_units(min - 1).to_string(),
                minimum: Tokens::from_base_units(min).to_string(),
            }
        );
        assert_eq!(err.code(), "fee_too_low");
        let err = pool.insert(tx("bob", 0, credits(&s, 90)), &s).unwrap_err();
        assert!(
            matches!(
                err,
                AdmitError::FeeTooLow {
                    asset: "credits",
                    ..
                }
            ),
            "{err:?}"
        );
        pool.insert(tx("alice", 0, tokens(&s, 100)), &s).unwrap();
        pool.insert(tx("bob", 0, credits(&s, 100)), &s).unwrap();

        let no_credits = state_with(vec![ParamValue {
            param: ParamId::FeeInCredits,
            value: 0,
        }]);
        let mut pool = Mempool::new(MempoolConfig::default());
        let err = pool
            .insert(tx("bob", 0, credits(&no_credits, 1_000)), &no_credits)
            .unwrap_err();
        assert_eq!(err, AdmitError::FeeAssetDisabled { asset: "credits" });
        assert_eq!(err.code(), "fee_asset_disabled");
        pool.insert(tx("bob", 0, tokens(&no_credits, 100)), &no_credits)
            .unwrap();
    }

    #[test]
    fn too_large_is_refused() {
        let s = state();
        let t = manifest_tx("alice", 0, tokens(&s, 100), 1_000);
        let len = codec::encode(&t).len();
        let mut pool = Mempool::new(MempoolConfig::default());
        let err = pool.insert(t, &s).unwrap_err();
        assert_eq!(
            err,
            AdmitError::TooLarge {
                len,
                limit: SignedTx::MAX_ENCODED_LEN
            }
        );
        assert_eq!(err.code(), "too_large");

        // A transaction bigger than the whole pool can never fit either.
        let mut tiny = Mempool::new(MempoolConfig {
            max_bytes: tx_len() - 1,
            ..MempoolConfig::default()
        });
        let err = tiny
            .insert(tx("alice", 0, tokens(&s, 100)), &s)
            .unwrap_err();
        assert_eq!(
            err,
            AdmitError::TooLarge {
                len: tx_len(),
                limit: tx_len() - 1
            }
        );
    }

    #[test]
    fn replacement_needs_ten_percent_more() {
        let s = state();
        let mut pool = Mempool::new(MempoolConfig::default());
        let first = pool.insert(tx("alice", 0, tokens(&s, 100)), &s).unwrap();
        let err = pool
            .insert(tx("alice", 0, tokens(&s, 109)), &s)
            .unwrap_err();
        assert_eq!(
            err,
            AdmitError::ReplacementUnderpriced {
                nonce: 0,
                pooled: 10_000,
                offered: 10_900,
                required: 11_000,
            }
        );
        assert_eq!(err.code(), "replacement_underpriced");
        assert!(pool.contains(&first));

        let second = pool.insert(tx("alice", 0, tokens(&s, 110)), &s).unwrap();
        assert!(!pool.contains(&first), "the replaced transaction is gone");
        assert!(pool.contains(&second));
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.bytes(), tx_len());

        // Across assets the comparison is unit-free: 120% of the credit minimum is not 10%
        // above 110% of the token minimum, 130% is.
        let err = pool
            .insert(tx("alice", 0, credits(&s, 120)), &s)
            .unwrap_err();
        assert!(
            matches!(
                err,
                AdmitError::ReplacementUnderpriced {
                    required: 12_100,
                    ..
                }
            ),
            "{err:?}"
        );
        let third = pool.insert(tx("alice", 0, credits(&s, 130)), &s).unwrap();
        assert_eq!(pool.len(), 1);
        assert!(pool.contains(&third) && !pool.contains(&second));
        check_consistent(&pool);
    }

    #[test]
    fn per_account_limit() {
        let s = state();
        let mut pool = Mempool::new(MempoolConfig {
            max_per_account: 3,
            ..MempoolConfig::default()
        });
        for n in 0..3 {
            pool.insert(tx("alice", n, tokens(&s, 100)), &s).unwrap();
        }
        let err = pool
            .insert(tx("alice", 3, tokens(&s, 100)), &s)
            .unwrap_err();
        assert_eq!(err, AdmitError::AccountFull { limit: 3 });
        assert_eq!(err.code(), "account_full");
        // Other senders are unaffected, and a full account may still replace.
        pool.insert(tx("bob", 0, tokens(&s, 100)), &s).unwrap();
        pool.insert(tx("alice", 1, tokens(&s, 200)), &s).unwrap();
        assert_eq!(pool.len(), 4);
        check_consistent(&pool);
    }

    #[test]
    fn full_pool_evicts_lowest_priority_highest_nonce() {
        let s = state();
        let cfg = MempoolConfig {
            max_txs: 3,
            ..MempoolConfig::default()
        };

        // alice 0 pays a lot, alice 1 little: alice 1 is the lowest tail.
        let mut pool = Mempool::new(cfg);
        let a0 = pool.insert(tx("alice", 0, tokens(&s, 500)), &s).unwrap();
        let a1 = pool.insert(tx("alice", 1, tokens(&s, 100)), &s).unwrap();
        let b0 = pool.insert(tx("bob", 0, tokens(&s, 200)), &s).unwrap();
        let err = pool
            .insert(tx("carol", 0, tokens(&s, 100)), &s)
            .unwrap_err();
        assert_eq!(err, AdmitError::PoolFull, "equal priority does not evict");
        assert_eq!(err.code(), "pool_full");
        let c0 = pool.insert(tx("carol", 0, tokens(&s, 150)), &s).unwrap();
        assert!(!pool.contains(&a1));
        assert!(pool.contains(&a0) && pool.contains(&b0) && pool.contains(&c0));
        assert_eq!(pool.len(), 3);
        check_consistent(&pool);
        assert_eq!(
            pool.insert(tx("dave", 0, tokens(&s, 140)), &s).unwrap_err(),
            AdmitError::PoolFull
        );

        // alice 0 is the cheapest, but evicting it would strand alice 1: bob 0 goes.
        let mut pool = Mempool::new(cfg);
        let a0 = pool.insert(tx("alice", 0, tokens(&s, 100)), &s).unwrap();
        let a1 = pool.insert(tx("alice", 1, tokens(&s, 500)), &s).unwrap();
        let b0 = pool.insert(tx("bob", 0, tokens(&s, 200)), &s).unwrap();
        let c0 = pool.insert(tx("carol", 0, tokens(&s, 300)), &s).unwrap();
        assert!(!pool.contains(&b0));
        assert!(pool.contains(&a0) && pool.contains(&a1) && pool.contains(&c0));
        check_consistent(&pool);

        // A sender cannot push out its own earlier nonce.
        let mut pool = Mempool::new(MempoolConfig { max_txs: 2, ..cfg });
        let a0 = pool.insert(tx("alice", 0, tokens(&s, 100)), &s).unwrap();
        pool.insert(tx("bob", 0, tokens(&s, 500)), &s).unwrap();
        assert_eq!(
            pool.insert(tx("alice", 1, tokens(&s, 300)), &s)
                .unwrap_err(),
            AdmitError::PoolFull
        );
        assert!(pool.contains(&a0));
        check_consistent(&pool);
    }

    #[test]
    fn full_pool_by_bytes_evicts_and_rolls_back() {
        let s = state();
        let len = tx_len();
        let mut pool = Mempool::new(MempoolConfig {
            max_bytes: 2 * len + len / 2,
            ..MempoolConfig::default()
        });
        let a0 = pool.insert(tx("alice", 0, tokens(&s, 100)), &s).unwrap();
        let b0 = pool.insert(tx("bob", 0, tokens(&s, 200)), &s).unwrap();
        let c0 = pool.insert(tx("carol", 0, tokens(&s, 300)), &s).unwrap();
        assert!(!pool.contains(&a0) && pool.contains(&b0) && pool.contains(&c0));
        assert_eq!(pool.bytes(), 2 * len);

        // A bigger transaction needs two evictions or more; the second is not allowed (bob
        // pays more than dave), so the first is undone and the pool is as it was.
        let mut pool = Mempool::new(MempoolConfig {
            max_bytes: 3 * len,
            ..MempoolConfig::default()
        });
        let a0 = pool.insert(tx("alice", 0, tokens(&s, 100)), &s).unwrap();
        let b0 = pool.insert(tx("bob", 0, tokens(&s, 600)), &s).unwrap();
        let c0 = pool.insert(tx("carol", 0, tokens(&s, 900)), &s).unwrap();
        let big = manifest_tx("dave", 0, tokens(&s, 500), 0);
        let big_len = codec::encode(&big).len();
        assert!(len < big_len && big_len <= 3 * len, "{len} {big_len}");
        assert_eq!(pool.insert(big, &s).unwrap_err(), AdmitError::PoolFull);
        assert!(pool.contains(&a0) && pool.contains(&b0) && pool.contains(&c0));
        assert_eq!(pool.bytes(), 3 * len);
        check_consistent(&pool);

        // The same for a replacement: the replaced transaction comes back.
        let mut pool = Mempool::new(MempoolConfig {
            max_bytes: 3 * len,
            ..MempoolConfig::default()
        });
        let a0 = pool.insert(tx("alice", 0, tokens(&s, 2_000)), &s).unwrap();
        let b0 = pool.insert(tx("bob", 0, tokens(&s, 2_000)), &s).unwrap();
        let c0 = pool.insert(tx("carol", 0, tokens(&s, 900)), &s).unwrap();
        let bigger = manifest_tx("carol", 0, tokens(&s, 1_000), 0);
        assert_eq!(pool.insert(bigger, &s).unwrap_err(), AdmitError::PoolFull);
        assert!(pool.contains(&a0) && pool.contains(&b0) && pool.contains(&c0));
        assert_eq!(pool.bytes(), 3 * len);
        check_consistent(&pool);

        // With room made by evicting a cheaper transaction, the replacement goes in
        // (room for bob's and the replacement, not for alice's as well).
        let mut pool = Mempool::new(MempoolConfig {
            max_bytes: (3 * len).max(len + big_len),
            ..MempoolConfig::default()
        });
        let a0 = pool.insert(tx("alice", 0, tokens(&s, 100)), &s).unwrap();
        pool.insert(tx("bob", 0, tokens(&s, 2_000)), &s).unwrap();
        let c0 = pool.insert(tx("carol", 0, tokens(&s, 900)), &s).unwrap();
        let bigger = pool
            .insert(manifest_tx("carol", 0, tokens(&s, 1_000), 0), &s)
            .unwrap();
        assert!(!pool.contains(&a0) && !pool.contains(&c0) && pool.contains(&bigger));
        assert!(pool.bytes() <= (3 * len).max(len + big_len));
        check_consistent(&pool);
    }

    #[test]
    fn select_keeps_each_senders_nonce_order() {
        let s = state();
        let mut pool = Mempool::new(MempoolConfig::default());
        let a0 = tx("alice", 0, tokens(&s, 100));
        let a1 = tx("alice", 1, tokens(&s, 1_000));
        let b0 = tx("bob", 0, tokens(&s, 500));
        let d0 = tx("dave", 0, tokens(&s, 500));
        // carol's nonce 0 is missing: her nonce 1 cannot execute.
        let c1 = tx("carol", 1, tokens(&s, 900));
        for t in [&a1, &a0, &b0, &c1, &d0] {
            pool.insert(t.clone(), &s).unwrap();
        }
        let block = pool.select(&s, 100, usize::MAX);
        // bob and dave tie; bob arrived first. alice 1 pays most but waits for alice 0.
        assert_eq!(hashes(&block), hashes(&[b0, d0, a0, a1]));
        assert!(!hashes(&block).contains(&c1.hash()));
        // The selection executes.
        let mut next = s.clone();
        advance(&mut next, block);
    }

    #[test]
    fn select_stops_at_limits() {
        let s = state();
        let len = tx_len();
        let mut pool = Mempool::new(MempoolConfig::default());
        let order: Vec<SignedTx> = [("dave", 400), ("carol", 300), ("bob", 200), ("alice", 100)]
            .iter()
            .map(|(who, pct)| tx(who, 0, tokens(&s, *pct)))
            .collect();
        for t in order.iter().rev() {
            pool.insert(t.clone(), &s).unwrap();
        }
        assert_eq!(hashes(&pool.select(&s, 2, usize::MAX)), hashes(&order[..2]));
        assert_eq!(hashes(&pool.select(&s, 100, len)), hashes(&order[..1]));
        assert_eq!(
            hashes(&pool.select(&s, 100, 3 * len - 1)),
            hashes(&order[..2])
        );
        assert!(pool.select(&s, 0, usize::MAX).is_empty());
        assert!(pool.select(&s, 100, len - 1).is_empty());
        assert_eq!(pool.select(&s, 100, usize::MAX).len(), 4);
    }

    #[test]
    fn remove_finalized_drops_included_and_stale() {
        let mut s = state();
        let mut pool = Mempool::new(MempoolConfig::default());
        let a: Vec<SignedTx> = (0..3).map(|n| tx("alice", n, tokens(&s, 100))).collect();
        let b0 = tx("bob", 0, tokens(&s, 100));
        for t in a.iter().chain([&b0]) {
            pool.insert(t.clone(), &s).unwrap();
        }
        // The block carried alice 0 and a different alice 1 than the pooled one.
        let other_a1 = tx("alice", 1, tokens(&s, 150));
        advance(&mut s, vec![a[0].clone(), other_a1.clone()]);
        pool.remove_finalized(&hashes(&[a[0].clone(), other_a1]), &s);
        assert!(!pool.contains(&a[0].hash()));
        assert!(!pool.contains(&a[1].hash()), "stale nonce dropped");
        assert!(pool.contains(&a[2].hash()) && pool.contains(&b0.hash()));
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.bytes(), 2 * tx_len());
        check_consistent(&pool);
        assert_eq!(
            hashes(&pool.select(&s, 100, usize::MAX)),
            hashes(&[a[2].clone(), b0])
        );
    }

    #[test]
    fn error_codes_are_distinct_snake_case() {
        let all = [
            AdmitError::Duplicate { hash: Hash::ZERO },
            AdmitError::WrongNetwork {
                expected: "a".into(),
                got: "b".into(),
            },
            AdmitError::BadSignature("x".into()),
            AdmitError::NonceTooLow {
                expected: 1,
                got: 0,
            },
            AdmitError::NonceTooFarAhead {
                next: 0,
                got: 9,
                max_gap: 1,
            },
            AdmitError::FeeTooLow {
                asset: "tokens",
                offered: "0".into(),
                minimum: "1".into(),
            },
            AdmitError::FeeAssetDisabled { asset: "credits" },
            AdmitError::TooLarge { len: 2, limit: 1 },
            AdmitError::AccountFull { limit: 1 },
            AdmitError::PoolFull,
            AdmitError::ReplacementUnderpriced {
                nonce: 0,
                pooled: 1,
                offered: 1,
                required: 2,
            },
        ];
        let codes: BTreeSet<&str> = all.iter().map(AdmitError::code).collect();
        assert_eq!(codes.len(), all.len());
        for code in codes {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random admissions never break the limits or the indexes; a selection is, per
        /// sender, the consecutive nonces from the account nonce, takes every executable
        /// run when the limits allow, executes, and finalizing it leaves nothing stale.
        #[test]
        fn random_inserts_keep_limits_and_select_runs(
            pre in proptest::collection::vec(0usize..4, 0..5),
            ops in proptest::collection::vec((0usize..4, 0u64..10, 50u128..400, any::<bool>()), 1..50),
            sel_txs in 0usize..12,
            sel_len in 0usize..12,
            slack in 0usize..100,
        ) {
            let mut s = state();
            // Move some senders' nonces so admission windows start above 0.
            let mut nonces: BTreeMap<usize, u64> = BTreeMap::new();
            let pre_txs: Vec<SignedTx> = pre
                .iter()
                .map(|i| {
                    let n = nonces.entry(*i).or_insert(0);
                    let t = tx(NAMES[*i], *n, tokens(&s, 100));
                    *n += 1;
                    t
                })
                .collect();
            advance(&mut s, pre_txs);

            let len = tx_len();
            let cfg = MempoolConfig {
                max_txs: 8,
                max_bytes: len * 6 + len / 2,
                max_per_account: 3,
                max_nonce_gap: 5,
            };
            let mut pool = Mempool::new(cfg);
            for (who, nonce, percent, verify) in ops {
                let t = tx(NAMES[who], nonce, tokens(&s, percent));
                let result = if verify {
                    pool.insert(t, &s)
                } else {
                    pool.insert_verified(t, &s)
                };
                if let Ok(hash) = result {
                    prop_assert!(pool.contains(&hash));
                }
                prop_assert!(pool.len() <= cfg.max_txs);
                prop_assert!(pool.bytes() <= cfg.max_bytes);
                for txs in pool.by_sender.values() {
                    prop_assert!(txs.len() <= cfg.max_per_account);
                }
                check_consistent(&pool);
            }

            let max_bytes = sel_len * len + slack;
            let block = pool.select(&s, sel_txs, max_bytes);
            prop_assert!(block.len() <= sel_txs);
            prop_assert!(block.iter().map(|t| codec::encode(t).len()).sum::<usize>() <= max_bytes);
            let mut expected: BTreeMap<PublicKey, u64> = BTreeMap::new();
            for t in &block {
                let next = expected
                    .entry(t.signer)
                    .or_insert_with(|| s.account(&t.signer).nonce);
                prop_assert_eq!(t.message.nonce, *next);
                *next += 1;
            }
            let executable: usize = pool
                .by_sender
                .iter()
                .map(|(sender, txs)| {
                    let mut n = s.account(sender).nonce;
                    let mut run = 0;
                    while txs.contains_key(&n) {
                        run += 1;
                        n += 1;
                    }
                    run
                })
                .sum();
            if sel_txs >= pool.len() && max_bytes >= pool.bytes() {
                prop_assert_eq!(block.len(), executable);
            }

            let included = hashes(&block);
            advance(&mut s, block);
            pool.remove_finalized(&included, &s);
            check_consistent(&pool);
            for h in &included {
                prop_assert!(!pool.contains(h));
            }
            for (sender, txs) in &pool.by_sender {
                let next = s.account(sender).nonce;
                prop_assert!(txs.keys().all(|n| *n >= next));
            }
        }
    }
}
