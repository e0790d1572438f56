//! Cairn ingest: devices open sessions and submit signed reports, which are appended to a
//! durable report log before they are acknowledged; verifiers read that log.
//!
//! - [`store`]: where the log lives (local directory, memory, S3-compatible), by URL.
//! - [`log`]: the segmented log, its group-committing writer and its resumable reader.
//! - [`server`]: the tonic `cairn.v1.Ingest` service.
//! - [`registry`]: which devices are accepted (from the ledger).

pub mod log;
pub mod registry;
pub mod server;
pub mod store;

use std::sync::Arc;

use cairn_core::NetworkId;

pub use log::{
    Cursor, LogEntry, LogError, LogReader, LogWriter, Position, ReadFilter, WriterConfig,
    WriterTask,
};
pub use registry::{DeviceRegistry, DeviceStatus, ledger_status};
pub use server::{IngestConfig, IngestService, StatsSnapshot};
pub use store::{LogStore, StoreError};

/// Content ids the log received within `window_ms` of now, with their receive times:
/// what a restarted ingest needs to keep refusing replays.
pub async fn recent_content_ids(
    store: &LogStore,
    window_ms: u64,
) -> Result<Vec<([u8; 32], u64)>, LogError> {
    let now = server::now_ms();
    let filter = ReadFilter {
        from_ms: Some(now.saturating_sub(window_ms)),
        ..ReadFilter::default()
    };
    let mut out = Vec::new();
    for entry in log::read_all(store, filter).await? {
        if let Ok(id) = <[u8; 32]>::try_from(entry.record.content_id.as_slice()) {
            out.push((id, entry.record.receive_time_ms));
        }
    }
    Ok(out)
}

/// Open the log writer (repairing what a crash left), reload recent content ids, and build
/// the service. Join the returned task after dropping the service to seal the last segment.
pub async fn start(
    network: NetworkId,
    registry: Arc<dyn DeviceRegistry>,
    store: LogStore,
    writer_id: &str,
    writer_config: WriterConfig,
    config: IngestConfig,
) -> Result<(IngestService, WriterTask), LogError> {
    let (writer, task) = LogWriter::open(store.clone(), writer_id, writer_config).await?;
    let window = u64::try_from((config.max_report_age + config.max_clock_skew).as_millis())
        .unwrap_or(u64::MAX);
    let recent = recent_content_ids(&store, window).await?;
    tracing::info!(store = %store, writer = writer_id, recent = recent.len(), "ingest log opened");
    Ok((
        IngestService::new(network, registry, writer, config, recent),
        task,
    ))
}
