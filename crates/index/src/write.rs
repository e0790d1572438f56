//! Writing the index: each update is one database transaction carrying its rows and the
//! cursor that says it was written, so a crash leaves either all of it or none, and the
//! feeder resumes from the cursor.

use std::collections::BTreeMap;

use cairn_core::{KeyId, Tokens};
use cairn_rewards::{Payee, RewardsRecord};
use cairn_verify::Status;
use cairn_verify::{Outcome, VerdictBatch};

use crate::ledger::{
    ACCOUNT_COLUMNS, BlockFacts, DENYLIST_COLUMNS, DEVICE_COLUMNS, LedgerDelta, PARAM_COLUMNS,
    PROPOSAL_COLUMNS, USAGE_COLUMNS, VOTE_COLUMNS, units,
};
use crate::store::{Val, exec, insert_many, set_meta, upsert};
use crate::{Index, IndexError};

fn penalty_kind(k: &cairn_ledger::tx::PenaltyKind) -> &'static str {
    match k {
        cairn_ledger::tx::PenaltyKind::FaultFee => "fault_fee",
        cairn_ledger::tx::PenaltyKind::Fraud { .. } => "fraud",
    }
}

/// How long a device may go unheard before it shows as offline.
pub const OFFLINE_AFTER_EPOCHS: u64 = 3;

/// What the node's ingest says right now (the stats page's live figures and each
/// device's last report).
#[derive(Debug, Clone, Default)]
pub struct LiveFacts {
    pub now_ms: u64,
    pub sessions_open: u64,
    /// Reports accepted per second over the last interval, in thousandths.
    pub reports_per_s_milli: u64,
    /// Devices heard from since the previous update, with their latest receive time.
    pub last_seen: Vec<(String, u64)>,
    /// What the network's consumers measured (a devnet's simulated consumers: jobs run,
    /// their latency and queue time, bytes stored), shown with usage; `null` if none.
    pub consumers: serde_json::Value,
}

impl Index {
    /// Write one step of the ledger: the finalized blocks up to `delta.height` and the
    /// objects that changed.
    pub async fn apply_ledger(
        &self,
        blocks: &[BlockFacts],
        delta: &LedgerDelta,
    ) -> Result<(), IndexError> {
        let mut tx = self.db.begin().await?;
        let block_rows: Vec<Vec<Val>> = blocks
            .iter()
            .map(|b| {
                vec![
                    b.height.into(),
                    b.digest.to_hex().into(),
                    b.time_ms.into(),
                    (b.txs.len() as u64).into(),
                ]
            })
            .collect();
        let block_cols = ["height", "digest", "time_ms", "txs"];
        insert_many(
            &mut tx,
            self.db.backend,
            "blocks",
            &block_cols,
            &block_rows,
            &upsert(&["height"], &block_cols),
        )
        .await?;
        let mut tx_rows = Vec::new();
        for b in blocks {
            for (i, t) in b.txs.iter().enumerate() {
                tx_rows.push(vec![
                    t.hash.to_hex().into(),
                    b.height.into(),
                    (i as u64).into(),
                    t.sender.to_did().into(),
                    t.kind.into(),
                    t.fee.clone().into(),
                    b.time_ms.into(),
                ]);
            }
        }
        let tx_cols = ["hash", "height", "idx", "sender", "kind", "fee", "time_ms"];
        insert_many(
            &mut tx,
            self.db.backend,
            "txs",
            &tx_cols,
            &tx_rows,
            "ON CONFLICT (hash) DO NOTHING",
        )
        .await?;

        // New devices start with nothing earned and pending; the ledger's columns are
        // rewritten on every change, the verifier's and rewarder's are left alone.
        let mut cols: Vec<&str> = DEVICE_COLUMNS.to_vec();
        cols.extend(["earned", "withheld", "status"]);
        let rows: Vec<Vec<Val>> = delta
            .devices
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.extend(["0".into(), "0".into(), "pending".into()]);
                r
            })
            .collect();
        insert_many(
            &mut tx,
            self.db.backend,
            "devices",
            &cols,
            &rows,
            &upsert(&["did"], DEVICE_COLUMNS),
        )
        .await?;
        for did in &delta.removed_devices {
            exec(
                &mut tx,
                "DELETE FROM devices WHERE did = $1",
                &[did.clone().into()],
            )
            .await?;
        }
        let mut cols: Vec<&str> = ACCOUNT_COLUMNS.to_vec();
        cols.push("earned");
        let rows: Vec<Vec<Val>> = delta
            .accounts
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.push("0".into());
                r
            })
            .collect();
        insert_many(
            &mut tx,
            self.db.backend,
            "accounts",
            &cols,
            &rows,
            &upsert(&["did"], ACCOUNT_COLUMNS),
        )
        .await?;
        insert_many(
            &mut tx,
            self.db.backend,
            "proposals",
            PROPOSAL_COLUMNS,
            &delta.proposals,
            &upsert(&["id"], PROPOSAL_COLUMNS),
        )
        .await?;
        insert_many(
            &mut tx,
            self.db.backend,
            "votes",
            VOTE_COLUMNS,
            &delta.votes,
            &upsert(&["proposal", "voter"], VOTE_COLUMNS),
        )
        .await?;
        insert_many(
            &mut tx,
            self.db.backend,
            "denylist",
            DENYLIST_COLUMNS,
            &delta.denylist,
            &upsert(&["id"], DENYLIST_COLUMNS),
        )
        .await?;
        insert_many(
            &mut tx,
            self.db.backend,
            "usage",
            USAGE_COLUMNS,
            &delta.usage,
            &upsert(&["epoch", "did"], USAGE_COLUMNS),
        )
        .await?;
        for (epoch, json) in &delta.economics {
            self.ensure_epoch(&mut tx, *epoch).await?;
            exec(
                &mut tx,
                "UPDATE epochs SET economics = $1 WHERE epoch = $2",
                &[json.clone().into(), (*epoch).into()],
            )
            .await?;
        }
        for (epoch, hash, root, accepted, signers) in &delta.manifests {
            self.ensure_epoch(&mut tx, *epoch).await?;
            exec(
                &mut tx,
                "UPDATE epochs SET manifest_hash = $1, manifest_root = $2, accepted_height = $3,
                 signers = $4 WHERE epoch = $5",
                &[
                    hash.clone().into(),
                    root.clone().into(),
                    (*accepted).into(),
                    signers.clone().into(),
                    (*epoch).into(),
                ],
            )
            .await?;
        }
        if let Some(params) = &delta.params {
            exec(&mut tx, "DELETE FROM params", &[]).await?;
            insert_many(
                &mut tx,
                self.db.backend,
                "params",
                PARAM_COLUMNS,
                params,
                "",
            )
            .await?;
        }
        if !delta.devices.is_empty() {
            // Only the devices this step rewrote can have changed status.
            exec(&mut tx, "DELETE FROM device_stage", &[]).await?;
            let dids: Vec<Vec<Val>> = delta.devices.iter().map(|r| vec![r[0].clone()]).collect();
            insert_many(
                &mut tx,
                self.db.backend,
                "device_stage",
                &["did"],
                &dids,
                "",
            )
            .await?;
            refresh_status(&mut tx, None, Scope::Staged("device_stage")).await?;
            exec(&mut tx, "DELETE FROM device_stage", &[]).await?;
        }
        set_meta(&mut tx, "ledger", &delta.ledger_meta).await?;
        set_meta(&mut tx, "height", &delta.height.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ensure_epoch(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        epoch: u64,
    ) -> Result<(), IndexError> {
        let (start, end) = self.epoch_bounds(epoch).await?;
        exec(
            tx,
            "INSERT INTO epochs (epoch, start_ms, end_ms, judged, verdicts_valid, verdicts_invalid,
                 devices_judged, reports, rewarded)
             VALUES ($1, $2, $3, 0, 0, 0, 0, 0, 0) ON CONFLICT (epoch) DO NOTHING",
            &[epoch.into(), start.into(), end.into()],
        )
        .await?;
        Ok(())
    }

    /// An epoch's start and end from the ledger figures last written.
    async fn epoch_bounds(&self, epoch: u64) -> Result<(u64, u64), IndexError> {
        let (genesis, duration) = self.epoch_clock().await?;
        let start = genesis.saturating_add(epoch.saturating_sub(1).saturating_mul(duration));
        Ok((start, start.saturating_add(duration)))
    }

    /// (genesis time, epoch duration) from the ledger figures last written.
    pub(crate) async fn epoch_clock(&self) -> Result<(u64, u64), IndexError> {
        let meta: serde_json::Value = self
            .db
            .meta("ledger")
            .await?
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default();
        let genesis = meta["genesis_time_ms"].as_u64().unwrap_or(0);
        let duration = meta["epoch_duration_ms"].as_u64().unwrap_or(60_000).max(1);
        Ok((genesis, duration))
    }

    /// Write one epoch's verdict batch. Verdicts older than `keep_epochs` epochs are
    /// dropped (the per-epoch counts stay).
    pub async fn apply_verdicts(
        &self,
        batch: &VerdictBatch,
        keep_epochs: u64,
    ) -> Result<(), IndexError> {
        let epoch = batch.epoch.0;
        let mut tx = self.db.begin().await?;
        self.ensure_epoch(&mut tx, epoch).await?;
        for table in ["verdicts", "epoch_reasons"] {
            exec(
                &mut tx,
                &format!("DELETE FROM {table} WHERE epoch = $1"),
                &[epoch.into()],
            )
            .await?;
        }

        #[derive(Default)]
        struct Tally {
            valid: u64,
            invalid: u64,
            fraud: u64,
            codes: BTreeMap<u16, u64>,
            score_sum: u64,
            scored: u64,
        }
        let mut per_device: BTreeMap<KeyId, Tally> = BTreeMap::new();
        let mut reasons: BTreeMap<(&'static str, u16), (u64, std::collections::BTreeSet<KeyId>)> =
            BTreeMap::new();
        let mut rows = Vec::with_capacity(batch.verdicts.len());
        let mut seq: BTreeMap<KeyId, u64> = BTreeMap::new();
        let (mut valid, mut invalid) = (0u64, 0u64);
        for v in &batch.verdicts {
            let t = per_device.entry(v.device).or_default();
            let code = match v.outcome {
                Outcome::Valid => {
                    t.valid += 1;
                    valid += 1;
                    None
                }
                Outcome::Invalid(code) => {
                    t.invalid += 1;
                    invalid += 1;
                    if code.is_fraud() {
                        t.fraud += 1;
                    }
                    *t.codes.entry(code.code()).or_default() += 1;
                    let r = reasons.entry((v.kind.name(), code.code())).or_default();
                    r.0 += 1;
                    r.1.insert(v.device);
                    Some(code.code())
                }
            };
            // A graded verdict's score, else 100% for valid and 0% for invalid.
            t.score_sum +=
                u64::from(
                    v.score_ppm
                        .unwrap_or(if code.is_none() { 1_000_000 } else { 0 }),
                );
            t.scored += 1;
            let n = seq.entry(v.device).or_default();
            let measured: serde_json::Map<String, serde_json::Value> = v
                .measured
                .iter()
                .map(|m| (m.name.clone(), m.value.into()))
                .collect();
            rows.push(vec![
                v.device.to_did().into(),
                epoch.into(),
                (*n).into(),
                v.kind.name().into(),
                v.subject.name().into(),
                v.subject_id.to_hex().into(),
                (code.is_none()).into(),
                code.into(),
                clip(&v.detail, 1000).into(),
                v.score_ppm.into(),
                serde_json::Value::Object(measured).to_string().into(),
            ]);
            *n += 1;
        }
        insert_many(
            &mut tx,
            self.db.backend,
            "verdicts",
            &[
                "did",
                "epoch",
                "seq",
                "kind",
                "subject",
                "subject_id",
                "valid",
                "code",
                "detail",
                "score_ppm",
                "measured",
            ],
            &rows,
            "",
        )
        .await?;
        let reason_rows: Vec<Vec<Val>> = reasons
            .iter()
            .map(|((kind, code), (n, devices))| {
                vec![
                    epoch.into(),
                    (*kind).into(),
                    (*code).into(),
                    (*n).into(),
                    (devices.len() as u64).into(),
                ]
            })
            .collect();
        insert_many(
            &mut tx,
            self.db.backend,
            "epoch_reasons",
            &["epoch", "kind", "code", "verdicts", "devices"],
            &reason_rows,
            "",
        )
        .await?;

        let standings: BTreeMap<KeyId, &cairn_verify::Standing> =
            batch.standings.iter().map(|s| (s.device, s)).collect();
        // Per device: this epoch's counts, and its latest standing.
        let mut stage = Vec::new();
        let mut device_epochs = Vec::new();
        let mut keys: Vec<&KeyId> = per_device.keys().chain(standings.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let t = per_device.get(key);
            let top = t.and_then(|t| {
                // The most frequent fraud reason, else the most frequent reason.
                let pick = |fraud: bool| {
                    t.codes
                        .iter()
                        .filter(|(c, _)| {
                            !fraud
                                || cairn_verify::ReasonCode::from_code(**c)
                                    .is_some_and(|r| r.is_fraud())
                        })
                        .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
                        .map(|(c, _)| *c)
                };
                pick(true).or_else(|| pick(false))
            });
            let s = standings.get(key);
            stage.push(vec![
                key.to_did().into(),
                t.map(|_| epoch).into(),
                t.map(|t| t.valid).into(),
                t.map(|t| t.invalid).into(),
                t.map(|t| t.fraud).into(),
                top.into(),
                t.map(|t| t.score_sum / t.scored.max(1)).into(),
                s.map(|s| s.reputation.score_ppm()).into(),
                s.map(|s| s.reputation.status == Status::Disqualified)
                    .into(),
                s.map(|s| s.reputation.status == Status::Probation).into(),
            ]);
            if let Some(t) = t {
                device_epochs.push(vec![
                    key.to_did().into(),
                    epoch.into(),
                    t.valid.into(),
                    t.invalid.into(),
                    top.into(),
                    "0".into(),
                    "0".into(),
                ]);
            }
        }
        exec(&mut tx, "DELETE FROM verdict_stage", &[]).await?;
        insert_many(
            &mut tx,
            self.db.backend,
            "verdict_stage",
            &[
                "did",
                "epoch",
                "valid",
                "invalid",
                "fraud",
                "code",
                "quality_ppm",
                "reputation_ppm",
                "disqualified",
                "probation",
            ],
            &stage,
            "",
        )
        .await?;
        // Counts only where the device was judged this epoch; standings always.
        exec(
            &mut tx,
            "UPDATE devices SET
                last_epoch = COALESCE(s.epoch, devices.last_epoch),
                last_valid = COALESCE(s.valid, devices.last_valid),
                last_invalid = COALESCE(s.invalid, devices.last_invalid),
                last_fraud = COALESCE(s.fraud, devices.last_fraud),
                last_code = CASE WHEN s.epoch IS NULL THEN devices.last_code ELSE s.code END,
                quality_ppm = COALESCE(s.quality_ppm, devices.quality_ppm),
                reputation_ppm = COALESCE(s.reputation_ppm, devices.reputation_ppm),
                disqualified = COALESCE(s.disqualified, devices.disqualified),
                probation = COALESCE(s.probation, devices.probation)
             FROM verdict_stage AS s WHERE devices.did = s.did",
            &[],
        )
        .await?;
        exec(&mut tx, "DELETE FROM verdict_stage", &[]).await?;
        insert_many(
            &mut tx,
            self.db.backend,
            "device_epochs",
            &[
                "did", "epoch", "valid", "invalid", "top_code", "earned", "withheld",
            ],
            &device_epochs,
            "ON CONFLICT (did, epoch) DO UPDATE SET valid = excluded.valid,
             invalid = excluded.invalid, top_code = excluded.top_code",
        )
        .await?;
        exec(
            &mut tx,
            "UPDATE epochs SET judged = 1, verdicts_valid = $1, verdicts_invalid = $2,
             devices_judged = $3, reports = $4 WHERE epoch = $5",
            &[
                valid.into(),
                invalid.into(),
                (per_device.len() as u64).into(),
                batch.inputs.into(),
                epoch.into(),
            ],
        )
        .await?;
        if keep_epochs > 0 && epoch > keep_epochs {
            exec(
                &mut tx,
                "DELETE FROM verdicts WHERE epoch <= $1",
                &[(epoch - keep_epochs).into()],
            )
            .await?;
        }
        let (genesis, duration) = self.epoch_clock().await?;
        let stale_before = genesis.saturating_add(
            epoch
                .saturating_sub(OFFLINE_AFTER_EPOCHS)
                .saturating_mul(duration),
        );
        refresh_status(&mut tx, Some((stale_before, epoch)), Scope::All).await?;
        set_meta(&mut tx, "verdict_epoch", &epoch.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Write one epoch's rewards record.
    pub async fn apply_rewards(&self, record: &RewardsRecord) -> Result<(), IndexError> {
        let r = &record.rewards;
        let epoch = r.epoch.0;
        let mut tx = self.db.begin().await?;
        self.ensure_epoch(&mut tx, epoch).await?;

        let withheld_total = r
            .withheld
            .values()
            .fold(0u128, |a, t| a.saturating_add(t.base_units()));
        let paid_total = r
            .payouts
            .values()
            .fold(0u128, |a, t| a.saturating_add(t.base_units()));
        let mut top: Vec<(&Payee, &Tokens)> = r.payouts.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<serde_json::Value> = top
            .iter()
            .take(20)
            .map(|(p, t)| {
                let (payee, kind) = payee_name(p);
                serde_json::json!({"payee": payee, "payee_kind": kind, "amount": t})
            })
            .collect();
        // Devices that earned something claimable this epoch.
        let paid_devices = r
            .payouts
            .iter()
            .filter(|(p, t)| match p {
                Payee::Device(k) => r.withheld.get(k).is_none_or(|w| w < *t),
                _ => false,
            })
            .count() as u64;
        let pools: Vec<serde_json::Value> = r
            .pools
            .iter()
            .map(|p| {
                serde_json::json!({
                    "pool": p.pool.name(), "amount": p.amount, "usage": p.usage,
                    "capacity": p.capacity, "withheld": p.withheld,
                    "unallocated": p.unallocated, "recipients": p.recipients,
                })
            })
            .collect();
        let sum = |m: &BTreeMap<KeyId, Tokens>| {
            m.values()
                .fold(0u128, |a, t| a.saturating_add(t.base_units()))
        };
        exec(
            &mut tx,
            "UPDATE epochs SET rewarded = 1, emission = $1, paid = $2, withheld = $3,
             unallocated = $4, unallocated_burned = $5, recipients = $6, pools = $7,
             top_earners = $8, released = $9, forfeited = $10, devices_paid = $11
             WHERE epoch = $12",
            &[
                units(r.emission.base_units()).into(),
                units(paid_total).into(),
                units(withheld_total).into(),
                units(r.unallocated.base_units()).into(),
                units(r.unallocated_burned.base_units()).into(),
                (r.payouts.len() as u64).into(),
                serde_json::Value::Array(pools).to_string().into(),
                serde_json::Value::Array(top).to_string().into(),
                units(sum(&record.settled.released)).into(),
                units(sum(&record.settled.forfeited)).into(),
                paid_devices.into(),
                epoch.into(),
            ],
        )
        .await?;

        // Per device: this epoch's payout (withheld part apart) and lifetime totals.
        let mut epoch_rows = Vec::new();
        for (payee, amount) in &r.payouts {
            if let Payee::Device(k) = payee {
                let withheld = r.withheld.get(k).copied().unwrap_or(Tokens::ZERO);
                let earned = amount.base_units().saturating_sub(withheld.base_units());
                epoch_rows.push(vec![
                    k.to_did().into(),
                    epoch.into(),
                    0u64.into(),
                    0u64.into(),
                    Val::Null,
                    units(earned).into(),
                    units(withheld.base_units()).into(),
                ]);
            }
        }
        insert_many(
            &mut tx,
            self.db.backend,
            "device_epochs",
            &[
                "did", "epoch", "valid", "invalid", "top_code", "earned", "withheld",
            ],
            &epoch_rows,
            "ON CONFLICT (did, epoch) DO UPDATE SET earned = excluded.earned,
             withheld = excluded.withheld",
        )
        .await?;
        let mut device_totals = Vec::new();
        let mut account_totals = Vec::new();
        for (payee, total) in &record.cumulative.totals {
            match payee {
                Payee::Device(k) => {
                    let held = record
                        .cumulative
                        .held
                        .get(k)
                        .map_or(0, |h| h.amount.base_units());
                    device_totals.push((k.to_did(), total.base_units(), held));
                }
                Payee::Account(k) => account_totals.push((k.to_did(), total.base_units())),
                Payee::Treasury => {}
            }
        }
        exec(&mut tx, "DELETE FROM earnings_stage", &[]).await?;
        let stage: Vec<Vec<Val>> = device_totals
            .iter()
            .map(|(d, total, held)| {
                vec![
                    d.clone().into(),
                    units(total.saturating_sub(*held)).into(),
                    units(*held).into(),
                ]
            })
            .collect();
        insert_many(
            &mut tx,
            self.db.backend,
            "earnings_stage",
            &["did", "earned", "withheld"],
            &stage,
            "",
        )
        .await?;
        exec(
            &mut tx,
            "UPDATE devices SET earned = s.earned, withheld = s.withheld
             FROM earnings_stage AS s WHERE devices.did = s.did",
            &[],
        )
        .await?;
        exec(&mut tx, "DELETE FROM earnings_stage", &[]).await?;
        for (did, total) in &account_totals {
            exec(
                &mut tx,
                "UPDATE accounts SET earned = $1 WHERE did = $2",
                &[units(*total).into(), did.clone().into()],
            )
            .await?;
        }
        exec(
            &mut tx,
            "DELETE FROM penalties WHERE epoch = $1",
            &[epoch.into()],
        )
        .await?;
        let penalty_rows: Vec<Vec<Val>> = record
            .penalties
            .iter()
            .map(|p| {
                vec![
                    epoch.into(),
                    p.device.to_did().into(),
                    penalty_kind(&p.kind).into(),
                    units(p.amount.base_units()).into(),
                ]
            })
            .collect();
        insert_many(
            &mut tx,
            self.db.backend,
            "penalties",
            &["epoch", "did", "kind", "amount"],
            &penalty_rows,
            "ON CONFLICT (epoch, did, kind) DO UPDATE SET amount = excluded.amount",
        )
        .await?;
        set_meta(&mut tx, "rewards_epoch", &epoch.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Write the live figures and last-seen times.
    pub async fn apply_live(&self, live: &LiveFacts) -> Result<(), IndexError> {
        let mut tx = self.db.begin().await?;
        if !live.last_seen.is_empty() {
            exec(&mut tx, "DELETE FROM seen_stage", &[]).await?;
            let rows: Vec<Vec<Val>> = live
                .last_seen
                .iter()
                .map(|(d, t)| vec![d.clone().into(), (*t).into()])
                .collect();
            insert_many(
                &mut tx,
                self.db.backend,
                "seen_stage",
                &["did", "last_seen_ms"],
                &rows,
                "",
            )
            .await?;
            exec(
                &mut tx,
                "UPDATE devices SET last_seen_ms = s.last_seen_ms
                 FROM seen_stage AS s WHERE devices.did = s.did",
                &[],
            )
            .await?;
            // Heard again: only these devices can come back from offline.
            refresh_status(&mut tx, None, Scope::Staged("seen_stage")).await?;
            exec(&mut tx, "DELETE FROM seen_stage", &[]).await?;
        }
        let json = serde_json::json!({
            "sessions_open": live.sessions_open,
            "reports_per_s_milli": live.reports_per_s_milli,
            "updated_ms": live.now_ms,
            "consumers": live.consumers,
        });
        set_meta(&mut tx, "live", &json.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn payee_name(p: &Payee) -> (String, &'static str) {
    match p {
        Payee::Device(k) => (k.to_did(), "device"),
        Payee::Account(k) => (k.to_did(), "account"),
        Payee::Treasury => ("treasury".to_owned(), "treasury"),
    }
}

/// Which devices [`refresh_status`] recomputes.
enum Scope {
    /// Every device (a new verdict epoch moves the clock for all of them).
    All,
    /// The devices named in a staging table's `did` column (what one update touched).
    Staged(&'static str),
}

/// Recompute devices' status: denylisted, offline (not heard from since
/// `stale_before`, or not judged in the latest verdict epoch), pending (never judged),
/// failing (fraud evidence, or nothing valid, in its latest judged epoch), else active.
///
/// `clock` is (heard-since time, latest verdict epoch); without one, the last one set is
/// used (kept in `cairn_meta`).
async fn refresh_status(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    clock: Option<(u64, u64)>,
    scope: Scope,
) -> Result<(), IndexError> {
    let (stale_before, latest) = match clock {
        Some(c) => {
            set_meta(tx, "status_clock", &format!("{} {}", c.0, c.1)).await?;
            c
        }
        None => {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT value FROM cairn_meta WHERE name = 'status_clock'")
                    .fetch_optional(&mut **tx)
                    .await?;
            row.and_then(|(v,)| {
                let (a, b) = v.split_once(' ')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .unwrap_or((0, 0))
        }
    };
    let only = match scope {
        Scope::All => String::new(),
        Scope::Staged(table) => format!(" WHERE did IN (SELECT did FROM {table})"),
    };
    exec(
        tx,
        &format!(
            "UPDATE devices SET status = CASE
                WHEN deny_id IS NOT NULL THEN 'denylisted'
                WHEN last_seen_ms IS NOT NULL AND last_seen_ms < $1 THEN 'offline'
                WHEN last_epoch IS NULL THEN 'pending'
                WHEN last_epoch + 1 < $2 THEN 'offline'
                WHEN last_fraud > 0 OR (last_valid = 0 AND last_invalid > 0) THEN 'failing'
                ELSE 'active' END{only}"
        ),
        &[stale_before.into(), latest.into()],
    )
    .await?;
    Ok(())
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
