//! `roma-assets serve`: the reference server on a local address, with a data directory,
//! project-scoped tokens and AK/SK pairs, and an optional demo instance. Shuts down gracefully on Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::service::auth::{Credentials, random_key, random_token};
use crate::service::demo::{DEMO_APP_IDS, DEMO_TASK_IDS};
use crate::service::package::PackageLimits;
use crate::service::{Service, ServiceConfig};

/// The demo project and instance `--demo` seeds.
pub const DEMO_PROJECT: &str = "demo";
/// The demo instance.
pub const DEMO_INSTANCE: &str = "demo";
/// Default upload limit of ImportAsset: the document's `x-max-body-bytes`, as the generated
/// router's default body limits carry it (not restated here).
pub fn default_max_upload_bytes() -> usize {
    crate::server::BodyLimits::default().import_asset
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the database, uploads and archives live.
    #[arg(long, default_value = "./roma-data")]
    pub data_dir: PathBuf,
    /// Keep everything in a fresh temporary directory, removed when the server stops: a
    /// throwaway server (CI, or a walk-through started over). Conflicts with --data-dir.
    #[arg(long, conflicts_with = "data_dir")]
    pub ephemeral: bool,
    /// Largest accepted ImportAsset request, in bytes (413 beyond).
    #[arg(long, default_value_t = default_max_upload_bytes())]
    pub max_upload_bytes: usize,
    /// A token and the project it opens, as PROJECT=TOKEN. Repeatable. Without any (and without
    /// ROMA_ASSETS_TOKENS), a random token for project `demo` is generated and printed.
    #[arg(long = "token", value_name = "PROJECT=TOKEN")]
    pub tokens: Vec<String>,
    /// An access key / secret key pair and the project it opens, as PROJECT=AK:SK, for clients
    /// that sign requests (the official Huawei Cloud SDKs; `roma-assets` with
    /// HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK). Repeatable; also ROMA_ASSETS_CREDENTIALS
    /// (comma-separated). With --demo and none given, a pair for project `demo` is generated and
    /// printed.
    #[arg(long = "credential", value_name = "PROJECT=AK:SK")]
    pub credentials: Vec<String>,
    /// Seed project `demo`, instance `demo` with a few apps and tasks (fixed ids).
    #[arg(long)]
    pub demo: bool,
    /// Keep every job RUNNING at least this many milliseconds (to test polling and the
    /// one-running-job rule against a local server whose jobs would end at once).
    #[arg(long, default_value_t = 0)]
    pub job_min_duration_ms: u64,
    /// How long running jobs may take to finish on shutdown before they are marked FAILED.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Keep all state in this PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB,
    /// no TLS) instead of SQLite in --data-dir, so that several replicas serve one API: see the
    /// README, "Running several replicas". --data-dir then holds uploads and archives only.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Keep uploads and archives in this S3-compatible bucket, as s3://BUCKET[/PREFIX], with
    /// the usual AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY:
    /// replicas behind one load balancer share them. --data-dir then holds local copies only.
    #[arg(long, value_name = "URL")]
    pub blob_store: Option<String>,
    /// How long a job's lease lasts, in seconds: a replica that dies leaves its running jobs
    /// RUNNING this long at most, then another replica marks them FAILED.
    #[arg(long, default_value_t = crate::service::store::DEFAULT_LEASE.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub job_lease_secs: u64,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> ExitCode {
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The items of a repeatable flag followed by those of a comma-separated variable.
fn flag_and_env<'a>(flag: &'a [String], env: &'a str) -> impl Iterator<Item = &'a str> {
    flag.iter()
        .map(String::as_str)
        .chain(env.split(',').map(str::trim).filter(|s| !s.is_empty()))
}

/// A temporary data directory, removed when dropped (after the server stopped).
struct Ephemeral(PathBuf);

impl Ephemeral {
    fn create() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "roma-assets-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Ephemeral(dir))
    }
}

impl Drop for Ephemeral {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!(
                "could not remove the ephemeral data dir {}: {e}",
                self.0.display()
            );
        }
    }
}

async fn serve(mut args: ServeArgs) -> Result<(), String> {
    let ephemeral = if args.ephemeral {
        let dir = Ephemeral::create()?;
        args.data_dir = dir.0.clone();
        Some(dir)
    } else {
        None
    };
    let mut credentials = Credentials::default();
    let env_tokens = std::env::var("ROMA_ASSETS_TOKENS").unwrap_or_default();
    for spec in flag_and_env(&args.tokens, &env_tokens) {
        credentials
            .parse_spec(spec)
            .map_err(|e| format!("--token / ROMA_ASSETS_TOKENS: {e}"))?;
    }
    let env_keys = std::env::var("ROMA_ASSETS_CREDENTIALS").unwrap_or_default();
    for spec in flag_and_env(&args.credentials, &env_keys) {
        credentials
            .parse_key_spec(spec)
            .map_err(|e| format!("--credential / ROMA_ASSETS_CREDENTIALS: {e}"))?;
    }
    let generated_token = if credentials.is_empty() {
        let token = random_token();
        credentials.insert(DEMO_PROJECT, token.clone());
        Some(token)
    } else {
        None
    };
    let generated_key = if args.demo && !credentials.has_keys() {
        let key = random_key();
        credentials
            .insert_key(DEMO_PROJECT, key.clone())
            .map_err(|e| e.to_string())?;
        Some(key)
    } else {
        None
    };

    let service = Service::open(ServiceConfig {
        data_dir: args.data_dir.clone(),
        credentials: credentials.clone(),
        package_limits: PackageLimits::default(),
        job_min_duration: Duration::from_millis(args.job_min_duration_ms),
        database_url: args.database_url.clone(),
        job_lease: Duration::from_secs(args.job_lease_secs),
        blob_store: args.blob_store.clone(),
    })
    .await
    .map_err(|e| e.to_string())?;
    if args.demo {
        service
            .seed_demo(DEMO_PROJECT, DEMO_INSTANCE)
            .await
            .map_err(|e| format!("seeding the demo: {e}"))?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    let shutdown = shutdown_signal();
    println!("roma-assets reference server");
    println!("  base URL:   http://{addr}");
    match &ephemeral {
        Some(_) => println!(
            "  data dir:   {} (ephemeral: removed at exit)",
            args.data_dir.display()
        ),
        None => println!("  data dir:   {}", args.data_dir.display()),
    }
    if args.database_url.is_some() {
        // The URL may hold a password: never printed.
        println!("  database:   PostgreSQL (--database-url), shared by every replica");
    }
    if let Some(url) = &args.blob_store {
        println!("  blobs:      {url}");
    }
    println!("  upload max: {} bytes", args.max_upload_bytes);
    if generated_token.is_some() || generated_key.is_some() {
        println!("  project:    {DEMO_PROJECT}");
        println!("  instance:   {DEMO_INSTANCE}");
    } else {
        println!("  projects:   {}", credentials.projects().join(", "));
    }
    if let Some(token) = &generated_token {
        println!("  token:      {token}   (generated; pass --token PROJECT=TOKEN to choose)");
    }
    if let Some(key) = &generated_key {
        println!(
            "  AK/SK:      {} / {}   (generated; pass --credential PROJECT=AK:SK to choose)",
            key.access_key(),
            key.secret_key()
        );
        println!("  for the official Huawei Cloud SDKs and `roma-assets` with AK/SK:");
        println!(
            "    export HUAWEICLOUD_SDK_AK={} HUAWEICLOUD_SDK_SK={} HUAWEICLOUD_SDK_PROJECT_ID={DEMO_PROJECT}",
            key.access_key(),
            key.secret_key()
        );
    }
    if args.demo {
        println!("  demo apps:  {}", DEMO_APP_IDS.join(", "));
        println!("  demo tasks: {}", DEMO_TASK_IDS.join(", "));
    }
    println!("  spec:       http://{addr}/openapi.yaml");
    tracing::info!(%addr, "listening");

    // No Nagle: a streamed answer (a download) goes out in several writes, and waiting for the
    // client's delayed ACK cost 40 ms per download on loopback (BENCHMARKS.md, roundtrip).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    super::trim::spawn();
    axum::serve(listener, service.router(args.max_upload_bytes))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("serving: {e}"))?;
    let marked = service
        .shutdown(Duration::from_secs(args.shutdown_grace_secs))
        .await;
    if marked > 0 {
        eprintln!("{marked} running job(s) did not finish in time and were marked FAILED");
    }
    Ok(())
}

/// Ctrl-C or SIGTERM. The handlers are registered when this is called (not when the future is
/// first polled), so call it before announcing the server: a signal sent right after the banner
/// must shut down gracefully, not kill the process with its default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let (interrupt, terminate) = signals;
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}
