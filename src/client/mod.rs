//! The typed client for the ROMA asset API, generated from `openapi/roma-assets.yaml` at build
//! time (progenitor, plus our own generator for the multipart `ImportAsset`). Hand-written helpers
//! live beside it; nothing here re-states what the document says.
//!
//! - [`Client`], [`types`], [`UploadFile`]: generated, one async method per operationId.
//! - [`ClientBuilder`]: a [`Client`] for an endpoint and a token, with a connect and a read
//!   timeout instead of progenitor's 15-second total timeout.
//! - [`InstanceClient`]: a [`Client`] bound to one project and instance, with retries
//!   ([`RetryPolicy`]: GETs retry transient failures, POSTs only a connection that never
//!   opened), [`InstanceClient::wait_for_success`] (a FAILED job is an error) and
//!   [`InstanceClient::wait_for_job`], [`InstanceClient::import_file`] with upload
//!   progress and [`InstanceClient::download_to`].
//! - [`ClientError`]: every failure, keeping all the server said ([`ApiFailure`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use roma_assets::client::{ClientBuilder, InstanceClient, WaitOptions};
//!
//! let client = ClientBuilder::new("http://127.0.0.1:8080", "my-token").build()?;
//! let demo = InstanceClient::new(client, "demo".parse()?, "demo".parse()?);
//! let job = demo.export(["demo-app-orders"], Vec::<String>::new()).await?;
//! let done = demo.wait_for_success(&job, &WaitOptions::default(), |_| {}).await?;
//! if let Some(archive) = &done.archive_id {
//!     demo.download_to(&archive.parse()?, "orders.zip", false, |_| {}).await?;
//! }
//! # Ok(()) }
//! ```

// The generated module: `Client`, one async method per operationId, and `types` (the contract's,
// re-exported where progenitor's users look for it).
// Included at this level: it refers to the contract as `super::contract`.
include!(concat!(env!("OUT_DIR"), "/client.rs"));

mod connect;
mod error;
mod instance;
mod retry;

pub use connect::{
    ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, MAX_TOKEN_CHARS, TOKEN_HEADER,
    USER_AGENT, check_token,
};
pub use error::{ApiFailure, ClientError, MAX_KEPT_BODY};
pub use instance::{DownloadProgress, ImportOptions, InstanceClient, TaskQuery, WaitOptions};
pub use retry::{Method, RetryPolicy};
pub use roma_assets_runtime::sign::SigningKey;
