//! Describing an output for the manifest: its size, SHA-256 and SHA-512, and for a
//! directory every entry below it.
//!
//! Files are read in 1 MiB pieces, each piece fed to both digests, so an image of any
//! size is hashed in constant memory and read once. A top-level symlink is followed
//! (the output is what it points at); symlinks below a directory are recorded, never
//! followed. Sockets, FIFOs and devices are refused.
//!
//! **A directory's digests** are those of its *listing* ([`directory_listing`]), built
//! from the sorted `files` entries (paths sorted by byte order, `/`-separated, relative
//! to the output), each entry written as
//!
//! ```text
//! file <size> <sha256> <sha512> <path>\0
//! symlink <path>\0<target>\0
//! directory <path>\0
//! ```
//!
//! (`<size>` in decimal, digests in lowercase hex, `\0` a NUL byte, no other separator).
//! Names cannot contain NUL, so the listing is unambiguous. A directory's `size` is the
//! sum of its regular files' sizes.

use std::fs;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256, Sha512};

use crate::error::{IoResultExt, ProvenanceError};
use crate::manifest::{check_output_name, FileEntry, OutputEntry, DIRECTORY_FORMAT};

/// How much of a file is read at a time.
const BUFFER_SIZE: usize = 1 << 20;

/// Extensions that are kept together with the one after them (`web.tar.gz` is `tar.gz`).
const DOUBLE_EXTENSIONS: &[&str] = &["tar", "spdx", "cdx"];

/// Describes the file or directory `path` as the output `name` (the name it has in the
/// result directory, which must be a plain file name).
pub fn describe_output(path: &Path, name: &str) -> Result<OutputEntry, ProvenanceError> {
    check_output_name(name).map_err(|reason| ProvenanceError::InvalidOutputName {
        name: name.to_owned(),
        reason,
    })?;
    let metadata = fs::metadata(path).at("read", path)?;
    if metadata.is_dir() {
        let files = describe_directory(path)?;
        let listing = directory_listing(&files);
        let size = files
            .iter()
            .map(|entry| match entry {
                FileEntry::File { size, .. } => *size,
                _ => 0,
            })
            .sum();
        Ok(OutputEntry {
            name: name.to_owned(),
            format: DIRECTORY_FORMAT.to_owned(),
            size,
            sha256: hex::encode(Sha256::digest(&listing)),
            sha512: hex::encode(Sha512::digest(&listing)),
            files,
        })
    } else if metadata.is_file() {
        let (size, sha256, sha512) = hash_file(path)?;
        Ok(OutputEntry {
            name: name.to_owned(),
            format: file_format(name),
            size,
            sha256,
            sha512,
            files: Vec::new(),
        })
    } else {
        Err(ProvenanceError::UnsupportedFileType {
            path: path.to_path_buf(),
            kind: file_type_name(&metadata.file_type()),
        })
    }
}

/// The listing whose digests are a directory output's (see the module documentation);
/// `files` must be sorted by path, as [`describe_output`] returns them.
pub fn directory_listing(files: &[FileEntry]) -> Vec<u8> {
    let mut listing = Vec::new();
    for entry in files {
        match entry {
            FileEntry::File {
                path,
                size,
                sha256,
                sha512,
            } => listing
                .extend_from_slice(format!("file {size} {sha256} {sha512} {path}\0").as_bytes()),
            FileEntry::Symlink { path, target } => {
                listing.extend_from_slice(format!("symlink {path}\0{target}\0").as_bytes())
            }
            FileEntry::Directory { path } => {
                listing.extend_from_slice(format!("directory {path}\0").as_bytes())
            }
        }
    }
    listing
}

/// The `format` recorded for a file output named `name`: its extension, two for
/// `.tar.gz`, `.spdx.json` and the like, `"file"` without one.
fn file_format(name: &str) -> String {
    let mut parts: Vec<&str> = name.split('.').skip(1).collect();
    let Some(last) = parts.pop().filter(|last| !last.is_empty()) else {
        return "file".to_owned();
    };
    match parts.pop() {
        Some(before) if DOUBLE_EXTENSIONS.contains(&before) => format!("{before}.{last}"),
        _ => last.to_owned(),
    }
}

/// Size, SHA-256 and SHA-512 of a regular file, read once in pieces.
pub(crate) fn hash_file(path: &Path) -> Result<(u64, String, String), ProvenanceError> {
    let mut file = fs::File::open(path).at("read", path)?;
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut sha256 = Sha256::new();
    let mut sha512 = Sha512::new();
    let mut size: u64 = 0;
    loop {
        let count = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).at("read", path),
        };
        let piece = buffer.get(..count).unwrap_or_default();
        sha256.update(piece);
        sha512.update(piece);
        size += count as u64;
    }
    Ok((
        size,
        hex::encode(sha256.finalize()),
        hex::encode(sha512.finalize()),
    ))
}

/// Every entry below `root`, sorted by path.
fn describe_directory(root: &Path) -> Result<Vec<FileEntry>, ProvenanceError> {
    let mut entries = Vec::new();
    // Directories still to list: (path on disk, path relative to root).
    let mut pending: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((directory, relative)) = pending.pop() {
        for item in fs::read_dir(&directory).at("list", &directory)? {
            let item = item.at("list", &directory)?;
            let path = item.path();
            let file_name = item
                .file_name()
                .into_string()
                .map_err(|_| ProvenanceError::NonUtf8Name { path: path.clone() })?;
            let entry_path = if relative.is_empty() {
                file_name
            } else {
                format!("{relative}/{file_name}")
            };
            let file_type = item.file_type().at("read", &path)?;
            if file_type.is_dir() {
                entries.push(FileEntry::Directory {
                    path: entry_path.clone(),
                });
                pending.push((path, entry_path));
            } else if file_type.is_file() {
                let (size, sha256, sha512) = hash_file(&path)?;
                entries.push(FileEntry::File {
                    path: entry_path,
                    size,
                    sha256,
                    sha512,
                });
            } else if file_type.is_symlink() {
                let target = fs::read_link(&path)
                    .at("read", &path)?
                    .into_os_string()
                    .into_string()
                    .map_err(|_| ProvenanceError::NonUtf8Name { path: path.clone() })?;
                entries.push(FileEntry::Symlink {
                    path: entry_path,
                    target,
                });
            } else {
                return Err(ProvenanceError::UnsupportedFileType {
                    kind: file_type_name(&file_type),
                    path,
                });
            }
        }
    }
    entries.sort_by(|left, right| left.path().as_bytes().cmp(right.path().as_bytes()));
    Ok(entries)
}

/// A word for a file type that is not a regular file, directory or symlink.
fn file_type_name(file_type: &fs::FileType) -> &'static str {
    if file_type.is_socket() {
        "socket"
    } else if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else if file_type.is_symlink() {
        "symlink"
    } else {
        "special file"
    }
}
