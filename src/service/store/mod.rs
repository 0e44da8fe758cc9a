//! Persistent state of the reference server: the apps and tasks of each instance, asset jobs and
//! the archives that exports leave behind.
//!
//! [`Store`] is the narrow, synchronous interface the rest of the service uses (callers run it in
//! `tokio::task::spawn_blocking`); [`SqliteStore`] (`sqlite.rs`) implements it on one SQLite
//! file, so that a PostgreSQL backend can be added later behind the same trait. The rules that
//! must hold under concurrency live in the database, not in check-then-act code: one running job
//! per project (a partial unique index), all-or-nothing imports (one `BEGIN IMMEDIATE`
//! transaction, `import.rs`), one download per archive (a conditional `UPDATE`). `rows.rs` maps
//! rows to the domain model and back.
//!
//! This module must not know about HTTP, the OpenAPI contract or the package format, must not
//! read or write archive bytes (it only records their names), and must not validate what the
//! contract already checked (lengths, counts). It never panics on data read from the database:
//! bad stored data is [`StoreError::Corrupt`].

mod import;
#[cfg(feature = "postgres")]
mod postgres;
mod queries;
mod rows;
mod sql;
mod sqlite;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::model::{
    App, AppAsset, FeedError, ImportRequest, Job, JobKind, Reason, Scope, Task, TaskFeed, TaskType,
};

#[cfg(feature = "postgres")]
pub use postgres::{Postgres, PostgresStore};
pub use queries::{DEFAULT_LEASE, SqlStore};
pub use sqlite::{DB_FILE_NAME, Sqlite, SqliteStore};

/// Error code of a reason for an asset whose (prefixed) name already exists in an `AddNew` import.
pub const CONFLICT_ERROR_CODE: &str = crate::contract::codes::ROMA_10040.code;
/// Error code of a reason for an import whose assets contradict one another (see
/// [`Store::apply_import`]).
pub const INVALID_PACKAGE_ERROR_CODE: &str = crate::contract::codes::ROMA_10035.code;
/// Error code of the reason [`Store::fail_running_jobs`] gives.
pub const JOB_ABORTED_ERROR_CODE: &str = crate::contract::codes::ROMA_10010.code;
/// Reason code of an id the instance does not hold (export, delete).
pub const MISSING_ERROR_CODE: &str = crate::contract::codes::ROMA_10041.code;
/// Reason code of an application a deletion would leave with tasks.
pub const APP_HAS_TASKS_ERROR_CODE: &str = crate::contract::codes::ROMA_10043.code;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The project already has a RUNNING asset job (the document's ROMA.10012).
    #[error("an asset job is already running in this project")]
    JobAlreadyRunning,
    /// The job does not exist or has already ended, so it cannot progress or end again.
    #[error("job {0} does not exist or is not running")]
    JobNotRunning(String),
    /// Something the call refers to does not exist in the given scope.
    #[error("{0} not found")]
    NotFound(String),
    /// The data directory could not be created.
    #[error("creating data directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite failed (I/O, lock timeout, constraint not mapped to a variant above...).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (connection, constraint not mapped to a variant above...).
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// The store's settings are wrong (a database URL that does not parse...).
    #[error("{0}")]
    Config(String),
    /// A value could not be encoded as JSON for the database.
    #[error("encoding JSON for the database: {0}")]
    Json(#[from] serde_json::Error),
    /// Stored data that this code cannot read back (bad timestamp, unknown status, bad JSON,
    /// a schema newer than this binary).
    #[error("corrupt data in the database: {0}")]
    Corrupt(String),
    /// The tasks of an import could not be read (see [`TaskFeed`]); nothing was imported.
    #[error("reading the import's tasks: {0}")]
    Feed(#[source] FeedError),
    /// A thread panicked while holding the connection.
    #[error("the database connection is unusable: a thread panicked while holding it")]
    Poisoned,
}

/// Which RUNNING jobs [`Store::fail_running_jobs`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunningJobs {
    /// Every one, whoever runs it.
    All,
    /// Those this store runs (created through it).
    Own,
    /// Those of other stores whose lease has expired: their server stopped renewing it.
    Expired,
}

/// How many assets an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCounts {
    /// Apps created with a new id.
    pub apps_created: u64,
    /// Existing apps overwritten (`Merge` only).
    pub apps_updated: u64,
    /// Tasks created with a new id.
    pub tasks_created: u64,
    /// Existing tasks overwritten (`Merge` only).
    pub tasks_updated: u64,
}

/// Which applications a listing keeps, besides its scope (every condition must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppFilter {
    /// Name contains this (case-sensitive; `%` and `_` are plain characters).
    pub name: Option<String>,
    /// Favoured or not.
    pub favorite: Option<bool>,
}

/// Which tasks a listing keeps and in which order (every condition must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// This id.
    pub id: Option<String>,
    /// Name contains this (case-sensitive).
    pub name: Option<String>,
    /// Started (true) or stopped.
    pub running: Option<bool>,
    /// This type.
    pub task_type: Option<TaskType>,
    /// This execution status.
    pub execute_status: Option<String>,
    /// Its source data source belongs to this application (the task's application owns both).
    pub source_app_id: Option<String>,
    /// Its target data source belongs to this application.
    pub target_app_id: Option<String>,
    /// Source settings' `datasource_id`.
    pub source_datasource_id: Option<String>,
    /// Target settings' `datasource_id`.
    pub target_datasource_id: Option<String>,
    /// Either settings' `datasource_id`.
    pub datasource_id: Option<String>,
    /// This tag.
    pub task_tag: Option<String>,
    /// Order: by status instead of creation date, and ascending instead of descending.
    pub sort_by_status: bool,
    /// Ascending.
    pub ascending: bool,
}

/// An instance as [`Store::list_instances`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    /// The instance id.
    pub id: String,
    /// Its first write.
    pub created_at: DateTime<Utc>,
    /// Its last write.
    pub updated_at: DateTime<Utc>,
}

/// The outcome of [`Store::delete_assets`]: applied, or refused with reasons and nothing deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Everything asked was deleted, in one transaction: (apps, tasks).
    Deleted(u64, u64),
    /// Nothing was deleted; up to [`MAX_REASONS`] reasons say why.
    Rejected(Vec<Reason>),
}

/// The result of [`Store::apply_import`].
///
/// A refused import is an `Ok` value, not an error: it is an expected outcome that fails the job
/// with these reasons, while `Err` means the store itself failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Everything was written, in one transaction.
    Applied(ImportCounts),
    /// Nothing was written; up to [`MAX_REASONS`] reasons say why.
    Rejected(Vec<Reason>),
}

/// How a job ended, for [`Store::finish_job`].
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// The job succeeded; an export names its archive (register it first, see
    /// [`Store::register_archive`]).
    Succeeded {
        /// The export's archive, `None` for an import.
        archive_id: Option<String>,
    },
    /// The job failed; only the first [`MAX_REASONS`] reasons are kept.
    Failed {
        /// Why.
        reasons: Vec<Reason>,
    },
}

/// The storage interface of the service. Synchronous: call it from `spawn_blocking`.
///
/// Object safe, so the server can hold an `Arc<dyn Store>`. Each method is one unit of work
/// whose rule the database keeps under concurrency (ARCHITECTURE.md lists what each is for).
pub trait Store: Send + Sync + 'static {
    /// One page of the instance's apps that `filter` keeps, favoured ones first, then by name
    /// and id, and how many match in all.
    fn list_apps(
        &self,
        scope: &Scope,
        filter: &AppFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<App>), StoreError>;

    /// One page of the instance's tasks that `filter` keeps, in its order (creation date or
    /// status, then name and id), and how many match in all.
    fn list_tasks(
        &self,
        scope: &Scope,
        filter: &TaskFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Task>), StoreError>;

    /// One page of the project's instances, by id: those holding an app, a task or a job, each
    /// with its first and last write; and how many there are.
    fn list_instances(
        &self,
        project_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<InstanceRow>), StoreError>;

    /// The instance's apps with these ids, in the order asked, each once. Unknown ids are simply
    /// absent: the caller reports them.
    fn apps_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<App>, StoreError>;

    /// The instance's tasks with these ids; same rules as [`Store::apps_by_ids`].
    fn tasks_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<Task>, StoreError>;

    /// Imports assets into the instance, all or nothing, in one transaction: the apps, then the
    /// tasks that `tasks` hands out one at a time (a failure to read one, [`StoreError::Feed`],
    /// imports nothing).
    ///
    /// Each asset's new name is `request.prefix + name` (apps and tasks alike). Tasks' `app_id`
    /// refer to the apps' ids in `apps` and are remapped to the ids those apps have in the
    /// instance.
    /// - `AddNew`: every asset gets a new id; a name that exists in the instance is a conflict
    ///   (code [`CONFLICT_ERROR_CODE`]) and the import is rejected.
    /// - `Merge`: an asset whose name exists is overwritten: it keeps its id and creation time,
    ///   takes the package's description (app) or settings (task), and a task moves to the app
    ///   the package says, even if it belonged to another app before. The rest are created.
    ///
    /// Assets that contradict one another (two of one kind with one id or one name, a task whose
    /// app is not among `apps`) are rejected in both modes (code
    /// [`INVALID_PACKAGE_ERROR_CODE`]): the store's own guarantee, which the package reader makes
    /// first with its precise refusals. A rejected import leaves the instance exactly as it was.
    fn apply_import(
        &self,
        scope: &Scope,
        request: &ImportRequest,
        apps: &[AppAsset],
        tasks: &mut dyn TaskFeed,
    ) -> Result<ImportOutcome, StoreError>;

    /// Writes these apps and tasks as they are (ids, keys, run states and times included), all
    /// or nothing, in one transaction. An asset whose id the instance already holds is left as
    /// it is; any other conflict (a name taken by another asset, a task of an unknown app) fails
    /// and writes nothing. For fixed data such as the demo's; an import takes
    /// [`Store::apply_import`].
    fn insert_assets(&self, scope: &Scope, apps: &[App], tasks: &[Task]) -> Result<(), StoreError>;

    /// Deletes these apps and tasks of the instance, all or nothing, in one transaction. An id
    /// the instance does not hold (code [`MISSING_ERROR_CODE`]) or an app that would keep a
    /// task (code [`APP_HAS_TASKS_ERROR_CODE`], naming the task) rejects the whole request.
    fn delete_assets(
        &self,
        scope: &Scope,
        app_ids: &[String],
        task_ids: &[String],
    ) -> Result<DeleteOutcome, StoreError>;

    /// Creates a RUNNING job with a new id, or fails with [`StoreError::JobAlreadyRunning`] when
    /// the project already has one (atomically, whatever races).
    fn create_job(&self, scope: &Scope, kind: JobKind) -> Result<Job, StoreError>;

    /// The project's RUNNING job, if any (there is at most one).
    fn running_job(&self, project_id: &str) -> Result<Option<Job>, StoreError>;

    /// Sets a running job's progress, clamped to 0..=1 (NaN counts as 0).
    /// [`StoreError::JobNotRunning`] when the job is unknown or has ended.
    fn set_progress(&self, job_id: &str, progress: f64) -> Result<(), StoreError>;

    /// Ends a running job and sets its end time; a success also sets progress to 1. Ending a job
    /// that is unknown or has already ended is an error ([`StoreError::JobNotRunning`]) and
    /// changes nothing, so a job ends exactly once.
    fn finish_job(&self, job_id: &str, outcome: JobOutcome) -> Result<(), StoreError>;

    /// The job, if it exists in this project *and* instance.
    fn get_job(&self, scope: &Scope, job_id: &str) -> Result<Option<Job>, StoreError>;

    /// Marks the RUNNING jobs (of any project) that `which` selects FAILED, with one reason
    /// carrying `reason`, code [`JOB_ABORTED_ERROR_CODE`]; returns how many. `All` at the start
    /// of the only server of a database (no job survives a restart), `Own` at a server's
    /// shutdown, `Expired` by every replica, every few seconds, for the jobs of a replica that
    /// died. Each job is marked once, whoever races (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    fn fail_running_jobs(&self, which: RunningJobs, reason: &str) -> Result<u64, StoreError>;

    /// Renews the lease of every RUNNING job this store runs (created through it), for
    /// [`Store::lease`] from now; returns their ids. A job of ours missing from the answer has
    /// been ended elsewhere (its lease had expired).
    fn renew_leases(&self) -> Result<Vec<String>, StoreError>;

    /// How long a job's lease lasts without renewal: renew it well within this.
    fn lease(&self) -> std::time::Duration;

    /// Records the archive an export job wrote, under `path` (the name its bytes are kept
    /// under, by the service's blobs). Register it *before* finishing the job as succeeded, so a
    /// client never sees an `archive_id` it cannot download. [`StoreError::NotFound`] when the
    /// job is not in this scope. Archives of failed jobs must not be registered.
    fn register_archive(
        &self,
        scope: &Scope,
        archive_id: &str,
        job_id: &str,
        path: &str,
    ) -> Result<(), StoreError>;

    /// Claims the one download of an archive: returns its path and marks it downloaded, or
    /// `None` when it is unknown in this scope, already downloaded, or its job has not
    /// succeeded. Atomic: of two racing calls exactly one gets the path. The row stays (marked);
    /// removing the blob is the caller's job.
    fn take_archive(&self, scope: &Scope, archive_id: &str) -> Result<Option<String>, StoreError>;
}

/// Fixtures of the store's tests (and the demo's).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::service::model::{ImportMode, TaskAsset, TaskSlice};
    use serde_json::json;
    use std::sync::Arc;

    pub(crate) fn scope(project: &str, instance: &str) -> Scope {
        Scope {
            project_id: project.to_string(),
            instance_id: instance.to_string(),
        }
    }

    pub(crate) fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).expect("open store");
        (dir, store)
    }

    /// A new, empty store on one engine, and a way to open it again (another connection, as
    /// another process would have).
    pub(crate) struct TestStore {
        pub(crate) store: Arc<dyn Store>,
        open_again: Arc<dyn Fn(std::time::Duration) -> Arc<dyn Store> + Send + Sync>,
        _dir: Option<tempfile::TempDir>,
        /// Run when the test ends: drops a PostgreSQL test's schema.
        cleanup: Option<Box<dyn FnOnce()>>,
    }

    impl Drop for TestStore {
        fn drop(&mut self) {
            if let Some(cleanup) = self.cleanup.take() {
                cleanup();
            }
        }
    }

    impl TestStore {
        pub(crate) fn open_again(&self) -> impl Fn() -> Arc<dyn Store> + Send + 'static {
            let open = Arc::clone(&self.open_again);
            move || open(DEFAULT_LEASE)
        }

        /// Another store on the same database, as another server would open it, whose jobs'
        /// leases last `lease`.
        pub(crate) fn another_server(&self, lease: std::time::Duration) -> Arc<dyn Store> {
            (self.open_again)(lease)
        }
    }

    /// A new store on each engine: SQLite in a temporary directory, and PostgreSQL in a new
    /// schema of the database that `ROMA_ASSETS_TEST_DATABASE_URL` names. Without that variable
    /// the PostgreSQL half is left out, except under `CI`, where it must be there (`.ci/run`
    /// starts a cluster): a suite that silently skipped an engine would prove nothing.
    pub(crate) fn every_engine() -> Vec<TestStore> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        let mut stores = vec![TestStore {
            store: Arc::new(SqliteStore::open(&path).expect("open store")),
            open_again: Arc::new(move |lease| {
                Arc::new(
                    SqliteStore::open(&path)
                        .expect("open store")
                        .with_lease(lease),
                )
            }),
            _dir: Some(dir),
            cleanup: None,
        }];
        stores.extend(postgres_test_store());
        stores
    }

    #[cfg(feature = "postgres")]
    fn postgres_test_store() -> Option<TestStore> {
        let Ok(url) = std::env::var("ROMA_ASSETS_TEST_DATABASE_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set ROMA_ASSETS_TEST_DATABASE_URL: the store's suite runs on PostgreSQL too"
            );
            return None;
        };
        let schema = PostgresStore::test_schema(&url).expect("a test schema");
        let store = PostgresStore::connect_in_schema(&url, &schema, 4).expect("connect");
        let (again_url, again_schema) = (url.clone(), schema.clone());
        Some(TestStore {
            store: Arc::new(store),
            open_again: Arc::new(move |lease| {
                Arc::new(
                    PostgresStore::connect_in_schema(&again_url, &again_schema, 2)
                        .expect("connect")
                        .with_lease(lease),
                )
            }),
            _dir: None,
            cleanup: Some(Box::new(move || {
                PostgresStore::drop_test_schema(&url, &schema)
            })),
        })
    }

    #[cfg(not(feature = "postgres"))]
    fn postgres_test_store() -> Option<TestStore> {
        None
    }

    pub(crate) fn app(id: &str, name: &str) -> AppAsset {
        AppAsset {
            id: id.to_string(),
            name: name.to_string(),
            description: format!("{name} description"),
        }
    }

    pub(crate) fn task(id: &str, name: &str, app_id: &str) -> TaskAsset {
        TaskAsset {
            id: id.to_string(),
            name: name.to_string(),
            app_id: app_id.to_string(),
            task_type: TaskType::Timing,
            task_tag: "tag".to_string(),
            source: json!({"type": "mysql", "table": name}),
            target: json!({"type": "kafka", "topic": name}),
        }
    }

    pub(crate) fn applied(outcome: ImportOutcome) -> ImportCounts {
        match outcome {
            ImportOutcome::Applied(counts) => counts,
            ImportOutcome::Rejected(reasons) => panic!("import rejected: {reasons:?}"),
        }
    }

    pub(crate) fn all_apps(store: &dyn Store, scope: &Scope) -> Vec<App> {
        store
            .list_apps(scope, &AppFilter::default(), 0, u64::MAX)
            .expect("list apps")
            .1
    }

    pub(crate) fn all_tasks(store: &dyn Store, scope: &Scope) -> Vec<Task> {
        store
            .list_tasks(scope, &TaskFilter::default(), 0, u64::MAX)
            .expect("list tasks")
            .1
    }

    pub(crate) fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
        items.iter().map(|i| name(i).to_string()).collect()
    }

    /// Imports `apps` and `tasks` (in memory) with `mode` and `prefix`.
    pub(crate) fn import(
        store: &dyn Store,
        scope: &Scope,
        mode: ImportMode,
        prefix: &str,
        apps: &[AppAsset],
        tasks: &[TaskAsset],
    ) -> Result<ImportOutcome, StoreError> {
        let request = ImportRequest {
            mode,
            prefix: prefix.to_string(),
        };
        store.apply_import(scope, &request, apps, &mut TaskSlice::new(tasks))
    }

    /// Seeds the instance with the demo's assets.
    pub(crate) fn seed(store: &dyn Store, scope: &Scope) -> Result<(), StoreError> {
        crate::service::demo::seed(store, scope)
    }
}
