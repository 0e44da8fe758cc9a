//! Support code that generated roma-assets clients and servers depend on, compiled once instead
//! of pasted into each generated file (as `progenitor-client` is for progenitor's clients).
//!
//! - [`sign`]: AK/SK request signing (`SDK-HMAC-SHA256`), one implementation for the client,
//!   which signs, and the server, which verifies.
//!
//! Must not depend on the reference server (storage, packages, command line): a crate that only
//! wants the client pulls this one in.

#![deny(missing_docs)]

pub mod sign;
