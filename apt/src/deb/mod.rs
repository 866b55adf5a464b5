//! Reading `.deb` archives as a stream, rejecting anything that could write outside the
//! package's root.
//!
//! A builder that unpacks Debian packages into the store calls [`read_deb`] with a
//! [`DebVisitor`]: the visitor first sees the control archive (small, collected in
//! memory), then each entry of the data archive in archive order with a reader over its
//! contents, which it streams into its own store. Nothing of `data.tar` is buffered
//! beyond the decoders' windows. [`read_control`] reads only the control archive.
//!
//! **The result is valid only if [`read_deb`] returns `Ok`.** Some checks (a later
//! symlink that redirects an earlier one, bytes after the last member) can only fail at
//! the end, after entries have been handed out; a visitor must discard what it received
//! when the read fails.
//!
//! # The format
//!
//! A `.deb` is an `ar` archive (magic `!<arch>\n`; each member a 60-byte header
//! `name[16] mtime[12] uid[6] gid[6] mode[8] size[10] "`\n"`, then the data, padded to
//! an even size; GNU ar may end names with `/`). Its members, in this order:
//!
//! 1. `debian-binary`: the format version, `2.0\n` (any `2.x` first line is accepted);
//! 2. `control.tar`, optionally `.gz`, `.xz`, `.zst` (or legacy `.lzma`): the control
//!    archive — `control`, `md5sums`, `conffiles`, maintainer scripts (`preinst`,
//!    `postinst`, `prerm`, `postrm`, `config`), `templates`, `triggers`, `shlibs`,
//!    `symbols`, ... — regular files at its top level only;
//! 3. `data.tar` with the same compressions: the files to install, paths like
//!    `./usr/bin/foo`.
//!
//! Members whose names start with `_` may appear after `debian-binary` and are skipped
//! (they are listed in [`DebSummary::skipped_members`]). `.bz2` is rejected as an
//! unsupported compression. Tar entries may use GNU long names and link names and PAX
//! records (`path`, `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime`);
//! global PAX headers are skipped.
//!
//! # The rules
//!
//! Every violation is an error naming the package, the member and the entry's path
//! (see [`DebErrorKind`] and [`EntryProblem`]); nothing is skipped silently.
//!
//! - **Paths.** Entry paths are normalized: a leading `./`, empty and `.` components and
//!   a trailing `/` are dropped, so [`DataEntry::path`] is relative, `/`-separated and
//!   never empty. Paths that are not UTF-8 (reported lossily), hold NUL, are absolute or
//!   have any `..` component are rejected, as are paths and link targets longer than
//!   Linux allows (4095 bytes, 255 per component: dpkg could not install them). The
//!   root entry (`./`) must be a directory and is not reported: its metadata does not
//!   describe anything the package installs. Only directories may end in `/`.
//! - **Placement.** An entry whose path goes through a symlink the package shipped
//!   earlier (`a -> /etc`, then `a/passwd`) is rejected, as is one under a file, a
//!   second entry for a path already shipped, and a non-directory at a path earlier
//!   entries used as a directory. Symlinks shipped by *other* packages (merged `/usr`)
//!   are the root filesystem assembler's business, not this reader's.
//! - **Symlinks.** A target may be anything that stays inside the package root: a
//!   relative target resolves against the link's directory, an absolute one against the
//!   root (`/usr/lib/x` is fine: installed, it points inside the image). Resolution goes
//!   component by component; `..` climbs one directory and a component naming a symlink
//!   of the package is replaced by that symlink's target. Climbing above the root is an
//!   escape (`usr/x -> ../../etc`), even where the kernel would stop at `/`, because a
//!   tree checked out on the host has no such stop. Targets need not exist; more than
//!   40 symlinks in one resolution is a loop (an error). Every symlink is checked when
//!   it is read and again at the end, with all the package's symlinks known. Together
//!   with the placement rule this means: followed from inside the package's own tree,
//!   no symlink of the package leads above its root.
//! - **Hardlinks.** The target must normalize like an entry path and name a regular
//!   file that appeared *earlier* in the archive (or a hardlink to one);
//!   [`EntryKind::Hardlink`] carries the path of that original regular file.
//! - **Limits** ([`Limits`]): a file larger than `max_entry_size`, more than
//!   `max_entries` entries in one tar member, more than `max_total_size` uncompressed
//!   bytes of `data.tar` (headers included: decompression bombs stop here) or more than
//!   `max_control_size` of `control.tar` are errors. Long names and PAX records before
//!   one entry are capped at 1 MiB, since the tar reader buffers them. The paths of one
//!   package may name at most `2 × max_entries + 4096` files and directories, parents
//!   it does not list included (each path could otherwise add 2048 of them), and
//!   checking where its symlinks lead may take 2^25 steps (path components) in all, so
//!   that many symlinks into chains of long ones cannot keep the reader busy for hours.
//! - **Integrity.** A member whose declared size exceeds the bytes present, a tar stream
//!   without an end-of-archive marker, non-zero bytes after that marker, a corrupt
//!   compressed stream, bytes after the last member that are not an `_` member, a
//!   `debian-binary` other than `2.x`, a missing member or an unexpected one (wrong
//!   order, unknown name) are errors. Entry types other than files, directories,
//!   symlinks, hardlinks, devices and fifos (GNU sparse files, ...) are rejected.
//!
//! # Example
//!
//! ```no_run
//! use std::io::Read;
//! use imgbuild_apt::deb::{read_deb_with, Limits};
//!
//! let file = std::fs::File::open("hello_2.10-3_amd64.deb")?;
//! let summary = read_deb_with(
//!     std::io::BufReader::new(file),
//!     "hello_2.10-3_amd64.deb",
//!     &Limits::default(),
//!     |control| {
//!         println!("{} control files", control.files.len());
//!         Ok::<(), std::io::Error>(())
//!     },
//!     |entry, contents| {
//!         let copied = std::io::copy(contents, &mut std::io::sink())?;
//!         println!("{} {:o} {copied}", entry.path, entry.mode);
//!         Ok(())
//!     },
//! )?;
//! println!("{} entries", summary.entries);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ar;
mod control;
mod data;
mod error;
mod package;
mod paths;
mod stream;
mod tree;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;

pub use error::{DebError, DebErrorKind, EntryProblem};
pub use package::{read_control, read_deb, read_deb_with};
pub use stream::Compression;

/// Caps on what one package may hold; exceeding one is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest regular file, in bytes (default 4 GiB).
    pub max_entry_size: u64,
    /// Most uncompressed bytes of the data tar stream, headers included (default 16 GiB).
    pub max_total_size: u64,
    /// Most entries in one tar member (default 1 048 576).
    pub max_entries: u64,
    /// Most uncompressed bytes of the control tar stream (default 64 MiB).
    pub max_control_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_size: 4 << 30,
            max_total_size: 16 << 30,
            max_entries: 1 << 20,
            max_control_size: 64 << 20,
        }
    }
}

/// The control archive: its files by name (`control`, `md5sums`, `postinst`, ...),
/// without `./`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlArchive {
    /// The files, by name.
    pub files: BTreeMap<String, ControlFile>,
}

impl ControlArchive {
    /// The `control` file's bytes (always present in an archive read by this module).
    pub fn control(&self) -> &[u8] {
        self.files
            .get("control")
            .map_or(&[], |file| file.bytes.as_slice())
    }
}

/// One file of the control archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    /// Permission bits (`0o755` for maintainer scripts).
    pub mode: u32,
    /// The contents.
    pub bytes: Vec<u8>,
}

/// What a data entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file of `size` bytes; its contents are the reader handed to the
    /// visitor.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Directory,
    /// A symbolic link; `target` as found in the archive (it stays inside the root, see
    /// the module docs).
    Symlink {
        /// The link's target.
        target: String,
    },
    /// A hard link to an earlier regular file of the package.
    Hardlink {
        /// Normalized path of the original regular file.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One entry of the data archive, as handed to [`DebVisitor::entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEntry<'a> {
    /// Normalized path: relative, `/`-separated, no `.`/`..`/empty components, no
    /// trailing `/`, never empty (e.g. `usr/bin/busybox`).
    pub path: &'a str,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission bits, setuid, setgid and sticky included (`mode & 0o7777`).
    pub mode: u32,
    /// Owner's numeric id.
    pub uid: u32,
    /// Group's numeric id.
    pub gid: u32,
    /// Owner's name, if the archive records one.
    pub user: Option<&'a str>,
    /// Group's name, if the archive records one.
    pub group: Option<&'a str>,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// Receives a package's contents from [`read_deb`].
pub trait DebVisitor {
    /// The visitor's own error; it ends the read as [`DebErrorKind::Visitor`].
    type Error;

    /// Called once, with the control archive, before any data entry.
    fn control(&mut self, control: &ControlArchive) -> Result<(), Self::Error> {
        let _ = control;
        Ok(())
    }

    /// Called for each data entry, in archive order. `contents` yields a regular file's
    /// bytes (exactly [`EntryKind::File::size`] of them) and nothing for other kinds;
    /// what the visitor leaves unread is skipped.
    fn entry(&mut self, entry: &DataEntry<'_>, contents: &mut dyn Read) -> Result<(), Self::Error>;
}

/// What [`read_deb`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebSummary {
    /// The control archive.
    pub control: ControlArchive,
    /// Name of the control member (`control.tar.xz`).
    pub control_member: String,
    /// Its compression.
    pub control_compression: Compression,
    /// Name of the data member (`data.tar.xz`).
    pub data_member: String,
    /// Its compression.
    pub data_compression: Compression,
    /// Data entries handed to the visitor (the root entry not counted).
    pub entries: u64,
    /// Of those, regular files.
    pub files: u64,
    /// Their total size in bytes.
    pub file_bytes: u64,
    /// Uncompressed size of the data tar stream.
    pub data_tar_bytes: u64,
    /// Members starting with `_` that were skipped.
    pub skipped_members: Vec<String>,
}

/// A visitor for callers that only want the control archive.
struct IgnoreData;

impl DebVisitor for IgnoreData {
    type Error = Infallible;

    fn entry(&mut self, _: &DataEntry<'_>, _: &mut dyn Read) -> Result<(), Infallible> {
        Ok(())
    }
}
