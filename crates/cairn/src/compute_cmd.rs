//! `cairn compute submit`: run a WebAssembly job (see `cairn-jobs`) on a compute provider.
//!
//! The job goes to the best-standing provider in the node's directory with a signed usage
//! receipt for its fuel budget. The answer is checked (job id, output hash, the device
//! key's signature over both); with probability `compute_reexec_ppm` (or always with
//! `--verify`) the same job also runs on a second provider and the output hashes must
//! agree. On disagreement the job is re-executed here (jobs are deterministic, so this is
//! the referee) and the provider that was wrong is named and not paid. The job is first
//! registered with the node (`POST /v1/compute/jobs`), whose verifier re-executes a sample
//! of reported results and turns a mismatch into a `job_mismatch` verdict.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use cairn_agent::service::{JobAttestation, JobReply, JobRequest, job_due};
use cairn_core::envelope::verify_detached;
use cairn_core::{Hash, Height, PublicKey, Signed};
use cairn_ledger::ParamId;
use cairn_ledger::tx::{ServiceKind, UsageReceipt};
use clap::Args;
use serde_json::{Value, json};

use crate::agent_cmd::{ensure_credits, param};
use crate::client;
use crate::storage_cmd::{Common, receipt, settle};

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job: a WebAssembly module, binary (.wasm) or text (.wat), exporting `memory`,
    /// `alloc(len) -> ptr` and `run(ptr, len) -> i64`.
    job: PathBuf,
    #[command(flatten)]
    common: Common,
    /// The job's input bytes (default: empty).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Fuel budget (WebAssembly instructions, roughly).
    #[arg(long, default_value_t = 1_000_000_000)]
    fuel: u64,
    /// Most bytes the job's memory may span.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    memory_limit: u64,
    /// Always re-execute on a second provider (otherwise with probability
    /// `compute_reexec_ppm`).
    #[arg(long)]
    verify: bool,
    /// Write the output here (default: print it, as text when it is UTF-8).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Provider {
    device: PublicKey,
    endpoint: String,
    price: u64,
}

fn providers(rpc: &str) -> Result<Vec<Provider>> {
    let (code, body) = client::get(rpc, "/v1/compute/providers")?;
    if code != 200 {
        bail!("the node has no compute directory ({code}): is ingest with the verifier on?");
    }
    let mut list: Vec<(bool, u64, u64, Provider)> = body["providers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|p| p["active"] == true && p["standing"]["status"] != "disqualified")
        .filter_map(|p| {
            let endpoint = p["endpoint"].as_str()?.to_owned();
            (!endpoint.is_empty()).then_some(())?;
            Some((
                p["standing"]["status"] == "good",
                p["standing"]["score_ppm"].as_u64().unwrap_or(0),
                p["mean_queue_ms"].as_u64().unwrap_or(0),
                Provider {
                    device: PublicKey::from_did(p["device"].as_str()?).ok()?,
                    endpoint,
                    price: p["price_credits_per_gfuel"].as_u64().unwrap_or(0),
                },
            ))
        })
        .collect();
    // Good standing, then reputation, then the shortest queue.
    list.sort_by(|a, b| (b.0, b.1, a.2).cmp(&(a.0, a.1, b.2)));
    Ok(list.into_iter().map(|(_, _, _, p)| p).collect())
}

/// Send the job to `p` and check its answer; the receipt that paid for it.
fn run_on(
    rpc: &str,
    buy_credits: bool,
    signer: &dyn cairn_core::keys::Signer,
    network: &cairn_core::NetworkId,
    expires_at: Height,
    p: &Provider,
    spec: &cairn_jobs::JobSpec,
) -> Result<(JobReply, Vec<u8>, Signed<UsageReceipt>)> {
    let receipt = receipt(
        signer,
        network,
        expires_at,
        p.device,
        ServiceKind::Compute,
        job_due(spec.fuel, p.price),
    )?;
    ensure_credits(
        rpc,
        signer,
        network,
        receipt.message.amount,
        buy_credits,
        "this job",
    )?;
    let request = JobRequest::new(spec, &receipt);
    let http = client::http(Duration::from_secs(600));
    let url = format!("{}/v1/jobs", p.endpoint.trim_end_matches('/'));
    let mut resp = http
        .post(&url)
        .send_json(&request)
        .map_err(|e| anyhow!("{} unreachable: {e}", p.device.to_did()))?;
    let status = resp.status().as_u16();
    let body: Value = resp
        .body_mut()
        .with_config()
        .limit(8 << 20)
        .read_json()
        .map_err(|e| anyhow!("{} answered {status} without JSON: {e}", p.device.to_did()))?;
    if status != 200 {
        bail!(
            "{} refused the job ({status}): {}",
            p.device.to_did(),
            body["error"]["message"]
                .as_str()
                .unwrap_or("no reason given")
        );
    }
    let reply: JobReply = serde_json::from_value(body)?;
    let output = hex::decode(&reply.output_hex)
        .map_err(|e| anyhow!("{}: output is not hex: {e}", p.device.to_did()))?;
    let job_id = Hash(cairn_jobs::job_id(spec));
    if reply.job_id != job_id || reply.provider != p.device {
        bail!("{} answered for another job or device", p.device.to_did());
    }
    if Hash(*blake3::hash(&output).as_bytes()) != reply.output_hash {
        bail!(
            "{}: the output does not hash to the hash it signed",
            p.device.to_did()
        );
    }
    let attestation = JobAttestation {
        job_id,
        output_hash: reply.output_hash,
        fuel_used: reply.fuel_used,
        consumer: signer.public_key(),
    };
    verify_detached(&p.device, network, &attestation, &reply.signature)
        .map_err(|e| anyhow!("{}: bad signature on the result: {e}", p.device.to_did()))?;
    Ok((reply, output, receipt))
}

pub fn submit(a: SubmitArgs) -> Result<()> {
    let rpc = a.common.rpc.trim_end_matches('/').to_owned();
    let signer = a.common.key.load()?;
    let spec = cairn_jobs::JobSpec {
        module: fs::read(&a.job).with_context(|| format!("reading {}", a.job.display()))?,
        input: match &a.input {
            Some(p) => fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            None => Vec::new(),
        },
        fuel: a.fuel,
        memory_limit_bytes: a.memory_limit,
    };
    let done = run_job(
        &rpc,
        signer.as_ref(),
        &spec,
        a.verify,
        a.common.buy_credits,
        true,
    )?;
    match &a.out {
        Some(path) => fs::write(path, &done.output)?,
        None => match std::str::from_utf8(&done.output) {
            Ok(text) => println!("{text}"),
            Err(_) => println!("{}", hex::encode(&done.output)),
        },
    }
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "job": done.job_id,
            "provider": done.reply.provider.to_did(),
            "output_hash": done.reply.output_hash,
            "output_bytes": done.output.len(),
            "fuel_used": done.reply.fuel_used,
            "queue_ms": done.reply.queue_ms,
            "run_ms": done.reply.run_ms,
            "verified": done.verified,
        }))?
    );
    Ok(())
}

/// A job's result as the consumer accepted it.
#[derive(Debug)]
pub struct JobDone {
    pub job_id: Hash,
    pub reply: JobReply,
    pub output: Vec<u8>,
    /// The second provider's agreement, when the job was re-executed.
    pub verified: Value,
}

/// Register `spec` with the node, run it on the best provider (re-executed on a second
/// one when `verify` or by the `compute_reexec_ppm` draw), and settle the receipts: what
/// `cairn compute submit` does, and the devnet's simulated consumers.
pub fn run_job(
    rpc: &str,
    signer: &dyn cairn_core::keys::Signer,
    spec: &cairn_jobs::JobSpec,
    verify: bool,
    buy_credits: bool,
    verbose: bool,
) -> Result<JobDone> {
    let (network, expires_at) = crate::storage_cmd::network_and_expiry(rpc)?;
    spec.check_caps()?;
    let job_id = Hash(cairn_jobs::job_id(spec));
    // Registered with the network first, so its verifier can re-execute the job and
    // hold the provider to the result it reports.
    let (code, body) = client::post(
        rpc,
        "/v1/compute/jobs",
        &json!({
            "module_hex": hex::encode(&spec.module),
            "input_hex": hex::encode(&spec.input),
            "fuel": spec.fuel,
            "memory_limit_bytes": spec.memory_limit_bytes,
        }),
    )?;
    if code != 200 || body["job_id"] != json!(job_id) {
        bail!(
            "the node did not register the job ({code}): {}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("no reason given")
        );
    }
    let candidates = providers(rpc)?;
    let mut tried = candidates.iter();
    let (first, (reply, output, receipt)) = loop {
        let p = tried
            .next()
            .ok_or_else(|| anyhow!("no compute provider ran the job"))?;
        match run_on(rpc, buy_credits, signer, &network, expires_at, p, spec) {
            Ok(r) => break (p, r),
            Err(e) => {
                if verbose {
                    eprintln!("cairn compute: {e:#}; trying the next provider")
                }
            }
        }
    };
    let p_ppm = param(rpc, ParamId::ComputeReexecPpm.spec().name)?;
    let mut roll = [0u8; 8];
    getrandom::fill(&mut roll).map_err(|e| anyhow!("random source: {e}"))?;
    let reexecute = verify || u128::from(u64::from_le_bytes(roll) % 1_000_000) < p_ppm;
    let mut paid = vec![receipt];
    let mut verified_by = Value::Null;
    let mut final_output = output;
    let mut final_reply = reply.clone();
    if reexecute {
        let second = candidates.iter().find(|p| p.device != first.device);
        match second {
            None if verbose => eprintln!("cairn compute: no second provider to re-execute on"),
            None => {}
            Some(s) => {
                let (r2, out2, receipt2) =
                    run_on(rpc, buy_credits, signer, &network, expires_at, s, spec)?;
                if r2.output_hash == reply.output_hash {
                    paid.push(receipt2);
                    verified_by = json!({"reexecuted_on": s.device.to_did(), "agree": true});
                } else {
                    // Deterministic jobs: re-executing here settles who was right.
                    let local = cairn_jobs::run_job(spec)?;
                    let truth = Hash(local.output_hash);
                    let (wrong, right) = if truth == reply.output_hash {
                        paid.push(receipt2.clone());
                        (s, first)
                    } else if truth == r2.output_hash {
                        paid.remove(0);
                        paid.push(receipt2);
                        final_output = out2;
                        final_reply = r2.clone();
                        (first, s)
                    } else {
                        paid.clear();
                        final_output = local.output.clone();
                        (first, first)
                    };
                    if verbose {
                        eprintln!(
                            "cairn compute: providers disagreed; local re-execution says {} was wrong",
                            wrong.device.to_did()
                        );
                    }
                    verified_by = json!({
                        "reexecuted_on": s.device.to_did(),
                        "agree": false,
                        "wrong": wrong.device.to_did(),
                        "right": (right.device != wrong.device).then(|| right.device.to_did()),
                    });
                }
            }
        }
    }
    // Receipts are settled together: the credits for all of them, not one at a time.
    let total: u128 = paid.iter().map(|r| r.message.amount.base_units()).sum();
    ensure_credits(
        rpc,
        signer,
        &network,
        cairn_core::Credits::from_base_units(total),
        buy_credits,
        "this job",
    )?;
    settle(rpc, signer, &network, paid, verbose)?;
    Ok(JobDone {
        job_id,
        reply: final_reply,
        output: final_output,
        verified: verified_by,
    })
}

#[derive(Debug, Args)]
pub struct MatmulArgs {
    #[command(flatten)]
    common: Common,
    /// Matrix dimension.
    #[arg(long)]
    n: u32,
    /// A as n·n little-endian u64s, row-major (with --b; or --random).
    #[arg(long, value_name = "FILE", requires = "b", conflicts_with = "random")]
    a: Option<PathBuf>,
    /// B as n·n little-endian u64s, row-major.
    #[arg(long, value_name = "FILE", requires = "a")]
    b: Option<PathBuf>,
    /// Multiply two random matrices (a demonstration).
    #[arg(long)]
    random: bool,
    /// The modulus (default 2^61 − 1).
    #[arg(long, default_value_t = cairn_verify::compute::MODULUS)]
    modulus: u64,
    /// Try this provider (did:key:…) first.
    #[arg(long, value_name = "DID")]
    prefer: Option<PublicKey>,
    /// Write the product here (n·n little-endian u64s).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn read_matrix(path: &std::path::Path, n: u32) -> Result<Vec<u64>> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let want = 8 * (n as usize) * (n as usize);
    if bytes.len() != want {
        bail!(
            "{} is {} bytes; an {n}×{n} matrix of u64 is {want}",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
        .collect())
}

/// A matrix product on a provider, checked here with Freivalds' algorithm in O(n²): a
/// provider whose product is wrong is named, not paid, and the next one is asked.
pub fn matmul(a: MatmulArgs) -> Result<()> {
    use cairn_agent::service::{
        JOB_ID_HEADER, QUEUE_MS_HEADER, RECEIPT_HEADER, RUN_MS_HEADER, SIGNATURE_HEADER,
        matmul_body, matmul_id,
    };
    let rpc = a.common.rpc.trim_end_matches('/').to_owned();
    let signer = a.common.key.load()?;
    let (network, expires_at) = crate::storage_cmd::network_and_expiry(&rpc)?;
    let count = (a.n as usize) * (a.n as usize);
    let (ma, mb) = match (&a.a, &a.b) {
        (Some(pa), Some(pb)) => (read_matrix(pa, a.n)?, read_matrix(pb, a.n)?),
        _ if a.random => {
            let mut bytes = vec![0u8; 16 * count];
            getrandom::fill(&mut bytes).map_err(|e| anyhow!("random source: {e}"))?;
            let words: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")) % a.modulus)
                .collect();
            (words[..count].to_vec(), words[count..].to_vec())
        }
        _ => bail!("give --a and --b, or --random"),
    };
    let body = matmul_body(a.n, a.modulus, &ma, &mb);
    let job_id = matmul_id(&body);
    let fuel = u64::from(a.n).pow(3);
    let rounds = param(&rpc, ParamId::FreivaldsRounds.spec().name)? as u32;
    let mut candidates = providers(&rpc)?;
    candidates.sort_by_key(|p| Some(p.device) != a.prefer);
    let http = client::http(Duration::from_secs(600));
    for p in &candidates {
        let receipt = receipt(
            signer.as_ref(),
            &network,
            expires_at,
            p.device,
            ServiceKind::Compute,
            job_due(fuel, p.price),
        )?;
        ensure_credits(
            &rpc,
            signer.as_ref(),
            &network,
            receipt.message.amount,
            a.common.buy_credits,
            "this product",
        )?;
        let url = format!("{}/v1/matmul", p.endpoint.trim_end_matches('/'));
        let sent = http
            .post(&url)
            .header(
                RECEIPT_HEADER,
                hex::encode(cairn_core::codec::encode(&receipt)),
            )
            .header("content-type", "application/octet-stream")
            .send(&body[..]);
        let mut resp = match sent {
            Ok(r) if r.status().as_u16() == 200 => r,
            Ok(r) => {
                eprintln!(
                    "cairn compute: {} refused ({}); trying the next provider",
                    p.device.to_did(),
                    r.status()
                );
                continue;
            }
            Err(e) => {
                eprintln!("cairn compute: {} unreachable: {e}", p.device.to_did());
                continue;
            }
        };
        let head = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (job, signature, queue_ms, run_ms) = (
            head(JOB_ID_HEADER),
            head(SIGNATURE_HEADER),
            head(QUEUE_MS_HEADER),
            head(RUN_MS_HEADER),
        );
        let output = resp
            .body_mut()
            .with_config()
            .limit(8 * count as u64 + 1)
            .read_to_vec()?;
        if job.as_deref() != Some(job_id.to_hex().as_str()) || output.len() != 8 * count {
            eprintln!(
                "cairn compute: {} answered for another job; trying the next provider",
                p.device.to_did()
            );
            continue;
        }
        let output_hash = Hash(*blake3::hash(&output).as_bytes());
        let attestation = JobAttestation {
            job_id,
            output_hash,
            fuel_used: fuel,
            consumer: signer.public_key(),
        };
        let signed = signature
            .and_then(|s| s.parse::<cairn_core::Signature>().ok())
            .is_some_and(|s| verify_detached(&p.device, &network, &attestation, &s).is_ok());
        if !signed {
            eprintln!(
                "cairn compute: {}'s answer is not signed by it; trying the next provider",
                p.device.to_did()
            );
            continue;
        }
        let product: Vec<u64> = output
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect();
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow!("random source: {e}"))?;
        if let Err(fault) = cairn_verify::compute::check_multiplication(
            &ma, &mb, a.n, a.modulus, &product, rounds, &secret,
        ) {
            eprintln!(
                "cairn compute: {} returned a wrong product ({fault}); not paid, trying the next provider",
                p.device.to_did()
            );
            continue;
        }
        settle(&rpc, signer.as_ref(), &network, vec![receipt], true)?;
        if let Some(path) = &a.out {
            fs::write(path, &output)?;
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "job": job_id,
                "provider": p.device.to_did(),
                "n": a.n,
                "output_hash": output_hash,
                "queue_ms": queue_ms.and_then(|v| v.parse::<u64>().ok()),
                "run_ms": run_ms.and_then(|v| v.parse::<u64>().ok()),
                "checked": format!("Freivalds, {rounds} rounds"),
            }))?
        );
        return Ok(());
    }
    bail!("no provider returned a correct product")
}
