//! Shared by the integration tests: serve a router on a real loopback socket, build clients, and
//! check error answers the same way everywhere (status, code, and a `request_id` equal to the
//! request-id header).
//!
//! Every server started with [`serve`] answers through the conformance layer
//! ([`conformance`]): each response is checked against the OpenAPI document declaring its route,
//! and one that does not conform fails the test that sent the request.

#![allow(dead_code)] // each test crate uses its own subset

pub mod conformance;

use std::net::SocketAddr;

/// Serves `router` on 127.0.0.1 with an OS-chosen port, every response checked against the
/// repository's documents ([`conformance::repository_documents`]); returns the base URL.
pub async fn serve(router: axum::Router) -> String {
    serve_unchecked(conformance::layer(
        router,
        conformance::repository_documents(),
    ))
    .await
}

/// Serves `router` as it is, without the conformance layer: only for tests of that layer.
pub async fn serve_unchecked(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serving");
    });
    format!("http://{addr}")
}

/// A reference server's service on `data_dir` that knows `token` for project `demo`, whose
/// instance `demo` holds the demo assets; jobs run at full speed.
pub async fn demo_service(
    data_dir: &std::path::Path,
    token: &str,
) -> roma_assets::service::Service {
    let mut credentials = roma_assets::service::auth::Credentials::default();
    credentials.insert("demo", token);
    demo_service_with(data_dir, credentials).await
}

/// [`demo_service`] with the given credentials (tokens, AK/SK pairs, or both).
pub async fn demo_service_with(
    data_dir: &std::path::Path,
    credentials: roma_assets::service::auth::Credentials,
) -> roma_assets::service::Service {
    use roma_assets::service::{Service, ServiceConfig, package::PackageLimits};
    let service = Service::open(ServiceConfig {
        data_dir: data_dir.to_path_buf(),
        credentials,
        package_limits: PackageLimits::default(),
        job_min_duration: std::time::Duration::ZERO,
        database_url: None,
        job_lease: roma_assets::service::store::DEFAULT_LEASE,
        blob_store: None,
    })
    .await
    .expect("opening the service");
    service.seed_demo("demo", "demo").await.expect("seeding");
    service
}

/// A reqwest client that sends `header: value` on every request (the API key), if given.
pub fn http_client(key: Option<(&'static str, &str)>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some((name, value)) = key {
        headers.insert(
            name,
            reqwest::header::HeaderValue::from_str(value).expect("a valid header value"),
        );
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("building a client")
}

/// An error answer as the tests see it.
#[derive(Debug)]
pub struct ErrorAnswer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Sends `request`, expects an error with `status` whose body field `code_field` equals `code`
/// and whose `request_id_field` equals the `request_id_header`. Returns the body.
pub async fn expect_error(
    request: reqwest::RequestBuilder,
    status: u16,
    code: &str,
    (code_field, request_id_field, request_id_header): (&str, &str, &str),
) -> serde_json::Value {
    let response = request.send().await.expect("sending");
    assert_eq!(
        response.status().as_u16(),
        status,
        "status of {}",
        response.url()
    );
    let header = response
        .headers()
        .get(request_id_header)
        .unwrap_or_else(|| panic!("no {request_id_header} header"))
        .to_str()
        .expect("ASCII header")
        .to_string();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string());
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert_eq!(body[code_field], code, "error body {body}");
    assert_eq!(
        body[request_id_field], header,
        "request id in body and header differ: {body}"
    );
    body
}

/// The ROMA error body's field names and header.
pub const ROMA: (&str, &str, &str) = ("error_code", "request_id", "x-request-id");
