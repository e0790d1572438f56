//! Property tests over random transaction sequences: conservation, determinism (also
//! after re-encoding every transaction), claims bounded by what was minted, and replays
//! rejected without effect.

mod common;

use cairn_core::codec::Canonical;
use cairn_core::envelope::Signed;
use cairn_core::{Credits, Epoch, Hash, Height, MerkleTree, Tokens};
use cairn_ledger::tx::{
    ParamValue, ProposalKind, Recipient, RewardLeaf, ServiceKind, UsageReceipt, VoteChoice,
};
use cairn_ledger::{
    BlockContext, ParamId, SignedTx, TxError, TxKind, apply, apply_block, check_invariants,
};
use common::*;
use proptest::prelude::*;

const ACTORS: [&str; 3] = ["alice", "bob", "carol"];
const DEVICES: [&str; 3] = ["device-a", "device-b", "device-c"];

#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        units: u128,
    },
    Price {
        micro_usd: u128,
    },
    Mint {
        who: usize,
        units: u128,
    },
    Onboard {
        who: usize,
        device: usize,
    },
    Bond {
        who: usize,
        device: usize,
        units: u128,
    },
    Unbond {
        who: usize,
        device: usize,
        units: u128,
    },
    Withdraw {
        who: usize,
        device: usize,
    },
    Pay {
        consumer: usize,
        device: usize,
        credits: u128,
        serial: u64,
    },
    Lock {
        who: usize,
        units: u128,
        blocks: u64,
    },
    Unlock {
        who: usize,
    },
    Propose {
        who: usize,
        quorum: u128,
    },
    Vote {
        who: usize,
        proposal: u64,
        choice: u8,
    },
    Execute {
        who: usize,
        proposal: u64,
    },
    Manifest {
        shares: Vec<(usize, u128)>,
    },
    Claim {
        who: usize,
        index: usize,
        inflate: u128,
    },
    Empty,
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..ACTORS.len();
    let dev = 0..DEVICES.len();
    let units = prop_oneof![0u128..1_000, 0u128..100_000_000_000, Just(u128::MAX)];
    prop_oneof![
        (who.clone(), who.clone(), units.clone()).prop_map(|(from, to, units)| Op::Transfer {
            from,
            to,
            units
        }),
        (1u128..1_000_000).prop_map(|micro_usd| Op::Price { micro_usd }),
        (who.clone(), units.clone()).prop_map(|(who, units)| Op::Mint { who, units }),
        (who.clone(), dev.clone()).prop_map(|(who, device)| Op::Onboard { who, device }),
        (who.clone(), dev.clone(), units.clone()).prop_map(|(who, device, units)| Op::Bond {
            who,
            device,
            units
        }),
        (who.clone(), dev.clone(), units.clone()).prop_map(|(who, device, units)| Op::Unbond {
            who,
            device,
            units
        }),
        (who.clone(), dev.clone()).prop_map(|(who, device)| Op::Withdraw { who, device }),
        (who.clone(), dev.clone(), 0u128..5_000_000, 0u64..4).prop_map(
            |(consumer, device, credits, serial)| Op::Pay {
                consumer,
                device,
                credits,
                serial
            }
        ),
        (who.clone(), units.clone(), 0u64..120).prop_map(|(who, units, blocks)| Op::Lock {
            who,
            units,
            blocks
        }),
        who.clone().prop_map(|who| Op::Unlock { who }),
        (who.clone(), 1_340u128..5_341).prop_map(|(who, quorum)| Op::Propose { who, quorum }),
        (who.clone(), 1u64..4, 0u8..4).prop_map(|(who, proposal, choice)| Op::Vote {
            who,
            proposal,
            choice
        }),
        (who.clone(), 1u64..4).prop_map(|(who, proposal)| Op::Execute { who, proposal }),
        proptest::collection::vec((0usize..7, 0u128..40_000_000_000), 1..5)
            .prop_map(|shares| Op::Manifest { shares }),
        (
            who.clone(),
            0usize..5,
            prop_oneof![Just(0u128), 1u128..1_000]
        )
            .prop_map(|(who, index, inflate)| Op::Claim {
                who,
                index,
                inflate
            }),
        Just(Op::Empty),
    ]
}

fn recipient(i: usize) -> Recipient {
    match i {
        0..=2 => Recipient::Account(pk(ACTORS[i])),
        3..=5 => Recipient::Device(pk(DEVICES[i - 3])),
        _ => Recipient::Treasury,
    }
}

/// Drives a world with random operations and remembers every block it applied.
struct Run {
    w: World,
    blocks: Vec<(BlockContext, Vec<SignedTx>)>,
    /// The last manifest's leaves and tree, for claims.
    last: Option<(Epoch, Vec<RewardLeaf>, MerkleTree)>,
    minted: u128,
    paid_out: u128,
    replays_checked: usize,
}

impl Run {
    fn new() -> Self {
        Run {
            w: World::new(),
            blocks: Vec::new(),
            last: None,
            minted: 0,
            paid_out: 0,
            replays_checked: 0,
        }
    }

    fn kind(&mut self, op: &Op) -> Option<(&'static str, TxKind)> {
        let w = &self.w;
        let t = |u: u128| Tokens::from_base_units(u);
        Some(match op.clone() {
            Op::Transfer { from, to, units } => (
                ACTORS[from],
                TxKind::Transfer {
                    to: pk(ACTORS[to]),
                    amount: t(units),
                },
            ),
            Op::Price { micro_usd } => (
                "price-1",
                TxKind::SubmitPrice {
                    usd_per_token_e8: micro_usd * 100,
                    observed_at_ms: w.ctx().time_ms,
                },
            ),
            Op::Mint { who, units } => (ACTORS[who], TxKind::MintCredits { amount: t(units) }),
            Op::Onboard { who, device } => (
                ACTORS[who],
                w.onboard_kind(&key(ACTORS[who]), &key(DEVICES[device]), &key("maker-acme")),
            ),
            Op::Bond { who, device, units } => (
                ACTORS[who],
                TxKind::Bond {
                    device: pk(DEVICES[device]),
                    amount: t(units),
                },
            ),
            Op::Unbond { who, device, units } => (
                ACTORS[who],
                TxKind::Unbond {
                    device: pk(DEVICES[device]),
                    amount: t(units),
                },
            ),
            Op::Withdraw { who, device } => (
                ACTORS[who],
                TxKind::WithdrawUnbonded {
                    device: pk(DEVICES[device]),
                },
            ),
            Op::Pay {
                consumer,
                device,
                credits,
                serial,
            } => {
                let receipt = UsageReceipt {
                    device: pk(DEVICES[device]),
                    service: ServiceKind::Compute,
                    amount: Credits::from_base_units(credits),
                    serial,
                    expires_at: Height(w.state.height.0 + 20),
                };
                (
                    "alice",
                    TxKind::PayForService {
                        receipt: Signed::sign(&key(ACTORS[consumer]), &network(), receipt),
                    },
                )
            }
            Op::Lock { who, units, blocks } => (
                ACTORS[who],
                TxKind::LockTokens {
                    amount: t(units),
                    unlock_at: Height(w.state.height.0 + blocks),
                },
            ),
            Op::Unlock { who } => (ACTORS[who], TxKind::Unlock),
            Op::Propose { who, quorum } => (
                ACTORS[who],
                TxKind::Propose {
                    kind: ProposalKind::ParamChange {
                        changes: vec![ParamValue {
                            param: ParamId::QuorumBps,
                            value: quorum,
                        }],
                    },
                    deposit: tokens("100"),
                },
            ),
            Op::Vote {
                who,
                proposal,
                choice,
            } => {
                let choice = [
                    VoteChoice::Yes,
                    VoteChoice::No,
                    VoteChoice::Abstain,
                    VoteChoice::Veto,
                ][choice as usize];
                (ACTORS[who], TxKind::Vote { proposal, choice })
            }
            Op::Execute { who, proposal } => (ACTORS[who], TxKind::ExecuteProposal { proposal }),
            Op::Manifest { shares } => {
                // Oracles may sign any split, even one that over-allocates the epoch: the
                // ledger still never pays out more than it minted.
                let mut cumulative: std::collections::BTreeMap<usize, u128> = self
                    .last
                    .as_ref()
                    .map(|(_, leaves, _)| {
                        leaves
                            .iter()
                            .map(|l| {
                                (
                                    (0..7).find(|i| recipient(*i) == l.recipient).unwrap(),
                                    l.cumulative.base_units(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                for (i, amount) in shares {
                    *cumulative.entry(i).or_default() += amount;
                }
                let leaves: Vec<RewardLeaf> = cumulative
                    .iter()
                    .map(|(i, c)| RewardLeaf {
                        recipient: recipient(*i),
                        cumulative: t(*c),
                    })
                    .collect();
                // Run (and record, for the replays) empty blocks to the epoch's end.
                let epoch = self.w.state.open_epoch();
                while self.w.ctx().time_ms < self.w.state.epoch_end_ms(epoch) {
                    let ctx = self.w.ctx();
                    apply_block(&mut self.w.state, &ctx, &[]).unwrap();
                    self.blocks.push((ctx, Vec::new()));
                }
                let (kind, tree) = self.w.manifest(&leaves, &["reward-1", "reward-2"]);
                self.last = Some((self.w.state.open_epoch(), leaves, tree));
                ("reward-1", kind)
            }
            Op::Claim {
                who,
                index,
                inflate,
            } => {
                let (epoch, leaves, tree) = self.last.as_ref()?;
                let i = index % leaves.len();
                let mut l = leaves[i];
                l.cumulative = t(l.cumulative.base_units() + inflate);
                (ACTORS[who], self.w.claim_kind(*epoch, tree, i as u64, l))
            }
            Op::Empty => return None,
        })
    }

    fn step(&mut self, op: &Op) {
        // Building a manifest may first run the chain past the epoch's end.
        let txs: Vec<SignedTx> = self
            .kind(op)
            .map(|(who, kind)| self.w.tx(&key(who), kind))
            .into_iter()
            .collect();
        let ctx = self.w.ctx();
        let before = self.w.state.clone();
        let outcome = apply_block(&mut self.w.state, &ctx, &txs).unwrap();
        check_invariants(&self.w.state).unwrap();
        for (tx, result) in txs.iter().zip(&outcome.results) {
            let Ok(receipt) = result else { continue };
            for e in &receipt.events {
                match e {
                    cairn_ledger::Event::ManifestAccepted { minted, .. } => {
                        self.minted += minted.base_units()
                    }
                    cairn_ledger::Event::RewardsClaimed {
                        amount, vesting, ..
                    } => self.paid_out += amount.base_units() + vesting.base_units(),
                    _ => {}
                }
            }
            // A successful transaction replayed is rejected and changes nothing.
            let root = self.w.state.root();
            let next = BlockContext {
                height: Height(ctx.height.0 + 1),
                time_ms: ctx.time_ms + BLOCK_MS,
            };
            let err = apply(&mut self.w.state, &next, tx).unwrap_err();
            assert!(
                matches!(err, TxError::WrongNonce { .. }),
                "replay gave {err:?}"
            );
            assert_eq!(self.w.state.root(), root);
            self.replays_checked += 1;
        }
        // Rejected transactions left no trace: applying the same block to the state
        // before, with only the accepted transactions, gives the same root.
        let accepted: Vec<SignedTx> = txs
            .iter()
            .zip(&outcome.results)
            .filter(|(_, r)| r.is_ok())
            .map(|(t, _)| t.clone())
            .collect();
        let mut again = before;
        assert_eq!(
            apply_block(&mut again, &ctx, &accepted).unwrap().root,
            outcome.root
        );
        self.blocks.push((ctx, txs));
    }
}

fn replay(blocks: &[(BlockContext, Vec<SignedTx>)], reencode: bool) -> Vec<Hash> {
    let mut state = genesis().into_state().unwrap();
    blocks
        .iter()
        .map(|(ctx, txs)| {
            let txs: Vec<SignedTx> = if reencode {
                txs.iter()
                    .map(|tx| SignedTx::decode(&tx.encode()).unwrap())
                    .collect()
            } else {
                txs.clone()
            };
            apply_block(&mut state, ctx, &txs).unwrap().root
        })
        .collect()
}

/// A prelude that makes later operations likely to succeed: credits, devices, locks.
fn prelude() -> Vec<Op> {
    vec![
        Op::Price {
            micro_usd: 1_000_000,
        },
        Op::Mint {
            who: 0,
            units: 100_000_000_000,
        },
        Op::Mint {
            who: 1,
            units: 10_000_000_000,
        },
        Op::Onboard { who: 0, device: 0 },
        Op::Onboard { who: 1, device: 1 },
        Op::Lock {
            who: 0,
            units: 50_000_000_000_000,
            blocks: 90,
        },
        Op::Lock {
            who: 2,
            units: 10_000_000_000_000,
            blocks: 60,
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn conservation_determinism_claims_and_replays(ops in proptest::collection::vec(op(), 1..60)) {
        let mut run = Run::new();
        for op in prelude().iter().chain(&ops) {
            run.step(op);
        }
        // Claims never pay out more than the manifests minted.
        prop_assert!(run.paid_out <= run.minted, "paid {} of {} minted", run.paid_out, run.minted);
        prop_assert_eq!(run.w.state.supply.escrow.base_units(), run.minted - run.paid_out);
        prop_assert!(run.replays_checked >= 5);

        // The same genesis and blocks give the same roots, twice, and after re-encoding.
        let first = replay(&run.blocks, false);
        prop_assert_eq!(first.last().copied(), Some(run.w.state.root()));
        prop_assert_eq!(&first, &replay(&run.blocks, false));
        prop_assert_eq!(&first, &replay(&run.blocks, true));
    }
}

#[test]
fn claims_stop_at_the_escrow_even_when_oracles_over_allocate() {
    let mut run = Run::new();
    for op in prelude() {
        run.step(&op);
    }
    // Epoch 1 mints 1,000 tokens; the oracles sign 1,500 worth of cumulative totals.
    run.step(&Op::Manifest {
        shares: vec![(0, 90_000_000_000), (1, 60_000_000_000)],
    });
    assert_eq!(run.minted, 100_000_000_000);
    run.step(&Op::Claim {
        who: 0,
        index: 0,
        inflate: 0,
    });
    run.step(&Op::Claim {
        who: 1,
        index: 1,
        inflate: 0,
    });
    assert_eq!(
        run.paid_out, 90_000_000_000,
        "the second claim exceeds the escrow and is refused"
    );
    let (epoch, leaves, tree) = run.last.clone().unwrap();
    let err = run
        .w
        .err(&key("bob"), run.w.claim_kind(epoch, &tree, 1, leaves[1]));
    assert!(matches!(err, TxError::EscrowShort { .. }), "{err:?}");
}
