//! Test fixtures for the edits: a temporary store and a small tree built entry by entry,
//! and readers that fail the test with the path when something is missing.

use imgbuild_store::{Entry, EntryKind, Metadata, Store, Tree, TreePath};

use super::{Applied, Edit};

/// A store in a temporary directory and a tree whose blobs live in it.
pub(crate) struct Fixture {
    _directory: tempfile::TempDir,
    pub(crate) store: Store,
    pub(crate) tree: Tree,
    pub(crate) applied: Applied,
}

fn path(text: &str) -> TreePath {
    TreePath::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

impl Fixture {
    /// The `source_date_epoch` edits use in tests (2023-06-10, day 19518).
    pub(crate) const MTIME: i64 = 1_686_400_000;

    /// An empty tree (root 0755) in a new store.
    pub(crate) fn new() -> Fixture {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(&directory.path().join("store")).expect("store");
        Fixture {
            _directory: directory,
            store,
            tree: Tree::new(Metadata::default_directory()),
            applied: Applied::default(),
        }
    }

    /// A regular file, 0644 root:root, mtime 0.
    pub(crate) fn file(&mut self, at: &str, content: &str) -> &mut Fixture {
        self.file_with(at, content, Metadata::default_file())
    }

    /// A regular file with `meta`.
    pub(crate) fn file_with(&mut self, at: &str, content: &str, meta: Metadata) -> &mut Fixture {
        let blob = self
            .store
            .put_blob(content.as_bytes(), false)
            .expect("blob");
        self.tree
            .insert_or_replace(&path(at), Entry::file(blob.digest, blob.size, meta))
            .expect("insert file");
        self
    }

    /// A symlink.
    pub(crate) fn symlink(&mut self, at: &str, target: &str) -> &mut Fixture {
        self.tree
            .insert_or_replace(
                &path(at),
                Entry::symlink(target, Metadata::with_mode(0o777)),
            )
            .expect("insert symlink");
        self
    }

    /// A directory with `mode`, root:root, mtime 0.
    pub(crate) fn directory(&mut self, at: &str, mode: u32) -> &mut Fixture {
        self.tree
            .insert_or_replace(&path(at), Entry::directory(Metadata::with_mode(mode)))
            .expect("insert directory");
        self
    }

    /// Runs `change` on an [`Edit`] of this fixture with mtime [`Fixture::MTIME`].
    pub(crate) fn edit<T>(&mut self, change: impl FnOnce(&mut Edit<'_>) -> T) -> T {
        let mut edit = Edit {
            store: &self.store,
            tree: &mut self.tree,
            mtime: Fixture::MTIME,
            applied: &mut self.applied,
        };
        change(&mut edit)
    }

    /// The entry at `at` (not following symlinks).
    pub(crate) fn entry(&self, at: &str) -> &Entry {
        self.tree
            .get(&path(at))
            .unwrap_or_else(|| panic!("nothing at {at}"))
    }

    /// Whether something is at `at` (not following symlinks).
    pub(crate) fn has(&self, at: &str) -> bool {
        self.tree.get(&path(at)).is_some()
    }

    /// The text of the regular file at `at`.
    pub(crate) fn text(&self, at: &str) -> String {
        match &self.entry(at).kind {
            EntryKind::File { blob, .. } => {
                String::from_utf8(self.store.read_blob(blob).expect("read blob")).expect("UTF-8")
            }
            other => panic!("{at} is not a regular file: {other:?}"),
        }
    }

    /// The target of the symlink at `at`.
    pub(crate) fn link(&self, at: &str) -> String {
        match &self.entry(at).kind {
            EntryKind::Symlink { target } => String::from_utf8_lossy(target).into_owned(),
            other => panic!("{at} is not a symlink: {other:?}"),
        }
    }

    /// The metadata at `at`.
    pub(crate) fn meta(&self, at: &str) -> Metadata {
        self.entry(at).meta.clone()
    }

    /// Every symlink in the tree as `path -> target`, in walk order.
    pub(crate) fn symlinks(&self) -> Vec<String> {
        self.tree
            .walk()
            .filter_map(|(path, entry)| match &entry.kind {
                EntryKind::Symlink { target } => {
                    Some(format!("{path} -> {}", String::from_utf8_lossy(target)))
                }
                _ => None,
            })
            .collect()
    }
}
