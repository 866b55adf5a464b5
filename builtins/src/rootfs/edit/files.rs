//! Files in a tree as the edits see them: paths resolved through symlinks the way the
//! kernel would with the tree as `/` (so `lib/systemd/system` finds the units of a merged
//! /usr tree under `usr/lib`), text read from blobs, files, directories and symlinks
//! written with explicit metadata.
//!
//! Writes resolve the parent directory (never the final name, so a symlink at the final
//! name is replaced rather than followed), create missing parents 0755 root:root with the
//! edit's mtime, and refuse to replace a directory.

use std::collections::VecDeque;

use imgbuild_store::{Entry, EntryKind, Metadata, Name, Tree, TreePath};

use super::{Edit, EditError};

/// Linux's limit on symlinks followed while resolving one path.
const MAX_SYMLINKS: usize = 40;

/// A tree path from a literal (or checked) text; never fails on the constants used here.
pub(crate) fn tree_path(text: &str) -> Result<TreePath, EditError> {
    Ok(TreePath::parse(text)?)
}

/// What an entry is, in words.
pub(crate) fn kind_name(kind: &EntryKind) -> &'static str {
    match kind {
        EntryKind::File { .. } => "regular file",
        EntryKind::Directory(_) => "directory",
        EntryKind::Symlink { .. } => "symlink",
        EntryKind::Hardlink { .. } => "hard link",
        EntryKind::CharDevice { .. } => "character device",
        EntryKind::BlockDevice { .. } => "block device",
        EntryKind::Fifo => "named pipe",
    }
}

/// `path` with every symlink followed, the last component too. Missing components are
/// kept as they are (a path to be created resolves to itself). Fails on a loop.
pub(crate) fn resolve(tree: &Tree, path: &TreePath) -> Result<TreePath, EditError> {
    resolve_bytes(tree, &path.to_bytes()).ok_or_else(|| EditError::SymlinkLoop {
        path: path.to_string(),
    })
}

/// `path` with its parent resolved and its last component kept: where a write goes.
pub(crate) fn resolve_parent(tree: &Tree, path: &TreePath) -> Result<TreePath, EditError> {
    match path.split_last() {
        Some((parent, name)) => Ok(resolve(tree, &parent)?.join(name)),
        None => Ok(TreePath::root()),
    }
}

fn resolve_bytes(tree: &Tree, path: &[u8]) -> Option<TreePath> {
    let mut pending: VecDeque<Vec<u8>> = path
        .split(|byte| *byte == b'/')
        .map(<[u8]>::to_vec)
        .collect();
    let mut resolved: Vec<Name> = Vec::new();
    let mut followed = 0;
    while let Some(component) = pending.pop_front() {
        match component.as_slice() {
            b"" | b"." => continue,
            b".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let name = Name::new(component).ok()?;
        let mut candidate = resolved.clone();
        candidate.push(name);
        if let Some(EntryKind::Symlink { target }) = tree
            .get(&TreePath::from_names(candidate.clone()))
            .map(|entry| &entry.kind)
        {
            followed += 1;
            if followed > MAX_SYMLINKS {
                return None;
            }
            if target.starts_with(b"/") {
                resolved.clear();
            }
            for part in target.split(|byte| *byte == b'/').rev() {
                pending.push_front(part.to_vec());
            }
            continue;
        }
        resolved = candidate;
    }
    Some(TreePath::from_names(resolved))
}

/// The entry at `path` after following symlinks (and a hard link to its file).
pub(crate) fn follow<'a>(tree: &'a Tree, path: &TreePath) -> Result<Option<&'a Entry>, EditError> {
    let resolved = resolve(tree, path)?;
    Ok(match tree.get(&resolved) {
        Some(Entry {
            kind: EntryKind::Hardlink { target },
            ..
        }) => tree.get(target),
        other => other,
    })
}

/// Whether something (a file, a directory, anything but a dangling symlink) is at `path`.
pub(crate) fn exists(tree: &Tree, path: &TreePath) -> Result<bool, EditError> {
    Ok(follow(tree, path)?.is_some())
}

/// The bytes of the regular file at `path` (symlinks followed), `None` if nothing is there.
pub(crate) fn read_file(edit: &Edit<'_>, path: &TreePath) -> Result<Option<Vec<u8>>, EditError> {
    let Some(entry) = follow(edit.tree, path)? else {
        return Ok(None);
    };
    let EntryKind::File { blob, .. } = &entry.kind else {
        return Err(EditError::WrongKind {
            path: path.to_string(),
            found: kind_name(&entry.kind),
            expected: "regular file",
        });
    };
    edit.store
        .read_blob(blob)
        .map(Some)
        .map_err(|source| EditError::Store {
            operation: "read",
            path: path.to_string(),
            source,
        })
}

/// The text of the file at `path`, `None` if nothing is there.
pub(crate) fn read_text(edit: &Edit<'_>, path: &TreePath) -> Result<Option<String>, EditError> {
    read_file(edit, path)?
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|_| EditError::NotText {
                path: path.to_string(),
            })
        })
        .transpose()
}

/// Writes `content` at `path` with `meta` (replacing a file or symlink there). `secret`
/// stores the blob owner-only.
pub(crate) fn write_file(
    edit: &mut Edit<'_>,
    path: &TreePath,
    content: &[u8],
    meta: Metadata,
    secret: bool,
) -> Result<(), EditError> {
    let target = prepare_write(edit, path)?;
    let blob = edit
        .store
        .put_blob(content, secret)
        .map_err(|source| EditError::Store {
            operation: "write",
            path: path.to_string(),
            source,
        })?;
    edit.tree
        .insert_or_replace(&target, Entry::file(blob.digest, blob.size, meta))?;
    Ok(())
}

/// Writes `content` at `path`, keeping the metadata of the file it replaces (with the
/// edit's mtime), or 0644 root:root for a new file.
pub(crate) fn rewrite_file(
    edit: &mut Edit<'_>,
    path: &TreePath,
    content: &[u8],
) -> Result<(), EditError> {
    let resolved = resolve(edit.tree, path)?;
    let meta = match edit.tree.get(&resolved) {
        Some(entry) if matches!(entry.kind, EntryKind::File { .. }) => Metadata {
            mtime: edit.mtime,
            ..entry.meta.clone()
        },
        _ => edit.meta(0o644, 0, 0),
    };
    write_file(edit, &resolved, content, meta, false)
}

/// A symlink at `path` pointing to `target` (root:root 0777); replaces a file or another
/// symlink. Returns false when the same symlink was already there.
pub(crate) fn write_symlink(
    edit: &mut Edit<'_>,
    path: &TreePath,
    target: &str,
) -> Result<bool, EditError> {
    let resolved = resolve_parent(edit.tree, path)?;
    if let Some(EntryKind::Symlink { target: existing }) =
        edit.tree.get(&resolved).map(|entry| &entry.kind)
    {
        if existing.as_slice() == target.as_bytes() {
            return Ok(false);
        }
    }
    let resolved = prepare_write(edit, path)?;
    let meta = edit.meta(0o777, 0, 0);
    edit.tree
        .insert_or_replace(&resolved, Entry::symlink(target.as_bytes(), meta))?;
    Ok(true)
}

/// Makes sure a directory is at `path` (symlinks followed): missing parents are created
/// 0755 root:root and the directory itself with `meta`; an existing one is left as is.
/// Returns the resolved path and whether it was created.
pub(crate) fn ensure_directory(
    edit: &mut Edit<'_>,
    path: &TreePath,
    meta: Metadata,
) -> Result<(TreePath, bool), EditError> {
    let resolved = resolve(edit.tree, path)?;
    let components = resolved.components();
    let mut created = false;
    for depth in 1..=components.len() {
        let prefix = TreePath::from_names(components[..depth].to_vec());
        match edit.tree.get(&prefix) {
            Some(Entry {
                kind: EntryKind::Directory(_),
                ..
            }) => {}
            Some(entry) => {
                return Err(EditError::WrongKind {
                    path: prefix.to_string(),
                    found: kind_name(&entry.kind),
                    expected: "directory",
                })
            }
            None => {
                let meta = if depth == components.len() {
                    meta.clone()
                } else {
                    edit.meta(0o755, 0, 0)
                };
                edit.tree.insert(&prefix, Entry::directory(meta))?;
                created = depth == components.len();
            }
        }
    }
    Ok((resolved, created))
}

/// Resolves where a write to `path` goes, creates its parents and refuses a directory
/// there.
fn prepare_write(edit: &mut Edit<'_>, path: &TreePath) -> Result<TreePath, EditError> {
    let resolved = resolve_parent(edit.tree, path)?;
    if let Some((parent, _)) = resolved.split_last() {
        let meta = edit.meta(0o755, 0, 0);
        ensure_directory(edit, &parent, meta)?;
    }
    if let Some(entry) = edit.tree.get(&resolved) {
        if let EntryKind::Directory(_) = entry.kind {
            return Err(EditError::WrongKind {
                path: resolved.to_string(),
                found: "directory",
                expected: "regular file or symlink",
            });
        }
    }
    Ok(resolved)
}

/// Removes what is at `path` (not following a final symlink); true if something was there.
pub(crate) fn remove(tree: &mut Tree, path: &TreePath) -> Result<bool, EditError> {
    let resolved = resolve_parent(tree, path)?;
    Ok(tree.remove(&resolved).is_some())
}

/// The names of a directory's children (symlinks to the directory followed), with
/// their kinds; empty when there is no directory.
pub(crate) fn children(
    tree: &Tree,
    path: &TreePath,
) -> Result<Vec<(Name, &'static str)>, EditError> {
    let resolved = resolve(tree, path)?;
    Ok(tree
        .directory(&resolved)
        .map(|directory| {
            directory
                .entries
                .iter()
                .map(|(name, entry)| (name.clone(), kind_name(&entry.kind)))
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::edit::test_support::Fixture;

    #[test]
    fn resolution_follows_absolute_relative_and_parent_links() {
        let mut fixture = Fixture::new();
        fixture
            .symlink("lib", "usr/lib")
            .symlink(
                "usr/lib/systemd/system/alias.service",
                "../../../../etc/real",
            )
            .symlink("loop", "loop")
            .file("usr/lib/systemd/system/a.service", "a");
        let check = |path: &str, expected: Option<&str>| {
            let resolved = resolve(&fixture.tree, &TreePath::parse(path).expect("path"));
            assert_eq!(
                resolved.ok().map(|path| path.to_string()),
                expected.map(str::to_owned),
                "{path}"
            );
        };
        check(
            "lib/systemd/system/a.service",
            Some("usr/lib/systemd/system/a.service"),
        );
        check("lib/systemd/system/alias.service", Some("etc/real"));
        check("lib/missing/x", Some("usr/lib/missing/x"));
        check("loop/x", None);
    }

    #[test]
    fn writes_create_parents_and_refuse_directories() {
        let mut fixture = Fixture::new();
        fixture.directory("etc/hosts", 0o755);
        let path = TreePath::parse("etc/new/file").expect("path");
        fixture
            .edit(|edit| write_file(edit, &path, b"x", edit.meta(0o600, 1, 2), false))
            .expect("write");
        assert_eq!(fixture.text("etc/new/file"), "x");
        assert_eq!(fixture.meta("etc/new").mode, 0o755);
        assert_eq!(fixture.meta("etc/new").mtime, Fixture::MTIME);
        let hosts = TreePath::parse("etc/hosts").expect("path");
        let error = fixture
            .edit(|edit| rewrite_file(edit, &hosts, b"x"))
            .expect_err("a directory");
        assert_eq!(
            error.to_string(),
            "`/etc/hosts` is a directory, expected a regular file or symlink"
        );
    }
}
