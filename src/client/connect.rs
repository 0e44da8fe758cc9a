//! [`ClientBuilder`]: a generated [`Client`] for an endpoint and a token or an AK/SK pair, with
//! timeouts that suit large uploads and downloads.
//!
//! progenitor's `Client::new` sets a 15-second *total* timeout, which cuts off any transfer that
//! takes longer. This builder sets a connect timeout and a read timeout (the longest silence
//! between two reads) and no total timeout, sends `User-Agent: roma-assets/<version>`, and sends
//! the token as a default `X-Auth-Token` header marked sensitive, so reqwest never shows it in
//! `Debug` output; or, given an AK/SK pair, signs every request (`SDK-HMAC-SHA256`, the
//! generated client's hook). Nothing here may display or log the token or the secret key.

use std::fmt;
use std::time::Duration;

use roma_assets_runtime::sign::{Signer, SigningKey};

use super::{Client, ClientError};

/// Name of the header that carries the token (the document's `token` security scheme).
pub const TOKEN_HEADER: &str = crate::contract::headers::TOKEN;
/// The `User-Agent` sent unless [`ClientBuilder::user_agent`] says otherwise.
pub const USER_AGENT: &str = concat!("roma-assets/", env!("CARGO_PKG_VERSION"));
/// How long opening a connection may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest silence while waiting for or reading an answer, by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The document's limit on the token's length (the `token` scheme's `x-max-length`).
pub const MAX_TOKEN_CHARS: usize = crate::contract::limits::TOKEN_MAX_LENGTH;

/// Builds a generated [`Client`] for an endpoint and a token.
///
/// ```no_run
/// # fn main() -> Result<(), roma_assets::client::ClientError> {
/// use std::time::Duration;
/// let client = roma_assets::client::ClientBuilder::new("http://127.0.0.1:8080", "my-token")
///     .read_timeout(Duration::from_secs(300))
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: String,
    auth: Auth,
    ca_bundle: Option<std::path::PathBuf>,
    connect_timeout: Duration,
    read_timeout: Duration,
    user_agent: String,
}

/// How a client authenticates.
#[derive(Clone)]
enum Auth {
    /// An IAM token, sent as `X-Auth-Token`.
    Token(String),
    /// An AK/SK pair: every request is signed.
    Key(SigningKey),
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::Token(_) => "token <redacted>".to_string(),
            Auth::Key(key) => format!("AK/SK {} / <redacted>", key.access_key()),
        };
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("auth", &auth)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("user_agent", &self.user_agent)
            .field("ca_bundle", &self.ca_bundle)
            .finish()
    }
}

impl ClientBuilder {
    /// A builder for the server at `endpoint` (scheme, host, port and an optional path stem,
    /// e.g. `http://127.0.0.1:8080`), calling with `token`.
    pub fn new(endpoint: impl Into<String>, token: impl Into<String>) -> Self {
        Self::with_auth(endpoint.into(), Auth::Token(token.into()))
    }

    /// A builder for the server at `endpoint` whose client signs every request with `key`
    /// (an access key / secret key pair, as Huawei Cloud's SDKs do).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use roma_assets::client::{ClientBuilder, SigningKey};
    /// let key = SigningKey::new("MY-AK", "MY-SK")?;
    /// let client = ClientBuilder::signed("https://roma.cn-north-4.myhuaweicloud.com", key).build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn signed(endpoint: impl Into<String>, key: SigningKey) -> Self {
        Self::with_auth(endpoint.into(), Auth::Key(key))
    }

    fn with_auth(endpoint: String, auth: Auth) -> Self {
        ClientBuilder {
            endpoint,
            auth,
            ca_bundle: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            user_agent: USER_AGENT.to_string(),
        }
    }

    /// How long opening a connection may take ([`DEFAULT_CONNECT_TIMEOUT`] by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest silence while waiting for an answer or reading its body
    /// ([`DEFAULT_READ_TIMEOUT`] by default). There is no limit on a whole transfer.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The `User-Agent` header ([`USER_AGENT`] by default).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts the certificate authorities of a PEM file besides the system's (a private CA, or
    /// the self-signed certificate of a local HTTPS endpoint).
    pub fn ca_bundle(mut self, pem: impl Into<std::path::PathBuf>) -> Self {
        self.ca_bundle = Some(pem.into());
        self
    }

    /// Checks the endpoint and the credential and builds the client.
    pub fn build(self) -> Result<Client, ClientError> {
        let endpoint = check_endpoint(&self.endpoint)?;
        let mut headers = reqwest::header::HeaderMap::new();
        let signer = match self.auth {
            Auth::Token(token) => {
                check_token(&token)?;
                let mut token = reqwest::header::HeaderValue::from_str(&token).map_err(|_| {
                    ClientError::InvalidRequest("the token is not a valid header".into())
                })?;
                token.set_sensitive(true);
                headers.insert(TOKEN_HEADER, token);
                Signer::none()
            }
            Auth::Key(key) => Signer::new(key),
        };
        let mut http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(self.user_agent)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout);
        if let Some(path) = &self.ca_bundle {
            http = with_ca_bundle(http, path)?;
        }
        let http = http
            .build()
            .map_err(|e| ClientError::InvalidRequest(format!("building the HTTP client: {e}")))?;
        Ok(Client::new_with_client(&endpoint, http, signer))
    }
}

/// `http` trusting the PEM certificates of the bundle at `path` too.
#[cfg(feature = "native-tls")]
fn with_ca_bundle(
    mut http: reqwest::ClientBuilder,
    path: &std::path::Path,
) -> Result<reqwest::ClientBuilder, ClientError> {
    let pem = std::fs::read(path).map_err(|e| {
        ClientError::InvalidRequest(format!("reading the CA bundle {}: {e}", path.display()))
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| ClientError::InvalidRequest(format!("CA bundle {}: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(ClientError::InvalidRequest(format!(
            "CA bundle {}: no PEM certificate in it",
            path.display()
        )));
    }
    for certificate in certificates {
        http = http.add_root_certificate(certificate);
    }
    Ok(http)
}

/// Without TLS a CA bundle has nothing to configure: refused, rather than ignored.
#[cfg(not(feature = "native-tls"))]
fn with_ca_bundle(
    _http: reqwest::ClientBuilder,
    path: &std::path::Path,
) -> Result<reqwest::ClientBuilder, ClientError> {
    Err(ClientError::InvalidRequest(format!(
        "CA bundle {}: this build has no TLS (feature `native-tls`)",
        path.display()
    )))
}

/// [`token_problem`](crate::contract::token_problem) as a client error.
pub fn check_token(token: &str) -> Result<(), ClientError> {
    match crate::contract::token_problem(token) {
        Some(problem) => Err(ClientError::InvalidRequest(problem)),
        None => Ok(()),
    }
}

/// The endpoint as the generated client wants its base URL: an http(s) URL without a trailing
/// slash (it appends `/v2/...`).
fn check_endpoint(endpoint: &str) -> Result<String, ClientError> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| ClientError::InvalidRequest(format!("endpoint `{endpoint}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::InvalidRequest(format!(
            "endpoint `{endpoint}`: the scheme must be http or https"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::InvalidRequest(format!(
            "endpoint `{endpoint}`: no query or fragment, please"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::package_name_problem;

    #[test]
    fn tokens_are_checked_as_the_document_says() {
        assert!(check_token("abc-123_XYZ.=").is_ok());
        assert!(check_token(&"a".repeat(MAX_TOKEN_CHARS)).is_ok());
        for bad in ["", "has space", "tab\there", "é", "new\nline"] {
            assert!(check_token(bad).is_err(), "{bad:?}");
        }
        assert!(check_token(&"a".repeat(MAX_TOKEN_CHARS + 1)).is_err());
    }

    #[test]
    fn endpoints_lose_their_trailing_slash_and_need_http() {
        assert_eq!(
            check_endpoint("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            check_endpoint("https://example.com/roma/").unwrap(),
            "https://example.com/roma"
        );
        assert!(check_endpoint("ftp://example.com").is_err());
        assert!(check_endpoint("127.0.0.1:8080").is_err());
        assert!(check_endpoint("http://h/?x=1").is_err());
    }

    #[test]
    fn package_names_follow_the_documents_rule() {
        assert_eq!(package_name_problem("orders.zip"), None);
        assert_eq!(package_name_problem("orders_v2+b-1.zip"), None);
        for bad in [
            "orders (1).zip",
            "orders.v2.zip",
            "CRM.ZIP",
            "_x.zip",
            ".zip",
            "a.tar",
        ] {
            let problem = package_name_problem(bad).expect(bad);
            assert!(
                problem.starts_with(&format!("file name {bad:?} refused")),
                "{problem}"
            );
            assert!(problem.chars().count() <= 128, "{problem}");
        }
    }

    #[test]
    fn the_builder_never_shows_the_token() {
        let builder = ClientBuilder::new("http://127.0.0.1:1", "s3cret-token");
        assert!(!format!("{builder:?}").contains("s3cret"));
        let error = ClientBuilder::new("http://127.0.0.1:1", "s3cret token")
            .build()
            .unwrap_err();
        assert!(!error.to_string().contains("s3cret"));
    }
}
