//! The axum server stubs, generated from `openapi/roma-assets.yaml` at build time: the `Api`
//! trait (one async method per operationId), one reply enum per operation, the validation of
//! everything the document constrains, and `router(impl Api)`.
//!
//! Deviation from STYLE.md: `ApiError` and its `IntoResponse` are generated too, not hand-written
//! here, because the error body's shape and every code it may carry come from the document
//! (`x-error-body`, `x-error-codes`); a hand-written copy could drift from it.

// Included at this level (not in a submodule): the generated code refers to the contract as
// `super::contract`.
include!(concat!(env!("OUT_DIR"), "/server.rs"));
