//! Deterministic simulations of a 4-validator Cairn chain: the real application, ledger,
//! marshal and simplex on commonware's deterministic runtime and simulated network.
//! Seeded; simulated time only (no wall-clock sleeps).

use std::sync::Arc;
use std::time::Duration;

use cairn_chain::application::BuildConfig;
use cairn_chain::block::to_engine_key;
use cairn_chain::engine::{Channels, EngineConfig, Validator, channel, start_validator};
use cairn_core::envelope::Signed;
use cairn_core::{Hash, Height, Keypair, NetworkId, Tokens};
use cairn_ledger::genesis::{Allocation, GenesisValidator};
use cairn_ledger::tx::{Fee, Transaction, TxKind};
use cairn_ledger::{Genesis, ParamId, State};
use cairn_node::mempool::MempoolConfig;
use cairn_node::node::{Node, NodeOptions, TxStatus};
use commonware_codec::DecodeExt;
use commonware_cryptography::ed25519;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock, Quota, Runner, Spawner, Supervisor as _, deterministic};
use commonware_utils::ordered::Set;
use commonware_utils::{NZU32, NZUsize, TryCollect as _, probability};

const N: usize = 4;
const NETWORK: &str = "cairn-sim";

fn validator_key(i: usize) -> Keypair {
    Keypair::from_seed(&[i as u8 + 1; 32])
}

fn funded(i: usize) -> Keypair {
    Keypair::from_seed(&[100 + i as u8; 32])
}

fn genesis() -> State {
    Genesis {
        network: NetworkId::new(NETWORK).unwrap(),
        time_ms: 0,
        // Validators hold tokens too: they pay the fees of reporting each other's faults.
        allocations: (0..4)
            .map(|i| Allocation {
                account: funded(i).public(),
                tokens: Tokens::whole(1_000_000).unwrap(),
            })
            .chain((0..N).map(|i| Allocation {
                account: validator_key(i).public(),
                tokens: Tokens::whole(1_000).unwrap(),
            }))
            .collect(),
        treasury: Tokens::whole(1_000).unwrap(),
        validators: (0..N)
            .map(|i| GenesisValidator {
                key: validator_key(i).public(),
                power: 1,
            })
            .collect(),
        price_oracles: vec![],
        reward_oracles: vec![],
        verifier_oracles: vec![],
        makers: vec![],
        params: vec![],
    }
    .into_state()
    .unwrap()
}

fn engine_key(i: usize) -> ed25519::PublicKey {
    to_engine_key(&validator_key(i).public())
}

fn participants() -> Set<ed25519::PublicKey> {
    (0..N).map(engine_key).try_collect().unwrap()
}

fn engine_config(i: usize) -> EngineConfig {
    EngineConfig {
        // The ledger proves fault evidence against the network's consensus namespace.
        namespace: cairn_ledger::faults::consensus_namespace(&NetworkId::new(NETWORK).unwrap()),
        partition: format!("v{i}"),
        leader_timeout: Duration::from_millis(500),
        certification_timeout: Duration::from_millis(1_000),
        timeout_retry: Duration::from_millis(300),
        skip_timeout: Duration::from_millis(3_000),
        fetch_timeout: Duration::from_millis(500),
        build: BuildConfig {
            empty_block_interval: Duration::from_millis(200),
            ..BuildConfig::default()
        },
    }
}

const LINK: Link = Link {
    latency: Duration::from_millis(20),
    jitter: Duration::from_millis(5),
    success_rate: probability!(1.0),
};

async fn network(
    context: &deterministic::Context,
) -> Oracle<ed25519::PublicKey, deterministic::Context> {
    let (net, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: cairn_chain::engine::MAX_MESSAGE_SIZE,
            max_peers_per_set: NZUsize!(N),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        participants(),
    )
    .await;
    net.start();
    oracle
}

async fn link(
    oracle: &Oracle<ed25519::PublicKey, deterministic::Context>,
    a: &[usize],
    b: &[usize],
) {
    for &x in a {
        for &y in b {
            if x != y {
                let _ = oracle.add_link(engine_key(x), engine_key(y), LINK).await;
            }
        }
    }
}

async fn unlink(
    oracle: &Oracle<ed25519::PublicKey, deterministic::Context>,
    a: &[usize],
    b: &[usize],
) {
    for &x in a {
        for &y in b {
            if x != y {
                let _ = oracle.remove_link(engine_key(x), engine_key(y)).await;
                let _ = oracle.remove_link(engine_key(y), engine_key(x)).await;
            }
        }
    }
}

async fn start(
    context: &deterministic::Context,
    oracle: &Oracle<ed25519::PublicKey, deterministic::Context>,
    root: &std::path::Path,
    i: usize,
) -> (Arc<Node>, Validator) {
    let node = Node::open(
        genesis(),
        NodeOptions {
            data_dir: root.join(format!("v{i}")),
            mempool: MempoolConfig::default(),
            snapshot_every: 25,
        },
    )
    .unwrap();
    let control = oracle.control(engine_key(i));
    let quota = Quota::per_second(NZU32!(100_000));
    let mut reg = Vec::new();
    for c in channel::ALL {
        reg.push(control.register(c, quota).await.unwrap());
    }
    let mut reg = reg.into_iter();
    let channels = Channels {
        votes: reg.next().unwrap(),
        certificates: reg.next().unwrap(),
        resolver: reg.next().unwrap(),
        backfill: reg.next().unwrap(),
        blocks: reg.next().unwrap(),
        txs: reg.next().unwrap(),
    };
    let signer = ed25519::PrivateKey::decode(validator_key(i).seed().to_vec()).unwrap();
    let validator = start_validator(
        context.child("validator").with_attribute("index", i),
        signer,
        participants(),
        Arc::clone(&node),
        engine_config(i),
        channels,
        control.clone(),
        oracle.manager(),
    )
    .await;
    (node, validator)
}

/// Link every validator to every other and start validators `which` (the rest stay down).
async fn start_all(
    context: &deterministic::Context,
    oracle: &Oracle<ed25519::PublicKey, deterministic::Context>,
    root: &std::path::Path,
    which: std::ops::Range<usize>,
) -> (Vec<Arc<Node>>, Vec<Validator>) {
    let all: Vec<usize> = (0..N).collect();
    link(oracle, &all, &all).await;
    let mut nodes = Vec::new();
    let mut validators = Vec::new();
    for i in which {
        let (n, v) = start(context, oracle, root, i).await;
        nodes.push(n);
        validators.push(v);
    }
    (nodes, validators)
}

/// A signed transfer from funded account `from` with `nonce`.
fn transfer(from: usize, nonce: u64, amount: u128) -> cairn_ledger::SignedTx {
    let key = funded(from);
    let network = NetworkId::new(NETWORK).unwrap();
    Signed::sign(
        &key,
        &network,
        Transaction {
            network: network.clone(),
            nonce,
            fee: Fee::Tokens(Tokens::from_base_units(ParamId::TxFeeTokens.spec().default)),
            kind: TxKind::Transfer {
                to: funded((from + 1) % 4).public(),
                amount: Tokens::from_base_units(amount),
            },
        },
    )
}

/// Wait (in simulated time) until every listed node has applied `height`.
async fn wait_height(context: &deterministic::Context, nodes: &[&Arc<Node>], height: u64) {
    while nodes.iter().any(|n| n.height().0 < height) {
        context.sleep(Duration::from_millis(50)).await;
    }
}

/// Every node holds the same block (hence the same post-state root) at every height they
/// share, and their ledgers pass the invariant check (supply conserved).
fn assert_agree(nodes: &[&Arc<Node>]) -> u64 {
    let common = nodes.iter().map(|n| n.height().0).min().unwrap();
    for h in 1..=common {
        let first = nodes[0].block(Height(h)).unwrap().unwrap();
        for n in &nodes[1..] {
            let b = n.block(Height(h)).unwrap().unwrap();
            assert_eq!(b.digest(), first.digest(), "nodes disagree at height {h}");
        }
    }
    for n in nodes {
        let state = n.state();
        cairn_ledger::check_invariants(&state).expect("ledger invariants hold");
        let tip = n.block(state.height).unwrap().unwrap();
        assert_eq!(
            tip.state_root,
            state.root(),
            "applied state matches its block's root"
        );
    }
    common
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(600))),
    )
}

/// Submit a stream of transfers round-robin to the validators; returns their hashes.
fn spawn_load(
    context: &deterministic::Context,
    nodes: Vec<Arc<Node>>,
    count: u64,
) -> commonware_runtime::Handle<Vec<Hash>> {
    context.child("load").spawn(move |context| async move {
        let mut hashes = Vec::new();
        for nonce in 0..count {
            for from in 0..4 {
                let tx = transfer(from, nonce, 1_000 + nonce as u128);
                let target = &nodes[(from + nonce as usize) % nodes.len()];
                if let Ok(h) = target.submit(tx) {
                    hashes.push(h);
                }
            }
            context.sleep(Duration::from_millis(100)).await;
        }
        hashes
    })
}

#[test]
fn four_validators_agree_at_every_height() {
    let dir = tempdir();
    let root = dir.path().to_owned();
    runner(1).start(|context| async move {
        let oracle = network(&context).await;
        let (nodes, _validators) = start_all(&context, &oracle, &root, 0..N).await;
        let load = spawn_load(&context, nodes.clone(), 10);
        let refs: Vec<&Arc<Node>> = nodes.iter().collect();
        wait_height(&context, &refs, 10).await;
        let hashes = load.await.unwrap();
        assert_eq!(hashes.len(), 40, "every submitted transfer was admitted");
        // Every transfer, submitted to any validator, gets finalized on all of them.
        loop {
            let done = hashes.iter().all(|h| {
                nodes
                    .iter()
                    .all(|n| matches!(n.tx_status(h), TxStatus::Finalized { .. }))
            });
            if done {
                break;
            }
            context.sleep(Duration::from_millis(100)).await;
        }
        let h = assert_agree(&refs);
        assert!(h >= 10);
        // Every validator voted.
        let records = nodes[0].validators();
        assert_eq!(records.len(), N);
        assert!(
            records
                .values()
                .all(|r| r.notarize_votes > 0 && r.faults.is_empty())
        );
    });
}

#[test]
fn a_two_two_partition_halts_and_heals() {
    let dir = tempdir();
    let root = dir.path().to_owned();
    runner(2).start(|context| async move {
        let oracle = network(&context).await;
        let (nodes, _validators) = start_all(&context, &oracle, &root, 0..N).await;
        let refs: Vec<&Arc<Node>> = nodes.iter().collect();
        wait_height(&context, &refs, 5).await;
        unlink(&oracle, &[0, 1], &[2, 3]).await;
        // Let anything already in flight land, then watch: no side has a quorum (3 of 4).
        context.sleep(Duration::from_secs(3)).await;
        let stalled: Vec<u64> = nodes.iter().map(|n| n.height().0).collect();
        context.sleep(Duration::from_secs(30)).await;
        let after: Vec<u64> = nodes.iter().map(|n| n.height().0).collect();
        assert_eq!(stalled, after, "no finality without a quorum");
        link(&oracle, &[0, 1], &[2, 3]).await;
        link(&oracle, &[2, 3], &[0, 1]).await;
        let target = after.iter().max().unwrap() + 5;
        wait_height(&context, &refs, target).await;
        assert_agree(&refs);
    });
}

#[test]
fn three_validators_finalize_without_the_fourth() {
    let dir = tempdir();
    let root = dir.path().to_owned();
    runner(3).start(|context| async move {
        let oracle = network(&context).await;
        let (nodes, validators) = start_all(&context, &oracle, &root, 0..N).await;
        let refs: Vec<&Arc<Node>> = nodes.iter().collect();
        wait_height(&context, &refs, 3).await;
        // Validator 3 crashes and stays silent.
        validators[3].abort();
        unlink(&oracle, &[3], &[0, 1, 2]).await;
        let crashed_at = nodes[3].height().0;
        let live: Vec<&Arc<Node>> = nodes[..3].iter().collect();
        let load = spawn_load(&context, nodes[..3].to_vec(), 5);
        wait_height(&context, &live, crashed_at + 10).await;
        let hashes = load.await.unwrap();
        assert!(!hashes.is_empty());
        assert_agree(&live);
    });
}

#[test]
fn same_seed_same_run() {
    fn run(seed: u64) -> String {
        let dir = tempdir();
        let root = dir.path().to_owned();
        runner(seed).start(|context| async move {
            let oracle = network(&context).await;
            let (nodes, _validators) = start_all(&context, &oracle, &root, 0..N).await;
            let load = spawn_load(&context, nodes.clone(), 3);
            let refs: Vec<&Arc<Node>> = nodes.iter().collect();
            wait_height(&context, &refs, 6).await;
            let _ = load.await;
            context.auditor().state()
        })
    }
    assert_eq!(run(7), run(7));
}

#[test]
fn an_equivocating_validator_cannot_fork_and_is_recorded() {
    use cairn_chain::application::Scheme;
    use commonware_consensus::simplex::mocks::conflicter::{Config, Conflicter};
    let dir = tempdir();
    let root = dir.path().to_owned();
    runner(4).start(|context| async move {
        let oracle = network(&context).await;
        // Validator 0 is Byzantine: it signs two conflicting votes for every proposal it
        // sees and sends both to everyone (commonware's conflicter mock).
        let control = oracle.control(engine_key(0));
        let quota = Quota::per_second(NZU32!(100_000));
        let votes = control.register(channel::VOTES, quota).await.unwrap();
        let signer = ed25519::PrivateKey::decode(validator_key(0).seed().to_vec()).unwrap();
        let scheme = Scheme::signer(&engine_config(0).namespace, participants(), signer).unwrap();
        let byzantine = Conflicter::<_, _, commonware_cryptography::Blake3>::new(
            context.child("byzantine"),
            Config { scheme },
        );
        byzantine.start(votes);
        let (nodes, _validators) = start_all(&context, &oracle, &root, 1..N).await;
        let refs: Vec<&Arc<Node>> = nodes.iter().collect();
        let load = spawn_load(&context, nodes.clone(), 5);
        wait_height(&context, &refs, 10).await;
        let _ = load.await;
        assert_agree(&refs);
        // Honest validators hold attributable evidence against validator 0, and only 0.
        let byz = validator_key(0).public();
        let mut evidence = 0;
        for n in &nodes {
            for (key, record) in n.validators() {
                if key == byz {
                    evidence += record.faults.len();
                    assert!(
                        record
                            .faults
                            .iter()
                            .all(|f| f.kind == "conflicting_notarize"
                                || f.kind == "conflicting_finalize"
                                || f.kind == "nullify_finalize")
                    );
                } else {
                    assert!(
                        record.faults.is_empty(),
                        "no fault is reported against an honest validator"
                    );
                }
            }
        }
        assert!(evidence > 0, "the equivocation was recorded");
        // An honest validator proves the faults on the ledger, as its fault reporter does:
        // signed with its own key, checked by every validator's ledger.
        let (reporter, key) = (&nodes[0], validator_key(1));
        let pending = reporter.unreported_faults();
        assert!(!pending.is_empty() && pending.iter().all(|e| e.validator == byz));
        let nonce = reporter.state().account(&key.public()).nonce;
        let reported: Vec<_> = pending.iter().take(3).cloned().collect();
        for (i, e) in reported.iter().enumerate() {
            let kind = TxKind::ReportValidatorFault {
                evidence: e.clone(),
            };
            reporter
                .submit(reporter.sign_tx(&key, nonce + i as u64, kind))
                .unwrap();
        }
        let on_ledger = |n: &Arc<Node>| {
            let s = n.state();
            reported.iter().all(|e| {
                s.validator_faults
                    .contains_key(&(e.validator, e.epoch, e.view))
            })
        };
        for _ in 0..400 {
            if nodes.iter().all(on_ledger) {
                break;
            }
            context.sleep(Duration::from_millis(50)).await;
        }
        assert!(
            nodes.iter().all(on_ledger),
            "every ledger holds the proven faults"
        );
        assert_agree(&refs);
        for n in &nodes {
            let s = n.state();
            assert!(s.validator_faults.keys().all(|(v, _, _)| *v == byz));
            assert!(
                s.validator_faults
                    .values()
                    .all(|f| f.reporter == key.public())
            );
            // What the ledger holds is no longer waiting to be reported.
            assert!(n.unreported_faults().iter().all(|e| !reported.contains(e)));
        }
        // Evidence is durable: it is read back when a node reopens its data directory.
        let reopened: Vec<_> = std::fs::read_to_string(root.join("v1").join("faults.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(!reopened.is_empty());
    });
}

#[test]
fn whole_cluster_unclean_restarts_lose_nothing() {
    use rand::RngExt as _;
    use std::collections::BTreeMap;
    let dir = tempdir();
    let root = dir.path().to_owned();
    // (tx hash → height) and (height → block digest) reported finalized before each crash.
    let mut finalized: BTreeMap<Hash, u64> = BTreeMap::new();
    let mut blocks: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut checkpoint = None;
    for round in 0..4 {
        let root = root.clone();
        let seen_txs = finalized.clone();
        let seen_blocks = blocks.clone();
        let run = move |mut context: deterministic::Context| async move {
            let oracle = network(&context).await;
            let (nodes, _validators) = start_all(&context, &oracle, &root, 0..N).await;
            // Nothing reported finalized before the crash is missing or different now.
            for n in &nodes {
                for (h, digest) in &seen_blocks {
                    let b = n
                        .block(Height(*h))
                        .unwrap()
                        .expect("finalized block survives");
                    assert_eq!(&b.digest(), digest);
                }
                for (tx, height) in &seen_txs {
                    assert_eq!(
                        n.tx_status(tx),
                        TxStatus::Finalized {
                            height: *height,
                            index: match n.tx_status(tx) {
                                TxStatus::Finalized { index, .. } => index,
                                other => panic!("finalized transaction lost: {other:?}"),
                            }
                        }
                    );
                }
            }
            // Submit transfers continuing each account's nonce, for a random while.
            let submitter = nodes.clone();
            context.child("load").spawn(move |context| async move {
                loop {
                    for from in 0..4 {
                        let nonce = submitter[0].state().account(&funded(from).public()).nonce;
                        let target = &submitter[(from + nonce as usize) % N];
                        let _ = target.submit(transfer(from, nonce, 7));
                    }
                    context.sleep(Duration::from_millis(150)).await;
                }
            });
            let crash_after = context.random_range(1_500..6_000u64);
            context.sleep(Duration::from_millis(crash_after)).await;
            let refs: Vec<&Arc<Node>> = nodes.iter().collect();
            assert_agree(&refs);
            let mut txs = BTreeMap::new();
            let mut heights = BTreeMap::new();
            for n in &nodes {
                for h in 1..=n.height().0 {
                    let b = n.block(Height(h)).unwrap().unwrap();
                    heights.insert(h, b.digest());
                    for tx in &b.txs {
                        txs.insert(cairn_node::block::tx_hash(tx), h);
                    }
                }
            }
            (txs, heights)
            // Returning here drops every task mid-flight: an unclean stop of all four.
        };
        let runner = match checkpoint.take() {
            None => runner(11),
            Some(c) => deterministic::Runner::from(c),
        };
        let ((txs, heights), next) = runner.start_and_recover(run);
        checkpoint = Some(next);
        assert!(
            heights.len() as u64 > blocks.len() as u64 || round == 0,
            "round {round}: the chain kept growing across restarts"
        );
        finalized.extend(txs);
        blocks.extend(heights);
    }
    assert!(
        finalized.len() > 10,
        "transactions were finalized across the restarts"
    );
}
