//! Cairn's core types, shared by every other crate.
//!
//! - [`keys`]: Ed25519 keys with strict verification, shown and parsed as `did:key`.
//! - [`keyfile`]: private keys addressed by URI (`file:///…`), stored with mode 0600.
//! - [`codec`]: the one canonical binary encoding (Borsh) for everything hashed or signed,
//!   with size-limited, canonical-only decoding.
//! - [`envelope`]: signatures domain-separated by network id and message type.
//! - [`amount`]: exact `u128` token and credit amounts, decimal strings at the edges.
//! - [`location`], [`time`]: H3 cells, epochs and block heights.
//! - [`merkle`]: a BLAKE3 binary Merkle tree with inclusion proofs.
//!
//! Nothing here touches the clock, the network or floating point.
#![deny(clippy::float_arithmetic)]

pub mod amount;
pub mod codec;
pub mod envelope;
pub mod hash;
pub mod keyfile;
pub mod keys;
pub mod location;
pub mod merkle;
pub mod network;
pub mod time;

pub use amount::{AmountError, Credits, Tokens};
pub use codec::{Canonical, DecodeError};
pub use envelope::{Signed, SignedMessage};
pub use hash::Hash;
pub use keyfile::{KeyError, KeyUri};
pub use keys::{KeyId, KeyParseError, Keypair, PublicKey, Signature, SignatureError};
pub use location::Location;
pub use merkle::{MerkleProof, MerkleTree};
pub use network::NetworkId;
pub use time::{Epoch, Height};
