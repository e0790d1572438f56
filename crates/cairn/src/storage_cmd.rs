//! `cairn storage put|get|keygen`: a consumer storing files on the network's providers.
//!
//! `put` chunks the file and computes its content id (BLAKE3 Merkle root of 1 KiB chunks),
//! optionally encrypts it first with a key only the consumer holds (XChaCha20-Poly1305),
//! picks `storage_replicas` providers from the node's directory (free space, then
//! reputation, spreading over distinct locations), uploads to each with a signed usage
//! receipt for the price they ask, and settles the receipts on the ledger. `get` asks the
//! node who holds the object, downloads from the best-standing holder, checks every byte
//! against the content id, and falls back to the next holder on any mismatch.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use cairn_agent::service::{EPOCHS_HEADER, RECEIPT_HEADER, retrieval_due, storage_due};
use cairn_core::codec::encode;
use cairn_core::keys::Signer;
use cairn_core::{Credits, Hash, Height, NetworkId, PublicKey, Signed};
use cairn_ledger::ParamId;
use cairn_ledger::TxKind;
use cairn_ledger::tx::{ServiceKind, UsageReceipt};
use cairn_verify::storage::content_id;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::agent_cmd::{ensure_credits, param, send};
use crate::client;

/// Prefix of a client-side encrypted object: magic, then the 24-byte nonce.
const ENC_MAGIC: &[u8; 12] = b"cairn-enc-v1";

#[derive(Debug, Subcommand)]
pub enum StorageCmd {
    /// Store a file on the network: prints its content id (keep it to get the file back).
    Put(PutArgs),
    /// Fetch an object by content id from any provider holding it; every byte is
    /// checked against the id.
    Get(GetArgs),
    /// Create a 32-byte encryption key file (mode 0600) for `put --encrypt`.
    Keygen {
        /// Where to write the key.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The node's RPC address.
    #[arg(
        long,
        env = "CAIRN_RPC",
        value_name = "URL",
        default_value = "http://127.0.0.1:7480"
    )]
    pub rpc: String,
    /// The consumer's account key: signs receipts, pays credits and fees.
    #[arg(long, value_name = "KEY")]
    pub key: cairn_core::KeyUri,
    /// Burn tokens for credits when the account has too few.
    #[arg(long)]
    pub buy_credits: bool,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// The file to store.
    file: PathBuf,
    #[command(flatten)]
    common: Common,
    /// Providers to place replicas on (default: the `storage_replicas` parameter).
    #[arg(long, value_name = "N")]
    replicas: Option<usize>,
    /// Epochs to pay storage for.
    #[arg(long, value_name = "N", default_value_t = 1)]
    epochs: u64,
    /// Encrypt before upload with this key file (created with `cairn storage keygen`).
    #[arg(long, value_name = "KEYFILE")]
    encrypt: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The content id `put` printed (64 hex characters).
    id: String,
    #[command(flatten)]
    common: Common,
    /// Write the object here (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Decrypt with this key file (for objects stored with --encrypt).
    #[arg(long, value_name = "KEYFILE")]
    decrypt: Option<PathBuf>,
    /// Try this holder (did:key:…) first.
    #[arg(long, value_name = "DID")]
    prefer: Option<PublicKey>,
}

impl StorageCmd {
    pub fn run(self) -> Result<()> {
        match self {
            StorageCmd::Put(a) => put(a),
            StorageCmd::Get(a) => get(a),
            StorageCmd::Keygen { file } => keygen(&file),
        }
    }
}

fn keygen(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow!("random source: {e}"))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(hex::encode(key).as_bytes())?;
    f.sync_all()?;
    eprintln!(
        "cairn storage: wrote a new encryption key to {}; without it, files stored with it cannot be read",
        path.display()
    );
    Ok(())
}

fn load_secret(path: &Path) -> Result<[u8; 32]> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        );
    }
    let text = fs::read_to_string(path)?;
    hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| anyhow!("{} is not a 32-byte hex key", path.display()))
}

/// `magic ‖ nonce ‖ XChaCha20-Poly1305(plaintext)`.
pub fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> Result<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|e| anyhow!("key: {e}"))?;
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|e| anyhow!("random source: {e}"))?;
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), plaintext)
        .map_err(|_| anyhow!("encryption failed"))?;
    let mut out = Vec::with_capacity(ENC_MAGIC.len() + 24 + sealed.len());
    out.extend_from_slice(ENC_MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

pub fn decrypt(key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>> {
    let body = data
        .strip_prefix(ENC_MAGIC.as_slice())
        .filter(|b| b.len() >= 24)
        .ok_or_else(|| anyhow!("the object was not stored with --encrypt"))?;
    let (nonce, sealed) = body.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().expect("24 bytes");
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|e| anyhow!("key: {e}"))?;
    cipher
        .decrypt(&XNonce::from(nonce), sealed)
        .map_err(|_| anyhow!("decryption failed: wrong key, or the object was altered"))
}

/// The network and the height receipts expire at: as late as the ledger allows.
pub fn network_and_expiry(rpc: &str) -> Result<(NetworkId, Height)> {
    let (_, status) = client::get(rpc, "/v1/status")?;
    let network = status["network"]
        .as_str()
        .ok_or_else(|| anyhow!("the node's status has no network: {status}"))?;
    let height = status["height"].as_u64().unwrap_or(0);
    let ttl = param(rpc, ParamId::ReceiptMaxTtlBlocks.spec().name)? as u64;
    Ok((NetworkId::new(network)?, Height(height + ttl)))
}

/// A consumer's receipt promising `amount` credits to `device` for `service`, with a
/// random serial so no two receipts are the same.
pub fn receipt(
    signer: &dyn Signer,
    network: &NetworkId,
    expires_at: Height,
    device: PublicKey,
    service: ServiceKind,
    amount: Credits,
) -> Result<Signed<UsageReceipt>> {
    let mut serial = [0u8; 8];
    getrandom::fill(&mut serial).map_err(|e| anyhow!("random source: {e}"))?;
    Ok(Signed::sign(
        signer,
        network,
        UsageReceipt {
            device,
            service,
            amount,
            serial: u64::from_le_bytes(serial),
            expires_at,
        },
    ))
}

/// Settle accepted receipts on the ledger (the consumer pays its own receipts).
pub fn settle(
    rpc: &str,
    signer: &dyn Signer,
    network: &NetworkId,
    receipts: Vec<Signed<UsageReceipt>>,
    verbose: bool,
) -> Result<()> {
    for r in receipts {
        let device = r.message.device.to_did();
        let amount = r.message.amount;
        if amount.is_zero() {
            continue;
        }
        let status = send(rpc, signer, network, TxKind::PayForService { receipt: r })?;
        if verbose {
            eprintln!(
                "  paid {amount} credits to {device} (block {})",
                status["height"].as_u64().unwrap_or(0)
            );
        }
    }
    Ok(())
}

fn http() -> ureq::Agent {
    client::http(Duration::from_secs(600))
}

fn error_of(response: &mut ureq::http::Response<ureq::Body>) -> String {
    let status = response.status().as_u16();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    let e = &body["error"];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(code), Some(message)) => format!("{status}: {message} ({code})"),
        _ => format!("{status}"),
    }
}

/// A provider from the node's directory.
#[derive(Debug, Clone)]
struct Provider {
    device: PublicKey,
    endpoint: String,
    free: u64,
    price: u64,
    retrieval: u64,
    location: Option<String>,
    status: String,
    score: u64,
}

fn providers(rpc: &str) -> Result<Vec<Provider>> {
    let (code, body) = client::get(rpc, "/v1/storage/providers")?;
    if code != 200 {
        bail!("the node has no storage directory ({code}): is ingest with the verifier on?");
    }
    let list = body["providers"].as_array().cloned().unwrap_or_default();
    Ok(list
        .iter()
        .filter_map(|p| {
            Some(Provider {
                device: PublicKey::from_did(p["device"].as_str()?).ok()?,
                endpoint: p["endpoint"].as_str()?.to_owned(),
                free: p["free_bytes"].as_u64()?,
                price: p["price_credits_per_gib_epoch"].as_u64().unwrap_or(0),
                retrieval: p["retrieval_credits_per_gib"].as_u64().unwrap_or(0),
                location: p["location"].as_str().map(str::to_owned),
                status: p["standing"]["status"]
                    .as_str()
                    .unwrap_or("probation")
                    .to_owned(),
                score: p["standing"]["score_ppm"].as_u64().unwrap_or(0),
            })
            .filter(|_| p["active"].as_bool() == Some(true))
        })
        .filter(|p| !p.endpoint.is_empty() && p.status != "disqualified")
        .collect())
}

/// Order candidates for an object: providers in good standing by reputation (to the
/// percent), ties spread by a hash of the object and the provider so equal providers share
/// the load; one of the `want` replicas goes to a provider still on probation when there
/// is one, so new providers receive data and can earn their standing; one per location
/// before a second from any location.
fn placement(
    mut candidates: Vec<Provider>,
    size: u64,
    want: usize,
    object: &Hash,
) -> Vec<Provider> {
    candidates.retain(|p| p.free >= size);
    let spread = |p: &Provider| blake3::hash(&[&object.0[..], p.device.as_bytes()].concat());
    candidates.sort_by_cached_key(|p| {
        (
            std::cmp::Reverse(p.status == "good"),
            std::cmp::Reverse(p.score / 10_000),
            *spread(p).as_bytes(),
        )
    });
    let mut seen = std::collections::BTreeSet::new();
    let (first, rest): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|p| p.location.is_none() || seen.insert(p.location.clone()));
    let mut ordered: Vec<Provider> = first.into_iter().chain(rest).collect();
    if want > 1
        && let Some(newcomer) = ordered.iter().position(|p| p.status != "good")
        && newcomer >= want - 1
    {
        let p = ordered.remove(newcomer);
        ordered.insert(want - 1, p);
    }
    ordered
}

fn put(a: PutArgs) -> Result<()> {
    let rpc = a.common.rpc.trim_end_matches('/').to_owned();
    let signer = a.common.key.load()?;
    let mut data = fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    if data.is_empty() {
        bail!("{} is empty; there is nothing to store", a.file.display());
    }
    let checksum = blake3::hash(&data);
    if let Some(keyfile) = &a.encrypt {
        data = encrypt(&load_secret(keyfile)?, &data)?;
    }
    eprintln!(
        "cairn storage: storing {} ({} bytes{})",
        a.file.display(),
        data.len(),
        if a.encrypt.is_some() {
            ", encrypted"
        } else {
            ""
        },
    );
    let stored = put_bytes(
        &rpc,
        signer.as_ref(),
        &data,
        a.replicas,
        a.epochs,
        a.common.buy_credits,
        true,
    )?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "object": stored.id,
            "size": data.len(),
            "blake3": checksum.to_hex().to_string(),
            "encrypted": a.encrypt.is_some(),
            "providers": stored.providers.iter().map(|p| p.to_did()).collect::<Vec<_>>(),
        }))?
    );
    Ok(())
}

/// Where an object went.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: Hash,
    pub providers: Vec<PublicKey>,
}

/// Store `data` on `replicas` providers (default: the `storage_replicas` parameter) for
/// `epochs` epochs, paying each with a receipt settled on the ledger: what `cairn storage
/// put` does, and the devnet's simulated consumers. `verbose` tells each step on stderr.
pub fn put_bytes(
    rpc: &str,
    signer: &dyn Signer,
    data: &[u8],
    replicas: Option<usize>,
    epochs: u64,
    buy_credits: bool,
    verbose: bool,
) -> Result<Stored> {
    let (network, expires_at) = network_and_expiry(rpc)?;
    if data.is_empty() {
        bail!("an empty object cannot be stored");
    }
    let size = data.len() as u64;
    let id = content_id(data);
    let want = match replicas {
        Some(n) => n,
        None => param(rpc, ParamId::StorageReplicas.spec().name)? as usize,
    }
    .max(1);
    let candidates = placement(providers(rpc)?, size, want, &id);
    if candidates.len() < want {
        bail!(
            "{want} replicas wanted but only {} providers can take {size} bytes now",
            candidates.len()
        );
    }
    let budget: u128 = candidates
        .iter()
        .take(want)
        .map(|p| storage_due(size, p.price, epochs).base_units())
        .sum();
    ensure_credits(
        rpc,
        signer,
        &network,
        Credits::from_base_units(budget),
        buy_credits,
        "storing this object",
    )?;
    let http = http();
    let mut placed = Vec::new();
    let mut receipts = Vec::new();
    for p in candidates {
        if placed.len() == want {
            break;
        }
        let due = storage_due(size, p.price, epochs);
        let r = receipt(
            signer,
            &network,
            expires_at,
            p.device,
            ServiceKind::Storage,
            due,
        )?;
        let url = format!(
            "{}/v1/objects/{}",
            p.endpoint.trim_end_matches('/'),
            id.to_hex()
        );
        let answer = http
            .put(&url)
            .header(RECEIPT_HEADER, hex::encode(encode(&r)))
            .header(EPOCHS_HEADER, epochs.to_string())
            .header("content-type", "application/octet-stream")
            .send(data);
        match answer {
            Ok(mut resp) if resp.status().as_u16() == 200 => {
                let body: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
                if verbose {
                    eprintln!(
                        "  stored on {} at {} (replica root {}…, {due} credits)",
                        p.device.to_did(),
                        p.endpoint,
                        body["replica_root"]
                            .as_str()
                            .unwrap_or("?")
                            .get(..16)
                            .unwrap_or("?")
                    );
                }
                placed.push(p);
                receipts.push(r);
            }
            Ok(mut resp) if verbose => {
                eprintln!("  {} refused: {}", p.device.to_did(), error_of(&mut resp))
            }
            Err(e) if verbose => eprintln!("  {} unreachable: {e}", p.device.to_did()),
            _ => {}
        }
    }
    if placed.is_empty() {
        bail!("no provider stored the object");
    }
    settle(rpc, signer, &network, receipts, verbose)?;
    if placed.len() < want && verbose {
        eprintln!(
            "cairn storage: only {} of {want} replicas placed",
            placed.len()
        );
    }
    Ok(Stored {
        id,
        providers: placed.iter().map(|p| p.device).collect(),
    })
}

fn get(a: GetArgs) -> Result<()> {
    let rpc = a.common.rpc.trim_end_matches('/').to_owned();
    let signer = a.common.key.load()?;
    let (network, expires_at) = network_and_expiry(&rpc)?;
    let id = hex::decode(a.id.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .map(Hash)
        .ok_or_else(|| anyhow!("a content id is 64 hex characters, got {:?}", a.id))?;
    let (code, body) = client::get(&rpc, &format!("/v1/storage/objects/{}", id.to_hex()))?;
    if code != 200 {
        bail!(
            "{}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("no provider holds this object")
        );
    }
    let directory = providers(&rpc).unwrap_or_default();
    let mut holders: Vec<(PublicKey, String, u64, String, u64)> = body["holders"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|h| {
            Some((
                PublicKey::from_did(h["device"].as_str()?).ok()?,
                h["endpoint"].as_str()?.to_owned(),
                h["size"].as_u64()?,
                h["standing"]["status"]
                    .as_str()
                    .unwrap_or("probation")
                    .to_owned(),
                h["standing"]["score_ppm"].as_u64().unwrap_or(0),
            ))
        })
        .filter(|h| !h.1.is_empty())
        .collect();
    holders.sort_by(|x, y| {
        (Some(y.0) == a.prefer, y.3 == "good", y.4).cmp(&(
            Some(x.0) == a.prefer,
            x.3 == "good",
            x.4,
        ))
    });
    let http = http();
    for (device, endpoint, size, _, _) in holders {
        let per_gib = directory
            .iter()
            .find(|p| p.device == device)
            .map_or(0, |p| p.retrieval);
        let due = retrieval_due(size, per_gib);
        ensure_credits(
            &rpc,
            signer.as_ref(),
            &network,
            due,
            a.common.buy_credits,
            "this retrieval",
        )?;
        let r = receipt(
            signer.as_ref(),
            &network,
            expires_at,
            device,
            ServiceKind::Storage,
            due,
        )?;
        let url = format!(
            "{}/v1/objects/{}",
            endpoint.trim_end_matches('/'),
            id.to_hex()
        );
        let data = match http
            .get(&url)
            .header(RECEIPT_HEADER, hex::encode(encode(&r)))
            .call()
        {
            Ok(mut resp) if resp.status().as_u16() == 200 => {
                let mut buf = Vec::new();
                resp.body_mut()
                    .as_reader()
                    .take(size + 1)
                    .read_to_end(&mut buf)
                    .map(|_| buf)
                    .map_err(|e| anyhow!("{e}"))
            }
            Ok(mut resp) => Err(anyhow!(error_of(&mut resp))),
            Err(e) => Err(anyhow!("unreachable: {e}")),
        };
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                eprintln!(
                    "cairn storage: {} failed: {e}; trying the next holder",
                    device.to_did()
                );
                continue;
            }
        };
        if data.len() as u64 != size || content_id(&data) != id {
            eprintln!(
                "cairn storage: {} returned {} bytes that do not match {}; trying the next holder",
                device.to_did(),
                data.len(),
                id.to_hex()
            );
            continue;
        }
        settle(&rpc, signer.as_ref(), &network, vec![r], true)?;
        let data = match &a.decrypt {
            Some(keyfile) => decrypt(&load_secret(keyfile)?, &data)?,
            None => data,
        };
        let checksum = blake3::hash(&data);
        match &a.out {
            Some(path) => {
                fs::write(path, &data).with_context(|| format!("writing {}", path.display()))?
            }
            None => std::io::stdout().write_all(&data)?,
        }
        eprintln!(
            "cairn storage: {} bytes from {}, every chunk verified against {}; blake3 {}",
            data.len(),
            device.to_did(),
            id.to_hex(),
            checksum.to_hex()
        );
        return Ok(());
    }
    bail!("no holder of {} returned bytes matching it", id.to_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(i: u8, status: &str, score: u64, location: &str) -> Provider {
        Provider {
            device: cairn_core::Keypair::from_seed(&[i; 32]).public(),
            endpoint: format!("http://127.0.0.1:{}", 9000 + u16::from(i)),
            free: 1 << 30,
            price: 1,
            retrieval: 1,
            location: Some(location.to_owned()),
            status: status.to_owned(),
            score,
        }
    }

    #[test]
    fn placement_spreads_objects_and_gives_newcomers_a_replica() {
        let candidates: Vec<Provider> = (0..6)
            .map(|i| provider(i, "good", 990_000, &format!("cell-{i}")))
            .chain((6..9).map(|i| provider(i, "probation", 0, &format!("cell-{i}"))))
            .collect();
        let mut firsts = std::collections::BTreeSet::new();
        let mut newcomers = 0;
        for n in 0..40u8 {
            let object = Hash::of(&[n]);
            let order = placement(candidates.clone(), 1024, 3, &object);
            assert_eq!(order.len(), 9);
            // Two good providers, then one on probation.
            assert_eq!(order[0].status, "good");
            assert_eq!(order[1].status, "good");
            assert_eq!(order[2].status, "probation");
            firsts.insert(order[0].device);
            newcomers += usize::from(order[2].status == "probation");
        }
        // Equal providers share the load rather than one taking every object.
        assert!(
            firsts.len() >= 4,
            "only {} distinct first choices",
            firsts.len()
        );
        assert_eq!(newcomers, 40);
        // A provider without room is left out; a better reputation comes first.
        let mut small = provider(1, "good", 990_000, "cell-x");
        small.free = 10;
        let best = provider(2, "good", 999_999, "cell-y");
        let order = placement(vec![small, best.clone()], 1024, 1, &Hash::of(b"x"));
        assert_eq!(order.len(), 1);
        assert_eq!(order[0].device, best.device);
    }
}
