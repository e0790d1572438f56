//! The report log, run against every backend we ship: a local directory (fsynced) and an
//! in-memory store. Rolling, resuming from a saved cursor, filtering, and repairing what a
//! crashed writer left.

use std::time::Duration;

use cairn_ingest::log::read_all;
use cairn_ingest::{Cursor, LogReader, LogStore, LogWriter, ReadFilter, WriterConfig};
use cairn_proto::{LogRecord, ReportKind, SignedReport};

const BASE_MS: u64 = 1_800_000_000_000;

fn record(i: u64) -> LogRecord {
    let kind = if i.is_multiple_of(3) {
        ReportKind::SensorReading
    } else {
        ReportKind::Heartbeat
    };
    LogRecord {
        receive_time_ms: BASE_MS + i * 10,
        kind: kind as i32,
        content_id: blake3::hash(&i.to_le_bytes()).as_bytes().to_vec(),
        report: Some(SignedReport {
            report: vec![(i % 251) as u8; 40 + (i % 17) as usize],
            signature: vec![1; 64],
        }),
        session_grant: vec![2; 90],
        grant_signature: vec![3; 64],
        issued: None,
    }
}

fn small_segments() -> WriterConfig {
    WriterConfig {
        max_segment_bytes: 6_000,
        max_segment_age: Duration::from_secs(3600),
        ..WriterConfig::default()
    }
}

fn ids(entries: &[cairn_ingest::LogEntry]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| e.record.receive_time_ms.checked_sub(BASE_MS).unwrap() / 10)
        .collect()
}

struct Backend {
    store: LogStore,
    _dir: Option<tempfile::TempDir>,
}

fn backends() -> Vec<(&'static str, Backend)> {
    let dir = tempfile::tempdir().unwrap();
    vec![
        (
            "local directory",
            Backend {
                store: LogStore::local(dir.path().join("log")).unwrap(),
                _dir: Some(dir),
            },
        ),
        (
            "memory",
            Backend {
                store: LogStore::memory(),
                _dir: None,
            },
        ),
    ]
}

async fn append_range(writer: &LogWriter, from: u64, to: u64, batch: u64) {
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        writer.append((i..end).map(record).collect()).await.unwrap();
        i = end;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_roll_and_a_saved_cursor_resumes_without_gaps_or_duplicates() {
    for (name, backend) in backends() {
        let store = backend.store.clone();
        let (writer, task) = LogWriter::open(store.clone(), "node-a", small_segments())
            .await
            .unwrap();
        append_range(&writer, 0, 300, 25).await;

        // Read part of the log, save the cursor, "restart", and read the rest — while the
        // writer keeps appending and sealing.
        let cursor_dir = tempfile::tempdir().unwrap();
        let cursor_file = cursor_dir.path().join("cursor.json");
        let mut reader = LogReader::new(store.clone(), Cursor::default(), ReadFilter::default());
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.extend(ids(&reader.next_batch(37).await.unwrap()));
        }
        assert_eq!(seen.len(), 111, "{name}");
        reader.cursor().save(&cursor_file).unwrap();
        drop(reader);

        append_range(&writer, 300, 500, 40).await;
        drop(writer);
        task.join().await.unwrap();

        let mut reader = LogReader::new(
            store.clone(),
            Cursor::load(&cursor_file).unwrap(),
            ReadFilter::default(),
        );
        loop {
            let batch = reader.next_batch(64).await.unwrap();
            if batch.is_empty() {
                break;
            }
            seen.extend(ids(&batch));
        }
        assert_eq!(
            seen,
            (0..500).collect::<Vec<_>>(),
            "{name}: gaps or duplicates"
        );
        let segments = reader.cursor().writers["node-a"].segment;
        assert!(
            segments >= 5,
            "{name}: expected several segments, cursor at {segments}"
        );

        // Filters: by kind and by receive-time range.
        let sensor = read_all(
            &store,
            ReadFilter {
                kinds: vec![ReportKind::SensorReading],
                ..ReadFilter::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            ids(&sensor),
            (0..500u64)
                .filter(|i| i.is_multiple_of(3))
                .collect::<Vec<_>>(),
            "{name}"
        );
        let window = read_all(
            &store,
            ReadFilter {
                from_ms: Some(BASE_MS + 1_000),
                to_ms: Some(BASE_MS + 2_000),
                kinds: vec![],
            },
        )
        .await
        .unwrap();
        assert_eq!(ids(&window), (100..200).collect::<Vec<_>>(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_writer_is_repaired_on_reopen_and_readers_resume_across_it() {
    for (name, backend) in backends() {
        let store = backend.store.clone();
        let config = WriterConfig {
            max_segment_bytes: 1 << 30,
            ..small_segments()
        };
        let (writer, task) = LogWriter::open(store.clone(), "node-b", config.clone())
            .await
            .unwrap();
        append_range(&writer, 0, 120, 10).await;
        // A reader tails the open segment (parts only, nothing sealed yet).
        let mut reader = LogReader::new(store.clone(), Cursor::default(), ReadFilter::default());
        let mut seen = ids(&reader.next_batch(50).await.unwrap());
        assert_eq!(seen.len(), 50, "{name}");
        // Crash: no seal, parts left behind.
        task.abort();
        drop(writer);
        tokio::time::sleep(Duration::from_millis(50)).await;

        let (writer, task) = LogWriter::open(store.clone(), "node-b", config)
            .await
            .unwrap();
        append_range(&writer, 120, 200, 20).await;
        drop(writer);
        task.join().await.unwrap();

        loop {
            let batch = reader.next_batch(33).await.unwrap();
            if batch.is_empty() {
                break;
            }
            seen.extend(ids(&batch));
        }
        assert_eq!(seen, (0..200).collect::<Vec<_>>(), "{name}");
        assert_eq!(reader.cursor().writers["node-b"].segment, 2, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_segment_is_sealed_by_age_and_writers_are_read_side_by_side() {
    for (name, backend) in backends() {
        let store = backend.store.clone();
        let config = WriterConfig {
            max_segment_age: Duration::from_millis(200),
            ..WriterConfig::default()
        };
        let (a, task_a) = LogWriter::open(store.clone(), "node-a", config.clone())
            .await
            .unwrap();
        let (b, task_b) = LogWriter::open(store.clone(), "node-b", config)
            .await
            .unwrap();
        append_range(&a, 0, 10, 5).await;
        append_range(&b, 10, 20, 5).await;
        // Wait (bounded) for the age-based seal of node-a's segment: a reader that has read
        // everything then stands past segment 0, where an open segment would hold it.
        let mut sealed = false;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            let mut reader =
                LogReader::new(store.clone(), Cursor::default(), ReadFilter::default());
            while !reader.next_batch(1000).await.unwrap().is_empty() {}
            if reader.cursor().writers["node-a"].segment == 1 {
                sealed = true;
                break;
            }
        }
        assert!(sealed, "{name}: no segment was sealed by age");
        drop((a, b));
        task_a.join().await.unwrap();
        task_b.join().await.unwrap();
        let all = read_all(&store, ReadFilter::default()).await.unwrap();
        let from_b: Vec<u64> = ids(&all)
            .into_iter()
            .zip(&all)
            .filter(|(_, e)| e.writer == "node-b")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(from_b, (10..20).collect::<Vec<_>>(), "{name}");
        assert_eq!(
            all.iter().filter(|e| e.writer == "node-a").count(),
            10,
            "{name}"
        );
    }
}
