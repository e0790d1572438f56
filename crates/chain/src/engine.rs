//! Wiring: simplex consensus + marshal block delivery + the Cairn application, on any
//! commonware runtime and any p2p network (authenticated TCP for real nodes, the simulated
//! network for deterministic tests).
//!
//! Channels (one p2p channel each): consensus votes, certificates and consensus resolver;
//! marshal backfill and block broadcast; transaction gossip.

use std::num::{NonZeroU16, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::codec::Canonical;
use cairn_ledger::SignedTx;
use cairn_node::node::Node;
use commonware_broadcast::buffered;
use commonware_consensus::Reporters;
use commonware_consensus::marshal::{
    self, core::Actor, resolver::p2p as resolver, standard::Deferred,
};
use commonware_consensus::simplex::{
    self,
    config::{ForwardPolicy, SkipBudget, SkipPolicy},
    elector::RoundRobin,
    scheme::reporter::AttributableReporter,
};
use commonware_consensus::types::{Epoch, FixedEpocher, ViewDelta};
use commonware_cryptography::certificate::{ConstantProvider, Verifier as _};
use commonware_cryptography::{Digested, Digestible as _};
use commonware_cryptography::{Sha256, ed25519};
use commonware_p2p::{Blocker, Provider, Receiver, Recipients, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
use commonware_storage::archive::immutable;
use commonware_utils::ordered::Set;
use commonware_utils::{NZDuration, NZU64, NZUsize};
use rand::CryptoRng;

use crate::application::{ActivityRecorder, BuildConfig, CairnApp, Scheme};

/// p2p channel numbers.
pub mod channel {
    pub const VOTES: u64 = 0;
    pub const CERTIFICATES: u64 = 1;
    pub const RESOLVER: u64 = 2;
    pub const BACKFILL: u64 = 3;
    pub const BLOCKS: u64 = 4;
    pub const TXS: u64 = 5;
    pub const ALL: [u64; 6] = [VOTES, CERTIFICATES, RESOLVER, BACKFILL, BLOCKS, TXS];
}

/// The largest message any channel carries: a whole block plus framing.
pub const MAX_MESSAGE_SIZE: u32 = (cairn_node::block::MAX_BLOCK_BYTES + 64 * 1024) as u32;

/// Consensus timing and block production.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Signatures are bound to this namespace (Cairn uses the network id), so votes from one
    /// network are worthless on another.
    pub namespace: Vec<u8>,
    /// Prefix of every storage partition this validator uses.
    pub partition: String,
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    pub skip_timeout: Duration,
    pub fetch_timeout: Duration,
    pub build: BuildConfig,
}

impl EngineConfig {
    /// Timeouts for validators on one machine or a LAN.
    pub fn local(network: &cairn_core::NetworkId, partition: &str) -> EngineConfig {
        EngineConfig {
            namespace: cairn_ledger::faults::consensus_namespace(network),
            partition: partition.to_owned(),
            leader_timeout: Duration::from_secs(2),
            certification_timeout: Duration::from_secs(3),
            timeout_retry: Duration::from_millis(500),
            skip_timeout: Duration::from_secs(6),
            fetch_timeout: Duration::from_secs(1),
            build: BuildConfig::default(),
        }
    }
}

/// One (sender, receiver) pair per channel in [`channel`].
#[derive(Debug)]
pub struct Channels<S, R> {
    pub votes: (S, R),
    pub certificates: (S, R),
    pub resolver: (S, R),
    pub backfill: (S, R),
    pub blocks: (S, R),
    pub txs: (S, R),
}

/// Handles of a running validator's tasks.
pub struct Validator {
    pub consensus: Handle<()>,
    pub marshal: Handle<()>,
    pub gossip: Handle<()>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator").finish_non_exhaustive()
    }
}

impl Validator {
    /// Stop every task (a crash, as far as the tasks are concerned).
    pub fn abort(&self) {
        self.consensus.abort();
        self.marshal.abort();
        self.gossip.abort();
    }
}

const PAGE_SIZE: NonZeroU16 = match NonZeroU16::new(16_384) {
    Some(v) => v,
    None => unreachable!(),
};
const PAGE_CACHE_PAGES: NonZeroUsize = NZUsize!(1_024);

/// Start a validator for `node` on `context`, talking through `channels`.
#[allow(clippy::too_many_arguments)]
pub async fn start_validator<E, S, R, B, P>(
    context: E,
    signer: ed25519::PrivateKey,
    participants: Set<ed25519::PublicKey>,
    node: Arc<Node>,
    config: EngineConfig,
    channels: Channels<S, R>,
    blocker: B,
    peers: P,
) -> Validator
where
    E: Clock + CryptoRng + Spawner + Storage + Metrics,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
    B: Blocker<PublicKey = ed25519::PublicKey>,
    P: Provider<PublicKey = ed25519::PublicKey>,
{
    use commonware_cryptography::Signer as _;
    let me = signer.public_key();
    let scheme = Scheme::signer(&config.namespace, participants.clone(), signer)
        .expect("this validator's key is in the committee");
    let app = CairnApp::new(Arc::clone(&node), config.build);
    let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);
    let mailbox_size = NZUsize!(1024);
    let prefix = config.partition.clone();

    // Marshal: durable finalized blocks and certificates, backfill, block broadcast.
    let marshal_config = marshal::Config {
        provider: ConstantProvider::new(scheme.clone()),
        epocher: FixedEpocher::new(NZU64!(u64::MAX)),
        start: marshal::Start::Genesis({
            let g = app.genesis();
            let d = g.digest();
            Digested::precomputed(g, d)
        }),
        mailbox_size,
        view_retention: ViewDelta::new(10),
        max_repair: NZUsize!(16),
        max_pending_acks: NZUsize!(4),
        block_codec_config: (),
        partition_prefix: format!("{prefix}-marshal"),
        prunable_items_per_section: NZU64!(4_096),
        replay_buffer: NZUsize!(1 << 20),
        key_write_buffer: NZUsize!(1 << 20),
        value_write_buffer: NZUsize!(1 << 20),
        page_cache: page_cache.clone(),
        strategy: Sequential,
    };
    let (resolver_rx, resolver) = resolver::init(
        context.child("marshal_resolver"),
        resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size,
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size,
            deque_size: 10,
            priority: false,
            codec_config: (),
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    broadcast_engine.start(channels.blocks);
    let finalizations = archive(
        &context,
        &format!("{prefix}-finalizations"),
        &page_cache,
        Scheme::certificate_codec_config_unbounded(),
    )
    .await;
    let blocks = archive::<_, _, Arc<crate::block::ChainBlock>>(
        &context,
        &format!("{prefix}-blocks"),
        &page_cache,
        (),
    )
    .await;
    let (actor, mailbox, _floor) = Actor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal_config,
    )
    .await;
    let marshal_handle = actor.start(app.finalizer(), buffer, (resolver_rx, resolver));

    // Consensus.
    let wrapper = Deferred::new(
        context.child("deferred"),
        app.clone(),
        mailbox,
        FixedEpocher::new(NZU64!(u64::MAX)),
    );
    let recorder = AttributableReporter::new(
        context.child("activity_rng"),
        scheme.clone(),
        ActivityRecorder::new(Arc::clone(&node), scheme.clone()),
        Sequential,
        true,
    );
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::config::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: wrapper.clone(),
            relay: wrapper.clone(),
            reporter: Reporters::from((wrapper, recorder)),
            strategy: Sequential,
            partition: format!("{prefix}-simplex"),
            mailbox_size,
            epoch: Epoch::zero(),
            floor: simplex::config::Floor::Genesis(app.genesis().digest()),
            replay_buffer: NZUsize!(1 << 20),
            write_buffer: NZUsize!(1 << 20),
            page_cache,
            leader_timeout: config.leader_timeout,
            certification_timeout: config.certification_timeout,
            timeout_retry: config.timeout_retry,
            view_retention: ViewDelta::new(10),
            skip: SkipPolicy::Enabled {
                timeout: config.skip_timeout,
                budget: SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(config.fetch_timeout),
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::SilentVoters,
            track_historical_votes: false,
        },
    );
    let consensus = engine.start(channels.votes, channels.certificates, channels.resolver);

    // Transaction gossip: one hop to every validator.
    let (tx_sender, mut tx_receiver) = channels.txs;
    let tx_sender = Mutex::new(tx_sender);
    node.set_gossip(move |tx: &SignedTx| {
        let _ = tx_sender
            .lock()
            .expect("lock")
            .send(Recipients::All, tx.encode(), false);
    });
    let gossip_node = Arc::clone(&node);
    let gossip = context.child("tx_gossip").spawn(move |_| async move {
        while let Ok((peer, message)) = tx_receiver.recv().await {
            match SignedTx::decode(message.as_ref()) {
                Ok(tx) => {
                    if let Err(e) = gossip_node.receive_gossip(tx) {
                        tracing::trace!(%peer, error = %e, "gossiped transaction not admitted");
                    }
                }
                Err(e) => tracing::debug!(%peer, error = %e, "undecodable gossiped transaction"),
            }
        }
    });

    Validator {
        consensus,
        marshal: marshal_handle,
        gossip,
    }
}

async fn archive<E, K, V>(
    context: &E,
    name: &str,
    page_cache: &CacheRef,
    codec_config: V::Cfg,
) -> immutable::Archive<E, K, V>
where
    E: Clock + Spawner + Storage + Metrics,
    K: commonware_utils::Array,
    V: commonware_codec::Codec + Send + Sync,
{
    immutable::Archive::init(
        context.child("archive").with_attribute("name", name),
        immutable::Config {
            metadata_partition: format!("{name}-metadata"),
            freezer_table_partition: format!("{name}-freezer-table"),
            freezer_table_initial_size: 65_536,
            freezer_table_resize_frequency: 4,
            freezer_table_resize_chunk_size: 16_384,
            freezer_key_partition: format!("{name}-freezer-key"),
            freezer_key_page_cache: page_cache.clone(),
            freezer_value_partition: format!("{name}-freezer-value"),
            freezer_value_target_size: 1 << 30,
            freezer_value_compression: None,
            ordinal_partition: format!("{name}-ordinal"),
            items_per_section: NZU64!(262_144),
            codec_config,
            replay_buffer: NZUsize!(1 << 20),
            freezer_key_write_buffer: NZUsize!(1 << 20),
            freezer_value_write_buffer: NZUsize!(1 << 20),
            ordinal_write_buffer: NZUsize!(1 << 20),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("cannot open the {name} archive: {e}"))
}
