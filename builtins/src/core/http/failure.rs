//! Why a download failed, and whose fault it is: per-URL [`Failure`]s, the
//! [`DownloadError`] over all URLs, and [`Blame`], which decides the exit code.

use std::fmt;
use std::time::Duration;

use imgbuild_engine::BuildError;
use imgbuild_store::StoreError;

use super::*;

/// The hash a download promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// BLAKE3.
    Blake3,
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Blake3 => "blake3",
        })
    }
}

/// The content a download must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedHash {
    /// Which hash.
    pub algorithm: HashAlgorithm,
    /// Its value.
    pub digest: [u8; 32],
}

/// Whose fault a failed download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The content is not what the recipe (or lock file) promised, or the recipe's URL
    /// cannot be used at all.
    Recipe,
    /// The network, a server or the machine.
    Environment,
}

/// Why one URL failed (its last attempt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The server answered with an error status.
    #[error("HTTP {status}{}", status_reason(*status))]
    Status {
        /// The status code.
        status: u16,
        /// The server's `Retry-After`, if it gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// No answer: DNS, connection refused or reset, timeout, garbled response.
    #[error("{0}")]
    Connection(String),
    /// The body stopped before its end.
    #[error("the transfer stopped after {received} bytes: {detail}")]
    Cut {
        /// Bytes of the file received so far.
        received: u64,
        /// What the connection said.
        detail: String,
    },
    /// A range request was answered with another range, or refused.
    #[error("the server did not resume at byte {offset} ({detail})")]
    Range {
        /// Where the download wanted to resume.
        offset: u64,
        /// What came back.
        detail: String,
    },
    /// A redirect that is not followed.
    #[error("redirected to `{location}`: {reason}")]
    Redirect {
        /// The `Location`, redacted and shortened.
        location: String,
        /// Why it is not followed.
        reason: String,
    },
    /// A redirect chain longer than [`MAX_REDIRECTS`].
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    /// The URL cannot be requested at all.
    #[error("not a usable URL: {0}")]
    InvalidUrl(String),
    /// A `file://` URL that cannot be read.
    #[error("{0}")]
    Local(String),
    /// The complete file is shorter than promised.
    #[error("truncated: {received} of {expected} bytes")]
    Truncated {
        /// Bytes received.
        received: u64,
        /// Bytes promised.
        expected: u64,
    },
    /// The file is longer than promised.
    #[error("more than the {expected} bytes expected")]
    TooLong {
        /// Bytes promised.
        expected: u64,
    },
    /// The file is larger than the caller accepts (no size was promised).
    #[error("larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The content is not the promised content.
    #[error(
        "{algorithm} mismatch: expected {}, got {} ({size} bytes)",
        hex::encode(expected),
        hex::encode(actual)
    )]
    HashMismatch {
        /// The hash.
        algorithm: HashAlgorithm,
        /// What was promised.
        expected: [u8; 32],
        /// What was received.
        actual: [u8; 32],
        /// How many bytes were received.
        size: u64,
    },
}

fn status_reason(status: u16) -> &'static str {
    match status {
        400 => " (bad request)",
        401 => " (unauthorized)",
        403 => " (forbidden)",
        404 => " (not found)",
        408 => " (request timeout)",
        410 => " (gone)",
        416 => " (range not satisfiable)",
        429 => " (too many requests)",
        500 => " (internal server error)",
        502 => " (bad gateway)",
        503 => " (service unavailable)",
        504 => " (gateway timeout)",
        _ => "",
    }
}

impl Failure {
    /// Whether trying the same URL again can help.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Failure::Connection(_) | Failure::Cut { .. } | Failure::Range { .. } => true,
            Failure::Redirect { .. }
            | Failure::TooManyRedirects
            | Failure::InvalidUrl(_)
            | Failure::Local(_)
            | Failure::Truncated { .. }
            | Failure::TooLong { .. }
            | Failure::TooLarge { .. }
            | Failure::HashMismatch { .. } => false,
        }
    }

    /// Whose fault it is (see the module docs for why 404 is the environment's).
    pub fn blame(&self) -> Blame {
        match self {
            Failure::InvalidUrl(_)
            | Failure::Truncated { .. }
            | Failure::TooLong { .. }
            | Failure::HashMismatch { .. } => Blame::Recipe,
            _ => Blame::Environment,
        }
    }

    /// The pause before the next attempt, after `attempt` failed ones.
    pub(super) fn pause(&self, attempt: u32) -> Duration {
        let retry_after = match self {
            Failure::Status {
                retry_after: Some(after),
                ..
            } => (*after).min(MAX_RETRY_AFTER),
            _ => Duration::ZERO,
        };
        backoff(attempt).max(retry_after)
    }
}

/// How one URL failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {failure}{}", if *attempts > 1 { format!(" (after {attempts} attempts)") } else { String::new() })]
pub struct UrlFailure {
    /// The URL, redacted.
    pub url: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// What went wrong the last time.
    pub failure: Failure,
}

/// A failed download.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The caller gave no URL.
    #[error("no URL to download from")]
    NoUrls,
    /// Every URL failed; one entry per URL, in order.
    #[error("{}", describe_failures(.0))]
    Failed(Vec<UrlFailure>),
    /// Writing to the store failed (no other URL is tried: it would fail the same way).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn describe_failures(failures: &[UrlFailure]) -> String {
    let all: Vec<String> = failures.iter().map(ToString::to_string).collect();
    match all.as_slice() {
        [one] => one.clone(),
        _ => format!("all {} URLs failed:\n  {}", all.len(), all.join("\n  ")),
    }
}

impl DownloadError {
    /// Whose fault it is: the recipe's if any URL served content other than the promised
    /// one (fixing the network would not help), else the environment's.
    pub fn blame(&self) -> Blame {
        match self {
            DownloadError::NoUrls => Blame::Recipe,
            DownloadError::Store(_) => Blame::Environment,
            DownloadError::Failed(failures) => {
                if failures
                    .iter()
                    .any(|failure| failure.failure.blame() == Blame::Recipe)
                {
                    Blame::Recipe
                } else {
                    Blame::Environment
                }
            }
        }
    }

    /// The builder error: [`BuildError::Failed`] (exit 1) for the recipe's fault,
    /// [`BuildError::Network`] (exit 3) for the network's, [`BuildError::Store`] for the
    /// store's; `what` says what was downloaded ("fetch of x").
    pub fn into_build_error(self, what: &str) -> BuildError {
        let blame = self.blame();
        match self {
            DownloadError::Store(error) => BuildError::Store(error),
            other => {
                let message = format!("{what} failed: {other}");
                match blame {
                    Blame::Recipe => BuildError::Failed(message),
                    Blame::Environment => BuildError::Network(message),
                }
            }
        }
    }
}
