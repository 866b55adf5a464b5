//! Storing and loading trees: one object per directory under `objects/trees/`.
//!
//! [`Store::put_tree`] checks the whole tree first (modes, names, hardlinks,
//! referenced blobs) and only then writes the directory objects, children
//! before parents, so a published parent never refers to a missing child.

use std::collections::BTreeMap;
use std::io::Write;

use crate::blob::read_object;
use crate::digest::Digest;
use crate::error::{ObjectKind, StoreError};
use crate::layout::{exists, publish_file, Layout, OBJECT_MODE};
use crate::tree::{Directory, Entry, EntryKind, Tree, TreePath};
use crate::tree_encoding::{decode_directory, encode_tree, DecodedDirectory, DecodedKind};
use crate::Store;

/// Deeper trees than this are treated as corrupt (Linux paths cannot be this deep anyway).
const MAX_TREE_DEPTH: usize = 4096;

impl Store {
    /// Stores every directory object of `tree` and returns the root tree digest.
    ///
    /// Every file's blob must already be in the store, and every hardlink must
    /// point to a regular file of the same tree.
    pub fn put_tree(&self, tree: &Tree) -> Result<Digest, StoreError> {
        check_references(self, tree)?;
        let objects = encode_tree(tree)?;
        let mut root = Digest::of(b"");
        for (digest, bytes) in &objects {
            let path = self.layout.tree(digest);
            if !exists(&path) {
                publish_file(&path, OBJECT_MODE, false, |file| file.write_all(bytes))?;
            }
            root = *digest;
        }
        Ok(root)
    }

    /// Loads a whole tree, verifying every directory object against its digest.
    pub fn load_tree(&self, digest: &Digest) -> Result<Tree, StoreError> {
        let root = read_directory(&self.layout, digest)?;
        let read = |digest: &Digest| read_directory(&self.layout, digest);
        let directory = load_children(&read, &root, 1)?;
        Ok(Tree::from_parts(root.meta, directory))
    }

    /// Every directory object of the tree `root` as stored (its canonical encoding),
    /// each verified against its digest, root first: what a remote cache transfers.
    pub fn tree_objects(&self, root: &Digest) -> Result<Vec<(Digest, Vec<u8>)>, StoreError> {
        let mut objects = Vec::new();
        let mut pending = vec![(*root, 0usize)];
        let mut seen = std::collections::HashSet::new();
        while let Some((digest, depth)) = pending.pop() {
            if !seen.insert(digest) {
                continue;
            }
            let path = self.layout.tree(&digest);
            let bytes = read_object(&path, ObjectKind::Tree, &digest)?;
            let decoded = verify_directory(&bytes, &digest, || path.clone())?;
            if depth > MAX_TREE_DEPTH {
                return Err(corrupt(&digest, path));
            }
            for (_, kind, _) in &decoded.entries {
                if let DecodedKind::Directory(child) = kind {
                    pending.push((*child, depth + 1));
                }
            }
            objects.push((digest, bytes));
        }
        Ok(objects)
    }

    /// Stores the tree `root` from its directory objects as [`Store::tree_objects`]
    /// gave them (from another store): each object is verified against its digest and
    /// decoded, every file's blob must already be here, and the tree is published as
    /// [`Store::put_tree`] does. An object that is missing or does not match its digest
    /// is [`StoreError::NotFound`] or [`StoreError::ObjectCorrupt`] (named `remote:`).
    pub fn put_tree_objects(
        &self,
        root: &Digest,
        objects: &std::collections::HashMap<Digest, Vec<u8>>,
    ) -> Result<(), StoreError> {
        let read = |digest: &Digest| -> Result<DecodedDirectory, StoreError> {
            let bytes = objects.get(digest).ok_or(StoreError::NotFound {
                kind: ObjectKind::Tree,
                digest: *digest,
            })?;
            verify_directory(bytes, digest, || {
                std::path::PathBuf::from(format!("remote:{}", digest.to_hex()))
            })
        };
        let top = read(root)?;
        let directory = load_children(&read, &top, 1)?;
        let tree = Tree::from_parts(top.meta, directory);
        let written = self.put_tree(&tree)?;
        if written != *root {
            return Err(corrupt(root, std::path::PathBuf::from("remote tree")));
        }
        Ok(())
    }

    /// Whether the root directory object of a tree exists.
    pub fn has_tree(&self, digest: &Digest) -> bool {
        exists(&self.layout.tree(digest))
    }

    /// The content of the regular file at `path` in tree `tree`, reading only the
    /// directory objects on the way (not the whole tree); `None` when there is no
    /// regular file there. Symbolic links are not followed.
    pub fn read_file_at(
        &self,
        tree: &Digest,
        path: &TreePath,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((parent, name)) = path.split_last() else {
            return Ok(None);
        };
        let mut directory = read_directory(&self.layout, tree)?;
        for component in parent.components() {
            let child = directory
                .entries
                .iter()
                .find_map(|(entry_name, kind, _)| match kind {
                    DecodedKind::Directory(digest) if entry_name == component => Some(*digest),
                    _ => None,
                });
            match child {
                Some(digest) => directory = read_directory(&self.layout, &digest)?,
                None => return Ok(None),
            }
        }
        let blob = directory
            .entries
            .iter()
            .find_map(|(entry_name, kind, _)| match kind {
                DecodedKind::Leaf(EntryKind::File { blob, .. }) if entry_name == name => {
                    Some(*blob)
                }
                _ => None,
            });
        blob.map(|blob| self.read_blob(&blob)).transpose()
    }
}

/// Reads and verifies one directory object.
pub(crate) fn read_directory(
    layout: &Layout,
    digest: &Digest,
) -> Result<DecodedDirectory, StoreError> {
    let path = layout.tree(digest);
    let bytes = read_object(&path, ObjectKind::Tree, digest)?;
    verify_directory(&bytes, digest, || path)
}

/// Checks a directory object's bytes against its digest and decodes them.
fn verify_directory(
    bytes: &[u8],
    digest: &Digest,
    path: impl FnOnce() -> std::path::PathBuf,
) -> Result<DecodedDirectory, StoreError> {
    if Digest::of(bytes) != *digest {
        return Err(corrupt(digest, path()));
    }
    decode_directory(bytes).map_err(|_| corrupt(digest, path()))
}

fn corrupt(digest: &Digest, path: std::path::PathBuf) -> StoreError {
    StoreError::ObjectCorrupt {
        kind: ObjectKind::Tree,
        digest: *digest,
        path,
    }
}

type ReadDirectory<'a> = dyn Fn(&Digest) -> Result<DecodedDirectory, StoreError> + 'a;

fn load_children(
    read: &ReadDirectory<'_>,
    decoded: &DecodedDirectory,
    depth: usize,
) -> Result<Directory, StoreError> {
    let mut entries = BTreeMap::new();
    for (name, kind, meta) in &decoded.entries {
        let kind = match kind {
            DecodedKind::Leaf(kind) => kind.clone(),
            DecodedKind::Directory(child_digest) => {
                if depth > MAX_TREE_DEPTH {
                    return Err(corrupt(
                        child_digest,
                        std::path::PathBuf::from("(too deep)"),
                    ));
                }
                let child = read(child_digest)?;
                EntryKind::Directory(load_children(read, &child, depth + 1)?)
            }
        };
        entries.insert(
            name.clone(),
            Entry {
                kind,
                meta: meta.clone(),
            },
        );
    }
    Ok(Directory { entries })
}

/// Checks blobs exist and hardlinks point to regular files of the tree.
fn check_references(store: &Store, tree: &Tree) -> Result<(), StoreError> {
    for (path, entry) in tree.walk() {
        match &entry.kind {
            EntryKind::File { blob, .. } if !store.has_blob(blob) => {
                return Err(StoreError::MissingBlob {
                    path: path.to_string(),
                    blob: *blob,
                });
            }
            EntryKind::Hardlink { target } => check_hardlink(tree, &path, target)?,
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn check_hardlink(
    tree: &Tree,
    path: &TreePath,
    target: &TreePath,
) -> Result<(), StoreError> {
    match tree.get(target).map(|entry| &entry.kind) {
        Some(EntryKind::File { .. }) => Ok(()),
        _ => Err(StoreError::InvalidHardlink {
            path: path.to_string(),
            target: target.to_string(),
        }),
    }
}
