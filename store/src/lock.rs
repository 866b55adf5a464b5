//! Cross-process locks: build locks striped by key, and the store-wide GC lock.
//!
//! Locks are `flock`-style locks ([`std::fs::File::lock`]) on files under
//! `locks/`; the kernel releases them when the holder exits, however it exits.
//!
//! * [`Store::lock_build`] takes an exclusive lock on `locks/build/xx.lock`, where
//!   `xx` is the key's first byte in hex: 256 stripes rather than one file per key,
//!   because creating a file per derivation cost more than building a small one. Two
//!   processes sharing a store therefore build each derivation once; two keys in one
//!   stripe merely build one after the other, and since a builder holds one build lock
//!   at a time, striping cannot deadlock. [`Store::try_lock_build`] does not wait.
//! * [`Store::build_session`] takes `locks/gc.lock` shared; GC and verify take
//!   it exclusive. A build therefore never sees GC delete what it is about to
//!   reference. Do not run GC from a thread of a process that holds a session.
//!   [`Store::is_busy`] tells whether a build holds it (for messages only).
//!
//! GC deletes build lock files it can lock itself. A builder that opened such a
//! file just before it was deleted would then hold a lock on a dead file, so
//! [`Store::lock_build`] checks after locking that the path still names the file
//! it locked, and retries otherwise.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{IoResultExt, StoreError};
use crate::Store;

/// An exclusive build lock; released when dropped.
#[derive(Debug)]
pub struct BuildLock {
    _file: File,
    path: PathBuf,
}

impl BuildLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A shared (build) or exclusive (GC, verify) hold on the store-wide lock; released when dropped.
#[derive(Debug)]
pub struct SessionGuard {
    _file: File,
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at("open lock file", path)
}

/// Whether `file` is still the file at `path`.
fn still_linked(file: &File, path: &Path) -> Result<bool, StoreError> {
    let held = file.metadata().at("inspect lock file", path)?;
    match fs::metadata(path) {
        Ok(current) => Ok(current.ino() == held.ino() && current.dev() == held.dev()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error).at("inspect lock file", path),
    }
}

impl Store {
    /// Blocks until this process holds the build lock for `key`.
    pub fn lock_build(&self, key: &Digest) -> Result<BuildLock, StoreError> {
        let path = self.layout.build_lock(key);
        loop {
            let file = open_lock_file(&path)?;
            file.lock().at("lock", &path)?;
            if still_linked(&file, &path)? {
                return Ok(BuildLock { _file: file, path });
            }
        }
    }

    /// The build lock for `key` if nobody else holds it, without blocking.
    pub fn try_lock_build(&self, key: &Digest) -> Result<Option<BuildLock>, StoreError> {
        let path = self.layout.build_lock(key);
        loop {
            let file = open_lock_file(&path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(error)) => return Err(error).at("lock", &path),
            }
            if still_linked(&file, &path)? {
                return Ok(Some(BuildLock { _file: file, path }));
            }
        }
    }

    /// Takes the store-wide lock shared for the duration of a build (blocks while GC runs).
    pub fn build_session(&self) -> Result<SessionGuard, StoreError> {
        let path = self.layout.gc_lock();
        let file = open_lock_file(&path)?;
        file.lock_shared().at("lock", &path)?;
        Ok(SessionGuard { _file: file })
    }

    /// Takes the store-wide lock exclusively (blocks while builds run).
    /// True when a build session (another process's build) holds the store, so that
    /// `gc` or `verify` would have to wait for it. Only a hint for messages.
    pub fn is_busy(&self) -> Result<bool, StoreError> {
        let path = self.layout.gc_lock();
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(error)) => Err(error).at("lock", &path),
        }
    }

    pub(crate) fn exclusive_session(&self) -> Result<SessionGuard, StoreError> {
        let path = self.layout.gc_lock();
        let file = open_lock_file(&path)?;
        file.lock().at("lock", &path)?;
        Ok(SessionGuard { _file: file })
    }
}

/// Removes a build lock file if nobody holds it. Returns whether it was removed.
pub(crate) fn remove_if_unused(path: &Path) -> Result<bool, StoreError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error).at("open lock file", path),
    };
    match file.try_lock() {
        Ok(()) => {
            // Unlink while holding the lock: anyone who opened it meanwhile will
            // notice in `lock_build` that the path no longer names their file.
            crate::layout::remove_file_if_exists(path)?;
            Ok(true)
        }
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(error)) => Err(error).at("lock", path),
    }
}
