//! The `roma-assets` binary: parses arguments, sets up logging, calls the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// Threads of tokio's blocking pool (its default is 512). The server's blocking work queues on
/// one SQLite connection and a few files; more threads than this only wait, and each left
/// glibc memory behind after a burst (BENCHMARKS.md, load test).
const MAX_BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    // RUST_LOG-style filter without a regex engine: e.g. `info` or `roma_assets=debug,info`.
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| "info".parse().expect("a valid default filter"));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours for a terminal only: a log file gets plain text.
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(roma_assets::cli::run(roma_assets::cli::Cli::parse()))
}
