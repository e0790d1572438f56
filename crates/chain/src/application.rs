//! The ledger as a consensus application: build, verify and apply blocks.
//!
//! - `propose` builds on the parent's post-state (from the overlay of blocks this node has
//!   built or verified, or by re-executing the ancestry down to the finalized tip) with the
//!   mempool's best transactions, and stamps the block with the proposer's clock.
//! - `verify` re-executes the block on its parent's post-state and accepts it only if every
//!   transaction applies and the state root matches. A block stamped ahead of this node's
//!   clock by more than the allowed skew is held pending until the clock catches up, never
//!   refused outright, because the verdict must not depend on when it was asked.
//! - [`Finalizer`] receives finalized blocks from marshal in height order, applies them to the
//!   [`Node`] (idempotent by height, durable before returning) and only then acknowledges.
//! - [`ActivityRecorder`] turns verified consensus activity into per-validator vote counts and
//!   durable fault evidence.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use cairn_core::{Hash, Height};
use cairn_ledger::State;
use cairn_node::block::{self, Block, MAX_BLOCK_BYTES, MAX_BLOCK_TXS};
use cairn_node::node::{FaultRecord, Node, VoteKind};
use commonware_consensus::marshal::Update;
use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_consensus::simplex::types::Activity;
use commonware_consensus::{Heightable, Reporter, Viewable};
use commonware_cryptography::certificate::Scheme as _;
use commonware_cryptography::{Digested, Digestible, ed25519};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::Acknowledgement;
use commonware_utils::ordered::Quorum as _;
use futures::StreamExt;

use crate::block::{ChainBlock, Ctx, Digest, from_digest, meta_from_context};

/// The ed25519 simplex signing scheme (attributable: votes are evidence).
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// Block-production settings.
#[derive(Debug, Clone, Copy)]
pub struct BuildConfig {
    /// With an empty mempool, wait this long after the parent's time before proposing an
    /// empty block (keeps an idle chain from writing thousands of empty blocks a second).
    pub empty_block_interval: Duration,
    /// How far a block's time may run ahead of this node's clock before verification waits.
    pub max_future_skew: Duration,
    pub max_block_txs: usize,
    pub max_block_bytes: usize,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            empty_block_interval: Duration::from_millis(1000),
            max_future_skew: Duration::from_millis(2000),
            max_block_txs: MAX_BLOCK_TXS,
            max_block_bytes: MAX_BLOCK_BYTES - 64 * 1024,
        }
    }
}

/// Post-states of blocks this node built or verified but that are not finalized yet.
#[derive(Debug, Default)]
struct Overlay {
    by_digest: BTreeMap<Hash, (Height, State)>,
}

/// The consensus application over a [`Node`].
#[derive(Clone)]
pub struct CairnApp {
    node: Arc<Node>,
    overlay: Arc<Mutex<Overlay>>,
    build: BuildConfig,
}

impl std::fmt::Debug for CairnApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CairnApp").finish_non_exhaustive()
    }
}

fn now_ms(clock: &impl Clock) -> u64 {
    clock
        .current()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl CairnApp {
    pub fn new(node: Arc<Node>, build: BuildConfig) -> CairnApp {
        CairnApp {
            node,
            overlay: Arc::new(Mutex::new(Overlay::default())),
            build,
        }
    }

    /// The genesis block in the engine's type.
    pub fn genesis(&self) -> ChainBlock {
        ChainBlock::new(self.node.genesis_block().clone())
    }

    /// A finalizer that applies blocks to this application's node and prunes its overlay.
    pub fn finalizer(&self) -> Finalizer {
        Finalizer { app: self.clone() }
    }

    /// The post-state of the block at the head of `ancestry`: from the overlay, the
    /// finalized state, or by re-executing the unknown part of the ancestry.
    async fn state_after(&self, mut ancestry: impl Ancestry<ChainBlock>) -> Option<State> {
        let mut pending: Vec<Digested<ChainBlock>> = Vec::new();
        let base = loop {
            let (finalized, fin_digest) = self.node.finalized();
            let next = ancestry.next().await?;
            let hash = from_digest(&next.digest());
            if hash == fin_digest {
                break finalized;
            }
            if let Some((_, s)) = self.overlay.lock().expect("lock").by_digest.get(&hash) {
                break s.clone();
            }
            if next.height().get() <= finalized.height.0 {
                // The ancestry forks below the finalized tip: nothing can be built on it.
                tracing::debug!(
                    height = next.height().get(),
                    "ancestry conflicts with finalized chain"
                );
                return None;
            }
            pending.push(next);
        };
        let mut state = base;
        for b in pending.into_iter().rev() {
            let parent = b.inner().block().parent;
            match block::execute(&state, &parent, b.inner().block(), self.node.sig_check()) {
                Ok((next, _)) => {
                    state = next;
                    self.overlay
                        .lock()
                        .expect("lock")
                        .by_digest
                        .insert(b.inner().hash(), (state.height, state.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "ancestor does not re-execute");
                    return None;
                }
            }
        }
        Some(state)
    }
}

impl<E> commonware_consensus::Application<E> for CairnApp
where
    E: Clock + Spawner + Metrics,
{
    type SigningScheme = Scheme;
    type Context = Ctx;
    type Block = ChainBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (clock, context): (E, Ctx),
        ancestry: impl Ancestry<ChainBlock>,
        _: (),
    ) -> Option<Digested<ChainBlock>> {
        let parent = ancestry.peek()?.clone();
        let parent_block = parent.inner().block();
        let parent_state = self.state_after(ancestry).await?;
        let meta = meta_from_context(&context)?;
        // Pace the chain: propose as soon as there is work, otherwise once per interval.
        let idle_until = parent_block
            .time_ms
            .saturating_add(self.build.empty_block_interval.as_millis() as u64);
        while self.node.mempool_len() == 0 && now_ms(&clock) < idle_until {
            clock.sleep(Duration::from_millis(20)).await;
        }
        let time_ms = now_ms(&clock).max(parent_block.time_ms);
        let candidates = self.node.candidates(
            &parent_state,
            self.build.max_block_txs,
            self.build.max_block_bytes,
        );
        let proposal = match block::propose(
            &parent_state,
            parent.inner().hash(),
            meta,
            time_ms,
            candidates,
            self.node.sig_check(),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot build on parent");
                return None;
            }
        };
        self.node.note_rejected(&proposal.rejected);
        let built = ChainBlock::new(proposal.block);
        self.overlay
            .lock()
            .expect("lock")
            .by_digest
            .insert(built.hash(), (proposal.state.height, proposal.state));
        tracing::debug!(
            height = built.block().height.0,
            txs = built.block().txs.len(),
            "proposed block"
        );
        let digest = built.digest();
        Some(Digested::precomputed(built, digest))
    }

    async fn verify(
        &mut self,
        (clock, _context): (E, Ctx),
        mut ancestry: impl Ancestry<ChainBlock>,
    ) -> bool {
        let Some(candidate) = ancestry.next().await else {
            return false;
        };
        let hash = candidate.inner().hash();
        if self
            .overlay
            .lock()
            .expect("lock")
            .by_digest
            .contains_key(&hash)
        {
            return true;
        }
        let block = candidate.inner().block();
        // Hold a block from the future pending until our clock is within the skew.
        let skew = self.build.max_future_skew.as_millis() as u64;
        while block.time_ms > now_ms(&clock).saturating_add(skew) {
            clock.sleep(Duration::from_millis(50)).await;
        }
        let Some(parent_state) = self.state_after(ancestry).await else {
            return false;
        };
        match block::execute(&parent_state, &block.parent, block, self.node.sig_check()) {
            Ok((state, _)) => {
                self.overlay
                    .lock()
                    .expect("lock")
                    .by_digest
                    .insert(hash, (state.height, state));
                true
            }
            Err(e) => {
                tracing::warn!(height = block.height.0, error = %e, "rejecting invalid block");
                false
            }
        }
    }
}

/// Applies finalized blocks to the node, then acknowledges them to marshal.
#[derive(Clone)]
pub struct Finalizer {
    app: CairnApp,
}

impl std::fmt::Debug for Finalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finalizer").finish_non_exhaustive()
    }
}

impl Finalizer {
    fn apply(&self, block: &Block, hash: Hash) -> Result<(), cairn_node::node::NodeError> {
        let post = self
            .app
            .overlay
            .lock()
            .expect("lock")
            .by_digest
            .get(&hash)
            .map(|(_, s)| s.clone());
        self.app.node.apply_finalized(block, post)?;
        let mut overlay = self.app.overlay.lock().expect("lock");
        overlay.by_digest.retain(|_, (h, _)| *h > block.height);
        Ok(())
    }
}

impl Reporter for Finalizer {
    type Activity = Update<ChainBlock>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        match activity {
            Update::Tip(_, height, _) => self.app.node.set_consensus_tip(height.get()),
            Update::Block(block, ack) => {
                let hash = block.inner().hash();
                match self.apply(block.inner().block(), hash) {
                    // Durable: now marshal may consider the block delivered.
                    Ok(()) => ack.acknowledge(),
                    Err(e) => {
                        // Not acknowledging stops marshal: the node halts rather than
                        // continue with state it could not make durable or reproduce.
                        tracing::error!(height = block.height().get(), error = %e, "cannot apply finalized block; halting block processing");
                        self.app.node.halt(e.to_string());
                        drop(ack);
                    }
                }
            }
        }
        commonware_actor::Feedback::Ok
    }
}

/// Records each validator's votes and any fault evidence on the [`Node`].
#[derive(Clone)]
pub struct ActivityRecorder {
    node: Arc<Node>,
    scheme: Scheme,
}

impl std::fmt::Debug for ActivityRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityRecorder").finish_non_exhaustive()
    }
}

impl ActivityRecorder {
    pub fn new(node: Arc<Node>, scheme: Scheme) -> ActivityRecorder {
        ActivityRecorder { node, scheme }
    }

    fn key(&self, signer: commonware_utils::Participant) -> Option<cairn_core::PublicKey> {
        let key: &ed25519::PublicKey = self.scheme.participants().key(signer)?;
        crate::block::from_engine_key(key)
    }
}

impl Reporter for ActivityRecorder {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        use commonware_consensus::simplex::types::Attributable;
        let vote = |kind, signer, view: u64| {
            if let Some(k) = self.key(signer) {
                self.node.record_vote(k, kind, view);
            }
        };
        let fault = |signer| {
            let Some(k) = self.key(signer) else { return };
            match crate::faults::evidence(&activity, k) {
                Some(evidence) => self.node.record_fault(FaultRecord {
                    validator: k,
                    kind: evidence.kind().name().to_owned(),
                    epoch: evidence.epoch,
                    view: evidence.view,
                    evidence,
                }),
                None => {
                    tracing::warn!(validator = %k, "fault evidence without decodable signatures")
                }
            }
        };
        match &activity {
            Activity::Notarize(v) => vote(VoteKind::Notarize, v.signer(), v.view().get()),
            Activity::Finalize(v) => vote(VoteKind::Finalize, v.signer(), v.view().get()),
            Activity::Nullify(v) => vote(VoteKind::Nullify, v.signer(), v.view().get()),
            Activity::ConflictingNotarize(f) => fault(f.signer()),
            Activity::ConflictingFinalize(f) => fault(f.signer()),
            Activity::NullifyFinalize(f) => fault(f.signer()),
            _ => {}
        }
        commonware_actor::Feedback::Ok
    }
}
