//! Cairn's [`Block`] in the engine's terms: codec, digest, height, parent, context.
//!
//! The engine encoding is a fixed 4-byte length followed by the block's canonical Borsh
//! bytes, so it is canonical too (one encoding per block; the Borsh part is checked by
//! re-encoding on decode). The digest is BLAKE3 of the Borsh bytes, the same
//! [`Hash`] the rest of Cairn uses for the block.

use std::sync::Arc;

use bytes::{Buf, BufMut};
use cairn_core::codec::Canonical;
use cairn_core::{Hash, PublicKey};
use cairn_node::block::{Block, ConsensusMeta, MAX_BLOCK_BYTES};
use commonware_codec::{EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::simplex::types::Context;
use commonware_consensus::types::{Epoch, Height, Round, View};
use commonware_consensus::{BoundedBlock, CertifiableBlock, Heightable};
use commonware_cryptography::{Digestible, blake3, ed25519};

/// Block digests as the engine sees them.
pub type Digest = blake3::Digest;
/// The consensus context type.
pub type Ctx = Context<Digest, ed25519::PublicKey>;

pub fn to_digest(h: &Hash) -> Digest {
    blake3::Digest(h.0)
}

pub fn from_digest(d: &Digest) -> Hash {
    Hash(d.0)
}

/// A validator key in the engine's type.
pub fn to_engine_key(key: &PublicKey) -> ed25519::PublicKey {
    use commonware_codec::DecodeExt;
    ed25519::PublicKey::decode(key.as_bytes().to_vec())
        .expect("a Cairn key is a valid ed25519 point")
}

/// A validator key in Cairn's type (`None` for keys Cairn refuses, such as weak keys).
pub fn from_engine_key(key: &ed25519::PublicKey) -> Option<PublicKey> {
    let bytes: [u8; 32] = key.as_ref().try_into().ok()?;
    PublicKey::from_bytes(&bytes).ok()
}

/// The consensus context a block was proposed in, in Cairn's types.
pub fn meta_from_context(ctx: &Ctx) -> Option<ConsensusMeta> {
    Some(ConsensusMeta {
        epoch: ctx.round.epoch().get(),
        view: ctx.round.view().get(),
        parent_view: ctx.parent.0.get(),
        leader: from_engine_key(&ctx.leader)?,
    })
}

/// A block with its encoding and digest computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBlock {
    block: Arc<Block>,
    encoded: Arc<[u8]>,
    digest: Digest,
}

impl ChainBlock {
    pub fn new(block: Block) -> ChainBlock {
        let encoded: Arc<[u8]> = block.encode().into();
        let digest = to_digest(&Hash::of(&encoded));
        ChainBlock {
            block: Arc::new(block),
            encoded,
            digest,
        }
    }

    pub fn block(&self) -> &Block {
        &self.block
    }

    pub fn hash(&self) -> Hash {
        from_digest(&self.digest)
    }
}

impl Write for ChainBlock {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u32_le(self.encoded.len() as u32);
        buf.put_slice(&self.encoded);
    }
}

impl EncodeSize for ChainBlock {
    fn encode_size(&self) -> usize {
        4 + self.encoded.len()
    }
}

impl Read for ChainBlock {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        if buf.remaining() < 4 {
            return Err(CodecError::EndOfBuffer);
        }
        let len = buf.get_u32_le() as usize;
        if len > MAX_BLOCK_BYTES {
            return Err(CodecError::InvalidLength(len));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut bytes = vec![0u8; len];
        buf.copy_to_slice(&mut bytes);
        let block =
            Block::decode(&bytes).map_err(|e| CodecError::Wrapped("cairn block", Box::new(e)))?;
        let digest = to_digest(&Hash::of(&bytes));
        Ok(ChainBlock {
            block: Arc::new(block),
            encoded: bytes.into(),
            digest,
        })
    }
}

impl Digestible for ChainBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for ChainBlock {
    fn height(&self) -> Height {
        Height::new(self.block.height.0)
    }
}

impl commonware_consensus::Block for ChainBlock {
    fn parent(&self) -> Digest {
        to_digest(&self.block.parent)
    }
}

impl CertifiableBlock for ChainBlock {
    type Context = Ctx;

    fn context(&self) -> Ctx {
        let meta = &self.block.consensus;
        Context {
            round: Round::new(Epoch::new(meta.epoch), View::new(meta.view)),
            leader: to_engine_key(&meta.leader),
            parent: (View::new(meta.parent_view), to_digest(&self.block.parent)),
        }
    }
}

impl BoundedBlock for ChainBlock {
    fn max_encode_size(_: &()) -> usize {
        4 + MAX_BLOCK_BYTES
    }
}
