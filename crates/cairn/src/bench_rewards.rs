//! `cairn bench rewards`: one epoch's rewards and manifest for a large fleet, computed
//! from a verdict batch on disk exactly as the node's rewarder does it, with its time
//! and peak memory, next to the bare BLAKE3 calls the manifest tree needs; then proofs
//! served (looked up and encoded as the proofs route does) and checked per second.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cairn_core::codec::Canonical;
use cairn_core::{Credits, Epoch, Hash, Height, Keypair, NetworkId, PublicKey, Tokens};
use cairn_ledger::genesis::GenesisValidator;
use cairn_ledger::state::{Device, Usage};
use cairn_ledger::tx::{DeviceKind, Recipient};
use cairn_ledger::{Genesis, ParamId};
use cairn_rewards::{Cumulative, ManifestTree, Payee};
use cairn_verify::WorkKind;
use cairn_verify::reputation::{Reputation, Status};
use cairn_verify::verdict::{
    BATCH_VERSION, Capacity, Measure, Outcome, ReasonCode, Standing, Subject, Verdict,
};
use clap::Args;

use crate::rewarder::{Proposers, RewardsRecord, compute, read_work};

#[derive(Debug, Args)]
pub struct RewardsBench {
    /// Devices in the fleet (half storage, half compute).
    #[arg(long, default_value_t = 1_000_000)]
    devices: usize,
    /// Proofs looked up and encoded, then checked.
    #[arg(long, default_value_t = 200_000)]
    proofs: usize,
}

/// Peak and current resident memory, in bytes, from `/proc/self/status`.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Reset the peak resident size to the current one (Linux ≥ 4.0), so the next peak
/// belongs to what runs after.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Deterministic device keys, generated on every core.
fn device_keys(n: usize) -> Vec<PublicKey> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t * per..((t + 1) * per).min(n))
                        .map(|i| {
                            let mut seed = [7u8; 32];
                            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                            Keypair::from_seed(&seed).public()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("key thread"))
            .collect()
    })
}

/// A verdict batch as the verifier writes it (every scheduled challenge slot judged, one
/// in fifty failed, each with its evidence and measurements), written item by item in
/// the batch's canonical encoding: built whole in memory it would take gigabytes and
/// leave the allocator's free lists full before the measurement.
fn write_batch(
    path: &std::path::Path,
    epoch: Epoch,
    devices: &[(PublicKey, DeviceKind)],
    slots: (u64, u64),
) -> Result<()> {
    use borsh::BorshSerialize;
    let work = |i: usize, kind: &DeviceKind| match kind {
        DeviceKind::Storage => (WorkKind::Storage, slots.0, 1u64 << 30),
        _ => (WorkKind::Compute, slots.1, 1 + (i as u64 % 4)),
    };
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let verdicts: u64 = devices
        .iter()
        .enumerate()
        .map(|(i, (_, k))| work(i, k).1)
        .sum();
    (
        BATCH_VERSION,
        epoch,
        Height(0),
        Hash::ZERO,
        Hash::ZERO,
        Hash::ZERO,
        verdicts,
    )
        .serialize(&mut w)?;
    u32::try_from(verdicts)?.serialize(&mut w)?;
    for (i, (device, kind)) in devices.iter().enumerate() {
        let (work, n, _) = work(i, kind);
        for slot in 0..n {
            let fails = (i as u64 * 7 + slot).is_multiple_of(50);
            Verdict {
                device: device.id(),
                epoch,
                kind: work,
                subject: Subject::Challenge,
                subject_id: Hash::of_parts(&[device.as_bytes(), &slot.to_le_bytes()]),
                outcome: if fails {
                    Outcome::Invalid(ReasonCode::Timeout)
                } else {
                    Outcome::Valid
                },
                evidence: vec![
                    Hash::of_parts(&[b"challenge", &slot.to_le_bytes(), device.as_bytes()]),
                    Hash::of_parts(&[b"answer", &slot.to_le_bytes(), device.as_bytes()]),
                ],
                measured: vec![Measure {
                    name: "response_ms".into(),
                    value: 40 + (i as i64 % 200),
                }],
                score_ppm: None,
                detail: String::new(),
            }
            .serialize(&mut w)?;
        }
    }
    u32::try_from(devices.len())?.serialize(&mut w)?;
    for (i, (device, kind)) in devices.iter().enumerate() {
        Standing {
            device: device.id(),
            kind: work(i, kind).0,
            reputation: Reputation {
                alpha: 40_000_000,
                beta: 1_000_000,
                audits: 40,
                status: Status::Good,
                disqualified_in: None,
            },
        }
        .serialize(&mut w)?;
    }
    u32::try_from(devices.len())?.serialize(&mut w)?;
    for (i, (device, kind)) in devices.iter().enumerate() {
        let (work, _, amount) = work(i, kind);
        Capacity {
            device: device.id(),
            kind: work,
            amount,
        }
        .serialize(&mut w)?;
    }
    use std::io::Write;
    w.flush()?;
    Ok(())
}

impl RewardsBench {
    pub fn run(self) -> Result<()> {
        if self.devices == 0 || self.devices > 10_000_000 {
            bail!("--devices must be 1 to 10,000,000");
        }
        let n = self.devices;
        eprintln!("generating {n} device keys…");
        let mut keys = device_keys(n);
        keys.sort();
        let owner = Keypair::from_seed(&[1; 32]).public();
        let validator = Keypair::from_seed(&[2; 32]).public();
        let oracles: Vec<PublicKey> = (3u8..5)
            .map(|b| Keypair::from_seed(&[b; 32]).public())
            .collect();
        let mut state = Genesis {
            network: NetworkId::new("cairn-bench").expect("valid id"),
            time_ms: 0,
            allocations: vec![],
            treasury: Tokens::ZERO,
            validators: vec![GenesisValidator {
                key: validator,
                power: 1,
            }],
            price_oracles: vec![oracles[0]],
            reward_oracles: oracles.clone(),
            verifier_oracles: vec![oracles[1]],
            makers: vec![],
            params: vec![],
        }
        .into_state()?;
        let fleet: Vec<(PublicKey, DeviceKind)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let kind = if i % 2 == 0 {
                    DeviceKind::Storage
                } else {
                    DeviceKind::Compute
                };
                (*k, kind)
            })
            .collect();
        // Demand: a fifth of the devices were paid by consumers, for about a tenth of the
        // storage and compute pools in all.
        let emission = cairn_ledger::emission_for_epoch(&state.params, Epoch(2)).base_units();
        let usage_each = emission * 3 / 100 / (n as u128 / 10 + 1);
        for (i, (k, kind)) in fleet.iter().enumerate() {
            state.devices.insert(
                *k,
                Device {
                    owner,
                    maker: owner,
                    kind: *kind,
                    onboarded_at: Height(1),
                    onboarded_epoch: Epoch(1),
                    location: None,
                    location_since: None,
                    location_moves: 0,
                    bond: Tokens::ZERO,
                    unbonding: Vec::new(),
                    fees_through: Epoch(0),
                },
            );
            // Two devices in ten were paid by consumers this epoch.
            if i % 10 == 3 || i % 10 == 4 {
                for e in [1, 2] {
                    state.usage.insert(
                        (Epoch(e), *k),
                        Usage {
                            credits: Credits::from_base_units(usage_each / 1_000),
                            tokens: Tokens::from_base_units(usage_each / 2),
                        },
                    );
                }
            }
        }
        let slots = (
            state.params.get(ParamId::StorageChallengesPerEpoch) as u64,
            state.params.get(ParamId::ComputeChallengesPerEpoch) as u64,
        );
        // Epochs 1 and 2 closed at heights 1,800 and 3,600, as blocks past their ends would
        // record it.
        state.epoch_closes.insert(Height(1_800), Epoch(1));
        state.epoch_closes.insert(Height(3_600), Epoch(2));
        let mut proposers = Proposers::default();
        proposers
            .by_epoch
            .insert(2, BTreeMap::from([(validator, 3_600u64)]));

        // The verifier's batch, on disk where the rewarder reads it.
        let dir = tempfile::tempdir()?;
        write_batch(
            &crate::services::batch_path(dir.path(), 2),
            Epoch(2),
            &fleet,
            slots,
        )?;
        let batch_bytes = std::fs::metadata(crate::services::batch_path(dir.path(), 2))?.len();
        drop(fleet);
        // Epoch 2 extends a cumulative total for every device and account, as every
        // epoch after the first does.
        let prior = Cumulative {
            totals: keys
                .iter()
                .map(|k| (Payee::Device(k.id()), Tokens::from_base_units(1_000_000)))
                .chain(
                    oracles
                        .iter()
                        .chain([&validator])
                        .map(|k| (Payee::Account(k.id()), Tokens::from_base_units(1))),
                )
                .chain([(Payee::Treasury, Tokens::from_base_units(1))])
                .collect(),
            held: BTreeMap::new(),
        };
        let previous = Some((
            Hash::of(b"epoch 1"),
            cairn_ledger::emission_for_epoch(&state.params, Epoch(1)),
        ));
        let recipients: Vec<Recipient> = (0..self.proofs)
            .map(|i| Recipient::Device(keys[(i * 7919) % n]))
            .collect();
        drop(keys);

        let (_, before) = memory();
        let peak_known = reset_peak();
        let start = Instant::now();
        let work = read_work(dir.path(), Epoch(2))?.context("batch")?;
        let read = start.elapsed();
        let work_verdicts = work.verdicts;
        let record: RewardsRecord = compute(&state, &proposers, Epoch(2), &work, previous, &prior)?;
        let computed = start.elapsed();
        let encoded = record.encode();
        std::fs::write(dir.path().join("record.borsh"), &encoded)?;
        let total = start.elapsed();
        let (peak, _) = memory();
        drop(work);

        // The ceiling: the bare BLAKE3 calls the manifest tree needs (one per leaf, one
        // per inner node, each with its one-byte domain prefix), on the same leaf bytes.
        let leaf_bytes: Vec<Vec<u8>> = record
            .cumulative
            .totals
            .iter()
            .map(|(p, t)| cairn_rewards::manifest::leaf_bytes(p, *t))
            .collect();
        let t = Instant::now();
        let mut level: Vec<[u8; 32]> = leaf_bytes
            .iter()
            .map(|b| {
                let mut h = blake3::Hasher::new();
                h.update(&[0]);
                h.update(b);
                *h.finalize().as_bytes()
            })
            .collect();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|p| {
                    let mut h = blake3::Hasher::new();
                    h.update(&[1]);
                    h.update(&p[0]);
                    h.update(p.get(1).unwrap_or(&p[0]));
                    *h.finalize().as_bytes()
                })
                .collect();
        }
        std::hint::black_box(&level);
        let raw_tree = t.elapsed();
        let t = Instant::now();
        let tree = ManifestTree::build(&record.cumulative);
        let our_tree = t.elapsed();
        anyhow::ensure!(
            tree.root() == record.manifest.cumulative_root,
            "tree root differs"
        );

        // Proofs: look up and encode as `/v1/rewards/proofs` does, then check each
        // against the root as the ledger does for a claim.
        let t = Instant::now();
        let mut served = Vec::with_capacity(recipients.len());
        for r in &recipients {
            let (leaf, proof) = tree.proof(r).context("recipient in the tree")?;
            served.push(serde_json::to_vec(
                &serde_json::json!({ "leaf": leaf, "proof": proof }),
            )?);
        }
        let serve = t.elapsed();
        let t = Instant::now();
        for r in &recipients {
            let (leaf, proof) = tree.proof(r).context("recipient in the tree")?;
            anyhow::ensure!(
                proof.verify(&record.manifest.cumulative_root, &leaf.leaf_bytes()),
                "proof does not verify"
            );
        }
        let check = t.elapsed();

        let s = |d: std::time::Duration| d.as_secs_f64();
        println!(
            "fleet: {n} devices, {} verdicts ({:.0} MiB batch), {} recipients",
            work_verdicts,
            mib(batch_bytes),
            record.manifest.recipient_count
        );
        println!(
            "epoch rewards + manifest:  {:>8.2} s  (stream batch {:.2} s, compute {:.2} s, write record {:.2} s, {:.0} MiB)",
            s(total),
            s(read),
            s(computed - read),
            s(total - computed),
            mib(encoded.len() as u64)
        );
        if peak_known {
            println!(
                "memory for it:             {:>8.0} MiB  above the {:.0} MiB held before (the ledger state with the fleet, prior totals)",
                mib(peak.saturating_sub(before)),
                mib(before)
            );
        } else {
            println!(
                "peak memory during it:     {:>8.0} MiB  (peak of the whole run)",
                mib(peak)
            );
        }
        println!(
            "manifest tree:             {:>8.3} s   raw BLAKE3 for it: {:.3} s   ratio {:.2}",
            s(our_tree),
            s(raw_tree),
            s(raw_tree) / s(our_tree)
        );
        println!(
            "proofs served (1 core):    {:>8.0} /s  ({} B of JSON each)",
            self.proofs as f64 / s(serve),
            served.first().map_or(0, Vec::len)
        );
        println!(
            "proofs checked (1 core):   {:>8.0} /s",
            self.proofs as f64 / s(check)
        );
        Ok(())
    }
}
