//! The servers the overhead benchmarks compare, all serving the same trivial in-memory logic
//! ([`Logic`]: a token comparison, a fixed job status, a fixed job id) so that only the HTTP layer
//! differs:
//!
//! - [`generated`]: our generated router (`router_with`) around an [`Api`] implementation.
//! - [`handwritten`]: what a careful engineer would write by hand with axum to keep the same
//!   contract: the token header, the path parameters' lengths, a typed JSON body with its item
//!   limits and content type, the error body, a request id in a header and a tracing span per
//!   request.
//! - [`bare`]: the quick hand-written version without request ids, spans or length checks: the
//!   floor, for reference.
//! - [`constant`]: one route answering a fixed body, the baseline of the job-status load test.
//!
//! These run in a `roma-bench serve-*` process of their own ([`serve`]); they must never touch a
//! database or a file, and an ExportAsset never creates a job.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use roma_assets::contract::codes;
use roma_assets::contract::types;
use roma_assets::server::{
    self, Api, ApiError, CheckAssetJobStatusParams, CheckAssetJobStatusReply, Credential,
    DownloadAssetArchiveParams, DownloadAssetArchiveReply, ExportAssetParams, ExportAssetReply,
    ImportAssetForm, ImportAssetParams, ImportAssetReply, ListAppsParams, ListAppsReply,
    ListTasksParams, ListTasksReply, RequestContext,
};
use tracing::Instrument;

/// The project every stub request goes to.
pub const PROJECT: &str = "bench";
/// The instance.
pub const INSTANCE: &str = "bench";
/// The token the stubs accept.
pub const TOKEN: &str = "bench-token-0123456789abcdef";
/// The access key of the benchmark's AK/SK pair (signed requests).
pub const ACCESS_KEY: &str = "BENCHAK0123456789ABC";
/// Its secret key.
pub const SECRET_KEY: &str = "BENCHSK0123456789ABCDEF0123456789ABCDEF0";
/// The one job the stubs know.
pub const JOB_ID: &str = "0f8e4c2a9b7d4e6f8a1b2c3d4e5f6a7b";
/// How many ids an ExportAsset request of the benchmark carries.
pub const EXPORT_IDS: usize = 100;

/// The path of CheckAssetJobStatus for [`JOB_ID`].
pub fn status_path() -> String {
    format!("/v2/{PROJECT}/instances/{INSTANCE}/assets/jobs/{JOB_ID}")
}

/// Headers that sign a GET of `path` on `host` with the benchmark's AK/SK, now: `Host`,
/// `X-Sdk-Date` and `Authorization`, as (name, value) pairs. Valid for the server's 15 minutes.
pub fn signed_get_headers(host: &str, path: &str) -> Result<Vec<(String, String)>, String> {
    use roma_assets_runtime::sign;
    let key = sign::SigningKey::new(ACCESS_KEY, SECRET_KEY).map_err(|e| e.to_string())?;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::HOST,
        host.parse().map_err(|_| format!("host {host}"))?,
    );
    sign::sign(
        &mut headers,
        "GET",
        path,
        None,
        sign::Payload::Bytes(&[]),
        &key,
        chrono::Utc::now(),
    )
    .map_err(|e| e.to_string())?;
    // wrk adds its own `Host` unless the script sets that exact key: send the signed one as
    // `Host`, not as a second, lower-case header (two Host values do not verify).
    Ok(headers
        .iter()
        .map(|(name, value)| {
            let name = match name.as_str() {
                "host" => "Host".to_string(),
                other => other.to_string(),
            };
            (name, value.to_str().unwrap_or_default().to_string())
        })
        .collect())
}

/// The path of ExportAsset.
pub fn export_path() -> String {
    format!("/v2/{PROJECT}/instances/{INSTANCE}/assets/export")
}

/// The ExportAsset request of the benchmark: 50 apps and 50 tasks with uuid-like ids.
pub fn export_request() -> types::AssetExportRequest {
    let id = |kind: &str, i: usize| Some(format!("{kind}-{i:04}-5f0c9e7a2b3d4c1e8f6a7b9c0d1e2f3a"));
    types::AssetExportRequest {
        apps: (0..EXPORT_IDS / 2)
            .map(|i| types::AssetExportRequestApps { id: id("app", i) })
            .collect(),
        tasks: (0..EXPORT_IDS / 2)
            .map(|i| types::AssetExportRequestTasks { id: id("task", i) })
            .collect(),
    }
}

/// The ExportAsset request body as sent.
pub fn export_body() -> String {
    serde_json::to_string(&export_request()).unwrap_or_default()
}

/// The handler logic every stub router shares.
pub struct Logic {
    status: types::CheckAssetJobStatusResponse,
    job_id: types::ExportAssetResponseJobId,
}

impl Logic {
    /// The fixed answers.
    pub fn new() -> Result<Self, String> {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| e.to_string())
        };
        let status = types::CheckAssetJobStatusResponse {
            id: JOB_ID.parse().map_err(|e| format!("job id: {e}"))?,
            type_: types::CheckAssetJobStatusResponseType::ExportAsset,
            status: types::CheckAssetJobStatusResponseStatus::Succeeded,
            reasons: Vec::new(),
            progress_percent: 1.0,
            archive_id: Some(
                "7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
                    .parse()
                    .map_err(|e| format!("archive id: {e}"))?,
            ),
            begin_time: at("2025-01-02T03:04:05Z")?,
            end_time: Some(at("2025-01-02T03:04:06Z")?),
        };
        Ok(Logic {
            status,
            job_id: JOB_ID.parse().map_err(|e| format!("job id: {e}"))?,
        })
    }

    /// Whether `token` opens the benchmark's project (the comparison every router makes).
    pub fn authorized(&self, token: &str) -> bool {
        token == TOKEN
    }

    /// The status of `job_id`, if it is the one job.
    pub fn status(&self, job_id: &str) -> Option<types::CheckAssetJobStatusResponse> {
        (job_id == JOB_ID).then(|| self.status.clone())
    }

    /// "Starts" an export of the requested ids: looks at them and answers the fixed job id.
    pub fn export(&self, request: &types::AssetExportRequest) -> types::ExportAssetResponse {
        let ids = request
            .apps
            .iter()
            .filter_map(|a| a.id.as_deref())
            .chain(request.tasks.iter().filter_map(|t| t.id.as_deref()))
            .map(str::len)
            .sum::<usize>();
        std::hint::black_box(ids);
        types::ExportAssetResponse {
            job_id: Some(self.job_id.clone()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The generated router

/// [`Logic`] behind the generated [`Api`] trait.
#[derive(Clone)]
pub struct StubApi(pub Arc<Logic>);

fn refused() -> ApiError {
    ApiError::new(codes::ROMA_1002, "token not valid")
}

fn not_benchmarked() -> ApiError {
    ApiError::internal("not part of the benchmark")
}

/// Whether the generated layer's credential opens the benchmark's project: the token, or a
/// request the layer verified as signed with the benchmark's key.
fn authorized(credential: &Credential) -> bool {
    match credential {
        Credential::Key(token) => token == TOKEN,
        Credential::Signed { access_key } => access_key == ACCESS_KEY,
    }
}

impl server::SigningKeys for StubApi {
    fn secret_key(&self, access_key: &str) -> Option<String> {
        (access_key == ACCESS_KEY).then(|| SECRET_KEY.to_string())
    }
}

impl Api for StubApi {
    async fn export_asset(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        _params: ExportAssetParams,
        body: types::AssetExportRequest,
    ) -> ExportAssetReply {
        if !authorized(&credential) {
            return refused().into();
        }
        ExportAssetReply::Ok(self.0.export(&body))
    }

    async fn import_asset(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: ImportAssetParams,
        _body: ImportAssetForm,
    ) -> ImportAssetReply {
        not_benchmarked().into()
    }

    async fn check_asset_job_status(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: CheckAssetJobStatusParams,
    ) -> CheckAssetJobStatusReply {
        if !authorized(&credential) {
            return refused().into();
        }
        match self.0.status(params.job_id.as_str()) {
            Some(status) => CheckAssetJobStatusReply::Ok(status),
            None => ApiError::new(codes::ROMA_10020, "no such asset job").into(),
        }
    }

    async fn download_asset_archive(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: DownloadAssetArchiveParams,
    ) -> DownloadAssetArchiveReply {
        not_benchmarked().into()
    }

    async fn list_apps(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: ListAppsParams,
    ) -> ListAppsReply {
        not_benchmarked().into()
    }

    async fn list_tasks(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: ListTasksParams,
    ) -> ListTasksReply {
        not_benchmarked().into()
    }

    async fn check_roma_app_details(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: server::CheckRomaAppDetailsParams,
    ) -> server::CheckRomaAppDetailsReply {
        not_benchmarked().into()
    }

    async fn list_instances(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: server::ListInstancesParams,
    ) -> server::ListInstancesReply {
        not_benchmarked().into()
    }

    async fn delete_asset(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        _params: server::DeleteAssetParams,
        _body: types::AssetOperateRequest,
    ) -> server::DeleteAssetReply {
        not_benchmarked().into()
    }
}

/// The generated router serving [`Logic`].
pub fn generated(logic: Arc<Logic>) -> Router {
    server::router_with(StubApi(logic), server::RouterConfig::default())
}

// ---------------------------------------------------------------------------------------------
// The hand-written router with the same contract

const STATUS_ROUTE: &str = "/v2/{project_id}/instances/{instance_id}/assets/jobs/{job_id}";
const EXPORT_ROUTE: &str = "/v2/{project_id}/instances/{instance_id}/assets/export";

#[derive(Clone)]
struct RequestId(String);

fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = serde_json::json!({
        "error_code": code,
        "error_msg": message,
        "request_id": request_id,
    });
    json(status, &body)
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn request_id(mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The token, or the error answer.
#[allow(clippy::result_large_err)] // a Response is the error answer itself
fn token<'h>(headers: &'h HeaderMap, rid: &str) -> Result<&'h str, Response> {
    match headers.get("x-auth-token").map(HeaderValue::to_str) {
        Some(Ok(token)) if !token.is_empty() && token.len() <= 100_000 => Ok(token),
        Some(Ok(token)) if !token.is_empty() => Err(error(
            StatusCode::BAD_REQUEST,
            "ROMA.13000",
            "invalid parameter: x-auth-token",
            rid,
        )),
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            "ROMA.1000",
            "no token in the request",
            rid,
        )),
    }
}

fn path_ok(project: &str, instance: &str) -> bool {
    project.chars().count() <= 64 && instance.chars().count() <= 64
}

async fn hw_status(
    State(logic): State<Arc<Logic>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    Path((project, instance, job)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = match token(&headers, &rid) {
        Ok(token) => token,
        Err(response) => return response,
    };
    let job_len = job.chars().count();
    if !path_ok(&project, &instance) || job_len == 0 || job_len > 128 {
        return error(
            StatusCode::BAD_REQUEST,
            "ROMA.13000",
            "invalid parameter",
            &rid,
        );
    }
    if !logic.authorized(token) {
        return error(
            StatusCode::UNAUTHORIZED,
            "ROMA.1002",
            "token not valid",
            &rid,
        );
    }
    match logic.status(&job) {
        Some(status) => json(StatusCode::OK, &status),
        None => error(
            StatusCode::NOT_FOUND,
            "ROMA.10020",
            "no such asset job",
            &rid,
        ),
    }
}

async fn hw_export(
    State(logic): State<Arc<Logic>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    Path((project, instance)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match token(&headers, &rid) {
        Ok(token) => token,
        Err(response) => return response,
    };
    if !path_ok(&project, &instance) {
        return error(
            StatusCode::BAD_REQUEST,
            "ROMA.13000",
            "invalid parameter",
            &rid,
        );
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return error(
            StatusCode::BAD_REQUEST,
            "ROMA.13000",
            "Content-Type must be application/json",
            &rid,
        );
    }
    let request: types::AssetExportRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "ROMA.13000",
                &format!("malformed body: {e}"),
                &rid,
            );
        }
    };
    if request.apps.len() > 100
        || request.tasks.len() > 100
        || request.apps.len() + request.tasks.len() > 100
    {
        return error(
            StatusCode::BAD_REQUEST,
            "ROMA.13000",
            "more than 100 items",
            &rid,
        );
    }
    if !logic.authorized(token) {
        return error(
            StatusCode::UNAUTHORIZED,
            "ROMA.1002",
            "token not valid",
            &rid,
        );
    }
    json(StatusCode::OK, &logic.export(&request))
}

async fn hw_no_route(Extension(RequestId(rid)): Extension<RequestId>) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ROMA.10091",
        "no such operation",
        &rid,
    )
}

/// The hand-written router with the generated one's contract (see the module comment).
pub fn handwritten(logic: Arc<Logic>) -> Router {
    Router::new()
        .route(STATUS_ROUTE, get(hw_status))
        .route(EXPORT_ROUTE, post(hw_export))
        .fallback(hw_no_route)
        .with_state(logic)
        .layer(axum::middleware::from_fn(request_id))
}

// ---------------------------------------------------------------------------------------------
// The bare hand-written router and the constant server

async fn bare_status(
    State(logic): State<Arc<Logic>>,
    Path((_, _, job)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !logic.authorized(token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match logic.status(&job) {
        Some(status) => json(StatusCode::OK, &status),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn bare_export(State(logic): State<Arc<Logic>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !logic.authorized(token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match serde_json::from_slice::<types::AssetExportRequest>(&body) {
        Ok(request) => json(StatusCode::OK, &logic.export(&request)),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// The quick hand-written router: no request id, no span, no length checks.
pub fn bare(logic: Arc<Logic>) -> Router {
    Router::new()
        .route(STATUS_ROUTE, get(bare_status))
        .route(EXPORT_ROUTE, post(bare_export))
        .with_state(logic)
}

/// One GET route answering `body` as JSON, whatever the request.
pub fn constant(route: &str, body: Bytes) -> Router {
    Router::new().route(
        route,
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Serving

/// Serves `router` on 127.0.0.1 (an OS-chosen port), printing `listening http://ADDR` on stdout,
/// until stdin closes or `max_life` has passed. Logs as the `roma-assets` binary does (`info`,
/// to stderr), so spans cost what they cost there.
pub async fn serve(router: Router, max_life: Duration) -> Result<(), String> {
    init_logging();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("binding a loopback port: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening http://{addr}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    // The parent holds our stdin: when it ends, however it ends, so do we.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
    // As `roma-assets serve` does.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::select! {
        served = axum::serve(listener, router) => served.map_err(|e| format!("serving: {e}")),
        () = tokio::time::sleep(max_life) => Ok(()),
    }
}

/// The `roma-assets` binary's logging: `info` (or `RUST_LOG`), formatted to stderr.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| "info".parse().expect("a valid default filter"));
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn call(router: Router, method: &str, path: &str, body: &str) -> (u16, String) {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("x-auth-token", TOKEN)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn every_stub_router_answers_the_same_bodies() {
        let logic = Arc::new(Logic::new().unwrap());
        let mut answers = Vec::new();
        for router in [
            generated(logic.clone()),
            handwritten(logic.clone()),
            bare(logic.clone()),
        ] {
            let status = call(router.clone(), "GET", &status_path(), "").await;
            let export = call(router, "POST", &export_path(), &export_body()).await;
            answers.push((status, export));
        }
        assert_eq!(answers[0].0.0, 200, "{:?}", answers[0]);
        assert_eq!(answers[0].1.0, 200, "{:?}", answers[0]);
        assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    }
}
