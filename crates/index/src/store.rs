//! The database behind the index: one schema, one set of SQL statements for SQLite and
//! PostgreSQL (through sqlx's `Any` driver), written in batches inside one transaction
//! each, so a cursor and the rows it covers commit together.
//!
//! Portable SQL only: `BIGINT` and `TEXT` columns (token amounts are decimal strings of
//! base units: exact, and ordered by `(LENGTH(x), x)`), `$n` placeholders (SQLite reads
//! `$1` as parameter 1 too), `INSERT … ON CONFLICT … DO UPDATE`, and every aggregate cast
//! to `BIGINT` (PostgreSQL's `SUM` of a `BIGINT` is `NUMERIC`, which `Any` cannot decode).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::{Any, AnyPool, Arguments, Transaction};

use crate::IndexError;

/// The schema's version. A database written by another version is emptied and rebuilt
/// from the chain, the verdict batches and the rewards records (the index derives
/// everything it holds from those).
pub const SCHEMA_VERSION: &str = "cairn-index-v4";

/// Tables in creation order (dropped in reverse).
const TABLES: &[(&str, &str)] = &[
    (
        "cairn_meta",
        "CREATE TABLE IF NOT EXISTS cairn_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (
        "devices",
        "CREATE TABLE IF NOT EXISTS devices (
            did TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            owner TEXT NOT NULL,
            maker TEXT NOT NULL,
            cell TEXT,
            cell15 BIGINT,
            onboarded_height BIGINT NOT NULL,
            onboarded_epoch BIGINT NOT NULL,
            bond TEXT NOT NULL,
            location_moves BIGINT NOT NULL,
            claimed TEXT NOT NULL,
            deny_id BIGINT,
            deny_reason BIGINT,
            deny_status TEXT,
            last_seen_ms BIGINT,
            reputation_ppm BIGINT,
            disqualified BIGINT,
            probation BIGINT,
            last_epoch BIGINT,
            last_valid BIGINT,
            last_invalid BIGINT,
            last_fraud BIGINT,
            last_code BIGINT,
            quality_ppm BIGINT,
            earned TEXT NOT NULL,
            withheld TEXT NOT NULL,
            status TEXT NOT NULL
        )",
    ),
    (
        "accounts",
        "CREATE TABLE IF NOT EXISTS accounts (
            did TEXT PRIMARY KEY,
            tokens TEXT NOT NULL,
            credits TEXT NOT NULL,
            nonce BIGINT NOT NULL,
            locked TEXT NOT NULL,
            vesting TEXT NOT NULL,
            claimed TEXT NOT NULL,
            earned TEXT NOT NULL
        )",
    ),
    (
        "blocks",
        "CREATE TABLE IF NOT EXISTS blocks (
            height BIGINT PRIMARY KEY,
            digest TEXT NOT NULL,
            time_ms BIGINT NOT NULL,
            txs BIGINT NOT NULL
        )",
    ),
    (
        "txs",
        "CREATE TABLE IF NOT EXISTS txs (
            hash TEXT PRIMARY KEY,
            height BIGINT NOT NULL,
            idx BIGINT NOT NULL,
            sender TEXT NOT NULL,
            kind TEXT NOT NULL,
            fee TEXT NOT NULL,
            time_ms BIGINT NOT NULL
        )",
    ),
    (
        "verdicts",
        "CREATE TABLE IF NOT EXISTS verdicts (
            did TEXT NOT NULL,
            epoch BIGINT NOT NULL,
            seq BIGINT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            valid BIGINT NOT NULL,
            code BIGINT,
            detail TEXT NOT NULL,
            score_ppm BIGINT,
            measured TEXT NOT NULL,
            PRIMARY KEY (did, epoch, seq)
        )",
    ),
    (
        "device_epochs",
        "CREATE TABLE IF NOT EXISTS device_epochs (
            did TEXT NOT NULL,
            epoch BIGINT NOT NULL,
            valid BIGINT NOT NULL,
            invalid BIGINT NOT NULL,
            top_code BIGINT,
            earned TEXT NOT NULL,
            withheld TEXT NOT NULL,
            PRIMARY KEY (did, epoch)
        )",
    ),
    (
        "epochs",
        "CREATE TABLE IF NOT EXISTS epochs (
            epoch BIGINT PRIMARY KEY,
            start_ms BIGINT NOT NULL,
            end_ms BIGINT NOT NULL,
            judged BIGINT NOT NULL,
            verdicts_valid BIGINT NOT NULL,
            verdicts_invalid BIGINT NOT NULL,
            devices_judged BIGINT NOT NULL,
            reports BIGINT NOT NULL,
            rewarded BIGINT NOT NULL,
            devices_paid BIGINT,
            emission TEXT,
            paid TEXT,
            withheld TEXT,
            unallocated TEXT,
            unallocated_burned TEXT,
            recipients BIGINT,
            pools TEXT,
            top_earners TEXT,
            released TEXT,
            forfeited TEXT,
            manifest_hash TEXT,
            manifest_root TEXT,
            accepted_height BIGINT,
            signers TEXT,
            economics TEXT
        )",
    ),
    (
        "epoch_reasons",
        "CREATE TABLE IF NOT EXISTS epoch_reasons (
            epoch BIGINT NOT NULL,
            kind TEXT NOT NULL,
            code BIGINT NOT NULL,
            verdicts BIGINT NOT NULL,
            devices BIGINT NOT NULL,
            PRIMARY KEY (epoch, kind, code)
        )",
    ),
    (
        "penalties",
        "CREATE TABLE IF NOT EXISTS penalties (
            epoch BIGINT NOT NULL,
            did TEXT NOT NULL,
            kind TEXT NOT NULL,
            amount TEXT NOT NULL,
            PRIMARY KEY (epoch, did, kind)
        )",
    ),
    (
        "usage",
        "CREATE TABLE IF NOT EXISTS usage (
            epoch BIGINT NOT NULL,
            did TEXT NOT NULL,
            kind TEXT NOT NULL,
            credits TEXT NOT NULL,
            tokens TEXT NOT NULL,
            PRIMARY KEY (epoch, did)
        )",
    ),
    (
        "proposals",
        "CREATE TABLE IF NOT EXISTS proposals (
            id BIGINT PRIMARY KEY,
            proposer TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            start_height BIGINT NOT NULL,
            voting_end BIGINT NOT NULL,
            deposit TEXT NOT NULL,
            tally TEXT NOT NULL,
            detail TEXT NOT NULL
        )",
    ),
    (
        "votes",
        "CREATE TABLE IF NOT EXISTS votes (
            proposal BIGINT NOT NULL,
            voter TEXT NOT NULL,
            choice TEXT NOT NULL,
            weight TEXT NOT NULL,
            PRIMARY KEY (proposal, voter)
        )",
    ),
    (
        "denylist",
        "CREATE TABLE IF NOT EXISTS denylist (
            id BIGINT PRIMARY KEY,
            targets TEXT NOT NULL,
            reason BIGINT NOT NULL,
            status TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            appeal_until BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            reporter TEXT NOT NULL,
            appeal_proposal BIGINT
        )",
    ),
    // Staging tables: bulk rows land here, then one `UPDATE … FROM` applies them.
    (
        "verdict_stage",
        "CREATE TABLE IF NOT EXISTS verdict_stage (
            did TEXT NOT NULL,
            epoch BIGINT,
            valid BIGINT,
            invalid BIGINT,
            fraud BIGINT,
            code BIGINT,
            quality_ppm BIGINT,
            reputation_ppm BIGINT,
            disqualified BIGINT,
            probation BIGINT
        )",
    ),
    (
        "earnings_stage",
        "CREATE TABLE IF NOT EXISTS earnings_stage (
            did TEXT NOT NULL,
            earned TEXT NOT NULL,
            withheld TEXT NOT NULL
        )",
    ),
    (
        "device_stage",
        "CREATE TABLE IF NOT EXISTS device_stage (did TEXT NOT NULL)",
    ),
    (
        "seen_stage",
        "CREATE TABLE IF NOT EXISTS seen_stage (did TEXT NOT NULL, last_seen_ms BIGINT NOT NULL)",
    ),
    (
        "params",
        "CREATE TABLE IF NOT EXISTS params (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            unit TEXT NOT NULL,
            description TEXT NOT NULL
        )",
    ),
];

const INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS devices_cell ON devices (cell15)",
    "CREATE INDEX IF NOT EXISTS devices_owner ON devices (owner, did)",
    "CREATE INDEX IF NOT EXISTS devices_kind_status ON devices (kind, status, did)",
    "CREATE INDEX IF NOT EXISTS devices_status ON devices (status, did)",
    "CREATE INDEX IF NOT EXISTS devices_kind ON devices (kind, did)",
    "CREATE INDEX IF NOT EXISTS penalties_did ON penalties (did, epoch)",
    "CREATE INDEX IF NOT EXISTS txs_sender ON txs (sender, height)",
    "CREATE INDEX IF NOT EXISTS verdicts_epoch ON verdicts (epoch)",
    "CREATE INDEX IF NOT EXISTS verdicts_code ON verdicts (code, kind, did)",
    "CREATE INDEX IF NOT EXISTS device_epochs_epoch ON device_epochs (epoch)",
];

/// Which database the index lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(i64),
    Text(String),
    Null,
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<u64> for Val {
    fn from(v: u64) -> Val {
        // Heights, epochs, times and counts stay far below 2^63.
        Val::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Val {
    fn from(v: u32) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<u16> for Val {
    fn from(v: u16) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_owned())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// A statement for sqlx. Every statement here is built from constant text, column names
/// and `$n` placeholders; values from requests are always bound, never spliced in.
pub(crate) fn sql(text: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text.to_owned())
}

pub(crate) fn bind_all(args: &mut AnyArguments, values: &[Val]) -> Result<(), IndexError> {
    for v in values {
        match v {
            Val::Int(i) => args.add(*i),
            Val::Text(s) => args.add(s.clone()),
            Val::Null => args.add(None::<i64>),
        }
        .map_err(|e| IndexError::Database(format!("binding a value: {e}")))?;
    }
    Ok(())
}

/// The connection pool and what it talks to.
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Open `url`: `sqlite://PATH` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, IndexError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(IndexError::Config(format!(
                "unsupported index database `{}`: use sqlite://PATH or postgres://…",
                redact(url)
            )));
        };
        let url = match backend {
            // Create the file when it is missing; WAL lets readers run beside the writer.
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                            // Device ids are random, so every index takes writes all over:
                            // a 64 MiB page cache per connection keeps them in memory.
                            "PRAGMA cache_size = -65536",
                            "PRAGMA temp_store = MEMORY",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| {
                IndexError::Database(format!(
                    "cannot open the index database {}: {e}",
                    redact(&url)
                ))
            })?;
        Ok(Db { pool, backend })
    }

    /// Open the SQLite file at `path`.
    pub async fn sqlite(path: &Path) -> Result<Db, IndexError> {
        Db::connect(&format!("sqlite://{}", path.display())).await
    }

    /// Create the schema, or rebuild it if another version wrote it. Returns whether the
    /// tables were (re)created empty.
    pub async fn migrate(&self) -> Result<bool, IndexError> {
        sqlx::query(TABLES[0].1).execute(&self.pool).await?;
        let version = self.meta("schema").await?;
        let fresh = version.as_deref() != Some(SCHEMA_VERSION);
        if fresh {
            if let Some(v) = &version {
                tracing::warn!(found = %v, want = SCHEMA_VERSION, "index schema changed: rebuilding the index");
            }
            let mut tx = self.pool.begin().await?;
            for (name, _) in TABLES.iter().rev() {
                sqlx::query(sql(&format!("DROP TABLE IF EXISTS {name}")))
                    .execute(&mut *tx)
                    .await?;
            }
            for (_, create) in TABLES {
                sqlx::query(sql(create)).execute(&mut *tx).await?;
            }
            for index in INDEXES {
                sqlx::query(sql(index)).execute(&mut *tx).await?;
            }
            set_meta(&mut tx, "schema", SCHEMA_VERSION).await?;
            tx.commit().await?;
        }
        Ok(fresh)
    }

    /// Drop every table of the index (`--fresh`, tests); the next [`Db::migrate`]
    /// creates them empty.
    pub async fn reset(&self) -> Result<(), IndexError> {
        let mut tx = self.pool.begin().await?;
        for (name, _) in TABLES.iter().rev() {
            sqlx::query(sql(&format!("DROP TABLE IF EXISTS {name}")))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn meta(&self, name: &str) -> Result<Option<String>, IndexError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM cairn_meta WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// Whether a device row exists: one primary-key read (`cairn bench api`'s floor).
    pub async fn device_row_exists(&self, did: &str) -> Result<bool, IndexError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT did FROM devices WHERE did = $1")
            .bind(did.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    pub async fn meta_u64(&self, name: &str) -> Result<Option<u64>, IndexError> {
        match self.meta(name).await? {
            None => Ok(None),
            Some(v) => u64::from_str(&v).map(Some).map_err(|_| {
                IndexError::Database(format!("index meta `{name}` is not a number: {v}"))
            }),
        }
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Any>, IndexError> {
        Ok(self.pool.begin().await?)
    }
}

pub(crate) async fn set_meta(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    value: &str,
) -> Result<(), IndexError> {
    sqlx::query(
        "INSERT INTO cairn_meta (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name.to_owned())
    .bind(value.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Run one statement with `values` bound.
pub(crate) async fn exec(
    tx: &mut Transaction<'_, Any>,
    statement: &str,
    values: &[Val],
) -> Result<u64, IndexError> {
    let mut args = AnyArguments::default();
    bind_all(&mut args, values)?;
    let done = sqlx::query_with(sql(statement), args)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// Insert `rows` into `table` (`columns` in order) in multi-row statements; `conflict` is
/// appended to each (an `ON CONFLICT …` clause, or empty).
///
/// SQLite gets `?` placeholders here: sqlx names each bound parameter through
/// `sqlite3_bind_parameter_name`, which walks the statement's list of named parameters, so
/// binding thousands of `$n` parameters costs their square (it was two thirds of the time
/// to index 100,000 devices); anonymous ones are not in that list.
pub(crate) async fn insert_many(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Val>],
    conflict: &str,
) -> Result<(), IndexError> {
    // SQLite allows 32,766 bound values per statement and PostgreSQL 65,535.
    let per = (30_000 / columns.len()).clamp(1, 500);
    for chunk in rows.chunks(per) {
        let mut text = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        let mut args = AnyArguments::default();
        for (i, row) in chunk.iter().enumerate() {
            debug_assert_eq!(row.len(), columns.len());
            if i > 0 {
                text.push_str(", ");
            }
            text.push('(');
            for j in 0..row.len() {
                if j > 0 {
                    text.push_str(", ");
                }
                n += 1;
                match backend {
                    Backend::Sqlite => text.push('?'),
                    Backend::Postgres => text.push_str(&format!("${n}")),
                }
            }
            text.push(')');
            bind_all(&mut args, row)?;
        }
        text.push(' ');
        text.push_str(conflict);
        sqlx::query_with(sql(&text), args)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// `ON CONFLICT (keys) DO UPDATE SET c = excluded.c` for every column not in `keys`.
pub(crate) fn upsert(keys: &[&str], columns: &[&str]) -> String {
    let sets: Vec<String> = columns
        .iter()
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "ON CONFLICT ({}) DO UPDATE SET {}",
        keys.join(", "),
        sets.join(", ")
    )
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://cairn:secret@127.0.0.1/cairn"),
            "postgres://cairn:***@127.0.0.1/cairn"
        );
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(
            redact("postgres://cairn@host/db"),
            "postgres://cairn@host/db"
        );
    }

    #[test]
    fn upserts_update_every_other_column() {
        assert_eq!(
            upsert(&["a"], &["a", "b", "c"]),
            "ON CONFLICT (a) DO UPDATE SET b = excluded.b, c = excluded.c"
        );
    }
}
