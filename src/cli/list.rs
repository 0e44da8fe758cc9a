//! `roma-assets apps`, `app show` and `tasks`: an instance's applications and tasks, to find ids
//! to export or delete and to see what an import did. One page per call; no paging loop here.
//! Tables fit 100 columns (long names and remarks are cut with `…`); `--json` prints the
//! server's answer as it is.

use clap::{Args, Subcommand, ValueEnum};

use super::common::{CliError, ClientArgs, Done, TokenArg};
use super::output::{Output, print_json, table, time};
use crate::client::{TaskQuery, types};

/// Options of `instances`.
#[derive(Debug, Args)]
pub struct InstancesArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// Skip this many.
    #[arg(long)]
    pub offset: Option<u64>,
    /// Show at most this many (0..100; the server's default is 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub limit: Option<u64>,
}

/// Runs `instances`: the project's instances (ListInstances).
pub async fn instances(args: InstancesArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    let (client, project) = conn.connect_project(&args.token)?;
    let offset = args.offset.map(|o| o as i64);
    let limit = args.limit.map(|l| l as i64);
    let page = match client.list_instances(&project, limit, offset, None).await {
        Ok(page) => page.into_inner(),
        Err(e) => return Err(crate::client::ClientError::from_generated(e).await.into()),
    };
    if out.json {
        print_json(&page);
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = page
        .instances
        .iter()
        .map(|i| {
            vec![
                cut(&i.id, 40),
                i.status.to_string(),
                time(&i.create_time),
                time(&i.update_time),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.text(&table(&["ID", "STATUS", "CREATED", "UPDATED"], &rows));
    }
    out.text(&footer(page.size, page.total, "instances"));
    Ok(Done::Ok)
}

/// Options of `apps`.
#[derive(Debug, Args)]
pub struct AppsArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// Only those whose name contains this text (case-sensitive).
    #[arg(long, value_parser = parse::<types::ListAppsName>)]
    pub name: Option<types::ListAppsName>,
    /// Skip this many.
    #[arg(long)]
    pub offset: Option<u64>,
    /// Show at most this many (1..500; the server's default is 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub limit: Option<u64>,
}

/// Options of `tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// Only those whose name contains this text (case-sensitive).
    #[arg(long, value_parser = parse::<types::ListTasksTaskName>)]
    pub name: Option<types::ListTasksTaskName>,
    /// Only the tasks of this application.
    #[arg(long, value_name = "APP_ID")]
    pub app: Option<String>,
    /// Only started (running) or stopped tasks.
    #[arg(long, value_enum)]
    pub status: Option<RunState>,
    /// Only real-time or scheduled tasks.
    #[arg(long = "type", value_enum)]
    pub task_type: Option<TaskKind>,
    /// Skip this many.
    #[arg(long)]
    pub offset: Option<u64>,
    /// Show at most this many (1..1000; the server's default is 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub limit: Option<u64>,
}

/// A task's run state, as `--status` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunState {
    /// Started (FDI status 1).
    Running,
    /// Stopped or never started (FDI status 0).
    Stopped,
}

/// A task's type, as `--type` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskKind {
    /// Runs continuously.
    Realtime,
    /// Runs on a schedule.
    Timing,
}

/// `app` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Show one application (CheckRomaAppDetails).
    Show(AppShowArgs),
}

/// Options of `app show`.
#[derive(Debug, Args)]
pub struct AppShowArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// The application's id.
    pub app_id: types::AppId,
}

/// A value checked against the document's bounds for it (the generated type's own check).
fn parse<T: TryFrom<String>>(text: &str) -> Result<T, String>
where
    T::Error: std::fmt::Display,
{
    T::try_from(text.to_string()).map_err(|e| e.to_string())
}

/// `text` cut to `max` characters, ending in `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// Runs `apps`.
pub async fn apps(args: AppsArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    let client = conn.connect(&args.token)?;
    let page = client
        .list_apps(args.name.as_ref(), args.offset, args.limit)
        .await?;
    if out.json {
        print_json(&page);
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = page
        .apps
        .iter()
        .map(|a| {
            vec![
                cut(&a.id, 28),
                cut(&a.name, 18),
                if a.favorite { "*" } else { "" }.to_string(),
                time(&a.update_time),
                cut(&a.remark, 20),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.text(&table(&["ID", "NAME", "FAV", "UPDATED", "REMARK"], &rows));
    }
    out.text(&footer(page.size, page.total, "apps"));
    if page.total == 0 && args.name.is_none() {
        empty_instance_hint(&out, conn);
    }
    Ok(Done::Ok)
}

/// Runs `app show`.
pub async fn app_show(args: AppShowArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    let client = conn.connect(&args.token)?;
    let app = client.app(&args.app_id).await?;
    if out.json {
        print_json(&app);
        return Ok(Done::Ok);
    }
    let roles: Vec<String> = app.roles.iter().map(ToString::to_string).collect();
    let fields = [
        ("id", app.id.clone()),
        ("name", app.name.to_string()),
        ("remark", app.remark.to_string()),
        ("key", app.key.to_string()),
        ("favorite", app.favorite.to_string()),
        ("owner", app.owner.to_string()),
        ("roles", roles.join(", ")),
        (
            "created",
            format!(
                "{} by {}",
                time(&app.create_time),
                app.created_user.user_name
            ),
        ),
        (
            "updated",
            format!(
                "{} by {}",
                time(&app.update_time),
                app.last_updated_user.user_name
            ),
        ),
    ];
    let text: String = fields
        .iter()
        .map(|(name, value)| format!("{name:<9} {value}\n"))
        .collect();
    out.text(&text);
    Ok(Done::Ok)
}

/// Runs `tasks`.
pub async fn tasks(args: TasksArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    let client = conn.connect(&args.token)?;
    let query = TaskQuery {
        name: args.name.as_ref().map(|n| n.to_string()),
        app_id: args.app.clone(),
        running: args.status.map(|s| s == RunState::Running),
        task_type: args.task_type.map(|t| match t {
            TaskKind::Realtime => types::ListTasksTaskType::Realtime,
            TaskKind::Timing => types::ListTasksTaskType::Timing,
        }),
        offset: args.offset,
        limit: args.limit,
    };
    let page = client.list_tasks(&query).await?;
    if out.json {
        print_json(&page);
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = page
        .entities
        .iter()
        .map(|t| {
            vec![
                cut(&t.task_id, 28),
                cut(&t.task_name, 18),
                t.task_type.to_string(),
                if t.status == 1 { "running" } else { "stopped" }.to_string(),
                t.execute_status.to_string(),
                cut(&t.source_app_id, 18),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.text(&table(
            &["ID", "NAME", "TYPE", "STATUS", "EXECUTION", "APP"],
            &rows,
        ));
    }
    let (size, total) = (page.size.max(0) as u64, page.total.max(0) as u64);
    out.text(&footer(size, total, "tasks"));
    if total == 0 && args.name.is_none() && args.app.is_none() {
        empty_instance_hint(&out, conn);
    }
    Ok(Done::Ok)
}

/// An instance that holds nothing is often a typo: say so (on stderr, so scripts see only the
/// listing).
fn empty_instance_hint(out: &Output, client: &ClientArgs) {
    if !out.json {
        eprintln!(
            "note: instance {:?} holds nothing; check --instance (or ROMA_ASSETS_INSTANCE)",
            client.instance.as_ref().map_or("", |i| i.as_str())
        );
    }
}

fn footer(size: u64, total: u64, what: &str) -> String {
    match (size, total) {
        (_, 0) => format!("no {what}\n"),
        (0, _) => format!("none of the {total} {what} in this page (check --offset)\n"),
        _ if size < total => {
            format!("{size} of {total} {what} (more with --offset and --limit)\n")
        }
        _ => format!("{total} {what}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_cells_are_cut_with_an_ellipsis() {
        assert_eq!(cut("orders", 20), "orders");
        assert_eq!(cut("abcdefghij", 5), "abcd…");
        assert_eq!(cut("ééééé", 5), "ééééé");
    }
}
