//! End-to-end flows through the state machine: each capability used as a user would.

mod common;

use cairn_core::envelope::{Signed, sign_detached};
use cairn_core::{Credits, Epoch, Hash, Height, Tokens};
use cairn_ledger::state::{DenylistStatus, ProposalStatus, verify_account, verify_device};
use cairn_ledger::tx::{
    DenyTarget, DenylistEntry, OracleSignature, ParamValue, Penalty, PenaltyKind, PenaltyProof,
    ProposalKind, Recipient, ServiceKind, UsageReceipt, VoteChoice,
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
        w.state.usage[&(Epoch(1), pk("device-1"))].credits,
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

    // Entry 1: appealed by carol, voted down: upheld, and her deposit is forfeit.
    let carol_before = w.state.account(&pk("carol")).tokens;
    let treasury_before = w.state.supply.treasury;
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
    let r = w.ok(&key("bob"), TxKind::ExecuteProposal { proposal });
    assert_eq!(
        w.state.proposals[&proposal].status,
        ProposalStatus::Rejected
    );
    assert_eq!(w.state.denylist[&1].status, DenylistStatus::Upheld);
    assert!(r.events.contains(&Event::AppealForfeited {
        entry: 1,
        appellant: pk("carol"),
        deposit: tokens("100"),
    }));
    let fee = Tokens::from_base_units(w.state.params.get(ParamId::TxFeeTokens));
    assert_eq!(
        w.state.account(&pk("carol")).tokens,
        carol_before
            .checked_sub(tokens("100"))
            .unwrap()
            .checked_sub(fee)
            .unwrap()
    );
    assert_eq!(
        w.state.supply.treasury,
        treasury_before.checked_add(tokens("100")).unwrap()
    );

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
            amount: tokens("1500"),
        },
        VoteChoice::Yes,
    );
    assert_eq!(
        w.state.account(&pk("bob")).tokens,
        before
            .checked_sub(tokens("0.0002"))
            .unwrap()
            .checked_add(tokens("1500"))
            .unwrap()
    );
    assert_eq!(w.state.supply.treasury, tokens("8500"));

    // The treasury breaker: 20% of the treasury per window. 1,500 left already; another
    // 1,000 within the window fails at execution, visibly, and trips the breaker.
    assert_eq!(w.state.breakers.treasury_tripped_at, None);
    let id = w.run_proposal(
        ProposalKind::TreasurySpend {
            to: pk("bob"),
            amount: tokens("1000"),
        },
        VoteChoice::Yes,
    );
    assert!(
        matches!(&w.state.proposals[&id].status, ProposalStatus::Failed { reason } if reason.contains("treasury circuit breaker")),
        "{:?}",
        w.state.proposals[&id].status
    );
    assert!(w.state.breakers.treasury_tripped_at.is_some());
    assert_eq!(w.state.supply.treasury, tokens("8500"));
    // What the window still allows passes: 1,500 + 500 is exactly 20% of 10,000.
    w.run_proposal(
        ProposalKind::TreasurySpend {
            to: pk("bob"),
            amount: tokens("500"),
        },
        VoteChoice::Yes,
    );
    assert_eq!(w.state.supply.treasury, tokens("8000"));

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

/// Re-sign a manifest transaction after editing it.
fn resign(
    kind: &mut TxKind,
    signers: &[&str],
    edit: impl FnOnce(&mut cairn_ledger::tx::RewardManifest),
) {
    if let TxKind::SubmitManifest {
        manifest,
        signatures,
    } = kind
    {
        edit(manifest);
        *signatures = signers
            .iter()
            .map(|s| OracleSignature {
                oracle: pk(s),
                signature: sign_detached(&key(s), &network(), &*manifest),
            })
            .collect();
    }
}

#[test]
fn usage_value_economics_unallocated_burn_and_vesting() {
    let mut w = World::with_params(&[(ParamId::VestingPpm, 500_000), (ParamId::VestingBlocks, 20)]);
    w.onboard(&key("bob"), &key("device-1"));
    // Carol buys 10 tokens of credits at 1 USD and pays bob's device 250,000 credits
    // (2.5 USD, so 2.5 tokens at that price).
    w.buy_credits(&key("carol"), 10);
    let receipt = UsageReceipt {
        device: pk("device-1"),
        service: ServiceKind::Storage,
        amount: Credits::from_base_units(250_000),
        serial: 1,
        expires_at: Height(w.state.height.0 + 10),
    };
    w.ok(
        &key("bob"),
        TxKind::PayForService {
            receipt: Signed::sign(&key("carol"), &network(), receipt),
        },
    );
    let usage = w.state.usage[&(Epoch(1), pk("device-1"))];
    assert_eq!(usage.tokens, tokens("2.5"));
    let figures = w.state.economics[&Epoch(1)].clone();
    // Bob's onboarding credits (100 tokens) and carol's 10 tokens, at 1 USD each.
    assert_eq!(figures.tokens_burned_for_credits, tokens("110"));
    assert_eq!(figures.burned_usd_e8, 110 * 100_000_000);
    assert_eq!(figures.usage_credits, Credits::from_base_units(250_000));

    // Epoch 1's manifest burns 100 unallocated tokens: the leaves hold 900.
    let burned_before = w.state.supply.burned;
    let leaves = [
        leaf(Recipient::Device(pk("device-1")), 600),
        leaf(Recipient::Treasury, 300),
    ];
    let (mut m, tree) = w.manifest(&leaves, &[]);
    resign(&mut m, &["reward-1", "reward-2"], |m| {
        m.unallocated_burned = tokens("100")
    });
    let fee = Tokens::from_base_units(w.state.params.get(ParamId::TxFeeTokens));
    // A fresh price so the emission can be valued.
    w.buy_credits(&key("carol"), 1);
    w.ok(&key("reward-1"), m);
    assert_eq!(w.state.supply.escrow, tokens("900"));
    assert_eq!(w.state.supply.rewards_burned, tokens("100"));
    assert!(
        w.state.supply.burned
            >= burned_before
                .checked_add(tokens("100"))
                .unwrap()
                .checked_add(fee)
                .unwrap()
    );
    let figures = &w.state.economics[&Epoch(1)];
    assert_eq!(figures.emitted, tokens("1000"));
    assert_eq!(figures.emitted_usd_e8, 1000 * 100_000_000);
    assert_eq!(figures.unallocated_burned, tokens("100"));
    // 110 USD burned in epoch 1 (the last purchase fell in epoch 2) for 1,000 USD
    // emitted: 11% demand coverage.
    assert_eq!(figures.demand_coverage_ppm(), Some(110_000));
    assert_eq!(w.state.economics[&Epoch(2)].burned_usd_e8, 100_000_000);

    // Bob claims 600: half now, half vesting over 20 blocks.
    let bob = w.state.account(&pk("bob")).tokens;
    w.ok(&key("carol"), w.claim_kind(Epoch(1), &tree, 0, leaves[0]));
    assert_eq!(
        w.state.account(&pk("bob")).tokens,
        bob.checked_add(tokens("300")).unwrap()
    );
    let v = w.state.vesting[&pk("bob")];
    assert_eq!((v.total, v.released), (tokens("300"), Tokens::ZERO));
    assert_eq!(
        w.err(&key("carol"), TxKind::ReleaseVested),
        TxError::NothingVested
    );
    // Released 10 of the 20 blocks after the claim: 150 of 300 unlocked.
    w.empty_blocks(9);
    let bob = w.state.account(&pk("bob")).tokens;
    w.ok(&key("bob"), TxKind::ReleaseVested);
    assert_eq!(
        w.state.account(&pk("bob")).tokens,
        bob.checked_add(tokens("150"))
            .unwrap()
            .checked_sub(fee)
            .unwrap()
    );
    w.empty_blocks(20);
    w.ok(&key("bob"), TxKind::ReleaseVested);
    assert!(!w.state.vesting.contains_key(&pk("bob")));
}

#[test]
fn the_mint_breaker_holds_a_manifest_until_the_window_allows_it() {
    // At most one epoch's emission minted per 30 blocks; epochs are 10 blocks.
    let mut w = World::with_params(&[(ParamId::MintBreakerEpochs, 1)]);
    let leaves = [leaf(Recipient::Treasury, 1000)];
    let (m, _) = w.manifest(&leaves, &["reward-1", "reward-2"]);
    w.ok(&key("reward-1"), m);
    let leaves = [leaf(Recipient::Treasury, 2000)];
    let (m, _) = w.manifest(&leaves, &["reward-1", "reward-2"]);
    let r = w.ok(&key("reward-1"), m.clone());
    assert!(r.events.iter().any(|e| matches!(
        e,
        Event::CircuitBreakerTripped { breaker, .. } if breaker == "mint"
    )));
    assert_eq!(w.state.manifests.len(), 1);
    assert!(w.state.breakers.mint_tripped_at.is_some());
    assert_eq!(w.state.supply.escrow, tokens("1000"));
    // Past the window, the same signed manifest goes through.
    w.empty_blocks(30);
    w.ok(&key("reward-1"), m);
    assert_eq!(w.state.manifests.len(), 2);
    assert_eq!(w.state.supply.escrow, tokens("2000"));
}

/// Penalties in a manifest take from the bond, then from what is unbonding; a fault fee
/// applies once per epoch, a fraud penalty only once its entry is final and once per
/// device, with the bounty to whoever reported the entry and the rest to the treasury.
#[test]
fn penalties_take_bonds_once_and_pay_the_reporter() {
    let mut w = World::new();
    w.onboard(&key("bob"), &key("device-1"));
    w.ok(
        &key("bob"),
        TxKind::Bond {
            device: pk("device-1"),
            amount: tokens("50"),
        },
    );
    w.ok(
        &key("bob"),
        TxKind::Unbond {
            device: pk("device-1"),
            amount: tokens("10"),
        },
    );
    // Carol relays the verifier's finding: she is the reporter.
    let entry = DenylistEntry {
        target: DenyTarget::Device(pk("device-1")),
        reason: 7,
        evidence: Hash::of(b"replica shared with a partner"),
        classifier_version: 1,
        expires_at: Height(10_000),
    };
    w.ok(
        &key("carol"),
        TxKind::AddDenylistEntry {
            entry: entry.clone(),
            signatures: vec![OracleSignature {
                oracle: pk("verifier-1"),
                signature: sign_detached(&key("verifier-1"), &network(), &entry),
            }],
        },
    );
    let epoch = w.state.open_epoch();
    let fee = Penalty {
        epoch,
        device: pk("device-1"),
        kind: PenaltyKind::FaultFee,
        amount: tokens("5"),
    };
    let fraud = Penalty {
        epoch,
        device: pk("device-1"),
        kind: PenaltyKind::Fraud { entry: 1 },
        amount: tokens("100"),
    };
    let (m, _, tree) = w.manifest_with_penalties(
        &[leaf(Recipient::Treasury, 1_000)],
        &[fee, fraud],
        &["reward-1", "reward-2"],
    );
    w.ok(&key("reward-1"), m);
    let apply = |p: Penalty, i: u64| TxKind::ApplyPenalties {
        epoch,
        penalties: vec![PenaltyProof {
            penalty: p,
            proof: tree.proof(i).unwrap(),
        }],
    };

    // A forged amount does not prove.
    let forged = Penalty {
        amount: tokens("1"),
        ..fee
    };
    assert!(matches!(
        w.err(&key("alice"), apply(forged, 0)),
        TxError::BadPenaltyProof(_)
    ));
    // The fault fee applies at once, from the bond, to the treasury; then never again.
    let treasury = w.state.supply.treasury;
    w.ok(&key("alice"), apply(fee, 0));
    assert_eq!(w.state.devices[&pk("device-1")].bond, tokens("35"));
    assert_eq!(
        w.state.supply.treasury,
        treasury.checked_add(tokens("5")).unwrap()
    );
    assert!(matches!(
        w.err(&key("alice"), apply(fee, 0)),
        TxError::PenaltyApplied(_)
    ));
    // Fraud waits until the entry is final (its appeal window, 20 blocks, closes).
    assert!(matches!(
        w.err(&key("alice"), apply(fraud, 1)),
        TxError::PenaltyNotFinal { entry: 1 }
    ));
    w.empty_blocks(20);
    let carol = w.state.account(&pk("carol")).tokens;
    let treasury = w.state.supply.treasury;
    let receipt = w.ok(&key("alice"), apply(fraud, 1));
    // 100 assessed; the bond (35) and the unbonding 10 are all there is.
    let d = &w.state.devices[&pk("device-1")];
    assert_eq!(d.bond, Tokens::ZERO);
    assert!(d.unbonding.is_empty());
    assert!(receipt.events.iter().any(|e| matches!(
        e,
        Event::Penalized { taken, bounty, reporter: Some(r), .. }
            if *taken == tokens("45") && *bounty == tokens("4.5") && *r == pk("carol")
    )));
    assert_eq!(
        w.state.account(&pk("carol")).tokens,
        carol.checked_add(tokens("4.5")).unwrap()
    );
    assert_eq!(
        w.state.supply.treasury,
        treasury.checked_add(tokens("40.5")).unwrap()
    );
    assert!(matches!(
        w.err(&key("alice"), apply(fraud, 1)),
        TxError::PenaltyApplied(_)
    ));
    // Nothing is left to withdraw once the unbonding delay passes.
    assert!(matches!(
        w.err(
            &key("bob"),
            TxKind::WithdrawUnbonded {
                device: pk("device-1")
            }
        ),
        TxError::NothingUnbonded { .. }
    ));
}

#[test]
fn validator_faults_are_proven_by_two_signed_votes_once_per_round() {
    use cairn_core::keys::Signer as _;
    use cairn_ledger::faults::{
        FaultEvidence, FaultKind, FaultVotes, VoteProposal, VoteType, vote_signing_bytes,
    };
    let mut w = World::new();
    let validator = key("validator");
    let proposal = |b: &[u8]| VoteProposal {
        parent_view: 6,
        payload: Hash::of(b),
    };
    fn sign(
        signer: &cairn_core::Keypair,
        net: &cairn_core::NetworkId,
        vote: VoteType,
        view: u64,
        p: Option<&VoteProposal>,
    ) -> cairn_core::Signature {
        signer.sign_raw(&vote_signing_bytes(net, vote, 0, view, p))
    }
    let notarize = |signer: &cairn_core::Keypair, net: &cairn_core::NetworkId, view, a, b| {
        let (a, b) = (proposal(a), proposal(b));
        FaultEvidence {
            validator: signer.public(),
            epoch: 0,
            view,
            votes: FaultVotes::ConflictingNotarize {
                first: a,
                first_signature: sign(signer, net, VoteType::Notarize, view, Some(&a)),
                second: b,
                second_signature: sign(signer, net, VoteType::Notarize, view, Some(&b)),
            },
        }
    };
    let report = |evidence| TxKind::ReportValidatorFault { evidence };

    // Refused, with nothing changed: the same proposal twice, another network's votes,
    // a key that is not a validator, a signature over the other proposal.
    let same = notarize(&validator, &network(), 7, b"x", b"x");
    let err = w.err(&key("bob"), report(same));
    assert_eq!(err.code(), "bad_fault_evidence");
    assert_msg(&err, "same proposal");
    let other_net = cairn_core::NetworkId::new("elsewhere").unwrap();
    let err = w.err(
        &key("bob"),
        report(notarize(&validator, &other_net, 7, b"x", b"y")),
    );
    assert_eq!(err.code(), "bad_fault_evidence");
    assert_msg(&err, "does not verify");
    let err = w.err(
        &key("bob"),
        report(notarize(&key("bob"), &network(), 7, b"x", b"y")),
    );
    assert_msg(&err, "not a validator");
    let mut swapped = notarize(&validator, &network(), 7, b"x", b"y");
    if let FaultVotes::ConflictingNotarize {
        first_signature,
        second_signature,
        ..
    } = &mut swapped.votes
    {
        std::mem::swap(first_signature, second_signature);
    }
    assert_eq!(
        w.err(&key("bob"), report(swapped)).code(),
        "bad_fault_evidence"
    );
    // A finalize signature does not stand in for a notarize one.
    let mut wrong_type = notarize(&validator, &network(), 7, b"x", b"y");
    if let FaultVotes::ConflictingNotarize {
        second,
        second_signature,
        ..
    } = &mut wrong_type.votes
    {
        *second_signature = sign(&validator, &network(), VoteType::Finalize, 7, Some(second));
    }
    assert_eq!(
        w.err(&key("bob"), report(wrong_type)).code(),
        "bad_fault_evidence"
    );

    // Valid evidence is recorded for the reward epoch of the block that carries it.
    let good = notarize(&validator, &network(), 7, b"x", b"y");
    let epoch = w.state.epoch_at(w.ctx().time_ms);
    let r = w.ok(&key("bob"), report(good.clone()));
    assert!(r.events.contains(&Event::ValidatorFaulted {
        validator: validator.public(),
        kind: FaultKind::ConflictingNotarize,
        consensus_epoch: 0,
        view: 7,
        epoch,
        reporter: pk("bob"),
    }));
    let f = &w.state.validator_faults[&(validator.public(), 0, 7)];
    assert_eq!(
        (f.kind, f.epoch, f.reporter),
        (FaultKind::ConflictingNotarize, epoch, pk("bob"))
    );
    // Once per round, whoever reports it and whatever the kind.
    let err = w.err(&key("alice"), report(good));
    assert_eq!(err.code(), "fault_reported");
    let p = proposal(b"z");
    let nullify_finalize = |view| FaultEvidence {
        validator: validator.public(),
        epoch: 0,
        view,
        votes: FaultVotes::NullifyFinalize {
            finalize: p,
            finalize_signature: sign(&validator, &network(), VoteType::Finalize, view, Some(&p)),
            nullify_signature: sign(&validator, &network(), VoteType::Nullify, view, None),
        },
    };
    assert_eq!(
        w.err(&key("alice"), report(nullify_finalize(7))).code(),
        "fault_reported"
    );
    // Another round is another fault; the state root covers the records.
    let before = w.state.root();
    w.ok(&key("alice"), report(nullify_finalize(9)));
    assert_ne!(w.state.root(), before);
    assert_eq!(w.state.validator_faults.len(), 2);
    let restored = cairn_ledger::State::from_snapshot(&w.state.to_snapshot()).unwrap();
    assert_eq!(restored.root(), w.state.root());
    assert_eq!(restored.validator_faults, w.state.validator_faults);
}

#[test]
fn epochs_close_at_the_first_block_past_their_end_and_are_pruned_once_settled() {
    use cairn_core::Epoch;
    use cairn_ledger::tx::Recipient;
    let mut w = World::new();
    // 60 s epochs, 6 s blocks: block 10 (time = genesis + 60 s) is the first of epoch 2.
    w.empty_blocks(9);
    assert_eq!(
        w.state.epoch_close_height(Epoch(1)),
        None,
        "epoch 1 is open"
    );
    w.empty_blocks(1);
    assert_eq!(w.state.epoch_close_height(Epoch(1)), Some(Height(10)));
    assert_eq!(w.state.epoch_close_height(Epoch(0)), Some(Height(0)));
    w.empty_blocks(10);
    assert_eq!(w.state.epoch_close_height(Epoch(2)), Some(Height(20)));
    // Accepting epoch 2's manifest forgets epoch 1's close, keeps what later epochs need.
    for _ in 0..2 {
        let (kind, _) = w.manifest(&[leaf(Recipient::Treasury, 1)], &["reward-1", "reward-2"]);
        w.ok(&key("bob"), kind);
    }
    assert_eq!(w.state.epoch_close_height(Epoch(1)), None, "pruned");
    assert_eq!(w.state.epoch_close_height(Epoch(2)), Some(Height(20)));
    assert_eq!(w.state.epoch_closes.len(), 1);
    // A later block that skips epochs closes all of them at once.
    let ctx = cairn_ledger::BlockContext {
        height: Height(w.state.height.0 + 1),
        time_ms: GENESIS_MS + 5 * 60_000 + 1,
    };
    cairn_ledger::apply_block(&mut w.state, &ctx, &[]).unwrap();
    for e in [3, 4, 5] {
        assert_eq!(
            w.state.epoch_close_height(Epoch(e)),
            Some(Height(w.state.height.0))
        );
    }
    assert_eq!(w.state.epoch_close_height(Epoch(6)), None);
}

#[test]
fn a_denylist_entry_answers_for_earlier_heights() {
    let mut w = World::new();
    let (alice, device) = (key("alice"), key("device-1"));
    w.onboard(&alice, &device);
    let entry = DenylistEntry {
        target: DenyTarget::Device(device.public()),
        reason: 3,
        evidence: Hash::of(b"evidence"),
        classifier_version: 1,
        expires_at: Height(1_000),
    };
    let signatures = vec![OracleSignature {
        oracle: pk("verifier-1"),
        signature: sign_detached(&key("verifier-1"), &network(), &entry),
    }];
    w.ok(&key("bob"), TxKind::AddDenylistEntry { entry, signatures });
    let created = w.state.height;
    w.buy_credits(&alice, 200);
    w.ok(
        &alice,
        TxKind::Appeal {
            entry: 1,
            deposit: tokens("100"),
        },
    );
    let appealed = w.state.height;
    let r = w.state.denylist[&1].clone();
    assert_eq!(r.status_at(Height(created.0 - 1)), None);
    assert_eq!(r.status_at(created), Some(DenylistStatus::Active));
    assert_eq!(
        r.status_at(Height(appealed.0 - 1)),
        Some(DenylistStatus::Active)
    );
    assert!(matches!(
        r.status_at(appealed),
        Some(DenylistStatus::Appealed { .. })
    ));
    assert!(r.withholds(created) && !r.withholds(Height(created.0 - 1)));
}

#[test]
fn a_device_claims_only_while_its_bond_covers_its_average_reward() {
    // The bond must cover 3 epochs of the device's average reward.
    let mut w = World::with_params(&[(ParamId::ClaimBondEpochs, 3)]);
    w.onboard(&key("bob"), &key("device-1"));
    assert_eq!(w.state.devices[&pk("device-1")].onboarded_epoch, Epoch(1));
    // Epoch 2's manifest carries a cumulative 40 tokens for it, over the 2 epochs since it
    // was onboarded: an average of 20, so its bond must hold 60.
    let leaves = |whole| {
        [
            leaf(Recipient::Device(pk("device-1")), whole),
            leaf(Recipient::Treasury, 1_000),
        ]
    };
    let (m1, _) = w.manifest(&leaves(10), &["reward-1", "reward-2"]);
    w.ok(&key("reward-1"), m1);
    let (m2, tree) = w.manifest(&leaves(40), &["reward-1", "reward-2"]);
    w.ok(&key("reward-1"), m2);
    let claim = |w: &World| w.claim_kind(Epoch(2), &tree, 0, leaves(40)[0]);
    let err = w.err(&key("bob"), claim(&w));
    assert_eq!(err.code(), "bond_too_low");
    assert_msg(&err, "needs 60");
    w.ok(
        &key("bob"),
        TxKind::Bond {
            device: pk("device-1"),
            amount: tokens("59.99999999"),
        },
    );
    assert_eq!(
        w.err(&key("bob"), claim(&w)).code(),
        "bond_too_low",
        "one base unit short"
    );
    w.ok(
        &key("bob"),
        TxKind::Bond {
            device: pk("device-1"),
            amount: Tokens::from_base_units(1),
        },
    );
    let before = w.state.account(&pk("bob")).tokens;
    w.ok(&key("bob"), claim(&w));
    let fee = Tokens::from_base_units(w.state.params.get(ParamId::TxFeeTokens));
    assert_eq!(
        w.state.account(&pk("bob")).tokens,
        before
            .checked_add(tokens("40"))
            .unwrap()
            .checked_sub(fee)
            .unwrap()
    );
    // The requirement, as the proofs endpoint shows it.
    assert_eq!(
        w.state
            .claim_bond_required(&w.state.devices[&pk("device-1")], tokens("40"), Epoch(2)),
        tokens("60")
    );
}
