//! The asset jobs: export and import run in the background after their request has been
//! answered with a job id, and end SUCCEEDED or FAILED with reasons.
//!
//! Jobs are spawned tasks, never work inside a handler (a client that disconnects drops the
//! handler's future, not the job). Blocking work (SQLite, zip) runs on tokio's blocking pool.
//! Must not: leave a job RUNNING when it returns, or register an archive of a failed job.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::task::TaskTracker;

use super::model::{AppAsset, Job, Reason, ResourceType, Scope, TaskAsset, TaskHead};
use super::package::{self, ManifestSource, PackageIndex, PackageLimits, PackageTasks};
use super::store::{
    DeleteOutcome, ImportMode, ImportOutcome, JobOutcome, Store, StoreError, TaskFeed,
};
use crate::contract::codes;

/// At most this many applications and tasks in one job: the document's `x-max-combined-items`
/// of an export request (the seed pages' 100), applied to imports too.
pub const MAX_ASSETS: usize = crate::contract::limits::ASSET_EXPORT_REQUEST_MAX_COMBINED_ITEMS;

/// Runs jobs and knows which are still running, for a graceful shutdown.
#[derive(Clone)]
pub struct JobRunner {
    store: Arc<dyn Store>,
    archive_dir: PathBuf,
    tracker: TaskTracker,
    min_duration: Duration,
}

/// What an export job was asked for.
#[derive(Debug, Clone, Default)]
pub struct ExportRequest {
    /// Requested application ids, in request order, without duplicates.
    pub app_ids: Vec<String>,
    /// Requested task ids.
    pub task_ids: Vec<String>,
    /// How many request items had no `id` (the document allows it; the job then fails).
    pub items_without_id: usize,
}

impl JobRunner {
    /// A runner writing archives under `archive_dir`. Every job stays RUNNING for at least
    /// `min_duration` (zero for a real run): an emulator knob, so that clients can test their
    /// polling and the one-running-job rule against jobs that don't end in a millisecond.
    pub fn new(store: Arc<dyn Store>, archive_dir: PathBuf, min_duration: Duration) -> Self {
        JobRunner {
            store,
            archive_dir,
            tracker: TaskTracker::new(),
            min_duration,
        }
    }

    /// Starts an export job already created (RUNNING) in the store.
    pub fn spawn_export(&self, job: Job, request: ExportRequest) {
        let (store, dir) = (self.store.clone(), self.archive_dir.clone());
        self.spawn(job, move |job| run_export(&*store, &dir, job, &request));
    }

    /// Starts a deletion job already created (RUNNING) in the store: `request`'s apps and tasks
    /// go, all or nothing.
    pub fn spawn_delete(&self, job: Job, request: ExportRequest) {
        let store = self.store.clone();
        self.spawn(job, move |job| run_delete(&*store, job, &request));
    }

    /// Starts an import job already created (RUNNING) in the store, of the package `upload`
    /// (checked before as `index`). The job owns the file and removes it when it ends.
    pub fn spawn_import(
        &self,
        job: Job,
        upload: TempFile,
        index: PackageIndex,
        limits: PackageLimits,
        mode: ImportMode,
        prefix: String,
    ) {
        let store = self.store.clone();
        self.spawn(job, move |job| {
            run_import(&*store, job, &upload, &index, &limits, mode, &prefix)
        });
    }

    fn spawn<F>(&self, job: Job, work: F)
    where
        F: FnOnce(&Job) -> Result<JobOutcome, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        let min_duration = self.min_duration;
        self.tracker.spawn(async move {
            // The emulator's delay comes before the work, not after: a server killed while a job
            // waits leaves the instance untouched, and the restart's FAILED is then the truth.
            tokio::time::sleep(min_duration).await;
            let job_id = job.id.clone();
            let ran = tokio::task::spawn_blocking(move || {
                let outcome = work(&job);
                (job, outcome)
            })
            .await;
            let outcome = match ran {
                Ok((_, Ok(outcome))) => outcome,
                Ok((_, Err(e))) => {
                    tracing::error!(job_id = %job_id, error = %e, "asset job failed on a storage error");
                    failed(server_reason("storage error; see the server log"))
                }
                Err(e) => {
                    tracing::error!(job_id = %job_id, error = %e, "asset job panicked");
                    failed(server_reason("the job crashed; see the server log"))
                }
            };
            let store2 = store.clone();
            let id2 = job_id.clone();
            let finished = tokio::task::spawn_blocking(move || store2.finish_job(&id2, outcome)).await;
            match finished {
                Ok(Ok(())) => tracing::info!(job_id = %job_id, "asset job ended"),
                Ok(Err(e)) => tracing::error!(job_id = %job_id, error = %e, "could not record the end of an asset job"),
                Err(e) => tracing::error!(job_id = %job_id, error = %e, "recording the end of an asset job panicked"),
            }
        });
    }

    /// Stops accepting jobs and waits up to `grace` for the running ones; any still running
    /// then is marked FAILED. Returns how many were marked.
    pub async fn shutdown(&self, grace: Duration) -> u64 {
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
        {
            return 0;
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            store.fail_running_jobs("the server stopped before the job ended")
        })
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0)
    }
}

fn failed(reason: Reason) -> JobOutcome {
    JobOutcome::Failed {
        reasons: vec![reason],
    }
}

fn server_reason(message: &str) -> Reason {
    Reason::new(
        ResourceType::Application,
        "server",
        codes::ROMA_10010.code,
        message,
    )
}

/// A deletion: ids without an `id` field are reasons; the store checks the rest and deletes in
/// one transaction, or changes nothing.
fn run_delete(
    store: &dyn Store,
    job: &Job,
    request: &ExportRequest,
) -> Result<JobOutcome, StoreError> {
    if request.items_without_id > 0 {
        return Ok(failed(Reason::new(
            ResourceType::Application,
            "(no id)",
            codes::ROMA_10041.code,
            &format!("{} requested item(s) have no id", request.items_without_id),
        )));
    }
    Ok(
        match store.delete_assets(&job.scope, &request.app_ids, &request.task_ids)? {
            DeleteOutcome::Deleted(..) => JobOutcome::Succeeded { archive_id: None },
            DeleteOutcome::Rejected(reasons) => JobOutcome::Failed { reasons },
        },
    )
}

fn run_export(
    store: &dyn Store,
    archive_dir: &std::path::Path,
    job: &Job,
    request: &ExportRequest,
) -> Result<JobOutcome, StoreError> {
    let scope = &job.scope;
    store.set_progress(&job.id, 0.1)?;
    let mut reasons = Vec::new();
    if request.items_without_id > 0 {
        reasons.push(Reason::new(
            ResourceType::Application,
            "(no id)",
            codes::ROMA_10041.code,
            &format!("{} requested item(s) have no id", request.items_without_id),
        ));
    }
    let mut apps = store.apps_by_ids(scope, &request.app_ids)?;
    let tasks = store.tasks_by_ids(scope, &request.task_ids)?;
    let found_apps: BTreeSet<&str> = apps.iter().map(|a| a.id.as_str()).collect();
    let found_tasks: BTreeSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    for id in request
        .app_ids
        .iter()
        .filter(|id| !found_apps.contains(id.as_str()))
    {
        reasons.push(Reason::new(
            ResourceType::Application,
            id,
            codes::ROMA_10041.code,
            "no application with this id",
        ));
    }
    for id in request
        .task_ids
        .iter()
        .filter(|id| !found_tasks.contains(id.as_str()))
    {
        reasons.push(Reason::new(
            ResourceType::Task,
            id,
            codes::ROMA_10041.code,
            "no task with this id",
        ));
    }
    // A task is exported with its application (ours: a package is importable on its own).
    let missing_owners: Vec<String> = tasks
        .iter()
        .map(|t| t.app_id.clone())
        .filter(|id| !apps.iter().any(|a| &a.id == id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing_owners.is_empty() {
        apps.extend(store.apps_by_ids(scope, &missing_owners)?);
    }
    if apps.len() + tasks.len() > MAX_ASSETS {
        reasons.push(Reason::new(
            ResourceType::Application,
            "package",
            codes::ROMA_10036.code,
            &format!(
                "{} assets with the apps of the tasks; max {MAX_ASSETS}",
                apps.len() + tasks.len()
            ),
        ));
    }
    if !reasons.is_empty() {
        return Ok(JobOutcome::Failed { reasons });
    }
    store.set_progress(&job.id, 0.4)?;

    let app_assets: Vec<AppAsset> = apps
        .iter()
        .map(|a| AppAsset {
            id: a.id.clone(),
            name: a.name.clone(),
            description: a.description.clone(),
        })
        .collect();
    let task_assets: Vec<TaskAsset> = tasks
        .iter()
        .map(|t| TaskAsset {
            id: t.id.clone(),
            name: t.name.clone(),
            app_id: t.app_id.clone(),
            task_type: t.task_type,
            task_tag: t.task_tag.clone(),
            source: t.source.clone(),
            target: t.target.clone(),
        })
        .collect();
    let archive_id = uuid::Uuid::new_v4().simple().to_string();
    let file_name = format!("{archive_id}.zip");
    let partial = archive_dir.join(format!("{archive_id}.zip.part"));
    let written = (|| -> Result<(), String> {
        let file = std::fs::File::create(&partial)
            .map_err(|e| format!("creating {}: {e}", partial.display()))?;
        let source = ManifestSource {
            project_id: scope.project_id.clone(),
            instance_id: scope.instance_id.clone(),
        };
        package::write_package(
            std::io::BufWriter::new(file),
            source,
            &app_assets,
            &task_assets,
            Utc::now(),
        )
        .map_err(|e| e.to_string())?;
        std::fs::rename(&partial, archive_dir.join(&file_name))
            .map_err(|e| format!("renaming the archive: {e}"))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        tracing::error!(job_id = %job.id, error = %e, "writing an export package failed");
        return Ok(failed(server_reason("the package could not be written")));
    }
    store.set_progress(&job.id, 0.9)?;
    // Registered before the job succeeds, so a client never sees an archive id it can't fetch.
    store.register_archive(scope, &archive_id, &job.id, &file_name)?;
    Ok(JobOutcome::Succeeded {
        archive_id: Some(archive_id),
    })
}

/// A [`TaskFeed`] that reports each task it hands out.
struct ProgressFeed<'a> {
    inner: &'a mut dyn TaskFeed,
    on_task: &'a dyn Fn(usize),
}

impl TaskFeed for ProgressFeed<'_> {
    fn heads(&self) -> &[TaskHead] {
        self.inner.heads()
    }

    fn task(&mut self, index: usize) -> Result<TaskAsset, StoreError> {
        let task = self.inner.task(index)?;
        (self.on_task)(index);
        Ok(task)
    }
}

fn run_import(
    store: &dyn Store,
    job: &Job,
    upload: &TempFile,
    index: &PackageIndex,
    limits: &PackageLimits,
    mode: ImportMode,
    prefix: &str,
) -> Result<JobOutcome, StoreError> {
    store.set_progress(&job.id, 0.2)?;
    let mut tasks = match PackageTasks::open(&upload.0, index, limits) {
        Ok(tasks) => tasks,
        Err(e) => {
            tracing::error!(job_id = %job.id, error = %e, "re-opening an uploaded package failed");
            return Ok(failed(server_reason(
                "the uploaded package could not be read again",
            )));
        }
    };
    // Each task applied moves the job on, from 0.2 to 0.95 (the commit is the rest), as polls
    // see it: noted in memory, since the import's transaction holds the store.
    let total = tasks.heads().len().max(1) as f64;
    let mut feed = ProgressFeed {
        inner: &mut tasks,
        on_task: &|index| store.note_progress(&job.id, 0.2 + 0.75 * (index + 1) as f64 / total),
    };
    match store.apply_import_feed(&job.scope, mode, prefix, &index.apps, &mut feed)? {
        ImportOutcome::Applied(counts) => {
            tracing::info!(job_id = %job.id, ?counts, "import applied");
            Ok(JobOutcome::Succeeded { archive_id: None })
        }
        ImportOutcome::Rejected(reasons) => Ok(JobOutcome::Failed { reasons }),
    }
}

/// A temporary file removed when dropped, however the request or job that owns it ends.
#[derive(Debug)]
pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The scope of a request.
pub fn scope(project_id: &str, instance_id: &str) -> Scope {
    Scope {
        project_id: project_id.to_string(),
        instance_id: instance_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::TaskSlice;

    #[test]
    fn the_progress_feed_reports_every_task_it_hands_out() {
        let task = |id: &str| TaskAsset {
            id: id.into(),
            name: id.into(),
            app_id: "a".into(),
            task_type: Default::default(),
            task_tag: String::new(),
            source: serde_json::json!({}),
            target: serde_json::json!({}),
        };
        let tasks = [task("t1"), task("t2"), task("t3")];
        let mut slice = TaskSlice::new(&tasks);
        let seen = std::cell::RefCell::new(Vec::new());
        let mut feed = ProgressFeed {
            inner: &mut slice,
            on_task: &|index| seen.borrow_mut().push(index),
        };
        assert_eq!(feed.heads().len(), 3);
        for (index, task) in tasks.iter().enumerate() {
            assert_eq!(feed.task(index).unwrap().id, task.id);
        }
        assert_eq!(*seen.borrow(), [0, 1, 2]);
    }
}
