//! Ed25519 keys: strict verification, `did:key` presentation.
//!
//! Public keys are validated when parsed or decoded: the point must decompress and must not
//! be of small order (a "weak" key for which forged signatures exist). Verification uses
//! `verify_strict`, which also rejects non-canonical signature encodings, so a signature
//! has exactly one valid byte form and cannot be malleated into a second transaction id.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Multicodec prefix of an Ed25519 public key (`ed25519-pub`, 0xed as an unsigned varint).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
const DID_KEY_PREFIX: &str = "did:key:";

/// An Ed25519 public key, known to be a valid, non-weak curve point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

/// An Ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

/// Why a key could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("not a did:key: {0:?} does not start with \"did:key:z\" (base58btc multibase)")]
    NotDidKey(String),
    #[error("did:key {0:?} is not valid base58btc")]
    Base58(String),
    #[error("did:key is not an Ed25519 key: expected multicodec 0xed01 and 32 key bytes")]
    NotEd25519,
    #[error("not a valid Ed25519 public key: the bytes are not a curve point")]
    InvalidPoint,
    #[error("weak Ed25519 public key (small-order point) refused")]
    Weak,
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature by {signer} does not verify for this {message_type} on network {network}")]
    Invalid {
        signer: String,
        message_type: &'static str,
        network: String,
    },
}

impl PublicKey {
    /// Validate raw key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyParseError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyParseError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyParseError::Weak);
        }
        Ok(PublicKey(key))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// `did:key:z6Mk…`: multibase base58btc of the multicodec-prefixed key.
    pub fn to_did(&self) -> String {
        did_of(self.as_bytes())
    }

    /// The key as a [`KeyId`].
    pub fn id(&self) -> KeyId {
        KeyId(*self.as_bytes())
    }

    /// Parse a `did:key` string back into a key.
    pub fn from_did(did: &str) -> Result<Self, KeyParseError> {
        let short = || did.chars().take(80).collect::<String>();
        let encoded = did
            .strip_prefix(DID_KEY_PREFIX)
            .and_then(|rest| rest.strip_prefix('z'))
            .ok_or_else(|| KeyParseError::NotDidKey(short()))?;
        // 34 bytes of payload encode to at most 47 base58 characters.
        if encoded.len() > 64 {
            return Err(KeyParseError::NotEd25519);
        }
        let raw = bs58::decode(encoded)
            .into_vec()
            .map_err(|_| KeyParseError::Base58(short()))?;
        if raw.len() != 34 || raw[..2] != ED25519_MULTICODEC {
            return Err(KeyParseError::NotEd25519);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&raw[2..]);
        PublicKey::from_bytes(&key)
    }

    /// Strict Ed25519 verification of `signature` over `message`.
    pub fn verify_raw(&self, message: &[u8], signature: &Signature) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

fn did_of(bytes: &[u8; 32]) -> String {
    let mut buf = Vec::with_capacity(34);
    buf.extend_from_slice(&ED25519_MULTICODEC);
    buf.extend_from_slice(bytes);
    format!("{DID_KEY_PREFIX}z{}", bs58::encode(buf).into_string())
}

/// A public key's 32 bytes as an identifier in bulk records (verdicts, standings, reward
/// totals): compared, sorted and printed, never verified against. Decoding one costs no
/// curve arithmetic (a [`PublicKey`] decompresses and checks its point, some 10 µs) and
/// holding one costs 32 bytes (a [`PublicKey`] keeps the decompressed point, 192), which
/// is what lets the verifier's and rewarder's records scale to millions of devices. Its
/// order, equality, hash and Borsh encoding are those of the key's bytes, the same as a
/// [`PublicKey`]'s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct KeyId(pub [u8; 32]);

/// The bytes' lexicographic order, compared eight at a time: ordered maps of key ids are
/// everywhere in the verifier and rewarder, and a library `memcmp` call per comparison
/// was a fifth of an epoch's time.
impl Ord for KeyId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let word = |k: &KeyId, i: usize| {
            u64::from_be_bytes(k.0[8 * i..8 * i + 8].try_into().expect("8 bytes"))
        };
        (0..4)
            .map(|i| word(self, i).cmp(&word(other, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

impl PartialOrd for KeyId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl KeyId {
    pub fn to_did(&self) -> String {
        did_of(&self.0)
    }

    /// The checked key (fails if these bytes are not a valid, strong point).
    pub fn to_public(&self) -> Result<PublicKey, KeyParseError> {
        PublicKey::from_bytes(&self.0)
    }
}

impl From<PublicKey> for KeyId {
    fn from(key: PublicKey) -> Self {
        key.id()
    }
}

impl From<&PublicKey> for KeyId {
    fn from(key: &PublicKey) -> Self {
        key.id()
    }
}

impl PartialEq<PublicKey> for KeyId {
    fn eq(&self, other: &PublicKey) -> bool {
        &self.0 == other.as_bytes()
    }
}

impl PartialEq<KeyId> for PublicKey {
    fn eq(&self, other: &KeyId) -> bool {
        self.as_bytes() == &other.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_did())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_did())
    }
}

impl FromStr for KeyId {
    type Err = KeyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicKey::from_did(s).map(KeyId::from)
    }
}

impl Serialize for KeyId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_did())
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Verify many signatures at once (about twice as fast per signature as one by one).
///
/// `true` only if every signature is valid. Batch verification is not the strict check of
/// [`PublicKey::verify_raw`]: a caller that must name the bad item, or needs strictness,
/// verifies one by one after a failure.
pub fn verify_batch(items: &[(&PublicKey, &[u8], &Signature)]) -> bool {
    if items.is_empty() {
        return true;
    }
    let messages: Vec<&[u8]> = items.iter().map(|(_, m, _)| *m).collect();
    let signatures: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(&s.0))
        .collect();
    let keys: Vec<VerifyingKey> = items.iter().map(|(k, _, _)| k.0).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_did())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_did())
    }
}

impl FromStr for PublicKey {
    type Err = KeyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicKey::from_did(s)
    }
}

impl BorshSerialize for PublicKey {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(self.as_bytes())
    }
}

impl BorshDeserialize for PublicKey {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let bytes = <[u8; 32]>::deserialize_reader(reader)?;
        PublicKey::from_bytes(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_did())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        PublicKey::from_did(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

/// Why a string is not a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an Ed25519 signature as 128 hex digits, got {len} characters")]
pub struct SignatureParseError {
    len: usize,
}

impl FromStr for Signature {
    type Err = SignatureParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let mut out = [0u8; 64];
        hex::decode_to_slice(s, &mut out).map_err(|_| SignatureParseError { len: s.len() })?;
        Ok(Signature(out))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Anything that can sign with an Ed25519 key: a key held in memory today, a secure
/// element later. The rest of Cairn signs through this trait only.
pub trait Signer: Send + Sync {
    fn public_key(&self) -> PublicKey;
    fn sign_raw(&self, message: &[u8]) -> Signature;
}

/// An Ed25519 key pair held in memory. The secret is zeroed on drop and never printed.
pub struct Keypair {
    secret: SigningKey,
}

impl Keypair {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).expect("the operating system's random source failed");
        Self::from_seed(&seed)
    }

    /// A key from a 32-byte seed (the RFC 8032 secret key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Keypair {
            secret: SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte seed; handle with care.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    pub fn public(&self) -> PublicKey {
        // A key derived from a secret scalar is never a small-order point.
        PublicKey(self.secret.verifying_key())
    }
}

impl Signer for Keypair {
    fn public_key(&self) -> PublicKey {
        self.public()
    }
    fn sign_raw(&self, message: &[u8]) -> Signature {
        Signature(self.secret.sign(message).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({}, secret hidden)", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The word-wise order is the bytes' order, whichever byte differs first.
        #[test]
        fn key_id_orders_as_its_bytes(a: [u8; 32], flip in 0usize..32, by: u8) {
            let mut b = a;
            b[flip] = b[flip].wrapping_add(by);
            proptest::prop_assert_eq!(KeyId(a).cmp(&KeyId(b)), a.cmp(&b));
            proptest::prop_assert_eq!(KeyId(b).cmp(&KeyId(a)), b.cmp(&a));
        }
    }

    /// Records keyed by `KeyId` must sort, encode and print as the keys themselves do,
    /// or a reward leaf built from one would not match a claim built from the other.
    #[test]
    fn key_id_agrees_with_public_key() {
        let mut keys: Vec<PublicKey> = (0..50u8)
            .map(|i| Keypair::from_seed(&[i; 32]).public())
            .collect();
        let mut ids: Vec<KeyId> = keys.iter().map(KeyId::from).collect();
        keys.sort();
        ids.sort();
        for (k, id) in keys.iter().zip(&ids) {
            assert_eq!(*id, *k);
            assert_eq!(borsh::to_vec(k).unwrap(), borsh::to_vec(id).unwrap());
            assert_eq!(k.to_did(), id.to_did());
            assert_eq!(id.to_did().parse::<KeyId>().unwrap(), *id);
            assert_eq!(id.to_public().unwrap(), *k);
        }
        // The identity point: a fine identifier, but a weak key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(KeyId(identity).to_public(), Err(KeyParseError::Weak));
    }

    #[test]
    fn did_round_trip_and_strictness() {
        let kp = Keypair::generate();
        let did = kp.public().to_did();
        assert!(did.starts_with("did:key:z6Mk"), "{did}");
        assert_eq!(PublicKey::from_did(&did).unwrap(), kp.public());

        let sig = kp.sign_raw(b"hello");
        assert!(kp.public().verify_raw(b"hello", &sig));
        assert!(!kp.public().verify_raw(b"hellp", &sig));

        // Non-canonical S (S + L) must be refused by strict verification.
        let mut malleated = sig;
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s, l) in malleated.0[32..].iter_mut().zip(l) {
            let v = *s as u16 + l as u16 + carry;
            *s = v as u8;
            carry = v >> 8;
        }
        assert!(!kp.public().verify_raw(b"hello", &malleated));
    }

    #[test]
    fn signature_text_form() {
        let sig = Keypair::generate().sign_raw(b"x");
        let text = hex::encode(sig.0);
        assert_eq!(text.parse::<Signature>().unwrap(), sig);
        let err = "abcd".parse::<Signature>().unwrap_err().to_string();
        assert!(err.contains("128 hex digits, got 4 characters"), "{err}");
    }

    #[test]
    fn rejects_bad_dids() {
        for (input, want) in [
            ("did:web:example.com", "not a did:key"),
            ("did:key:6Mk", "not a did:key"),
            ("did:key:z0OIl", "not valid base58btc"),
            // A secp256k1 did:key (multicodec 0xe7) is not Ed25519.
            (
                "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
                "not an Ed25519 key",
            ),
        ] {
            let err = PublicKey::from_did(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
        // The identity point (a small-order point) is weak.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyParseError::Weak));
    }
}
