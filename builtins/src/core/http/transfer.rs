//! Moving the bytes: [`download`] into the store and [`get`] into memory, one URL at a
//! time with retries, resumption, redirects and hashing while streaming.

use std::io::{Read, Write};
use std::time::Duration;

use imgbuild_store::{BlobInfo, BlobWriter, Store, StoreError};
use sha2::Digest as _;

use super::failure::*;
use super::url::*;
use super::*;

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

/// Where one URL's bytes come from.
pub(super) enum Source {
    /// A `file://` path.
    Local(String),
    /// An http or https URL without its userinfo, and the `Authorization` it implies.
    Remote {
        url: String,
        authorization: Option<String>,
    },
}

impl Source {
    pub(super) fn parse(url: &str) -> Result<Source, Failure> {
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
pub(super) struct Job<S> {
    pub(super) sink: S,
    pub(super) hasher: Option<Hasher>,
    pub(super) expected: Option<ExpectedHash>,
    pub(super) size: Option<u64>,
    pub(super) received: u64,
}

/// Where a download's bytes go.
pub(super) trait Sink {
    /// Forgets everything written.
    fn restart(&mut self) -> Result<(), StoreError>;
    /// Appends `bytes`; `received` counts them too.
    fn write(&mut self, bytes: &[u8], received: u64) -> Result<(), Interrupt>;
}

/// A blob being written; dropped unfinished, it publishes nothing.
pub(super) struct StoreSink<'a> {
    pub(super) store: &'a Store,
    pub(super) writer: BlobWriter,
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
pub(super) struct MemorySink {
    pub(super) bytes: Vec<u8>,
    pub(super) limit: u64,
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
pub(super) enum Interrupt {
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
pub(super) enum Stop {
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
pub(super) fn store_error(store: &Store, error: std::io::Error) -> StoreError {
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
pub(super) enum Hasher {
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
pub(super) fn try_url(
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
pub(super) fn transfer(
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
pub(super) struct Opened {
    pub(super) reader: Box<dyn Read + Send>,
    /// It starts at the offset asked for (else at 0).
    pub(super) resumed: bool,
    /// Its end is the end of the file (a declared length, or a local file), not maybe
    /// a dropped connection.
    pub(super) complete: bool,
}

pub(super) fn open_local(path: &str, offset: u64) -> Result<Opened, Failure> {
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
pub(super) fn open_remote(
    url: &str,
    authorization: Option<&str>,
    offset: u64,
) -> Result<Opened, Failure> {
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

/// A ureq error that is not an HTTP status, without the URL ureq would put first.
pub(super) fn transport_failure(error: &ureq::Error) -> Failure {
    let message = ureq_message(error);
    match error.kind() {
        ureq::ErrorKind::InvalidUrl
        | ureq::ErrorKind::UnknownScheme
        | ureq::ErrorKind::InsecureRequestHttpsOnly => Failure::InvalidUrl(message),
        _ => Failure::Connection(message),
    }
}

pub(super) fn ureq_message(error: &ureq::Error) -> String {
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
