//! Writing outputs out of the store: files, directories, or a tar when ownership cannot be applied.
//!
//! **Invariant:** nothing half-written is ever visible at the destination.
//! Everything is built in a temporary sibling (`.<name>.…` in the same
//! directory) and then swapped in with `renameat2(RENAME_EXCHANGE)` (or, where
//! the filesystem lacks it, "rename old away, rename new in"); the old content
//! is deleted afterwards.
//!
//! A tree is written with its modes, symlinks, hardlinks, fifos, mtimes and
//! xattrs. Ownership and device nodes are applied only when we are root.
//! Unprivileged, a tree that needs them (an entry owned by someone else, a
//! device node, an xattr outside `user.*`) is written as `<dest>.tar` instead
//! (see [`crate::tar_render`]) when [`MaterializeOptions::allow_tar_fallback`]
//! is set. Order of operations per entry: create, write content, chown, chmod
//! (chown clears setuid), xattrs (chown clears capabilities), mtime;
//! directories are finished last, deepest first, so read-only directories can
//! still be filled.
//!
//! A secret output is written owner-only: a file gets 0600, a tree's top
//! directory loses its group and other bits, a tar fallback is 0600.
//!
//! A tree written as a directory that holds a setuid or setgid file, a file with
//! capabilities or a device node goes to `.imgbuild-private/<name>` (a directory only
//! its owner can enter) with a symlink `<dest>` to it; see [`crate::result_dir`].

use std::fs;
use std::io::{self, BufWriter};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, Timespec, Timestamps, XattrFlags, CWD};

use crate::checkout::DeviceNodes;
use crate::digest::Digest;
use crate::error::{IoResultExt, StoreError};
use crate::output::{OutputObject, OutputRecord};
use crate::result_dir::{private_because, remove_private_copy};
use crate::tree::{EntryKind, Metadata, Tree};
use crate::Store;

/// How to materialize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterializeOptions {
    /// Write `<dest>.tar` when a tree needs privileges we lack (else fail).
    pub allow_tar_fallback: bool,
    /// Reserved; callers choose destination names themselves.
    pub file_extension: Option<String>,
    /// Behave as an unprivileged user even when running as root (for tests).
    pub assume_unprivileged: bool,
}

impl Default for MaterializeOptions {
    fn default() -> MaterializeOptions {
        MaterializeOptions {
            allow_tar_fallback: true,
            file_extension: None,
            assume_unprivileged: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Materialized {
    /// A regular file.
    File(PathBuf),
    /// A directory tree.
    Directory(PathBuf),
    /// A tar archive (the tree needed privileges we lack).
    Tar(PathBuf),
}

/// Removes a temporary path on drop unless disarmed.
struct Cleanup(Option<PathBuf>);

impl Cleanup {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = remove_any(&path);
        }
    }
}

/// Removes a file or a whole directory tree, making read-only directories writable first.
pub(crate) fn remove_any(path: &Path) -> io::Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if !metadata.is_dir() {
        return fs::remove_file(path);
    }
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    for entry in fs::read_dir(path)? {
        remove_any(&entry?.path())?;
    }
    fs::remove_dir(path)
}

/// Removes temporaries that an interrupted materialization (a killed process) left in
/// `directory`: hidden `.NAME.imgbuild-*` entries older than `max_age`. Returns how
/// many were removed. Younger ones may belong to a build running right now, unless the
/// caller holds the directory's [`crate::result_dir::lock`]. imgbuild's own files there
/// (`.imgbuild-manifest`, `.imgbuild-private`) do not match.
pub fn remove_stale_temporaries(
    directory: &Path,
    max_age: std::time::Duration,
) -> Result<usize, StoreError> {
    let entries = match fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error).at("list", directory),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let temporary = name
            .strip_prefix('.')
            .is_some_and(|rest| rest.contains(".imgbuild-"));
        if !temporary {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age >= max_age);
        if old {
            let path = entry.path();
            remove_any(&path).at("remove stale temporary", &path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn sibling(destination: &Path, suffix: &str) -> PathBuf {
    let mut name = destination.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub(crate) fn temporary_prefix(destination: &Path) -> String {
    let name = destination
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.imgbuild-")
}

pub(crate) fn parent_of(destination: &Path) -> Result<PathBuf, StoreError> {
    let parent = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).at("create directory", &parent)?;
    Ok(parent)
}

/// Swaps `temporary` into `destination`, then deletes what was there.
pub(crate) fn replace_into_place(temporary: &Path, destination: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(destination) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return fs::rename(temporary, destination).at("move into place", destination);
        }
        Err(error) => return Err(error).at("inspect", destination),
        Ok(_) => {}
    }
    let exchanged = rustix::fs::renameat_with(
        CWD,
        temporary,
        CWD,
        destination,
        rustix::fs::RenameFlags::EXCHANGE,
    );
    if exchanged.is_ok() {
        // `temporary` now holds the old content.
        return remove_any(temporary).at("remove the previous", temporary);
    }
    let old = sibling(temporary, ".old");
    fs::rename(destination, &old).at("move aside", destination)?;
    fs::rename(temporary, destination).at("move into place", destination)?;
    remove_any(&old).at("remove the previous", &old)
}

/// Why an unprivileged process cannot write `tree` faithfully, if it cannot.
fn needs_privileges(tree: &Tree, uid: u32, gid: u32) -> Option<String> {
    let check = |path: &str, meta: &Metadata| {
        if meta.uid != uid || meta.gid != gid {
            return Some(format!(
                "`/{path}` is owned by {}:{}, we are {uid}:{gid}",
                meta.uid, meta.gid
            ));
        }
        meta.xattrs
            .keys()
            .find(|key| !key.starts_with(b"user."))
            .map(|key| format!("`/{path}` has the xattr `{}`", String::from_utf8_lossy(key)))
    };
    if let Some(reason) = check("", tree.root_meta()) {
        return Some(reason);
    }
    tree.walk().find_map(|(path, entry)| match entry.kind {
        EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. } => {
            Some(format!("`/{path}` is a device node"))
        }
        // A hardlink's own metadata is not applied.
        EntryKind::Hardlink { .. } => None,
        _ => check(&path.to_string(), &entry.meta),
    })
}

impl Store {
    /// Writes `record` at `dest` (see the module documentation).
    pub fn materialize(
        &self,
        record: &OutputRecord,
        dest: &Path,
        options: &MaterializeOptions,
    ) -> Result<Materialized, StoreError> {
        self.materialize_explained(record, dest, options)
            .map(|(materialized, _)| materialized)
    }

    /// [`Store::materialize`], also saying why a tree went below `.imgbuild-private`.
    pub(crate) fn materialize_explained(
        &self,
        record: &OutputRecord,
        dest: &Path,
        options: &MaterializeOptions,
    ) -> Result<(Materialized, Option<String>), StoreError> {
        match &record.object {
            OutputObject::File {
                blob,
                size,
                executable,
            } => {
                let mode = if record.secret {
                    0o600
                } else if *executable {
                    0o755
                } else {
                    0o644
                };
                self.materialize_file(blob, *size, mode, dest)?;
                remove_private_copy(dest)?;
                Ok((Materialized::File(dest.to_path_buf()), None))
            }
            OutputObject::Tree { tree } => {
                let mut loaded = self.load_tree(tree)?;
                if record.secret {
                    let mut meta = loaded.root_meta().clone();
                    meta.mode &= 0o7700;
                    loaded.set_root_meta(meta);
                }
                let privileged =
                    rustix::process::geteuid().is_root() && !options.assume_unprivileged;
                let uid = rustix::process::geteuid().as_raw();
                let gid = rustix::process::getegid().as_raw();
                let blocker = if privileged {
                    None
                } else {
                    needs_privileges(&loaded, uid, gid)
                };
                match blocker {
                    None => {
                        let private = private_because(&loaded);
                        if private.is_some() {
                            self.materialize_private(&loaded, privileged, dest)?;
                        } else {
                            self.materialize_directory(&loaded, privileged, dest)?;
                            remove_private_copy(dest)?;
                        }
                        Ok((Materialized::Directory(dest.to_path_buf()), private))
                    }
                    Some(reason) if !options.allow_tar_fallback => {
                        Err(StoreError::NeedsPrivileges {
                            path: dest.to_path_buf(),
                            reason,
                        })
                    }
                    Some(_) => {
                        let tar = sibling(dest, ".tar");
                        self.materialize_tar(&loaded, record.secret, &tar)?;
                        remove_private_copy(dest)?;
                        Ok((Materialized::Tar(tar), None))
                    }
                }
            }
        }
    }

    fn materialize_file(
        &self,
        blob: &Digest,
        size: u64,
        mode: u32,
        dest: &Path,
    ) -> Result<(), StoreError> {
        let parent = parent_of(dest)?;
        let temporary = tempfile::Builder::new()
            .prefix(&temporary_prefix(dest))
            .tempfile_in(&parent)
            .at("create a temporary file in", &parent)?;
        let (mut file, path) = temporary
            .keep()
            .map_err(|error| error.error)
            .at("create a temporary file in", &parent)?;
        let mut cleanup = Cleanup(Some(path.clone()));
        let written = self.copy_blob_to_file(blob, &mut file)?;
        if written != size {
            return Err(StoreError::SizeMismatch {
                blob: *blob,
                context: dest.display().to_string(),
                expected: size,
                actual: written,
            });
        }
        file.set_permissions(fs::Permissions::from_mode(mode))
            .at("set permissions of", &path)?;
        drop(file);
        replace_into_place(&path, dest)?;
        cleanup.disarm();
        Ok(())
    }

    fn materialize_tar(&self, tree: &Tree, secret: bool, dest: &Path) -> Result<(), StoreError> {
        let parent = parent_of(dest)?;
        let temporary = tempfile::Builder::new()
            .prefix(&temporary_prefix(dest))
            .tempfile_in(&parent)
            .at("create a temporary file in", &parent)?;
        let (file, path) = temporary
            .keep()
            .map_err(|error| error.error)
            .at("create a temporary file in", &parent)?;
        let mut cleanup = Cleanup(Some(path.clone()));
        let mut out = BufWriter::with_capacity(1 << 20, file);
        self.write_tar_of_tree(tree, &mut out)?;
        let file = out
            .into_inner()
            .map_err(|error| error.into_error())
            .at("write", &path)?;
        let mode = if secret { 0o600 } else { 0o644 };
        file.set_permissions(fs::Permissions::from_mode(mode))
            .at("set permissions of", &path)?;
        drop(file);
        replace_into_place(&path, dest)?;
        cleanup.disarm();
        Ok(())
    }

    pub(crate) fn materialize_directory(
        &self,
        tree: &Tree,
        privileged: bool,
        dest: &Path,
    ) -> Result<(), StoreError> {
        let parent = parent_of(dest)?;
        let root = tempfile::Builder::new()
            .prefix(&temporary_prefix(dest))
            .tempdir_in(&parent)
            .at("create a temporary directory in", &parent)?
            .keep();
        let mut cleanup = Cleanup(Some(root.clone()));
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
            .at("set permissions of", &root)?;
        self.write_tree_into(tree, &root, privileged, DeviceNodes::Create)?;
        replace_into_place(&root, dest)?;
        cleanup.disarm();
        Ok(())
    }
}

/// Ownership (if privileged), mode, xattrs and mtime, in that order.
pub(crate) fn finish_entry(
    path: &Path,
    meta: &Metadata,
    privileged: bool,
    apply_mode: bool,
) -> Result<(), StoreError> {
    if privileged {
        let uid = (meta.uid != u32::MAX).then(|| rustix::fs::Uid::from_raw(meta.uid));
        let gid = (meta.gid != u32::MAX).then(|| rustix::fs::Gid::from_raw(meta.gid));
        rustix::fs::chownat(CWD, path, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
            .at("change the owner of", path)?;
    }
    if apply_mode {
        rustix::fs::chmodat(CWD, path, Mode::from_raw_mode(meta.mode), AtFlags::empty())
            .at("set permissions of", path)?;
    }
    for (key, value) in &meta.xattrs {
        rustix::fs::lsetxattr(path, key.as_slice(), value, XattrFlags::empty())
            .at("set an extended attribute on", path)?;
    }
    let time = Timespec {
        tv_sec: meta.mtime,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .at("set the modification time of", path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Entry, TreePath};

    #[test]
    fn remove_any_handles_read_only_directories() {
        let directory = tempfile::tempdir().expect("tempdir");
        let inner = directory.path().join("a/b");
        fs::create_dir_all(&inner).expect("mkdir");
        fs::write(inner.join("f"), b"x").expect("write");
        fs::set_permissions(&inner, fs::Permissions::from_mode(0o555)).expect("chmod");
        remove_any(&directory.path().join("a")).expect("remove");
        assert!(!directory.path().join("a").exists());
    }

    #[test]
    fn needs_privileges_names_the_entry() {
        let mut tree = Tree::new(Metadata {
            uid: 1000,
            gid: 1000,
            ..Metadata::default_directory()
        });
        assert_eq!(needs_privileges(&tree, 1000, 1000), None);
        tree.insert(
            &TreePath::parse("etc/shadow").expect("path"),
            Entry::fifo(Metadata::default_file()),
        )
        .expect("insert");
        let reason = needs_privileges(&tree, 1000, 1000).expect("blocked");
        assert!(reason.contains("`/etc`"), "{reason}");
    }
}
