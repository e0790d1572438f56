//! Consensus fault evidence in the ledger's terms.
//!
//! The engine reports a validator's conflicting votes as its own types; the ledger proves
//! faults from [`FaultEvidence`], which carries the same votes (proposal and signature)
//! without naming the engine. The conversion reads the votes back from the engine's
//! encoding of the evidence (its fields are private, its codec is not), and the tests below
//! sign votes with the engine and check the ledger accepts them: the two agree on the
//! signed bytes, or a test fails.

use cairn_core::{PublicKey, Signature};
use cairn_ledger::faults::{FaultEvidence, FaultVotes, VoteProposal};
use commonware_codec::{Encode, ReadExt};
use commonware_consensus::simplex::types::{Activity, Finalize, Notarize, Nullify, Proposal};
use commonware_consensus::{Epochable, Viewable};
use commonware_cryptography::certificate::Attestation;

use crate::application::Scheme;
use crate::block::{Digest, from_digest};

fn proposal(p: &Proposal<Digest>) -> VoteProposal {
    VoteProposal {
        parent_view: p.parent.get(),
        payload: from_digest(&p.payload),
    }
}

fn signature(a: &Attestation<Scheme>) -> Option<Signature> {
    let s = a.signature.get()?;
    Some(Signature(s.as_ref().try_into().ok()?))
}

/// The ledger evidence for a fault `activity` by `validator` (`None` for activity that is
/// not a fault, or a signature the engine itself could not decode).
pub fn evidence(
    activity: &Activity<Scheme, Digest>,
    validator: PublicKey,
) -> Option<FaultEvidence> {
    let (epoch, view, votes) = match activity {
        Activity::ConflictingNotarize(f) => {
            let mut buf = f.encode();
            let a = Notarize::<Scheme, Digest>::read(&mut buf).ok()?;
            let b = Notarize::<Scheme, Digest>::read(&mut buf).ok()?;
            let votes = FaultVotes::ConflictingNotarize {
                first: proposal(&a.proposal),
                first_signature: signature(&a.attestation)?,
                second: proposal(&b.proposal),
                second_signature: signature(&b.attestation)?,
            };
            (a.epoch(), a.view(), votes)
        }
        Activity::ConflictingFinalize(f) => {
            let mut buf = f.encode();
            let a = Finalize::<Scheme, Digest>::read(&mut buf).ok()?;
            let b = Finalize::<Scheme, Digest>::read(&mut buf).ok()?;
            let votes = FaultVotes::ConflictingFinalize {
                first: proposal(&a.proposal),
                first_signature: signature(&a.attestation)?,
                second: proposal(&b.proposal),
                second_signature: signature(&b.attestation)?,
            };
            (a.epoch(), a.view(), votes)
        }
        Activity::NullifyFinalize(f) => {
            let mut buf = f.encode();
            let n = Nullify::<Scheme>::read(&mut buf).ok()?;
            let fin = Finalize::<Scheme, Digest>::read(&mut buf).ok()?;
            let votes = FaultVotes::NullifyFinalize {
                finalize: proposal(&fin.proposal),
                finalize_signature: signature(&fin.attestation)?,
                nullify_signature: signature(&n.attestation)?,
            };
            (n.epoch(), n.view(), votes)
        }
        _ => return None,
    };
    Some(FaultEvidence {
        validator,
        epoch: epoch.get(),
        view: view.get(),
        votes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{to_digest, to_engine_key};
    use cairn_core::{Hash, Keypair, NetworkId};
    use cairn_ledger::faults::{FaultKind, consensus_namespace};
    use commonware_codec::DecodeExt;
    use commonware_consensus::simplex::types::{
        ConflictingFinalize, ConflictingNotarize, NullifyFinalize,
    };
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::ed25519;
    use commonware_utils::TryCollect as _;
    use commonware_utils::ordered::Set;

    fn key(i: u8) -> Keypair {
        Keypair::from_seed(&[i; 32])
    }

    /// The engine's signing scheme for validator `me` of a 4-validator committee.
    fn scheme(network: &NetworkId, me: u8) -> Scheme {
        let participants: Set<ed25519::PublicKey> = (1..=4u8)
            .map(|i| to_engine_key(&key(i).public()))
            .try_collect()
            .unwrap();
        let signer = ed25519::PrivateKey::decode(key(me).seed().to_vec()).unwrap();
        Scheme::signer(&consensus_namespace(network), participants, signer).unwrap()
    }

    fn proposal(view: u64, block: &[u8]) -> Proposal<Digest> {
        Proposal::new(
            Round::new(Epoch::new(0), View::new(view)),
            View::new(view - 1),
            to_digest(&Hash::of(block)),
        )
    }

    #[test]
    fn engine_signed_faults_are_proven_by_the_ledger() {
        let net = NetworkId::new("cairn-faults").unwrap();
        let s = scheme(&net, 2);
        let me = key(2).public();
        let activities: Vec<Activity<Scheme, Digest>> = vec![
            Activity::ConflictingNotarize(ConflictingNotarize::new(
                Notarize::sign(&s, proposal(9, b"a")).unwrap(),
                Notarize::sign(&s, proposal(9, b"b")).unwrap(),
            )),
            Activity::ConflictingFinalize(ConflictingFinalize::new(
                Finalize::sign(&s, proposal(10, b"a")).unwrap(),
                Finalize::sign(&s, proposal(10, b"b")).unwrap(),
            )),
            Activity::NullifyFinalize(NullifyFinalize::new(
                Nullify::sign::<Digest>(&s, Round::new(Epoch::new(0), View::new(11))).unwrap(),
                Finalize::sign(&s, proposal(11, b"a")).unwrap(),
            )),
        ];
        let kinds = [
            FaultKind::ConflictingNotarize,
            FaultKind::ConflictingFinalize,
            FaultKind::NullifyFinalize,
        ];
        for (activity, kind) in activities.iter().zip(kinds) {
            let e = evidence(activity, me).expect("a fault gives evidence");
            assert_eq!(e.kind(), kind);
            assert_eq!(
                (e.epoch, e.view),
                (activity.epoch().get(), activity.view().get())
            );
            assert_eq!(
                e.verify(&net),
                Ok(()),
                "{kind:?} signed by the engine verifies"
            );
            // Bound to the network and the signer.
            assert!(e.verify(&NetworkId::new("cairn-other").unwrap()).is_err());
            let mut other = e.clone();
            other.validator = key(3).public();
            assert!(other.verify(&net).is_err());
        }
        // Ordinary votes are not faults.
        let vote = Activity::Notarize(Notarize::sign(&s, proposal(12, b"a")).unwrap());
        assert!(evidence(&vote, me).is_none());
    }
}
