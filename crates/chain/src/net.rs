//! Real validators: the tokio runtime, on-disk engine storage and authenticated, encrypted
//! TCP between the committee's members (commonware's `p2p::authenticated::lookup`: every
//! peer's key and address is known in advance, and only committee members may connect).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{Keypair, PublicKey};
use cairn_node::node::Node;
use commonware_codec::DecodeExt;
use commonware_cryptography::{ChaCha20Poly1305, Signer as _, ed25519};
use commonware_p2p::authenticated::lookup;
use commonware_p2p::{Address, AddressableManager as _};
use commonware_runtime::{Quota, Runner as _, Spawner as _, Supervisor as _, tokio as cw_tokio};
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::ordered::{Map, Set};
use commonware_utils::{NZU32, NZUsize, TryCollect as _};

use crate::block::to_engine_key;
use crate::engine::{Channels, EngineConfig, MAX_MESSAGE_SIZE, channel, start_validator};

/// How one validator process runs.
#[derive(Debug, Clone)]
pub struct ValidatorNet {
    /// Where the engine keeps its journals and archives.
    pub storage_dir: PathBuf,
    /// Address this validator accepts peer connections on.
    pub listen: SocketAddr,
    /// Every committee member's key and address (this validator included).
    pub committee: Vec<(PublicKey, SocketAddr)>,
    pub engine: EngineConfig,
    /// Runtime worker threads.
    pub threads: usize,
}

fn engine_signer(key: &Keypair) -> ed25519::PrivateKey {
    ed25519::PrivateKey::decode(key.seed().to_vec()).expect("32-byte seed")
}

/// Run a validator until `until` resolves (e.g. Ctrl-C). `services` is started inside the
/// runtime once consensus is running (the RPC server, the devnet summary).
pub fn run_validator<F, Fut>(
    node: Arc<Node>,
    key: &Keypair,
    net: ValidatorNet,
    services: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Arc<Node>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let signer = engine_signer(key);
    let me = signer.public_key();
    let participants: Set<ed25519::PublicKey> = net
        .committee
        .iter()
        .map(|(k, _)| to_engine_key(k))
        .try_collect()
        .map_err(|_| anyhow::anyhow!("the committee lists a validator twice"))?;
    if participants.position(&me).is_none() {
        anyhow::bail!(
            "this node's validator key {} is not in the committee",
            key.public().to_did()
        );
    }
    let addresses: Map<ed25519::PublicKey, Address> = net
        .committee
        .iter()
        .map(|(k, a)| (to_engine_key(k), Address::from(*a)))
        .try_collect()
        .map_err(|_| anyhow::anyhow!("the committee lists a validator twice"))?;
    let runtime = cw_tokio::Runner::new(
        cw_tokio::Config::new()
            .with_storage_directory(net.storage_dir.clone())
            .with_worker_threads(net.threads.max(2)),
    );
    let namespace = net.engine.namespace.clone();
    let p2p_config = lookup::Config::local(
        Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: signer.clone(),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        ),
        &[namespace.as_slice(), b"/p2p"].concat(),
        net.listen,
        NZUsize!(participants.len().max(1)),
        MAX_MESSAGE_SIZE,
        NZUsize!(1_024),
    );
    runtime.start(move |context| async move {
        let (mut network, mut oracle) = lookup::Network::new(context.child("network"), p2p_config);
        let _ = oracle.track(0, addresses);
        let quota = Quota::per_second(NZU32!(10_000));
        let mut reg = |c| network.register(c, quota);
        let channels = Channels {
            votes: reg(channel::VOTES),
            certificates: reg(channel::CERTIFICATES),
            resolver: reg(channel::RESOLVER),
            backfill: reg(channel::BACKFILL),
            blocks: reg(channel::BLOCKS),
            txs: reg(channel::TXS),
        };
        network.start();
        let validator = start_validator(
            context.child("validator"),
            signer,
            participants,
            Arc::clone(&node),
            net.engine,
            channels,
            oracle.clone(),
            oracle,
        )
        .await;
        context
            .child("services")
            .spawn(move |_| services(node))
            .await
            .ok();
        validator.abort();
    });
    Ok(())
}
