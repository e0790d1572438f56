//! The index: Cairn's read model for the explorer and the REST API.
//!
//! A node's indexer feeds it from what the network already made durable — finalized
//! blocks and the ledger state they produced, each epoch's verdict batch and each
//! epoch's rewards record — and it answers the explorer's questions in milliseconds:
//! network figures, devices by H3 cell, a device's verdicts with reason codes, its
//! earnings per epoch and what it still needs to be paid, accounts, epochs and their
//! manifests, usage, governance, the denylist.
//!
//! - [`store`]: one schema and one set of SQL statements for SQLite (embedded, the
//!   default) and PostgreSQL (by configuration), through sqlx's `Any` driver;
//! - [`ledger`]: rows from the difference between two ledger states;
//! - [`write`]: each update is one transaction with its cursor;
//! - [`query`]: the answers, as JSON-ready structures;
//! - [`api`]: the routes (`/v1/index/…`) and their errors;
//! - [`cell`]: H3 parents and descendant ranges as integer arithmetic the database runs;
//! - [`synth`]: a seeded synthetic network of any size, for benchmarks and tests.
//!
//! Nothing here feeds a state root, a verdict or a payout: the index is derived and can
//! be rebuilt from the chain and the files at any time.

pub mod api;
pub mod cell;
pub mod ledger;
pub mod query;
pub mod store;
pub mod synth;
pub mod write;

pub use ledger::{BlockFacts, LedgerDelta, TxFacts, delta};
pub use store::{Backend, Db};
pub use write::LiveFacts;

/// Why the index could not do something.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index database: {0}")]
    Database(String),
    #[error("index configuration: {0}")]
    Config(String),
}

impl From<sqlx::Error> for IndexError {
    fn from(e: sqlx::Error) -> Self {
        IndexError::Database(e.to_string())
    }
}

/// How far the index has read each source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Cursors {
    /// Finalized blocks and ledger state up to this height.
    pub height: u64,
    /// Verdict batches up to this epoch.
    pub verdict_epoch: u64,
    /// Rewards records up to this epoch.
    pub rewards_epoch: u64,
}

/// The index: a database and the queries on it.
#[derive(Debug, Clone)]
pub struct Index {
    pub db: Db,
}

impl Index {
    /// Open (and create or upgrade) the index at `url`: `sqlite://PATH` or
    /// `postgres://USER:PASSWORD@HOST/DB`.
    pub async fn open(url: &str) -> Result<Index, IndexError> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(Index { db })
    }

    /// Tie the index to one chain, named by its genesis block's digest: an index written
    /// for another chain (a devnet started afresh, another network) is emptied first.
    /// Returns whether it was.
    pub async fn bind_chain(&self, chain: &str) -> Result<bool, IndexError> {
        let other = match self.db.meta("chain").await? {
            Some(c) if c == chain => return Ok(false),
            Some(_) => {
                self.db.reset().await?;
                self.db.migrate().await?;
                true
            }
            None => false,
        };
        let mut tx = self.db.begin().await?;
        store::set_meta(&mut tx, "chain", chain).await?;
        tx.commit().await?;
        Ok(other)
    }

    pub async fn cursors(&self) -> Result<Cursors, IndexError> {
        Ok(Cursors {
            height: self.db.meta_u64("height").await?.unwrap_or(0),
            verdict_epoch: self.db.meta_u64("verdict_epoch").await?.unwrap_or(0),
            rewards_epoch: self.db.meta_u64("rewards_epoch").await?.unwrap_or(0),
        })
    }
}
