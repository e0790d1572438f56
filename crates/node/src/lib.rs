//! The engine-agnostic parts of a Cairn node.
//!
//! - [`block`]: the block type and its canonical encoding.
//! - [`mempool`]: pending transactions with limits, nonce ordering, dedup and fee priority.
//! - [`store`]: the durable log of applied blocks and state snapshots.
//! - [`node`]: finalized state, the transaction index and the subscription feed.
//! - [`rpc`]: the HTTP + JSON API over a [`node::Node`].
//!
//! Nothing here names the consensus engine; `cairn-chain` adapts it to these types.

pub mod block;
pub mod mempool;
pub mod node;
pub mod rpc;
pub mod store;
