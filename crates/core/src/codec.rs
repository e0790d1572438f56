//! The canonical encoding: Borsh, decoded only with a size limit and only if canonical.
//!
//! Everything Cairn hashes or signs is Borsh-encoded. Borsh has one encoding per value
//! (fixed-width little-endian integers, length-prefixed sequences, tagged enums), so the
//! hash of a value is well defined. Decoding is defensive: the input length is checked
//! against a limit before any work, trailing bytes are rejected, and the decoded value is
//! re-encoded and compared byte for byte, so two different byte strings never decode to
//! the same value (no malleability of anything that is hashed).

use borsh::{BorshDeserialize, BorshSerialize};

use crate::hash::Hash;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what}: input of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("{what}: malformed encoding: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("{what}: non-canonical encoding (re-encoding gives different bytes)")]
    NonCanonical { what: &'static str },
}

/// A type with a canonical encoding, a name for error messages and a decode size limit.
pub trait Canonical: BorshSerialize + BorshDeserialize {
    /// Human-readable name used in errors ("transaction", "block").
    const NAME: &'static str;
    /// The largest encoding accepted by [`Canonical::decode`].
    const MAX_ENCODED_LEN: usize;

    /// The canonical bytes.
    fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decode, enforcing the size limit and canonicality.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_limited(bytes, Self::MAX_ENCODED_LEN, Self::NAME)
    }

    /// BLAKE3 of the canonical bytes.
    fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }
}

/// Canonical bytes of any Borsh value.
pub fn encode<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail; Borsh only errors on I/O.
    borsh::to_vec(value).expect("borsh encoding into memory is infallible")
}

/// Decode `bytes` as `T`, at most `limit` bytes long, all bytes consumed, canonical.
pub fn decode_limited<T: BorshSerialize + BorshDeserialize>(
    bytes: &[u8],
    limit: usize,
    what: &'static str,
) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    let value: T = borsh::from_slice(bytes).map_err(|e| DecodeError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, BorshSerialize, BorshDeserialize)]
    struct Sample {
        a: u32,
        b: Vec<u8>,
        c: bool,
    }
    impl Canonical for Sample {
        const NAME: &'static str = "sample";
        const MAX_ENCODED_LEN: usize = 64;
    }

    #[test]
    fn round_trip_and_limits() {
        let s = Sample {
            a: 7,
            b: vec![1, 2, 3],
            c: true,
        };
        let bytes = s.encode();
        assert_eq!(Sample::decode(&bytes).unwrap(), s);

        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Sample::decode(&trailing),
            Err(DecodeError::Malformed { .. })
        ));

        let big = Sample {
            a: 0,
            b: vec![0; 100],
            c: false,
        };
        let err = Sample::decode(&big.encode()).unwrap_err();
        assert!(
            err.to_string().contains("exceeds the limit of 64 bytes"),
            "{err}"
        );

        // A bool byte of 2 is not a valid encoding.
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() = 2;
        assert!(Sample::decode(&bad).is_err());

        // A huge declared length must not allocate or panic.
        let mut lie = 7u32.to_le_bytes().to_vec();
        lie.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Sample::decode(&lie).is_err());
    }
}
