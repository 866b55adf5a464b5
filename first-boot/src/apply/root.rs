//! The target file system: every path the appliers read or write is an absolute path as
//! the instance sees it (`/etc/hosts`), resolved under the root directory given to
//! [`super::apply`] (`/` on a real boot, a temporary directory in tests).
//!
//! Safety rules, each with a test:
//! - A path from the medium must be absolute and free of `..` components
//!   ([`TargetPath::new`]); anything else is refused, not normalized.
//! - Components are resolved here, one `openat` at a time from a descriptor of the root,
//!   never by the kernel's path walk: a symbolic link is followed the way a process
//!   chrooted into the root would follow it ([`Follow::InRoot`]: an absolute target
//!   starts again at the root, `..` stops at the root), so no link leads out of the root;
//!   or not at all ([`Follow::Never`], for paths inside a user's home, where the user
//!   could have planted a link): a link is then an error.
//! - Writes are atomic: a temporary file in the same directory (created `O_EXCL`,
//!   mode 0600 until its owner and mode are set), `fsync`, then `renameat` over the name.
//!   Missing parent directories are created root-owned, mode 0755.
//!
//! The agent runs early at boot, before any user can log in: nothing races the
//! resolution, so checking a component and then opening it is good enough here.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::error::ApplyError;
pub use super::path::{Follow, Ownership, TargetPath};

/// How many symbolic links one resolution may follow (the kernel's limit).
const MAX_LINKS: usize = 40;

/// The target root, opened once.
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    descriptor: OwnedFd,
}

/// Where a path ends up: the directory holding it and the name in it.
struct Resolved {
    directory: OwnedFd,
    name: String,
}

fn errno(error: Errno) -> std::io::Error {
    std::io::Error::from(error)
}

impl Root {
    /// Opens the root directory `path`.
    pub fn open(path: &Path) -> Result<Root, ApplyError> {
        let descriptor = rustix::fs::open(
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|error| {
            ApplyError::io(
                "open the root directory",
                &path.display().to_string(),
                errno(error),
            )
        })?;
        Ok(Root {
            path: path.to_path_buf(),
            descriptor,
        })
    }

    /// The root directory as the agent sees it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the root is the running system's own `/`.
    pub fn is_slash(&self) -> bool {
        self.path == Path::new("/")
    }

    /// Resolves `path` to its directory and final name. Missing directories are created
    /// (root, 0755) when `create` is set; a final symbolic link is followed like the
    /// others (under [`Follow::InRoot`]).
    fn resolve(
        &self,
        path: &TargetPath,
        follow: Follow,
        create: bool,
    ) -> Result<Resolved, ApplyError> {
        let shown = path.to_string();
        let io = |operation, error: Errno| ApplyError::io(operation, &shown, errno(error));
        let mut stack: Vec<OwnedFd> =
            vec![self.reopen_root().map_err(|error| io("open", error))?];
        let mut pending: VecDeque<String> = path.components().iter().cloned().collect();
        let mut links = 0;
        while let Some(component) = pending.pop_front() {
            if component.is_empty() || component == "." {
                continue;
            }
            if component == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let last = pending.is_empty();
            let top = stack.last().ok_or_else(|| io("resolve", Errno::INVAL))?;
            let kind = match rustix::fs::statat(top, component.as_str(), AtFlags::SYMLINK_NOFOLLOW)
            {
                Ok(stat) => Some(FileType::from_raw_mode(stat.st_mode)),
                Err(Errno::NOENT) => None,
                Err(error) => return Err(io("inspect", error)),
            };
            match kind {
                Some(FileType::Symlink) => {
                    if follow == Follow::Never {
                        return Err(ApplyError::Path {
                            path: shown,
                            reason: "a symbolic link is on the way",
                        });
                    }
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(ApplyError::Path {
                            path: shown,
                            reason: "too many symbolic links",
                        });
                    }
                    let target = rustix::fs::readlinkat(top, component.as_str(), Vec::new())
                        .map_err(|error| io("read the link", error))?;
                    let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
                    if target.starts_with('/') {
                        stack.truncate(1);
                    }
                    for part in target.split('/').rev() {
                        pending.push_front(part.to_owned());
                    }
                }
                _ if last => {
                    let directory = stack.pop().ok_or_else(|| io("resolve", Errno::INVAL))?;
                    return Ok(Resolved {
                        directory,
                        name: component,
                    });
                }
                None if create => {
                    match rustix::fs::mkdirat(top, component.as_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(error) => return Err(io("create a directory for", error)),
                    }
                    pending.push_front(component);
                }
                None => return Err(io("find", Errno::NOENT)),
                Some(FileType::Directory) => {
                    let next = rustix::fs::openat(
                        top,
                        component.as_str(),
                        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|error| io("open a directory of", error))?;
                    stack.push(next);
                }
                Some(_) => return Err(io("resolve", Errno::NOTDIR)),
            }
        }
        // Only reached when every component was `.`, `..` or a link back to the root.
        Err(ApplyError::Path {
            path: shown,
            reason: "resolves to the root directory",
        })
    }

    fn reopen_root(&self) -> Result<OwnedFd, Errno> {
        rustix::fs::openat(
            &self.descriptor,
            ".",
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// What is at `path` (links followed in the root): `None` when nothing is.
    pub fn kind(&self, path: &TargetPath) -> Option<FileType> {
        let resolved = self.resolve(path, Follow::InRoot, false).ok()?;
        rustix::fs::statat(
            &resolved.directory,
            resolved.name.as_str(),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ok()
        .map(|stat| FileType::from_raw_mode(stat.st_mode))
    }

    /// True when something exists at `path` (links followed in the root).
    pub fn exists(&self, path: &TargetPath) -> bool {
        self.kind(path).is_some()
    }

    /// The target of the symbolic link at `path` itself (not followed), if it is one.
    pub fn link_target(&self, path: &TargetPath) -> Option<String> {
        let parent = path.parent_components();
        let directory = if parent.is_empty() {
            self.reopen_root().ok()?
        } else {
            let parent = TargetPath::new(&format!("/{}", parent.join("/"))).ok()?;
            let resolved = self.resolve(&parent, Follow::InRoot, false).ok()?;
            rustix::fs::openat(
                &resolved.directory,
                resolved.name.as_str(),
                OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()?
        };
        let target = rustix::fs::readlinkat(&directory, path.file_name(), Vec::new()).ok()?;
        Some(String::from_utf8_lossy(target.as_bytes()).into_owned())
    }

    /// The contents of the file at `path`, `None` when it does not exist.
    pub fn read(&self, path: &TargetPath, follow: Follow) -> Result<Option<Vec<u8>>, ApplyError> {
        let shown = path.to_string();
        let resolved = match self.resolve(path, follow, false) {
            Ok(resolved) => resolved,
            Err(ApplyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(error) => return Err(error),
        };
        let descriptor = match rustix::fs::openat(
            &resolved.directory,
            resolved.name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(descriptor) => descriptor,
            Err(Errno::NOENT) => return Ok(None),
            Err(error) => return Err(ApplyError::io("read", &shown, errno(error))),
        };
        let mut contents = Vec::new();
        std::fs::File::from(descriptor)
            .read_to_end(&mut contents)
            .map_err(|error| ApplyError::io("read", &shown, error))?;
        Ok(Some(contents))
    }

    /// The contents of `path` as text (lossy), empty when it does not exist.
    pub fn read_text(&self, path: &TargetPath) -> Result<String, ApplyError> {
        Ok(self
            .read(path, Follow::InRoot)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default())
    }

    /// The names in the directory `path`, sorted; empty when it does not exist.
    pub fn list(&self, path: &TargetPath) -> Result<Vec<String>, ApplyError> {
        let Some(directory) = self.open_directory(path, Follow::InRoot, false)? else {
            return Ok(Vec::new());
        };
        let shown = path.to_string();
        let mut names = Vec::new();
        let mut entries = rustix::fs::Dir::read_from(&directory)
            .map_err(|error| ApplyError::io("list", &shown, errno(error)))?;
        for entry in entries.by_ref() {
            let entry = entry.map_err(|error| ApplyError::io("list", &shown, errno(error)))?;
            let name = String::from_utf8_lossy(entry.file_name().to_bytes()).into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Opens the directory `path`, creating it (and its parents, 0755) when `create` is
    /// set; `None` when it does not exist and `create` is not set.
    fn open_directory(
        &self,
        path: &TargetPath,
        follow: Follow,
        create: bool,
    ) -> Result<Option<OwnedFd>, ApplyError> {
        let shown = path.to_string();
        let resolved = match self.resolve(path, follow, create) {
            Ok(resolved) => resolved,
            Err(ApplyError::Io { source, .. })
                if !create && source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None)
            }
            Err(error) => return Err(error),
        };
        let open = || {
            rustix::fs::openat(
                &resolved.directory,
                resolved.name.as_str(),
                OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        match open() {
            Ok(directory) => Ok(Some(directory)),
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(
                    &resolved.directory,
                    resolved.name.as_str(),
                    Mode::from_raw_mode(0o755),
                ) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(error) => {
                        return Err(ApplyError::io("create the directory", &shown, errno(error)))
                    }
                }
                open()
                    .map(Some)
                    .map_err(|error| ApplyError::io("open the directory", &shown, errno(error)))
            }
            Err(Errno::NOENT) => Ok(None),
            Err(error) => Err(ApplyError::io("open the directory", &shown, errno(error))),
        }
    }

    /// Creates the directory `path` if missing (parents 0755, root) and gives it
    /// `ownership` (also when it existed).
    pub fn create_directory(
        &self,
        path: &TargetPath,
        ownership: Ownership,
        follow: Follow,
    ) -> Result<(), ApplyError> {
        let shown = path.to_string();
        let directory = self
            .open_directory(path, follow, true)?
            .ok_or_else(|| ApplyError::io("create the directory", &shown, errno(Errno::NOENT)))?;
        set_ownership(&directory, ownership)
            .map_err(|error| ApplyError::io("set the owner and mode of", &shown, error))
    }

    /// Sets the owner and mode of an existing directory (or file) at `path`.
    pub fn set_ownership(
        &self,
        path: &TargetPath,
        ownership: Ownership,
        follow: Follow,
    ) -> Result<(), ApplyError> {
        let shown = path.to_string();
        let resolved = self.resolve(path, follow, false)?;
        let descriptor = rustix::fs::openat(
            &resolved.directory,
            resolved.name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|error| ApplyError::io("open", &shown, errno(error)))?;
        set_ownership(&descriptor, ownership)
            .map_err(|error| ApplyError::io("set the owner and mode of", &shown, error))
    }

    /// Replaces (or creates) the file at `path` with `contents`, atomically.
    pub fn write(
        &self,
        path: &TargetPath,
        contents: &[u8],
        ownership: Ownership,
        follow: Follow,
    ) -> Result<(), ApplyError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let shown = path.to_string();
        let resolved = self.resolve(path, follow, true)?;
        let temporary = format!(
            ".{}.imgbuild-{}-{}",
            resolved.name,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let result = (|| -> std::io::Result<()> {
            let descriptor = rustix::fs::openat(
                &resolved.directory,
                temporary.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let mut file = std::fs::File::from(descriptor);
            file.write_all(contents)?;
            set_ownership(&file, ownership)?;
            file.sync_all()?;
            rustix::fs::renameat(
                &resolved.directory,
                temporary.as_str(),
                &resolved.directory,
                resolved.name.as_str(),
            )?;
            Ok(())
        })();
        if let Err(error) = result {
            let _ = rustix::fs::unlinkat(&resolved.directory, temporary.as_str(), AtFlags::empty());
            return Err(ApplyError::io("write", &shown, error));
        }
        Ok(())
    }

    /// Appends `contents` to the file at `path`, creating it with `ownership` when
    /// missing; an existing file keeps its owner and mode unless `enforce` is set.
    pub fn append(
        &self,
        path: &TargetPath,
        contents: &[u8],
        ownership: Ownership,
        enforce: bool,
    ) -> Result<(), ApplyError> {
        let shown = path.to_string();
        let resolved = self.resolve(path, Follow::InRoot, true)?;
        let (descriptor, created) = match rustix::fs::openat(
            &resolved.directory,
            resolved.name.as_str(),
            OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(descriptor) => (descriptor, false),
            Err(Errno::NOENT) => (
                rustix::fs::openat(
                    &resolved.directory,
                    resolved.name.as_str(),
                    OFlags::WRONLY
                        | OFlags::APPEND
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|error| ApplyError::io("create", &shown, errno(error)))?,
                true,
            ),
            Err(error) => return Err(ApplyError::io("open for appending", &shown, errno(error))),
        };
        let mut file = std::fs::File::from(descriptor);
        if created || enforce {
            set_ownership(&file, ownership)
                .map_err(|error| ApplyError::io("set the owner and mode of", &shown, error))?;
        }
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|error| ApplyError::io("append to", &shown, error))
    }

    /// Removes the file (or link) at `path`; false when there was none.
    pub fn remove(&self, path: &TargetPath) -> Result<bool, ApplyError> {
        let shown = path.to_string();
        let resolved = match self.resolve(path, Follow::Never, false) {
            Ok(resolved) => resolved,
            Err(ApplyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(false)
            }
            Err(error) => return Err(error),
        };
        match rustix::fs::unlinkat(
            &resolved.directory,
            resolved.name.as_str(),
            AtFlags::empty(),
        ) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(error) => Err(ApplyError::io("remove", &shown, errno(error))),
        }
    }
}

/// Gives an open file its owner and then its mode (in that order: `chown` clears the
/// setuid and setgid bits).
///
/// An agent that does not run as root (only tests do that) cannot give files away: the
/// owner is then left to the running user and only the mode is set.
fn set_ownership(descriptor: impl std::os::fd::AsFd, ownership: Ownership) -> std::io::Result<()> {
    let stat = rustix::fs::fstat(&descriptor)?;
    if stat.st_uid != ownership.uid || stat.st_gid != ownership.gid {
        match rustix::fs::fchown(
            &descriptor,
            Some(rustix::fs::Uid::from_raw(ownership.uid)),
            Some(rustix::fs::Gid::from_raw(ownership.gid)),
        ) {
            Ok(()) => {}
            Err(Errno::PERM) if !rustix::process::geteuid().is_root() => {}
            Err(error) => return Err(error.into()),
        }
    }
    rustix::fs::fchmod(&descriptor, Mode::from_raw_mode(ownership.mode & 0o7777))?;
    Ok(())
}
