//! A seeded synthetic network for measuring and testing the index at any size: a real
//! ledger state (genesis, then devices placed in H3 cells), one epoch's verdict batch and
//! its rewards record, all of the types the node's feeder hands the index. Every seventh
//! device is a cheater caught with its kind's fraud reason; `cairn bench api` indexes
//! 100,000 of these through the same writes a node makes.

use std::collections::BTreeMap;

use cairn_core::{Epoch, Hash, Height, KeyId, Keypair, Location, NetworkId, PublicKey, Tokens};
use cairn_ledger::State;
use cairn_ledger::genesis::{Allocation, Genesis, GenesisMaker, GenesisValidator};
use cairn_ledger::params::Pool;
use cairn_ledger::state::Device;
use cairn_ledger::tx::{DeviceKind, RewardManifest};
use cairn_rewards::{Cumulative, EpochRewards, Payee, PoolOutcome, RewardsRecord, Settled};
use cairn_verify::verdict::Subject;
use cairn_verify::{Outcome, ReasonCode, Reputation, Standing, Verdict, VerdictBatch, WorkKind};

/// What [`network`] builds.
#[derive(Debug)]
pub struct Synthetic {
    pub state: State,
    pub batch: VerdictBatch,
    pub record: RewardsRecord,
    /// Every device, in creation order.
    pub devices: Vec<PublicKey>,
    /// The devices that cheat.
    pub cheaters: Vec<PublicKey>,
    pub owners: Vec<PublicKey>,
}

/// The genesis time of every synthetic network.
pub const GENESIS_MS: u64 = 1_790_000_000_000;
/// What each valid device earns in the epoch.
pub const PAYOUT: Tokens = Tokens::ONE;

fn key(seed: u64, tag: &str, i: u64) -> Keypair {
    let h = blake3::hash(format!("cairn-synthetic/{seed}/{tag}/{i}").as_bytes());
    Keypair::from_seed(h.as_bytes())
}

/// A deterministic number in `[0, 1_000_000)` for `(seed, i, salt)`.
fn draw(seed: u64, i: u64, salt: u8) -> u64 {
    let h = blake3::hash(&[&seed.to_le_bytes()[..], &i.to_le_bytes(), &[salt]].concat());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")) % 1_000_000
}

fn fraud_reason(kind: DeviceKind) -> ReasonCode {
    match kind {
        DeviceKind::Coverage => ReasonCode::LocatedElsewhere,
        DeviceKind::Storage => ReasonCode::ReplicaMismatch,
        DeviceKind::Compute => ReasonCode::WrongProduct,
        DeviceKind::Sensor => ReasonCode::ClonedSeries,
    }
}

fn work(kind: DeviceKind) -> WorkKind {
    match kind {
        DeviceKind::Coverage => WorkKind::Coverage,
        DeviceKind::Storage => WorkKind::Storage,
        DeviceKind::Compute => WorkKind::Compute,
        DeviceKind::Sensor => WorkKind::Sensor,
    }
}

/// `devices` devices of the four kinds in turn, spread over about 2° × 3° around
/// 48° N 2° E at H3 resolution 12, owned by one owner per 100 devices.
pub fn network(devices: usize, seed: u64) -> Synthetic {
    let owners: Vec<PublicKey> = (0..devices.div_ceil(100).max(1) as u64)
        .map(|i| key(seed, "owner", i).public())
        .collect();
    let maker = key(seed, "maker", 0).public();
    let genesis = Genesis {
        network: NetworkId::new("cairn-synthetic").expect("valid id"),
        time_ms: GENESIS_MS,
        allocations: owners
            .iter()
            .map(|o| Allocation {
                account: *o,
                tokens: Tokens::whole(1_000).expect("small"),
            })
            .collect(),
        treasury: Tokens::whole(1_000_000).expect("small"),
        validators: vec![GenesisValidator {
            key: key(seed, "validator", 0).public(),
            power: 1,
        }],
        price_oracles: vec![],
        reward_oracles: vec![key(seed, "oracle", 0).public()],
        verifier_oracles: vec![],
        makers: vec![GenesisMaker {
            key: maker,
            name: "synthetic".into(),
        }],
        params: vec![],
    };
    let mut state = genesis.into_state().expect("a valid synthetic genesis");
    state.height = Height(10);
    state.time_ms = GENESIS_MS + 120_000;

    let kinds = [
        DeviceKind::Coverage,
        DeviceKind::Storage,
        DeviceKind::Compute,
        DeviceKind::Sensor,
    ];
    let mut keys = Vec::with_capacity(devices);
    let mut cheaters = Vec::new();
    let mut verdicts = Vec::with_capacity(devices);
    let mut standings = Vec::with_capacity(devices);
    let mut payouts = BTreeMap::new();
    for i in 0..devices as u64 {
        let pk = key(seed, "device", i).public();
        let kind = kinds[(i % 4) as usize];
        // Degrees from integer draws, for display positions only (the cell is what counts).
        let lat = 47.0 + draw(seed, i, 1) as f64 * 2e-6;
        let lng = 0.5 + draw(seed, i, 2) as f64 * 3e-6;
        let location = Location::from_degrees(lat, lng, 12);
        state.devices.insert(
            pk,
            Device {
                owner: owners[(i / 100) as usize % owners.len()],
                maker,
                kind,
                onboarded_at: Height(2),
                onboarded_epoch: Epoch(1),
                location,
                location_since: location.map(|_| Height(2)),
                location_moves: 0,
                bond: Tokens::ZERO,
                unbonding: vec![],
                fees_through: Epoch(0),
            },
        );
        let cheat = i % 7 == 3;
        if cheat {
            cheaters.push(pk);
        }
        let id = pk.id();
        for slot in 0..2u64 {
            let outcome = if cheat && slot == 0 {
                Outcome::Invalid(fraud_reason(kind))
            } else {
                Outcome::Valid
            };
            verdicts.push(Verdict {
                device: id,
                epoch: Epoch(1),
                kind: work(kind),
                subject: Subject::Challenge,
                subject_id: Hash::of(&[&i.to_le_bytes()[..], &slot.to_le_bytes()].concat()),
                outcome,
                evidence: vec![],
                measured: vec![],
                score_ppm: None,
                detail: if cheat && slot == 0 {
                    "synthetic: caught".into()
                } else {
                    String::new()
                },
            });
        }
        standings.push(Standing {
            device: id,
            kind: work(kind),
            reputation: Reputation::default(),
        });
        if !cheat {
            payouts.insert(Payee::Device(id), PAYOUT);
        }
        keys.push(pk);
    }
    verdicts.sort_by_key(|v| (v.device, v.subject_id));
    standings.sort_by_key(|s| s.device);

    let emission = Tokens::from_base_units(PAYOUT.base_units() * payouts.len() as u128);
    let rewards = EpochRewards {
        epoch: Epoch(1),
        emission,
        pools: vec![PoolOutcome {
            pool: Pool::Coverage,
            amount: emission,
            usage: Tokens::ZERO,
            capacity: emission,
            withheld: Tokens::ZERO,
            unallocated: Tokens::ZERO,
            recipients: payouts.len() as u64,
        }],
        payouts: payouts.clone(),
        withheld: BTreeMap::<KeyId, Tokens>::new(),
        unallocated: Tokens::ZERO,
        unallocated_burned: Tokens::ZERO,
    };
    let record = RewardsRecord {
        manifest: RewardManifest {
            epoch: Epoch(1),
            cumulative_root: Hash::ZERO,
            recipient_count: payouts.len() as u64,
            epoch_total: emission,
            cumulative_total: emission,
            previous: Hash::ZERO,
            unallocated_burned: Tokens::ZERO,
            params_hash: state.params.hash(),
            inputs: Hash::ZERO,
            penalties_root: Hash::ZERO,
            penalty_count: 0,
        },
        cumulative: Cumulative {
            totals: payouts,
            held: BTreeMap::new(),
        },
        penalties: vec![],
        settled: Settled::default(),
        rewards,
    };
    let batch = VerdictBatch {
        version: 1,
        epoch: Epoch(1),
        state_height: state.height,
        entropy: Hash::ZERO,
        params_hash: state.params.hash(),
        inputs_root: Hash::ZERO,
        inputs: verdicts.len() as u64,
        verdicts,
        standings,
        capacity: vec![],
    };
    Synthetic {
        state,
        batch,
        record,
        devices: keys,
        cheaters,
        owners,
    }
}

/// Every H3 cell at `res` that holds a synthetic device, for load generators.
pub fn cells_at(synthetic: &Synthetic, res: u8) -> Vec<String> {
    let mut cells: Vec<String> = synthetic
        .state
        .devices
        .values()
        .filter_map(|d| d.location.and_then(|l| l.parent(res)))
        .map(|l| format!("{:x}", l.as_u64()))
        .collect();
    cells.sort();
    cells.dedup();
    cells
}
