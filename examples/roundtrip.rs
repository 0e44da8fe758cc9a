//! A full roundtrip through the ROMA asset API with the client library: export an application
//! and its tasks, wait for the job, download the package, import it back under a name prefix,
//! wait again, and list what the import created.
//!
//! Against the reference server (`cargo run -- serve --demo` prints the token):
//!
//! ```text
//! ROMA_ASSETS_TOKEN=<token> cargo run --example roundtrip
//! ```
//!
//! Settings, from the environment: `ROMA_ASSETS_ENDPOINT` (default `http://127.0.0.1:8080`),
//! `ROMA_ASSETS_TOKEN` (required), `ROMA_ASSETS_PROJECT` and `ROMA_ASSETS_INSTANCE` (default
//! `demo`), `ROMA_ASSETS_APP` (default `demo-app-orders`), `ROMA_ASSETS_PREFIX` (default `copy`
//! and the current time, so that running it twice does not collide).

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use roma_assets::client::{
    ClientBuilder, ImportOptions, InstanceClient, TaskQuery, WaitOptions, types,
};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Errors are printed for people (Display), not as Rust's Debug of the error value.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let endpoint = setting("ROMA_ASSETS_ENDPOINT", "http://127.0.0.1:8080");
    let token = std::env::var("ROMA_ASSETS_TOKEN").map_err(|_| "set ROMA_ASSETS_TOKEN")?;
    let project: types::ProjectId = setting("ROMA_ASSETS_PROJECT", "demo").parse()?;
    let instance: types::InstanceId = setting("ROMA_ASSETS_INSTANCE", "demo").parse()?;
    let app = setting("ROMA_ASSETS_APP", "demo-app-orders");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let prefix: types::ImportAssetPrefix =
        setting("ROMA_ASSETS_PREFIX", &format!("copy{now}_")).parse()?;

    // One client for the instance: a connect and a read timeout, no total timeout, retries for
    // GETs (see `RetryPolicy`).
    let client = ClientBuilder::new(endpoint, token).build()?;
    let roma = InstanceClient::new(client, project, instance);

    // The app's tasks go into the package with it.
    let query = TaskQuery {
        app_id: Some(app.clone()),
        limit: Some(1000),
        ..TaskQuery::default()
    };
    let task_ids: Vec<String> = roma
        .list_tasks(&query)
        .await?
        .entities
        .into_iter()
        .map(|t| t.task_id.to_string())
        .collect();
    println!("exporting {app} with {} task(s)", task_ids.len());

    let wait = WaitOptions::default();
    let export = roma.export([app.as_str()], &task_ids).await?;
    // A FAILED job is an error carrying its reasons (ClientError::JobFailed).
    let done = roma
        .wait_for_success(&export, &wait, |s| {
            eprintln!("  export {}: {:.0}%", s.status, s.progress_percent * 100.0)
        })
        .await?;
    let archive: types::ArchiveId = done.archive_id.as_deref().ok_or("no archive_id")?.parse()?;

    // The server accepts a file name of letters, digits, +, - and _ ending in .zip.
    let package = std::env::temp_dir().join(format!("roundtrip-{}-{now}.zip", std::process::id()));
    let bytes = roma.download_to(&archive, &package, false, |_| {}).await?;
    println!("downloaded {bytes} bytes to {}", package.display());

    let options = ImportOptions {
        mode: None,
        prefix: Some(prefix.clone()),
        upload_name: None,
    };
    let import = roma.import_file(&package, &options, |_| {}).await;
    let _ = std::fs::remove_file(&package);
    let import = import?;
    roma.wait_for_success(&import, &wait, |s| {
        eprintln!("  import {}: {:.0}%", s.status, s.progress_percent * 100.0)
    })
    .await?;

    let name: types::ListAppsName = prefix.as_str().parse()?;
    let apps = roma.list_apps(Some(&name), None, None).await?;
    let query = TaskQuery {
        name: Some(prefix.to_string()),
        ..TaskQuery::default()
    };
    let tasks = roma.list_tasks(&query).await?;
    for a in &apps.apps {
        println!("imported app {} ({})", a.name.as_str(), a.id);
    }
    for t in &tasks.entities {
        println!(
            "imported task {} ({})",
            t.task_name.as_str(),
            t.task_id.as_str()
        );
    }
    println!(
        "roundtrip done: {} app(s), {} task(s) under prefix {}",
        apps.total,
        tasks.total,
        prefix.as_str()
    );
    Ok(())
}
