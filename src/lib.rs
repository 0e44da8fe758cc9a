//! roma-assets: a contract-first toolkit for the asset export/import API of Huawei Cloud's ROMA
//! Connect. One hand-written OpenAPI document (`openapi/roma-assets.yaml`) is the source of truth;
//! the client and the server stubs are generated from it at build time.

//!
//! Features by role (ARCHITECTURE.md): the [`contract`] is always compiled; `client` adds
//! [`client`], `server` the generated axum stubs ([`server`]), `service` the reference server
//! ([`service`]), `cli` the command line ([`cli`]) and the binary. The default is everything.

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "client")]
pub mod client;
pub mod contract;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "service")]
pub mod service;
