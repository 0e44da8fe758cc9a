// Support code emitted verbatim into every generated server, before the generated items.
// It is generic: what depends on the document (error codes, the error body's field names, the
// operations) is generated beside it as `ERROR_BODY`, `REJECT`, `codes` and the operations.
//
// This file is not compiled on its own; it is checked by compiling the generated servers
// (the roma-assets library and the fixture spec of the tests).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

#[allow(unused_imports)]
use super::client::types;

/// An error code of the document's `x-error-codes`, with the status it is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// The code, e.g. `ROMA.13000`.
    pub code: &'static str,
    /// The HTTP status this code is sent with.
    pub status: u16,
    /// What it means, from the document.
    pub meaning: &'static str,
}

/// Where the error body's fields are, from the document's `x-error-body`.
struct ErrorBodyShape {
    code: BodyField,
    message: BodyField,
    /// `None` when the document's error body has no details field: the details then take the
    /// message's place (they are the specific text; the code already says what kind of error).
    details: Option<BodyField>,
    request_id: BodyField,
    request_id_header: &'static str,
}

/// One string field of the error body.
struct BodyField {
    name: &'static str,
    /// The field's `maxLength` in the document: its text is cut to it, so the body always
    /// satisfies the document (a strict client would reject a longer one).
    max_chars: usize,
}

/// The codes the generated layer answers with by itself (the `rejection` marks of `x-error-codes`).
struct Rejections {
    missing_credential: ErrorCode,
    invalid_parameter: ErrorCode,
    missing_body: ErrorCode,
    payload_too_large: ErrorCode,
    internal: ErrorCode,
    no_route: ErrorCode,
    method_not_allowed: ErrorCode,
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served (the `X-Request-Id` response header), or `None` outside
/// a request (e.g. in a background job).
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// An error answer: one of the document's codes, a message for the client, optional details,
/// and optionally an internal cause that is logged under the request id but never sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    details: Option<String>,
    internal: Option<String>,
}

impl ApiError {
    /// An error with `code` and a message for the client.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), details: None, internal: None }
    }

    /// Adds details for the client (the body's details field).
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// A 500 whose cause is logged, not sent.
    pub fn internal(cause: impl fmt::Display) -> Self {
        ApiError {
            code: REJECT.internal,
            message: "internal error".to_string(),
            details: Some("the server failed; its log has the cause under this request id".to_string()),
            internal: Some(cause.to_string()),
        }
    }

    /// A 400 naming the parameter or field that broke the document's constraints.
    pub fn invalid_parameter(field: impl fmt::Display, problem: impl fmt::Display) -> Self {
        ApiError::new(REJECT.invalid_parameter, format!("invalid parameter: {field}"))
            .with_details(format!("{field}: {problem}"))
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The HTTP status (the code's).
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details sent to the client, if any.
    pub fn details(&self) -> Option<&str> {
        self.details.as_deref()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code.code, self.code.status, self.message)?;
        if let Some(details) = &self.details {
            write!(f, ": {details}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

fn clamp_chars(text: &str, max: usize) -> String {
    let text = if text.is_empty() { "-" } else { text };
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = current_request_id().unwrap_or_else(new_request_id);
        if let Some(cause) = &self.internal {
            tracing::error!(code = self.code.code, %cause, "internal error");
        } else if self.code.status >= 500 {
            tracing::error!(code = self.code.code, message = %self.message, "server error");
        } else {
            tracing::info!(code = self.code.code, status = self.code.status, message = %self.message, "request refused");
        }
        let mut body = serde_json::Map::new();
        let mut put = |field: &BodyField, text: &str| {
            body.insert(field.name.into(), clamp_chars(text, field.max_chars).into());
        };
        put(&ERROR_BODY.code, self.code.code);
        match (&ERROR_BODY.details, &self.details) {
            (Some(field), Some(details)) => {
                put(&ERROR_BODY.message, &self.message);
                put(field, details);
            }
            (None, Some(details)) => put(&ERROR_BODY.message, details),
            (_, None) => put(&ERROR_BODY.message, &self.message),
        }
        put(&ERROR_BODY.request_id, &request_id);
        json_response(self.status(), &serde_json::Value::Object(body))
    }
}

/// A JSON response with the given status.
pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => ApiError::internal(format!("serializing a response: {e}")).into_response(),
    }
}

/// A streamed binary response with the given status and content type.
pub fn binary_response(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The outermost layer of the generated router: gives every request an id, sends it back in the
/// request-id header of every response (errors carry the same value in their body), and runs the
/// request inside a tracing span carrying the id.
async fn request_id_layer(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument;
    let request_id = new_request_id();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "response"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(ERROR_BODY.request_id_header), value);
    }
    response
}

async fn no_route() -> Response {
    ApiError::new(REJECT.no_route, "no such operation")
        .with_details("no operation of the document has this path")
        .into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(REJECT.method_not_allowed, "method not allowed")
        .with_details("the document declares no operation with this method on this path")
        .into_response()
}

/// The API key of a request (`X-Auth-Token` or whatever the document's security scheme names).
/// Its `Debug` never prints the value: tokens must not reach logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// Wraps a key (for tests and in-process callers).
    pub fn new(value: impl Into<String>) -> Self {
        Credential(value.into())
    }

    /// The key itself. Compare it in constant time.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential(<{} characters>)", self.0.chars().count())
    }
}

/// What every operation receives besides its own inputs.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id (also in the response header and error bodies).
    pub request_id: String,
}

impl RequestContext {
    fn current() -> Self {
        RequestContext { request_id: current_request_id().unwrap_or_else(new_request_id) }
    }
}

fn extract_api_key(headers: &HeaderMap, name: &'static str, min: usize, max: usize) -> Result<Credential, ApiError> {
    let missing = || {
        ApiError::new(REJECT.missing_credential, "no token in the request")
            .with_details(format!("the {name} header is missing or empty"))
    };
    let Some(value) = headers.get(name) else { return Err(missing()) };
    let value = value
        .to_str()
        .map_err(|_| ApiError::invalid_parameter(name, "not visible ASCII"))?;
    let count = value.chars().count();
    if count == 0 || count < min {
        return Err(missing());
    }
    if count > max {
        return Err(ApiError::invalid_parameter(name, format!("longer than {max} characters")));
    }
    Ok(Credential(value.to_string()))
}

/// Where a value sits in a request, for error messages: `apps[3].id`, `query prefix`...
/// Built on the stack; only formatted when a check fails.
#[derive(Clone, Copy)]
enum Loc<'a> {
    Root(&'a str),
    Field(&'a Loc<'a>, &'a str),
    Index(&'a Loc<'a>, usize),
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The JSON body itself; its fields print without the prefix (`apps[0].id`).
            Loc::Root("") => f.write_str("body"),
            Loc::Root(name) => f.write_str(name),
            Loc::Field(Loc::Root(""), name) => f.write_str(name),
            Loc::Field(parent, name) => write!(f, "{parent}.{name}"),
            Loc::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

type Check = Result<(), ApiError>;

fn fail(loc: &Loc<'_>, problem: impl fmt::Display) -> Check {
    Err(ApiError::invalid_parameter(loc, problem))
}

fn check_str_len(loc: &Loc<'_>, value: &str, min: Option<usize>, max: Option<usize>) -> Check {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let count = value.chars().count();
    if let Some(min) = min
        && count < min
    {
        return fail(loc, format!("shorter than {min} characters"));
    }
    if let Some(max) = max
        && count > max
    {
        return fail(loc, format!("longer than {max} characters"));
    }
    Ok(())
}

fn check_pattern(loc: &Loc<'_>, value: &str, regex: &regress::Regex, pattern: &str) -> Check {
    if regex.find(value).is_none() {
        return fail(loc, format!("does not match {pattern}"));
    }
    Ok(())
}

fn check_enum(loc: &Loc<'_>, value: &str, allowed: &[&str]) -> Check {
    if !allowed.contains(&value) {
        return fail(loc, format!("not one of {}", allowed.join(", ")));
    }
    Ok(())
}

fn check_number(loc: &Loc<'_>, value: f64, min: Option<(f64, bool)>, max: Option<(f64, bool)>) -> Check {
    if let Some((min, exclusive)) = min
        && (value < min || (exclusive && value == min))
    {
        return fail(loc, format!("less than {}{min}", if exclusive { "or equal to " } else { "" }));
    }
    if let Some((max, exclusive)) = max
        && (value > max || (exclusive && value == max))
    {
        return fail(loc, format!("greater than {}{max}", if exclusive { "or equal to " } else { "" }));
    }
    Ok(())
}

fn check_items(loc: &Loc<'_>, len: usize, min: Option<usize>, max: Option<usize>) -> Check {
    if let Some(min) = min
        && len < min
    {
        return fail(loc, format!("fewer than {min} items ({len})"));
    }
    if let Some(max) = max
        && len > max
    {
        return fail(loc, format!("more than {max} items ({len})"));
    }
    Ok(())
}

fn expect_object<'v>(loc: &Loc<'_>, value: &'v serde_json::Value) -> Result<&'v serde_json::Map<String, serde_json::Value>, ApiError> {
    value.as_object().ok_or_else(|| ApiError::invalid_parameter(loc, "must be an object"))
}

fn expect_array<'v>(loc: &Loc<'_>, value: &'v serde_json::Value) -> Result<&'v Vec<serde_json::Value>, ApiError> {
    value.as_array().ok_or_else(|| ApiError::invalid_parameter(loc, "must be an array"))
}

fn expect_str<'v>(loc: &Loc<'_>, value: &'v serde_json::Value) -> Result<&'v str, ApiError> {
    value.as_str().ok_or_else(|| ApiError::invalid_parameter(loc, "must be a string"))
}

fn expect_number(loc: &Loc<'_>, value: &serde_json::Value) -> Result<f64, ApiError> {
    value.as_f64().ok_or_else(|| ApiError::invalid_parameter(loc, "must be a number"))
}

fn expect_integer(loc: &Loc<'_>, value: &serde_json::Value) -> Result<f64, ApiError> {
    if value.is_i64() || value.is_u64() {
        return Ok(value.as_f64().unwrap_or_default());
    }
    match value.as_f64() {
        Some(f) if f.fract() == 0.0 => Ok(f),
        _ => Err(ApiError::invalid_parameter(loc, "must be an integer")),
    }
}

fn expect_bool(loc: &Loc<'_>, value: &serde_json::Value) -> Check {
    if !value.is_boolean() {
        return fail(loc, "must be a boolean");
    }
    Ok(())
}

fn check_required(loc: &Loc<'_>, object: &serde_json::Map<String, serde_json::Value>, names: &[&str]) -> Check {
    for name in names {
        if !object.contains_key(*name) {
            return fail(&Loc::Field(loc, name), "is required");
        }
    }
    Ok(())
}

fn check_combined_items(loc: &Loc<'_>, object: &serde_json::Map<String, serde_json::Value>, names: &[&str], max: usize) -> Check {
    let total: usize = names
        .iter()
        .filter_map(|name| object.get(*name).and_then(serde_json::Value::as_array))
        .map(Vec::len)
        .sum();
    if total > max {
        return fail(loc, format!("{} together hold more than {max} items ({total})", names.join(" + ")));
    }
    Ok(())
}

/// Raw path parameters of a request, percent-decoded by axum.
struct PathParams(Vec<(String, String)>);

impl PathParams {
    async fn extract(parts: &mut axum::http::request::Parts) -> Result<Self, ApiError> {
        use axum::extract::FromRequestParts;
        axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, &())
            .await
            .map(|axum::extract::Path(pairs)| PathParams(pairs))
            .map_err(|e| ApiError::invalid_parameter("path", e.body_text()))
    }

    fn get(&self, name: &'static str) -> Result<&str, ApiError> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| ApiError::internal(format!("route has no path parameter {name}")))
    }
}

/// Raw query parameters (first value of each name wins).
struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    fn parse(parts: &axum::http::request::Parts) -> Self {
        let query = parts.uri.query().unwrap_or("");
        QueryParams(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

fn header_param<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|value| value.to_str().map_err(|_| ApiError::invalid_parameter(name, "not visible ASCII")))
        .transpose()
}

fn required_param<'v>(loc: &Loc<'_>, value: Option<&'v str>) -> Result<&'v str, ApiError> {
    value.ok_or_else(|| ApiError::invalid_parameter(loc, "is required"))
}

fn parse_param<T: std::str::FromStr>(loc: &Loc<'_>, raw: &str, what: &str) -> Result<T, ApiError>
where
    T::Err: fmt::Display,
{
    raw.parse::<T>().map_err(|e| ApiError::invalid_parameter(loc, format!("not {what}: {e}")))
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(REJECT.payload_too_large, "request body too large")
        .with_details(format!("the request body is larger than {limit} bytes"))
}

fn check_declared_length(headers: &HeaderMap, limit: usize) -> Check {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Reads a JSON body (at most `limit` bytes), validates it with the generated `validate`, then
/// turns it into the document's type.
async fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    validate: fn(&Loc<'_>, &serde_json::Value) -> Check,
) -> Result<Option<T>, ApiError> {
    check_declared_length(headers, limit)?;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_long = std::error::Error::source(&e)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_long {
            too_large(limit)
        } else {
            ApiError::invalid_parameter("body", format!("could not be read: {e}"))
        }
    })?;
    if bytes.is_empty() {
        return Ok(None);
    }
    match media_type(headers).as_deref() {
        Some("application/json") => {}
        Some(other) if other.ends_with("+json") => {}
        other => {
            return Err(ApiError::invalid_parameter(
                "Content-Type",
                format!("must be application/json, not {}", other.unwrap_or("absent")),
            ));
        }
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid_parameter("body", format!("malformed JSON: {e}")))?;
    validate(&Loc::Root(""), &value)?;
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| ApiError::invalid_parameter("body", e))
}

fn missing_body(what: &str) -> ApiError {
    ApiError::new(REJECT.missing_body, "no request body").with_details(format!("{what} is required"))
}

/// Why reading an uploaded file part failed.
#[derive(Debug)]
pub enum FilePartError {
    /// The request went past the operation's body limit (bytes).
    TooLarge(usize),
    /// The multipart stream was malformed or the connection broke.
    Malformed(String),
}

impl fmt::Display for FilePartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilePartError::TooLarge(limit) => write!(f, "the request body is larger than {limit} bytes"),
            FilePartError::Malformed(why) => write!(f, "malformed upload: {why}"),
        }
    }
}

impl std::error::Error for FilePartError {}

impl From<FilePartError> for ApiError {
    fn from(e: FilePartError) -> Self {
        match e {
            FilePartError::TooLarge(limit) => too_large(limit),
            FilePartError::Malformed(why) => ApiError::invalid_parameter("body", why),
        }
    }
}

/// A file part of a multipart request, handed to the operation as a stream: nothing is buffered
/// beyond what the HTTP stack holds. Reading it past the operation's body limit yields
/// [`FilePartError::TooLarge`]; turn errors into the reply with `ApiError::from`.
pub struct FilePart {
    /// The part's file name, if the client sent one.
    pub file_name: Option<String>,
    /// The part's content type, if the client sent one.
    pub content_type: Option<String>,
    field: multer::Field<'static>,
    limit: usize,
}

impl fmt::Debug for FilePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilePart")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl Stream for FilePart {
    type Item = Result<Bytes, FilePartError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let limit = self.limit;
        Pin::new(&mut self.field).poll_next(cx).map(|item| {
            item.map(|chunk| {
                chunk.map_err(|e| match e {
                    multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
                        FilePartError::TooLarge(limit)
                    }
                    other => FilePartError::Malformed(other.to_string()),
                })
            })
        })
    }
}

/// A multipart request being read part by part: text parts are buffered (small, capped), the
/// file part is handed on as a [`FilePart`] stream.
struct MultipartReader {
    inner: multer::Multipart<'static>,
    limit: usize,
}

/// Text parts of a multipart body are capped at this size; they are form fields, not files.
const MAX_TEXT_PART_BYTES: usize = 64 * 1024;

enum NextPart {
    Text(String, String),
    File(Box<FilePart>),
    End,
}

impl MultipartReader {
    fn new(headers: &HeaderMap, body: Body, limit: usize) -> Result<Self, ApiError> {
        check_declared_length(headers, limit)?;
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let boundary = multer::parse_boundary(content_type).map_err(|_| {
            if content_type.is_empty() {
                missing_body("a multipart/form-data body")
            } else {
                ApiError::invalid_parameter("Content-Type", "must be multipart/form-data with a boundary")
            }
        })?;
        let constraints = multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().whole_stream(limit as u64));
        let inner = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
        Ok(MultipartReader { inner, limit })
    }

    async fn next(&mut self, file_parts: &[&str]) -> Result<NextPart, ApiError> {
        let limit = self.limit;
        let map = move |e: multer::Error| -> ApiError {
            match e {
                multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => too_large(limit),
                other => ApiError::invalid_parameter("body", format!("malformed multipart body: {other}")),
            }
        };
        let Some(field) = self.inner.next_field().await.map_err(map)? else {
            return Ok(NextPart::End);
        };
        let name = field.name().unwrap_or("").to_string();
        if file_parts.contains(&name.as_str()) {
            let file_name = field.file_name().map(str::to_string);
            let content_type = field.content_type().map(ToString::to_string);
            return Ok(NextPart::File(Box::new(FilePart { file_name, content_type, field, limit })));
        }
        let mut field = field;
        let mut text = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(map)? {
            if text.len() + chunk.len() > MAX_TEXT_PART_BYTES {
                return Err(ApiError::invalid_parameter(&name, format!("text part larger than {MAX_TEXT_PART_BYTES} bytes")));
            }
            text.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(text).map_err(|_| ApiError::invalid_parameter(&name, "not UTF-8"))?;
        Ok(NextPart::Text(name, text))
    }
}

/// Shared state of the generated router.
struct Shared<A> {
    api: A,
    config: RouterConfig,
}

type State<A> = axum::extract::State<Arc<Shared<A>>>;

/// Finishes a handler: a refusal of the generated layer is answered with its error body.
fn finish(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}
