//! [`S3Blobs`]: uploads and archives in an S3-compatible bucket (AWS S3, Huawei OBS, MinIO,
//! moto...), through the `object_store` crate, for replicas that share them.
//!
//! Objects are `[PREFIX/]uploads/<name>` and `[PREFIX/]archives/<name>`. An upload streams to a
//! multipart upload as it arrives (5 MiB parts, two in flight: about 15 MiB of memory per
//! upload, whatever its size), and becomes visible only once complete, so a replica killed
//! mid-upload leaves no partial object, only an incomplete multipart upload (a bucket lifecycle
//! rule, "abort incomplete multipart uploads after a day", clears those; README). An archive is
//! written to a local file (the zip writer seeks), then uploaded the same way. The zip reader
//! gets a local copy of an upload, downloaded to `local_dir` and removed once read.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::{
    Area, BlobError, BlobKey, BlobRead, BlobWriter, Blobs, FileWriter, LocalFile, io_error,
};

/// Part size of multipart uploads: S3's smallest (but for the last part).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// [`Blobs`] in an S3-compatible bucket. See the module comment.
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    /// Empty, or the prefix every key goes under.
    prefix: String,
    /// Where local copies are made.
    local_dir: PathBuf,
    /// The runtime the blocking methods (called on its blocking pool) and scheduled removals
    /// run their requests on.
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The error of a failed object store `action` on `target`.
fn error(
    action: &'static str,
    target: impl std::fmt::Display,
) -> impl FnOnce(object_store::Error) -> BlobError {
    let io = io_error(action, target);
    move |e| io(std::io::Error::other(e))
}

impl S3Blobs {
    /// The bucket `url` names (`s3://BUCKET` or `s3://BUCKET/PREFIX`), with the endpoint,
    /// region and credentials of the usual variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …); an `http://` endpoint is allowed as
    /// given. Local copies go to `local_dir`. Call it inside the server's runtime.
    pub fn from_url(url: &str, local_dir: &Path) -> Result<Self, BlobError> {
        let bad = |why: &str| BlobError::Io {
            action: "configuring",
            target: url.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("the blob store must be s3://BUCKET[/PREFIX]"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("the blob store's URL names no bucket"));
        }
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        let store = builder.build().map_err(error("configuring", url))?;
        Self::new(Arc::new(store), prefix, local_dir)
    }

    /// Blobs in `store` under `prefix`, local copies in `local_dir` (created if needed). Call it
    /// inside the server's runtime.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        local_dir: &Path,
    ) -> Result<Self, BlobError> {
        std::fs::create_dir_all(local_dir).map_err(io_error("preparing", local_dir.display()))?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| BlobError::Io {
            action: "starting",
            target: "the object store".into(),
            source: std::io::Error::other(e),
        })?;
        Ok(S3Blobs {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            local_dir: local_dir.to_path_buf(),
            runtime,
        })
    }

    fn area_path(&self, area: Area) -> ObjectPath {
        match self.prefix.as_str() {
            "" => ObjectPath::from(area.as_str()),
            prefix => ObjectPath::from(format!("{prefix}/{}", area.as_str())),
        }
    }

    fn path(&self, key: &BlobKey) -> ObjectPath {
        self.area_path(key.area()).join(key.name())
    }

    /// A multipart writer of the object at `path`.
    fn writer(&self, path: ObjectPath) -> BufWriter {
        BufWriter::with_capacity(Arc::clone(&self.store), path, PART_BYTES)
            .with_max_concurrency(PARTS_IN_FLIGHT)
    }

    /// A new file name in `local_dir`.
    fn local_path(&self) -> PathBuf {
        self.local_dir
            .join(format!("{}.tmp", uuid::Uuid::new_v4().simple()))
    }
}

impl Blobs for S3Blobs {
    fn create(&self, key: &BlobKey) -> BoxFuture<'_, Result<BlobWriter, BlobError>> {
        let writer = self.writer(self.path(key));
        Box::pin(async move { Ok(Box::pin(writer) as BlobWriter) })
    }

    fn local(&self, key: &BlobKey) -> Result<LocalFile, BlobError> {
        let path = self.path(key);
        let local = self.local_path();
        let copied = self.runtime.block_on(async {
            let got = self
                .store
                .get(&path)
                .await
                .map_err(error("downloading", &path))?;
            let mut file = tokio::fs::File::create(&local)
                .await
                .map_err(io_error("creating", local.display()))?;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(error("downloading", &path))?;
                file.write_all(&chunk)
                    .await
                    .map_err(io_error("writing", local.display()))?;
            }
            file.flush()
                .await
                .map_err(io_error("writing", local.display()))
        });
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&local);
            return Err(e);
        }
        let file = std::fs::File::open(&local).map_err(io_error("opening", local.display()))?;
        Ok(LocalFile::temporary(file, local))
    }

    fn put_file(&self, key: &BlobKey, write: FileWriter<'_>) -> Result<(), BlobError> {
        let local = self.local_path();
        let written = std::fs::File::create(&local)
            .map_err(io_error("creating", local.display()))
            .and_then(|mut file| {
                write(&mut file).map_err(|source| BlobError::Write {
                    key: key.to_string(),
                    source,
                })
            })
            .and_then(|()| {
                let path = self.path(key);
                self.runtime.block_on(async {
                    let mut file = tokio::fs::File::open(&local)
                        .await
                        .map_err(io_error("opening", local.display()))?;
                    let mut writer = self.writer(path.clone());
                    let copied = async {
                        tokio::io::copy(&mut file, &mut writer).await?;
                        writer.shutdown().await
                    }
                    .await;
                    if let Err(e) = copied {
                        // Nothing becomes visible: the multipart upload is abandoned.
                        let _ = writer.abort().await;
                        return Err(io_error("uploading", &path)(e));
                    }
                    Ok(())
                })
            });
        let _ = std::fs::remove_file(&local);
        written
    }

    fn open(&self, key: &BlobKey) -> BoxFuture<'_, Result<BlobRead, BlobError>> {
        let path = self.path(key);
        Box::pin(async move {
            let got = self
                .store
                .get(&path)
                .await
                .map_err(error("opening", &path))?;
            Ok(BlobRead {
                length: got.meta.size,
                stream: got.into_stream().map_err(std::io::Error::other).boxed(),
            })
        })
    }

    /// Scheduled on the runtime rather than awaited: this is called when a request is dropped,
    /// on the request path.
    fn remove(&self, key: &BlobKey) -> Result<(), BlobError> {
        let (store, path) = (Arc::clone(&self.store), self.path(key));
        self.runtime.spawn(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!(error = %e, %path, "removing a blob"),
            }
        });
        Ok(())
    }

    fn remove_unfinished(&self, older_than: Duration) -> Result<(), BlobError> {
        let cutoff = chrono::Utc::now()
            - chrono::TimeDelta::from_std(older_than).unwrap_or(chrono::TimeDelta::MAX);
        // Uploads are removed when their import ends: one still there is either in use (by a
        // replica's import) or abandoned (its replica died), and the age tells which. Archives
        // are never partial here (a multipart upload shows only once complete).
        let uploads = self.area_path(Area::Uploads);
        self.runtime.block_on(async {
            let old: Vec<ObjectPath> = self
                .store
                .list(Some(&uploads))
                .try_filter(|meta| std::future::ready(meta.last_modified < cutoff))
                .map_ok(|meta| meta.location)
                .try_collect()
                .await
                .map_err(error("listing", &uploads))?;
            for path in old {
                match self.store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(error("removing", &path)(e)),
                }
            }
            Ok(())
        })?;
        super::remove_older_than(&self.local_dir, older_than, |_| true);
        Ok(())
    }
}
