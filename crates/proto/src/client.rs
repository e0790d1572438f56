//! The device side of the handshake, shared by the agent, tests and the load tool.

use std::time::{SystemTime, UNIX_EPOCH};

use cairn_core::keys::Signer;
use cairn_core::{Keypair, NetworkId};
use prost::Message;
use tonic::transport::Channel;

use crate::grant_signing_bytes;
use crate::v1::ingest_client::IngestClient;
use crate::v1::{HelloRequest, OpenSessionRequest, SessionGrant};

/// An open session: its id, the session key that signs reports, and its end.
#[derive(Debug)]
pub struct DeviceSession {
    pub id: Vec<u8>,
    pub key: Keypair,
    /// When the session ends, by the server's clock (Unix ms).
    pub expires_at_ms: u64,
    /// The server's clock when it answered Hello (the device's own clock if it gave none):
    /// `expires_at_ms - started_at_ms` is the length the server granted.
    pub started_at_ms: u64,
}

/// Hello, then OpenSession with a fresh session key signed by `device`, asking for a session
/// of `length_ms` (capped by the server's maximum). The expiry is timed by the server's
/// clock, so a device with a wrong clock still asks for a sensible one.
pub async fn open_session(
    client: &mut IngestClient<Channel>,
    network: &NetworkId,
    device: &dyn Signer,
    length_ms: u64,
) -> Result<DeviceSession, tonic::Status> {
    let device_key = device.public_key().as_bytes().to_vec();
    let hello = client
        .hello(HelloRequest {
            device_key: device_key.clone(),
            network: network.to_string(),
        })
        .await?
        .into_inner();
    let length_ms = match hello.max_session_ms {
        0 => length_ms,
        max => length_ms.min(max),
    };
    let started_at_ms = match hello.server_time_ms {
        0 => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        t => t,
    };
    let key = Keypair::generate();
    let grant = SessionGrant {
        network: network.to_string(),
        device_key,
        session_key: key.public().as_bytes().to_vec(),
        nonce: hello.nonce,
        expires_at_ms: started_at_ms.saturating_add(length_ms),
    }
    .encode_to_vec();
    let signature = device.sign_raw(&grant_signing_bytes(network, &grant));
    let opened = client
        .open_session(OpenSessionRequest {
            grant,
            device_signature: signature.0.to_vec(),
        })
        .await?
        .into_inner();
    Ok(DeviceSession {
        id: opened.session_id,
        key,
        expires_at_ms: opened.expires_at_ms,
        started_at_ms,
    })
}
