//! Between the wire (the document's generated types and parameters) and the domain
//! ([`super::model`], the store's filters): every match between the two spellings of a value is
//! here, once. The service's handlers call these; nothing here touches the store.
//!
//! A stored value that does not fit the document (a name longer than its `maxLength`) is a
//! server bug, answered as a 500 naming the field, never sent.

use chrono::{DateTime, SubsecRound, Utc};
use sha2::Digest;

use super::model::{
    App, ExportRequest, ImportMode, ImportRequest, Job, JobKind, JobStatus, ResourceType, Scope,
    Task, TaskType,
};
use super::store::{AppFilter, InstanceRow, TaskFilter};
use crate::contract::types;
use crate::server::{
    ApiError, ImportAssetParams, ListAppsParams, ListInstancesParams, ListTasksParams,
};

/// The scope of a request: its project and instance.
pub fn scope(project_id: &str, instance_id: &str) -> Scope {
    Scope {
        project_id: project_id.to_string(),
        instance_id: instance_id.to_string(),
    }
}

/// A time as the document's date-times carry it: whole seconds.
pub fn time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(0)
}

/// A page's offset and limit as the store takes them. The generated layer enforced the
/// document's bounds (offset >= 0, 1 <= limit <= 500).
pub fn page(offset: i64, limit: i64) -> (u64, u64) {
    (offset.max(0) as u64, limit.max(1) as u64)
}

/// ListInstances' page, or `None` when its `status` keeps none (every instance here runs).
pub fn instance_page(params: &ListInstancesParams) -> Option<(u64, u64)> {
    let nobody = params
        .status
        .as_deref()
        .is_some_and(|status| status != "RUNNING");
    (!nobody).then(|| (params.offset.max(0) as u64, params.limit.max(0) as u64))
}

impl From<types::ImportAssetMode> for ImportMode {
    fn from(mode: types::ImportAssetMode) -> Self {
        match mode {
            types::ImportAssetMode::AddNew => ImportMode::AddNew,
            types::ImportAssetMode::Merge => ImportMode::Merge,
        }
    }
}

impl From<ImportMode> for types::ImportAssetMode {
    fn from(mode: ImportMode) -> Self {
        match mode {
            ImportMode::AddNew => types::ImportAssetMode::AddNew,
            ImportMode::Merge => types::ImportAssetMode::Merge,
        }
    }
}

/// ImportAsset's query as an import job's request (no prefix: an empty one).
pub fn import_request(params: &ImportAssetParams) -> ImportRequest {
    ImportRequest {
        mode: params.mode.into(),
        prefix: params
            .prefix
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default(),
    }
}

/// ListApps' query as the store's filter, or `None` when it keeps nothing. One user owns every
/// application of a project with every role, so `owner=false` (shared by others) and a
/// `user_name` other than the project's user keep nothing, and any `auth_role` keeps all.
pub fn app_filter(params: &ListAppsParams) -> Option<AppFilter> {
    let nobody = params.owner == Some(false)
        || params
            .user_name
            .as_deref()
            .is_some_and(|user| user != user_name(&params.project_id));
    (!nobody).then(|| AppFilter {
        name: params.name.clone(),
        favorite: params.favorite,
    })
}

/// A job as CheckAssetJobStatus sends it.
pub fn job_status(job: Job) -> Result<types::CheckAssetJobStatusResponse, ApiError> {
    let unfit =
        |e: String| ApiError::internal(format!("a stored job does not fit the document: {e}"));
    let reasons = job
        .reasons
        .into_iter()
        .map(|r| {
            Ok(types::AssetJobReason {
                resource_type: match r.resource_type {
                    ResourceType::Application => types::AssetJobReasonResourceType::Application,
                    ResourceType::Task => types::AssetJobReasonResourceType::Task,
                },
                resource_name: r
                    .resource_name
                    .try_into()
                    .map_err(|e| format!("resource_name: {e}"))?,
                error_code: r
                    .error_code
                    .try_into()
                    .map_err(|e| format!("error_code: {e}"))?,
                error_msg: r
                    .error_msg
                    .try_into()
                    .map_err(|e| format!("error_msg: {e}"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(unfit)?;
    Ok(types::CheckAssetJobStatusResponse {
        id: job.id.try_into().map_err(|e| unfit(format!("id: {e}")))?,
        type_: match job.kind {
            JobKind::Export => types::CheckAssetJobStatusResponseType::ExportAsset,
            JobKind::Import => types::CheckAssetJobStatusResponseType::ImportAsset,
            JobKind::Delete => types::CheckAssetJobStatusResponseType::DeleteAsset,
        },
        status: match job.status {
            JobStatus::Running => types::CheckAssetJobStatusResponseStatus::Running,
            JobStatus::Succeeded => types::CheckAssetJobStatusResponseStatus::Succeeded,
            JobStatus::Failed => types::CheckAssetJobStatusResponseStatus::Failed,
        },
        reasons,
        progress_percent: job.progress.clamp(0.0, 1.0),
        archive_id: job
            .archive_id
            .map(TryInto::try_into)
            .transpose()
            .map_err(|e| unfit(format!("archive_id: {e}")))?,
        begin_time: time(job.begin_time),
        end_time: job.end_time.map(time),
    })
}

/// The one user of a project on the reference server: named after the project.
pub fn user_name(project: &types::ProjectId) -> &str {
    project.as_str()
}

/// The user's id: stable, derived from the name (32 hex digits, as IAM user ids look).
fn user_id(project: &types::ProjectId) -> String {
    hex::encode(&sha2::Sha256::digest(project.as_str().as_bytes())[..16])
}

/// A stored value into a constrained wire type, or a 500 naming the field.
fn fit<T: TryFrom<String>>(field: &str, value: String) -> Result<T, ApiError>
where
    T::Error: std::fmt::Display,
{
    T::try_from(value)
        .map_err(|e| ApiError::internal(format!("a stored {field} does not fit the document: {e}")))
}

/// An application as ListApps and CheckRomaAppDetails send it: the caller owns it with every
/// role (the reference server's one user per project).
pub fn app_info(app: App, project: &types::ProjectId) -> Result<types::ServerAppInfo, ApiError> {
    let user = types::ServerAppInfoUser {
        user_id: user_id(project),
        user_name: user_name(project).to_string(),
    };
    use types::ServerAppInfoRolesItem as Role;
    Ok(types::ServerAppInfo {
        id: app.id,
        name: fit("application name", app.name)?,
        remark: fit("application remark", app.description)?,
        roles: vec![
            Role::Read,
            Role::Access,
            Role::Delete,
            Role::Modify,
            Role::Admin,
        ],
        create_time: time(app.created_at),
        update_time: time(app.updated_at),
        created_user: user.clone(),
        last_updated_user: user,
        owner: true,
        key: fit("application key", app.key)?,
        favorite: app.favorite,
    })
}

/// A task as ListTasks sends it (FDI's `BriefTaskRespBean`). Its application owns both its data
/// sources, so it is the source and the target app; both sides are in its instance.
pub fn task_bean(task: Task, instance: &str) -> Result<types::BriefTaskRespBean, ApiError> {
    use types::{BriefTaskRespBeanExecuteStatus as Exec, BriefTaskRespBeanTaskType as Kind};
    let execute_status = match task.execute_status.as_str() {
        "UNSTARTED" => Exec::Unstarted,
        "WAITING" => Exec::Waiting,
        "RUNNING" => Exec::Running,
        "SUCCESS" => Exec::Success,
        "CANCELLED" => Exec::Cancelled,
        "ERROR" => Exec::Error,
        other => {
            return Err(ApiError::internal(format!(
                "a stored execute_status {other:?}"
            )));
        }
    };
    Ok(types::BriefTaskRespBean {
        task_id: fit("task id", task.id)?,
        task_name: fit("task name", task.name)?,
        task_type: match task.task_type {
            TaskType::Realtime => Kind::Realtime,
            TaskType::Timing => Kind::Timing,
        },
        status: i64::from(task.running),
        created_date: time(task.created_at),
        version: fit("task version", task.version.to_string())?,
        last_modified_time: u64::try_from(task.updated_at.timestamp_millis())
            .ok()
            .and_then(std::num::NonZeroU64::new)
            .ok_or_else(|| ApiError::internal("a stored task update time before 1970"))?,
        execute_status,
        source_app_id: fit("task app id", task.app_id.clone())?,
        target_app_id: fit("task app id", task.app_id)?,
        source_instance_id: fit("instance id", instance.to_string())?,
        target_instance_id: fit("instance id", instance.to_string())?,
        ext_type: None,
        enterprise_project_id: fit("enterprise project id", "0".to_string())?,
        task_tag: fit("task tag", task.task_tag)?,
    })
}

/// ListTasks' query as the store's filter. The page's `task_name` wins over the SDK's `name`;
/// `task_mode` selects nothing (one mode here); the source and target app filters both mean the
/// task's application.
pub fn task_filter(params: &ListTasksParams) -> TaskFilter {
    TaskFilter {
        id: params.task_id.clone(),
        name: params.task_name.clone().or_else(|| params.name.clone()),
        running: params.status.map(|s| s == 1),
        task_type: params.task_type.as_deref().map(|t| match t {
            "timing" => TaskType::Timing,
            _ => TaskType::Realtime,
        }),
        execute_status: params.execute_status.clone(),
        source_app_id: params.source_app_id.clone(),
        target_app_id: params.target_app_id.clone(),
        source_datasource_id: params.source_datasource_id.clone(),
        target_datasource_id: params.target_datasource_id.clone(),
        datasource_id: params.datasource_id.clone(),
        task_tag: params.task_tag.clone(),
        sort_by_status: params.sort_field.as_deref() == Some("STATUS"),
        ascending: params.sort_type.as_deref() == Some("ASC"),
    }
}

/// The ids of an export or delete request: each once, in request order; items without an `id`
/// (the document allows them) counted, for the job to fail on.
pub fn asset_ids(
    apps: impl Iterator<Item = Option<String>>,
    tasks: impl Iterator<Item = Option<String>>,
) -> ExportRequest {
    let mut request = ExportRequest::default();
    let mut push = |list: &mut Vec<String>, id: Option<String>| match id {
        Some(id) if !list.contains(&id) => list.push(id),
        Some(_) => {}
        None => request.items_without_id += 1,
    };
    let (mut app_ids, mut task_ids) = (Vec::new(), Vec::new());
    apps.for_each(|id| push(&mut app_ids, id));
    tasks.for_each(|id| push(&mut task_ids, id));
    request.app_ids = app_ids;
    request.task_ids = task_ids;
    request
}

/// An instance as ListInstances sends it: what the reference server knows (id, first and last
/// write) and fixed values for the cloud resources it does not have (documented as such).
pub fn instance(row: InstanceRow, project: &types::ProjectId) -> types::RomaInstance {
    types::RomaInstance {
        id: row.id.clone(),
        name: row.id,
        description: String::new(),
        flavor_id: None,
        flavor_type: "basic".to_string(),
        cpu_arch: if std::env::consts::ARCH == "aarch64" {
            types::RomaInstanceCpuArch::Aarch64
        } else {
            types::RomaInstanceCpuArch::X8664
        },
        vpc_id: None,
        subnet_id: None,
        security_group_id: None,
        publicip_enable: false,
        publicip_id: None,
        publicip_address: None,
        status: types::RomaInstanceStatus::Running,
        error_code: None,
        error_msg: None,
        charge_type: types::RomaInstanceChargeType::PostPaid,
        project_id: project.to_string(),
        create_time: time(row.created_at),
        update_time: time(row.updated_at),
        maintain_begin: None,
        maintain_end: None,
        available_zone_ids: Vec::new(),
        enterprise_project_id: "0".to_string(),
    }
}

/// A job kind as the document names it (`exportAsset`, ...), for messages.
pub fn job_type(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Export => "exportAsset",
        JobKind::Import => "importAsset",
        JobKind::Delete => "deleteAsset",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_modes_convert_both_ways() {
        for mode in [
            types::ImportAssetMode::AddNew,
            types::ImportAssetMode::Merge,
        ] {
            assert_eq!(types::ImportAssetMode::from(ImportMode::from(mode)), mode);
        }
        assert_eq!(
            ImportMode::from(types::ImportAssetMode::default()),
            ImportMode::default()
        );
    }
}
