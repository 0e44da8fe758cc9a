//! Rows ↔ the domain model: the column lists each query selects, reading a row back into an
//! [`App`], a [`Task`] or a [`Job`], and the stored forms of ids, keys and timestamps.
//!
//! Reading never panics on stored data: a value this code cannot read back is
//! [`StoreError::Corrupt`] naming its column.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::service::model::{App, Job, JobKind, JobStatus, Scope, Task, TaskType};

/// The columns [`app_from_row`] reads, in its order.
pub(super) const APP_COLUMNS: &str =
    "id, name, description, created_at, updated_at, app_key, favorite";
/// The columns [`task_from_row`] reads, in its order.
pub(super) const TASK_COLUMNS: &str = "id, name, app_id, source, target, created_at, updated_at, \
                                       task_type, task_tag, status, execute_status, version";
/// The columns [`job_from_row`] reads, in its order.
pub(super) const JOB_COLUMNS: &str = "id, project_id, instance_id, kind, status, progress, archive_id, reasons, begin_time, end_time";

pub(super) fn app_from_row(row: &Row<'_>) -> Result<App, StoreError> {
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

pub(super) fn task_from_row(row: &Row<'_>) -> Result<Task, StoreError> {
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

pub(super) fn job_from_row(row: &Row<'_>) -> Result<Job, StoreError> {
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

/// A job kind as `jobs.kind` stores it.
pub(super) fn kind_text(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Export => "EXPORT",
        JobKind::Import => "IMPORT",
        JobKind::Delete => "DELETE",
    }
}

/// A new id: 32 lowercase hex digits.
pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Each id once, in the order given.
pub(super) fn unique(ids: &[String]) -> impl Iterator<Item = &str> {
    let mut seen = HashSet::new();
    ids.iter()
        .map(String::as_str)
        .filter(move |id| seen.insert(*id))
}

/// Now, cut to the microseconds that are stored, so a value written and read back is equal.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The stored form of a timestamp: RFC 3339, UTC, always 6 fractional digits (sorts as text).
pub(super) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn parse_ts(s: &str, column: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{column} {s:?}: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str, column: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// A page bound as SQLite wants it (signed); anything past `i64::MAX` means "no bound" anyway.
pub(super) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One column (`wanted`) of the asset of `table` in the scope whose `key` column is `value`, if
/// any: an asset's id by its name, or its name by its id. `table` and the columns are constants
/// of this module's callers, never input.
pub(super) fn scoped_lookup(
    conn: &Connection,
    table: &str,
    wanted: &str,
    key: &str,
    scope: &Scope,
    value: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {wanted} FROM {table} WHERE project_id = ?1 AND instance_id = ?2 AND {key} = ?3"
            ),
            params![scope.project_id, scope.instance_id, value],
            |row| row.get(0),
        )
        .optional()?)
}
