//! A byte image of the whole [`State`], for durable storage.
//!
//! The chain keeps state durable as "latest snapshot + log of blocks applied after it". A
//! snapshot is the canonical encoding of every map as a sorted list, checked on load: the
//! bytes must be canonical, and the caller compares the loaded state's root with the root
//! recorded beside it. Derived indexes (`denylist_by_device`) are not stored; they are
//! rebuilt here from the committed maps, so a snapshot cannot carry an index that disagrees
//! with the data it indexes.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::{self, DecodeError};
use cairn_core::{Epoch, Hash, Height, NetworkId, PublicKey, Tokens};

use crate::params::{ParamId, Params};
use crate::state::{
    Account, Authorities, Breakers, DenylistRecord, Device, EpochEconomics, Lock, Maker,
    ManifestRecord, ManifestVotes, PriceSubmission, Proposal, State, Supply, Usage, ValidatorFault,
    Vesting, VoteRecord,
};
use crate::tx::Recipient;

/// The largest snapshot accepted: far above any state this code is expected to hold.
pub const MAX_SNAPSHOT_BYTES: usize = 4 << 30;

#[derive(BorshSerialize, BorshDeserialize)]
struct Image {
    version: u16,
    network: NetworkId,
    height: Height,
    genesis_time_ms: u64,
    time_ms: u64,
    breakers: Breakers,
    params: Vec<(ParamId, u128)>,
    authorities: Authorities,
    supply: Supply,
    accounts: Vec<(PublicKey, Account)>,
    makers: Vec<(PublicKey, Maker)>,
    devices: Vec<(PublicKey, Device)>,
    locks: Vec<(PublicKey, Lock)>,
    prices: Vec<(PublicKey, PriceSubmission)>,
    manifests: Vec<(Epoch, ManifestRecord)>,
    manifest_votes: Vec<((Epoch, Hash), ManifestVotes)>,
    claimed: Vec<(Recipient, Tokens)>,
    usage: Vec<((Epoch, PublicKey), Usage)>,
    economics: Vec<(Epoch, EpochEconomics)>,
    vesting: Vec<(PublicKey, Vesting)>,
    treasury_outflow: Vec<(Height, Tokens)>,
    spent_receipts: Vec<(Hash, Height)>,
    denylist: Vec<(u64, DenylistRecord)>,
    proposals: Vec<(u64, Proposal)>,
    votes: Vec<((u64, PublicKey), VoteRecord)>,
    validator_faults: Vec<((PublicKey, u64, u64), ValidatorFault)>,
    epoch_closes: Vec<(Height, Epoch)>,
    next_denylist_id: u64,
    next_proposal_id: u64,
}

const VERSION: u16 = 4;

fn list<K: Clone + Ord, V: Clone>(map: &imbl::OrdMap<K, V>) -> Vec<(K, V)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Why snapshot bytes were refused.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("snapshot format version {0} is not supported (this build reads {VERSION})")]
    Version(u16),
    #[error("snapshot lists {0} out of key order or twice")]
    Unsorted(&'static str),
}

impl State {
    /// The canonical byte image of this state.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let image = Image {
            version: VERSION,
            network: self.network.clone(),
            height: self.height,
            genesis_time_ms: self.genesis_time_ms,
            time_ms: self.time_ms,
            breakers: self.breakers.clone(),
            params: self.params.iter().collect(),
            authorities: self.authorities.clone(),
            supply: self.supply.clone(),
            accounts: list(&self.accounts),
            makers: list(&self.makers),
            devices: list(&self.devices),
            locks: list(&self.locks),
            prices: list(&self.prices),
            manifests: list(&self.manifests),
            manifest_votes: list(&self.manifest_votes),
            claimed: list(&self.claimed),
            usage: list(&self.usage),
            economics: list(&self.economics),
            vesting: list(&self.vesting),
            treasury_outflow: list(&self.treasury_outflow),
            spent_receipts: list(&self.spent_receipts),
            denylist: list(&self.denylist),
            proposals: list(&self.proposals),
            votes: list(&self.votes),
            validator_faults: list(&self.validator_faults),
            epoch_closes: list(&self.epoch_closes),
            next_denylist_id: self.next_denylist_id,
            next_proposal_id: self.next_proposal_id,
        };
        codec::encode(&image)
    }

    /// Rebuild a state from [`State::to_snapshot`] bytes, with its derived indexes.
    pub fn from_snapshot(bytes: &[u8]) -> Result<State, SnapshotError> {
        let image: Image = codec::decode_limited(bytes, MAX_SNAPSHOT_BYTES, "state snapshot")?;
        if image.version != VERSION {
            return Err(SnapshotError::Version(image.version));
        }
        fn map<K: Clone + Ord, V: Clone>(
            what: &'static str,
            items: Vec<(K, V)>,
        ) -> Result<imbl::OrdMap<K, V>, SnapshotError> {
            if items.windows(2).any(|w| w[0].0 >= w[1].0) {
                return Err(SnapshotError::Unsorted(what));
            }
            Ok(items.into_iter().collect())
        }
        let mut params = Params::default();
        for (id, value) in image.params {
            params.set(id, value);
        }
        let denylist = map("denylist", image.denylist)?;
        let denylist_by_device = denylist
            .iter()
            .flat_map(|(id, record): (&u64, &DenylistRecord)| {
                record
                    .entry
                    .target
                    .devices()
                    .into_iter()
                    .map(move |device| (device, *id))
            })
            .collect();
        Ok(State {
            network: image.network,
            height: image.height,
            genesis_time_ms: image.genesis_time_ms,
            time_ms: image.time_ms,
            breakers: image.breakers,
            params,
            authorities: image.authorities,
            supply: image.supply,
            accounts: map("accounts", image.accounts)?,
            makers: map("makers", image.makers)?,
            devices: map("devices", image.devices)?,
            locks: map("locks", image.locks)?,
            prices: map("prices", image.prices)?,
            manifests: map("manifests", image.manifests)?,
            manifest_votes: map("manifest votes", image.manifest_votes)?,
            claimed: map("claimed", image.claimed)?,
            usage: map("usage", image.usage)?,
            economics: map("economics", image.economics)?,
            vesting: map("vesting", image.vesting)?,
            treasury_outflow: map("treasury outflow", image.treasury_outflow)?,
            spent_receipts: map("spent receipts", image.spent_receipts)?,
            denylist,
            denylist_by_device,
            proposals: map("proposals", image.proposals)?,
            votes: map("votes", image.votes)?,
            validator_faults: map("validator faults", image.validator_faults)?,
            epoch_closes: map("epoch closes", image.epoch_closes)?,
            next_denylist_id: image.next_denylist_id,
            next_proposal_id: image.next_proposal_id,
        })
    }
}
