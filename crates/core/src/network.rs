//! The network id: which Cairn network a message belongs to.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A network id such as `cairn-devnet` or `acme-mainnet`: 1 to 32 characters of `a-z`,
/// `0-9` and `-`. It is part of every signed message's domain, so a signature made for one
/// network is worthless on another.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize)]
pub struct NetworkId(String);

/// Why a string is not a network id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network id {input:?}: use 1 to 32 characters of a-z, 0-9 and '-'")]
pub struct NetworkIdError {
    input: String,
}

impl NetworkId {
    pub const MAX_LEN: usize = 32;

    pub fn new(s: &str) -> Result<Self, NetworkIdError> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(NetworkId(s.to_owned()))
        } else {
            Err(NetworkIdError {
                input: s.chars().take(64).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl BorshDeserialize for NetworkId {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let s = String::deserialize_reader(reader)?;
        NetworkId::new(&s).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

impl FromStr for NetworkId {
    type Err = NetworkIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NetworkId::new(s)
    }
}

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkId({})", self.0)
    }
}

impl Serialize for NetworkId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NetworkId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        NetworkId::new(&<String as Deserialize>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(NetworkId::new("cairn-devnet").is_ok());
        for bad in ["", "Cairn", "a b", "x".repeat(33).as_str(), "net/1"] {
            let err = NetworkId::new(bad).unwrap_err();
            assert!(err.to_string().contains("invalid network id"));
        }
        let bytes = borsh::to_vec(&"BAD".to_string()).unwrap();
        assert!(borsh::from_slice::<NetworkId>(&bytes).is_err());
    }
}
