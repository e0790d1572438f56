//! The did:key method specification's published Ed25519 test vectors
//! (w3c-ccg/did-method-key, `test-vectors/ed25519-x25519.json`): seed → public key → DID,
//! and DID → public key.

use cairn_core::{Keypair, PublicKey};

/// (seed hex, publicKeyBase58 as published, DID as published)
const VECTORS: &[(&str, &str, &str)] = &[
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS",
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "6ASf5EcmmEHTgDJ4X4ZT5vT6iHVJBXPg5AN5YoTCpGWt",
        "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000002",
        "8pM1DN3RiT8vbom5u1sNryaNT1nyL8CTTW3b5PwWXRBH",
        "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000003",
        "HPYVwAQmskwT1qEEeRzhoomyfyupJGASQQtCXSNG8XS2",
        "did:key:z6MkvqoYXQfDDJRv8L4wKzxYeuKyVZBfi9Qo6Ro8MiLH3kDQ",
    ),
    // From the file's earlier revision (same key derivation; dropped later for a JWK form).
    (
        "0000000000000000000000000000000000000000000000000000000000000004",
        "J3qYF7YJMKCqQke47UQwiHizgFUXapHxRxKmxbkar89x",
        "did:key:z6MkwW6aqMnjgrhJXFUko3NnZPGzVpkNzhYK7yEhnsibmLwL",
    ),
];

/// The DID of the seed-05 vector, whose key the file gives only as a JWK.
const SEED5_DID: &str = "did:key:z6MkwYMhwTvsq376YBAcJHy3vyRWzBgn5vKfVqqDCgm7XVKU";
/// The example DID in the specification's text.
const SPEC_EXAMPLE_DID: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

fn seed(hex_seed: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex_seed[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
fn seeds_give_published_keys_and_dids() {
    for (seed_hex, key_b58, did) in VECTORS {
        let public = Keypair::from_seed(&seed(seed_hex)).public();
        assert_eq!(
            bs58::encode(public.as_bytes()).into_string(),
            *key_b58,
            "seed {seed_hex}"
        );
        assert_eq!(public.to_did(), *did, "seed {seed_hex}");
        assert_eq!(PublicKey::from_did(did).unwrap(), public);
        assert_eq!(did.parse::<PublicKey>().unwrap().to_string(), *did);
    }
    let mut s5 = [0u8; 32];
    s5[31] = 5;
    assert_eq!(Keypair::from_seed(&s5).public().to_did(), SEED5_DID);
    let example = PublicKey::from_did(SPEC_EXAMPLE_DID).unwrap();
    assert_eq!(example.to_did(), SPEC_EXAMPLE_DID);
}
