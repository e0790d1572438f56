//! The ledger state, its records, and its commitment (the state root).

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::encode;
use cairn_core::{Credits, Epoch, Hash, Height, Location, NetworkId, PublicKey, Tokens};
use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};

use crate::params::Params;
use crate::smt::{self, SmtProof};
use crate::tx::{DenylistEntry, DeviceKind, ProposalKind, Recipient, RewardManifest, VoteChoice};

/// An account: an owner, a consumer, an oracle or a validator operator.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Account {
    pub tokens: Tokens,
    /// Non-transferable; spent on fees and services.
    pub credits: Credits,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
}

/// A device maker approved by governance.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Maker {
    pub name: String,
    pub approved_at: Height,
    /// Set when governance revokes the maker: its attestations are no longer accepted.
    pub revoked_at: Option<Height>,
    pub devices_onboarded: u64,
}

/// Tokens on their way out of a bond.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Unbonding {
    pub amount: Tokens,
    pub release_at: Height,
}

/// An onboarded device.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Device {
    pub owner: PublicKey,
    pub maker: PublicKey,
    pub kind: DeviceKind,
    pub onboarded_at: Height,
    /// The reward epoch it was onboarded in (its average reward counts from there).
    pub onboarded_epoch: Epoch,
    pub location: Option<Location>,
    /// Height of the latest location assertion (location seniority restarts there).
    pub location_since: Option<Height>,
    /// How many times the device moved after its first assertion.
    pub location_moves: u32,
    /// Bonded tokens, slashable.
    pub bond: Tokens,
    pub unbonding: Vec<Unbonding>,
    /// The latest epoch whose fault fee was applied (each epoch's fee applies once).
    pub fees_through: Epoch,
}

/// Tokens locked for voting power.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Lock {
    pub amount: Tokens,
    pub unlock_at: Height,
    /// When the lock was last increased or extended; it votes only on proposals that
    /// started afterwards, so locking cannot buy votes on a running proposal.
    pub since: Height,
}

/// A price-oracle's latest submission.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PriceSubmission {
    #[serde(with = "cairn_core::amount::u128_string")]
    pub usd_per_token_e8: u128,
    pub observed_at_ms: u64,
}

/// An accepted reward manifest.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub manifest: RewardManifest,
    pub hash: Hash,
    pub accepted_at: Height,
    /// The reward oracles whose signatures reached the threshold.
    pub signers: Vec<PublicKey>,
}

/// Oracles' signatures on a manifest that has not reached the threshold yet.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ManifestVotes {
    pub manifest: RewardManifest,
    /// Distinct reward oracles that signed it, sorted.
    pub signers: Vec<PublicKey>,
}

/// Credits burned for one device's service in one epoch, and what they were worth in
/// tokens at the price of the block that settled them (zero while the feed was stale:
/// usage the ledger cannot value earns no usage reward).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct Usage {
    pub credits: Credits,
    pub tokens: Tokens,
}

/// One epoch's sustainability figures.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct EpochEconomics {
    /// Tokens burned to mint credits in the epoch, and the USD value they bought
    /// (10⁻⁸ USD).
    pub tokens_burned_for_credits: Tokens,
    #[serde(with = "cairn_core::amount::u128_string")]
    pub burned_usd_e8: u128,
    pub credits_minted: Credits,
    /// Credits consumers burned paying providers in the epoch.
    pub usage_credits: Credits,
    /// Rewards minted for the epoch (set when its manifest is accepted) and their USD
    /// value at the price then (zero while the feed is stale).
    pub emitted: Tokens,
    #[serde(with = "cairn_core::amount::u128_string")]
    pub emitted_usd_e8: u128,
    /// Unallocated rewards burned (when `unallocated_burn` is 1).
    pub unallocated_burned: Tokens,
}

impl EpochEconomics {
    /// USD burned ÷ USD emitted, in parts per million (`None` before anything was
    /// emitted or while the emission could not be valued). Above 1,000,000 the network
    /// pays its providers from demand.
    pub fn demand_coverage_ppm(&self) -> Option<u128> {
        (self.emitted_usd_e8 > 0)
            .then(|| self.burned_usd_e8.saturating_mul(1_000_000) / self.emitted_usd_e8)
    }
}

/// Rewards vesting for an account: `total` unlocks linearly from `start` to `end`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Vesting {
    pub total: Tokens,
    pub released: Tokens,
    pub start: Height,
    pub end: Height,
}

impl Vesting {
    /// How much of `total` has unlocked at `height` (rounded down).
    pub fn unlocked(&self, height: Height) -> Tokens {
        if height >= self.end {
            return self.total;
        }
        let span = u128::from(self.end.0 - self.start.0).max(1);
        let done = u128::from(height.0.saturating_sub(self.start.0));
        let total = self.total.base_units();
        // total × done / span without overflow: total < 2^128, done < span < 2^64.
        let (q, r) = (total / span, total % span);
        Tokens::from_base_units(q * done + r * done / span)
    }

    /// Unlocked and not yet released.
    pub fn releasable(&self, height: Height) -> Tokens {
        self.unlocked(height)
            .checked_sub(self.released)
            .unwrap_or(Tokens::ZERO)
    }

    /// Still held: total − released.
    pub fn held(&self) -> Tokens {
        self.total
            .checked_sub(self.released)
            .unwrap_or(Tokens::ZERO)
    }
}

/// Circuit breakers that tripped (the latest height each tripped at).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Breakers {
    pub mint_tripped_at: Option<Height>,
    pub treasury_tripped_at: Option<Height>,
}

/// Where a denylist entry stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DenylistStatus {
    Active,
    Appealed { proposal: u64 },
    Upheld,
    Overturned,
}

/// A validator fault proven on the ledger, keyed by (validator, consensus epoch, view):
/// one per round, whatever the kind.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ValidatorFault {
    pub kind: crate::faults::FaultKind,
    /// The reward epoch of the block that carried the evidence: the validator's share of
    /// that epoch's validator pool is forfeit.
    pub epoch: Epoch,
    pub height: Height,
    pub reporter: PublicKey,
    /// BLAKE3 of the evidence's canonical encoding.
    pub evidence: Hash,
}

/// A denylist entry on the ledger.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DenylistRecord {
    pub entry: DenylistEntry,
    pub created_at: Height,
    pub appeal_until: Height,
    pub status: DenylistStatus,
    /// Who put the entry on the ledger: the fraud penalty's bounty goes to it.
    pub reporter: PublicKey,
    /// Devices of the entry whose fraud penalty was applied.
    pub penalized: Vec<PublicKey>,
    /// Each status change after creation (`Active` at `created_at`) with its height, oldest
    /// first: what the entry said at an earlier height stays answerable
    /// ([`DenylistRecord::status_at`]), so reward oracles computing an epoch later agree.
    pub history: Vec<(Height, DenylistStatus)>,
}

impl DenylistRecord {
    /// Change the status at `height`, keeping the history.
    pub fn set_status(&mut self, status: DenylistStatus, height: Height) {
        self.status = status;
        self.history.push((height, status));
    }

    /// The entry's status as it stood at the end of block `height` (`None`: not yet on the
    /// ledger).
    pub fn status_at(&self, height: Height) -> Option<DenylistStatus> {
        if height < self.created_at {
            return None;
        }
        Some(
            self.history
                .iter()
                .take_while(|(h, _)| *h <= height)
                .last()
                .map_or(DenylistStatus::Active, |(_, s)| *s),
        )
    }

    /// Whether the entry withholds its devices' rewards at `height`.
    pub fn withholds(&self, height: Height) -> bool {
        self.status_at(height)
            .is_some_and(|s| s != DenylistStatus::Overturned)
            && height < self.entry.expires_at
    }

    /// Whether the finding stands for good at `height`: upheld by a ruling, or its appeal
    /// window closed with no appeal. Only then is a fraud penalty taken.
    pub fn is_final(&self, height: Height) -> bool {
        match self.status_at(height) {
            Some(DenylistStatus::Upheld) => true,
            Some(DenylistStatus::Active) => height >= self.appeal_until,
            Some(DenylistStatus::Appealed { .. } | DenylistStatus::Overturned) | None => false,
        }
    }
}

/// Votes cast on a proposal, weighted.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Tally {
    #[serde(with = "cairn_core::amount::u128_string")]
    pub yes: u128,
    #[serde(with = "cairn_core::amount::u128_string")]
    pub no: u128,
    #[serde(with = "cairn_core::amount::u128_string")]
    pub abstain: u128,
    #[serde(with = "cairn_core::amount::u128_string")]
    pub veto: u128,
}

impl Tally {
    pub fn total(&self) -> u128 {
        self.yes
            .saturating_add(self.no)
            .saturating_add(self.abstain)
            .saturating_add(self.veto)
    }

    pub(crate) fn slot(&mut self, choice: VoteChoice) -> &mut u128 {
        match choice {
            VoteChoice::Yes => &mut self.yes,
            VoteChoice::No => &mut self.no,
            VoteChoice::Abstain => &mut self.abstain,
            VoteChoice::Veto => &mut self.veto,
        }
    }
}

/// A proposal's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Voting,
    Passed {
        executable_at: Height,
    },
    Rejected,
    /// Enough veto votes: the deposit was burned.
    Vetoed,
    NoQuorum,
    Executed {
        at: Height,
    },
    /// Passed, but could not be carried out (e.g. the treasury was short).
    Failed {
        reason: String,
    },
}

/// A governance proposal.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Proposal {
    pub proposer: PublicKey,
    pub kind: ProposalKind,
    pub deposit: Tokens,
    pub start: Height,
    /// Votes are accepted at heights below this.
    pub voting_end: Height,
    /// Total voting power at `start`: the quorum's denominator.
    #[serde(with = "cairn_core::amount::u128_string")]
    pub power_snapshot: u128,
    pub tally: Tally,
    pub status: ProposalStatus,
}

/// A vote as recorded (so a voter can change it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct VoteRecord {
    pub choice: VoteChoice,
    #[serde(with = "cairn_core::amount::u128_string")]
    pub weight: u128,
}

/// Totals that make conservation checkable.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Supply {
    pub genesis: Tokens,
    pub minted: Tokens,
    pub burned: Tokens,
    /// Minted rewards not yet claimed.
    pub escrow: Tokens,
    pub treasury: Tokens,
    pub credits_minted: Credits,
    pub credits_burned: Credits,
    /// Minted rewards burned because no eligible work took them (`unallocated_burn`);
    /// also counted in `burned`.
    pub rewards_burned: Tokens,
}

/// The oracle and validator sets.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Authorities {
    pub validators: Vec<(PublicKey, u64)>,
    pub price_oracles: Vec<PublicKey>,
    pub reward_oracles: Vec<PublicKey>,
    pub verifier_oracles: Vec<PublicKey>,
}

/// The whole ledger state. Collections are persistent ordered maps: cloning is O(1), so a
/// transaction runs on a copy and the copy replaces the state only if it succeeds, and
/// iteration order (which feeds the root) is the key order.
#[derive(Debug, Clone)]
pub struct State {
    pub network: NetworkId,
    /// Height of the last applied block (0: genesis).
    pub height: Height,
    /// The genesis time: epoch `e` (from 1) covers
    /// `[genesis_time_ms + (e−1)·epoch_duration_ms, genesis_time_ms + e·epoch_duration_ms)`.
    pub genesis_time_ms: u64,
    /// Time of the last applied block, Unix milliseconds from the block header.
    pub time_ms: u64,
    pub params: Params,
    pub authorities: Authorities,
    pub supply: Supply,
    pub accounts: OrdMap<PublicKey, Account>,
    pub makers: OrdMap<PublicKey, Maker>,
    pub devices: OrdMap<PublicKey, Device>,
    pub locks: OrdMap<PublicKey, Lock>,
    pub prices: OrdMap<PublicKey, PriceSubmission>,
    pub manifests: OrdMap<Epoch, ManifestRecord>,
    /// Manifests signed by fewer oracles than the threshold so far, by (epoch, hash).
    pub manifest_votes: OrdMap<(Epoch, Hash), ManifestVotes>,
    pub claimed: OrdMap<Recipient, Tokens>,
    /// Credits burned for each device's service, by the epoch of the settling block's
    /// time; removed when the epoch's manifest is accepted.
    pub usage: OrdMap<(Epoch, PublicKey), Usage>,
    /// Sustainability figures per epoch.
    pub economics: OrdMap<Epoch, EpochEconomics>,
    /// Vesting rewards per account.
    pub vesting: OrdMap<PublicKey, Vesting>,
    /// Treasury outflows by height, kept for the treasury breaker's window.
    pub treasury_outflow: OrdMap<Height, Tokens>,
    pub breakers: Breakers,
    /// Settled usage receipts, by hash, until they expire.
    pub spent_receipts: OrdMap<Hash, Height>,
    pub denylist: OrdMap<u64, DenylistRecord>,
    /// Index: (device, denylist entry id). Derived from `denylist`.
    pub denylist_by_device: OrdSet<(PublicKey, u64)>,
    pub proposals: OrdMap<u64, Proposal>,
    pub votes: OrdMap<(u64, PublicKey), VoteRecord>,
    /// Where epochs closed: at the end of block `h`, every epoch up to the value had ended
    /// (the block is the first whose time is past them). Reward oracles evaluate what
    /// depends on the height (withholding, final denylist entries, onboarded devices) at
    /// an epoch's close, so all of them agree whenever they compute. Pruned as manifests
    /// are accepted.
    pub epoch_closes: OrdMap<Height, Epoch>,
    /// Proven validator faults by (validator, consensus epoch, view).
    pub validator_faults: OrdMap<(PublicKey, u64, u64), ValidatorFault>,
    pub next_denylist_id: u64,
    pub next_proposal_id: u64,
}

/// Domain tags of the state tree's leaves: one per kind of object.
mod tag {
    pub const META: &str = "cairn.state.meta.v1";
    pub const ACCOUNT: &str = "cairn.state.account.v1";
    pub const MAKER: &str = "cairn.state.maker.v1";
    pub const DEVICE: &str = "cairn.state.device.v1";
    pub const LOCK: &str = "cairn.state.lock.v1";
    pub const PRICE: &str = "cairn.state.price.v1";
    pub const MANIFEST: &str = "cairn.state.manifest.v1";
    pub const CLAIMED: &str = "cairn.state.claimed.v1";
    pub const USAGE: &str = "cairn.state.usage.v2";
    pub const MANIFEST_VOTES: &str = "cairn.state.manifest-votes.v1";
    pub const ECONOMICS: &str = "cairn.state.economics.v1";
    pub const VESTING: &str = "cairn.state.vesting.v1";
    pub const TREASURY_OUTFLOW: &str = "cairn.state.treasury-outflow.v1";
    pub const RECEIPT: &str = "cairn.state.spent-receipt.v1";
    pub const DENYLIST: &str = "cairn.state.denylist.v1";
    pub const PROPOSAL: &str = "cairn.state.proposal.v1";
    pub const VOTE: &str = "cairn.state.vote.v1";
    pub const VALIDATOR_FAULT: &str = "cairn.state.validator-fault.v1";
    pub const EPOCH_CLOSE: &str = "cairn.state.epoch-close.v1";
}

/// The tree key of an object: BLAKE3 of its kind's tag and its id's canonical encoding.
pub fn state_key<K: BorshSerialize>(tag: &str, id: &K) -> Hash {
    Hash::of(&encode(&(tag, id)))
}

fn value_hash<V: BorshSerialize>(v: &V) -> Hash {
    Hash::of(&encode(v))
}

/// Chain-wide values committed as one leaf.
#[derive(BorshSerialize)]
struct Meta<'a> {
    network: &'a NetworkId,
    height: Height,
    genesis_time_ms: u64,
    time_ms: u64,
    breakers: &'a Breakers,
    params: Vec<(crate::params::ParamId, u128)>,
    authorities: &'a Authorities,
    supply: &'a Supply,
    next_denylist_id: u64,
    next_proposal_id: u64,
}

impl State {
    /// Every (key, value hash) leaf of the state tree, sorted by key.
    pub fn leaves(&self) -> Vec<(Hash, Hash)> {
        let mut out = Vec::with_capacity(1 + self.accounts.len() + self.devices.len());
        let meta = Meta {
            network: &self.network,
            height: self.height,
            genesis_time_ms: self.genesis_time_ms,
            time_ms: self.time_ms,
            breakers: &self.breakers,
            params: self.params.iter().collect(),
            authorities: &self.authorities,
            supply: &self.supply,
            next_denylist_id: self.next_denylist_id,
            next_proposal_id: self.next_proposal_id,
        };
        out.push((state_key(tag::META, &()), value_hash(&meta)));
        fn add<K: BorshSerialize + Ord + Clone, V: BorshSerialize + Clone>(
            out: &mut Vec<(Hash, Hash)>,
            tag: &str,
            map: &OrdMap<K, V>,
        ) {
            out.extend(map.iter().map(|(k, v)| (state_key(tag, k), value_hash(v))));
        }
        add(&mut out, tag::ACCOUNT, &self.accounts);
        add(&mut out, tag::MAKER, &self.makers);
        add(&mut out, tag::DEVICE, &self.devices);
        add(&mut out, tag::LOCK, &self.locks);
        add(&mut out, tag::PRICE, &self.prices);
        add(&mut out, tag::MANIFEST, &self.manifests);
        add(&mut out, tag::CLAIMED, &self.claimed);
        add(&mut out, tag::USAGE, &self.usage);
        add(&mut out, tag::MANIFEST_VOTES, &self.manifest_votes);
        add(&mut out, tag::ECONOMICS, &self.economics);
        add(&mut out, tag::VESTING, &self.vesting);
        add(&mut out, tag::TREASURY_OUTFLOW, &self.treasury_outflow);
        add(&mut out, tag::RECEIPT, &self.spent_receipts);
        add(&mut out, tag::DENYLIST, &self.denylist);
        add(&mut out, tag::PROPOSAL, &self.proposals);
        add(&mut out, tag::VOTE, &self.votes);
        add(&mut out, tag::VALIDATOR_FAULT, &self.validator_faults);
        add(&mut out, tag::EPOCH_CLOSE, &self.epoch_closes);
        // `denylist_by_device` is derived from `denylist` and not committed separately.
        out.sort_unstable_by_key(|a| a.0);
        out
    }

    /// The state root: the sparse Merkle root over [`State::leaves`].
    pub fn root(&self) -> Hash {
        smt::root(&self.leaves())
    }

    /// An account's record (if any) with a proof against [`State::root`].
    pub fn prove_account(&self, key: &PublicKey) -> (Option<Account>, SmtProof) {
        let account = self.accounts.get(key).cloned();
        (
            account,
            smt::prove(&self.leaves(), &state_key(tag::ACCOUNT, key)),
        )
    }

    /// A device's record (if any) with a proof against [`State::root`].
    pub fn prove_device(&self, key: &PublicKey) -> (Option<Device>, SmtProof) {
        let device = self.devices.get(key).cloned();
        (
            device,
            smt::prove(&self.leaves(), &state_key(tag::DEVICE, key)),
        )
    }

    pub fn account(&self, key: &PublicKey) -> Account {
        self.accounts.get(key).cloned().unwrap_or_default()
    }

    /// The height at whose end `epoch` had closed (0 for epoch 0, the genesis); `None`
    /// while it is open, or once its record was pruned.
    pub fn epoch_close_height(&self, epoch: Epoch) -> Option<Height> {
        if epoch.0 == 0 {
            return Some(Height(0));
        }
        // Closes of epochs before the latest accepted manifest's are pruned.
        if self
            .manifests
            .keys()
            .next_back()
            .is_some_and(|m| epoch < *m)
        {
            return None;
        }
        self.epoch_closes
            .iter()
            .find(|(_, e)| **e >= epoch)
            .map(|(h, _)| *h)
    }

    /// The bond `device` must hold to claim a `cumulative` total against `epoch`'s
    /// manifest: `claim_bond_epochs` epochs of its average reward since it was onboarded,
    /// rounded up (rounding goes against the claimer).
    pub fn claim_bond_required(&self, device: &Device, cumulative: Tokens, epoch: Epoch) -> Tokens {
        let k = self.params.get(crate::params::ParamId::ClaimBondEpochs);
        let epochs = u128::from(epoch.0.saturating_sub(device.onboarded_epoch.0)) + 1;
        let (q, r) = cairn_core::amount::mul_div(cumulative.base_units(), k, epochs);
        Tokens::from_base_units(q.saturating_add(u128::from(r > 0)))
    }

    /// The denylist entry (device or pair) withholding `device`'s rewards at `height`.
    pub fn withholding_entry(&self, device: &PublicKey, height: Height) -> Option<u64> {
        self.denylist_by_device
            .range((*device, 0)..=(*device, u64::MAX))
            .map(|(_, id)| *id)
            .find(|id| self.denylist.get(id).is_some_and(|r| r.withholds(height)))
    }

    /// The next epoch a manifest may be accepted for: one past the last accepted one.
    pub fn open_epoch(&self) -> Epoch {
        Epoch(self.manifests.keys().next_back().map_or(1, |e| e.0 + 1))
    }

    /// The epoch (from 1) that contains `time_ms`.
    pub fn epoch_at(&self, time_ms: u64) -> Epoch {
        let d = self
            .params
            .get_u64(crate::params::ParamId::EpochDurationMs)
            .max(1);
        Epoch(time_ms.saturating_sub(self.genesis_time_ms) / d + 1)
    }

    /// When `epoch` ends (its last millisecond + 1).
    pub fn epoch_end_ms(&self, epoch: Epoch) -> u64 {
        let d = self
            .params
            .get_u64(crate::params::ParamId::EpochDurationMs)
            .max(1);
        self.genesis_time_ms
            .saturating_add(epoch.0.saturating_mul(d))
    }
}

/// Check an account proof from [`State::prove_account`] against a root.
pub fn verify_account(
    root: &Hash,
    key: &PublicKey,
    account: Option<&Account>,
    proof: &SmtProof,
) -> bool {
    proof.verify(
        root,
        &state_key(tag::ACCOUNT, key),
        account.map(value_hash).as_ref(),
    )
}

/// Check a device proof from [`State::prove_device`] against a root.
pub fn verify_device(
    root: &Hash,
    key: &PublicKey,
    device: Option<&Device>,
    proof: &SmtProof,
) -> bool {
    proof.verify(
        root,
        &state_key(tag::DEVICE, key),
        device.map(value_hash).as_ref(),
    )
}
