//! [`RetryPolicy`]: which failed calls are sent again, and after how long.
//!
//! The policy, in full:
//!
//! - **GET** operations (CheckAssetJobStatus, DownloadAssetArchive, ListApps, ListTasks) are
//!   retried on transient failures: a connection that could not be opened, a timeout or reset
//!   before the answer arrived, and the statuses 429, 502, 503 and 504.
//! - **POST** operations (ExportAsset, ImportAsset) are retried **only** when the connection
//!   could not be opened, so the request certainly never reached the server. Once it may have
//!   (a timeout, a reset, any answer at all) it is never sent again: a second export or import
//!   would create a second job.
//! - Between attempts the wait doubles from [`RetryPolicy::initial_backoff`] up to
//!   [`RetryPolicy::max_backoff`], and a random part of it (up to half) is taken off, so clients
//!   that failed together do not come back together. At most [`RetryPolicy::max_attempts`] are
//!   made; the last failure is returned as it was.
//!
//! A download is retried only until its answer starts: a stream cut half-way is not resumed (the
//! server serves an archive once). This module decides and waits; it must not build requests.

use std::future::Future;
use std::time::Duration;

use super::ClientError;

/// The HTTP method of an operation, which decides what may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reads: safe to send again.
    Get,
    /// Creates a job: sent again only if it never left the client.
    Post,
}

/// How failed calls are retried. See the module documentation for the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1 means no retry).
    pub max_attempts: u32,
    /// The wait before the first retry, before jitter.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, waits of about 0.25 s, 0.5 s, 1 s, never over 5 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// One attempt only.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Whether `error`, from an operation with `method`, may be retried.
    pub fn is_transient(error: &ClientError, method: Method) -> bool {
        if error.is_connect() {
            return true;
        }
        if method == Method::Post {
            return false;
        }
        match error {
            ClientError::Transport(_) => true,
            _ => matches!(error.status(), Some(429 | 502 | 503 | 504)),
        }
    }

    /// The wait before retry number `retry` (0 for the first): `initial_backoff * 2^retry`,
    /// capped at `max_backoff`, less a random part of up to half of it.
    pub fn backoff(&self, retry: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(31)))
            .min(self.max_backoff);
        let half = base / 2;
        let jitter = half.mul_f64(fastrand::f64());
        base - jitter
    }

    /// Runs `call` until it succeeds, fails for good, or the attempts are used up.
    pub async fn run<T, F, Fut>(&self, method: Method, mut call: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut retry = 0;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error)
                    if retry + 1 < self.max_attempts && Self::is_transient(&error, method) =>
                {
                    let wait = self.backoff(retry);
                    tracing::debug!(%error, ?wait, attempt = retry + 1, "retrying a transient failure");
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ApiFailure;

    fn answered(status: u16) -> ClientError {
        ClientError::Api(ApiFailure {
            status,
            error_code: "X".into(),
            error_msg: "x".into(),
            error_details: None,
            request_id: "r".into(),
        })
    }

    #[test]
    fn gets_retry_on_overload_and_gateway_statuses_only() {
        for status in [429, 502, 503, 504] {
            assert!(RetryPolicy::is_transient(&answered(status), Method::Get));
        }
        for status in [400, 401, 403, 404, 413, 500] {
            assert!(!RetryPolicy::is_transient(&answered(status), Method::Get));
        }
        let unexpected = ClientError::Unexpected {
            status: 503,
            request_id: None,
            body: "proxy says no".into(),
        };
        assert!(RetryPolicy::is_transient(&unexpected, Method::Get));
    }

    #[test]
    fn posts_never_retry_once_the_server_answered() {
        for status in [429, 500, 502, 503, 504] {
            assert!(!RetryPolicy::is_transient(&answered(status), Method::Post));
        }
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_by_at_most_half() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        for (retry, base) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (30, 1000),
        ] {
            let base = Duration::from_millis(base);
            for _ in 0..50 {
                let wait = policy.backoff(retry);
                assert!(wait <= base && wait >= base / 2, "retry {retry}: {wait:?}");
            }
        }
        // Jitter: 50 waits are not all the same.
        let waits: std::collections::BTreeSet<_> = (0..50).map(|_| policy.backoff(3)).collect();
        assert!(waits.len() > 1);
    }

    #[tokio::test]
    async fn run_stops_at_max_attempts_and_returns_the_last_failure() {
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let mut calls = 0;
        let result: Result<(), _> = policy
            .run(Method::Get, || {
                calls += 1;
                let status = 500 + calls;
                async move { Err(answered(status)) }
            })
            .await;
        // 501 is not transient: one call only.
        assert_eq!(calls, 1);
        assert_eq!(result.unwrap_err().status(), Some(501));

        let mut calls = 0;
        let result: Result<(), _> = policy
            .run(Method::Get, || {
                calls += 1;
                async { Err(answered(503)) }
            })
            .await;
        assert_eq!(calls, 3);
        assert_eq!(result.unwrap_err().status(), Some(503));
    }
}
