//! Validator faults: two conflicting votes signed by one validator, proven on the ledger.
//!
//! Consensus votes are Ed25519 signatures by a validator's key over the engine's vote
//! bytes. Two votes that cannot both be honest (two different proposals notarized or
//! finalized in the same round, or a round both nullified and finalized) prove the
//! validator misbehaved; anyone holding them submits [`FaultEvidence`] and the ledger
//! checks both signatures itself. A proven fault forfeits the validator's share of the
//! validators' pool for the reward epoch in which the evidence lands on chain.
//!
//! This crate names no consensus engine, so the signed bytes are written out here: the
//! engine signs `varint(len(ns)) ‖ ns ‖ message` with `ns` = the consensus namespace
//! ([`consensus_namespace`]) followed by `_NOTARIZE`, `_FINALIZE` or `_NULLIFY`, and the
//! message is the round (epoch, view as LEB128 varints), then for notarize and finalize the
//! parent view (varint) and the 32-byte block digest. The chain adapter's tests sign votes
//! with the engine itself and check that this module accepts them, so a change of the
//! engine's format fails a test rather than silently disabling fault proofs.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_core::{Hash, NetworkId, PublicKey, Signature};
use serde::{Deserialize, Serialize};

/// The namespace consensus signatures of `network` are bound to: votes of one network
/// cannot be replayed as votes (or fault evidence) on another.
pub fn consensus_namespace(network: &NetworkId) -> Vec<u8> {
    format!("cairn/{}/consensus", network.as_str()).into_bytes()
}

/// A proposal as a notarize or finalize vote signs it (its round is the evidence's).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct VoteProposal {
    /// The view of the parent the proposal builds on.
    pub parent_view: u64,
    /// The proposed block's digest.
    pub payload: Hash,
}

/// The two votes that conflict.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultVotes {
    /// Notarize votes for two different proposals in one round.
    ConflictingNotarize {
        first: VoteProposal,
        first_signature: Signature,
        second: VoteProposal,
        second_signature: Signature,
    },
    /// Finalize votes for two different proposals in one round.
    ConflictingFinalize {
        first: VoteProposal,
        first_signature: Signature,
        second: VoteProposal,
        second_signature: Signature,
    },
    /// A finalize vote in a round the validator also voted to nullify (skip).
    NullifyFinalize {
        finalize: VoteProposal,
        finalize_signature: Signature,
        nullify_signature: Signature,
    },
}

/// Attributable evidence against a validator.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct FaultEvidence {
    pub validator: PublicKey,
    /// The consensus round: epoch and view.
    pub epoch: u64,
    pub view: u64,
    pub votes: FaultVotes,
}

/// Which rule a fault broke.
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
pub enum FaultKind {
    ConflictingNotarize,
    ConflictingFinalize,
    NullifyFinalize,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ConflictingNotarize => "conflicting_notarize",
            FaultKind::ConflictingFinalize => "conflicting_finalize",
            FaultKind::NullifyFinalize => "nullify_finalize",
        }
    }
}

/// Which vote a signature is.
#[derive(Debug, Clone, Copy)]
pub enum VoteType {
    Notarize,
    Finalize,
    Nullify,
}

impl VoteType {
    fn suffix(self) -> &'static [u8] {
        match self {
            VoteType::Notarize => b"_NOTARIZE",
            VoteType::Finalize => b"_FINALIZE",
            VoteType::Nullify => b"_NULLIFY",
        }
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The exact bytes a validator signs for a vote of `vote` type in round (`epoch`, `view`)
/// on `network`: `proposal` for notarize and finalize, `None` for nullify.
pub fn vote_signing_bytes(
    network: &NetworkId,
    vote: VoteType,
    epoch: u64,
    view: u64,
    proposal: Option<&VoteProposal>,
) -> Vec<u8> {
    let mut ns = consensus_namespace(network);
    ns.extend_from_slice(vote.suffix());
    let mut out = Vec::with_capacity(ns.len() + 64);
    varint(&mut out, ns.len() as u64);
    out.extend_from_slice(&ns);
    varint(&mut out, epoch);
    varint(&mut out, view);
    if let Some(p) = proposal {
        varint(&mut out, p.parent_view);
        out.extend_from_slice(p.payload.as_bytes());
    }
    out
}

impl FaultEvidence {
    pub fn kind(&self) -> FaultKind {
        match self.votes {
            FaultVotes::ConflictingNotarize { .. } => FaultKind::ConflictingNotarize,
            FaultVotes::ConflictingFinalize { .. } => FaultKind::ConflictingFinalize,
            FaultVotes::NullifyFinalize { .. } => FaultKind::NullifyFinalize,
        }
    }

    /// Check that the two votes conflict and that the validator signed both on `network`.
    /// Whether the signer is a validator is the caller's check.
    pub fn verify(&self, network: &NetworkId) -> Result<(), &'static str> {
        let signed = |vote, proposal: Option<&VoteProposal>, signature: &Signature| {
            let bytes = vote_signing_bytes(network, vote, self.epoch, self.view, proposal);
            self.validator.verify_raw(&bytes, signature)
        };
        let ok = match &self.votes {
            FaultVotes::ConflictingNotarize {
                first,
                first_signature,
                second,
                second_signature,
            }
            | FaultVotes::ConflictingFinalize {
                first,
                first_signature,
                second,
                second_signature,
            } => {
                let vote = match self.votes {
                    FaultVotes::ConflictingNotarize { .. } => VoteType::Notarize,
                    _ => VoteType::Finalize,
                };
                if first == second {
                    return Err("the two votes are for the same proposal");
                }
                signed(vote, Some(first), first_signature)
                    && signed(vote, Some(second), second_signature)
            }
            FaultVotes::NullifyFinalize {
                finalize,
                finalize_signature,
                nullify_signature,
            } => {
                signed(VoteType::Finalize, Some(finalize), finalize_signature)
                    && signed(VoteType::Nullify, None, nullify_signature)
            }
        };
        if ok {
            Ok(())
        } else {
            Err("a vote's signature does not verify for the validator on this network")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_is_leb128() {
        let enc = |v| {
            let mut out = Vec::new();
            varint(&mut out, v);
            out
        };
        assert_eq!(enc(0), vec![0]);
        assert_eq!(enc(127), vec![127]);
        assert_eq!(enc(128), vec![0x80, 1]);
        assert_eq!(enc(300), vec![0xac, 0x02]);
        assert_eq!(enc(u64::MAX).len(), 10);
    }

    #[test]
    fn votes_are_bound_to_type_round_and_network() {
        let net = NetworkId::new("alpha").unwrap();
        let p = VoteProposal {
            parent_view: 3,
            payload: Hash::of(b"block"),
        };
        let base = vote_signing_bytes(&net, VoteType::Notarize, 0, 4, Some(&p));
        for other in [
            vote_signing_bytes(&net, VoteType::Finalize, 0, 4, Some(&p)),
            vote_signing_bytes(&net, VoteType::Notarize, 1, 4, Some(&p)),
            vote_signing_bytes(&net, VoteType::Notarize, 0, 5, Some(&p)),
            vote_signing_bytes(
                &NetworkId::new("beta").unwrap(),
                VoteType::Notarize,
                0,
                4,
                Some(&p),
            ),
        ] {
            assert_ne!(base, other);
        }
        // varint(len) ‖ "cairn/alpha/consensus_NOTARIZE" ‖ 0 ‖ 4 ‖ 3 ‖ digest
        let ns = b"cairn/alpha/consensus_NOTARIZE";
        assert_eq!(base[0] as usize, ns.len());
        assert_eq!(&base[1..1 + ns.len()], ns);
        assert_eq!(&base[1 + ns.len()..4 + ns.len()], &[0, 4, 3]);
        assert_eq!(&base[4 + ns.len()..], p.payload.as_bytes());
    }
}
