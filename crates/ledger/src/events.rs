//! Events in receipts: what a transaction did, for the indexer, the explorer and wallets.

use cairn_core::{Credits, Epoch, Hash, Height, Location, PublicKey, Tokens};
use serde::{Deserialize, Serialize};

use crate::state::ProposalStatus;
use crate::tx::{DenyTarget, DeviceKind, Fee, PenaltyKind, Recipient, ServiceKind, VoteChoice};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    FeeBurned {
        payer: PublicKey,
        fee: Fee,
    },
    Transfer {
        from: PublicKey,
        to: PublicKey,
        amount: Tokens,
    },
    DeviceOnboarded {
        device: PublicKey,
        owner: PublicKey,
        maker: PublicKey,
        kind: DeviceKind,
        fee: Credits,
    },
    LocationAsserted {
        device: PublicKey,
        location: Location,
        moves: u32,
        fee: Credits,
    },
    Bonded {
        device: PublicKey,
        amount: Tokens,
    },
    /// A validator's conflicting votes were proven: its share of `epoch`'s validator pool
    /// is forfeit.
    ValidatorFaulted {
        validator: PublicKey,
        kind: crate::faults::FaultKind,
        consensus_epoch: u64,
        view: u64,
        epoch: Epoch,
        reporter: PublicKey,
    },
    UnbondStarted {
        device: PublicKey,
        amount: Tokens,
        release_at: Height,
    },
    UnbondWithdrawn {
        device: PublicKey,
        amount: Tokens,
    },
    /// A penalty taken from a device's bond (then its unbonding amounts): `assessed` by the
    /// manifest, `taken` what the bond held of it, `bounty` of that to `reporter`.
    Penalized {
        device: PublicKey,
        epoch: Epoch,
        kind: PenaltyKind,
        assessed: Tokens,
        taken: Tokens,
        bounty: Tokens,
        reporter: Option<PublicKey>,
    },
    PriceSubmitted {
        oracle: PublicKey,
        #[serde(with = "cairn_core::amount::u128_string")]
        usd_per_token_e8: u128,
        observed_at_ms: u64,
    },
    CreditsMinted {
        account: PublicKey,
        tokens_burned: Tokens,
        credits: Credits,
        #[serde(with = "cairn_core::amount::u128_string")]
        usd_per_token_e8: u128,
    },
    UsagePaid {
        consumer: PublicKey,
        device: PublicKey,
        service: ServiceKind,
        credits: Credits,
        epoch: Epoch,
    },
    ManifestAccepted {
        epoch: Epoch,
        hash: Hash,
        minted: Tokens,
    },
    /// A reward oracle's signature on a manifest below the threshold so far.
    ManifestSigned {
        epoch: Epoch,
        hash: Hash,
        signers: u64,
        threshold: u64,
    },
    /// `amount` paid at once and `vesting` added to the owner's vesting rewards.
    RewardsClaimed {
        recipient: Recipient,
        amount: Tokens,
        vesting: Tokens,
        cumulative: Tokens,
    },
    VestedReleased {
        account: PublicKey,
        amount: Tokens,
    },
    /// A circuit breaker held back a mint or a treasury outflow.
    CircuitBreakerTripped {
        /// `mint` or `treasury`.
        breaker: String,
        /// What the action would have moved, and what the window still allowed.
        wanted: Tokens,
        allowed: Tokens,
    },
    Denylisted {
        entry: u64,
        target: DenyTarget,
        reason: u16,
    },
    AppealOpened {
        entry: u64,
        proposal: u64,
    },
    /// An appeal was voted down: the finding stands and the appeal's deposit goes to the
    /// treasury.
    AppealForfeited {
        entry: u64,
        appellant: PublicKey,
        deposit: Tokens,
    },
    TokensLocked {
        account: PublicKey,
        amount: Tokens,
        unlock_at: Height,
    },
    TokensUnlocked {
        account: PublicKey,
        amount: Tokens,
    },
    ProposalCreated {
        proposal: u64,
        voting_end: Height,
    },
    Voted {
        proposal: u64,
        voter: PublicKey,
        choice: VoteChoice,
        #[serde(with = "cairn_core::amount::u128_string")]
        weight: u128,
    },
    ProposalTallied {
        proposal: u64,
        status: ProposalStatus,
    },
    ProposalExecuted {
        proposal: u64,
        status: ProposalStatus,
    },
}
