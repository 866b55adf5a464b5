//! Reading ISO 9660 media: the volume label, directory listings and file contents by
//! path, with the names a mounted Linux kernel would show — for the first-boot agent,
//! which reads contextualization media (NoCloud, config-2, OpenNebula CONTEXT) straight
//! from a block device or an image file, without mounting anything.
//!
//! Names, in Linux's order of preference:
//! - **Rock Ridge** (`NM` entries in the primary tree) when the root's "." record starts
//!   with the SUSP `SP` entry and either carries an `ER` entry (directly or through a
//!   `CE` continuation) or the volume has no Joliet descriptor — the rule of
//!   `fs/isofs/inode.c`. An entry without `NM` gets its translated ISO name.
//! - **Joliet** (UCS-2 big-endian identifiers of the `%/@`, `%/C` or `%/E` supplementary
//!   descriptor), `;1` and trailing dots stripped.
//! - **Plain ISO 9660** identifiers, translated like Linux: lower-cased, the version
//!   (`;1`) and a trailing `.` removed.
//!
//! Lookups compare names exactly; through Joliet or plain names (which Linux compares
//! case-insensitively) an ASCII case-insensitive match is accepted when no exact one
//! exists.
//!
//! Safety rules, each a typed [`ReadError`] and never a panic or an endless loop:
//! - every length, extent and offset is checked against the record, the sector and the
//!   image size before it is used;
//! - paths have at most [`Limits::max_depth`] components, so cyclic directory extents
//!   cannot send a lookup round in circles;
//! - at most [`Limits::max_entries`] directory records are read over the reader's life;
//! - directories larger than [`MAX_DIRECTORY_SIZE`] and files larger than
//!   [`Limits::max_file_size`] are refused before anything is allocated;
//! - SUSP continuation chains are followed at most [`MAX_CONTINUATIONS`] times;
//! - only 2048-byte logical blocks are read; multi-extent files are refused.

use std::io::{self, Read, Seek, SeekFrom};

mod records;

use records::{
    io_error, joliet_name, malformed, parse_record, plain_name, read_at, root_entry, system_use,
    trimmed, Record,
};

/// Bytes in a sector (and the only logical block size read).
pub const SECTOR: u64 = 2048;
/// Where the volume descriptors start (LBA 16).
const DESCRIPTORS_START: u64 = 16;
/// Descriptors examined before giving up on a terminator (Linux stops at LBA 99).
const MAX_DESCRIPTORS: u64 = 84;
/// The largest directory extent read.
pub const MAX_DIRECTORY_SIZE: u64 = 4 << 20;
/// How many `CE` continuation areas one record may chain.
pub const MAX_CONTINUATIONS: usize = 16;
/// Directory flag of a record.
const FLAG_DIRECTORY: u8 = 0x02;
/// Multi-extent flag of a record.
const FLAG_MULTI_EXTENT: u8 = 0x80;
/// File type bits of a Rock Ridge mode.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Why a medium cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The device or file could not be read.
    #[error("reading {what}: {source}")]
    Io {
        /// What was being read (`sector 16`, `extent of openstack/latest`).
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// No ISO 9660 primary volume descriptor at sector 16.
    #[error("not an ISO 9660 volume (no primary volume descriptor at sector 16)")]
    NotIso9660,
    /// The image contradicts itself or the standard.
    #[error("malformed ISO 9660 image: {0}")]
    Malformed(String),
    /// A valid image using something this reader does not read.
    #[error("unsupported ISO 9660 feature: {0}")]
    Unsupported(String),
    /// No such file or directory.
    #[error("`{0}`: no such file or directory")]
    NotFound(String),
    /// A path component is a file.
    #[error("`{0}`: not a directory")]
    NotADirectory(String),
    /// A file was asked for and a directory found.
    #[error("`{0}`: is a directory")]
    IsADirectory(String),
    /// A file is larger than the caller's limit.
    #[error("`{path}`: {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A path has more components than allowed.
    #[error("`{path}`: deeper than {limit} directories")]
    TooDeep {
        /// The path.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// More directory records were read than allowed.
    #[error("more than {0} directory entries")]
    TooManyEntries(usize),
}

/// Bounds a reader holds to, against hostile images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most components in a path.
    pub max_depth: usize,
    /// Most directory records read over the reader's life.
    pub max_entries: usize,
    /// Largest file [`IsoReader::read_file`] returns.
    pub max_file_size: u64,
}

impl Default for Limits {
    /// Depth 8, 10,000 entries, 16 MiB files.
    fn default() -> Limits {
        Limits {
            max_depth: 8,
            max_entries: 10_000,
            max_file_size: 16 << 20,
        }
    }
}

/// Which names a reader shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Rock Ridge `NM` names from the primary tree.
    RockRidge,
    /// Joliet names from the supplementary tree.
    Joliet,
    /// Translated ISO 9660 identifiers from the primary tree.
    Plain,
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (Rock Ridge only; its target is not read).
    Symlink,
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name, as chosen by [`Naming`].
    pub name: String,
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Data length in bytes.
    pub size: u64,
    /// Rock Ridge mode (type and permission bits), when present.
    pub mode: Option<u32>,
    /// First sector of its extent.
    extent: u32,
    /// Part of a multi-extent file.
    multi_extent: bool,
}

/// Reads one ISO 9660 volume from any `Read + Seek` source.
#[derive(Debug)]
pub struct IsoReader<R> {
    source: R,
    image_size: u64,
    volume_id: String,
    naming: Naming,
    root: Entry,
    /// SUSP bytes to skip in each system use area (from `SP`).
    skip: usize,
    limits: Limits,
    entries_read: usize,
}

/// The primary volume descriptor's volume identifier (trimmed of spaces and NULs), or
/// `None` when the source has no ISO 9660 descriptor at sector 16. Reads one sector.
pub fn volume_id<R: Read + Seek>(source: &mut R) -> Result<Option<String>, ReadError> {
    let mut sector = [0u8; SECTOR as usize];
    match read_at(source, DESCRIPTORS_START * SECTOR, &mut sector) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(source) => return Err(io_error("sector 16", source)),
    }
    if &sector[..7] != b"\x01CD001\x01" {
        return Ok(None);
    }
    Ok(Some(trimmed(&sector[40..72])))
}

impl<R: Read + Seek> IsoReader<R> {
    /// Reads the volume descriptors and the root directory's first record, and chooses
    /// the naming (see the module documentation).
    pub fn open(mut source: R, limits: Limits) -> Result<IsoReader<R>, ReadError> {
        let image_size = source
            .seek(SeekFrom::End(0))
            .map_err(|error| io_error("the image size", error))?;
        let mut primary: Option<Vec<u8>> = None;
        let mut joliet: Option<Vec<u8>> = None;
        for index in 0..MAX_DESCRIPTORS {
            let lba = DESCRIPTORS_START + index;
            let mut sector = vec![0u8; SECTOR as usize];
            match read_at(&mut source, lba * SECTOR, &mut sector) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof && index == 0 => {
                    return Err(ReadError::NotIso9660)
                }
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(malformed("no volume descriptor set terminator"))
                }
                Err(error) => return Err(io_error(format!("sector {lba}"), error)),
            }
            if &sector[1..6] != b"CD001" {
                if index == 0 {
                    return Err(ReadError::NotIso9660);
                }
                return Err(malformed(format!(
                    "sector {lba} is not a volume descriptor"
                )));
            }
            match sector[0] {
                1 if primary.is_none() => primary = Some(sector),
                2 if joliet.is_none()
                    && sector[88..90] == *b"%/"
                    && matches!(sector[90], b'@' | b'C' | b'E') =>
                {
                    joliet = Some(sector)
                }
                255 => break,
                _ => {}
            }
            if index + 1 == MAX_DESCRIPTORS {
                return Err(malformed("no volume descriptor set terminator"));
            }
        }
        let primary = primary.ok_or(ReadError::NotIso9660)?;
        let block_size = u16::from_le_bytes([primary[128], primary[129]]);
        if u64::from(block_size) != SECTOR {
            return Err(ReadError::Unsupported(format!(
                "logical block size {block_size}"
            )));
        }
        let volume_id = trimmed(&primary[40..72]);
        let mut reader = IsoReader {
            source,
            image_size,
            volume_id,
            naming: Naming::Plain,
            root: root_entry(&primary)?,
            skip: 0,
            limits,
            entries_read: 0,
        };
        // Rock Ridge: `SP` first in the root's "." record, and `ER` unless no Joliet.
        let root = reader.root.clone();
        let directory = reader.directory_bytes(&root, "/")?;
        if directory.first().copied().unwrap_or(0) >= 34 {
            let dot = parse_record(&directory)?;
            let use_area = dot.system_use;
            if use_area.len() >= 7
                && use_area[..4] == *b"SP\x07\x01"
                && use_area[4..6] == [0xBE, 0xEF]
            {
                let skip = usize::from(use_area[6]);
                let found = system_use(&mut reader.source, reader.image_size, use_area)?;
                if found.has_er || joliet.is_none() {
                    reader.naming = Naming::RockRidge;
                    reader.skip = skip;
                }
            }
        }
        if reader.naming != Naming::RockRidge {
            if let Some(joliet) = joliet {
                reader.naming = Naming::Joliet;
                reader.root = root_entry(&joliet)?;
            }
        }
        Ok(reader)
    }

    /// The primary volume identifier, trimmed.
    pub fn volume_id(&self) -> &str {
        &self.volume_id
    }

    /// The names this reader shows.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// The entries of the directory at `path` (`""` or `"/"` is the root), without
    /// "." and "..", in the order of the medium.
    pub fn list(&mut self, path: &str) -> Result<Vec<Entry>, ReadError> {
        let directory = self.lookup(path)?;
        if directory.kind != EntryKind::Directory {
            return Err(ReadError::NotADirectory(path.to_owned()));
        }
        self.entries(&directory, path)
    }

    /// The entry at `path`, or `None` when it does not exist.
    pub fn entry(&mut self, path: &str) -> Result<Option<Entry>, ReadError> {
        match self.lookup(path) {
            Ok(entry) => Ok(Some(entry)),
            Err(ReadError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The contents of the file at `path`, at most [`Limits::max_file_size`] bytes.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, ReadError> {
        let entry = self.lookup(path)?;
        match entry.kind {
            EntryKind::Directory => return Err(ReadError::IsADirectory(path.to_owned())),
            EntryKind::Symlink => {
                return Err(ReadError::Unsupported(format!(
                    "`{path}` is a symbolic link"
                )))
            }
            EntryKind::File => {}
        }
        if entry.multi_extent {
            return Err(ReadError::Unsupported(format!(
                "`{path}` is a multi-extent file"
            )));
        }
        if entry.size > self.limits.max_file_size {
            return Err(ReadError::TooLarge {
                path: path.to_owned(),
                size: entry.size,
                limit: self.limits.max_file_size,
            });
        }
        self.extent(&entry, path)
    }

    /// Reads an entry's extent after checking it lies inside the image.
    fn extent(&mut self, entry: &Entry, path: &str) -> Result<Vec<u8>, ReadError> {
        if entry.size == 0 {
            return Ok(Vec::new());
        }
        let start = u64::from(entry.extent) * SECTOR;
        if start.saturating_add(entry.size) > self.image_size {
            return Err(malformed(format!(
                "`{path}`: extent at sector {} ({} bytes) ends past the image ({} bytes)",
                entry.extent, entry.size, self.image_size
            )));
        }
        let mut bytes = vec![0u8; entry.size as usize];
        read_at(&mut self.source, start, &mut bytes)
            .map_err(|error| io_error(format!("the extent of `{path}`"), error))?;
        Ok(bytes)
    }

    fn directory_bytes(&mut self, directory: &Entry, path: &str) -> Result<Vec<u8>, ReadError> {
        if directory.size > MAX_DIRECTORY_SIZE {
            return Err(ReadError::TooLarge {
                path: path.to_owned(),
                size: directory.size,
                limit: MAX_DIRECTORY_SIZE,
            });
        }
        self.extent(directory, path)
    }

    /// Follows `path` from the root, one directory at a time.
    fn lookup(&mut self, path: &str) -> Result<Entry, ReadError> {
        let components: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
        if components.len() > self.limits.max_depth {
            return Err(ReadError::TooDeep {
                path: path.to_owned(),
                limit: self.limits.max_depth,
            });
        }
        let mut current = self.root.clone();
        for (depth, component) in components.iter().enumerate() {
            let walked = components[..depth].join("/");
            if current.kind != EntryKind::Directory {
                return Err(ReadError::NotADirectory(walked));
            }
            let entries = self.entries(&current, &walked)?;
            let exact = entries.iter().position(|entry| entry.name == *component);
            let found = exact.or_else(|| {
                (self.naming != Naming::RockRidge)
                    .then(|| {
                        entries
                            .iter()
                            .position(|entry| entry.name.eq_ignore_ascii_case(component))
                    })
                    .flatten()
            });
            match found {
                Some(index) => current = entries[index].clone(),
                None => return Err(ReadError::NotFound(path.to_owned())),
            }
        }
        Ok(current)
    }

    /// Parses the records of a directory extent.
    fn entries(&mut self, directory: &Entry, path: &str) -> Result<Vec<Entry>, ReadError> {
        let bytes = self.directory_bytes(directory, path)?;
        let mut entries = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let sector_end = (at / SECTOR as usize + 1) * SECTOR as usize;
            let sector_end = sector_end.min(bytes.len());
            if bytes[at] == 0 {
                at = sector_end;
                continue;
            }
            let record = parse_record(&bytes[at..sector_end]).map_err(|error| match error {
                ReadError::Malformed(reason) => malformed(format!("directory `{path}`: {reason}")),
                other => other,
            })?;
            at += usize::from(bytes[at]);
            if record.identifier == [0] || record.identifier == [1] {
                continue;
            }
            self.entries_read += 1;
            if self.entries_read > self.limits.max_entries {
                return Err(ReadError::TooManyEntries(self.limits.max_entries));
            }
            if let Some(entry) = self.entry_of(&record)? {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// Turns a record into an entry with the reader's naming; `None` for entries Rock
    /// Ridge hides (relocated directories).
    fn entry_of(&mut self, record: &Record<'_>) -> Result<Option<Entry>, ReadError> {
        let directory = record.flags & FLAG_DIRECTORY != 0;
        let mut kind = if directory {
            EntryKind::Directory
        } else {
            EntryKind::File
        };
        let mut mode = None;
        let name = match self.naming {
            Naming::Joliet => joliet_name(record.identifier),
            Naming::Plain => plain_name(record.identifier),
            Naming::RockRidge => {
                let area = record.system_use.get(self.skip..).unwrap_or(&[]);
                let found = system_use(&mut self.source, self.image_size, area)?;
                if found.relocated {
                    return Ok(None);
                }
                mode = found.mode;
                if mode.is_some_and(|mode| mode & S_IFMT == S_IFLNK) {
                    kind = EntryKind::Symlink;
                }
                match found.name {
                    Some(name) => String::from_utf8_lossy(&name).into_owned(),
                    None => plain_name(record.identifier),
                }
            }
        };
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(malformed(format!("an entry is named `{name}`")));
        }
        Ok(Some(Entry {
            name,
            kind,
            size: u64::from(record.size),
            mode,
            extent: record.extent,
            multi_extent: record.flags & FLAG_MULTI_EXTENT != 0,
        }))
    }
}
