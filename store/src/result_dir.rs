//! Result directories (`result/` by default): locking, what was written, checking it, and
//! the owner-only place for dangerous trees.
//!
//! * **Lock.** [`lock`] takes an exclusive `flock` on the result directory itself (no
//!   extra file appears in it) for as long as a build writes into it; a second build
//!   waits. On a file system that cannot lock a directory opened read-only (NFS emulates
//!   `flock` with byte-range locks, which want a writable descriptor), the lock is taken
//!   on `.imgbuild-lock` inside the directory instead.
//! * **What was written.** After writing a result, [`Store::write_result`] records its
//!   [`Written`] state (where it is, type, mode, owner, size, mtime, ctime, inode), which
//!   the result manifest keeps per entry.
//! * **Checking.** [`check`] compares a recorded result with the disk using one `lstat`
//!   (plus a `readlink` and an `lstat` of the private directory for private trees):
//!   - a file whose state is unchanged is intact; if only its times or inode changed
//!     (`touch`, a copy with the same bytes) its content is hashed and compared with the
//!     blob, so an edit that keeps the size and mtime is still caught by its ctime;
//!   - a tree is checked at its top directory only: type, mode, owner, size, mtime and
//!     ctime of that directory, which catch its deletion or replacement and entries
//!     added, removed or renamed directly below it. An edit deeper inside a tree is not
//!     detected (that would mean walking the whole tree on every no-op build); delete
//!     the result to have it written again;
//!   - a tar fallback is checked like a file, without the content hash (it is not a
//!     blob in the store), so any change rewrites it.
//! * **Private trees.** A tree holding a setuid or setgid file, a file with capabilities
//!   or a device node is written to `.imgbuild-private/NAME` and `NAME` is a symlink to
//!   it. `.imgbuild-private` belongs to the user who builds and has mode 0700, so no one
//!   else can reach such a file (a setuid-root shell in `result/` would give every local
//!   user root; a setuid file of an ordinary user would let others act as that user). The
//!   tree itself keeps its own metadata (its top directory stays, say, 0755, so it still
//!   works as a root file system for a container).
//!
//! **Invariant:** a dangerous tree is never reachable through a directory other users can
//! enter: it is written inside `.imgbuild-private` from its first byte, and only then
//! linked into place.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoResultExt, StoreError};
use crate::materialize::{
    parent_of, remove_any, replace_into_place, temporary_prefix, MaterializeOptions, Materialized,
};
use crate::output::{OutputObject, OutputRecord};
use crate::tree::{EntryKind, Tree};
use crate::Store;

/// The owner-only directory, inside a result directory, that holds dangerous trees.
pub const PRIVATE_DIRECTORY: &str = ".imgbuild-private";

/// The lock file used where a directory cannot be locked (see the module documentation).
const LOCK_FILE: &str = ".imgbuild-lock";

/// The file capabilities attribute: such a file is as powerful as a setuid one.
const CAPABILITY_XATTR: &[u8] = b"security.capability";

/// Where a result sits in its result directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// A regular file at `NAME`.
    File,
    /// A directory at `NAME`.
    Directory,
    /// A directory at `.imgbuild-private/NAME`, and the symlink `NAME` to it.
    PrivateDirectory,
    /// A tar archive at `NAME.tar`.
    Tar,
}

/// A result's state on disk right after it was written: enough to tell cheaply whether
/// anyone changed it since. Times are `[seconds, nanoseconds]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Written {
    /// Where it is.
    pub placement: Placement,
    /// The 12 permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (of the directory itself for trees).
    pub size: u64,
    /// Modification time.
    pub mtime: [i64; 2],
    /// Status change time: changes with any write, `chmod`, `chown` or rename, and
    /// cannot be set back by an ordinary program.
    pub ctime: [i64; 2],
    /// Inode number.
    pub inode: u64,
}

impl Written {
    fn of(placement: Placement, metadata: &fs::Metadata) -> Written {
        Written {
            placement,
            mode: metadata.mode() & 0o7777,
            uid: metadata.uid(),
            gid: metadata.gid(),
            size: metadata.size(),
            mtime: [metadata.mtime(), metadata.mtime_nsec()],
            ctime: [metadata.ctime(), metadata.ctime_nsec()],
            inode: metadata.ino(),
        }
    }
}

/// One entry of a result manifest: a result's name in the result directory, the output
/// it holds and, since manifest version 2, its state on disk when written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultEntry {
    /// The name in the result directory (`NAME`; see [`Placement`] for the path).
    pub name: String,
    /// The output.
    pub record: OutputRecord,
    /// Its state on disk when written (absent in version 1 manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<Written>,
    /// Where it comes from, for `imgbuild sign` and `imgbuild diff` (absent in manifests
    /// written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<ResultProvenance>,
}

/// Where a result comes from: recorded by the build that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultProvenance {
    /// The recipe identity of the derivation whose output it is (hex).
    pub recipe: String,
    /// The tree its content is made of (itself for a tree, a disk image's root file
    /// system), when that tree is in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Digest>,
    /// SHA-256 of the lock file the recipe was evaluated with, if it had one (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_sha256: Option<String>,
    /// The `source_date_epoch` its derivation (or the nearest input) was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<i64>,
}

/// What [`Store::write_result`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenResult {
    /// What was written, at the path a user opens (`NAME`, or `NAME.tar`).
    pub materialized: Materialized,
    /// Its state on disk, for the manifest.
    pub written: Written,
    /// Why the tree went below [`PRIVATE_DIRECTORY`], if it did (e.g. "`/usr/bin/su` is
    /// setuid").
    pub private_because: Option<String>,
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// As written.
    Intact,
    /// Same content, but its times or inode changed (e.g. `touch`): record this state.
    Touched(Written),
    /// Changed, replaced or deleted since it was written; the reason is a phrase such
    /// as "it was deleted".
    Damaged(&'static str),
}

/// Exclusive hold on a result directory; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct ResultDirectoryLock {
    _file: File,
}

/// Blocks until this process holds the lock on `directory` (created if missing). Calls
/// `on_wait` once, before waiting, if another process holds it.
pub fn lock(directory: &Path, on_wait: impl FnOnce()) -> Result<ResultDirectoryLock, StoreError> {
    let mut on_wait = Some(on_wait);
    loop {
        fs::create_dir_all(directory).at("create directory", directory)?;
        let file = File::open(directory).at("open", directory)?;
        let (file, path) = match lock_or_wait(&file, &mut on_wait) {
            Ok(()) => (file, directory.to_path_buf()),
            Err(error) if cannot_lock_read_only(&error) => {
                let path = directory.join(LOCK_FILE);
                let lock_file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .at("open lock file", &path)?;
                lock_or_wait(&lock_file, &mut on_wait).at("lock", &path)?;
                (lock_file, path)
            }
            Err(error) => return Err(error).at("lock", directory),
        };
        // Someone may have removed and recreated the directory while we waited: the lock
        // must be on what the path names now.
        let held = file.metadata().at("inspect", &path)?;
        match fs::metadata(&path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                return Ok(ResultDirectoryLock { _file: file })
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).at("inspect", &path),
        }
    }
}

fn lock_or_wait(file: &File, on_wait: &mut Option<impl FnOnce()>) -> io::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => {
            if let Some(on_wait) = on_wait.take() {
                on_wait();
            }
            file.lock()
        }
        Err(TryLockError::Error(error)) => Err(error),
    }
}

/// `flock` on a descriptor opened read-only fails this way on NFS and CIFS.
fn cannot_lock_read_only(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if code == rustix::io::Errno::BADF.raw_os_error()
            || code == rustix::io::Errno::NOLCK.raw_os_error()
            || code == rustix::io::Errno::OPNOTSUPP.raw_os_error()
    )
}

/// Why `tree` must not be reachable by other users, if it must not: the first setuid or
/// setgid regular file, file with capabilities, or device node.
pub(crate) fn private_because(tree: &Tree) -> Option<String> {
    tree.walk().find_map(|(path, entry)| match &entry.kind {
        EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. } => {
            Some(format!("`/{path}` is a device node"))
        }
        EntryKind::File { .. } if entry.meta.mode & 0o4000 != 0 => {
            Some(format!("`/{path}` is setuid"))
        }
        EntryKind::File { .. } if entry.meta.mode & 0o2000 != 0 => {
            Some(format!("`/{path}` is setgid"))
        }
        EntryKind::File { .. } if entry.meta.xattrs.contains_key(CAPABILITY_XATTR) => {
            Some(format!("`/{path}` has file capabilities"))
        }
        _ => None,
    })
}

/// `parent/.imgbuild-private`, created if missing: a directory owned by this user with
/// mode 0700 (a looser mode is tightened; another owner is an error).
fn private_directory(parent: &Path) -> Result<PathBuf, StoreError> {
    let path = parent.join(PRIVATE_DIRECTORY);
    match fs::DirBuilder::new().mode(0o700).create(&path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error).at("create directory", &path),
    }
    let metadata = fs::symlink_metadata(&path).at("inspect", &path)?;
    let euid = rustix::process::geteuid().as_raw();
    if !metadata.is_dir() || metadata.uid() != euid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("it must be a directory owned by uid {euid}; remove it and build again"),
        ))
        .at("use as the owner-only result directory", &path);
    }
    // Also when just created: the umask may have taken the owner's own bits.
    if metadata.mode() & 0o7777 != 0o700 {
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700))
            .at("set permissions of", &path)?;
    }
    Ok(path)
}

/// Whether `parent/.imgbuild-private` is still ours and owner-only.
fn private_directory_is_sound(parent: &Path) -> bool {
    fs::symlink_metadata(parent.join(PRIVATE_DIRECTORY)).is_ok_and(|metadata| {
        metadata.is_dir()
            && metadata.uid() == rustix::process::geteuid().as_raw()
            && metadata.mode() & 0o7777 == 0o700
    })
}

fn name_of(destination: &Path) -> Result<&OsStr, StoreError> {
    destination
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))
        .at("materialize into", destination)
}

/// The parent directory of `destination` as materialization sees it.
fn parent_path(destination: &Path) -> PathBuf {
    match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Where the object itself is for a result `destination` placed as `placement`.
fn object_path(destination: &Path, placement: Placement) -> PathBuf {
    match placement {
        Placement::File | Placement::Directory => destination.to_path_buf(),
        Placement::Tar => {
            let mut name = destination.as_os_str().to_owned();
            name.push(".tar");
            PathBuf::from(name)
        }
        Placement::PrivateDirectory => {
            let name = destination.file_name().unwrap_or_default();
            parent_path(destination).join(PRIVATE_DIRECTORY).join(name)
        }
    }
}

/// The symlink target `NAME` has when its tree is private.
fn private_link_target(name: &OsStr) -> PathBuf {
    Path::new(PRIVATE_DIRECTORY).join(name)
}

impl Store {
    /// Writes the private tree `tree` for `dest`: into `.imgbuild-private/NAME`, then the
    /// symlink `NAME` to it.
    pub(crate) fn materialize_private(
        &self,
        tree: &Tree,
        privileged: bool,
        dest: &Path,
    ) -> Result<(), StoreError> {
        let name = name_of(dest)?;
        let parent = parent_of(dest)?;
        let private = private_directory(&parent)?;
        self.materialize_directory(tree, privileged, &private.join(name))?;
        let target = private_link_target(name);
        if fs::read_link(dest).is_ok_and(|current| current == target) {
            return Ok(());
        }
        let temporary = parent.join(format!(
            "{}link-{}",
            temporary_prefix(dest),
            std::process::id()
        ));
        let _ = fs::remove_file(&temporary);
        std::os::unix::fs::symlink(&target, &temporary).at("create symlink", &temporary)?;
        replace_into_place(&temporary, dest).inspect_err(|_| {
            let _ = fs::remove_file(&temporary);
        })
    }

    /// Materializes `record` at `destination` (as [`Store::materialize`] does) and
    /// returns what to record in the result manifest.
    pub fn write_result(
        &self,
        record: &OutputRecord,
        destination: &Path,
        options: &MaterializeOptions,
    ) -> Result<WrittenResult, StoreError> {
        let (materialized, private_because) =
            self.materialize_explained(record, destination, options)?;
        let placement = match (&materialized, &private_because) {
            (Materialized::File(_), _) => Placement::File,
            (Materialized::Tar(_), _) => Placement::Tar,
            (Materialized::Directory(_), None) => Placement::Directory,
            (Materialized::Directory(_), Some(_)) => Placement::PrivateDirectory,
        };
        let path = object_path(destination, placement);
        let metadata = fs::symlink_metadata(&path).at("inspect", &path)?;
        Ok(WrittenResult {
            materialized,
            written: Written::of(placement, &metadata),
            private_because,
        })
    }
}

/// Removes `.imgbuild-private/NAME` for a result `destination` that is no longer private.
pub(crate) fn remove_private_copy(destination: &Path) -> Result<(), StoreError> {
    let path = object_path(destination, Placement::PrivateDirectory);
    remove_any(&path).at("remove the previous", &path)
}

/// Removes whatever `directory/.imgbuild-private` holds that `keep` does not name (a
/// private tree whose symlink the user deleted, leftovers of a killed build). Call it
/// while holding the directory's [`lock`].
pub fn remove_unreferenced_private(
    directory: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<(), StoreError> {
    let private = directory.join(PRIVATE_DIRECTORY);
    let entries = match fs::read_dir(&private) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).at("list", &private),
    };
    for entry in entries {
        let entry = entry.at("list", &private)?;
        if !entry.file_name().to_str().is_some_and(&keep) {
            let path = entry.path();
            remove_any(&path).at("remove", &path)?;
        }
    }
    Ok(())
}

/// Whether the result recorded as `written`, holding `record`, is still as written at
/// `destination` (see the module documentation for what is compared).
pub fn check(record: &OutputRecord, written: &Written, destination: &Path) -> Condition {
    let placement = written.placement;
    if placement == Placement::PrivateDirectory {
        let Some(name) = destination.file_name() else {
            return Condition::Damaged("it has no name");
        };
        match fs::read_link(destination) {
            Ok(target) if target == private_link_target(name) => {}
            Ok(_) => return Condition::Damaged("its link was changed"),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Condition::Damaged("it was deleted")
            }
            Err(_) => return Condition::Damaged("it was replaced"),
        }
        if !private_directory_is_sound(&parent_path(destination)) {
            return Condition::Damaged("its owner-only directory became reachable by others");
        }
    }
    let path = object_path(destination, placement);
    let metadata = match fs::symlink_metadata(&path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Condition::Damaged("it was deleted")
        }
        Err(_) => return Condition::Damaged("it cannot be inspected"),
    };
    let right_type = match placement {
        Placement::File | Placement::Tar => metadata.file_type().is_file(),
        Placement::Directory | Placement::PrivateDirectory => metadata.file_type().is_dir(),
    };
    if !right_type {
        return Condition::Damaged("it was replaced");
    }
    let now = Written::of(placement, &metadata);
    if now == *written {
        return Condition::Intact;
    }
    if (now.mode, now.uid, now.gid) != (written.mode, written.uid, written.gid) {
        return Condition::Damaged("its mode or owner changed");
    }
    match (placement, &record.object) {
        (Placement::File, OutputObject::File { blob, size, .. }) => {
            if now.size != *size {
                return Condition::Damaged("its content changed");
            }
            match crate::chunking::hash_file(&path) {
                Ok(found) if found.digest == *blob => Condition::Touched(now),
                _ => Condition::Damaged("its content changed"),
            }
        }
        (Placement::Tar, _) => Condition::Damaged("it was changed"),
        _ => Condition::Damaged("entries in it were added, removed or changed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Entry, Metadata, TreePath};

    fn tree_with(mode: u32, capability: bool) -> Tree {
        let mut tree = Tree::new(Metadata::default_directory());
        let mut meta = Metadata::with_mode(mode);
        if capability {
            meta.xattrs
                .insert(CAPABILITY_XATTR.to_vec(), b"\x01\x00\x00\x02".to_vec());
        }
        let blob = crate::digest::Digest::of(b"x");
        tree.insert(
            &TreePath::parse("usr/bin/tool").expect("path"),
            Entry::file(blob, 1, meta),
        )
        .expect("insert");
        tree
    }

    #[test]
    fn dangerous_trees_are_named_with_the_entry() {
        for (mode, capability, expected) in [
            (0o755, false, None),
            (0o1755, false, None),
            (0o4755, false, Some("`/usr/bin/tool` is setuid")),
            (0o2755, false, Some("`/usr/bin/tool` is setgid")),
            (0o755, true, Some("`/usr/bin/tool` has file capabilities")),
        ] {
            assert_eq!(
                private_because(&tree_with(mode, capability)).as_deref(),
                expected,
                "{mode:o}"
            );
        }
        let mut setgid_directory = Tree::new(Metadata::default_directory());
        setgid_directory
            .insert(
                &TreePath::parse("var/mail").expect("path"),
                Entry::directory(Metadata::with_mode(0o2775)),
            )
            .expect("insert");
        assert_eq!(private_because(&setgid_directory), None);
    }
}
