// The generated server's glue, emitted verbatim ahead of the generated items. Everything generic
// is compiled once in `roma_assets_runtime::server`; what is here depends on the document only
// through `ERROR_BODY` and `REJECT`, generated beside it: the error type, which gives a refusal of
// the runtime the document's code and error body, and the router's shared state.

use std::fmt;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[allow(unused_imports)]
use super::contract::{codes, types};
#[allow(unused_imports)]
use roma_assets_runtime::server::*;
#[allow(unused_imports)]
use roma_assets_runtime::sign;

#[allow(unused_imports)]
pub use roma_assets_runtime::ErrorCode;
#[allow(unused_imports)]
pub use roma_assets_runtime::server::{
    Credential, FilePart, FilePartError, RequestContext, SigningKeys, binary_response,
    current_request_id,
};

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
        Refusal::internal(cause).into()
    }

    /// A 400 naming the parameter or field that broke the document's constraints.
    pub fn invalid_parameter(field: impl fmt::Display, problem: impl fmt::Display) -> Self {
        Refusal::invalid_parameter(field, problem).into()
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&ERROR_BODY, self.code, &self.message, self.details.as_deref(), self.internal.as_deref())
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let code = refusal.code(&REJECT);
        ApiError {
            code,
            message: refusal.message.unwrap_or_else(|| code.meaning.to_string()),
            details: refusal.details,
            internal: refusal.internal,
        }
    }
}

impl From<FilePartError> for ApiError {
    fn from(e: FilePartError) -> Self {
        Refusal::from(e).into()
    }
}

/// A JSON response with the given status.
pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => ApiError::internal(format!("serializing a response: {e}")).into_response(),
    }
}

/// The router's outermost layer: the runtime's, with the document's request-id header.
async fn request_id(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    request_id_layer(ERROR_BODY.request_id_header, request, next).await
}

async fn answer_no_route() -> Response {
    ApiError::from(no_route()).into_response()
}

async fn answer_method_not_allowed() -> Response {
    ApiError::from(method_not_allowed()).into_response()
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
