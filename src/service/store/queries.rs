//! [`SqlStore`]: the [`Store`] written once, against the seam of `sql.rs`, for every engine;
//! listings' filters are SQL conditions with bound parameters (never formatted values).

use std::collections::HashSet;

use super::rows::{
    APP_COLUMNS, JOB_COLUMNS, TASK_COLUMNS, app_from_row, job_from_row, kind_text, new_id, now,
    parse_ts, sql_int, task_from_row, ts, unique,
};
use super::sql::{Dialect, Engine, Row, Tx, Value, values};
use super::{
    APP_HAS_TASKS_ERROR_CODE, AppFilter, DeleteOutcome, ImportOutcome, InstanceRow,
    JOB_ABORTED_ERROR_CODE, JobOutcome, MISSING_ERROR_CODE, RunningJobs, Store, StoreError,
    TaskFilter, import,
};
use crate::service::model::{
    App, AppAsset, ImportRequest, Job, JobKind, JobStatus, MAX_REASONS, Reason, ResourceType,
    Scope, Task, TaskFeed,
};

/// The [`Store`] on the database engine `E`.
pub struct SqlStore<E> {
    pub(super) engine: E,
    /// Who this store is among the servers of one database: the owner of the jobs it creates.
    owner: String,
    /// How long a job's lease lasts.
    lease: std::time::Duration,
}

/// How long a job's lease lasts unless [`SqlStore::with_lease`] says otherwise.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

impl<E> SqlStore<E> {
    pub(super) fn new(engine: E) -> Self {
        SqlStore {
            engine,
            owner: new_id(),
            lease: DEFAULT_LEASE,
        }
    }

    /// The same store with jobs' leases of `lease` (at least a second).
    #[must_use]
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.lease = lease.max(std::time::Duration::from_secs(1));
        self
    }

    /// When a lease taken now ends, as stored.
    fn lease_end(&self) -> String {
        let lease = chrono::TimeDelta::from_std(self.lease).unwrap_or(chrono::TimeDelta::MAX);
        ts(&(now() + lease))
    }
}

impl<E> std::fmt::Debug for SqlStore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("engine", &std::any::type_name::<E>())
            .finish_non_exhaustive()
    }
}

/// Applies each of `migrations` (version, SQL) not yet recorded in `schema_migrations`, in
/// order, each in its own transaction holding the migrations' write lock: a server that opens
/// the database while another migrates it waits, then finds the work done (SQLite: two
/// processes on a new file; PostgreSQL: replicas starting together). A database that records a
/// version newer than this program knows is refused.
pub(super) fn migrate<E: Engine>(engine: &E, migrations: &[(i64, &str)]) -> Result<(), StoreError> {
    let newest_known = migrations.last().map_or(0, |(v, _)| *v);
    for (version, sql) in migrations {
        engine.transaction(Tx::Write("schema migrations"), |tx| {
            tx.batch(E::DIALECT.migrations_table())?;
            let newest = tx
                .query_one("SELECT max(version) FROM schema_migrations", &[])?
                .opt_int(0)?;
            if let Some(applied) = newest
                && applied > newest_known
            {
                return Err(StoreError::Corrupt(format!(
                    "schema version {applied} is newer than this program knows ({newest_known})"
                )));
            }
            let done = tx
                .query_opt(
                    "SELECT 1 FROM schema_migrations WHERE version = ?1",
                    values![*version],
                )?
                .is_some();
            if !done {
                tx.batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                    values![*version, ts(&now())],
                )?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// The name of an instance's write lock ([`Tx::Write`]).
fn instance_lock(scope: &Scope) -> String {
    format!("instance {}/{}", scope.project_id, scope.instance_id)
}

/// A listing's conditions beyond the scope, as SQL over the table's columns, with their
/// parameters (bound after the scope's two), and its order.
struct Conditions {
    dialect: Dialect,
    sql: String,
    params: Vec<Value>,
    order: &'static str,
}

impl Conditions {
    fn new(dialect: Dialect, order: &'static str) -> Self {
        Conditions {
            dialect,
            sql: String::new(),
            params: Vec::new(),
            order,
        }
    }

    /// Adds `AND clause(placeholder)`, the value bound to the placeholder.
    fn and(&mut self, clause: impl FnOnce(Dialect, &str) -> String, value: Value) {
        self.params.push(value);
        let placeholder = format!("?{}", self.params.len() + 2);
        self.sql.push_str(" AND ");
        self.sql.push_str(&clause(self.dialect, &placeholder));
    }

    /// Adds `AND column = placeholder`.
    fn equals(&mut self, column: &'static str, value: Value) {
        self.and(|_, p| format!("{column} = {p}"), value);
    }

    fn apps(dialect: Dialect, filter: &AppFilter) -> Self {
        let mut c = Conditions::new(dialect, "favorite DESC, name, id");
        if let Some(name) = &filter.name {
            c.and(|d, p| d.contains("name", p), Value::Text(name.clone()));
        }
        if let Some(favorite) = filter.favorite {
            c.equals("favorite", Value::Int(i64::from(favorite)));
        }
        c
    }

    fn tasks(dialect: Dialect, filter: &TaskFilter) -> Self {
        let order = match (filter.sort_by_status, filter.ascending) {
            (false, false) => "created_at DESC, name, id",
            (false, true) => "created_at ASC, name, id",
            (true, false) => "status DESC, name, id",
            (true, true) => "status ASC, name, id",
        };
        let mut c = Conditions::new(dialect, order);
        let text = |v: &String| Value::Text(v.clone());
        if let Some(id) = &filter.id {
            c.equals("id", text(id));
        }
        if let Some(name) = &filter.name {
            c.and(|d, p| d.contains("name", p), text(name));
        }
        if let Some(running) = filter.running {
            c.equals("status", Value::Int(i64::from(running)));
        }
        if let Some(task_type) = filter.task_type {
            c.equals("task_type", Value::Text(task_type.as_str().to_string()));
        }
        if let Some(status) = &filter.execute_status {
            c.equals("execute_status", text(status));
        }
        // A task's application owns both its data sources: two different apps keep none.
        for app in [&filter.source_app_id, &filter.target_app_id]
            .into_iter()
            .flatten()
        {
            c.equals("app_id", text(app));
        }
        let datasource = |column| {
            move |d: Dialect, p: &str| format!("{} = {p}", d.json_field(column, "datasource_id"))
        };
        if let Some(id) = &filter.source_datasource_id {
            c.and(datasource("source"), text(id));
        }
        if let Some(id) = &filter.target_datasource_id {
            c.and(datasource("target"), text(id));
        }
        if let Some(id) = &filter.datasource_id {
            c.and(
                |d, p| {
                    format!(
                        "{p} IN ({}, {})",
                        d.json_field("source", "datasource_id"),
                        d.json_field("target", "datasource_id")
                    )
                },
                text(id),
            );
        }
        if let Some(tag) = &filter.task_tag {
            c.equals("task_tag", text(tag));
        }
        c
    }
}

impl<E: Engine> SqlStore<E> {
    /// One page of `table` (apps or tasks) that `conditions` keep, in their order, with the total
    /// matching count, read in one snapshot so the two agree.
    fn list_page<T>(
        &self,
        table: &str,
        columns: &str,
        from_row: fn(&Row) -> Result<T, StoreError>,
        scope: &Scope,
        conditions: &Conditions,
        (offset, limit): (u64, u64),
    ) -> Result<(u64, Vec<T>), StoreError> {
        self.engine.transaction(Tx::Read, |tx| {
            let mut params = vec![
                Value::Text(scope.project_id.clone()),
                Value::Text(scope.instance_id.clone()),
            ];
            params.extend(conditions.params.iter().cloned());
            let filter = format!(
                "FROM {table} WHERE project_id = ?1 AND instance_id = ?2{}",
                conditions.sql
            );
            let n = tx
                .query_one(&format!("SELECT count(*) {filter}"), &params)?
                .int(0)?;
            let total = u64::try_from(n)
                .map_err(|_| StoreError::Corrupt(format!("count of {table} is {n}")))?;
            let (limit_at, offset_at) = (params.len() + 1, params.len() + 2);
            params.push(Value::Int(sql_int(limit)));
            params.push(Value::Int(sql_int(offset)));
            let rows = tx.query(
                &format!(
                    "SELECT {columns} {filter} ORDER BY {} LIMIT ?{limit_at} OFFSET ?{offset_at}",
                    conditions.order
                ),
                &params,
            )?;
            let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
            Ok((total, items))
        })
    }

    /// The rows of `table` with the given ids, in the order asked, each once; missing ids are
    /// simply absent.
    fn by_ids<T>(
        &self,
        table: &str,
        columns: &str,
        from_row: fn(&Row) -> Result<T, StoreError>,
        scope: &Scope,
        ids: &[String],
    ) -> Result<Vec<T>, StoreError> {
        self.engine.transaction(Tx::Read, |tx| {
            let sql = format!(
                "SELECT {columns} FROM {table} WHERE project_id = ?1 AND instance_id = ?2 AND id = ?3"
            );
            let mut seen = HashSet::new();
            let mut items = Vec::new();
            for id in ids {
                if !seen.insert(id.as_str()) {
                    continue;
                }
                if let Some(row) =
                    tx.query_opt(&sql, values![&scope.project_id, &scope.instance_id, id])?
                {
                    items.push(from_row(&row)?);
                }
            }
            Ok(items)
        })
    }

    /// The one job that `sql` (selecting [`JOB_COLUMNS`]) finds, if any.
    fn one_job(&self, sql: &str, params: &[Value]) -> Result<Option<Job>, StoreError> {
        self.engine.transaction(Tx::Single, |conn| {
            conn.query_opt(sql, params)?
                .map(|row| job_from_row(&row))
                .transpose()
        })
    }
}

impl<E: Engine> Store for SqlStore<E> {
    fn list_apps(
        &self,
        scope: &Scope,
        filter: &AppFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<App>), StoreError> {
        let conditions = Conditions::apps(E::DIALECT, filter);
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
        let conditions = Conditions::tasks(E::DIALECT, filter);
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
        self.one_job(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE project_id = ?1 AND status = 'RUNNING'"),
            values![project_id],
        )
    }

    fn list_instances(
        &self,
        project_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(u64, Vec<InstanceRow>), StoreError> {
        const WRITES: &str =
            "SELECT instance_id, created_at AS first_write, updated_at AS last_write
                                  FROM apps WHERE project_id = ?1
                              UNION ALL
                              SELECT instance_id, created_at, updated_at FROM tasks
                                  WHERE project_id = ?1
                              UNION ALL
                              SELECT instance_id, begin_time, coalesce(end_time, begin_time)
                                  FROM jobs WHERE project_id = ?1";
        self.engine.transaction(Tx::Read, |tx| {
            let n = tx
                .query_one(
                    &format!("SELECT count(DISTINCT instance_id) FROM ({WRITES}) AS writes"),
                    values![project_id],
                )?
                .int(0)?;
            let rows = tx.query(
                &format!(
                    "SELECT instance_id, min(first_write), max(last_write) FROM ({WRITES}) AS writes
                     GROUP BY instance_id ORDER BY instance_id LIMIT ?2 OFFSET ?3"
                ),
                values![project_id, sql_int(limit), sql_int(offset)],
            )?;
            let instances = rows
                .iter()
                .map(|row| {
                    Ok(InstanceRow {
                        id: row.text(0)?,
                        created_at: parse_ts(&row.text(1)?, "first write")?,
                        updated_at: parse_ts(&row.text(2)?, "last write")?,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            let total =
                u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("instance count {n}")))?;
            Ok((total, instances))
        })
    }

    fn delete_assets(
        &self,
        scope: &Scope,
        app_ids: &[String],
        task_ids: &[String],
    ) -> Result<DeleteOutcome, StoreError> {
        // The instance's write lock: the checks below and the deletes see the same instance. A
        // rejection returns before anything is deleted.
        self.engine
            .transaction(Tx::Write(&instance_lock(scope)), |tx| {
                let mut reasons = Vec::new();
                let deleted_tasks: HashSet<&str> = task_ids.iter().map(String::as_str).collect();
                for id in unique(task_ids) {
                    if super::rows::scoped_lookup(tx, "tasks", "name", "id", scope, id)?.is_none() {
                        reasons.push(Reason::new(
                            ResourceType::Task,
                            id,
                            MISSING_ERROR_CODE,
                            "no such task in this instance",
                        ));
                    }
                }
                for id in unique(app_ids) {
                    if super::rows::scoped_lookup(tx, "apps", "name", "id", scope, id)?.is_none() {
                        reasons.push(Reason::new(
                            ResourceType::Application,
                            id,
                            MISSING_ERROR_CODE,
                            "no such application in this instance",
                        ));
                        continue;
                    }
                    let owned = tx.query(
                        "SELECT id, name FROM tasks
                         WHERE project_id = ?1 AND instance_id = ?2 AND app_id = ?3 ORDER BY name",
                        values![&scope.project_id, &scope.instance_id, id],
                    )?;
                    for row in owned {
                        let (task_id, task_name) = (row.text(0)?, row.text(1)?);
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
                    return Ok(DeleteOutcome::Rejected(reasons));
                }
                let mut counts = (0, 0);
                for id in unique(task_ids) {
                    counts.1 += tx.execute(
                        "DELETE FROM tasks WHERE project_id = ?1 AND instance_id = ?2 AND id = ?3",
                        values![&scope.project_id, &scope.instance_id, id],
                    )?;
                }
                for id in unique(app_ids) {
                    counts.0 += tx.execute(
                        "DELETE FROM apps WHERE project_id = ?1 AND instance_id = ?2 AND id = ?3",
                        values![&scope.project_id, &scope.instance_id, id],
                    )?;
                }
                Ok(DeleteOutcome::Deleted(counts.0, counts.1))
            })
    }

    fn apps_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<App>, StoreError> {
        self.by_ids("apps", APP_COLUMNS, app_from_row, scope, ids)
    }

    fn tasks_by_ids(&self, scope: &Scope, ids: &[String]) -> Result<Vec<Task>, StoreError> {
        self.by_ids("tasks", TASK_COLUMNS, task_from_row, scope, ids)
    }

    fn create_job(&self, scope: &Scope, kind: JobKind) -> Result<Job, StoreError> {
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
        // No check before the INSERT: the partial unique index decides, atomically. The id is
        // new, so the only conflict there can be is a RUNNING job of the project.
        let inserted = self.engine.transaction(Tx::Single, |conn| {
            conn.execute(
                "INSERT INTO jobs (id, project_id, instance_id, kind, status, progress, reasons,
                                   begin_time, owner, lease_until)
                 VALUES (?1, ?2, ?3, ?4, 'RUNNING', 0, '[]', ?5, ?6, ?7)
                 ON CONFLICT DO NOTHING",
                values![
                    &job.id,
                    &scope.project_id,
                    &scope.instance_id,
                    kind_text(kind),
                    ts(&job.begin_time),
                    &self.owner,
                    self.lease_end()
                ],
            )
        })?;
        if inserted == 0 {
            return Err(StoreError::JobAlreadyRunning);
        }
        Ok(job)
    }

    fn set_progress(&self, job_id: &str, progress: f64) -> Result<(), StoreError> {
        let progress = if progress.is_nan() {
            0.0
        } else {
            progress.clamp(0.0, 1.0)
        };
        let changed = self.engine.transaction(Tx::Single, |conn| {
            conn.execute(
                "UPDATE jobs SET progress = ?1 WHERE id = ?2 AND status = 'RUNNING'",
                values![progress, job_id],
            )
        })?;
        if changed == 0 {
            return Err(StoreError::JobNotRunning(job_id.to_string()));
        }
        Ok(())
    }

    fn finish_job(&self, job_id: &str, outcome: JobOutcome) -> Result<(), StoreError> {
        let end = ts(&now());
        let changed = match outcome {
            JobOutcome::Succeeded { archive_id } => {
                self.engine.transaction(Tx::Single, |conn| {
                    conn.execute(
                        "UPDATE jobs SET status = 'SUCCEEDED', progress = 1, archive_id = ?1,
                                         end_time = ?2
                         WHERE id = ?3 AND status = 'RUNNING'",
                        values![archive_id, end, job_id],
                    )
                })?
            }
            JobOutcome::Failed { mut reasons } => {
                reasons.truncate(MAX_REASONS);
                let reasons = serde_json::to_string(&reasons)?;
                self.engine.transaction(Tx::Single, |conn| {
                    conn.execute(
                        "UPDATE jobs SET status = 'FAILED', reasons = ?1, end_time = ?2
                         WHERE id = ?3 AND status = 'RUNNING'",
                        values![reasons, end, job_id],
                    )
                })?
            }
        };
        if changed == 0 {
            return Err(StoreError::JobNotRunning(job_id.to_string()));
        }
        Ok(())
    }

    fn get_job(&self, scope: &Scope, job_id: &str) -> Result<Option<Job>, StoreError> {
        self.one_job(
            &format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND project_id = ?2 AND instance_id = ?3"
            ),
            values![job_id, &scope.project_id, &scope.instance_id],
        )
    }

    fn apply_import(
        &self,
        scope: &Scope,
        request: &ImportRequest,
        apps: &[AppAsset],
        tasks: &mut dyn TaskFeed,
    ) -> Result<ImportOutcome, StoreError> {
        self.engine
            .transaction(Tx::Write(&instance_lock(scope)), |tx| {
                import::apply(tx, scope, request, apps, tasks)
            })
    }

    fn insert_assets(&self, scope: &Scope, apps: &[App], tasks: &[Task]) -> Result<(), StoreError> {
        self.engine
            .transaction(Tx::Write(&instance_lock(scope)), |tx| {
                // ON CONFLICT on the id only: an asset the instance holds is kept as it is, while
                // a name taken by another asset still fails (UNIQUE on the name), writing nothing.
                for app in apps {
                    tx.execute(
                        "INSERT INTO apps (project_id, instance_id, id, name, description,
                                           created_at, updated_at, app_key, favorite)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT (project_id, instance_id, id) DO NOTHING",
                        values![
                            &scope.project_id,
                            &scope.instance_id,
                            &app.id,
                            &app.name,
                            &app.description,
                            ts(&app.created_at),
                            ts(&app.updated_at),
                            &app.key,
                            app.favorite
                        ],
                    )?;
                }
                for task in tasks {
                    tx.execute(
                        "INSERT INTO tasks (project_id, instance_id, id, name, app_id, source,
                                            target, created_at, updated_at, task_type, task_tag,
                                            status, execute_status, version)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                         ON CONFLICT (project_id, instance_id, id) DO NOTHING",
                        values![
                            &scope.project_id,
                            &scope.instance_id,
                            &task.id,
                            &task.name,
                            &task.app_id,
                            task.source.to_string(),
                            task.target.to_string(),
                            ts(&task.created_at),
                            ts(&task.updated_at),
                            task.task_type.as_str(),
                            &task.task_tag,
                            task.running,
                            &task.execute_status,
                            i64::from(task.version)
                        ],
                    )?;
                }
                Ok(())
            })
    }

    fn register_archive(
        &self,
        scope: &Scope,
        archive_id: &str,
        job_id: &str,
        path: &str,
    ) -> Result<(), StoreError> {
        // Copying the scope from the job row both checks it and keeps the two consistent.
        let inserted = self.engine.transaction(Tx::Single, |conn| {
            conn.execute(
                "INSERT INTO archives (id, project_id, instance_id, job_id, path, created_at)
                 SELECT CAST(?1 AS TEXT), project_id, instance_id, id, CAST(?2 AS TEXT),
                        CAST(?3 AS TEXT)
                 FROM jobs WHERE id = ?4 AND project_id = ?5 AND instance_id = ?6",
                values![
                    archive_id,
                    path,
                    ts(&now()),
                    job_id,
                    &scope.project_id,
                    &scope.instance_id
                ],
            )
        })?;
        if inserted == 0 {
            return Err(StoreError::NotFound(format!("job {job_id}")));
        }
        Ok(())
    }

    fn take_archive(&self, scope: &Scope, archive_id: &str) -> Result<Option<String>, StoreError> {
        // The conditional UPDATE is the claim: only one caller can turn downloaded_at from NULL,
        // and only that caller gets the row back.
        self.engine.transaction(Tx::Single, |conn| {
            conn.query_opt(
                "UPDATE archives SET downloaded_at = ?1
                 WHERE id = ?2 AND project_id = ?3 AND instance_id = ?4 AND downloaded_at IS NULL
                   AND EXISTS (SELECT 1 FROM jobs
                               WHERE jobs.id = archives.job_id AND jobs.status = 'SUCCEEDED')
                 RETURNING path",
                values![
                    ts(&now()),
                    archive_id,
                    &scope.project_id,
                    &scope.instance_id
                ],
            )?
            .map(|row| row.text(0))
            .transpose()
        })
    }

    fn fail_running_jobs(&self, which: RunningJobs, reason: &str) -> Result<u64, StoreError> {
        let reasons = vec![Reason::new(
            ResourceType::Application,
            "server",
            JOB_ABORTED_ERROR_CODE,
            reason,
        )];
        let reasons = serde_json::to_string(&reasons)?;
        let at = ts(&now());
        // The rows are chosen, then updated, in one statement; PostgreSQL skips the rows another
        // replica is ending at that moment rather than waiting for them (it ends them itself).
        let chosen = match which {
            RunningJobs::All => "status = 'RUNNING'",
            RunningJobs::Own => "status = 'RUNNING' AND owner = ?3",
            // Never this store's own: it knows they run (a renewal delayed past the lease by a
            // busy machine must not fail them); they end when they finish or at shutdown.
            RunningJobs::Expired => "status = 'RUNNING' AND lease_until < ?2 AND owner <> ?3",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'FAILED', reasons = ?1, end_time = ?2
             WHERE id IN (SELECT id FROM jobs WHERE {chosen}{})",
            E::DIALECT.skip_locked()
        );
        // Bound: the placeholders the chosen statement names (every engine refuses others).
        let params = match which {
            RunningJobs::All => values![reasons, at],
            RunningJobs::Own | RunningJobs::Expired => values![reasons, at, &self.owner],
        };
        self.engine
            .transaction(Tx::Single, |conn| conn.execute(&sql, params))
    }

    fn renew_leases(&self) -> Result<Vec<String>, StoreError> {
        let until = self.lease_end();
        self.engine.transaction(Tx::Single, |conn| {
            conn.query(
                "UPDATE jobs SET lease_until = ?1 WHERE owner = ?2 AND status = 'RUNNING'
                 RETURNING id",
                values![until, &self.owner],
            )?
            .iter()
            .map(|row| row.text(0))
            .collect()
        })
    }

    fn lease(&self) -> std::time::Duration {
        self.lease
    }
}

// The server holds an `Arc<dyn Store>`: fail the build, not the server, if the trait stops being
// object safe.
const _: fn(&SqlStore<super::sqlite::Sqlite>) -> &dyn Store = |store| store;

/// The store's behaviour, on every engine (`testing::every_engine`).
#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::service::model::ImportMode;
    use std::sync::{Arc, Barrier};

    #[test]
    fn listing_pages_ordered_by_name_with_the_total() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
            let s = scope("p", "i");
            let apps: Vec<AppAsset> = (0..25)
                .rev()
                .map(|n| app(&format!("a{n}"), &format!("app-{n:02}")))
                .collect();
            applied(import(store, &s, ImportMode::AddNew, "", &apps, &[]).expect("import"));
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
    }

    #[test]
    fn name_filter_is_a_case_sensitive_substring_with_no_wildcards() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
            let s = scope("p", "i");
            let apps = [
                app("1", "50% off"),
                app("2", "500 club"),
                app("3", "a_b"),
                app("4", "axb"),
                app("5", "Orders"),
            ];
            let tasks = [task("t1", "sync_100%", "1"), task("t2", "sync-1000", "2")];
            applied(import(store, &s, ImportMode::AddNew, "", &apps, &tasks).expect("import"));
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
    }

    #[test]
    fn by_ids_returns_the_found_assets_in_the_order_asked() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
            let s = scope("p", "i");
            seed(store, &s).expect("seed");
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
    }

    #[test]
    fn a_second_running_job_in_a_project_is_refused_until_the_first_ends() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
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
    }

    #[test]
    fn racing_create_job_lets_exactly_one_win() {
        for engine in every_engine() {
            const THREADS: usize = 8;
            let barrier = Arc::new(Barrier::new(THREADS));
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let open_again = engine.open_again();
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        // Each thread its own connection, as separate processes would have.
                        let store = open_again();
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
    }

    #[test]
    fn jobs_progress_end_once_and_are_only_found_in_their_scope() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
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
    }

    #[test]
    fn an_archive_is_downloaded_once_and_only_in_its_scope() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
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
    }

    #[test]
    fn racing_downloads_of_one_archive_let_exactly_one_win() {
        for engine in every_engine() {
            let s = scope("p", "i");
            {
                let store = engine.store.as_ref();
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
                    let open_again = engine.open_again();
                    let barrier = Arc::clone(&barrier);
                    let s = s.clone();
                    std::thread::spawn(move || {
                        let store = open_again();
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
    }

    #[test]
    fn an_archive_of_a_failed_job_is_never_downloadable() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
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
    }

    #[test]
    fn fail_running_jobs_fails_every_running_job_with_a_reason() {
        for engine in every_engine() {
            let store = engine.store.as_ref();
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
                    .fail_running_jobs(RunningJobs::All, "the server restarted")
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
            assert_eq!(
                store
                    .fail_running_jobs(RunningJobs::All, "again")
                    .expect("fail"),
                0
            );
            // The project can start a job again.
            store
                .create_job(&scope("p", "i"), JobKind::Export)
                .expect("new job");
        }
    }

    #[test]
    fn a_job_belongs_to_its_store_and_fails_once_its_lease_has_expired() {
        for engine in every_engine() {
            // Two servers of one database: `a` runs a job with a short lease and dies (never
            // renews); `b` renews its own and ends `a`'s once expired.
            let a = engine.another_server(std::time::Duration::from_secs(1));
            let b = engine.store.as_ref();
            let dead = a
                .create_job(&scope("p", "i"), JobKind::Import)
                .expect("job");
            let alive = b
                .create_job(&scope("q", "i"), JobKind::Export)
                .expect("job");
            assert_eq!(
                b.renew_leases().expect("renew"),
                std::slice::from_ref(&alive.id)
            );
            assert_eq!(
                a.renew_leases().expect("renew"),
                std::slice::from_ref(&dead.id)
            );
            // Not yet expired: nothing to end; `b`'s own are `b`'s only.
            assert_eq!(b.fail_running_jobs(RunningJobs::Expired, "x").unwrap(), 0);
            std::thread::sleep(std::time::Duration::from_millis(1_100));
            // Expired, but `a`'s own: `a` never ends it as expired (it knows it runs).
            assert_eq!(a.fail_running_jobs(RunningJobs::Expired, "x").unwrap(), 0);
            assert_eq!(
                b.fail_running_jobs(RunningJobs::Expired, "its server stopped")
                    .unwrap(),
                1
            );
            assert_eq!(
                b.fail_running_jobs(RunningJobs::Expired, "again").unwrap(),
                0
            );
            let got = b.get_job(&dead.scope, &dead.id).unwrap().expect("job");
            assert_eq!(got.status, JobStatus::Failed);
            assert_eq!(got.reasons[0].error_msg, "its server stopped");
            // The project's slot is free again; `a` can no longer end or renew the job.
            b.create_job(&scope("p", "i"), JobKind::Export)
                .expect("a new job in the dead server's project");
            assert!(a.renew_leases().expect("renew").is_empty());
            assert!(matches!(
                a.finish_job(&dead.id, JobOutcome::Succeeded { archive_id: None }),
                Err(StoreError::JobNotRunning(_))
            ));
            // At its shutdown a server ends its own running jobs only.
            let own = b.fail_running_jobs(RunningJobs::Own, "stopping").unwrap();
            assert_eq!(own, 2);
            let alive = b.get_job(&alive.scope, &alive.id).unwrap().expect("job");
            assert_eq!(alive.status, JobStatus::Failed);
        }
    }
}
