//! roma-assets: a contract-first toolkit for the asset export/import API of Huawei Cloud's ROMA
//! Connect. One hand-written OpenAPI document (`openapi/roma-assets.yaml`) is the source of truth;
//! the client and the server stubs are generated from it at build time.

pub mod cli;
pub mod client;
pub mod contract;
pub mod server;
pub mod service;
