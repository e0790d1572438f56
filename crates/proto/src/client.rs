//! The device side of the handshake, shared by the agent, tests and the load tool.

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
    pub expires_at_ms: u64,
}

/// Hello, then OpenSession with a fresh session key signed by `device`, asking for a session
/// until `expires_at_ms` (the server may grant less).
pub async fn open_session(
    client: &mut IngestClient<Channel>,
    network: &NetworkId,
    device: &dyn Signer,
    expires_at_ms: u64,
) -> Result<DeviceSession, tonic::Status> {
    let device_key = device.public_key().as_bytes().to_vec();
    let hello = client
        .hello(HelloRequest {
            device_key: device_key.clone(),
            network: network.to_string(),
        })
        .await?
        .into_inner();
    let key = Keypair::generate();
    let grant = SessionGrant {
        network: network.to_string(),
        device_key,
        session_key: key.public().as_bytes().to_vec(),
        nonce: hello.nonce,
        expires_at_ms: expires_at_ms.min(hello.server_time_ms.saturating_add(hello.max_session_ms)),
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
    })
}
