//! Three `roma-assets serve` processes on one PostgreSQL database and one S3 bucket (each with
//! its own data directory), as README's "Running several replicas" runs them: any replica answers any request, the rules
//! hold across replicas (one running job per project, one download per archive), and a replica
//! killed with SIGKILL while it runs an import loses nothing and blocks nothing once its job's
//! lease has expired.
//!
//! Needs the PostgreSQL cluster of `ROMA_ASSETS_TEST_DATABASE_URL` and the S3 server of
//! `ROMA_ASSETS_TEST_S3_ENDPOINT` (`.ci/run` starts them with `tests/services/postgres.sh` and
//! `tests/services/s3.sh`); without them the test says so and passes, except under `CI`, where
//! it fails.

mod support;

use roma_assets::contract::types::CheckAssetJobStatusResponseStatus as JobStatus;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TOKEN: &str = "replica-token-0001";
/// Short, so that the test waits seconds, not the default half-minute.
const LEASE_SECS: u64 = 2;

/// A running replica, killed when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the replicas keep state and blobs.
struct Shared {
    database_url: String,
    s3_endpoint: String,
    bucket: String,
}

fn start(shared: &Shared, data_dir: &std::path::Path, extra: &[&str]) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roma-assets"))
        .args(["serve", "--listen", "127.0.0.1:0", "--demo", "--token"])
        .arg(format!("demo={TOKEN}"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--job-lease-secs", &LEASE_SECS.to_string()])
        .args(extra)
        .args(["--blob-store", &shared.bucket])
        .env("DATABASE_URL", &shared.database_url)
        .env("AWS_ENDPOINT_URL", &shared.s3_endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting a replica");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the replica printed its base URL")
            .expect("a line");
        if let Some(base) = line.trim().strip_prefix("base URL:") {
            break base.trim().to_string();
        }
    };
    // Keep reading its output, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Replica { child, base }
}

/// A new database on the cluster, for this test alone.
fn new_database(url: &str) -> String {
    let mut client = postgres::Client::connect(url, postgres::NoTls).expect("the test cluster");
    let name = format!("replicas_{}", std::process::id());
    // One statement each: a multi-statement batch is one transaction, which these refuse.
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&statement)
            .expect("a database for the test");
    }
    let (base, _) = url
        .rsplit_once('/')
        .expect("a database URL ends with its name");
    format!("{base}/{name}")
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, &url).header("X-Auth-Token", TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = request.send().await.expect("an answer");
    let status = answer.status().as_u16();
    let bytes = answer.bytes().await.expect("a body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}

const INSTANCE: &str = "/v2/demo/instances/demo";

/// ROMA.10012, "an asset job is already running", as the document names it.
const JOB_RUNNING: &str = roma_assets::contract::codes::ROMA_10012.code;

/// Exports the demo app `app` on `base`: the status and the body of the answer.
async fn export(http: &reqwest::Client, base: &str, app: &str) -> (u16, Value) {
    call(
        http,
        reqwest::Method::POST,
        format!("{base}{INSTANCE}/assets/export"),
        Some(json!({"apps": [{"id": app}], "tasks": []})),
    )
    .await
}

async fn job_status(http: &reqwest::Client, base: &str, job: &str) -> Value {
    call(
        http,
        reqwest::Method::GET,
        format!("{base}{INSTANCE}/assets/jobs/{job}"),
        None,
    )
    .await
    .1
}

/// Polls `base` until the job is no longer RUNNING, for at most `within`.
async fn ended(http: &reqwest::Client, base: &str, job: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let status = job_status(http, base, job).await;
        if status["status"] != JobStatus::Running.to_string() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} still RUNNING on {base}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The instance's apps and tasks as `base` lists them.
async fn holdings(http: &reqwest::Client, base: &str) -> Value {
    let apps = call(
        http,
        reqwest::Method::GET,
        format!("{base}{INSTANCE}/apps?limit=100"),
        None,
    )
    .await
    .1;
    let tasks = call(
        http,
        reqwest::Method::GET,
        format!("{base}/v2/demo/fdi/instances/demo/tasks?limit=100"),
        None,
    )
    .await
    .1;
    json!([apps, tasks])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_api_and_survive_a_kill() {
    let (Ok(cluster), Ok(s3_endpoint)) = (
        std::env::var("ROMA_ASSETS_TEST_DATABASE_URL"),
        std::env::var("ROMA_ASSETS_TEST_S3_ENDPOINT"),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set ROMA_ASSETS_TEST_DATABASE_URL and ROMA_ASSETS_TEST_S3_ENDPOINT \
             (tests/services/postgres.sh start, tests/services/s3.sh start)"
        );
        eprintln!("no test database or S3 server: the replicas test did not run");
        return;
    };
    // The synchronous client on the blocking pool: it runs a runtime of its own.
    let database = tokio::task::spawn_blocking(move || new_database(&cluster))
        .await
        .unwrap();
    let shared = Shared {
        database_url: database,
        s3_endpoint,
        bucket: format!("s3://roma-test/replicas-{}", std::process::id()),
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = start(&shared, dirs[0].path(), &[]);
    let b = start(&shared, dirs[1].path(), &[]);
    // C keeps its jobs RUNNING 15 s before their work: killed meanwhile, as a replica dies
    // during a long import.
    let mut c = start(&shared, dirs[2].path(), &["--job-min-duration-ms", "15000"]);
    let http = reqwest::Client::new();

    // Export on A, poll on B, download on C; a second download, on A, is refused.
    let (status, created) = export(&http, &a.base, "demo-app-orders").await;
    assert_eq!(status, 200, "{created}");
    let job = created["job_id"].as_str().unwrap().to_string();
    let done = ended(&http, &b.base, &job, Duration::from_secs(30)).await;
    assert_eq!(done["status"], JobStatus::Succeeded.to_string(), "{done}");
    let archive = done["archive_id"].as_str().unwrap();
    let download = http
        .get(format!("{}{INSTANCE}/assets/archives/{archive}", c.base))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let package = download.bytes().await.unwrap();
    assert!(package.starts_with(b"PK"), "a zip package");
    let (again, refusal) = call(
        &http,
        reqwest::Method::GET,
        format!("{}{INSTANCE}/assets/archives/{archive}", a.base),
        None,
    )
    .await;
    assert_eq!(again, 404, "{refusal}");

    // Every replica lists the same.
    let listed = holdings(&http, &a.base).await;
    assert_eq!(holdings(&http, &b.base).await, listed);
    assert_eq!(holdings(&http, &c.base).await, listed);

    // Ten job creations at once, spread over the three: exactly one runs.
    let bases = [&a.base, &b.base, &c.base];
    let racers: Vec<_> = (0..10)
        .map(|n| {
            let (http, base) = (http.clone(), bases[n % 3].clone());
            tokio::spawn(async move { export(&http, &base, "demo-app-crm").await })
        })
        .collect();
    let mut won = Vec::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        match status {
            200 => won.push(body["job_id"].as_str().unwrap().to_string()),
            _ => assert_eq!(body["error_code"], JOB_RUNNING, "{status} {body}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one job runs: {won:?}");

    // A large import on C: RUNNING; C is killed; the job ends FAILED, seen from A and B, the
    // instance is unchanged, and the project can start a job again.
    let before = holdings(&http, &a.base).await;
    let (mut status, mut accepted) = (0, Value::Null);
    let deadline = Instant::now() + Duration::from_secs(90);
    while status != 200 {
        let form = reqwest::multipart::Form::new().part(
            "ImportAssetRequestBody",
            reqwest::multipart::Part::bytes(package.to_vec()).file_name("orders.zip"),
        );
        let answer = http
            .post(format!("{}{INSTANCE}/assets/import?mode=Merge", c.base))
            .header("X-Auth-Token", TOKEN)
            .multipart(form)
            .send()
            .await
            .unwrap();
        status = answer.status().as_u16();
        accepted = answer.json().await.unwrap();
        if status != 200 {
            // The raced export still runs (on A or B it ends at once; on C in 15 s).
            assert_eq!(accepted["error_code"], JOB_RUNNING, "{accepted}");
            assert!(Instant::now() < deadline, "the project's slot never freed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let import = accepted["job_id"].as_str().unwrap().to_string();
    assert_eq!(
        job_status(&http, &b.base, &import).await["status"],
        JobStatus::Running.to_string()
    );
    let killed_at = Instant::now();
    c.child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    c.child.wait().unwrap();
    let failed = ended(
        &http,
        &a.base,
        &import,
        Duration::from_secs(4 * LEASE_SECS + 10),
    )
    .await;
    let took = killed_at.elapsed();
    assert_eq!(failed["status"], JobStatus::Failed.to_string(), "{failed}");
    let reason = failed["reasons"][0]["error_msg"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("lease"), "{failed}");
    assert_eq!(job_status(&http, &b.base, &import).await, failed);
    assert_eq!(holdings(&http, &a.base).await, before);
    assert_eq!(holdings(&http, &b.base).await, before);
    eprintln!(
        "the killed replica's import was FAILED {took:?} after the kill (lease {LEASE_SECS} s)"
    );
    let (status, body) = export(&http, &b.base, "demo-app-orders").await;
    assert_eq!(status, 200, "a new job can start: {body}");

    // A replica stopped gracefully (SIGTERM) exits cleanly: its database connections close
    // off the runtime's threads.
    let mut a = a;
    let stopped = Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let exit = a.child.wait().unwrap();
    assert!(exit.success(), "the replica's exit: {exit:?}");
}
