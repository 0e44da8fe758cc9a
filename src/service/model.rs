//! The domain of the reference server: applications and tasks of an instance, and asset jobs.
//!
//! Plain data shared by the store, the package reader/writer and the job runner, and the one
//! trait through which the store reads an import's tasks one at a time ([`TaskFeed`], which the
//! package reader implements). Nothing here talks to a database, a file or the network.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contract::limits;

/// Where assets live: an instance inside a project. Instances are implicit, as in a local
/// emulator: one not seen before is empty and is created on its first write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Project ID (0..64 characters, as the document says).
    pub project_id: String,
    /// Instance ID (0..64 characters).
    pub instance_id: String,
}

/// An application of an instance. `name` and `key` are unique per instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    /// Stable id, unique per instance.
    pub id: String,
    /// Unique per instance.
    pub name: String,
    /// Free text (the API's `remark`).
    pub description: String,
    /// The application's access key (generated, unique per instance; not carried in packages).
    pub key: String,
    /// Whether its user favoured it.
    pub favorite: bool,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed (e.g. overwritten by a Merge import).
    pub updated_at: DateTime<Utc>,
}

impl App {
    /// A new access key, as the reference server gives every application it creates: 16
    /// upper-case hex digits, as random as a v4 UUID's half.
    pub fn new_key() -> String {
        uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase()
    }
}

/// A data-integration task of an instance. Belongs to one app (the owner of both its source and
/// its target data sources); `name` is unique per instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Stable id, unique per instance.
    pub id: String,
    /// Unique per instance.
    pub name: String,
    /// The owning application's id, in the same instance.
    pub app_id: String,
    /// Real-time or scheduled.
    pub task_type: TaskType,
    /// Free tag, possibly empty.
    pub task_tag: String,
    /// Started (1) or stopped (0): FDI's `status`.
    pub running: bool,
    /// FDI's execution status (`UNSTARTED`, `RUNNING`, ...).
    pub execute_status: String,
    /// 1 when created, one more each time an import overwrites it.
    pub version: u32,
    /// Source settings (connection, table, query...), as JSON.
    pub source: serde_json::Value,
    /// Target settings, as JSON.
    pub target: serde_json::Value,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// An app as carried in a package: what is exported and imported (no timestamps; the importing
/// instance sets its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppAsset {
    /// The app's id in the exporting instance; tasks of the package refer to it.
    pub id: String,
    /// The app's name (before any import prefix).
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// A task as carried in a package. Its run state is not: an imported task starts stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskAsset {
    /// The task's id in the exporting instance.
    pub id: String,
    /// The task's name (before any import prefix).
    pub name: String,
    /// Id of the owning app; that app is always in the same package.
    pub app_id: String,
    /// Real-time (the default, for packages written before the field existed) or scheduled.
    #[serde(default)]
    pub task_type: TaskType,
    /// Free tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub task_tag: String,
    /// Source settings.
    pub source: serde_json::Value,
    /// Target settings.
    pub target: serde_json::Value,
}

/// A task of a package without its settings: what an import's checks need up front. The
/// settings (which may be large) are read one task at a time while the import is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHead {
    /// The task's id in the exporting instance.
    pub id: String,
    /// The task's name (before any import prefix).
    pub name: String,
    /// Id of the owning app, an app of the same package.
    pub app_id: String,
}

impl From<&TaskAsset> for TaskHead {
    fn from(task: &TaskAsset) -> Self {
        TaskHead {
            id: task.id.clone(),
            name: task.name.clone(),
            app_id: task.app_id.clone(),
        }
    }
}

/// What the tasks of an import may fail with while they are read (the package changed on disk,
/// an I/O error): the feed's own error, carried as is.
pub type FeedError = Box<dyn std::error::Error + Send + Sync>;

/// The tasks of an import: every task's id, name and app up front (for the checks), their
/// settings one at a time (so a large package never sits in memory whole).
pub trait TaskFeed {
    /// Every task, in package order.
    fn heads(&self) -> &[TaskHead];
    /// Task `index` of [`TaskFeed::heads`], settings included.
    fn task(&mut self, index: usize) -> Result<TaskAsset, FeedError>;
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

    fn task(&mut self, index: usize) -> Result<TaskAsset, FeedError> {
        self.tasks
            .get(index)
            .cloned()
            .ok_or_else(|| format!("task {index} of the import").into())
    }
}

/// At most this many applications and tasks in one job: the document's `x-max-combined-items`
/// of an export request (the seed pages' 100), applied to imports (and so to packages) too.
pub const MAX_ASSETS: usize = limits::ASSET_EXPORT_REQUEST_MAX_COMBINED_ITEMS;

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

/// What an import job was asked for (the package itself comes apart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRequest {
    /// What an existing name means.
    pub mode: ImportMode,
    /// Joined in front of every imported application and task name (may be empty).
    pub prefix: String,
}

/// What an export or a deletion job was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportRequest {
    /// Requested application ids, in request order, without duplicates.
    pub app_ids: Vec<String>,
    /// Requested task ids.
    pub task_ids: Vec<String>,
    /// How many request items had no `id` (the document allows it; the job then fails).
    pub items_without_id: usize,
}

/// An FDI task's type.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskType {
    /// `REALTIME`: runs continuously.
    #[default]
    Realtime,
    /// `TIMING`: runs on a schedule.
    Timing,
}

impl TaskType {
    /// As the API and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Realtime => "REALTIME",
            TaskType::Timing => "TIMING",
        }
    }
}

/// What kind of asset job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    /// `exportAsset`
    Export,
    /// `importAsset`
    Import,
    /// `deleteAsset`
    Delete,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Still working. At most one per project at a time.
    Running,
    /// Ended well; an export then has an archive.
    Succeeded,
    /// Ended badly; `reasons` say why.
    Failed,
}

/// Which kind of asset a failure reason is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceType {
    /// `application`
    Application,
    /// `task`
    Task,
}

/// One reason a job failed. The document bounds each string to 1..64 characters and a job to
/// 10 reasons; [`Reason::new`] truncates so a reason can always be stored and sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Kind of asset.
    pub resource_type: ResourceType,
    /// Name of the asset (or of the package entry), 1..64 characters.
    pub resource_name: String,
    /// A code of the document's `x-error-codes`.
    pub error_code: String,
    /// What went wrong, 1..64 characters.
    pub error_msg: String,
}

/// At most this many reasons are kept for a job (the document's `maxItems`).
pub const MAX_REASONS: usize = limits::CHECK_ASSET_JOB_STATUS_RESPONSE_REASONS_MAX_ITEMS;
/// Each reason string holds at most this many characters: the least of the document's
/// `maxLength`s for them.
pub const MAX_REASON_CHARS: usize = {
    let name = limits::ASSET_JOB_REASON_RESOURCE_NAME_MAX_LENGTH;
    let code = limits::ASSET_JOB_REASON_ERROR_CODE_MAX_LENGTH;
    let msg = limits::ASSET_JOB_REASON_ERROR_MSG_MAX_LENGTH;
    let least = if name < code { name } else { code };
    if least < msg { least } else { msg }
};

impl Reason {
    /// A reason with every string cut to [`MAX_REASON_CHARS`] characters and never empty.
    pub fn new(
        resource_type: ResourceType,
        resource_name: &str,
        error_code: &str,
        error_msg: &str,
    ) -> Self {
        Reason {
            resource_type,
            resource_name: clamp(resource_name),
            error_code: clamp(error_code),
            error_msg: clamp(error_msg),
        }
    }
}

fn clamp(s: &str) -> String {
    let cut: String = s.chars().take(MAX_REASON_CHARS).collect();
    if cut.is_empty() { "-".to_string() } else { cut }
}

/// An asset job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Job id (1..128 characters).
    pub id: String,
    /// Where it runs.
    pub scope: Scope,
    /// Export or import.
    pub kind: JobKind,
    /// Running, succeeded or failed.
    pub status: JobStatus,
    /// 0.0 ..= 1.0
    pub progress: f64,
    /// Set when an export succeeded.
    pub archive_id: Option<String>,
    /// Up to [`MAX_REASONS`], when failed.
    pub reasons: Vec<Reason>,
    /// When created.
    pub begin_time: DateTime<Utc>,
    /// When it ended.
    pub end_time: Option<DateTime<Utc>>,
}
