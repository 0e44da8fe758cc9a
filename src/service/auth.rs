//! Who may call: tokens and AK/SK pairs, each scoped to one project, as IAM credentials are in
//! the real service.
//!
//! A token is compared in constant time against every configured token, so the answer time does
//! not reveal how much of a guess was right. A signed request reaches the service already
//! verified by the generated layer (with the secret key [`Credentials::secret_key`] gives it);
//! here it is only scoped to its key's project. Tokens and secret keys are never logged:
//! [`Credentials`]' `Debug` lists projects and access keys only.

use std::fmt;

use roma_assets_runtime::sign::{SigningKey, constant_time_eq};

use crate::contract::{codes, limits};
use crate::server::{ApiError, Credential};

/// The configured credentials: (project id, token) pairs and (project id, AK/SK) pairs.
#[derive(Clone, Default)]
pub struct Credentials {
    tokens: Vec<(String, String)>,
    keys: Vec<(String, SigningKey)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field(
                "token_projects",
                &self.tokens.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field(
                "access_keys",
                &self
                    .keys
                    .iter()
                    .map(|(p, k)| format!("{p}={}", k.access_key()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a `PROJECT=TOKEN` or `PROJECT=AK:SK` setting was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenSpecError {
    /// Not of the form `PROJECT=TOKEN` (or `PROJECT=AK:SK`).
    #[error("`{0}` is not {1}")]
    Malformed(String, &'static str),
    /// The project id is empty or breaks the document's length limit, or the token its
    /// security scheme's limits, or a key part is not visible ASCII.
    #[error("project `{0}`: {1}")]
    OutOfBounds(String, String),
    /// The access key is configured already (an AK names one key).
    #[error("access key `{0}` is given twice")]
    DuplicateAccessKey(String),
}

impl Credentials {
    /// Adds `token` for `project`. Several tokens may share a project.
    pub fn insert(&mut self, project: impl Into<String>, token: impl Into<String>) {
        self.tokens.push((project.into(), token.into()));
    }

    /// Adds the AK/SK pair `key` for `project`. Several keys may share a project; an access key
    /// names one key.
    pub fn insert_key(
        &mut self,
        project: impl Into<String>,
        key: SigningKey,
    ) -> Result<(), TokenSpecError> {
        if self
            .keys
            .iter()
            .any(|(_, k)| k.access_key() == key.access_key())
        {
            return Err(TokenSpecError::DuplicateAccessKey(
                key.access_key().to_string(),
            ));
        }
        self.keys.push((project.into(), key));
        Ok(())
    }

    /// Parses `PROJECT=TOKEN` (the `--token` flag and each comma-separated item of
    /// `ROMA_ASSETS_TOKENS`).
    pub fn parse_spec(&mut self, spec: &str) -> Result<(), TokenSpecError> {
        let (project, token) = split_spec(spec, "PROJECT=TOKEN")?;
        // The token follows the one rule the client applies too.
        if let Some(problem) = crate::contract::token_problem(token) {
            return Err(TokenSpecError::OutOfBounds(project.to_string(), problem));
        }
        self.insert(project, token);
        Ok(())
    }

    /// Parses `PROJECT=AK:SK` (the `--credential` flag and each comma-separated item of
    /// `ROMA_ASSETS_CREDENTIALS`).
    pub fn parse_key_spec(&mut self, spec: &str) -> Result<(), TokenSpecError> {
        const FORM: &str = "PROJECT=AK:SK";
        let (project, pair) = split_spec(spec, FORM)?;
        let (ak, sk) = pair
            .split_once(':')
            .ok_or_else(|| TokenSpecError::Malformed(redact(spec), FORM))?;
        let key = SigningKey::new(ak, sk)
            .map_err(|e| TokenSpecError::OutOfBounds(project.to_string(), e.to_string()))?;
        self.insert_key(project, key)
    }

    /// Whether no token and no key is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.keys.is_empty()
    }

    /// Whether an AK/SK pair is configured.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whether a token is configured.
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The projects that have a token or a key, once each, for messages.
    pub fn projects(&self) -> Vec<&str> {
        let mut projects: Vec<&str> = self
            .tokens
            .iter()
            .map(|(p, _)| p.as_str())
            .chain(self.keys.iter().map(|(p, _)| p.as_str()))
            .collect();
        projects.sort_unstable();
        projects.dedup();
        projects
    }

    /// The secret key of `access_key`, for the generated layer's signature check.
    pub fn secret_key(&self, access_key: &str) -> Option<String> {
        self.keys
            .iter()
            .find(|(_, key)| key.access_key() == access_key)
            .map(|(_, key)| key.secret_key().to_string())
    }

    /// Checks that `credential` may act on `project_id`: an unknown token is 401 ROMA.1002, a
    /// token or key of another project 403 ROMA.1006.
    pub fn authorize(&self, credential: &Credential, project_id: &str) -> Result<(), ApiError> {
        let owner = match credential {
            Credential::Key(token) => {
                let presented = token.as_bytes();
                // Check every entry, without stopping early, so timing does not tell which matched.
                let mut owner: Option<&str> = None;
                for (project, token) in &self.tokens {
                    if constant_time_eq(presented, token.as_bytes()) && owner.is_none() {
                        owner = Some(project);
                    }
                }
                owner.ok_or_else(|| {
                    ApiError::new(codes::ROMA_1002, "token not valid")
                        .with_details("the X-Auth-Token is not a token of this server")
                })?
            }
            // Verified by the generated layer with this server's secret key, so the key exists
            // (unless it was removed since: then it is as unknown as a bad token).
            Credential::Signed { access_key } => self
                .keys
                .iter()
                .find(|(_, key)| key.access_key() == access_key)
                .map(|(project, _)| project.as_str())
                .ok_or_else(|| {
                    ApiError::new(codes::ROMA_1002, "credential not valid")
                        .with_details("the access key is not a key of this server")
                })?,
        };
        if owner == project_id {
            Ok(())
        } else {
            Err(
                ApiError::new(codes::ROMA_1006, "no permission for this operation")
                    .with_details("the credential is scoped to another project"),
            )
        }
    }
}

/// Splits `PROJECT=VALUE` and checks the project against the document's bound.
fn split_spec<'a>(spec: &'a str, form: &'static str) -> Result<(&'a str, &'a str), TokenSpecError> {
    let (project, value) = spec
        .split_once('=')
        .ok_or_else(|| TokenSpecError::Malformed(redact(spec), form))?;
    let (project, value) = (project.trim(), value.trim());
    // The project's bound is the document's (a generated constant); a credential's project must
    // exist, so an empty one is refused although the path parameter may be empty.
    const PROJECT_MAX: usize = limits::PROJECT_ID_MAX_LENGTH;
    if project.is_empty() || project.chars().count() > PROJECT_MAX {
        return Err(TokenSpecError::OutOfBounds(
            project.chars().take(PROJECT_MAX).collect(),
            format!("a project id is 1..{PROJECT_MAX} characters"),
        ));
    }
    Ok((project, value))
}

fn redact(spec: &str) -> String {
    match spec.split_once('=') {
        Some((project, _)) => format!("{project}=…"),
        None => "<no = sign>".to_string(),
    }
}

/// A random token (32 hex characters) for `serve` when none is configured.
pub fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A random AK/SK pair for `serve --demo` when no credential is configured: a 20-character
/// access key and a 40-character secret key, upper-case letters and digits as Huawei's are.
pub fn random_key() -> SigningKey {
    let random = |len: usize| {
        let mut text = String::new();
        while text.len() < len {
            text.push_str(
                &uuid::Uuid::new_v4()
                    .simple()
                    .to_string()
                    .to_ascii_uppercase(),
            );
        }
        text.truncate(len);
        text
    };
    SigningKey::new(random(20), random(40)).expect("hex digits are visible ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Credentials {
        let mut t = Credentials::default();
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
        let mut t = Credentials::default();
        assert_eq!(
            t.parse_spec("no-equals-secret"),
            Err(TokenSpecError::Malformed(
                "<no = sign>".into(),
                "PROJECT=TOKEN"
            ))
        );
        assert!(t.parse_spec("=tok").is_err());
        assert!(t.parse_spec("p=").is_err());
        assert!(t.parse_spec("p=has space").is_err());
        t.parse_spec("p=s3cret").unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn a_key_opens_its_own_project_only() {
        let mut c = Credentials::default();
        c.parse_key_spec("alpha=AK1:SK1").unwrap();
        let signed = Credential::Signed {
            access_key: "AK1".into(),
        };
        assert!(c.authorize(&signed, "alpha").is_ok());
        assert_eq!(
            c.authorize(&signed, "beta").unwrap_err().code().code,
            "ROMA.1006"
        );
        assert_eq!(c.secret_key("AK1").as_deref(), Some("SK1"));
        assert_eq!(c.secret_key("AK2"), None);
        assert_eq!(
            c.parse_key_spec("beta=AK1:other"),
            Err(TokenSpecError::DuplicateAccessKey("AK1".into()))
        );
        assert!(c.parse_key_spec("beta=no-colon").is_err());
        assert!(c.parse_key_spec("beta=AK:has space").is_err());
        assert!(!format!("{c:?}").contains("SK1"));
    }

    #[test]
    fn random_keys_look_like_huawei_keys() {
        let key = random_key();
        assert_eq!(key.access_key().len(), 20);
        assert_ne!(key.access_key(), random_key().access_key());
    }
}
