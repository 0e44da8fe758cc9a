//! Support code that generated roma-assets clients and servers depend on, compiled once instead
//! of pasted into each generated file (as `progenitor-client` is for progenitor's clients).
//!
//! - [`sign`]: AK/SK request signing (`SDK-HMAC-SHA256`), one implementation for the client,
//!   which signs, and the server, which verifies.
//! - [`ErrorCode`]: the type of a generated contract's `codes` constants.
//! - [`server`] (feature `server`): the generated axum server's support code: request ids,
//!   credentials, parameter and body checks, multipart, the error body.
//!
//! Must not depend on the reference server (storage, packages, command line): a crate that only
//! wants the client pulls this one in.

#![deny(missing_docs)]

pub mod sign;

#[cfg(feature = "server")]
pub mod server;

/// An error code of a document's `x-error-codes`, with the status it is sent with: the type of
/// the constants in a generated contract's `codes` module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// The code, e.g. `ROMA.13000`.
    pub code: &'static str,
    /// The HTTP status this code is sent with.
    pub status: u16,
    /// What it means, from the document.
    pub meaning: &'static str,
}
