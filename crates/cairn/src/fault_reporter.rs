//! Puts the consensus faults this validator witnessed on the ledger.
//!
//! Consensus hands each validator attributable evidence when another one signs
//! conflicting votes ([`Node::record_fault`]); this task submits `report_validator_fault`
//! for every round the ledger has no fault for yet, signed (and paid) by the validator's
//! own key. Every honest validator sees the same evidence, so several may submit the same
//! round: the first to land is recorded, the others are refused with `fault_reported` and
//! cost their sender only the fee.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::Keypair;
use cairn_ledger::{ParamId, TxKind};
use cairn_node::node::Node;

/// Most reports sent at once (the rest follow once these land).
const BATCH: usize = 16;
/// How long to wait for submitted reports to land before sending again.
const RESEND_AFTER: Duration = Duration::from_secs(30);

pub async fn run(node: Arc<Node>, key: Keypair, every: Duration) {
    let me = key.public();
    let mut tick = tokio::time::interval(every);
    let mut sent: Option<(u64, Instant)> = None;
    let mut short_warned = false;
    loop {
        tick.tick().await;
        let faults = node.unreported_faults();
        if faults.is_empty() {
            continue;
        }
        let state = node.state();
        let account = state.account(&me);
        if sent.is_some_and(|(next, at)| account.nonce < next && at.elapsed() < RESEND_AFTER) {
            continue;
        }
        let n = faults.len().min(BATCH);
        let fee = state.params.get(ParamId::TxFeeTokens);
        if account.tokens.base_units() < fee.saturating_mul(n as u128) {
            if !short_warned {
                tracing::warn!(validator = %me, faults = faults.len(), "fault evidence held but the validator's account cannot pay the fees to report it");
                short_warned = true;
            }
            continue;
        }
        short_warned = false;
        let mut submitted = 0;
        for (i, evidence) in faults.into_iter().take(n).enumerate() {
            let (validator, view) = (evidence.validator, evidence.view);
            let tx = node.sign_tx(
                &key,
                account.nonce + i as u64,
                TxKind::ReportValidatorFault { evidence },
            );
            match node.submit(tx) {
                Ok(_) => {
                    tracing::info!(%validator, view, "validator fault reported to the ledger");
                    submitted += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, %validator, view, "fault report refused");
                    break;
                }
            }
        }
        sent = Some((account.nonce + submitted, Instant::now()));
    }
}
