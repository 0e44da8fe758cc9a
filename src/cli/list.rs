//! `roma-assets apps` and `roma-assets tasks`: list an instance's applications and tasks, to
//! find ids to export and to see what an import did. One page per call; no paging loop here.

use clap::Args;

use super::common::{CliError, ClientArgs, Done};
use super::output::{Output, print_json, table, time};
use crate::client::types;

/// Options of `apps` and `tasks`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only those whose name contains this text (case-sensitive).
    #[arg(long, value_parser = parse_name)]
    pub name: Option<String>,
    /// Skip this many.
    #[arg(long)]
    pub offset: Option<u64>,
    /// Show at most this many (1..500; the server's default is 100).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The document's limit on the `name` filter (shared by both operations).
fn parse_name(name: &str) -> Result<String, String> {
    types::ListAppsName::try_from(name)
        .map(|_| name.to_string())
        .map_err(|e| e.to_string())
}

/// Runs `apps`.
pub async fn apps(args: ListArgs) -> Result<Done, CliError> {
    let out = Output::new(args.client.json);
    let client = args.client.connect()?;
    let name = args
        .name
        .as_deref()
        .map(types::ListAppsName::try_from)
        .transpose()
        .map_err(|e| CliError::Message(format!("--name: {e}")))?;
    let page = client
        .list_apps(name.as_ref(), args.offset, args.limit)
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
                a.id.clone(),
                a.name.clone(),
                time(&a.updated_at),
                a.description.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.text(&table(&["ID", "NAME", "UPDATED", "DESCRIPTION"], &rows));
    }
    out.text(&footer(page.size, page.total, "apps"));
    Ok(Done::Ok)
}

/// Runs `tasks`.
pub async fn tasks(args: ListArgs) -> Result<Done, CliError> {
    let out = Output::new(args.client.json);
    let client = args.client.connect()?;
    let name = args
        .name
        .as_deref()
        .map(types::ListTasksName::try_from)
        .transpose()
        .map_err(|e| CliError::Message(format!("--name: {e}")))?;
    let page = client
        .list_tasks(name.as_ref(), args.offset, args.limit)
        .await?;
    if out.json {
        print_json(&page);
        return Ok(Done::Ok);
    }
    let rows: Vec<Vec<String>> = page
        .tasks
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.name.clone(),
                t.app_id.clone(),
                time(&t.updated_at),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.text(&table(&["ID", "NAME", "APP", "UPDATED"], &rows));
    }
    out.text(&footer(page.size, page.total, "tasks"));
    Ok(Done::Ok)
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
