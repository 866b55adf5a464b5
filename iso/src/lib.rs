//! A small, deterministic ISO 9660 writer: primary volume descriptor, Joliet
//! supplementary descriptor and Rock Ridge (SUSP + RRIP 1.09), for contextualization
//! media (NoCloud seeds, OpenNebula CONTEXT, OpenStack config drives) and data discs.
//!
//! The caller describes a [`Volume`]: a validated [`Label`], a `SOURCE_DATE_EPOCH` that
//! dates everything, and a tree of directories, files and symlinks. [`write_image`]
//! lays it out and writes the image; the same volume always gives the same bytes.
//!
//! API contract (the implementation lives in the private modules):
//! - Names are validated by [`Name::new`]; names that cannot be represented in both
//!   Rock Ridge and Joliet are errors, never mangled. The primary (ECMA-119 level 1)
//!   identifiers are derived, unique, upper-case names (`META_DAT.;1`); readers use
//!   Rock Ridge or Joliet, which carry the exact names.
//! - Files whose [`Content`] is the same `External` key share one extent.
//!
//! # Layout
//!
//! 2048-byte sectors: 0–15 zero; 16 primary volume descriptor; 17 Joliet descriptor
//! (UCS-2 level 3, `%/E`); 18 terminator; from 19 the primary L and M path tables and
//! the Joliet L and M path tables; primary directories and Joliet directories
//! (breadth-first); Rock Ridge continuation areas (the root's `ER` `RRIP_1991A`, then
//! names and symlink targets too long for their record); file extents, depth-first in
//! exact-name order. No trailing pad: a 4-file seed is 29 sectors.
//!
//! Choices the standards leave open:
//! - Every date is the epoch in UTC: creation and modification dates of both
//!   descriptors, every record's date and every Rock Ridge `TF` (modify, access,
//!   attribute change). Expiration and effective dates are "not specified". blkid
//!   derives the UUID from the modification date, so equal epochs give equal UUIDs.
//! - The application identifier is `IMGBUILD`; every other identifier is blank.
//! - Empty files and symlinks have extent 0 and length 0. Symlinks appear as empty
//!   files through Joliet, which has no links.
//! - Rock Ridge `PX` (36 bytes) and `TF` are on every primary record, `NM` on every
//!   entry, no `RR` entry. Directory link counts are 2 + subdirectories.
//! - Directory trees deeper than the 8 levels ECMA-119 allows are written as given:
//!   Linux, libisofs and isoinfo read them; strictly conforming readers may not.
//! - xorriso's media summary reports "0 data blocks" for images of 32 sectors or
//!   fewer (its table-of-contents emulation wants more); it still reads the tree.

use std::collections::BTreeMap;

mod date;
mod descriptors;
mod extents;
mod layout;
mod names;
mod records;
mod rock_ridge;
mod tree;
mod write;

pub mod read;

pub use write::{image_size, to_vec, write_image};

/// The largest `source_date_epoch` an ISO 9660 date holds (2155-12-31 23:59:59 UTC).
pub const MAXIMUM_EPOCH: i64 = date::MAXIMUM_EPOCH;

/// Why a volume cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    /// The volume label is not valid.
    #[error("volume label `{label}`: {reason}")]
    InvalidLabel {
        /// The label as given.
        label: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file name cannot be represented.
    #[error("file name `{name}`: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry cannot be represented on the medium (too large, target too long…).
    #[error("`{path}`: {reason}")]
    Unrepresentable {
        /// The entry's path inside the volume (`/`-separated, no leading slash).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The epoch is before 1970 or after 2155 (directory-record dates count years
    /// from 1900 in one byte).
    #[error("SOURCE_DATE_EPOCH {0} cannot be written as an ISO 9660 date (years 1970–2155)")]
    InvalidEpoch(i64),
    /// Writing the image failed.
    #[error("writing the image: {0}")]
    Io(#[from] std::io::Error),
}

/// A volume label, written verbatim (space-padded) in the primary descriptor and as
/// UCS-2 in the Joliet descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    /// Checks a volume label: 1 to 16 characters (the Joliet volume identifier holds
    /// 16), each an ISO d-character (`A`–`Z`, `0`–`9`, `_`), a lower-case letter or `-`.
    /// The label is written verbatim: `cidata`, `config-2` and `CONTEXT` are all valid.
    pub fn new(label: &str) -> Result<Label, IsoError> {
        names::check_label(label).map_err(|reason| IsoError::InvalidLabel {
            label: label.to_owned(),
            reason,
        })?;
        Ok(Label(label.to_owned()))
    }

    /// The label as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A file name inside a directory (Rock Ridge and Joliet carry it exactly).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Checks a file name: not empty, not `.` or `..`, no `/`, NUL or other control
    /// characters, none of the characters Joliet forbids (`*` `/` `:` `;` `?` `\`),
    /// only characters of the Unicode Basic Multilingual Plane (Joliet is UCS-2), at
    /// most 64 UTF-16 units (the Joliet limit) and at most 255 bytes of UTF-8.
    pub fn new(name: &str) -> Result<Name, IsoError> {
        names::check_name(name).map_err(|reason| IsoError::InvalidName {
            name: name.to_owned(),
            reason,
        })?;
        Ok(Name(name.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Ownership and permission bits of an entry (Rock Ridge `PX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask); the file type
    /// bits are added by the writer.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// Where a file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// The bytes themselves.
    Bytes(Vec<u8>),
    /// Bytes the caller streams on request (see [`write_image`]); files with the same
    /// key share one extent (and must declare the same size). Content of size 0 is
    /// never requested.
    External {
        /// The caller's key, handed back when the bytes are needed.
        key: u64,
        /// Exact size in bytes.
        size: u64,
    },
}

/// A regular file (at most 4 GiB − 1 bytes: multi-extent files are not written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Its bytes.
    pub content: Content,
    /// Ownership and permissions.
    pub attributes: Attributes,
}

/// A symbolic link (Rock Ridge `SL`; shown as an empty file through Joliet).
///
/// The target must be non-empty without NUL characters, and its Rock Ridge entries must
/// fit one 2048-byte continuation area (targets up to about 1,900 bytes). Repeated
/// slashes are stored as one (`a//b` reads back as `a/b`); a trailing slash is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symlink {
    /// The link target, as stored.
    pub target: String,
    /// Ownership and permissions (usually `0o777`).
    pub attributes: Attributes,
}

/// A directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    /// Entries, sorted by name.
    pub entries: BTreeMap<Name, Node>,
    /// Ownership and permissions.
    pub attributes: Attributes,
}

/// One entry of a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A regular file.
    File(File),
    /// A directory.
    Directory(Directory),
    /// A symbolic link.
    Symlink(Symlink),
}

/// Everything on the medium.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// The volume label.
    pub label: Label,
    /// Seconds since 1970 (UTC): every date on the medium.
    pub source_date_epoch: i64,
    /// The root directory.
    pub root: Directory,
}
