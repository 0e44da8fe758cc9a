//! The command line: `roma-assets <command>`. Parses arguments and calls into the library;
//! nothing here is needed by tests that drive the library directly.

pub mod serve;

use clap::{Parser, Subcommand};

/// roma-assets: the ROMA Connect asset API, contract first.
#[derive(Debug, Parser)]
#[command(name = "roma-assets", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reference server: a persistent local ROMA asset service.
    Serve(serve::ServeArgs),
}

/// Runs the parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> std::process::ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
    }
}
