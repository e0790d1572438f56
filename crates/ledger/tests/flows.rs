//! End-to-end flows through the state machine: each capability used as a user would.

mod common;

use cairn_core::envelope::{Signed, sign_detached};
use cairn_core::{Credits, Epoch, Hash, Height, Tokens};
use cairn_ledger::state::{DenylistStatus, ProposalStatus, verify_account, verify_device};
use cairn_ledger::tx::{
    DenyTarget, DenylistEntry, OracleSignature, ParamValue, ProposalKind, Recipient, ServiceKind,
    UsageReceipt, VoteChoice,
};
use cairn_ledger::{Event, ParamId, TxError, TxKind};
use common::*;

#[test]
fn device_lifecycle_location_and_bonds() {
    let mut w = World::new();
    let (alice, device) = (key("alice"), key("device-1"));
    w.onboard(&alice, &device);
    let d = &w.state.devices[&device.public()];
    assert_eq!(d.owner, alice.public());
    assert_eq!(w.state.makers[&pk("maker-acme")].devices_onboarded, 1);
    // 100 tokens at 1 USD bought 10,000,000 credits; onboarding burned 4,000,000.
    assert_eq!(
        w.state.account(&alice.public()).credits,
        Credits::from_base_units(6_000_000)
    );

    let here: cairn_core::Location = "88283082a3fffff".parse().unwrap();
    let (a, b) = (
        here.center_child(12).unwrap(),
        here.center_child(11).unwrap().center_child(12).unwrap(),
    );
    w.ok(
        &alice,
        TxKind::AssertLocation {
            device: device.public(),
            location: a,
        },
    );
    let err = w.err(
        &alice,
        TxKind::AssertLocation {
            device: device.public(),
            location: a,
        },
    );
    assert!(matches!(err, TxError::SameLocation(_)));
    let moved = "88283082a7fffff"
        .parse::<cairn_core::Location>()
        .unwrap()
        .center_child(12)
        .unwrap();
    assert_ne!(moved, b);
    w.ok(
        &alice,
        TxKind::AssertLocation {
            device: device.public(),
            location: moved,
        },
    );
    let d = &w.state.devices[&device.public()];
    assert_eq!(
        (d.location, d.location_moves, d.location_since),
        (Some(moved), 1, Some(w.state.height))
    );

    w.ok(
        &alice,
        TxKind::Bond {
            device: device.public(),
            amount: tokens("50"),
        },
    );
    w.ok(
        &alice,
        TxKind::Unbond {
            device: device.public(),
            amount: tokens("20"),
        },
    );
    let release = w.state.devices[&device.public()].unbonding[0].release_at;
    let err = w.err(
        &alice,
        TxKind::WithdrawUnbonded {
            device: device.public(),
        },
    );
    assert_eq!(
        err,
        TxError::NothingUnbonded {
            next: Some(release)
        }
    );
    let err = w.err(
        &alice,
        TxKind::Unbond {
            device: device.public(),
            amount: tokens("31"),
        },
    );
    assert!(matches!(err, TxError::InsufficientBond { .. }));
    w.empty_blocks(release.0 - w.state.height.0 - 1);
    let before = w.state.account(&alice.public()).tokens;
    w.ok(
        &alice,
        TxKind::WithdrawUnbonded {
            device: device.public(),
        },
    );
    let after = w.state.account(&alice.public()).tokens;
    assert_eq!(
        after,
        before
            .checked_add(tokens("20"))
            .unwrap()
            .checked_sub(tokens("0.0001"))
            .unwrap()
    );
    assert_eq!(w.state.devices[&device.public()].bond, tokens("30"));
}

#[test]
fn usage_receipts_burn_credits_once() {
    let mut w = World::new();
    w.onboard(&key("alice"), &key("device-1"));
    w.buy_credits(&key("carol"), 10);
    let receipt = UsageReceipt {
        device: pk("device-1"),
        service: ServiceKind::Storage,
        amount: Credits::from_base_units(250_000),
        serial: 1,
        expires_at: Height(w.state.height.0 + 10),
    };
    let signed = Signed::sign(&key("carol"), &network(), receipt.clone());
    // The provider's owner submits the consumer's receipt.
    let r = w.ok(
        &key("alice"),
        TxKind::PayForService {
            receipt: signed.clone(),
        },
    );
    assert!(r.events.iter().any(|e| matches!(
        e,
        Event::UsagePaid {
            epoch: Epoch(1),
            ..
        }
    )));
    assert_eq!(
        w.state.account(&pk("carol")).credits,
        Credits::from_base_units(750_000)
    );
    assert_eq!(
        w.state.usage[&(Epoch(1), pk("device-1"))],
        Credits::from_base_units(250_000)
    );
    assert_eq!(
        w.err(
            &key("alice"),
            TxKind::PayForService {
                receipt: signed.clone()
            }
        ),
        TxError::ReceiptSpent
    );
    // A receipt for another network's domain does not verify.
    let foreign = Signed::sign(
        &key("carol"),
        &cairn_core::NetworkId::new("elsewhere").unwrap(),
        receipt.clone(),
    );
    assert!(matches!(
        w.err(&key("alice"), TxKind::PayForService { receipt: foreign }),
        TxError::BadSignature(_)
    ));
    // Too far in the future, and expired.
    let long = Signed::sign(
        &key("carol"),
        &network(),
        UsageReceipt {
            expires_at: Height(10_000),
            serial: 2,
            ..receipt.clone()
        },
    );
    assert!(matches!(
        w.err(&key("alice"), TxKind::PayForService { receipt: long }),
        TxError::ReceiptTooLong { .. }
    ));
    w.empty_blocks(11);
    assert!(matches!(
        w.err(&key("alice"), TxKind::PayForService { receipt: signed }),
        TxError::ReceiptExpired { .. }
    ));
    // Expired receipts are forgotten by end-of-block housekeeping.
    assert!(w.state.spent_receipts.is_empty());

    // Accepting epoch 1's manifest settles its usage.
    let (m, _) = w.manifest(
        &[leaf(Recipient::Device(pk("device-1")), 1000)],
        &["reward-1", "reward-3"],
    );
    w.ok(&key("reward-1"), m);
    assert!(w.state.usage.is_empty());
    assert_eq!(w.state.open_epoch(), Epoch(2));
}

#[test]
fn manifests_mint_into_escrow_and_claims_pay_cumulative_minus_claimed() {
    let mut w = World::new();
    w.onboard(&key("bob"), &key("device-1"));
    let device_leaf = |n| leaf(Recipient::Device(pk("device-1")), n);
    let leaves1 = [device_leaf(700), leaf(Recipient::Treasury, 300)];
    let (m, tree1) = w.manifest(&leaves1, &["reward-1", "reward-2"]);
    w.ok(&key("reward-1"), m);
    assert_eq!(w.state.supply.escrow, tokens("1000"));
    assert_eq!(w.state.supply.minted, tokens("1000"));

    // Epoch 2: cumulative totals grow.
    let leaves2 = [device_leaf(1400), leaf(Recipient::Treasury, 600)];
    let (m, tree2) = w.manifest(&leaves2, &["reward-2", "reward-3"]);
    w.ok(&key("reward-1"), m);
    assert_eq!(w.state.supply.escrow, tokens("2000"));

    // Anyone may submit a claim; the device's owner is paid.
    let bob_before = w.state.account(&pk("bob")).tokens;
    w.ok(&key("carol"), w.claim_kind(Epoch(1), &tree1, 0, leaves1[0]));
    assert_eq!(
        w.state.account(&pk("bob")).tokens,
        bob_before.checked_add(tokens("700")).unwrap()
    );
    w.ok(&key("carol"), w.claim_kind(Epoch(2), &tree2, 0, leaves2[0]));
    assert_eq!(
        w.state.account(&pk("bob")).tokens,
        bob_before.checked_add(tokens("1400")).unwrap()
    );
    // An older manifest's lower total pays nothing more.
    assert!(matches!(
        w.err(&key("carol"), w.claim_kind(Epoch(1), &tree1, 0, leaves1[0])),
        TxError::NothingToClaim { .. }
    ));
    let treasury = w.state.supply.treasury;
    w.ok(&key("carol"), w.claim_kind(Epoch(2), &tree2, 1, leaves2[1]));
    assert_eq!(
        w.state.supply.treasury,
        treasury.checked_add(tokens("600")).unwrap()
    );
    assert_eq!(w.state.supply.escrow, Tokens::ZERO);
}

#[test]
fn denylist_withholds_until_an_appeal_overturns_it() {
    let mut w = World::new();
    w.lock_alice();
    w.onboard(&key("bob"), &key("device-1"));
    let leaves = [
        leaf(Recipient::Device(pk("device-1")), 500),
        leaf(Recipient::Treasury, 500),
    ];
    let (m, tree) = w.manifest(&leaves, &["reward-1", "reward-2"]);
    w.ok(&key("reward-1"), m);

    let entry = DenylistEntry {
        target: DenyTarget::Device(pk("device-1")),
        reason: 17,
        evidence: Hash::of(b"gps spoofing evidence"),
        classifier_version: 1,
        expires_at: Height(w.state.height.0 + 500),
    };
    let sign = |e: &DenylistEntry| {
        vec![OracleSignature {
            oracle: pk("verifier-1"),
            signature: sign_detached(&key("verifier-1"), &network(), e),
        }]
    };
    // Signed by a non-verifier: refused.
    let bad = vec![OracleSignature {
        oracle: pk("alice"),
        signature: sign_detached(&key("alice"), &network(), &entry),
    }];
    assert_msg(
        &w.err(
            &key("alice"),
            TxKind::AddDenylistEntry {
                entry: entry.clone(),
                signatures: bad,
            },
        ),
        "is not a verifier oracle",
    );
    w.ok(
        &key("verifier-1"),
        TxKind::AddDenylistEntry {
            entry: entry.clone(),
            signatures: sign(&entry),
        },
    );

    let claim = w.claim_kind(Epoch(1), &tree, 0, leaves[0]);
    assert_eq!(
        w.err(&key("bob"), claim.clone()),
        TxError::RewardsWithheld { entry: 1 }
    );
    assert_eq!(
        w.err(
            &key("carol"),
            TxKind::Appeal {
                entry: 1,
                deposit: tokens("100")
            }
        ),
        TxError::NotAffectedOwner
    );

    w.ok(
        &key("bob"),
        TxKind::Appeal {
            entry: 1,
            deposit: tokens("100"),
        },
    );
    let proposal = match w.state.denylist[&1].status {
        DenylistStatus::Appealed { proposal } => proposal,
        s => panic!("{s:?}"),
    };
    assert!(matches!(
        w.err(
            &key("bob"),
            TxKind::Appeal {
                entry: 1,
                deposit: tokens("100")
            }
        ),
        TxError::NotAppealable { .. }
    ));
    w.ok(
        &key("alice"),
        TxKind::Vote {
            proposal,
            choice: VoteChoice::Yes,
        },
    );
    w.empty_blocks(w.state.proposals[&proposal].voting_end.0 - w.state.height.0 - 1);
    w.ok(&key("bob"), TxKind::ExecuteProposal { proposal });
    w.empty_blocks(5);
    w.ok(&key("bob"), TxKind::ExecuteProposal { proposal });
    assert_eq!(w.state.denylist[&1].status, DenylistStatus::Overturned);
    // The appeal deposit came back, and the withheld rewards are now claimable.
    let before = w.state.account(&pk("bob")).tokens;
    w.ok(&key("carol"), claim);
    assert_eq!(
        w.state.account(&pk("bob")).tokens,
        before.checked_add(tokens("500")).unwrap()
    );
}

#[test]
fn failed_appeal_upholds_and_a_window_closes() {
    let mut w = World::new();
    w.lock_alice();
    w.onboard(&key("bob"), &key("device-1"));
    w.onboard(&key("carol"), &key("device-2"));
    let (a, b) = if pk("device-1") < pk("device-2") {
        (pk("device-1"), pk("device-2"))
    } else {
        (pk("device-2"), pk("device-1"))
    };
    let entry = DenylistEntry {
        target: DenyTarget::Pair(b, a),
        reason: 3,
        evidence: Hash::of(b"mutual witnessing"),
        classifier_version: 2,
        expires_at: Height(1_000),
    };
    let sign = |e: &DenylistEntry| {
        vec![OracleSignature {
            oracle: pk("verifier-1"),
            signature: sign_detached(&key("verifier-1"), &network(), e),
        }]
    };
    let err = w.err(
        &key("verifier-1"),
        TxKind::AddDenylistEntry {
            entry: entry.clone(),
            signatures: sign(&entry),
        },
    );
    assert_msg(&err, "ascending key order");
    let entry = DenylistEntry {
        target: DenyTarget::Pair(a, b),
        ..entry
    };
    w.ok(
        &key("verifier-1"),
        TxKind::AddDenylistEntry {
            entry: entry.clone(),
            signatures: sign(&entry),
        },
    );
    w.ok(
        &key("verifier-1"),
        TxKind::AddDenylistEntry {
            entry: entry.clone(),
            signatures: sign(&entry),
        },
    );

    // Entry 1: appealed by carol, voted down: upheld.
    w.ok(
        &key("carol"),
        TxKind::Appeal {
            entry: 1,
            deposit: tokens("100"),
        },
    );
    let DenylistStatus::Appealed { proposal } = w.state.denylist[&1].status else {
        panic!()
    };
    w.ok(
        &key("alice"),
        TxKind::Vote {
            proposal,
            choice: VoteChoice::No,
        },
    );
    w.empty_blocks(w.state.proposals[&proposal].voting_end.0 - w.state.height.0 - 1);
    w.ok(&key("bob"), TxKind::ExecuteProposal { proposal });
    assert_eq!(
        w.state.proposals[&proposal].status,
        ProposalStatus::Rejected
    );
    assert_eq!(w.state.denylist[&1].status, DenylistStatus::Upheld);

    // Entry 2: nobody appealed in time.
    w.empty_blocks(20);
    let err = w.err(
        &key("bob"),
        TxKind::Appeal {
            entry: 2,
            deposit: tokens("100"),
        },
    );
    assert!(matches!(err, TxError::AppealWindowClosed { entry: 2, .. }));
}

#[test]
fn governance_changes_params_spends_treasury_and_curtails() {
    let mut w = World::new();
    w.lock_alice();
    let id = w.run_proposal(
        ProposalKind::ParamChange {
            changes: vec![ParamValue {
                param: ParamId::QuorumBps,
                value: 4_000,
            }],
        },
        VoteChoice::Yes,
    );
    assert!(matches!(
        w.state.proposals[&id].status,
        ProposalStatus::Executed { .. }
    ));
    assert_eq!(w.state.params.get(ParamId::QuorumBps), 4_000);

    let before = w.state.account(&pk("bob")).tokens;
    w.run_proposal(
        ProposalKind::TreasurySpend {
            to: pk("bob"),
            amount: tokens("2500"),
        },
        VoteChoice::Yes,
    );
    assert_eq!(
        w.state.account(&pk("bob")).tokens,
        before
            .checked_sub(tokens("0.0002"))
            .unwrap()
            .checked_add(tokens("2500"))
            .unwrap()
    );
    assert_eq!(w.state.supply.treasury, tokens("7500"));

    // A passed spend larger than the treasury fails at execution, visibly.
    let id = w.run_proposal(
        ProposalKind::TreasurySpend {
            to: pk("bob"),
            amount: tokens("9000"),
        },
        VoteChoice::Yes,
    );
    assert!(
        matches!(&w.state.proposals[&id].status, ProposalStatus::Failed { reason } if reason.contains("insufficient tokens"))
    );

    // An emergency curtailment pauses credit minting with no timelock.
    let id = w.run_proposal(
        ProposalKind::EmergencyCurtail {
            param: ParamId::CreditMintingEnabled,
            value: 0,
        },
        VoteChoice::Yes,
    );
    assert!(matches!(
        w.state.proposals[&id].status,
        ProposalStatus::Executed { .. }
    ));
    let t = w.ctx().time_ms;
    w.ok(
        &key("price-1"),
        TxKind::SubmitPrice {
            usd_per_token_e8: 100_000_000,
            observed_at_ms: t,
        },
    );
    let err = w.err(
        &key("alice"),
        TxKind::MintCredits {
            amount: tokens("1"),
        },
    );
    assert_msg(&err, "credit minting is paused by governance");

    // Vetoed: the deposit is burned.
    let burned = w.state.supply.burned;
    let id = w.run_proposal(
        ProposalKind::MakerApproval {
            maker: pk("maker-new"),
            name: "New".into(),
        },
        VoteChoice::Veto,
    );
    assert_eq!(w.state.proposals[&id].status, ProposalStatus::Vetoed);
    // Burned: the deposit plus the three transactions' fees.
    assert_eq!(
        w.state.supply.burned,
        burned.checked_add(tokens("100.0003")).unwrap()
    );
}

#[test]
fn quorum_counts_the_snapshot() {
    let mut w = World::new();
    // Alice locks a little, carol a lot; only alice votes: no quorum.
    w.ok(
        &key("alice"),
        TxKind::LockTokens {
            amount: tokens("1000"),
            unlock_at: Height(90),
        },
    );
    w.ok(
        &key("carol"),
        TxKind::LockTokens {
            amount: tokens("400000"),
            unlock_at: Height(90),
        },
    );
    let id = w.run_proposal(
        ProposalKind::SoftwareUpgrade {
            version: "0.2.0".into(),
            height: Height(500),
        },
        VoteChoice::Yes,
    );
    assert_eq!(w.state.proposals[&id].status, ProposalStatus::NoQuorum);
    // The deposit came back.
    assert!(w.state.account(&pk("alice")).tokens > tokens("998000"));
}

#[test]
fn state_proofs_for_accounts_and_devices() {
    let mut w = World::new();
    w.onboard(&key("alice"), &key("device-1"));
    let root = w.state.root();
    let (account, proof) = w.state.prove_account(&pk("alice"));
    assert!(verify_account(
        &root,
        &pk("alice"),
        account.as_ref(),
        &proof
    ));
    let mut richer = account.clone().unwrap();
    richer.tokens = tokens("99999999");
    assert!(!verify_account(&root, &pk("alice"), Some(&richer), &proof));
    let (device, proof) = w.state.prove_device(&pk("device-1"));
    assert!(verify_device(
        &root,
        &pk("device-1"),
        device.as_ref(),
        &proof
    ));
    // Absence is provable too.
    let (none, proof) = w.state.prove_device(&pk("device-404"));
    assert!(none.is_none());
    assert!(verify_device(&root, &pk("device-404"), None, &proof));
    assert!(!verify_device(
        &root,
        &pk("device-1"),
        None,
        &w.state.prove_device(&pk("device-1")).1
    ));
}

fn assert_msg(err: &TxError, want: &str) {
    assert!(
        err.to_string().contains(want),
        "message {:?} should mention {want:?}",
        err.to_string()
    );
}
