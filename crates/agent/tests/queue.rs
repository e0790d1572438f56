//! The persistent report queue: durability, bounds, seq, priority and corruption.

use cairn_agent::queue::{FIRST_SEQ, QUEUE_FILE};
use cairn_agent::{Queue, QueueError};
use cairn_core::{Keypair, PublicKey};
use cairn_proto::Report;
use cairn_proto::v1::Heartbeat;
use cairn_proto::v1::report::Body;
use prost::Message;

fn key() -> PublicKey {
    Keypair::from_seed(&[9; 32]).public()
}

fn body(uptime_s: u64) -> Body {
    Body::Heartbeat(Heartbeat {
        uptime_s,
        firmware: "test".into(),
        ..Heartbeat::default()
    })
}

fn uptime(bytes: &[u8]) -> u64 {
    match Report::decode(bytes).unwrap().body {
        Some(Body::Heartbeat(h)) => h.uptime_s,
        other => panic!("unexpected body {other:?}"),
    }
}

fn seqs(q: &Queue) -> Vec<u64> {
    q.peek_batch(usize::MAX)
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

#[test]
fn reports_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut q = Queue::open(dir.path(), 100).unwrap();
        for i in 0..3 {
            q.push(&key(), 1_000 + i, body(i)).unwrap();
        }
        // Dropped without flush: every push is already durable.
    }
    let q = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(q.len(), 3);
    let batch = q.peek_batch(10);
    for (i, (seq, bytes)) in batch.iter().enumerate() {
        let report = Report::decode(bytes.as_slice()).unwrap();
        assert_eq!(report.seq, *seq);
        assert_eq!(report.seq, FIRST_SEQ + i as u64);
        assert_eq!(report.timestamp_ms, 1_000 + i as u64);
        assert_eq!(report.device_key, key().as_bytes().to_vec());
        assert_eq!(uptime(bytes), i as u64);
    }
}

#[test]
fn seq_keeps_increasing_across_reopen_even_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 100).unwrap();
    let a = q.push(&key(), 1, body(0)).unwrap().seq;
    let b = q.push(&key(), 2, body(1)).unwrap().seq;
    assert_eq!(b, a + 1);
    assert_eq!(q.ack(&[a, b]).unwrap(), 2);
    assert!(q.is_empty());
    drop(q);

    let mut q = Queue::open(dir.path(), 100).unwrap();
    assert!(q.is_empty());
    assert_eq!(q.next_seq(), b + 1);
    assert_eq!(q.push(&key(), 3, body(2)).unwrap().seq, b + 1);
}

#[test]
fn ack_is_durable_and_ignores_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 100).unwrap();
    let s: Vec<u64> = (0..4)
        .map(|i| q.push(&key(), i, body(i)).unwrap().seq)
        .collect();
    assert_eq!(q.ack(&[s[1], s[3], 999_999]).unwrap(), 2);
    drop(q);
    let q = Queue::open(dir.path(), 100).unwrap();
    assert_eq!(seqs(&q), vec![s[0], s[2]]);
}

#[test]
fn full_queue_drops_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 3).unwrap();
    let mut evicted = 0;
    for i in 0..5 {
        evicted += q.push(&key(), i, body(i)).unwrap().evicted;
    }
    assert_eq!(evicted, 2);
    assert_eq!(q.len(), 3);
    assert_eq!(q.dropped(), 2);
    let kept: Vec<u64> = q.peek_batch(10).iter().map(|(_, b)| uptime(b)).collect();
    assert_eq!(kept, vec![2, 3, 4]);
    drop(q);
    let q = Queue::open(dir.path(), 3).unwrap();
    assert_eq!(q.dropped(), 2, "the drop counter is persisted");
    assert_eq!(q.len(), 3);
}

#[test]
fn lowering_the_bound_on_reopen_drops_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 10).unwrap();
    for i in 0..5 {
        q.push(&key(), i, body(i)).unwrap();
    }
    drop(q);
    let q = Queue::open(dir.path(), 2).unwrap();
    let kept: Vec<u64> = q.peek_batch(10).iter().map(|(_, b)| uptime(b)).collect();
    assert_eq!(kept, vec![3, 4]);
    assert_eq!(q.dropped(), 3);
}

#[test]
fn priority_reports_go_first_in_order_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 10).unwrap();
    let n1 = q.push(&key(), 1, body(1)).unwrap().seq;
    let n2 = q.push(&key(), 2, body(2)).unwrap().seq;
    let u1 = q.push_front(&key(), 3, body(3)).unwrap().seq;
    let u2 = q.push_front(&key(), 4, body(4)).unwrap().seq;
    assert_eq!(seqs(&q), vec![u1, u2, n1, n2]);
    assert_eq!(q.peek_batch(1)[0].0, u1);
    drop(q);
    let q = Queue::open(dir.path(), 10).unwrap();
    assert_eq!(seqs(&q), vec![u1, u2, n1, n2]);
}

#[test]
fn eviction_takes_the_oldest_not_the_newest_priority_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 3).unwrap();
    let a = q.push(&key(), 1, body(1)).unwrap().seq;
    let b = q.push(&key(), 2, body(2)).unwrap().seq;
    let c = q.push(&key(), 3, body(3)).unwrap().seq;
    // Full: a challenge answer pushes out the oldest ordinary report.
    let u = q.push_front(&key(), 4, body(4)).unwrap();
    assert_eq!(u.evicted, 1);
    assert_eq!(seqs(&q), vec![u.seq, b, c]);
    assert!(!seqs(&q).contains(&a));
    // Full again: now the oldest is `b`, still not the priority report.
    let d = q.push(&key(), 5, body(5)).unwrap().seq;
    assert_eq!(seqs(&q), vec![u.seq, c, d]);
}

#[test]
fn corrupt_file_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 10).unwrap();
    q.push(&key(), 1, body(1)).unwrap();
    drop(q);
    let path = dir.path().join(QUEUE_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let err = Queue::open(dir.path(), 10).unwrap_err();
    assert!(matches!(err, QueueError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("checksum"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("Move it aside"), "{message}");

    // Truncated files are refused too.
    std::fs::write(&path, &bytes[..10]).unwrap();
    assert!(matches!(
        Queue::open(dir.path(), 10),
        Err(QueueError::Corrupt { .. })
    ));

    // Moving it aside, as the message says, starts an empty queue.
    std::fs::rename(&path, dir.path().join("queue.bin.bad")).unwrap();
    let q = Queue::open(dir.path(), 10).unwrap();
    assert!(q.is_empty());
}

#[test]
fn leftover_temporary_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 10).unwrap();
    q.push(&key(), 1, body(1)).unwrap();
    drop(q);
    // A crash between writing the temporary file and the rename leaves it behind.
    std::fs::write(dir.path().join("queue.bin.tmp"), b"half written").unwrap();
    let mut q = Queue::open(dir.path(), 10).unwrap();
    assert_eq!(q.len(), 1);
    q.push(&key(), 2, body(2)).unwrap();
    drop(q);
    assert_eq!(Queue::open(dir.path(), 10).unwrap().len(), 2);
}

#[test]
fn a_second_queue_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _q = Queue::open(dir.path(), 10).unwrap();
    let err = Queue::open(dir.path(), 10).unwrap_err();
    assert!(matches!(err, QueueError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("another agent"), "{err}");
}

#[test]
fn oversized_report_is_refused_without_using_a_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = Queue::open(dir.path(), 10).unwrap();
    let huge = Body::Heartbeat(Heartbeat {
        firmware: "x".repeat(cairn_proto::MAX_REPORT_BYTES),
        ..Heartbeat::default()
    });
    let next = q.next_seq();
    assert!(matches!(
        q.push(&key(), 1, huge),
        Err(QueueError::TooLarge { .. })
    ));
    assert_eq!(q.next_seq(), next);
    assert!(q.is_empty());
}

#[test]
fn zero_capacity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Queue::open(dir.path(), 0),
        Err(QueueError::ZeroCapacity)
    ));
}

/// Child half of `survives_kill_9`: push forever, printing each seq once it is durable.
#[test]
fn kill_9_child() {
    let Some(dir) = std::env::var_os("CAIRN_QUEUE_KILL_CHILD_DIR") else {
        return; // only meaningful when started by `survives_kill_9`
    };
    let mut q = Queue::open(std::path::Path::new(&dir), 1_000_000).unwrap();
    for i in 0.. {
        let seq = q.push(&key(), i, body(i)).unwrap().seq;
        println!("durable {seq}");
    }
}

#[test]
fn survives_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_9_child", "--nocapture", "--test-threads=1"])
        .env("CAIRN_QUEUE_KILL_CHILD_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_durable = 0;
    while last_durable < 200 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(seq) = line.strip_prefix("durable ") {
            last_durable = seq.parse().unwrap();
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-write most likely
    child.wait().unwrap();

    let q = Queue::open(dir.path(), 1_000_000).unwrap();
    let stored = seqs(&q);
    // Every report the child saw as durable is there, in order, without gaps.
    assert!(
        stored.len() as u64 >= last_durable,
        "{} < {last_durable}",
        stored.len()
    );
    assert_eq!(
        stored,
        (FIRST_SEQ..FIRST_SEQ + stored.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(q.next_seq(), FIRST_SEQ + stored.len() as u64);
}
