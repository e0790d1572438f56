//! Why a transaction was rejected. A rejected transaction changes nothing.

use cairn_core::{Credits, Epoch, Height, SignatureError, Tokens};

use crate::params::ParamError;

/// A typed rejection; each message names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("bad signature: {0}")]
    BadSignature(#[from] SignatureError),
    #[error("wrong network id: this ledger is {expected:?}, the transaction names {got:?}")]
    WrongNetwork { expected: String, got: String },
    #[error("wrong nonce: the sender's next nonce is {expected}, the transaction has {got}")]
    WrongNonce { expected: u64, got: u64 },
    #[error("fees may not be paid in {asset} (see parameters fee_in_tokens / fee_in_credits)")]
    FeeAssetNotAccepted { asset: &'static str },
    #[error("fee too low: offered {offered} {asset}, the minimum is {minimum}")]
    FeeTooLow {
        asset: &'static str,
        offered: String,
        minimum: String,
    },
    #[error("insufficient tokens: {needed} needed, {available} available")]
    InsufficientTokens { needed: Tokens, available: Tokens },
    #[error("insufficient credits: {needed} needed, {available} available")]
    InsufficientCredits { needed: Credits, available: Credits },
    #[error("amount overflow in {0}: the result does not fit in 128 bits")]
    Overflow(&'static str),
    #[error("{0} must be greater than zero")]
    ZeroAmount(&'static str),
    #[error("too many {what}: at most {max}")]
    TooMany { what: &'static str, max: usize },
    #[error("{what} is paused by governance (parameter {param} is 0)")]
    Paused {
        what: &'static str,
        param: &'static str,
    },

    #[error("device {0} is already onboarded")]
    DeviceExists(String),
    #[error("unknown maker {0}: only governance-approved makers can attest devices")]
    UnknownMaker(String),
    #[error("maker {maker} was revoked at height {at}: its attestations are no longer accepted")]
    MakerRevoked { maker: String, at: Height },
    #[error("maker {0} is already approved")]
    MakerExists(String),
    #[error("unknown device {0}")]
    UnknownDevice(String),
    #[error("device {device} belongs to {owner}, not to the sender")]
    NotDeviceOwner { device: String, owner: String },
    #[error("location {location} has H3 resolution {got}; assert at resolution {want}")]
    WrongResolution { location: String, got: u8, want: u8 },
    #[error("device is already asserted at {0}")]
    SameLocation(String),
    #[error("insufficient bond: {requested} requested, {bonded} bonded")]
    InsufficientBond { requested: Tokens, bonded: Tokens },
    #[error("nothing to withdraw: no unbonding entry has matured (next at height {next:?})")]
    NothingUnbonded { next: Option<Height> },

    #[error("{key} is not a {role} oracle")]
    NotOracle { role: &'static str, key: String },
    #[error("price must be greater than zero")]
    ZeroPrice,
    #[error(
        "price observation at {observed_at_ms} ms is not within [{oldest_ms}, {newest_ms}] ms of the block time"
    )]
    PriceOutOfWindow {
        observed_at_ms: u64,
        oldest_ms: u64,
        newest_ms: u64,
    },
    #[error("price submission is older than this oracle's latest ({latest_ms} ms)")]
    PriceNotNewer { latest_ms: u64 },
    #[error(
        "price feed is stale: {fresh} fresh submission(s), {needed} needed; credit minting halts until oracles report"
    )]
    StalePrice { fresh: usize, needed: u128 },
    #[error("{tokens} tokens buy less than one credit at the current price")]
    CreditsTooSmall { tokens: Tokens },

    #[error("usage receipt expired at height {expires_at} (now {height})")]
    ReceiptExpired { expires_at: Height, height: Height },
    #[error("usage receipt expires at height {expires_at}, beyond the limit of {limit}")]
    ReceiptTooLong { expires_at: Height, limit: Height },
    #[error("usage receipt was already settled")]
    ReceiptSpent,

    #[error("wrong epoch: the next manifest must be for epoch {expected}, got {got}")]
    WrongEpoch { expected: Epoch, got: Epoch },
    #[error("manifest's previous hash does not match the last accepted manifest")]
    WrongPreviousManifest,
    #[error("manifest's parameter hash does not match the ledger's current parameters")]
    WrongParamsHash,
    #[error("manifest's epoch total is {got}, but epoch {epoch} emits exactly {expected}")]
    WrongEmission {
        epoch: Epoch,
        expected: Tokens,
        got: Tokens,
    },
    #[error("manifest's cumulative total is {got}, expected {expected}")]
    WrongCumulativeTotal { expected: Tokens, got: Tokens },
    #[error("{role} signatures: {valid} valid from distinct {role} oracles, {required} required")]
    TooFewSignatures {
        role: &'static str,
        valid: usize,
        required: u128,
    },
    #[error("{role} oracle {oracle} signed more than once")]
    DuplicateSignature { role: &'static str, oracle: String },
    #[error("no accepted manifest for epoch {0}")]
    UnknownManifest(Epoch),
    #[error("epoch {epoch} ends at {ends_at_ms} ms; its manifest cannot be accepted before")]
    EpochNotOver { epoch: Epoch, ends_at_ms: u64 },
    #[error("manifest burns {burned} of an epoch total of {total}")]
    BurnExceedsTotal { burned: Tokens, total: Tokens },
    #[error("every signature on this manifest is already recorded")]
    AlreadySigned,
    #[error("a claim lists no recipients, or one recipient twice")]
    BadClaimList,
    #[error("nothing has vested yet")]
    NothingVested,
    #[error(
        "the {breaker} circuit breaker holds this back: {wanted} wanted, {allowed} allowed in the window"
    )]
    CircuitBreaker {
        breaker: &'static str,
        wanted: Tokens,
        allowed: Tokens,
    },
    #[error("claim proof does not match the manifest of epoch {0}")]
    BadClaimProof(Epoch),
    #[error("rewards are withheld: device is on denylist entry {entry}")]
    RewardsWithheld { entry: u64 },
    #[error(
        "device {device} holds a bond of {bond}; claiming needs {required} (claim_bond_epochs of its average reward): bond more first"
    )]
    BondTooLow {
        device: String,
        bond: Tokens,
        required: Tokens,
    },
    #[error("nothing to claim: cumulative {cumulative}, already claimed {claimed}")]
    NothingToClaim { cumulative: Tokens, claimed: Tokens },
    #[error("reward escrow holds {escrow}, claim needs {needed}")]
    EscrowShort { escrow: Tokens, needed: Tokens },
    #[error("penalty proof does not match the manifest of epoch {0}")]
    BadPenaltyProof(Epoch),
    #[error("this penalty was already applied ({0})")]
    PenaltyApplied(&'static str),
    #[error(
        "denylist entry {entry} is not final: penalties apply once it is upheld or its appeal window closed unappealed"
    )]
    PenaltyNotFinal { entry: u64 },
    #[error("a penalty list is empty or names one penalty twice")]
    BadPenaltyList,

    #[error("invalid validator fault evidence: {0}")]
    BadFaultEvidence(&'static str),
    #[error(
        "a fault of validator {validator} in consensus round ({epoch}, {view}) is already on the ledger"
    )]
    FaultReported {
        validator: String,
        epoch: u64,
        view: u64,
    },

    #[error("invalid denylist entry: {0}")]
    BadDenylistEntry(&'static str),
    #[error("unknown denylist entry {0}")]
    UnknownDenylistEntry(u64),
    #[error("appeal window of denylist entry {entry} closed at height {until}")]
    AppealWindowClosed { entry: u64, until: Height },
    #[error("denylist entry {entry} cannot be appealed: it is {status}")]
    NotAppealable { entry: u64, status: &'static str },
    #[error("only the owner of a denied device may appeal")]
    NotAffectedOwner,

    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("invalid proposal: {0}")]
    BadProposal(String),
    #[error("deposit {offered} is below the minimum of {minimum}")]
    DepositTooLow { offered: Tokens, minimum: Tokens },
    #[error("unknown proposal {0}")]
    UnknownProposal(u64),
    #[error("voting on proposal {proposal} closed at height {ended_at} (now {height})")]
    VotingClosed {
        proposal: u64,
        ended_at: Height,
        height: Height,
    },
    #[error("no voting power on proposal {0}: lock tokens before a proposal starts to vote on it")]
    NoVotingPower(u64),
    #[error("proposal {proposal} is not ready: {why}")]
    ProposalNotReady { proposal: u64, why: String },
    #[error("a lock can only grow: unlock height {requested} is before the current {current}")]
    LockShortened { requested: Height, current: Height },
    #[error("unlock height {requested} is past the longest lock (height {limit})")]
    LockTooLong { requested: Height, limit: Height },
    #[error("no tokens are locked")]
    NoLock,
    #[error("tokens are locked until height {0}")]
    StillLocked(Height),
}

impl TxError {
    /// A stable snake_case code for clients (the RPC's `code` field).
    pub fn code(&self) -> &'static str {
        match self {
            TxError::BadSignature(..) => "bad_signature",
            TxError::WrongNetwork { .. } => "wrong_network",
            TxError::WrongNonce { .. } => "wrong_nonce",
            TxError::FeeAssetNotAccepted { .. } => "fee_asset_not_accepted",
            TxError::FeeTooLow { .. } => "fee_too_low",
            TxError::InsufficientTokens { .. } => "insufficient_tokens",
            TxError::InsufficientCredits { .. } => "insufficient_credits",
            TxError::Overflow(..) => "overflow",
            TxError::ZeroAmount(..) => "zero_amount",
            TxError::TooMany { .. } => "too_many",
            TxError::Paused { .. } => "paused",
            TxError::DeviceExists(..) => "device_exists",
            TxError::UnknownMaker(..) => "unknown_maker",
            TxError::MakerRevoked { .. } => "maker_revoked",
            TxError::MakerExists(..) => "maker_exists",
            TxError::UnknownDevice(..) => "unknown_device",
            TxError::NotDeviceOwner { .. } => "not_device_owner",
            TxError::WrongResolution { .. } => "wrong_resolution",
            TxError::SameLocation(..) => "same_location",
            TxError::InsufficientBond { .. } => "insufficient_bond",
            TxError::NothingUnbonded { .. } => "nothing_unbonded",
            TxError::NotOracle { .. } => "not_oracle",
            TxError::ZeroPrice => "zero_price",
            TxError::PriceOutOfWindow { .. } => "price_out_of_window",
            TxError::PriceNotNewer { .. } => "price_not_newer",
            TxError::StalePrice { .. } => "stale_price",
            TxError::CreditsTooSmall { .. } => "credits_too_small",
            TxError::ReceiptExpired { .. } => "receipt_expired",
            TxError::ReceiptTooLong { .. } => "receipt_too_long",
            TxError::ReceiptSpent => "receipt_spent",
            TxError::WrongEpoch { .. } => "wrong_epoch",
            TxError::WrongPreviousManifest => "wrong_previous_manifest",
            TxError::WrongParamsHash => "wrong_params_hash",
            TxError::WrongEmission { .. } => "wrong_emission",
            TxError::WrongCumulativeTotal { .. } => "wrong_cumulative_total",
            TxError::TooFewSignatures { .. } => "too_few_signatures",
            TxError::DuplicateSignature { .. } => "duplicate_signature",
            TxError::UnknownManifest(..) => "unknown_manifest",
            TxError::EpochNotOver { .. } => "epoch_not_over",
            TxError::BurnExceedsTotal { .. } => "burn_exceeds_total",
            TxError::AlreadySigned => "already_signed",
            TxError::BadClaimList => "bad_claim_list",
            TxError::NothingVested => "nothing_vested",
            TxError::CircuitBreaker { .. } => "circuit_breaker",
            TxError::BadClaimProof(..) => "bad_claim_proof",
            TxError::RewardsWithheld { .. } => "rewards_withheld",
            TxError::NothingToClaim { .. } => "nothing_to_claim",
            TxError::EscrowShort { .. } => "escrow_short",
            TxError::BondTooLow { .. } => "bond_too_low",
            TxError::BadPenaltyProof(..) => "bad_penalty_proof",
            TxError::PenaltyApplied(..) => "penalty_applied",
            TxError::PenaltyNotFinal { .. } => "penalty_not_final",
            TxError::BadPenaltyList => "bad_penalty_list",
            TxError::BadFaultEvidence(..) => "bad_fault_evidence",
            TxError::FaultReported { .. } => "fault_reported",
            TxError::BadDenylistEntry(..) => "bad_denylist_entry",
            TxError::UnknownDenylistEntry(..) => "unknown_denylist_entry",
            TxError::AppealWindowClosed { .. } => "appeal_window_closed",
            TxError::NotAppealable { .. } => "not_appealable",
            TxError::NotAffectedOwner => "not_affected_owner",
            TxError::Param(..) => "param",
            TxError::BadProposal(..) => "bad_proposal",
            TxError::DepositTooLow { .. } => "deposit_too_low",
            TxError::UnknownProposal(..) => "unknown_proposal",
            TxError::VotingClosed { .. } => "voting_closed",
            TxError::NoVotingPower(..) => "no_voting_power",
            TxError::ProposalNotReady { .. } => "proposal_not_ready",
            TxError::LockShortened { .. } => "lock_shortened",
            TxError::LockTooLong { .. } => "lock_too_long",
            TxError::NoLock => "no_lock",
            TxError::StillLocked(..) => "still_locked",
        }
    }
}
