// Support code emitted verbatim into every generated server, before the generated items.
// It is generic: what depends on the document (error codes, the error body's field names, the
// operations) is generated beside it as `ERROR_BODY`, `REJECT` and the operations, or lives in
// the contract module (`codes`, `types`).
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
use super::contract::{codes, types};
#[allow(unused_imports)]
use roma_assets_runtime::sign;
pub use roma_assets_runtime::ErrorCode;

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
    /// A request signature that does not verify (the missing-credential code when the document
    /// declares no signature scheme, so none is ever sent).
    bad_signature: ErrorCode,
}

/// The request being served, for the log lines written while serving it.
struct RequestInfo {
    id: String,
    method: axum::http::Method,
    uri: axum::http::Uri,
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

/// The id of the request being served (the `X-Request-Id` response header), or `None` outside
/// a request (e.g. in a background job).
pub fn current_request_id() -> Option<String> {
    REQUEST.try_with(|request| request.id.clone()).ok()
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
        // Named in each line: at INFO there is no span per request (see `request_id_layer`).
        let (method, path) = REQUEST
            .try_with(|request| (request.method.to_string(), request.uri.path().to_string()))
            .unwrap_or_default();
        if let Some(cause) = &self.internal {
            tracing::error!(%request_id, %method, %path, code = self.code.code, %cause, "internal error");
        } else if self.code.status >= 500 {
            tracing::error!(%request_id, %method, %path, code = self.code.code, message = %self.message, "server error");
        } else {
            tracing::info!(%request_id, %method, %path, code = self.code.code, status = self.code.status, message = %self.message, "request refused");
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

/// A new request id: 32 random hex digits. Drawn from a per-thread generator (SplitMix64) seeded
/// once from the operating system, not from a system call per request: an id must be unique,
/// not secret.
fn new_request_id() -> String {
    thread_local! {
        static NEXT: std::cell::Cell<u64> = std::cell::Cell::new(uuid::Uuid::new_v4().as_u64_pair().0);
    }
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (a, b) = NEXT.with(|next| {
        let a = next.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        let b = a.wrapping_add(0x9e37_79b9_7f4a_7c15);
        next.set(b);
        (mix(a), mix(b))
    });
    format!("{a:016x}{b:016x}")
}

/// The outermost layer of the generated router: gives every request an id, sends it back in the
/// request-id header of every response (errors carry the same value in their body), and keeps
/// it (with the method and path) for the log lines written while serving the request.
///
/// The tracing span per request is at DEBUG: a span's fields are formatted when it is created,
/// whether anything is logged in it or not, which cost 5% of the CPU of a status poll
/// (BENCHMARKS.md, part 3). At INFO, the lines this layer writes name the request themselves.
async fn request_id_layer(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument;
    let request_id = new_request_id();
    let span = tracing::debug_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let info = RequestInfo {
        id: request_id.clone(),
        method: request.method().clone(),
        uri: request.uri().clone(),
    };
    let mut response = REQUEST
        .scope(info, next.run(request))
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

/// Who is calling, as the generated layer established it. Its `Debug` never prints a key.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key as presented (`X-Auth-Token` or whatever the document's security scheme
    /// names). Whether it is valid is the implementation's to decide: compare it in constant
    /// time.
    Key(String),
    /// An access key (AK) whose signature of this request the generated layer verified with the
    /// secret key [`SigningKeys::secret_key`] gave for it.
    Signed {
        /// The access key.
        access_key: String,
    },
}

impl Credential {
    /// An API key (for tests and in-process callers).
    pub fn new(value: impl Into<String>) -> Self {
        Credential::Key(value.into())
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Key(key) => write!(f, "Credential::Key(<{} characters>)", key.chars().count()),
            Credential::Signed { access_key } => write!(f, "Credential::Signed({access_key})"),
        }
    }
}

/// The secret keys of a server whose document declares a request-signature scheme: the one
/// thing the generated verification needs from the implementation.
pub trait SigningKeys {
    /// The secret key (SK) of `access_key`, or `None` when no credential has this AK.
    fn secret_key(&self, access_key: &str) -> Option<String>;
}

/// A credential as presented, before a signature is checked against the request it signs.
enum Presented {
    Key(Credential),
    Signature(sign::Authorization),
}

fn bad_signature(error: sign::SignError) -> ApiError {
    ApiError::new(REJECT.bad_signature, REJECT.bad_signature.meaning).with_details(error.to_string())
}

/// Reads the credential of an operation that may be signed: an `Authorization` header that
/// claims the signature scheme is parsed (malformed: the bad-signature code), else the API key
/// of `key` (header, min and max length) if the operation accepts one.
fn present_credential(headers: &HeaderMap, key: Option<(&'static str, usize, usize)>) -> Result<Presented, ApiError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION)
        && sign::Authorization::claims(value.as_bytes())
    {
        let text = value
            .to_str()
            .map_err(|_| bad_signature(sign::SignError::Malformed("not visible ASCII")))?;
        return sign::Authorization::parse(text).map(Presented::Signature).map_err(bad_signature);
    }
    let missing = |header: &str| {
        ApiError::new(REJECT.missing_credential, "no credential in the request").with_details(format!(
            "no {header} header and no SDK-HMAC-SHA256 Authorization header (AK/SK signature)"
        ))
    };
    match key {
        Some((name, min, max)) => match headers.get(name) {
            None => Err(missing(name)),
            Some(_) => extract_api_key(headers, name, min, max).map(Presented::Key),
        },
        None => Err(missing("API key")),
    }
}

/// Checks a presented signature against the request (`payload`: the body read whole, or
/// streamed and declared unsigned) with the secret key `keys` gives for its access key.
fn authenticate<K: SigningKeys>(
    keys: &K,
    parts: &axum::http::request::Parts,
    presented: Presented,
    payload: sign::Payload<'_>,
    max_skew_seconds: i64,
) -> Result<Credential, ApiError> {
    let authorization = match presented {
        Presented::Key(credential) => return Ok(credential),
        Presented::Signature(authorization) => authorization,
    };
    let secret = keys
        .secret_key(&authorization.access_key)
        .ok_or_else(|| bad_signature(sign::SignError::UnknownAccessKey))?;
    let request = sign::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
    };
    sign::verify_now(&request, payload, &authorization, &secret, max_skew_seconds).map_err(bad_signature)?;
    Ok(Credential::Signed { access_key: authorization.access_key })
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
    Ok(Credential::Key(value.to_string()))
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

/// A file part's name against the document's `x-file-name` rule: refused with the rule's own
/// code (its meaning as the message), naming the part, the file name and the rule.
fn check_file_name(part: &str, file_name: Option<&str>, pattern: &Pattern, code: ErrorCode, rule: &str) -> Check {
    // The fact first (which name), the rule after it: error details may be cut at 128 characters.
    let problem = match file_name {
        None => format!("the file part {part} has no file name; {rule}"),
        Some(name) if pattern.regex.find(name).is_none() => {
            let shown: String = name.chars().take(40).collect();
            let cut = if shown.len() < name.len() { "…" } else { "" };
            format!("file name {shown:?}{cut} refused: {rule}")
        }
        Some(_) => return Ok(()),
    };
    Err(ApiError::new(code, code.meaning).with_details(problem))
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

/// What the document says a JSON value must be: the document's schemas as data (one static per
/// component schema, generated beside this code), checked by [`parse_json`] while a body is
/// deserialized.
struct Shape {
    kind: ShapeKind,
    /// `nullable: true`: `null` is accepted too.
    nullable: bool,
    /// What the Rust type's own deserializer enforces of this schema (see [`parse_json`]).
    typed: Typed,
}

/// How far the Rust type of a schema enforces by itself what the schema says, apart from
/// refusing `null` for an optional property (decided by the generator, conservatively).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Typed {
    /// Not (or not known to): every value is checked.
    No,
    /// All of it, this value and those below it.
    Whole,
    /// All of it, provided the value is read as a JSON object: a derived struct would also take
    /// an array of its fields in order.
    AsMap,
}

enum ShapeKind {
    /// No constraint (a schema without a type).
    Any,
    String {
        min: Option<usize>,
        max: Option<usize>,
        pattern: Option<&'static Pattern>,
        /// The `enum` values; empty: any string.
        allowed: &'static [&'static str],
    },
    Number {
        integer: bool,
        min: Option<(f64, bool)>,
        max: Option<(f64, bool)>,
    },
    Boolean,
    Object {
        /// At most 64 names (the generator refuses more).
        required: &'static [&'static str],
        properties: &'static [(&'static str, &'static Shape)],
        /// `additionalProperties: false`.
        closed: bool,
        /// `x-max-combined-items`: these array properties together hold at most this many items.
        combined: Option<(&'static [&'static str], usize)>,
    },
    Array {
        min: Option<usize>,
        max: Option<usize>,
        items: Option<&'static Shape>,
    },
}

/// A `pattern` of the document, compiled on first use.
struct Pattern {
    source: &'static str,
    regex: std::sync::LazyLock<regress::Regex>,
}

/// Deserializes the document's type `T` from a JSON body, checking every value against `shape`
/// on the way: one pass over the bytes, nothing built but `T`. A refusal names the first value
/// at fault in the body's order (an object's missing required fields and item counts of
/// `x-max-combined-items` are known at its end, an array's item count at its end).
///
/// Subtrees whose schema says nothing that `T`'s own deserializer does not enforce
/// ([`Shape::typed`]) are first deserialized without the checks. The one thing the type cannot
/// tell apart is an explicit `null` for an optional, non-nullable property (serde reads it as
/// absent), so that quick pass is only tried on a body without the bytes `null` anywhere. If it
/// fails for any reason, the body is read again with every value checked, so a refusal's message
/// is the same either way.
fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], shape: &'static Shape) -> Result<T, ApiError> {
    if memchr::memmem::find(bytes, b"null").is_none()
        && let Ok(value) = parse_json_pass(bytes, shape, true)
    {
        return Ok(value);
    }
    parse_json_pass(bytes, shape, false)
}

/// One pass of [`parse_json`]; `quick`: skip the checks of typed subtrees.
fn parse_json_pass<T: serde::de::DeserializeOwned>(bytes: &[u8], shape: &'static Shape, quick: bool) -> Result<T, ApiError> {
    let pass = Pass { refused: Default::default(), quick };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let root = Loc::Root("");
    let parsed = if pass.skips(shape) {
        T::deserialize(&mut de)
    } else {
        T::deserialize(Checked { inner: &mut de, shape, loc: &root, pass: &pass, len: None })
    };
    let parsed = parsed.and_then(|value| de.end().map(|()| value));
    // A refusal wins even if the type's own deserializer went on and succeeded.
    if let Some(refused) = pass.refused.into_inner() {
        return Err(refused);
    }
    parsed.map_err(|e| {
        if e.is_data() {
            ApiError::invalid_parameter("body", e)
        } else {
            ApiError::invalid_parameter("body", format!("malformed JSON: {e}"))
        }
    })
}

/// The state of one pass of [`parse_json`].
struct Pass {
    /// Where a refusal found while deserializing waits: serde's error type cannot carry it.
    refused: std::cell::RefCell<Option<ApiError>>,
    /// Typed subtrees ([`Shape::typed`]) are deserialized without the checks.
    quick: bool,
}

impl Pass {
    /// Whether a value of `shape` is deserialized without the checks in this pass.
    fn skips(&self, shape: &Shape) -> bool {
        self.quick && shape.typed == Typed::Whole
    }

    /// Whether a value of `shape` is read as a JSON object, unchecked, in this pass.
    fn reads_as_map(&self, shape: &Shape) -> bool {
        self.quick && shape.typed == Typed::AsMap
    }
}

/// Keeps the first refusal and returns the error that makes serde stop.
fn refuse<E: serde::de::Error>(pass: &Pass, error: ApiError) -> E {
    let mut slot = pass.refused.borrow_mut();
    if slot.is_none() {
        *slot = Some(error);
    }
    E::custom("refused by the document's constraints")
}

/// A serde `Deserializer` over another (serde_json's) that checks each value it yields against a
/// [`Shape`]. Entry points a JSON deserializer would refuse by itself for a value of another
/// type (`deserialize_str` on a number...) go through `deserialize_any`, so that such a value
/// gets the document's message ("must be a string") instead of serde's.
struct Checked<'l, D> {
    inner: D,
    shape: &'static Shape,
    loc: &'l Loc<'l>,
    pass: &'l Pass,
    /// Where an array's final item count goes (for `x-max-combined-items`).
    len: Option<&'l std::cell::Cell<usize>>,
}

impl<'l, D> Checked<'l, D> {
    fn visitor<V>(&self, inner: V, as_enum: bool) -> CheckedVisitor<'l, V> {
        CheckedVisitor { inner, shape: self.shape, loc: self.loc, pass: self.pass, len: self.len, as_enum }
    }

}

/// `deserialize_*` methods that look at whatever value comes: through `deserialize_any`.
macro_rules! checked_by_type {
    ($de:lifetime, $d:ident; $($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: serde::de::Visitor<$de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, $d::Error> {
                if let ShapeKind::Any = self.shape.kind {
                    return self.inner.$method($($arg,)* visitor);
                }
                if self.pass.reads_as_map(self.shape) {
                    return self.inner.deserialize_map(visitor);
                }
                let visitor = self.visitor(visitor, false);
                self.inner.deserialize_any(visitor)
            }
        )*
    };
}

/// `deserialize_*` methods whose request matters to the JSON deserializer: passed on as they are.
macro_rules! checked_as_asked {
    ($de:lifetime, $d:ident; $($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: serde::de::Visitor<$de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, $d::Error> {
                if let ShapeKind::Any = self.shape.kind {
                    return self.inner.$method($($arg,)* visitor);
                }
                let visitor = self.visitor(visitor, false);
                self.inner.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de, 'l, D: serde::Deserializer<'de>> serde::Deserializer<'de> for Checked<'l, D> {
    type Error = D::Error;

    checked_by_type! {
        'de, D;
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    checked_as_asked! {
        'de, D;
        deserialize_i128();
        deserialize_u128();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_newtype_struct(name: &'static str);
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        match self.shape.kind {
            // A string enum: its value is checked as a string, then handed on as a unit variant.
            ShapeKind::String { .. } => {
                let visitor = self.visitor(visitor, true);
                self.inner.deserialize_any(visitor)
            }
            _ => self.inner.deserialize_enum(name, variants, visitor),
        }
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The visitor of a [`Checked`] deserializer: checks the value, then hands it on.
struct CheckedVisitor<'l, V> {
    inner: V,
    shape: &'static Shape,
    loc: &'l Loc<'l>,
    pass: &'l Pass,
    len: Option<&'l std::cell::Cell<usize>>,
    /// Hand a string on as an enum's unit variant (see `deserialize_enum`).
    as_enum: bool,
}

impl<'l, V> CheckedVisitor<'l, V> {
    fn check<E: serde::de::Error>(&self, check: Check) -> Result<(), E> {
        check.map_err(|e| refuse(self.pass, e))
    }

    /// The refusal of a value of another JSON type than the shape's.
    fn wrong_type<E: serde::de::Error>(&self) -> Result<(), E> {
        let problem = match &self.shape.kind {
            ShapeKind::Any => return Ok(()),
            ShapeKind::String { .. } => "must be a string",
            ShapeKind::Number { integer: true, .. } => "must be an integer",
            ShapeKind::Number { .. } => "must be a number",
            ShapeKind::Boolean => "must be a boolean",
            ShapeKind::Object { .. } => "must be an object",
            ShapeKind::Array { .. } => "must be an array",
        };
        self.check(fail(self.loc, problem))
    }

    fn number<E: serde::de::Error>(&self, value: f64, integral: bool) -> Result<(), E> {
        match &self.shape.kind {
            ShapeKind::Number { integer, min, max } => {
                if *integer && !integral {
                    return self.check(fail(self.loc, "must be an integer"));
                }
                self.check(check_number(self.loc, value, *min, *max))
            }
            _ => self.wrong_type(),
        }
    }

    fn string<E: serde::de::Error>(&self, value: &str) -> Result<(), E> {
        let ShapeKind::String { min, max, pattern, allowed } = &self.shape.kind else {
            return self.wrong_type();
        };
        self.check(check_str_len(self.loc, value, *min, *max))?;
        if let Some(pattern) = pattern {
            self.check(check_pattern(self.loc, value, &pattern.regex, pattern.source))?;
        }
        if !allowed.is_empty() {
            self.check(check_enum(self.loc, value, allowed))?;
        }
        Ok(())
    }

    fn null<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.shape.nullable { Ok(()) } else { self.wrong_type() }
    }

    fn deeper<D2>(&self, inner: D2) -> Checked<'l, D2> {
        Checked { inner, shape: self.shape, loc: self.loc, pass: self.pass, len: self.len }
    }
}

impl<'de, V: serde::de::Visitor<'de>> serde::de::Visitor<'de> for CheckedVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<V::Value, E> {
        match &self.shape.kind {
            ShapeKind::Boolean => {}
            _ => self.wrong_type()?,
        }
        self.inner.visit_bool(value)
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<V::Value, E> {
        self.number(value as f64, true)?;
        self.inner.visit_i64(value)
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<V::Value, E> {
        self.number(value as f64, true)?;
        self.inner.visit_u64(value)
    }

    fn visit_i128<E: serde::de::Error>(self, value: i128) -> Result<V::Value, E> {
        self.number(value as f64, true)?;
        self.inner.visit_i128(value)
    }

    fn visit_u128<E: serde::de::Error>(self, value: u128) -> Result<V::Value, E> {
        self.number(value as f64, true)?;
        self.inner.visit_u128(value)
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<V::Value, E> {
        self.number(value, value.fract() == 0.0)?;
        self.inner.visit_f64(value)
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<V::Value, E> {
        self.string(value)?;
        if self.as_enum {
            return self.inner.visit_enum(serde::de::value::StrDeserializer::new(value));
        }
        self.inner.visit_str(value)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, value: &'de str) -> Result<V::Value, E> {
        self.string(value)?;
        if self.as_enum {
            return self.inner.visit_enum(serde::de::value::BorrowedStrDeserializer::new(value));
        }
        self.inner.visit_borrowed_str(value)
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<V::Value, E> {
        self.string(&value)?;
        if self.as_enum {
            return self.inner.visit_enum(serde::de::value::StrDeserializer::new(&value));
        }
        self.inner.visit_string(value)
    }

    // Bytes only come from a deserializer asked for bytes; they are handed on unchecked.
    fn visit_bytes<E: serde::de::Error>(self, value: &[u8]) -> Result<V::Value, E> {
        self.inner.visit_bytes(value)
    }

    fn visit_borrowed_bytes<E: serde::de::Error>(self, value: &'de [u8]) -> Result<V::Value, E> {
        self.inner.visit_borrowed_bytes(value)
    }

    fn visit_byte_buf<E: serde::de::Error>(self, value: Vec<u8>) -> Result<V::Value, E> {
        self.inner.visit_byte_buf(value)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.null()?;
        self.inner.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.null()?;
        self.inner.visit_unit()
    }

    fn visit_some<D2: serde::Deserializer<'de>>(self, deserializer: D2) -> Result<V::Value, D2::Error> {
        let checked = self.deeper(deserializer);
        self.inner.visit_some(checked)
    }

    fn visit_newtype_struct<D2: serde::Deserializer<'de>>(self, deserializer: D2) -> Result<V::Value, D2::Error> {
        let checked = self.deeper(deserializer);
        self.inner.visit_newtype_struct(checked)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let ShapeKind::Array { min, max, items } = &self.shape.kind else {
            self.wrong_type()?;
            return self.inner.visit_seq(seq);
        };
        let seq = CheckedSeq {
            inner: seq,
            min: *min,
            max: *max,
            items: *items,
            loc: self.loc,
            pass: self.pass,
            len_out: self.len,
            len: 0,
        };
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let ShapeKind::Object { required, properties, closed, combined } = &self.shape.kind else {
            self.wrong_type()?;
            return self.inner.visit_map(map);
        };
        let map = CheckedMap {
            inner: map,
            required,
            properties,
            closed: *closed,
            combined: *combined,
            loc: self.loc,
            pass: self.pass,
            current: None,
            required_seen: 0,
            combined_total: 0,
        };
        self.inner.visit_map(map)
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// A [`Checked`] deserializer for a value inside an array or object.
struct CheckedSeed<'l, S> {
    seed: S,
    shape: &'static Shape,
    loc: &'l Loc<'l>,
    pass: &'l Pass,
    len: Option<&'l std::cell::Cell<usize>>,
}

impl<'de, S: serde::de::DeserializeSeed<'de>> serde::de::DeserializeSeed<'de> for CheckedSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Checked {
            inner: deserializer,
            shape: self.shape,
            loc: self.loc,
            pass: self.pass,
            len: self.len,
        })
    }
}

/// The items of an array: each checked against the item shape, and their count.
struct CheckedSeq<'l, A> {
    inner: A,
    min: Option<usize>,
    max: Option<usize>,
    items: Option<&'static Shape>,
    loc: &'l Loc<'l>,
    pass: &'l Pass,
    len_out: Option<&'l std::cell::Cell<usize>>,
    len: usize,
}

impl<'de, A: serde::de::SeqAccess<'de>> serde::de::SeqAccess<'de> for CheckedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: serde::de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let loc = Loc::Index(self.loc, self.len);
        let next = match self.items {
            Some(shape) if !self.pass.skips(shape) => self.inner.next_element_seed(CheckedSeed {
                seed,
                shape,
                loc: &loc,
                pass: self.pass,
                len: None,
            })?,
            _ => self.inner.next_element_seed(seed)?,
        };
        if next.is_none() {
            if let Some(len) = self.len_out {
                len.set(self.len);
            }
            if let Err(e) = check_items(self.loc, self.len, self.min, None) {
                return Err(refuse(self.pass, e));
            }
            return Ok(None);
        }
        self.len += 1;
        if let Some(max) = self.max
            && self.len > max
        {
            // Counted to the end, so the refusal says how many there are.
            while self.inner.next_element::<serde::de::IgnoredAny>()?.is_some() {
                self.len += 1;
            }
            if let Some(len) = self.len_out {
                len.set(self.len);
            }
            let e = check_items(self.loc, self.len, None, Some(max)).err().unwrap_or_else(|| ApiError::internal("item count"));
            return Err(refuse(self.pass, e));
        }
        Ok(next)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// The entries of an object: keys against the known properties, values against their shapes,
/// required properties and combined item counts at the end.
struct CheckedMap<'l, A> {
    inner: A,
    required: &'static [&'static str],
    properties: &'static [(&'static str, &'static Shape)],
    closed: bool,
    combined: Option<(&'static [&'static str], usize)>,
    loc: &'l Loc<'l>,
    pass: &'l Pass,
    /// The property of the key just read, if it is one.
    current: Option<usize>,
    required_seen: u64,
    combined_total: usize,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for CheckedMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        // The key is read here, then handed to the type's own key deserializer as a string.
        let Some(key) = self.inner.next_key_seed(KeySeed)? else {
            let missing = self.required.iter().enumerate().find(|(index, _)| self.required_seen & (1 << index) == 0);
            if let Some((_, name)) = missing {
                return Err(refuse(self.pass, ApiError::invalid_parameter(Loc::Field(self.loc, name), "is required")));
            }
            if let Some((names, max)) = self.combined
                && self.combined_total > max
            {
                let problem = format!("{} together hold more than {max} items ({})", names.join(" + "), self.combined_total);
                return Err(refuse(self.pass, ApiError::invalid_parameter(self.loc, problem)));
            }
            return Ok(None);
        };
        let name = key.as_str();
        if let Some(index) = self.required.iter().position(|required| *required == name) {
            self.required_seen |= 1 << index;
        }
        self.current = self.properties.iter().position(|(property, _)| *property == name);
        if self.current.is_none() && self.closed {
            let e = ApiError::invalid_parameter(Loc::Field(self.loc, name), "is not a field of this object");
            return Err(refuse(self.pass, e));
        }
        let value = match key {
            Key::Borrowed(key) => seed.deserialize(serde::de::value::BorrowedStrDeserializer::<A::Error>::new(key)),
            Key::Owned(key) => seed.deserialize(serde::de::value::StringDeserializer::<A::Error>::new(key)),
        };
        value.map(Some)
    }

    fn next_value_seed<S: serde::de::DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let Some(index) = self.current.take() else {
            return self.inner.next_value_seed(seed);
        };
        let (name, shape) = self.properties[index];
        let loc = Loc::Field(self.loc, name);
        let counted = self.combined.is_some_and(|(names, _)| names.contains(&name));
        if !counted && self.pass.skips(shape) {
            return self.inner.next_value_seed(seed);
        }
        let len = std::cell::Cell::new(0);
        let value = self.inner.next_value_seed(CheckedSeed {
            seed,
            shape,
            loc: &loc,
            pass: self.pass,
            len: counted.then_some(&len),
        })?;
        self.combined_total += len.get();
        Ok(value)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// An object key, borrowed from the body when it holds no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(key) => key,
            Key::Owned(key) => key,
        }
    }
}

struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(Key::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(Key::Owned(key.to_string()))
    }
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

/// Reads a JSON body (at most `limit` bytes) and deserializes the document's type from it,
/// checking it against `shape` on the way ([`parse_json`]).
async fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    shape: &'static Shape,
) -> Result<Option<T>, ApiError> {
    let bytes = read_body(headers, body, limit).await?;
    json_from_bytes(headers, bytes, shape)
}

/// Reads a whole request body of at most `limit` bytes.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    check_declared_length(headers, limit)?;
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_long = std::error::Error::source(&e)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_long {
            too_large(limit)
        } else {
            ApiError::invalid_parameter("body", format!("could not be read: {e}"))
        }
    })
}

/// A JSON body already read: `None` when empty, else checked against `shape` and deserialized.
fn json_from_bytes<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    bytes: Bytes,
    shape: &'static Shape,
) -> Result<Option<T>, ApiError> {
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
    parse_json(&bytes, shape).map(Some)
}

/// A raw request body, streamed to the handler: refused at once when it declares more than
/// `limit` bytes, and cut with an error (the handler's read fails) past them.
fn limited_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Body, ApiError> {
    check_declared_length(headers, limit)?;
    Ok(Body::new(http_body_util::Limited::new(body, limit)))
}

/// An `application/x-www-form-urlencoded` body already read, as the typed value of `shape` (an
/// object): each pair is a property, typed as its schema says (a number, a boolean, or a string;
/// a repeated name fills an array), then checked and read as a JSON body is. `None` when empty.
fn form_from_bytes<T: serde::de::DeserializeOwned>(bytes: Bytes, shape: &'static Shape) -> Result<Option<T>, ApiError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let ShapeKind::Object { properties, .. } = &shape.kind else {
        return Err(ApiError::invalid_parameter("body", "a form body must be an object"));
    };
    let typed = |kind: Option<&ShapeKind>, text: String| -> serde_json::Value {
        match kind {
            Some(ShapeKind::Number { .. } | ShapeKind::Boolean) => {
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            }
            _ => serde_json::Value::String(text),
        }
    };
    let mut object = serde_json::Map::new();
    for (name, value) in form_urlencoded::parse(&bytes) {
        let kind = properties.iter().find(|(n, _)| *n == name).map(|(_, s)| &s.kind);
        match kind {
            Some(ShapeKind::Array { items, .. }) => {
                let item = typed(items.map(|s| &s.kind), value.into_owned());
                let list = object.entry(name.into_owned()).or_insert_with(|| serde_json::Value::Array(Vec::new()));
                if let serde_json::Value::Array(list) = list {
                    list.push(item);
                }
            }
            _ => {
                object.insert(name.into_owned(), typed(kind, value.into_owned()));
            }
        }
    }
    let json = serde_json::to_vec(&serde_json::Value::Object(object)).map_err(ApiError::internal)?;
    parse_json(&json, shape).map(Some)
}

/// A `text/plain` body already read: `None` when empty, else its text (UTF-8 or refused).
fn text_from_bytes(bytes: Bytes) -> Result<Option<String>, ApiError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| ApiError::invalid_parameter("body", "not UTF-8 text"))
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

    /// The next part the document names: a file part of `file_parts` (streamed), a text part
    /// of `text_parts` (read whole), or the end. Other parts, text or binary, are skipped unread
    /// (within the body limit): a body with a stray part is read as if it were not there.
    async fn next(&mut self, file_parts: &[&str], text_parts: &[&str]) -> Result<NextPart, ApiError> {
        let limit = self.limit;
        let map = move |e: multer::Error| -> ApiError {
            match e {
                multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => too_large(limit),
                other => ApiError::invalid_parameter("body", format!("malformed multipart body: {other}")),
            }
        };
        let field = loop {
            let Some(mut field) = self.inner.next_field().await.map_err(map)? else {
                return Ok(NextPart::End);
            };
            let name = field.name().unwrap_or("");
            if file_parts.contains(&name) || text_parts.contains(&name) {
                break field;
            }
            while field.chunk().await.map_err(map)?.is_some() {}
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
