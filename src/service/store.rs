//! Persistent state of the reference server: the apps and tasks of each instance, asset jobs and
//! the archives that exports leave behind.
//!
//! [`Store`] is the narrow, synchronous interface the rest of the service uses (callers run it in
//! `tokio::task::spawn_blocking`); [`SqliteStore`] implements it on one SQLite file, so that a
//! PostgreSQL + object-storage backend can be added later behind the same trait. The rules that
//! must hold under concurrency live in the database, not in check-then-act code: one running job
//! per project (a partial unique index), all-or-nothing imports (one `BEGIN IMMEDIATE`
//! transaction), one download per archive (a conditional `UPDATE`).
//!
//! This module must not know about HTTP, the OpenAPI contract or the package format, must not
//! read or write archive files (it only records their names), and must not validate what the
//! contract already checked (lengths, counts). It never panics on data read from the database:
//! bad stored data is [`StoreError::Corrupt`].

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::model::{
    App, AppAsset, Job, JobKind, JobStatus, MAX_REASONS, Reason, ResourceType, Scope, Task,
    TaskAsset, TaskHead, TaskType,
};

/// The database file [`SqliteStore::open`] creates inside its data directory.
pub const DB_FILE_NAME: &str = "roma-assets.sqlite3";

/// Ids of the apps [`Store::seed_demo`] creates (fixed, so docs and tests can name them).
pub const DEMO_APP_IDS: &[&str] = &["demo-app-orders", "demo-app-billing", "demo-app-crm"];

/// Ids of the tasks [`Store::seed_demo`] creates.
pub const DEMO_TASK_IDS: &[&str] = &[
    "demo-task-orders-sync",
    "demo-task-orders-archive",
    "demo-task-billing-export",
    "demo-task-crm-contacts",
];

/// Error code of a reason for an asset whose (prefixed) name already exists in an `AddNew` import.
pub const CONFLICT_ERROR_CODE: &str = crate::contract::codes::ROMA_10040.code;
/// Error code of a reason for a package whose content contradicts itself (see
/// [`Store::apply_import`]).
pub const INVALID_PACKAGE_ERROR_CODE: &str = crate::contract::codes::ROMA_10035.code;
/// Error code of the reason [`Store::fail_running_jobs`] gives.
pub const JOB_ABORTED_ERROR_CODE: &str = crate::contract::codes::ROMA_10010.code;
/// Reason code of an id the instance does not hold (export, delete).
pub const MISSING_ERROR_CODE: &str = crate::contract::codes::ROMA_10041.code;
/// Reason code of an application a deletion would leave with tasks.
pub const APP_HAS_TASKS_ERROR_CODE: &str = crate::contract::codes::ROMA_10043.code;

/// How long (ms) a connection waits for another connection's write lock before giving up.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// The embedded migrations, in order. Each is applied once, in its own transaction, and recorded
/// in `schema_migrations`. Append only.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_asset_family.sql")),
];

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
    /// A value could not be encoded as JSON for the database.
    #[error("encoding JSON for the database: {0}")]
    Json(#[from] serde_json::Error),
    /// Stored data that this code cannot read back (bad timestamp, unknown status, bad JSON,
    /// a schema newer than this binary).
    #[error("corrupt data in the database: {0}")]
    Corrupt(String),
    /// A thread panicked while holding the connection.
    #[error("the database connection is unusable: a thread panicked while holding it")]
    Poisoned,
}

/// How an import treats assets whose (prefixed) name already exists in the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// Every asset is created with a new id; an existing name is a conflict and nothing is
    /// imported.
    #[default]
    AddNew,
    /// An asset whose name exists is overwritten (keeping its id); the rest are created.
    Merge,
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

/// The tasks of an import: every task's id, name and app up front (for the checks), their
/// settings one at a time (so a large package never sits in memory whole).
pub trait TaskFeed {
    /// Every task, in package order.
    fn heads(&self) -> &[TaskHead];
    /// Task `index` of [`TaskFeed::heads`], settings included.
    fn task(&mut self, index: usize) -> Result<TaskAsset, StoreError>;
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

/// A [`TaskFeed`] over tasks already in memory.
pub struct TaskSlice<'a> {
    tasks: &'a [TaskAsset],
    heads: Vec<TaskHead>,
}

impl<'a> TaskSlice<'a> {
    /// Feeds `tasks`.
    pub fn new(tasks: &'a [TaskAsset]) -> Self {
        TaskSlice {
            tasks,
            heads: tasks.iter().map(TaskHead::from).collect(),
        }
    }
}

impl TaskFeed for TaskSlice<'_> {
    fn heads(&self) -> &[TaskHead] {
        &self.heads
    }

    fn task(&mut self, index: usize) -> Result<TaskAsset, StoreError> {
        self.tasks
            .get(index)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("task {index} of the import")))
    }
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
/// Object safe, so the server can hold an `Arc<dyn Store>`.
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

    /// Deletes these apps and tasks of the instance, all or nothing, in one transaction. An id
    /// the instance does not hold (code [`MISSING_ERROR_CODE`]) or an app that would keep a
    /// task (code [`APP_HAS_TASKS_ERROR_CODE`], naming the task) rejects the whole request.
    fn delete_assets(
        &self,
        scope: &Scope,
        app_ids: &[String],
        task_ids: &[String],
    ) -> Result<DeleteOutcome, StoreError>;

    /// The instance's apps with these ids, in the order asked, each once. Unknown ids are simply
    /// absent: the caller reports them.
    fn apps_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<App>, StoreError>;

    /// The instance's tasks with these ids; same rules as [`Store::apps_by_ids`].
    fn tasks_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<Task>, StoreError>;

    /// Creates a RUNNING job with a new id, or fails with [`StoreError::JobAlreadyRunning`] when
    /// the project already has one (atomically, whatever races).
    fn create_job(&self, scope: &Scope, kind: JobKind) -> Result<Job, StoreError>;

    /// The project's RUNNING job, if any (there is at most one).
    fn running_job(&self, project_id: &str) -> Result<Option<Job>, StoreError>;

    /// A running job's progress as polls should see it now, without a write: for the steps of
    /// a job that runs inside a transaction (an import's tasks), where a write would wait for
    /// that transaction. Only a store that answers polls from memory keeps it (the default
    /// forgets it); [`Store::set_progress`] and the job's end are what is stored.
    fn note_progress(&self, _job_id: &str, _progress: f64) {}

    /// Sets a running job's progress, clamped to 0..=1 (NaN counts as 0).
    /// [`StoreError::JobNotRunning`] when the job is unknown or has ended.
    fn set_progress(&self, job_id: &str, progress: f64) -> Result<(), StoreError>;

    /// Ends a running job and sets its end time; a success also sets progress to 1. Ending a job
    /// that is unknown or has already ended is an error ([`StoreError::JobNotRunning`]) and
    /// changes nothing, so a job ends exactly once.
    fn finish_job(&self, job_id: &str, outcome: JobOutcome) -> Result<(), StoreError>;

    /// The job, if it exists in this project *and* instance.
    fn get_job(&self, scope: &Scope, job_id: &str) -> Result<Option<Job>, StoreError>;

    /// The job, if the store holds it in memory and can answer without blocking: callable on
    /// the async request path. `None` means "ask [`Store::get_job`]", not "no such job". The
    /// default holds nothing; see [`super::cache::CachedStore`].
    fn cached_job(&self, _scope: &Scope, _job_id: &str) -> Option<Job> {
        None
    }

    /// Imports a package's assets into the instance, all or nothing, in one transaction.
    ///
    /// Each asset's new name is `prefix + name` (apps and tasks alike). Tasks' `app_id` refer to
    /// the package's app ids and are remapped to the ids those apps have in the instance.
    /// - `AddNew`: every asset gets a new id; a name that exists in the instance is a conflict
    ///   (code [`CONFLICT_ERROR_CODE`]) and the import is rejected.
    /// - `Merge`: an asset whose name exists is overwritten: it keeps its id and creation time,
    ///   takes the package's description (app) or settings (task), and a task moves to the app
    ///   the package says, even if it belonged to another app before. The rest are created.
    ///
    /// A package that contradicts itself (two apps with one id, two apps or two tasks with one
    /// name, a task whose app is not in the package) is rejected in both modes (code
    /// [`INVALID_PACKAGE_ERROR_CODE`]); the package reader should have refused it already.
    /// A rejected import leaves the instance exactly as it was.
    fn apply_import_feed(
        &self,
        scope: &Scope,
        mode: ImportMode,
        prefix: &str,
        apps: &[AppAsset],
        tasks: &mut dyn TaskFeed,
    ) -> Result<ImportOutcome, StoreError>;

    /// [`Store::apply_import_feed`] with tasks already in memory.
    fn apply_import(
        &self,
        scope: &Scope,
        mode: ImportMode,
        prefix: &str,
        apps: &[AppAsset],
        tasks: &[TaskAsset],
    ) -> Result<ImportOutcome, StoreError> {
        self.apply_import_feed(scope, mode, prefix, apps, &mut TaskSlice::new(tasks))
    }

    /// Records the archive an export job wrote, under `path` (a file name inside the archive
    /// directory). Register it *before* finishing the job as succeeded, so a client never sees
    /// an `archive_id` it cannot download. [`StoreError::NotFound`] when the job is not in this
    /// scope. Archives of failed jobs must not be registered.
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
    /// deleting the file is the caller's job.
    fn take_archive(&self, scope: &Scope, archive_id: &str) -> Result<Option<String>, StoreError>;

    /// Marks every RUNNING job (of any project) FAILED with one reason carrying `reason`, code
    /// [`JOB_ABORTED_ERROR_CODE`]. For startup: no job survives a restart. Returns how many.
    fn fail_running_jobs(&self, reason: &str) -> Result<u64, StoreError>;

    /// Creates the demo apps ([`DEMO_APP_IDS`]) and tasks ([`DEMO_TASK_IDS`]) in the instance,
    /// unless an asset with that id already exists there (then it is left as it is). Fails,
    /// writing nothing, if another asset already uses a demo name.
    fn seed_demo(&self, scope: &Scope) -> Result<(), StoreError>;
}

/// [`Store`] on one SQLite database file, in WAL mode.
///
/// One connection behind a mutex: simple and correct, since SQLite has one writer at a time
/// anyway. Reads could later use a small pool of extra connections, which WAL lets run beside
/// the writer. Several `SqliteStore`s (or processes) may open the same directory: every write
/// that must be atomic is one statement or one `BEGIN IMMEDIATE` transaction, and waits up to
/// five seconds for the lock.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Creates `data_dir` if needed, opens (or creates) `<data_dir>/`[`DB_FILE_NAME`] and brings
    /// its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let mut conn = Connection::open(data_dir.join(DB_FILE_NAME))?;
        // Pragmas as SQL rather than `Connection::busy_timeout`: that method needs
        // `sqlite3_set_clientdata` (SQLite 3.44+), which the system SQLite of Debian 12 (3.40)
        // lacks, and would not link. The timeout comes first, so the pragmas below wait for a
        // concurrent opener instead of failing. `journal_mode` answers with the mode now in
        // force; a file system without WAL keeps "delete", slower but still correct, so the
        // answer is not checked.
        conn.execute_batch(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;"
        ))?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// Applies each embedded migration not yet recorded, in order. The check and the migration share
/// one `BEGIN IMMEDIATE` transaction, so two processes opening a new file at once cannot both
/// apply it.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY NOT NULL,
             applied_at TEXT NOT NULL
         ) STRICT;",
    )?;
    let newest_known = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    let newest_applied: Option<i64> =
        conn.query_row("SELECT max(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })?;
    if let Some(applied) = newest_applied
        && applied > newest_known
    {
        return Err(StoreError::Corrupt(format!(
            "schema version {applied} is newer than this program knows ({newest_known})"
        )));
    }
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done = tx
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, ts(&now())],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// A listing's conditions beyond the scope, as SQL over the table's columns, with their
/// parameters (bound after the scope's two), and its order.
struct Conditions {
    sql: String,
    params: Vec<rusqlite::types::Value>,
    order: &'static str,
}

impl Conditions {
    fn new(order: &'static str) -> Self {
        Conditions {
            sql: String::new(),
            params: Vec::new(),
            order,
        }
    }

    /// Adds `AND clause`, where `clause` holds `?` for the value.
    fn and(&mut self, clause: &str, value: impl Into<rusqlite::types::Value>) {
        self.params.push(value.into());
        let n = self.params.len() + 2;
        self.sql.push_str(" AND ");
        self.sql.push_str(&clause.replace('?', &format!("?{n}")));
    }

    fn apps(filter: &AppFilter) -> Self {
        let mut c = Conditions::new("favorite DESC, name, id");
        if let Some(name) = &filter.name {
            c.and("instr(name, ?) > 0", name.clone());
        }
        if let Some(favorite) = filter.favorite {
            c.and("favorite = ?", i64::from(favorite));
        }
        c
    }

    fn tasks(filter: &TaskFilter) -> Self {
        let order = match (filter.sort_by_status, filter.ascending) {
            (false, false) => "created_at DESC, name, id",
            (false, true) => "created_at ASC, name, id",
            (true, false) => "status DESC, name, id",
            (true, true) => "status ASC, name, id",
        };
        let mut c = Conditions::new(order);
        let text = |v: &Option<String>| v.clone();
        if let Some(id) = text(&filter.id) {
            c.and("id = ?", id);
        }
        if let Some(name) = text(&filter.name) {
            c.and("instr(name, ?) > 0", name);
        }
        if let Some(running) = filter.running {
            c.and("status = ?", i64::from(running));
        }
        if let Some(task_type) = filter.task_type {
            c.and("task_type = ?", task_type.as_str().to_string());
        }
        if let Some(status) = text(&filter.execute_status) {
            c.and("execute_status = ?", status);
        }
        // A task's application owns both its data sources: two different apps keep none.
        for app in [&filter.source_app_id, &filter.target_app_id]
            .into_iter()
            .flatten()
        {
            c.and("app_id = ?", app.clone());
        }
        if let Some(id) = text(&filter.source_datasource_id) {
            c.and("json_extract(source, '$.datasource_id') = ?", id);
        }
        if let Some(id) = text(&filter.target_datasource_id) {
            c.and("json_extract(target, '$.datasource_id') = ?", id);
        }
        if let Some(id) = text(&filter.datasource_id) {
            c.and(
                "? IN (json_extract(source, '$.datasource_id'), json_extract(target, '$.datasource_id'))",
                id,
            );
        }
        if let Some(tag) = text(&filter.task_tag) {
            c.and("task_tag = ?", tag);
        }
        c
    }
}

impl SqliteStore {
    /// One page of `table` (apps or tasks) that `conditions` keep, in their order, with the total
    /// matching count, read in one transaction so the two agree.
    fn list_page<T>(
        &self,
        table: &str,
        columns: &str,
        from_row: fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
        scope: &Scope,
        conditions: &Conditions,
        (offset, limit): (u64, u64),
    ) -> Result<(u64, Vec<T>), StoreError> {
        use rusqlite::types::Value;
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let mut params: Vec<Value> = vec![
            Value::Text(scope.project_id.clone()),
            Value::Text(scope.instance_id.clone()),
        ];
        params.extend(conditions.params.iter().cloned());
        let filter = format!(
            "FROM {table} WHERE project_id = ?1 AND instance_id = ?2{}",
            conditions.sql
        );
        let n: i64 = tx.query_row(
            &format!("SELECT count(*) {filter}"),
            rusqlite::params_from_iter(params.iter()),
            |row| row.get(0),
        )?;
        let total = u64::try_from(n)
            .map_err(|_| StoreError::Corrupt(format!("count of {table} is {n}")))?;
        let (limit_at, offset_at) = (params.len() + 1, params.len() + 2);
        params.push(Value::Integer(sql_int(limit)));
        params.push(Value::Integer(sql_int(offset)));
        let mut stmt = tx.prepare(&format!(
            "SELECT {columns} {filter} ORDER BY {} LIMIT ?{limit_at} OFFSET ?{offset_at}",
            conditions.order
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut items = Vec::new();
        while let Some(row) = rows.next()? {
            items.push(from_row(row)?);
        }
        Ok((total, items))
    }
}

impl SqliteStore {
    /// The rows of `table` with the given ids, in the order asked, each once; missing ids are
    /// simply absent.
    fn by_ids<T>(
        &self,
        table: &str,
        columns: &str,
        from_row: fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
        scope: &Scope,
        ids: &[String],
    ) -> Result<Vec<T>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let mut stmt = tx.prepare(&format!(
            "SELECT {columns} FROM {table} WHERE project_id = ?1 AND instance_id = ?2 AND id = ?3"
        ))?;
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let mut rows = stmt.query(params![scope.project_id, scope.instance_id, id])?;
            if let Some(row) = rows.next()? {
                items.push(from_row(row)?);
            }
        }
        Ok(items)
    }
}

impl Store for SqliteStore {
    fn list_apps(
        &self,
        scope: &Scope,
        filter: &AppFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<App>), StoreError> {
        let conditions = Conditions::apps(filter);
        self.list_page(
            "apps",
            APP_COLUMNS,
            app_from_row,
            scope,
            &conditions,
            (offset, limit),
        )
    }

    fn list_tasks(
        &self,
        scope: &Scope,
        filter: &TaskFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<Task>), StoreError> {
        let conditions = Conditions::tasks(filter);
        self.list_page(
            "tasks",
            TASK_COLUMNS,
            task_from_row,
            scope,
            &conditions,
            (offset, limit),
        )
    }

    fn running_job(&self, project_id: &str) -> Result<Option<Job>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE project_id = ?1 AND status = 'RUNNING'"
        ))?;
        let mut rows = stmt.query(params![project_id])?;
        match rows.next()? {
            Some(row) => Ok(Some(job_from_row(row)?)),
            None => Ok(None),
        }
    }

    fn list_instances(
        &self,
        project_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<InstanceRow>), StoreError> {
        const WRITES: &str = "SELECT instance_id, created_at AS first, updated_at AS last FROM apps
                                  WHERE project_id = ?1
                              UNION ALL
                              SELECT instance_id, created_at, updated_at FROM tasks
                                  WHERE project_id = ?1
                              UNION ALL
                              SELECT instance_id, begin_time, coalesce(end_time, begin_time)
                                  FROM jobs WHERE project_id = ?1";
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let n: i64 = tx.query_row(
            &format!("SELECT count(DISTINCT instance_id) FROM ({WRITES})"),
            params![project_id],
            |row| row.get(0),
        )?;
        let mut stmt = tx.prepare(&format!(
            "SELECT instance_id, min(first), max(last) FROM ({WRITES})
             GROUP BY instance_id ORDER BY instance_id LIMIT ?2 OFFSET ?3"
        ))?;
        let mut rows = stmt.query(params![project_id, sql_int(limit), sql_int(offset)])?;
        let mut instances = Vec::new();
        while let Some(row) = rows.next()? {
            instances.push(InstanceRow {
                id: row.get(0)?,
                created_at: parse_ts(&row.get::<_, String>(1)?, "first write")?,
                updated_at: parse_ts(&row.get::<_, String>(2)?, "last write")?,
            });
        }
        let total =
            u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("instance count {n}")))?;
        Ok((total, instances))
    }

    fn delete_assets(
        &self,
        scope: &Scope,
        app_ids: &[String],
        task_ids: &[String],
    ) -> Result<DeleteOutcome, StoreError> {
        let mut conn = self.lock()?;
        // IMMEDIATE: the checks below and the deletes see the same instance.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut reasons = Vec::new();
        let name_of = |table: &str, id: &str| -> Result<Option<String>, StoreError> {
            Ok(tx
                .query_row(
                    &format!(
                        "SELECT name FROM {table} WHERE project_id = ?1 AND instance_id = ?2 AND id = ?3"
                    ),
                    params![scope.project_id, scope.instance_id, id],
                    |row| row.get(0),
                )
                .optional()?)
        };
        let deleted_tasks: HashSet<&str> = task_ids.iter().map(String::as_str).collect();
        for id in unique(task_ids) {
            if name_of("tasks", id)?.is_none() {
                reasons.push(Reason::new(
                    ResourceType::Task,
                    id,
                    MISSING_ERROR_CODE,
                    "no such task in this instance",
                ));
            }
        }
        for id in unique(app_ids) {
            if name_of("apps", id)?.is_none() {
                reasons.push(Reason::new(
                    ResourceType::Application,
                    id,
                    MISSING_ERROR_CODE,
                    "no such application in this instance",
                ));
                continue;
            }
            let mut stmt = tx.prepare(
                "SELECT id, name FROM tasks WHERE project_id = ?1 AND instance_id = ?2 AND app_id = ?3
                 ORDER BY name",
            )?;
            let owned = stmt
                .query_map(params![scope.project_id, scope.instance_id, id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (task_id, task_name) in owned {
                if !deleted_tasks.contains(task_id.as_str()) {
                    reasons.push(Reason::new(
                        ResourceType::Task,
                        &task_name,
                        APP_HAS_TASKS_ERROR_CODE,
                        &format!("belongs to application {id}; delete it too"),
                    ));
                }
            }
        }
        if !reasons.is_empty() {
            reasons.truncate(MAX_REASONS);
            tx.rollback()?;
            return Ok(DeleteOutcome::Rejected(reasons));
        }
        let mut counts = (0, 0);
        for id in unique(task_ids) {
            counts.1 += tx.execute(
                "DELETE FROM tasks WHERE project_id = ?1 AND instance_id = ?2 AND id = ?3",
                params![scope.project_id, scope.instance_id, id],
            )? as u64;
        }
        for id in unique(app_ids) {
            counts.0 += tx.execute(
                "DELETE FROM apps WHERE project_id = ?1 AND instance_id = ?2 AND id = ?3",
                params![scope.project_id, scope.instance_id, id],
            )? as u64;
        }
        tx.commit()?;
        Ok(DeleteOutcome::Deleted(counts.0, counts.1))
    }

    fn apps_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<App>, StoreError> {
        self.by_ids("apps", APP_COLUMNS, app_from_row, scope, ids)
    }

    fn tasks_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<Task>, StoreError> {
        self.by_ids("tasks", TASK_COLUMNS, task_from_row, scope, ids)
    }

    fn create_job(&self, scope: &Scope, kind: JobKind) -> Result<Job, StoreError> {
        // The begin time is taken holding the connection, so that begin and end times follow
        // the order in which the store applied them: a job never seems to begin before the
        // previous job of its project ended.
        let conn = self.lock()?;
        let job = Job {
            id: new_id(),
            scope: scope.clone(),
            kind,
            status: JobStatus::Running,
            progress: 0.0,
            archive_id: None,
            reasons: Vec::new(),
            begin_time: now(),
            end_time: None,
        };
        // No check before the INSERT: the partial unique index decides, atomically.
        let inserted = conn.execute(
            "INSERT INTO jobs (id, project_id, instance_id, kind, status, progress, reasons, begin_time)
             VALUES (?1, ?2, ?3, ?4, 'RUNNING', 0, '[]', ?5)",
            params![
                job.id,
                scope.project_id,
                scope.instance_id,
                kind_text(kind),
                ts(&job.begin_time)
            ],
        );
        match inserted {
            Ok(_) => Ok(job),
            // `jobs.id` is the primary key (SQLITE_CONSTRAINT_PRIMARYKEY), so a UNIQUE violation
            // here can only be the one-running-job-per-project index.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                Err(StoreError::JobAlreadyRunning)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn set_progress(&self, job_id: &str, progress: f64) -> Result<(), StoreError> {
        let progress = if progress.is_nan() {
            0.0
        } else {
            progress.clamp(0.0, 1.0)
        };
        let conn = self.lock()?;
        let changed = conn.execute(
            "UPDATE jobs SET progress = ?1 WHERE id = ?2 AND status = 'RUNNING'",
            params![progress, job_id],
        )?;
        if changed == 0 {
            return Err(StoreError::JobNotRunning(job_id.to_string()));
        }
        Ok(())
    }

    fn finish_job(&self, job_id: &str, outcome: JobOutcome) -> Result<(), StoreError> {
        let conn = self.lock()?;
        let end = ts(&now());
        let changed = match outcome {
            JobOutcome::Succeeded { archive_id } => conn.execute(
                "UPDATE jobs SET status = 'SUCCEEDED', progress = 1, archive_id = ?1, end_time = ?2
                 WHERE id = ?3 AND status = 'RUNNING'",
                params![archive_id, end, job_id],
            )?,
            JobOutcome::Failed { mut reasons } => {
                reasons.truncate(MAX_REASONS);
                conn.execute(
                    "UPDATE jobs SET status = 'FAILED', reasons = ?1, end_time = ?2
                     WHERE id = ?3 AND status = 'RUNNING'",
                    params![serde_json::to_string(&reasons)?, end, job_id],
                )?
            }
        };
        if changed == 0 {
            return Err(StoreError::JobNotRunning(job_id.to_string()));
        }
        Ok(())
    }

    fn get_job(&self, scope: &Scope, job_id: &str) -> Result<Option<Job>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND project_id = ?2 AND instance_id = ?3"
        ))?;
        let mut rows = stmt.query(params![job_id, scope.project_id, scope.instance_id])?;
        match rows.next()? {
            Some(row) => Ok(Some(job_from_row(row)?)),
            None => Ok(None),
        }
    }

    fn apply_import_feed(
        &self,
        scope: &Scope,
        mode: ImportMode,
        prefix: &str,
        apps: &[AppAsset],
        feed: &mut dyn TaskFeed,
    ) -> Result<ImportOutcome, StoreError> {
        let mut conn = self.lock()?;
        // IMMEDIATE: take the write lock now, so the existence checks below cannot be made stale
        // by another connection before the writes.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tasks = feed.heads().to_vec();
        let mut reasons = check_package(prefix, apps, &tasks);
        if mode == ImportMode::AddNew {
            for app in apps {
                let name = format!("{prefix}{}", app.name);
                if existing_id(&tx, "apps", scope, &name)?.is_some() {
                    reasons.push(Reason::new(
                        ResourceType::Application,
                        &name,
                        CONFLICT_ERROR_CODE,
                        "an application with this name already exists",
                    ));
                }
            }
            for task in &tasks {
                let name = format!("{prefix}{}", task.name);
                if existing_id(&tx, "tasks", scope, &name)?.is_some() {
                    reasons.push(Reason::new(
                        ResourceType::Task,
                        &name,
                        CONFLICT_ERROR_CODE,
                        "a task with this name already exists",
                    ));
                }
            }
        }
        if !reasons.is_empty() {
            reasons.truncate(MAX_REASONS);
            tx.rollback()?;
            return Ok(ImportOutcome::Rejected(reasons));
        }

        let at = ts(&now());
        let mut counts = ImportCounts::default();
        // package app id -> id of that app in this instance
        let mut app_ids: HashMap<&str, String> = HashMap::new();
        for app in apps {
            let name = format!("{prefix}{}", app.name);
            let existing = match mode {
                ImportMode::AddNew => None,
                ImportMode::Merge => existing_id(&tx, "apps", scope, &name)?,
            };
            let id = match existing {
                Some(id) => {
                    tx.execute(
                        "UPDATE apps SET description = ?1, updated_at = ?2
                         WHERE project_id = ?3 AND instance_id = ?4 AND id = ?5",
                        params![app.description, at, scope.project_id, scope.instance_id, id],
                    )?;
                    counts.apps_updated += 1;
                    id
                }
                None => {
                    let id = new_id();
                    tx.execute(
                        "INSERT INTO apps (project_id, instance_id, id, name, description,
                                           created_at, updated_at, app_key)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
                        params![
                            scope.project_id,
                            scope.instance_id,
                            id,
                            name,
                            app.description,
                            at,
                            new_app_key()
                        ],
                    )?;
                    counts.apps_created += 1;
                    id
                }
            };
            app_ids.insert(app.id.as_str(), id);
        }
        for (index, task) in tasks.iter().enumerate() {
            let name = format!("{prefix}{}", task.name);
            // check_package made sure every task's app is in the package.
            let Some(app_id) = app_ids.get(task.app_id.as_str()) else {
                return Err(StoreError::NotFound(format!(
                    "application {} of task {}",
                    task.app_id, task.name
                )));
            };
            // One task's settings in memory at a time: a package's tasks can be large.
            let asset = feed.task(index)?;
            let (source, target) = (asset.source.to_string(), asset.target.to_string());
            let (task_type, task_tag) = (asset.task_type.as_str(), asset.task_tag.as_str());
            let existing = match mode {
                ImportMode::AddNew => None,
                ImportMode::Merge => existing_id(&tx, "tasks", scope, &name)?,
            };
            match existing {
                Some(id) => {
                    tx.execute(
                        "UPDATE tasks SET app_id = ?1, source = ?2, target = ?3, updated_at = ?4,
                                          task_type = ?8, task_tag = ?9, version = version + 1
                         WHERE project_id = ?5 AND instance_id = ?6 AND id = ?7",
                        params![
                            app_id,
                            source,
                            target,
                            at,
                            scope.project_id,
                            scope.instance_id,
                            id,
                            task_type,
                            task_tag
                        ],
                    )?;
                    counts.tasks_updated += 1;
                }
                None => {
                    tx.execute(
                        "INSERT INTO tasks (project_id, instance_id, id, name, app_id, source,
                                            target, created_at, updated_at, task_type, task_tag)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
                        params![
                            scope.project_id,
                            scope.instance_id,
                            new_id(),
                            name,
                            app_id,
                            source,
                            target,
                            at,
                            task_type,
                            task_tag
                        ],
                    )?;
                    counts.tasks_created += 1;
                }
            }
        }
        tx.commit()?;
        Ok(ImportOutcome::Applied(counts))
    }

    fn register_archive(
        &self,
        scope: &Scope,
        archive_id: &str,
        job_id: &str,
        path: &str,
    ) -> Result<(), StoreError> {
        let conn = self.lock()?;
        // Copying the scope from the job row both checks it and keeps the two consistent.
        let inserted = conn.execute(
            "INSERT INTO archives (id, project_id, instance_id, job_id, path, created_at)
             SELECT ?1, project_id, instance_id, id, ?2, ?3 FROM jobs
             WHERE id = ?4 AND project_id = ?5 AND instance_id = ?6",
            params![
                archive_id,
                path,
                ts(&now()),
                job_id,
                scope.project_id,
                scope.instance_id
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::NotFound(format!("job {job_id}")));
        }
        Ok(())
    }

    fn take_archive(&self, scope: &Scope, archive_id: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The conditional UPDATE is the claim: only one caller can turn downloaded_at from NULL.
        let claimed = tx.execute(
            "UPDATE archives SET downloaded_at = ?1
             WHERE id = ?2 AND project_id = ?3 AND instance_id = ?4 AND downloaded_at IS NULL
               AND EXISTS (SELECT 1 FROM jobs
                           WHERE jobs.id = archives.job_id AND jobs.status = 'SUCCEEDED')",
            params![ts(&now()), archive_id, scope.project_id, scope.instance_id],
        )?;
        if claimed == 0 {
            tx.rollback()?;
            return Ok(None);
        }
        let path: String = tx.query_row(
            "SELECT path FROM archives WHERE id = ?1",
            [archive_id],
            |row| row.get(0),
        )?;
        tx.commit()?;
        Ok(Some(path))
    }

    fn fail_running_jobs(&self, reason: &str) -> Result<u64, StoreError> {
        let reasons = vec![Reason::new(
            ResourceType::Application,
            "server",
            JOB_ABORTED_ERROR_CODE,
            reason,
        )];
        let conn = self.lock()?;
        let changed = conn.execute(
            "UPDATE jobs SET status = 'FAILED', reasons = ?1, end_time = ?2 WHERE status = 'RUNNING'",
            params![serde_json::to_string(&reasons)?, ts(&now())],
        )?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn seed_demo(&self, scope: &Scope) -> Result<(), StoreError> {
        let at = ts(&now());
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // ON CONFLICT on the id only: an existing demo asset is kept as it is, while a demo name
        // taken by another asset still fails (UNIQUE on the name), writing nothing.
        for (id, name, description, favorite) in DEMO_APPS {
            tx.execute(
                "INSERT INTO apps (project_id, instance_id, id, name, description, created_at,
                                   updated_at, app_key, favorite)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)
                 ON CONFLICT (project_id, instance_id, id) DO NOTHING",
                params![
                    scope.project_id,
                    scope.instance_id,
                    id,
                    name,
                    description,
                    at,
                    new_app_key(),
                    favorite
                ],
            )?;
        }
        for (task, running, execute_status) in demo_tasks() {
            tx.execute(
                "INSERT INTO tasks (project_id, instance_id, id, name, app_id, source, target,
                                    created_at, updated_at, task_type, task_tag, status,
                                    execute_status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (project_id, instance_id, id) DO NOTHING",
                params![
                    scope.project_id,
                    scope.instance_id,
                    task.id,
                    task.name,
                    task.app_id,
                    task.source.to_string(),
                    task.target.to_string(),
                    at,
                    task.task_type.as_str(),
                    task.task_tag,
                    running,
                    execute_status
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

// The server holds an `Arc<dyn Store>`: fail the build, not the server, if the trait stops being
// object safe.
const _: fn(&SqliteStore) -> &dyn Store = |store| store;

/// The demo apps: id, name, description, favoured. Ids are [`DEMO_APP_IDS`], in that order.
const DEMO_APPS: &[(&str, &str, &str, bool)] = &[
    (
        "demo-app-orders",
        "orders",
        "Order management: the shop's orders and their fulfilment",
        true,
    ),
    (
        "demo-app-billing",
        "billing",
        "Invoicing and payment reconciliation",
        false,
    ),
    (
        "demo-app-crm",
        "crm",
        "Customer relationship management: accounts and contacts",
        false,
    ),
];

/// The demo tasks, ids as in [`DEMO_TASK_IDS`], in that order, each with its run state
/// (started, execution status). Their settings name their data sources (`datasource_id`).
fn demo_tasks() -> Vec<(TaskAsset, bool, &'static str)> {
    use serde_json::json;
    let task =
        |id: &str, name: &str, app_id: &str, task_type, tag: &str, source, target| TaskAsset {
            id: id.to_string(),
            name: name.to_string(),
            app_id: app_id.to_string(),
            task_type,
            task_tag: tag.to_string(),
            source,
            target,
        };
    vec![
        (
            task(
                "demo-task-orders-sync",
                "orders-sync",
                "demo-app-orders",
                TaskType::Realtime,
                "orders",
                json!({"type": "mysql", "datasource_id": "demo-ds-shop-db", "database": "shop",
                       "table": "orders"}),
                json!({"type": "kafka", "datasource_id": "demo-ds-events", "topic": "orders"}),
            ),
            true,
            "RUNNING",
        ),
        (
            task(
                "demo-task-orders-archive",
                "orders-archive",
                "demo-app-orders",
                TaskType::Timing,
                "orders",
                json!({"type": "mysql", "datasource_id": "demo-ds-shop-db", "database": "shop",
                       "table": "orders", "where": "status = 'CLOSED'"}),
                json!({"type": "obs", "datasource_id": "demo-ds-archive", "bucket": "orders-archive",
                       "format": "parquet"}),
            ),
            true,
            "SUCCESS",
        ),
        (
            task(
                "demo-task-billing-export",
                "billing-export",
                "demo-app-billing",
                TaskType::Timing,
                "finance",
                json!({"type": "postgresql", "datasource_id": "demo-ds-billing-db",
                       "schema": "billing", "table": "invoices"}),
                json!({"type": "ftp", "datasource_id": "demo-ds-ftp", "path": "/exports/invoices",
                       "format": "csv"}),
            ),
            false,
            "UNSTARTED",
        ),
        (
            task(
                "demo-task-crm-contacts",
                "crm-contacts",
                "demo-app-crm",
                TaskType::Realtime,
                "",
                json!({"type": "api", "datasource_id": "demo-ds-crm-api", "method": "GET",
                       "url": "https://crm.example.com/api/contacts"}),
                json!({"type": "mysql", "datasource_id": "demo-ds-crm-db", "database": "crm",
                       "table": "contacts"}),
            ),
            false,
            "ERROR",
        ),
    ]
}

/// Reasons why a package contradicts itself, whatever the instance holds.
fn check_package(prefix: &str, apps: &[AppAsset], tasks: &[TaskHead]) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let mut app_ids = HashSet::new();
    let mut app_names = HashSet::new();
    for app in apps {
        let name = format!("{prefix}{}", app.name);
        if !app_ids.insert(app.id.as_str()) {
            reasons.push(Reason::new(
                ResourceType::Application,
                &name,
                INVALID_PACKAGE_ERROR_CODE,
                "the package holds two applications with this id",
            ));
        }
        if !app_names.insert(app.name.as_str()) {
            reasons.push(Reason::new(
                ResourceType::Application,
                &name,
                INVALID_PACKAGE_ERROR_CODE,
                "the package holds two applications with this name",
            ));
        }
    }
    let mut task_names = HashSet::new();
    for task in tasks {
        let name = format!("{prefix}{}", task.name);
        if !task_names.insert(task.name.as_str()) {
            reasons.push(Reason::new(
                ResourceType::Task,
                &name,
                INVALID_PACKAGE_ERROR_CODE,
                "the package holds two tasks with this name",
            ));
        }
        if !app_ids.contains(task.app_id.as_str()) {
            reasons.push(Reason::new(
                ResourceType::Task,
                &name,
                INVALID_PACKAGE_ERROR_CODE,
                "the task's application is not in the package",
            ));
        }
    }
    reasons
}

const APP_COLUMNS: &str = "id, name, description, created_at, updated_at, app_key, favorite";
const TASK_COLUMNS: &str = "id, name, app_id, source, target, created_at, updated_at, task_type, \
                            task_tag, status, execute_status, version";

/// The columns [`job_from_row`] reads, in its order.
const JOB_COLUMNS: &str = "id, project_id, instance_id, kind, status, progress, archive_id, reasons, begin_time, end_time";

/// Each id once, in the order given.
fn unique(ids: &[String]) -> impl Iterator<Item = &str> {
    let mut seen = HashSet::new();
    ids.iter()
        .map(String::as_str)
        .filter(move |id| seen.insert(*id))
}

/// A new application access key: 16 upper-case hex digits, as random as a v4 UUID's half.
fn new_app_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase()
}

/// The id of the asset of `table` (a constant of this module) with this name in the scope.
fn existing_id(
    tx: &Transaction<'_>,
    table: &str,
    scope: &Scope,
    name: &str,
) -> Result<Option<String>, StoreError> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT id FROM {table} WHERE project_id = ?1 AND instance_id = ?2 AND name = ?3"
            ),
            params![scope.project_id, scope.instance_id, name],
            |row| row.get(0),
        )
        .optional()?)
}

fn app_from_row(row: &Row<'_>) -> Result<App, StoreError> {
    Ok(App {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        created_at: parse_ts(&row.get::<_, String>(3)?, "apps.created_at")?,
        updated_at: parse_ts(&row.get::<_, String>(4)?, "apps.updated_at")?,
        key: row.get(5)?,
        favorite: row.get::<_, i64>(6)? != 0,
    })
}

fn task_from_row(row: &Row<'_>) -> Result<Task, StoreError> {
    Ok(Task {
        id: row.get(0)?,
        name: row.get(1)?,
        app_id: row.get(2)?,
        source: parse_json(&row.get::<_, String>(3)?, "tasks.source")?,
        target: parse_json(&row.get::<_, String>(4)?, "tasks.target")?,
        created_at: parse_ts(&row.get::<_, String>(5)?, "tasks.created_at")?,
        updated_at: parse_ts(&row.get::<_, String>(6)?, "tasks.updated_at")?,
        task_type: match row.get::<_, String>(7)?.as_str() {
            "TIMING" => TaskType::Timing,
            "REALTIME" => TaskType::Realtime,
            other => return Err(StoreError::Corrupt(format!("tasks.task_type {other:?}"))),
        },
        task_tag: row.get(8)?,
        running: row.get::<_, i64>(9)? != 0,
        execute_status: row.get(10)?,
        version: u32::try_from(row.get::<_, i64>(11)?)
            .map_err(|_| StoreError::Corrupt("tasks.version".into()))?,
    })
}

fn job_from_row(row: &Row<'_>) -> Result<Job, StoreError> {
    let kind = match row.get::<_, String>(3)?.as_str() {
        "EXPORT" => JobKind::Export,
        "IMPORT" => JobKind::Import,
        "DELETE" => JobKind::Delete,
        other => return Err(StoreError::Corrupt(format!("jobs.kind {other:?}"))),
    };
    let status = match row.get::<_, String>(4)?.as_str() {
        "RUNNING" => JobStatus::Running,
        "SUCCEEDED" => JobStatus::Succeeded,
        "FAILED" => JobStatus::Failed,
        other => return Err(StoreError::Corrupt(format!("jobs.status {other:?}"))),
    };
    let end_time = match row.get::<_, Option<String>>(9)? {
        Some(s) => Some(parse_ts(&s, "jobs.end_time")?),
        None => None,
    };
    Ok(Job {
        id: row.get(0)?,
        scope: Scope {
            project_id: row.get(1)?,
            instance_id: row.get(2)?,
        },
        kind,
        status,
        progress: row.get(5)?,
        archive_id: row.get(6)?,
        reasons: parse_json(&row.get::<_, String>(7)?, "jobs.reasons")?,
        begin_time: parse_ts(&row.get::<_, String>(8)?, "jobs.begin_time")?,
        end_time,
    })
}

fn kind_text(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Export => "EXPORT",
        JobKind::Import => "IMPORT",
        JobKind::Delete => "DELETE",
    }
}

/// A new id: 32 lowercase hex digits.
fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Now, cut to the microseconds that are stored, so a value written and read back is equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The stored form of a timestamp: RFC 3339, UTC, always 6 fractional digits (sorts as text).
fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str, column: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{column} {s:?}: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str, column: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// A page bound as SQLite wants it (signed); anything past `i64::MAX` means "no bound" anyway.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Barrier};

    fn scope(project: &str, instance: &str) -> Scope {
        Scope {
            project_id: project.to_string(),
            instance_id: instance.to_string(),
        }
    }

    fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).expect("open store");
        (dir, store)
    }

    fn app(id: &str, name: &str) -> AppAsset {
        AppAsset {
            id: id.to_string(),
            name: name.to_string(),
            description: format!("{name} description"),
        }
    }

    fn task(id: &str, name: &str, app_id: &str) -> TaskAsset {
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

    fn applied(outcome: ImportOutcome) -> ImportCounts {
        match outcome {
            ImportOutcome::Applied(counts) => counts,
            ImportOutcome::Rejected(reasons) => panic!("import rejected: {reasons:?}"),
        }
    }

    fn all_apps(store: &SqliteStore, scope: &Scope) -> Vec<App> {
        store
            .list_apps(scope, &AppFilter::default(), 0, u64::MAX)
            .expect("list apps")
            .1
    }

    fn all_tasks(store: &SqliteStore, scope: &Scope) -> Vec<Task> {
        store
            .list_tasks(scope, &TaskFilter::default(), 0, u64::MAX)
            .expect("list tasks")
            .1
    }

    fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
        items.iter().map(|i| name(i).to_string()).collect()
    }

    #[test]
    fn reopening_keeps_data_and_applies_each_migration_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = scope("p", "i");
        {
            let store = SqliteStore::open(dir.path()).expect("first open");
            store.seed_demo(&s).expect("seed");
        }
        let store = SqliteStore::open(dir.path()).expect("second open");
        assert_eq!(all_apps(&store, &s).len(), DEMO_APP_IDS.len());
        let conn = store.lock().expect("lock");
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let expected: Vec<i64> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert_eq!(versions, expected);
    }

    #[test]
    fn a_database_from_a_newer_program_is_refused() {
        let (dir, store) = open();
        store
            .lock()
            .expect("lock")
            .execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'x')",
                [],
            )
            .expect("insert");
        drop(store);
        let err = SqliteStore::open(dir.path()).expect_err("newer schema must be refused");
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn listing_pages_ordered_by_name_with_the_total() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        let apps: Vec<AppAsset> = (0..25)
            .rev()
            .map(|n| app(&format!("a{n}"), &format!("app-{n:02}")))
            .collect();
        applied(
            store
                .apply_import(&s, ImportMode::AddNew, "", &apps, &[])
                .expect("import"),
        );
        let (total, page) = store
            .list_apps(&s, &AppFilter::default(), 20, 10)
            .expect("list");
        assert_eq!(total, 25);
        assert_eq!(
            names(&page, |a| &a.name),
            ["app-20", "app-21", "app-22", "app-23", "app-24"]
        );
        let (total, page) = store
            .list_apps(&s, &AppFilter::default(), 0, 3)
            .expect("list");
        assert_eq!(total, 25);
        assert_eq!(names(&page, |a| &a.name), ["app-00", "app-01", "app-02"]);
        let (total, page) = store
            .list_apps(
                &s,
                &AppFilter {
                    name: Some("app-1".to_string()),
                    ..Default::default()
                },
                0,
                100,
            )
            .expect("list");
        assert_eq!(total, 10);
        assert_eq!(page.len(), 10);
        // Another instance of the same project sees nothing.
        assert_eq!(
            store
                .list_apps(&scope("p", "other"), &AppFilter::default(), 0, 10)
                .expect("list"),
            (0, vec![])
        );
    }

    #[test]
    fn name_filter_is_a_case_sensitive_substring_with_no_wildcards() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        let apps = [
            app("1", "50% off"),
            app("2", "500 club"),
            app("3", "a_b"),
            app("4", "axb"),
            app("5", "Orders"),
        ];
        let tasks = [task("t1", "sync_100%", "1"), task("t2", "sync-1000", "2")];
        applied(
            store
                .apply_import(&s, ImportMode::AddNew, "", &apps, &tasks)
                .expect("import"),
        );
        let filter = |f: &str| {
            let (total, apps) = store
                .list_apps(
                    &s,
                    &AppFilter {
                        name: Some(f.to_string()),
                        ..Default::default()
                    },
                    0,
                    100,
                )
                .expect("list");
            assert_eq!(total as usize, apps.len());
            names(&apps, |a| &a.name)
        };
        assert_eq!(filter("%"), ["50% off"]);
        assert_eq!(filter("0%"), ["50% off"]);
        assert_eq!(filter("_"), ["a_b"]);
        assert_eq!(filter("order"), Vec::<String>::new());
        assert_eq!(filter("Order"), ["Orders"]);
        let (total, tasks) = store
            .list_tasks(
                &s,
                &TaskFilter {
                    name: Some("0%".to_string()),
                    ..Default::default()
                },
                0,
                100,
            )
            .expect("list");
        assert_eq!(total, 1);
        assert_eq!(names(&tasks, |t| &t.name), ["sync_100%"]);
    }

    #[test]
    fn by_ids_returns_the_found_assets_in_the_order_asked() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        store.seed_demo(&s).expect("seed");
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let apps = store
            .apps_by_ids(
                &s,
                &ids(&["demo-app-crm", "nope", "demo-app-orders", "demo-app-crm"]),
            )
            .expect("apps");
        assert_eq!(names(&apps, |a| &a.id), ["demo-app-crm", "demo-app-orders"]);
        let tasks = store
            .tasks_by_ids(&s, &ids(&["demo-task-crm-contacts", "demo-app-crm"]))
            .expect("tasks");
        assert_eq!(names(&tasks, |t| &t.id), ["demo-task-crm-contacts"]);
        assert!(
            store
                .apps_by_ids(&scope("p", "other"), &ids(&["demo-app-crm"]))
                .expect("apps")
                .is_empty()
        );
    }

    #[test]
    fn a_second_running_job_in_a_project_is_refused_until_the_first_ends() {
        let (_dir, store) = open();
        let first = store
            .create_job(&scope("p", "i1"), JobKind::Export)
            .expect("first job");
        assert_eq!(first.id.len(), 32);
        assert!(
            first
                .id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // Same project, even another instance: refused.
        let err = store
            .create_job(&scope("p", "i2"), JobKind::Import)
            .expect_err("second job");
        assert!(matches!(err, StoreError::JobAlreadyRunning), "{err:?}");
        // Another project: fine.
        store
            .create_job(&scope("q", "i1"), JobKind::Import)
            .expect("other project");
        store
            .finish_job(&first.id, JobOutcome::Succeeded { archive_id: None })
            .expect("finish");
        store
            .create_job(&scope("p", "i1"), JobKind::Import)
            .expect("after the first ended");
    }

    #[test]
    fn racing_create_job_lets_exactly_one_win() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        const THREADS: usize = 8;
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let path = path.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    // Each thread its own connection, as separate processes would have.
                    let store = SqliteStore::open(&path).expect("open");
                    barrier.wait();
                    store.create_job(&scope("p", "i"), JobKind::Export)
                })
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::JobAlreadyRunning)))
            .count();
        assert_eq!((won, refused), (1, THREADS - 1), "{results:?}");
    }

    #[test]
    fn jobs_progress_end_once_and_are_only_found_in_their_scope() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        let job = store.create_job(&s, JobKind::Import).expect("job");
        assert_eq!(store.get_job(&s, &job.id).expect("get"), Some(job.clone()));
        assert_eq!(store.get_job(&scope("p", "j"), &job.id).expect("get"), None);
        assert_eq!(store.get_job(&scope("q", "i"), &job.id).expect("get"), None);

        store.set_progress(&job.id, 0.5).expect("progress");
        store.set_progress(&job.id, 7.0).expect("progress clamps");
        assert_eq!(
            store
                .get_job(&s, &job.id)
                .expect("get")
                .expect("job")
                .progress,
            1.0
        );

        let reasons: Vec<Reason> = (0..15)
            .map(|n| Reason::new(ResourceType::Task, &format!("t{n}"), "ROMA.13000", "bad"))
            .collect();
        store
            .finish_job(
                &job.id,
                JobOutcome::Failed {
                    reasons: reasons.clone(),
                },
            )
            .expect("finish");
        let done = store.get_job(&s, &job.id).expect("get").expect("job");
        assert_eq!(done.status, JobStatus::Failed);
        assert_eq!(done.reasons, reasons[..MAX_REASONS]);
        assert!(done.end_time.is_some_and(|end| end >= done.begin_time));

        let again = store.finish_job(&job.id, JobOutcome::Succeeded { archive_id: None });
        assert!(
            matches!(again, Err(StoreError::JobNotRunning(_))),
            "{again:?}"
        );
        let late = store.set_progress(&job.id, 0.1);
        assert!(
            matches!(late, Err(StoreError::JobNotRunning(_))),
            "{late:?}"
        );
        assert_eq!(store.get_job(&s, &job.id).expect("get"), Some(done));
        let unknown = store.finish_job("nope", JobOutcome::Succeeded { archive_id: None });
        assert!(
            matches!(unknown, Err(StoreError::JobNotRunning(_))),
            "{unknown:?}"
        );
    }

    #[test]
    fn add_new_creates_prefixed_assets_with_new_ids_and_remapped_apps() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        let apps = [app("pa1", "orders"), app("pa2", "billing")];
        let tasks = [
            task("pt1", "orders-sync", "pa1"),
            task("pt2", "invoices", "pa2"),
        ];
        let counts = applied(
            store
                .apply_import(&s, ImportMode::AddNew, "dev-", &apps, &tasks)
                .expect("import"),
        );
        assert_eq!(
            counts,
            ImportCounts {
                apps_created: 2,
                apps_updated: 0,
                tasks_created: 2,
                tasks_updated: 0
            }
        );
        let got_apps = all_apps(&store, &s);
        assert_eq!(names(&got_apps, |a| &a.name), ["dev-billing", "dev-orders"]);
        assert!(
            got_apps
                .iter()
                .all(|a| !a.id.starts_with("pa") && a.id.len() == 32)
        );
        let id_of = |name: &str| {
            got_apps
                .iter()
                .find(|a| a.name == name)
                .map(|a| a.id.clone())
                .expect("app")
        };
        let got_tasks = all_tasks(&store, &s);
        assert_eq!(
            names(&got_tasks, |t| &t.name),
            ["dev-invoices", "dev-orders-sync"]
        );
        assert_eq!(got_tasks[0].app_id, id_of("dev-billing"));
        assert_eq!(got_tasks[1].app_id, id_of("dev-orders"));
        assert_eq!(got_tasks[1].source, tasks[0].source);
        assert_eq!(got_tasks[1].target, tasks[0].target);

        // The same package again with another prefix: new assets beside the first ones.
        applied(
            store
                .apply_import(&s, ImportMode::AddNew, "test-", &apps, &tasks)
                .expect("import"),
        );
        assert_eq!(all_apps(&store, &s).len(), 4);
        assert_eq!(all_tasks(&store, &s).len(), 4);
    }

    #[test]
    fn add_new_conflict_changes_nothing_and_names_each_conflict() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        store.seed_demo(&s).expect("seed");
        let apps_before = all_apps(&store, &s);
        let tasks_before = all_tasks(&store, &s);
        let apps = [app("x1", "fresh"), app("x2", "orders")];
        let tasks = [
            task("y1", "new-task", "x1"),
            task("y2", "crm-contacts", "x1"),
        ];
        let outcome = store
            .apply_import(&s, ImportMode::AddNew, "", &apps, &tasks)
            .expect("import");
        assert_eq!(
            outcome,
            ImportOutcome::Rejected(vec![
                Reason::new(
                    ResourceType::Application,
                    "orders",
                    CONFLICT_ERROR_CODE,
                    "an application with this name already exists"
                ),
                Reason::new(
                    ResourceType::Task,
                    "crm-contacts",
                    CONFLICT_ERROR_CODE,
                    "a task with this name already exists"
                ),
            ])
        );
        assert_eq!(all_apps(&store, &s), apps_before);
        assert_eq!(all_tasks(&store, &s), tasks_before);

        // Many conflicts: at most MAX_REASONS are reported.
        let many: Vec<AppAsset> = (0..12)
            .map(|n| app(&format!("m{n}"), &format!("m{n}")))
            .collect();
        applied(
            store
                .apply_import(&s, ImportMode::AddNew, "", &many, &[])
                .expect("import"),
        );
        let before = all_apps(&store, &s);
        match store
            .apply_import(&s, ImportMode::AddNew, "", &many, &[])
            .expect("import")
        {
            ImportOutcome::Rejected(reasons) => assert_eq!(reasons.len(), MAX_REASONS),
            other => panic!("expected a rejection, got {other:?}"),
        }
        assert_eq!(all_apps(&store, &s), before);
    }

    #[test]
    fn a_package_that_contradicts_itself_is_rejected_in_both_modes() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        let apps = [app("a", "one"), app("a", "two")];
        let tasks = [task("t", "orphan", "missing")];
        for mode in [ImportMode::AddNew, ImportMode::Merge] {
            match store
                .apply_import(&s, mode, "", &apps, &tasks)
                .expect("import")
            {
                ImportOutcome::Rejected(reasons) => {
                    assert_eq!(names(&reasons, |r| &r.resource_name), ["two", "orphan"]);
                    assert!(
                        reasons
                            .iter()
                            .all(|r| r.error_code == INVALID_PACKAGE_ERROR_CODE)
                    );
                }
                other => panic!("expected a rejection, got {other:?}"),
            }
        }
        assert!(all_apps(&store, &s).is_empty());
    }

    #[test]
    fn merge_overwrites_by_name_keeping_ids_and_creates_the_rest() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        store.seed_demo(&s).expect("seed");
        let before_apps = all_apps(&store, &s);
        let before_tasks = all_tasks(&store, &s);
        // "orders" and task "crm-contacts" exist; the task moves to the package's "orders".
        let apps = [
            AppAsset {
                id: "pkg-orders".to_string(),
                name: "orders".to_string(),
                description: "new description".to_string(),
            },
            app("pkg-new", "warehouse"),
        ];
        let tasks = [
            task("pt1", "crm-contacts", "pkg-orders"),
            task("pt2", "stock-sync", "pkg-new"),
        ];
        let counts = applied(
            store
                .apply_import(&s, ImportMode::Merge, "", &apps, &tasks)
                .expect("import"),
        );
        assert_eq!(
            counts,
            ImportCounts {
                apps_created: 1,
                apps_updated: 1,
                tasks_created: 1,
                tasks_updated: 1
            }
        );
        let after_apps = all_apps(&store, &s);
        assert_eq!(after_apps.len(), before_apps.len() + 1);
        let orders_before = before_apps
            .iter()
            .find(|a| a.name == "orders")
            .expect("orders");
        let orders = after_apps
            .iter()
            .find(|a| a.name == "orders")
            .expect("orders");
        assert_eq!(orders.id, "demo-app-orders");
        assert_eq!(orders.description, "new description");
        assert_eq!(orders.created_at, orders_before.created_at);
        assert!(orders.updated_at >= orders_before.updated_at);
        let warehouse = after_apps
            .iter()
            .find(|a| a.name == "warehouse")
            .expect("new app");

        let after_tasks = all_tasks(&store, &s);
        assert_eq!(after_tasks.len(), before_tasks.len() + 1);
        let contacts = after_tasks
            .iter()
            .find(|t| t.name == "crm-contacts")
            .expect("task");
        assert_eq!(contacts.id, "demo-task-crm-contacts");
        assert_eq!(contacts.app_id, "demo-app-orders");
        assert_eq!(contacts.source, tasks[0].source);
        let stock = after_tasks
            .iter()
            .find(|t| t.name == "stock-sync")
            .expect("task");
        assert_eq!(stock.app_id, warehouse.id);
        // Untouched assets stay as they were.
        for untouched in before_tasks.iter().filter(|t| t.name != "crm-contacts") {
            assert!(after_tasks.contains(untouched), "{untouched:?} changed");
        }
    }

    #[test]
    fn an_archive_is_downloaded_once_and_only_in_its_scope() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        let job = store.create_job(&s, JobKind::Export).expect("job");
        store
            .register_archive(&s, "arch1", &job.id, "arch1.zip")
            .expect("register");
        // Not downloadable while its job runs.
        assert_eq!(store.take_archive(&s, "arch1").expect("take"), None);
        store
            .finish_job(
                &job.id,
                JobOutcome::Succeeded {
                    archive_id: Some("arch1".to_string()),
                },
            )
            .expect("finish");
        assert_eq!(
            store.take_archive(&scope("q", "i"), "arch1").expect("take"),
            None
        );
        assert_eq!(
            store.take_archive(&scope("p", "j"), "arch1").expect("take"),
            None
        );
        assert_eq!(
            store.take_archive(&s, "arch1").expect("take"),
            Some("arch1.zip".to_string())
        );
        assert_eq!(store.take_archive(&s, "arch1").expect("take"), None);
        assert_eq!(store.take_archive(&s, "unknown").expect("take"), None);
        let job = store.get_job(&s, &job.id).expect("get").expect("job");
        assert_eq!(job.archive_id.as_deref(), Some("arch1"));

        let err = store
            .register_archive(&scope("q", "i"), "arch2", &job.id, "arch2.zip")
            .expect_err("a job of another project");
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    }

    #[test]
    fn racing_downloads_of_one_archive_let_exactly_one_win() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = scope("p", "i");
        {
            let store = SqliteStore::open(dir.path()).expect("open");
            let job = store.create_job(&s, JobKind::Export).expect("job");
            store
                .register_archive(&s, "arch", &job.id, "arch.zip")
                .expect("register");
            store
                .finish_job(
                    &job.id,
                    JobOutcome::Succeeded {
                        archive_id: Some("arch".to_string()),
                    },
                )
                .expect("finish");
        }
        const THREADS: usize = 4;
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let path = dir.path().to_path_buf();
                let barrier = Arc::clone(&barrier);
                let s = s.clone();
                std::thread::spawn(move || {
                    let store = SqliteStore::open(&path).expect("open");
                    barrier.wait();
                    store.take_archive(&s, "arch").expect("take")
                })
            })
            .collect();
        let got: Vec<Option<String>> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        assert_eq!(
            got.iter().flatten().collect::<Vec<_>>(),
            ["arch.zip"],
            "{got:?}"
        );
    }

    #[test]
    fn the_database_enforces_foreign_keys_in_wal_mode() {
        let (_dir, store) = open();
        let conn = store.lock().expect("lock");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
        let orphan = conn.execute(
            "INSERT INTO tasks (project_id, instance_id, id, name, app_id, source, target,
                                created_at, updated_at)
             VALUES ('p', 'i', 't', 'n', 'no-such-app', '{}', '{}', 'x', 'x')",
            [],
        );
        assert!(orphan.is_err(), "a task of an unknown app was stored");
    }

    #[test]
    fn an_archive_of_a_failed_job_is_never_downloadable() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        let job = store.create_job(&s, JobKind::Export).expect("job");
        store
            .register_archive(&s, "arch", &job.id, "arch.zip")
            .expect("register");
        store
            .finish_job(&job.id, JobOutcome::Failed { reasons: vec![] })
            .expect("finish");
        assert_eq!(store.take_archive(&s, "arch").expect("take"), None);
    }

    #[test]
    fn fail_running_jobs_fails_every_running_job_with_a_reason() {
        let (_dir, store) = open();
        let a = store
            .create_job(&scope("p", "i"), JobKind::Export)
            .expect("job");
        let b = store
            .create_job(&scope("q", "i"), JobKind::Import)
            .expect("job");
        let c = store
            .create_job(&scope("r", "i"), JobKind::Import)
            .expect("job");
        store
            .finish_job(&c.id, JobOutcome::Succeeded { archive_id: None })
            .expect("finish");
        assert_eq!(
            store
                .fail_running_jobs("the server restarted")
                .expect("fail"),
            2
        );
        for job in [&a, &b] {
            let got = store
                .get_job(&job.scope, &job.id)
                .expect("get")
                .expect("job");
            assert_eq!(got.status, JobStatus::Failed);
            assert!(got.end_time.is_some());
            assert_eq!(
                got.reasons,
                [Reason::new(
                    ResourceType::Application,
                    "server",
                    JOB_ABORTED_ERROR_CODE,
                    "the server restarted"
                )]
            );
        }
        let c = store.get_job(&c.scope, &c.id).expect("get").expect("job");
        assert_eq!(c.status, JobStatus::Succeeded);
        assert_eq!(store.fail_running_jobs("again").expect("fail"), 0);
        // The project can start a job again.
        store
            .create_job(&scope("p", "i"), JobKind::Export)
            .expect("new job");
    }

    #[test]
    fn seeding_twice_changes_nothing() {
        let (_dir, store) = open();
        let s = scope("p", "i");
        store.seed_demo(&s).expect("seed");
        let apps = all_apps(&store, &s);
        let tasks = all_tasks(&store, &s);
        let mut app_ids = names(&apps, |a| &a.id);
        app_ids.sort();
        let mut expected: Vec<&str> = DEMO_APP_IDS.to_vec();
        expected.sort();
        assert_eq!(app_ids, expected);
        let mut task_ids = names(&tasks, |t| &t.id);
        task_ids.sort();
        let mut expected: Vec<&str> = DEMO_TASK_IDS.to_vec();
        expected.sort();
        assert_eq!(task_ids, expected);
        assert!(
            tasks
                .iter()
                .all(|t| DEMO_APP_IDS.contains(&t.app_id.as_str()))
        );

        store.seed_demo(&s).expect("seed again");
        assert_eq!(all_apps(&store, &s), apps);
        assert_eq!(all_tasks(&store, &s), tasks);
    }

    #[test]
    fn demo_constants_match_the_seeded_data() {
        let app_ids: Vec<&str> = DEMO_APPS.iter().map(|(id, ..)| *id).collect();
        assert_eq!(app_ids, DEMO_APP_IDS);
        let tasks = demo_tasks();
        let task_ids: Vec<&str> = tasks.iter().map(|(t, ..)| t.id.as_str()).collect();
        assert_eq!(task_ids, DEMO_TASK_IDS);
    }
}
