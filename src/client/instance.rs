//! [`InstanceClient`]: the generated [`Client`] bound to one project and instance, with what the
//! generated methods cannot express: retries ([`RetryPolicy`]), waiting for a job to end,
//! importing a file from a path with upload progress, and downloading an archive to a file.
//!
//! Every call goes through a generated method; this module adds no request of its own and must
//! not re-check what the generated types already guarantee.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::retry::{Method, RetryPolicy};
use super::{Client, ClientError, ResponseValue, UploadFile, UploadProgress, types};

/// How [`InstanceClient::wait_for_job`] polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// Give up (with [`ClientError::Timeout`]) when the job still runs after this long.
    pub timeout: Duration,
    /// The first pause between two polls.
    pub first_interval: Duration,
    /// The longest pause between two polls; each pause is 1.5 times the previous one up to this.
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    /// 30 minutes at most, polling after 0.2 s, then less and less often, at least every 5 s.
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(30 * 60),
            first_interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(5),
        }
    }
}

/// How an import treats the package's assets (the ImportAsset query parameters).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `AddNew` (the server's default) or `Merge`.
    pub mode: Option<types::ImportAssetMode>,
    /// Joined in front of every imported app and task name.
    pub prefix: Option<types::ImportAssetPrefix>,
    /// The file name to upload the package under, instead of the file's own (which may break
    /// the server's rule, [`package_name_problem`](crate::contract::package_name_problem)).
    pub upload_name: Option<String>,
}

/// Which tasks [`InstanceClient::list_tasks`] lists.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    /// Name contains this (the page's `task_name`).
    pub name: Option<String>,
    /// Tasks of this application.
    pub app_id: Option<String>,
    /// Started (`true`) or stopped.
    pub running: Option<bool>,
    /// Real-time or scheduled.
    pub task_type: Option<types::ListTasksTaskType>,
    /// Skip this many.
    pub offset: Option<u64>,
    /// At most this many (the server's default is 10).
    pub limit: Option<u64>,
}

/// How far a download has got, as passed to [`InstanceClient::download_to`]'s callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadProgress {
    /// Bytes written to the file so far.
    pub received: u64,
    /// The archive's size, when the server said it.
    pub total: Option<u64>,
}

/// The generated [`Client`] bound to one project and instance, with retries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct InstanceClient {
    client: Client,
    project_id: types::ProjectId,
    instance_id: types::InstanceId,
    retry: RetryPolicy,
}

impl InstanceClient {
    /// Binds `client` to a project and instance, with the default [`RetryPolicy`].
    pub fn new(
        client: Client,
        project_id: types::ProjectId,
        instance_id: types::InstanceId,
    ) -> Self {
        InstanceClient {
            client,
            project_id,
            instance_id,
            retry: RetryPolicy::default(),
        }
    }

    /// Uses `retry` instead of the default policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The generated client, for calls this type does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The project every call goes to.
    pub fn project_id(&self) -> &types::ProjectId {
        &self.project_id
    }

    /// The instance every call goes to.
    pub fn instance_id(&self) -> &types::InstanceId {
        &self.instance_id
    }

    /// ListApps (GET, retried): the apps whose name contains `name`, a page at a time.
    pub async fn list_apps(
        &self,
        name: Option<&types::ListAppsName>,
        offset: Option<u64>,
        limit: Option<u64>,
    ) -> Result<types::ListAppsResponse, ClientError> {
        let (offset, limit) = page(offset, limit)?;
        self.retry
            .run(Method::Get, || async {
                inner(
                    self.client
                        .list_apps(
                            &self.project_id,
                            &self.instance_id,
                            None,
                            None,
                            limit,
                            name,
                            offset,
                            None,
                            None,
                        )
                        .await,
                )
                .await
            })
            .await
    }

    /// ListTasks (GET, retried): one page of the tasks `query` keeps (the reference page's
    /// filters that a command line needs; the generated [`Client::list_tasks`] has them all).
    pub async fn list_tasks(
        &self,
        query: &TaskQuery,
    ) -> Result<types::ListTasksResponse, ClientError> {
        let (offset, limit) = page(query.offset, query.limit)?;
        let name = query
            .name
            .as_deref()
            .map(types::ListTasksTaskName::try_from)
            .transpose()
            .map_err(|e| ClientError::InvalidRequest(format!("task name: {e}")))?;
        let app = query
            .app_id
            .as_deref()
            .map(types::ListTasksSourceAppId::try_from)
            .transpose()
            .map_err(|e| ClientError::InvalidRequest(format!("application id: {e}")))?;
        self.retry
            .run(Method::Get, || async {
                inner(
                    self.client
                        .list_tasks(
                            &self.project_id,
                            &self.instance_id,
                            None,
                            None,
                            limit,
                            None,
                            offset,
                            None,
                            None,
                            app.as_ref(),
                            None,
                            query.running.map(i64::from),
                            None,
                            None,
                            None,
                            None,
                            name.as_ref(),
                            None,
                            query.task_type,
                        )
                        .await,
                )
                .await
            })
            .await
    }

    /// CheckRomaAppDetails (GET, retried): one application.
    pub async fn app(&self, app_id: &types::AppId) -> Result<types::ServerAppInfo, ClientError> {
        self.retry
            .run(Method::Get, || async {
                inner(
                    self.client
                        .check_roma_app_details(&self.project_id, &self.instance_id, app_id)
                        .await,
                )
                .await
            })
            .await
    }

    /// DeleteAsset (POST, retried only if it never reached the server): starts deleting the
    /// given apps and tasks, all or nothing; returns the job id.
    pub async fn delete<A, T>(&self, app_ids: A, task_ids: T) -> Result<types::JobId, ClientError>
    where
        A: IntoIterator,
        A::Item: Into<String>,
        T: IntoIterator,
        T::Item: Into<String>,
    {
        let (apps, tasks) = asset_lists(app_ids, task_ids);
        let body = types::AssetOperateRequest { apps, tasks };
        let answer = self
            .retry
            .run(Method::Post, || async {
                inner(
                    self.client
                        .delete_asset(&self.project_id, &self.instance_id, &body)
                        .await,
                )
                .await
            })
            .await?;
        job_id(answer.job_id.map(String::from))
    }

    /// ExportAsset (POST, retried only if it never reached the server): starts exporting the
    /// given apps and tasks; returns the job id.
    pub async fn export<A, T>(&self, app_ids: A, task_ids: T) -> Result<types::JobId, ClientError>
    where
        A: IntoIterator,
        A::Item: Into<String>,
        T: IntoIterator,
        T::Item: Into<String>,
    {
        let (apps, tasks) = asset_lists(app_ids, task_ids);
        let body = types::AssetExportRequest { apps, tasks };
        let answer = self
            .retry
            .run(Method::Post, || async {
                inner(
                    self.client
                        .export_asset(&self.project_id, &self.instance_id, &body)
                        .await,
                )
                .await
            })
            .await?;
        job_id(answer.job_id.map(String::from))
    }

    /// ImportAsset (POST, retried only if it never reached the server): uploads the package at
    /// `path`, streaming it, and calls `progress` as its bytes go out; returns the job id.
    ///
    /// The server wants the uploaded file name (`options.upload_name`, else the path's last
    /// component) to follow the document's rule ([`package_name_problem`](crate::contract::package_name_problem),
    /// ROMA.10013): it is checked here, before anything is sent, as is that `path` is a file.
    pub async fn import_file(
        &self,
        path: impl AsRef<Path>,
        options: &ImportOptions,
        progress: impl Fn(UploadProgress) + Send + Sync + 'static,
    ) -> Result<types::JobId, ClientError> {
        let path = path.as_ref();
        let metadata = tokio::fs::metadata(path)
            .await
            .map_err(|e| ClientError::io(format!("reading {}", path.display()), e))?;
        if metadata.is_dir() {
            return Err(ClientError::InvalidRequest(format!(
                "{} is a directory; import a package file (.zip)",
                path.display()
            )));
        }
        let own_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let upload_name = options.upload_name.clone().or(own_name).unwrap_or_default();
        if let Some(problem) = crate::contract::package_name_problem(&upload_name) {
            let hint = if options.upload_name.is_some() {
                ""
            } else {
                "; upload it under another name (CLI: --upload-name NAME.zip)"
            };
            return Err(ClientError::InvalidRequest(format!("{problem}{hint}")));
        }
        let progress = Arc::new(progress);
        let answer = self
            .retry
            .run(Method::Post, || async {
                // A fresh reader per attempt: a retry happens only if nothing was sent.
                let progress = Arc::clone(&progress);
                let file = UploadFile::from_path(path)
                    .await
                    .map_err(|e| ClientError::io(format!("opening {}", path.display()), e))?
                    .with_file_name(upload_name.clone())
                    .with_progress(move |p| progress(p));
                inner(
                    self.client
                        .import_asset(
                            &self.project_id,
                            &self.instance_id,
                            options.mode,
                            options.prefix.as_ref(),
                            file,
                        )
                        .await,
                )
                .await
            })
            .await?;
        job_id(answer.job_id.map(String::from))
    }

    /// CheckAssetJobStatus (GET, retried).
    pub async fn job_status(
        &self,
        job_id: &types::JobId,
    ) -> Result<types::CheckAssetJobStatusResponse, ClientError> {
        self.retry
            .run(Method::Get, || async {
                inner(
                    self.client
                        .check_asset_job_status(&self.project_id, &self.instance_id, job_id)
                        .await,
                )
                .await
            })
            .await
    }

    /// Polls the job until it ends and returns its status if it SUCCEEDED; a FAILED job is
    /// [`ClientError::JobFailed`], carrying its status and reasons. The easy path: an `Ok` is a
    /// job that did what was asked. [`wait_for_job`](Self::wait_for_job) returns either status.
    pub async fn wait_for_success(
        &self,
        job_id: &types::JobId,
        options: &WaitOptions,
        on_poll: impl FnMut(&types::CheckAssetJobStatusResponse),
    ) -> Result<types::CheckAssetJobStatusResponse, ClientError> {
        let status = self.wait_for_job(job_id, options, on_poll).await?;
        match status.status {
            types::CheckAssetJobStatusResponseStatus::Succeeded => Ok(status),
            _ => Err(ClientError::JobFailed(Box::new(status))),
        }
    }

    /// Polls the job until it is no longer RUNNING and returns its last status, SUCCEEDED or
    /// FAILED (check `status`; a FAILED job's `reasons` say why; see
    /// [`wait_for_success`](Self::wait_for_success) to have a FAILED job be an error). `on_poll` sees every status
    /// read, the last one included. Pauses grow as [`WaitOptions`] says; past its `timeout` the
    /// wait ends with [`ClientError::Timeout`] (the job itself goes on).
    pub async fn wait_for_job(
        &self,
        job_id: &types::JobId,
        options: &WaitOptions,
        mut on_poll: impl FnMut(&types::CheckAssetJobStatusResponse),
    ) -> Result<types::CheckAssetJobStatusResponse, ClientError> {
        let started = tokio::time::Instant::now();
        let deadline = started + options.timeout;
        let mut interval = options.first_interval;
        loop {
            let status = self.job_status(job_id).await?;
            on_poll(&status);
            if status.status != types::CheckAssetJobStatusResponseStatus::Running {
                return Ok(status);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    job_id: job_id.to_string(),
                    waited: now - started,
                });
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            interval = interval.mul_f64(1.5).min(options.max_interval);
        }
    }

    /// DownloadAssetArchive (GET, retried until the answer starts): streams the archive to
    /// `path` through `path.part`, renamed when complete, never holding it in memory. Returns the
    /// bytes written.
    ///
    /// The server serves an archive once, so an existing `path` is refused *before* the request
    /// unless `overwrite` is set. A transfer cut half-way is not resumed and leaves no file. A
    /// retried request whose first attempt timed out after the server had started serving may
    /// find the archive gone (ROMA.10021): the one download was spent on the lost answer.
    pub async fn download_to(
        &self,
        archive_id: &types::ArchiveId,
        path: impl AsRef<Path>,
        overwrite: bool,
        mut progress: impl FnMut(DownloadProgress),
    ) -> Result<u64, ClientError> {
        let path = path.as_ref();
        let refuse_existing = || -> Result<(), ClientError> {
            if !overwrite && path.exists() {
                return Err(ClientError::io(
                    format!("{} exists; not overwriting it", path.display()),
                    std::io::ErrorKind::AlreadyExists.into(),
                ));
            }
            Ok(())
        };
        refuse_existing()?;
        let part = part_path(path)?;
        let answer = self
            .retry
            .run(Method::Get, || async {
                match self
                    .client
                    .download_asset_archive(&self.project_id, &self.instance_id, archive_id)
                    .await
                {
                    Ok(answer) => Ok(answer),
                    Err(e) => Err(ClientError::from_generated(e).await),
                }
            })
            .await?;
        let total = answer.content_length();
        let written = write_stream(&part, answer.into_inner_stream(), total, &mut progress).await;
        let written = match written {
            Ok(written) => written,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e);
            }
        };
        if let Err(e) = refuse_existing() {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        tokio::fs::rename(&part, path).await.map_err(|e| {
            ClientError::io(
                format!("renaming {} to {}", part.display(), path.display()),
                e,
            )
        })?;
        Ok(written)
    }
}

/// A generated method's answer, or its error converted with the body read.
async fn inner<T>(
    result: Result<ResponseValue<T>, progenitor_client::Error<types::ErrorResp>>,
) -> Result<T, ClientError> {
    match result {
        Ok(answer) => Ok(answer.into_inner()),
        Err(e) => Err(ClientError::from_generated(e).await),
    }
}

/// The ids the list operations take: offset as the generated `i64`, limit as `NonZeroU64`.
fn page(
    offset: Option<u64>,
    limit: Option<u64>,
) -> Result<(Option<i64>, Option<std::num::NonZeroU64>), ClientError> {
    let offset = offset
        .map(i64::try_from)
        .transpose()
        .map_err(|_| ClientError::InvalidRequest("offset is too large".into()))?;
    let limit = match limit {
        None => None,
        Some(limit) => Some(
            std::num::NonZeroU64::new(limit)
                .ok_or_else(|| ClientError::InvalidRequest("limit must be at least 1".into()))?,
        ),
    };
    Ok((offset, limit))
}

/// The `apps` and `tasks` items of an export or delete request.
fn asset_lists<A, T>(
    app_ids: A,
    task_ids: T,
) -> (
    Vec<types::AssetExportRequestApps>,
    Vec<types::AssetExportRequestTasks>,
)
where
    A: IntoIterator,
    A::Item: Into<String>,
    T: IntoIterator,
    T::Item: Into<String>,
{
    let apps = app_ids
        .into_iter()
        .map(|id| types::AssetExportRequestApps {
            id: Some(id.into()),
        })
        .collect();
    let tasks = task_ids
        .into_iter()
        .map(|id| types::AssetExportRequestTasks {
            id: Some(id.into()),
        })
        .collect();
    (apps, tasks)
}

/// The job id of an export or import answer (optional in the document, always sent).
fn job_id(id: Option<String>) -> Result<types::JobId, ClientError> {
    let id = id.ok_or_else(|| ClientError::InvalidResponse("the answer has no job_id".into()))?;
    types::JobId::try_from(id).map_err(|e| ClientError::InvalidResponse(format!("job_id: {e}")))
}

/// `path` with `.part` appended to its file name.
fn part_path(path: &Path) -> Result<PathBuf, ClientError> {
    let name = path.file_name().ok_or_else(|| {
        ClientError::io(
            format!("{} does not name a file", path.display()),
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    let mut part = name.to_os_string();
    part.push(".part");
    Ok(path.with_file_name(part))
}

async fn write_stream(
    part: &Path,
    mut stream: impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    total: Option<u64>,
    progress: &mut impl FnMut(DownloadProgress),
) -> Result<u64, ClientError> {
    let context = |what: &str| format!("{what} {}", part.display());
    let mut file = tokio::fs::File::create(part)
        .await
        .map_err(|e| ClientError::io(context("creating"), e))?;
    let mut received = 0u64;
    progress(DownloadProgress { received, total });
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ClientError::Transport)?;
        file.write_all(&chunk)
            .await
            .map_err(|e| ClientError::io(context("writing"), e))?;
        received += chunk.len() as u64;
        progress(DownloadProgress { received, total });
    }
    file.flush()
        .await
        .map_err(|e| ClientError::io(context("writing"), e))?;
    file.sync_all()
        .await
        .map_err(|e| ClientError::io(context("syncing"), e))?;
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_file_sits_beside_the_target() {
        assert_eq!(
            part_path(Path::new("out/assets.zip")).unwrap(),
            PathBuf::from("out/assets.zip.part")
        );
        assert!(part_path(Path::new("/")).is_err());
    }

    #[test]
    fn a_zero_limit_is_refused_before_sending() {
        assert!(page(None, Some(0)).is_err());
        assert_eq!(page(Some(5), Some(10)).unwrap().0, Some(5));
    }
}
