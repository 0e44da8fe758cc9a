//! Where the bytes of uploads and archives live: [`Blobs`], a small store of named byte strings,
//! and [`DirBlobs`], the one used today, on two directories of the data directory
//! (`uploads/<name>`, `archives/<name>`, with `archives/<name>.part` while one is written).
//!
//! Every upload and archive byte goes through it: an upload written as it streams in, opened for
//! the zip reader, an export's archive written, streamed to its one download, removed; and what
//! a previous run left half-written, removed at start. No other module of the service touches
//! those directories. The trait names blobs by [`BlobKey`], never by path, so that an object
//! store (S3 through `object_store`) can come in behind it alone: the zip reader and writer need
//! `Seek`, so those two steps go through a local file ([`Blobs::local`], [`Blobs::put_file`]),
//! which the directory store has already and an object store would download to, or upload
//! from; uploads are written chunk by chunk and downloads are streams of a known length, never
//! whole in memory.
//!
//! Blocking methods (plain file calls) are called from the blocking pool; the async ones
//! ([`Blobs::create`], [`Blobs::open`]) run on the request path. [`S3Blobs`] (`s3.rs`, feature
//! `s3`) keeps them in an S3-compatible bucket instead, for replicas that share them.

#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "s3")]
pub use s3::S3Blobs;

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use tokio::io::AsyncWrite;

/// Suffix of an archive being written, in [`DirBlobs`]'s archive directory.
const PARTIAL_SUFFIX: &str = ".part";

/// Longest blob name, in bytes (the usual file-name limit of file systems).
const MAX_NAME_BYTES: usize = 255;

/// What a blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    /// An uploaded package, kept while its import is checked and applied.
    Uploads,
    /// A package an export wrote, kept until its one download.
    Archives,
}

impl Area {
    /// The area's name: a key's first component, and [`DirBlobs`]'s directory.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Uploads => "uploads",
            Area::Archives => "archives",
        }
    }
}

/// A blob's key: an [`Area`] and a name of letters, digits, `.`, `-` and `_` (not starting with
/// `.`, not ending with `.part`), so it is safe as a file name and as an object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey {
    area: Area,
    name: String,
}

impl BlobKey {
    /// The key of an upload named `name`.
    pub fn upload(name: impl Into<String>) -> Result<Self, BlobError> {
        Self::new(Area::Uploads, name.into())
    }

    /// The key of an archive named `name` (as the store records it).
    pub fn archive(name: impl Into<String>) -> Result<Self, BlobError> {
        Self::new(Area::Archives, name.into())
    }

    fn new(area: Area, name: String) -> Result<Self, BlobError> {
        let safe = !name.is_empty()
            && name.len() <= MAX_NAME_BYTES
            && !name.starts_with('.')
            && !name.ends_with(PARTIAL_SUFFIX)
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if safe {
            Ok(BlobKey { area, name })
        } else {
            Err(BlobError::BadKey(name))
        }
    }

    /// Its area.
    pub fn area(&self) -> Area {
        self.area
    }

    /// Its name inside its area.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.area.as_str(), self.name)
    }
}

/// Why a blob could not be written, read or removed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A name that is not safe as a key (see [`BlobKey`]).
    #[error("{0:?} is not a blob name")]
    BadKey(String),
    /// The backend failed.
    #[error("{action} {target}: {source}")]
    Io {
        /// What was being done ("opening", ...).
        action: &'static str,
        /// On what (a path, a key).
        target: String,
        /// Why.
        source: std::io::Error,
    },
    /// The caller's writer failed while writing a blob through a local file.
    #[error("writing {key}: {source}")]
    Write {
        /// The blob.
        key: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where the bytes of a blob being uploaded go, in chunks; complete once shut down
/// ([`tokio::io::AsyncWriteExt::shutdown`]).
pub type BlobWriter = Pin<Box<dyn AsyncWrite + Send>>;

/// A blob being read: its bytes, streamed, and how many there are.
pub struct BlobRead {
    /// Its length in bytes.
    pub length: u64,
    /// Its bytes.
    pub stream: BoxStream<'static, std::io::Result<Bytes>>,
}

/// A local file holding a blob's bytes, for readers that seek. Removed when dropped if it is a
/// copy ([`LocalFile::temporary`]); the blob itself stays.
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    copy: Option<PathBuf>,
}

impl LocalFile {
    /// The store's own file of the blob.
    pub fn own(file: File) -> Self {
        LocalFile { file, copy: None }
    }

    /// A copy of the blob at `path` (an object store's download), removed when dropped.
    pub fn temporary(file: File, path: PathBuf) -> Self {
        LocalFile {
            file,
            copy: Some(path),
        }
    }
}

impl Read for LocalFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Seek for LocalFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Drop for LocalFile {
    fn drop(&mut self) {
        if let Some(path) = &self.copy {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes a blob's bytes into a local file; see [`Blobs::put_file`].
pub type FileWriter<'a> =
    &'a mut dyn FnMut(&mut File) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Upload and archive bytes, by key. Object safe: the service holds an `Arc<dyn Blobs>`.
pub trait Blobs: Send + Sync + 'static {
    /// Starts writing the blob `key`, replacing any of that key: the caller writes the bytes as
    /// they arrive, then shuts the writer down. A writer dropped before may leave a partial
    /// blob, for [`Blobs::remove`] (or, after a crash, [`Blobs::remove_unfinished`]).
    fn create(&self, key: &BlobKey) -> BoxFuture<'_, Result<BlobWriter, BlobError>>;

    /// A local file holding the blob's bytes, for the zip reader. Blocking.
    fn local(&self, key: &BlobKey) -> Result<LocalFile, BlobError>;

    /// Writes the blob `key` through a local file that `write` fills (the zip writer seeks),
    /// then publishes it under `key`: all of it or, if anything fails, nothing. Blocking.
    fn put_file(&self, key: &BlobKey, write: FileWriter<'_>) -> Result<(), BlobError>;

    /// The blob's bytes, streamed, with their length. A stream opened before [`Blobs::remove`]
    /// reads to its end.
    fn open(&self, key: &BlobKey) -> BoxFuture<'_, Result<BlobRead, BlobError>>;

    /// Removes the blob; one that does not exist is not an error. Quick enough to be called
    /// when a request is dropped: a backend whose removal takes a request schedules it.
    fn remove(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// Removes what stopped servers left unfinished, at start, before any request: uploads, and
    /// archives being written, at least `older_than` old (zero when this server is the only one
    /// using these blobs; long enough that no other replica still uses them when shared).
    /// Blocking.
    fn remove_unfinished(&self, older_than: Duration) -> Result<(), BlobError>;
}

/// A blob removed when dropped, however the request or job that owns it ends: an upload.
pub struct TempBlob {
    blobs: Arc<dyn Blobs>,
    key: BlobKey,
}

impl TempBlob {
    /// Owns `key` of `blobs`, from now on.
    pub fn new(blobs: Arc<dyn Blobs>, key: BlobKey) -> Self {
        TempBlob { blobs, key }
    }

    /// The blob's key.
    pub fn key(&self) -> &BlobKey {
        &self.key
    }
}

impl fmt::Debug for TempBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TempBlob").field(&self.key).finish()
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        let _ = self.blobs.remove(&self.key);
    }
}

/// [`Blobs`] on the local file system: `<root>/uploads/<name>` and `<root>/archives/<name>`.
#[derive(Debug, Clone)]
pub struct DirBlobs {
    root: PathBuf,
}

impl DirBlobs {
    /// Blobs under `root` (the data directory), whose two directories are created if needed.
    pub fn open(root: &Path) -> Result<Self, BlobError> {
        for area in [Area::Uploads, Area::Archives] {
            let dir = root.join(area.as_str());
            std::fs::create_dir_all(&dir).map_err(|source| BlobError::Io {
                action: "preparing",
                target: dir.display().to_string(),
                source,
            })?;
        }
        Ok(DirBlobs {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.area.as_str()).join(&key.name)
    }
}

/// The error of a failed I/O `action` on `target` (a path, an object's key).
fn io_error(
    action: &'static str,
    target: impl fmt::Display,
) -> impl FnOnce(std::io::Error) -> BlobError {
    let target = target.to_string();
    move |source| BlobError::Io {
        action,
        target,
        source,
    }
}

impl Blobs for DirBlobs {
    fn create(&self, key: &BlobKey) -> BoxFuture<'_, Result<BlobWriter, BlobError>> {
        let path = self.path(key);
        Box::pin(async move {
            let file = tokio::fs::File::create(&path)
                .await
                .map_err(io_error("creating", path.display()))?;
            Ok(Box::pin(file) as BlobWriter)
        })
    }

    fn local(&self, key: &BlobKey) -> Result<LocalFile, BlobError> {
        let path = self.path(key);
        let file = File::open(&path).map_err(io_error("opening", path.display()))?;
        Ok(LocalFile::own(file))
    }

    fn put_file(&self, key: &BlobKey, write: FileWriter<'_>) -> Result<(), BlobError> {
        let path = self.path(key);
        let mut partial = path.clone().into_os_string();
        partial.push(PARTIAL_SUFFIX);
        let partial = PathBuf::from(partial);
        let written = File::create(&partial)
            .map_err(io_error("creating", partial.display()))
            .and_then(|mut file| {
                write(&mut file).map_err(|source| BlobError::Write {
                    key: key.to_string(),
                    source,
                })
            })
            .and_then(|()| {
                std::fs::rename(&partial, &path).map_err(io_error("renaming", partial.display()))
            });
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    }

    fn open(&self, key: &BlobKey) -> BoxFuture<'_, Result<BlobRead, BlobError>> {
        let path = self.path(key);
        Box::pin(async move {
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(io_error("opening", path.display()))?;
            let length = file
                .metadata()
                .await
                .map_err(io_error("reading", path.display()))?
                .len();
            Ok(BlobRead {
                length,
                stream: tokio_util::io::ReaderStream::new(file).boxed(),
            })
        })
    }

    fn remove(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_error("removing", path.display())(e))
            }
            _ => Ok(()),
        }
    }

    fn remove_unfinished(&self, older_than: Duration) -> Result<(), BlobError> {
        for (area, unfinished) in [
            (Area::Uploads, (|_| true) as fn(&str) -> bool),
            (Area::Archives, |name| name.ends_with(PARTIAL_SUFFIX)),
        ] {
            let dir = self.root.join(area.as_str());
            std::fs::read_dir(&dir).map_err(io_error("listing", dir.display()))?;
            remove_older_than(&dir, older_than, unfinished);
        }
        Ok(())
    }
}

/// Removes the files of `dir` whose name `chosen` keeps and that were last changed at least
/// `age` ago (all of them for zero), as far as it can.
fn remove_older_than(dir: &Path, age: Duration, chosen: fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old_enough = age.is_zero()
            || entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|changed| changed.elapsed().ok())
                .is_some_and(|elapsed| elapsed >= age);
        if old_enough && chosen(&entry.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::AsyncWriteExt;

    fn blobs() -> (tempfile::TempDir, DirBlobs) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = DirBlobs::open(dir.path()).unwrap();
        (dir, blobs)
    }

    #[test]
    fn keys_are_single_safe_names() {
        assert_eq!(
            BlobKey::archive("0123abc.zip").unwrap().to_string(),
            "archives/0123abc.zip"
        );
        for bad in [
            "",
            "../x.zip",
            "a/b.zip",
            ".hidden",
            "x.zip.part",
            "a b.zip",
        ] {
            assert!(BlobKey::upload(bad).is_err(), "{bad:?}");
        }
    }

    /// Runs `work` on a runtime of its own (the service's tokio has no test macros).
    fn run<F: std::future::Future>(work: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(work)
    }

    #[test]
    fn an_upload_is_written_in_chunks_read_locally_and_removed() {
        run(async {
            let (dir, blobs) = blobs();
            let key = BlobKey::upload("u.zip").unwrap();
            let mut writer = blobs.create(&key).await.unwrap();
            writer.write_all(b"PK").await.unwrap();
            writer.write_all(b"rest").await.unwrap();
            writer.shutdown().await.unwrap();
            drop(writer);
            assert_eq!(
                std::fs::read(dir.path().join("uploads/u.zip")).unwrap(),
                b"PKrest"
            );
            let mut local = String::new();
            blobs
                .local(&key)
                .unwrap()
                .read_to_string(&mut local)
                .unwrap();
            assert_eq!(local, "PKrest");
            blobs.remove(&key).unwrap();
            blobs.remove(&key).expect("removing an absent blob is fine");
            assert!(blobs.local(&key).is_err());
        })
    }

    #[test]
    fn an_archive_is_published_whole_or_not_at_all_and_streams_with_its_length() {
        run(async {
            let (dir, blobs) = blobs();
            let key = BlobKey::archive("a.zip").unwrap();
            let failed = blobs.put_file(&key, &mut |file| {
                file.write_all(b"half")?;
                Err("the writer failed".into())
            });
            assert!(matches!(failed, Err(BlobError::Write { .. })), "{failed:?}");
            let archives = dir.path().join("archives");
            assert_eq!(std::fs::read_dir(&archives).unwrap().count(), 0);

            blobs
                .put_file(&key, &mut |file| Ok(file.write_all(b"whole")?))
                .unwrap();
            let read = blobs.open(&key).await.unwrap();
            assert_eq!(read.length, 5);
            // Removed while open: the stream still reads to its end.
            blobs.remove(&key).unwrap();
            let chunks: Vec<Bytes> = read.stream.map(Result::unwrap).collect().await;
            assert_eq!(chunks.concat(), b"whole");
            assert_eq!(std::fs::read_dir(&archives).unwrap().count(), 0);
        })
    }

    #[test]
    fn unfinished_blobs_go_at_start_and_archives_stay() {
        let (dir, blobs) = blobs();
        for file in ["uploads/u.zip", "archives/a.zip", "archives/b.zip.part"] {
            std::fs::write(dir.path().join(file), b"x").unwrap();
        }
        // Shared with other replicas: recent ones stay.
        blobs.remove_unfinished(Duration::from_secs(3600)).unwrap();
        assert!(dir.path().join("uploads/u.zip").exists());
        blobs.remove_unfinished(Duration::ZERO).unwrap();
        let left = |area: &str| std::fs::read_dir(dir.path().join(area)).unwrap().count();
        assert_eq!((left("uploads"), left("archives")), (0, 1));
        assert!(dir.path().join("archives/a.zip").exists());
    }

    /// Each backend, empty, with what its tests need: the directory store, and the S3 store on
    /// the bucket `roma-test` of the server at `ROMA_ASSETS_TEST_S3_ENDPOINT` (moto, started by
    /// `tests/services/s3.sh`), under a prefix of its own. Without that variable the S3 half is
    /// left out, except under `CI`, where it must be there. Call the blocking methods outside
    /// the runtime, as the service calls them on its blocking pool.
    fn every_backend(
        runtime: &tokio::runtime::Runtime,
    ) -> Vec<(Arc<dyn Blobs>, tempfile::TempDir)> {
        let dir = tempfile::tempdir().unwrap();
        let mut backends: Vec<(Arc<dyn Blobs>, tempfile::TempDir)> =
            vec![(Arc::new(DirBlobs::open(dir.path()).unwrap()), dir)];
        #[cfg(feature = "s3")]
        match std::env::var("ROMA_ASSETS_TEST_S3_ENDPOINT") {
            Ok(endpoint) => {
                let store = object_store::aws::AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_allow_http(true)
                    .with_bucket_name("roma-test")
                    .with_region("us-east-1")
                    .with_access_key_id("test")
                    .with_secret_access_key("test")
                    .build()
                    .unwrap();
                let local = tempfile::tempdir().unwrap();
                let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
                let blobs = runtime
                    .block_on(async { S3Blobs::new(Arc::new(store), &prefix, local.path()) })
                    .unwrap();
                backends.push((Arc::new(blobs), local));
            }
            Err(_) => assert!(
                std::env::var_os("CI").is_none(),
                "CI must set ROMA_ASSETS_TEST_S3_ENDPOINT: the blob tests run on S3 too"
            ),
        }
        let _ = runtime;
        backends
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Whether `key` is gone within a few seconds (a backend may remove in the background).
    fn gone(blobs: &dyn Blobs, runtime: &tokio::runtime::Runtime, key: &BlobKey) -> bool {
        for _ in 0..100 {
            if runtime.block_on(blobs.open(key)).is_err() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }

    #[test]
    fn every_backend_writes_reads_publishes_and_removes() {
        let runtime = runtime();
        for (blobs, _guard) in every_backend(&runtime) {
            let blobs = blobs.as_ref();
            // An upload in chunks (larger than one multipart part), read through a local file.
            let key = BlobKey::upload("u.zip").unwrap();
            let chunk = vec![7u8; 3 * 1024 * 1024];
            runtime.block_on(async {
                let mut writer = blobs.create(&key).await.unwrap();
                writer.write_all(b"PK").await.unwrap();
                writer.write_all(&chunk).await.unwrap();
                writer.write_all(&chunk).await.unwrap();
                writer.shutdown().await.unwrap();
            });
            let mut local = Vec::new();
            blobs.local(&key).unwrap().read_to_end(&mut local).unwrap();
            assert_eq!(local.len(), 2 + 2 * chunk.len());
            assert!(local.starts_with(b"PK\x07"));
            blobs.remove(&key).unwrap();
            assert!(gone(blobs, &runtime, &key), "{key} still there");
            blobs.remove(&key).expect("removing an absent blob is fine");

            // An archive: nothing of a failed write is published; a whole one streams.
            let key = BlobKey::archive("a.zip").unwrap();
            let failed = blobs.put_file(&key, &mut |file| {
                file.write_all(b"half")?;
                Err("the writer failed".into())
            });
            assert!(matches!(failed, Err(BlobError::Write { .. })), "{failed:?}");
            assert!(runtime.block_on(blobs.open(&key)).is_err());
            blobs
                .put_file(&key, &mut |file| Ok(file.write_all(b"whole")?))
                .unwrap();
            let read = runtime.block_on(blobs.open(&key)).unwrap();
            assert_eq!(read.length, 5);
            let chunks: Vec<Bytes> = runtime.block_on(read.stream.map(Result::unwrap).collect());
            assert_eq!(chunks.concat(), b"whole");

            // Unfinished uploads: recent ones stay when shared, all go when not.
            let upload = BlobKey::upload("left.zip").unwrap();
            runtime.block_on(async {
                let mut writer = blobs.create(&upload).await.unwrap();
                writer.write_all(b"left").await.unwrap();
                writer.shutdown().await.unwrap();
            });
            blobs
                .remove_unfinished(std::time::Duration::from_secs(3600))
                .unwrap();
            assert!(runtime.block_on(blobs.open(&upload)).is_ok());
            blobs.remove_unfinished(std::time::Duration::ZERO).unwrap();
            assert!(runtime.block_on(blobs.open(&upload)).is_err());
            // Archives stay.
            assert!(runtime.block_on(blobs.open(&key)).is_ok());
        }
    }
}
