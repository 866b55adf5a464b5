//! The content hash of a library directory: [`tree_hash`], `blake3:<hex>`.
//!
//! Format `imgbuild-library-tree-v1`: BLAKE3 over the tag, then every entry under the
//! root in the byte order of its relative path (`/`-separated), each as
//!
//! ```text
//! kind (1 byte: d directory, f file, x executable file, l symbolic link)
//! path length (u64, little-endian) · path bytes
//! file: content length (u64 LE) · contents      link: target length · target bytes
//! ```
//!
//! Owners, timestamps and permission bits other than "executable by its owner" do not
//! count: the same library checked out by two users hashes the same. Directories named
//! `.git` are left out (a path library is often a working copy).
//!
//! **Invariants:** nothing else is skipped silently — a device, FIFO or socket is an
//! error, and so is a symbolic link whose target is absolute or climbs out of the
//! root. The hash of a tree never depends on the order the filesystem lists it in.
//! A change to this encoding changes the tag (and the golden vectors in
//! `tests/hash.rs`).

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{IoResultExt, LibraryError, Result};

/// The encoding's version tag, hashed first.
pub const FORMAT: &str = "imgbuild-library-tree-v1";

/// The content hash of the directory `root`, as `blake3:<64 hex digits>`.
pub fn tree_hash(root: &Path) -> Result<String> {
    let metadata = fs::metadata(root).at("read library directory", root)?;
    if !metadata.is_dir() {
        return Err(LibraryError::Unhashable {
            path: root.to_path_buf(),
            problem: "not a directory".to_owned(),
        });
    }
    let mut entries = Vec::new();
    collect(root, Path::new(""), &mut entries)?;
    entries.sort_by(|left, right| {
        left.as_os_str()
            .as_bytes()
            .cmp(right.as_os_str().as_bytes())
    });
    let mut hasher = blake3::Hasher::new();
    hasher.update(FORMAT.as_bytes());
    for relative in &entries {
        let full = root.join(relative);
        let metadata = fs::symlink_metadata(&full).at("read metadata of", &full)?;
        let file_type = metadata.file_type();
        let (kind, payload) = if file_type.is_symlink() {
            let target = fs::read_link(&full).at("read symbolic link", &full)?;
            check_link(relative, &target, &full)?;
            (b'l', target.as_os_str().as_bytes().to_vec())
        } else if file_type.is_dir() {
            (b'd', Vec::new())
        } else if file_type.is_file() {
            let executable = metadata.permissions().mode() & 0o100 != 0;
            let contents = fs::read(&full).at("read", &full)?;
            (if executable { b'x' } else { b'f' }, contents)
        } else {
            return Err(LibraryError::Unhashable {
                path: full,
                problem: "a device, FIFO or socket has no place in a library".to_owned(),
            });
        };
        let path_bytes = relative.as_os_str().as_bytes();
        hasher.update(&[kind]);
        hasher.update(&(path_bytes.len() as u64).to_le_bytes());
        hasher.update(path_bytes);
        if kind != b'd' {
            hasher.update(&(payload.len() as u64).to_le_bytes());
            hasher.update(&payload);
        }
    }
    Ok(format!("blake3:{}", hasher.finalize().to_hex()))
}

/// Appends the relative paths of everything under `root/relative` (not following links).
fn collect(root: &Path, relative: &Path, into: &mut Vec<PathBuf>) -> Result<()> {
    let directory = root.join(relative);
    for entry in fs::read_dir(&directory).at("list directory", &directory)? {
        let entry = entry.at("list directory", &directory)?;
        let name = entry.file_name();
        let child = relative.join(&name);
        let file_type = entry.file_type().at("read metadata of", &entry.path())?;
        if file_type.is_dir() {
            if name == ".git" {
                continue;
            }
            into.push(child.clone());
            collect(root, &child, into)?;
        } else {
            into.push(child);
        }
    }
    Ok(())
}

/// Refuses a link target that is absolute or leaves the root, judged lexically from
/// the link's own directory.
fn check_link(relative: &Path, target: &Path, full: &Path) -> Result<()> {
    let refuse = |problem: &str| LibraryError::Unhashable {
        path: full.to_path_buf(),
        problem: format!("symbolic link to `{}` {problem}", target.display()),
    };
    // Depth of the link's directory below the root.
    let mut depth = relative.components().count().saturating_sub(1) as i64;
    for component in target.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => return Err(refuse("is absolute")),
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(refuse("leaves the library"));
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    Ok(())
}
