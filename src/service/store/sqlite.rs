//! [`SqliteStore`]: the [`Store`] on one SQLite file in WAL mode, its embedded migrations, and
//! listings' filters as SQL conditions with bound parameters (never formatted values).

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{
    APP_COLUMNS, JOB_COLUMNS, TASK_COLUMNS, app_from_row, job_from_row, kind_text, new_id, now,
    parse_ts, sql_int, task_from_row, ts, unique,
};
use super::{
    APP_HAS_TASKS_ERROR_CODE, AppFilter, DeleteOutcome, ImportOutcome, InstanceRow,
    JOB_ABORTED_ERROR_CODE, JobOutcome, MISSING_ERROR_CODE, Store, StoreError, TaskFilter, import,
};
use crate::service::model::{
    App, AppAsset, ImportRequest, Job, JobKind, JobStatus, MAX_REASONS, Reason, ResourceType,
    Scope, Task, TaskFeed,
};

/// The database file [`SqliteStore::open`] creates inside its data directory.
pub const DB_FILE_NAME: &str = "roma-assets.sqlite3";

/// How long (ms) a connection waits for another connection's write lock before giving up.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// The embedded migrations, in order. Each is applied once, in its own transaction, and recorded
/// in `schema_migrations`. Append only.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/0001_init.sql")),
    (2, include_str!("../../../migrations/0002_asset_family.sql")),
];

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
        let name_of =
            |table: &str, id: &str| super::rows::scoped_lookup(&tx, table, "name", "id", scope, id);
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

    fn apply_import(
        &self,
        scope: &Scope,
        request: &ImportRequest,
        apps: &[AppAsset],
        tasks: &mut dyn TaskFeed,
    ) -> Result<ImportOutcome, StoreError> {
        let mut conn = self.lock()?;
        import::apply(&mut conn, scope, request, apps, tasks)
    }

    fn insert_assets(&self, scope: &Scope, apps: &[App], tasks: &[Task]) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // ON CONFLICT on the id only: an asset the instance holds is kept as it is, while a name
        // taken by another asset still fails (UNIQUE on the name), writing nothing.
        for app in apps {
            tx.execute(
                "INSERT INTO apps (project_id, instance_id, id, name, description, created_at,
                                   updated_at, app_key, favorite)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (project_id, instance_id, id) DO NOTHING",
                params![
                    scope.project_id,
                    scope.instance_id,
                    app.id,
                    app.name,
                    app.description,
                    ts(&app.created_at),
                    ts(&app.updated_at),
                    app.key,
                    app.favorite
                ],
            )?;
        }
        for task in tasks {
            tx.execute(
                "INSERT INTO tasks (project_id, instance_id, id, name, app_id, source, target,
                                    created_at, updated_at, task_type, task_tag, status,
                                    execute_status, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (project_id, instance_id, id) DO NOTHING",
                params![
                    scope.project_id,
                    scope.instance_id,
                    task.id,
                    task.name,
                    task.app_id,
                    task.source.to_string(),
                    task.target.to_string(),
                    ts(&task.created_at),
                    ts(&task.updated_at),
                    task.task_type.as_str(),
                    task.task_tag,
                    task.running,
                    task.execute_status,
                    task.version
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
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
}

// The server holds an `Arc<dyn Store>`: fail the build, not the server, if the trait stops being
// object safe.
const _: fn(&SqliteStore) -> &dyn Store = |store| store;

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::service::demo::DEMO_APP_IDS;
    use crate::service::model::ImportMode;
    use std::sync::{Arc, Barrier};

    #[test]
    fn reopening_keeps_data_and_applies_each_migration_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = scope("p", "i");
        {
            let store = SqliteStore::open(dir.path()).expect("first open");
            seed(&store, &s).expect("seed");
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
        applied(import(&store, &s, ImportMode::AddNew, "", &apps, &[]).expect("import"));
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
        applied(import(&store, &s, ImportMode::AddNew, "", &apps, &tasks).expect("import"));
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
        seed(&store, &s).expect("seed");
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
}
