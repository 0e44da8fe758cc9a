//! Rows ↔ the domain model: the column lists each query selects, reading a row back into an
//! [`App`], a [`Task`] or a [`Job`], and the stored forms of ids, keys and timestamps.
//!
//! Reading never panics on stored data: a value this code cannot read back is
//! [`StoreError::Corrupt`] naming its column.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use super::StoreError;
use super::sql::{Conn, Row, values};
use crate::service::model::{App, Job, JobKind, JobStatus, Scope, Task, TaskType};

/// The columns [`app_from_row`] reads, in its order.
pub(super) const APP_COLUMNS: &str =
    "id, name, description, created_at, updated_at, app_key, favorite";
/// The columns [`task_from_row`] reads, in its order.
pub(super) const TASK_COLUMNS: &str = "id, name, app_id, source, target, created_at, updated_at, \
                                       task_type, task_tag, status, execute_status, version";
/// The columns [`job_from_row`] reads, in its order.
pub(super) const JOB_COLUMNS: &str = "id, project_id, instance_id, kind, status, progress, archive_id, reasons, begin_time, end_time";

pub(super) fn app_from_row(row: &Row) -> Result<App, StoreError> {
    Ok(App {
        id: row.text(0)?,
        name: row.text(1)?,
        description: row.text(2)?,
        created_at: parse_ts(&row.text(3)?, "apps.created_at")?,
        updated_at: parse_ts(&row.text(4)?, "apps.updated_at")?,
        key: row.text(5)?,
        favorite: row.int(6)? != 0,
    })
}

pub(super) fn task_from_row(row: &Row) -> Result<Task, StoreError> {
    Ok(Task {
        id: row.text(0)?,
        name: row.text(1)?,
        app_id: row.text(2)?,
        source: parse_json(&row.text(3)?, "tasks.source")?,
        target: parse_json(&row.text(4)?, "tasks.target")?,
        created_at: parse_ts(&row.text(5)?, "tasks.created_at")?,
        updated_at: parse_ts(&row.text(6)?, "tasks.updated_at")?,
        task_type: match row.text(7)?.as_str() {
            "TIMING" => TaskType::Timing,
            "REALTIME" => TaskType::Realtime,
            other => return Err(StoreError::Corrupt(format!("tasks.task_type {other:?}"))),
        },
        task_tag: row.text(8)?,
        running: row.int(9)? != 0,
        execute_status: row.text(10)?,
        version: u32::try_from(row.int(11)?)
            .map_err(|_| StoreError::Corrupt("tasks.version".into()))?,
    })
}

pub(super) fn job_from_row(row: &Row) -> Result<Job, StoreError> {
    let kind = match row.text(3)?.as_str() {
        "EXPORT" => JobKind::Export,
        "IMPORT" => JobKind::Import,
        "DELETE" => JobKind::Delete,
        other => return Err(StoreError::Corrupt(format!("jobs.kind {other:?}"))),
    };
    let status = match row.text(4)?.as_str() {
        "RUNNING" => JobStatus::Running,
        "SUCCEEDED" => JobStatus::Succeeded,
        "FAILED" => JobStatus::Failed,
        other => return Err(StoreError::Corrupt(format!("jobs.status {other:?}"))),
    };
    let end_time = match row.opt_text(9)? {
        Some(s) => Some(parse_ts(&s, "jobs.end_time")?),
        None => None,
    };
    Ok(Job {
        id: row.text(0)?,
        scope: Scope {
            project_id: row.text(1)?,
            instance_id: row.text(2)?,
        },
        kind,
        status,
        progress: row.real(5)?,
        archive_id: row.opt_text(6)?,
        reasons: parse_json(&row.text(7)?, "jobs.reasons")?,
        begin_time: parse_ts(&row.text(8)?, "jobs.begin_time")?,
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

/// A page bound as the databases want it (signed); anything past `i64::MAX` means "no bound"
/// anyway.
pub(super) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One column (`wanted`) of the asset of `table` in the scope whose `key` column is `value`, if
/// any: an asset's id by its name, or its name by its id. `table` and the columns are constants
/// of this module's callers, never input.
pub(super) fn scoped_lookup(
    conn: &mut dyn Conn,
    table: &str,
    wanted: &str,
    key: &str,
    scope: &Scope,
    value: &str,
) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {wanted} FROM {table} WHERE project_id = ?1 AND instance_id = ?2 AND {key} = ?3"
        ),
        values![&scope.project_id, &scope.instance_id, value],
    )?
    .map(|row| row.text(0))
    .transpose()
}
