//! The typed client for the ROMA asset API, generated from `openapi/roma-assets.yaml` at build
//! time (progenitor, plus our own generator for the multipart `ImportAsset`). Hand-written helpers
//! live beside it; nothing here re-states what the document says.

// The generated module: `Client`, one async method per operationId, and `types`.
// typify emits `len < 0usize` checks for the document's `minLength: 0` path parameters, which
// clippy and rustc flag as useless comparisons; they are correct, only redundant.
#[allow(unused_comparisons, clippy::absurd_extreme_comparisons)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/client.rs"));
}
pub use generated::*;
