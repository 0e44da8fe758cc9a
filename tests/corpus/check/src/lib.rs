//! The corpus documents that generate, compiled together: their clients and servers are this
//! crate's modules (`OUT_DIR/corpus.rs`, written by `build.rs`), so "generated" in the corpus
//! table also means "compiles". `tests/serve.rs` probes each router. Nothing here is part of
//! the project's library.

/// One compiled corpus document: its file, a router of its generated server answering every
/// operation with the generated `NotImplemented`'s 500, and its
/// operations as (method, path template, operationId).
pub struct Document {
    /// The file name in `tests/corpus/`.
    pub file: &'static str,
    /// The generated router with the not-implemented `Api`.
    pub router: fn() -> axum::Router,
    /// Every operation the router serves.
    pub operations: fn() -> Vec<(&'static str, &'static str, &'static str)>,
}

include!(concat!(env!("OUT_DIR"), "/corpus.rs"));
