//! Prints how long the state root takes for N accounts, beside the physical ceiling: the
//! raw BLAKE3 hashing the root cannot avoid (two hashes per leaf plus one per inner node).
//!
//! cargo run --release -p cairn-ledger --example state_root_bench -- 100000

use std::time::Instant;

use cairn_core::{Hash, Keypair, NetworkId, Tokens};
use cairn_ledger::Genesis;
use cairn_ledger::genesis::{Allocation, GenesisValidator};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let allocations: Vec<Allocation> = (0..n)
        .map(|i| Allocation {
            account: Keypair::from_seed(Hash::of(&(i as u64).to_le_bytes()).as_bytes()).public(),
            tokens: Tokens::ONE,
        })
        .collect();
    let genesis = Genesis {
        network: NetworkId::new("bench").expect("valid id"),
        time_ms: 0,
        allocations,
        treasury: Tokens::ZERO,
        validators: vec![GenesisValidator {
            key: Keypair::from_seed(&[7; 32]).public(),
            power: 1,
        }],
        price_oracles: vec![],
        reward_oracles: vec![],
        verifier_oracles: vec![],
        makers: vec![],
        params: vec![],
    };
    let state = genesis.into_state().expect("valid genesis");

    let start = Instant::now();
    let root = state.root();
    let ours = start.elapsed();

    // Ceiling: the same number of BLAKE3 calls on inputs of the same sizes.
    let start = Instant::now();
    let mut acc = Hash::ZERO;
    for i in 0..n {
        let k = Hash::of_parts(&[
            b"cairn.state.account.v1",
            &(i as u64).to_le_bytes(),
            acc.as_bytes(),
        ]);
        let v = Hash::of_parts(&[&[0u8; 50], k.as_bytes()]);
        let leaf = Hash::of_parts(&[&[0], k.as_bytes(), v.as_bytes()]);
        acc = Hash::of_parts(&[&[1], leaf.as_bytes(), acc.as_bytes()]);
    }
    let ceiling = start.elapsed();
    println!("objects: {n}  root: {root}");
    let ratio_x100 = ours.as_nanos() * 100 / ceiling.as_nanos().max(1);
    println!("state root:        {:>8} µs", ours.as_micros());
    println!("raw BLAKE3 floor:  {:>8} µs", ceiling.as_micros());
    println!(
        "ratio:             {:>5}.{:02}x",
        ratio_x100 / 100,
        ratio_x100 % 100
    );
}
