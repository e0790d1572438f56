//! Reading the index: every answer the API gives, built from a few indexed queries.
//! Amounts leave as decimal token (or credit) strings, reason codes with their name and
//! plain-words explanation.

use std::collections::BTreeMap;

use cairn_core::{Credits, Tokens};
use cairn_verify::ReasonCode;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::{AnyArguments, AnyRow};

use crate::cell;
use crate::store::{Val, bind_all, sql};
use crate::write::OFFLINE_AFTER_EPOCHS;
use crate::{Index, IndexError};

/// The largest page any list answers.
pub const MAX_LIMIT: u64 = 500;
/// Verdicts shown on a device's page.
pub const DEVICE_VERDICTS: u64 = 200;
/// Epochs in a device's earnings timeline.
pub const DEVICE_EPOCHS: u64 = 240;
/// Map cells at most (a resolution finer than the devices' spread needs is refused).
pub const MAX_MAP_CELLS: usize = 50_000;

pub const KINDS: [&str; 4] = ["coverage", "storage", "compute", "sensor"];
pub const STATUSES: [&str; 5] = ["active", "failing", "denylisted", "offline", "pending"];

/// A request the index cannot answer as asked (the API's 4xx).
#[derive(Debug)]
pub enum QueryError {
    BadRequest(&'static str, String),
    NotFound(String),
    Index(IndexError),
}

impl From<IndexError> for QueryError {
    fn from(e: IndexError) -> Self {
        QueryError::Index(e)
    }
}

impl From<sqlx::Error> for QueryError {
    fn from(e: sqlx::Error) -> Self {
        QueryError::Index(e.into())
    }
}

type Answer = Result<Value, QueryError>;

fn tok(units: &str) -> String {
    units
        .parse::<u128>()
        .map(|u| Tokens::from_base_units(u).to_string())
        .unwrap_or_else(|_| units.to_owned())
}

fn cred(units: &str) -> String {
    units
        .parse::<u128>()
        .map(|u| Credits::from_base_units(u).to_string())
        .unwrap_or_else(|_| units.to_owned())
}

fn base(units: &str) -> u128 {
    units.parse().unwrap_or(0)
}

fn reason_json(code: Option<i64>) -> (Value, Value, Value) {
    match code.and_then(|c| u16::try_from(c).ok()) {
        None => (Value::Null, Value::Null, Value::Null),
        Some(c) => match ReasonCode::from_code(c) {
            Some(r) => (r.name().into(), c.into(), r.explain().into()),
            None => (format!("reason_{c}").into(), c.into(), Value::Null),
        },
    }
}

fn reason_name(code: Option<i64>) -> Value {
    reason_json(code).0
}

fn i(row: &AnyRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

fn s(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}

fn s0(row: &AnyRow, col: &str) -> String {
    s(row, col).unwrap_or_default()
}

fn parse_json(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// Check a page size: 1..=MAX_LIMIT, `default` when absent.
pub fn limit(asked: Option<u64>, default: u64) -> Result<u64, QueryError> {
    match asked {
        None => Ok(default),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(QueryError::BadRequest(
            "bad_limit",
            format!("limit {n} is out of range: ask for 1 to {MAX_LIMIT} items a page"),
        )),
    }
}

/// Check a device or account id: a `did:key`.
pub fn did(text: &str, what: &str) -> Result<String, QueryError> {
    cairn_core::PublicKey::from_did(text)
        .map(|k| k.to_did())
        .map_err(|e| QueryError::BadRequest("bad_did", format!("invalid {what} id: {e}")))
}

impl Index {
    async fn rows(&self, text: &str, values: &[Val]) -> Result<Vec<AnyRow>, QueryError> {
        let mut args = AnyArguments::default();
        bind_all(&mut args, values)?;
        Ok(sqlx::query_with(sql(text), args)
            .fetch_all(&self.db.pool)
            .await?)
    }

    async fn row(&self, text: &str, values: &[Val]) -> Result<Option<AnyRow>, QueryError> {
        let mut args = AnyArguments::default();
        bind_all(&mut args, values)?;
        Ok(sqlx::query_with(sql(text), args)
            .fetch_optional(&self.db.pool)
            .await?)
    }

    async fn meta_json(&self, name: &str) -> Result<Value, QueryError> {
        Ok(parse_json(self.db.meta(name).await?))
    }

    /// `GET /v1/index/stats`
    pub async fn stats(&self) -> Answer {
        let ledger = self.meta_json("ledger").await?;
        let live = self.meta_json("live").await?;
        let cursors = self.cursors().await?;
        let duration = ledger["epoch_duration_ms"]
            .as_u64()
            .unwrap_or(60_000)
            .max(1);
        let genesis = ledger["genesis_time_ms"].as_u64().unwrap_or(0);
        let time = ledger["time_ms"].as_u64().unwrap_or(0);
        let epoch = time.saturating_sub(genesis) / duration + 1;

        let mut by_kind = serde_json::Map::new();
        for k in KINDS {
            let mut m = serde_json::Map::new();
            for st in STATUSES {
                m.insert(st.into(), 0.into());
            }
            by_kind.insert(k.into(), Value::Object(m));
        }
        let mut total = 0i64;
        for r in self
            .rows(
                "SELECT kind, status, CAST(COUNT(*) AS BIGINT) AS n FROM devices GROUP BY kind, status",
                &[],
            )
            .await?
        {
            let n = i(&r, "n").unwrap_or(0);
            total += n;
            if let Some(Value::Object(m)) = by_kind.get_mut(&s0(&r, "kind")) {
                m.insert(s0(&r, "status"), n.into());
            }
        }

        let mut epochs = Vec::new();
        for r in self
            .rows(
                "SELECT epoch, verdicts_valid, verdicts_invalid, emission, economics, recipients,
                        judged, rewarded, devices_paid
                 FROM epochs ORDER BY epoch DESC LIMIT 60",
                &[],
            )
            .await?
            .iter()
            .rev()
        {
            let econ = parse_json(s(r, "economics"));
            epochs.push(json!({
                "epoch": i(r, "epoch"),
                "judged": i(r, "judged") == Some(1),
                "rewarded": i(r, "rewarded") == Some(1),
                "emitted": s(r, "emission").map(|e| tok(&e)),
                "burned_for_credits": econ["tokens_burned_for_credits"],
                "credits_minted": econ["credits_minted"],
                "usage_credits": econ["usage_credits"],
                "demand_coverage_ppm": econ["demand_coverage_ppm"].as_str()
                    .and_then(|p| p.parse::<u64>().ok()),
                "valid": i(r, "verdicts_valid"),
                "invalid": i(r, "verdicts_invalid"),
                "paid_devices": i(r, "devices_paid").unwrap_or(0),
            }));
        }

        let mut fraud = Vec::new();
        for r in self
            .rows(
                "SELECT kind, code, CAST(SUM(verdicts) AS BIGINT) AS n FROM epoch_reasons
                 GROUP BY kind, code",
                &[],
            )
            .await?
        {
            let code = i(&r, "code");
            let fraudulent = code
                .and_then(|c| u16::try_from(c).ok())
                .and_then(ReasonCode::from_code)
                .is_some_and(|c| c.is_fraud());
            if !fraudulent {
                continue;
            }
            let devices = self
                .rows(
                    "SELECT DISTINCT did FROM verdicts WHERE code = $1 AND kind = $2 ORDER BY did",
                    &[code.into(), s0(&r, "kind").into()],
                )
                .await?;
            let (name, c, text) = reason_json(code);
            fraud.push(json!({
                "kind": s0(&r, "kind"),
                "reason": name,
                "code": c,
                "explanation": text,
                "verdicts": i(&r, "n"),
                "devices": devices.len(),
                "device_list": devices.iter().take(50).map(|d| s0(d, "did")).collect::<Vec<_>>(),
            }));
        }
        fraud.sort_by(|a, b| {
            b["devices"]
                .as_u64()
                .cmp(&a["devices"].as_u64())
                .then(a["code"].as_u64().cmp(&b["code"].as_u64()))
        });

        let live = if live.is_null() {
            Value::Null
        } else {
            json!({
                "sessions_open": live["sessions_open"],
                "reports_per_s": live["reports_per_s_milli"].as_u64().map(|m| m as f64 / 1000.0),
                "updated_ms": live["updated_ms"],
            })
        };
        let supply = &ledger["supply"];
        Ok(json!({
            "network": ledger["network"],
            "height": ledger["height"],
            "time_ms": ledger["time_ms"],
            "epoch": epoch,
            "epoch_duration_ms": duration,
            "indexed": cursors,
            "live": live,
            "devices": {"total": total, "by_kind": by_kind},
            "supply": {
                "total": supply["genesis"].as_str().and_then(|g| {
                    let g: Tokens = g.parse().ok()?;
                    let m: Tokens = supply["minted"].as_str()?.parse().ok()?;
                    let b: Tokens = supply["burned"].as_str()?.parse().ok()?;
                    Some(g.checked_add(m)?.checked_sub(b)?.to_string())
                }),
                "minted": supply["minted"],
                "burned": supply["burned"],
                "treasury": supply["treasury"],
                "escrow": supply["escrow"],
            },
            "epochs": epochs,
            "fraud": fraud,
        }))
    }

    /// `GET /v1/index/map?res=R`
    pub async fn map(&self, res: u8) -> Answer {
        if !cell::MAP_RES.contains(&res) {
            return Err(QueryError::BadRequest(
                "bad_resolution",
                format!(
                    "resolution {res} is out of range: the map groups devices at {} to {}",
                    cell::MAP_RES.start(),
                    cell::MAP_RES.end()
                ),
            ));
        }
        let (and, or) = cell::parent_masks(res);
        let rows = self
            .rows(
                "SELECT (cell15 & $1) | $2 AS c,
                    CAST(COUNT(*) AS BIGINT) AS devices,
                    CAST(SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END) AS BIGINT) AS active,
                    CAST(SUM(CASE WHEN status = 'failing' THEN 1 ELSE 0 END) AS BIGINT) AS failing,
                    CAST(SUM(CASE WHEN status = 'denylisted' THEN 1 ELSE 0 END) AS BIGINT) AS denylisted,
                    CAST(SUM(CASE WHEN status = 'offline' THEN 1 ELSE 0 END) AS BIGINT) AS offline,
                    CAST(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS BIGINT) AS pending,
                    CAST(SUM(CASE WHEN kind = 'coverage' THEN 1 ELSE 0 END) AS BIGINT) AS k_coverage,
                    CAST(SUM(CASE WHEN kind = 'storage' THEN 1 ELSE 0 END) AS BIGINT) AS k_storage,
                    CAST(SUM(CASE WHEN kind = 'compute' THEN 1 ELSE 0 END) AS BIGINT) AS k_compute,
                    CAST(SUM(CASE WHEN kind = 'sensor' THEN 1 ELSE 0 END) AS BIGINT) AS k_sensor,
                    CAST(AVG(quality_ppm) AS BIGINT) AS quality
                 FROM devices WHERE cell15 IS NOT NULL GROUP BY 1 ORDER BY 1",
                &[and.into(), or.into()],
            )
            .await?;
        if rows.len() > MAX_MAP_CELLS {
            return Err(QueryError::BadRequest(
                "too_many_cells",
                format!(
                    "{} cells at resolution {res}: more than the {MAX_MAP_CELLS} a map answer holds; ask for a coarser resolution",
                    rows.len()
                ),
            ));
        }
        let mut cells = Vec::with_capacity(rows.len());
        let (mut lo, mut hi) = ([90.0f64, 180.0f64], [-90.0f64, -180.0f64]);
        for r in &rows {
            let Some(c) = i(r, "c").and_then(cell::from_stored) else {
                continue;
            };
            let boundary = cell::boundary(c);
            for p in &boundary {
                lo = [lo[0].min(p[0]), lo[1].min(p[1])];
                hi = [hi[0].max(p[0]), hi[1].max(p[1])];
            }
            let mut kinds = serde_json::Map::new();
            for k in KINDS {
                let n = i(r, &format!("k_{k}")).unwrap_or(0);
                if n > 0 {
                    kinds.insert(k.into(), n.into());
                }
            }
            cells.push(json!({
                "cell": c.to_string(),
                "devices": i(r, "devices"),
                "active": i(r, "active"),
                "failing": i(r, "failing"),
                "denylisted": i(r, "denylisted"),
                "offline": i(r, "offline"),
                "pending": i(r, "pending"),
                "quality_ppm": i(r, "quality"),
                "kinds": kinds,
                "center": cell::center(c),
                "boundary": boundary,
            }));
        }
        let bounds = if cells.is_empty() {
            Value::Null
        } else {
            json!([lo, hi])
        };
        Ok(json!({"res": res, "cells": cells, "bounds": bounds}))
    }

    const SUMMARY: &'static str = "did, kind, owner, status, cell, last_seen_ms, reputation_ppm,
        quality_ppm, earned, withheld, last_epoch, last_code";

    fn summary(r: &AnyRow) -> Value {
        json!({
            "did": s0(r, "did"),
            "kind": s0(r, "kind"),
            "owner": s0(r, "owner"),
            "status": s0(r, "status"),
            "cell": s(r, "cell"),
            "last_seen_ms": i(r, "last_seen_ms"),
            "reputation_ppm": i(r, "reputation_ppm"),
            "quality_ppm": i(r, "quality_ppm"),
            "earned": tok(&s0(r, "earned")),
            "withheld": tok(&s0(r, "withheld")),
            "last_epoch": i(r, "last_epoch"),
            "last_reason": reason_name(i(r, "last_code")),
        })
    }

    /// `GET /v1/index/cells/{cell}`
    pub async fn cell(&self, text: &str, limit: u64, after: Option<&str>) -> Answer {
        let c = cell::parse(text).map_err(|m| QueryError::BadRequest("bad_cell", m))?;
        let (lo, hi) = cell::descendant_range(c);
        let after = after.map(|a| did(a, "`after` device")).transpose()?;
        let rows = self
            .rows(
                &format!(
                    "SELECT {} FROM devices WHERE cell15 >= $1 AND cell15 <= $2 AND did > $3
                     ORDER BY did LIMIT $4",
                    Self::SUMMARY
                ),
                &[
                    lo.into(),
                    hi.into(),
                    after.unwrap_or_default().into(),
                    (limit + 1).into(),
                ],
            )
            .await?;
        let (devices, next) = page(&rows, limit, Self::summary, |r| s0(r, "did"));
        Ok(json!({
            "cell": c.to_string(),
            "res": u8::from(c.resolution()),
            "center": cell::center(c),
            "boundary": cell::boundary(c),
            "devices": devices,
            "next": next,
        }))
    }

    /// `GET /v1/index/devices`
    pub async fn devices(
        &self,
        kind: Option<&str>,
        status: Option<&str>,
        owner: Option<&str>,
        limit: u64,
        after: Option<&str>,
    ) -> Answer {
        let mut text = format!("SELECT {} FROM devices WHERE did > $1", Self::SUMMARY);
        let after = after.map(|a| did(a, "`after` device")).transpose()?;
        let mut values: Vec<Val> = vec![after.unwrap_or_default().into()];
        if let Some(k) = kind {
            if !KINDS.contains(&k) {
                return Err(QueryError::BadRequest(
                    "bad_kind",
                    format!(
                        "unknown device kind `{}`: one of {}",
                        clip(k),
                        KINDS.join(", ")
                    ),
                ));
            }
            values.push(k.into());
            text.push_str(&format!(" AND kind = ${}", values.len()));
        }
        if let Some(st) = status {
            if !STATUSES.contains(&st) {
                return Err(QueryError::BadRequest(
                    "bad_status",
                    format!(
                        "unknown status `{}`: one of {}",
                        clip(st),
                        STATUSES.join(", ")
                    ),
                ));
            }
            values.push(st.into());
            text.push_str(&format!(" AND status = ${}", values.len()));
        }
        if let Some(o) = owner {
            values.push(did(o, "owner")?.into());
            text.push_str(&format!(" AND owner = ${}", values.len()));
        }
        values.push((limit + 1).into());
        text.push_str(&format!(" ORDER BY did LIMIT ${}", values.len()));
        let rows = self.rows(&text, &values).await?;
        let (devices, next) = page(&rows, limit, Self::summary, |r| s0(r, "did"));
        Ok(json!({"devices": devices, "next": next}))
    }

    /// `GET /v1/index/devices/{did}`
    pub async fn device(&self, id: &str) -> Answer {
        let id = did(id, "device")?;
        let Some(r) = self
            .row("SELECT * FROM devices WHERE did = $1", &[id.clone().into()])
            .await?
        else {
            return Err(QueryError::NotFound(format!(
                "no device {id} is onboarded (or the index has not reached it yet)"
            )));
        };
        let mut out = Self::summary(&r);
        let located = s(&r, "cell").and_then(|c| cell::parse(&c).ok());
        // The page's parts are independent reads: run them side by side on the pool.
        let verdict_values = [id.clone().into(), DEVICE_VERDICTS.into()];
        let epoch_values = [id.clone().into(), DEVICE_EPOCHS.into()];
        let penalty_values = [id.clone().into()];
        let (verdict_rows, epoch_rows, penalty_rows, eligibility) = tokio::try_join!(
            self.rows(
                "SELECT * FROM verdicts WHERE did = $1 ORDER BY epoch DESC, seq LIMIT $2",
                &verdict_values,
            ),
            self.rows(
                "SELECT * FROM device_epochs WHERE did = $1 ORDER BY epoch DESC LIMIT $2",
                &epoch_values,
            ),
            self.rows(
                "SELECT * FROM penalties WHERE did = $1 ORDER BY epoch DESC LIMIT 100",
                &penalty_values,
            ),
            self.eligibility(&r),
        )?;
        let verdicts: Vec<Value> = verdict_rows
            .iter()
            .map(|v| {
                let (name, code, text) = reason_json(i(v, "code"));
                json!({
                    "epoch": i(v, "epoch"),
                    "kind": s0(v, "kind"),
                    "subject": s0(v, "subject"),
                    "subject_id": s0(v, "subject_id"),
                    "valid": i(v, "valid") == Some(1),
                    "reason": name,
                    "code": code,
                    "explanation": text,
                    "detail": s0(v, "detail"),
                    "score_ppm": i(v, "score_ppm"),
                    "measured": parse_json(s(v, "measured")),
                })
            })
            .collect();
        let epochs: Vec<Value> = epoch_rows
            .iter()
            .rev()
            .map(|e| {
                json!({
                    "epoch": i(e, "epoch"),
                    "valid": i(e, "valid"),
                    "invalid": i(e, "invalid"),
                    "earned": tok(&s0(e, "earned")),
                    "withheld": tok(&s0(e, "withheld")),
                    "top_reason": reason_name(i(e, "top_code")),
                })
            })
            .collect();
        let penalties: Vec<Value> = penalty_rows
            .iter()
            .map(|p| json!({"epoch": i(p, "epoch"), "kind": s0(p, "kind"), "amount": tok(&s0(p, "amount"))}))
            .collect();
        let denylist = match i(&r, "deny_id") {
            None => Value::Null,
            Some(id) => {
                let (name, code, text) = reason_json(i(&r, "deny_reason"));
                json!({"id": id, "reason": name, "code": code, "explanation": text,
                       "status": s(&r, "deny_status")})
            }
        };
        let reputation = match i(&r, "reputation_ppm") {
            None => Value::Null,
            Some(score) => json!({
                "score_ppm": score,
                "disqualified": i(&r, "disqualified") == Some(1),
                "probation": i(&r, "probation") == Some(1),
            }),
        };
        let m = out.as_object_mut().expect("a summary is an object");
        m.insert("maker".into(), s0(&r, "maker").into());
        m.insert("onboarded_height".into(), i(&r, "onboarded_height").into());
        m.insert("onboarded_epoch".into(), i(&r, "onboarded_epoch").into());
        m.insert("bond".into(), tok(&s0(&r, "bond")).into());
        m.insert("claimed".into(), tok(&s0(&r, "claimed")).into());
        m.insert("location_moves".into(), i(&r, "location_moves").into());
        m.insert(
            "center".into(),
            located.map_or(Value::Null, |c| json!(cell::center(c))),
        );
        m.insert(
            "boundary".into(),
            located.map_or(Value::Null, |c| json!(cell::boundary(c))),
        );
        m.insert("denylist".into(), denylist);
        m.insert("reputation".into(), reputation);
        m.insert("eligibility".into(), eligibility);
        m.insert("verdicts".into(), verdicts.into());
        m.insert("epochs".into(), epochs.into());
        m.insert("penalties".into(), penalties.into());
        Ok(out)
    }

    /// What a device needs to be paid, each with whether it holds and why.
    async fn eligibility(&self, r: &AnyRow) -> Answer {
        let kind = s0(r, "kind");
        let status = s0(r, "status");
        let mut checks = Vec::new();
        let mut check = |name: &str, ok: bool, detail: String| {
            checks.push(json!({"check": name, "ok": ok, "detail": detail}));
        };
        check(
            "onboarded",
            true,
            format!(
                "Onboarded at height {} (epoch {}) with its maker's attestation.",
                i(r, "onboarded_height").unwrap_or(0),
                i(r, "onboarded_epoch").unwrap_or(0)
            ),
        );
        let needs_site = kind == "coverage" || kind == "sensor";
        let cell = s(r, "cell");
        check(
            "location_asserted",
            cell.is_some() || !needs_site,
            match (&cell, needs_site) {
                (Some(c), _) => format!("Asserted in cell {c}."),
                (None, true) => {
                    "No location asserted: radios and sensors are judged against their asserted site, so they earn nothing without one.".into()
                }
                (None, false) => format!("Not needed for {kind} devices."),
            },
        );
        check(
            "not_denylisted",
            i(r, "deny_id").is_none(),
            match i(r, "deny_id") {
                None => "No denylist entry withholds its rewards.".into(),
                Some(id) => format!(
                    "Denylist entry #{id} ({}) withholds its rewards while it stands; its owner may appeal within the window.",
                    reason_name(i(r, "deny_reason"))
                        .as_str()
                        .unwrap_or("unknown reason")
                ),
            },
        );
        check(
            "reporting",
            status != "offline" && status != "pending",
            match (status.as_str(), i(r, "last_seen_ms")) {
                ("pending", _) => "Not judged yet: its first epoch has not been verified.".into(),
                ("offline", _) => format!(
                    "Offline: nothing heard from it in the last {OFFLINE_AFTER_EPOCHS} epochs, or it was not judged in the latest one."
                ),
                (_, Some(t)) => format!("Reporting; last report received at {t} (Unix ms)."),
                (_, None) => "Reporting.".into(),
            },
        );
        let (valid, invalid, fraud) = (
            i(r, "last_valid").unwrap_or(0),
            i(r, "last_invalid").unwrap_or(0),
            i(r, "last_fraud").unwrap_or(0),
        );
        check(
            "passed_last_epoch",
            i(r, "last_epoch").is_some() && fraud == 0 && valid > 0,
            match i(r, "last_epoch") {
                None => "No verdicts yet.".into(),
                Some(e) => {
                    let (name, _, text) = reason_json(i(r, "last_code"));
                    let mut d = format!("Epoch {e}: {valid} valid, {invalid} invalid verdicts.");
                    if let (Some(n), Some(t)) = (name.as_str(), text.as_str()) {
                        d.push_str(&format!(" Main reason: {n} — {t}"));
                    }
                    d
                }
            },
        );
        let disqualified = i(r, "disqualified") == Some(1);
        check(
            "reputation",
            !disqualified,
            match i(r, "reputation_ppm") {
                None => "No reputation yet.".into(),
                Some(p) if disqualified => format!(
                    "Disqualified: its reputation fell to {}.{}% under the network's floor; it earns no capacity rewards.",
                    p / 10_000,
                    (p % 10_000) / 100
                ),
                Some(p) => format!(
                    "Reputation {}.{}%{}.",
                    p / 10_000,
                    (p % 10_000) / 100,
                    if i(r, "probation") == Some(1) {
                        " (on probation: new devices are not disqualified while it lasts)"
                    } else {
                        ""
                    }
                ),
            },
        );
        let bond_epochs = self
            .row(
                "SELECT value FROM params WHERE name = 'claim_bond_epochs'",
                &[],
            )
            .await?
            .map(|p| base(&s0(&p, "value")))
            .unwrap_or(0);
        let bond = base(&s0(r, "bond"));
        if bond_epochs == 0 {
            check(
                "bond",
                true,
                "No bond is needed to claim on this network (claim_bond_epochs = 0).".into(),
            );
        } else {
            let rewards_epoch = self.cursors().await?.rewards_epoch;
            let onboarded = i(r, "onboarded_epoch").unwrap_or(0).max(0) as u64;
            let epochs = u128::from(rewards_epoch.saturating_sub(onboarded)) + 1;
            let earned = base(&s0(r, "earned")).saturating_add(base(&s0(r, "withheld")));
            let needed = (earned.saturating_mul(bond_epochs)).div_ceil(epochs);
            check(
                "bond",
                bond >= needed,
                format!(
                    "Bond {} of the {} needed to claim ({bond_epochs} epochs of its average reward).",
                    Tokens::from_base_units(bond),
                    Tokens::from_base_units(needed)
                ),
            );
        }
        Ok(Value::Array(checks))
    }

    /// `GET /v1/index/accounts/{did}`
    pub async fn account(&self, id: &str) -> Answer {
        let id = did(id, "account")?;
        let account = self
            .row(
                "SELECT * FROM accounts WHERE did = $1",
                &[id.clone().into()],
            )
            .await?;
        let owned = self
            .rows(
                "SELECT earned, claimed FROM devices WHERE owner = $1",
                &[id.clone().into()],
            )
            .await?;
        if account.is_none() && owned.is_empty() {
            return Err(QueryError::NotFound(format!(
                "no account {id} on the ledger (or the index has not reached it yet)"
            )));
        }
        let devices: Vec<Value> = self
            .rows(
                &format!(
                    "SELECT {} FROM devices WHERE owner = $1 ORDER BY did LIMIT 200",
                    Self::SUMMARY
                ),
                &[id.clone().into()],
            )
            .await?
            .iter()
            .map(Self::summary)
            .collect();
        let a = account.as_ref();
        let get = |c: &str| a.map(|r| s0(r, c)).unwrap_or_else(|| "0".into());
        let mut earned = base(&get("earned"));
        let mut claimed = base(&get("claimed"));
        for d in &owned {
            earned = earned.saturating_add(base(&s0(d, "earned")));
            claimed = claimed.saturating_add(base(&s0(d, "claimed")));
        }
        let txs: Vec<Value> = self
            .rows(
                "SELECT * FROM txs WHERE sender = $1 ORDER BY height DESC, idx DESC LIMIT 50",
                &[id.clone().into()],
            )
            .await?
            .iter()
            .map(|t| {
                json!({
                    "hash": s0(t, "hash"), "height": i(t, "height"), "kind": s0(t, "kind"),
                    "fee": s0(t, "fee"), "time_ms": i(t, "time_ms"),
                })
            })
            .collect();
        Ok(json!({
            "did": id,
            "tokens": tok(&get("tokens")),
            "credits": cred(&get("credits")),
            "nonce": a.and_then(|r| i(r, "nonce")).unwrap_or(0),
            "locked": tok(&get("locked")),
            "vesting": tok(&get("vesting")),
            "device_count": owned.len(),
            "devices": devices,
            "rewards": {
                "earned_total": Tokens::from_base_units(earned).to_string(),
                "claimed": Tokens::from_base_units(claimed).to_string(),
                "claimable": Tokens::from_base_units(earned.saturating_sub(claimed)).to_string(),
            },
            "transactions": txs,
        }))
    }

    fn epoch_summary(r: &AnyRow) -> Value {
        let econ = parse_json(s(r, "economics"));
        let manifest = match s(r, "manifest_hash") {
            None => Value::Null,
            Some(h) => json!({
                "hash": h,
                "root": s(r, "manifest_root"),
                "accepted_height": i(r, "accepted_height"),
                "signers": parse_json(s(r, "signers")),
            }),
        };
        let economics = if econ.is_null() {
            Value::Null
        } else {
            let usd = |v: &Value| {
                v.as_str()
                    .and_then(|x| x.parse::<u128>().ok())
                    .map(|x| format!("{}.{:02}", x / 100_000_000, (x % 100_000_000) / 1_000_000))
            };
            json!({
                "tokens_burned_for_credits": econ["tokens_burned_for_credits"],
                "burned_usd": usd(&econ["burned_usd_e8"]),
                "credits_minted": econ["credits_minted"],
                "usage_credits": econ["usage_credits"],
                "emitted": econ["emitted"],
                "emitted_usd": usd(&econ["emitted_usd_e8"]),
                "demand_coverage_ppm": econ["demand_coverage_ppm"].as_str().and_then(|p| p.parse::<u64>().ok()),
            })
        };
        let t = |c: &str| s(r, c).map(|v| tok(&v));
        json!({
            "epoch": i(r, "epoch"),
            "start_ms": i(r, "start_ms"),
            "end_ms": i(r, "end_ms"),
            "judged": i(r, "judged") == Some(1),
            "rewarded": i(r, "rewarded") == Some(1),
            "verdicts_valid": i(r, "verdicts_valid"),
            "verdicts_invalid": i(r, "verdicts_invalid"),
            "devices_judged": i(r, "devices_judged"),
            "reports": i(r, "reports"),
            "emission": t("emission"),
            "paid": t("paid"),
            "withheld": t("withheld"),
            "unallocated": t("unallocated"),
            "unallocated_burned": t("unallocated_burned"),
            "recipients": i(r, "recipients"),
            "manifest": manifest,
            "economics": economics,
        })
    }

    /// `GET /v1/index/epochs`
    pub async fn epochs(&self, limit: u64, before: Option<u64>) -> Answer {
        let rows = self
            .rows(
                "SELECT * FROM epochs WHERE epoch < $1 ORDER BY epoch DESC LIMIT $2",
                &[before.unwrap_or(i64::MAX as u64).into(), limit.into()],
            )
            .await?;
        Ok(json!({"epochs": rows.iter().map(Self::epoch_summary).collect::<Vec<_>>()}))
    }

    /// `GET /v1/index/epochs/{n}`
    pub async fn epoch(&self, epoch: u64) -> Answer {
        let Some(r) = self
            .row("SELECT * FROM epochs WHERE epoch = $1", &[epoch.into()])
            .await?
        else {
            return Err(QueryError::NotFound(format!(
                "epoch {epoch} has no verdicts or rewards indexed yet"
            )));
        };
        let mut out = Self::epoch_summary(&r);
        let reasons: Vec<Value> = self
            .rows(
                "SELECT * FROM epoch_reasons WHERE epoch = $1 ORDER BY devices DESC, code",
                &[epoch.into()],
            )
            .await?
            .iter()
            .map(|x| {
                let (name, code, text) = reason_json(i(x, "code"));
                json!({
                    "kind": s0(x, "kind"), "reason": name, "code": code, "explanation": text,
                    "fraud": i(x, "code").and_then(|c| u16::try_from(c).ok())
                        .and_then(ReasonCode::from_code).is_some_and(|c| c.is_fraud()),
                    "verdicts": i(x, "verdicts"), "devices": i(x, "devices"),
                })
            })
            .collect();
        let penalties: Vec<Value> = self
            .rows(
                "SELECT * FROM penalties WHERE epoch = $1 ORDER BY did, kind",
                &[epoch.into()],
            )
            .await?
            .iter()
            .map(|p| json!({"device": s0(p, "did"), "kind": s0(p, "kind"), "amount": tok(&s0(p, "amount"))}))
            .collect();
        let m = out.as_object_mut().expect("an epoch is an object");
        m.insert("pools".into(), parse_json(s(&r, "pools")));
        m.insert("top_earners".into(), parse_json(s(&r, "top_earners")));
        m.insert("reasons".into(), reasons.into());
        m.insert("penalties".into(), penalties.into());
        m.insert(
            "settled".into(),
            json!({
                "released": s(&r, "released").map(|v| tok(&v)),
                "forfeited": s(&r, "forfeited").map(|v| tok(&v)),
            }),
        );
        Ok(out)
    }

    /// `GET /v1/index/governance`
    pub async fn governance(&self) -> Answer {
        let params: Vec<Value> = self
            .rows("SELECT * FROM params ORDER BY name", &[])
            .await?
            .iter()
            .map(|p| {
                json!({"name": s0(p, "name"), "value": s0(p, "value"), "unit": s0(p, "unit"),
                       "description": s0(p, "description")})
            })
            .collect();
        let mut votes: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        for v in self
            .rows("SELECT * FROM votes ORDER BY proposal, voter", &[])
            .await?
        {
            votes.entry(i(&v, "proposal").unwrap_or(0)).or_default().push(json!({
                "voter": s0(&v, "voter"), "choice": s0(&v, "choice"), "weight": s0(&v, "weight"),
            }));
        }
        let proposals: Vec<Value> = self
            .rows("SELECT * FROM proposals ORDER BY id DESC LIMIT 200", &[])
            .await?
            .iter()
            .map(|p| {
                let id = i(p, "id").unwrap_or(0);
                json!({
                    "id": id, "proposer": s0(p, "proposer"), "kind": s0(p, "kind"),
                    "status": s0(p, "status"), "start": i(p, "start_height"),
                    "voting_end": i(p, "voting_end"), "deposit": tok(&s0(p, "deposit")),
                    "tally": parse_json(s(p, "tally")),
                    "votes": votes.remove(&id).unwrap_or_default(),
                    "detail": parse_json(s(p, "detail")),
                })
            })
            .collect();
        let appeals: Vec<Value> = self
            .rows(
                "SELECT id, appeal_proposal, status FROM denylist WHERE appeal_proposal IS NOT NULL
                 ORDER BY id DESC LIMIT 200",
                &[],
            )
            .await?
            .iter()
            .map(|a| {
                json!({"denylist_id": i(a, "id"), "proposal_id": i(a, "appeal_proposal"),
                       "status": s0(a, "status")})
            })
            .collect();
        Ok(json!({"params": params, "proposals": proposals, "appeals": appeals}))
    }

    /// `GET /v1/index/denylist`
    pub async fn denylist(&self, limit: u64, after: Option<u64>) -> Answer {
        let rows = self
            .rows(
                "SELECT * FROM denylist WHERE id > $1 ORDER BY id LIMIT $2",
                &[
                    after
                        .map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX))
                        .into(),
                    (limit + 1).into(),
                ],
            )
            .await?;
        let (entries, next) = page(
            &rows,
            limit,
            |d| {
                let (name, code, text) = reason_json(i(d, "reason"));
                json!({
                    "id": i(d, "id"), "targets": parse_json(s(d, "targets")),
                    "reason": name, "code": code, "explanation": text,
                    "status": s0(d, "status"), "created_at": i(d, "created_at"),
                    "appeal_until": i(d, "appeal_until"), "expires_at": i(d, "expires_at"),
                    "reporter": s0(d, "reporter"), "appeal_proposal": i(d, "appeal_proposal"),
                })
            },
            |d| i(d, "id").unwrap_or(0),
        );
        Ok(json!({"entries": entries, "next": next}))
    }

    /// `GET /v1/index/usage`
    pub async fn usage(&self) -> Answer {
        let rows = self
            .rows(
                "SELECT epoch, kind, did, credits FROM usage
                 WHERE epoch > (SELECT COALESCE(MAX(epoch), 0) FROM usage) - 60
                 ORDER BY epoch, kind",
                &[],
            )
            .await?;
        let mut epochs: BTreeMap<i64, (u128, BTreeMap<String, u128>, u64)> = BTreeMap::new();
        for r in &rows {
            let e = epochs.entry(i(r, "epoch").unwrap_or(0)).or_default();
            let c = base(&s0(r, "credits"));
            e.0 = e.0.saturating_add(c);
            let k = e.1.entry(s0(r, "kind")).or_default();
            *k = k.saturating_add(c);
            e.2 += 1;
        }
        let epochs: Vec<Value> = epochs
            .into_iter()
            .map(|(epoch, (total, kinds, providers))| {
                let by_kind: serde_json::Map<String, Value> = kinds
                    .into_iter()
                    .map(|(k, c)| (k, Credits::from_base_units(c).to_string().into()))
                    .collect();
                json!({"epoch": epoch, "usage_credits": Credits::from_base_units(total).to_string(),
                       "by_kind": by_kind, "providers": providers})
            })
            .collect();
        let live = self.meta_json("live").await?;
        Ok(json!({"epochs": epochs, "consumers": live["consumers"]}))
    }
}

/// Up to `limit` items and the cursor of the last one when more follow.
fn page<C: serde::Serialize>(
    rows: &[AnyRow],
    limit: u64,
    item: impl Fn(&AnyRow) -> Value,
    cursor: impl Fn(&AnyRow) -> C,
) -> (Vec<Value>, Value) {
    let n = usize::try_from(limit).unwrap_or(usize::MAX);
    let items: Vec<Value> = rows.iter().take(n).map(&item).collect();
    let next = if rows.len() > n {
        rows.get(n - 1).map_or(Value::Null, |r| json!(cursor(r)))
    } else {
        Value::Null
    };
    (items, next)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}
