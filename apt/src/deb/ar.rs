//! The `ar` container of a `.deb`, read as a stream.
//!
//! Layout: the 8-byte magic `!<arch>\n`, then members, each a 60-byte header
//! (`name[16] mtime[12] uid[6] gid[6] mode[8] size[10] "`\n"`, ASCII, space padded)
//! followed by `size` bytes of data and one padding byte when `size` is odd. Names may
//! end in `/` (GNU ar). Extended names (`//`, `#1/...`) are not used by dpkg and come out
//! as ordinary (unexpected) member names.

use super::stream::{Fault, StreamState};
use std::io::{self, Read};

/// The global header of every `ar` archive.
pub(crate) const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER_LENGTH: usize = 60;

/// An `ar` member header, parsed.
#[derive(Debug, Clone)]
pub(crate) struct MemberHeader {
    /// The name, trailing spaces and one trailing `/` removed (lossily decoded).
    pub name: String,
    /// Size of the member's data in bytes.
    pub size: u64,
}

/// Why the next header could not be read.
#[derive(Debug)]
pub(crate) enum HeaderError {
    /// The reader failed.
    Io(io::Error),
    /// The bytes are not a member header.
    Malformed { offset: u64, reason: String },
}

/// A reader over an `ar` archive that hands out one member at a time.
pub(crate) struct ArReader<R> {
    inner: R,
    /// Bytes consumed from `inner`.
    offset: u64,
    /// Data bytes of the current member not yet consumed.
    remaining: u64,
    /// Size of the current member (for truncation reports and padding).
    declared: u64,
}

impl<R: Read> ArReader<R> {
    /// Wraps `inner`, which must be positioned at the start of the archive.
    pub fn new(inner: R) -> Self {
        ArReader {
            inner,
            offset: 0,
            remaining: 0,
            declared: 0,
        }
    }

    /// Byte offset of the reader in the archive.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads and checks the global magic; `Ok(false)` if it is not there.
    pub fn read_magic(&mut self) -> io::Result<bool> {
        let mut magic = [0u8; 8];
        let filled = self.fill(&mut magic)?;
        Ok(filled == magic.len() && &magic == MAGIC)
    }

    /// Reads the next member header: `Ok(None)` at a clean end of the archive.
    ///
    /// The previous member must have been finished with [`ArReader::finish_member`].
    pub fn next_header(&mut self) -> Result<Option<MemberHeader>, HeaderError> {
        let offset = self.offset;
        let mut header = [0u8; HEADER_LENGTH];
        let filled = self.fill(&mut header).map_err(HeaderError::Io)?;
        if filled == 0 {
            return Ok(None);
        }
        let malformed = |reason: String| HeaderError::Malformed { offset, reason };
        if filled < HEADER_LENGTH {
            return Err(malformed(format!(
                "the archive ends {filled} bytes into the header"
            )));
        }
        if &header[58..60] != b"`\n" {
            return Err(malformed("the header does not end in \"`\\n\"".to_owned()));
        }
        let size = parse_decimal(&header[48..58]).ok_or_else(|| {
            malformed(format!(
                "the size field {:?} is not a decimal number",
                String::from_utf8_lossy(&header[48..58])
            ))
        })?;
        let raw_name = String::from_utf8_lossy(&header[0..16]);
        let trimmed = raw_name.trim_end_matches(' ');
        let name = trimmed.strip_suffix('/').unwrap_or(trimmed).to_owned();
        self.remaining = size;
        self.declared = size;
        Ok(Some(MemberHeader { name, size }))
    }

    /// A reader over the current member's data. Running out of input before the
    /// declared size records [`Fault::TruncatedMember`] in `state`.
    pub fn member<'a>(&'a mut self, state: &'a StreamState) -> MemberReader<'a, R> {
        MemberReader {
            archive: self,
            state,
        }
    }

    /// Skips what is left of the current member and its padding byte.
    ///
    /// Errors with `UnexpectedEof` if the archive ends early; the caller reports that as
    /// a truncated member.
    pub fn finish_member(&mut self) -> io::Result<()> {
        let mut buffer = [0u8; 8192];
        while self.remaining > 0 {
            let want = usize::try_from(self.remaining.min(buffer.len() as u64)).unwrap_or(0);
            let read = self.inner.read(&mut buffer[..want])?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.advance(read);
        }
        if self.declared % 2 == 1 {
            let mut padding = [0u8; 1];
            if self.fill(&mut padding)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.declared = 0;
        Ok(())
    }

    /// Bytes of the current member not consumed yet, and its declared size.
    pub fn member_progress(&self) -> (u64, u64) {
        (self.declared - self.remaining, self.declared)
    }

    fn advance(&mut self, read: usize) {
        self.offset += read as u64;
        self.remaining = self.remaining.saturating_sub(read as u64);
    }

    /// Reads until `buffer` is full or the input ends; returns the bytes read.
    fn fill(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buffer.len() {
            match self.inner.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
        self.offset += filled as u64;
        Ok(filled)
    }
}

/// The data of one member; see [`ArReader::member`].
pub(crate) struct MemberReader<'a, R> {
    archive: &'a mut ArReader<R>,
    state: &'a StreamState,
}

impl<R: Read> Read for MemberReader<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let archive = &mut *self.archive;
        if archive.remaining == 0 || buffer.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(archive.remaining.min(buffer.len() as u64)).unwrap_or(0);
        match archive.inner.read(&mut buffer[..want]) {
            Ok(0) => {
                let (available, declared) = archive.member_progress();
                Err(self.state.record(Fault::TruncatedMember {
                    declared,
                    available,
                }))
            }
            Ok(read) => {
                archive.advance(read);
                Ok(read)
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Err(error),
            Err(error) => Err(self.state.record(Fault::Io(error))),
        }
    }
}

/// Parses a space-padded ASCII decimal field.
fn parse_decimal(field: &[u8]) -> Option<u64> {
    let digits = field
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if digits == 0 || field[digits..].iter().any(|byte| *byte != b' ') {
        return None;
    }
    field[..digits].iter().try_fold(0u64, |value, digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}
