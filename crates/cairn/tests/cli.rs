//! End-to-end tests of the `cairn` binary: run it in a temporary directory, then check
//! its output with the core and ledger crates, down to applying its transactions.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use cairn_core::{Canonical, Height, Keypair, NetworkId, PublicKey, Tokens};
use cairn_ledger::genesis::{Allocation, GenesisMaker, GenesisValidator};
use cairn_ledger::{BlockContext, Genesis, SignedTx, State, apply};

const NETWORK: &str = "cli-test";
const GENESIS_MS: u64 = 1_700_000_000_000;

/// Run `cairn` with a command line split on whitespace (no argument here has spaces).
fn cairn(dir: &Path, line: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(line.split_whitespace())
        .current_dir(dir)
        .env_remove("CAIRN_NETWORK")
        .output()
        .expect("the cairn binary runs")
}

/// Run and expect success; returns stdout.
fn ok(dir: &Path, line: &str) -> String {
    let out = cairn(dir, line);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cairn {line} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Run and expect failure; returns stderr.
fn fail(dir: &Path, line: &str) -> String {
    let out = cairn(dir, line);
    assert!(!out.status.success(), "cairn {line} succeeded unexpectedly");
    String::from_utf8(out.stderr).unwrap()
}

/// `keys generate` a key file named `name`; returns its did:key.
fn keygen(dir: &Path, name: &str) -> String {
    ok(dir, &format!("keys generate --key {name}"))
        .trim()
        .to_owned()
}

fn did(s: &str) -> PublicKey {
    s.parse().unwrap()
}

/// Check a `cairn tx` output and return the transaction it carries.
fn decode_tx(stdout: &str) -> SignedTx {
    let v: serde_json::Value = serde_json::from_str(stdout).unwrap();
    let bytes = hex::decode(v["encoded"].as_str().unwrap()).unwrap();
    let tx = <SignedTx as Canonical>::decode(&bytes).unwrap();
    tx.verify(&NetworkId::new(NETWORK).unwrap()).unwrap();
    assert_eq!(v["hash"].as_str().unwrap(), tx.hash().to_hex());
    let from_json: SignedTx = serde_json::from_value(v["tx"].clone()).unwrap();
    assert_eq!(from_json, tx, "the JSON and the encoded bytes agree");
    tx
}

/// The common transaction flags.
fn common(key: &str, nonce: u64) -> String {
    format!("--key {key} --network {NETWORK} --nonce {nonce}")
}

/// `cairn tx <kind…> <common flags>`, checked and decoded.
fn tx(dir: &Path, key: &str, nonce: u64, kind: &str) -> SignedTx {
    decode_tx(&ok(dir, &format!("tx {kind} {}", common(key, nonce))))
}

fn genesis(allocations: &[(&str, u128)], makers: &[&str], price_oracles: &[&str]) -> State {
    Genesis {
        network: NetworkId::new(NETWORK).unwrap(),
        time_ms: GENESIS_MS,
        allocations: allocations
            .iter()
            .map(|(account, whole)| Allocation {
                account: did(account),
                tokens: Tokens::whole(*whole).unwrap(),
            })
            .collect(),
        treasury: Tokens::ZERO,
        validators: vec![GenesisValidator {
            key: Keypair::generate().public(),
            power: 1,
        }],
        price_oracles: price_oracles.iter().map(|k| did(k)).collect(),
        reward_oracles: vec![],
        verifier_oracles: vec![],
        makers: makers
            .iter()
            .map(|k| GenesisMaker {
                key: did(k),
                name: "Acme Radios".to_owned(),
            })
            .collect(),
        params: vec![],
    }
    .into_state()
    .unwrap()
}

const BLOCK_1: BlockContext = BlockContext {
    height: Height(1),
    time_ms: GENESIS_MS + 6_000,
};

#[test]
fn help_lists_commands() {
    let dir = tempfile::tempdir().unwrap();
    let help = ok(dir.path(), "--help");
    for cmd in [
        "keys",
        "tx",
        "params",
        "maker",
        "device",
        "usage",
        "cairn devnet",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}: {help}");
    }
    let help = ok(dir.path(), "tx propose --help");
    assert!(
        help.contains("param-change") && help.contains("--deposit"),
        "{help}"
    );
}

#[test]
fn keys_generate_show_and_refuse_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let did = keygen(d, "owner.key");
    assert!(did.starts_with("did:key:z6Mk"), "{did}");
    let path = d.join("owner.key");
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(ok(d, "keys show --key owner.key").trim(), did);

    let uri = format!("file://{}", path.display());
    let show = ok(d, &format!("keys show --key {uri} --json"));
    let json: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(json["did"], did.as_str());
    assert_eq!(json["key_uri"], uri.as_str());

    let err = fail(d, "keys generate --key owner.key");
    assert!(err.contains("refusing to overwrite"), "{err}");

    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = fail(d, "keys show --key owner.key");
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn params_lists_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let table = ok(dir.path(), "params");
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("tx_fee_tokens") && table.contains("quorum_bps"));
    let json: serde_json::Value = serde_json::from_str(&ok(dir.path(), "params --json")).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), cairn_ledger::ParamId::ALL.len());
    assert_eq!(rows[0]["name"], "tx_fee_tokens");
    assert_eq!(rows[0]["default"], "10000");
}

#[test]
fn transfer_is_signed_encoded_and_applies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sender = keygen(d, "sender.key");
    let recipient = keygen(d, "recipient.key");
    let mut state = genesis(&[(&sender, 10)], &[], &[]);

    let line = format!(
        "tx transfer --to {recipient} --amount 2.5 {} --out transfer.json",
        common("sender.key", 0)
    );
    assert_eq!(ok(d, &line), "", "--out writes nothing to stdout");
    let signed = decode_tx(&fs::read_to_string(d.join("transfer.json")).unwrap());
    let err = fail(d, &line);
    assert!(err.contains("already exists"), "{err}");

    let receipt = apply(&mut state, &BLOCK_1, &signed).unwrap();
    assert_eq!(receipt.tx_hash, signed.hash());
    let balance = |d: &str| state.account(&did(d)).tokens;
    assert_eq!(balance(&recipient), "2.5".parse().unwrap());
    // 10 − 2.5 − the default fee of 0.0001.
    assert_eq!(balance(&sender), "7.4999".parse().unwrap());

    let line = format!(
        "tx transfer --to {recipient} --amount 1.000000001 {}",
        common("sender.key", 1)
    );
    let err = fail(d, &line);
    assert!(err.contains("at most 8 decimal places"), "{err}");
}

#[test]
fn onboard_a_device_with_minted_credits_then_pay_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let maker = keygen(d, "maker.key");
    let owner = keygen(d, "owner.key");
    let device = keygen(d, "device.key");
    let oracle = keygen(d, "oracle.key");
    let mut state = genesis(&[(&owner, 100), (&oracle, 1)], &[&maker], &[&oracle]);

    // Credits come only from burning tokens at the oracle price: at $1.00, 41 tokens buy
    // 4,100,000 credits, enough for the default onboarding fee of 4,000,000.
    let observed = BLOCK_1.time_ms;
    let price = format!("submit-price --usd-per-token 1.00 --observed-at-ms {observed}");
    apply(&mut state, &BLOCK_1, &tx(d, "oracle.key", 0, &price)).unwrap();
    let mint = tx(d, "owner.key", 0, "mint-credits --amount 41");
    apply(&mut state, &BLOCK_1, &mint).unwrap();
    assert_eq!(state.account(&did(&owner)).credits.base_units(), 4_100_000);

    let attest = format!(
        "maker attest --key maker.key --network {NETWORK} --device {device} --kind coverage"
    );
    let maker_sig = ok(d, &attest).trim().to_owned();
    let consent =
        format!("device consent --key device.key --network {NETWORK} --owner {owner} --json");
    let json: serde_json::Value = serde_json::from_str(&ok(d, &consent)).unwrap();
    let device_sig = json["signature"].as_str().unwrap().to_owned();

    let onboard = |kind: &str| {
        format!(
            "onboard --device {device} --kind {kind} --maker {maker} \
             --maker-signature {maker_sig} --device-signature {device_sig}"
        )
    };
    // The wrong kind is caught before signing, naming the flag.
    let err = fail(
        d,
        &format!("tx {} {}", onboard("storage"), common("owner.key", 1)),
    );
    assert!(err.contains("--maker-signature"), "{err}");

    let signed = tx(d, "owner.key", 1, &onboard("coverage"));
    apply(&mut state, &BLOCK_1, &signed).unwrap();
    assert_eq!(state.devices.get(&did(&device)).unwrap().owner, did(&owner));
    assert_eq!(state.account(&did(&owner)).credits.base_units(), 100_000);

    // The owner, as a consumer, pays the device 500 credits with a receipt.
    let receipt = format!(
        "usage receipt --key owner.key --network {NETWORK} --device {device} \
         --service sensor_data --amount 500 --serial 1 --expires-at 100 --out receipt.json"
    );
    ok(d, &receipt);
    let pay = tx(d, "owner.key", 2, "pay --receipt receipt.json");
    apply(&mut state, &BLOCK_1, &pay).unwrap();
    assert_eq!(state.account(&did(&owner)).credits.base_units(), 99_500);
}

#[test]
fn propose_a_parameter_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let proposer = keygen(d, "p.key");
    let mut state = genesis(&[(&proposer, 200)], &[], &[]);
    // The common flags go before the proposal kind's subcommand.
    let line = |set: &str| {
        format!(
            "tx propose {} --deposit 100 param-change --set {set}",
            common("p.key", 0)
        )
    };
    let signed = decode_tx(&ok(d, &line("quorum_bps=4000")));
    apply(&mut state, &BLOCK_1, &signed).unwrap();
    assert_eq!(state.proposals.len(), 1);

    let err = fail(d, &line("quorum=4000"));
    assert!(
        err.contains("unknown parameter") && err.contains("cairn params"),
        "{err}"
    );
}

#[test]
fn report_fault_proves_a_validators_conflicting_votes() {
    use cairn_core::keys::Signer as _;
    use cairn_ledger::faults::{
        FaultEvidence, FaultVotes, VoteProposal, VoteType, vote_signing_bytes,
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reporter = keygen(d, "reporter.key");
    let validator_did = keygen(d, "validator.key");
    let mut state = genesis(&[(&reporter, 10)], &[], &[]);
    state.authorities.validators = vec![(did(&validator_did), 1)];
    let validator = cairn_core::keyfile::read_key_file(&d.join("validator.key")).unwrap();
    let network = NetworkId::new(NETWORK).unwrap();
    let vote = |block: &[u8]| {
        let p = VoteProposal {
            parent_view: 2,
            payload: cairn_core::Hash::of(block),
        };
        let bytes = vote_signing_bytes(&network, VoteType::Notarize, 0, 3, Some(&p));
        (p, validator.sign_raw(&bytes))
    };
    let ((first, first_signature), (second, second_signature)) = (vote(b"a"), vote(b"b"));
    let evidence = FaultEvidence {
        validator: validator.public(),
        epoch: 0,
        view: 3,
        votes: FaultVotes::ConflictingNotarize {
            first,
            first_signature,
            second,
            second_signature,
        },
    };
    fs::write(
        d.join("fault.json"),
        serde_json::to_string(&evidence).unwrap(),
    )
    .unwrap();
    let signed = tx(d, "reporter.key", 0, "report-fault --evidence fault.json");
    let receipt = apply(&mut state, &BLOCK_1, &signed).unwrap();
    assert_eq!(receipt.kind, "report_validator_fault");
    assert!(
        state
            .validator_faults
            .contains_key(&(validator.public(), 0, 3))
    );

    fs::write(d.join("bad.json"), r#"{"validator": "nope"}"#).unwrap();
    let err = fail(
        d,
        &format!(
            "tx report-fault --evidence bad.json {}",
            common("reporter.key", 1)
        ),
    );
    assert!(err.contains("fault evidence"), "{err}");
}

/// `cairn sim`: a small seeded network prints its tables and writes the same as JSON;
/// the same seed prints the same; bad arguments are refused with a message.
#[test]
fn sim_prints_the_quality_table_and_economics() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(
        dir.path(),
        "sim --devices 120 --epochs 2 --seed 9 --json sim.json",
    );
    assert!(out.contains("network: 120 devices"), "{out}");
    assert!(out.contains("coverage: honest"), "{out}");
    assert!(out.contains("storage: honest"), "{out}");
    assert!(out.contains("DEMAND COVER"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("sim.json")).unwrap()).unwrap();
    assert_eq!(json["seed"], 9);
    assert_eq!(json["economics"].as_array().unwrap().len(), 2);
    assert!(json["quality"]["lines"].as_array().unwrap().len() >= 6);
    assert_eq!(ok(dir.path(), "sim --devices 120 --epochs 2 --seed 9"), out);
    assert!(fail(dir.path(), "sim --devices 0").contains("--devices 0 is out of range"));
    assert!(fail(dir.path(), "sim --epochs 0").contains("--epochs 0 is out of range"));
    assert!(fail(dir.path(), "sim --devices 10 --json sim.json").contains("already exists"));
}
