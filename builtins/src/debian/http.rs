//! HTTP for repositories: GET with timeouts, a size limit, and retries with backoff
//! (connection errors, timeouts and 5xx are retried; 404 and other 4xx are not).
//! `file://` URLs are read from disk (local repositories and tests).

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
    /// What went wrong (after all attempts).
    pub reason: String,
    /// Whether the server said the file does not exist.
    pub not_found: bool,
}

/// One agent for the process: its connection pool keeps connections to a mirror
/// alive across packages, so a set of 150 packages costs a handful of DNS lookups and
/// TCP handshakes instead of 150 (on this machine an occasional lookup took 5 s).
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

/// Fetches `url` whole (at most `limit` bytes), retrying transient failures.
pub fn get(url: &str, limit: u64) -> Result<Vec<u8>, HttpError> {
    let error = |reason: String, not_found| HttpError {
        url: url.to_owned(),
        reason,
        not_found,
    };
    if let Some(path) = url.strip_prefix("file://") {
        return match std::fs::read(path) {
            Ok(bytes) if bytes.len() as u64 <= limit => Ok(bytes),
            Ok(bytes) => Err(error(
                format!("{} bytes, more than the limit of {limit}", bytes.len()),
                false,
            )),
            Err(io) => {
                let missing = io.kind() == std::io::ErrorKind::NotFound;
                Err(error(io.to_string(), missing))
            }
        };
    }
    let agent = agent();
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match agent.get(url).call() {
            Ok(response) => {
                let mut bytes = Vec::new();
                match response
                    .into_reader()
                    .take(limit + 1)
                    .read_to_end(&mut bytes)
                {
                    Ok(_) if bytes.len() as u64 > limit => {
                        return Err(error(
                            format!("larger than the limit of {limit} bytes"),
                            false,
                        ))
                    }
                    Ok(_) => return Ok(bytes),
                    Err(read) => last = format!("reading the response: {read}"),
                }
            }
            Err(ureq::Error::Status(404, _)) | Err(ureq::Error::Status(410, _)) => {
                return Err(error("not found (HTTP 404)".to_owned(), true))
            }
            Err(ureq::Error::Status(code, _)) if code < 500 => {
                return Err(error(format!("HTTP {code}"), false))
            }
            Err(other) => last = other.to_string(),
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(backoff(attempt));
        }
    }
    Err(error(format!("{last} (after {ATTEMPTS} attempts)"), false))
}

/// Opens `url` for streaming, with the same retry rules for the connection.
pub fn open(url: &str) -> Result<Box<dyn Read + Send>, HttpError> {
    let error = |reason: String, not_found| HttpError {
        url: url.to_owned(),
        reason,
        not_found,
    };
    if let Some(path) = url.strip_prefix("file://") {
        return std::fs::File::open(path)
            .map(|file| Box::new(file) as Box<dyn Read + Send>)
            .map_err(|io| {
                let missing = io.kind() == std::io::ErrorKind::NotFound;
                error(io.to_string(), missing)
            });
    }
    let agent = agent();
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match agent.get(url).call() {
            Ok(response) => return Ok(Box::new(response.into_reader())),
            Err(ureq::Error::Status(404, _)) | Err(ureq::Error::Status(410, _)) => {
                return Err(error("not found (HTTP 404)".to_owned(), true))
            }
            Err(ureq::Error::Status(code, _)) if code < 500 => {
                return Err(error(format!("HTTP {code}"), false))
            }
            Err(other) => last = other.to_string(),
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(backoff(attempt));
        }
    }
    Err(error(format!("{last} (after {ATTEMPTS} attempts)"), false))
}

/// Opens `url` once (no retries), from byte `offset`: asks for a range when `offset`
/// is not 0 and says whether the answer starts there (`true`, HTTP 206 or a seek in a
/// local file) or at 0 (the server ignored the range). A missing file is `not_found`.
pub fn open_at(url: &str, offset: u64) -> Result<(Box<dyn Read + Send>, bool), HttpError> {
    let error = |reason: String, not_found| HttpError {
        url: url.to_owned(),
        reason,
        not_found,
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
        Err(ureq::Error::Status(code, _)) => Err(error(format!("HTTP {code}"), false)),
        Err(other) => Err(error(other.to_string(), false)),
    }
}

/// 0.25 s, 1 s, 2.25 s, ...
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt * attempt))
}
