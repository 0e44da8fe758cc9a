//! The benchmarks and the load test of roma-assets (issue #7), run by `cargo xtask bench`.
//!
//! Each part compares the generated stack with what a user would pick instead, in the same run,
//! in alternating rounds, and reports min/median/max: the machine is shared, so absolute figures
//! drift and only same-round ratios are comparable. Targets are checked here and printed, never
//! asserted by timed tests.
//!
//! Everything runs on 127.0.0.1, every loop is bounded (a fixed count or a deadline), and every
//! process started here stops by itself (see [`procs`]).

pub mod build_cost;
pub mod client;
pub mod fixtures;
pub mod load;
pub mod machine;
pub mod memory;
pub mod overhead;
pub mod procs;
pub mod report;
pub mod roundtrip;
pub mod scale;
pub mod stats;
pub mod status_load;
pub mod stubs;
pub mod wrk;

use std::path::{Path, PathBuf};
use std::time::Duration;

use roma_assets::client::{Client, types};

/// What every part needs to know.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The workspace root.
    pub root: PathBuf,
    /// Scratch space: `target/bench` (scripts, packages, data directories, logs).
    pub work: PathBuf,
    /// This program, for starting the stub servers.
    pub self_exe: PathBuf,
    /// The `roma-assets` release binary, for the reference server.
    pub server_bin: PathBuf,
    /// `wrk`, if installed.
    pub wrk: Option<PathBuf>,
    /// Rounds of each comparison.
    pub rounds: usize,
    /// Length of one wrk run.
    pub wrk_duration: Duration,
    /// A short smoke run: fewer, shorter rounds, smaller counts.
    pub quick: bool,
}

impl Ctx {
    /// A fresh directory under the scratch space (removed first if it exists).
    pub fn fresh_dir(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("removing {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// The arguments of `roma-bench serve-stub` and `serve-constant`: they end after this.
    pub fn stub_lifetime_args(&self) -> Vec<String> {
        vec!["--max-secs".to_string(), "1800".to_string()]
    }
}

/// A reqwest client sending the token on every request, as `ClientBuilder` does.
pub fn http_client(token: &str) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value =
        reqwest::header::HeaderValue::from_str(token).map_err(|e| format!("token: {e}"))?;
    value.set_sensitive(true);
    headers.insert("x-auth-token", value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .map_err(|e| format!("building an HTTP client: {e}"))
}

/// The generated client for `base` with `token`.
pub fn generated_client(base: &str, token: &str) -> Result<Client, String> {
    roma_assets::client::ClientBuilder::new(base, token)
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())
}

/// Parses an id of the document's types.
pub fn id<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| format!("`{s}`: {e}"))
}

/// Polls a job every `interval` until it has ended, at most `timeout`.
pub async fn wait_job(
    client: &Client,
    project: &str,
    instance: &str,
    job: &str,
    interval: Duration,
    timeout: Duration,
) -> Result<types::CheckAssetJobStatusResponse, String> {
    let (p, i, j) = (id(project)?, id(instance)?, id(job)?);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let status = client
            .check_asset_job_status(&p, &i, &j)
            .await
            .map_err(|e| format!("status of job {job}: {e}"))?
            .into_inner();
        if status.status != types::CheckAssetJobStatusResponseStatus::Running {
            return Ok(status);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("job {job} still running after {timeout:?}"));
        }
        tokio::time::sleep(interval).await;
    }
}

/// The text of a file, or an empty string.
pub fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Runs `future` on a fresh multi-threaded tokio runtime (as many workers as cores, like the
/// servers), for the parts that drive HTTP clients.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting a tokio runtime: {e}"))?;
    Ok(runtime.block_on(future))
}

/// The reference server's token for `project` in these benchmarks.
pub fn token_of(project: &str) -> String {
    format!("{project}-bench-token")
}
