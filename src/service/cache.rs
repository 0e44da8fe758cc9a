//! Job states in memory, written through to the store: CheckAssetJobStatus is the call clients
//! repeat most (they poll it), and answering it from SQLite cost a blocking-pool hand-off, a lock
//! and a query per poll (the reference server answered 0.24× the status requests of a constant
//! handler; see BENCHMARKS.md). [`CachedStore`] wraps any [`Store`] and keeps the jobs it saw,
//! so [`CachedStore::cached_job`] answers without blocking. Its two methods beyond the trait
//! (that one, and [`CachedStore::note_progress`] for an import's steps) are the cache's own: the
//! service and the job runner hold a `CachedStore`, not a bare `Store`.
//!
//! The store stays the source of truth: every job write goes to it first, and the cached copy is
//! then read back from it, both under the cache's lock, so a status request never sees the two
//! disagree (timestamps included). Ended jobs never
//! change, so they are also cached when read. A RUNNING job is cached only when created here:
//! one created by another process on the same data directory would change behind our back.
//! Must not: answer for a job of another scope, or grow without bound.
//!
//! Lock order: the job map's lock, then the store's (a write through holds the first while it
//! writes), then `noted`. An import notes its progress while it holds the store's lock (inside
//! its transaction), so [`CachedStore::note_progress`] takes `noted` alone, never the job map's:
//! taking it there deadlocked the server when another job's write through waited for the store
//! meanwhile (found by the load test, `cargo xtask bench`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, RwLock};

use super::model::{App, AppAsset, ImportRequest, Job, JobKind, JobStatus, Scope, Task, TaskFeed};
use super::store::{
    AppFilter, DeleteOutcome, ImportOutcome, InstanceRow, JobOutcome, RunningJobs, Store,
    StoreError, TaskFilter,
};

/// How many jobs [`CachedStore`] keeps by default (the oldest go first).
pub const DEFAULT_CAPACITY: usize = 1024;

/// A [`Store`] whose jobs are also kept in memory. See the module comment.
///
/// `S` may be unsized: an `Arc<CachedStore<SqliteStore>>` coerces to the service's
/// `Arc<CachedStore<dyn Store>>`.
pub struct CachedStore<S: ?Sized> {
    jobs: RwLock<Jobs>,
    /// Progress noted for running jobs (by id) since their last write through, shown by
    /// [`CachedStore::cached_job`] while they run. Its own lock: see the lock order above.
    noted: Mutex<HashMap<String, f64>>,
    inner: S,
}

#[derive(Default)]
struct Jobs {
    by_id: HashMap<String, Job>,
    /// Insertion order, for eviction.
    order: VecDeque<String>,
    capacity: usize,
}

impl Jobs {
    fn put(&mut self, job: Job) {
        if !self.by_id.contains_key(&job.id) {
            self.order.push_back(job.id.clone());
        }
        self.by_id.insert(job.id.clone(), job);
        while self.by_id.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.by_id.remove(&oldest);
                }
                None => break,
            }
        }
    }

    fn forget(&mut self, job_id: &str) {
        // The id stays in `order` until it comes up for eviction; removing an absent key then
        // is harmless, and `put` does not queue it twice while it is present.
        self.by_id.remove(job_id);
    }
}

impl<S: Store> CachedStore<S> {
    /// Wraps `inner`, keeping up to [`DEFAULT_CAPACITY`] jobs.
    pub fn new(inner: S) -> Self {
        Self::with_capacity(inner, DEFAULT_CAPACITY)
    }

    /// Wraps `inner`, keeping up to `capacity` jobs (at least one).
    pub fn with_capacity(inner: S, capacity: usize) -> Self {
        CachedStore {
            inner,
            noted: Mutex::default(),
            jobs: RwLock::new(Jobs {
                capacity: capacity.max(1),
                ..Jobs::default()
            }),
        }
    }
}

impl<S: Store + ?Sized> CachedStore<S> {
    /// The job, if it is held in memory: answered without blocking, so callable on the async
    /// request path. `None` means "ask [`Store::get_job`]", not "no such job".
    pub fn cached_job(&self, scope: &Scope, job_id: &str) -> Option<Job> {
        let jobs = self.jobs.read().unwrap_or_else(|e| e.into_inner());
        let mut job = jobs
            .by_id
            .get(job_id)
            .filter(|job| &job.scope == scope)
            .cloned()?;
        let mut noted = self.noted();
        if job.status == JobStatus::Running {
            if let Some(progress) = noted.get(job_id) {
                job.progress = *progress;
            }
        } else {
            // A note that came after the job's end (nothing shows it): not kept.
            noted.remove(job_id);
        }
        Some(job)
    }

    /// A running job's progress as polls should see it now, in memory only: for the steps of
    /// a job that runs inside a transaction (an import's tasks), where a store write would wait
    /// for that transaction. [`Store::set_progress`] and the job's end are what is stored.
    /// Never waits for the job map (see the lock order in the module comment); shown only while
    /// the job runs, and dropped at its next write through.
    pub fn note_progress(&self, job_id: &str, progress: f64) {
        let progress = if progress.is_nan() {
            0.0
        } else {
            progress.clamp(0.0, 1.0)
        };
        self.noted().insert(job_id.to_string(), progress);
    }

    fn noted(&self) -> std::sync::MutexGuard<'_, HashMap<String, f64>> {
        // Every update is one insert or remove: a poisoned lock still holds a consistent map.
        self.noted.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Jobs> {
        // A panic while holding the lock leaves a consistent map (every update is one insert or
        // remove), so a poisoned lock is still usable.
        self.jobs.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes to job `job_id` through `write`, then replaces its cached copy by the store's (or
    /// drops it if it cannot be read back), all under the cache's lock: no status request sees
    /// the store changed and the cache not yet, or the other way round. That matters: once a
    /// job has ended in the store, the next job of its project may start, and a client must not
    /// then still be told the first one is RUNNING.
    fn write_through<T>(
        &self,
        job_id: &str,
        write: impl FnOnce(&S) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut jobs = self.write();
        let result = write(&self.inner);
        // What was noted is superseded by what is now stored (and gone once the job has ended).
        self.noted().remove(job_id);
        if let Some(scope) = jobs.by_id.get(job_id).map(|j| j.scope.clone()) {
            match self.inner.get_job(&scope, job_id) {
                Ok(Some(job)) => jobs.put(job),
                _ => jobs.forget(job_id),
            }
        }
        result
    }
}

impl<S: Store + ?Sized> Store for CachedStore<S> {
    fn list_apps(
        &self,
        scope: &Scope,
        filter: &AppFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<App>), StoreError> {
        self.inner.list_apps(scope, filter, offset, limit)
    }

    fn list_tasks(
        &self,
        scope: &Scope,
        filter: &TaskFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Task>), StoreError> {
        self.inner.list_tasks(scope, filter, offset, limit)
    }

    fn delete_assets(
        &self,
        scope: &Scope,
        app_ids: &[String],
        task_ids: &[String],
    ) -> Result<DeleteOutcome, StoreError> {
        self.inner.delete_assets(scope, app_ids, task_ids)
    }

    fn list_instances(
        &self,
        project_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<InstanceRow>), StoreError> {
        self.inner.list_instances(project_id, offset, limit)
    }

    fn running_job(&self, project_id: &str) -> Result<Option<Job>, StoreError> {
        self.inner.running_job(project_id)
    }

    fn apps_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<App>, StoreError> {
        self.inner.apps_by_ids(scope, ids)
    }

    fn tasks_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<Task>, StoreError> {
        self.inner.tasks_by_ids(scope, ids)
    }

    fn create_job(&self, scope: &Scope, kind: JobKind) -> Result<Job, StoreError> {
        // The store can only create it once the project's previous job has ended there, that is
        // inside that job's `write_through`; the cache's lock, needed here, is free only once
        // the cache shows that end too. So no client sees both RUNNING.
        let job = self.inner.create_job(scope, kind)?;
        self.write().put(job.clone());
        Ok(job)
    }

    fn set_progress(&self, job_id: &str, progress: f64) -> Result<(), StoreError> {
        self.write_through(job_id, |store| store.set_progress(job_id, progress))
    }

    fn finish_job(&self, job_id: &str, outcome: JobOutcome) -> Result<(), StoreError> {
        self.write_through(job_id, |store| store.finish_job(job_id, outcome))
    }

    fn get_job(&self, scope: &Scope, job_id: &str) -> Result<Option<Job>, StoreError> {
        if let Some(job) = self.cached_job(scope, job_id) {
            return Ok(Some(job));
        }
        let job = self.inner.get_job(scope, job_id)?;
        if let Some(job) = &job
            && job.status != JobStatus::Running
        {
            self.write().put(job.clone());
        }
        Ok(job)
    }

    fn apply_import(
        &self,
        scope: &Scope,
        request: &ImportRequest,
        apps: &[AppAsset],
        tasks: &mut dyn TaskFeed,
    ) -> Result<ImportOutcome, StoreError> {
        self.inner.apply_import(scope, request, apps, tasks)
    }

    fn insert_assets(&self, scope: &Scope, apps: &[App], tasks: &[Task]) -> Result<(), StoreError> {
        self.inner.insert_assets(scope, apps, tasks)
    }

    fn register_archive(
        &self,
        scope: &Scope,
        archive_id: &str,
        job_id: &str,
        path: &str,
    ) -> Result<(), StoreError> {
        self.inner.register_archive(scope, archive_id, job_id, path)
    }

    fn take_archive(&self, scope: &Scope, archive_id: &str) -> Result<Option<String>, StoreError> {
        self.inner.take_archive(scope, archive_id)
    }

    fn fail_running_jobs(&self, which: RunningJobs, reason: &str) -> Result<u64, StoreError> {
        // Under the lock, as in `write_through`. Whatever happened, no cached RUNNING job can be
        // trusted now; ended ones are read back (and cached again) on their next request.
        let mut jobs = self.write();
        let result = self.inner.fail_running_jobs(which, reason);
        self.noted().clear();
        let running: Vec<String> = jobs
            .by_id
            .values()
            .filter(|j| j.status == JobStatus::Running)
            .map(|j| j.id.clone())
            .collect();
        for id in running {
            jobs.forget(&id);
        }
        result
    }

    fn renew_leases(&self) -> Result<Vec<String>, StoreError> {
        // A cached RUNNING job of ours whose lease was not renewed has been ended elsewhere (it
        // had expired): forget it, so that its next poll reads the store.
        let mut jobs = self.write();
        let renewed = self.inner.renew_leases()?;
        let stale: Vec<String> = jobs
            .by_id
            .values()
            .filter(|j| j.status == JobStatus::Running && !renewed.contains(&j.id))
            .map(|j| j.id.clone())
            .collect();
        for id in stale {
            jobs.forget(&id);
        }
        Ok(renewed)
    }

    fn lease(&self) -> std::time::Duration {
        self.inner.lease()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::model::{Reason, ResourceType};
    use crate::service::store::SqliteStore;

    fn scope(project: &str) -> Scope {
        Scope {
            project_id: project.to_string(),
            instance_id: "i".to_string(),
        }
    }

    fn store(capacity: usize) -> (tempfile::TempDir, CachedStore<SqliteStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = CachedStore::with_capacity(SqliteStore::open(dir.path()).unwrap(), capacity);
        (dir, store)
    }

    #[test]
    fn a_created_job_is_answered_from_memory_exactly_as_stored() {
        let (_dir, store) = store(16);
        let job = store.create_job(&scope("p"), JobKind::Export).unwrap();
        let cached = store.cached_job(&scope("p"), &job.id).unwrap();
        assert_eq!(
            cached,
            store.inner.get_job(&scope("p"), &job.id).unwrap().unwrap()
        );
        assert!(
            store.cached_job(&scope("other"), &job.id).is_none(),
            "another project's job is never answered"
        );
    }

    #[test]
    fn noted_progress_shows_to_polls_while_the_job_runs_and_never_after() {
        let (_dir, store) = store(16);
        let job = store.create_job(&scope("p"), JobKind::Import).unwrap();
        store.note_progress(&job.id, 0.6);
        assert_eq!(
            store.cached_job(&scope("p"), &job.id).unwrap().progress,
            0.6
        );
        store
            .finish_job(&job.id, JobOutcome::Succeeded { archive_id: None })
            .unwrap();
        store.note_progress(&job.id, 0.3);
        assert_eq!(
            store.cached_job(&scope("p"), &job.id).unwrap().progress,
            1.0
        );
    }

    #[test]
    fn progress_and_the_end_of_a_job_show_at_once_with_the_stored_times() {
        let (_dir, store) = store(16);
        let job = store.create_job(&scope("p"), JobKind::Import).unwrap();
        store.set_progress(&job.id, 0.5).unwrap();
        assert_eq!(
            store.cached_job(&scope("p"), &job.id).unwrap().progress,
            0.5
        );
        let reason = Reason::new(ResourceType::Task, "t", "ROMA.10040", "exists");
        store
            .finish_job(
                &job.id,
                JobOutcome::Failed {
                    reasons: vec![reason.clone()],
                },
            )
            .unwrap();
        let cached = store.cached_job(&scope("p"), &job.id).unwrap();
        let stored = store.inner.get_job(&scope("p"), &job.id).unwrap().unwrap();
        assert_eq!(cached, stored);
        assert_eq!(cached.status, JobStatus::Failed);
        assert_eq!(cached.reasons, vec![reason]);
        assert!(cached.end_time.is_some());
        // A second end is refused by the store, and the cached job stays as it was.
        assert!(
            store
                .finish_job(&job.id, JobOutcome::Succeeded { archive_id: None })
                .is_err()
        );
        assert_eq!(store.cached_job(&scope("p"), &job.id).unwrap(), stored);
    }

    #[test]
    fn the_oldest_jobs_are_forgotten_but_still_read_from_the_store() {
        let (_dir, store) = store(2);
        let mut ids = Vec::new();
        for _ in 0..3 {
            let job = store.create_job(&scope("p"), JobKind::Export).unwrap();
            store
                .finish_job(&job.id, JobOutcome::Succeeded { archive_id: None })
                .unwrap();
            ids.push(job.id);
        }
        assert!(store.cached_job(&scope("p"), &ids[0]).is_none());
        assert!(store.cached_job(&scope("p"), &ids[2]).is_some());
        let read = store.get_job(&scope("p"), &ids[0]).unwrap().unwrap();
        assert_eq!(read.status, JobStatus::Succeeded);
        assert!(
            store.cached_job(&scope("p"), &ids[0]).is_some(),
            "an ended job read from the store is cached"
        );
        assert_eq!(store.jobs.read().unwrap().by_id.len(), 2);
    }

    /// A store whose `finish_job` stops after writing, until told to go on.
    struct Gate {
        inner: SqliteStore,
        written: std::sync::mpsc::SyncSender<()>,
        go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl Store for Gate {
        fn list_apps(
            &self,
            s: &Scope,
            f: &AppFilter,
            o: u64,
            l: u64,
        ) -> Result<(u64, Vec<App>), StoreError> {
            self.inner.list_apps(s, f, o, l)
        }
        fn list_tasks(
            &self,
            s: &Scope,
            f: &TaskFilter,
            o: u64,
            l: u64,
        ) -> Result<(u64, Vec<Task>), StoreError> {
            self.inner.list_tasks(s, f, o, l)
        }
        fn delete_assets(
            &self,
            s: &Scope,
            a: &[String],
            t: &[String],
        ) -> Result<DeleteOutcome, StoreError> {
            self.inner.delete_assets(s, a, t)
        }
        fn list_instances(
            &self,
            p: &str,
            o: u64,
            l: u64,
        ) -> Result<(u64, Vec<InstanceRow>), StoreError> {
            self.inner.list_instances(p, o, l)
        }
        fn running_job(&self, p: &str) -> Result<Option<Job>, StoreError> {
            self.inner.running_job(p)
        }
        fn apps_by_ids(&self, s: &Scope, ids: &[String]) -> Result<Vec<App>, StoreError> {
            self.inner.apps_by_ids(s, ids)
        }
        fn tasks_by_ids(&self, s: &Scope, ids: &[String]) -> Result<Vec<Task>, StoreError> {
            self.inner.tasks_by_ids(s, ids)
        }
        fn create_job(&self, s: &Scope, kind: JobKind) -> Result<Job, StoreError> {
            self.inner.create_job(s, kind)
        }
        fn set_progress(&self, id: &str, p: f64) -> Result<(), StoreError> {
            self.inner.set_progress(id, p)
        }
        fn finish_job(&self, id: &str, outcome: JobOutcome) -> Result<(), StoreError> {
            let result = self.inner.finish_job(id, outcome);
            self.written.send(()).unwrap();
            self.go.lock().unwrap().recv().unwrap();
            result
        }
        fn get_job(&self, s: &Scope, id: &str) -> Result<Option<Job>, StoreError> {
            self.inner.get_job(s, id)
        }
        fn apply_import(
            &self,
            s: &Scope,
            r: &ImportRequest,
            a: &[AppAsset],
            t: &mut dyn TaskFeed,
        ) -> Result<ImportOutcome, StoreError> {
            self.inner.apply_import(s, r, a, t)
        }
        fn insert_assets(&self, s: &Scope, a: &[App], t: &[Task]) -> Result<(), StoreError> {
            self.inner.insert_assets(s, a, t)
        }
        fn register_archive(&self, s: &Scope, a: &str, j: &str, p: &str) -> Result<(), StoreError> {
            self.inner.register_archive(s, a, j, p)
        }
        fn take_archive(&self, s: &Scope, a: &str) -> Result<Option<String>, StoreError> {
            self.inner.take_archive(s, a)
        }
        fn fail_running_jobs(&self, w: RunningJobs, r: &str) -> Result<u64, StoreError> {
            self.inner.fail_running_jobs(w, r)
        }
        fn renew_leases(&self) -> Result<Vec<String>, StoreError> {
            self.inner.renew_leases()
        }
        fn lease(&self) -> std::time::Duration {
            self.inner.lease()
        }
    }

    /// A cached store whose `finish_job` signals `written` once the store has written, then
    /// waits for `go` (holding the cache's lock meanwhile, as a write through does).
    #[allow(clippy::type_complexity)]
    fn gated() -> (
        tempfile::TempDir,
        std::sync::Arc<CachedStore<Gate>>,
        std::sync::mpsc::Receiver<()>,
        std::sync::mpsc::Sender<()>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (written_tx, written) = std::sync::mpsc::sync_channel(1);
        let (go, go_rx) = std::sync::mpsc::channel();
        let gate = Gate {
            inner: SqliteStore::open(dir.path()).unwrap(),
            written: written_tx,
            go: std::sync::Mutex::new(go_rx),
        };
        (
            dir,
            std::sync::Arc::new(CachedStore::new(gate)),
            written,
            go,
        )
    }

    #[test]
    fn a_status_read_while_a_job_ends_waits_and_never_shows_it_running() {
        let (_dir, store, written, go) = gated();
        let job = store.create_job(&scope("p"), JobKind::Export).unwrap();
        let ending = {
            let (store, id) = (store.clone(), job.id.clone());
            std::thread::spawn(move || {
                store
                    .finish_job(&id, JobOutcome::Succeeded { archive_id: None })
                    .unwrap()
            })
        };
        // The store says SUCCEEDED now; the cache must not answer RUNNING meanwhile.
        written.recv().unwrap();
        let reading = {
            let (store, id) = (store.clone(), job.id.clone());
            std::thread::spawn(move || store.cached_job(&scope("p"), &id).map(|j| j.status))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        go.send(()).unwrap();
        ending.join().unwrap();
        assert_eq!(reading.join().unwrap(), Some(JobStatus::Succeeded));
    }

    /// The deadlock the load test found: an import notes its progress while it holds the
    /// store's lock, and another job's write through holds the cache's lock while it waits for
    /// the store. Here the gate holds a write through inside the store; noting progress meanwhile
    /// must return at once (before the fix it waited for the cache's lock forever).
    #[test]
    fn noting_progress_never_waits_for_a_write_through() {
        let (_dir, store, written, go) = gated();
        let ending = store.create_job(&scope("p"), JobKind::Export).unwrap();
        let importing = store.create_job(&scope("q"), JobKind::Import).unwrap();
        let finishing = {
            let (store, id) = (store.clone(), ending.id.clone());
            std::thread::spawn(move || {
                store
                    .finish_job(&id, JobOutcome::Succeeded { archive_id: None })
                    .unwrap()
            })
        };
        written.recv().unwrap();
        let (noted_tx, noted) = std::sync::mpsc::channel();
        let noting = {
            let (store, id) = (store.clone(), importing.id.clone());
            std::thread::spawn(move || {
                store.note_progress(&id, 0.5);
                noted_tx.send(()).unwrap();
            })
        };
        // A hang guard, not a speed target: a deadlock never answers.
        let answered = noted.recv_timeout(std::time::Duration::from_secs(30));
        go.send(()).unwrap();
        finishing.join().unwrap();
        noting.join().unwrap();
        assert!(
            answered.is_ok(),
            "note_progress waited for the write through"
        );
        let polled = store.cached_job(&scope("q"), &importing.id).unwrap();
        assert_eq!(polled.progress, 0.5);
    }

    #[test]
    fn failing_running_jobs_drops_them_from_memory() {
        let (_dir, store) = store(16);
        let job = store.create_job(&scope("p"), JobKind::Export).unwrap();
        assert_eq!(
            store
                .fail_running_jobs(RunningJobs::All, "stopped")
                .unwrap(),
            1
        );
        assert!(store.cached_job(&scope("p"), &job.id).is_none());
        let read = store.get_job(&scope("p"), &job.id).unwrap().unwrap();
        assert_eq!(read.status, JobStatus::Failed);
    }
}
