//! The smallest useful use of the client library: import a package file and wait for the job.
//!
//! ```text
//! ROMA_ASSETS_TOKEN=<token> cargo run --example import_package -- assets.zip [PREFIX]
//! ```
//!
//! Settings, from the environment: `ROMA_ASSETS_ENDPOINT` (default `http://127.0.0.1:8080`),
//! `ROMA_ASSETS_TOKEN` (required), `ROMA_ASSETS_PROJECT` and `ROMA_ASSETS_INSTANCE` (default
//! `demo`).

use std::error::Error;

use roma_assets::client::{ClientBuilder, ClientError, ImportOptions, InstanceClient, WaitOptions};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Errors are printed for people (Display); a FAILED job (its reasons printed) exits 3.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let failed = e
                .downcast_ref::<ClientError>()
                .is_some_and(|e| matches!(e, ClientError::JobFailed(_)));
            std::process::ExitCode::from(if failed { 3 } else { 1 })
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .ok_or("usage: import_package FILE.zip [PREFIX]")?;
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());

    let client = ClientBuilder::new(
        env("ROMA_ASSETS_ENDPOINT", "http://127.0.0.1:8080"),
        std::env::var("ROMA_ASSETS_TOKEN").map_err(|_| "set ROMA_ASSETS_TOKEN")?,
    )
    .build()?;
    let roma = InstanceClient::new(
        client,
        env("ROMA_ASSETS_PROJECT", "demo").parse()?,
        env("ROMA_ASSETS_INSTANCE", "demo").parse()?,
    );

    let options = ImportOptions {
        mode: None,
        prefix: args.next().map(|p| p.parse()).transpose()?,
        upload_name: None,
    };
    let job = roma
        .import_file(&file, &options, |p| {
            eprintln!("  sent {} of {:?} bytes", p.sent, p.total)
        })
        .await?;
    let done = roma
        .wait_for_success(&job, &WaitOptions::default(), |_| {})
        .await?;
    println!("job {} {}", job.as_str(), done.status);
    Ok(())
}
