//! The conformance layer of the integration tests: every response a test server sends is checked
//! against the OpenAPI document that declares its route, independently of the code generator.
//!
//! For a request whose method and path match an operation of a document it checks that
//! - the status is one the operation declares (exactly, as `4XX`, or as `default`);
//! - every header the response declares `required` is present and its value fits its schema;
//! - the content type is one the response declares (none declared: the body is empty);
//! - a JSON body parses and is valid against the declared schema, converted from OpenAPI 3.0 to
//!   JSON Schema draft 4 (`nullable`, `$ref` to `#/components/schemas`, OpenAPI-only keywords
//!   dropped) and validated with the `jsonschema` crate, formats such as `date-time` included;
//!   strict on one point: an object may hold only the properties its schema names, so a field
//!   the server sends but the document does not mention is a violation too;
//! - an error body (the document's `x-error-body` schema) carries a code listed in
//!   `x-error-codes` with this status, and a request id equal to the request-id header.
//!
//! A path no document declares must get the document's `no_route` rejection (404, its code, its
//! error body); a declared path with an undeclared method its `method_not_allowed` rejection.
//! Bodies of other content types (the zip download) are streamed through unread: only their
//! status, headers and content type are checked.
//!
//! A violation replaces the response by a `599 Conformance Violation` answer (never a status a
//! document declares) naming every problem in its body and in the `x-conformance-violation`
//! header, and is printed to stderr: the test that sent the request then fails on the status or
//! on the client's error. Panicking instead would only kill the connection task (tokio catches
//! the panic), leaving the test a vague "connection closed".
//!
//! It must not look at requests beyond method and path, and must not depend on the generated
//! code or the generator: the documents are read as plain YAML.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

/// The status of a replaced response; no document declares it.
pub const VIOLATION_STATUS: u16 = 599;
/// The header of a replaced response that names its problems (one line, visible ASCII).
pub const VIOLATION_HEADER: &str = "x-conformance-violation";

/// Paths the reference server serves beside the API (`Service::router`): not operations of the
/// document, so not checked.
pub const OUTSIDE_THE_DOCUMENT: &[&str] = &[
    "/healthz",
    "/openapi.yaml",
    "/openapi.json",
    "/docs",
    "/docs/swagger-ui-bundle.js",
    "/docs/swagger-ui.css",
];

/// Every violation seen by any layer of this test process, for tests of the layer itself.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The violations recorded so far in this process.
pub fn violations_so_far() -> Vec<String> {
    SEEN.lock().map(|v| v.clone()).unwrap_or_default()
}

/// The repository's documents: `openapi/roma-assets.yaml` and the generator's second fixture,
/// `tests/fixtures/bookshelf.yaml`. Their paths do not overlap, so each request belongs to at
/// most one of them. Loaded once per test process.
pub fn repository_documents() -> Arc<Conformance> {
    static ONCE: OnceLock<Arc<Conformance>> = OnceLock::new();
    ONCE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let documents = ["openapi/roma-assets.yaml", "tests/fixtures/bookshelf.yaml"]
            .iter()
            .map(|rel| Document::load(&root.join(rel)).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        Arc::new(Conformance::new(documents, OUTSIDE_THE_DOCUMENT))
    })
    .clone()
}

/// Wraps `router` so that every response it sends is checked against `conformance`.
pub fn layer(router: axum::Router, conformance: Arc<Conformance>) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let conformance = conformance.clone();
            async move { conformance.checked(request, next).await }
        },
    ))
}

/// The documents a server is checked against.
pub struct Conformance {
    documents: Vec<Document>,
    outside: Vec<String>,
}

/// One response as the checker sees it. `body` is `None` when it was streamed through unread.
pub struct Exchange<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub body: Option<&'a [u8]>,
}

impl Conformance {
    /// Checks against `documents`; requests to `outside` paths are not checked.
    pub fn new(documents: Vec<Document>, outside: &[&str]) -> Self {
        Conformance {
            documents,
            outside: outside.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Runs the request, checks the response; a violating response is replaced (module doc).
    async fn checked(
        &self,
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> Response {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let response = next.run(request).await;
        if self.outside.contains(&path) {
            return response;
        }
        let (parts, body) = response.into_parts();
        let (body, bytes, mut problems) = if reads_body(&parts.headers) {
            match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => (Body::from(bytes.clone()), Some(bytes), vec![]),
                Err(e) => (
                    Body::empty(),
                    None,
                    vec![format!("the body could not be read: {e}")],
                ),
            }
        } else {
            (body, None, vec![])
        };
        problems.extend(self.check(&Exchange {
            method: &method,
            path: &path,
            status: parts.status.as_u16(),
            headers: &parts.headers,
            body: bytes.as_deref(),
        }));
        if problems.is_empty() {
            return Response::from_parts(parts, body);
        }
        let summary = format!(
            "{method} {path} answered {}: {}",
            parts.status.as_u16(),
            problems.join("; ")
        );
        eprintln!("CONFORMANCE VIOLATION: {summary}");
        if let Ok(mut seen) = SEEN.lock() {
            seen.push(summary.clone());
        }
        violation_response(&summary, bytes.as_deref())
    }

    /// Every problem of one response; empty when it conforms.
    pub fn check(&self, ex: &Exchange<'_>) -> Vec<String> {
        // HEAD is GET without the body (RFC 9110, 9.3.2), and axum answers it so on every GET
        // route: checked as GET (status, headers), except for the body it must not have. Found
        // by tests/fuzz_requests.rs.
        if ex.method == Method::HEAD {
            let as_get = Exchange {
                method: &Method::GET,
                body: None,
                ..*ex
            };
            let mut problems = self.check(&as_get);
            problems.retain(|p| !p.ends_with("the body was not read"));
            return problems;
        }
        let mut best: Option<(&Document, &Operation, usize)> = None;
        let mut path_declared_in: Option<&Document> = None;
        for doc in &self.documents {
            for op in &doc.operations {
                let Some(literals) = op.matches(ex.path) else {
                    continue;
                };
                path_declared_in.get_or_insert(doc);
                if op.method == *ex.method && best.is_none_or(|(_, _, l)| literals > l) {
                    best = Some((doc, op, literals));
                }
            }
        }
        match (best, path_declared_in) {
            (Some((doc, op, _)), _) => doc.check_operation(op, ex),
            (None, Some(doc)) => doc.check_rejection("method_not_allowed", ex),
            (None, None) => {
                // Any document's `no_route` answer will do: the path is in none of them.
                let mut all = vec![];
                for doc in &self.documents {
                    let problems = doc.check_rejection("no_route", ex);
                    if problems.is_empty() {
                        return problems;
                    }
                    all.extend(problems.into_iter().map(|p| format!("{}: {p}", doc.name)));
                }
                if all.is_empty() {
                    all.push("no document is loaded".into());
                }
                all
            }
        }
    }
}

/// Bodies read and checked: JSON and text, and bodies without a content type (so that a missing
/// one can be reported with what was sent). Anything else (zip) streams through unread.
fn reads_body(headers: &HeaderMap) -> bool {
    match media_type(headers) {
        None => true,
        Some(mt) => is_json(&mt) || mt.starts_with("text/"),
    }
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::CONTENT_TYPE)?;
    let text = value.to_str().unwrap_or("<not ASCII>");
    Some(
        text.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

fn violation_response(summary: &str, body: Option<&[u8]>) -> Response {
    let header: String = summary
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(4000)
        .collect();
    let mut text = format!("conformance violation: {summary}\n");
    if let Some(body) = body {
        text.push_str("original body: ");
        text.push_str(&String::from_utf8_lossy(body));
        text.push('\n');
    }
    let mut response = Response::new(Body::from(text));
    *response.status_mut() =
        StatusCode::from_u16(VIOLATION_STATUS).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert(VIOLATION_HEADER, value);
    }
    response
}

/// One OpenAPI 3.0 document, with its response schemas compiled.
pub struct Document {
    name: String,
    operations: Vec<Operation>,
    error_body: Option<ErrorBody>,
    /// Code -> status, from `x-error-codes`.
    codes: BTreeMap<String, u16>,
    /// Rejection (`no_route`, ...) -> code, from `x-error-codes`.
    rejections: BTreeMap<String, String>,
    /// The error body's schema compiled, for rejections (which belong to no operation).
    error_validator: Option<jsonschema::Validator>,
}

/// The document's `x-error-body`.
struct ErrorBody {
    schema_ref: String,
    code: String,
    request_id: String,
    request_id_header: String,
}

struct Operation {
    id: String,
    method: Method,
    template: String,
    /// `None` for a `{parameter}` segment.
    segments: Vec<Option<String>>,
    /// Status key (`200`, `4XX`, `default`) -> the response.
    responses: BTreeMap<String, ResponseSpec>,
}

struct ResponseSpec {
    headers: Vec<HeaderSpec>,
    /// Media type -> compiled schema (`None`: not JSON, or no schema).
    content: BTreeMap<String, Option<MediaSpec>>,
}

struct HeaderSpec {
    name: String,
    required: bool,
    validator: Option<jsonschema::Validator>,
    numeric: bool,
}

struct MediaSpec {
    validator: jsonschema::Validator,
    is_error_body: bool,
}

impl Operation {
    /// The number of literal segments when `path` matches the template, else `None`. A
    /// parameter matches any one segment, empty too, as axum's router does: the document allows
    /// empty project_id and instance_id (minLength 0, from the seed), and such a request is
    /// answered by its operation.
    fn matches(&self, path: &str) -> Option<usize> {
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut literals = 0;
        for (part, segment) in parts.iter().zip(&self.segments) {
            match segment {
                Some(literal) if literal == part => literals += 1,
                Some(_) => return None,
                None => {}
            }
        }
        // As axum's router (matchit): a parameter in the middle matches an empty segment
        // (`/v2//instances`), the last one does not (`/jobs/` is no job), found by
        // tests/fuzz_requests.rs.
        if self.segments.last() == Some(&None) && parts.last() == Some(&"") {
            return None;
        }
        Some(literals)
    }

    fn response_for(&self, status: u16) -> Option<&ResponseSpec> {
        let range = format!("{}XX", status / 100);
        self.responses
            .get(&status.to_string())
            .or_else(|| self.responses.get(&range))
            .or_else(|| self.responses.get("default"))
    }
}

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl Document {
    /// Reads and compiles a document; an error names what could not be understood.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let raw: Value =
            yaml_serde::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        Self::from_value(&name, &raw)
    }

    /// Compiles an already parsed document (for tests of the checker).
    pub fn from_value(name: &str, raw: &Value) -> Result<Self, String> {
        let definitions = to_json_schema(&raw["components"]["schemas"], true, true);
        let compile = |schema: &Value, at: &str| -> Result<jsonschema::Validator, String> {
            let mut root = match to_json_schema(schema, true, false) {
                Value::Object(map) => map,
                other => {
                    let mut map = Map::new();
                    map.insert("allOf".into(), Value::Array(vec![other]));
                    map
                }
            };
            root.insert("definitions".into(), definitions.clone());
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .should_validate_formats(true)
                .build(&Value::Object(root))
                .map_err(|e| format!("{name}: compiling the schema of {at}: {e}"))
        };

        let error_body = raw.get("x-error-body").map(|eb| ErrorBody {
            schema_ref: format!(
                "#/components/schemas/{}",
                eb["schema"].as_str().unwrap_or_default()
            ),
            code: eb["code"].as_str().unwrap_or_default().to_string(),
            request_id: eb["request_id"].as_str().unwrap_or_default().to_string(),
            request_id_header: eb["request_id_header"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
        let mut codes = BTreeMap::new();
        let mut rejections = BTreeMap::new();
        for entry in raw["x-error-codes"].as_array().into_iter().flatten() {
            let code = entry["code"].as_str().unwrap_or_default().to_string();
            let status = entry["status"].as_u64().unwrap_or_default() as u16;
            if let Some(rejection) = entry["rejection"].as_str() {
                rejections.insert(rejection.to_string(), code.clone());
            }
            codes.insert(code, status);
        }
        let error_validator = match &error_body {
            Some(eb) => Some(compile(
                &serde_json::json!({ "$ref": eb.schema_ref }),
                "x-error-body",
            )?),
            None => None,
        };

        let mut operations = vec![];
        for (template, item) in raw["paths"].as_object().into_iter().flatten() {
            for method in HTTP_METHODS {
                let Some(op) = item.get(method) else { continue };
                let id = op["operationId"].as_str().unwrap_or(template).to_string();
                let mut responses = BTreeMap::new();
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    let response = deref(raw, response)?;
                    let at = format!("{id} {status}");
                    let mut headers = vec![];
                    for (header, spec) in response["headers"].as_object().into_iter().flatten() {
                        let spec = deref(raw, spec)?;
                        let schema = &spec["schema"];
                        let resolved = deref(raw, schema)?;
                        headers.push(HeaderSpec {
                            name: header.to_ascii_lowercase(),
                            required: spec["required"].as_bool().unwrap_or(false),
                            validator: if schema.is_null() {
                                None
                            } else {
                                Some(compile(schema, &format!("{at} header {header}"))?)
                            },
                            numeric: matches!(
                                resolved["type"].as_str(),
                                Some("integer" | "number")
                            ),
                        });
                    }
                    let mut content = BTreeMap::new();
                    for (mt, media) in response["content"].as_object().into_iter().flatten() {
                        let schema = &media["schema"];
                        let spec = if is_json(&mt.to_ascii_lowercase()) && !schema.is_null() {
                            Some(MediaSpec {
                                validator: compile(schema, &format!("{at} {mt}"))?,
                                is_error_body: error_body
                                    .as_ref()
                                    .is_some_and(|eb| schema["$ref"] == eb.schema_ref.as_str()),
                            })
                        } else {
                            None
                        };
                        content.insert(mt.to_ascii_lowercase(), spec);
                    }
                    responses.insert(status.clone(), ResponseSpec { headers, content });
                }
                operations.push(Operation {
                    id,
                    method: Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                        .map_err(|e| format!("{name}: method {method}: {e}"))?,
                    template: template.clone(),
                    segments: template
                        .split('/')
                        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                        .collect(),
                    responses,
                });
            }
        }
        if operations.is_empty() {
            return Err(format!("{name}: no operation found"));
        }
        Ok(Document {
            name: name.to_string(),
            operations,
            error_body,
            codes,
            rejections,
            error_validator,
        })
    }

    fn check_operation(&self, op: &Operation, ex: &Exchange<'_>) -> Vec<String> {
        let mut problems = vec![];
        let Some(spec) = op.response_for(ex.status) else {
            let declared: Vec<&String> = op.responses.keys().collect();
            return vec![format!(
                "{} ({} {}) does not declare status {}; it declares {declared:?}",
                op.id, op.method, op.template, ex.status
            )];
        };
        let at = format!("{} {}", op.id, ex.status);
        for header in &spec.headers {
            match ex.headers.get(&header.name) {
                None if header.required => {
                    problems.push(format!("{at}: required header {} is missing", header.name))
                }
                None => {}
                Some(value) => {
                    let Ok(text) = value.to_str() else {
                        problems.push(format!("{at}: header {} is not visible ASCII", header.name));
                        continue;
                    };
                    let value = if header.numeric {
                        serde_json::from_str(text).unwrap_or(Value::String(text.into()))
                    } else {
                        Value::String(text.into())
                    };
                    if let Some(validator) = &header.validator {
                        for e in validator.iter_errors(&value) {
                            problems.push(format!("{at}: header {}: {e}", header.name));
                        }
                    }
                }
            }
        }
        let content_type = media_type(ex.headers);
        if spec.content.is_empty() {
            if ex.body.is_some_and(|b| !b.is_empty()) {
                problems.push(format!(
                    "{at}: the document declares no content, but a body was sent"
                ));
            }
            return problems;
        }
        let Some(content_type) = content_type else {
            problems.push(format!(
                "{at}: no content type; the document declares {:?}",
                spec.content.keys().collect::<Vec<_>>()
            ));
            return problems;
        };
        let declared = spec.content.iter().find(|(mt, _)| {
            *mt == &content_type
                || mt.as_str() == "*/*"
                || mt
                    .strip_suffix("/*")
                    .is_some_and(|top| content_type.starts_with(&format!("{top}/")))
        });
        let Some((_, media)) = declared else {
            problems.push(format!(
                "{at}: content type {content_type} is not declared; the document declares {:?}",
                spec.content.keys().collect::<Vec<_>>()
            ));
            return problems;
        };
        let (Some(media), Some(body)) = (media, ex.body) else {
            return problems; // not JSON, or streamed through unread
        };
        let value: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => {
                problems.push(format!("{at}: the body is not JSON ({e})"));
                return problems;
            }
        };
        problems.extend(schema_problems(&at, &media.validator, &value));
        if media.is_error_body {
            problems.extend(self.error_body_problems(&at, ex, &value, None));
        }
        problems
    }

    /// A response the generated layer sends on its own for a request no operation takes
    /// (`no_route`, `method_not_allowed`): that code's status and the error body.
    fn check_rejection(&self, rejection: &str, ex: &Exchange<'_>) -> Vec<String> {
        let at = format!("{} ({rejection})", ex.path);
        let (Some(code), Some(validator)) = (self.rejections.get(rejection), &self.error_validator)
        else {
            return vec![format!(
                "{at}: {} declares no {rejection} rejection, and no operation takes {} {}",
                self.name, ex.method, ex.path
            )];
        };
        let status = self.codes.get(code).copied().unwrap_or_default();
        if ex.status != status {
            return vec![format!(
                "{at}: status {}, but the document answers it with {code} ({status})",
                ex.status
            )];
        }
        let mut problems = vec![];
        match media_type(ex.headers) {
            Some(mt) if is_json(&mt) => {}
            other => problems.push(format!("{at}: content type {other:?}, not JSON")),
        }
        let Some(body) = ex.body else {
            problems.push(format!("{at}: the body was not read"));
            return problems;
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => {
                problems.extend(schema_problems(&at, validator, &value));
                problems.extend(self.error_body_problems(&at, ex, &value, Some(code)));
            }
            Err(e) => problems.push(format!("{at}: the body is not JSON ({e})")),
        }
        problems
    }

    /// `x-error-body`: a listed code of this status, and the request id of the header.
    fn error_body_problems(
        &self,
        at: &str,
        ex: &Exchange<'_>,
        body: &Value,
        expected_code: Option<&String>,
    ) -> Vec<String> {
        let Some(eb) = &self.error_body else {
            return vec![];
        };
        let mut problems = vec![];
        let code = body[&eb.code].as_str().unwrap_or_default();
        match self.codes.get(code) {
            None => problems.push(format!("{at}: error code {code:?} is not in x-error-codes")),
            Some(&status) if status != ex.status => problems.push(format!(
                "{at}: error code {code} has status {status} in x-error-codes, sent with {}",
                ex.status
            )),
            Some(_) => {}
        }
        if let Some(expected) = expected_code
            && expected != code
        {
            problems.push(format!("{at}: error code {code:?}, expected {expected}"));
        }
        let header = ex
            .headers
            .get(eb.request_id_header.to_ascii_lowercase().as_str())
            .and_then(|v| v.to_str().ok());
        match header {
            None => problems.push(format!("{at}: no {} header", eb.request_id_header)),
            Some(id) if body[&eb.request_id] != id => problems.push(format!(
                "{at}: body {} {} differs from header {} {id:?}",
                eb.request_id, body[&eb.request_id], eb.request_id_header
            )),
            Some(_) => {}
        }
        problems
    }
}

fn schema_problems(at: &str, validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| {
            let path = e.instance_path().to_string();
            format!(
                "{at}: body{}: {e}",
                if path.is_empty() {
                    String::new()
                } else {
                    format!(" at {path}")
                }
            )
        })
        .collect()
}

/// Follows a Reference Object (`$ref: '#/...'`) to its target.
fn deref<'a>(raw: &'a Value, mut node: &'a Value) -> Result<&'a Value, String> {
    for _ in 0..16 {
        let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
            return Ok(node);
        };
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("only local references are supported: {reference}"))?;
        node = raw
            .pointer(pointer)
            .ok_or_else(|| format!("dangling reference {reference}"))?;
    }
    Err("a $ref chain longer than 16".into())
}

/// An OpenAPI 3.0 Schema Object as a JSON Schema (draft 4) one: `nullable` becomes a `null`
/// type (and enum member), `#/components/schemas/X` becomes `#/definitions/X`, keywords JSON
/// Schema does not know are dropped. With `strict`, an object schema that names its properties
/// and says nothing of others gets `additionalProperties: false`. `map_of_schemas` converts each
/// value of a name -> schema map (`components/schemas`).
pub fn to_json_schema(schema: &Value, strict: bool, map_of_schemas: bool) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if map_of_schemas {
        return Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_json_schema(v, strict, false)))
                .collect(),
        );
    }
    let mut out = Map::new();
    for (key, value) in map {
        let converted = match key.as_str() {
            "nullable" | "discriminator" | "xml" | "externalDocs" | "example" | "examples"
            | "deprecated" | "readOnly" | "writeOnly" => continue,
            k if k.starts_with("x-") => continue,
            "$ref" => match value.as_str() {
                Some(r) => Value::String(r.replacen("#/components/schemas/", "#/definitions/", 1)),
                None => value.clone(),
            },
            "properties" => to_json_schema(value, strict, true),
            "items" | "not" => to_json_schema(value, strict, false),
            "additionalProperties" if value.is_object() => to_json_schema(value, strict, false),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| to_json_schema(s, strict, false))
                    .collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), serde_json::json!([t, "null"]));
        }
        if let Some(Value::Array(members)) = out.get_mut("enum")
            && !members.contains(&Value::Null)
        {
            members.push(Value::Null);
        }
    }
    let composed = ["allOf", "anyOf", "oneOf"]
        .iter()
        .any(|k| out.contains_key(*k));
    if strict
        && out.contains_key("properties")
        && !out.contains_key("additionalProperties")
        && !composed
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}
