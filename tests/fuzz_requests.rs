//! Property tests (fuzzing on stable Rust) of the request layer: the reference server's router,
//! generated layer and handlers, driven in process with requests built from the document's
//! routes and hostile parts (methods, path segments, queries, tokens or AK/SK signatures, content
//! types, JSON and multipart bodies, bytes), and from the seed corpus (`tests/fuzz/corpus`: the
//! requests the official SDK sent; the document's request examples).
//!
//! Oracles, not just "did not panic":
//! - every request is answered within [`ANSWER_WITHIN`] (no hang);
//! - never with a 5xx: whatever a stranger sends is theirs to fix, so it is a 4xx at worst;
//! - every answer conforms to the document (the conformance layer of `tests/support`: status,
//!   content type, `X-Request-Id`, the body's schema, error codes listed in `x-error-codes`);
//! - every error body carries `error_code`, `error_msg`, a `request_id` equal to the
//!   `X-Request-Id` header, and `error_details` of at most 128 characters;
//! - a request signed as the SDK signs, for the path's project, is never refused for its
//!   credential; one whose signature, body, key or date changed after signing is never let
//!   through;
//! - an import that is refused, or whose job fails, leaves the instance's apps and tasks exactly
//!   as they were (a second server, which only that property writes to).
//!
//! `PROPTEST_CASES` sets the cases per property; failures are kept in
//! `fuzz_requests.proptest-regressions` beside this file and replayed first by `cargo test`.

mod support;

use roma_assets::contract::types::CheckAssetJobStatusResponseStatus as JobStatus;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tower::ServiceExt;

const TOKEN: &str = "fuzz-token";
const ACCESS_KEY: &str = "FUZZACCESSKEY0000000";
const SECRET_KEY: &str = "fuzz-secret-key-of-the-demo-project";
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// One runtime and one seeded server for every case of this process (its jobs keep running
/// between cases, as a real server's do), behind the conformance layer.
fn server() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    SERVER.get_or_init(|| {
        start(|router| {
            support::conformance::layer(router, support::conformance::repository_documents())
        })
    })
}

/// A runtime and a seeded server (its data in a directory that lives as long as the process),
/// its router passed through `wrap`.
fn start(wrap: fn(axum::Router) -> axum::Router) -> (tokio::runtime::Runtime, axum::Router) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let router = runtime.block_on(async {
        let service = support::demo_service_with(dir.path(), credentials()).await;
        wrap(service.router(1024 * 1024))
    });
    (runtime, router)
}

/// Proptest's settings for a property, `cases` per run unless `PROPTEST_CASES` says otherwise;
/// failures kept beside this file.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// The token and the AK/SK pair of project `demo`.
fn credentials() -> roma_assets::service::auth::Credentials {
    let mut credentials = roma_assets::service::auth::Credentials::default();
    credentials.insert("demo", TOKEN);
    credentials
        .insert_key("demo", signing_key(SECRET_KEY))
        .unwrap();
    // The key the SDK signed the recorded corpus with (tests/fuzz/corpus/README.md).
    let corpus_key =
        roma_assets_runtime::sign::SigningKey::new(CORPUS_ACCESS_KEY, CORPUS_SECRET_KEY).unwrap();
    credentials.insert_key("demo", corpus_key).unwrap();
    credentials
}

const CORPUS_ACCESS_KEY: &str = "CORPUSACCESSKEY00001";
const CORPUS_SECRET_KEY: &str = "corpus-secret-key-not-a-secret";

/// A request of the recorded corpus, as the official SDK sent it.
#[derive(Debug, Clone)]
struct Recorded {
    file: String,
    method: String,
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The requests the official SDK sent in its walk (tests/fuzz/corpus/sdk), in order.
fn recorded() -> &'static [Recorded] {
    static RECORDED: OnceLock<Vec<Recorded>> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/sdk");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "http"))
            .collect();
        files.sort();
        assert!(
            files.len() >= 20,
            "the recorded corpus is missing: {}",
            dir.display()
        );
        files
            .iter()
            .map(|path| {
                let raw = std::fs::read(path).unwrap();
                let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                let head = std::str::from_utf8(&raw[..split]).unwrap();
                let mut lines = head.split("\r\n");
                let mut request_line = lines.next().unwrap().split(' ');
                let (method, target) = (request_line.next().unwrap(), request_line.next().unwrap());
                let mut headers = HeaderMap::new();
                for line in lines {
                    let (name, value) = line.split_once(": ").unwrap();
                    headers.append(
                        header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                        HeaderValue::from_str(value).unwrap(),
                    );
                }
                Recorded {
                    file: path.file_name().unwrap().to_string_lossy().into_owned(),
                    method: method.to_string(),
                    target: target.to_string(),
                    headers,
                    body: raw[split + 4..].to_vec(),
                }
            })
            .collect()
    })
}

fn signing_key(secret_key: &str) -> roma_assets_runtime::sign::SigningKey {
    roma_assets_runtime::sign::SigningKey::new(ACCESS_KEY, secret_key).unwrap()
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
    let example = prop::sample::select(document_examples());
    prop_oneof![3 => any_json, 3 => shaped, 1 => example]
}

/// The document's own request-body examples (read from it, so they never drift from it).
fn document_examples() -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/roma-assets.yaml");
    let document: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let examples: Vec<serde_json::Value> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation.pointer("/requestBody/content/application~1json"))
        .flat_map(|media| {
            let named = media["examples"].as_object().into_iter().flatten();
            named
                .map(|(_, e)| e["value"].clone())
                .chain(media.get("example").cloned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        examples.len() >= 2,
        "the document's request examples: {examples:?}"
    );
    examples
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
    credential: Credential,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// How a request proves who sends it.
#[derive(Debug, Clone)]
enum Credential {
    /// `X-Auth-Token`, if any.
    Token(Option<String>),
    /// Signed with the demo project's AK/SK (as the official SDK signs), then perhaps changed.
    Signed(Tamper),
}

/// What changes after signing. Anything but `Nothing` must never be let through.
#[derive(Debug, Clone)]
enum Tamper {
    Nothing,
    /// The `Authorization` value's byte at this index (modulo its length), `^ 1`.
    Authorization(usize),
    /// The body's byte at this index (modulo its length), `^ 1`.
    Body(usize),
    /// Signed with another secret key.
    SecretKey,
    /// Signed an hour ago (beyond the allowed clock skew).
    Date,
}

fn request() -> impl Strategy<Value = Fuzzed> {
    let credential = prop_oneof![
        4 => Just(Credential::Token(Some(TOKEN.to_string()))),
        1 => Just(Credential::Token(None)),
        1 => "[ -~]{0,40}".prop_map(|t| Credential::Token(Some(t))),
        3 => Just(Credential::Signed(Tamper::Nothing)),
        2 => prop_oneof![
            any::<usize>().prop_map(Tamper::Authorization),
            any::<usize>().prop_map(Tamper::Body),
            Just(Tamper::SecretKey),
            Just(Tamper::Date),
        ]
        .prop_map(Credential::Signed),
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
    let built = (method_and_path(), query(), credential.clone(), body).prop_map(
        |((method, path), query, credential, (content_type, body))| Fuzzed {
            method,
            uri: match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            },
            credential,
            content_type,
            body,
        },
    );
    // A request the SDK sent, signed again now (or tampered with), its body perhaps cut short.
    let from_sdk = (
        prop::sample::select(recorded()),
        credential,
        prop::option::weighted(0.3, any::<prop::sample::Index>()),
    )
        .prop_map(|(recorded, credential, cut)| {
            let mut body = recorded.body.clone();
            if let Some(cut) = cut {
                body.truncate(cut.index(body.len() + 1));
            }
            Fuzzed {
                method: recorded.method.clone(),
                uri: recorded.target.clone(),
                credential,
                content_type: recorded
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                body,
            }
        });
    prop_oneof![4 => built, 1 => from_sdk]
}

/// The headers of `fuzzed` (its credential applied) and its body; `None` if it cannot be
/// signed (a path or query that does not percent-decode to UTF-8: no SDK sends one).
fn headers_and_body(fuzzed: &Fuzzed) -> Option<(HeaderMap, Vec<u8>)> {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("localhost"));
    if let Some(content_type) = &fuzzed.content_type {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).ok()?,
        );
    }
    let mut body = fuzzed.body.clone();
    match &fuzzed.credential {
        Credential::Token(None) => {}
        Credential::Token(Some(token)) => {
            headers.insert("x-auth-token", HeaderValue::from_str(token).ok()?);
        }
        Credential::Signed(tamper) => {
            use roma_assets_runtime::sign::{Payload, sign};
            let (path, query) = match fuzzed.uri.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (fuzzed.uri.as_str(), None),
            };
            let payload = match signed_body(path) {
                SignedBody::Streamed => Payload::Streamed,
                SignedBody::Hashed => Payload::Bytes(&body),
                SignedBody::None => Payload::Bytes(&[]),
            };
            let (secret_key, signed_at) = match tamper {
                Tamper::SecretKey => ("another-secret-key", chrono::Utc::now()),
                Tamper::Date => (SECRET_KEY, chrono::Utc::now() - chrono::TimeDelta::hours(1)),
                _ => (SECRET_KEY, chrono::Utc::now()),
            };
            let key = signing_key(secret_key);
            sign(
                &mut headers,
                &fuzzed.method,
                path,
                query,
                payload,
                &key,
                signed_at,
            )
            .ok()?;
            match *tamper {
                Tamper::Authorization(at) => {
                    let mut value = headers[header::AUTHORIZATION].as_bytes().to_vec();
                    let at = at % value.len();
                    value[at] ^= 1;
                    // A byte that is no header value is refused by hyper, not by us.
                    headers.insert(header::AUTHORIZATION, HeaderValue::from_bytes(&value).ok()?);
                }
                Tamper::Body(at) if !body.is_empty() => {
                    let at = at % body.len();
                    body[at] ^= 1;
                }
                _ => {}
            }
        }
    }
    Some((headers, body))
}

/// How the server signs a request's body, by the operation its path names: a JSON body by its
/// hash, the streamed multipart body as UNSIGNED-PAYLOAD, nothing for the operations without one.
#[derive(Debug, PartialEq, Eq)]
enum SignedBody {
    Hashed,
    Streamed,
    None,
}

fn signed_body(path: &str) -> SignedBody {
    if path.ends_with("/assets/import") {
        SignedBody::Streamed
    } else if path.ends_with("/assets/export") || path.ends_with("/assets/delete") {
        SignedBody::Hashed
    } else {
        SignedBody::None
    }
}

/// Whether `fuzzed` carries a signature that must not be accepted (`Some(true)`), one that must
/// be (`Some(false)`: signed as the SDK signs, for the project of the path), or no signature.
fn signature_must_fail(fuzzed: &Fuzzed) -> Option<bool> {
    match &fuzzed.credential {
        Credential::Token(_) => None,
        Credential::Signed(Tamper::Nothing) => Some(false),
        // A changed body matters only where the body is signed (not multipart, not GET).
        Credential::Signed(Tamper::Body(_)) => (!fuzzed.body.is_empty()
            && signed_body(fuzzed.uri.split('?').next().unwrap_or_default()) == SignedBody::Hashed)
            .then_some(true),
        Credential::Signed(_) => Some(true),
    }
}

fn answer(fuzzed: &Fuzzed) -> Result<(), TestCaseError> {
    let Some((headers, body)) = headers_and_body(fuzzed) else {
        return Ok(());
    };
    let (status, bytes) = send(&fuzzed.method, &fuzzed.uri, headers, body)?;
    let text = String::from_utf8_lossy(&bytes);
    match signature_must_fail(fuzzed) {
        // A changed signature, body, key or date is never let through.
        Some(true) => prop_assert!(
            !status.is_success(),
            "a tampered signature was accepted: {} {}",
            status,
            text
        ),
        // A good signature for the path's project is never refused as a credential fault.
        Some(false) if fuzzed.uri.starts_with("/v2/demo/") => prop_assert!(
            status != 401 && status != 403,
            "a good signature was refused: {} {}",
            status,
            text
        ),
        _ => {}
    }
    Ok(())
}

/// Sends a request to the fuzzed server and checks what every answer must be (see the module
/// documentation); returns its status and body. A request hyper would refuse before any of our
/// code runs (not HTTP at all) is skipped: 200 and no body.
fn send(
    method: &str,
    uri: &str,
    request_headers: HeaderMap,
    body: Vec<u8>,
) -> Result<(axum::http::StatusCode, bytes::Bytes), TestCaseError> {
    let (runtime, router) = server();
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(all) = builder.headers_mut() {
        *all = request_headers;
    }
    let Ok(request) = builder.body(Body::from(body)) else {
        return Ok((axum::http::StatusCode::OK, bytes::Bytes::new()));
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
    prop_assert!(
        !text.starts_with("conformance violation"),
        "{}",
        text.chars().take(600).collect::<String>()
    );
    prop_assert!(
        status.as_u16() < 500,
        "{} answered {}: {}",
        uri,
        status,
        text
    );
    if status.as_u16() >= 400 && method != "HEAD" {
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
    Ok((status, bytes))
}

proptest! {
    // A case is a full request through the server; fewer than the default keeps `cargo test`
    // quick (PROPTEST_CASES overrides this for longer runs).
    #![proptest_config(config(128))]

    #[test]
    fn every_request_is_answered_by_the_document(fuzzed in request()) {
        answer(&fuzzed)?;
    }
}

/// The recorded corpus replayed: every request the official SDK sent verifies (at the time it
/// was signed) with the key it was signed with, but the one signed with a wrong secret key; and
/// sent again as recorded, each is answered by the document -- refused 401 when its signature is
/// wrong or its `X-Sdk-Date` is out of the clock skew (as every recording soon is).
#[test]
fn the_sdk_corpus_verifies_and_is_answered() {
    use roma_assets_runtime::sign::{Authorization, Payload, Request as Signed, verify};
    for recorded in recorded() {
        let (path, query) = match recorded.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (recorded.target.as_str(), None),
        };
        let authorization =
            Authorization::parse(recorded.headers[header::AUTHORIZATION].to_str().unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", recorded.file));
        let date = recorded.headers["x-sdk-date"].to_str().unwrap();
        let signed_at = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        let payload = if recorded.headers.contains_key("x-sdk-content-sha256") {
            Payload::Streamed
        } else {
            Payload::Bytes(&recorded.body)
        };
        let request = Signed {
            method: &recorded.method,
            path,
            query,
            headers: &recorded.headers,
        };
        let verified = verify(
            &request,
            payload,
            &authorization,
            CORPUS_SECRET_KEY,
            signed_at,
            chrono::TimeDelta::minutes(15),
        );
        assert_eq!(
            verified.is_ok(),
            !recorded.file.contains("wrong-secret-key"),
            "{}: {verified:?}",
            recorded.file
        );
        let (status, body) = send(
            &recorded.method,
            &recorded.target,
            recorded.headers.clone(),
            recorded.body.clone(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", recorded.file));
        // Refused exactly when signed with the wrong key or out of the server's clock skew (every
        // recording, a quarter of an hour after it was made).
        let stale = (chrono::Utc::now() - signed_at).abs() > chrono::TimeDelta::minutes(15);
        assert_eq!(
            status == 401,
            stale || verified.is_err(),
            "{}: {status} {}",
            recorded.file,
            String::from_utf8_lossy(&body)
        );
    }
}

/// The inputs that failed once, replayed as they were found (proptest's seed file replays them
/// only while the strategies stay the same).
#[test]
fn inputs_that_failed_once_are_answered() {
    let found = |method: &str, uri: &str| Fuzzed {
        method: method.into(),
        uri: uri.into(),
        credential: Credential::Token(Some(TOKEN.into())),
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

/// The second server: only [`a_refused_import_changes_nothing`] writes to it, so what it holds
/// between two cases is known.
fn import_server() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    SERVER.get_or_init(|| start(|router| router))
}

/// Sends `method uri` with the token (and `body` as `content_type`) to [`import_server`];
/// returns the status and the JSON body.
fn call(
    method: &str,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(u16, serde_json::Value), TestCaseError> {
    let (runtime, router) = import_server();
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("x-auth-token", TOKEN)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    runtime.block_on(async {
        let response = tokio::time::timeout(ANSWER_WITHIN, router.clone().oneshot(request))
            .await
            .map_err(|_| TestCaseError::fail(format!("{uri}: no answer in time")))?
            .unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let json = serde_json::from_slice(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{uri}: {status}, not JSON: {e}")))?;
        Ok((status, json))
    })
}

/// Everything the demo instance holds, as its listings show it.
fn holdings() -> Result<serde_json::Value, TestCaseError> {
    let mut all = Vec::new();
    for uri in [
        "/v2/demo/instances/demo/apps?limit=100",
        "/v2/demo/fdi/instances/demo/tasks?limit=100",
    ] {
        let (status, listing) = call("GET", uri, "application/json", Vec::new())?;
        prop_assert_eq!(status, 200, "{}: {}", uri, listing);
        all.push(listing);
    }
    Ok(serde_json::Value::Array(all))
}

/// A package of apps and tasks whose ids and names are drawn from small pools that overlap the
/// demo instance's (so AddNew meets conflicts, and tasks name apps that are not there), then
/// perhaps corrupted: one byte flipped (often inside a task, read only in the transaction) or
/// cut short.
fn import_package() -> impl Strategy<Value = Vec<u8>> {
    use roma_assets::service::model::{AppAsset, TaskAsset};
    use roma_assets::service::package::{ManifestSource, write_package};
    let app_id = prop::sample::select(vec!["demo-app-orders", "fz-app-1", "fz-app-2"]);
    let name = prop::sample::select(vec!["orders", "crm", "fz-one", "fz-two", "fz-three"]);
    let app = (app_id.clone(), name.clone()).prop_map(|(id, name)| AppAsset {
        id: id.into(),
        name: name.into(),
        description: String::new(),
    });
    let task_id = prop::sample::select(vec!["demo-task-orders-sync", "fz-task-1", "fz-task-2"]);
    // The writer writes consistent packages only: each task's app is one of the package's
    // (picked by index below), ids are unique.
    let task = (task_id, name).prop_map(|(id, name)| TaskAsset {
        id: id.into(),
        name: name.into(),
        app_id: String::new(),
        task_type: Default::default(),
        task_tag: String::new(),
        source: serde_json::json!({"table": "a"}),
        target: serde_json::json!({"table": "b"}),
    });
    let damage = prop_oneof![
        2 => Just(None),
        1 => any::<prop::sample::Index>().prop_map(|i| Some((i, true))),
        1 => any::<prop::sample::Index>().prop_map(|i| Some((i, false))),
    ];
    (
        prop::collection::vec(app, 0..3),
        prop::collection::vec(task, 0..4),
        damage,
    )
        .prop_map(|(mut apps, mut tasks, damage)| {
            let mut seen = std::collections::HashSet::new();
            apps.retain(|a| seen.insert(a.id.clone()) & seen.insert(format!("name {}", a.name)));
            let mut seen = std::collections::HashSet::new();
            tasks.retain(|t| seen.insert(t.id.clone()) & seen.insert(format!("name {}", t.name)));
            if apps.is_empty() {
                tasks.clear();
            }
            for (n, task) in tasks.iter_mut().enumerate() {
                task.app_id = apps[n % apps.len()].id.clone();
            }
            let source = ManifestSource {
                project_id: "demo".into(),
                instance_id: "demo".into(),
            };
            let mut out = std::io::Cursor::new(Vec::new());
            write_package(&mut out, source, &apps, &tasks, chrono::Utc::now()).unwrap();
            let mut bytes = out.into_inner();
            match damage {
                Some((at, true)) => {
                    let at = at.index(bytes.len());
                    bytes[at] ^= 0x20;
                }
                Some((at, false)) => bytes.truncate(at.index(bytes.len())),
                None => {}
            }
            bytes
        })
}

/// The job's last state: polls until it is no longer running (within [`ANSWER_WITHIN`]).
fn finished(job_id: &str) -> Result<serde_json::Value, TestCaseError> {
    let uri = format!("/v2/demo/instances/demo/assets/jobs/{job_id}");
    let deadline = std::time::Instant::now() + ANSWER_WITHIN;
    loop {
        let (status, job) = call("GET", &uri, "application/json", Vec::new())?;
        prop_assert_eq!(status, 200, "{}", job);
        if job["status"] != JobStatus::Running.to_string() {
            return Ok(job);
        }
        prop_assert!(
            std::time::Instant::now() < deadline,
            "job {} still running",
            job_id
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

proptest! {
    // A case is an import and up to a few polls: fewer than the other property.
    #![proptest_config(config(48))]

    /// An import that is refused, or whose job fails, leaves the instance as it was; one that
    /// succeeds keeps every asset that was there (AddNew adds, Merge overwrites by name).
    #[test]
    fn a_refused_import_changes_nothing(
        package in import_package(),
        mode in prop::sample::select(vec!["", "&mode=AddNew", "&mode=Merge", "&mode=Merge", "&mode=Other"]),
        prefix in prop::sample::select(vec!["", "", "&prefix=fz-", "&prefix=bad%20prefix"]),
    ) {
        let before = holdings()?;
        let boundary = "fuzzimport";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"ImportAssetRequestBody\"; \
             filename=\"package.zip\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&package);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let uri = format!("/v2/demo/instances/demo/assets/import?x=1{mode}{prefix}");
        let (status, answer) = call(
            "POST",
            &uri,
            &format!("multipart/form-data; boundary={boundary}"),
            body,
        )?;
        let outcome = if status == 200 {
            let job_id = answer["job_id"].as_str().unwrap_or_default().to_string();
            finished(&job_id)?["status"].as_str().unwrap_or_default().to_string()
        } else {
            prop_assert!((400..500).contains(&status), "{}: {}", status, answer);
            "Refused".to_string()
        };
        let after = holdings()?;
        if outcome == JobStatus::Succeeded.to_string() {
            // Nothing that was there is gone (an import only adds or overwrites).
            for (listing, key) in [(0, "apps"), (1, "entities")] {
                let ids = |holdings: &serde_json::Value| -> Vec<String> {
                    holdings[listing][key]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["id"].as_str().or(a["task_id"].as_str()).map(str::to_string))
                        .collect()
                };
                let now = ids(&after);
                for id in ids(&before) {
                    prop_assert!(now.contains(&id), "{} lost by a succeeded import", id);
                }
            }
        } else {
            prop_assert_eq!(&before, &after, "{} import changed the instance", outcome);
        }
    }
}

/// The signature oracle is not vacuous: a request signed as the SDK signs is served, and the
/// same request with a changed signature, body, key or date is refused.
#[test]
fn a_signed_request_is_served_and_a_tampered_one_refused() {
    let request = |tamper| Fuzzed {
        method: "POST".into(),
        uri: "/v2/demo/instances/demo/assets/delete".into(),
        credential: Credential::Signed(tamper),
        content_type: Some("application/json".into()),
        body: br#"{"apps":[{"id":"no-such-app"}],"tasks":[]}"#.to_vec(),
    };
    let answer = |fuzzed: &Fuzzed| {
        let (headers, body) = headers_and_body(fuzzed).expect("signable");
        let (status, bytes) = send(&fuzzed.method, &fuzzed.uri, headers, body)
            .unwrap_or_else(|e| panic!("{fuzzed:?}: {e}"));
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        (status.as_u16(), body)
    };
    let good = request(Tamper::Nothing);
    assert_eq!(signature_must_fail(&good), Some(false));
    // Accepted: a deletion job, or, if another property's job holds the project's slot at that
    // moment, the one-running-job refusal: past the credential either way.
    let (status, body) = answer(&good);
    let job_running = roma_assets::contract::codes::ROMA_10012.code;
    assert!(
        status == 200 || body["error_code"] == job_running,
        "{status} {body}"
    );
    for tamper in [
        Tamper::Authorization(120),
        Tamper::Body(3),
        Tamper::SecretKey,
        Tamper::Date,
    ] {
        let bad = request(tamper);
        assert_eq!(signature_must_fail(&bad), Some(true), "{bad:?}");
        assert_eq!(answer(&bad).0, 401, "{bad:?}");
    }
}
