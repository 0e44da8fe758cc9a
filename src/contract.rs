//! The contract: what the client and the server both take from `openapi/roma-assets.yaml`,
//! generated at build time, and the two rules derived from it that hand-written code on both
//! sides applies. Neither side restates a name or a number the document gives.
//!
//! - [`types`]: every schema of the document as a Rust type (typify's, as progenitor names them).
//! - [`codes`]: the error codes of `x-error-codes`; no other code is ever sent.
//! - [`limits`]: the document's bounds as constants (lengths, counts, the token's length).
//! - [`headers`]: the header names the document gives meaning to (`X-Auth-Token`, `X-Request-Id`).
//! - [`token_problem`], [`package_name_problem`]: the token's and the package file name's rules,
//!   checked by the client before sending and by the server on what it is configured with or
//!   receives.
//!
//! Compiled in every build (features `client`, `server` and above): it needs serde, chrono and
//! regress, nothing of HTTP.

// typify emits `len < 0usize` checks for the document's `minLength: 0` path parameters, which
// clippy and rustc flag as useless comparisons; they are correct, only redundant.
#[allow(unused_comparisons, clippy::absurd_extreme_comparisons)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/contract.rs"));
}
pub use generated::*;

/// What is wrong with `token` by the document's rule, or `None`: the `token` scheme's length
/// bounds ([`limits`]), visible ASCII only (a header value cannot hold more, and spaces or
/// control characters are never part of an IAM token). The client checks a token with it before
/// sending; the server checks its configured tokens with it.
pub fn token_problem(token: &str) -> Option<String> {
    use limits::{TOKEN_MAX_LENGTH as MAX, TOKEN_MIN_LENGTH as MIN};
    if token.is_empty() {
        return Some("the token is empty".into());
    }
    if token.len() < MIN {
        return Some(format!("the token is shorter than {MIN} characters"));
    }
    if token.len() > MAX {
        return Some(format!("the token is longer than {MAX} characters"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("the token may hold visible ASCII characters only (no spaces)".into());
    }
    None
}

/// What is wrong with `name` as the file name of an uploaded package, by the document's rule for
/// ImportAsset's file part (its `x-file-name`, generated into [`limits`]), or `None`. The server
/// refuses such a name with ROMA.10013 after the upload; the client and `package inspect` check
/// it first. The message starts with the name, then the rule.
pub fn package_name_problem(name: &str) -> Option<String> {
    use limits::{
        IMPORT_ASSET_REQUEST_BODY_IMPORT_ASSET_REQUEST_BODY_FILE_NAME_PATTERN as PATTERN,
        IMPORT_ASSET_REQUEST_BODY_IMPORT_ASSET_REQUEST_BODY_FILE_NAME_RULE as RULE,
    };
    use std::sync::LazyLock;
    static REGEX: LazyLock<regress::Regex> = LazyLock::new(|| {
        regress::Regex::new(PATTERN).expect("the generator compiled this pattern")
    });
    if REGEX.find(name).is_some() {
        return None;
    }
    let shown: String = name.chars().take(40).collect();
    let cut = if shown.len() < name.len() { "…" } else { "" };
    Some(format!("file name {shown:?}{cut} refused: {RULE}"))
}
