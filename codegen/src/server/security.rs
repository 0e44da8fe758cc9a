//! An operation's security requirement as the generated layer enforces it: an API key in a
//! header (with the scheme's length limits), a request signature (`x-signature`), or either.
//! Read by the inputs (to check the credential) and by the error defaults (an operation with
//! security may answer 401).

use openapiv3::{OpenAPI, ReferenceOr, SecurityScheme};
use serde_json::Value;

use crate::Error;
use crate::spec::Op;

/// The API-key header of an operation's security requirement, with its length limits.
pub(super) struct ApiKey {
    pub(super) header: String,
    pub(super) min: usize,
    pub(super) max: usize,
}

/// A request-signature scheme: an API-key scheme on the `Authorization` header marked with
/// `x-signature: SDK-HMAC-SHA256` (the one algorithm the runtime verifies), optionally with
/// `x-max-clock-skew-seconds` (default 900, Huawei's API gateway's 15 minutes).
pub(super) struct Signature {
    pub(super) max_skew_seconds: i64,
}

/// How an operation is secured: by an API key, by a request signature, or by either (the
/// document lists each as an alternative security requirement).
pub(super) struct Security {
    pub(super) key: Option<ApiKey>,
    pub(super) signature: Option<Signature>,
}

/// The algorithm of `x-signature` that the runtime crate verifies.
const SIGNATURE_ALGORITHM: &str = "SDK-HMAC-SHA256";

/// How `op` is secured (its own security requirements, else the document's), `None` when it
/// is not.
pub(super) fn security(spec: &OpenAPI, op: &Op<'_>) -> Result<Option<Security>, Error> {
    let requirements = op.operation.security.as_ref().or(spec.security.as_ref());
    let Some(requirements) = requirements else {
        return Ok(None);
    };
    let mut security = Security {
        key: None,
        signature: None,
    };
    for requirement in requirements {
        if requirement.len() > 1 {
            return Err(op.unsupported("a security requirement of several schemes at once"));
        }
        for scheme_name in requirement.keys() {
            let scheme = spec
                .components
                .as_ref()
                .and_then(|c| c.security_schemes.get(scheme_name))
                .ok_or_else(|| Error::Invalid(format!("no security scheme {scheme_name}")))?;
            let ReferenceOr::Item(scheme) = scheme else {
                return Err(op.unsupported("security scheme references"));
            };
            let SecurityScheme::APIKey {
                location: openapiv3::APIKeyLocation::Header,
                name,
                extensions,
                ..
            } = scheme
            else {
                return Err(op.unsupported(format!(
                    "security scheme {scheme_name}: only API keys in a header"
                )));
            };
            let bound = |key: &str| extensions.get(key).and_then(Value::as_u64);
            if let Some(algorithm) = extensions.get("x-signature") {
                if algorithm.as_str() != Some(SIGNATURE_ALGORITHM)
                    || !name.eq_ignore_ascii_case("authorization")
                {
                    return Err(op.unsupported(format!(
                        "security scheme {scheme_name}: x-signature is {SIGNATURE_ALGORITHM} on the Authorization header"
                    )));
                }
                let max_skew_seconds = bound("x-max-clock-skew-seconds").unwrap_or(900);
                let max_skew_seconds = i64::try_from(max_skew_seconds)
                    .map_err(|_| op.unsupported("x-max-clock-skew-seconds is too large"))?;
                if security
                    .signature
                    .replace(Signature { max_skew_seconds })
                    .is_some()
                {
                    return Err(op.unsupported("more than one signature scheme"));
                }
                continue;
            }
            let header = name.to_ascii_lowercase();
            let key = ApiKey {
                header,
                min: bound("x-min-length").map_or(1, |v| v as usize),
                max: bound("x-max-length").map_or(usize::MAX, |v| v as usize),
            };
            if security.key.replace(key).is_some() {
                return Err(op.unsupported("more than one API-key scheme"));
            }
        }
    }
    if security.key.is_none() && security.signature.is_none() {
        return Ok(None);
    }
    Ok(Some(security))
}
