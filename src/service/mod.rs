//! The reference server: a persistent, local implementation of the generated [`Api`] trait, for
//! developing and testing against the ROMA asset API without a cloud account.
//!
//! It adds only behaviour: every route, parameter check and error body comes from the generated
//! layer (`crate::server`). It must not re-validate what the document already guarantees, and
//! must not do blocking work (SQLite, zip, file I/O) on the async request path.

pub mod auth;
pub mod blob;
pub mod cache;
pub mod convert;
pub mod demo;
pub mod docs;
pub mod jobs;
pub mod model;
pub mod package;
pub mod store;

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::contract::{codes, types};
use crate::server::{
    self, Api, ApiError, CheckAssetJobStatusParams, CheckAssetJobStatusReply,
    CheckRomaAppDetailsParams, CheckRomaAppDetailsReply, Credential, DeleteAssetParams,
    DeleteAssetReply, DownloadAssetArchiveParams, DownloadAssetArchiveReply, ExportAssetParams,
    ExportAssetReply, ImportAssetForm, ImportAssetParams, ImportAssetReply, ListAppsParams,
    ListAppsReply, ListInstancesParams, ListInstancesReply, ListTasksParams, ListTasksReply,
    RequestContext, SigningKeys,
};
use auth::Credentials;
use blob::{BlobError, BlobKey, Blobs, DirBlobs, TempBlob};
use cache::CachedStore;
use convert::scope;
use jobs::JobRunner;
use model::{Job, JobKind};
use package::PackageLimits;
use store::{RunningJobs, SqliteStore, Store, StoreError};

/// The OpenAPI document, served at `/openapi.yaml` and `/openapi.json`.
pub const OPENAPI_YAML: &str = include_str!("../../openapi/roma-assets.yaml");

/// How the reference server is set up.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where the database, uploads and archives live.
    pub data_dir: PathBuf,
    /// Who may call: tokens and AK/SK pairs.
    pub credentials: Credentials,
    /// Limits for reading uploaded packages.
    pub package_limits: PackageLimits,
    /// Every job stays RUNNING at least this long (zero by default); see [`JobRunner::new`].
    pub job_min_duration: Duration,
    /// State in this PostgreSQL database (`postgres://…`), shared with other replicas, instead
    /// of SQLite in `data_dir`; `data_dir` then holds uploads and archives only, and is not
    /// locked (replicas on one machine may share it).
    pub database_url: Option<String>,
    /// How long a job's lease lasts without renewal ([`store::DEFAULT_LEASE`] unless a test
    /// wants a dead replica's jobs failed sooner). Renewed every third of it.
    pub job_lease: Duration,
    /// Uploads and archives in this S3-compatible bucket (`s3://BUCKET[/PREFIX]`, with the
    /// `AWS_*` variables), shared with other replicas, instead of `data_dir` (which then holds
    /// only local copies for the zip reader and writer).
    pub blob_store: Option<String>,
}

/// Uploads and partial archives at least this old, left in shared blobs by a stopped replica,
/// are removed when a replica starts (younger ones may be another replica's import).
pub const SHARED_UNFINISHED_AGE: Duration = Duration::from_secs(3600);

/// The reason a job whose lease expired is failed with (at start, and on every lease tick).
const EXPIRED_REASON: &str = "the server running the job stopped renewing its lease";

/// How often a replica sweeps shared blobs for what stopped replicas left unfinished.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store could not be opened.
    #[error("opening the store in {path}: {source}")]
    Store {
        /// The data directory.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// Another process serves this data directory (it holds its lock).
    #[error(
        "{path} is in use by another roma-assets server ({holder}); stop it, or pass another --data-dir"
    )]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// Who holds the lock, as its lock file says (`pid 1234`).
        holder: String,
    },
    /// A data directory could not be prepared.
    #[error("preparing {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The upload and archive directories could not be prepared.
    #[error(transparent)]
    Blobs(#[from] BlobError),
}

/// The reference implementation of the asset API. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    /// The data directory's lock, held while the service lives (released by the OS on exit,
    /// kill -9 included); none when the state is in PostgreSQL.
    _lock: Option<std::fs::File>,
    store: Arc<CachedStore<dyn Store>>,
    blobs: Arc<dyn Blobs>,
    credentials: Credentials,
    package_limits: PackageLimits,
    jobs: JobRunner,
}

impl Service {
    /// Opens (or creates) the data directory, and the store: SQLite in the data directory, or
    /// the PostgreSQL database of [`ServiceConfig::database_url`].
    ///
    /// On SQLite, this server is the database's only one (it locks the data directory): jobs a
    /// previous run left RUNNING are marked FAILED with a reason, and its half-written uploads
    /// and archives are removed; an import is one database transaction, so no half-imported
    /// asset can remain. On PostgreSQL, other replicas may be running jobs: only jobs whose
    /// lease has expired are marked FAILED, now and every third of a lease from then on.
    pub async fn open(config: ServiceConfig) -> Result<Self, ServiceError> {
        let data_dir = config.data_dir.clone();
        // Replicas share the database and the blobs: either means other servers may be at work.
        let shared = config.database_url.is_some() || config.blob_store.is_some();
        // SQLite's server is the only one of its data directory; PostgreSQL's need not be.
        let lock = if config.database_url.is_some() {
            std::fs::create_dir_all(&data_dir).map_err(|source| ServiceError::Io {
                path: data_dir.clone(),
                source,
            })?;
            None
        } else {
            Some(lock_data_dir(&data_dir)?)
        };
        let blobs: Arc<dyn Blobs> = match &config.blob_store {
            Some(url) => open_s3(url, &data_dir)?,
            None => Arc::new(DirBlobs::open(&data_dir)?),
        };
        // Shared blobs may be another replica's work in progress: only old ones are removed.
        let unfinished_age = if shared {
            SHARED_UNFINISHED_AGE
        } else {
            Duration::ZERO
        };
        let cleaning = blobs.clone();
        match tokio::task::spawn_blocking(move || cleaning.remove_unfinished(unfinished_age)).await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not remove what a stopped server left unfinished");
            }
            Err(e) => tracing::warn!(error = %e, "removing unfinished blobs"),
        }
        let only_server = config.database_url.is_none();
        let (dir, database_url, lease) = (data_dir.clone(), config.database_url, config.job_lease);
        let opened = tokio::task::spawn_blocking(move || {
            // Job states stay in memory, written through: status polls never wait for the
            // database.
            let store: Arc<CachedStore<dyn Store>> = match database_url {
                Some(url) => Arc::new(CachedStore::new(open_postgres(&url)?.with_lease(lease))),
                None => Arc::new(CachedStore::new(SqliteStore::open(&dir)?.with_lease(lease))),
            };
            let failed = if only_server {
                store
                    .fail_running_jobs(RunningJobs::All, "the server restarted while the job ran")?
            } else {
                store.fail_running_jobs(RunningJobs::Expired, EXPIRED_REASON)?
            };
            Ok::<_, StoreError>((store, failed))
        })
        .await
        .map_err(|e| ServiceError::Store {
            path: data_dir.clone(),
            source: StoreError::Corrupt(e.to_string()),
        })?;
        let (store, failed) = opened.map_err(|source| ServiceError::Store {
            path: data_dir.clone(),
            source,
        })?;
        if failed > 0 {
            tracing::warn!(
                failed,
                "jobs left running by a stopped server were marked FAILED"
            );
        }
        let jobs = JobRunner::new(store.clone(), blobs.clone(), config.job_min_duration);
        tokio::spawn(keep_leases(
            Arc::downgrade(&store),
            shared.then(|| Arc::downgrade(&blobs)),
        ));
        Ok(Service {
            inner: Arc::new(Inner {
                _lock: lock,
                store,
                blobs,
                credentials: config.credentials,
                package_limits: config.package_limits,
                jobs,
            }),
        })
    }

    /// Seeds `project`/`instance` with the demo apps and tasks (fixed ids, see the README).
    pub async fn seed_demo(&self, project: &str, instance: &str) -> Result<(), StoreError> {
        let store = self.inner.store.clone();
        let scope = scope(project, instance);
        blocking(move || demo::seed(&*store, &scope))
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
    }

    /// The HTTP application: the generated router (with `max_upload_bytes` as ImportAsset's body
    /// limit) plus `/openapi.yaml`, `/openapi.json`, `/healthz` and `/docs` (the document for
    /// people, swagger-ui).
    pub fn router(&self, max_upload_bytes: usize) -> axum::Router {
        let mut config = server::RouterConfig::default();
        config.body_limits.import_asset = max_upload_bytes;
        let json = yaml_serde::from_str::<serde_json::Value>(OPENAPI_YAML)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_default();
        let extra = axum::Router::new()
            .route(
                "/openapi.yaml",
                axum::routing::get(|| async {
                    ([("content-type", "application/yaml")], OPENAPI_YAML)
                }),
            )
            .route(
                "/openapi.json",
                axum::routing::get(move || async move {
                    ([("content-type", "application/json")], json)
                }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok\n" }));
        server::router_with(self.clone(), config)
            .merge(extra)
            .merge(docs::router())
    }

    /// Waits up to `grace` for running jobs; marks the rest FAILED. For a graceful shutdown.
    pub async fn shutdown(&self, grace: Duration) -> u64 {
        self.inner.jobs.shutdown(grace).await
    }

    fn authorize(
        &self,
        credential: &Credential,
        project_id: &types::ProjectId,
    ) -> Result<(), ApiError> {
        self.inner
            .credentials
            .authorize(credential, project_id.as_str())
    }

    async fn create_job(&self, scope: model::Scope, kind: JobKind) -> Result<Job, ApiError> {
        let store = self.inner.store.clone();
        let project = scope.project_id.clone();
        match blocking(move || store.create_job(&scope, kind)).await? {
            Ok(job) => Ok(job),
            Err(StoreError::JobAlreadyRunning) => {
                // Name the job to wait for, when it is still there to be named.
                let store = self.inner.store.clone();
                let running = blocking(move || store.running_job(&project))
                    .await?
                    .ok()
                    .flatten();
                let details = match running {
                    Some(job) => format!(
                        "job {:.40} ({}, instance {:.20}) runs; one asset job per project at a time",
                        job.id,
                        convert::job_type(job.kind),
                        job.scope.instance_id
                    ),
                    None => "only one asset job per project runs at a time; wait for it to end"
                        .to_string(),
                };
                Err(
                    ApiError::new(codes::ROMA_10012, "an asset job is already running")
                        .with_details(details),
                )
            }
            Err(e) => {
                let request_id = crate::server::current_request_id().unwrap_or_default();
                tracing::error!(%request_id, error = %e, "creating a job failed");
                Err(ApiError::new(
                    codes::ROMA_10010,
                    "the job could not be created",
                ))
            }
        }
    }
}

/// A body of a known length, streamed: its exact size hint makes hyper send `Content-Length`
/// instead of chunked encoding.
struct ExactLength {
    inner: Body,
    length: u64,
}

impl axum::body::HttpBody for ExactLength {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.length)
    }
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

/// Takes the data directory's advisory lock (`flock` on `DATA_DIR/lock`), so that a second server
/// on the same directory refuses to start instead of failing the first one's jobs. The lock dies
/// with its process, kill -9 included: no stale lock file to clean up. The holder writes its
/// process id into the file, for the refusal to name it.
/// Every third of a lease: renews the leases of this server's running jobs, and marks FAILED the
/// RUNNING jobs whose lease has expired (their server died), until the service is dropped. With
/// shared blobs, also removes every [`SWEEP_EVERY`] what stopped replicas left unfinished (their
/// uploads older than [`SHARED_UNFINISHED_AGE`]).
async fn keep_leases(
    store: std::sync::Weak<CachedStore<dyn Store>>,
    shared_blobs: Option<std::sync::Weak<dyn Blobs>>,
) {
    let Some(every) = store.upgrade().map(|s| s.lease() / 3) else {
        return;
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        ticks.tick().await;
        if let Some(blobs) = shared_blobs.as_ref().and_then(std::sync::Weak::upgrade)
            && last_sweep.elapsed() >= SWEEP_EVERY
        {
            last_sweep = tokio::time::Instant::now();
            let swept =
                tokio::task::spawn_blocking(move || blobs.remove_unfinished(SHARED_UNFINISHED_AGE))
                    .await;
            if let Ok(Err(e)) = swept {
                tracing::warn!(error = %e, "removing what stopped replicas left unfinished");
            }
        }
        let Some(store) = store.upgrade() else { return };
        let done = tokio::task::spawn_blocking(move || {
            store.renew_leases()?;
            store.fail_running_jobs(RunningJobs::Expired, EXPIRED_REASON)
        })
        .await;
        match done {
            Ok(Ok(0)) => {}
            Ok(Ok(failed)) => tracing::warn!(failed, "jobs of a stopped server marked FAILED"),
            Ok(Err(e)) => tracing::warn!(error = %e, "renewing job leases"),
            Err(e) => tracing::warn!(error = %e, "renewing job leases"),
        }
    }
}

#[cfg(feature = "s3")]
fn open_s3(url: &str, data_dir: &std::path::Path) -> Result<Arc<dyn Blobs>, ServiceError> {
    Ok(Arc::new(blob::S3Blobs::from_url(
        url,
        &data_dir.join("local-copies"),
    )?))
}

#[cfg(not(feature = "s3"))]
fn open_s3(_url: &str, _data_dir: &std::path::Path) -> Result<Arc<dyn Blobs>, ServiceError> {
    Err(ServiceError::Blobs(blob::BlobError::Io {
        action: "opening",
        target: "--blob-store".into(),
        source: std::io::Error::other("this build has no S3 support (the `s3` feature)"),
    }))
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<store::PostgresStore, StoreError> {
    // As many connections as the blocking pool's busiest moments use, not more: every request
    // holds one for one statement or transaction.
    store::PostgresStore::connect(url, 16)
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_url: &str) -> Result<store::SqliteStore, StoreError> {
    Err(StoreError::Config(
        "this build has no PostgreSQL support (the `postgres` feature)".into(),
    ))
}

fn lock_data_dir(data_dir: &std::path::Path) -> Result<std::fs::File, ServiceError> {
    use std::io::{Read as _, Seek as _, Write as _};
    let io = |source| ServiceError::Io {
        path: data_dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let path = data_dir.join("lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "a process that has not written its id yet".to_string(),
                pid => format!("pid {pid}"),
            };
            return Err(ServiceError::Locked {
                path: data_dir.to_path_buf(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(file)
}

/// The secret keys the generated layer checks signatures with: the configured AK/SK pairs.
impl SigningKeys for Service {
    fn secret_key(&self, access_key: &str) -> Option<String> {
        self.inner.credentials.secret_key(access_key)
    }
}

impl Api for Service {
    async fn export_asset(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: ExportAssetParams,
        body: types::AssetExportRequest,
    ) -> ExportAssetReply {
        reply(self.export(credential, params, body).await)
    }

    async fn import_asset(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: ImportAssetParams,
        body: ImportAssetForm,
    ) -> ImportAssetReply {
        reply(self.import(credential, params, body).await)
    }

    async fn check_asset_job_status(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: CheckAssetJobStatusParams,
    ) -> CheckAssetJobStatusReply {
        let job_id = params.job_id.to_string();
        if let Err(e) = self.authorize(&credential, &params.project_id) {
            return e.into();
        }
        // The call clients poll: answered from memory when the store holds the job, without a
        // hand-off to the blocking pool.
        let in_memory = self
            .inner
            .store
            .cached_job(&scope(&params.project_id, &params.instance_id), &job_id);
        let found = match in_memory {
            Some(job) => Ok(Some(job)),
            None => {
                self.with_store(
                    &credential,
                    &params.project_id,
                    &params.instance_id,
                    move |store, scope| store.get_job(scope, &job_id),
                )
                .await
            }
        };
        let job = match found {
            Ok(Some(job)) => job,
            Ok(None) => {
                return ApiError::new(codes::ROMA_10020, "no such asset job")
                    .with_details(format!(
                        "job {} does not exist in this instance",
                        params.job_id.as_str()
                    ))
                    .into();
            }
            Err(e) => return e.into(),
        };
        reply(convert::job_status(job).map(CheckAssetJobStatusReply::Ok))
    }

    async fn download_asset_archive(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: DownloadAssetArchiveParams,
    ) -> DownloadAssetArchiveReply {
        reply(self.download(credential, params).await)
    }

    async fn list_apps(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: ListAppsParams,
    ) -> ListAppsReply {
        reply(self.list_apps(credential, params).await)
    }

    async fn list_instances(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: ListInstancesParams,
    ) -> ListInstancesReply {
        reply(self.list_instances(credential, params).await)
    }

    async fn check_roma_app_details(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: CheckRomaAppDetailsParams,
    ) -> CheckRomaAppDetailsReply {
        let id = params.app_id.to_string();
        let found = self
            .with_store(
                &credential,
                &params.project_id,
                &params.instance_id,
                move |store, scope| store.apps_by_ids(scope, &[id]),
            )
            .await;
        reply(found.and_then(|apps| match apps.into_iter().next() {
            Some(app) => Ok(CheckRomaAppDetailsReply::Ok(convert::app_info(
                app,
                &params.project_id,
            )?)),
            None => Err(
                ApiError::new(codes::ROMA_10042, "no such application").with_details(format!(
                    "application {:.64} does not exist in this instance",
                    params.app_id.as_str()
                )),
            ),
        }))
    }

    async fn list_tasks(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: ListTasksParams,
    ) -> ListTasksReply {
        reply(self.list_tasks(credential, params).await)
    }

    async fn delete_asset(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: DeleteAssetParams,
        body: types::AssetOperateRequest,
    ) -> DeleteAssetReply {
        reply(self.delete(credential, params, body).await)
    }
}

/// A reply from a result whose error is an [`ApiError`] (its status picks the variant).
fn reply<R: From<ApiError>>(result: Result<R, ApiError>) -> R {
    result.unwrap_or_else(R::from)
}

impl Service {
    /// ListApps: the store's page for the filters a local server can apply (see
    /// [`convert::app_filter`]).
    async fn list_apps(
        &self,
        credential: Credential,
        params: ListAppsParams,
    ) -> Result<ListAppsReply, ApiError> {
        let (offset, limit) = convert::page(params.offset, params.limit);
        let filter = convert::app_filter(&params);
        let (total, apps) = self
            .with_store(
                &credential,
                &params.project_id,
                &params.instance_id,
                move |store, scope| match filter {
                    Some(filter) => store.list_apps(scope, &filter, offset, limit),
                    None => Ok((0, Vec::new())),
                },
            )
            .await?;
        let apps = apps
            .into_iter()
            .map(|app| convert::app_info(app, &params.project_id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListAppsReply::Ok(types::ListAppsResponse {
            total,
            size: apps.len() as u64,
            apps,
        }))
    }

    /// ListInstances: the project's instances that hold something; `status` other than RUNNING
    /// keeps none (they all run).
    async fn list_instances(
        &self,
        credential: Credential,
        params: ListInstancesParams,
    ) -> Result<ListInstancesReply, ApiError> {
        self.authorize(&credential, &params.project_id)?;
        let page = convert::instance_page(&params);
        let store = self.inner.store.clone();
        let project = params.project_id.to_string();
        let (total, rows) = blocking(move || match page {
            Some((offset, limit)) => store.list_instances(&project, offset, limit),
            None => Ok((0, Vec::new())),
        })
        .await?
        .map_err(ApiError::internal)?;
        let instances: Vec<_> = rows
            .into_iter()
            .map(|row| convert::instance(row, &params.project_id))
            .collect();
        Ok(ListInstancesReply::Ok(types::ListInstancesResponse {
            total,
            size: instances.len() as u64,
            instances,
        }))
    }

    /// ListTasks (FDI): every filter of the reference page, `task_name` or the SDK's `name`.
    async fn list_tasks(
        &self,
        credential: Credential,
        params: ListTasksParams,
    ) -> Result<ListTasksReply, ApiError> {
        let (offset, limit) = convert::page(params.offset, params.limit);
        let filter = convert::task_filter(&params);
        let instance = params.instance_id.to_string();
        let (total, tasks) = self
            .with_store(
                &credential,
                &params.project_id,
                &params.instance_id,
                move |store, scope| store.list_tasks(scope, &filter, offset, limit),
            )
            .await?;
        let entities = tasks
            .into_iter()
            .map(|task| convert::task_bean(task, &instance))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListTasksReply::Ok(types::ListTasksResponse {
            total: total as i64,
            size: entities.len() as i64,
            entities,
        }))
    }

    /// DeleteAsset: a job, sharing the one-running-job rule with export and import.
    async fn delete(
        &self,
        credential: Credential,
        params: DeleteAssetParams,
        body: types::AssetOperateRequest,
    ) -> Result<DeleteAssetReply, ApiError> {
        let apps = body.apps.into_iter().map(|a| a.id);
        let tasks = body.tasks.into_iter().map(|t| t.id);
        let job_id = self
            .start_asset_job(
                &credential,
                &params.project_id,
                &params.instance_id,
                JobKind::Delete,
                apps,
                tasks,
            )
            .await?;
        Ok(DeleteAssetReply::Ok(types::DeleteAssetResponse {
            job_id: Some(job_id),
        }))
    }

    /// ExportAsset and DeleteAsset: a job over the requested ids, created (or refused by the
    /// one-running-job rule) and started; its id, as the answer's type wants it.
    async fn start_asset_job<J: TryFrom<String>>(
        &self,
        credential: &Credential,
        project: &types::ProjectId,
        instance: &types::InstanceId,
        kind: JobKind,
        apps: impl Iterator<Item = Option<String>>,
        tasks: impl Iterator<Item = Option<String>>,
    ) -> Result<J, ApiError>
    where
        J::Error: std::fmt::Display,
    {
        self.authorize(credential, project)?;
        let request = convert::asset_ids(apps, tasks);
        let job = self.create_job(scope(project, instance), kind).await?;
        let job_id = job.id.clone();
        match kind {
            JobKind::Delete => self.inner.jobs.spawn_delete(job, request),
            _ => self.inner.jobs.spawn_export(job, request),
        }
        J::try_from(job_id).map_err(|e| ApiError::internal(format!("job id: {e}")))
    }

    async fn with_store<T: Send + 'static>(
        &self,
        credential: &Credential,
        project: &types::ProjectId,
        instance: &types::InstanceId,
        work: impl FnOnce(&CachedStore<dyn Store>, &model::Scope) -> Result<T, StoreError>
        + Send
        + 'static,
    ) -> Result<T, ApiError> {
        self.authorize(credential, project)?;
        let store = self.inner.store.clone();
        let scope = scope(project, instance);
        blocking(move || work(&*store, &scope))
            .await?
            .map_err(ApiError::internal)
    }

    async fn export(
        &self,
        credential: Credential,
        params: ExportAssetParams,
        body: types::AssetExportRequest,
    ) -> Result<ExportAssetReply, ApiError> {
        let apps = body.apps.into_iter().map(|a| a.id);
        let tasks = body.tasks.into_iter().map(|t| t.id);
        let job_id = self
            .start_asset_job(
                &credential,
                &params.project_id,
                &params.instance_id,
                JobKind::Export,
                apps,
                tasks,
            )
            .await?;
        Ok(ExportAssetReply::Ok(types::ExportAssetResponse {
            job_id: Some(job_id),
        }))
    }

    async fn download(
        &self,
        credential: Credential,
        params: DownloadAssetArchiveParams,
    ) -> Result<DownloadAssetArchiveReply, ApiError> {
        let archive_id = params.archive_id.to_string();
        let taken = self
            .with_store(
                &credential,
                &params.project_id,
                &params.instance_id,
                move |store, scope| store.take_archive(scope, &archive_id),
            )
            .await?;
        let Some(file_name) = taken else {
            return Err(ApiError::new(
                codes::ROMA_10021,
                "no such archive, or it was already downloaded",
            )
            .with_details(
                "an archive can be downloaded once, from the project and instance of its export",
            ));
        };
        let blobs = self.inner.blobs.clone();
        let key = BlobKey::archive(file_name).map_err(ApiError::internal)?;
        let archive = blobs.open(&key).await.map_err(ApiError::internal)?;
        // Served once: the blob goes now; the stream already open reads to its end.
        let removed = blocking(move || blobs.remove(&key)).await?;
        if let Err(e) = removed {
            let request_id = crate::server::current_request_id().unwrap_or_default();
            tracing::warn!(%request_id, error = %e, "could not remove a downloaded archive");
        }
        // The length goes out as Content-Length (hyper sets it from an exact size hint): the
        // official SDK's progress callback reads it, and without it its default handler reads
        // the whole archive just to log its size.
        Ok(DownloadAssetArchiveReply::Ok(Body::new(ExactLength {
            inner: Body::from_stream(archive.stream),
            length: archive.length,
        })))
    }
}

impl Service {
    /// ImportAsset: the upload is streamed to a blob, the package is read and checked (hostile
    /// input: every refusal is a 400 with the package error's code), and only then is the job
    /// created; the job applies the package, still open, in one transaction.
    async fn import(
        &self,
        credential: Credential,
        params: ImportAssetParams,
        body: ImportAssetForm,
    ) -> Result<ImportAssetReply, ApiError> {
        self.authorize(&credential, &params.project_id)?;
        // Its file name was checked by the generated layer (the document's `x-file-name`).
        let mut part = body.import_asset_request_body;
        let blobs = self.inner.blobs.clone();
        let key = BlobKey::upload(format!("{}.zip", uuid::Uuid::new_v4().simple()))
            .map_err(ApiError::internal)?;
        // Removed when dropped: at the end of this request if it fails, else when the job ends.
        let upload = TempBlob::new(blobs.clone(), key.clone());
        let mut writer = blobs.create(&key).await.map_err(ApiError::internal)?;
        while let Some(chunk) = part.next().await {
            let chunk = chunk?;
            writer.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        writer.shutdown().await.map_err(ApiError::internal)?;
        drop(writer);

        let limits = self.inner.package_limits.clone();
        // Checked in full now (a refusal is a 400 with the package's own code); the package
        // stays open, its task settings read again one by one when the job applies the import.
        let package = blocking(move || {
            let file = blobs.local(&key)?;
            Ok::<_, BlobError>(package::index_package(BufReader::new(file), &limits))
        })
        .await?
        .map_err(ApiError::internal)?
        .map_err(|e| {
            let code = e.error_code();
            if code.status >= 500 {
                ApiError::internal(e)
            } else {
                ApiError::new(code, "the package was refused").with_details(e.to_string())
            }
        })?;
        let request = convert::import_request(&params);
        let job = self
            .create_job(
                scope(&params.project_id, &params.instance_id),
                JobKind::Import,
            )
            .await?;
        let job_id = job.id.clone();
        self.inner.jobs.spawn_import(job, upload, package, request);
        let job_id = job_id
            .try_into()
            .map_err(|e| ApiError::internal(format!("job id: {e}")))?;
        Ok(ImportAssetReply::Ok(types::ImportAssetResponse {
            job_id: Some(job_id),
        }))
    }
}
