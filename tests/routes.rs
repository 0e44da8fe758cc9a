//! The generated routers agree with their hand-written documents, both ways: every operation a
//! document declares (method, path, statuses) is served by the live generated router, and nothing
//! else is. Done for `openapi/roma-assets.yaml` and for the test fixture `bookshelf.yaml`.
//!
//! Each document is read here on its own, as YAML into plain JSON values (not through openapiv3
//! or the generator), so a generator bug cannot hide by sitting on both sides of a comparison.
//! The live router is driven with `tower::ServiceExt::oneshot`, with requests that carry no key:
//! the generated layer refuses those before any handler runs (the stub implementations panic if
//! reached). So a documented route answers with the missing-credential error, another method on
//! its path with the method-not-allowed error, and any other path with the no-route error.
//! The generated `OPERATIONS` table is only trusted after it has been checked against the live
//! router. Finally what was probed is written out as an OpenAPI document with utoipa and its
//! routes compared, by the same reader, to the hand-written document's.

// `contract`, `client` and `server` are siblings: the last two refer to `super::contract`.
// `dead_code` is allowed because these tests use a small part of the generated API.
mod fixture {
    #[allow(dead_code)]
    pub mod contract {
        include!(concat!(env!("OUT_DIR"), "/fixture/contract.rs"));
    }
    #[allow(dead_code)]
    pub mod client {
        include!(concat!(env!("OUT_DIR"), "/fixture/client.rs"));
    }
    #[allow(dead_code)]
    pub mod server {
        include!(concat!(env!("OUT_DIR"), "/fixture/server.rs"));
    }
}

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use axum::body::Body;
use axum::http::{Method, Request};
use axum::response::{IntoResponse, Response};
use fixture::contract::codes as shelf_codes;
use fixture::server as shelf;
use roma_assets::contract::codes as roma_codes;
use roma_assets::server as roma;
use serde_json::Value;
use tower::ServiceExt;

/// The methods an OpenAPI path item can hold, in the document's lower case.
const METHODS: [&str; 8] = [
    "get", "head", "post", "put", "delete", "patch", "options", "trace",
];

/// (METHOD, path template) → (operationId, statuses ascending).
type Routes = BTreeMap<(String, String), (String, Vec<u16>)>;

/// The routes of an OpenAPI document held as plain JSON: the hand-written YAML, or the one
/// utoipa writes from what was probed.
fn routes_of(document: &Value) -> Routes {
    let paths = document["paths"].as_object().expect("a paths object");
    let mut routes = Routes::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item object");
        assert!(!item.contains_key("$ref"), "{path}: path item references");
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            let mut statuses: Vec<u16> = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{id}: no responses"))
                .keys()
                .map(|key| {
                    key.parse()
                        .unwrap_or_else(|_| panic!("{id}: response key {key} is not a status"))
                })
                .collect();
            statuses.sort_unstable();
            routes.insert(
                (method.to_uppercase(), path.clone()),
                (id.to_string(), statuses),
            );
        }
    }
    routes
}

/// What a hand-written document says, read without the generator.
struct Document {
    text: Value,
    routes: Routes,
    /// Every `x-error-codes` entry: (code, status), in document order.
    codes: Vec<(String, u16)>,
    /// `rejection` mark → (code, status).
    rejections: BTreeMap<String, (String, u16)>,
    /// `x-error-body`: the code field, the request-id field, the request-id header (lower case).
    code_field: String,
    request_id_field: String,
    request_id_header: String,
}

impl Document {
    fn read(relative: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        let text = std::fs::read_to_string(&path).expect("reading the document");
        let text: Value = yaml_serde::from_str(&text).expect("parsing the document as YAML");
        let routes = routes_of(&text);
        let mut codes = Vec::new();
        let mut rejections = BTreeMap::new();
        for entry in text["x-error-codes"]
            .as_array()
            .expect("an x-error-codes list")
        {
            let code = entry["code"].as_str().expect("a code").to_string();
            let status = entry["status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .expect("a status");
            if let Some(kind) = entry["rejection"].as_str() {
                rejections.insert(kind.to_string(), (code.clone(), status));
            }
            codes.push((code, status));
        }
        let body = &text["x-error-body"];
        let field = |key: &str| {
            body[key]
                .as_str()
                .unwrap_or_else(|| panic!("x-error-body.{key}"))
                .to_string()
        };
        Document {
            routes,
            codes,
            rejections,
            code_field: field("code"),
            request_id_field: field("request_id"),
            request_id_header: field("request_id_header").to_ascii_lowercase(),
            text,
        }
    }

    fn rejection(&self, kind: &str) -> (&str, u16) {
        let (code, status) = &self.rejections[kind];
        (code, *status)
    }

    fn paths(&self) -> BTreeSet<&str> {
        self.routes.keys().map(|(_, path)| path.as_str()).collect()
    }

    /// Whether `concrete` (a request path) matches one of the document's path templates.
    fn matches(&self, concrete: &str) -> bool {
        let segments: Vec<&str> = concrete.split('/').collect();
        self.paths().iter().any(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| {
                    (part.starts_with('{') && part.ends_with('}') && !segment.is_empty())
                        || part == segment
                })
        })
    }
}

/// A path template with every `{parameter}` filled with a sample value.
fn sample(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "abc" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

/// The generated side of one document.
struct Generated {
    router: axum::Router,
    /// `server::OPERATIONS`: (operationId, METHOD, path, statuses).
    operations: Vec<(&'static str, &'static str, &'static str, &'static [u16])>,
    /// `contract::codes::ALL`: (code, status).
    codes: Vec<(&'static str, u16)>,
    /// For each reply enum, by operationId: the response of `Reply::from(ApiError::new(code, _))`
    /// for the code at that index of `codes`.
    replies: Vec<(&'static str, ReplyFn)>,
}

type ReplyFn = Box<dyn Fn(usize) -> Response>;

/// `(operationId, |i| Reply::from(ApiError::new(codes::ALL[i], ..)).into_response())`.
macro_rules! reply {
    ($server:ident, $codes:ident, $id:ident, $reply:ident) => {
        (
            stringify!($id),
            Box::new(|i: usize| {
                $server::$reply::from($server::ApiError::new($codes::ALL[i], "probe"))
                    .into_response()
            }) as ReplyFn,
        )
    };
}

/// Answers every request with a panic: requests without a key must never reach a handler.
struct Unreachable;

const REACHED: &str = "a request without a key reached a handler";

/// No access key is known: a signed request is refused before any handler. One trait for both
/// documents: `SigningKeys` is the runtime's, not generated per document.
impl roma::SigningKeys for Unreachable {
    fn secret_key(&self, _: &str) -> Option<String> {
        None
    }
}

impl roma::Api for Unreachable {
    async fn export_asset(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::ExportAssetParams,
        _: roma_assets::contract::types::AssetExportRequest,
    ) -> roma::ExportAssetReply {
        unreachable!("{REACHED}")
    }
    async fn import_asset(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::ImportAssetParams,
        _: roma::ImportAssetForm,
    ) -> roma::ImportAssetReply {
        unreachable!("{REACHED}")
    }
    async fn check_asset_job_status(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::CheckAssetJobStatusParams,
    ) -> roma::CheckAssetJobStatusReply {
        unreachable!("{REACHED}")
    }
    async fn download_asset_archive(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::DownloadAssetArchiveParams,
    ) -> roma::DownloadAssetArchiveReply {
        unreachable!("{REACHED}")
    }
    async fn list_apps(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::ListAppsParams,
    ) -> roma::ListAppsReply {
        unreachable!("{REACHED}")
    }
    async fn list_tasks(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::ListTasksParams,
    ) -> roma::ListTasksReply {
        unreachable!("{REACHED}")
    }
    async fn check_roma_app_details(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::CheckRomaAppDetailsParams,
    ) -> roma::CheckRomaAppDetailsReply {
        unreachable!("{REACHED}")
    }
    async fn list_instances(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::ListInstancesParams,
    ) -> roma::ListInstancesReply {
        unreachable!("{REACHED}")
    }
    async fn delete_asset(
        &self,
        _: roma::RequestContext,
        _: roma::Credential,
        _: roma::DeleteAssetParams,
        _: roma_assets::contract::types::AssetOperateRequest,
    ) -> roma::DeleteAssetReply {
        unreachable!("{REACHED}")
    }
}

impl shelf::Api for Unreachable {
    async fn list_books(
        &self,
        _: shelf::RequestContext,
        _: shelf::Credential,
        _: shelf::ListBooksParams,
    ) -> shelf::ListBooksReply {
        unreachable!("{REACHED}")
    }
    async fn add_book(
        &self,
        _: shelf::RequestContext,
        _: shelf::Credential,
        _: shelf::AddBookParams,
        _: fixture::client::types::NewBook,
    ) -> shelf::AddBookReply {
        unreachable!("{REACHED}")
    }
    async fn get_cover(
        &self,
        _: shelf::RequestContext,
        _: shelf::Credential,
        _: shelf::GetCoverParams,
    ) -> shelf::GetCoverReply {
        unreachable!("{REACHED}")
    }
    async fn upload_cover(
        &self,
        _: shelf::RequestContext,
        _: shelf::Credential,
        _: shelf::UploadCoverParams,
        _: shelf::UploadCoverForm,
    ) -> shelf::UploadCoverReply {
        unreachable!("{REACHED}")
    }
}

fn roma_assets() -> (Document, Generated) {
    let generated = Generated {
        router: roma::router(Unreachable),
        operations: roma::OPERATIONS
            .iter()
            .map(|o| (o.operation_id, o.method, o.path, o.statuses))
            .collect(),
        codes: roma_codes::ALL.iter().map(|c| (c.code, c.status)).collect(),
        replies: vec![
            reply!(roma, roma_codes, ExportAsset, ExportAssetReply),
            reply!(roma, roma_codes, ImportAsset, ImportAssetReply),
            reply!(
                roma,
                roma_codes,
                CheckAssetJobStatus,
                CheckAssetJobStatusReply
            ),
            reply!(
                roma,
                roma_codes,
                DownloadAssetArchive,
                DownloadAssetArchiveReply
            ),
            reply!(roma, roma_codes, ListApps, ListAppsReply),
            reply!(roma, roma_codes, ListTasks, ListTasksReply),
            reply!(
                roma,
                roma_codes,
                CheckRomaAppDetails,
                CheckRomaAppDetailsReply
            ),
            reply!(roma, roma_codes, DeleteAsset, DeleteAssetReply),
            reply!(roma, roma_codes, ListInstances, ListInstancesReply),
        ],
    };
    (Document::read("openapi/roma-assets.yaml"), generated)
}

fn bookshelf() -> (Document, Generated) {
    let generated = Generated {
        router: shelf::router(Unreachable),
        operations: shelf::OPERATIONS
            .iter()
            .map(|o| (o.operation_id, o.method, o.path, o.statuses))
            .collect(),
        codes: shelf_codes::ALL
            .iter()
            .map(|c| (c.code, c.status))
            .collect(),
        replies: vec![
            reply!(shelf, shelf_codes, ListBooks, ListBooksReply),
            reply!(shelf, shelf_codes, AddBook, AddBookReply),
            reply!(shelf, shelf_codes, GetCover, GetCoverReply),
            reply!(shelf, shelf_codes, UploadCover, UploadCoverReply),
        ],
    };
    (Document::read("tests/fixtures/bookshelf.yaml"), generated)
}

/// One answer of the live router (or of a reply enum).
struct Answer {
    status: u16,
    request_id: Option<String>,
    body: Option<Value>,
}

impl Answer {
    async fn read(response: Response, document: &Document) -> Self {
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get(&document.request_id_header)
            .map(|v| v.to_str().expect("an ASCII header").to_string());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("reading the body");
        let body =
            (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).expect("a JSON body"));
        Answer {
            status,
            request_id,
            body,
        }
    }

    /// Asserts the document's error body with `code`, whose request id is the header's.
    fn assert_error(&self, document: &Document, (code, status): (&str, u16), what: &str) {
        assert_eq!(self.status, status, "{what}: status");
        let body = self
            .body
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no body"));
        assert_eq!(body[&document.code_field], code, "{what}: {body}");
        let header = self
            .request_id
            .as_deref()
            .unwrap_or_else(|| panic!("{what}: no {} header", document.request_id_header));
        assert_eq!(
            body[&document.request_id_field], header,
            "{what}: request id of body and header"
        );
    }
}

async fn send(router: &axum::Router, document: &Document, method: &str, uri: &str) -> Answer {
    let request = Request::builder()
        .method(Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method"))
        .uri(uri)
        .body(Body::empty())
        .expect("a request");
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    Answer::read(response, document).await
}

/// Sends every method to every path of the document without a key: returns the (METHOD, path)
/// pairs the router serves (it asks for the key), having checked that it refuses every other
/// method on those paths as not allowed.
async fn probe_routes(document: &Document, router: &axum::Router) -> BTreeSet<(String, String)> {
    let missing_credential = document.rejection("missing_credential");
    let method_not_allowed = document.rejection("method_not_allowed");
    let mut served = BTreeSet::new();
    for path in document.paths() {
        let uri = sample(path);
        for method in METHODS {
            let route = (method.to_uppercase(), path.to_string());
            let what = format!("{} {uri}", route.0);
            let answer = send(router, document, method, &uri).await;
            if method == "head" && !document.routes.contains_key(&route) {
                // axum answers HEAD with the GET handler, as HTTP asks of a server of GET; the
                // document need not list it. It is not counted as a route of its own.
                let get = served.contains(&("GET".to_string(), path.to_string()));
                let expected = if get {
                    missing_credential.1
                } else {
                    method_not_allowed.1
                };
                assert_eq!(answer.status, expected, "{what}");
                assert!(answer.request_id.is_some(), "{what}: no request id");
                continue;
            }
            if answer.status == missing_credential.1 {
                answer.assert_error(document, missing_credential, &what);
                served.insert(route);
            } else {
                assert!(
                    !document.routes.contains_key(&route),
                    "{what}: a documented route answered {} instead of asking for the key",
                    answer.status
                );
                answer.assert_error(document, method_not_allowed, &what);
            }
        }
    }
    served
}

/// Request paths near the document's that no template matches: each path without its last
/// segment, with one more, with a segment inserted, with a trailing slash; and the root.
fn undocumented_paths(document: &Document) -> BTreeSet<String> {
    let mut candidates = BTreeSet::from(["/".to_string(), "/nothing".to_string()]);
    for path in document.paths() {
        let concrete = sample(path);
        let segments: Vec<&str> = concrete.split('/').collect();
        candidates.insert(segments[..segments.len() - 1].join("/"));
        candidates.insert(format!("{concrete}/extra"));
        candidates.insert(format!("{concrete}/"));
        let mut inserted = segments.clone();
        inserted.insert(2, "extra");
        candidates.insert(inserted.join("/"));
    }
    candidates.retain(|c| !c.is_empty() && !document.matches(c));
    candidates
}

async fn serves_every_documented_route_and_nothing_else(
    document: &Document,
    generated: &Generated,
) {
    let served = probe_routes(document, &generated.router).await;
    let documented: BTreeSet<(String, String)> = document.routes.keys().cloned().collect();
    assert_eq!(served, documented, "routes served by the live router");

    let no_route = document.rejection("no_route");
    let undocumented = undocumented_paths(document);
    assert!(undocumented.len() > document.paths().len());
    for uri in &undocumented {
        for method in METHODS.iter().filter(|m| **m != "head") {
            let answer = send(&generated.router, document, method, uri).await;
            answer.assert_error(document, no_route, &format!("{method} {uri}"));
        }
    }

    // Checked against the live router, the generated table can stand for it: exactly the
    // document's routes, with their operationIds.
    let table: BTreeMap<(String, String), &str> = generated
        .operations
        .iter()
        .map(|(id, method, path, _)| ((method.to_string(), path.to_string()), *id))
        .collect();
    assert_eq!(
        table.len(),
        generated.operations.len(),
        "a route listed twice"
    );
    let expected: BTreeMap<(String, String), &str> = document
        .routes
        .iter()
        .map(|(route, (id, _))| (route.clone(), id.as_str()))
        .collect();
    assert_eq!(table, expected, "OPERATIONS against the document");
}

/// For each operation, the error statuses its reply enum sends, found by converting every code of
/// the document into it: a code whose status the document declares for the operation keeps its
/// status and code, any other becomes the internal error. Checked as it goes.
async fn live_error_statuses(
    document: &Document,
    generated: &Generated,
) -> BTreeMap<&'static str, BTreeSet<u16>> {
    let internal = document.rejection("internal");
    let mut sent = BTreeMap::new();
    for (id, reply) in &generated.replies {
        let declared = document
            .routes
            .values()
            .find(|(documented_id, _)| documented_id == id)
            .map(|(_, statuses)| statuses)
            .unwrap_or_else(|| panic!("{id} is not an operation of the document"));
        let statuses: &mut BTreeSet<u16> = sent.entry(*id).or_default();
        for (i, (code, status)) in generated.codes.iter().enumerate() {
            let answer = Answer::read(reply(i), document).await;
            let body = answer.body.expect("an error body");
            let what = format!("{id} answering {code}");
            if declared.contains(status) {
                assert_eq!(answer.status, *status, "{what}");
                assert_eq!(body[&document.code_field], *code, "{what}");
                statuses.insert(answer.status);
            } else {
                assert_eq!(answer.status, internal.1, "{what}: an undeclared status");
                assert_eq!(body[&document.code_field], internal.0, "{what}");
            }
        }
    }
    sent
}

async fn reply_enums_send_exactly_the_documented_statuses(
    document: &Document,
    generated: &Generated,
) {
    let codes: Vec<(String, u16)> = generated
        .codes
        .iter()
        .map(|(code, status)| (code.to_string(), *status))
        .collect();
    assert_eq!(codes, document.codes, "codes::ALL against x-error-codes");

    let ids: BTreeSet<&str> = generated.replies.iter().map(|(id, _)| *id).collect();
    let documented: BTreeSet<&str> = document
        .routes
        .values()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(
        ids, documented,
        "this test lists one reply enum per operation"
    );

    for (id, method, path, statuses) in &generated.operations {
        let (_, declared) = &document.routes[&(method.to_string(), path.to_string())];
        assert_eq!(statuses, declared, "{id}: the reply enum's statuses");
    }
    for (id, sent) in live_error_statuses(document, generated).await {
        let (_, declared) = document
            .routes
            .values()
            .find(|(documented_id, _)| documented_id == id)
            .expect("a documented operation");
        let declared_errors: BTreeSet<u16> =
            declared.iter().copied().filter(|s| *s >= 400).collect();
        assert_eq!(
            sent, declared_errors,
            "{id}: every documented error status is sent for some code, and no other"
        );
    }
}

fn http_method(method: &str) -> utoipa::openapi::HttpMethod {
    use utoipa::openapi::HttpMethod;
    match method {
        "GET" => HttpMethod::Get,
        "HEAD" => HttpMethod::Head,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        "OPTIONS" => HttpMethod::Options,
        "TRACE" => HttpMethod::Trace,
        other => panic!("no OpenAPI method {other}"),
    }
}

/// The live router described as an OpenAPI document: the routes it serves (probed) and, for each,
/// the error statuses its reply enum sends (converted live) plus its success status (from the
/// generated table, already checked against the reply enum; the wire-level tests see it sent).
async fn described_by_probing(
    document: &Document,
    generated: &Generated,
) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{OperationBuilder, PathItem};
    use utoipa::openapi::{Info, OpenApiBuilder, PathsBuilder, ResponseBuilder, ResponsesBuilder};

    let served = probe_routes(document, &generated.router).await;
    let errors = live_error_statuses(document, generated).await;
    let mut paths = PathsBuilder::new();
    for (method, path) in &served {
        let (id, _, _, statuses) = generated
            .operations
            .iter()
            .find(|(_, m, p, _)| m == method && p == path)
            .unwrap_or_else(|| panic!("{method} {path} is served but not in OPERATIONS"));
        let success = statuses.iter().copied().filter(|s| *s < 400);
        let mut responses = ResponsesBuilder::new();
        for status in success.chain(errors[id].iter().copied()) {
            let reason = axum::http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("probed");
            responses = responses.response(
                status.to_string(),
                ResponseBuilder::new().description(reason),
            );
        }
        let operation = OperationBuilder::new()
            .operation_id(Some(*id))
            .responses(responses)
            .build();
        paths = paths.path(path, PathItem::new(http_method(method), operation));
    }
    let title = document.text["info"]["title"].as_str().unwrap_or("API");
    OpenApiBuilder::new()
        .info(Info::new(
            format!("{title} (probed from the generated router)"),
            "probed".into(),
        ))
        .paths(paths)
        .build()
}

async fn described_with_utoipa_equals_the_document(document: &Document, generated: &Generated) {
    let described = described_by_probing(document, generated).await;
    println!(
        "{}",
        described
            .to_pretty_json()
            .expect("serializing the description")
    );
    let described = serde_json::to_value(&described).expect("serializing the description");
    assert_eq!(
        routes_of(&described),
        document.routes,
        "the probed description against the hand-written document"
    );
}

#[tokio::test]
async fn roma_assets_router_serves_every_documented_route_and_nothing_else() {
    let (document, generated) = roma_assets();
    serves_every_documented_route_and_nothing_else(&document, &generated).await;
}

#[tokio::test]
async fn bookshelf_router_serves_every_documented_route_and_nothing_else() {
    let (document, generated) = bookshelf();
    serves_every_documented_route_and_nothing_else(&document, &generated).await;
}

#[tokio::test]
async fn roma_assets_reply_enums_send_exactly_the_documented_statuses() {
    let (document, generated) = roma_assets();
    reply_enums_send_exactly_the_documented_statuses(&document, &generated).await;
}

#[tokio::test]
async fn bookshelf_reply_enums_send_exactly_the_documented_statuses() {
    let (document, generated) = bookshelf();
    reply_enums_send_exactly_the_documented_statuses(&document, &generated).await;
}

#[tokio::test]
async fn roma_assets_routes_described_with_utoipa_equal_the_document() {
    let (document, generated) = roma_assets();
    described_with_utoipa_equals_the_document(&document, &generated).await;
}

#[tokio::test]
async fn bookshelf_routes_described_with_utoipa_equal_the_document() {
    let (document, generated) = bookshelf();
    described_with_utoipa_equals_the_document(&document, &generated).await;
}
