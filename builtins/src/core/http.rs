//! HTTP for the builtins that download (`fetch`, Debian repositories): one process-wide
//! ureq agent whose connection pool keeps connections to a server alive across
//! downloads (a Debian set of 150 packages costs a handful of DNS lookups and TCP
//! handshakes instead of 150 — on this machine an occasional lookup took 5 s), a
//! single-attempt [`open_at`] that can resume at an offset, and [`get`], which retries
//! transient failures (connection errors, timeouts, 5xx) with [`backoff`] but not 404
//! or other 4xx. `file://` URLs are read from disk (local repositories and tests).

use std::io::Read;
use std::time::Duration;

/// How many times a URL is tried.
pub const ATTEMPTS: u32 = 4;

/// A failed download, naming the URL.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct HttpError {
    /// The URL.
    pub url: String,
    /// What went wrong.
    pub reason: String,
    /// Whether retrying cannot help: the file does not exist (404, 410), another 4xx,
    /// or a local file is missing.
    pub permanent: bool,
}

fn agent() -> ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT
        .get_or_init(|| {
            ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(15))
                .timeout_read(Duration::from_secs(60))
                .max_idle_connections_per_host(16)
                .build()
        })
        .clone()
}

/// Opens `url` once (no retries), from byte `offset`: asks for a range when `offset`
/// is not 0 and says whether the answer starts there (`true`: HTTP 206, or a seek in a
/// local file) or at 0 (the server ignored the range).
pub fn open_at(url: &str, offset: u64) -> Result<(Box<dyn Read + Send>, bool), HttpError> {
    let error = |reason: String, permanent| HttpError {
        url: url.to_owned(),
        reason,
        permanent,
    };
    if let Some(path) = url.strip_prefix("file://") {
        let mut file = std::fs::File::open(path).map_err(|io| {
            let missing = io.kind() == std::io::ErrorKind::NotFound;
            error(io.to_string(), missing)
        })?;
        if offset > 0 {
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))
                .map_err(|io| error(io.to_string(), false))?;
        }
        return Ok((Box::new(file), offset > 0));
    }
    let mut request = agent().get(url);
    if offset > 0 {
        request = request.set("Range", &format!("bytes={offset}-"));
    }
    match request.call() {
        Ok(response) => {
            let resumed = offset > 0 && response.status() == 206;
            Ok((Box::new(response.into_reader()), resumed))
        }
        Err(ureq::Error::Status(404, _)) | Err(ureq::Error::Status(410, _)) => {
            Err(error("not found (HTTP 404)".to_owned(), true))
        }
        Err(ureq::Error::Status(code, _)) => Err(error(format!("HTTP {code}"), code < 500)),
        Err(other) => Err(error(other.to_string(), false)),
    }
}

/// Fetches `url` whole (at most `limit` bytes), retrying transient failures.
pub fn get(url: &str, limit: u64) -> Result<Vec<u8>, HttpError> {
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            std::thread::sleep(backoff(attempt - 1));
        }
        let mut reader = match open_at(url, 0) {
            Ok((reader, _)) => reader,
            Err(error) if error.permanent => return Err(error),
            Err(error) => {
                last = error.reason;
                continue;
            }
        };
        let mut bytes = Vec::new();
        match reader.by_ref().take(limit + 1).read_to_end(&mut bytes) {
            Ok(_) if bytes.len() as u64 > limit => {
                return Err(HttpError {
                    url: url.to_owned(),
                    reason: format!("larger than the limit of {limit} bytes"),
                    permanent: false,
                })
            }
            Ok(_) => return Ok(bytes),
            Err(read) => last = format!("reading the response: {read}"),
        }
    }
    Err(HttpError {
        url: url.to_owned(),
        reason: format!("{last} (after {ATTEMPTS} attempts)"),
        permanent: false,
    })
}

/// The pause before retry number `attempt` (1-based): 0.25 s, 1 s, 2.25 s, ...
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt * attempt))
}
