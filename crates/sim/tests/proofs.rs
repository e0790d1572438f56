//! The proof simulation: honest and dishonest storage and compute providers against the
//! real challenges and the real epoch verifier (seeded; prints the per-class table).

use cairn_ledger::{ParamId, Params};
use cairn_sim::proofs::{Behaviour, ClassResult, ProofSimConfig, ProofSimResult, run, table};

fn params() -> Params {
    let set = [
        (ParamId::EpochDurationMs, 600_000),
        (ParamId::StorageChallengeChunks, 16),
        (ParamId::StorageChallengesPerEpoch, 4),
        (ParamId::StorageDeadlineMs, 1_000),
        (ParamId::NetworkAllowanceMs, 300),
        (ParamId::ComputeChallengesPerEpoch, 2),
        (ParamId::ComputeChallengeN, 96),
        // A small class 1 (1 multiply-add per µs: 885 ms for n = 96), so the benchmark's
        // work, not the network, decides the timing checks.
        (ParamId::ComputeClass1OpsPerUs, 1),
    ];
    set.into_iter()
        .fold(Params::default(), |p, (id, v)| p.with(id, v).unwrap())
}

fn config(seed: u64) -> ProofSimConfig {
    ProofSimConfig {
        seed,
        epochs: 6,
        population: vec![
            (Behaviour::HonestStorage, 120),
            (Behaviour::FlakyStorage { miss_ppm: 100_000 }, 30),
            (
                Behaviour::DeleteStorage {
                    fraction_ppm: 10_000,
                },
                20,
            ),
            (
                Behaviour::DeleteStorage {
                    fraction_ppm: 50_000,
                },
                20,
            ),
            (
                Behaviour::DeleteStorage {
                    fraction_ppm: 100_000,
                },
                20,
            ),
            (
                Behaviour::DeleteStorage {
                    fraction_ppm: 500_000,
                },
                10,
            ),
            (Behaviour::OutsourceStorage, 10),
            (Behaviour::SharedCopy { k: 3 }, 5),
            (Behaviour::HonestCompute { class: 1 }, 15),
            (Behaviour::HonestCompute { class: 4 }, 15),
            (
                Behaviour::SpoofClass {
                    claimed: 4,
                    actual: 1,
                },
                10,
            ),
            (Behaviour::LazyCompute { q_ppm: 100_000 }, 10),
            (Behaviour::OutsourceCompute, 10),
        ],
        objects_per_provider: 2,
        chunks_per_object: 256,
        params: params(),
    }
}

fn class(result: &ProofSimResult, b: Behaviour) -> &ClassResult {
    result.classes.iter().find(|c| c.behaviour == b).unwrap()
}

#[test]
fn detection_per_cheat_class() {
    let result = run(&config(7));
    println!("{}", table(&result));
    assert_eq!(result.challenger_faults, 0);
    let c = result.params.storage_chunks;

    // Honest devices, flaky ones included: never flagged, never disqualified.
    for b in [
        Behaviour::HonestStorage,
        Behaviour::FlakyStorage { miss_ppm: 100_000 },
        Behaviour::HonestCompute { class: 1 },
        Behaviour::HonestCompute { class: 4 },
    ] {
        let r = class(&result, b);
        assert!(r.challenges > 0);
        assert_eq!((r.caught, r.disqualified), (0, 0), "{b:?}: {r:?}");
    }

    // Partial deletion: the measured per-challenge detection matches 1 − (1 − f)^c, with
    // f the share of chunks actually lost (whole chunks of 256), within 4 standard errors.
    for f_ppm in [10_000u32, 50_000, 100_000, 500_000] {
        let r = class(
            &result,
            Behaviour::DeleteStorage {
                fraction_ppm: f_ppm,
            },
        );
        let lost = (256 * u64::from(f_ppm)).div_ceil(1_000_000) as f64 / 256.0;
        let expected = 1.0 - (1.0 - lost).powi(c as i32);
        let measured = r.detection_rate();
        let sigma = (expected * (1.0 - expected) / r.challenges as f64).sqrt();
        println!(
            "deletes {:>4.1}%: {} challenges, detected {:.3}, expected 1-(1-{lost:.4})^{c} = {expected:.3} (σ {sigma:.3})",
            f64::from(f_ppm) / 10_000.0,
            r.challenges,
            measured
        );
        assert!(
            (measured - expected).abs() <= 4.0 * sigma + 1e-9,
            "f = {f_ppm} ppm: measured {measured}, expected {expected}"
        );
        // Caught within the epochs simulated (the 1% class only mostly: 17% a challenge).
        if f_ppm >= 50_000 {
            assert_eq!(r.caught, r.devices, "f = {f_ppm}");
        }
    }
    // Losing 10% or more ends in disqualification; losing 1% does not.
    assert_eq!(
        class(
            &result,
            Behaviour::DeleteStorage {
                fraction_ppm: 500_000
            }
        )
        .disqualified,
        10
    );
    assert_eq!(
        class(
            &result,
            Behaviour::DeleteStorage {
                fraction_ppm: 10_000
            }
        )
        .disqualified,
        0
    );

    // Outsourcing loses to the deadline; shared copies fail per-device encoding.
    let out = class(&result, Behaviour::OutsourceStorage);
    assert_eq!(out.caught, out.devices);
    assert!(out.reasons.contains_key("late"), "{out:?}");
    let shared = class(&result, Behaviour::SharedCopy { k: 3 });
    // The first identity of each group holds a genuine replica; the other two do not.
    assert_eq!(shared.caught, 10, "{shared:?}");
    assert!(
        shared.reasons.contains_key("replica_mismatch"),
        "{shared:?}"
    );

    // Compute: class spoofers and outsourcers miss the class deadline.
    for b in [
        Behaviour::SpoofClass {
            claimed: 4,
            actual: 1,
        },
        Behaviour::OutsourceCompute,
    ] {
        let r = class(&result, b);
        assert_eq!(r.caught, r.devices, "{b:?}: {r:?}");
        assert!(r.reasons.contains_key("too_slow"), "{b:?}: {r:?}");
    }
    // Lazy compute: caught by Freivalds in the epoch of its first wrong answer.
    for (device, wrong, caught) in &result.lazy_first_wrong {
        assert_eq!(wrong, caught, "{}", device.to_did());
    }
    assert!(
        class(&result, Behaviour::LazyCompute { q_ppm: 100_000 })
            .reasons
            .contains_key("wrong_product")
    );
}

#[test]
fn the_same_seed_gives_identical_verdict_logs() {
    let mut small = config(11);
    small.epochs = 3;
    for (_, count) in small.population.iter_mut() {
        *count = (*count).div_ceil(5);
    }
    // Every epoch's verdict batch, encoded.
    let log = |r: ProofSimResult| -> Vec<Vec<u8>> {
        r.verdicts
            .iter()
            .map(cairn_core::Canonical::encode)
            .collect()
    };
    let a = log(run(&small));
    let b = log(run(&small));
    assert_eq!(a, b, "two runs over the same log differ");
    assert!(a.iter().all(|batch| batch.len() > 1_000));
    let mut other = small.clone();
    other.seed = 12;
    assert_ne!(log(run(&other)), a);
}
