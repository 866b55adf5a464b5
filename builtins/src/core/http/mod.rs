//! HTTP for the builtins that download (`fetch`, Debian repositories): one download path,
//! [`download`] (into the store, hash-verified while streaming) and [`get`] (the same
//! path into memory, for repository indices), over one process-wide ureq agent whose
//! connection pool keeps connections alive across downloads (a Debian set of 150
//! packages costs a handful of DNS lookups and TCP handshakes instead of 150 — on this
//! machine an occasional lookup took 5 s).
//!
//! The rules, each with a test (unit tests below, end to end in `tests/fetch.rs`):
//!
//! - **Mirrors in order.** Candidate URLs are tried one after the other; the first
//!   complete, verified download wins.
//! - **Transient failures are retried on the same URL**: connection errors and timeouts,
//!   HTTP 5xx, 408 and 429, a body cut short. Up to [`ATTEMPTS`] attempts with
//!   [`backoff`] (or the server's `Retry-After`, at most 30 s). A retry **resumes** with
//!   `Range: bytes=N-` from the bytes already written: the hash state and the blob
//!   writer carry over. A server that ignores the range (200 instead of 206) sends the
//!   whole file: the download starts over cleanly (new writer, new hash).
//! - **Permanent failures go straight to the next URL**: any other 4xx, a hash or size
//!   mismatch, a redirect to anything but http/https, too many redirects, a local file
//!   that cannot be read.
//! - **Redirects are followed here, not by ureq** (whose own redirect code panics on a
//!   `Location` without a host, such as `file:` or `data:`): at most
//!   [`MAX_REDIRECTS`], to http and https only, a relative `Location` resolved against
//!   the current URL.
//! - **Credentials** in a URL (`https://user:token@host/x`) are sent as HTTP basic
//!   authentication, to that URL's origin only (a redirect elsewhere drops them), and
//!   are never shown: every URL in an error or a note goes through [`redact`]
//!   (`https://***@host/x`), and ureq never sees the userinfo, so none of its messages
//!   can contain it either.
//! - **Blame** ([`Blame`], which decides the exit code): content that differs from the
//!   promise (hash or size mismatch) is the recipe's (or lock file's) fault; everything
//!   else — unreachable hosts, server errors, and also 404/403 — is the environment's.
//!   A URL is only a location (it is not part of a fixed output's identity, and Debian
//!   mirrors are chosen at build time), so a location that does not serve the file is
//!   fixed by pointing at another mirror or waiting for one to sync, like a host that is
//!   down; the promise itself was not contradicted.
//! - `file://` URLs are read from disk (local repositories and tests).

mod failure;
#[cfg(test)]
mod tests;
mod transfer;
mod url;

use std::time::Duration;

pub use failure::{Blame, DownloadError, ExpectedHash, Failure, HashAlgorithm, UrlFailure};
pub use transfer::{download, get, Downloaded, Event};
pub use url::redact;

/// How many times one URL is tried before the next one.
pub const ATTEMPTS: u32 = 4;
/// How many redirects one request follows.
pub const MAX_REDIRECTS: usize = 5;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The pause before retry number `attempt` (1-based): 0.25 s, 1 s, 2.25 s, ...
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt * attempt))
}

fn agent() -> ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT
        .get_or_init(|| {
            ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(15))
                .timeout_read(Duration::from_secs(60))
                .max_idle_connections_per_host(16)
                // Redirects are followed by `open_remote`, which checks the target first.
                .redirects(0)
                .build()
        })
        .clone()
}
