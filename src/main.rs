//! The `roma-assets` binary: parses arguments, sets up logging, calls the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // RUST_LOG-style filter without a regex engine: e.g. `info` or `roma_assets=debug,info`.
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| "info".parse().expect("a valid default filter"));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    roma_assets::cli::run(roma_assets::cli::Cli::parse()).await
}
