//! Checkouts: a tree written into a directory for a program to work on, and a
//! directory read back into a tree.
//!
//! [`Store::checkout`] writes a tree into an empty directory — fresh files, never hard
//! links to store objects, so nothing a program does to them can reach the store — with
//! ownership applied when the caller can (root, or root of a user namespace whose
//! mapping covers the tree's ids). It records each regular file it wrote (inode, size,
//! change time) in a [`Checkout`]. [`Store::import_directory`] reads a directory back:
//! types, permission bits (setuid, setgid, sticky), owners, xattrs (including
//! `security.capability`), hard links, device nodes, fifos; with a [`Checkout`] as its
//! baseline, a regular file whose inode, size and change time are still what the
//! checkout recorded keeps its blob without being read again.
//!
//! That shortcut is sound because a file's change time (ctime) is set by the kernel on
//! every change to its content or metadata and cannot be set by a program. One caveat
//! is the timestamp granularity: a write within the same clock tick as the checkout
//! would leave the ctime as it was. [`Checkout::fence`] closes that gap ("racy git"):
//! it waits until a newly created file gets a ctime later than every recorded one, so
//! any change made after the fence moves the ctime forward.
//!
//! Where a device node cannot be created (a user namespace may not `mknod`), the
//! checkout skips it and records it; the import puts it back when nothing else took
//! its path. Sockets found on import are not part of a tree and are left out (counted
//! in [`Imported::sockets`]).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, CWD};

use crate::digest::Digest;
use crate::error::{IoResultExt, StoreError};
use crate::materialize::finish_entry;
use crate::tree::{Entry, EntryKind, Metadata, Name, Tree, TreePath};
use crate::tree_store::check_hardlink;
use crate::Store;

/// What creating device nodes should do when the kernel refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceNodes {
    /// Fail (a result directory must hold what the tree holds).
    Create,
    /// Skip and record them (a user namespace cannot `mknod`).
    SkipRefused,
}

/// A regular file as a checkout wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    inode: u64,
    size: u64,
    ctime: (i64, i64),
    blob: Digest,
}

/// What [`Store::checkout`] wrote: the baseline for [`Store::import_directory`].
#[derive(Debug, Default)]
pub struct Checkout {
    files: HashMap<Vec<u8>, Written>,
    latest_ctime: (i64, i64),
    skipped_devices: Vec<(TreePath, Entry)>,
}

impl Checkout {
    /// Device nodes the kernel refused to create.
    pub fn skipped_devices(&self) -> &[(TreePath, Entry)] {
        &self.skipped_devices
    }

    /// Waits until a file created in `scratch` gets a ctime later than any file of the
    /// checkout (see the module documentation); the marker file is removed again.
    pub fn fence(&self, scratch: &Path) -> Result<(), StoreError> {
        let marker = scratch.join(".imgbuild-fence");
        for _ in 0..1000 {
            fs::write(&marker, b"").at("create", &marker)?;
            let metadata = fs::symlink_metadata(&marker).at("inspect", &marker)?;
            fs::remove_file(&marker).at("remove", &marker)?;
            if (metadata.ctime(), metadata.ctime_nsec()) > self.latest_ctime {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(StoreError::Io {
            operation: "wait for the clock to pass the checkout's change times in",
            path: scratch.to_path_buf(),
            source: std::io::Error::other("file change times do not advance"),
        })
    }
}

/// What [`Store::import_directory`] read.
#[derive(Debug)]
pub struct Imported {
    /// The tree.
    pub tree: Tree,
    /// Regular files whose content was read (the others kept the checkout's blob).
    pub files_read: usize,
    /// Regular files in the tree.
    pub files: usize,
    /// Sockets left out.
    pub sockets: usize,
}

/// How to read a directory back.
#[derive(Debug, Default)]
pub struct ImportOptions<'a> {
    /// The checkout the directory started as.
    pub baseline: Option<&'a Checkout>,
    /// Modification times later than this are set to it.
    pub clamp_mtime: Option<i64>,
    /// Store blobs owner-only.
    pub secret: bool,
}

fn host_path(root: &Path, path: &TreePath) -> PathBuf {
    root.join(OsStr::from_bytes(&path.to_bytes()))
}

impl Store {
    /// Writes `tree` into the existing, empty directory `root` (see the module docs).
    pub fn checkout(
        &self,
        tree: &Tree,
        root: &Path,
        devices: DeviceNodes,
    ) -> Result<Checkout, StoreError> {
        self.write_tree_into(tree, root, true, devices)
    }

    /// Writes `tree` into the existing directory `root`: entries first (directories
    /// writable by us until the end), regular files in parallel, hard links, then
    /// directory metadata deepest first and the root's last.
    pub(crate) fn write_tree_into(
        &self,
        tree: &Tree,
        root: &Path,
        privileged: bool,
        devices: DeviceNodes,
    ) -> Result<Checkout, StoreError> {
        let entries: Vec<(TreePath, &Entry)> = tree.walk().collect();
        let mut skipped_devices = Vec::new();
        for (path, entry) in &entries {
            let host = host_path(root, path);
            match &entry.kind {
                EntryKind::Directory(_) => {
                    fs::create_dir(&host).at("create directory", &host)?;
                    fs::set_permissions(&host, fs::Permissions::from_mode(0o700))
                        .at("set permissions of", &host)?;
                }
                EntryKind::File { .. } => {}
                EntryKind::Symlink { target } => {
                    std::os::unix::fs::symlink(OsStr::from_bytes(target), &host)
                        .at("create symlink", &host)?;
                    finish_entry(&host, &entry.meta, privileged, false)?;
                }
                EntryKind::Hardlink { target } => check_hardlink(tree, path, target)?,
                EntryKind::CharDevice { major, minor }
                | EntryKind::BlockDevice { major, minor } => {
                    let file_type = if matches!(entry.kind, EntryKind::CharDevice { .. }) {
                        FileType::CharacterDevice
                    } else {
                        FileType::BlockDevice
                    };
                    let made = rustix::fs::mknodat(
                        CWD,
                        &host,
                        file_type,
                        Mode::from_raw_mode(0o600),
                        rustix::fs::makedev(*major, *minor),
                    );
                    match made {
                        Err(rustix::io::Errno::PERM) if devices == DeviceNodes::SkipRefused => {
                            skipped_devices.push((path.clone(), (*entry).clone()));
                        }
                        made => {
                            made.at("create device node", &host)?;
                            finish_entry(&host, &entry.meta, privileged, true)?;
                        }
                    }
                }
                EntryKind::Fifo => {
                    rustix::fs::mknodat(CWD, &host, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                        .at("create fifo", &host)?;
                    finish_entry(&host, &entry.meta, privileged, true)?;
                }
            }
        }
        // File contents: decompressing and writing dominate (a root filesystem holds
        // thousands of files), and files are independent of each other.
        let written: Vec<(Vec<u8>, Written)> = {
            use rayon::prelude::*;
            entries
                .par_iter()
                .filter_map(|(path, entry)| match &entry.kind {
                    EntryKind::File { blob, size } => Some((path, entry, blob, *size)),
                    _ => None,
                })
                .map(|(path, entry, blob, size)| -> Result<_, StoreError> {
                    let host = host_path(root, path);
                    let mut file = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&host)
                        .at("create", &host)?;
                    let count = self.copy_blob_to_file(blob, &mut file)?;
                    if count != size {
                        return Err(StoreError::SizeMismatch {
                            blob: *blob,
                            context: path.to_string(),
                            expected: size,
                            actual: count,
                        });
                    }
                    drop(file);
                    finish_entry(&host, &entry.meta, privileged, true)?;
                    let metadata = fs::symlink_metadata(&host).at("inspect", &host)?;
                    Ok((
                        path.to_bytes(),
                        Written {
                            inode: metadata.ino(),
                            size,
                            ctime: (metadata.ctime(), metadata.ctime_nsec()),
                            blob: *blob,
                        },
                    ))
                })
                .collect::<Result<_, _>>()?
        };
        for (path, entry) in &entries {
            if let EntryKind::Hardlink { target } = &entry.kind {
                let host = host_path(root, path);
                fs::hard_link(host_path(root, target), &host).at("create hardlink", &host)?;
            }
        }
        for (path, entry) in entries.iter().rev() {
            if let EntryKind::Directory(_) = entry.kind {
                finish_entry(&host_path(root, path), &entry.meta, privileged, true)?;
            }
        }
        finish_entry(root, tree.root_meta(), privileged, true)?;
        // Hard links and metadata changes after a file was written move its ctime:
        // the baseline takes the final one.
        let mut files = HashMap::with_capacity(written.len());
        let mut latest_ctime = (0, 0);
        for (path, mut file) in written {
            let host = root.join(OsStr::from_bytes(&path));
            let metadata = fs::symlink_metadata(&host).at("inspect", &host)?;
            file.ctime = (metadata.ctime(), metadata.ctime_nsec());
            latest_ctime = latest_ctime.max(file.ctime);
            files.insert(path, file);
        }
        Ok(Checkout {
            files,
            latest_ctime,
            skipped_devices,
        })
    }

    /// Reads the directory `root` back into a tree and stores its new file contents
    /// (see the module documentation). The tree itself is not stored: call
    /// [`Store::put_tree`].
    pub fn import_directory(
        &self,
        root: &Path,
        options: &ImportOptions<'_>,
    ) -> Result<Imported, StoreError> {
        let root_metadata = fs::symlink_metadata(root).at("inspect", root)?;
        let mut found = Vec::new();
        walk(root, &TreePath::root(), &mut found)?;
        let clamp = |mtime: i64| match options.clamp_mtime {
            Some(limit) if mtime > limit => limit,
            _ => mtime,
        };
        // The first path of each hard-link group, in walk order, holds the content;
        // the others become links to it.
        let mut primary: HashMap<(u64, u64), usize> = HashMap::new();
        for (index, (_, metadata)) in found.iter().enumerate() {
            if metadata.file_type().is_file() && metadata.nlink() > 1 {
                primary
                    .entry((metadata.dev(), metadata.ino()))
                    .or_insert(index);
            }
        }
        // Regular files to read: the ones the baseline does not vouch for.
        let to_read: Vec<usize> = found
            .iter()
            .enumerate()
            .filter(|(index, (path, metadata))| {
                metadata.file_type().is_file()
                    && (metadata.nlink() <= 1
                        || primary.get(&(metadata.dev(), metadata.ino())) == Some(index))
                    && !options.baseline.is_some_and(|baseline| {
                        baseline.files.get(&path.to_bytes()).is_some_and(|written| {
                            written.inode == metadata.ino()
                                && written.size == metadata.size()
                                && written.ctime == (metadata.ctime(), metadata.ctime_nsec())
                        })
                    })
            })
            .map(|(index, _)| index)
            .collect();
        let read: HashMap<usize, Digest> = {
            use rayon::prelude::*;
            to_read
                .par_iter()
                .map(|index| -> Result<(usize, Digest), StoreError> {
                    let host = host_path(root, &found[*index].0);
                    let info = self.import_file(&host, options.secret)?;
                    Ok((*index, info.digest))
                })
                .collect::<Result<_, _>>()?
        };
        let mut tree = Tree::new(metadata_of(root, &root_metadata, clamp)?);
        let mut first_link: HashMap<(u64, u64), TreePath> = HashMap::new();
        let mut files = 0;
        let mut sockets = 0;
        for (index, (path, metadata)) in found.iter().enumerate() {
            let host = host_path(root, path);
            let meta = metadata_of(&host, metadata, clamp)?;
            let file_type = metadata.file_type();
            use std::os::unix::fs::FileTypeExt;
            let entry = if file_type.is_dir() {
                Entry::directory(meta)
            } else if file_type.is_symlink() {
                let target = fs::read_link(&host).at("read symlink", &host)?;
                Entry::symlink(target.as_os_str().as_bytes().to_vec(), meta)
            } else if file_type.is_file() {
                files += 1;
                let key = (metadata.dev(), metadata.ino());
                if metadata.nlink() > 1 {
                    if let Some(first) = first_link.get(&key) {
                        tree.insert(path, Entry::hardlink(first.clone(), meta))
                            .map_err(|error| tree_error(&host, error))?;
                        continue;
                    }
                    first_link.insert(key, path.clone());
                }
                let blob = match read.get(&index) {
                    Some(blob) => *blob,
                    None => options
                        .baseline
                        .and_then(|baseline| baseline.files.get(&path.to_bytes()))
                        .map(|written| written.blob)
                        .ok_or_else(|| StoreError::Io {
                            operation: "import",
                            path: host.clone(),
                            source: std::io::Error::other("file vanished from the baseline"),
                        })?,
                };
                Entry::file(blob, metadata.size(), meta)
            } else if file_type.is_char_device() || file_type.is_block_device() {
                let device = metadata.rdev();
                let (major, minor) = (rustix::fs::major(device), rustix::fs::minor(device));
                Entry {
                    kind: if file_type.is_char_device() {
                        EntryKind::CharDevice { major, minor }
                    } else {
                        EntryKind::BlockDevice { major, minor }
                    },
                    meta,
                }
            } else if file_type.is_fifo() {
                Entry::fifo(meta)
            } else {
                sockets += 1;
                continue;
            };
            tree.insert(path, entry)
                .map_err(|error| tree_error(&host, error))?;
        }
        if let Some(baseline) = options.baseline {
            for (path, entry) in &baseline.skipped_devices {
                let parent_present = path.split_last().is_some_and(|(parent, _)| {
                    parent.is_root() || tree.directory(&parent).is_some()
                });
                if parent_present && tree.get(path).is_none() {
                    tree.insert(path, entry.clone())
                        .map_err(|error| tree_error(&host_path(root, path), error))?;
                }
            }
        }
        Ok(Imported {
            tree,
            files_read: read.len(),
            files,
            sockets,
        })
    }
}

fn tree_error(path: &Path, error: crate::tree::TreeError) -> StoreError {
    StoreError::Io {
        operation: "read back",
        path: path.to_path_buf(),
        source: std::io::Error::other(error.to_string()),
    }
}

/// Every entry below `directory` (at tree path `prefix`), sorted by name at each level.
fn walk(
    directory: &Path,
    prefix: &TreePath,
    found: &mut Vec<(TreePath, fs::Metadata)>,
) -> Result<(), StoreError> {
    let mut names: Vec<std::ffi::OsString> = fs::read_dir(directory)
        .at("list", directory)?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<Result<_, _>>()
        .at("list", directory)?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let host = directory.join(&name);
        let tree_name =
            Name::new(name.as_bytes().to_vec()).map_err(|error| tree_error(&host, error))?;
        let path = prefix.join(&tree_name);
        let metadata = fs::symlink_metadata(&host).at("inspect", &host)?;
        let is_directory = metadata.is_dir();
        found.push((path.clone(), metadata));
        if is_directory {
            walk(&host, &path, found)?;
        }
    }
    Ok(())
}

/// Mode, owner, clamped mtime and xattrs of one entry.
fn metadata_of(
    host: &Path,
    metadata: &fs::Metadata,
    clamp: impl Fn(i64) -> i64,
) -> Result<Metadata, StoreError> {
    let mut xattrs = std::collections::BTreeMap::new();
    let mut names = vec![0u8; 1024];
    let length = loop {
        match rustix::fs::llistxattr(host, &mut names) {
            Ok(length) => break length,
            Err(rustix::io::Errno::RANGE) => names.resize(names.len() * 4, 0),
            Err(rustix::io::Errno::NOTSUP) => break 0,
            Err(error) => return Err(error).at("list extended attributes of", host),
        }
    };
    for name in names[..length]
        .split(|byte| *byte == 0)
        .filter(|name| !name.is_empty())
    {
        let mut value = vec![0u8; 256];
        let size = loop {
            match rustix::fs::lgetxattr(host, name, &mut value) {
                Ok(size) => break size,
                Err(rustix::io::Errno::RANGE) => value.resize(value.len() * 4, 0),
                Err(error) => return Err(error).at("read an extended attribute of", host),
            }
        };
        value.truncate(size);
        xattrs.insert(name.to_vec(), value);
    }
    Ok(Metadata {
        mode: metadata.mode() & crate::tree::MODE_MASK,
        uid: metadata.uid(),
        gid: metadata.gid(),
        mtime: clamp(metadata.mtime()),
        xattrs,
    })
}
