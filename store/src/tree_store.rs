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
        let directory = load_children(&self.layout, &root, 1)?;
        Ok(Tree::from_parts(root.meta, directory))
    }

    /// Whether the root directory object of a tree exists.
    pub fn has_tree(&self, digest: &Digest) -> bool {
        exists(&self.layout.tree(digest))
    }
}

/// Reads and verifies one directory object.
pub(crate) fn read_directory(
    layout: &Layout,
    digest: &Digest,
) -> Result<DecodedDirectory, StoreError> {
    let path = layout.tree(digest);
    let bytes = read_object(&path, ObjectKind::Tree, digest)?;
    if Digest::of(&bytes) != *digest {
        return Err(StoreError::ObjectCorrupt {
            kind: ObjectKind::Tree,
            digest: *digest,
            path,
        });
    }
    decode_directory(&bytes).map_err(|_| StoreError::ObjectCorrupt {
        kind: ObjectKind::Tree,
        digest: *digest,
        path,
    })
}

fn load_children(
    layout: &Layout,
    decoded: &DecodedDirectory,
    depth: usize,
) -> Result<Directory, StoreError> {
    let mut entries = BTreeMap::new();
    for (name, kind, meta) in &decoded.entries {
        let kind = match kind {
            DecodedKind::Leaf(kind) => kind.clone(),
            DecodedKind::Directory(child_digest) => {
                let child = read_directory(layout, child_digest)?;
                if depth > MAX_TREE_DEPTH {
                    return Err(StoreError::ObjectCorrupt {
                        kind: ObjectKind::Tree,
                        digest: *child_digest,
                        path: layout.tree(child_digest),
                    });
                }
                EntryKind::Directory(load_children(layout, &child, depth + 1)?)
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
