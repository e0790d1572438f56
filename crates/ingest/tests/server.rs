//! The ingest service over a real tonic server on loopback with real keys: every kind of
//! bad input is refused with its own status and message, writes nothing, and leaves the
//! server serving everyone else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_core::keys::Signer;
use cairn_core::{Keypair, NetworkId, PublicKey};
use cairn_ingest::log::read_all;
use cairn_ingest::{
    DeviceStatus, IngestConfig, IngestService, LogStore, LogWriter, ReadFilter, WriterConfig,
};
use cairn_ledger::tx::DeviceKind;
use cairn_proto::v1::ingest_client::IngestClient;
use cairn_proto::v1::report::Body;
use cairn_proto::v1::{
    Challenge, ChallengeSubscription, Heartbeat, HelloRequest, OpenSessionRequest, SessionGrant,
    SubmitRequest,
};
use cairn_proto::{Report, SignedReport, grant_signing_bytes, sign_report};
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

struct Harness {
    addr: SocketAddr,
    store: LogStore,
    network: NetworkId,
    service: IngestService,
}

async fn start(devices: HashMap<PublicKey, DeviceStatus>) -> Harness {
    let network = NetworkId::new("cairn-test").unwrap();
    let store = LogStore::memory();
    let (writer, _task) = LogWriter::open(store.clone(), "test", WriterConfig::default())
        .await
        .unwrap();
    let registry = move |d: &PublicKey| devices.get(d).cloned().unwrap_or(DeviceStatus::Unknown);
    let service = IngestService::new(
        network.clone(),
        Arc::new(registry),
        writer,
        IngestConfig::default(),
        [],
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(cairn_ingest::server::serve(
        listener,
        service.clone(),
        std::future::pending(),
    ));
    Harness {
        addr,
        store,
        network,
        service,
    }
}

async fn client(addr: SocketAddr) -> IngestClient<Channel> {
    IngestClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .max_encoding_message_size(8 << 20)
}

type Session = cairn_proto::client::DeviceSession;

async fn open(
    c: &mut IngestClient<Channel>,
    network: &NetworkId,
    device: &Keypair,
    lifetime_ms: u64,
) -> Result<Session, tonic::Status> {
    cairn_proto::client::open_session(c, network, device, lifetime_ms).await
}

fn heartbeat(device: &Keypair, seq: u64) -> Report {
    Report {
        device_key: device.public().as_bytes().to_vec(),
        seq,
        timestamp_ms: now_ms(),
        body: Some(Body::Heartbeat(Heartbeat {
            uptime_s: seq,
            firmware: "test".into(),
            ..Heartbeat::default()
        })),
    }
}

async fn submit(
    c: &mut IngestClient<Channel>,
    session: &Session,
    reports: Vec<SignedReport>,
) -> Result<cairn_proto::v1::SubmitResponse, tonic::Status> {
    c.submit(SubmitRequest {
        session_id: session.id.clone(),
        reports,
    })
    .await
    .map(|r| r.into_inner())
}

fn expect_err<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: Code,
    needle: &str,
) -> tonic::Status {
    let status = result.expect_err("must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "message {:?} should mention {needle:?}",
        status.message()
    );
    status
}

/// Bytes in, bytes out: sends whatever it is given as the request message.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_specifically_and_writes_nothing() {
    let good = Keypair::generate();
    let denied = Keypair::generate();
    let stranger = Keypair::generate();
    let devices = HashMap::from([
        (
            good.public(),
            DeviceStatus::Active {
                kind: DeviceKind::Sensor,
            },
        ),
        (
            denied.public(),
            DeviceStatus::Denylisted {
                entry: 3,
                reason: 41,
                expires_at: 900,
            },
        ),
    ]);
    let h = start(devices).await;
    let mut c = client(h.addr).await;
    let network = h.network.clone();
    let session = open(&mut c, &network, &good, 60_000).await.unwrap();
    let mut written = Vec::new();

    // The honest path works.
    let first = sign_report(&session.key, &network, &heartbeat(&good, 1));
    let ok = submit(&mut c, &session, vec![first.clone()]).await.unwrap();
    assert_eq!(ok.accepted.len(), 1);
    written.push(ok.accepted[0].clone());

    // Unknown device: refused at Hello.
    let s = expect_err(
        open(&mut c, &network, &stranger, 60_000).await,
        Code::NotFound,
        "not onboarded",
    );
    assert!(s.message().contains(&stranger.public().to_did()));

    // Denylisted device: refused with the entry and reason.
    expect_err(
        open(&mut c, &network, &denied, 60_000).await,
        Code::PermissionDenied,
        "denylisted (entry 3, reason code 41",
    );

    // Wrong network.
    expect_err(
        c.hello(HelloRequest {
            device_key: good.public().as_bytes().to_vec(),
            network: "elsewhere".into(),
        })
        .await,
        Code::FailedPrecondition,
        "this ingest serves network",
    );

    // A grant signed by someone else, and a nonce used twice.
    let hello = c
        .hello(HelloRequest {
            device_key: good.public().as_bytes().to_vec(),
            network: network.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    let grant = SessionGrant {
        network: network.to_string(),
        device_key: good.public().as_bytes().to_vec(),
        session_key: Keypair::generate().public().as_bytes().to_vec(),
        nonce: hello.nonce,
        expires_at_ms: now_ms() + 60_000,
    }
    .encode_to_vec();
    let forged = stranger.sign_raw(&grant_signing_bytes(&network, &grant));
    expect_err(
        c.open_session(OpenSessionRequest {
            grant: grant.clone(),
            device_signature: forged.0.to_vec(),
        })
        .await,
        Code::Unauthenticated,
        "does not verify",
    );
    let real = good.sign_raw(&grant_signing_bytes(&network, &grant));
    c.open_session(OpenSessionRequest {
        grant: grant.clone(),
        device_signature: real.0.to_vec(),
    })
    .await
    .unwrap();
    expect_err(
        c.open_session(OpenSessionRequest {
            grant,
            device_signature: real.0.to_vec(),
        })
        .await,
        Code::Unauthenticated,
        "already used",
    );

    // Bad signature: signed by a key that is not the session key.
    let intruder = Keypair::generate();
    let bad = sign_report(&intruder, &network, &heartbeat(&good, 2));
    expect_err(
        submit(&mut c, &session, vec![bad]).await,
        Code::InvalidArgument,
        "report 0: signature does not verify",
    );
    // One bad signature spoils the whole batch: the good one beside it is not written.
    let fine = sign_report(&session.key, &network, &heartbeat(&good, 3));
    let mut tampered = sign_report(&session.key, &network, &heartbeat(&good, 4));
    tampered.signature[0] ^= 1;
    expect_err(
        submit(&mut c, &session, vec![fine.clone(), tampered]).await,
        Code::InvalidArgument,
        "report 1: signature does not verify",
    );

    // A report naming another device than the session's.
    let foreign = sign_report(&session.key, &network, &heartbeat(&denied, 5));
    expect_err(
        submit(&mut c, &session, vec![foreign]).await,
        Code::InvalidArgument,
        "another device",
    );

    // Unknown session id.
    let ghost = Session {
        id: vec![7; 16],
        key: Keypair::generate(),
        expires_at_ms: u64::MAX,
        started_at_ms: 0,
    };
    expect_err(
        submit(&mut c, &ghost, vec![fine.clone()]).await,
        Code::Unauthenticated,
        "unknown session",
    );

    // Expired session.
    let brief = open(&mut c, &network, &good, 150).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let late = sign_report(&brief.key, &network, &heartbeat(&good, 6));
    expect_err(
        submit(&mut c, &brief, vec![late]).await,
        Code::Unauthenticated,
        "session expired",
    );

    // Replayed report: the same bytes again, and the same report re-signed in a new session.
    expect_err(
        submit(&mut c, &session, vec![first.clone()]).await,
        Code::AlreadyExists,
        "already in the log",
    );
    let other = open(&mut c, &network, &good, 60_000).await.unwrap();
    let resigned = sign_report(
        &other.key,
        &network,
        &Report::decode(first.report.as_slice()).unwrap(),
    );
    expect_err(
        submit(&mut c, &other, vec![resigned]).await,
        Code::AlreadyExists,
        "already in the log",
    );

    // Stale and future reports.
    let mut old = heartbeat(&good, 7);
    old.timestamp_ms = now_ms() - 25 * 3600 * 1000;
    expect_err(
        submit(
            &mut c,
            &session,
            vec![sign_report(&session.key, &network, &old)],
        )
        .await,
        Code::FailedPrecondition,
        "too old",
    );

    // Oversized: one report over 16 KiB, and a whole message over 1 MiB.
    let mut big = heartbeat(&good, 8);
    if let Some(Body::Heartbeat(hb)) = &mut big.body {
        hb.firmware = "x".repeat(20_000);
    }
    expect_err(
        submit(
            &mut c,
            &session,
            vec![sign_report(&session.key, &network, &big)],
        )
        .await,
        Code::InvalidArgument,
        "the limit is 16384",
    );
    let huge = SignedReport {
        report: vec![0; 1_200_000],
        signature: vec![0; 64],
    };
    expect_err(
        submit(&mut c, &session, vec![huge]).await,
        Code::OutOfRange,
        "too large",
    );
    // Too many reports in one submission.
    let many: Vec<SignedReport> = (0..513)
        .map(|i| sign_report(&session.key, &network, &heartbeat(&good, 100 + i)))
        .collect();
    expect_err(
        submit(&mut c, &session, many).await,
        Code::InvalidArgument,
        "limit is 512",
    );

    // Garbage: bytes that are not a protobuf SubmitRequest at all, and a report that is not
    // a Report.
    let mut raw = tonic::client::Grpc::new(
        Channel::from_shared(format!("http://{}", h.addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    raw.ready().await.unwrap();
    let garbage = raw
        .unary(
            tonic::Request::new(vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
            http::uri::PathAndQuery::from_static("/cairn.v1.Ingest/Submit"),
            RawCodec,
        )
        .await;
    expect_err(garbage, Code::Internal, "decode");
    expect_err(
        submit(
            &mut c,
            &session,
            vec![SignedReport {
                report: vec![0xff, 0xff, 0xff],
                signature: vec![0; 64],
            }],
        )
        .await,
        Code::InvalidArgument,
        "not a cairn.v1.Report",
    );

    // Still serving: a fresh report goes in; nothing else was written.
    let again = submit(&mut c, &session, vec![fine]).await.unwrap();
    assert_eq!(again.accepted.len(), 1);
    written.push(again.accepted[0].clone());
    let log = read_all(&h.store, ReadFilter::default()).await.unwrap();
    let ids: Vec<Vec<u8>> = log.iter().map(|e| e.record.content_id.clone()).collect();
    assert_eq!(ids, written);
    for e in &log {
        let report = Report::decode(e.record.report.as_ref().unwrap().report.as_slice()).unwrap();
        assert_eq!(report.device_key, good.public().as_bytes());
    }
    let stats = h.service.stats();
    assert_eq!(stats.reports_accepted, 2);
    assert!(stats.requests_rejected >= 15, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_over_its_rate_limit_is_told_when_to_retry() {
    let good = Keypair::generate();
    let h = start(HashMap::from([(
        good.public(),
        DeviceStatus::Active {
            kind: DeviceKind::Sensor,
        },
    )]))
    .await;
    let mut c = client(h.addr).await;
    let session = open(&mut c, &h.network, &good, 60_000).await.unwrap();
    let burst = IngestConfig::default().burst as u64;
    let mut sent = 0u64;
    let status = loop {
        let batch: Vec<SignedReport> = (0..500)
            .map(|i| sign_report(&session.key, &h.network, &heartbeat(&good, sent + i)))
            .collect();
        match submit(&mut c, &session, batch).await {
            Ok(r) => sent += r.accepted.len() as u64,
            Err(s) => break s,
        }
        assert!(sent <= burst + 500, "the limit never applied");
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("rate limit"), "{status:?}");
    let log = read_all(&h.store, ReadFilter::default()).await.unwrap();
    assert_eq!(log.len() as u64, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_reach_the_device_on_its_stream() {
    let good = Keypair::generate();
    let h = start(HashMap::from([(
        good.public(),
        DeviceStatus::Active {
            kind: DeviceKind::Compute,
        },
    )]))
    .await;
    let mut c = client(h.addr).await;
    assert!(
        h.service
            .send_challenge(&good.public(), Challenge::default())
            .is_err()
    );
    let session = open(&mut c, &h.network, &good, 60_000).await.unwrap();
    let mut stream = c
        .challenges(ChallengeSubscription {
            session_id: session.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let challenge = Challenge {
        challenge_id: vec![9; 32],
        deadline_ms: 42,
        ..Challenge::default()
    };
    h.service
        .send_challenge(&good.public(), challenge.clone())
        .unwrap();
    let got = stream.message().await.unwrap().unwrap();
    assert_eq!(got, challenge);
}
