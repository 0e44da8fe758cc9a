//! Property tests (fuzzing on stable Rust) of the request layer: the reference server's router,
//! generated layer and handlers, driven in process with requests built from the document's
//! routes and hostile parts (methods, path segments, queries, tokens, content types, JSON and
//! multipart bodies, bytes).
//!
//! Oracles, not just "did not panic":
//! - every request is answered within [`ANSWER_WITHIN`] (no hang);
//! - never with a 5xx: whatever a stranger sends is theirs to fix, so it is a 4xx at worst;
//! - every answer conforms to the document (the conformance layer of `tests/support`: status,
//!   content type, `X-Request-Id`, the body's schema, error codes listed in `x-error-codes`);
//! - every error body carries `error_code`, `error_msg`, a `request_id` equal to the
//!   `X-Request-Id` header, and `error_details` of at most 128 characters.
//!
//! `PROPTEST_CASES` sets the cases per property; failures are kept in
//! `fuzz_requests.proptest-regressions` beside this file and replayed first by `cargo test`.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tower::ServiceExt;

const TOKEN: &str = "fuzz-token";
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// One runtime and one seeded server for every case of this process (its jobs keep running
/// between cases, as a real server's do).
fn server() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let router = runtime.block_on(async {
            let service = support::demo_service(dir.path(), TOKEN).await;
            support::conformance::layer(
                service.router(1024 * 1024),
                support::conformance::repository_documents(),
            )
        });
        (runtime, router)
    })
}

/// A path parameter: a real one, or hostile text, percent-encoded as a client would send it.
fn segment(real: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(real).prop_map(str::to_string),
        1 => "\\PC{0,80}".prop_map(|s| encode(&s)),
        1 => Just("..".to_string()),
        1 => "[a-zA-Z0-9_-]{60,200}",
    ]
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A route of the document with its method, parameters filled by [`segment`]; now and then
/// another method, or a path no operation has.
fn method_and_path() -> impl Strategy<Value = (String, String)> {
    const ROUTES: &[(&str, &str)] = &[
        ("POST", "/v2/{p}/instances/{i}/assets/export"),
        ("POST", "/v2/{p}/instances/{i}/assets/import"),
        ("GET", "/v2/{p}/instances/{i}/assets/jobs/{x}"),
        ("GET", "/v2/{p}/instances/{i}/assets/archives/{x}"),
        ("GET", "/v2/{p}/instances"),
        ("POST", "/v2/{p}/instances/{i}/assets/delete"),
        ("GET", "/v2/{p}/instances/{i}/apps"),
        ("GET", "/v2/{p}/instances/{i}/apps/{x}"),
        ("GET", "/v2/{p}/fdi/instances/{i}/tasks"),
        ("GET", "/v2/{p}/instances/{i}/nothing-here"),
    ];
    let other_method = prop::sample::select(vec![
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "GeT",
    ]);
    (
        prop::sample::select(ROUTES),
        prop::option::weighted(0.2, other_method),
        segment(&["demo"]),
        segment(&["demo"]),
        segment(&["demo-app-orders", "demo-task-orders-sync", "0"]),
    )
        .prop_map(|((method, route), other, p, i, x)| {
            let path = route
                .replace("{p}", &p)
                .replace("{i}", &i)
                .replace("{x}", &x);
            (other.unwrap_or(method).to_string(), path)
        })
}

fn query() -> impl Strategy<Value = Option<String>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "offset",
            "limit",
            "name",
            "id",
            "app_id",
            "task_name",
            "status",
            "mode",
            "prefix",
            "instance_id",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ];
    let value = prop_oneof![
        "-?[0-9]{1,20}",
        "[a-zA-Z0-9_-]{0,80}",
        "\\PC{0,40}".prop_map(|s| encode(&s)),
    ];
    prop::option::of(
        prop::collection::vec((name, value), 1..5).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        }),
    )
}

/// JSON values shaped like the document's bodies, with hostile leaves.
fn json_body() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        prop::sample::select(vec!["demo-app-orders", "demo-task-orders-sync", "", "x"])
            .prop_map(serde_json::Value::from),
        "\\PC{0,300}".prop_map(serde_json::Value::from),
    ];
    let key = prop_oneof![
        prop::sample::select(vec!["apps", "tasks", "id", "name", "app_ids", "task_ids"])
            .prop_map(str::to_string),
        "\\PC{0,12}",
    ];
    let any_json = leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    // Export and delete bodies of the document's shape, naming demo assets or strangers.
    let id = prop_oneof![
        prop::sample::select(vec![
            "demo-app-orders",
            "demo-app-billing",
            "demo-task-orders-sync",
            "demo-task-crm-contacts",
        ])
        .prop_map(str::to_string),
        "\\PC{0,70}",
    ];
    let ids = prop::collection::vec(id.prop_map(|id| serde_json::json!({ "id": id })), 0..4);
    let shaped = (ids.clone(), ids)
        .prop_map(|(apps, tasks)| serde_json::json!({"apps": apps, "tasks": tasks}));
    prop_oneof![1 => any_json, 1 => shaped]
}

/// A valid package of one app and its task, written by the package writer.
fn package() -> Vec<u8> {
    use roma_assets::service::model::{AppAsset, TaskAsset};
    use roma_assets::service::package::{ManifestSource, write_package};
    let app = AppAsset {
        id: "fuzz-app".into(),
        name: "fuzz app".into(),
        description: String::new(),
    };
    let task = TaskAsset {
        id: "fuzz-task".into(),
        name: "fuzz task".into(),
        app_id: "fuzz-app".into(),
        task_type: Default::default(),
        task_tag: String::new(),
        source: serde_json::json!({"table": "a"}),
        target: serde_json::json!({"table": "b"}),
    };
    let source = ManifestSource {
        project_id: "demo".into(),
        instance_id: "demo".into(),
    };
    let mut out = std::io::Cursor::new(Vec::new());
    write_package(&mut out, source, &[app], &[task], chrono::Utc::now()).unwrap();
    out.into_inner()
}

/// A multipart body of parts with document and hostile names; returns (content type, body).
fn multipart_body() -> impl Strategy<Value = (String, Vec<u8>)> {
    let part = (
        prop::sample::select(vec!["ImportAssetRequestBody", "file", "mode", "prefix", ""]),
        prop::option::of(prop::sample::select(vec![
            "package.zip",
            "../../x.zip",
            "a b.zip",
            "no-extension",
        ])),
        prop_oneof![
            Just(package()),
            Just(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec()),
            prop::collection::vec(any::<u8>(), 0..512),
            prop::sample::select(vec!["AddNew", "Overwrite", "x_"]).prop_map(|s| s.into()),
        ],
    );
    (
        prop::collection::vec(part, 0..4),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(parts, close, crlf_inside)| {
            let boundary = "fuzzboundary";
            let mut body = Vec::new();
            for (name, filename, content) in parts {
                body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                let disposition = match filename {
                    Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
                    None => format!("form-data; name=\"{name}\""),
                };
                body.extend_from_slice(
                    format!("Content-Disposition: {disposition}\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(&content);
                if crlf_inside {
                    body.extend_from_slice(b"\r\n--not-the-boundary");
                }
                body.extend_from_slice(b"\r\n");
            }
            if close {
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            }
            (format!("multipart/form-data; boundary={boundary}"), body)
        })
}

#[derive(Debug, Clone)]
struct Fuzzed {
    method: String,
    uri: String,
    token: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = Fuzzed> {
    let token = prop_oneof![
        4 => Just(Some(TOKEN.to_string())),
        1 => Just(None),
        1 => "[ -~]{0,40}".prop_map(Some),
    ];
    let body = prop_oneof![
        3 => json_body().prop_map(|v| (Some("application/json".to_string()), serde_json::to_vec(&v).unwrap())),
        2 => multipart_body().prop_map(|(t, b)| (Some(t), b)),
        1 => (
            prop::option::of(prop::sample::select(vec![
                "application/json",
                "text/plain",
                "multipart/form-data",
                "multipart/form-data; boundary=",
                "application/json; charset=latin1",
                "\u{7f}garbage",
            ])),
            prop::collection::vec(any::<u8>(), 0..256),
        )
            .prop_map(|(t, b)| (t.map(str::to_string), b)),
        1 => Just((None, Vec::new())),
    ];
    (method_and_path(), query(), token, body).prop_map(
        |((method, path), query, token, (content_type, body))| Fuzzed {
            method,
            uri: match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            },
            token,
            content_type,
            body,
        },
    )
}

fn answer(fuzzed: &Fuzzed) -> Result<(), TestCaseError> {
    let (runtime, router) = server();
    let mut builder = Request::builder()
        .method(fuzzed.method.as_str())
        .uri(fuzzed.uri.as_str());
    if let Some(token) = &fuzzed.token {
        builder = builder.header("x-auth-token", token.as_str());
    }
    if let Some(content_type) = &fuzzed.content_type {
        builder = builder.header("content-type", content_type.as_str());
    }
    let Ok(request) = builder.body(Body::from(fuzzed.body.clone())) else {
        // Not an HTTP request at all (hyper would refuse it before any of our code runs).
        return Ok(());
    };
    let (status, headers, bytes) = runtime.block_on(async {
        let response = tokio::time::timeout(ANSWER_WITHIN, router.clone().oneshot(request))
            .await
            .map_err(|_| TestCaseError::fail(format!("no answer within {ANSWER_WITHIN:?}")))?
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = tokio::time::timeout(ANSWER_WITHIN, axum::body::to_bytes(body, usize::MAX))
            .await
            .map_err(|_| TestCaseError::fail("the body did not end in time"))?
            .map_err(|e| TestCaseError::fail(format!("the body failed: {e}")))?;
        Ok::<_, TestCaseError>((parts.status, parts.headers, bytes))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    eprintln!(
        "STAT {} {} {}",
        fuzzed.method,
        status.as_u16(),
        text.get(..60)
            .unwrap_or(&text)
            .replace(char::is_numeric, "")
    );
    prop_assert!(
        !text.starts_with("conformance violation"),
        "{}",
        text.chars().take(600).collect::<String>()
    );
    prop_assert!(
        status.as_u16() < 500,
        "{} answered {}: {}",
        fuzzed.uri,
        status,
        text
    );
    if status.as_u16() >= 400 && fuzzed.method != "HEAD" {
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{status}: not JSON ({e}): {text}")))?;
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        prop_assert!(
            body["error_code"].as_str().is_some_and(|c| !c.is_empty()),
            "{}",
            body
        );
        prop_assert!(
            body["error_msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            body
        );
        prop_assert_eq!(body["request_id"].as_str(), Some(request_id), "{}", body);
        if let Some(details) = body["error_details"].as_str() {
            prop_assert!(details.chars().count() <= 128, "{}", details);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // A case is a full request through the server; fewer than the default keeps `cargo
        // test` quick (PROPTEST_CASES overrides this for longer runs).
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(128),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_request_is_answered_by_the_document(fuzzed in request()) {
        answer(&fuzzed)?;
    }
}

/// The inputs that failed once, replayed as they were found (proptest's seed file replays them
/// only while the strategies stay the same).
#[test]
fn inputs_that_failed_once_are_answered() {
    let found = |method: &str, uri: &str| Fuzzed {
        method: method.into(),
        uri: uri.into(),
        token: Some(TOKEN.into()),
        content_type: Some("application/json".into()),
        body: b"null".to_vec(),
    };
    for fuzzed in [
        found("POST", "/v2/demo/instances/demo/assets/jobs/"),
        found(
            "HEAD",
            "/v2/demo/instances/demo/assets/jobs/demo-app-orders",
        ),
        found("HEAD", "/v2/demo/instances/demo/assets/export"),
        found("HEAD", "/v2/demo/instances"),
    ] {
        answer(&fuzzed).unwrap_or_else(|e| panic!("{fuzzed:?}: {e}"));
    }
}
