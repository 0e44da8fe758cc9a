//! The command line: `roma-assets <command>`. Parses arguments and calls into the library;
//! nothing here is needed by tests that drive the library directly.
//!
//! `serve` runs the reference server. The client commands (`apps`, `tasks`, `export`, `import`,
//! `job`, `download`) each take the connection options of [`common::ClientArgs`] (flags or
//! `ROMA_ASSETS_*` variables); `package inspect` and `completions` work offline. Exit codes: 0
//! done, 1 error, 2 usage error, 3 job FAILED.

pub mod common;
pub mod jobs;
pub mod list;
pub mod output;
pub mod package;
pub mod serve;
mod trim;

use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// roma-assets: the ROMA Connect asset API, contract first.
#[derive(Debug, Parser)]
#[command(name = "roma-assets", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// The server to talk to and as whom, before or after the subcommand.
    #[command(flatten)]
    pub connection: common::ClientArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reference server: a persistent local ROMA asset service.
    Serve(serve::ServeArgs),
    /// List the project's instances (those holding something).
    Instances(list::InstancesArgs),
    /// List the applications of an instance.
    Apps(list::AppsArgs),
    /// Show one application.
    #[command(subcommand)]
    App(list::AppCommand),
    /// List the data-integration tasks of an instance.
    Tasks(list::TasksArgs),
    /// Start exporting applications and tasks; with --wait or -o, follow the job and download
    /// the package.
    Export(jobs::ExportArgs),
    /// Upload a package to import; with --wait, follow the job.
    Import(jobs::ImportArgs),
    /// Show an asset job's status (exit 3 if it FAILED); with --wait, follow it to its end.
    Job(jobs::JobArgs),
    /// Delete applications and tasks, all or nothing (a job; with --wait, follow it).
    Delete(jobs::DeleteArgs),
    /// Download the package of a succeeded export (once: the server then forgets it).
    Download(jobs::DownloadArgs),
    /// Work with package files, offline.
    #[command(subcommand)]
    Package(package::PackageCommand),
    /// Print a shell completion script, e.g. `roma-assets completions bash > roma-assets.bash`.
    Completions(CompletionsArgs),
}

/// Options of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    use common::finish;
    let conn = &cli.connection;
    let json = conn.json;
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Instances(args) => finish(list::instances(args, conn).await, json),
        Command::Apps(args) => finish(list::apps(args, conn).await, json),
        Command::Tasks(args) => finish(list::tasks(args, conn).await, json),
        Command::App(list::AppCommand::Show(args)) => {
            finish(list::app_show(args, conn).await, json)
        }
        Command::Export(args) => finish(jobs::export(args, conn).await, json),
        Command::Import(args) => finish(jobs::import(args, conn).await, json),
        Command::Delete(args) => finish(jobs::delete(args, conn).await, json),
        Command::Job(args) => finish(jobs::job(args, conn).await, json),
        Command::Download(args) => finish(jobs::download_archive(args, conn).await, json),
        Command::Package(command) => finish(package::run(command, json).await, json),
        Command::Completions(args) => {
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "roma-assets",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
