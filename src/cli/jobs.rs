//! `export`, `import`, `job` and `download`: start an asset job, follow it to its end with a
//! progress bar, and fetch what an export produced.
//!
//! Each command is a few calls of [`InstanceClient`]; the retry policy, streaming and `.part`
//! files live there, not here.

use std::path::{Path, PathBuf};

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args};
use serde::Serialize;

use super::common::{CliError, ClientArgs, Done, TokenArg, WaitArgs};
use super::output::{Output, job_summary, print_json};
use crate::client::{ClientError, ImportOptions, InstanceClient, types};

/// Options of `export`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("assets").args(["apps", "tasks"]).required(true).multiple(true)))]
pub struct ExportArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// ID of an application to export (repeatable: --app A --app B, or --app A B).
    #[arg(long = "app", value_name = "ID", num_args = 1..)]
    pub apps: Vec<String>,
    /// ID of a task to export (repeatable).
    #[arg(long = "task", value_name = "ID", num_args = 1..)]
    pub tasks: Vec<String>,
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Once the job succeeded, download the package to FILE (implies --wait). The server serves
    /// a package once.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
}

/// Options of `delete`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("assets").args(["apps", "tasks"]).required(true).multiple(true)))]
pub struct DeleteArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// ID of an application to delete (repeatable). Its tasks must be deleted with it.
    #[arg(long = "app", value_name = "ID", num_args = 1..)]
    pub apps: Vec<String>,
    /// ID of a task to delete (repeatable).
    #[arg(long = "task", value_name = "ID", num_args = 1..)]
    pub tasks: Vec<String>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Options of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// The package to import: a .zip whose name uses letters, digits, +, - and _ only (else
    /// give --upload-name).
    pub file: PathBuf,
    /// Upload the package under this file name instead of its own (e.g. `orders.zip` for
    /// `orders (1).zip`, which the server's naming rule refuses).
    #[arg(long, value_name = "NAME.zip")]
    pub upload_name: Option<String>,
    /// AddNew: every asset is created, an existing name fails the job. Merge: existing names
    /// are overwritten. The server's default is AddNew.
    #[arg(long, value_parser = mode_parser())]
    pub mode: Option<types::ImportAssetMode>,
    /// Joined in front of every imported application and task name (at most 32 letters,
    /// digits, - and _).
    #[arg(long)]
    pub prefix: Option<types::ImportAssetPrefix>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `--mode`: the API's import modes (the contract's type), spelled as the API spells them.
fn mode_parser() -> impl TypedValueParser<Value = types::ImportAssetMode> {
    PossibleValuesParser::new([
        PossibleValue::new("AddNew").help("Create every asset; an existing name fails the job"),
        PossibleValue::new("Merge").help("Overwrite assets whose name exists, create the rest"),
    ])
    .try_map(|mode| mode.parse::<types::ImportAssetMode>())
}

/// Options of `job`.
#[derive(Debug, Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// The job's ID, as `export` or `import` printed it.
    pub job_id: types::JobId,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Options of `download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    pub token: TokenArg,
    /// The archive's ID, from a succeeded export job.
    pub archive_id: types::ArchiveId,
    /// Where to write the package (through FILE.part, renamed when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// What `export` and `import` print with `--json`.
#[derive(Debug, Serialize)]
struct JobReport<'a> {
    job_id: &'a str,
    /// The job's last status, when waited for.
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<&'a types::CheckAssetJobStatusResponse>,
    /// The downloaded package, with `-o`.
    #[serde(skip_serializing_if = "Option::is_none")]
    download: Option<Downloaded>,
}

/// A package written to disk.
#[derive(Debug, Serialize)]
struct Downloaded {
    file: String,
    bytes: u64,
}

/// Runs `export`.
pub async fn export(args: ExportArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    if let Some(path) = &args.output {
        // Before the job: its package can be downloaded once, and only to a free path.
        refuse_existing(path, args.force)?;
    }
    let client = conn.connect(&args.token)?;
    let job_id = client.export(&args.apps, &args.tasks).await?;
    if !args.wait.wait && args.output.is_none() {
        return Ok(started(out, "export", &job_id));
    }
    let job = wait(&client, &job_id, &args.wait, out).await?;
    if job.status != types::CheckAssetJobStatusResponseStatus::Succeeded {
        return Ok(report(out, &job_id, &job, None));
    }
    let Some(path) = &args.output else {
        let done = report(out, &job_id, &job, None);
        if let Some(archive) = &job.archive_id {
            out.text(&format!(
                "download it (once) with: roma-assets download {} -o FILE\n",
                archive.as_str()
            ));
        }
        return Ok(done);
    };
    let archive = job
        .archive_id
        .as_ref()
        .ok_or_else(|| {
            ClientError::InvalidResponse("a succeeded export job has no archive_id".into())
        })
        .and_then(|id| {
            types::ArchiveId::try_from(id.as_str())
                .map_err(|e| ClientError::InvalidResponse(format!("archive_id: {e}")))
        })?;
    let bytes = download(&client, &archive, path, args.force, out).await?;
    let downloaded = Downloaded {
        file: path.display().to_string(),
        bytes,
    };
    let done = report(out, &job_id, &job, Some(downloaded));
    Ok(done)
}

/// Runs `delete`: a job like export and import (exit 3 if it FAILED, nothing deleted then).
pub async fn delete(args: DeleteArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    let client = conn.connect(&args.token)?;
    let job_id = client.delete(&args.apps, &args.tasks).await?;
    if !args.wait.wait {
        return Ok(started(out, "delete", &job_id));
    }
    let job = wait(&client, &job_id, &args.wait, out).await?;
    Ok(report(out, &job_id, &job, None))
}

/// Runs `import`.
pub async fn import(args: ImportArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    let client = conn.connect(&args.token)?;
    let length = tokio::fs::metadata(&args.file)
        .await
        .map_err(|e| ClientError::Io {
            context: format!("reading {}", args.file.display()),
            source: e,
        })?
        .len();
    let options = ImportOptions {
        mode: args.mode,
        prefix: args.prefix.clone(),
        upload_name: args.upload_name.clone(),
    };
    let bar = out.bytes_bar("upload", Some(length));
    let shown = bar.clone();
    let uploaded = client
        .import_file(&args.file, &options, move |p| shown.set_position(p.sent))
        .await;
    bar.finish_and_clear();
    let job_id = uploaded?;
    if !args.wait.wait {
        return Ok(started(out, "import", &job_id));
    }
    let job = wait(&client, &job_id, &args.wait, out).await?;
    Ok(report(out, &job_id, &job, None))
}

/// Runs `job`.
pub async fn job(args: JobArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    let client = conn.connect(&args.token)?;
    let job = if args.wait.wait {
        wait(&client, &args.job_id, &args.wait, out).await?
    } else {
        client.job_status(&args.job_id).await?
    };
    if out.json {
        print_json(&job);
    } else {
        out.text(&job_summary(&job));
    }
    Ok(outcome(&job))
}

/// Runs `download`.
pub async fn download_archive(args: DownloadArgs, conn: &ClientArgs) -> Result<Done, CliError> {
    let out = Output::new(conn.json);
    refuse_existing(&args.output, args.force)?;
    let client = conn.connect(&args.token)?;
    let bytes = download(&client, &args.archive_id, &args.output, args.force, out).await?;
    if out.json {
        print_json(&serde_json::json!({
            "archive_id": args.archive_id.as_str(),
            "file": args.output.display().to_string(),
            "bytes": bytes,
        }));
    } else {
        out.text(&format!(
            "wrote {bytes} bytes to {}\n",
            args.output.display()
        ));
    }
    Ok(Done::Ok)
}

fn refuse_existing(path: &Path, force: bool) -> Result<(), CliError> {
    if !force && path.exists() {
        return Err(CliError::Message(format!(
            "{} exists; pass --force to overwrite it",
            path.display()
        )));
    }
    Ok(())
}

/// Reports a job started without `--wait`.
fn started(out: Output, what: &str, job_id: &types::JobId) -> Done {
    if out.json {
        print_json(&JobReport {
            job_id,
            job: None,
            download: None,
        });
    } else {
        // The id alone on stdout, for scripts (`JOB=$(roma-assets export ...)`); words to stderr.
        println!("{}", job_id.as_str());
        eprintln!(
            "{what} job started; follow it with: roma-assets job {} --wait",
            job_id.as_str()
        );
    }
    Done::Ok
}

/// Reports a job waited for (and its download); FAILED makes the command exit 3.
fn report(
    out: Output,
    job_id: &types::JobId,
    job: &types::CheckAssetJobStatusResponse,
    download: Option<Downloaded>,
) -> Done {
    if out.json {
        print_json(&JobReport {
            job_id,
            job: Some(job),
            download,
        });
    } else {
        out.text(&job_summary(job));
        if let Some(d) = download {
            out.text(&format!("wrote {} bytes to {}\n", d.bytes, d.file));
        }
        if job
            .reasons
            .iter()
            .any(|r| r.error_code.as_str() == CONFLICT_CODE)
        {
            eprintln!(
                "hint: those names exist in the instance; import with --mode Merge to overwrite \
                 them, or --prefix to import beside them"
            );
        }
    }
    outcome(job)
}

fn outcome(job: &types::CheckAssetJobStatusResponse) -> Done {
    if job.status == types::CheckAssetJobStatusResponseStatus::Failed {
        Done::JobFailed
    } else {
        Done::Ok
    }
}

/// The reason code of an AddNew import whose names exist (the store's).
const CONFLICT_CODE: &str = crate::service::store::CONFLICT_ERROR_CODE;

/// Waits for the job with a progress bar.
async fn wait(
    client: &InstanceClient,
    job_id: &types::JobId,
    wait: &WaitArgs,
    out: Output,
) -> Result<types::CheckAssetJobStatusResponse, CliError> {
    let bar = out.job_bar(job_id);
    let options = wait.options();
    let polling = client.wait_for_job(job_id, &options, |status| {
        bar.set_position((status.progress_percent.clamp(0.0, 1.0) * 100.0).round() as u64);
        bar.set_message(status.status.to_string());
    });
    // Ctrl-C stops the waiting, not the job: say so, and how to pick it up again.
    let result = tokio::select! {
        result = polling => result,
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            eprintln!("interrupted: {}", resume_hint(job_id));
            return Err(CliError::Interrupted);
        }
    };
    bar.finish_and_clear();
    result.map_err(|e| {
        // A lost connection or a deadline leaves the job running on the server.
        if matches!(e, ClientError::Transport(_) | ClientError::Timeout { .. }) {
            eprintln!("{}", resume_hint(job_id));
        }
        CliError::from(e)
    })
}

/// What to run to follow a job whose wait ended early (the job itself goes on on the server).
fn resume_hint(job_id: &types::JobId) -> String {
    format!(
        "job {id} goes on on the server; follow it with: roma-assets job {id} --wait \
         (an export's package then with: roma-assets download ARCHIVE_ID -o FILE)",
        id = job_id.as_str()
    )
}

/// Downloads with a byte counter.
async fn download(
    client: &InstanceClient,
    archive_id: &types::ArchiveId,
    path: &Path,
    force: bool,
    out: Output,
) -> Result<u64, CliError> {
    let bar = out.bytes_bar("download", None);
    let result = client
        .download_to(archive_id, path, force, |p| {
            if let Some(total) = p.total {
                bar.set_length(total);
            }
            bar.set_position(p.received);
        })
        .await;
    bar.finish_and_clear();
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_offered_is_one_of_the_contract() {
        let cmd = clap::Command::new("t");
        for value in mode_parser().possible_values().expect("a list") {
            let mode = mode_parser()
                .parse_ref(&cmd, None, std::ffi::OsStr::new(value.get_name()))
                .expect("parses");
            assert_eq!(mode.to_string(), value.get_name());
        }
    }
}
