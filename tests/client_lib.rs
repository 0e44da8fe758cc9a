//! The client as a library: the retry policy against a stub server that counts requests, what a
//! failure keeps, the headers every request carries, `wait_for_job`'s deadline, and the
//! roundtrip example run as a user runs it, against the reference server.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use roma_assets::client::{
    ApiFailure, ClientBuilder, ClientError, InstanceClient, Method, RetryPolicy, USER_AGENT,
    WaitOptions, types,
};

const TOKEN: &str = "lib-test-token";

/// A stub of the API: answers the n-th request with the n-th of `statuses` (the last one
/// repeats), counts requests, and records their headers.
#[derive(Clone)]
struct Stub {
    statuses: Arc<Vec<u16>>,
    ok_body: Arc<String>,
    hits: Arc<AtomicUsize>,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Stub {
    fn new(statuses: &[u16], ok_body: serde_json::Value) -> Self {
        Stub {
            statuses: Arc::new(statuses.to_vec()),
            ok_body: Arc::new(ok_body.to_string()),
            hits: Arc::new(AtomicUsize::new(0)),
            headers: Arc::default(),
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn answer(&self, headers: HeaderMap) -> axum::response::Response {
        let n = self.hits.fetch_add(1, Ordering::SeqCst);
        self.headers.lock().expect("the header log").push(headers);
        let status = *self
            .statuses
            .get(n)
            .or(self.statuses.last())
            .expect("a status");
        let request_id = format!("stub-{n}");
        let code = StatusCode::from_u16(status).expect("a status code");
        let json = [
            ("content-type", "application/json".to_string()),
            ("x-request-id", request_id.clone()),
        ];
        match status {
            200 => (code, json, self.ok_body.to_string()).into_response(),
            418 => (code, [("content-type", "text/plain")], "I'm a teapot").into_response(),
            _ => {
                let body = serde_json::json!({
                    "error_code": format!("STUB.{status}"),
                    "error_msg": "the stub says no",
                    "error_details": format!("answer number {n}"),
                    "request_id": request_id,
                });
                (code, json, body.to_string()).into_response()
            }
        }
    }

    /// Serves every path with this stub on 127.0.0.1:0. Not through `support::serve`: the stub
    /// plays a gateway in front of the server and breaks the document on purpose (503, 418,
    /// codes of its own), which that helper's conformance layer would refuse.
    async fn serve(&self) -> String {
        let stub = self.clone();
        let router = axum::Router::new().fallback(move |headers: HeaderMap| {
            let stub = stub.clone();
            async move { stub.answer(headers) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serving") });
        format!("http://{addr}")
    }
}

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

fn instance(base: &str, retry: RetryPolicy) -> InstanceClient {
    let client = ClientBuilder::new(base, TOKEN)
        .build()
        .expect("building the client");
    InstanceClient::new(
        client,
        "p".parse().expect("a project id"),
        "i".parse().expect("an instance id"),
    )
    .with_retry(retry)
}

fn empty_app_page() -> serde_json::Value {
    serde_json::json!({ "total": 0, "size": 0, "apps": [] })
}

#[tokio::test]
async fn a_get_is_retried_on_503_until_it_succeeds() {
    let stub = Stub::new(&[503, 503, 200], empty_app_page());
    let client = instance(&stub.serve().await, fast_retries(4));
    let page = client
        .list_apps(None, None, None)
        .await
        .expect("the third answer");
    assert_eq!(page.total, 0);
    assert_eq!(stub.hits(), 3);
}

#[tokio::test]
async fn a_get_gives_up_after_max_attempts_with_the_last_answer() {
    let stub = Stub::new(&[503], empty_app_page());
    let client = instance(&stub.serve().await, fast_retries(3));
    let error = client.list_apps(None, None, None).await.unwrap_err();
    assert_eq!(stub.hits(), 3);
    let failure = error.api().expect("the server's answer");
    assert_eq!(failure.status, 503);
    assert_eq!(failure.request_id, "stub-2");
}

#[tokio::test]
async fn a_post_is_never_retried_once_the_server_answered() {
    for status in [503, 502, 429, 500] {
        let stub = Stub::new(&[status], serde_json::json!({ "job_id": "j1" }));
        let client = instance(&stub.serve().await, fast_retries(5));
        let error = client
            .export(["app-1"], Vec::<String>::new())
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(status));
        assert_eq!(stub.hits(), 1, "POST answered {status} was sent again");
    }
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_keeps_everything_the_server_said() {
    let stub = Stub::new(&[400], empty_app_page());
    let client = instance(&stub.serve().await, fast_retries(5));
    let error = client.list_apps(None, None, None).await.unwrap_err();
    assert_eq!(stub.hits(), 1);
    assert_eq!(
        error.api(),
        Some(&ApiFailure {
            status: 400,
            error_code: "STUB.400".into(),
            error_msg: "the stub says no".into(),
            error_details: Some("answer number 0".into()),
            request_id: "stub-0".into(),
        })
    );
    let text = error.to_string();
    assert!(
        text.contains("STUB.400") && text.contains("stub-0"),
        "{text}"
    );
}

#[tokio::test]
async fn an_undocumented_answer_keeps_its_status_and_body_text() {
    let stub = Stub::new(&[418], empty_app_page());
    let client = instance(&stub.serve().await, fast_retries(5));
    let error = client.list_apps(None, None, None).await.unwrap_err();
    assert_eq!(stub.hits(), 1);
    match error {
        ClientError::Unexpected { status, body, .. } => {
            assert_eq!(status, 418);
            assert_eq!(body, "I'm a teapot");
        }
        other => panic!("expected Unexpected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_post_whose_connection_never_opened_is_retried() {
    // A port that was just free: connecting is refused, so the request never left.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a: SocketAddr| a.port())
        .expect("a free port");
    let client = instance(&format!("http://127.0.0.1:{port}"), RetryPolicy::none());
    let attempts = AtomicUsize::new(0);
    let body = types::AssetExportRequest {
        apps: vec![],
        tasks: vec![],
    };
    let error = fast_retries(3)
        .run(Method::Post, || async {
            attempts.fetch_add(1, Ordering::SeqCst);
            let sent = client
                .client()
                .export_asset(client.project_id(), client.instance_id(), &body)
                .await;
            match sent {
                Ok(answer) => Ok(answer.into_inner()),
                Err(e) => Err(ClientError::from_generated(e).await),
            }
        })
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error}");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert!(
        error.to_string().contains("talking to the server"),
        "{error}"
    );
}

#[tokio::test]
async fn every_request_carries_the_token_and_our_user_agent() {
    let stub = Stub::new(&[200], empty_app_page());
    let client = instance(&stub.serve().await, RetryPolicy::none());
    client
        .list_apps(None, Some(0), Some(10))
        .await
        .expect("a page");
    let headers = stub.headers.lock().expect("the header log")[0].clone();
    assert_eq!(headers["x-auth-token"], TOKEN);
    assert_eq!(headers["user-agent"], USER_AGENT);
    assert!(USER_AGENT.starts_with("roma-assets/"));
}

#[tokio::test]
async fn wait_for_job_ends_at_its_deadline_and_reports_each_poll() {
    let running = serde_json::json!({
        "id": "j1", "type": "exportAsset", "status": "RUNNING",
        "progress_percent": 0.5, "begin_time": "2019-12-06T06:49:04Z",
    });
    let stub = Stub::new(&[200], running);
    let client = instance(&stub.serve().await, RetryPolicy::none());
    let options = WaitOptions {
        timeout: Duration::from_millis(300),
        first_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(40),
    };
    let mut polls = 0;
    let error = client
        .wait_for_job(&"j1".parse().expect("a job id"), &options, |status| {
            assert_eq!(status.progress_percent, 0.5);
            polls += 1;
        })
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error:?}");
    assert!(polls >= 3, "{polls} polls in 300 ms");
    assert_eq!(polls, stub.hits());
}

#[tokio::test]
async fn wait_for_success_turns_a_failed_job_into_an_error_carrying_its_reasons() {
    let failed = serde_json::json!({
        "id": "j2", "type": "importAsset", "status": "FAILED", "progress_percent": 1.0,
        "begin_time": "2019-12-06T06:49:04Z", "end_time": "2019-12-06T06:49:05Z",
        "reasons": [{
            "resource_type": "application", "resource_name": "orders",
            "error_code": "ROMA.10040",
            "error_msg": "an application with this name already exists",
        }],
    });
    let stub = Stub::new(&[200], failed);
    let client = instance(&stub.serve().await, RetryPolicy::none());
    let job = "j2".parse().expect("a job id");
    let error = client
        .wait_for_success(&job, &WaitOptions::default(), |_| {})
        .await
        .unwrap_err();
    let ClientError::JobFailed(status) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(status.reasons.len(), 1);
    let message = error.to_string();
    assert!(
        message.starts_with("job j2 FAILED: ROMA.10040 orders (application)"),
        "{message}"
    );
    // The low-level wait hands the FAILED status back as an answer.
    let status = client
        .wait_for_job(&job, &WaitOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(status.status.to_string(), "FAILED");
}

#[test]
fn bad_tokens_and_endpoints_are_refused_before_any_request() {
    for token in ["", "two words", "tab\t", "ü"] {
        assert!(
            matches!(
                ClientBuilder::new("http://127.0.0.1:1", token).build(),
                Err(ClientError::InvalidRequest(_))
            ),
            "{token:?}"
        );
    }
    assert!(ClientBuilder::new("not a url", "t").build().is_err());
}

/// Builds the example `name` as cargo would for `cargo run --example` and returns its path.
fn example_binary(name: &str) -> PathBuf {
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo
        .args([
            "build",
            "--quiet",
            "--example",
            name,
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let output = cargo.output().expect("running cargo");
    assert!(
        output.status.success(),
        "building the example: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no executable for example {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roundtrip_example_runs_against_the_reference_server() {
    use roma_assets::service::auth::Credentials;
    use roma_assets::service::package::PackageLimits;
    use roma_assets::service::{Service, ServiceConfig};

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut tokens = Credentials::default();
    tokens.insert("demo", TOKEN);
    let service = Service::open(ServiceConfig {
        data_dir: dir.path().to_path_buf(),
        credentials: tokens,
        package_limits: PackageLimits::default(),
        // Jobs that take a moment, so the example really polls.
        job_min_duration: Duration::from_millis(300),
        database_url: None,
        job_lease: roma_assets::service::store::DEFAULT_LEASE,
        blob_store: None,
    })
    .await
    .expect("opening the service");
    service.seed_demo("demo", "demo").await.expect("seeding");
    let base = support::serve(service.router(64 * 1024 * 1024)).await;

    let exe = tokio::task::spawn_blocking(|| example_binary("roundtrip"))
        .await
        .expect("building the example");
    let run_base = base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe)
            .env("ROMA_ASSETS_ENDPOINT", run_base)
            .env("ROMA_ASSETS_TOKEN", TOKEN)
            .env("ROMA_ASSETS_PROJECT", "demo")
            .env("ROMA_ASSETS_INSTANCE", "demo")
            .env("ROMA_ASSETS_PREFIX", "ex_")
            .output()
    })
    .await
    .expect("joining")
    .expect("running the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("roundtrip done: 1 app(s), 2 task(s) under prefix ex_"),
        "{stdout}"
    );
    assert!(
        stderr.contains("export RUNNING"),
        "no poll saw the job running: {stderr}"
    );

    // What the example says it did is what the server holds.
    let client = ClientBuilder::new(&base, TOKEN).build().expect("a client");
    let demo = InstanceClient::new(
        client,
        "demo".parse().expect("a project"),
        "demo".parse().expect("an instance"),
    );
    let apps = demo
        .list_apps(Some(&"ex_".parse().expect("a name")), None, None)
        .await
        .expect("the apps");
    let names: Vec<&str> = apps.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["ex_orders"]);
}
