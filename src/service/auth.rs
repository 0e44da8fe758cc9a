//! Who may call: tokens scoped to one project each, as IAM tokens are in the real service.
//!
//! A token is compared in constant time against every configured token, so the answer time does
//! not reveal how much of a guess was right. Tokens are never logged: [`Tokens`]' `Debug` lists
//! projects only.

use std::fmt;

use crate::server::{ApiError, Credential, codes, limits};

/// The configured tokens: (project id, token) pairs.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<(String, String)>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(project, _)| project))
            .finish()
    }
}

/// Why a `PROJECT=TOKEN` setting was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenSpecError {
    /// Not of the form `PROJECT=TOKEN`.
    #[error("`{0}` is not PROJECT=TOKEN")]
    Malformed(String),
    /// The project id is empty or breaks the document's length limit, or the token its
    /// security scheme's limits.
    #[error("project `{0}`: {1}")]
    OutOfBounds(String, String),
}

impl Tokens {
    /// Adds `token` for `project`. Several tokens may share a project.
    pub fn insert(&mut self, project: impl Into<String>, token: impl Into<String>) {
        self.entries.push((project.into(), token.into()));
    }

    /// Parses `PROJECT=TOKEN` (the `--token` flag and each comma-separated item of
    /// `ROMA_ASSETS_TOKENS`).
    pub fn parse_spec(&mut self, spec: &str) -> Result<(), TokenSpecError> {
        let (project, token) = spec
            .split_once('=')
            .ok_or_else(|| TokenSpecError::Malformed(redact(spec)))?;
        let (project, token) = (project.trim(), token.trim());
        // The project's bound is the document's (a generated constant); a token's project must
        // exist, so an empty one is refused although the path parameter may be empty. The
        // token follows the one rule the client applies too.
        const PROJECT_MAX: usize = limits::PROJECT_ID_MAX_LENGTH;
        if project.is_empty() || project.chars().count() > PROJECT_MAX {
            return Err(TokenSpecError::OutOfBounds(
                project.chars().take(PROJECT_MAX).collect(),
                format!("a project id is 1..{PROJECT_MAX} characters"),
            ));
        }
        if let Some(problem) = crate::client::token_problem(token) {
            return Err(TokenSpecError::OutOfBounds(project.to_string(), problem));
        }
        self.insert(project, token);
        Ok(())
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The projects that have a token, for messages.
    pub fn projects(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(project, _)| project.as_str())
    }

    /// Checks that `credential` is a token of `project_id`: an unknown token is 401 ROMA.1002,
    /// a token of another project 403 ROMA.1006.
    pub fn authorize(&self, credential: &Credential, project_id: &str) -> Result<(), ApiError> {
        let presented = credential.expose().as_bytes();
        // Check every entry, without stopping early, so timing does not tell which matched.
        let mut owner: Option<&str> = None;
        for (project, token) in &self.entries {
            if constant_time_eq(presented, token.as_bytes()) && owner.is_none() {
                owner = Some(project);
            }
        }
        match owner {
            None => Err(ApiError::new(codes::ROMA_1002, "token not valid")
                .with_details("the X-Auth-Token is not a token of this server")),
            Some(project) if project == project_id => Ok(()),
            Some(_) => Err(
                ApiError::new(codes::ROMA_1006, "no permission for this operation")
                    .with_details("the token is scoped to another project"),
            ),
        }
    }
}

fn redact(spec: &str) -> String {
    match spec.split_once('=') {
        Some((project, _)) => format!("{project}=…"),
        None => "<no = sign>".to_string(),
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

/// A random token (32 hex characters) for `serve` when none is configured.
pub fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let mut t = Tokens::default();
        t.parse_spec("alpha=token-a").unwrap();
        t.parse_spec("beta=token-b").unwrap();
        t
    }

    #[test]
    fn a_token_opens_its_own_project_only() {
        let t = tokens();
        assert!(t.authorize(&Credential::new("token-a"), "alpha").is_ok());
        let other = t
            .authorize(&Credential::new("token-a"), "beta")
            .unwrap_err();
        assert_eq!(other.code().code, "ROMA.1006");
        assert_eq!(other.status(), 403);
        let unknown = t
            .authorize(&Credential::new("token-c"), "alpha")
            .unwrap_err();
        assert_eq!(unknown.code().code, "ROMA.1002");
        assert_eq!(unknown.status(), 401);
        // A prefix of a valid token is not valid.
        assert!(t.authorize(&Credential::new("token-"), "alpha").is_err());
    }

    #[test]
    fn token_specs_are_checked_and_never_echoed() {
        let mut t = Tokens::default();
        assert_eq!(
            t.parse_spec("no-equals-secret"),
            Err(TokenSpecError::Malformed("<no = sign>".into()))
        );
        assert!(t.parse_spec("=tok").is_err());
        assert!(t.parse_spec("p=").is_err());
        assert!(t.parse_spec("p=has space").is_err());
        t.parse_spec("p=s3cret").unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
