//! The Cairn device wire protocol, package `cairn.v1`, generated from `proto/` by prost and
//! tonic, plus the few rules both ends must compute identically: what is signed, what a
//! content id is, and the size limits.
//!
//! `docs/PROTOCOL.md` describes the flow for implementers in other languages.

#[allow(
    missing_debug_implementations,
    clippy::large_enum_variant,
    clippy::doc_lazy_continuation,
    reason = "generated code"
)]
pub mod v1 {
    tonic::include_proto!("cairn.v1");
}

pub mod compute;

pub mod client;

use cairn_core::envelope::raw_signing_bytes;
use cairn_core::{Hash, NetworkId, PublicKey, Signature};
use prost::Message;

pub use v1::{LogRecord, Report, ReportKind, SignedReport};

/// Message type signed by the device key over an encoded [`v1::SessionGrant`].
pub const SESSION_GRANT_TYPE: &str = "cairn.v1.SessionGrant";
/// Message type signed by the session key over an encoded [`v1::Report`].
pub const REPORT_TYPE: &str = "cairn.v1.Report";

/// Largest encoded `Report` accepted, except challenge responses.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Largest encoded `Report` carrying a `ChallengeResponse`: storage proofs (chunks with two
/// Merkle paths each) and benchmark products are larger than ordinary reports.
pub const MAX_CHALLENGE_RESPONSE_BYTES: usize = 512 * 1024;
/// Most reports in one `SubmitRequest`.
pub const MAX_REPORTS_PER_SUBMIT: usize = 512;
/// Largest gRPC message ingest decodes (a full batch of maximal reports would not fit:
/// batches are meant to be many small reports).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Largest encoded session grant.
pub const MAX_GRANT_BYTES: usize = 256;

/// The bytes a device key signs to authorise a session: the Cairn envelope over the
/// encoded grant.
pub fn grant_signing_bytes(network: &NetworkId, grant: &[u8]) -> Vec<u8> {
    raw_signing_bytes(network, SESSION_GRANT_TYPE, grant)
}

/// The bytes a session key signs for one report.
pub fn report_signing_bytes(network: &NetworkId, report: &[u8]) -> Vec<u8> {
    raw_signing_bytes(network, REPORT_TYPE, report)
}

/// A report's content id: BLAKE3 of its encoded bytes, exactly as signed. The same report
/// re-sent in another session keeps its id, which is what deduplication needs.
pub fn content_id(report: &[u8]) -> Hash {
    Hash::of(report)
}

/// The kind of a report body, for log records and filters.
pub fn report_kind(report: &Report) -> ReportKind {
    use v1::report::Body;
    match report.body {
        None => ReportKind::Unspecified,
        Some(Body::Heartbeat(_)) => ReportKind::Heartbeat,
        Some(Body::Resource(_)) => ReportKind::Resource,
        Some(Body::ChallengeResponse(_)) => ReportKind::ChallengeResponse,
        Some(Body::Beacon(_)) => ReportKind::Beacon,
        Some(Body::Witness(_)) => ReportKind::Witness,
        Some(Body::SensorReading(_)) => ReportKind::SensorReading,
        Some(Body::UsageReceipt(_)) => ReportKind::UsageReceipt,
        Some(Body::Replica(_)) => ReportKind::Replica,
        Some(Body::JobResult(_)) => ReportKind::JobResult,
    }
}

/// The size limit for an encoded report of this kind.
pub fn report_limit(kind: ReportKind) -> usize {
    match kind {
        ReportKind::ChallengeResponse => MAX_CHALLENGE_RESPONSE_BYTES,
        _ => MAX_REPORT_BYTES,
    }
}

/// Why bytes from the wire are not a usable key or signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{field} must be {expected} bytes, got {got}")]
    Length {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{field} is not a valid Ed25519 public key")]
    Key { field: &'static str },
}

/// A 32-byte public key field.
pub fn key_field(field: &'static str, bytes: &[u8]) -> Result<PublicKey, FieldError> {
    let raw: &[u8; 32] = bytes.try_into().map_err(|_| FieldError::Length {
        field,
        expected: 32,
        got: bytes.len(),
    })?;
    PublicKey::from_bytes(raw).map_err(|_| FieldError::Key { field })
}

/// A 64-byte signature field.
pub fn signature_field(field: &'static str, bytes: &[u8]) -> Result<Signature, FieldError> {
    let raw: [u8; 64] = bytes.try_into().map_err(|_| FieldError::Length {
        field,
        expected: 64,
        got: bytes.len(),
    })?;
    Ok(Signature(raw))
}

/// Sign an encoded report with a session key.
pub fn sign_report(
    session: &dyn cairn_core::keys::Signer,
    network: &NetworkId,
    report: &Report,
) -> SignedReport {
    let bytes = report.encode_to_vec();
    let signature = session.sign_raw(&report_signing_bytes(network, &bytes));
    SignedReport {
        report: bytes,
        signature: signature.0.to_vec(),
    }
}
