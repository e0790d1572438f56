//! `cairn bench storage`: the provider's encode + commit throughput and the verifier's
//! proof checks, against raw BLAKE3 on the same machine and bytes.

use std::time::Instant;

use anyhow::{Result, bail};
use cairn_core::Keypair;
use cairn_verify::storage::{CHUNK_SIZE, Replica, ReplicaRecord, check_chunk};
use clap::Args;

#[derive(Debug, Args)]
pub struct StorageBench {
    /// Size of the object encoded, in MiB.
    #[arg(long, default_value_t = 128)]
    mib: usize,
    /// Chunk proofs checked by the verifier.
    #[arg(long, default_value_t = 20_000)]
    proofs: usize,
    /// Repetitions of each measurement (the best is reported: the machine is noisy).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn best(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..rounds.max(1))
        .map(|_| f())
        .fold(f64::INFINITY, f64::min)
}

impl StorageBench {
    pub fn run(self) -> Result<()> {
        if self.mib == 0 || self.mib > 4096 {
            bail!("--mib must be 1 to 4096");
        }
        let len = self.mib << 20;
        let mut data = vec![0u8; len];
        blake3::Hasher::new_derive_key("cairn.bench.storage.v1")
            .finalize_xof()
            .fill(&mut data);
        let device = Keypair::generate().public();
        let mib = self.mib as f64;
        eprintln!(
            "one core, {} MiB object, {}-byte chunks, best of {}",
            self.mib, CHUNK_SIZE, self.rounds
        );

        // Ceilings: BLAKE3 over the whole buffer (its SIMD across chunks), and BLAKE3 of
        // each 1 KiB chunk separately (what Merkle leaves cost).
        let whole = best(self.rounds, || {
            let t = Instant::now();
            std::hint::black_box(blake3::hash(&data));
            t.elapsed().as_secs_f64()
        });
        let leaves = best(self.rounds, || {
            let t = Instant::now();
            for chunk in data.chunks(CHUNK_SIZE) {
                std::hint::black_box(blake3::hash(chunk));
            }
            t.elapsed().as_secs_f64()
        });
        let mut replica = None;
        let encode = best(self.rounds, || {
            let t = Instant::now();
            replica = Replica::build(&device, &data);
            t.elapsed().as_secs_f64()
        });
        let replica = replica.expect("non-empty object");
        let (whole_rate, leaf_rate, encode_rate) = (mib / whole, mib / leaves, mib / encode);
        println!("raw BLAKE3, whole buffer         {whole_rate:>9.0} MiB/s");
        println!("raw BLAKE3, per 1 KiB chunk      {leaf_rate:>9.0} MiB/s");
        println!(
            "provider encode + commit         {encode_rate:>9.0} MiB/s   (content tree + ChaCha20 encoding + replica tree)"
        );
        println!(
            "ratio to raw BLAKE3 whole        {:>9.2}",
            encode_rate / whole_rate
        );
        println!(
            "ratio to raw BLAKE3 per chunk    {:>9.2}   (the work is two hashing passes and one cipher pass: 0.5 is the two-pass ceiling)",
            encode_rate / leaf_rate
        );

        let record = ReplicaRecord {
            object: replica.object,
            size: replica.size,
            replica_root: replica.replica_root(),
        };
        let chunks = replica.encoded.len() as u64;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let proofs: Vec<_> = (0..self.proofs.max(1))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                replica.prove(x % chunks).expect("in range")
            })
            .collect();
        let check = best(self.rounds, || {
            let t = Instant::now();
            for p in &proofs {
                check_chunk(&device, &record, p.index, p).expect("valid proof");
            }
            t.elapsed().as_secs_f64()
        });
        let depth = proofs[0].path.len();
        let per_s = proofs.len() as f64 / check;
        // The ceiling for one proof: the hashes it needs (a leaf and `depth` nodes for each
        // of the two paths), timed alone.
        let nodes = best(self.rounds, || {
            let t = Instant::now();
            for p in &proofs {
                std::hint::black_box(blake3::hash(&p.chunk));
                std::hint::black_box(blake3::hash(&p.chunk));
                for _ in 0..2 * depth {
                    std::hint::black_box(blake3::hash(&[0u8; 65]));
                }
            }
            t.elapsed().as_secs_f64()
        });
        let ceiling = proofs.len() as f64 / nodes;
        println!(
            "verifier chunk proofs            {per_s:>9.0} /s     (two Merkle paths of depth {depth}, one decode each)"
        );
        println!("raw BLAKE3 for the same hashes   {ceiling:>9.0} /s");
        println!("ratio                            {:>9.2}", per_s / ceiling);
        println!(
            "a 16-chunk challenge             {:>9.0} /s per core",
            per_s / 16.0
        );
        Ok(())
    }
}
