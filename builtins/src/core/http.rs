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

use std::fmt;
use std::io::{Read, Write};
use std::time::Duration;

use imgbuild_engine::BuildError;
use imgbuild_store::{BlobInfo, BlobWriter, Store, StoreError};
use sha2::Digest as _;

/// How many times one URL is tried before the next one.
pub const ATTEMPTS: u32 = 4;
/// How many redirects one request follows.
pub const MAX_REDIRECTS: usize = 5;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

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
    fn pause(&self, attempt: u32) -> Duration {
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

/// What a download reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Bytes of the current file received so far (starts again at 0 when a download
    /// starts over) and the size, if known.
    Progress {
        /// Bytes so far.
        received: u64,
        /// The promised size.
        total: Option<u64>,
    },
    /// A line for the derivation's log (a retry, the next mirror); URLs are redacted.
    Note(&'a str),
}

/// A finished download.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The blob in the store.
    pub info: BlobInfo,
    /// The URL it came from, redacted.
    pub url: String,
}

/// Downloads the first of `urls` that serves content with `expected` hash (and `size`,
/// when given) into a store blob, trying each as the module docs describe. Nothing is
/// published unless the hash matches.
pub fn download(
    urls: &[String],
    expected: ExpectedHash,
    size: Option<u64>,
    store: &Store,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<Downloaded, DownloadError> {
    let mut failures = Vec::new();
    for (index, url) in urls.iter().enumerate() {
        let mut job = Job::new(
            StoreSink {
                store,
                writer: store.blob_writer(false)?,
            },
            Some(expected),
            size,
        );
        match try_url(url, &mut job, events) {
            Ok(()) => {
                let info = job.sink.writer.finish()?;
                return Ok(Downloaded {
                    info,
                    url: redact(url),
                });
            }
            Err(Stop::Store(error)) => return Err(DownloadError::Store(error)),
            Err(Stop::Url(failure)) => {
                if let Some(next) = urls.get(index + 1) {
                    events(Event::Note(&format!(
                        "{failure}; trying the next URL, {}",
                        redact(next)
                    )));
                }
                failures.push(failure);
            }
        }
    }
    Err(if failures.is_empty() {
        DownloadError::NoUrls
    } else {
        DownloadError::Failed(failures)
    })
}

/// Fetches `url` whole into memory (at most `limit` bytes) by the same rules, for files
/// whose hash is checked afterwards (repository indices).
pub fn get(url: &str, limit: u64) -> Result<Vec<u8>, DownloadError> {
    let mut job = Job::new(
        MemorySink {
            bytes: Vec::new(),
            limit,
        },
        None,
        None,
    );
    match try_url(url, &mut job, &mut |_| {}) {
        Ok(()) => Ok(job.sink.bytes),
        Err(Stop::Store(error)) => Err(DownloadError::Store(error)),
        Err(Stop::Url(failure)) => Err(DownloadError::Failed(vec![failure])),
    }
}

/// The pause before retry number `attempt` (1-based): 0.25 s, 1 s, 2.25 s, ...
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt * attempt))
}

/// `url` safe to show: a userinfo part (`user:token@`) becomes `***@`. Works on any
/// text; what does not look like `scheme://authority` is returned unchanged.
pub fn redact(url: &str) -> String {
    match split_userinfo(url) {
        (plain, Some(_)) => {
            let (scheme, rest) = plain.split_once("://").unwrap_or(("", &plain));
            format!("{scheme}://***@{rest}")
        }
        (plain, None) => plain,
    }
}

/// `url` without its userinfo, and the userinfo (still percent-encoded), if any.
fn split_userinfo(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => (
            format!("{scheme}://{}{path}", &authority[at + 1..]),
            Some(authority[..at].to_owned()),
        ),
        None => (url.to_owned(), None),
    }
}

/// The `Authorization` header for a URL's userinfo (`user:password`, percent-encoded).
fn basic_authorization(userinfo: &str) -> String {
    use base64::Engine as _;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let credentials = [
        percent_decode(user),
        b":".to_vec(),
        percent_decode(password),
    ]
    .concat();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    decoded
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

/// Where one URL's bytes come from.
enum Source {
    /// A `file://` path.
    Local(String),
    /// An http or https URL without its userinfo, and the `Authorization` it implies.
    Remote {
        url: String,
        authorization: Option<String>,
    },
}

impl Source {
    fn parse(url: &str) -> Result<Source, Failure> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(Source::Local(path.to_owned()));
        }
        let (plain, userinfo) = split_userinfo(url);
        // ureq parses it the way it will request it (and refuses a URL without host).
        agent()
            .get(&plain)
            .request_url()
            .map_err(|error| Failure::InvalidUrl(ureq_message(&error)))?;
        Ok(Source::Remote {
            url: plain,
            authorization: userinfo.as_deref().map(basic_authorization),
        })
    }
}

/// Where the bytes go, and what they must be.
struct Job<S> {
    sink: S,
    hasher: Option<Hasher>,
    expected: Option<ExpectedHash>,
    size: Option<u64>,
    received: u64,
}

/// Where a download's bytes go.
trait Sink {
    /// Forgets everything written.
    fn restart(&mut self) -> Result<(), StoreError>;
    /// Appends `bytes`; `received` counts them too.
    fn write(&mut self, bytes: &[u8], received: u64) -> Result<(), Interrupt>;
}

/// A blob being written; dropped unfinished, it publishes nothing.
struct StoreSink<'a> {
    store: &'a Store,
    writer: BlobWriter,
}

impl Sink for StoreSink<'_> {
    fn restart(&mut self) -> Result<(), StoreError> {
        self.writer = self.store.blob_writer(false)?;
        Ok(())
    }

    fn write(&mut self, bytes: &[u8], _received: u64) -> Result<(), Interrupt> {
        self.writer
            .write_all(bytes)
            .map_err(|error| store_error(self.store, error).into())
    }
}

/// Bytes in memory, up to a limit.
struct MemorySink {
    bytes: Vec<u8>,
    limit: u64,
}

impl Sink for MemorySink {
    fn restart(&mut self) -> Result<(), StoreError> {
        self.bytes.clear();
        Ok(())
    }

    fn write(&mut self, bytes: &[u8], received: u64) -> Result<(), Interrupt> {
        if received > self.limit {
            return Err(Failure::TooLarge { limit: self.limit }.into());
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

/// Why an attempt ended: the URL's fault, or the store's.
enum Interrupt {
    Failure(Failure),
    Store(StoreError),
}

impl From<Failure> for Interrupt {
    fn from(failure: Failure) -> Self {
        Interrupt::Failure(failure)
    }
}

impl From<StoreError> for Interrupt {
    fn from(error: StoreError) -> Self {
        Interrupt::Store(error)
    }
}

/// Why a URL was given up.
enum Stop {
    Url(UrlFailure),
    Store(StoreError),
}

impl<S: Sink> Job<S> {
    fn new(sink: S, expected: Option<ExpectedHash>, size: Option<u64>) -> Job<S> {
        Job {
            sink,
            hasher: expected.map(|expected| Hasher::new(expected.algorithm)),
            expected,
            size,
            received: 0,
        }
    }

    /// Forgets what was received: a fresh sink and a fresh hash.
    fn restart(&mut self) -> Result<(), StoreError> {
        self.sink.restart()?;
        if let Some(hasher) = &mut self.hasher {
            *hasher = Hasher::new(hasher.algorithm());
        }
        self.received = 0;
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), Interrupt> {
        let received = self.received + bytes.len() as u64;
        if let Some(expected) = self.size.filter(|&size| received > size) {
            return Err(Failure::TooLong { expected }.into());
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
        self.sink.write(bytes, received)?;
        self.received = received;
        Ok(())
    }

    /// Checks a complete body against the promised size and hash.
    fn check(&self) -> Result<(), Failure> {
        if let Some(expected) = self.size.filter(|&size| self.received != size) {
            return Err(Failure::Truncated {
                received: self.received,
                expected,
            });
        }
        if let (Some(hasher), Some(expected)) = (&self.hasher, &self.expected) {
            let actual = hasher.clone().finish();
            if actual != expected.digest {
                return Err(Failure::HashMismatch {
                    algorithm: expected.algorithm,
                    expected: expected.digest,
                    actual,
                    size: self.received,
                });
            }
        }
        Ok(())
    }

    fn progress(&self) -> Event<'static> {
        Event::Progress {
            received: self.received,
            total: self.size,
        }
    }
}

/// A blob writer's error back as the store error it wraps.
fn store_error(store: &Store, error: std::io::Error) -> StoreError {
    let io = |source| StoreError::Io {
        operation: "write a blob into",
        path: store.root().to_path_buf(),
        source,
    };
    if !error
        .get_ref()
        .is_some_and(|inner| inner.is::<StoreError>())
    {
        return io(error);
    }
    match error
        .into_inner()
        .map(|inner| inner.downcast::<StoreError>())
    {
        Some(Ok(store_error)) => *store_error,
        Some(Err(other)) => io(std::io::Error::other(other)),
        None => io(std::io::Error::other("the blob writer failed")),
    }
}

#[derive(Clone)]
enum Hasher {
    Sha256(sha2::Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    fn new(algorithm: HashAlgorithm) -> Hasher {
        match algorithm {
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    fn algorithm(&self) -> HashAlgorithm {
        match self {
            Hasher::Sha256(_) => HashAlgorithm::Sha256,
            Hasher::Blake3(_) => HashAlgorithm::Blake3,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(hasher) => hasher.update(bytes),
            Hasher::Blake3(hasher) => {
                hasher.update(bytes);
            }
        }
    }

    fn finish(self) -> [u8; 32] {
        match self {
            Hasher::Sha256(hasher) => hasher.finalize().into(),
            Hasher::Blake3(hasher) => *hasher.finalize().as_bytes(),
        }
    }
}

/// Tries one URL until it succeeds, fails permanently, or runs out of attempts.
fn try_url(
    url: &str,
    job: &mut Job<impl Sink>,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<(), Stop> {
    let shown = redact(url);
    let give_up = |attempts, failure| {
        Stop::Url(UrlFailure {
            url: shown.clone(),
            attempts,
            failure,
        })
    };
    let source = Source::parse(url).map_err(|failure| give_up(1, failure))?;
    let mut attempt = 1;
    loop {
        match transfer(&source, &shown, job, events) {
            Ok(()) => return Ok(()),
            Err(Interrupt::Store(error)) => return Err(Stop::Store(error)),
            Err(Interrupt::Failure(failure)) => {
                if !failure.is_transient() || attempt >= ATTEMPTS {
                    return Err(give_up(attempt, failure));
                }
                let pause = failure.pause(attempt);
                events(Event::Note(&format!(
                    "attempt {attempt} of {shown} failed: {failure}; trying again in {:.2} s{}",
                    pause.as_secs_f64(),
                    if job.received > 0 {
                        format!(" from byte {}", job.received)
                    } else {
                        String::new()
                    }
                )));
                std::thread::sleep(pause);
                attempt += 1;
            }
        }
    }
}

/// One attempt: open at what was already received, stream the rest, check the whole.
fn transfer(
    source: &Source,
    shown: &str,
    job: &mut Job<impl Sink>,
    events: &mut dyn FnMut(Event<'_>),
) -> Result<(), Interrupt> {
    let offset = job.received;
    let opened = match source {
        Source::Local(path) => open_local(path, offset),
        Source::Remote { url, authorization } => open_remote(url, authorization.as_deref(), offset),
    };
    let opened = match opened {
        Ok(opened) => opened,
        // The range was refused or answered with another one: the next attempt starts
        // over from byte 0.
        Err(failure @ (Failure::Status { status: 416, .. } | Failure::Range { .. }))
            if offset > 0 =>
        {
            job.restart()?;
            events(job.progress());
            return Err(match failure {
                Failure::Range { .. } => failure,
                _ => Failure::Range {
                    offset,
                    detail: "HTTP 416".to_owned(),
                },
            }
            .into());
        }
        Err(failure) => return Err(failure.into()),
    };
    if offset > 0 && !opened.resumed {
        events(Event::Note(&format!(
            "{shown}: the server sent the whole file instead of bytes {offset}-; starting over"
        )));
        job.restart()?;
        events(job.progress());
    }
    let mut reader = opened.reader;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let count = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) if matches!(source, Source::Local(_)) => {
                return Err(Failure::Local(format!("reading: {error}")).into())
            }
            Err(error) => {
                return Err(Failure::Cut {
                    received: job.received,
                    detail: error.to_string(),
                }
                .into())
            }
        };
        job.append(&buffer[..count])?;
        events(job.progress());
    }
    if !opened.complete && job.size.is_some_and(|size| job.received < size) {
        // The body had no declared length: a closed connection looks like its end.
        return Err(Failure::Cut {
            received: job.received,
            detail: "the connection closed".to_owned(),
        }
        .into());
    }
    job.check().map_err(Interrupt::from)
}

/// An open body.
struct Opened {
    reader: Box<dyn Read + Send>,
    /// It starts at the offset asked for (else at 0).
    resumed: bool,
    /// Its end is the end of the file (a declared length, or a local file), not maybe
    /// a dropped connection.
    complete: bool,
}

fn open_local(path: &str, offset: u64) -> Result<Opened, Failure> {
    let mut file = std::fs::File::open(path)
        .map_err(|error| Failure::Local(format!("cannot open: {error}")))?;
    if offset > 0 {
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))
            .map_err(|error| Failure::Local(format!("cannot seek: {error}")))?;
    }
    Ok(Opened {
        reader: Box::new(file),
        resumed: offset > 0,
        complete: true,
    })
}

/// Requests `url` from `offset`, following redirects (see the module docs).
fn open_remote(url: &str, authorization: Option<&str>, offset: u64) -> Result<Opened, Failure> {
    let mut current = url.to_owned();
    let mut authorization = authorization.map(str::to_owned);
    for _ in 0..=MAX_REDIRECTS {
        let mut request = agent().get(&current);
        if let Some(authorization) = &authorization {
            request = request.set("Authorization", authorization);
        }
        if offset > 0 {
            request = request.set("Range", &format!("bytes={offset}-"));
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(ureq::Error::Status(status, response)) => {
                return Err(Failure::Status {
                    status,
                    retry_after: response
                        .header("retry-after")
                        .and_then(|value| value.trim().parse::<u64>().ok())
                        .map(Duration::from_secs),
                })
            }
            Err(error) => return Err(transport_failure(&error)),
        };
        let status = response.status();
        if (300..400).contains(&status) {
            let Some(location) = response.header("location") else {
                return Err(Failure::Status {
                    status,
                    retry_after: None,
                });
            };
            let (next, same_origin) = follow(&current, location)?;
            let (plain, userinfo) = split_userinfo(&next);
            authorization = match userinfo {
                Some(userinfo) => Some(basic_authorization(&userinfo)),
                None if same_origin => authorization,
                None => None,
            };
            current = plain;
            continue;
        }
        let complete = response.header("content-length").is_some()
            || response.header("transfer-encoding").is_some();
        let resumed = offset > 0 && status == 206;
        if resumed {
            if let Some(range) = response.header("content-range") {
                if content_range_start(range) != Some(offset) {
                    return Err(Failure::Range {
                        offset,
                        detail: format!("Content-Range: {range}"),
                    });
                }
            }
        }
        return Ok(Opened {
            reader: Box::new(response.into_reader()),
            resumed,
            complete,
        });
    }
    Err(Failure::TooManyRedirects)
}

/// Resolves a redirect from `current` to `location`: the absolute target, and whether
/// it has the same origin (scheme, host, port). Only http and https are followed.
fn follow(current: &str, location: &str) -> Result<(String, bool), Failure> {
    let refuse = |reason: String| {
        let mut shown = redact(location);
        if shown.chars().count() > 80 {
            shown = shown.chars().take(77).chain("...".chars()).collect();
        }
        Failure::Redirect {
            location: shown,
            reason,
        }
    };
    let base = agent()
        .get(current)
        .request_url()
        .map_err(|error| Failure::InvalidUrl(ureq_message(&error)))?;
    let next = base
        .as_url()
        .join(location)
        .map_err(|error| refuse(format!("not a URL ({error})")))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(refuse(format!(
            "only http and https redirects are followed, not `{}:`",
            next.scheme()
        )));
    }
    if next.host_str().is_none_or(str::is_empty) {
        return Err(refuse("no host".to_owned()));
    }
    let same_origin = next.origin() == base.as_url().origin();
    Ok((next.to_string(), same_origin))
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(header: &str) -> Option<u64> {
    let range = header.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// A ureq error that is not an HTTP status, without the URL ureq would put first.
fn transport_failure(error: &ureq::Error) -> Failure {
    let message = ureq_message(error);
    match error.kind() {
        ureq::ErrorKind::InvalidUrl
        | ureq::ErrorKind::UnknownScheme
        | ureq::ErrorKind::InsecureRequestHttpsOnly => Failure::InvalidUrl(message),
        _ => Failure::Connection(message),
    }
}

fn ureq_message(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Status(status, _) => format!("HTTP {status}"),
        ureq::Error::Transport(transport) => {
            let mut message = transport.kind().to_string().to_lowercase();
            if let Some(detail) = transport.message() {
                message = format!("{message}: {detail}");
            }
            if let Some(source) = std::error::Error::source(transport) {
                message = format!("{message}: {source}");
            }
            message
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        for (url, expected) in [
            ("https://user:token@host/x", "https://***@host/x"),
            (
                "https://token@host:8443/x?y=1",
                "https://***@host:8443/x?y=1",
            ),
            ("http://user:p%40ss@host", "http://***@host"),
            ("http://a:b@c@host/d@e", "http://***@host/d@e"),
            ("https://host/path@with-at", "https://host/path@with-at"),
            ("https://host/x", "https://host/x"),
            ("file:///srv/repo", "file:///srv/repo"),
            ("data:text/plain,a@b", "data:text/plain,a@b"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact(url), expected, "{url}");
        }
    }

    #[test]
    fn userinfo_becomes_basic_authorization() {
        assert_eq!(
            split_userinfo("https://user:token@host/x"),
            ("https://host/x".to_owned(), Some("user:token".to_owned()))
        );
        // base64("user:token")
        assert_eq!(basic_authorization("user:token"), "Basic dXNlcjp0b2tlbg==");
        // base64("u@x:p w")
        assert_eq!(basic_authorization("u%40x:p%20w"), "Basic dUB4OnAgdw==");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%41"), b"%zzA");
    }

    fn status(status: u16) -> Failure {
        Failure::Status {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn failures_are_classified() {
        use Blame::{Environment, Recipe};
        let mismatch = Failure::HashMismatch {
            algorithm: HashAlgorithm::Sha256,
            expected: [0; 32],
            actual: [1; 32],
            size: 3,
        };
        let cut = Failure::Cut {
            received: 5,
            detail: "reset".to_owned(),
        };
        let redirect = Failure::Redirect {
            location: "file:///etc/passwd".to_owned(),
            reason: "no".to_owned(),
        };
        // failure, retried on the same URL, blame
        for (failure, transient, blame) in [
            (status(500), true, Environment),
            (status(503), true, Environment),
            (status(408), true, Environment),
            (status(429), true, Environment),
            (Failure::Connection("refused".to_owned()), true, Environment),
            (cut, true, Environment),
            (status(404), false, Environment),
            (status(403), false, Environment),
            (status(401), false, Environment),
            (status(410), false, Environment),
            (redirect, false, Environment),
            (Failure::TooManyRedirects, false, Environment),
            (Failure::Local("missing".to_owned()), false, Environment),
            (Failure::TooLarge { limit: 1 }, false, Environment),
            (mismatch, false, Recipe),
            (Failure::TooLong { expected: 1 }, false, Recipe),
            (
                Failure::Truncated {
                    received: 1,
                    expected: 2,
                },
                false,
                Recipe,
            ),
            (Failure::InvalidUrl("no host".to_owned()), false, Recipe),
        ] {
            assert_eq!(failure.is_transient(), transient, "{failure}");
            assert_eq!(failure.blame(), blame, "{failure}");
        }
    }

    fn failed(failures: Vec<Failure>) -> DownloadError {
        DownloadError::Failed(
            failures
                .into_iter()
                .map(|failure| UrlFailure {
                    url: "https://***@host/x".to_owned(),
                    attempts: 1,
                    failure,
                })
                .collect(),
        )
    }

    #[test]
    fn a_download_is_the_recipes_fault_only_if_some_content_differed() {
        let network = failed(vec![status(404), Failure::Connection("refused".to_owned())]);
        assert_eq!(network.blame(), Blame::Environment);
        assert!(matches!(
            network.into_build_error("fetch of x"),
            BuildError::Network(message) if message.starts_with("fetch of x failed: all 2 URLs failed:\n  https://***@host/x: HTTP 404 (not found)\n  ")
        ));
        let mixed = failed(vec![status(503), Failure::TooLong { expected: 3 }]);
        assert_eq!(mixed.blame(), Blame::Recipe);
        assert!(matches!(
            mixed.into_build_error("fetch of x"),
            BuildError::Failed(_)
        ));
        assert!(BuildError::Network(String::new()).is_environment());
        assert_eq!(DownloadError::NoUrls.blame(), Blame::Recipe);
    }

    #[test]
    fn retries_wait_longer_and_honour_retry_after_up_to_a_limit() {
        assert_eq!(status(500).pause(1), Duration::from_millis(250));
        assert_eq!(status(500).pause(3), Duration::from_millis(2250));
        let later = |seconds| Failure::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(seconds)),
        };
        assert_eq!(later(5).pause(1), Duration::from_secs(5));
        assert_eq!(later(3600).pause(1), MAX_RETRY_AFTER);
    }

    #[test]
    fn redirects_go_to_http_and_https_only() {
        let base = "http://127.0.0.1:1/a/b";
        assert_eq!(
            follow(base, "/c").expect("absolute path"),
            ("http://127.0.0.1:1/c".to_owned(), true)
        );
        assert_eq!(
            follow(base, "c?d=1").expect("relative"),
            ("http://127.0.0.1:1/a/c?d=1".to_owned(), true)
        );
        assert_eq!(
            follow(base, "https://mirror.invalid/x").expect("absolute"),
            ("https://mirror.invalid/x".to_owned(), false)
        );
        assert_eq!(
            follow(base, "//other.invalid/x").expect("scheme-relative"),
            ("http://other.invalid/x".to_owned(), false)
        );
        for location in [
            "file:///etc/passwd",
            "data:text/plain,hello",
            "ftp://host/x",
            "javascript:alert(1)",
        ] {
            let failure = follow(base, location).expect_err(location);
            assert!(
                matches!(&failure, Failure::Redirect { reason, .. } if reason.contains("only http and https")),
                "{location}: {failure}"
            );
            assert!(!failure.is_transient());
        }
        let secret = follow(base, "file://user:token@host/x").expect_err("file");
        assert!(!secret.to_string().contains("token"), "{secret}");
        assert!(matches!(
            follow(base, "http://"),
            Err(Failure::Redirect { .. })
        ));
    }

    #[test]
    fn content_ranges_are_read() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
    }

    #[test]
    fn urls_without_a_host_are_refused_not_requested() {
        for url in ["http://", "http://:8080/x", "https://user:token@:8080/x"] {
            let failure = Source::parse(url).err();
            assert!(
                matches!(&failure, Some(Failure::InvalidUrl(_))),
                "{url}: {failure:?}"
            );
            assert!(!format!("{failure:?}").contains("token"), "{failure:?}");
        }
        assert!(matches!(
            Source::parse("https://user:token@host/x"),
            Ok(Source::Remote { url, authorization: Some(_) }) if url == "https://host/x"
        ));
        assert!(matches!(Source::parse("file:///x"), Ok(Source::Local(path)) if path == "/x"));
    }

    #[test]
    fn messages_name_what_happened() {
        assert_eq!(
            UrlFailure {
                url: "https://***@host/x".to_owned(),
                attempts: 4,
                failure: status(503),
            }
            .to_string(),
            "https://***@host/x: HTTP 503 (service unavailable) (after 4 attempts)"
        );
        let mismatch = Failure::HashMismatch {
            algorithm: HashAlgorithm::Blake3,
            expected: [0; 32],
            actual: [0xff; 32],
            size: 7,
        };
        assert_eq!(
            mismatch.to_string(),
            format!(
                "blake3 mismatch: expected {}, got {} (7 bytes)",
                "00".repeat(32),
                "ff".repeat(32)
            )
        );
    }
}
