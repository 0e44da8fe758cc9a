//! AK/SK request signing, `SDK-HMAC-SHA256`: the scheme Huawei Cloud's SDKs sign every request
//! with and its API gateway verifies. One implementation for both sides: a client signs with
//! [`sign`], a server checks with [`Authorization::parse`] and [`verify`].
//!
//! The scheme, as the official Python SDK's `huaweicloudsdkcore/signer/signer.py` computes it
//! (the vectors in `tests/signing/` are made by that code and replayed by our tests):
//!
//! ```text
//! canonical request = METHOD \n canonical URI \n canonical query \n
//!                     name:value \n ... (one line per signed header) \n \n
//!                     signed;header;names \n payload hash
//! string to sign    = SDK-HMAC-SHA256 \n X-Sdk-Date \n hex(sha256(canonical request))
//! signature         = hex(hmac_sha256(SK, string to sign))
//! Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex
//! ```
//!
//! - canonical URI: the path percent-decoded, split at `/`, each segment percent-encoded (all but
//!   `A-Z a-z 0-9 - . _ ~`), joined, and a `/` appended when it does not end with one;
//! - canonical query: the decoded `(name, value)` pairs sorted, each side encoded as above,
//!   joined with `&`;
//! - payload hash: for an empty body the hash of nothing; else the `X-Sdk-Content-Sha256`
//!   header's value when present (`UNSIGNED-PAYLOAD` for a streamed upload), else
//!   hex(sha256(body)).
//!
//! Must not: log or display a secret key or a signature ([`SigningKey`]'s `Debug` redacts the
//! SK); compare signatures in time that depends on where they differ.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// The algorithm name, first word of the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The header that carries the signing time, in [`DATE_FORMAT`].
pub const DATE_HEADER: &str = "x-sdk-date";
/// The header that may carry the payload hash instead of the body ([`UNSIGNED_PAYLOAD`]).
pub const CONTENT_SHA256_HEADER: &str = "x-sdk-content-sha256";
/// The payload hash of a body that is not hashed (a streamed upload).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `X-Sdk-Date`'s format, UTC: `20261201T140000Z`.
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// hex(sha256("")), the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// How far `X-Sdk-Date` may be from the verifier's clock by default: 15 minutes, as Huawei's
/// API gateway allows.
pub const DEFAULT_MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);

/// Python's `quote(s, safe='~')`: everything but RFC 3986's unreserved characters is encoded.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What the signature covers of the body.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The whole body (empty when there is none): its hash is signed.
    Bytes(&'a [u8]),
    /// A body that is streamed after the headers are sent or checked (a multipart upload):
    /// signed as [`UNSIGNED_PAYLOAD`] through the `X-Sdk-Content-Sha256` header.
    Streamed,
}

/// The parts of a request a signature covers, as they are on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as sent, percent-encoded (`/v2/p/instances/i/apps`).
    pub path: &'a str,
    /// The query as sent, without the `?`.
    pub query: Option<&'a str>,
    /// Every header of the request.
    pub headers: &'a HeaderMap,
}

/// An access key and its secret key. `Debug` shows the access key only.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    access_key: String,
    secret_key: String,
}

impl SigningKey {
    /// A key pair. Both parts must be visible ASCII (they travel in or key a header).
    pub fn new(
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Result<Self, SignError> {
        let (access_key, secret_key) = (access_key.into(), secret_key.into());
        for (what, value) in [("access key", &access_key), ("secret key", &secret_key)] {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(SignError::BadKey(what));
            }
        }
        if access_key.contains(',') {
            return Err(SignError::BadKey("access key"));
        }
        Ok(SigningKey {
            access_key,
            secret_key,
        })
    }

    /// The access key (AK): public, it names the key.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key (SK). Never log it.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Why a request could not be signed or its signature was refused. Each message starts with
/// the fact that matters and stays within 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// A key part is empty or not visible ASCII.
    #[error("the {0} is empty or holds characters other than visible ASCII")]
    BadKey(&'static str),
    /// The `Authorization` header is not `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
    #[error("Authorization header malformed: {0}")]
    Malformed(&'static str),
    /// No key has this access key.
    #[error("unknown access key (AK): no credential of this server has it")]
    UnknownAccessKey,
    /// `SignedHeaders` lacks a header that must be signed.
    #[error("header {0} must be signed: add it to SignedHeaders")]
    NotSigned(&'static str),
    /// A header named in `SignedHeaders` is not in the request.
    #[error("signed header {0:.60} is missing from the request")]
    SignedHeaderMissing(String),
    /// `X-Sdk-Date` is not `YYYYMMDDTHHMMSSZ`.
    #[error("X-Sdk-Date is not YYYYMMDDTHHMMSSZ (UTC)")]
    BadDate,
    /// `X-Sdk-Date` is too far from the verifier's clock.
    #[error("X-Sdk-Date is {seconds} s from the server's clock; at most {max} s are allowed")]
    Skewed {
        /// How far, in seconds.
        seconds: i64,
        /// The allowed skew, in seconds.
        max: i64,
    },
    /// The body was signed in a way this body cannot be checked against.
    #[error("{0}")]
    Payload(&'static str),
    /// The path or query percent-decodes to bytes that are not UTF-8: its canonical form would
    /// replace them, so distinct targets would share one signature.
    #[error("the {0} percent-decodes to bytes that are not UTF-8; such a target cannot be signed")]
    NotUtf8(&'static str),
    /// The signature differs from the one computed with the key's secret.
    #[error(
        "signature mismatch: check the SK and that method, path, query, signed headers and body are as signed"
    )]
    Mismatch,
}

/// A parsed `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` header.
/// Its `Display` writes it back in the SDK's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key (AK).
    pub access_key: String,
    /// The signed headers' names, lowercase, in the order they were signed.
    pub signed_headers: Vec<String>,
    /// The signature, 64 lowercase hex digits.
    pub signature: String,
}

impl Authorization {
    /// Whether a header value claims this scheme (so a token scheme can be tried otherwise).
    pub fn claims(value: &[u8]) -> bool {
        value.len() > ALGORITHM.len()
            && value[..ALGORITHM.len()].eq_ignore_ascii_case(ALGORITHM.as_bytes())
            && value[ALGORITHM.len()] == b' '
    }

    /// Parses the header's value.
    pub fn parse(value: &str) -> Result<Self, SignError> {
        use SignError::Malformed;
        if !Self::claims(value.as_bytes()) {
            return Err(Malformed("it does not start with `SDK-HMAC-SHA256 `"));
        }
        let (mut access, mut signed, mut signature) = (None, None, None);
        for item in value[ALGORITHM.len() + 1..].split(',') {
            let (name, field) = item
                .trim()
                .split_once('=')
                .ok_or(Malformed("each part is Name=value"))?;
            let slot = match name {
                "Access" => &mut access,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => {
                    return Err(Malformed(
                        "parts are Access, SignedHeaders and Signature only",
                    ));
                }
            };
            if slot.replace(field).is_some() {
                return Err(Malformed("a part appears twice"));
            }
        }
        let access = access.ok_or(Malformed("no Access= part"))?;
        let signed = signed.ok_or(Malformed("no SignedHeaders= part"))?;
        let signature = signature.ok_or(Malformed("no Signature= part"))?;
        if access.is_empty() || !access.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Malformed("Access is empty or not visible ASCII"));
        }
        let signed_headers: Vec<String> = signed.split(';').map(str::to_string).collect();
        let token_char =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-!#$%&'*+.^`|~".contains(&b);
        if signed_headers
            .iter()
            .any(|h| h.is_empty() || !h.bytes().all(token_char))
        {
            return Err(Malformed(
                "SignedHeaders holds an empty or non-lowercase header name",
            ));
        }
        if signature.len() != 64
            || !signature
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(Malformed("Signature is not 64 lowercase hex digits"));
        }
        Ok(Authorization {
            access_key: access.to_string(),
            signed_headers,
            signature: signature.to_string(),
        })
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM} Access={}, SignedHeaders={}, Signature={}",
            self.access_key,
            self.signed_headers.join(";"),
            self.signature
        )
    }
}

/// `X-Sdk-Date`'s value for `time`.
pub fn format_date(time: DateTime<Utc>) -> String {
    time.format(DATE_FORMAT).to_string()
}

/// The canonical URI of a path as sent.
pub fn canonical_uri(path: &str) -> String {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut uri = decoded
        .split('/')
        .map(|segment| utf8_percent_encode(segment, ENCODE).to_string())
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical query of a query as sent: decoded pairs, sorted, re-encoded.
pub fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(name, ENCODE),
                utf8_percent_encode(value, ENCODE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical request, as bytes (a header value may hold any bytes).
pub fn canonical_request(
    request: &Request<'_>,
    signed_headers: &[String],
    payload_hash: &str,
) -> Result<Vec<u8>, SignError> {
    // The canonical forms decode lossily, as the SDK's do: `%AD` and `%BD` would both become
    // U+FFFD. Refusing such targets keeps every signature bound to one path and one query.
    for (what, text) in [
        ("path", request.path),
        ("query", request.query.unwrap_or("")),
    ] {
        if percent_decode_str(text).decode_utf8().is_err() {
            return Err(SignError::NotUtf8(what));
        }
    }
    let mut out = Vec::with_capacity(256);
    // As sent: methods are case-sensitive (RFC 9110), so `GeT` is not `GET` and must not verify as
    // it. Every client sends the standard methods in upper case.
    out.extend_from_slice(request.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(request.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(request.query).as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        let mut values = request.headers.get_all(name.as_str()).iter();
        let first = values
            .next()
            .ok_or_else(|| SignError::SignedHeaderMissing(name.clone()))?;
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(first.as_bytes().trim_ascii());
        // A repeated header is signed as its values joined with commas, as HTTP reads it.
        for more in values {
            out.push(b',');
            out.extend_from_slice(more.as_bytes().trim_ascii());
        }
        out.push(b'\n');
    }
    // The header block ends with its own newline, then the field separator: an empty line.
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Ok(out)
}

/// The string to sign for a canonical request signed at `date` (`X-Sdk-Date`'s value).
pub fn string_to_sign(date: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{date}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

/// hex(hmac_sha256(secret, string to sign)).
fn signature(secret_key: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn content_sha256(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(CONTENT_SHA256_HEADER)
        .map(|v| v.as_bytes().trim_ascii())
}

/// Signs `request` with `key` at `now`: adds `X-Sdk-Date`, `X-Sdk-Content-Sha256:
/// UNSIGNED-PAYLOAD` for a streamed body, and `Authorization`. `Host` must already be among the
/// headers (it is signed). Every header present is signed, as the SDK does, except names holding
/// `_`.
pub fn sign(
    request_headers: &mut HeaderMap,
    method: &str,
    path: &str,
    query: Option<&str>,
    payload: Payload<'_>,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<(), SignError> {
    let date = format_date(now);
    request_headers.insert(
        DATE_HEADER,
        http::HeaderValue::from_str(&date).expect("a date is ASCII"),
    );
    request_headers.remove(http::header::AUTHORIZATION);
    let payload_hash = match payload {
        Payload::Bytes([]) => EMPTY_SHA256.to_string(),
        Payload::Bytes(body) => match content_sha256(request_headers) {
            Some(value) => String::from_utf8_lossy(value).into_owned(),
            None => hex::encode(Sha256::digest(body)),
        },
        Payload::Streamed => {
            request_headers.insert(
                CONTENT_SHA256_HEADER,
                http::HeaderValue::from_static(UNSIGNED_PAYLOAD),
            );
            UNSIGNED_PAYLOAD.to_string()
        }
    };
    let mut signed_headers: Vec<String> = request_headers
        .keys()
        .map(|name| name.as_str().to_string())
        .filter(|name| !name.contains('_'))
        .collect();
    signed_headers.sort();
    signed_headers.dedup();
    let request = Request {
        method,
        path,
        query,
        headers: request_headers,
    };
    let canonical = canonical_request(&request, &signed_headers, &payload_hash)?;
    let authorization = Authorization {
        access_key: key.access_key.clone(),
        signed_headers,
        signature: signature(&key.secret_key, &string_to_sign(&date, &canonical)),
    };
    let value = http::HeaderValue::from_str(&authorization.to_string())
        .map_err(|_| SignError::BadKey("access key"))?;
    request_headers.insert(http::header::AUTHORIZATION, value);
    Ok(())
}

/// Checks that `authorization` (parsed from the request) is a valid signature of `request` by
/// `secret_key`, made within `max_skew` of `now`.
///
/// Beyond the signature itself, `Host` and `X-Sdk-Date` must be signed, and a body the verifier
/// holds must be signed by its hash (a stated `X-Sdk-Content-Sha256` must be that hash), so a
/// body changed after signing is refused; a streamed body must be declared `UNSIGNED-PAYLOAD`.
pub fn verify(
    request: &Request<'_>,
    payload: Payload<'_>,
    authorization: &Authorization,
    secret_key: &str,
    now: DateTime<Utc>,
    max_skew: TimeDelta,
) -> Result<(), SignError> {
    for required in ["host", DATE_HEADER] {
        if !authorization.signed_headers.iter().any(|h| h == required) {
            return Err(SignError::NotSigned(if required == "host" {
                "Host"
            } else {
                "X-Sdk-Date"
            }));
        }
    }
    let date = request
        .headers
        .get(DATE_HEADER)
        .ok_or_else(|| SignError::SignedHeaderMissing(DATE_HEADER.to_string()))?
        .to_str()
        .map_err(|_| SignError::BadDate)?
        .trim();
    let signed_at = NaiveDateTime::parse_from_str(date, DATE_FORMAT)
        .map_err(|_| SignError::BadDate)?
        .and_utc();
    let skew = (now - signed_at).abs();
    if skew > max_skew {
        return Err(SignError::Skewed {
            seconds: skew.num_seconds(),
            max: max_skew.num_seconds(),
        });
    }
    let stated = content_sha256(request.headers);
    let payload_hash = match payload {
        Payload::Bytes([]) => EMPTY_SHA256.to_string(),
        Payload::Bytes(body) => {
            let actual = hex::encode(Sha256::digest(body));
            match stated {
                None => actual,
                Some(s) if s == actual.as_bytes() => actual,
                Some(s) if s == UNSIGNED_PAYLOAD.as_bytes() => {
                    return Err(SignError::Payload(
                        "UNSIGNED-PAYLOAD is for streamed uploads; sign this body by its SHA-256",
                    ));
                }
                Some(_) => {
                    return Err(SignError::Payload(
                        "the body's SHA-256 differs from X-Sdk-Content-Sha256",
                    ));
                }
            }
        }
        Payload::Streamed => match stated {
            Some(s) if s == UNSIGNED_PAYLOAD.as_bytes() => UNSIGNED_PAYLOAD.to_string(),
            _ => {
                return Err(SignError::Payload(
                    "a streamed (multipart) body is signed with X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD",
                ));
            }
        },
    };
    let canonical = canonical_request(request, &authorization.signed_headers, &payload_hash)?;
    let expected = signature(secret_key, &string_to_sign(date, &canonical));
    if constant_time_eq(expected.as_bytes(), authorization.signature.as_bytes()) {
        Ok(())
    } else {
        Err(SignError::Mismatch)
    }
}

/// [`verify`] against the system clock, allowing `max_skew_seconds` either way.
pub fn verify_now(
    request: &Request<'_>,
    payload: Payload<'_>,
    authorization: &Authorization,
    secret_key: &str,
    max_skew_seconds: i64,
) -> Result<(), SignError> {
    verify(
        request,
        payload,
        authorization,
        secret_key,
        Utc::now(),
        TimeDelta::seconds(max_skew_seconds),
    )
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

/// The generated client's signer: signs every request in place when it holds a key, does
/// nothing otherwise (a client that authenticates with a token).
#[cfg(feature = "client")]
#[derive(Debug, Clone, Default)]
pub struct Signer {
    key: Option<std::sync::Arc<SigningKey>>,
}

#[cfg(feature = "client")]
impl Signer {
    /// A signer that signs nothing.
    pub fn none() -> Self {
        Signer { key: None }
    }

    /// A signer that signs every request with `key`.
    pub fn new(key: SigningKey) -> Self {
        Signer {
            key: Some(std::sync::Arc::new(key)),
        }
    }

    /// The key, if any.
    pub fn key(&self) -> Option<&SigningKey> {
        self.key.as_deref()
    }

    /// Signs `request` now, if this signer holds a key: sets `Host` from the URL, hashes a body
    /// held in memory, and signs a streamed one as `UNSIGNED-PAYLOAD` (nothing is buffered).
    pub fn sign_request(&self, request: &mut reqwest::Request) -> Result<(), SignError> {
        let Some(key) = &self.key else { return Ok(()) };
        let url = request.url().clone();
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => return Err(SignError::Payload("the request URL has no host to sign")),
        };
        let host = http::HeaderValue::from_str(&host)
            .map_err(|_| SignError::Payload("the request URL's host is not a header value"))?;
        request.headers_mut().insert(http::header::HOST, host);
        let method = request.method().as_str().to_string();
        let body = request.body().map(|body| body.as_bytes());
        let payload = match body {
            None => Payload::Bytes(&[]),
            Some(Some(bytes)) => Payload::Bytes(bytes),
            Some(None) => Payload::Streamed,
        };
        // The body is borrowed from the request while its headers change: sign a copy of the
        // headers, then put them back.
        let mut headers = request.headers().clone();
        sign(
            &mut headers,
            &method,
            url.path(),
            url.query(),
            payload,
            key,
            Utc::now(),
        )?;
        *request.headers_mut() = headers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::new("AK123", "SK456").unwrap()
    }

    fn signed(headers: &mut HeaderMap, body: &[u8], at: DateTime<Utc>) {
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        sign(
            headers,
            "POST",
            "/v2/p/x",
            Some("b=2&a=1"),
            Payload::Bytes(body),
            &key(),
            at,
        )
        .unwrap();
    }

    fn check(
        headers: &HeaderMap,
        body: &[u8],
        path: &str,
        query: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), SignError> {
        let value = headers.get("authorization").unwrap().to_str().unwrap();
        let auth = Authorization::parse(value)?;
        let request = Request {
            method: "POST",
            path,
            query,
            headers,
        };
        verify(
            &request,
            Payload::Bytes(body),
            &auth,
            "SK456",
            now,
            DEFAULT_MAX_CLOCK_SKEW,
        )
    }

    #[test]
    fn a_signature_verifies_and_any_change_fails() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        signed(&mut headers, b"{\"a\":1}", now);
        assert_eq!(
            check(&headers, b"{\"a\":1}", "/v2/p/x", Some("a=1&b=2"), now),
            Ok(())
        );
        assert_eq!(
            check(&headers, b"{\"a\":2}", "/v2/p/x", Some("a=1&b=2"), now),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            check(&headers, b"{\"a\":1}", "/v2/p/y", Some("a=1&b=2"), now),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            check(&headers, b"{\"a\":1}", "/v2/p/x", Some("a=1&b=3"), now),
            Err(SignError::Mismatch)
        );
        let mut changed = headers.clone();
        changed.insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(
            check(&changed, b"{\"a\":1}", "/v2/p/x", Some("a=1&b=2"), now),
            Err(SignError::Mismatch)
        );
    }

    #[test]
    fn dates_outside_the_window_and_unsigned_host_are_refused() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        signed(&mut headers, b"", now - TimeDelta::minutes(16));
        assert!(matches!(
            check(&headers, b"", "/v2/p/x", Some("a=1&b=2"), now),
            Err(SignError::Skewed { .. })
        ));
        let mut headers = HeaderMap::new();
        signed(&mut headers, b"", now);
        let value = headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .replace("host;", "");
        headers.insert("authorization", value.parse().unwrap());
        assert_eq!(
            check(&headers, b"", "/v2/p/x", Some("a=1&b=2"), now),
            Err(SignError::NotSigned("Host"))
        );
    }

    #[test]
    fn a_json_body_cannot_be_left_unsigned() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_SHA256_HEADER, UNSIGNED_PAYLOAD.parse().unwrap());
        signed(&mut headers, b"{}", now);
        assert!(matches!(
            check(&headers, b"{}", "/v2/p/x", Some("a=1&b=2"), now),
            Err(SignError::Payload(_))
        ));
    }

    #[test]
    fn a_target_that_decodes_to_bytes_other_than_utf8_is_not_signed() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        for (path, query, what) in [("/v2/%AD", None, "path"), ("/v2/p", Some("a=%BD"), "query")] {
            let refused = sign(
                &mut headers,
                "GET",
                path,
                query,
                Payload::Bytes(b""),
                &key(),
                Utc::now(),
            );
            assert_eq!(refused, Err(SignError::NotUtf8(what)));
        }
    }

    #[test]
    fn canonical_forms_follow_the_sdk() {
        assert_eq!(canonical_uri("/v2/a%20b/c"), "/v2/a%20b/c/");
        assert_eq!(canonical_uri("/v2/é/"), "/v2/%C3%A9/");
        assert_eq!(
            canonical_query(Some("b=x+y&a=%C3%A9&a=1")),
            "a=1&a=%C3%A9&b=x%20y"
        );
        assert_eq!(canonical_query(None), "");
    }

    #[test]
    fn authorization_headers_parse_and_print_back() {
        let text = format!(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature={}",
            "0".repeat(64)
        );
        let auth = Authorization::parse(&text).unwrap();
        assert_eq!(auth.to_string(), text);
        for bad in [
            "SDK-HMAC-SHA256 Access=AK",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature=00",
            "Bearer x",
            "SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature=00",
        ] {
            assert!(Authorization::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_never_show_their_secret() {
        assert!(
            !format!("{:?}", SigningKey::new("AK", "very-secret").unwrap()).contains("very-secret")
        );
        assert!(SigningKey::new("AK", "has space").is_err());
    }
}
