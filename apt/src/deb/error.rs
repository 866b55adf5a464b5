//! Errors of the `.deb` reader.
//!
//! Every error names the package (the label the caller passed to
//! [`read_deb`](super::read_deb)); errors about one member of the `ar` archive name the
//! member (`data.tar.xz`), and errors about one tar entry name the entry's path
//! (normalized when possible, otherwise as found, lossily decoded). Nothing the reader
//! rejects is ever skipped silently.

use std::convert::Infallible;
use std::fmt;
use std::io;

/// A `.deb` could not be read, or a visitor callback failed.
///
/// `E` is the error type of the [`DebVisitor`](super::DebVisitor); readers that take no
/// visitor use [`Infallible`].
#[derive(Debug)]
pub struct DebError<E = Infallible> {
    /// The package label given by the caller (usually the file name).
    pub package: String,
    /// What went wrong.
    pub kind: DebErrorKind<E>,
}

impl<E: fmt::Display> fmt::Display for DebError<E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "package `{}`: {}", self.package, self.kind)
    }
}

impl<E: std::error::Error + 'static> std::error::Error for DebError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The kind's own message is part of ours; its cause is the next link.
        std::error::Error::source(&self.kind)
    }
}

/// The ways reading a `.deb` can fail.
#[derive(Debug, thiserror::Error)]
pub enum DebErrorKind<E> {
    /// The underlying reader failed.
    #[error("reading the archive failed{}", in_member(member))]
    Io {
        /// The member being read, if any.
        member: Option<String>,
        /// The reader's error.
        #[source]
        source: io::Error,
    },
    /// The input does not start with the `!<arch>\n` magic.
    #[error("not a Debian package: the input does not start with the `!<arch>` ar magic")]
    NotAnArArchive,
    /// An `ar` member header is malformed or cut short.
    #[error("malformed ar member header at byte {offset}: {reason}")]
    MalformedArHeader {
        /// Byte offset of the header in the package.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// An `ar` member declares more bytes than the archive holds.
    #[error(
        "ar member `{member}` declares {declared} bytes but the archive ends after {available}"
    )]
    TruncatedMember {
        /// The member's name.
        member: String,
        /// The size in the member header.
        declared: u64,
        /// The bytes that were actually there.
        available: u64,
    },
    /// Bytes after the last member that are not an `ar` member.
    #[error("trailing garbage at byte {offset}, after the last ar member")]
    TrailingGarbage {
        /// Byte offset where the garbage starts.
        offset: u64,
    },
    /// `debian-binary` does not hold a 2.x format version.
    #[error("unsupported package format version {found:?} in `debian-binary` (expected \"2.x\")")]
    UnsupportedFormatVersion {
        /// What the member holds (lossily decoded, possibly shortened).
        found: String,
    },
    /// A member appears where another was expected.
    #[error("unexpected ar member `{member}`: expected {expected}")]
    UnexpectedMember {
        /// The member's name (lossily decoded).
        member: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// The archive ended before a required member.
    #[error("missing ar member: expected {expected}")]
    MissingMember {
        /// What was expected.
        expected: &'static str,
    },
    /// A member is compressed with a method this reader does not support.
    #[error("ar member `{member}`: unsupported compression `{compression}`")]
    UnsupportedCompression {
        /// The member's name.
        member: String,
        /// The compression suffix (`bz2`, ...).
        compression: String,
    },
    /// A member's compressed or tar stream is corrupt.
    #[error("ar member `{member}` is corrupt{}", after_entry(after))]
    Corrupt {
        /// The member's name.
        member: String,
        /// The last entry read successfully before the corruption, if any.
        after: Option<String>,
        /// The decoder's or tar reader's error.
        #[source]
        source: io::Error,
    },
    /// A member's tar stream has bytes after its end-of-archive marker, or no marker.
    #[error("ar member `{member}`: {problem}")]
    MalformedTarEnd {
        /// The member's name.
        member: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The uncompressed control archive is larger than [`Limits::max_control_size`](super::Limits::max_control_size).
    #[error(
        "ar member `{member}`: the uncompressed control archive exceeds the limit of {limit} bytes"
    )]
    ControlTooLarge {
        /// The member's name.
        member: String,
        /// The limit.
        limit: u64,
    },
    /// The uncompressed data archive is larger than [`Limits::max_total_size`](super::Limits::max_total_size).
    #[error(
        "ar member `{member}`: the uncompressed data exceeds the limit of {limit} bytes{}",
        after_entry(after)
    )]
    TotalSizeExceeded {
        /// The member's name.
        member: String,
        /// The limit.
        limit: u64,
        /// The entry being read when the limit was hit, if any.
        after: Option<String>,
    },
    /// A long-name or PAX extended header is implausibly large.
    #[error(
        "ar member `{member}`: an extended tar header (long name or PAX) exceeds {limit} bytes{}",
        after_entry(after)
    )]
    ExtendedHeaderTooLarge {
        /// The member's name.
        member: String,
        /// The limit.
        limit: u64,
        /// The last entry read before it, if any.
        after: Option<String>,
    },
    /// A tar member holds more entries than [`Limits::max_entries`](super::Limits::max_entries).
    #[error("ar member `{member}` holds more than {limit} entries")]
    TooManyEntries {
        /// The member's name.
        member: String,
        /// The limit.
        limit: u64,
    },
    /// The control archive has no `control` file.
    #[error("ar member `{member}` has no `control` file")]
    MissingControlFile {
        /// The member's name.
        member: String,
    },
    /// One tar entry is unacceptable.
    #[error("ar member `{member}`, entry `{path}`: {problem}")]
    Entry {
        /// The member's name.
        member: String,
        /// The entry's path: normalized when it could be, otherwise as found (lossily
        /// decoded).
        path: String,
        /// What is wrong with it.
        problem: EntryProblem,
    },
    /// The visitor returned an error.
    #[error("the visitor failed{}{}", in_member(member), at_entry(path))]
    Visitor {
        /// The member being read.
        member: Option<String>,
        /// The entry being visited, if any.
        path: Option<String>,
        /// The visitor's error.
        #[source]
        source: E,
    },
}

/// What is wrong with one tar entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// The path is not valid UTF-8.
    #[error("the path is not valid UTF-8")]
    NonUtf8Path,
    /// The path holds a NUL byte.
    #[error("the path holds a NUL byte")]
    NulInPath,
    /// The path is empty.
    #[error("the path is empty")]
    EmptyPath,
    /// The path is absolute.
    #[error("the path is absolute")]
    AbsolutePath,
    /// A path, link target or component longer than Linux allows.
    #[error("the {what} is {length} bytes long, over the limit of {limit}")]
    TooLong {
        /// What is too long (`path`, `path component`, `symlink target`).
        what: &'static str,
        /// Its length in bytes.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// The path has a `..` component.
    #[error("the path has a `..` component")]
    ParentComponent,
    /// A non-directory entry whose path ends in `/`.
    #[error("a non-directory entry has a trailing `/`")]
    TrailingSlash,
    /// The archive root (`./`) appears as something other than a directory.
    #[error("the archive root is not a directory")]
    RootNotDirectory,
    /// An earlier entry is a symlink on this entry's path.
    #[error("the path goes through the symlink `{symlink}` shipped earlier in the package")]
    ThroughSymlink {
        /// The symlink's normalized path.
        symlink: String,
    },
    /// An earlier entry that is not a directory is on this entry's path.
    #[error("the path goes through `{parent}`, which is not a directory")]
    ParentNotDirectory {
        /// The normalized path of the non-directory.
        parent: String,
    },
    /// A non-directory entry at a path that earlier entries used as a directory.
    #[error("earlier entries use this path as a directory")]
    ConflictsWithDirectory,
    /// The same path appears twice.
    #[error("duplicate entry for this path")]
    Duplicate,
    /// A symlink target that is empty, not UTF-8 or holds a NUL byte.
    #[error("invalid symlink target {target:?}")]
    InvalidSymlinkTarget {
        /// The target (lossily decoded).
        target: String,
    },
    /// A symlink target that resolves outside the package root.
    #[error("the symlink target `{target}` escapes the package root")]
    SymlinkEscapes {
        /// The target as found.
        target: String,
    },
    /// A symlink whose resolution does not end (through other symlinks of the package).
    #[error("the symlink target `{target}` does not resolve (symlink loop)")]
    SymlinkLoop {
        /// The target as found.
        target: String,
    },
    /// Checking where the package's symlinks lead took more than `limit` steps in all
    /// (many symlinks into chains of long ones).
    #[error(
        "checking where the package's symlinks lead takes more than {limit} steps \
         (many symlinks through chains of long ones)"
    )]
    SymlinkResolutionTooLong {
        /// The limit on resolution steps for one package.
        limit: u64,
    },
    /// The package's paths name more files and directories than the tree may hold
    /// (`2 × max_entries + 4096`, parent directories it does not list included).
    #[error(
        "the package's paths name more than {limit} files and directories \
         (counting parent directories it does not list)"
    )]
    TooManyPaths {
        /// The most paths one package may name.
        limit: u64,
    },
    /// A hardlink whose target is not an earlier regular file of the package.
    #[error("the hardlink target `{target}` {reason}")]
    InvalidHardlinkTarget {
        /// The target (normalized when possible).
        target: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The entry is larger than [`Limits::max_entry_size`](super::Limits::max_entry_size)
    /// (or, in the control archive, [`Limits::max_control_size`](super::Limits::max_control_size)).
    #[error("the entry is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The entry's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The tar stream ends inside the entry's contents.
    #[error("the contents end after {read} of {expected} bytes")]
    Truncated {
        /// The size in the header.
        expected: u64,
        /// The bytes actually there.
        read: u64,
    },
    /// An entry type the reader does not support (GNU sparse files, ...).
    #[error("unsupported tar entry type {type_byte:?}")]
    UnsupportedType {
        /// The type flag from the header.
        type_byte: char,
    },
    /// A header field that cannot be read.
    #[error("invalid `{field}` header field: {reason}")]
    InvalidHeader {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A control archive entry that is not a plain file at the top level.
    #[error("the control archive may only hold regular files at its top level")]
    NotAControlFile,
}

fn in_member(member: &Option<String>) -> String {
    match member {
        Some(member) => format!(" in ar member `{member}`"),
        None => String::new(),
    }
}

fn at_entry(path: &Option<String>) -> String {
    match path {
        Some(path) => format!(" at entry `{path}`"),
        None => String::new(),
    }
}

fn after_entry(path: &Option<String>) -> String {
    match path {
        Some(path) => format!(" (near entry `{path}`)"),
        None => String::new(),
    }
}
