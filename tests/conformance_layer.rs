//! The conformance layer of `tests/support` can fail: fed responses that break the document in
//! one way each, it names the problem; served through the layer, a broken server's answer
//! reaches the test as a 599 that names it. Without these, a layer that checks nothing would
//! let every integration test pass.

mod support;

use axum::http::{HeaderMap, HeaderValue, Method};
use serde_json::json;
use support::conformance::{
    self, Conformance, Exchange, VIOLATION_HEADER, VIOLATION_STATUS, repository_documents,
};

const EXPORT: &str = "/v2/demo/instances/demo/assets/export";
const JOB: &str = "/v2/demo/instances/demo/assets/jobs/j1";
const ARCHIVE: &str = "/v2/demo/instances/demo/assets/archives/a1";
const APPS: &str = "/v2/demo/instances/demo/apps";
const REQUEST_ID: &str = "13760c1fe8655e61209b75665e9bef43";

fn headers(content_type: Option<&'static str>, request_id: Option<&'static str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(ct) = content_type {
        h.insert("content-type", HeaderValue::from_static(ct));
    }
    if let Some(id) = request_id {
        h.insert("x-request-id", HeaderValue::from_static(id));
    }
    h
}

fn json_headers() -> HeaderMap {
    headers(Some("application/json"), Some(REQUEST_ID))
}

fn check(
    checker: &Conformance,
    method: Method,
    path: &str,
    status: u16,
    headers: &HeaderMap,
    body: Option<serde_json::Value>,
) -> Vec<String> {
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
    checker.check(&Exchange {
        method: &method,
        path,
        status,
        headers,
        body: bytes.as_deref(),
    })
}

/// Asserts exactly one kind of problem: some problem mentions `expected`.
fn assert_flags(problems: Vec<String>, expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a problem mentioning {expected:?}, got {problems:#?}"
    );
}

fn error(code: &str, request_id: &str) -> serde_json::Value {
    json!({"error_code": code, "error_msg": "m", "error_details": "d", "request_id": request_id})
}

#[test]
fn conforming_responses_pass() {
    let c = repository_documents();
    let ok = |method, path, status, h: &HeaderMap, body| {
        let problems = check(&c, method, path, status, h, body);
        assert!(problems.is_empty(), "{path} {status}: {problems:#?}");
    };
    ok(
        Method::POST,
        EXPORT,
        200,
        &json_headers(),
        Some(json!({"job_id": "ff8080814dbd65d7014dbe0d84db0013"})),
    );
    ok(
        Method::POST,
        EXPORT,
        403,
        &json_headers(),
        Some(error("ROMA.1006", REQUEST_ID)),
    );
    ok(
        Method::GET,
        JOB,
        200,
        &json_headers(),
        Some(
            json!({"id": "j1", "type": "exportAsset", "status": "RUNNING",
                    "progress_percent": 0.5, "begin_time": "2019-12-06T06:49:04Z"}),
        ),
    );
    // The zip is streamed through unread: only status, headers and content type count.
    ok(
        Method::GET,
        ARCHIVE,
        200,
        &headers(Some("application/zip"), Some(REQUEST_ID)),
        None,
    );
    ok(
        Method::GET,
        "/nowhere",
        404,
        &json_headers(),
        Some(error("ROMA.10091", REQUEST_ID)),
    );
    ok(
        Method::DELETE,
        APPS,
        405,
        &json_headers(),
        Some(error("ROMA.10092", REQUEST_ID)),
    );
    // An empty project_id is the operation's (minLength 0): its answers are ListApps' answers.
    ok(
        Method::GET,
        "/v2//instances/demo/apps",
        403,
        &json_headers(),
        Some(error("ROMA.1006", REQUEST_ID)),
    );
}

#[test]
fn each_kind_of_nonconforming_response_is_named() {
    let c = repository_documents();
    let job = json!({"job_id": "ff8080814dbd65d7014dbe0d84db0013"});
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "a status the operation does not declare",
            check(
                &c,
                Method::POST,
                EXPORT,
                404,
                &json_headers(),
                Some(error("ROMA.10020", REQUEST_ID)),
            ),
            "does not declare status 404",
        ),
        (
            "no X-Request-Id on a success",
            check(
                &c,
                Method::POST,
                EXPORT,
                200,
                &headers(Some("application/json"), None),
                Some(job.clone()),
            ),
            "required header x-request-id is missing",
        ),
        (
            "an X-Request-Id longer than 128",
            {
                let mut h = json_headers();
                h.insert(
                    "x-request-id",
                    HeaderValue::from_str(&"r".repeat(129)).unwrap(),
                );
                check(&c, Method::POST, EXPORT, 200, &h, Some(job.clone()))
            },
            "header x-request-id",
        ),
        (
            "an undeclared content type",
            check(
                &c,
                Method::POST,
                EXPORT,
                200,
                &headers(Some("text/plain"), Some(REQUEST_ID)),
                Some(job.clone()),
            ),
            "content type text/plain is not declared",
        ),
        (
            "no content type",
            check(
                &c,
                Method::POST,
                EXPORT,
                200,
                &headers(None, Some(REQUEST_ID)),
                Some(job.clone()),
            ),
            "no content type",
        ),
        (
            "a body that is not JSON",
            {
                let h = json_headers();
                c.check(&Exchange {
                    method: &Method::POST,
                    path: EXPORT,
                    status: 200,
                    headers: &h,
                    body: Some(b"job=1"),
                })
            },
            "not JSON",
        ),
        (
            "a job_id of 129 characters (maxLength 128)",
            check(
                &c,
                Method::POST,
                EXPORT,
                200,
                &json_headers(),
                Some(json!({"job_id": "f".repeat(129)})),
            ),
            "body at /job_id",
        ),
        (
            "a field the document does not name",
            check(
                &c,
                Method::POST,
                EXPORT,
                200,
                &json_headers(),
                Some(json!({"job_id": "j", "jobId": "j"})),
            ),
            "jobId",
        ),
        (
            "a begin_time that is not a date-time",
            check(
                &c,
                Method::GET,
                JOB,
                200,
                &json_headers(),
                Some(
                    json!({"id": "j1", "type": "exportAsset", "status": "RUNNING", "progress_percent": 0.5, "begin_time": "yesterday"}),
                ),
            ),
            "date-time",
        ),
        (
            "a status outside the enum (the docs' own \"Running\")",
            check(
                &c,
                Method::GET,
                JOB,
                200,
                &json_headers(),
                Some(
                    json!({"id": "j1", "type": "exportAsset", "status": "Running", "progress_percent": 0.5, "begin_time": "2019-12-06T06:49:04Z"}),
                ),
            ),
            "body at /status",
        ),
        (
            "a required field missing",
            check(
                &c,
                Method::GET,
                JOB,
                200,
                &json_headers(),
                Some(
                    json!({"id": "j1", "type": "exportAsset", "status": "RUNNING", "begin_time": "2019-12-06T06:49:04Z"}),
                ),
            ),
            "progress_percent",
        ),
        (
            "an error code not in x-error-codes",
            check(
                &c,
                Method::POST,
                EXPORT,
                400,
                &json_headers(),
                Some(error("ROMA.99999", REQUEST_ID)),
            ),
            "not in x-error-codes",
        ),
        (
            "an error code sent with another status than its own",
            check(
                &c,
                Method::POST,
                EXPORT,
                400,
                &json_headers(),
                Some(error("ROMA.1006", REQUEST_ID)),
            ),
            "has status 403 in x-error-codes",
        ),
        (
            "an error body whose request_id differs from the header",
            check(
                &c,
                Method::POST,
                EXPORT,
                400,
                &json_headers(),
                Some(error("ROMA.13000", "other")),
            ),
            "differs from header",
        ),
        (
            "an error body without request_id",
            check(
                &c,
                Method::POST,
                EXPORT,
                400,
                &json_headers(),
                Some(json!({"error_code": "ROMA.13000", "error_msg": "m"})),
            ),
            "request_id",
        ),
        (
            "a download with a JSON content type",
            check(
                &c,
                Method::GET,
                ARCHIVE,
                200,
                &json_headers(),
                Some(job.clone()),
            ),
            "content type application/json is not declared",
        ),
        (
            "an unknown path answered with another code",
            check(
                &c,
                Method::GET,
                "/nowhere",
                404,
                &json_headers(),
                Some(error("ROMA.10020", REQUEST_ID)),
            ),
            "expected ROMA.10091",
        ),
        (
            "an unknown path answered 200",
            check(
                &c,
                Method::GET,
                "/nowhere",
                200,
                &json_headers(),
                Some(json!({})),
            ),
            "status 200",
        ),
        (
            "an empty path parameter answered with a status its operation does not declare",
            check(
                &c,
                Method::GET,
                "/v2//instances/demo/apps",
                405,
                &json_headers(),
                Some(error("ROMA.10092", REQUEST_ID)),
            ),
            "ListApps (GET /v2/{project_id}/instances/{instance_id}/apps) does not declare status 405",
        ),
        (
            "an undeclared method answered 404",
            check(
                &c,
                Method::DELETE,
                APPS,
                404,
                &json_headers(),
                Some(error("ROMA.10091", REQUEST_ID)),
            ),
            "method_not_allowed",
        ),
    ];
    for (what, problems, expected) in cases {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem mentioning {expected:?}, got {problems:#?}"
        );
    }
}

#[test]
fn the_second_document_is_checked_by_its_own_rules() {
    // bookshelf.yaml: error body `Problem` with `trace` = X-Trace-Id, nullable and 204s.
    let c = repository_documents();
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("x-trace-id", HeaderValue::from_static("t1"));
    let problem = json!({"code": "SHELF-404", "message": "m", "trace": "t1"});
    assert!(
        check(
            &c,
            Method::GET,
            "/shelves/abc/books",
            404,
            &h,
            Some(problem.clone())
        )
        .is_empty()
    );
    assert_flags(
        check(
            &c,
            Method::GET,
            "/shelves/abc/books",
            404,
            &h,
            Some(json!({"code": "SHELF-404", "message": "m", "trace": "t2"})),
        ),
        "differs from header",
    );
    assert_flags(
        check(
            &c,
            Method::GET,
            "/shelves/abc/books",
            200,
            &h,
            Some(json!({"books": [{"id": "1", "title": "t", "pages": 1}]})),
        ),
        "body at /books/0/id",
    );
}

#[test]
fn nullable_becomes_a_null_type_and_refs_point_into_definitions() {
    let schema = json!({
        "type": "object",
        "properties": {
            "price": {"type": "number", "nullable": true, "example": 1},
            "genre": {"$ref": "#/components/schemas/Genre"},
            "kind": {"type": "string", "enum": ["a"], "nullable": true},
        },
        "x-ours": 1,
    });
    assert_eq!(
        conformance::to_json_schema(&schema, true, false),
        json!({
            "type": "object",
            "properties": {
                "price": {"type": ["number", "null"]},
                "genre": {"$ref": "#/definitions/Genre"},
                "kind": {"type": ["string", "null"], "enum": ["a", null]},
            },
            "additionalProperties": false,
        })
    );
}

#[tokio::test]
async fn a_nonconforming_server_answer_reaches_the_test_as_a_named_599() {
    // A server that answers ExportAsset with a field the document does not have and no
    // X-Request-Id: served through the same `serve` every integration test uses.
    let broken = axum::Router::new().route(
        "/v2/{project_id}/instances/{instance_id}/assets/export",
        axum::routing::post(|| async {
            (
                [("content-type", "application/json")],
                r#"{"jobId":"camelCase"}"#,
            )
        }),
    );
    let base = support::serve(broken).await;
    let response = reqwest::Client::new()
        .post(format!("{base}{EXPORT}"))
        .body("{}")
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), VIOLATION_STATUS);
    let header = response.headers()[VIOLATION_HEADER]
        .to_str()
        .unwrap()
        .to_string();
    assert!(header.contains("x-request-id is missing"), "{header}");
    assert!(header.contains("jobId"), "{header}");
    let body = response.text().await.unwrap();
    assert!(
        body.contains(r#"original body: {"jobId":"camelCase"}"#),
        "{body}"
    );
    assert!(
        conformance::violations_so_far()
            .iter()
            .any(|v| v.contains("POST /v2/demo/instances/demo/assets/export answered 200")),
        "recorded"
    );

    // The same router without the layer answers 200: the layer, not the router, said no.
    let broken = axum::Router::new().route(
        "/v2/{project_id}/instances/{instance_id}/assets/export",
        axum::routing::post(|| async { "{}" }),
    );
    let base = support::serve_unchecked(broken).await;
    let status = reqwest::Client::new()
        .post(format!("{base}{EXPORT}"))
        .send()
        .await
        .expect("an answer")
        .status();
    assert_eq!(status.as_u16(), 200);
}

/// The seed allows project_id and instance_id of 0 characters, and the server takes them as it
/// takes any other id (axum routes an empty segment): an empty project is one no token opens
/// (403), an empty instance is an instance like any other. Checked through the layer, so each
/// answer is also one its operation declares.
#[tokio::test]
async fn empty_path_parameters_are_served_like_any_other_id() {
    use roma_assets::service::auth::Credentials;
    use roma_assets::service::package::PackageLimits;
    use roma_assets::service::{Service, ServiceConfig};

    let dir = tempfile::tempdir().unwrap();
    let mut tokens = Credentials::default();
    tokens.insert("demo", "t");
    let service = Service::open(ServiceConfig {
        data_dir: dir.path().to_path_buf(),
        credentials: tokens,
        package_limits: PackageLimits::default(),
        job_min_duration: std::time::Duration::ZERO,
        database_url: None,
        job_lease: roma_assets::service::store::DEFAULT_LEASE,
        blob_store: None,
    })
    .await
    .unwrap();
    service.seed_demo("demo", "").await.unwrap();
    let base = support::serve(service.router(1024 * 1024)).await;
    let http = support::http_client(Some(("x-auth-token", "t")));
    // Each operation with a request its generated layer lets through to the handler.
    let form = || {
        reqwest::multipart::Form::new().part(
            "ImportAssetRequestBody",
            reqwest::multipart::Part::bytes(b"PK".to_vec()).file_name("a.zip"),
        )
    };
    let on = |tail: &str| format!("{base}/v2//instances/demo/{tail}");
    let requests = [
        http.post(on("assets/export"))
            .header("content-type", "application/json")
            .body(r#"{"apps":[]}"#),
        http.post(on("assets/import")).multipart(form()),
        http.post(on("assets/delete"))
            .header("content-type", "application/json")
            .body(r#"{"apps":[],"tasks":[]}"#),
        http.get(on("assets/jobs/j1")),
        http.get(on("assets/archives/a1")),
        http.get(on("apps")),
        http.get(on("apps/demo-app-crm")),
        http.get(format!("{base}/v2//fdi/instances/demo/tasks")),
    ];
    for request in requests {
        support::expect_error(request, 403, "ROMA.1006", support::ROMA).await;
    }
    let apps: serde_json::Value = http
        .get(format!("{base}/v2/demo/instances//apps"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        apps["total"], 3,
        "the demo apps seeded into instance \"\": {apps}"
    );
    let export = http
        .post(format!("{base}/v2/demo/instances//assets/export"))
        .header("content-type", "application/json")
        .body(r#"{"apps":[{"id":"demo-app-orders"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status().as_u16(), 200);
}
