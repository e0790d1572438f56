//! A small world for ledger tests: named keys, a genesis, and helpers that sign and apply.
#![allow(dead_code)]

use cairn_core::envelope::{Signed, sign_detached};
use cairn_core::{Epoch, Hash, Height, Keypair, MerkleTree, NetworkId, PublicKey, Tokens};
use cairn_ledger::genesis::{Allocation, GenesisMaker, GenesisValidator};
use cairn_ledger::tx::{
    DeviceConsent, DeviceKind, Fee, MakerAttestation, OracleSignature, ParamValue, Penalty,
    Recipient, RewardClaim, RewardLeaf, RewardManifest,
};
use cairn_ledger::{
    BlockContext, Genesis, ParamId, Receipt, SignedTx, State, Transaction, TxError, TxKind, apply,
    apply_block, check_invariants, emission_for_epoch,
};

pub const BLOCK_MS: u64 = 6_000;
pub const GENESIS_MS: u64 = 1_700_000_000_000;

/// A deterministic key per name.
pub fn key(name: &str) -> Keypair {
    Keypair::from_seed(Hash::of(name.as_bytes()).as_bytes())
}

pub fn pk(name: &str) -> PublicKey {
    key(name).public()
}

pub fn tokens(s: &str) -> Tokens {
    s.parse().unwrap()
}

pub fn network() -> NetworkId {
    NetworkId::new("cairn-test").unwrap()
}

/// Reward oracles r1..r3 (threshold 2), one price oracle, one verifier oracle, two makers.
pub fn genesis() -> Genesis {
    let p = |param, value| ParamValue { param, value };
    Genesis {
        network: network(),
        time_ms: GENESIS_MS,
        allocations: vec![
            Allocation {
                account: pk("alice"),
                tokens: tokens("1000000"),
            },
            Allocation {
                account: pk("bob"),
                tokens: tokens("1000"),
            },
            Allocation {
                account: pk("carol"),
                tokens: tokens("500000"),
            },
            Allocation {
                account: pk("reward-1"),
                tokens: tokens("10"),
            },
            Allocation {
                account: pk("price-1"),
                tokens: tokens("10"),
            },
            Allocation {
                account: pk("verifier-1"),
                tokens: tokens("10"),
            },
        ],
        treasury: tokens("10000"),
        validators: vec![GenesisValidator {
            key: pk("validator"),
            power: 1,
        }],
        price_oracles: vec![pk("price-1")],
        reward_oracles: vec![pk("reward-1"), pk("reward-2"), pk("reward-3")],
        verifier_oracles: vec![pk("verifier-1")],
        makers: vec![
            GenesisMaker {
                key: pk("maker-acme"),
                name: "Acme Radios".into(),
            },
            GenesisMaker {
                key: pk("maker-bolt"),
                name: "Bolt Storage".into(),
            },
        ],
        params: vec![
            p(ParamId::RewardOracleThreshold, 2),
            p(ParamId::VotingPeriodBlocks, 10),
            p(ParamId::TimelockBlocks, 5),
            p(ParamId::AppealWindowBlocks, 20),
            p(ParamId::UnbondingDelayBlocks, 5),
            p(ParamId::MaxLockBlocks, 100),
            p(ParamId::EmissionPerEpoch, 1_000 * 100_000_000),
            p(ParamId::EmissionHalvingEpochs, 4),
            p(ParamId::ReceiptMaxTtlBlocks, 50),
            p(ParamId::EpochDurationMs, 60_000),
            // Claims pay at once unless a test turns vesting on.
            p(ParamId::VestingPpm, 0),
            p(ParamId::MintBreakerWindowBlocks, 30),
        ],
    }
}

pub struct World {
    pub state: State,
}

impl World {
    pub fn new() -> Self {
        World {
            state: genesis().into_state().unwrap(),
        }
    }

    /// A world whose genesis sets `params` on top of [`genesis`]'s.
    pub fn with_params(params: &[(ParamId, u128)]) -> Self {
        let mut g = genesis();
        for (param, value) in params {
            g.params.retain(|p| p.param != *param);
            g.params.push(ParamValue {
                param: *param,
                value: *value,
            });
        }
        World {
            state: g.into_state().unwrap(),
        }
    }

    pub fn ctx(&self) -> BlockContext {
        let height = Height(self.state.height.0 + 1);
        BlockContext {
            height,
            time_ms: GENESIS_MS + height.0 * BLOCK_MS,
        }
    }

    pub fn nonce(&self, who: &PublicKey) -> u64 {
        self.state.account(who).nonce
    }

    /// A transaction from `who` with its next nonce and the minimum token fee.
    pub fn tx(&self, who: &Keypair, kind: TxKind) -> SignedTx {
        let body = Transaction {
            network: network(),
            nonce: self.nonce(&who.public()),
            fee: Fee::Tokens(Tokens::from_base_units(
                self.state.params.get(ParamId::TxFeeTokens),
            )),
            kind,
        };
        Signed::sign(who, &network(), body)
    }

    /// Apply `txs` as the next block; panic with the error if any is rejected.
    pub fn block(&mut self, txs: Vec<SignedTx>) -> Vec<Receipt> {
        let ctx = self.ctx();
        let outcome = apply_block(&mut self.state, &ctx, &txs).unwrap();
        check_invariants(&self.state).unwrap();
        outcome
            .results
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("transaction rejected: {e}")))
            .collect()
    }

    pub fn ok(&mut self, who: &Keypair, kind: TxKind) -> Receipt {
        let tx = self.tx(who, kind);
        self.block(vec![tx]).remove(0)
    }

    /// Apply a transaction that must be rejected; checks that nothing changed.
    pub fn reject(&mut self, tx: SignedTx) -> TxError {
        let before = self.state.root();
        let ctx = self.ctx();
        let err = apply(&mut self.state, &ctx, &tx).expect_err("transaction should be rejected");
        assert_eq!(
            self.state.root(),
            before,
            "a rejected transaction changed the state root: {err}"
        );
        err
    }

    pub fn err(&mut self, who: &Keypair, kind: TxKind) -> TxError {
        let tx = self.tx(who, kind);
        self.reject(tx)
    }

    pub fn empty_blocks(&mut self, n: u64) {
        for _ in 0..n {
            self.block(vec![]);
        }
    }

    /// A fresh price and credits for `who`: 1 token at 1.00 USD = 100,000 credits.
    pub fn buy_credits(&mut self, who: &Keypair, whole_tokens: u128) {
        let t = self.ctx().time_ms;
        self.ok(
            &key("price-1"),
            TxKind::SubmitPrice {
                usd_per_token_e8: 100_000_000,
                observed_at_ms: t,
            },
        );
        self.ok(
            who,
            TxKind::MintCredits {
                amount: Tokens::whole(whole_tokens).unwrap(),
            },
        );
    }

    pub fn onboard_kind(&self, owner: &Keypair, device: &Keypair, maker: &Keypair) -> TxKind {
        let kind = DeviceKind::Storage;
        TxKind::OnboardDevice {
            device: device.public(),
            kind,
            maker: maker.public(),
            maker_signature: sign_detached(
                maker,
                &network(),
                &MakerAttestation {
                    device: device.public(),
                    kind,
                },
            ),
            device_signature: sign_detached(
                device,
                &network(),
                &DeviceConsent {
                    owner: owner.public(),
                },
            ),
        }
    }

    /// Onboard `device` for `owner` (buys the credits needed first).
    pub fn onboard(&mut self, owner: &Keypair, device: &Keypair) {
        self.buy_credits(owner, 100);
        let kind = self.onboard_kind(owner, device, &key("maker-acme"));
        self.ok(owner, kind);
    }

    /// The next epoch's manifest paying `leaves`, signed by `signers`; first runs empty
    /// blocks until that epoch is over.
    pub fn manifest(&mut self, leaves: &[RewardLeaf], signers: &[&str]) -> (TxKind, MerkleTree) {
        let (kind, tree, _) = self.manifest_with_penalties(leaves, &[], signers);
        (kind, tree)
    }

    /// [`World::manifest`] that also assesses `penalties` (their tree is returned).
    pub fn manifest_with_penalties(
        &mut self,
        leaves: &[RewardLeaf],
        penalties: &[Penalty],
        signers: &[&str],
    ) -> (TxKind, MerkleTree, MerkleTree) {
        let epoch = self.state.open_epoch();
        while self.ctx().time_ms < self.state.epoch_end_ms(epoch) {
            self.block(vec![]);
        }
        let last = self.state.manifests.values().next_back().cloned();
        let emission = emission_for_epoch(&self.state.params, epoch);
        let prior = last
            .as_ref()
            .map_or(Tokens::ZERO, |m| m.manifest.cumulative_total);
        let bytes: Vec<Vec<u8>> = leaves.iter().map(RewardLeaf::leaf_bytes).collect();
        let tree = MerkleTree::from_leaves(&bytes);
        let penalty_bytes: Vec<Vec<u8>> = penalties.iter().map(Penalty::leaf_bytes).collect();
        let penalty_tree = MerkleTree::from_leaves(&penalty_bytes);
        let manifest = RewardManifest {
            epoch,
            cumulative_root: tree.root(),
            recipient_count: leaves.len() as u64,
            epoch_total: emission,
            cumulative_total: prior.checked_add(emission).unwrap(),
            previous: last.map_or(Hash::ZERO, |m| m.hash),
            unallocated_burned: Tokens::ZERO,
            params_hash: self.state.params.hash(),
            inputs: Hash::of(b"report-log segments and verdicts"),
            penalties_root: if penalties.is_empty() {
                Hash::ZERO
            } else {
                penalty_tree.root()
            },
            penalty_count: penalties.len() as u64,
        };
        let signatures = signers
            .iter()
            .map(|s| OracleSignature {
                oracle: pk(s),
                signature: sign_detached(&key(s), &network(), &manifest),
            })
            .collect();
        (
            TxKind::SubmitManifest {
                manifest,
                signatures,
            },
            tree,
            penalty_tree,
        )
    }

    pub fn claim_kind(
        &self,
        epoch: Epoch,
        tree: &MerkleTree,
        index: u64,
        leaf: RewardLeaf,
    ) -> TxKind {
        TxKind::ClaimRewards {
            epoch,
            claims: vec![RewardClaim {
                leaf,
                proof: tree.proof(index).unwrap(),
            }],
        }
    }
}

impl World {
    /// Give alice voting power (locked tokens) if she has none yet.
    pub fn lock_alice(&mut self) {
        if !self.state.locks.contains_key(&pk("alice")) {
            self.ok(
                &key("alice"),
                TxKind::LockTokens {
                    amount: tokens("500000"),
                    unlock_at: Height(95),
                },
            );
        }
    }

    /// Propose as alice, vote `choice` as alice, and run the proposal to its end: tally
    /// after the voting period, execution after the timelock. Returns its id.
    pub fn run_proposal(
        &mut self,
        kind: cairn_ledger::tx::ProposalKind,
        choice: cairn_ledger::tx::VoteChoice,
    ) -> u64 {
        use cairn_ledger::state::ProposalStatus;
        let id = self.state.next_proposal_id;
        self.ok(
            &key("alice"),
            TxKind::Propose {
                kind,
                deposit: tokens("100"),
            },
        );
        self.ok(
            &key("alice"),
            TxKind::Vote {
                proposal: id,
                choice,
            },
        );
        let end = self.state.proposals[&id].voting_end;
        self.empty_blocks(end.0 - self.state.height.0 - 1);
        self.ok(&key("bob"), TxKind::ExecuteProposal { proposal: id });
        if let ProposalStatus::Passed { executable_at } = self.state.proposals[&id].status {
            self.empty_blocks(executable_at.0.saturating_sub(self.state.height.0 + 1));
            self.ok(&key("bob"), TxKind::ExecuteProposal { proposal: id });
        }
        id
    }
}

pub fn leaf(recipient: Recipient, whole: u128) -> RewardLeaf {
    RewardLeaf {
        recipient,
        cumulative: Tokens::whole(whole).unwrap(),
    }
}
