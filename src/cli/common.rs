//! What the client commands share: the connection options, the `--wait` options, how a command
//! ends (exit codes) and how failures are reported.
//!
//! Exit codes: 0 done, 1 an error (the server refused, the network or a file failed; the server's
//! error code, message and request id are printed), 2 a usage error (clap's own), 3 a job FAILED
//! (its reasons are printed). Nothing here may print the token.

use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use crate::client::{ClientBuilder, ClientError, InstanceClient, SigningKey, WaitOptions, types};
use crate::service::package::PackageError;

/// The server to talk to, and as whom: global options, given before or after the subcommand
/// (`roma-assets --instance x apps` or `roma-assets apps --instance x`).
///
/// As whom: a token (`--token`, ROMA_ASSETS_TOKEN), or an access key / secret key pair
/// (`--access-key`/`--secret-key`, HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK, the official Huawei
/// Cloud SDKs' variables) with which every request is signed. A token, when given, wins.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ClientArgs {
    /// Base URL of the ROMA asset API (http:// or https://).
    #[arg(
        long,
        global = true,
        env = "ROMA_ASSETS_ENDPOINT",
        default_value = "http://127.0.0.1:8080"
    )]
    pub endpoint: String,
    /// Project ID [default: $HUAWEICLOUD_SDK_PROJECT_ID, the official SDKs' variable].
    #[arg(long, global = true, env = "ROMA_ASSETS_PROJECT")]
    pub project: Option<types::ProjectId>,
    /// Instance ID (every command but `instances` needs one).
    #[arg(long, global = true, env = "ROMA_ASSETS_INSTANCE")]
    pub instance: Option<types::InstanceId>,
    /// Access key (AK) to sign requests with, instead of a token.
    #[arg(
        long,
        global = true,
        env = "HUAWEICLOUD_SDK_AK",
        hide_env_values = true
    )]
    pub access_key: Option<Secret>,
    /// Secret key (SK) of the access key. Prefer the environment variable.
    #[arg(
        long,
        global = true,
        env = "HUAWEICLOUD_SDK_SK",
        hide_env_values = true
    )]
    pub secret_key: Option<Secret>,
    /// A PEM file of certificate authorities to trust besides the system's (a private CA, or a
    /// local HTTPS endpoint's self-signed certificate).
    #[arg(long, global = true, env = "ROMA_ASSETS_CA_BUNDLE", value_name = "PEM")]
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Print one JSON document on stdout instead of text, and no progress bars.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The token of a command that calls the server: after the subcommand only (`serve` has a
/// `--token PROJECT=TOKEN` of its own, so this one cannot be global), or ROMA_ASSETS_TOKEN.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct TokenArg {
    /// The X-Auth-Token. Prefer the environment variable: a flag shows in the process list.
    #[arg(long, env = "ROMA_ASSETS_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,
}

/// The environment variable the project falls back to.
pub const PROJECT_ID_ENV: &str = "HUAWEICLOUD_SDK_PROJECT_ID";

impl ClientArgs {
    /// The client these options describe. A missing or half-given credential or project is a
    /// usage error naming the variables to set.
    pub fn connect(&self, token: &TokenArg) -> Result<InstanceClient, CliError> {
        let instance = self.instance.clone().ok_or_else(|| {
            CliError::Usage("no instance: pass --instance or set ROMA_ASSETS_INSTANCE".into())
        })?;
        let (client, project) = self.connect_project(token)?;
        Ok(InstanceClient::new(client, project, instance))
    }

    /// The generated client and the project, for the calls that name no instance.
    pub fn connect_project(
        &self,
        token: &TokenArg,
    ) -> Result<(crate::client::Client, types::ProjectId), CliError> {
        endpoint_problem(&self.endpoint).map_or(Ok(()), |p| Err(CliError::Usage(p)))?;
        let project = match &self.project {
            Some(project) => project.clone(),
            None => {
                let value = std::env::var(PROJECT_ID_ENV).map_err(|_| {
                    CliError::Usage(format!(
                        "no project: pass --project or set ROMA_ASSETS_PROJECT or {PROJECT_ID_ENV}"
                    ))
                })?;
                value.parse().map_err(|e| {
                    CliError::Usage(format!("{PROJECT_ID_ENV}: not a project id: {e}"))
                })?
            }
        };
        let builder = match (&token.token, &self.access_key, &self.secret_key) {
            (Some(token), _, _) => ClientBuilder::new(&self.endpoint, &token.0),
            (None, Some(ak), Some(sk)) => {
                let key = SigningKey::new(&ak.0, &sk.0)
                    .map_err(|e| CliError::Usage(format!("HUAWEICLOUD_SDK_AK/_SK: {e}")))?;
                ClientBuilder::signed(&self.endpoint, key)
            }
            (None, Some(_), None) => {
                return Err(CliError::Usage(
                    "an access key without its secret key: set HUAWEICLOUD_SDK_SK (or --secret-key)"
                        .into(),
                ));
            }
            (None, None, Some(_)) => {
                return Err(CliError::Usage(
                    "a secret key without its access key: set HUAWEICLOUD_SDK_AK (or --access-key)"
                        .into(),
                ));
            }
            (None, None, None) => {
                return Err(CliError::Usage(
                    "no credential: set ROMA_ASSETS_TOKEN (or --token), or HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK to sign requests"
                        .into(),
                ));
            }
        };
        let builder = match &self.ca_bundle {
            Some(pem) => builder.ca_bundle(pem),
            None => builder,
        };
        Ok((builder.build()?, project))
    }
}

/// What is wrong with an endpoint a user typed, before any request: a missing scheme (the URL
/// parser would say "relative URL without a base") or the API's `/v2` (the client adds it, and
/// the doubled path answers a bare 404).
fn endpoint_problem(endpoint: &str) -> Option<String> {
    if !endpoint.contains("://") {
        return Some(format!(
            "--endpoint {endpoint:?}: give a URL with its scheme, e.g. http://{endpoint} or https://{endpoint}"
        ));
    }
    let path = endpoint.split_once("://").map_or("", |(_, rest)| rest);
    let path = path
        .split_once('/')
        .map_or("", |(_, path)| path)
        .trim_end_matches('/');
    if path == "v2" || path.ends_with("/v2") {
        return Some(format!(
            "--endpoint {endpoint:?}: give the base URL without /v2 (the client adds /v2/...)"
        ));
    }
    None
}

/// A token: taken from the command line or the environment, never shown by `Debug`. Checked when
/// the client is built, not by clap, whose error message would echo the value.
#[derive(Clone)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// `--wait` and how long to wait.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait for the job to end, showing its progress.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds (the job goes on).
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    pub wait_timeout: u64,
}

impl WaitArgs {
    /// The polling options.
    pub fn options(&self) -> WaitOptions {
        WaitOptions {
            timeout: Duration::from_secs(self.wait_timeout),
            ..WaitOptions::default()
        }
    }
}

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// All went well (exit 0).
    Ok,
    /// The job it started or looked at FAILED (exit 3).
    JobFailed,
}

/// Why a command failed: exit 1, or 2 for [`CliError::Usage`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A call to the server failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A package was refused (`package inspect`).
    #[error(transparent)]
    Package(#[from] PackageError),
    /// Anything else, said in a sentence.
    #[error("{0}")]
    Message(String),
    /// The command cannot run as given (exit 2, as clap's usage errors).
    #[error("{0}")]
    Usage(String),
    /// Ctrl-C while waiting (exit 130, as a shell reports SIGINT); what goes on was printed.
    #[error("interrupted")]
    Interrupted,
}

/// Exit code for a usage error (clap uses the same).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a job that FAILED.
pub const EXIT_JOB_FAILED: u8 = 3;

/// Reports a command's end and turns it into the process's exit code. With `json`, a failure is
/// also printed as `{"error": {...}}` on stdout, so a script always gets one JSON document.
pub fn finish(result: Result<Done, CliError>, json: bool) -> ExitCode {
    match result {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::JobFailed) => ExitCode::from(EXIT_JOB_FAILED),
        Err(error @ CliError::Usage(_)) => {
            report(&error, json);
            ExitCode::from(EXIT_USAGE)
        }
        Err(CliError::Interrupted) => ExitCode::from(130),
        Err(error) => {
            report(&error, json);
            ExitCode::FAILURE
        }
    }
}

fn report(error: &CliError, json: bool) {
    match error {
        CliError::Client(ClientError::Api(failure)) => {
            eprintln!("error: {} {}", failure.error_code, failure.error_msg);
            if let Some(details) = &failure.error_details {
                eprintln!("  details:    {details}");
            }
            eprintln!("  status:     HTTP {}", failure.status);
            eprintln!("  request id: {}", failure.request_id);
            if json {
                super::output::print_json(&serde_json::json!({ "error": failure }));
            }
        }
        CliError::Package(e) => {
            eprintln!("error: {} {e}", e.code());
            if json {
                super::output::print_json(&serde_json::json!({
                    "error": { "error_code": e.code(), "error_msg": e.to_string() }
                }));
            }
        }
        other => {
            eprintln!("error: {other}");
            if json {
                super::output::print_json(&serde_json::json!({
                    "error": { "message": other.to_string() }
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_people_type_are_checked_before_any_request() {
        assert_eq!(endpoint_problem("http://127.0.0.1:8080"), None);
        assert_eq!(endpoint_problem("https://roma.example.com/stem/"), None);
        assert!(
            endpoint_problem("127.0.0.1:8080")
                .unwrap()
                .contains("http://127.0.0.1:8080")
        );
        assert!(
            endpoint_problem("http://h:1/v2")
                .unwrap()
                .contains("without /v2")
        );
        assert!(
            endpoint_problem("http://h:1/stem/v2/")
                .unwrap()
                .contains("without /v2")
        );
    }
}
