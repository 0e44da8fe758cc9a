//! `roma-assets package inspect FILE`: checks a package offline, with the very reader and default
//! limits the server uses on upload, and lists its apps and tasks. A package it refuses is one
//! the server would refuse with the same error code. Makes no network call.
//!
//! `roma-assets package schema`: prints the JSON Schema of a package's `manifest.json`, derived
//! from the types the reader parses it into (`openapi/manifest.schema.json` is this output).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::common::{CliError, Done};
use super::output::{Output, print_json, table, time};
use crate::service::package::{PackageError, PackageLimits, read_package};

/// `package` subcommands.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Check a package as the server would and list its apps and tasks (offline).
    Inspect(InspectArgs),
    /// Print the JSON Schema of a package's manifest.json (what the reader accepts).
    Schema,
}

/// Options of `package inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The package (.zip).
    pub file: PathBuf,
}

/// Runs a `package` subcommand.
pub async fn run(command: PackageCommand, json: bool) -> Result<Done, CliError> {
    match command {
        PackageCommand::Inspect(args) => inspect(args, json).await,
        PackageCommand::Schema => {
            print_json(&crate::service::package::manifest_schema());
            Ok(Done::Ok)
        }
    }
}

async fn inspect(args: InspectArgs, json: bool) -> Result<Done, CliError> {
    let out = Output::new(json);
    // The server checks the upload's name first (ROMA.10013); so does inspect.
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(problem) = crate::contract::package_name_problem(&name) {
        return Err(CliError::Package(PackageError::BadFileName(format!(
            "{problem}; or import it with --upload-name NAME.zip"
        ))));
    }
    let path = args.file.clone();
    // The reader is synchronous (zip); keep it off the async threads as the server does.
    let package =
        tokio::task::spawn_blocking(move || read_package(&path, &PackageLimits::default()))
            .await
            .map_err(|e| CliError::Message(format!("reading the package: {e}")))?
            .map_err(|e| match e {
                // Not the package's fault: say what happened without an API error code.
                PackageError::Io { context, source } => {
                    CliError::Message(format!("{}: {context}: {source}", args.file.display()))
                }
                refused => CliError::Package(refused),
            })?;
    let manifest = &package.manifest;
    if out.json {
        print_json(&serde_json::json!({
            "file": args.file.display().to_string(),
            "format_version": manifest.format_version,
            "created_at": manifest.created_at,
            "source": manifest.source,
            "apps": package.apps.iter().map(|a| serde_json::json!({
                "id": a.id, "name": a.name, "description": a.description,
            })).collect::<Vec<_>>(),
            "tasks": package.tasks.iter().map(|t| serde_json::json!({
                "id": t.id, "name": t.name, "app_id": t.app_id,
            })).collect::<Vec<_>>(),
        }));
        return Ok(Done::Ok);
    }
    let mut text = format!(
        "package  {}\nformat   {}\ncreated  {}\nsource   project {}, instance {}\n",
        args.file.display(),
        manifest.format_version,
        time(&manifest.created_at),
        manifest.source.project_id,
        manifest.source.instance_id,
    );
    let apps: Vec<Vec<String>> = package
        .apps
        .iter()
        .map(|a| vec![a.id.clone(), a.name.clone(), a.description.clone()])
        .collect();
    text.push_str(&format!("\napps ({}):\n", apps.len()));
    if !apps.is_empty() {
        text.push_str(&table(&["ID", "NAME", "DESCRIPTION"], &apps));
    }
    let tasks: Vec<Vec<String>> = package
        .tasks
        .iter()
        .map(|t| vec![t.id.clone(), t.name.clone(), t.app_id.clone()])
        .collect();
    text.push_str(&format!("\ntasks ({}):\n", tasks.len()));
    if !tasks.is_empty() {
        text.push_str(&table(&["ID", "NAME", "APP"], &tasks));
    }
    out.text(&text);
    Ok(Done::Ok)
}
