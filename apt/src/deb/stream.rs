//! The reader stack under each tar member, and how its failures become errors.
//!
//! ```text
//! ArReader ─▶ MemberReader ─▶ decoder (gz/xz/zst/lzma/none) ─▶ LimitReader ─▶ tar::Archive
//! ```
//!
//! Each layer that fails records a [`Fault`] in a [`StreamState`] shared by the stack
//! (the first fault wins) before returning an `io::Error`. The tar crate wraps and
//! rewrites the errors it passes on, so the reader classifies a failure by the recorded
//! fault rather than by the error that reaches it: a truncated `ar` member comes out as
//! "truncated member", not as whatever the decompressor made of the missing bytes.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};

use super::error::{DebErrorKind, EntryProblem};

/// Extended tar headers (GNU long names, PAX records) read before one entry may not
/// exceed this many bytes: the tar crate buffers them in memory.
pub(crate) const EXTENDED_HEADER_LIMIT: u64 = 1024 * 1024;

/// Memory limit handed to the xz and lzma decoders (xz -9 needs 65 MiB).
const LZMA_MEMORY_LIMIT: u64 = 256 * 1024 * 1024;

/// How a tar member of the package is compressed, from its name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `.tar`
    None,
    /// `.tar.gz`
    Gzip,
    /// `.tar.xz`
    Xz,
    /// `.tar.zst`
    Zstd,
    /// `.tar.lzma` (legacy, decoded by liblzma)
    Lzma,
}

impl Compression {
    /// The compression of a member called `{stem}{suffix}`: `Ok(None)` if the name does
    /// not start with `stem`, `Err(suffix)` for an unsupported suffix.
    pub(crate) fn of_member(name: &str, stem: &str) -> Result<Option<Compression>, String> {
        let Some(suffix) = name.strip_prefix(stem) else {
            return Ok(None);
        };
        match suffix {
            "" => Ok(Some(Compression::None)),
            ".gz" => Ok(Some(Compression::Gzip)),
            ".xz" => Ok(Some(Compression::Xz)),
            ".zst" => Ok(Some(Compression::Zstd)),
            ".lzma" => Ok(Some(Compression::Lzma)),
            other => match other.strip_prefix('.') {
                Some(extension) => Err(extension.to_owned()),
                None => Ok(None),
            },
        }
    }
}

/// Which limit a [`StreamState`] enforces on its uncompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    /// [`Limits::max_control_size`](super::Limits::max_control_size).
    Control,
    /// [`Limits::max_total_size`](super::Limits::max_total_size).
    Data,
}

/// The first thing that went wrong below the tar reader.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The `ar` member ended early.
    TruncatedMember { declared: u64, available: u64 },
    /// The underlying reader failed.
    Io(io::Error),
    /// The decompressor rejected its input.
    Decompress(io::Error),
    /// More uncompressed bytes than the limit.
    LimitExceeded { limit: u64 },
    /// Extended headers larger than [`EXTENDED_HEADER_LIMIT`].
    ExtendedHeaderTooLarge,
    /// The tar stream ended inside an entry's contents.
    TruncatedEntry { expected: u64, read: u64 },
}

/// State shared by the readers of one tar member.
#[derive(Debug)]
pub(crate) struct StreamState {
    fault: RefCell<Option<Fault>>,
    limit_kind: LimitKind,
    limit: u64,
    /// Uncompressed bytes read so far.
    total: Cell<u64>,
    /// While the tar crate reads headers: how many more bytes it may read.
    header_budget: Cell<Option<u64>>,
    /// The uncompressed stream has ended.
    end_seen: Cell<bool>,
}

impl StreamState {
    pub fn new(limit_kind: LimitKind, limit: u64) -> Self {
        StreamState {
            fault: RefCell::new(None),
            limit_kind,
            limit,
            total: Cell::new(0),
            header_budget: Cell::new(None),
            end_seen: Cell::new(false),
        }
    }

    /// Records `fault` unless one is recorded already; returns the error to pass up.
    pub fn record(&self, fault: Fault) -> io::Error {
        let message = format!("{fault:?}");
        let mut slot = self.fault.borrow_mut();
        if slot.is_none() {
            *slot = Some(fault);
        }
        io::Error::other(message)
    }

    /// Uncompressed bytes read so far.
    pub fn total(&self) -> u64 {
        self.total.get()
    }

    /// Turns a failure of the stack into an error for the member `member`; `entry` is
    /// the entry being read (or the last one read), if any.
    pub fn error<E>(&self, member: &str, entry: Option<&str>, error: io::Error) -> DebErrorKind<E> {
        let member = member.to_owned();
        let after = entry.map(str::to_owned);
        match self.fault.borrow_mut().take() {
            Some(Fault::TruncatedMember {
                declared,
                available,
            }) => DebErrorKind::TruncatedMember {
                member,
                declared,
                available,
            },
            Some(Fault::Io(source)) => DebErrorKind::Io {
                member: Some(member),
                source,
            },
            Some(Fault::Decompress(source)) => DebErrorKind::Corrupt {
                member,
                after,
                source,
            },
            Some(Fault::LimitExceeded { limit }) => match self.limit_kind {
                LimitKind::Control => DebErrorKind::ControlTooLarge { member, limit },
                LimitKind::Data => DebErrorKind::TotalSizeExceeded {
                    member,
                    limit,
                    after,
                },
            },
            Some(Fault::ExtendedHeaderTooLarge) => DebErrorKind::ExtendedHeaderTooLarge {
                member,
                limit: EXTENDED_HEADER_LIMIT,
                after,
            },
            Some(Fault::TruncatedEntry { expected, read }) => DebErrorKind::Entry {
                member,
                path: after.unwrap_or_default(),
                problem: EntryProblem::Truncated { expected, read },
            },
            None => DebErrorKind::Corrupt {
                member,
                after,
                source: error,
            },
        }
    }

    /// Whether a fault has been recorded.
    pub fn has_fault(&self) -> bool {
        self.fault.borrow().is_some()
    }
}

/// Builds the decoder for `compression` over a member's bytes.
pub(crate) fn decoder<'a>(
    compression: Compression,
    member: impl Read + 'a,
    state: &'a StreamState,
) -> io::Result<Box<dyn Read + 'a>> {
    let decoded: Box<dyn Read + 'a> = match compression {
        Compression::None => return Ok(Box::new(member)),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(member)),
        Compression::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                LZMA_MEMORY_LIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            Box::new(liblzma::read::XzDecoder::new_stream(member, stream))
        }
        Compression::Lzma => {
            let stream = liblzma::stream::Stream::new_lzma_decoder(LZMA_MEMORY_LIMIT)
                .map_err(io::Error::other)?;
            Box::new(liblzma::read::XzDecoder::new_stream(member, stream))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(member)?),
    };
    Ok(Box::new(DecodeReader {
        inner: decoded,
        state,
    }))
}

/// Records decoder failures as [`Fault::Decompress`].
struct DecodeReader<'a> {
    inner: Box<dyn Read + 'a>,
    state: &'a StreamState,
}

impl Read for DecodeReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buffer) {
            Err(error) if error.kind() != io::ErrorKind::Interrupted => {
                Err(self.state.record(Fault::Decompress(error)))
            }
            other => other,
        }
    }
}

/// Counts uncompressed bytes, enforces the member's size limit and, while the tar crate
/// reads headers, the extended-header budget.
pub(crate) struct LimitReader<'a, R> {
    pub inner: R,
    pub state: &'a StreamState,
}

impl<R: Read> Read for LimitReader<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        let state = self.state;
        // Allow one byte past the limit, so that reaching it exactly is not an error.
        let mut want = (state.limit.saturating_add(1) - state.total.get().min(state.limit))
            .min(buffer.len() as u64);
        if let Some(budget) = state.header_budget.get() {
            if budget == 0 {
                return Err(state.record(Fault::ExtendedHeaderTooLarge));
            }
            want = want.min(budget);
        }
        let want = usize::try_from(want).unwrap_or(buffer.len());
        let read = self.inner.read(&mut buffer[..want])?;
        if read == 0 {
            state.end_seen.set(true);
        }
        state.total.set(state.total.get() + read as u64);
        if let Some(budget) = state.header_budget.get() {
            state.header_budget.set(Some(budget - read as u64));
        }
        if state.total.get() > state.limit {
            return Err(state.record(Fault::LimitExceeded { limit: state.limit }));
        }
        Ok(read)
    }
}

/// The next tar entry, with the extended-header budget in force while the tar crate
/// reads its headers.
pub(crate) fn next_entry<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    state: &StreamState,
) -> Option<io::Result<tar::Entry<'a, R>>> {
    // Headers proper and the padding of the previous entry come on top of the extended
    // headers.
    state
        .header_budget
        .set(Some(EXTENDED_HEADER_LIMIT + 4 * 512));
    let next = entries.next();
    state.header_budget.set(None);
    next
}

/// Why a tar stream did not end cleanly.
pub(crate) enum TarEndError {
    /// The stream failed while reading past the end-of-archive marker.
    Io(io::Error),
    /// Something other than the problems named by [`DebErrorKind::MalformedTarEnd`].
    Malformed(&'static str),
}

/// Checks what follows the last tar entry: the tar crate has stopped either at the
/// first zero block (the end-of-archive marker) or at the end of the stream. Only zero
/// bytes may follow the marker; a stream without a marker is truncated.
pub(crate) fn check_tar_end(
    reader: &mut impl Read,
    state: &StreamState,
) -> Result<(), TarEndError> {
    if state.end_seen.get() {
        return Err(TarEndError::Malformed(
            "the tar stream ends without an end-of-archive marker (truncated?)",
        ));
    }
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => {
                if buffer[..read].iter().any(|byte| *byte != 0) {
                    return Err(TarEndError::Malformed(
                        "non-zero bytes after the tar end-of-archive marker",
                    ));
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(TarEndError::Io(error)),
        }
    }
}

/// A file's contents as handed to the visitor: exactly the declared size, with a short
/// tar stream reported as [`Fault::TruncatedEntry`] rather than as a short file.
pub(crate) struct ContentReader<'a, R> {
    pub inner: R,
    pub expected: u64,
    pub read: u64,
    pub state: &'a StreamState,
}

impl<R: Read> Read for ContentReader<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.read >= self.expected || buffer.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from((self.expected - self.read).min(buffer.len() as u64))
            .unwrap_or(buffer.len());
        let read = self.inner.read(&mut buffer[..want])?;
        if read == 0 {
            return Err(self.state.record(Fault::TruncatedEntry {
                expected: self.expected,
                read: self.read,
            }));
        }
        self.read += read as u64;
        Ok(read)
    }
}

/// Reads and discards the rest of `reader`.
pub(crate) fn drain(reader: &mut impl Read) -> io::Result<()> {
    io::copy(reader, &mut io::sink()).map(drop)
}

/// A tar member's stream as the tar crate sees it.
pub(crate) type TarStream<'a> = tar::Archive<LimitReader<'a, Box<dyn Read + 'a>>>;

/// Reads the current `ar` member as a compressed tar stream: builds the reader stack,
/// lets `walk` read the entries, checks the end of the tar stream (only zeros after the
/// end-of-archive marker), and skips to the next member.
pub(crate) fn read_tar_member<R: Read, T, E>(
    archive: &mut super::ar::ArReader<R>,
    member: &str,
    compression: Compression,
    state: &StreamState,
    walk: impl FnOnce(&mut TarStream<'_>) -> Result<T, DebErrorKind<E>>,
) -> Result<T, DebErrorKind<E>> {
    let walked = {
        let decoded = decoder(compression, archive.member(state), state)
            .map_err(|error| state.error(member, None, error))?;
        let mut tar = tar::Archive::new(LimitReader {
            inner: decoded,
            state,
        });
        let walked = walk(&mut tar)?;
        let mut rest = tar.into_inner();
        check_tar_end(&mut rest, state).map_err(|error| match error {
            TarEndError::Io(error) => state.error(member, None, error),
            TarEndError::Malformed(problem) => DebErrorKind::MalformedTarEnd {
                member: member.to_owned(),
                problem,
            },
        })?;
        walked
    };
    finish_member(archive, member)?;
    Ok(walked)
}

/// Skips the rest of the current member, reporting an early end as truncation.
pub(crate) fn finish_member<R: Read, E>(
    archive: &mut super::ar::ArReader<R>,
    member: &str,
) -> Result<(), DebErrorKind<E>> {
    archive.finish_member().map_err(|source| {
        if source.kind() == io::ErrorKind::UnexpectedEof {
            let (available, declared) = archive.member_progress();
            DebErrorKind::TruncatedMember {
                member: member.to_owned(),
                declared,
                available,
            }
        } else {
            DebErrorKind::Io {
                member: Some(member.to_owned()),
                source,
            }
        }
    })
}
