//! [`ClientError`]: what went wrong with a call, keeping everything the server said.
//!
//! The generated methods fail with `progenitor_client::Error<types::ErrorResp>`, whose variants
//! mirror the HTTP exchange. Callers mostly want to know *who* failed: the server refused (an
//! [`ApiFailure`] with the document's error body, status and request id), the server answered
//! something the document does not describe, or the network or a local file failed. This module
//! only converts and classifies; it must not retry or log.

use std::fmt;
use std::time::Duration;

use super::types;

/// The server refused a call with the document's error body (`ErrorResp`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiFailure {
    /// HTTP status of the answer.
    pub status: u16,
    /// Which failure exactly, e.g. `ROMA.1002` (see the document's `x-error-codes`).
    pub error_code: String,
    /// The server's message.
    pub error_msg: String,
    /// More about the failure, when the server gave it.
    pub error_details: Option<String>,
    /// The request id, to quote when asking the server's operators (body, else header).
    pub request_id: String,
}

impl ApiFailure {
    fn new(status: u16, body: types::ErrorResp) -> Self {
        ApiFailure {
            status,
            error_code: body.error_code.to_string(),
            error_msg: body.error_msg.to_string(),
            error_details: body.error_details.map(|d| d.to_string()),
            request_id: body.request_id.to_string(),
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code, self.error_msg)?;
        if let Some(details) = &self.error_details {
            write!(f, " ({details})")?;
        }
        write!(f, " [HTTP {}, request id {}]", self.status, self.request_id)
    }
}

/// Why a call through the client failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the call with the document's error body.
    #[error("{0}")]
    Api(ApiFailure),
    /// The server answered with a status the document does not list for the operation (a proxy's
    /// error page, for instance). The body is kept as text, cut to [`MAX_KEPT_BODY`] bytes.
    #[error("unexpected answer HTTP {status}{}: {body}", request_id_suffix(.request_id))]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The `X-Request-Id` header, if the answer had one.
        request_id: Option<String>,
        /// The body, as text.
        body: String,
    },
    /// The request was not sent or its answer not received: connection refused, timeout, reset.
    #[error("talking to the server: {}", chain(.0))]
    Transport(#[source] reqwest::Error),
    /// The server's answer does not match the document (a body that does not parse).
    #[error("the server's answer does not match the document: {0}")]
    InvalidResponse(String),
    /// Refused before sending: a value breaks the document's constraints, or a setting is wrong.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The job ended FAILED ([`InstanceClient::wait_for_success`](super::InstanceClient::wait_for_success)):
    /// its last status, whose `reasons` say why (one per asset that failed).
    #[error("job {} FAILED: {}", .0.id.as_str(), failed_reasons(.0))]
    JobFailed(Box<super::types::CheckAssetJobStatusResponse>),
    /// The job was still RUNNING when the wait's deadline passed. The job goes on.
    #[error("job {job_id} still RUNNING after {}s (it goes on; check it later)", .waited.as_secs())]
    Timeout {
        /// The job waited for.
        job_id: String,
        /// How long the wait lasted.
        waited: Duration,
    },
}

/// A FAILED job's reasons in one line: `ROMA.10040 orders (application): …; …`.
fn failed_reasons(status: &super::types::CheckAssetJobStatusResponse) -> String {
    if status.reasons.is_empty() {
        return "no reason given".to_string();
    }
    status
        .reasons
        .iter()
        .map(|r| {
            format!(
                "{} {} ({}): {}",
                r.error_code.as_str(),
                r.resource_name.as_str(),
                r.resource_type,
                r.error_msg.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// At most this many bytes of an unexpected answer's body are kept.
pub const MAX_KEPT_BODY: usize = 4096;

fn request_id_suffix(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) => format!(", request id {id}"),
        None => String::new(),
    }
}

/// `e` and its causes, joined with ": " (reqwest's own message leaves the cause out, and the
/// cause is what a user needs: "Connection refused", "operation timed out").
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

impl ClientError {
    /// Converts a generated method's error, reading the body of an undocumented answer (which
    /// the synchronous `From` cannot do). An undocumented answer whose body is nevertheless the
    /// document's error body (an unknown path's 404, say) becomes [`ClientError::Api`].
    pub async fn from_generated(error: progenitor_client::Error<types::ErrorResp>) -> Self {
        match error {
            progenitor_client::Error::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let request_id = response
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = match response.bytes().await {
                    Ok(bytes) => bytes,
                    Err(e) => return ClientError::Transport(e),
                };
                if let Ok(parsed) = serde_json::from_slice::<types::ErrorResp>(&body) {
                    return ClientError::Api(ApiFailure::new(status, parsed));
                }
                let kept = &body[..body.len().min(MAX_KEPT_BODY)];
                ClientError::Unexpected {
                    status,
                    request_id,
                    body: String::from_utf8_lossy(kept).into_owned(),
                }
            }
            other => other.into(),
        }
    }

    /// The server's refusal, if that is what this is.
    pub fn api(&self) -> Option<&ApiFailure> {
        match self {
            ClientError::Api(failure) => Some(failure),
            _ => None,
        }
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api(failure) => Some(failure.status),
            ClientError::Unexpected { status, .. } => Some(*status),
            ClientError::Transport(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// Whether the request certainly never reached the server: the connection could not be
    /// opened. Only then may a request that creates something be sent again.
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Transport(e) if e.is_connect())
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ClientError::Io {
            context: context.into(),
            source,
        }
    }
}

/// The synchronous conversion, for `?` on a generated method. It cannot read the body of an
/// undocumented answer: that becomes [`ClientError::Unexpected`] with an empty body. Use
/// [`ClientError::from_generated`] to keep the body.
impl From<progenitor_client::Error<types::ErrorResp>> for ClientError {
    fn from(error: progenitor_client::Error<types::ErrorResp>) -> Self {
        use progenitor_client::Error as E;
        match error {
            E::ErrorResponse(answer) => {
                let status = answer.status().as_u16();
                ClientError::Api(ApiFailure::new(status, answer.into_inner()))
            }
            E::UnexpectedResponse(response) => ClientError::Unexpected {
                status: response.status().as_u16(),
                request_id: response
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                body: String::new(),
            },
            E::CommunicationError(e) | E::ResponseBodyError(e) | E::InvalidUpgrade(e) => {
                ClientError::Transport(e)
            }
            E::InvalidResponsePayload(_, e) => ClientError::InvalidResponse(e.to_string()),
            E::InvalidRequest(message) | E::Custom(message) => ClientError::InvalidRequest(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(details: Option<&str>) -> ApiFailure {
        ApiFailure {
            status: 401,
            error_code: "ROMA.1002".into(),
            error_msg: "token not valid".into(),
            error_details: details.map(str::to_string),
            request_id: "abc123".into(),
        }
    }

    #[test]
    fn an_api_failure_displays_code_message_details_status_and_request_id() {
        assert_eq!(
            failure(Some("not a token of this server")).to_string(),
            "ROMA.1002: token not valid (not a token of this server) \
             [HTTP 401, request id abc123]"
        );
        assert_eq!(
            failure(None).to_string(),
            "ROMA.1002: token not valid [HTTP 401, request id abc123]"
        );
    }

    #[test]
    fn a_documented_error_answer_keeps_every_field() {
        let body: types::ErrorResp = serde_json::from_value(serde_json::json!({
            "error_code": "ROMA.10020",
            "error_msg": "no such asset job",
            "error_details": "job x does not exist",
            "request_id": "r-1",
        }))
        .unwrap();
        let generated =
            progenitor_client::Error::ErrorResponse(progenitor_client::ResponseValue::new(
                body,
                reqwest::StatusCode::NOT_FOUND,
                Default::default(),
            ));
        let error = ClientError::from(generated);
        assert_eq!(
            error.api(),
            Some(&ApiFailure {
                status: 404,
                error_code: "ROMA.10020".into(),
                error_msg: "no such asset job".into(),
                error_details: Some("job x does not exist".into()),
                request_id: "r-1".into(),
            })
        );
        assert_eq!(error.status(), Some(404));
        assert!(!error.is_connect());
    }
}
