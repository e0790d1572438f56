//! Where the report log lives: any `object_store` backend, chosen by URL.
//!
//! - a plain path or `file:///abs/path`: a local directory, every write fsynced (file and
//!   directory) before it counts;
//! - `memory://`: in memory, for tests and throwaway runs;
//! - `s3://bucket/prefix`: any S3-compatible store (AWS, MinIO, Ceph, R2, …), configured by
//!   the usual `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_REGION`, `AWS_ENDPOINT` for non-AWS endpoints, `AWS_ALLOW_HTTP=true` for plain-HTTP
//!   test servers). A completed PUT is durable by the store's own guarantee.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;

/// An object store and the prefix under which the log lives.
#[derive(Clone)]
pub struct LogStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) root: Path,
    description: String,
}

impl fmt::Debug for LogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogStore({})", self.description)
    }
}

impl fmt::Display for LogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// Why a store URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("report log store {url:?}: {message}")]
    Invalid { url: String, message: String },
    #[error("report log store {url:?}: {source}")]
    Backend {
        url: String,
        #[source]
        source: object_store::Error,
    },
}

impl LogStore {
    /// A local directory (created if missing); every object write is fsynced.
    pub fn local(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let url = dir.display().to_string();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Invalid {
            url: url.clone(),
            message: format!("cannot create the directory: {e}"),
        })?;
        let fs = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|source| StoreError::Backend {
                url: url.clone(),
                source,
            })?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(LogStore {
            store: Arc::new(fs),
            root: Path::from("reports"),
            description: format!("file://{url}"),
        })
    }

    /// A store held in memory (lost when the process ends).
    pub fn memory() -> Self {
        LogStore {
            store: Arc::new(InMemory::new()),
            root: Path::from("reports"),
            description: "memory://".into(),
        }
    }

    /// Any store behind one object-store API, under `root`.
    pub fn from_store(store: Arc<dyn ObjectStore>, root: &str, description: &str) -> Self {
        LogStore {
            store,
            root: Path::from(root),
            description: description.into(),
        }
    }

    /// Parse a store URL: a path, `file:///…`, `memory://` or `s3://bucket[/prefix]`.
    /// Relative paths are taken relative to `base`.
    pub fn from_url(url: &str, base: &std::path::Path) -> Result<Self, StoreError> {
        let invalid = |message: &str| StoreError::Invalid {
            url: url.to_string(),
            message: message.to_string(),
        };
        if url == "memory://" || url == "memory:" {
            return Ok(Self::memory());
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("s3 URLs name a bucket: s3://bucket/prefix"));
            }
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|source| StoreError::Backend {
                    url: url.to_string(),
                    source,
                })?;
            let prefix = prefix.trim_matches('/');
            let root = if prefix.is_empty() {
                "reports".to_string()
            } else {
                format!("{prefix}/reports")
            };
            return Ok(LogStore {
                store: Arc::new(s3),
                root: Path::from(root.as_str()),
                description: url.to_string(),
            });
        }
        let path = if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(invalid("file URLs need an absolute path: file:///abs/path"));
            }
            PathBuf::from(rest)
        } else if url.contains("://") {
            return Err(invalid(
                "unsupported scheme: use a path, file:///abs/path, memory:// or s3://bucket/prefix",
            ));
        } else {
            base.join(url)
        };
        Self::local(path)
    }
}
