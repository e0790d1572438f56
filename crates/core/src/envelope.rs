//! Signed envelopes with domain separation.
//!
//! A signature never covers bare message bytes. It covers
//! `borsh(("cairn-signature-v1", network id, message type, canonical message bytes))`,
//! so a signature made on one network, or for one kind of message, verifies nowhere else.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::codec::{self, Canonical};
use crate::keys::{PublicKey, Signature, SignatureError, Signer};
use crate::network::NetworkId;

const SIGNATURE_DOMAIN: &str = "cairn-signature-v1";

/// A message that is signed: it names its type, which becomes part of the signed domain.
pub trait SignedMessage: BorshSerialize {
    /// A stable, unique name such as `"cairn.ledger.tx.v1"`. Changing it invalidates every
    /// existing signature over this type.
    const MESSAGE_TYPE: &'static str;
}

/// The exact bytes an Ed25519 key signs for `message` on `network`.
pub fn signing_bytes<T: SignedMessage>(network: &NetworkId, message: &T) -> Vec<u8> {
    raw_signing_bytes(network, T::MESSAGE_TYPE, &codec::encode(message))
}

/// The exact bytes signed for an already-encoded message of type `message_type`: the same
/// preimage as [`signing_bytes`], for messages whose wire encoding is not Borsh (the device
/// protocol signs protobuf bytes exactly as sent).
pub fn raw_signing_bytes(network: &NetworkId, message_type: &str, message: &[u8]) -> Vec<u8> {
    codec::encode(&(SIGNATURE_DOMAIN, network.as_str(), message_type, message))
}

/// Sign `message` for `network` without wrapping it.
pub fn sign_detached<T: SignedMessage>(
    signer: &dyn Signer,
    network: &NetworkId,
    message: &T,
) -> Signature {
    signer.sign_raw(&signing_bytes(network, message))
}

/// Verify a detached signature by `key` over `message` for `network`.
pub fn verify_detached<T: SignedMessage>(
    key: &PublicKey,
    network: &NetworkId,
    message: &T,
    signature: &Signature,
) -> Result<(), SignatureError> {
    if key.verify_raw(&signing_bytes(network, message), signature) {
        Ok(())
    } else {
        Err(SignatureError::Invalid {
            signer: key.to_did(),
            message_type: T::MESSAGE_TYPE,
            network: network.to_string(),
        })
    }
}

/// A message together with its signer and signature.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Signed<T> {
    pub signer: PublicKey,
    pub message: T,
    pub signature: Signature,
}

impl<T: SignedMessage> Signed<T> {
    pub fn sign(signer: &dyn Signer, network: &NetworkId, message: T) -> Self {
        let signature = sign_detached(signer, network, &message);
        Signed {
            signer: signer.public_key(),
            message,
            signature,
        }
    }

    pub fn verify(&self, network: &NetworkId) -> Result<(), SignatureError> {
        verify_detached(&self.signer, network, &self.message, &self.signature)
    }
}

impl<T: SignedMessage + Canonical> Canonical for Signed<T> {
    const NAME: &'static str = T::NAME;
    // The message plus a 32-byte key and a 64-byte signature.
    const MAX_ENCODED_LEN: usize = T::MAX_ENCODED_LEN + 96;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    #[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
    struct Ping(u64);
    impl SignedMessage for Ping {
        const MESSAGE_TYPE: &'static str = "test.ping";
    }
    #[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
    struct Pong(u64);
    impl SignedMessage for Pong {
        const MESSAGE_TYPE: &'static str = "test.pong";
    }

    #[test]
    fn domain_separation() {
        let kp = Keypair::generate();
        let main = NetworkId::new("main").unwrap();
        let test = NetworkId::new("test").unwrap();
        let signed = Signed::sign(&kp, &main, Ping(7));
        signed.verify(&main).unwrap();

        // Same message, other network.
        let err = signed.verify(&test).unwrap_err().to_string();
        assert!(err.contains("network test"), "{err}");

        // Same bytes (Ping(7) and Pong(7) encode identically), other message type.
        assert_eq!(codec::encode(&Ping(7)), codec::encode(&Pong(7)));
        let as_pong = Signed {
            signer: signed.signer,
            message: Pong(7),
            signature: signed.signature,
        };
        assert!(as_pong.verify(&main).is_err());

        // Tampered message.
        let mut tampered = signed.clone();
        tampered.message.0 = 8;
        assert!(tampered.verify(&main).is_err());

        // Other signer claimed.
        let mut other = signed;
        other.signer = Keypair::generate().public();
        assert!(other.verify(&main).is_err());
    }
}
