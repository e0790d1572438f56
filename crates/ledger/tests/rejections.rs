//! Table tests: every rejection is a typed error whose message names the problem, and the
//! state root is unchanged after it (checked inside `World::reject`).

mod common;

use cairn_core::envelope::{Signed, sign_detached};
use cairn_core::{Credits, Epoch, Height, NetworkId, Tokens};
use cairn_ledger::params::ParamError;
use cairn_ledger::state::ProposalStatus;
use cairn_ledger::tx::{Fee, OracleSignature, ParamValue, ProposalKind, Recipient, VoteChoice};
use cairn_ledger::{ParamId, Transaction, TxError, TxKind};
use common::*;

fn transfer(to: &str, amount: &str) -> TxKind {
    TxKind::Transfer {
        to: pk(to),
        amount: tokens(amount),
    }
}

fn assert_msg(err: &TxError, want: &str) {
    assert!(
        err.to_string().contains(want),
        "message {:?} should mention {want:?}",
        err.to_string()
    );
}

/// Pass `kind` through the whole lifecycle with alice's votes.
fn pass(w: &mut World, kind: ProposalKind) -> u64 {
    w.lock_alice();
    let id = w.run_proposal(kind, VoteChoice::Yes);
    assert!(matches!(
        w.state.proposals[&id].status,
        ProposalStatus::Executed { .. }
    ));
    id
}

#[test]
fn envelope_rejections() {
    let mut w = World::new();
    let alice = key("alice");

    // Bad signature: the body was changed after signing.
    let mut tampered = w.tx(&alice, transfer("bob", "1"));
    tampered.message.kind = transfer("bob", "2");
    let err = w.reject(tampered);
    assert!(matches!(err, TxError::BadSignature(_)), "{err:?}");
    assert_msg(&err, "does not verify");

    // Bad signature: signed by bob, claimed to be alice.
    let mut impostor = w.tx(&key("bob"), transfer("carol", "1"));
    impostor.signer = alice.public();
    assert!(matches!(w.reject(impostor), TxError::BadSignature(_)));

    // Wrong network id in the body (and the domain).
    let other = NetworkId::new("other-net").unwrap();
    let body = Transaction {
        network: other.clone(),
        nonce: 0,
        fee: Fee::Tokens(tokens("0.001")),
        kind: transfer("bob", "1"),
    };
    let err = w.reject(Signed::sign(&alice, &other, body.clone()));
    assert!(matches!(err, TxError::WrongNetwork { .. }), "{err:?}");
    assert_msg(&err, "\"cairn-test\"");
    // Right body, but signed for another network's domain: the signature is useless here.
    let body = Transaction {
        network: network(),
        ..body
    };
    assert!(matches!(
        w.reject(Signed::sign(&alice, &other, body)),
        TxError::BadSignature(_)
    ));

    // Wrong nonce, ahead and (after one applied transaction) replayed.
    let mut ahead = w.tx(&alice, transfer("bob", "1"));
    ahead.message.nonce = 5;
    let ahead = Signed::sign(&alice, &network(), ahead.message);
    let err = w.reject(ahead);
    assert_eq!(
        err,
        TxError::WrongNonce {
            expected: 0,
            got: 5
        }
    );
    assert_msg(&err, "next nonce is 0");
    let first = w.tx(&alice, transfer("bob", "1"));
    w.block(vec![first.clone()]);
    assert_eq!(
        w.reject(first),
        TxError::WrongNonce {
            expected: 1,
            got: 0
        }
    );

    // Fee too low, and a fee asset the parameters do not accept.
    let mut cheap = w.tx(&alice, transfer("bob", "1"));
    cheap.message.fee = Fee::Tokens(Tokens::from_base_units(1));
    let err = w.reject(Signed::sign(&alice, &network(), cheap.message));
    assert!(matches!(err, TxError::FeeTooLow { .. }));
    assert_msg(&err, "minimum is 0.0001");
    // Paying in credits without holding any.
    let mut in_credits = w.tx(&alice, transfer("bob", "1"));
    in_credits.message.fee = Fee::Credits(Credits::from_base_units(10));
    let err = w.reject(Signed::sign(&alice, &network(), in_credits.message));
    assert!(
        matches!(err, TxError::InsufficientCredits { .. }),
        "{err:?}"
    );
}

#[test]
fn balance_and_overflow_rejections() {
    let mut w = World::new();
    let err = w.err(&key("bob"), transfer("alice", "1000.5"));
    assert!(matches!(err, TxError::InsufficientTokens { .. }));
    assert_msg(&err, "1000.5 needed, 999.9999 available");
    let err = w.err(
        &key("bob"),
        TxKind::Transfer {
            to: pk("alice"),
            amount: Tokens::MAX,
        },
    );
    assert!(matches!(err, TxError::InsufficientTokens { .. }));
    assert_eq!(
        w.err(&key("bob"), transfer("alice", "0")),
        TxError::ZeroAmount("transfer amount")
    );

    // A price at the top of u128 makes the credit computation overflow: refused, not wrapped.
    let t = w.ctx().time_ms;
    w.ok(
        &key("price-1"),
        TxKind::SubmitPrice {
            usd_per_token_e8: u128::MAX,
            observed_at_ms: t,
        },
    );
    let err = w.err(
        &key("alice"),
        TxKind::MintCredits {
            amount: tokens("1000.5"),
        },
    );
    assert_eq!(err, TxError::Overflow("credits"));
    assert_msg(&err, "does not fit in 128 bits");

    // Heights past the representable range are refused with a reason.
    let err = w.err(
        &key("alice"),
        TxKind::LockTokens {
            amount: tokens("1"),
            unlock_at: Height(u64::MAX),
        },
    );
    assert!(matches!(err, TxError::LockTooLong { .. }));
}

#[test]
fn onboarding_rejections() {
    let mut w = World::new();
    let (alice, device) = (key("alice"), key("device-1"));
    w.buy_credits(&alice, 100);

    let unknown = w.onboard_kind(&alice, &device, &key("maker-unknown"));
    let err = w.err(&alice, unknown);
    assert!(matches!(err, TxError::UnknownMaker(_)));
    assert_msg(&err, "only governance-approved makers");

    // The maker signed a different device: the attestation does not verify.
    let mut forged = w.onboard_kind(&alice, &device, &key("maker-acme"));
    if let TxKind::OnboardDevice {
        maker_signature, ..
    } = &mut forged
    {
        *maker_signature = sign_detached(
            &key("maker-acme"),
            &network(),
            &cairn_ledger::tx::MakerAttestation {
                device: pk("device-2"),
                kind: cairn_ledger::tx::DeviceKind::Storage,
            },
        );
    }
    assert!(matches!(w.err(&alice, forged), TxError::BadSignature(_)));

    // The device consented to bob, not alice.
    let stolen = w.onboard_kind(&key("bob"), &device, &key("maker-acme"));
    assert!(matches!(w.err(&alice, stolen), TxError::BadSignature(_)));

    let ok = w.onboard_kind(&alice, &device, &key("maker-acme"));
    w.ok(&alice, ok.clone());
    let err = w.err(&alice, ok);
    assert!(matches!(err, TxError::DeviceExists(_)));

    // Bob has no credits for the onboarding fee.
    let err = w.err(
        &key("bob"),
        w.onboard_kind(&key("bob"), &key("device-3"), &key("maker-acme")),
    );
    assert!(matches!(err, TxError::InsufficientCredits { .. }));

    // Location: wrong resolution, not the owner.
    let res8: cairn_core::Location = "88283082a3fffff".parse().unwrap();
    let err = w.err(
        &alice,
        TxKind::AssertLocation {
            device: device.public(),
            location: res8,
        },
    );
    assert_msg(&err, "resolution 8; assert at resolution 12");
    let res12 = res8.center_child(12).unwrap();
    let err = w.err(
        &key("bob"),
        TxKind::AssertLocation {
            device: device.public(),
            location: res12,
        },
    );
    assert!(matches!(err, TxError::NotDeviceOwner { .. }));
}

#[test]
fn revoked_maker_is_refused() {
    let mut w = World::new();
    pass(
        &mut w,
        ProposalKind::MakerRevocation {
            maker: pk("maker-acme"),
        },
    );
    let alice = key("alice");
    w.buy_credits(&alice, 100);
    let kind = w.onboard_kind(&alice, &key("device-9"), &key("maker-acme"));
    let err = w.err(&alice, kind);
    assert!(matches!(err, TxError::MakerRevoked { .. }), "{err:?}");
    assert_msg(&err, "no longer accepted");
    // The other maker still works.
    let kind = w.onboard_kind(&alice, &key("device-9"), &key("maker-bolt"));
    w.ok(&alice, kind);
}

#[test]
fn stale_price_halts_minting() {
    let mut w = World::new();
    let err = w.err(
        &key("alice"),
        TxKind::MintCredits {
            amount: tokens("1"),
        },
    );
    assert_eq!(
        err,
        TxError::StalePrice {
            fresh: 0,
            needed: 1
        }
    );
    assert_msg(&err, "credit minting halts");

    let t = w.ctx().time_ms;
    w.ok(
        &key("price-1"),
        TxKind::SubmitPrice {
            usd_per_token_e8: 100_000_000,
            observed_at_ms: t,
        },
    );
    w.ok(
        &key("alice"),
        TxKind::MintCredits {
            amount: tokens("1"),
        },
    );
    assert_eq!(
        w.state.account(&pk("alice")).credits,
        Credits::from_base_units(100_000)
    );
    // 600 s of staleness at 6 s blocks: 101 blocks later the price is stale again.
    w.empty_blocks(101);
    let err = w.err(
        &key("alice"),
        TxKind::MintCredits {
            amount: tokens("1"),
        },
    );
    assert!(matches!(err, TxError::StalePrice { fresh: 0, .. }));

    // Only price oracles submit; old observations are refused.
    let t = w.ctx().time_ms;
    let err = w.err(
        &key("alice"),
        TxKind::SubmitPrice {
            usd_per_token_e8: 1,
            observed_at_ms: t,
        },
    );
    assert_msg(&err, "is not a price oracle");
    let err = w.err(
        &key("price-1"),
        TxKind::SubmitPrice {
            usd_per_token_e8: 1,
            observed_at_ms: t - 700_000,
        },
    );
    assert!(matches!(err, TxError::PriceOutOfWindow { .. }));
}

#[test]
fn manifest_rejections() {
    let mut w = World::new();
    let leaves = [
        leaf(Recipient::Account(pk("alice")), 600),
        leaf(Recipient::Treasury, 400),
    ];

    let (none, _) = w.manifest(&leaves, &[]);
    let err = w.err(&key("reward-1"), none);
    assert_eq!(
        err,
        TxError::TooFewSignatures {
            role: "reward",
            valid: 0,
            required: 1
        }
    );

    let (dup, _) = w.manifest(&leaves, &["reward-1", "reward-1"]);
    assert!(matches!(
        w.err(&key("reward-1"), dup),
        TxError::DuplicateSignature { .. }
    ));

    let (outsider, _) = w.manifest(&leaves, &["reward-1", "alice"]);
    assert_msg(&w.err(&key("reward-1"), outsider), "is not a reward oracle");

    // A valid oracle's signature over a different manifest.
    let (mut forged, _) = w.manifest(&leaves, &["reward-1", "reward-2"]);
    if let TxKind::SubmitManifest {
        manifest,
        signatures,
    } = &mut forged
    {
        let mut other = manifest.clone();
        other.inputs = cairn_core::Hash::of(b"other inputs");
        signatures[1] = OracleSignature {
            oracle: pk("reward-2"),
            signature: sign_detached(&key("reward-2"), &network(), &other),
        };
    }
    assert!(matches!(
        w.err(&key("reward-1"), forged),
        TxError::BadSignature(_)
    ));

    // Minting more than the epoch's emission.
    let (mut greedy, _) = w.manifest(&leaves, &[]);
    if let TxKind::SubmitManifest {
        manifest,
        signatures,
    } = &mut greedy
    {
        manifest.epoch_total = tokens("1001");
        manifest.cumulative_total = tokens("1001");
        *signatures = ["reward-1", "reward-2"]
            .iter()
            .map(|s| OracleSignature {
                oracle: pk(s),
                signature: sign_detached(&key(s), &network(), &*manifest),
            })
            .collect();
    }
    let err = w.err(&key("reward-1"), greedy);
    assert!(matches!(err, TxError::WrongEmission { .. }));
    assert_msg(&err, "epoch 1 emits exactly 1000");

    // Skipping an epoch.
    let (mut skip, _) = w.manifest(&leaves, &[]);
    if let TxKind::SubmitManifest {
        manifest,
        signatures,
    } = &mut skip
    {
        manifest.epoch = Epoch(2);
        *signatures = ["reward-1", "reward-2"]
            .iter()
            .map(|s| OracleSignature {
                oracle: pk(s),
                signature: sign_detached(&key(s), &network(), &*manifest),
            })
            .collect();
    }
    assert_eq!(
        w.err(&key("reward-1"), skip),
        TxError::WrongEpoch {
            expected: Epoch(1),
            got: Epoch(2)
        }
    );

    // Burning more than the epoch's total.
    let (mut burn, _) = w.manifest(&leaves, &[]);
    if let TxKind::SubmitManifest {
        manifest,
        signatures,
    } = &mut burn
    {
        manifest.unallocated_burned = tokens("1000.00000001");
        *signatures = vec![OracleSignature {
            oracle: pk("reward-1"),
            signature: sign_detached(&key("reward-1"), &network(), &*manifest),
        }];
    }
    assert!(matches!(
        w.err(&key("reward-1"), burn),
        TxError::BurnExceedsTotal { .. }
    ));

    // Signatures accumulate: one oracle's is recorded but mints nothing; the same one
    // again is refused; a second oracle's reaches the threshold of 2 and mints.
    let (one, _) = w.manifest(&leaves, &["reward-1"]);
    let r = w.ok(&key("reward-1"), one.clone());
    assert!(r.events.iter().any(|e| matches!(
        e,
        cairn_ledger::Event::ManifestSigned {
            signers: 1,
            threshold: 2,
            ..
        }
    )));
    assert!(w.state.manifests.is_empty());
    assert_eq!(w.state.supply.escrow, Tokens::ZERO);
    assert_eq!(w.state.manifest_votes.len(), 1);
    assert_eq!(w.err(&key("reward-1"), one), TxError::AlreadySigned);
    let (two, _) = w.manifest(&leaves, &["reward-3"]);
    w.ok(&key("reward-1"), two);
    assert_eq!(w.state.manifests.len(), 1);
    assert_eq!(w.state.supply.escrow, tokens("1000"));
    assert!(w.state.manifest_votes.is_empty());

    // Epoch 2's manifest cannot be accepted before epoch 2 is over.
    let (mut early, _) = w.manifest(&leaves, &[]);
    if let TxKind::SubmitManifest {
        manifest,
        signatures,
    } = &mut early
    {
        manifest.previous = w.state.manifests[&Epoch(1)].hash;
        *signatures = vec![OracleSignature {
            oracle: pk("reward-1"),
            signature: sign_detached(&key("reward-1"), &network(), &*manifest),
        }];
    }
    let tx = w.tx(&key("reward-1"), early);
    let ends = w.state.epoch_end_ms(Epoch(2));
    let height = Height(w.state.height.0 + 1);
    let err = cairn_ledger::apply(
        &mut w.state,
        &cairn_ledger::BlockContext {
            height,
            time_ms: ends - 1,
        },
        &tx,
    )
    .unwrap_err();
    assert_eq!(
        err,
        TxError::EpochNotOver {
            epoch: Epoch(2),
            ends_at_ms: ends
        }
    );
}

#[test]
fn claim_rejections() {
    let mut w = World::new();
    let alice_leaf = leaf(Recipient::Account(pk("alice")), 600);
    let leaves = [alice_leaf, leaf(Recipient::Account(pk("bob")), 400)];
    let (m, tree) = w.manifest(&leaves, &["reward-1", "reward-2"]);
    w.ok(&key("reward-1"), m);

    // An inflated cumulative does not match the committed leaf.
    let inflated = leaf(Recipient::Account(pk("alice")), 601);
    let err = w.err(&key("alice"), w.claim_kind(Epoch(1), &tree, 0, inflated));
    assert_eq!(err, TxError::BadClaimProof(Epoch(1)));
    assert_msg(&err, "does not match the manifest of epoch 1");
    // bob's proof for alice's leaf.
    assert!(matches!(
        w.err(&key("alice"), w.claim_kind(Epoch(1), &tree, 1, alice_leaf)),
        TxError::BadClaimProof(_)
    ));
    // A proof naming another tree size.
    let mut resized = tree.proof(0).unwrap();
    resized.leaf_count = 3;
    let err = w.err(
        &key("alice"),
        TxKind::ClaimRewards {
            epoch: Epoch(1),
            claims: vec![cairn_ledger::tx::RewardClaim {
                leaf: alice_leaf,
                proof: resized,
            }],
        },
    );
    assert!(matches!(err, TxError::BadClaimProof(_)));
    // An epoch without a manifest.
    assert_eq!(
        w.err(&key("alice"), w.claim_kind(Epoch(2), &tree, 0, alice_leaf)),
        TxError::UnknownManifest(Epoch(2))
    );

    w.ok(&key("alice"), w.claim_kind(Epoch(1), &tree, 0, alice_leaf));
    let err = w.err(&key("alice"), w.claim_kind(Epoch(1), &tree, 0, alice_leaf));
    assert!(matches!(err, TxError::NothingToClaim { .. }));
}

#[test]
fn governance_rejections() {
    let mut w = World::new();
    let alice = key("alice");
    let change = |param, value| ProposalKind::ParamChange {
        changes: vec![ParamValue { param, value }],
    };

    let err = w.err(
        &alice,
        TxKind::Propose {
            kind: change(ParamId::QuorumBps, 10_001),
            deposit: tokens("100"),
        },
    );
    assert_eq!(
        err,
        TxError::Param(ParamError::OutOfBounds {
            param: "quorum_bps",
            value: 10_001,
            min: 1,
            max: 10_000
        })
    );
    assert_msg(&err, "quorum_bps = 10001 is outside its bounds [1, 10000]");
    let err = w.err(
        &alice,
        TxKind::Propose {
            kind: change(ParamId::QuorumBps, 9_000),
            deposit: tokens("100"),
        },
    );
    assert_msg(&err, "exceeds the largest step of 2000");
    let err = w.err(
        &alice,
        TxKind::Propose {
            kind: change(ParamId::QuorumBps, 4_000),
            deposit: tokens("99"),
        },
    );
    assert!(matches!(err, TxError::DepositTooLow { .. }));
    let curtail_up = ProposalKind::EmergencyCurtail {
        param: ParamId::QuorumBps,
        value: 9_000,
    };
    assert_msg(
        &w.err(
            &alice,
            TxKind::Propose {
                kind: curtail_up,
                deposit: tokens("100"),
            },
        ),
        "may only lower",
    );

    // Voting needs a lock made before the proposal; votes after the period are refused.
    w.ok(
        &alice,
        TxKind::LockTokens {
            amount: tokens("1000"),
            unlock_at: Height(60),
        },
    );
    w.ok(
        &alice,
        TxKind::Propose {
            kind: change(ParamId::QuorumBps, 4_000),
            deposit: tokens("100"),
        },
    );
    assert_eq!(
        w.err(
            &key("bob"),
            TxKind::Vote {
                proposal: 1,
                choice: VoteChoice::Yes
            }
        ),
        TxError::NoVotingPower(1)
    );
    w.ok(
        &alice,
        TxKind::Vote {
            proposal: 1,
            choice: VoteChoice::Yes,
        },
    );
    let err = w.err(&alice, TxKind::ExecuteProposal { proposal: 1 });
    assert_msg(&err, "voting is open until height");
    w.empty_blocks(10);
    let err = w.err(
        &alice,
        TxKind::Vote {
            proposal: 1,
            choice: VoteChoice::No,
        },
    );
    assert!(
        matches!(err, TxError::VotingClosed { proposal: 1, .. }),
        "{err:?}"
    );
    assert_msg(&err, "voting on proposal 1 closed at height");
    assert_eq!(
        w.err(
            &alice,
            TxKind::Vote {
                proposal: 7,
                choice: VoteChoice::No
            }
        ),
        TxError::UnknownProposal(7)
    );
}
