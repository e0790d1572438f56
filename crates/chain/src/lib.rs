//! Cairn's consensus adapter: the only crate that names commonware types.
//!
//! Cairn does not implement consensus. Validators run commonware's `simplex` (BFT: a block
//! in two network hops, finality in three) with `marshal` delivering finalized blocks in
//! height order. This crate adapts Cairn's engine-agnostic pieces (`cairn-node`'s block,
//! mempool and node; `cairn-ledger`'s state machine) to that engine:
//!
//! - [`block`]: the block's engine codec, digest and embedded consensus context;
//! - [`application`]: propose / verify / apply-finalized, and per-validator activity;
//! - [`faults`]: consensus fault evidence in the ledger's terms, so anyone can prove it;
//! - [`engine`]: wiring of simplex, marshal, block broadcast, backfill and tx gossip on any
//!   commonware runtime and p2p network;
//! - [`net`]: real validators on the tokio runtime over authenticated TCP.
//!
//! commonware's APIs change monthly; keeping every engine type in here keeps that churn in
//! one place.

pub mod application;
pub mod block;
pub mod engine;
pub mod faults;
pub mod net;
