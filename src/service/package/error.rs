//! [`PackageError`]: why a package could not be read or written, each refusal with a stable
//! error code of the document; and the helpers that keep every message short enough for the
//! API's 128-character `error_details`.

/// Entry names and values are cut to this many characters in error messages, so a message fits
/// the 128-character `error_details` of the API.
pub(super) const MESSAGE_NAME_CHARS: usize = 60;

/// Messages are cut to this many characters.
pub(super) const MESSAGE_CHARS: usize = 120;

/// Why a package could not be read or written. Messages name the entry and the limit or value
/// at fault and stay under about 120 characters.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Not a zip, truncated, or an entry that does not decompress (ROMA.10011).
    #[error("package cannot be decompressed: {0}")]
    Corrupt(String),
    /// The package's file name breaks the document's rule for uploads (checked by the server's
    /// generated layer as the part arrives; by `package inspect` and the client before).
    #[error("{0}")]
    BadFileName(String),
    /// An entry whose name or type could escape or alias the package (ROMA.10030).
    #[error("entry `{entry}`: {reason}")]
    UnsafeEntry {
        /// The entry name (cut for display).
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Too many entries, or too many bytes, or a ratio that betrays a zip bomb (ROMA.10031).
    #[error("{0}")]
    LimitExceeded(String),
    /// Two entries with the same name (ROMA.10032).
    #[error("entry `{0}` appears more than once")]
    DuplicateEntry(String),
    /// An asset file whose SHA-256 differs from the manifest's (ROMA.10033).
    #[error(
        "entry `{entry}`: sha256 {}… differs from the manifest's {}…",
        prefix(.actual, 12),
        prefix(.expected, 12)
    )]
    ChecksumMismatch {
        /// The entry name (cut for display).
        entry: String,
        /// SHA-256 the manifest lists.
        expected: String,
        /// SHA-256 of the entry's bytes.
        actual: String,
    },
    /// A manifest of another format version (ROMA.10034).
    #[error("manifest.json: format_version {0} is not supported (this reader knows 1)")]
    UnknownVersion(String),
    /// A package that is a readable zip but not a consistent package (ROMA.10035).
    #[error("{0}")]
    Invalid(String),
    /// More apps and tasks than allowed (ROMA.10036).
    #[error("package holds {count} apps and tasks, at most {max} are allowed")]
    TooManyAssets {
        /// Apps and tasks in the manifest.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The package file could not be opened, or the package could not be written (ROMA.10010).
    /// Not the package's fault: an internal error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

impl PackageError {
    /// The error code of this failure, as the API reports it.
    pub fn code(&self) -> &'static str {
        self.error_code().code
    }

    /// The document's error code (with its status) for this failure.
    pub fn error_code(&self) -> crate::contract::codes::ErrorCode {
        use crate::contract::codes;
        match self {
            PackageError::Corrupt(_) => codes::ROMA_10011,
            PackageError::BadFileName(_) => codes::ROMA_10013,
            PackageError::UnsafeEntry { .. } => codes::ROMA_10030,
            PackageError::LimitExceeded(_) => codes::ROMA_10031,
            PackageError::DuplicateEntry(_) => codes::ROMA_10032,
            PackageError::ChecksumMismatch { .. } => codes::ROMA_10033,
            PackageError::UnknownVersion(_) => codes::ROMA_10034,
            PackageError::Invalid(_) => codes::ROMA_10035,
            PackageError::TooManyAssets { .. } => codes::ROMA_10036,
            PackageError::Io { .. } => codes::ROMA_10010,
        }
    }
}

/// The first `n` characters of `s`.
pub(super) fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `s` fit for a message: control characters replaced, cut to `max` characters.
pub(super) fn clip(s: &str, max: usize) -> String {
    let clean = s.chars().map(|c| if c.is_control() { '?' } else { c });
    if s.chars().count() <= max {
        clean.collect()
    } else {
        let mut cut: String = clean.take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// An entry name fit for a message.
pub(super) fn show(name: &str) -> String {
    clip(name, MESSAGE_NAME_CHARS)
}

pub(super) fn invalid(message: String) -> PackageError {
    PackageError::Invalid(clip(&message, MESSAGE_CHARS))
}

pub(super) fn limit(message: String) -> PackageError {
    PackageError::LimitExceeded(clip(&message, MESSAGE_CHARS))
}

pub(super) fn corrupt(entry: Option<&str>, cause: &dyn std::fmt::Display) -> PackageError {
    let message = match entry {
        Some(name) => format!("entry `{}`: {cause}", show(name)),
        None => cause.to_string(),
    };
    // The prefix "package cannot be decompressed: " takes 32 characters.
    PackageError::Corrupt(clip(&message, MESSAGE_CHARS - 32))
}

pub(super) fn unsafe_entry(name: &str, reason: &'static str) -> PackageError {
    PackageError::UnsafeEntry {
        entry: show(name),
        reason,
    }
}
