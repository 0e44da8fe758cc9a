//! The asset jobs: export and import run in the background after their request has been
//! answered with a job id, and end SUCCEEDED or FAILED with reasons.
//!
//! Jobs are spawned tasks, never work inside a handler (a client that disconnects drops the
//! handler's future, not the job). Blocking work (SQLite, zip, blobs) runs on tokio's blocking
//! pool. Must not: leave a job RUNNING when it returns, or register an archive of a failed job.

use std::collections::BTreeSet;
use std::io::BufReader;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::task::TaskTracker;

use super::blob::{BlobKey, Blobs, LocalFile, TempBlob};
use super::cache::CachedStore;
use super::model::{
    AppAsset, ExportRequest, FeedError, ImportRequest, Job, MAX_ASSETS, Reason, ResourceType,
    TaskAsset, TaskFeed, TaskHead,
};
use super::package::{self, IndexedPackage, ManifestSource};
use super::store::{DeleteOutcome, ImportOutcome, JobOutcome, Store, StoreError};
use crate::contract::codes;

/// An uploaded package as an import job reads it: checked, and open on its local file.
pub type UploadedPackage = IndexedPackage<BufReader<LocalFile>>;

/// Runs jobs and knows which are still running, for a graceful shutdown.
#[derive(Clone)]
pub struct JobRunner {
    store: Arc<CachedStore<dyn Store>>,
    blobs: Arc<dyn Blobs>,
    tracker: TaskTracker,
    min_duration: Duration,
}

impl JobRunner {
    /// A runner writing archives to `blobs`. Every job stays RUNNING for at least
    /// `min_duration` (zero for a real run): an emulator knob, so that clients can test their
    /// polling and the one-running-job rule against jobs that don't end in a millisecond.
    pub fn new(
        store: Arc<CachedStore<dyn Store>>,
        blobs: Arc<dyn Blobs>,
        min_duration: Duration,
    ) -> Self {
        JobRunner {
            store,
            blobs,
            tracker: TaskTracker::new(),
            min_duration,
        }
    }

    /// Starts an export job already created (RUNNING) in the store.
    pub fn spawn_export(&self, job: Job, request: ExportRequest) {
        let (store, blobs) = (self.store.clone(), self.blobs.clone());
        self.spawn(job, move |job| run_export(&*store, &*blobs, job, &request));
    }

    /// Starts a deletion job already created (RUNNING) in the store: `request`'s apps and tasks
    /// go, all or nothing.
    pub fn spawn_delete(&self, job: Job, request: ExportRequest) {
        let store = self.store.clone();
        self.spawn(job, move |job| run_delete(&*store, job, &request));
    }

    /// Starts an import job already created (RUNNING) in the store, of `package`, the upload
    /// `upload` checked and still open. The job owns the upload and removes it when it ends.
    pub fn spawn_import(
        &self,
        job: Job,
        upload: TempBlob,
        mut package: UploadedPackage,
        request: ImportRequest,
    ) {
        let store = self.store.clone();
        self.spawn(job, move |job| {
            let outcome = run_import(&store, job, &mut package, &request);
            drop((package, upload));
            outcome
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
            store.fail_running_jobs(
                crate::service::store::RunningJobs::Own,
                "the server stopped before the job ended",
            )
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
    store: &(impl Store + ?Sized),
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
    store: &(impl Store + ?Sized),
    blobs: &dyn Blobs,
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
    let source = ManifestSource {
        project_id: scope.project_id.clone(),
        instance_id: scope.instance_id.clone(),
    };
    let key = match BlobKey::archive(format!("{archive_id}.zip")) {
        Ok(key) => key,
        Err(e) => {
            tracing::error!(job_id = %job.id, error = %e, "naming an export package failed");
            return Ok(failed(server_reason("the package could not be written")));
        }
    };
    let written = blobs.put_file(&key, &mut |file| {
        package::write_package(
            std::io::BufWriter::new(file),
            source.clone(),
            &app_assets,
            &task_assets,
            Utc::now(),
        )?;
        Ok(())
    });
    if let Err(e) = written {
        tracing::error!(job_id = %job.id, error = %e, "writing an export package failed");
        return Ok(failed(server_reason("the package could not be written")));
    }
    store.set_progress(&job.id, 0.9)?;
    // Registered before the job succeeds, so a client never sees an archive id it can't fetch.
    store.register_archive(scope, &archive_id, &job.id, key.name())?;
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

    fn task(&mut self, index: usize) -> Result<TaskAsset, FeedError> {
        let task = self.inner.task(index)?;
        (self.on_task)(index);
        Ok(task)
    }
}

fn run_import(
    store: &CachedStore<dyn Store>,
    job: &Job,
    package: &mut UploadedPackage,
    request: &ImportRequest,
) -> Result<JobOutcome, StoreError> {
    store.set_progress(&job.id, 0.2)?;
    // Each task applied moves the job on, from 0.2 to 0.95 (the commit is the rest), as polls
    // see it: noted in memory, since the import's transaction holds the store.
    let total = package.tasks.heads().len().max(1) as f64;
    let mut feed = ProgressFeed {
        inner: &mut package.tasks,
        on_task: &|index| store.note_progress(&job.id, 0.2 + 0.75 * (index + 1) as f64 / total),
    };
    match store.apply_import(&job.scope, request, &package.apps, &mut feed)? {
        ImportOutcome::Applied(counts) => {
            tracing::info!(job_id = %job.id, ?counts, "import applied");
            Ok(JobOutcome::Succeeded { archive_id: None })
        }
        ImportOutcome::Rejected(reasons) => Ok(JobOutcome::Failed { reasons }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::model::TaskSlice;

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
