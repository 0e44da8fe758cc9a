//! The generated server's support code, compiled once (feature `server`): what every generated
//! axum server does the same way whatever its document says. The generated file holds only what
//! depends on the document (its operations, shapes, error body and codes) and starts with
//! `use roma_assets_runtime::server::*;`.
//!
//! - request ids ([`request_id_layer`], [`current_request_id`], [`RequestContext`]);
//! - credentials: API keys and AK/SK signatures ([`Credential`], [`SigningKeys`],
//!   [`present_credential`], [`authenticate`]);
//! - parameters ([`PathParams`], [`QueryParams`], [`header_param`], [`parse_param`]) and the
//!   checks of what the document constrains ([`check_str_len`], [`check_number`]...; a union
//!   of strings against its [`Shape`]: [`check_text`]);
//! - bodies: JSON checked against a [`Shape`] in one pass while it is deserialized
//!   ([`parse_json`]), forms, text, raw streams, and multipart read part by part
//!   ([`MultipartReader`], [`FilePart`]);
//! - the error body written in the document's shape ([`error_response`]).
//!
//! Nothing here knows a document: a refusal is a [`Refusal`] of a [`Rejection`] kind (or of a
//! code the caller names), and the generated `Refusal` turns it into the document's code
//! through its `Rejections`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

use crate::ErrorCode;
use crate::sign;

/// Where the error body's fields are, from the document's `x-error-body`.
#[derive(Debug)]
pub struct ErrorBodyShape {
    /// The field of the error code.
    pub code: BodyField,
    /// The field of the message.
    pub message: BodyField,
    /// `None` when the document's error body has no details field: the details then take the
    /// message's place (they are the specific text; the code already says what kind of error).
    pub details: Option<BodyField>,
    /// The field of the request id (the same value as the request-id header).
    pub request_id: BodyField,
    /// The request-id header, lower case.
    pub request_id_header: &'static str,
}

/// One string field of the error body.
#[derive(Debug)]
pub struct BodyField {
    /// The field's name.
    pub name: &'static str,
    /// The field's `maxLength` in the document: its text is cut to it, so the body always
    /// satisfies the document (a strict client would reject a longer one).
    pub max_chars: usize,
}

/// Why the generated layer refuses a request by itself, before the implementation runs. Each
/// kind is sent with the document's code marked for it ([`Rejections`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No credential, or an empty or too short key.
    MissingCredential,
    /// A request signature that does not verify.
    BadSignature,
    /// A parameter or body value that breaks the document's constraints.
    InvalidParameter,
    /// A required body that is absent.
    MissingBody,
    /// A body over the operation's limit.
    PayloadTooLarge,
    /// A fault of the server (logged, not sent).
    Internal,
    /// No operation has this path.
    NoRoute,
    /// No operation has this method on this path.
    MethodNotAllowed,
}

/// The codes the generated layer answers with by itself (the `rejection` marks of `x-error-codes`).
#[derive(Debug)]
pub struct Rejections {
    /// For [`Rejection::MissingCredential`].
    pub missing_credential: ErrorCode,
    /// For [`Rejection::InvalidParameter`].
    pub invalid_parameter: ErrorCode,
    /// For [`Rejection::MissingBody`].
    pub missing_body: ErrorCode,
    /// For [`Rejection::PayloadTooLarge`].
    pub payload_too_large: ErrorCode,
    /// For [`Rejection::Internal`].
    pub internal: ErrorCode,
    /// For [`Rejection::NoRoute`].
    pub no_route: ErrorCode,
    /// For [`Rejection::MethodNotAllowed`].
    pub method_not_allowed: ErrorCode,
    /// For [`Rejection::BadSignature`] (the missing-credential code when the document declares
    /// no signature scheme, so none is ever sent).
    pub bad_signature: ErrorCode,
}

impl Rejections {
    /// The document's code for `kind`.
    pub fn code(&self, kind: Rejection) -> ErrorCode {
        match kind {
            Rejection::MissingCredential => self.missing_credential,
            Rejection::BadSignature => self.bad_signature,
            Rejection::InvalidParameter => self.invalid_parameter,
            Rejection::MissingBody => self.missing_body,
            Rejection::PayloadTooLarge => self.payload_too_large,
            Rejection::Internal => self.internal,
            Rejection::NoRoute => self.no_route,
            Rejection::MethodNotAllowed => self.method_not_allowed,
        }
    }
}

/// The code of a [`Refusal`]: a kind the document maps to a code, or a code of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
    /// One of the generated layer's own refusals.
    Rejection(Rejection),
    /// A code the document names for this check (e.g. an `x-file-name` rule's).
    Listed(ErrorCode),
}

/// A refusal of the generated layer, before it is given the document's code and error body (the
/// generated `Refusal` is `From<Refusal>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its code.
    pub code: RefusalCode,
    /// The message for the client; `None`: the meaning the document gives the code.
    pub message: Option<String>,
    /// The details for the client: the specific fact first.
    pub details: Option<String>,
    /// A cause that is logged under the request id but never sent (internal errors).
    pub internal: Option<String>,
}

impl Refusal {
    /// A refusal of `kind` with a message for the client.
    pub fn new(kind: Rejection, message: impl Into<String>) -> Self {
        Refusal {
            code: RefusalCode::Rejection(kind),
            message: Some(message.into()),
            details: None,
            internal: None,
        }
    }

    /// A refusal with a code the document names, its meaning as the message.
    pub fn listed(code: ErrorCode) -> Self {
        Refusal {
            code: RefusalCode::Listed(code),
            message: None,
            details: None,
            internal: None,
        }
    }

    /// A refusal of `kind` whose message is the meaning the document gives its code.
    pub fn meaning(kind: Rejection) -> Self {
        Refusal {
            code: RefusalCode::Rejection(kind),
            message: None,
            details: None,
            internal: None,
        }
    }

    /// Adds details for the client.
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// A 500 whose cause is logged, not sent.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Refusal {
            code: RefusalCode::Rejection(Rejection::Internal),
            message: Some("internal error".to_string()),
            details: Some(
                "the server failed; its log has the cause under this request id".to_string(),
            ),
            internal: Some(cause.to_string()),
        }
    }

    /// A 400 naming the parameter or field that broke the document's constraints.
    pub fn invalid_parameter(field: impl fmt::Display, problem: impl fmt::Display) -> Self {
        Refusal::new(
            Rejection::InvalidParameter,
            format!("invalid parameter: {field}"),
        )
        .with_details(format!("{field}: {problem}"))
    }

    /// The document's code for it.
    pub fn code(&self, rejections: &Rejections) -> ErrorCode {
        match self.code {
            RefusalCode::Rejection(kind) => rejections.code(kind),
            RefusalCode::Listed(code) => code,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.message, self.code) {
            (Some(message), _) => f.write_str(message)?,
            (None, RefusalCode::Listed(code)) => f.write_str(code.meaning)?,
            (None, RefusalCode::Rejection(kind)) => write!(f, "{kind:?}")?,
        }
        if let Some(details) = &self.details {
            write!(f, ": {details}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

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

/// `text` cut to `max` characters; an empty text becomes `-` (the fields are required strings).
fn clamp_chars(text: &str, max: usize) -> String {
    let text = if text.is_empty() { "-" } else { text };
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

/// An error answer in the document's error body `shape`: `code`, the message, the details (in
/// their own field, or in the message's when the body has none), the request id; each field cut
/// to its `maxLength`. Logged: an internal cause or a 5xx at ERROR, a refusal at INFO.
pub fn error_response(
    shape: &ErrorBodyShape,
    code: ErrorCode,
    message: &str,
    details: Option<&str>,
    internal: Option<&str>,
) -> Response {
    let request_id = current_request_id().unwrap_or_else(new_request_id);
    // Named in each line: at INFO there is no span per request (see `request_id_layer`).
    let (method, path) = REQUEST
        .try_with(|request| (request.method.to_string(), request.uri.path().to_string()))
        .unwrap_or_default();
    if let Some(cause) = internal {
        tracing::error!(%request_id, %method, %path, code = code.code, %cause, "internal error");
    } else if code.status >= 500 {
        tracing::error!(%request_id, %method, %path, code = code.code, %message, "server error");
    } else {
        tracing::info!(%request_id, %method, %path, code = code.code, status = code.status, %message, "request refused");
    }
    let mut body = serde_json::Map::new();
    let mut put = |field: &BodyField, text: &str| {
        body.insert(field.name.into(), clamp_chars(text, field.max_chars).into());
    };
    put(&shape.code, code.code);
    match (&shape.details, details) {
        (Some(field), Some(details)) => {
            put(&shape.message, message);
            put(field, details);
        }
        (None, Some(details)) => put(&shape.message, details),
        (_, None) => put(&shape.message, message),
    }
    put(&shape.request_id, &request_id);
    let status = StatusCode::from_u16(code.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = serde_json::to_vec(&serde_json::Value::Object(body)).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A streamed binary response with the given status and content type.
pub fn binary_response(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
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
/// request-id `header` (lower case) of every response (errors carry the same value in their body), and keeps
/// it (with the method and path) for the log lines written while serving the request.
///
/// The tracing span per request is at DEBUG: a span's fields are formatted when it is created,
/// whether anything is logged in it or not, which cost 5% of the CPU of a status poll
/// (BENCHMARKS.md, part 3). At INFO, the lines this layer writes name the request themselves.
pub async fn request_id_layer(
    header: &'static str,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
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
            .insert(HeaderName::from_static(header), value);
    }
    response
}

/// The refusal of a request whose path no operation has.
pub fn no_route() -> Refusal {
    Refusal::new(Rejection::NoRoute, "no such operation")
        .with_details("no operation of the document has this path")
}

/// The refusal of a request whose method no operation has on its path.
pub fn method_not_allowed() -> Refusal {
    Refusal::new(Rejection::MethodNotAllowed, "method not allowed")
        .with_details("the document declares no operation with this method on this path")
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
            Credential::Key(key) => {
                write!(f, "Credential::Key(<{} characters>)", key.chars().count())
            }
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
pub enum Presented {
    /// An API key, not yet checked by the implementation.
    Key(Credential),
    /// An `Authorization` header claiming the signature scheme, parsed, not yet verified.
    Signature(sign::Authorization),
}

fn bad_signature(error: sign::SignError) -> Refusal {
    Refusal::meaning(Rejection::BadSignature).with_details(error.to_string())
}

/// Reads the credential of an operation that may be signed: an `Authorization` header that
/// claims the signature scheme is parsed (malformed: the bad-signature code), else the API key
/// of `key` (header, min and max length) if the operation accepts one.
pub fn present_credential(
    headers: &HeaderMap,
    key: Option<(&'static str, usize, usize)>,
) -> Result<Presented, Refusal> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION)
        && sign::Authorization::claims(value.as_bytes())
    {
        let text = value
            .to_str()
            .map_err(|_| bad_signature(sign::SignError::Malformed("not visible ASCII")))?;
        return sign::Authorization::parse(text)
            .map(Presented::Signature)
            .map_err(bad_signature);
    }
    let missing = |header: &str| {
        Refusal::new(Rejection::MissingCredential, "no credential in the request").with_details(
            format!(
                "no {header} header and no SDK-HMAC-SHA256 Authorization header (AK/SK signature)"
            ),
        )
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
pub fn authenticate<K: SigningKeys>(
    keys: &K,
    parts: &axum::http::request::Parts,
    presented: Presented,
    payload: sign::Payload<'_>,
    max_skew_seconds: i64,
) -> Result<Credential, Refusal> {
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
    sign::verify_now(&request, payload, &authorization, &secret, max_skew_seconds)
        .map_err(bad_signature)?;
    Ok(Credential::Signed {
        access_key: authorization.access_key,
    })
}

/// What every operation receives besides its own inputs.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id (also in the response header and error bodies).
    pub request_id: String,
}

impl RequestContext {
    /// The context of the request being served.
    pub fn current() -> Self {
        RequestContext {
            request_id: current_request_id().unwrap_or_else(new_request_id),
        }
    }
}

/// The API key in header `name`: missing or shorter than `min` characters is a missing credential,
/// longer than `max` or not visible ASCII an invalid parameter.
pub fn extract_api_key(
    headers: &HeaderMap,
    name: &'static str,
    min: usize,
    max: usize,
) -> Result<Credential, Refusal> {
    let missing = || {
        Refusal::new(Rejection::MissingCredential, "no token in the request")
            .with_details(format!("the {name} header is missing or empty"))
    };
    let Some(value) = headers.get(name) else {
        return Err(missing());
    };
    let value = value
        .to_str()
        .map_err(|_| Refusal::invalid_parameter(name, "not visible ASCII"))?;
    let count = value.chars().count();
    if count == 0 || count < min {
        return Err(missing());
    }
    if count > max {
        return Err(Refusal::invalid_parameter(
            name,
            format!("longer than {max} characters"),
        ));
    }
    Ok(Credential::Key(value.to_string()))
}

/// Where a value sits in a request, for error messages: `apps[3].id`, `query prefix`...
/// Built on the stack; only formatted when a check fails.
#[derive(Clone, Copy)]
pub enum Loc<'a> {
    /// A named value (`""`: the JSON body itself).
    Root(&'a str),
    /// A field of an object.
    Field(&'a Loc<'a>, &'a str),
    /// An item of an array.
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

/// The outcome of one check.
pub type Check = Result<(), Refusal>;

/// The invalid-parameter refusal of the value at `loc`.
pub fn fail(loc: &Loc<'_>, problem: impl fmt::Display) -> Check {
    Err(Refusal::invalid_parameter(loc, problem))
}

/// A string's length in characters against `minLength`/`maxLength`.
pub fn check_str_len(loc: &Loc<'_>, value: &str, min: Option<usize>, max: Option<usize>) -> Check {
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

/// A string against the document's `pattern`.
pub fn check_pattern(loc: &Loc<'_>, value: &str, regex: &regress::Regex, pattern: &str) -> Check {
    if regex.find(value).is_none() {
        return fail(loc, format!("does not match {pattern}"));
    }
    Ok(())
}

/// A file part's name against the document's `x-file-name` rule: refused with the rule's own
/// code (its meaning as the message), naming the part, the file name and the rule.
pub fn check_file_name(
    part: &str,
    file_name: Option<&str>,
    pattern: &Pattern,
    code: ErrorCode,
    rule: &str,
) -> Check {
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
    Err(Refusal::listed(code).with_details(problem))
}

/// A string against the document's `enum` values.
pub fn check_enum(loc: &Loc<'_>, value: &str, allowed: &[&str]) -> Check {
    if !allowed.contains(&value) {
        return fail(loc, format!("not one of {}", allowed.join(", ")));
    }
    Ok(())
}

/// A number against `minimum`/`maximum` (each with its `exclusive` flag).
pub fn check_number(
    loc: &Loc<'_>,
    value: f64,
    min: Option<(f64, bool)>,
    max: Option<(f64, bool)>,
) -> Check {
    if let Some((min, exclusive)) = min
        && (value < min || (exclusive && value == min))
    {
        return fail(
            loc,
            format!(
                "less than {}{min}",
                if exclusive { "or equal to " } else { "" }
            ),
        );
    }
    if let Some((max, exclusive)) = max
        && (value > max || (exclusive && value == max))
    {
        return fail(
            loc,
            format!(
                "greater than {}{max}",
                if exclusive { "or equal to " } else { "" }
            ),
        );
    }
    Ok(())
}

/// An array's length against `minItems`/`maxItems`.
pub fn check_items(loc: &Loc<'_>, len: usize, min: Option<usize>, max: Option<usize>) -> Check {
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
pub struct Shape {
    /// What kind of value, with its constraints.
    pub kind: ShapeKind,
    /// `nullable: true`: `null` is accepted too.
    pub nullable: bool,
    /// What the Rust type's own deserializer enforces of this schema (see [`parse_json`]).
    pub typed: Typed,
}

/// How far the Rust type of a schema enforces by itself what the schema says, apart from
/// refusing `null` for an optional property (decided by the generator, conservatively).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    /// Not (or not known to): every value is checked.
    No,
    /// All of it, this value and those below it.
    Whole,
    /// All of it, provided the value is read as a JSON object: a derived struct would also take
    /// an array of its fields in order.
    AsMap,
}

/// The kinds of value a [`Shape`] allows, with the constraints the document gives each.
pub enum ShapeKind {
    /// No constraint (a schema without a type).
    Any,
    /// A string.
    String {
        /// `minLength`.
        min: Option<usize>,
        /// `maxLength`.
        max: Option<usize>,
        /// `pattern`.
        pattern: Option<&'static Pattern>,
        /// The `enum` values; empty: any string.
        allowed: &'static [&'static str],
    },
    /// A number (`integer`: a whole one).
    Number {
        /// `type: integer`.
        integer: bool,
        /// `minimum`, and whether it is exclusive.
        min: Option<(f64, bool)>,
        /// `maximum`, and whether it is exclusive.
        max: Option<(f64, bool)>,
    },
    /// A boolean.
    Boolean,
    /// An object.
    Object {
        /// At most 64 names (the generator refuses more).
        required: &'static [&'static str],
        /// The documented properties and their shapes.
        properties: &'static [(&'static str, &'static Shape)],
        /// `additionalProperties: false`.
        closed: bool,
        /// `x-max-combined-items`: these array properties together hold at most this many items.
        combined: Option<(&'static [&'static str], usize)>,
    },
    /// An array.
    Array {
        /// `minItems`.
        min: Option<usize>,
        /// `maxItems`.
        max: Option<usize>,
        /// The items' shape, if the document gives one.
        items: Option<&'static Shape>,
    },
    /// `anyOf`, or `oneOf` checked as `anyOf`: what at least one of these shapes allows. The
    /// value is read whole (a `serde_json::Value`: the one place the checker buffers, as serde
    /// does for the untagged or internally tagged enum the value becomes), checked against each
    /// alternative in turn (skipping those whose tag it contradicts; within a budget of visits
    /// linear in the body, [`UNION_VISITS_PER_VALUE`]), then handed to the Rust type. `oneOf`'s
    /// "exactly one" is not checked: formats (`uuid`, `ip`, `date-time`...) are left to the Rust
    /// type, so two alternatives that differ only by a format would both match a value; the
    /// Rust type (the generated enum) then decides which variant it is, and refuses a value none
    /// can hold.
    AnyOf(&'static [&'static Shape]),
}

/// A `pattern` of the document, compiled on first use.
pub struct Pattern {
    /// The pattern as the document writes it (for messages).
    pub source: &'static str,
    /// The compiled pattern (the generator checked that it compiles).
    pub regex: std::sync::LazyLock<regress::Regex>,
}

/// How many values the checks of a body's unions may visit, per value of the body (per byte,
/// as a body is read: no body holds more values than bytes), above [`UNION_VISITS_FLOOR`]. Each
/// alternative of a union is checked in turn, so nested unions, checked naively, could cost time
/// exponential in their depth; with alternatives told apart by a tag (see [`tag_mismatch`]) a
/// body costs a few visits per value, and past this budget it is refused instead.
pub const UNION_VISITS_PER_VALUE: usize = 8;

/// The visits a body's unions may always make, however short the body.
pub const UNION_VISITS_FLOOR: usize = 10_000;

/// A JSON value already read, against `shape`: what [`parse_json`] checks, refused with the same
/// details, walking the value (a union's value, a parameter's text). The visits of its unions are
/// budgeted by its size ([`UNION_VISITS_PER_VALUE`]).
pub fn check_value(loc: &Loc<'_>, value: &serde_json::Value, shape: &'static Shape) -> Check {
    let mut values = 0usize;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        values += 1;
        match value {
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    let budget = std::cell::Cell::new(UNION_VISITS_FLOOR + UNION_VISITS_PER_VALUE * values);
    walk(loc, value, shape, &budget)
}

/// The refusal of a value of another JSON type than `kind`'s (none for `Any`).
fn wrong_type(loc: &Loc<'_>, kind: &ShapeKind) -> Check {
    let problem = match kind {
        ShapeKind::Any => return Ok(()),
        ShapeKind::String { .. } => "must be a string",
        ShapeKind::Number { integer: true, .. } => "must be an integer",
        ShapeKind::Number { .. } => "must be a number",
        ShapeKind::Boolean => "must be a boolean",
        ShapeKind::Object { .. } => "must be an object",
        ShapeKind::Array { .. } => "must be an array",
        // A union's value is checked against its alternatives, whatever its type.
        ShapeKind::AnyOf(_) => "matches none of its alternatives",
    };
    fail(loc, problem)
}

/// A number (`integral`: a whole one) against `kind`.
fn check_number_kind(loc: &Loc<'_>, kind: &ShapeKind, value: f64, integral: bool) -> Check {
    match kind {
        ShapeKind::Number { integer, min, max } => {
            if *integer && !integral {
                return fail(loc, "must be an integer");
            }
            check_number(loc, value, *min, *max)
        }
        other => wrong_type(loc, other),
    }
}

/// A string against `kind`: its length, pattern and `enum` values, in that order.
fn check_string_kind(loc: &Loc<'_>, kind: &ShapeKind, value: &str) -> Check {
    let ShapeKind::String {
        min,
        max,
        pattern,
        allowed,
    } = kind
    else {
        return wrong_type(loc, kind);
    };
    check_str_len(loc, value, *min, *max)?;
    if let Some(pattern) = pattern {
        check_pattern(loc, value, &pattern.regex, pattern.source)?;
    }
    if !allowed.is_empty() {
        check_enum(loc, value, allowed)?;
    }
    Ok(())
}

/// [`check_value`]'s walk, in the value's order, as [`parse_json`] reads a body: an object's
/// unknown names when met, its missing required names and combined item counts at its end; an
/// array's items, then its count. Each value visited spends one of `budget`.
fn walk(
    loc: &Loc<'_>,
    value: &serde_json::Value,
    shape: &'static Shape,
    budget: &std::cell::Cell<usize>,
) -> Check {
    use serde_json::Value;
    let Some(left) = budget.get().checked_sub(1) else {
        return fail(
            loc,
            "takes too long to check against the alternatives of its unions",
        );
    };
    budget.set(left);
    match (&shape.kind, value) {
        (ShapeKind::Any, _) => Ok(()),
        (_, Value::Null) if shape.nullable => Ok(()),
        (ShapeKind::AnyOf(alternatives), _) => check_any_of(loc, value, alternatives, budget),
        (kind, Value::String(text)) => check_string_kind(loc, kind, text),
        (kind, Value::Number(number)) => {
            let (number, integral) = match (number.as_i64(), number.as_u64(), number.as_f64()) {
                (Some(whole), _, _) => (whole as f64, true),
                (_, Some(whole), _) => (whole as f64, true),
                (_, _, Some(float)) => (float, float.fract() == 0.0),
                _ => return wrong_type(loc, kind),
            };
            check_number_kind(loc, kind, number, integral)
        }
        (ShapeKind::Boolean, Value::Bool(_)) => Ok(()),
        (ShapeKind::Array { min, max, items }, Value::Array(list)) => {
            for (index, item) in list.iter().enumerate() {
                if let Some(items) = items {
                    walk(&Loc::Index(loc, index), item, items, budget)?;
                }
                // As the body is read: the item past the maximum is checked, then the count.
                if max.is_some_and(|max| index + 1 > max) {
                    return check_items(loc, list.len(), None, *max);
                }
            }
            check_items(loc, list.len(), *min, None)
        }
        (
            ShapeKind::Object {
                required,
                properties,
                closed,
                combined,
            },
            Value::Object(map),
        ) => {
            for (name, value) in map {
                match properties.iter().find(|(property, _)| property == name) {
                    Some((property, shape)) => {
                        walk(&Loc::Field(loc, property), value, shape, budget)?
                    }
                    None if *closed => {
                        return fail(&Loc::Field(loc, name), "is not a field of this object");
                    }
                    None => {}
                }
            }
            if let Some(missing) = required.iter().find(|name| !map.contains_key(**name)) {
                return fail(&Loc::Field(loc, missing), "is required");
            }
            if let Some((names, max)) = combined {
                let total: usize = names
                    .iter()
                    .filter_map(|name| map.get(*name).and_then(Value::as_array).map(Vec::len))
                    .sum();
                if total > *max {
                    let problem = format!(
                        "{} together hold more than {max} items ({total})",
                        names.join(" + ")
                    );
                    return fail(loc, problem);
                }
            }
            Ok(())
        }
        (kind, _) => wrong_type(loc, kind),
    }
}

/// A value against the alternatives of a [`ShapeKind::AnyOf`]: accepted by the first that
/// allows it. An alternative whose tag the value contradicts is not walked ([`tag_mismatch`]).
/// A refusal says what the alternatives found wrong, each problem once: those whose tag the
/// value gives, when there are such (the value says which one it means), else all of them; a
/// single alternative's refusal is said as it is.
fn check_any_of(
    loc: &Loc<'_>,
    value: &serde_json::Value,
    alternatives: &[&'static Shape],
    budget: &std::cell::Cell<usize>,
) -> Check {
    let mut tagged_problems = Vec::new();
    let mut other_problems = Vec::new();
    for shape in alternatives {
        let (outcome, problems) = match tag_mismatch(loc, value, shape) {
            Some(refusal) => (Err(refusal), &mut other_problems),
            None => (walk(loc, value, shape, budget), &mut tagged_problems),
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(refusal) if alternatives.len() == 1 => return Err(refusal),
            Err(refusal) => {
                let problem = refusal.details.unwrap_or_default();
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
    }
    let problems = if tagged_problems.is_empty() {
        other_problems
    } else {
        tagged_problems
    };
    fail(
        loc,
        format!(
            "matches none of its {} alternatives ({})",
            alternatives.len(),
            problems.join("; ")
        ),
    )
}

/// The refusal of an object alternative by its tag, before anything else of it is walked: a
/// property whose shape is a string `enum` (a tagged union's `type: {enum: [blank]}`) that the
/// value gives another string. This is what serde's tagged enums decide on too, and what keeps
/// nested tagged unions from walking every alternative at every depth.
fn tag_mismatch(loc: &Loc<'_>, value: &serde_json::Value, shape: &Shape) -> Option<Refusal> {
    let (ShapeKind::Object { properties, .. }, serde_json::Value::Object(map)) =
        (&shape.kind, value)
    else {
        return None;
    };
    properties.iter().find_map(|(name, property)| {
        let ShapeKind::String { allowed, .. } = &property.kind else {
            return None;
        };
        let given = map.get(*name)?.as_str()?;
        if allowed.is_empty() || allowed.contains(&given) {
            return None;
        }
        check_enum(&Loc::Field(loc, name), given, allowed).err()
    })
}

/// A parameter's text against `shape` (a string's, or a union of strings'), as a JSON string.
pub fn check_text(loc: &Loc<'_>, raw: &str, shape: &'static Shape) -> Check {
    check_value(loc, &serde_json::Value::String(raw.to_string()), shape)
}

/// A parameter's text as the document's type `T`, read as `T` reads a JSON string (the
/// generated union of strings, whatever conversions its generator gave it).
pub fn from_text<T: serde::de::DeserializeOwned>(loc: &Loc<'_>, raw: &str) -> Result<T, Refusal> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(raw))
        .map_err(|e| Refusal::invalid_parameter(loc, e))
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
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    shape: &'static Shape,
) -> Result<T, Refusal> {
    if memchr::memmem::find(bytes, b"null").is_none()
        && let Ok(value) = parse_json_pass(bytes, shape, true)
    {
        return Ok(value);
    }
    parse_json_pass(bytes, shape, false)
}

/// One pass of [`parse_json`]; `quick`: skip the checks of typed subtrees.
fn parse_json_pass<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    shape: &'static Shape,
    quick: bool,
) -> Result<T, Refusal> {
    let pass = Pass {
        refused: Default::default(),
        quick,
        union_visits: std::cell::Cell::new(
            UNION_VISITS_FLOOR + UNION_VISITS_PER_VALUE * bytes.len(),
        ),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let root = Loc::Root("");
    let parsed = if pass.skips(shape) {
        T::deserialize(&mut de)
    } else {
        T::deserialize(Checked {
            inner: &mut de,
            shape,
            loc: &root,
            pass: &pass,
            len: None,
        })
    };
    let parsed = parsed.and_then(|value| de.end().map(|()| value));
    // A refusal wins even if the type's own deserializer went on and succeeded; but a body that
    // is not JSON at all (e.g. bytes after a complete value, which the checks stop short of) is
    // refused as malformed, whichever check failed first. Only refusals pay for the second look.
    if let Some(refused) = pass.refused.into_inner() {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return Err(Refusal::invalid_parameter(
                "body",
                format!("malformed JSON: {e}"),
            ));
        }
        return Err(refused);
    }
    parsed.map_err(|e| {
        if e.is_data() {
            Refusal::invalid_parameter("body", e)
        } else {
            Refusal::invalid_parameter("body", format!("malformed JSON: {e}"))
        }
    })
}

/// The state of one pass of [`parse_json`].
struct Pass {
    /// Where a refusal found while deserializing waits: serde's error type cannot carry it.
    refused: std::cell::RefCell<Option<Refusal>>,
    /// Typed subtrees ([`Shape::typed`]) are deserialized without the checks.
    quick: bool,
    /// What is left of the body's budget of union visits ([`UNION_VISITS_PER_VALUE`]).
    union_visits: std::cell::Cell<usize>,
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
fn refuse<E: serde::de::Error>(pass: &Pass, error: Refusal) -> E {
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
    /// A value of a [`ShapeKind::AnyOf`] shape: read whole, checked against each alternative
    /// (`null` passes when the shape is nullable), then handed to `read`, unchecked.
    fn any_of<'de, T>(
        self,
        alternatives: &'static [&'static Shape],
        read: impl FnOnce(serde_json::Value) -> Result<T, serde_json::Error>,
    ) -> Result<T, D::Error>
    where
        D: serde::Deserializer<'de>,
    {
        let value = <serde_json::Value as serde::Deserialize>::deserialize(self.inner)?;
        if let (Some(len), serde_json::Value::Array(items)) = (self.len, &value) {
            len.set(items.len());
        }
        if !(value.is_null() && self.shape.nullable) {
            check_any_of(self.loc, &value, alternatives, &self.pass.union_visits)
                .map_err(|e| refuse::<D::Error>(self.pass, e))?;
        }
        read(value).map_err(<D::Error as serde::de::Error>::custom)
    }

    fn visitor<V>(&self, inner: V, as_enum: bool) -> CheckedVisitor<'l, V> {
        CheckedVisitor {
            inner,
            shape: self.shape,
            loc: self.loc,
            pass: self.pass,
            len: self.len,
            as_enum,
        }
    }
}

/// `deserialize_*` methods that look at whatever value comes: through `deserialize_any`.
macro_rules! checked_by_type {
    ($de:lifetime, $d:ident; $($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: serde::de::Visitor<$de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, $d::Error> {
                if let ShapeKind::AnyOf(alternatives) = self.shape.kind {
                    return self.any_of(alternatives, |value| value.$method($($arg,)* visitor));
                }
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
                if let ShapeKind::AnyOf(alternatives) = self.shape.kind {
                    return self.any_of(alternatives, |value| value.$method($($arg,)* visitor));
                }
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
            ShapeKind::AnyOf(alternatives) => self.any_of(alternatives, |value| {
                value.deserialize_enum(name, variants, visitor)
            }),
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
        self.check(wrong_type(self.loc, &self.shape.kind))
    }

    fn number<E: serde::de::Error>(&self, value: f64, integral: bool) -> Result<(), E> {
        self.check(check_number_kind(
            self.loc,
            &self.shape.kind,
            value,
            integral,
        ))
    }

    fn string<E: serde::de::Error>(&self, value: &str) -> Result<(), E> {
        self.check(check_string_kind(self.loc, &self.shape.kind, value))
    }

    fn null<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.shape.nullable {
            Ok(())
        } else {
            self.wrong_type()
        }
    }

    fn deeper<D2>(&self, inner: D2) -> Checked<'l, D2> {
        Checked {
            inner,
            shape: self.shape,
            loc: self.loc,
            pass: self.pass,
            len: self.len,
        }
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
            return self
                .inner
                .visit_enum(serde::de::value::StrDeserializer::new(value));
        }
        self.inner.visit_str(value)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, value: &'de str) -> Result<V::Value, E> {
        self.string(value)?;
        if self.as_enum {
            return self
                .inner
                .visit_enum(serde::de::value::BorrowedStrDeserializer::new(value));
        }
        self.inner.visit_borrowed_str(value)
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<V::Value, E> {
        self.string(&value)?;
        if self.as_enum {
            return self
                .inner
                .visit_enum(serde::de::value::StrDeserializer::new(&value));
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

    fn visit_some<D2: serde::Deserializer<'de>>(
        self,
        deserializer: D2,
    ) -> Result<V::Value, D2::Error> {
        let checked = self.deeper(deserializer);
        self.inner.visit_some(checked)
    }

    fn visit_newtype_struct<D2: serde::Deserializer<'de>>(
        self,
        deserializer: D2,
    ) -> Result<V::Value, D2::Error> {
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
        let ShapeKind::Object {
            required,
            properties,
            closed,
            combined,
        } = &self.shape.kind
        else {
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

impl<'de, S: serde::de::DeserializeSeed<'de>> serde::de::DeserializeSeed<'de>
    for CheckedSeed<'_, S>
{
    type Value = S::Value;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<S::Value, D::Error> {
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

    fn next_element_seed<T: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let loc = Loc::Index(self.loc, self.len);
        let next = match self.items {
            Some(shape) if !self.pass.skips(shape) => {
                self.inner.next_element_seed(CheckedSeed {
                    seed,
                    shape,
                    loc: &loc,
                    pass: self.pass,
                    len: None,
                })?
            }
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
            while self
                .inner
                .next_element::<serde::de::IgnoredAny>()?
                .is_some()
            {
                self.len += 1;
            }
            if let Some(len) = self.len_out {
                len.set(self.len);
            }
            let e = check_items(self.loc, self.len, None, Some(max))
                .err()
                .unwrap_or_else(|| Refusal::internal("item count"));
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

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // The key is read here, then handed to the type's own key deserializer as a string.
        let Some(key) = self.inner.next_key_seed(KeySeed)? else {
            let missing = self
                .required
                .iter()
                .enumerate()
                .find(|(index, _)| self.required_seen & (1 << index) == 0);
            if let Some((_, name)) = missing {
                return Err(refuse(
                    self.pass,
                    Refusal::invalid_parameter(Loc::Field(self.loc, name), "is required"),
                ));
            }
            if let Some((names, max)) = self.combined
                && self.combined_total > max
            {
                let problem = format!(
                    "{} together hold more than {max} items ({})",
                    names.join(" + "),
                    self.combined_total
                );
                return Err(refuse(
                    self.pass,
                    Refusal::invalid_parameter(self.loc, problem),
                ));
            }
            return Ok(None);
        };
        let name = key.as_str();
        if let Some(index) = self.required.iter().position(|required| *required == name) {
            self.required_seen |= 1 << index;
        }
        self.current = self
            .properties
            .iter()
            .position(|(property, _)| *property == name);
        if self.current.is_none() && self.closed {
            let e = Refusal::invalid_parameter(
                Loc::Field(self.loc, name),
                "is not a field of this object",
            );
            return Err(refuse(self.pass, e));
        }
        let value = match key {
            Key::Borrowed(key) => seed.deserialize(serde::de::value::BorrowedStrDeserializer::<
                A::Error,
            >::new(key)),
            Key::Owned(key) => {
                seed.deserialize(serde::de::value::StringDeserializer::<A::Error>::new(key))
            }
        };
        value.map(Some)
    }

    fn next_value_seed<S: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        let Some(index) = self.current.take() else {
            return self.inner.next_value_seed(seed);
        };
        let (name, shape) = self.properties[index];
        let loc = Loc::Field(self.loc, name);
        let counted = self
            .combined
            .is_some_and(|(names, _)| names.contains(&name));
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

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Key<'de>, D::Error> {
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
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// Reads the route's path parameters (an invalid-parameter refusal when they do not decode).
    pub async fn extract(parts: &mut axum::http::request::Parts) -> Result<Self, Refusal> {
        use axum::extract::FromRequestParts;
        axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, &())
            .await
            .map(|axum::extract::Path(pairs)| PathParams(pairs))
            .map_err(|e| Refusal::invalid_parameter("path", e.body_text()))
    }

    /// The value of path parameter `name` (the route declares it; its absence is a server fault).
    pub fn get(&self, name: &'static str) -> Result<&str, Refusal> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| Refusal::internal(format!("route has no path parameter {name}")))
    }
}

/// Raw query parameters: the first value of a name ([`QueryParams::get`]), or all of them
/// ([`QueryParams::all`], for an array).
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// The query's pairs, percent-decoded.
    pub fn parse(parts: &axum::http::request::Parts) -> Self {
        let query = parts.uri.query().unwrap_or("");
        QueryParams(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order: an array parameter as the query writes it by default
    /// (style `form`, exploded: `id=a&id=b`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// The value of header `name`, if present (not visible ASCII: an invalid parameter).
pub fn header_param<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, Refusal> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Refusal::invalid_parameter(name, "not visible ASCII"))
        })
        .transpose()
}

/// A required array parameter's values (none: an invalid parameter).
pub fn required_values<'v>(loc: &Loc<'_>, values: Vec<&'v str>) -> Result<Vec<&'v str>, Refusal> {
    if values.is_empty() {
        return Err(Refusal::invalid_parameter(loc, "is required"));
    }
    Ok(values)
}

/// A required parameter's value (absent: an invalid parameter).
pub fn required_param<'v>(loc: &Loc<'_>, value: Option<&'v str>) -> Result<&'v str, Refusal> {
    value.ok_or_else(|| Refusal::invalid_parameter(loc, "is required"))
}

/// A parameter's value parsed as `T` (`what` names the type in the refusal).
pub fn parse_param<T: std::str::FromStr>(loc: &Loc<'_>, raw: &str, what: &str) -> Result<T, Refusal>
where
    T::Err: fmt::Display,
{
    raw.parse::<T>()
        .map_err(|e| Refusal::invalid_parameter(loc, format!("not {what}: {e}")))
}

/// The request's media type (`Content-Type` without parameters, lower case).
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// The refusal of a body over `limit` bytes.
pub fn too_large(limit: usize) -> Refusal {
    Refusal::new(Rejection::PayloadTooLarge, "request body too large")
        .with_details(format!("the request body is larger than {limit} bytes"))
}

/// Refuses a body that declares (`Content-Length`) more than `limit` bytes, before reading it.
pub fn check_declared_length(headers: &HeaderMap, limit: usize) -> Check {
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
pub async fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    shape: &'static Shape,
) -> Result<Option<T>, Refusal> {
    let bytes = read_body(headers, body, limit).await?;
    json_from_bytes(headers, bytes, shape)
}

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Refusal> {
    check_declared_length(headers, limit)?;
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_long = std::error::Error::source(&e)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_long {
            too_large(limit)
        } else {
            Refusal::invalid_parameter("body", format!("could not be read: {e}"))
        }
    })
}

/// A JSON body already read: `None` when empty, else checked against `shape` and deserialized.
pub fn json_from_bytes<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    bytes: Bytes,
    shape: &'static Shape,
) -> Result<Option<T>, Refusal> {
    if bytes.is_empty() {
        return Ok(None);
    }
    match media_type(headers).as_deref() {
        Some("application/json") => {}
        Some(other) if other.ends_with("+json") => {}
        other => {
            return Err(Refusal::invalid_parameter(
                "Content-Type",
                format!(
                    "must be application/json, not {}",
                    other.unwrap_or("absent")
                ),
            ));
        }
    }
    parse_json(&bytes, shape).map(Some)
}

/// A raw request body, streamed to the handler: refused at once when it declares more than
/// `limit` bytes, and cut with an error (the handler's read fails) past them.
pub fn limited_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Body, Refusal> {
    check_declared_length(headers, limit)?;
    Ok(Body::new(http_body_util::Limited::new(body, limit)))
}

/// An `application/x-www-form-urlencoded` body already read, as the typed value of `shape` (an
/// object): each pair is a property, typed as its schema says (a number, a boolean, or a string;
/// a repeated name fills an array), then checked and read as a JSON body is. `None` when empty.
pub fn form_from_bytes<T: serde::de::DeserializeOwned>(
    bytes: Bytes,
    shape: &'static Shape,
) -> Result<Option<T>, Refusal> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let ShapeKind::Object { properties, .. } = &shape.kind else {
        return Err(Refusal::invalid_parameter(
            "body",
            "a form body must be an object",
        ));
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
        let kind = properties
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| &s.kind);
        match kind {
            Some(ShapeKind::Array { items, .. }) => {
                let item = typed(items.map(|s| &s.kind), value.into_owned());
                let list = object
                    .entry(name.into_owned())
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                if let serde_json::Value::Array(list) = list {
                    list.push(item);
                }
            }
            _ => {
                object.insert(name.into_owned(), typed(kind, value.into_owned()));
            }
        }
    }
    let json = serde_json::to_vec(&serde_json::Value::Object(object)).map_err(Refusal::internal)?;
    parse_json(&json, shape).map(Some)
}

/// A `text/plain` body already read: `None` when empty, else its text (UTF-8 or refused).
pub fn text_from_bytes(bytes: Bytes) -> Result<Option<String>, Refusal> {
    if bytes.is_empty() {
        return Ok(None);
    }
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| Refusal::invalid_parameter("body", "not UTF-8 text"))
}

/// The refusal of a required body that is absent (`what` names it).
pub fn missing_body(what: &str) -> Refusal {
    Refusal::new(Rejection::MissingBody, "no request body")
        .with_details(format!("{what} is required"))
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
            FilePartError::TooLarge(limit) => {
                write!(f, "the request body is larger than {limit} bytes")
            }
            FilePartError::Malformed(why) => write!(f, "malformed upload: {why}"),
        }
    }
}

impl std::error::Error for FilePartError {}

impl From<FilePartError> for Refusal {
    fn from(e: FilePartError) -> Self {
        match e {
            FilePartError::TooLarge(limit) => too_large(limit),
            FilePartError::Malformed(why) => Refusal::invalid_parameter("body", why),
        }
    }
}

/// A file part of a multipart request, handed to the operation as a stream: nothing is buffered
/// beyond what the HTTP stack holds. Reading it past the operation's body limit yields
/// [`FilePartError::TooLarge`]; turn errors into the reply with `Refusal::from`.
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
                    multer::Error::StreamSizeExceeded { .. }
                    | multer::Error::FieldSizeExceeded { .. } => FilePartError::TooLarge(limit),
                    other => FilePartError::Malformed(other.to_string()),
                })
            })
        })
    }
}

/// A multipart request being read part by part: text parts are buffered (small, capped), the
/// file part is handed on as a [`FilePart`] stream.
pub struct MultipartReader {
    inner: multer::Multipart<'static>,
    limit: usize,
}

/// Text parts of a multipart body are capped at this size; they are form fields, not files.
pub const MAX_TEXT_PART_BYTES: usize = 64 * 1024;

/// The next part [`MultipartReader::next`] found.
pub enum NextPart {
    /// A text part: its name and text.
    Text(String, String),
    /// A file part, streamed.
    File(Box<FilePart>),
    /// No more parts.
    End,
}

impl MultipartReader {
    /// A reader of the body, refused at once if it declares more than `limit` bytes or is not
    /// `multipart/form-data` with a boundary.
    pub fn new(headers: &HeaderMap, body: Body, limit: usize) -> Result<Self, Refusal> {
        check_declared_length(headers, limit)?;
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let boundary = multer::parse_boundary(content_type).map_err(|_| {
            if content_type.is_empty() {
                missing_body("a multipart/form-data body")
            } else {
                Refusal::invalid_parameter(
                    "Content-Type",
                    "must be multipart/form-data with a boundary",
                )
            }
        })?;
        let constraints = multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().whole_stream(limit as u64));
        let inner =
            multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
        Ok(MultipartReader { inner, limit })
    }

    /// The next part the document names: a file part of `file_parts` (streamed), a text part
    /// of `text_parts` (read whole), or the end. Other parts, text or binary, are skipped unread
    /// (within the body limit): a body with a stray part is read as if it were not there.
    pub async fn next(
        &mut self,
        file_parts: &[&str],
        text_parts: &[&str],
    ) -> Result<NextPart, Refusal> {
        let limit = self.limit;
        let map = move |e: multer::Error| -> Refusal {
            match e {
                multer::Error::StreamSizeExceeded { .. }
                | multer::Error::FieldSizeExceeded { .. } => too_large(limit),
                other => {
                    Refusal::invalid_parameter("body", format!("malformed multipart body: {other}"))
                }
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
            return Ok(NextPart::File(Box::new(FilePart {
                file_name,
                content_type,
                field,
                limit,
            })));
        }
        let mut field = field;
        let mut text = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(map)? {
            if text.len() + chunk.len() > MAX_TEXT_PART_BYTES {
                return Err(Refusal::invalid_parameter(
                    &name,
                    format!("text part larger than {MAX_TEXT_PART_BYTES} bytes"),
                ));
            }
            text.extend_from_slice(&chunk);
        }
        let text =
            String::from_utf8(text).map_err(|_| Refusal::invalid_parameter(&name, "not UTF-8"))?;
        Ok(NextPart::Text(name, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE_400: ErrorCode = ErrorCode {
        code: "E.400",
        status: 400,
        meaning: "bad input",
    };
    const CODE_401: ErrorCode = ErrorCode {
        code: "E.401",
        status: 401,
        meaning: "no key",
    };
    const CODE_SIG: ErrorCode = ErrorCode {
        code: "E.SIG",
        status: 401,
        meaning: "bad signature",
    };
    const CODE_500: ErrorCode = ErrorCode {
        code: "E.500",
        status: 500,
        meaning: "oops",
    };
    const CODE_OTHER: ErrorCode = ErrorCode {
        code: "E.OTHER",
        status: 404,
        meaning: "other",
    };

    const REJECT: Rejections = Rejections {
        missing_credential: CODE_401,
        invalid_parameter: CODE_400,
        missing_body: CODE_400,
        payload_too_large: CODE_OTHER,
        internal: CODE_500,
        no_route: CODE_OTHER,
        method_not_allowed: CODE_OTHER,
        bad_signature: CODE_SIG,
    };

    #[test]
    fn refusals_take_the_documents_codes_and_meanings() {
        let signature = Refusal::meaning(Rejection::BadSignature);
        assert_eq!(signature.code(&REJECT), CODE_SIG);
        assert_eq!(signature.message, None, "the code's meaning is the message");
        assert_eq!(Refusal::listed(CODE_OTHER).code(&REJECT), CODE_OTHER);
        let internal = Refusal::internal("disk on fire");
        assert_eq!(internal.code(&REJECT), CODE_500);
        assert_eq!(internal.internal.as_deref(), Some("disk on fire"));
        assert!(
            !internal.details.unwrap_or_default().contains("fire"),
            "the cause is never sent"
        );
    }

    #[test]
    fn api_keys_are_checked_for_presence_then_length() {
        let mut headers = HeaderMap::new();
        let kind = |r: Result<Credential, Refusal>| r.map(|_| ()).map_err(|e| e.code(&REJECT));
        assert_eq!(
            kind(extract_api_key(&headers, "x-key", 2, 4)),
            Err(CODE_401)
        );
        headers.insert("x-key", HeaderValue::from_static("a"));
        assert_eq!(
            kind(extract_api_key(&headers, "x-key", 2, 4)),
            Err(CODE_401),
            "too short"
        );
        headers.insert("x-key", HeaderValue::from_static("abcde"));
        assert_eq!(
            kind(extract_api_key(&headers, "x-key", 2, 4)),
            Err(CODE_400),
            "too long"
        );
        headers.insert("x-key", HeaderValue::from_static("abc"));
        assert_eq!(
            extract_api_key(&headers, "x-key", 2, 4).ok(),
            Some(Credential::Key("abc".into()))
        );
    }

    #[test]
    fn the_error_body_is_cut_to_the_documents_lengths() {
        static SHAPE: ErrorBodyShape = ErrorBodyShape {
            code: BodyField {
                name: "c",
                max_chars: 10,
            },
            message: BodyField {
                name: "m",
                max_chars: 5,
            },
            details: None,
            request_id: BodyField {
                name: "r",
                max_chars: 64,
            },
            request_id_header: "x-request-id",
        };
        let response = error_response(&SHAPE, CODE_400, "message", Some("détails longs"), None);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let body = runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1024))
            .expect("a small body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["c"], "E.400");
        // No details field: the details take the message's place, cut to its 5 characters.
        assert_eq!(body["m"], "détai");
        assert_eq!(
            body["r"].as_str().map(str::len),
            Some(32),
            "a fresh request id"
        );
    }

    #[test]
    fn a_query_gives_the_first_value_of_a_name_or_every_one() {
        let (parts, ()) = axum::http::Request::builder()
            .uri("/x?id=a&other=1&id=b%20c&id=")
            .body(())
            .expect("a request")
            .into_parts();
        let query = QueryParams::parse(&parts);
        assert_eq!(query.get("id"), Some("a"));
        assert_eq!(query.all("id"), ["a", "b c", ""]);
        assert!(query.all("none").is_empty());
        let loc = Loc::Root("none");
        let refusal = required_values(&loc, query.all("none")).expect_err("none given");
        assert_eq!(refusal.details.as_deref(), Some("none: is required"));
    }

    #[test]
    fn locations_print_as_a_path() {
        let root = Loc::Root("");
        let apps = Loc::Field(&root, "apps");
        let third = Loc::Index(&apps, 2);
        let id = Loc::Field(&third, "id");
        assert_eq!(id.to_string(), "apps[2].id");
        assert_eq!(root.to_string(), "body");
        assert_eq!(Loc::Root("query prefix").to_string(), "query prefix");
    }
}
