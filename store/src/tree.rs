//! The in-memory model of a file tree: what a directory output contains.
//!
//! A [`Tree`] is the root directory's [`Metadata`] plus nested [`Entry`]s. Every
//! entry carries its own ownership, permission bits (including setuid, setgid
//! and sticky), mtime and xattrs, so a tree "owned by root with a setuid binary"
//! can be built by an ordinary user: ownership lives here, not on disk.
//!
//! Names and paths are checked newtypes ([`Name`], [`TreePath`]); file names are
//! bytes, not necessarily UTF-8. Children are kept sorted by their raw name
//! bytes, which is also the order of [`Tree::walk`] and of the encoding.

use std::collections::BTreeMap;

use crate::digest::Digest;
pub use crate::tree_path::{Name, TreePath};

/// Longest file name accepted, in bytes.
pub const MAX_NAME_LENGTH: usize = 255;
/// Longest symlink target accepted, in bytes.
pub const MAX_SYMLINK_TARGET_LENGTH: usize = 4095;
/// The permission bits a mode may use (rwx for user, group, other, plus setuid, setgid, sticky).
pub const MODE_MASK: u32 = 0o7777;
/// Longest extended attribute name accepted, in bytes (the Linux limit).
pub const MAX_XATTR_NAME_LENGTH: usize = 255;

/// Why a tree, a name or a path was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// A path component is not a valid file name.
    #[error("`{name}` is not a valid file name: {reason}")]
    InvalidName {
        /// The rejected name (lossy UTF-8).
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A path is not a valid relative path.
    #[error("`{path}` is not a valid path in a tree: {reason}")]
    InvalidPath {
        /// The rejected path (lossy UTF-8).
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A mode uses bits other than the 12 permission bits.
    #[error("`{path}` has mode {mode:#o}, which has bits outside 0o7777")]
    InvalidMode {
        /// The entry (empty for the root).
        path: String,
        /// The rejected mode.
        mode: u32,
    },
    /// An extended attribute name is empty, too long or contains NUL.
    #[error("`{path}` has an invalid xattr name `{name}`")]
    InvalidXattr {
        /// The entry (empty for the root).
        path: String,
        /// The rejected name (lossy UTF-8).
        name: String,
    },
    /// A symlink target is empty, too long or contains NUL.
    #[error("symlink `{path}` has an invalid target: {reason}")]
    InvalidSymlinkTarget {
        /// The symlink.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A parent of the path exists but is not a directory.
    #[error("cannot insert `{path}`: `{parent}` is not a directory")]
    NotADirectory {
        /// The path being inserted.
        path: String,
        /// The offending parent.
        parent: String,
    },
    /// Something already exists at the path.
    #[error("`{path}` already exists in the tree")]
    AlreadyExists {
        /// The path.
        path: String,
    },
}

/// Ownership, permission bits, mtime and extended attributes of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// The 12 permission bits (0o7777 at most); the file type is the entry kind.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes, e.g. `user.comment` or `security.capability`.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Metadata {
    /// `mode` owned by 0:0 with mtime 0 and no xattrs.
    pub fn with_mode(mode: u32) -> Metadata {
        Metadata {
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: BTreeMap::new(),
        }
    }

    /// 0755, 0:0, mtime 0: what missing parent directories get.
    pub fn default_directory() -> Metadata {
        Metadata::with_mode(0o755)
    }

    /// 0644, 0:0, mtime 0.
    pub fn default_file() -> Metadata {
        Metadata::with_mode(0o644)
    }

    pub(crate) fn check(&self, path: &TreePath) -> Result<(), TreeError> {
        if self.mode & !MODE_MASK != 0 {
            return Err(TreeError::InvalidMode {
                path: path.to_string(),
                mode: self.mode,
            });
        }
        for key in self.xattrs.keys() {
            if key.is_empty() || key.len() > MAX_XATTR_NAME_LENGTH || key.contains(&0) {
                return Err(TreeError::InvalidXattr {
                    path: path.to_string(),
                    name: String::from_utf8_lossy(key).into_owned(),
                });
            }
        }
        Ok(())
    }
}

/// A directory: children sorted by name bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Directory {
    /// The children.
    pub entries: BTreeMap<Name, Entry>,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file with the content of a blob.
    File {
        /// The blob.
        blob: Digest,
        /// Its size in bytes.
        size: u64,
    },
    /// A directory.
    Directory(Directory),
    /// A symbolic link (target: non-empty, at most 4095 bytes, no NUL).
    Symlink {
        /// The link target, as stored.
        target: Vec<u8>,
    },
    /// Another name for a regular file of the same tree. Its own metadata is
    /// encoded but the target's applies when materialized.
    Hardlink {
        /// The file it links to.
        target: TreePath,
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

/// One node of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// What it is.
    pub kind: EntryKind,
    /// Its metadata.
    pub meta: Metadata,
}

impl Entry {
    /// A regular file.
    pub fn file(blob: Digest, size: u64, meta: Metadata) -> Entry {
        Entry {
            kind: EntryKind::File { blob, size },
            meta,
        }
    }

    /// An empty directory.
    pub fn directory(meta: Metadata) -> Entry {
        Entry {
            kind: EntryKind::Directory(Directory::default()),
            meta,
        }
    }

    /// A symbolic link.
    pub fn symlink(target: impl Into<Vec<u8>>, meta: Metadata) -> Entry {
        Entry {
            kind: EntryKind::Symlink {
                target: target.into(),
            },
            meta,
        }
    }

    /// A hardlink to `target`.
    pub fn hardlink(target: TreePath, meta: Metadata) -> Entry {
        Entry {
            kind: EntryKind::Hardlink { target },
            meta,
        }
    }

    /// A named pipe.
    pub fn fifo(meta: Metadata) -> Entry {
        Entry {
            kind: EntryKind::Fifo,
            meta,
        }
    }

    /// Checks this entry (and, for a directory, everything below) at `path`.
    pub(crate) fn check(&self, path: &TreePath) -> Result<(), TreeError> {
        self.meta.check(path)?;
        match &self.kind {
            EntryKind::Symlink { target } => check_symlink_target(path, target),
            EntryKind::Directory(directory) => directory
                .entries
                .iter()
                .try_for_each(|(name, child)| child.check(&path.join(name))),
            _ => Ok(()),
        }
    }
}

pub(crate) fn check_symlink_target(path: &TreePath, target: &[u8]) -> Result<(), TreeError> {
    let reason = if target.is_empty() {
        "it is empty"
    } else if target.len() > MAX_SYMLINK_TARGET_LENGTH {
        "it is longer than 4095 bytes"
    } else if target.contains(&0) {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(TreeError::InvalidSymlinkTarget {
        path: path.to_string(),
        reason,
    })
}

/// A whole tree: the root directory's metadata and its entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tree {
    root_meta: Metadata,
    root: Directory,
}

impl Tree {
    /// An empty tree whose root directory has `root_meta`.
    pub fn new(root_meta: Metadata) -> Tree {
        Tree {
            root_meta,
            root: Directory::default(),
        }
    }

    /// A tree from parts (checked when stored).
    pub fn from_parts(root_meta: Metadata, root: Directory) -> Tree {
        Tree { root_meta, root }
    }

    /// The root directory's metadata.
    pub fn root_meta(&self) -> &Metadata {
        &self.root_meta
    }

    /// Replaces the root directory's metadata.
    pub fn set_root_meta(&mut self, meta: Metadata) {
        self.root_meta = meta;
    }

    /// The root directory.
    pub fn root_directory(&self) -> &Directory {
        &self.root
    }

    /// Inserts `entry` at `path`, creating missing parents with
    /// [`Metadata::default_directory`]. Fails if something is already there.
    pub fn insert(&mut self, path: &TreePath, entry: Entry) -> Result<(), TreeError> {
        self.insert_inner(path, entry, false)
    }

    /// Like [`Tree::insert`], but replaces whatever is at `path` (a replaced
    /// directory loses its children).
    pub fn insert_or_replace(&mut self, path: &TreePath, entry: Entry) -> Result<(), TreeError> {
        self.insert_inner(path, entry, true)
    }

    fn insert_inner(
        &mut self,
        path: &TreePath,
        entry: Entry,
        replace: bool,
    ) -> Result<(), TreeError> {
        entry.check(path)?;
        let Some((parent, name)) = path.split_last() else {
            return Err(TreeError::InvalidPath {
                path: String::new(),
                reason: "cannot insert at the root; use `set_root_meta`",
            });
        };
        let mut directory = &mut self.root;
        for (depth, component) in parent.components().iter().enumerate() {
            let child = directory
                .entries
                .entry(component.clone())
                .or_insert_with(|| Entry::directory(Metadata::default_directory()));
            match &mut child.kind {
                EntryKind::Directory(inner) => directory = inner,
                _ => {
                    return Err(TreeError::NotADirectory {
                        path: path.to_string(),
                        parent: TreePath::from_names(parent.components()[..=depth].to_vec())
                            .to_string(),
                    });
                }
            }
        }
        if !replace && directory.entries.contains_key(name) {
            return Err(TreeError::AlreadyExists {
                path: path.to_string(),
            });
        }
        directory.entries.insert(name.clone(), entry);
        Ok(())
    }

    /// The entry at `path` (`None` for the root or a missing path).
    pub fn get(&self, path: &TreePath) -> Option<&Entry> {
        let (parent, name) = path.split_last()?;
        self.directory(&parent)?.entries.get(name)
    }

    /// The directory at `path` (the root for the empty path).
    pub fn directory(&self, path: &TreePath) -> Option<&Directory> {
        let mut directory = &self.root;
        for component in path.components() {
            match &directory.entries.get(component)?.kind {
                EntryKind::Directory(inner) => directory = inner,
                _ => return None,
            }
        }
        Some(directory)
    }

    /// Removes and returns the entry at `path` (with its children).
    pub fn remove(&mut self, path: &TreePath) -> Option<Entry> {
        let (parent, name) = path.split_last()?;
        let mut directory = &mut self.root;
        for component in parent.components() {
            match &mut directory.entries.get_mut(component)?.kind {
                EntryKind::Directory(inner) => directory = inner,
                _ => return None,
            }
        }
        directory.entries.remove(name)
    }

    /// Every entry with its path, depth first: a directory, then its children in name order.
    pub fn walk(&self) -> impl Iterator<Item = (TreePath, &Entry)> {
        let mut found = Vec::new();
        walk_directory(&self.root, &TreePath::root(), &mut found);
        found.into_iter()
    }

    /// The number of entries below the root (all depths).
    pub fn len(&self) -> usize {
        count_entries(&self.root)
    }

    /// Whether the root has no entries.
    pub fn is_empty(&self) -> bool {
        self.root.entries.is_empty()
    }
}

fn walk_directory<'a>(
    directory: &'a Directory,
    path: &TreePath,
    found: &mut Vec<(TreePath, &'a Entry)>,
) {
    for (name, entry) in &directory.entries {
        let child_path = path.join(name);
        found.push((child_path.clone(), entry));
        if let EntryKind::Directory(inner) = &entry.kind {
            walk_directory(inner, &child_path, found);
        }
    }
}

fn count_entries(directory: &Directory) -> usize {
    directory
        .entries
        .values()
        .map(|entry| match &entry.kind {
            EntryKind::Directory(inner) => 1 + count_entries(inner),
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> TreePath {
        TreePath::parse(text).expect("path")
    }

    #[test]
    fn insert_creates_parents_and_rejects_duplicates() {
        let mut tree = Tree::new(Metadata::default_directory());
        let blob = Digest::of(b"x");
        tree.insert(
            &path("etc/app/config"),
            Entry::file(blob, 1, Metadata::default_file()),
        )
        .expect("insert");
        assert_eq!(
            tree.get(&path("etc/app")).map(|entry| &entry.meta),
            Some(&Metadata::default_directory())
        );
        assert_eq!(tree.len(), 3);
        let error = tree
            .insert(
                &path("etc/app/config"),
                Entry::fifo(Metadata::default_file()),
            )
            .expect_err("duplicate");
        assert_eq!(
            error.to_string(),
            "`etc/app/config` already exists in the tree"
        );
        let error = tree
            .insert(
                &path("etc/app/config/x"),
                Entry::fifo(Metadata::default_file()),
            )
            .expect_err("not a directory");
        assert!(
            matches!(error, TreeError::NotADirectory { ref parent, .. } if parent == "etc/app/config")
        );
        tree.insert_or_replace(
            &path("etc/app/config"),
            Entry::fifo(Metadata::default_file()),
        )
        .expect("replace");
        assert_eq!(
            tree.get(&path("etc/app/config")).map(|entry| &entry.kind),
            Some(&EntryKind::Fifo)
        );
        assert!(tree.remove(&path("etc/app")).is_some());
        assert_eq!(tree.len(), 1);
    }

    #[test]
    fn modes_and_symlink_targets_are_checked() {
        let mut tree = Tree::new(Metadata::default_directory());
        assert!(matches!(
            tree.insert(&path("a"), Entry::fifo(Metadata::with_mode(0o10644))),
            Err(TreeError::InvalidMode { .. })
        ));
        for bad in [&b""[..], b"a\0b", &[b'a'; 4096]] {
            assert!(tree
                .insert(&path("l"), Entry::symlink(bad, Metadata::default_file()))
                .is_err());
        }
    }

    #[test]
    fn walk_is_depth_first_in_byte_order() {
        let mut tree = Tree::new(Metadata::default_directory());
        for name in ["b", "a-c", "a/z", "a/b", "B"] {
            tree.insert(&path(name), Entry::fifo(Metadata::default_file()))
                .expect("insert");
        }
        let order: Vec<String> = tree.walk().map(|(path, _)| path.to_string()).collect();
        assert_eq!(order, ["B", "a", "a/b", "a/z", "a-c", "b"]);
    }
}
