//! Transactions and the signed payloads they carry.
//!
//! Every transaction is a [`Transaction`] signed by its sender: the network id and the
//! sender's next nonce are inside the signed bytes, and the signature's domain names the
//! network and the message type (see `cairn_core::envelope`). Payloads signed by someone
//! else — a maker's attestation, a device's consent, a consumer's usage receipt, oracles'
//! manifest and denylist signatures — are their own message types with their own domains.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::codec::Canonical;
use cairn_core::envelope::{Signed, SignedMessage};
use cairn_core::{
    Credits, Epoch, Hash, Height, Location, MerkleProof, NetworkId, PublicKey, Signature, Tokens,
};
use serde::{Deserialize, Serialize};

use crate::params::ParamId;

/// Longest maker name or software version string, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// A transaction signed by its sender.
pub type SignedTx = Signed<Transaction>;

/// What a sender asks the ledger to do.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Transaction {
    /// Must equal the ledger's network id.
    pub network: NetworkId,
    /// Must equal the sender's next nonce (0 for a new account).
    pub nonce: u64,
    /// Offered fee; burned when the transaction is applied.
    pub fee: Fee,
    pub kind: TxKind,
}

impl SignedMessage for Transaction {
    const MESSAGE_TYPE: &'static str = "cairn.ledger.tx.v1";
}

impl Canonical for Transaction {
    const NAME: &'static str = "transaction";
    const MAX_ENCODED_LEN: usize = 64 * 1024;
}

/// A fee in tokens or credits; which are accepted, and the minimum, are parameters.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Fee {
    Tokens(Tokens),
    Credits(Credits),
}

/// The kinds of work a device does.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Coverage,
    Storage,
    Compute,
    Sensor,
}

impl DeviceKind {
    /// The kind as its JSON and the CLI spell it.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Coverage => "coverage",
            DeviceKind::Storage => "storage",
            DeviceKind::Compute => "compute",
            DeviceKind::Sensor => "sensor",
        }
    }
}

/// The services consumers pay for in credits.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    Coverage,
    Storage,
    Compute,
    SensorData,
}

/// Who a reward is owed to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    /// A device; claims pay its current owner.
    Device(PublicKey),
    /// An account (a validator, an oracle operator).
    Account(PublicKey),
    /// The governance-controlled treasury.
    Treasury,
}

/// One leaf of a reward manifest's Merkle tree: a recipient's lifetime total.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct RewardLeaf {
    pub recipient: Recipient,
    pub cumulative: Tokens,
}

impl RewardLeaf {
    /// The leaf bytes hashed into the manifest tree.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        cairn_core::codec::encode(&("cairn.rewards.leaf.v1", self))
    }
}

/// A maker's statement that it built the device holding `device`'s key.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MakerAttestation {
    pub device: PublicKey,
    pub kind: DeviceKind,
}

impl SignedMessage for MakerAttestation {
    const MESSAGE_TYPE: &'static str = "cairn.identity.maker-attestation.v1";
}

/// A device's consent to be owned by `owner`: proves the onboarder holds the device key.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DeviceConsent {
    pub owner: PublicKey,
}

impl SignedMessage for DeviceConsent {
    const MESSAGE_TYPE: &'static str = "cairn.identity.device-consent.v1";
}

/// A consumer's promise to pay a device for service, settled on the ledger.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct UsageReceipt {
    pub device: PublicKey,
    pub service: ServiceKind,
    pub amount: Credits,
    /// Distinguishes otherwise identical receipts.
    pub serial: u64,
    /// The receipt cannot be settled after this height.
    pub expires_at: Height,
}

impl SignedMessage for UsageReceipt {
    const MESSAGE_TYPE: &'static str = "cairn.usage.receipt.v1";
}

/// An epoch's reward manifest, computed independently by each reward oracle.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RewardManifest {
    pub epoch: Epoch,
    /// Root of the Merkle tree of [`RewardLeaf`]s, one per recipient, cumulative totals.
    pub cumulative_root: Hash,
    /// Leaves in that tree; claims' proofs must name the same count.
    pub recipient_count: u64,
    /// Rewards of this epoch: exactly the epoch's emission.
    pub epoch_total: Tokens,
    /// Rewards of all epochs so far.
    pub cumulative_total: Tokens,
    /// Hash of the previous accepted manifest ([`Hash::ZERO`] for epoch 1).
    pub previous: Hash,
    /// Of `epoch_total`, what no eligible work took and the parameters burn
    /// (`unallocated_burn`); the leaves add up to the cumulative total less every
    /// epoch's burned part.
    pub unallocated_burned: Tokens,
    /// The parameter hash the rewarder used; must equal the ledger's.
    pub params_hash: Hash,
    /// Commitment to the inputs (report-log segments, verdicts) so anyone can recompute it.
    pub inputs: Hash,
    /// Root of the Merkle tree of this epoch's [`Penalty`] leaves ([`Hash::ZERO`] and 0
    /// when there are none); anyone applies them with `apply_penalties`.
    pub penalties_root: Hash,
    pub penalty_count: u64,
}

/// Why a penalty is owed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PenaltyKind {
    /// Challenges failed in the epoch: `fault_fee_ppm` × expected epoch reward × the
    /// failed share. Paid to the treasury.
    FaultFee,
    /// A final denylist entry: `fraud_penalty_fixed` + `fraud_lookback_epochs` × the
    /// device's epoch payout. `fraud_bounty_ppm` of what is taken goes to the entry's
    /// reporter, the rest to the treasury.
    Fraud { entry: u64 },
}

/// A penalty a reward manifest assesses against a device's bond.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Penalty {
    pub epoch: Epoch,
    pub device: PublicKey,
    pub kind: PenaltyKind,
    /// Assessed; at most the bond (and unbonding amounts) is taken.
    pub amount: Tokens,
}

impl Penalty {
    /// The leaf bytes hashed into the manifest's penalty tree.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        cairn_core::codec::encode(&("cairn.rewards.penalty.v1", self))
    }
}

/// One penalty with its proof against the manifest's `penalties_root`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PenaltyProof {
    pub penalty: Penalty,
    pub proof: MerkleProof,
}

impl SignedMessage for RewardManifest {
    const MESSAGE_TYPE: &'static str = "cairn.rewards.manifest.v1";
}

impl Canonical for RewardManifest {
    const NAME: &'static str = "reward manifest";
    const MAX_ENCODED_LEN: usize = 1024;
}

/// What a denylist entry is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DenyTarget {
    Device(PublicKey),
    /// Two devices caught colluding (e.g. witnessing only each other); keys in ascending order.
    Pair(PublicKey, PublicKey),
}

impl DenyTarget {
    pub fn devices(&self) -> Vec<PublicKey> {
        match self {
            DenyTarget::Device(d) => vec![*d],
            DenyTarget::Pair(a, b) => vec![*a, *b],
        }
    }
}

/// A verifier oracles' finding that a device cheated.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DenylistEntry {
    pub target: DenyTarget,
    /// The verifier's reason code (defined by the verifier framework).
    pub reason: u16,
    /// Hash of the evidence (report content ids, measurements) kept in the verdict log.
    pub evidence: Hash,
    pub classifier_version: u32,
    /// The entry lapses at this height.
    pub expires_at: Height,
}

impl SignedMessage for DenylistEntry {
    const MESSAGE_TYPE: &'static str = "cairn.verify.denylist-entry.v1";
}

/// One oracle's signature over a payload that needs a threshold of them.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct OracleSignature {
    pub oracle: PublicKey,
    pub signature: Signature,
}

/// A vote.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VoteChoice {
    Yes,
    No,
    Abstain,
    /// No, and the proposal is abuse: enough vetoes burn its deposit.
    Veto,
}

/// A parameter and its proposed value.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct ParamValue {
    pub param: ParamId,
    #[serde(with = "cairn_core::amount::u128_string")]
    pub value: u128,
}

/// What a governance proposal would do.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalKind {
    ParamChange {
        changes: Vec<ParamValue>,
    },
    TreasurySpend {
        to: PublicKey,
        amount: Tokens,
    },
    MakerApproval {
        maker: PublicKey,
        name: String,
    },
    MakerRevocation {
        maker: PublicKey,
    },
    /// Uphold or overturn a denylist entry.
    DisputeRuling {
        entry: u64,
        overturn: bool,
    },
    /// A signal that validators should run `version` from `height`.
    SoftwareUpgrade {
        version: String,
        height: Height,
    },
    /// Pause or reduce: sets a parameter to a lower value, with a lower pass threshold and
    /// no timelock.
    EmergencyCurtail {
        param: ParamId,
        #[serde(with = "cairn_core::amount::u128_string")]
        value: u128,
    },
}

/// The transaction kinds.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    Transfer {
        to: PublicKey,
        amount: Tokens,
    },
    OnboardDevice {
        device: PublicKey,
        kind: DeviceKind,
        maker: PublicKey,
        /// The maker's signature over [`MakerAttestation`].
        maker_signature: Signature,
        /// The device's signature over [`DeviceConsent`] naming the sender as owner.
        device_signature: Signature,
    },
    AssertLocation {
        device: PublicKey,
        location: Location,
    },
    Bond {
        device: PublicKey,
        amount: Tokens,
    },
    Unbond {
        device: PublicKey,
        amount: Tokens,
    },
    WithdrawUnbonded {
        device: PublicKey,
    },
    /// A price-oracle submission: the token price in units of 10^-8 USD per whole token.
    SubmitPrice {
        #[serde(with = "cairn_core::amount::u128_string")]
        usd_per_token_e8: u128,
        observed_at_ms: u64,
    },
    /// Burn tokens for credits at the oracle price.
    MintCredits {
        amount: Tokens,
    },
    /// Settle a consumer's usage receipt: the consumer's credits are burned.
    PayForService {
        receipt: Signed<UsageReceipt>,
    },
    SubmitManifest {
        manifest: RewardManifest,
        signatures: Vec<OracleSignature>,
    },
    /// Claim for up to [`MAX_CLAIMS_PER_TX`] recipients against one accepted manifest:
    /// each pays `cumulative − already claimed`.
    ClaimRewards {
        epoch: Epoch,
        claims: Vec<RewardClaim>,
    },
    AddDenylistEntry {
        entry: DenylistEntry,
        signatures: Vec<OracleSignature>,
    },
    /// The owner of a denied device appeals; this opens a `DisputeRuling` proposal.
    Appeal {
        entry: u64,
        deposit: Tokens,
    },
    /// Lock tokens for voting power until `unlock_at` (extends an existing lock).
    LockTokens {
        amount: Tokens,
        unlock_at: Height,
    },
    /// Withdraw an expired lock.
    Unlock,
    Propose {
        kind: ProposalKind,
        deposit: Tokens,
    },
    Vote {
        proposal: u64,
        choice: VoteChoice,
    },
    /// Tally a proposal whose voting closed, or execute one whose timelock ran out.
    ExecuteProposal {
        proposal: u64,
    },
    /// Move the sender's unlocked vesting rewards to its balance.
    ReleaseVested,
    /// Apply up to [`MAX_CLAIMS_PER_TX`] penalties of an accepted manifest to the devices'
    /// bonds (anyone may submit; each applies once).
    ApplyPenalties {
        epoch: Epoch,
        penalties: Vec<PenaltyProof>,
    },
    /// Prove that a validator signed two conflicting consensus votes (anyone may submit;
    /// each round's fault is recorded once).
    ReportValidatorFault {
        evidence: crate::faults::FaultEvidence,
    },
}

/// Most claims one `claim_rewards` transaction carries (a claim with its proof is about
/// 700 bytes for a million recipients; a transaction is at most 64 KiB).
pub const MAX_CLAIMS_PER_TX: usize = 64;

/// One recipient's leaf with its proof.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RewardClaim {
    pub leaf: RewardLeaf,
    pub proof: MerkleProof,
}

impl TxKind {
    /// A short name for errors, receipts and the CLI.
    pub fn name(&self) -> &'static str {
        match self {
            TxKind::Transfer { .. } => "transfer",
            TxKind::OnboardDevice { .. } => "onboard_device",
            TxKind::AssertLocation { .. } => "assert_location",
            TxKind::Bond { .. } => "bond",
            TxKind::Unbond { .. } => "unbond",
            TxKind::WithdrawUnbonded { .. } => "withdraw_unbonded",
            TxKind::SubmitPrice { .. } => "submit_price",
            TxKind::MintCredits { .. } => "mint_credits",
            TxKind::PayForService { .. } => "pay_for_service",
            TxKind::SubmitManifest { .. } => "submit_manifest",
            TxKind::ClaimRewards { .. } => "claim_rewards",
            TxKind::AddDenylistEntry { .. } => "add_denylist_entry",
            TxKind::Appeal { .. } => "appeal",
            TxKind::LockTokens { .. } => "lock_tokens",
            TxKind::Unlock => "unlock",
            TxKind::Propose { .. } => "propose",
            TxKind::Vote { .. } => "vote",
            TxKind::ExecuteProposal { .. } => "execute_proposal",
            TxKind::ReleaseVested => "release_vested",
            TxKind::ApplyPenalties { .. } => "apply_penalties",
            TxKind::ReportValidatorFault { .. } => "report_validator_fault",
        }
    }
}
